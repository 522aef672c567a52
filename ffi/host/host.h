/****************************************************************************
 * ffi/host/host.h
 *
 * The host (Linux/pthreads) port of libmbox: what it offers beyond the port
 * contract in ffi/mbox_os.h.
 *
 * host_port.c implements every function of mbox_os.h on pthreads. To let
 * the PL320 lower half run unmodified on a development machine it also
 * simulates the two pieces of hardware that a driver touches:
 *
 *   - a register bus: mbox_os_getreg32()/mbox_os_putreg32() are routed to
 *     the device model whose address window contains the address
 *     (host_bus_map()); an access that hits no window aborts, as a bus
 *     fault would on hardware;
 *
 *   - a level-triggered interrupt controller: device models drive lines
 *     with host_irq_set_level(); every attached interrupt has its own
 *     delivery thread that calls the handler asynchronously (like a CPU
 *     taking the interrupt), with the "in interrupt" flag set and no host
 *     lock held, for as long as the line stays asserted.
 *
 * Everything here is for tests, demos and the simulated two-core setup;
 * a real target uses ffi/nuttx instead.
 ****************************************************************************/

#ifndef __LIBMBOX_FFI_HOST_HOST_H
#define __LIBMBOX_FFI_HOST_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../mbox_os.h"

#ifdef __cplusplus
extern "C"
{
#endif

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

/* Tick rate of mbox_os_ticks() and of every tick count in the contract. */

#ifndef CONFIG_HOST_TICK_HZ
#  define CONFIG_HOST_TICK_HZ 1000
#endif

#define HOST_TICK_HZ        CONFIG_HOST_TICK_HZ

/* Milliseconds to ticks, rounded up so that a delay is never shorter than
 * asked for.
 */

#define HOST_MSEC2TICK(ms) \
  ((mbox_os_clock_t)((((int64_t)(ms)) * HOST_TICK_HZ + 999) / 1000))

/* Interrupt numbers are 0 .. HOST_NIRQ - 1. */

#define HOST_NIRQ           32

/* Number of register windows the bus can route at the same time. */

#define HOST_BUS_NWINDOWS   8

/****************************************************************************
 * Public Types
 ****************************************************************************/

/* Register access callbacks of a device model. offset is relative to the
 * base of the window the model was mapped at. They are called with a bus
 * read lock held (host_bus_unmap() waits for them), from any thread.
 */

typedef uint32_t (*host_reg_read_t)(void *dev, uint32_t offset);
typedef void (*host_reg_write_t)(void *dev, uint32_t offset,
                                 uint32_t value);

/* Per-interrupt delivery statistics. */

struct host_irq_stats_s
{
  unsigned long calls;                      /* Handler invocations */
  unsigned long still_asserted_after_return; /* Handler returned, line high */
};

/****************************************************************************
 * Public Function Prototypes
 ****************************************************************************/

/* Register bus ************************************************************/

/* Route 32-bit accesses in [base, base + size) to rd/wr with dev.
 * Returns 0, -EINVAL (bad arguments), -EBUSY (overlaps a mapped window) or
 * -ENOMEM (all HOST_BUS_NWINDOWS windows in use).
 */

int host_bus_map(uintptr_t base, size_t size, host_reg_read_t rd,
                 host_reg_write_t wr, void *dev);

/* Remove the window mapped at base. Waits until no access to it is in
 * progress, so the device may be freed afterwards. No-op if none.
 */

void host_bus_unmap(uintptr_t base);

/* Simulated interrupt controller *******************************************/

/* All host_irq_*() functions take irq in 0 .. HOST_NIRQ - 1 and abort on
 * any other number (only mbox_os_irq_attach() reports -EINVAL, as the
 * port contract asks).
 */

/* Drive the level of line irq. Called by device models, possibly with the
 * model's own lock held: it only records the level and wakes the delivery
 * thread, it never calls the handler itself.
 */

void host_irq_set_level(int irq, bool asserted);

/* Deliver one extra call of irq's handler even though the line may be low
 * (a spurious interrupt, for fault-injection tests). Delivered once the
 * irq is attached and enabled.
 */

void host_irq_pulse(int irq);

/* Stop delivering irq (mbox_os_irq_enable() starts it again). Like Linux
 * disable_irq(), waits for a handler call in progress to return (except
 * when called from that handler), so the caller may then free what the
 * handler uses; do not call it holding a lock that the handler takes.
 */

void host_irq_disable(int irq);

/* Read / clear the statistics of irq. */

void host_irq_get_stats(int irq, struct host_irq_stats_s *s);
void host_irq_reset_stats(int irq);

/* Wait until line irq is low, no pulse is pending and its handler is not
 * running, or until timeout_ms milliseconds have passed.
 */

void host_irq_quiesce(int irq, int timeout_ms);

/* Stop and join every interrupt delivery thread and the timer thread, so
 * that a program exits cleanly (valgrind). Idempotent. Armed timers stay
 * armed but do not fire until a later mbox_os_timer_start() restarts the
 * timer thread; interrupts must be attached again to be delivered.
 */

void host_shutdown(void);

/* Test helpers *************************************************************/

/* Run fn(arg) on the calling thread with the "in interrupt" flag set, so
 * that mbox_os_in_interrupt() returns true inside it.
 */

void host_run_as_interrupt(void (*fn)(void *), void *arg);

/* Arm a one-shot hook on the calling thread: the next time this thread
 * leaves its outermost critical section (mbox_os_leave_critical() back to
 * depth 0), fn(arg) runs right after the lock is released. It lets a test
 * put another thread's call exactly into the gap between two critical
 * sections of one library call. NULL disarms.
 */

void host_on_next_critical_exit(void (*fn)(void *), void *arg);

/* How many times the calling thread has entered the critical section
 * (every mbox_os_enter_critical(), nested ones included) since it started:
 * the difference across a library call is what that call took.
 */

unsigned long host_critical_entries(void);

#ifdef __cplusplus
}
#endif

#endif /* __LIBMBOX_FFI_HOST_HOST_H */
