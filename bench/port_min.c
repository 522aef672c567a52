/****************************************************************************
 * bench/port_min.c
 *
 * A minimal, single-threaded port of libmbox (ffi/mbox_os.h) for the
 * instruction-count benchmarks. It stands for what an RTOS port costs on
 * one CPU (an interrupt mask and a few stores) and, unlike the host port,
 * it starts no thread and makes no system call, so callgrind counts repeat
 * exactly from run to run.
 *
 *   critical section  a nesting counter. When bench_cs_measure is set, the
 *                     outermost enter/leave toggle callgrind's collection,
 *                     so that only instructions executed with the lock held
 *                     are counted (bench/instr.c, "critical section").
 *   clock             a variable (bench_ticks), advanced only by the bench
 *   wait object       a flag. A blocked sender's wait calls bench_wait_hook
 *                     first, "as an interrupt", which is how the bench
 *                     delivers the remote's ACK synchronously on one thread
 *   watchdog          records the arming; never fires
 *   registers, irqs   not used by the fake lower halves: they abort
 *
 * No heap, no thread, no stdio on the hot path.
 ****************************************************************************/

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/callgrind.h>

#include "mbox_os.h"
#include "port_min.h"

struct min_wait_s
{
  int posted;
  unsigned magic;
};

struct min_timer_s
{
  mbox_os_timer_cb_t cb;
  uintptr_t arg;
  mbox_os_clock_t due;
  int armed;
  unsigned magic;
};

_Static_assert(sizeof(struct min_wait_s) <= MBOX_OS_WAIT_SIZE, "wait size");
_Static_assert(sizeof(struct min_timer_s) <= MBOX_OS_TIMER_SIZE,
               "timer size");

/* Call counting costs instructions, so the callgrind build leaves it out;
 * bench/run.py takes the counts from a second build (BENCH_COUNT_CALLS)
 * run natively: the program is deterministic, the counts are the same.
 */

#ifdef BENCH_COUNT_CALLS
#  define COUNT(f) (bench_calls.f++)
#else
#  define COUNT(f) ((void)0)
#endif

#define MIN_WAIT_MAGIC  0x6d696e57u
#define MIN_TIMER_MAGIC 0x6d696e54u

volatile int bench_cs_measure;
unsigned long bench_cs_enters;
mbox_os_clock_t bench_ticks = 1000;
void (*bench_wait_hook)(void *arg);
void *bench_wait_hook_arg;
unsigned long bench_timer_starts;
unsigned long bench_timer_cancels;
struct bench_port_calls_s bench_calls;

static int g_depth;
static int g_in_irq;

static void min_fatal(const char *what)
{
  fprintf(stderr, "bench port: %s\n", what);
  abort();
}

mbox_os_irqstate_t mbox_os_enter_critical(void)
{
  COUNT(enter_critical);
  if (g_depth++ == 0 && bench_cs_measure)
    {
      bench_cs_enters++;
      CALLGRIND_TOGGLE_COLLECT;
    }

  return 0;
}

void mbox_os_leave_critical(mbox_os_irqstate_t flags)
{
  (void)flags;
  if (g_depth <= 0)
    {
      min_fatal("leave without enter");
    }

  if (--g_depth == 0 && bench_cs_measure)
    {
      CALLGRIND_TOGGLE_COLLECT;
    }
}

int bench_cs_depth(void)
{
  return g_depth;
}

mbox_os_clock_t mbox_os_ticks(void)
{
  COUNT(ticks);
  return bench_ticks;
}

bool mbox_os_in_interrupt(void)
{
  return g_in_irq > 0;
}

uintptr_t mbox_os_self(void)
{
  return (uintptr_t)pthread_self();
}

void bench_run_as_interrupt(void (*fn)(void *), void *arg)
{
  g_in_irq++;
  fn(arg);
  g_in_irq--;
}

int mbox_os_wait_init(struct mbox_os_wait_s *w)
{
  struct min_wait_s *mw = (struct min_wait_s *)(void *)w->opaque;

  mw->posted = 0;
  mw->magic = MIN_WAIT_MAGIC;
  COUNT(wait_init);
  return 0;
}

void mbox_os_wait_destroy(struct mbox_os_wait_s *w)
{
  struct min_wait_s *mw = (struct min_wait_s *)(void *)w->opaque;

  if (mw->magic != MIN_WAIT_MAGIC)
    {
      min_fatal("wait_destroy of an uninitialised object");
    }

  mw->magic = 0;
}

int mbox_os_wait_timed(struct mbox_os_wait_s *w, mbox_os_clock_t ticks)
{
  struct min_wait_s *mw = (struct min_wait_s *)(void *)w->opaque;

  (void)ticks;
  COUNT(wait_timed);
  if (g_depth != 0)
    {
      min_fatal("wait with the critical section held");
    }

  /* The "remote" answers while this sender sleeps. */

  if (!mw->posted && bench_wait_hook != NULL)
    {
      bench_run_as_interrupt(bench_wait_hook, bench_wait_hook_arg);
    }

  if (mw->posted)
    {
      mw->posted = 0;
      return 0;
    }

  /* Nobody will post: time passes. */

  bench_ticks += ticks == (mbox_os_clock_t)-1 ? 1 : ticks;
  return -ETIMEDOUT;
}

void mbox_os_wait_post(struct mbox_os_wait_s *w)
{
  struct min_wait_s *mw = (struct min_wait_s *)(void *)w->opaque;

  mw->posted = 1;
  COUNT(wait_post);
}

int mbox_os_timer_init(struct mbox_os_timer_s *t)
{
  struct min_timer_s *mt = (struct min_timer_s *)(void *)t->opaque;

  memset(mt, 0, sizeof(*mt));
  mt->magic = MIN_TIMER_MAGIC;
  return 0;
}

int mbox_os_timer_start(struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg)
{
  struct min_timer_s *mt = (struct min_timer_s *)(void *)t->opaque;

  mt->cb = cb;
  mt->arg = arg;
  mt->due = bench_ticks + ticks;
  mt->armed = 1;
  bench_timer_starts++;
  COUNT(timer_start);
  return 0;
}

void mbox_os_timer_cancel(struct mbox_os_timer_s *t)
{
  struct min_timer_s *mt = (struct min_timer_s *)(void *)t->opaque;

  mt->armed = 0;
  bench_timer_cancels++;
  COUNT(timer_cancel);
}

void mbox_os_timer_destroy(struct mbox_os_timer_s *t)
{
  struct min_timer_s *mt = (struct min_timer_s *)(void *)t->opaque;

  mt->armed = 0;
  mt->magic = 0;
}

uint32_t mbox_os_getreg32(uintptr_t addr)
{
  (void)addr;
  min_fatal("getreg32: no device on the bench port");
  return 0;
}

void mbox_os_putreg32(uintptr_t addr, uint32_t value)
{
  (void)addr;
  (void)value;
  min_fatal("putreg32: no device on the bench port");
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
  fprintf(stderr, "libmbox assertion: %.*s:%d\n", (int)file_len, file,
          line);
  abort();
}
