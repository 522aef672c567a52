/****************************************************************************
 * tests-arm/test_pl320_arm.c
 *
 * The PL320 lower half on a Cortex-M3 against the register model.
 ****************************************************************************/

#include "tests_arm.h"

void tests_pl320_arm(void)
{
}
