/****************************************************************************
 * bench/port_stub.c
 *
 * A do-nothing port (ffi/mbox_os.h) for the bare-metal code-size link of
 * bench/size_app.c (bench/run.py, size stage, Arm): every mbox_os_*
 * function as the smallest body that type-checks, so that libmbox.a links
 * into a freestanding image without an OS. It is never run, and the link
 * map attributes its .text to this object, not to libmbox.a, so what it
 * costs is not counted (as bench/port_min.c is not counted on x86-64).
 ****************************************************************************/

#include "mbox_os.h"

mbox_os_irqstate_t mbox_os_enter_critical(void)
{
  return 0;
}

void mbox_os_leave_critical(mbox_os_irqstate_t flags)
{
  (void)flags;
}

mbox_os_clock_t mbox_os_ticks(void)
{
  return 0;
}

bool mbox_os_in_interrupt(void)
{
  return false;
}

uintptr_t mbox_os_self(void)
{
  return 1;
}

int mbox_os_wait_init(struct mbox_os_wait_s *w)
{
  (void)w;
  return 0;
}

void mbox_os_wait_destroy(struct mbox_os_wait_s *w)
{
  (void)w;
}

int mbox_os_wait_timed(struct mbox_os_wait_s *w, mbox_os_clock_t ticks)
{
  (void)w;
  (void)ticks;
  return 0;
}

void mbox_os_wait_post(struct mbox_os_wait_s *w)
{
  (void)w;
}

int mbox_os_timer_init(struct mbox_os_timer_s *t)
{
  (void)t;
  return 0;
}

int mbox_os_timer_start(struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg)
{
  (void)t;
  (void)ticks;
  (void)cb;
  (void)arg;
  return 0;
}

void mbox_os_timer_cancel(struct mbox_os_timer_s *t)
{
  (void)t;
}

void mbox_os_timer_destroy(struct mbox_os_timer_s *t)
{
  (void)t;
}

uint32_t mbox_os_getreg32(uintptr_t addr)
{
  return *(volatile uint32_t *)addr;
}

void mbox_os_putreg32(uintptr_t addr, uint32_t value)
{
  *(volatile uint32_t *)addr = value;
}

int mbox_os_irq_attach(int irq, mbox_os_isr_t isr, void *arg)
{
  (void)irq;
  (void)isr;
  (void)arg;
  return 0;
}

void mbox_os_irq_enable(int irq)
{
  (void)irq;
}

void mbox_os_irq_detach(int irq)
{
  (void)irq;
}

void mbox_os_assert_fail(const char *file, size_t file_len, int line)
{
  (void)file;
  (void)file_len;
  (void)line;
  for (;;)
    {
    }
}
