/****************************************************************************
 * ffi/cortexm/libc/string.h
 *
 * The memory functions of the bare-metal Cortex-M port (string.c): what
 * gcc emits for structure copies and what libmbox.a calls (the AEABI
 * variants), without a C library.
 ****************************************************************************/

#ifndef __LIBMBOX_CORTEXM_STRING_H
#define __LIBMBOX_CORTEXM_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif /* __LIBMBOX_CORTEXM_STRING_H */
