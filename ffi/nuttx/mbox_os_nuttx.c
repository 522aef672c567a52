/****************************************************************************
 * ffi/nuttx/mbox_os_nuttx.c
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
 * The NuttX port of libmbox: the functions of ffi/mbox_os.h implemented on
 * NuttX kernel interfaces.
 *
 *   critical section   enter_critical_section() / leave_critical_section()
 *   clock              clock_systime_ticks()
 *   context            up_interrupt_context()
 *   wait object        a sem_t (nxsem_*) stored in struct mbox_os_wait_s
 *   watchdog           a struct wdog_s (wd_start_abstick(), wd_cancel())
 *                      stored in struct mbox_os_timer_s
 *   registers          getreg32() / putreg32()
 *   interrupts         irq_attach() / up_enable_irq() / irq_detach()
 *   assertion          _assert() with the Rust source location, then PANIC()
 *
 * libmbox is Rust and cannot call the static inline functions and macros of
 * the NuttX headers (wd_start(), getreg32(), up_interrupt_context() on some
 * architectures, ...); this file is the C layer that can. It is compiled
 * with the board's CFLAGS, so every layout (sem_t, struct wdog_s, clock_t,
 * irqstate_t) is the kernel's own; the static assertions below check that
 * the kernel objects fit the opaque storage that libmbox reserves for them.
 *
 * Assumption (holds for NuttX 12.x and 13.x): watchdog callbacks run with
 * the global critical section held (wd_expiration() takes it around the
 * callback), and wd_cancel() takes it too. A wd_cancel() that returns in
 * task context therefore guarantees that no callback of that timer is
 * still running on any CPU, which is what mbox_os_timer_destroy() needs.
 ****************************************************************************/

/****************************************************************************
 * Included Files
 ****************************************************************************/

#include <nuttx/config.h>

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <nuttx/arch.h>
#include <nuttx/clock.h>
#include <nuttx/irq.h>
#include <nuttx/sched.h>
#include <nuttx/semaphore.h>
#include <nuttx/wdog.h>

#include "mbox_os.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

/* Most architectures define these in their internal headers, which a file
 * outside arch/ does not see; the plain volatile access is what they are.
 */

#ifndef getreg32
#  define getreg32(a)    (*(volatile uint32_t *)(a))
#endif

#ifndef putreg32
#  define putreg32(v,a)  (*(volatile uint32_t *)(a) = (v))
#endif

/* Longest file name passed to _assert() (Rust gives it unterminated). */

#define MBOX_NUTTX_FILE_MAX  96

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* What libmbox's timer storage holds on NuttX: the kernel watchdog and the
 * callback it forwards to (wdentry_t takes a wdparm_t, the contract's
 * callback a uintptr_t, so a small adapter sits between them).
 */

struct mbox_nuttx_timer_s
{
  struct wdog_s      wdog;
  mbox_os_timer_cb_t cb;
  uintptr_t          arg;
};

/****************************************************************************
 * Static Assertions
 ****************************************************************************/

_Static_assert(sizeof(sem_t) <= sizeof(struct mbox_os_wait_s),
               "sem_t does not fit struct mbox_os_wait_s: raise "
               "MBOX_OS_WAIT_SIZE in ffi/mbox_os.h");
_Static_assert(_Alignof(sem_t) <= _Alignof(struct mbox_os_wait_s),
               "sem_t needs more alignment than struct mbox_os_wait_s");

_Static_assert(sizeof(struct mbox_nuttx_timer_s) <=
               sizeof(struct mbox_os_timer_s),
               "struct wdog_s plus callback does not fit struct "
               "mbox_os_timer_s: raise MBOX_OS_TIMER_SIZE in ffi/mbox_os.h");
_Static_assert(_Alignof(struct mbox_nuttx_timer_s) <=
               _Alignof(struct mbox_os_timer_s),
               "struct wdog_s needs more alignment than mbox_os_timer_s");

_Static_assert(sizeof(irqstate_t) <= sizeof(mbox_os_irqstate_t),
               "irqstate_t does not fit mbox_os_irqstate_t");
_Static_assert(sizeof(wdparm_t) >= sizeof(uintptr_t),
               "a pointer does not fit wdparm_t");

/* The contract's ISR type is NuttX's xcpt_t (int irq, void *context,
 * void *arg), so irq_attach() takes the handler as it is: no trampoline,
 * and no table of per-IRQ adapters. Fail the build if that ever changes.
 */

_Static_assert(__builtin_types_compatible_p(xcpt_t, mbox_os_isr_t),
               "xcpt_t differs from mbox_os_isr_t: an adapter is needed");

/****************************************************************************
 * Private Functions
 ****************************************************************************/

static inline FAR sem_t *wait_sem(FAR struct mbox_os_wait_s *w)
{
  return (FAR sem_t *)w->opaque;
}

static inline FAR struct mbox_nuttx_timer_s *
timer_of(FAR struct mbox_os_timer_s *t)
{
  return (FAR struct mbox_nuttx_timer_s *)t->opaque;
}

/* Watchdog expiry (timer interrupt context, critical section held). */

static void mbox_nuttx_wdog(wdparm_t parm)
{
  FAR struct mbox_nuttx_timer_s *tm =
    (FAR struct mbox_nuttx_timer_s *)(uintptr_t)parm;
  mbox_os_timer_cb_t cb = tm->cb;

  if (cb != NULL)
    {
      cb(tm->arg);
    }
}

/****************************************************************************
 * Public Functions: critical section, clock, context
 ****************************************************************************/

mbox_os_irqstate_t mbox_os_enter_critical(void)
{
  return (mbox_os_irqstate_t)enter_critical_section();
}

void mbox_os_leave_critical(mbox_os_irqstate_t flags)
{
  leave_critical_section((irqstate_t)flags);
}

mbox_os_clock_t mbox_os_ticks(void)
{
  return clock_systime_ticks();
}

bool mbox_os_in_interrupt(void)
{
  return up_interrupt_context();
}

uintptr_t mbox_os_self(void)
{
  /* The TCB of the running task (in an interrupt handler: of the task it
   * interrupted, which cannot run meanwhile).
   */

  return (uintptr_t)nxsched_self();
}

/****************************************************************************
 * Public Functions: wait object
 ****************************************************************************/

int mbox_os_wait_init(FAR struct mbox_os_wait_s *w)
{
  FAR sem_t *sem = wait_sem(w);
  int ret;

  ret = nxsem_init(sem, 0, 0);
  if (ret < 0)
    {
      return ret;
    }

#ifdef CONFIG_PRIORITY_INHERITANCE
  /* A signalling semaphore: nobody "holds" it, so priority inheritance
   * must stay out of it.
   */

  nxsem_set_protocol(sem, SEM_PRIO_NONE);
#endif

  return OK;
}

void mbox_os_wait_destroy(FAR struct mbox_os_wait_s *w)
{
  nxsem_destroy(wait_sem(w));
}

int mbox_os_wait_timed(FAR struct mbox_os_wait_s *w, mbox_os_clock_t ticks)
{
  FAR sem_t *sem = wait_sem(w);
  uint32_t delay;
  int ret;

  if (ticks == (mbox_os_clock_t)-1)
    {
      ret = nxsem_wait_uninterruptible(sem);
      return ret < 0 ? -ETIMEDOUT : OK;
    }

  /* nxsem_tickwait() takes 32 bits. A longer wait ends early with
   * -ETIMEDOUT, which libmbox handles like any early wake-up: it checks
   * its own deadline and waits again.
   */

  if (ticks <= 0)
    {
      delay = 0;
    }
  else if ((uint64_t)ticks >= UINT32_MAX)
    {
      delay = UINT32_MAX - 1;
    }
  else
    {
      delay = (uint32_t)ticks;
    }

  ret = nxsem_tickwait_uninterruptible(sem, delay);
  return ret < 0 ? -ETIMEDOUT : OK;
}

void mbox_os_wait_post(FAR struct mbox_os_wait_s *w)
{
  FAR sem_t *sem = wait_sem(w);
  irqstate_t flags;
  int value = 0;

  /* Binary: a second post before the wait must not leave a count behind
   * (the contract's wait object is a flag, not a counter).
   */

  flags = enter_critical_section();
  if (nxsem_get_value(sem, &value) < 0 || value < 1)
    {
      nxsem_post(sem);
    }

  leave_critical_section(flags);
}

/****************************************************************************
 * Public Functions: watchdog
 ****************************************************************************/

int mbox_os_timer_init(FAR struct mbox_os_timer_s *t)
{
  /* A zeroed wdog_s is a valid, inactive watchdog. */

  memset(t, 0, sizeof(*t));
  return OK;
}

int mbox_os_timer_start(FAR struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg)
{
  FAR struct mbox_nuttx_timer_s *tm = timer_of(t);
  irqstate_t flags;
  clock_t delay = ticks;
  int ret;

  if (cb == NULL)
    {
      return -EINVAL;
    }

  if (delay < 1)
    {
      delay = 1;
    }

#ifdef WDOG_MAX_DELAY
  /* Longer delays are refused by the kernel. libmbox re-arms a timer that
   * fires before its deadline, so clamping only splits a long wait.
   */

  if (delay > WDOG_MAX_DELAY)
    {
      delay = WDOG_MAX_DELAY;
    }
#endif

  /* wd_start() is static inline in <nuttx/wdog.h>; this is the same
   * computation through the exported function: at least `delay` whole
   * ticks from now. wd_start_abstick() re-arms an active watchdog.
   */

  flags = enter_critical_section();
  tm->cb  = cb;
  tm->arg = arg;
  ret = wd_start_abstick(&tm->wdog, clock_systime_ticks() + delay + 1,
                         mbox_nuttx_wdog, (wdparm_t)(uintptr_t)tm);
  leave_critical_section(flags);
  return ret < 0 ? ret : OK;
}

void mbox_os_timer_cancel(FAR struct mbox_os_timer_s *t)
{
  wd_cancel(&timer_of(t)->wdog);
}

void mbox_os_timer_destroy(FAR struct mbox_os_timer_s *t)
{
  FAR struct mbox_nuttx_timer_s *tm = timer_of(t);
  irqstate_t flags;

  /* See the assumption at the top of this file: once wd_cancel() has the
   * critical section, no callback of this watchdog is running anywhere.
   */

  wd_cancel(&tm->wdog);

  flags = enter_critical_section();
  tm->cb  = NULL;
  tm->arg = 0;
  leave_critical_section(flags);
}

/****************************************************************************
 * Public Functions: registers and interrupts
 ****************************************************************************/

uint32_t mbox_os_getreg32(uintptr_t addr)
{
  return getreg32(addr);
}

void mbox_os_putreg32(uintptr_t addr, uint32_t value)
{
  putreg32(value, addr);
}

int mbox_os_irq_attach(int irq, mbox_os_isr_t isr, FAR void *arg)
{
  if (irq < 0 || irq >= NR_IRQS)
    {
      return -EINVAL;
    }

  return irq_attach(irq, isr, arg);
}

void mbox_os_irq_enable(int irq)
{
  up_enable_irq(irq);
}

/* NuttX has no call that waits for a handler running on another CPU;
 * the contract lets libmbox wait for that itself.
 */

void mbox_os_irq_detach(int irq)
{
  up_disable_irq(irq);
  irq_detach(irq);
}

/****************************************************************************
 * Public Functions: assertions
 ****************************************************************************/

void mbox_os_assert_fail(FAR const char *file, size_t file_len, int line)
{
  char name[MBOX_NUTTX_FILE_MAX];

  if (file == NULL)
    {
      file_len = 0;
    }

  /* Keep the end of a long path: it names the file. */

  if (file_len >= sizeof(name))
    {
      file     += file_len - (sizeof(name) - 1);
      file_len  = sizeof(name) - 1;
    }

  if (file_len > 0)
    {
      memcpy(name, file, file_len);
    }

  name[file_len] = '\0';

  _assert(name, line, "libmbox: broken invariant", NULL);

  /* _assert() may return for a recoverable task assertion; libmbox's
   * state is not recoverable.
   */

  PANIC();
}
