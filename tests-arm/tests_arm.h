/****************************************************************************
 * tests-arm/tests_arm.h
 *
 * The groups of tests of the Cortex-M image (main.c runs them in order).
 ****************************************************************************/

#ifndef __TESTS_ARM_TESTS_ARM_H
#define __TESTS_ARM_TESTS_ARM_H

#include <time.h>

/* MBOX_WAIT_FOREVER: (clock_t)-1, waits without limit. */

#define MBOX_WAIT_FOREVER_ARM ((clock_t)-1)

void tests_upper_arm(void);
void tests_pl320_arm(void);

#endif /* __TESTS_ARM_TESTS_ARM_H */
