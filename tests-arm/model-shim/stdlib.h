/* tests-arm/model-shim/stdlib.h: the model's one allocation from a static
 * pool (model_glue.c; free() keeps the memory), abort() exits 4.
 */
#ifndef __TESTS_ARM_SHIM_STDLIB_H
#define __TESTS_ARM_SHIM_STDLIB_H
#include <stddef.h>
void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
void abort(void) __attribute__((noreturn));
#endif
