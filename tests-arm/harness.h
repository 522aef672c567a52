/****************************************************************************
 * tests-arm/harness.h
 *
 * The C harness's CHECK/CHECK_EQ/RUN (ctest/harness.h) for the bare-metal
 * image: output over semihosting, "N passed, M failed" at the end.
 ****************************************************************************/

#ifndef __TESTS_ARM_HARNESS_H
#define __TESTS_ARM_HARNESS_H

#include "cortexm.h"

/* Defined in main.c, shared by every group of tests. */

extern int g_h_passed;
extern int g_h_failed;
extern int g_h_cur_failed;
extern int g_h_num;

#define CHECK(cond) \
  do \
    { \
      if (!(cond)) \
        { \
          cortexm_printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, \
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
          cortexm_printf("#   %s:%d: %s == %lld, expected %s == %lld\n", \
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
          cortexm_printf("ok %d - %s\n", g_h_num, #fn); \
        } \
      else \
        { \
          g_h_failed++; \
          cortexm_printf("not ok %d - %s\n", g_h_num, #fn); \
        } \
    } \
  while (0)

#endif /* __TESTS_ARM_HARNESS_H */
