/****************************************************************************
 * tests-arm/harness.h
 *
 * The C harness (ctest/harness.h) for the bare-metal image: output over
 * semihosting; the counters are defined once, in main.c, which prints
 * "test-arm: N passed, M failed" at the end.
 ****************************************************************************/

#ifndef __TESTS_ARM_HARNESS_H
#define __TESTS_ARM_HARNESS_H

#include "cortexm.h"

#define HARNESS_PRINTF cortexm_printf
#define HARNESS_EXTERN_COUNTERS 1
#include "../ctest/harness.h"

#endif /* __TESTS_ARM_HARNESS_H */
