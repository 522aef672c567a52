/****************************************************************************
 * ctest/harness.h
 *
 * A tiny TAP-style harness for the C tests: RUN(test) runs one test
 * function, CHECK(cond) / CHECK_EQ(a, b) record failures with file and
 * line, harness_finish() prints "N passed, M failed" and returns the exit
 * status. The host tests and the Cortex-M test image share it.
 ****************************************************************************/

#ifndef __CTEST_HARNESS_H
#define __CTEST_HARNESS_H

/* The bare-metal test image (tests-arm/harness.h) defines HARNESS_PRINTF
 * (its semihosting printf) and HARNESS_EXTERN_COUNTERS (the counters live
 * in its main.c, shared by several files) before including this file; it
 * has no clock, no stdio and no harness_finish().
 */

#ifndef HARNESS_PRINTF
#define HARNESS_HOSTED 1
#define HARNESS_PRINTF printf
#define HARNESS_FLUSH() fflush(stdout)
#else
#define HARNESS_FLUSH() do { } while (0)
#endif

#ifdef HARNESS_HOSTED
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic milliseconds, and a sleep of ms milliseconds. */

static inline int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
  struct timespec ts;

  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}
#endif /* HARNESS_HOSTED */

#ifdef HARNESS_EXTERN_COUNTERS
extern int g_h_passed;
extern int g_h_failed;
extern int g_h_cur_failed;
extern int g_h_num;
#else
static int g_h_passed;
static int g_h_failed;
static int g_h_cur_failed;
static int g_h_num;
#endif

#define CHECK(cond) \
  do \
    { \
      if (!(cond)) \
        { \
          HARNESS_PRINTF("#   %s:%d: CHECK(%s) failed\n", __FILE__, \
                         __LINE__, #cond); \
          g_h_cur_failed++; \
        } \
    } \
  while (0)

#define CHECK_EQ(a, b) \
  do \
    { \
      long long _a = (long long)(a); \
      long long _b = (long long)(b); \
      if (_a != _b) \
        { \
          HARNESS_PRINTF("#   %s:%d: %s == %lld, expected %s == %lld\n", \
                         __FILE__, __LINE__, #a, _a, #b, _b); \
          g_h_cur_failed++; \
        } \
    } \
  while (0)

#define RUN(fn) \
  do \
    { \
      g_h_cur_failed = 0; \
      fn(); \
      g_h_num++; \
      if (g_h_cur_failed == 0) \
        { \
          g_h_passed++; \
          HARNESS_PRINTF("ok %d - %s\n", g_h_num, #fn); \
        } \
      else \
        { \
          g_h_failed++; \
          HARNESS_PRINTF("not ok %d - %s\n", g_h_num, #fn); \
        } \
      HARNESS_FLUSH(); \
    } \
  while (0)

#ifdef HARNESS_HOSTED
static inline int harness_finish(void)
{
  printf("%d passed, %d failed\n", g_h_passed, g_h_failed);
  return g_h_failed == 0 && g_h_passed > 0 ? 0 : 1;
}
#endif

#endif /* __CTEST_HARNESS_H */
