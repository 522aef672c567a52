/****************************************************************************
 * tests-arm/main.c
 *
 * The Cortex-M test image: every group of tests, then the line
 * "test-arm: N passed, M failed"; exits (semihosting) non-zero on a
 * failure.
 ****************************************************************************/

#include "cortexm.h"
#include "harness.h"
#include "tests_arm.h"

int g_h_passed;
int g_h_failed;
int g_h_cur_failed;
int g_h_num;

int main(void)
{
  cortexm_port_start();
  cortexm_printf("libmbox on Cortex-M3 (mps2-an385)%s\n",
#ifdef CORTEXM_BROKEN_CRITICAL
                 ", port with a BROKEN critical section"
#else
                 ""
#endif
                 );
  tests_upper_arm();
#ifdef CONFIG_MBOX_PL320
  tests_pl320_arm();
#endif
  cortexm_printf("test-arm: %d passed, %d failed\n", g_h_passed,
                 g_h_failed);
  return g_h_failed == 0 && g_h_passed > 0 ? 0 : 1;
}
