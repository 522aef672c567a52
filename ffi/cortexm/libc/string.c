/****************************************************************************
 * ffi/cortexm/libc/string.c
 *
 * Byte-wise memory functions for the bare-metal Cortex-M port, and the
 * AEABI entry points (__aeabi_memcpy & co.) that rustc's code for
 * thumbv7m-none-eabi calls: the staticlib does not carry them, and
 * arm-none-eabi-gcc's libgcc does not either (newlib would). Compiled with
 * -fno-builtin -fno-tree-loop-distribute-patterns so that gcc does not turn
 * the loops back into calls of themselves.
 ****************************************************************************/

#include <stddef.h>
#include <stdint.h>

#include <string.h>

void *memcpy(void *dst, const void *src, size_t n)
{
  uint8_t *d = dst;
  const uint8_t *s = src;

  while (n-- > 0)
    {
      *d++ = *s++;
    }

  return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
  uint8_t *d = dst;
  const uint8_t *s = src;

  if (d < s)
    {
      while (n-- > 0)
        {
          *d++ = *s++;
        }
    }
  else
    {
      while (n-- > 0)
        {
          d[n] = s[n];
        }
    }

  return dst;
}

void *memset(void *dst, int c, size_t n)
{
  uint8_t *d = dst;

  while (n-- > 0)
    {
      *d++ = (uint8_t)c;
    }

  return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
  const uint8_t *x = a;
  const uint8_t *y = b;

  for (; n > 0; n--, x++, y++)
    {
      if (*x != *y)
        {
          return *x < *y ? -1 : 1;
        }
    }

  return 0;
}

size_t strlen(const char *s)
{
  size_t n = 0;

  while (s[n] != '\0')
    {
      n++;
    }

  return n;
}

/* AEABI run-time helpers (RTABI section 4.3.4). Note the argument order of
 * __aeabi_memset: (dest, n, c).
 */

void __aeabi_memcpy(void *d, const void *s, size_t n);
void __aeabi_memcpy4(void *d, const void *s, size_t n);
void __aeabi_memcpy8(void *d, const void *s, size_t n);
void __aeabi_memmove(void *d, const void *s, size_t n);
void __aeabi_memmove4(void *d, const void *s, size_t n);
void __aeabi_memmove8(void *d, const void *s, size_t n);
void __aeabi_memset(void *d, size_t n, int c);
void __aeabi_memset4(void *d, size_t n, int c);
void __aeabi_memset8(void *d, size_t n, int c);
void __aeabi_memclr(void *d, size_t n);
void __aeabi_memclr4(void *d, size_t n);
void __aeabi_memclr8(void *d, size_t n);

void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
