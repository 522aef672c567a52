/****************************************************************************
 * ffi/mbox_os.h
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * Licensed to the Apache Software Foundation (ASF) under one or more
 * contributor license agreements.  See the NOTICE file distributed with
 * this work for additional information regarding copyright ownership.  The
 * ASF licenses this file to you under the Apache License, Version 2.0 (the
 * "License"); you may not use this file except in compliance with the
 * License.  You may obtain a copy of the License at
 *
 *   http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTY OF ANY KIND, either express or implied.  See the License for the
 * specific language governing permissions and limitations
 * under the License.
 *
 * The port contract of libmbox: everything the library needs from the OS.
 *
 * libmbox (upper half and the PL320 lower half) is freestanding Rust. It
 * reaches the operating system and the hardware only through the functions
 * declared here. A port implements all of them in C; two ports ship:
 *
 *   ffi/host/   pthreads + clock_gettime, a simulated interrupt controller
 *               and a register bus that routes to device models (tests, demo)
 *   ffi/nuttx/  NuttX kernel APIs (nxsem, wdog, critical sections, getreg32)
 *
 * A port author can implement the contract from this header alone. Every
 * function documents who calls it, from which context, and what it returns.
 * "Task context" means a thread that may block; "interrupt context" means
 * an interrupt handler or a watchdog callback, which must not block.
 *
 * Errors are negated errno values, as everywhere in libmbox.
 ****************************************************************************/

#ifndef __LIBMBOX_FFI_MBOX_OS_H
#define __LIBMBOX_FFI_MBOX_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C"
{
#endif

/****************************************************************************
 * Types
 ****************************************************************************/

/* Ticks of the system clock. The same type as the OS's clock_t, so that
 * mbox_ticksend() takes what NuttX users already pass (MSEC2TICK(), ...).
 */

typedef clock_t mbox_os_clock_t;

/* Saved interrupt state returned by mbox_os_enter_critical(). */

typedef uintptr_t mbox_os_irqstate_t;

/* Opaque storage for OS objects that live inside libmbox structures (one
 * wait object per blocked sender, on its stack; one watchdog per channel).
 * The port stores its native object in it; the sizes are upper bounds that
 * each port checks with a static assertion. Alignment 8 so that the Rust
 * side (bindgen) gives the same alignment as C.
 */

#define MBOX_OS_WAIT_SIZE   128
#define MBOX_OS_TIMER_SIZE  64

struct mbox_os_wait_s
{
  unsigned char opaque[MBOX_OS_WAIT_SIZE];
} __attribute__((aligned(8)));

struct mbox_os_timer_s
{
  unsigned char opaque[MBOX_OS_TIMER_SIZE];
} __attribute__((aligned(8)));

/* Watchdog expiry callback: runs in interrupt context (NuttX: wdog ISR;
 * host: the timer thread). It must not block.
 */

typedef void (*mbox_os_timer_cb_t)(uintptr_t arg);

/* Interrupt handler: runs in interrupt context. Returns 0 (OK). */

typedef int (*mbox_os_isr_t)(int irq, void *context, void *arg);

/****************************************************************************
 * Critical section
 ****************************************************************************/

/* Enter the critical section that protects all libmbox channel state.
 * Context: task or interrupt. Must nest (a second enter on the same CPU or
 * thread is allowed and is matched by a second leave). Excludes interrupt
 * handlers and other CPUs. Never fails.
 */

mbox_os_irqstate_t mbox_os_enter_critical(void);

/* Leave the critical section; flags is what the matching enter returned.
 * Context: task or interrupt.
 */

void mbox_os_leave_critical(mbox_os_irqstate_t flags);

/****************************************************************************
 * Clock and context
 ****************************************************************************/

/* The current system tick. Context: any. Monotonic, never fails. */

mbox_os_clock_t mbox_os_ticks(void);

/* True when called from interrupt context (an ISR or a watchdog callback),
 * where blocking is not allowed. Context: any.
 */

bool mbox_os_in_interrupt(void);

/* A non-zero identifier of the running task (thread), the same for every
 * call from it. In an interrupt handler it may be that of the interrupted
 * task (the handler and the task it interrupted never run at once).
 * libmbox uses it only to refuse a teardown that would wait for itself
 * (mbox_chan_deinit() from one of the channel's own callbacks).
 * Context: any.
 */

uintptr_t mbox_os_self(void);

/****************************************************************************
 * Wait object: a binary semaphore for exactly one waiter
 *
 * libmbox gives every blocked sender its own wait object on that sender's
 * stack, so a completion always wakes the thread it belongs to.
 ****************************************************************************/

/* Initialise an unposted wait object. Context: task. Returns 0 or a
 * negated errno (then the object is not initialised).
 */

int mbox_os_wait_init(struct mbox_os_wait_s *w);

/* Release a wait object. No thread may be waiting on it. Context: task. */

void mbox_os_wait_destroy(struct mbox_os_wait_s *w);

/* Block until the object is posted or `ticks` ticks pass, then consume the
 * post. ticks == (mbox_os_clock_t)-1 waits forever. Must be called WITHOUT
 * the critical section held. Context: task only.
 * Returns 0 when posted (also when the post came before the call),
 * -ETIMEDOUT when the ticks ran out first.
 */

int mbox_os_wait_timed(struct mbox_os_wait_s *w, mbox_os_clock_t ticks);

/* Post the object (wake its waiter, or make its next wait return at once).
 * Context: task or interrupt, with or without the critical section held.
 */

void mbox_os_wait_post(struct mbox_os_wait_s *w);

/****************************************************************************
 * One-shot watchdog timer
 ****************************************************************************/

/* Initialise a disarmed timer. Context: task. Returns 0 or negated errno. */

int mbox_os_timer_init(struct mbox_os_timer_s *t);

/* Arm (or re-arm) the timer to call cb(arg) once, `ticks` ticks from now
 * (ticks >= 1). Context: task or interrupt, critical section may be held.
 * Returns 0 or a negated errno.
 */

int mbox_os_timer_start(struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg);

/* Disarm the timer. Context: task or interrupt, critical section may be
 * held. A callback that has already begun may still run to completion
 * (libmbox tolerates that: every expiry carries a token that is checked
 * under the critical section).
 */

void mbox_os_timer_cancel(struct mbox_os_timer_s *t);

/* Disarm the timer and wait until no callback for it is running, then
 * release it. Context: task, critical section NOT held.
 */

void mbox_os_timer_destroy(struct mbox_os_timer_s *t);

/****************************************************************************
 * Registers and interrupts
 ****************************************************************************/

/* 32-bit register access at a physical/bus address. Context: any.
 * Host port: routed to the device model mapped at that address.
 */

uint32_t mbox_os_getreg32(uintptr_t addr);
void mbox_os_putreg32(uintptr_t addr, uint32_t value);

/* Attach an interrupt handler to irq. Context: task.
 * Returns 0, or -EINVAL for a bad irq number.
 */

int mbox_os_irq_attach(int irq, mbox_os_isr_t isr, void *arg);

/* Enable delivery of irq (after attach). Context: task or interrupt. */

void mbox_os_irq_enable(int irq);

/* Disable irq and detach its handler (the undo of attach + enable), for
 * the teardown of a device (pl320_uninitialize()). After it returns the
 * handler is not called again for irq until a new attach. A call of the
 * handler that is already running (on another CPU) may still be
 * finishing: libmbox waits for that itself, so a port need not (the host
 * port does wait; NuttX's irq_detach() does not). irq is one that was
 * attached. Context: task, never from the handler itself.
 */

void mbox_os_irq_detach(int irq);

/****************************************************************************
 * Assertions
 ****************************************************************************/

/* Called when libmbox detects a broken invariant (its panic handler).
 * file points to file_len bytes (NOT NUL-terminated) naming the source
 * file, line is the line. Must not return. Context: any.
 */

void mbox_os_assert_fail(const char *file, size_t file_len, int line)
  __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* __LIBMBOX_FFI_MBOX_OS_H */
