/****************************************************************************
 * ffi/cortexm/startup.c
 *
 * Start-up of a bare-metal Cortex-M3 image (mps2_an385.ld): the vector
 * table (every external interrupt goes to the port's dispatcher, which
 * calls the handler mbox_os_irq_attach() registered), the reset handler
 * (copies .data, zeroes .bss, calls main() and exits over semihosting
 * with its return value) and fault handlers that report and exit.
 ****************************************************************************/

#include <stdint.h>
#include <string.h>

#include "cortexm.h"

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void cortexm_systick_handler(void);
void cortexm_irq_dispatch(void);

void cortexm_reset(void) __attribute__((noreturn));
void cortexm_reset(void)
{
  memcpy(__data_start, __data_load,
         (size_t)((uintptr_t)__data_end - (uintptr_t)__data_start));
  memset(__bss_start, 0,
         (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start));
  cortexm_exit(main());
}

/* A fault: report the exception number and the stacked PC, exit 3. */

void cortexm_fault_report(uint32_t *frame);
void cortexm_fault_report(uint32_t *frame)
{
  uint32_t ipsr;

  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  cortexm_printf("\ncortexm: fault (exception %u) at pc 0x%08x lr 0x%08x\n",
                 (unsigned)(ipsr & 0x1ff), (unsigned)frame[6],
                 (unsigned)frame[5]);
  cortexm_exit(3);
}

__attribute__((naked)) static void cortexm_fault(void)
{
  __asm__ volatile(
    "tst lr, #4\n\t"
    "ite eq\n\t"
    "mrseq r0, msp\n\t"
    "mrsne r0, psp\n\t"
    "b cortexm_fault_report\n\t");
}

static void cortexm_unexpected(void)
{
  cortexm_printf("\ncortexm: unexpected exception\n");
  cortexm_exit(3);
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used))
const vector_t g_vectors[16 + CORTEXM_NIRQ] =
{
  [0]  = (vector_t)(uintptr_t)__stack_top,
  [1]  = cortexm_reset,
  [2]  = cortexm_fault,        /* NMI */
  [3]  = cortexm_fault,        /* HardFault */
  [4]  = cortexm_fault,        /* MemManage */
  [5]  = cortexm_fault,        /* BusFault */
  [6]  = cortexm_fault,        /* UsageFault */
  [11] = cortexm_unexpected,   /* SVCall */
  [12] = cortexm_unexpected,   /* DebugMonitor */
  [14] = cortexm_unexpected,   /* PendSV */
  [15] = cortexm_systick_handler,
  [16 ... 16 + CORTEXM_NIRQ - 1] = cortexm_irq_dispatch,
};
