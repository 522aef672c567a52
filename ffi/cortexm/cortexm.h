/****************************************************************************
 * ffi/cortexm/cortexm.h
 *
 * The bare-metal Cortex-M3 port of libmbox (port.c, startup.c,
 * mps2_an385.ld) for QEMU's mps2-an385 machine: what a board or the test
 * image (tests-arm/) uses beyond the port contract ffi/mbox_os.h.
 *
 *   critical section  PRIMASK, saved and restored (nests)
 *   ticks             SysTick interrupts, CORTEXM_TICK_HZ per second
 *   watchdogs         a list of armed one-shot timers served by the SysTick
 *                     handler (interrupt context)
 *   wait objects      a flag polled with WFI, interrupts masked between the
 *                     check and the WFI so that no post is missed; while a
 *                     task waits, the second task (cortexm_task_start) runs
 *   in_interrupt      IPSR != 0
 *   self              the running task's number (1 main, 2 second task)
 *   registers         volatile loads and stores, or a device model mapped
 *                     on an address window (cortexm_bus_map)
 *   interrupts        NVIC; irq numbers are external interrupt numbers
 *                     (0 = the first entry after the 16 system exceptions)
 *   assert            message over semihosting, then exit status 2
 ****************************************************************************/

#ifndef __LIBMBOX_CORTEXM_H
#define __LIBMBOX_CORTEXM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbox_os.h"

/* mps2-an385: a 25 MHz Cortex-M3 with 32 external interrupts. */

#define CORTEXM_CPU_HZ    25000000u
#define CORTEXM_TICK_HZ   1000u
#define CORTEXM_NIRQ      32

/* Semihosting: text to the host's stdout, and the end of the program with
 * an exit status (QEMU exits with it).
 */

void cortexm_puts(const char *s);
void cortexm_exit(int status) __attribute__((noreturn));

/* Formatted output over semihosting: %d %i %u %x %s %c %p %%, with the l
 * and ll length modifiers and a field width (e.g. %5u, %08x). Output is
 * buffered until a newline.
 */

void cortexm_printf(const char *fmt, ...)
  __attribute__((format(printf, 1, 2)));

/* Start the SysTick (ticks and watchdogs) and enable interrupts. Called
 * once by the image's main() before anything else.
 */

void cortexm_port_start(void);

/* Core clock cycles since cortexm_port_start(), read from the SysTick
 * counter (one tick = CPU_HZ / TICK_HZ cycles). Context: any.
 */

uint64_t cortexm_cycles(void);

/* Software-pend external interrupt irq (NVIC ISPR); it runs as soon as
 * interrupts are unmasked.
 */

void cortexm_irq_pend(int irq);

/* Drive external interrupt irq as a level-sensitive line (a device
 * model's output): pending while high, and pended again after each run of
 * its handler that leaves the level high.
 */

void cortexm_irq_set_level(int irq, bool high);

/* SysTick hook: called from the SysTick handler after the tick
 * count advanced and before the watchdogs are served (e.g. a simulated
 * remote that answers a number of ticks later). NULL removes it.
 */

void cortexm_set_tick_hook(void (*hook)(void));

/* The second task: runs fn(arg) on its own stack whenever the main task
 * waits in mbox_os_wait_timed(), until fn returns. Its own waits do not
 * switch back (they wait with WFI). Returns -EBUSY while one is still
 * running. Context: main task.
 */

int cortexm_task_start(void (*fn)(void *arg), void *arg);

/* True while the second task has not returned. */

bool cortexm_task_running(void);

/* A device model on the bus: mbox_os_getreg32/putreg32 inside
 * [base, base + size) call rd/wr with the offset instead of touching
 * memory. One window. rd == NULL unmaps.
 */

typedef uint32_t (*cortexm_reg_read_t)(void *dev, uint32_t off);
typedef void (*cortexm_reg_write_t)(void *dev, uint32_t off, uint32_t v);

void cortexm_bus_map(uintptr_t base, size_t size, cortexm_reg_read_t rd,
                     cortexm_reg_write_t wr, void *dev);

#endif /* __LIBMBOX_CORTEXM_H */
