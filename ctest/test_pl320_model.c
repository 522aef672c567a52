/****************************************************************************
 * ctest/test_pl320_model.c
 *
 * Conformance tests of the host port (ffi/host/host_port.c) and of the
 * PL320 IPCM model (ffi/host/pl320_model.c): one test per register rule
 * or port guarantee, driven through mbox_os_getreg32()/mbox_os_putreg32()
 * exactly like the PL320 lower half drives them.
 *
 * Output is TAP ("ok N - name" / "not ok N - name", diagnostics after
 * "#"), ending with "N passed, M failed"; the exit status is non-zero when
 * any test failed.
 *
 * Interrupt delivery is asynchronous (a delivery thread per IRQ), so tests
 * that observe ISRs wait with a bounded timeout instead of assuming the
 * handler has run when a register write returns.
 ****************************************************************************/

/****************************************************************************
 * Included Files
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mbox_os.h"
#include "host.h"
#include "pl320_model.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define BASE            ((uintptr_t)0x10000000u)
#define WAIT_MS         2000      /* Bound for every asynchronous wait */

/* Checks: record a failure of the current test with its location and go
 * on, so one run reports every broken rule.
 */

#define CHECK(c) \
  check_true((c), #c, __LINE__)
#define CHECK_EQ(a, b) \
  check_eq((long long)(a), (long long)(b), #a, #b, __LINE__)

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* What a test ISR does, modelled on the PL320 driver's two roles. */

enum isr_action_e
{
  ACT_NONE,        /* Only count (leaves a level source asserted) */
  ACT_DEST_ACK,    /* Destination: for each MIS bit, DR0 += 1, SEND = 2 */
  ACT_SRC_DONE,    /* Source: for each MIS bit, record SEND/DR0, SEND = 0 */
  ACT_DEST_DCLEAR, /* Auto-ACK destination: DCLEAR its own bit */
  ACT_CRITICAL     /* Take and leave the critical section */
};

/* Records what an ISR saw; everything protected by lock. */

struct isr_rec_s
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  enum isr_action_e action;
  int line;                   /* IPCM line this ISR serves */
  int calls;
  int not_in_irq;             /* Calls where mbox_os_in_interrupt() lied */
  uint32_t last_mis;
  uint32_t seen_send;
  uint32_t seen_dr0;
};

/* Records timer callbacks. */

struct tmr_rec_s
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int count;
  int not_in_irq;
  uintptr_t last_arg;
  int64_t fired_ns;
  mbox_os_clock_t fired_ticks;
  int sleep_ms;               /* Callback duration (destroy test) */
  bool take_critical;
  bool started;
  bool finished;
};

/* Plain copies of the records, taken under their locks (never copy a
 * live mutex).
 */

struct isr_view_s
{
  int calls;
  int not_in_irq;
  uint32_t last_mis;
  uint32_t seen_send;
  uint32_t seen_dr0;
};

struct tmr_view_s
{
  int count;
  int not_in_irq;
  uintptr_t last_arg;
  int64_t fired_ns;
  mbox_os_clock_t fired_ticks;
  bool started;
  bool finished;
};

struct test_s
{
  const char *name;
  void (*fn)(void);
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static int g_check_failures;  /* Of the running test (main thread only) */

/****************************************************************************
 * Helpers: checks, time, registers
 ****************************************************************************/

static void check_true(bool ok, const char *expr, int line)
{
  if (!ok)
    {
      printf("#   line %d: check failed: %s\n", line, expr);
      g_check_failures++;
    }
}

static void check_eq(long long a, long long b, const char *ea,
                     const char *eb, int line)
{
  if (a != b)
    {
      printf("#   line %d: %s == %s failed: %lld (%#llx) != %lld (%#llx)\n",
             line, ea, eb, a, (unsigned long long)a, b,
             (unsigned long long)b);
      g_check_failures++;
    }
}

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
  struct timespec ts;

  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    {
    }
}

static void deadline_in_ms(struct timespec *ts, int ms)
{
  int64_t ns = now_ns() + (int64_t)ms * 1000000LL;

  ts->tv_sec = (time_t)(ns / 1000000000LL);
  ts->tv_nsec = (long)(ns % 1000000000LL);
}

static void cond_init_monotonic(pthread_cond_t *c)
{
  pthread_condattr_t attr;

  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(c, &attr);
  pthread_condattr_destroy(&attr);
}

static void wr(uint32_t off, uint32_t v)
{
  mbox_os_putreg32(BASE + off, v);
}

static uint32_t rd(uint32_t off)
{
  return mbox_os_getreg32(BASE + off);
}

static struct pl320_model_s *model_new(int nmbox, int nint, int datanum,
                                       const int *irqs)
{
  struct pl320_model_s *m;

  m = pl320_model_create(BASE, nmbox, nint, datanum, irqs);
  if (m == NULL)
    {
      printf("#   pl320_model_create failed\n");
      abort();  /* Every later check would be meaningless */
    }

  return m;
}

static struct pl320_model_stats_s model_stats(struct pl320_model_s *m)
{
  struct pl320_model_stats_s s;

  pl320_model_get_stats(m, &s);
  return s;
}

/* Claim mailbox mb for source line src and post a message to dst with
 * both lines unmasked, the way the PL320 driver sends.
 */

static void send_msg(int mb, int src, int dst, uint32_t dr0)
{
  wr(PL320M_SOURCE(mb), 1u << src);
  wr(PL320M_DSET(mb), 1u << dst);
  wr(PL320M_MSET(mb), (1u << src) | (1u << dst));
  wr(PL320M_DR(mb, 0), dr0);
  wr(PL320M_SEND(mb), PL320M_SEND_MSG);
}

/* Poll a register until it reads `want` or WAIT_MS pass. */

static bool poll_reg(uint32_t off, uint32_t want)
{
  int64_t end = now_ns() + (int64_t)WAIT_MS * 1000000LL;

  while (rd(off) != want)
    {
      if (now_ns() > end)
        {
          return false;
        }

      sleep_ms(1);
    }

  return true;
}

/****************************************************************************
 * Helpers: test ISR
 ****************************************************************************/

static void isr_rec_init(struct isr_rec_s *r, enum isr_action_e action,
                         int line)
{
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  cond_init_monotonic(&r->cond);
  r->action = action;
  r->line = line;
}

static void isr_rec_destroy(struct isr_rec_s *r)
{
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
}

static int test_isr(int irq, void *context, void *arg)
{
  struct isr_rec_s *r = arg;
  bool in_irq = mbox_os_in_interrupt();
  uint32_t mis = 0;
  uint32_t send = 0;
  uint32_t dr0 = 0;
  mbox_os_irqstate_t flags;
  int mb;

  (void)irq;
  (void)context;

  /* action and line are written before attach and never change: reading
   * them without the lock is ordered by the attach's mutex.
   */

  switch (r->action)
    {
      case ACT_DEST_ACK:
        mis = rd(PL320M_MIS(r->line));
        for (mb = 0; mb < 32; mb++)
          {
            if (mis & (1u << mb))
              {
                dr0 = rd(PL320M_DR(mb, 0));
                wr(PL320M_DR(mb, 0), dr0 + 1);
                wr(PL320M_SEND(mb), PL320M_SEND_ACK);
              }
          }
        break;

      case ACT_SRC_DONE:
        mis = rd(PL320M_MIS(r->line));
        for (mb = 0; mb < 32; mb++)
          {
            if (mis & (1u << mb))
              {
                send = rd(PL320M_SEND(mb));
                dr0 = rd(PL320M_DR(mb, 0));
                wr(PL320M_SEND(mb), PL320M_SEND_IDLE);
              }
          }
        break;

      case ACT_DEST_DCLEAR:
        mis = rd(PL320M_MIS(r->line));
        for (mb = 0; mb < 32; mb++)
          {
            if (mis & (1u << mb))
              {
                wr(PL320M_DCLEAR(mb), 1u << r->line);
              }
          }
        break;

      case ACT_CRITICAL:
        flags = mbox_os_enter_critical();
        mbox_os_leave_critical(flags);
        break;

      case ACT_NONE:
      default:
        break;
    }

  pthread_mutex_lock(&r->lock);
  r->calls++;
  if (!in_irq)
    {
      r->not_in_irq++;
    }

  if (mis != 0)
    {
      r->last_mis = mis;
      r->seen_send = send;
      r->seen_dr0 = dr0;
    }

  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

/* Wait until the ISR has been called at least n times; false on timeout. */

static bool isr_wait_calls(struct isr_rec_s *r, int n, int ms)
{
  struct timespec ts;
  bool ok;

  deadline_in_ms(&ts, ms);
  pthread_mutex_lock(&r->lock);
  while (r->calls < n)
    {
      if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) == ETIMEDOUT)
        {
          break;
        }
    }

  ok = r->calls >= n;
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static struct isr_view_s isr_snapshot(struct isr_rec_s *r)
{
  struct isr_view_s v;

  pthread_mutex_lock(&r->lock);
  v.calls = r->calls;
  v.not_in_irq = r->not_in_irq;
  v.last_mis = r->last_mis;
  v.seen_send = r->seen_send;
  v.seen_dr0 = r->seen_dr0;
  pthread_mutex_unlock(&r->lock);
  return v;
}

static void isr_attach(int irq, struct isr_rec_s *r)
{
  host_irq_reset_stats(irq);
  if (mbox_os_irq_attach(irq, test_isr, r) != 0)
    {
      printf("#   mbox_os_irq_attach(%d) failed\n", irq);
      abort();
    }

  mbox_os_irq_enable(irq);
}

static struct host_irq_stats_s irq_stats(int irq)
{
  struct host_irq_stats_s s;

  host_irq_get_stats(irq, &s);
  return s;
}

/****************************************************************************
 * Helpers: timer callback
 ****************************************************************************/

static void tmr_rec_init(struct tmr_rec_s *r)
{
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  cond_init_monotonic(&r->cond);
}

static void tmr_rec_destroy(struct tmr_rec_s *r)
{
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
}

/* The timer arg is the rec's address with a tag in bit 0 (recs are
 * aligned), so a test can tell which arming fired.
 */

static void test_timer_cb(uintptr_t arg)
{
  struct tmr_rec_s *r = (struct tmr_rec_s *)(arg & ~(uintptr_t)1);
  bool in_irq = mbox_os_in_interrupt();
  mbox_os_irqstate_t flags;
  bool take_critical;
  int ms;

  pthread_mutex_lock(&r->lock);
  r->started = true;
  ms = r->sleep_ms;
  take_critical = r->take_critical;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);

  if (take_critical)
    {
      flags = mbox_os_enter_critical();
      mbox_os_leave_critical(flags);
    }

  if (ms > 0)
    {
      sleep_ms(ms);
    }

  pthread_mutex_lock(&r->lock);
  r->count++;
  r->last_arg = arg;
  r->fired_ns = now_ns();
  r->fired_ticks = mbox_os_ticks();
  if (!in_irq)
    {
      r->not_in_irq++;
    }

  r->finished = true;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static bool tmr_wait(struct tmr_rec_s *r, int count, int ms)
{
  struct timespec ts;
  bool ok;

  deadline_in_ms(&ts, ms);
  pthread_mutex_lock(&r->lock);
  while (r->count < count)
    {
      if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) == ETIMEDOUT)
        {
          break;
        }
    }

  ok = r->count >= count;
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static struct tmr_view_s tmr_snapshot(struct tmr_rec_s *r)
{
  struct tmr_view_s v;

  pthread_mutex_lock(&r->lock);
  v.count = r->count;
  v.not_in_irq = r->not_in_irq;
  v.last_arg = r->last_arg;
  v.fired_ns = r->fired_ns;
  v.fired_ticks = r->fired_ticks;
  v.started = r->started;
  v.finished = r->finished;
  pthread_mutex_unlock(&r->lock);
  return v;
}

/****************************************************************************
 * Helpers: a thread that runs a function and reports completion
 ****************************************************************************/

struct runner_s
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  void (*fn)(void *);
  void *arg;
  bool done;
};

static void *runner_main(void *p)
{
  struct runner_s *r = p;

  r->fn(r->arg);

  pthread_mutex_lock(&r->lock);
  r->done = true;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

static void runner_start(struct runner_s *r, void (*fn)(void *), void *arg)
{
  memset(r, 0, sizeof(*r));
  pthread_mutex_init(&r->lock, NULL);
  cond_init_monotonic(&r->cond);
  r->fn = fn;
  r->arg = arg;
  pthread_create(&r->thread, NULL, runner_main, r);
}

static bool runner_wait(struct runner_s *r, int ms)
{
  struct timespec ts;
  bool done;

  deadline_in_ms(&ts, ms);
  pthread_mutex_lock(&r->lock);
  while (!r->done)
    {
      if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) == ETIMEDOUT)
        {
          break;
        }
    }

  done = r->done;
  pthread_mutex_unlock(&r->lock);
  return done;
}

static void runner_join(struct runner_s *r)
{
  pthread_join(r->thread, NULL);
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
}

/****************************************************************************
 * Tests: per-mailbox registers
 ****************************************************************************/

/* SOURCE can be set only while it reads 0; a second claim is ignored. */

static void test_source_claim_from_zero(void)
{
  struct pl320_model_s *m = model_new(4, 4, 7, NULL);

  CHECK_EQ(rd(PL320M_SOURCE(1)), 0);
  wr(PL320M_SOURCE(1), 0x4);
  CHECK_EQ(rd(PL320M_SOURCE(1)), 0x4);

  wr(PL320M_SOURCE(1), 0x2);
  CHECK_EQ(rd(PL320M_SOURCE(1)), 0x4);
  CHECK_EQ(model_stats(m).source_write_ignored, 1);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  /* Other mailboxes are independent. */

  CHECK_EQ(rd(PL320M_SOURCE(0)), 0);
  wr(PL320M_SOURCE(0), 0x2);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0x2);

  pl320_model_destroy(m);
}

/* A claim with more than one bit is rejected as a protocol error. */

static void test_source_rejects_non_one_hot(void)
{
  struct pl320_model_s *m = model_new(2, 32, 1, NULL);

  wr(PL320M_SOURCE(0), 0x3);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0);
  CHECK_EQ(model_stats(m).protocol_errors, 1);

  wr(PL320M_SOURCE(0), 0xffffffffu);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0);
  CHECK_EQ(model_stats(m).protocol_errors, 2);

  wr(PL320M_SOURCE(0), 0x80000000u);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0x80000000u);
  CHECK_EQ(model_stats(m).protocol_errors, 2);

  pl320_model_destroy(m);
}

/* Writing 0 to SOURCE frees the mailbox and clears DSTATUS, MODE,
 * MSTATUS and SEND, but not the data registers.
 */

static void test_source_release_clears(void)
{
  struct pl320_model_s *m = model_new(2, 4, 7, NULL);
  int d;

  wr(PL320M_SOURCE(1), 0x1);
  wr(PL320M_DSET(1), 0x6);
  wr(PL320M_MODE(1), PL320M_MODE_AUTOACK | PL320M_MODE_AUTOLINK);
  wr(PL320M_MSET(1), 0x7);
  for (d = 0; d < 7; d++)
    {
      wr(PL320M_DR(1, d), 0xa0 + d);
    }

  wr(PL320M_SEND(1), PL320M_SEND_MSG);

  CHECK_EQ(rd(PL320M_DSTATUS(1)), 0x6);
  CHECK_EQ(rd(PL320M_MODE(1)), 0x3);
  CHECK_EQ(rd(PL320M_MSTATUS(1)), 0x7);
  CHECK_EQ(rd(PL320M_SEND(1)), 1);

  wr(PL320M_SOURCE(1), 0);

  CHECK_EQ(rd(PL320M_SOURCE(1)), 0);
  CHECK_EQ(rd(PL320M_DSTATUS(1)), 0);
  CHECK_EQ(rd(PL320M_MODE(1)), 0);
  CHECK_EQ(rd(PL320M_MSTATUS(1)), 0);
  CHECK_EQ(rd(PL320M_SEND(1)), 0);
  for (d = 0; d < 7; d++)
    {
      CHECK_EQ(rd(PL320M_DR(1, d)), 0xa0 + d);
    }

  /* Free again: a new claim succeeds. */

  wr(PL320M_SOURCE(1), 0x8);
  CHECK_EQ(rd(PL320M_SOURCE(1)), 0x8);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  pl320_model_destroy(m);
}

/* DSET ORs into DSTATUS, DCLEAR clears, both read back as 0. */

static void test_dset_dclear_dstatus(void)
{
  struct pl320_model_s *m = model_new(1, 8, 1, NULL);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DSET(0), 0x05);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0x05);
  wr(PL320M_DSET(0), 0x02);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0x07);
  wr(PL320M_DCLEAR(0), 0x04);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0x03);
  wr(PL320M_DCLEAR(0), 0x08);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0x03);

  CHECK_EQ(rd(PL320M_DSET(0)), 0);
  CHECK_EQ(rd(PL320M_DCLEAR(0)), 0);

  /* DSTATUS itself is read-only. */

  wr(PL320M_DSTATUS(0), 0xff);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0x03);

  pl320_model_destroy(m);
}

/* MSET / MCLEAR / MSTATUS work like the destination registers. */

static void test_mset_mclear_mstatus(void)
{
  struct pl320_model_s *m = model_new(1, 8, 1, NULL);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_MSET(0), 0x11);
  CHECK_EQ(rd(PL320M_MSTATUS(0)), 0x11);
  wr(PL320M_MSET(0), 0x02);
  CHECK_EQ(rd(PL320M_MSTATUS(0)), 0x13);
  wr(PL320M_MCLEAR(0), 0x10);
  CHECK_EQ(rd(PL320M_MSTATUS(0)), 0x03);

  CHECK_EQ(rd(PL320M_MSET(0)), 0);
  CHECK_EQ(rd(PL320M_MCLEAR(0)), 0);

  wr(PL320M_MSTATUS(0), 0xff);
  CHECK_EQ(rd(PL320M_MSTATUS(0)), 0x03);

  pl320_model_destroy(m);
}

/* MODE keeps its two bits; writable only while SOURCE is set. */

static void test_mode_bits(void)
{
  struct pl320_model_s *m = model_new(1, 2, 1, NULL);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_MODE(0), PL320M_MODE_AUTOACK);
  CHECK_EQ(rd(PL320M_MODE(0)), 1);
  wr(PL320M_MODE(0), PL320M_MODE_AUTOLINK);
  CHECK_EQ(rd(PL320M_MODE(0)), 2);
  wr(PL320M_MODE(0), 0xff);
  CHECK_EQ(rd(PL320M_MODE(0)), 3);
  wr(PL320M_MODE(0), 0);
  CHECK_EQ(rd(PL320M_MODE(0)), 0);

  pl320_model_destroy(m);
}

/* With SOURCE == 0 every other write is ignored and counted. */

static void test_writes_ignored_while_free(void)
{
  struct pl320_model_s *m = model_new(1, 4, 2, NULL);

  /* Give DR0 a value first, then free the mailbox. */

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DR(0, 0), 0x1234);
  wr(PL320M_SOURCE(0), 0);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_DCLEAR(0), 0x2);
  wr(PL320M_MODE(0), 0x1);
  wr(PL320M_MSET(0), 0x3);
  wr(PL320M_MCLEAR(0), 0x1);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  wr(PL320M_DR(0, 0), 0x5678);
  wr(PL320M_DR(0, 1), 0x9abc);

  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0);
  CHECK_EQ(rd(PL320M_MODE(0)), 0);
  CHECK_EQ(rd(PL320M_MSTATUS(0)), 0);
  CHECK_EQ(rd(PL320M_SEND(0)), 0);
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0x1234);
  CHECK_EQ(rd(PL320M_DR(0, 1)), 0);
  CHECK_EQ(model_stats(m).protocol_errors, 8);
  CHECK_EQ(model_stats(m).writes, 11);

  pl320_model_destroy(m);
}

/* SEND takes 0, 1 and 2; 3 is refused and counted. */

static void test_send_values(void)
{
  struct pl320_model_s *m = model_new(1, 2, 1, NULL);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_SEND(0), 1);
  CHECK_EQ(rd(PL320M_SEND(0)), 1);
  wr(PL320M_SEND(0), 3);
  CHECK_EQ(rd(PL320M_SEND(0)), 1);
  CHECK_EQ(model_stats(m).protocol_errors, 1);
  wr(PL320M_SEND(0), 2);
  CHECK_EQ(rd(PL320M_SEND(0)), 2);
  wr(PL320M_SEND(0), 0);
  CHECK_EQ(rd(PL320M_SEND(0)), 0);
  wr(PL320M_SEND(0), 3);
  CHECK_EQ(rd(PL320M_SEND(0)), 0);
  CHECK_EQ(model_stats(m).protocol_errors, 2);

  pl320_model_destroy(m);
}

/* DATANUM data registers exist; the ones beyond read 0, ignore writes. */

static void test_data_registers(void)
{
  struct pl320_model_s *m = model_new(2, 2, 3, NULL);
  int d;

  wr(PL320M_SOURCE(0), 0x1);
  for (d = 0; d < 7; d++)
    {
      wr(PL320M_DR(0, d), 0xdead0000u + (uint32_t)d);
    }

  for (d = 0; d < 3; d++)
    {
      CHECK_EQ(rd(PL320M_DR(0, d)), 0xdead0000u + (uint32_t)d);
    }

  for (d = 3; d < 7; d++)
    {
      CHECK_EQ(rd(PL320M_DR(0, d)), 0);
    }

  /* Out-of-range data writes are neither stored nor errors, and do not
   * spill into the next mailbox.
   */

  CHECK_EQ(model_stats(m).protocol_errors, 0);
  CHECK_EQ(rd(PL320M_SOURCE(1)), 0);

  pl320_model_destroy(m);

  /* With DATANUM 7, DR6 is the last word before the next mailbox. */

  m = model_new(2, 2, 7, NULL);
  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DR(0, 6), 0x66);
  CHECK_EQ(rd(PL320M_DR(0, 6)), 0x66);
  CHECK_EQ(rd(PL320M_SOURCE(1)), 0);
  pl320_model_destroy(m);
}

/****************************************************************************
 * Tests: global registers
 ****************************************************************************/

/* MIS(i) honours MSTATUS, RIS(i) does not; SEND selects DSTATUS (message)
 * or SOURCE (ACK) as the lines' source.
 */

static void test_mis_vs_ris(void)
{
  struct pl320_model_s *m = model_new(4, 4, 1, NULL);

  wr(PL320M_SOURCE(2), 0x1);
  wr(PL320M_DSET(2), 0x2);
  wr(PL320M_MSET(2), 0x1);          /* Only the source line unmasked */
  CHECK_EQ(rd(PL320M_RIS(1)), 0);   /* SEND idle: nothing active */

  wr(PL320M_SEND(2), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_RIS(1)), 1u << 2);
  CHECK_EQ(rd(PL320M_MIS(1)), 0);
  CHECK_EQ(rd(PL320M_RIS(0)), 0);
  CHECK_EQ(rd(PL320M_MIS(0)), 0);

  wr(PL320M_MSET(2), 0x2);
  CHECK_EQ(rd(PL320M_MIS(1)), 1u << 2);

  /* ACK: the source's line, not the destination's. */

  wr(PL320M_SEND(2), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_RIS(1)), 0);
  CHECK_EQ(rd(PL320M_MIS(1)), 0);
  CHECK_EQ(rd(PL320M_RIS(0)), 1u << 2);
  CHECK_EQ(rd(PL320M_MIS(0)), 1u << 2);

  wr(PL320M_MCLEAR(2), 0x1);
  CHECK_EQ(rd(PL320M_RIS(0)), 1u << 2);
  CHECK_EQ(rd(PL320M_MIS(0)), 0);

  /* A second mailbox shows up as its own bit. */

  wr(PL320M_SOURCE(0), 0x8);
  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_MSET(0), 0xa);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_MIS(1)), 1u << 0);
  CHECK_EQ(rd(PL320M_RIS(1)), 1u << 0);
  CHECK_EQ(rd(PL320M_RIS(0)), 1u << 2);

  /* Status registers are read-only. */

  wr(PL320M_MIS(1), 0);
  wr(PL320M_RIS(0), 0);
  CHECK_EQ(rd(PL320M_MIS(1)), 1u << 0);
  CHECK_EQ(rd(PL320M_RIS(0)), 1u << 2);

  pl320_model_destroy(m);
}

/* IPCMCFGSTAT reports the configuration. */

static void test_cfgstat(void)
{
  struct pl320_model_s *m = model_new(8, 4, 7, NULL);

  CHECK_EQ(rd(PL320M_CFGSTAT), 0x00080407u);
  pl320_model_destroy(m);

  m = model_new(32, 32, 1, NULL);
  CHECK_EQ(rd(PL320M_CFGSTAT), 0x00202001u);
  pl320_model_destroy(m);
}

/* PrimeCell identification: part 0x320, designer 0x41. */

static void test_id_registers(void)
{
  static const uint32_t periph[4] =
  {
    0x20, 0x13, 0x04, 0x00
  };

  static const uint32_t pcell[4] =
  {
    0x0d, 0xf0, 0x05, 0xb1
  };

  struct pl320_model_s *m = model_new(1, 1, 1, NULL);
  uint32_t part;
  uint32_t designer;
  int i;

  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(rd(PL320M_PERIPHID(i)), periph[i]);
      CHECK_EQ(rd(PL320M_PCELLID(i)), pcell[i]);
    }

  part = rd(PL320M_PERIPHID(0)) | ((rd(PL320M_PERIPHID(1)) & 0xf) << 8);
  designer = (rd(PL320M_PERIPHID(1)) >> 4) |
             ((rd(PL320M_PERIPHID(2)) & 0xf) << 4);
  CHECK_EQ(part, 0x320);
  CHECK_EQ(designer, 0x41);

  pl320_model_destroy(m);
}

/* Offsets that are no register (or a mailbox/line the configuration does
 * not have) read 0 and ignore writes.
 */

static void test_unmapped_offsets(void)
{
  struct pl320_model_s *m = model_new(2, 2, 1, NULL);

  wr(PL320M_SOURCE(2), 0x1);
  CHECK_EQ(rd(PL320M_SOURCE(2)), 0);
  CHECK_EQ(rd(PL320M_SOURCE(31)), 0);

  /* Line 2 does not exist: its status reads 0 even with a message for
   * destination bit 2.
   */

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DSET(0), 0x4);
  wr(PL320M_MSET(0), 0x4);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_MIS(2)), 0);
  CHECK_EQ(rd(PL320M_RIS(2)), 0);

  CHECK_EQ(rd(0x904 + 8 * 31), 0);
  CHECK_EQ(rd(0x904 + 8 * 32), 0);
  CHECK_EQ(rd(0x7fc), 0);
  CHECK_EQ(rd(0xa00), 0);
  CHECK_EQ(rd(0xfdc), 0);

  wr(PL320M_CFGSTAT, 0);
  CHECK_EQ(rd(PL320M_CFGSTAT), 0x00020201u);
  wr(PL320M_PERIPHID(0), 0);
  CHECK_EQ(rd(PL320M_PERIPHID(0)), 0x20);

  pl320_model_destroy(m);
}

/* Bad configurations and address clashes are refused. */

static void test_model_create_rejects(void)
{
  static const int bad_irq[2] =
  {
    0, HOST_NIRQ
  };

  struct pl320_model_s *m;
  struct pl320_model_s *m2;

  CHECK(pl320_model_create(BASE, 0, 1, 1, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 33, 1, 1, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 1, 0, 1, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 1, 33, 1, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 1, 1, 0, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 1, 1, 8, NULL) == NULL);
  CHECK(pl320_model_create(BASE, 1, 2, 1, bad_irq) == NULL);

  m = model_new(1, 1, 1, NULL);
  CHECK(pl320_model_create(BASE + 0x800, 1, 1, 1, NULL) == NULL);

  m2 = pl320_model_create(BASE + PL320M_WINDOW_SIZE, 1, 1, 1, NULL);
  CHECK(m2 != NULL);
  if (m2 != NULL)
    {
      CHECK_EQ(mbox_os_getreg32(BASE + PL320M_WINDOW_SIZE +
                                PL320M_CFGSTAT), 0x00010101u);
      pl320_model_destroy(m2);
    }

  pl320_model_destroy(m);
}

/****************************************************************************
 * Tests: interrupt lines through the host interrupt controller
 ****************************************************************************/

/* A full exchange between two simulated cores: the destination's ISR
 * sees the message and ACKs, the source's ISR sees the ACK and idles the
 * mailbox. Both lines fall again; no handler returns with its line high.
 */

static void test_irq_message_and_ack(void)
{
  static const int irqs[2] =
  {
    1, 2
  };

  struct isr_rec_s src;
  struct isr_rec_s dst;
  struct isr_view_s s;
  struct isr_view_s d;
  struct pl320_model_s *m;

  isr_rec_init(&src, ACT_SRC_DONE, 0);
  isr_rec_init(&dst, ACT_DEST_ACK, 1);
  m = model_new(4, 2, 7, irqs);
  isr_attach(1, &src);
  isr_attach(2, &dst);

  send_msg(3, 0, 1, 0x1000);

  CHECK(isr_wait_calls(&src, 1, WAIT_MS));
  host_irq_quiesce(1, WAIT_MS);
  host_irq_quiesce(2, WAIT_MS);
  sleep_ms(50);  /* Room for a wrong extra delivery to show up */

  s = isr_snapshot(&src);
  d = isr_snapshot(&dst);
  CHECK_EQ(d.calls, 1);
  CHECK_EQ(d.last_mis, 1u << 3);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.last_mis, 1u << 3);
  CHECK_EQ(s.seen_send, PL320M_SEND_ACK);
  CHECK_EQ(s.seen_dr0, 0x1001);   /* The destination's reply */
  CHECK_EQ(s.not_in_irq + d.not_in_irq, 0);

  CHECK_EQ(rd(PL320M_SEND(3)), PL320M_SEND_IDLE);
  CHECK_EQ(rd(PL320M_RIS(0)) | rd(PL320M_RIS(1)), 0);
  CHECK_EQ(irq_stats(1).calls, 1);
  CHECK_EQ(irq_stats(2).calls, 1);
  CHECK_EQ(irq_stats(1).still_asserted_after_return, 0);
  CHECK_EQ(irq_stats(2).still_asserted_after_return, 0);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  host_irq_disable(1);
  host_irq_disable(2);
  pl320_model_destroy(m);
  isr_rec_destroy(&src);
  isr_rec_destroy(&dst);
}

/* A masked line stays low although its raw status is set. */

static void test_irq_mask_gates_line(void)
{
  static const int irqs[2] =
  {
    -1, 3
  };

  struct isr_rec_s dst;
  struct pl320_model_s *m;

  isr_rec_init(&dst, ACT_DEST_ACK, 1);
  m = model_new(1, 2, 1, irqs);
  isr_attach(3, &dst);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_MSET(0), 0x1);
  wr(PL320M_DR(0, 0), 7);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_RIS(1)), 1);

  sleep_ms(100);
  CHECK_EQ(isr_snapshot(&dst).calls, 0);

  wr(PL320M_MSET(0), 0x2);
  CHECK(isr_wait_calls(&dst, 1, WAIT_MS));
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  CHECK_EQ(rd(PL320M_DR(0, 0)), 8);

  host_irq_disable(3);
  pl320_model_destroy(m);
  isr_rec_destroy(&dst);
}

/* Two IPCM lines on one host IRQ: the IRQ is the OR of them. */

static void test_irq_shared_line(void)
{
  static const int irqs[3] =
  {
    -1, 4, 4
  };

  struct pl320_model_s *m;
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_NONE, 1);
  m = model_new(2, 3, 1, irqs);

  /* Not attached yet: the level is recorded, nothing delivered. */

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_MSET(0), 0x2);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  wr(PL320M_SOURCE(1), 0x1);
  wr(PL320M_DSET(1), 0x4);
  wr(PL320M_MSET(1), 0x4);
  wr(PL320M_SEND(1), PL320M_SEND_MSG);

  /* Dropping line 1 keeps the IRQ high because of line 2. */

  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  isr_attach(4, &r);

  /* A second call means the first returned with the IRQ still high. */

  CHECK(isr_wait_calls(&r, 2, WAIT_MS));

  /* Dropping line 2 as well lets it fall. */

  wr(PL320M_SEND(1), PL320M_SEND_IDLE);
  host_irq_quiesce(4, WAIT_MS);
  CHECK(irq_stats(4).still_asserted_after_return >= 1);

  host_irq_reset_stats(4);
  sleep_ms(50);
  CHECK_EQ(irq_stats(4).calls, 0);

  host_irq_disable(4);
  pl320_model_destroy(m);
  isr_rec_destroy(&r);
}

/* Auto-acknowledge, register level: the last DCLEAR sets SEND = 2, and
 * only with MODE bit 0.
 */

static void test_auto_ack_registers(void)
{
  struct pl320_model_s *m = model_new(2, 4, 1, NULL);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_MODE(0), PL320M_MODE_AUTOACK);
  wr(PL320M_DSET(0), 0x6);
  wr(PL320M_MSET(0), 0x7);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_MIS(1)), 1);
  CHECK_EQ(rd(PL320M_MIS(2)), 1);

  wr(PL320M_DCLEAR(0), 0x2);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_MIS(1)), 0);
  CHECK_EQ(rd(PL320M_MIS(0)), 0);

  wr(PL320M_DCLEAR(0), 0x4);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_MIS(0)), 1);
  CHECK_EQ(rd(PL320M_MIS(2)), 0);

  /* Without auto-ACK the mailbox waits for an explicit SEND = 2. */

  wr(PL320M_SOURCE(1), 0x1);
  wr(PL320M_DSET(1), 0x6);
  wr(PL320M_MSET(1), 0x7);
  wr(PL320M_SEND(1), PL320M_SEND_MSG);
  wr(PL320M_DCLEAR(1), 0x6);
  CHECK_EQ(rd(PL320M_SEND(1)), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_MIS(0)), 1);   /* Only mailbox 0 */

  pl320_model_destroy(m);
}

/* Auto-acknowledge end to end: two destination cores DCLEAR their bits
 * from their ISRs; the source's ISR then sees SEND = 2.
 */

static void test_auto_ack_irq(void)
{
  static const int irqs[3] =
  {
    5, 6, 7
  };

  struct isr_rec_s src;
  struct isr_rec_s d1;
  struct isr_rec_s d2;
  struct pl320_model_s *m;
  struct isr_view_s s;

  isr_rec_init(&src, ACT_SRC_DONE, 0);
  isr_rec_init(&d1, ACT_DEST_DCLEAR, 1);
  isr_rec_init(&d2, ACT_DEST_DCLEAR, 2);
  m = model_new(2, 3, 1, irqs);
  isr_attach(5, &src);
  isr_attach(6, &d1);
  isr_attach(7, &d2);

  wr(PL320M_SOURCE(1), 0x1);
  wr(PL320M_MODE(1), PL320M_MODE_AUTOACK);
  wr(PL320M_DSET(1), 0x6);
  wr(PL320M_MSET(1), 0x7);
  wr(PL320M_DR(1, 0), 0x42);
  wr(PL320M_SEND(1), PL320M_SEND_MSG);

  CHECK(isr_wait_calls(&src, 1, WAIT_MS));
  s = isr_snapshot(&src);
  CHECK_EQ(s.seen_send, PL320M_SEND_ACK);
  CHECK_EQ(s.last_mis, 1u << 1);

  /* A destination ISR counts its call after its DCLEAR, which may be
   * after the source's ISR has run: wait for them to return.
   */

  host_irq_quiesce(5, WAIT_MS);
  host_irq_quiesce(6, WAIT_MS);
  host_irq_quiesce(7, WAIT_MS);
  CHECK_EQ(isr_snapshot(&d1).calls, 1);
  CHECK_EQ(isr_snapshot(&d2).calls, 1);

  CHECK_EQ(rd(PL320M_SEND(1)), PL320M_SEND_IDLE);
  CHECK_EQ(irq_stats(6).still_asserted_after_return, 0);
  CHECK_EQ(irq_stats(7).still_asserted_after_return, 0);

  host_irq_disable(5);
  host_irq_disable(6);
  host_irq_disable(7);
  pl320_model_destroy(m);
  isr_rec_destroy(&src);
  isr_rec_destroy(&d1);
  isr_rec_destroy(&d2);
}

/****************************************************************************
 * Tests: fault injection
 ****************************************************************************/

/* DROP_ACK: the ACK's SEND write is lost and DSTATUS cleared; DR0 written
 * just before is kept. Applies to `count` ACKs, then the mailbox is
 * normal again.
 */

static void test_fault_drop_ack(void)
{
  struct pl320_model_s *m = model_new(2, 2, 2, NULL);

  pl320_model_set_fault(m, 0, PL320_FAULT_DROP_ACK, 0, 1);

  send_msg(0, 0, 1, 0x10);
  wr(PL320M_DR(0, 0), 0xa5);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0);
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0xa5);
  CHECK_EQ(rd(PL320M_RIS(0)), 0);
  CHECK_EQ(rd(PL320M_RIS(1)), 0);
  CHECK_EQ(model_stats(m).acks_dropped, 1);

  /* Count exhausted: the next ACK goes through. */

  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_ACK);
  CHECK_EQ(model_stats(m).acks_dropped, 1);

  /* Other mailboxes are not affected; count 0 means every ACK. */

  pl320_model_set_fault(m, 1, PL320_FAULT_DROP_ACK, 0, 0);
  send_msg(1, 0, 1, 0x20);
  wr(PL320M_SEND(1), PL320M_SEND_ACK);
  wr(PL320M_DSET(1), 0x2);
  wr(PL320M_SEND(1), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(1)), PL320M_SEND_MSG);
  CHECK_EQ(model_stats(m).acks_dropped, 3);

  pl320_model_set_fault(m, 1, PL320_FAULT_NONE, 0, 0);
  wr(PL320M_SEND(1), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(1)), PL320M_SEND_ACK);
  CHECK_EQ(model_stats(m).acks_dropped, 3);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  pl320_model_destroy(m);
}

/* DELAY_ACK: nothing now (DSTATUS cleared), the ACK with the captured DR0
 * lands delay_ms later, whatever the mailbox holds by then; into a
 * released mailbox it does not land at all.
 */

static void test_fault_delay_ack(void)
{
  struct pl320_model_s *m = model_new(1, 2, 1, NULL);
  int64_t t0;
  int64_t t1;

  pl320_model_set_fault(m, 0, PL320_FAULT_DELAY_ACK, 150, 1);
  send_msg(0, 0, 1, 0x10);
  wr(PL320M_DR(0, 0), 0xd1);
  t0 = now_ns();
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_MSG);
  CHECK_EQ(rd(PL320M_DSTATUS(0)), 0);
  CHECK_EQ(model_stats(m).acks_delayed, 1);

  /* The source overwrites DR0 meanwhile; the late ACK restores the
   * destination's value.
   */

  wr(PL320M_DR(0, 0), 0x55);
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  t1 = now_ns();
  CHECK(t1 - t0 >= 150 * 1000000LL);
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0xd1);
  CHECK_EQ(rd(PL320M_MIS(0)), 1);

  /* A late ACK completes the next message (the one it does not belong
   * to): the case libmbox's per-message token must catch.
   */

  pl320_model_set_fault(m, 0, PL320_FAULT_DELAY_ACK, 100, 1);
  wr(PL320M_SOURCE(0), 0);
  send_msg(0, 0, 1, 0x20);
  wr(PL320M_DR(0, 0), 0xd2);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  wr(PL320M_SOURCE(0), 0);              /* Source gives up (timeout) */
  send_msg(0, 0, 1, 0x77);              /* and sends the next one */
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_MSG);
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0xd2);

  /* Released and not claimed again: the late ACK is ignored. */

  pl320_model_set_fault(m, 0, PL320_FAULT_DELAY_ACK, 50, 1);
  wr(PL320M_SOURCE(0), 0);
  send_msg(0, 0, 1, 0x30);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  wr(PL320M_SOURCE(0), 0);
  sleep_ms(150);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_IDLE);
  CHECK_EQ(model_stats(m).acks_delayed, 3);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  pl320_model_destroy(m);
}

/* A late ACK replays what the destination wrote and nothing else: a
 * legacy remote acknowledges with SEND = 2 alone, so its late ACK leaves
 * the data registers as the source wrote them meanwhile (the next
 * message), for DELAY_ACK and DUP_ACK alike.
 */

static void test_late_ack_without_dr0_write_keeps_the_data_registers(void)
{
  struct pl320_model_s *m = model_new(1, 2, 1, NULL);

  pl320_model_set_fault(m, 0, PL320_FAULT_DELAY_ACK, 50, 1);
  send_msg(0, 0, 1, 0x10);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);    /* SEND = 2 alone */
  wr(PL320M_SEND(0), PL320M_SEND_IDLE);   /* Source withdraws */
  wr(PL320M_DR(0, 0), 0x77);              /* and writes the next one */
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0x77);

  pl320_model_set_fault(m, 0, PL320_FAULT_DUP_ACK, 50, 1);
  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  wr(PL320M_DR(0, 0), 0x20);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  wr(PL320M_DR(0, 0), 0x88);
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0x88);
  CHECK_EQ(model_stats(m).protocol_errors, 0);

  pl320_model_destroy(m);
}

/* DUP_ACK: the ACK lands now and once more delay_ms later, if the
 * mailbox is still claimed.
 */

static void test_fault_dup_ack(void)
{
  struct pl320_model_s *m = model_new(1, 2, 1, NULL);
  int64_t t0;

  pl320_model_set_fault(m, 0, PL320_FAULT_DUP_ACK, 100, 2);
  send_msg(0, 0, 1, 0x10);
  wr(PL320M_DR(0, 0), 0xc1);
  t0 = now_ns();
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_ACK);
  CHECK_EQ(model_stats(m).acks_duplicated, 1);

  /* The source consumes the ACK and keeps the mailbox. */

  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  wr(PL320M_DR(0, 0), 0x99);
  CHECK(poll_reg(PL320M_SEND(0), PL320M_SEND_ACK));
  CHECK(now_ns() - t0 >= 100 * 1000000LL);
  CHECK_EQ(rd(PL320M_DR(0, 0)), 0xc1);

  /* Second ACK of the fault: the source releases before the duplicate,
   * which therefore does not land.
   */

  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  wr(PL320M_DSET(0), 0x2);
  wr(PL320M_SEND(0), PL320M_SEND_MSG);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_ACK);
  wr(PL320M_SOURCE(0), 0);
  sleep_ms(200);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_IDLE);
  CHECK_EQ(rd(PL320M_SOURCE(0)), 0);
  CHECK_EQ(model_stats(m).acks_duplicated, 2);

  /* Count 2 used up: no more duplicates. */

  send_msg(0, 0, 1, 0x20);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);
  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  sleep_ms(150);
  CHECK_EQ(rd(PL320M_SEND(0)), PL320M_SEND_IDLE);
  CHECK_EQ(model_stats(m).acks_duplicated, 2);

  pl320_model_destroy(m);
}

/* pl320_model_raise_spurious(): one call of the line's ISR, line low. */

static void test_model_spurious(void)
{
  static const int irqs[2] =
  {
    8, -1
  };

  struct pl320_model_s *m;
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_SRC_DONE, 0);
  m = model_new(1, 2, 1, irqs);
  isr_attach(8, &r);

  pl320_model_raise_spurious(m, 0);
  pl320_model_raise_spurious(m, 1);     /* Unconnected: nothing */
  CHECK(isr_wait_calls(&r, 1, WAIT_MS));
  host_irq_quiesce(8, WAIT_MS);
  sleep_ms(50);
  CHECK_EQ(isr_snapshot(&r).calls, 1);
  CHECK_EQ(isr_snapshot(&r).last_mis, 0);   /* Nothing pending */
  CHECK_EQ(irq_stats(8).still_asserted_after_return, 0);

  host_irq_disable(8);
  pl320_model_destroy(m);
  isr_rec_destroy(&r);
}

/****************************************************************************
 * Tests: host interrupt controller
 ****************************************************************************/

/* host_irq_pulse(): exactly one call with the line low. */

static void test_irq_pulse(void)
{
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_NONE, 0);
  isr_attach(9, &r);

  host_irq_pulse(9);
  CHECK(isr_wait_calls(&r, 1, WAIT_MS));
  sleep_ms(50);
  CHECK_EQ(isr_snapshot(&r).calls, 1);
  CHECK_EQ(isr_snapshot(&r).not_in_irq, 0);
  CHECK_EQ(irq_stats(9).calls, 1);

  host_irq_pulse(9);
  host_irq_pulse(9);
  CHECK(isr_wait_calls(&r, 3, WAIT_MS));
  sleep_ms(50);
  CHECK_EQ(isr_snapshot(&r).calls, 3);
  CHECK_EQ(irq_stats(9).still_asserted_after_return, 0);

  host_irq_disable(9);
  isr_rec_destroy(&r);
}

/* An ISR that does not clear its level source is called again and again;
 * the statistics show it, and the storm stops once the source is cleared.
 */

static void test_irq_storm_stats(void)
{
  static const int irqs[1] =
  {
    10
  };

  struct host_irq_stats_s s1;
  struct host_irq_stats_s s2;
  struct pl320_model_s *m;
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_NONE, 0);
  m = model_new(1, 1, 1, irqs);
  isr_attach(10, &r);

  wr(PL320M_SOURCE(0), 0x1);
  wr(PL320M_MSET(0), 0x1);
  wr(PL320M_SEND(0), PL320M_SEND_ACK);   /* Source line high */

  CHECK(isr_wait_calls(&r, 5, WAIT_MS));
  s1 = irq_stats(10);
  CHECK(s1.still_asserted_after_return >= 4);

  wr(PL320M_SEND(0), PL320M_SEND_IDLE);
  host_irq_quiesce(10, WAIT_MS);
  s1 = irq_stats(10);
  sleep_ms(50);
  s2 = irq_stats(10);
  CHECK_EQ(s2.calls, s1.calls);
  CHECK(s2.calls >= s2.still_asserted_after_return);

  host_irq_disable(10);
  pl320_model_destroy(m);
  isr_rec_destroy(&r);
}

/* Disabled interrupts are not delivered; the level is kept and delivered
 * once enabled again.
 */

static void test_irq_disable_enable(void)
{
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_NONE, 0);
  isr_attach(11, &r);
  host_irq_disable(11);

  host_irq_pulse(11);
  sleep_ms(100);
  CHECK_EQ(isr_snapshot(&r).calls, 0);

  mbox_os_irq_enable(11);
  CHECK(isr_wait_calls(&r, 1, WAIT_MS));

  /* A level raised while disabled. */

  host_irq_disable(11);
  host_irq_set_level(11, true);
  sleep_ms(50);
  CHECK_EQ(isr_snapshot(&r).calls, 1);
  host_irq_set_level(11, false);
  mbox_os_irq_enable(11);
  sleep_ms(50);
  CHECK_EQ(isr_snapshot(&r).calls, 1);

  host_irq_disable(11);
  isr_rec_destroy(&r);
}

/* mbox_os_irq_attach() validates its arguments. */

static void test_irq_attach_einval(void)
{
  struct isr_rec_s r;

  isr_rec_init(&r, ACT_NONE, 0);
  CHECK_EQ(mbox_os_irq_attach(-1, test_isr, &r), -EINVAL);
  CHECK_EQ(mbox_os_irq_attach(HOST_NIRQ, test_isr, &r), -EINVAL);
  CHECK_EQ(mbox_os_irq_attach(12, NULL, &r), -EINVAL);
  CHECK_EQ(mbox_os_irq_attach(12, test_isr, &r), 0);
  host_irq_disable(12);
  isr_rec_destroy(&r);
}

/* The delivery thread holds no host lock while the ISR runs: an ISR that
 * is blocked on the critical section must not stop other threads from
 * using the interrupt controller.
 */

static void irq_ops_in_thread(void *arg)
{
  struct host_irq_stats_s s;

  (void)arg;
  host_irq_set_level(14, false);
  host_irq_get_stats(13, &s);
  host_irq_pulse(14);
}

static void test_irq_isr_runs_unlocked(void)
{
  struct runner_s run;
  struct isr_rec_s r;
  mbox_os_irqstate_t flags;
  bool done;

  isr_rec_init(&r, ACT_CRITICAL, 0);
  isr_attach(13, &r);

  flags = mbox_os_enter_critical();
  host_irq_pulse(13);
  sleep_ms(30);                          /* ISR now waits for us */
  CHECK_EQ(isr_snapshot(&r).calls, 0);

  runner_start(&run, irq_ops_in_thread, NULL);
  done = runner_wait(&run, 1000);
  CHECK(done);
  mbox_os_leave_critical(flags);

  CHECK(isr_wait_calls(&r, 1, WAIT_MS));
  runner_join(&run);

  host_irq_disable(13);
  isr_rec_destroy(&r);
}

/****************************************************************************
 * Tests: register bus, assertions
 ****************************************************************************/

static uint32_t dummy_read(void *dev, uint32_t offset)
{
  return (uint32_t)(uintptr_t)dev ^ offset;
}

static void dummy_write(void *dev, uint32_t offset, uint32_t value)
{
  (void)dev;
  (void)offset;
  (void)value;
}

/* Windows route by address with the right offset; overlaps, bad
 * arguments and a full table are refused.
 */

static void test_bus_map_rules(void)
{
  uintptr_t base = 0x20000000u;
  int mapped = 0;
  int ret;
  int i;

  CHECK_EQ(host_bus_map(base, 0x100, dummy_read, dummy_write,
                        (void *)0x5000), 0);
  CHECK_EQ(mbox_os_getreg32(base + 0x10), 0x5010);
  CHECK_EQ(mbox_os_getreg32(base + 0xfc), 0x50fc);

  CHECK_EQ(host_bus_map(base + 0xfc, 0x100, dummy_read, dummy_write,
                        NULL), -EBUSY);
  CHECK_EQ(host_bus_map(base - 0x10, 0x14, dummy_read, dummy_write,
                        NULL), -EBUSY);
  CHECK_EQ(host_bus_map(base + 0x100, 0, dummy_read, dummy_write, NULL),
           -EINVAL);
  CHECK_EQ(host_bus_map(base + 0x100, 0x100, NULL, dummy_write, NULL),
           -EINVAL);
  CHECK_EQ(host_bus_map(base + 0x102, 0x100, dummy_read, dummy_write,
                        NULL), -EINVAL);

  /* Adjacent is fine. */

  CHECK_EQ(host_bus_map(base + 0x100, 0x100, dummy_read, dummy_write,
                        (void *)0x7000), 0);
  CHECK_EQ(mbox_os_getreg32(base + 0x100), 0x7000);
  CHECK_EQ(mbox_os_getreg32(base + 0xfc), 0x50fc);

  /* Fill the table. */

  for (i = 2; i < HOST_BUS_NWINDOWS + 2; i++)
    {
      ret = host_bus_map(base + 0x100 * (uintptr_t)i, 0x100, dummy_read,
                         dummy_write, NULL);
      if (ret == 0)
        {
          mapped++;
        }
      else
        {
          CHECK_EQ(ret, -ENOMEM);
          break;
        }
    }

  CHECK_EQ(mapped, HOST_BUS_NWINDOWS - 2);

  for (i = 0; i < HOST_BUS_NWINDOWS + 2; i++)
    {
      host_bus_unmap(base + 0x100 * (uintptr_t)i);
    }

  /* All free again. */

  CHECK_EQ(host_bus_map(base, 0x100, dummy_read, dummy_write, NULL), 0);
  host_bus_unmap(base);
}

/* Run fn in a child process; return its stderr text and whether it died
 * of SIGABRT.
 */

static bool run_child_expect_abort(void (*fn)(void), char *out,
                                   size_t outsize)
{
  int fds[2];
  size_t len = 0;
  ssize_t n;
  pid_t pid;
  int status;

  out[0] = '\0';
  if (pipe(fds) != 0)
    {
      return false;
    }

  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0)
    {
      close(fds[0]);
      close(fds[1]);
      return false;
    }

  if (pid == 0)
    {
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      signal(SIGABRT, SIG_DFL);
      fn();
      _exit(0);  /* fn returned: the test fails on the exit status */
    }

  close(fds[1]);
  while (len + 1 < outsize &&
         (n = read(fds[0], out + len, outsize - 1 - len)) > 0)
    {
      len += (size_t)n;
    }

  out[len] = '\0';
  close(fds[0]);
  if (waitpid(pid, &status, 0) != pid)
    {
      return false;
    }

  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void child_unmapped_read(void)
{
  (void)mbox_os_getreg32(0x0dead000u);
}

static void child_assert_fail(void)
{
  mbox_os_assert_fail("src/upper.rs-not-part-of-the-name", 12, 321);
}

/* An access outside every window aborts, like a bus fault. */

static void test_unmapped_access_aborts(void)
{
  char out[4096];

  CHECK(run_child_expect_abort(child_unmapped_read, out, sizeof(out)));
  CHECK(strstr(out, "unmapped") != NULL);
  CHECK(strstr(out, "0xdead000") != NULL);
}

/* mbox_os_assert_fail() prints file:line (file_len bytes) and aborts. */

static void test_assert_fail(void)
{
  char out[4096];

  CHECK(run_child_expect_abort(child_assert_fail, out, sizeof(out)));
  CHECK(strstr(out, "libmbox assertion: src/upper.rs:321\n") != NULL);
}

/****************************************************************************
 * Tests: critical section, clock, context
 ****************************************************************************/

struct crit_probe_s
{
  pthread_mutex_t lock;
  bool entered;
};

static void crit_enter_in_thread(void *arg)
{
  struct crit_probe_s *p = arg;
  mbox_os_irqstate_t flags;

  flags = mbox_os_enter_critical();
  pthread_mutex_lock(&p->lock);
  p->entered = true;
  pthread_mutex_unlock(&p->lock);
  mbox_os_leave_critical(flags);
}

static bool crit_probe_entered(struct crit_probe_s *p)
{
  bool v;

  pthread_mutex_lock(&p->lock);
  v = p->entered;
  pthread_mutex_unlock(&p->lock);
  return v;
}

/* The critical section nests on one thread and excludes the others until
 * the outermost leave.
 */

static void test_critical_nesting(void)
{
  struct crit_probe_s probe;
  struct runner_s run;
  mbox_os_irqstate_t f1;
  mbox_os_irqstate_t f2;

  memset(&probe, 0, sizeof(probe));
  pthread_mutex_init(&probe.lock, NULL);

  f1 = mbox_os_enter_critical();
  f2 = mbox_os_enter_critical();
  runner_start(&run, crit_enter_in_thread, &probe);
  sleep_ms(50);
  CHECK(!crit_probe_entered(&probe));

  mbox_os_leave_critical(f2);
  sleep_ms(50);
  CHECK(!crit_probe_entered(&probe));

  mbox_os_leave_critical(f1);
  CHECK(runner_wait(&run, WAIT_MS));
  CHECK(crit_probe_entered(&probe));
  runner_join(&run);

  pthread_mutex_destroy(&probe.lock);
}

static void record_in_irq(void *arg)
{
  *(bool *)arg = mbox_os_in_interrupt();
}

static void nested_as_interrupt(void *arg)
{
  bool *v = arg;

  host_run_as_interrupt(record_in_irq, &v[0]);
  v[1] = mbox_os_in_interrupt();
}

/* mbox_os_in_interrupt() is false in tasks and true in (nested) simulated
 * interrupt context.
 */

static void test_in_interrupt(void)
{
  bool v[2] =
  {
    false, false
  };

  bool inside = false;

  CHECK(!mbox_os_in_interrupt());
  host_run_as_interrupt(record_in_irq, &inside);
  CHECK(inside);
  CHECK(!mbox_os_in_interrupt());

  host_run_as_interrupt(nested_as_interrupt, v);
  CHECK(v[0]);
  CHECK(v[1]);
  CHECK(!mbox_os_in_interrupt());
}

/* Ticks advance at HOST_TICK_HZ. */

static void test_ticks_rate(void)
{
  mbox_os_clock_t t0;
  mbox_os_clock_t t1;
  int64_t n0;
  int64_t n1;
  int64_t expect;

  t0 = mbox_os_ticks();
  n0 = now_ns();
  sleep_ms(100);
  t1 = mbox_os_ticks();
  n1 = now_ns();

  expect = (n1 - n0) * HOST_TICK_HZ / 1000000000LL;
  CHECK(t1 >= t0);
  CHECK(t1 - t0 >= expect - 5);
  CHECK(t1 - t0 <= expect + 5);
  CHECK(t1 - t0 >= HOST_MSEC2TICK(100) - 1);
}

/****************************************************************************
 * Tests: timers
 ****************************************************************************/

/* A timer fires once, not before its ticks, in interrupt context. */

static void test_timer_fires_once(void)
{
  struct mbox_os_timer_s t;
  struct tmr_rec_s r;
  struct tmr_view_s s;
  mbox_os_clock_t t0;
  int64_t n0;

  tmr_rec_init(&r);
  CHECK_EQ(mbox_os_timer_init(&t), 0);

  t0 = mbox_os_ticks();
  n0 = now_ns();
  CHECK_EQ(mbox_os_timer_start(&t, HOST_MSEC2TICK(20), test_timer_cb,
                               (uintptr_t)&r), 0);
  CHECK(tmr_wait(&r, 1, WAIT_MS));
  sleep_ms(60);

  s = tmr_snapshot(&r);
  CHECK_EQ(s.count, 1);
  CHECK_EQ(s.last_arg, (uintptr_t)&r);
  CHECK_EQ(s.not_in_irq, 0);
  CHECK(s.fired_ticks - t0 >= HOST_MSEC2TICK(20));
  CHECK(s.fired_ns - n0 >= 20 * 1000000LL);

  CHECK_EQ(mbox_os_timer_start(&t, 5, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_os_timer_start(&t, -5, test_timer_cb, 0), -EINVAL);

  mbox_os_timer_destroy(&t);
  tmr_rec_destroy(&r);
}

/* Cancel prevents the expiry, also from interrupt context with the
 * critical section held (as libmbox cancels).
 */

struct cancel_ctx_s
{
  struct mbox_os_timer_s *t;
};

static void cancel_in_irq(void *arg)
{
  struct cancel_ctx_s *c = arg;
  mbox_os_irqstate_t flags;

  flags = mbox_os_enter_critical();
  mbox_os_timer_cancel(c->t);
  mbox_os_leave_critical(flags);
}

static void test_timer_cancel(void)
{
  struct mbox_os_timer_s t;
  struct cancel_ctx_s ctx;
  struct tmr_rec_s r;

  tmr_rec_init(&r);
  mbox_os_timer_init(&t);
  ctx.t = &t;

  mbox_os_timer_start(&t, HOST_MSEC2TICK(30), test_timer_cb,
                      (uintptr_t)&r);
  mbox_os_timer_cancel(&t);
  mbox_os_timer_cancel(&t);               /* Idempotent */

  mbox_os_timer_start(&t, HOST_MSEC2TICK(30), test_timer_cb,
                      (uintptr_t)&r);
  host_run_as_interrupt(cancel_in_irq, &ctx);

  sleep_ms(120);
  CHECK_EQ(tmr_snapshot(&r).count, 0);

  /* Still usable after cancel. */

  mbox_os_timer_start(&t, 1, test_timer_cb, (uintptr_t)&r);
  CHECK(tmr_wait(&r, 1, WAIT_MS));

  mbox_os_timer_destroy(&t);
  tmr_rec_destroy(&r);
}

/* Re-arming replaces the pending expiry: only the new arming fires, at
 * its own time, once.
 */

static void test_timer_rearm_replaces(void)
{
  struct mbox_os_timer_s t;
  struct tmr_rec_s r;
  struct tmr_view_s s;
  mbox_os_clock_t t0;
  int64_t n0;

  tmr_rec_init(&r);
  mbox_os_timer_init(&t);

  mbox_os_timer_start(&t, HOST_MSEC2TICK(30), test_timer_cb,
                      (uintptr_t)&r);
  t0 = mbox_os_ticks();
  mbox_os_timer_start(&t, HOST_MSEC2TICK(80), test_timer_cb,
                      (uintptr_t)&r | 1);

  CHECK(tmr_wait(&r, 1, WAIT_MS));
  sleep_ms(100);
  s = tmr_snapshot(&r);
  CHECK_EQ(s.count, 1);
  CHECK_EQ(s.last_arg, (uintptr_t)&r | 1);
  CHECK(s.fired_ticks - t0 >= HOST_MSEC2TICK(80));

  /* Re-arming earlier works as well, and the earlier (later-expiring)
   * arming does not fire on top.
   */

  n0 = now_ns();
  mbox_os_timer_start(&t, HOST_MSEC2TICK(400), test_timer_cb,
                      (uintptr_t)&r);
  mbox_os_timer_start(&t, 1, test_timer_cb, (uintptr_t)&r | 1);
  CHECK(tmr_wait(&r, 2, 300));
  CHECK(now_ns() - n0 < 300 * 1000000LL);
  if (now_ns() - n0 < 500 * 1000000LL)
    {
      sleep_ms(500 - (int)((now_ns() - n0) / 1000000));
    }

  s = tmr_snapshot(&r);
  CHECK_EQ(s.count, 2);
  CHECK_EQ(s.last_arg, (uintptr_t)&r | 1);

  mbox_os_timer_destroy(&t);
  tmr_rec_destroy(&r);
}

/* Destroy returns only once a running callback has finished. */

static void test_timer_destroy_waits(void)
{
  struct mbox_os_timer_s t;
  struct timespec ts;
  struct tmr_rec_s r;
  bool started;

  tmr_rec_init(&r);
  r.sleep_ms = 150;
  mbox_os_timer_init(&t);
  mbox_os_timer_start(&t, 1, test_timer_cb, (uintptr_t)&r);

  deadline_in_ms(&ts, WAIT_MS);
  pthread_mutex_lock(&r.lock);
  while (!r.started &&
         pthread_cond_timedwait(&r.cond, &r.lock, &ts) != ETIMEDOUT)
    {
    }

  started = r.started;
  pthread_mutex_unlock(&r.lock);
  CHECK(started);

  mbox_os_timer_destroy(&t);
  CHECK(tmr_snapshot(&r).finished);
  CHECK_EQ(tmr_snapshot(&r).count, 1);

  /* A destroyed armed timer never fires. */

  mbox_os_timer_init(&t);
  r.sleep_ms = 0;
  mbox_os_timer_start(&t, HOST_MSEC2TICK(20), test_timer_cb,
                      (uintptr_t)&r);
  mbox_os_timer_destroy(&t);
  sleep_ms(80);
  CHECK_EQ(tmr_snapshot(&r).count, 1);

  tmr_rec_destroy(&r);
}

/* The timer thread holds no host lock while a callback runs: a callback
 * blocked on the critical section must not stop other threads from
 * starting and cancelling timers.
 */

static void timer_ops_in_thread(void *arg)
{
  struct mbox_os_timer_s *t2 = arg;

  mbox_os_timer_start(t2, HOST_MSEC2TICK(1000), test_timer_cb, 0);
  mbox_os_timer_cancel(t2);
}

static void test_timer_callback_unlocked(void)
{
  struct mbox_os_timer_s t1;
  struct mbox_os_timer_s t2;
  struct runner_s run;
  struct tmr_rec_s r;
  mbox_os_irqstate_t flags;

  tmr_rec_init(&r);
  r.take_critical = true;
  mbox_os_timer_init(&t1);
  mbox_os_timer_init(&t2);

  flags = mbox_os_enter_critical();
  mbox_os_timer_start(&t1, 1, test_timer_cb, (uintptr_t)&r);
  sleep_ms(30);                          /* Callback now waits for us */
  CHECK_EQ(tmr_snapshot(&r).count, 0);

  runner_start(&run, timer_ops_in_thread, &t2);
  CHECK(runner_wait(&run, 1000));
  mbox_os_leave_critical(flags);

  CHECK(tmr_wait(&r, 1, WAIT_MS));
  runner_join(&run);

  mbox_os_timer_destroy(&t1);
  mbox_os_timer_destroy(&t2);
  tmr_rec_destroy(&r);
}

/****************************************************************************
 * Tests: wait object
 ****************************************************************************/

/* A post that comes first makes the wait return 0 at once; the post is
 * consumed (binary semaphore).
 */

static void test_wait_post_before_wait(void)
{
  struct mbox_os_wait_s w;
  int64_t n0;

  CHECK_EQ(mbox_os_wait_init(&w), 0);

  mbox_os_wait_post(&w);
  n0 = now_ns();
  CHECK_EQ(mbox_os_wait_timed(&w, HOST_MSEC2TICK(1000)), 0);
  CHECK(now_ns() - n0 < 500 * 1000000LL);

  /* Two posts are one. */

  mbox_os_wait_post(&w);
  mbox_os_wait_post(&w);
  CHECK_EQ(mbox_os_wait_timed(&w, 0), 0);
  CHECK_EQ(mbox_os_wait_timed(&w, 0), -ETIMEDOUT);

  mbox_os_wait_post(&w);
  CHECK_EQ(mbox_os_wait_timed(&w, (mbox_os_clock_t)-1), 0);

  mbox_os_wait_destroy(&w);
}

/* Without a post the wait times out after at least its ticks. */

static void test_wait_timeout(void)
{
  struct mbox_os_wait_s w;
  mbox_os_clock_t t0;
  mbox_os_clock_t t1;
  int64_t n0;
  int64_t n1;
  int i;

  mbox_os_wait_init(&w);

  for (i = 1; i <= 3; i++)
    {
      mbox_os_clock_t ticks = HOST_MSEC2TICK(15 * i);

      t0 = mbox_os_ticks();
      n0 = now_ns();
      CHECK_EQ(mbox_os_wait_timed(&w, ticks), -ETIMEDOUT);
      t1 = mbox_os_ticks();
      n1 = now_ns();

      CHECK(t1 - t0 >= ticks);
      CHECK(n1 - n0 >= (int64_t)ticks * 1000000000LL / HOST_TICK_HZ);
      CHECK(n1 - n0 < 1000 * 1000000LL);
    }

  mbox_os_wait_destroy(&w);
}

/* A post from another thread in interrupt context wakes a waiter that
 * waits forever.
 */

struct post_ctx_s
{
  struct mbox_os_wait_s *w;
  int delay_ms;
};

static void post_in_irq(void *arg)
{
  struct post_ctx_s *c = arg;
  mbox_os_irqstate_t flags;

  flags = mbox_os_enter_critical();
  mbox_os_wait_post(c->w);
  mbox_os_leave_critical(flags);
}

static void post_later(void *arg)
{
  struct post_ctx_s *c = arg;

  sleep_ms(c->delay_ms);
  host_run_as_interrupt(post_in_irq, c);
}

static void test_wait_post_from_interrupt(void)
{
  struct mbox_os_wait_s w;
  struct post_ctx_s ctx;
  struct runner_s run;
  int64_t n0;

  mbox_os_wait_init(&w);
  ctx.w = &w;
  ctx.delay_ms = 50;

  n0 = now_ns();
  runner_start(&run, post_later, &ctx);
  CHECK_EQ(mbox_os_wait_timed(&w, (mbox_os_clock_t)-1), 0);
  CHECK(now_ns() - n0 >= 50 * 1000000LL);
  runner_join(&run);

  /* And one that waits with a timeout. */

  n0 = now_ns();
  runner_start(&run, post_later, &ctx);
  CHECK_EQ(mbox_os_wait_timed(&w, HOST_MSEC2TICK(WAIT_MS)), 0);
  CHECK(now_ns() - n0 < (WAIT_MS - 500) * 1000000LL);
  runner_join(&run);

  mbox_os_wait_destroy(&w);
}

/****************************************************************************
 * Test table and main
 ****************************************************************************/

#define TEST(fn) { #fn, fn }

static const struct test_s g_tests[] =
{
  TEST(test_source_claim_from_zero),
  TEST(test_source_rejects_non_one_hot),
  TEST(test_source_release_clears),
  TEST(test_dset_dclear_dstatus),
  TEST(test_mset_mclear_mstatus),
  TEST(test_mode_bits),
  TEST(test_writes_ignored_while_free),
  TEST(test_send_values),
  TEST(test_data_registers),
  TEST(test_mis_vs_ris),
  TEST(test_cfgstat),
  TEST(test_id_registers),
  TEST(test_unmapped_offsets),
  TEST(test_model_create_rejects),
  TEST(test_irq_message_and_ack),
  TEST(test_irq_mask_gates_line),
  TEST(test_irq_shared_line),
  TEST(test_auto_ack_registers),
  TEST(test_auto_ack_irq),
  TEST(test_fault_drop_ack),
  TEST(test_fault_delay_ack),
  TEST(test_fault_dup_ack),
  TEST(test_late_ack_without_dr0_write_keeps_the_data_registers),
  TEST(test_model_spurious),
  TEST(test_irq_pulse),
  TEST(test_irq_storm_stats),
  TEST(test_irq_disable_enable),
  TEST(test_irq_attach_einval),
  TEST(test_irq_isr_runs_unlocked),
  TEST(test_bus_map_rules),
  TEST(test_unmapped_access_aborts),
  TEST(test_assert_fail),
  TEST(test_critical_nesting),
  TEST(test_in_interrupt),
  TEST(test_ticks_rate),
  TEST(test_timer_fires_once),
  TEST(test_timer_cancel),
  TEST(test_timer_rearm_replaces),
  TEST(test_timer_destroy_waits),
  TEST(test_timer_callback_unlocked),
  TEST(test_wait_post_before_wait),
  TEST(test_wait_timeout),
  TEST(test_wait_post_from_interrupt),
};

int main(void)
{
  size_t ntests = sizeof(g_tests) / sizeof(g_tests[0]);
  int passed = 0;
  int failed = 0;
  size_t i;

  /* A hang is a failure too: SIGALRM ends the run with a non-zero
   * status instead of blocking CI. Generous for valgrind.
   */

  alarm(300);
  setvbuf(stdout, NULL, _IOLBF, 0);

  printf("1..%zu\n", ntests);
  for (i = 0; i < ntests; i++)
    {
      g_check_failures = 0;
      g_tests[i].fn();
      if (g_check_failures == 0)
        {
          passed++;
          printf("ok %zu - %s\n", i + 1, g_tests[i].name);
        }
      else
        {
          failed++;
          printf("not ok %zu - %s\n", i + 1, g_tests[i].name);
        }
    }

  host_shutdown();
  host_shutdown();  /* Idempotent */

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
