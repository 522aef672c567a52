/* tests-arm/model-shim/time.h: the port's clock_t, and a monotonic
 * clock_gettime() from the SysTick cycle count, for the PL320 model.
 */
#ifndef __TESTS_ARM_SHIM_TIME_H
#define __TESTS_ARM_SHIM_TIME_H
#include <stdint.h>
#include "../../ffi/cortexm/libc/time.h"
#include "cortexm.h"
#define CLOCK_MONOTONIC 1
typedef long long time_t;
struct timespec { time_t tv_sec; long tv_nsec; };
static inline int clock_gettime(int clk, struct timespec *ts)
{
  uint64_t ns = cortexm_cycles() * (1000000000u / CORTEXM_CPU_HZ);
  (void)clk;
  ts->tv_sec = (long long)(ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
  return 0;
}
#endif
