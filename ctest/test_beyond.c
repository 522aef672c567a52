/****************************************************************************
 * ctest/test_beyond.c
 *
 * The features of docs/beyond.md through the C API, on the host port, with
 * the scriptable fake lower half (FIFO mode for txdepth > 1):
 *   1. TX-done callbacks (mbox_register_txdone)
 *   2. several messages in flight (mbox_dev_s::txdepth)
 *   3. several clients on one channel
 *   4. capabilities and TX-done method (IRQ/POLL/ACK)
 *   5. polling send (mbox_send_poll)
 * Each test checks observable results (return codes, what reached the
 * fake hardware, callback logs, statistics), so a regression fails it.
 ****************************************************************************/

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>

#include "fake_lower.h"
#include "harness.h"
#include "host.h"

#define TX  0
#define TX2 1
#define RX  2
#define UNINIT 3                      /* never initialised by setup_dev */

/* Without CONFIG_MBOX_TRACE there are no statistics (as in test_upper.c):
 * the checks that read them compile to nothing.
 */

#ifdef CONFIG_MBOX_TRACE
#  define CHECK_STAT(a, b) CHECK_EQ(a, b)
#else
#  define CHECK_STAT(a, b) ((void)(a), (void)(b))
struct mbox_stats_s
{
  size_t timeout, sent, received, acked, buffered, queue_full,
         spurious_ack, send_err, rx_dropped, max_queued, cancelled;
};

static int mbox_chan_get_stats_checked(struct mbox_chan_s *chan,
                               struct mbox_stats_s *st)
{
  if (chan == NULL || st == NULL || chan->dev == NULL)
    {
      return -EINVAL;
    }

  memset(st, 0, sizeof(*st));
  return 0;
}
#endif

static struct fake_dev_s g_dev;
static uint8_t g_ring[256] __attribute__((aligned(8)));
static uint8_t g_ring2[256] __attribute__((aligned(8)));
static uint8_t g_rxbuf[256] __attribute__((aligned(8)));
static uint8_t g_fifobuf[MBOX_TXBUF_SIZE(MBOX_MAX_TXDEPTH, 256)]
  __attribute__((aligned(8)));

static struct mbox_chan_s *ch(int i)
{
  return &g_dev.chans[i].base;
}

static struct fake_chan_s *fc(int i)
{
  return &g_dev.chans[i];
}

/* A fresh device (classic fake, depth 1): channels 0 and 1 TX with a ring,
 * channel 2 RX, channel 3 left uninitialised.
 */

static void setup_dev(size_t mtu, clock_t timeout)
{
  fake_dev_init(&g_dev, mtu);
  g_dev.chans[TX].base.timeout = timeout;
  g_dev.chans[TX2].base.timeout = timeout;
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_ring,
                          sizeof(g_ring)), 0);
  CHECK_EQ(mbox_chan_init(ch(TX2), &g_dev.base, MBOX_TX, g_ring2,
                          sizeof(g_ring2)), 0);
  CHECK_EQ(mbox_chan_init(ch(RX), &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), 0);
}

/* A controller with a hardware TX FIFO of `depth`: channel 0 TX with room
 * for its slots plus a 256-byte queue, channel 2 RX.
 */

static void setup_fifo(size_t depth, clock_t timeout)
{
  fake_dev_init_fifo(&g_dev, 24, depth);
  g_dev.chans[TX].base.timeout = timeout;
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_fifobuf,
                          MBOX_TXBUF_SIZE(depth, 256)), 0);
  CHECK_EQ(mbox_chan_init(ch(RX), &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), 0);
}

static void teardown_dev(void)
{
  int i;
  for (i = 0; i < FAKE_NCHANS; i++)
    {
      mbox_chan_deinit(ch(i));
    }

  fake_dev_stop(&g_dev);
}

static struct mbox_stats_s stats_of(int i)
{
  struct mbox_stats_s st;
  memset(&st, 0xa5, sizeof(st));
  CHECK_EQ(mbox_chan_get_stats_checked(ch(i), &st), 0);
  return st;
}

static bool wait_nsent(int chan, int n)
{
  int64_t end = now_ms() + 3000;
  while (fake_nsent(fc(chan)) < n)
    {
      if (now_ms() > end)
        {
          return false;
        }

      usleep(500);
    }

  return true;
}

static bool wait_buffered(int chan, size_t n)
{
#ifndef CONFIG_MBOX_TRACE
  (void)chan;
  (void)n;
  usleep(100000);
  return true;
#else
  int64_t end = now_ms() + 3000;
  while (stats_of(chan).buffered < n)
    {
      if (now_ms() > end)
        {
          return false;
        }

      usleep(500);
    }

  return true;
#endif
}

/****************************************************************************
 * Blocking sender threads
 ****************************************************************************/

struct sender_s
{
  pthread_t thread;
  struct mbox_sender_s sender;
  uint8_t msg[8];
  size_t size;
  clock_t timeout;
  volatile int result;
  int64_t took_ms;
};

static void *sender_main(void *arg)
{
  struct sender_s *s = arg;
  int64_t t0 = now_ms();
  s->result = mbox_ticksend(&s->sender, s->msg, s->size, s->timeout);
  s->took_ms = now_ms() - t0;
  return NULL;
}

static void start_sender(struct sender_s *s, int chan, uint8_t tag,
                         clock_t timeout)
{
  memset(s, 0, sizeof(*s));
  s->sender.chan = ch(chan);
  s->size = 4;
  memset(s->msg, tag, s->size);
  s->timeout = timeout;
  s->result = 12345;
  pthread_create(&s->thread, NULL, sender_main, s);
}

/****************************************************************************
 * TX-done callback log
 ****************************************************************************/

struct txrec_s
{
  struct mbox_sender_s *sender;
  void *arg;
  int result;
  int which;                          /* 1: txdone_cb, 2: txdone_cb2 */
};

static pthread_mutex_t g_txlock = PTHREAD_MUTEX_INITIALIZER;
static struct txrec_s g_txlog[64];
static int g_ntx;

static void txlog_reset(void)
{
  pthread_mutex_lock(&g_txlock);
  memset(g_txlog, 0, sizeof(g_txlog));
  g_ntx = 0;
  pthread_mutex_unlock(&g_txlock);
}

static void txlog_add(struct mbox_sender_s *s, void *arg, int result,
                      int which)
{
  pthread_mutex_lock(&g_txlock);
  if (g_ntx < (int)(sizeof(g_txlog) / sizeof(g_txlog[0])))
    {
      g_txlog[g_ntx].sender = s;
      g_txlog[g_ntx].arg = arg;
      g_txlog[g_ntx].result = result;
      g_txlog[g_ntx].which = which;
    }

  g_ntx++;
  pthread_mutex_unlock(&g_txlock);
}

static int ntx(void)
{
  int n;
  pthread_mutex_lock(&g_txlock);
  n = g_ntx;
  pthread_mutex_unlock(&g_txlock);
  return n;
}

static struct txrec_s txrec(int i)
{
  struct txrec_s r;
  pthread_mutex_lock(&g_txlock);
  r = g_txlog[i];
  pthread_mutex_unlock(&g_txlock);
  return r;
}

static bool wait_ntx(int n)
{
  int64_t end = now_ms() + 3000;
  while (ntx() < n)
    {
      if (now_ms() > end)
        {
          return false;
        }

      usleep(500);
    }

  return true;
}

static void txdone_cb(struct mbox_sender_s *s, void *arg, int result)
{
  txlog_add(s, arg, result, 1);
}

static void txdone_cb2(struct mbox_sender_s *s, void *arg, int result)
{
  txlog_add(s, arg, result, 2);
}

/****************************************************************************
 * 1. TX-done callback
 ****************************************************************************/

static void test_txdone_result_zero_after_ack(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  int tag;

  setup_dev(24, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, &tag), 0);
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);          /* in flight */
  CHECK_EQ(mbox_ticksend(&s, "b", 1, 0), 0);          /* queued */
  usleep(10000);
  CHECK_EQ(ntx(), 0);                                 /* not before ACK */

  CHECK_EQ(fake_ack(fc(TX)), 0);                      /* a done, b out */
  CHECK_EQ(ntx(), 1);
  CHECK(txrec(0).sender == &s);
  CHECK(txrec(0).arg == &tag);
  CHECK_EQ(txrec(0).result, 0);
  CHECK_EQ(fake_nsent(fc(TX)), 2);

  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(txrec(1).result, 0);

  /* Exactly once: nothing more arrives later. */

  usleep(20000);
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -ENOENT);
  CHECK_EQ(ntx(), 2);
  CHECK_STAT(stats_of(TX).acked, 2);
  teardown_dev();
}

static void test_txdone_timeout_from_watchdog(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 20);                                  /* 20 ms */
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  int64_t t0 = now_ms();
  CHECK_EQ(mbox_ticksend(&s, "t1", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "t2", 2, 0), 0);
  CHECK(wait_ntx(1));
  CHECK(now_ms() - t0 >= 19);                         /* not early */
  CHECK_EQ(txrec(0).result, -ETIMEDOUT);
  CHECK(wait_ntx(2));
  CHECK_EQ(txrec(1).result, -ETIMEDOUT);
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  CHECK_EQ(fake_read(fc(TX), &fc(TX)->ntxfinish), 2); /* both aborted */

  /* A late ACK completes nothing and calls nothing. */

  CHECK_EQ(fake_ack(fc(TX)), -ENOENT);
  usleep(10000);
  CHECK_EQ(ntx(), 2);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 2);
  CHECK_STAT(st.acked, 0);
  teardown_dev();
}

static void test_txdone_queued_send_error(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "A", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "B", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "C", 1, 0), 0);
  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(fake_ack(fc(TX)), 0);      /* A acked, B's send fails, C out */
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(txrec(0).result, 0);
  CHECK_EQ(txrec(1).result, -EIO);
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  CHECK_EQ(fake_sent(fc(TX), 1).data[0], 'C');
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 3);
  CHECK_EQ(txrec(2).result, 0);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.send_err, 1);
  CHECK_STAT(st.acked, 2);
  teardown_dev();
}

static void test_txdone_cancelled_at_deinit_in_order(void)
{
  struct mbox_sender_s s1 = { NULL, NULL };
  struct mbox_sender_s s2 = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  s1.chan = ch(TX);
  s2.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s1, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_register_txdone(&s2, txdone_cb2, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s1, "1", 1, 0), 0);        /* in flight */
  CHECK_EQ(mbox_ticksend(&s2, "2", 1, 0), 0);        /* queued */
  CHECK_EQ(mbox_ticksend(&s1, "3", 1, 0), 0);        /* queued */
  CHECK_EQ(ntx(), 0);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);

  /* All three callbacks ran before deinit returned, in submission order. */

  CHECK_EQ(ntx(), 3);
  CHECK(txrec(0).sender == &s1);
  CHECK(txrec(1).sender == &s2);
  CHECK(txrec(2).sender == &s1);
  CHECK_EQ(txrec(1).which, 2);
  CHECK_EQ(txrec(0).result, -ECANCELED);
  CHECK_EQ(txrec(1).result, -ECANCELED);
  CHECK_EQ(txrec(2).result, -ECANCELED);
  CHECK_EQ(fake_nsent(fc(TX)), 1);                   /* 2, 3 never sent */
  CHECK_EQ(fc(TX)->ntxfinish, 1);
  CHECK_STAT(stats_of(TX).cancelled, 3);
  usleep(10000);
  CHECK_EQ(ntx(), 3);
  teardown_dev();
}

/* Deinit while another context is handing out callbacks (a slow callback
 * of an ACK in a second thread): deinit waits for it, and every message
 * still in flight or queued has had its -ECANCELED callback when deinit
 * returns.
 */

static volatile int g_slow_entered;
static volatile int g_slow_left;

static void slow_cb(struct mbox_sender_s *s, void *arg, int result)
{
  if (result == 0)
    {
      g_slow_entered = 1;
      usleep(60000);
      g_slow_left = 1;
    }

  txlog_add(s, arg, result, 1);
}

static void *ack_thread(void *arg)
{
  *(int *)arg = fake_ack(fc(TX));
  return NULL;
}

static void test_txdone_deinit_waits_for_running_callbacks(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  pthread_t t;
  int ackr = 99;

  setup_dev(24, 1000);
  txlog_reset();
  g_slow_entered = 0;
  g_slow_left = 0;
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, slow_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "A", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "B", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "C", 1, 0), 0);
  pthread_create(&t, NULL, ack_thread, &ackr);
  int64_t end = now_ms() + 3000;
  while (!g_slow_entered && now_ms() < end)
    {
      usleep(500);
    }

  CHECK(g_slow_entered);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);
  CHECK(g_slow_left);                 /* deinit waited for the callback */
  CHECK_EQ(ntx(), 3);
  CHECK_EQ(txrec(0).result, 0);
  CHECK_EQ(txrec(1).result, -ECANCELED);
  CHECK_EQ(txrec(2).result, -ECANCELED);
  pthread_join(t, NULL);
  CHECK_EQ(ackr, 0);
  CHECK_EQ(ntx(), 3);
  teardown_dev();
}

/* A deinit started on another thread at the moment an ACK path leaves its
 * critical section with a TX-done callback still to hand out must wait for
 * that hand-out: once it returns, nothing of the channel may run any more
 * (the caller may free or re-initialise it).
 */

static pthread_t g_gap_thread;
static volatile int g_gap_deinit_returned;
static int g_gap_deinit_result;
static int g_gap_returned_in_gap;

static void *gap_deinit_thread(void *arg)
{
  (void)arg;
  g_gap_deinit_result = mbox_chan_deinit(ch(TX));
  g_gap_deinit_returned = 1;
  return NULL;
}

static void gap_start_deinit(void *arg)
{
  int64_t end = now_ms() + 200;

  (void)arg;
  pthread_create(&g_gap_thread, NULL, gap_deinit_thread, NULL);
  while (!g_gap_deinit_returned && now_ms() < end)
    {
      usleep(500);
    }

  g_gap_returned_in_gap = g_gap_deinit_returned;
}

static void test_deinit_waits_for_a_hand_out_an_ack_path_began(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  g_gap_deinit_returned = 0;
  g_gap_returned_in_gap = 0;
  g_gap_deinit_result = 99;
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);          /* in flight */
  host_on_next_critical_exit(gap_start_deinit, NULL);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  host_on_next_critical_exit(NULL, NULL);
  CHECK_EQ(g_gap_returned_in_gap, 0);     /* deinit waited for the ACK path */
  pthread_join(g_gap_thread, NULL);
  CHECK_EQ(g_gap_deinit_result, 0);
  CHECK_EQ(ntx(), 1);
  CHECK_EQ(txrec(0).result, 0);
  teardown_dev();
}

static void test_txdone_submission_order_two_senders(void)
{
  struct mbox_sender_s s1 = { NULL, NULL };
  struct mbox_sender_s s2 = { NULL, NULL };
  int a1, a2;
  int i;

  setup_dev(24, 1000);
  txlog_reset();
  s1.chan = ch(TX);
  s2.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s1, txdone_cb, &a1), 0);
  CHECK_EQ(mbox_register_txdone(&s2, txdone_cb2, &a2), 0);
  for (i = 0; i < 6; i++)
    {
      CHECK_EQ(mbox_ticksend(i % 2 ? &s2 : &s1, "m", 1, 0), 0);
    }

  /* #0 acked; #1's send fails; #2 goes; acked; the rest acked. */

  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  for (i = 0; i < 5; i++)
    {
      CHECK_EQ(fake_ack(fc(TX)), 0);
    }

  CHECK_EQ(ntx(), 6);
  for (i = 0; i < 6; i++)
    {
      struct txrec_s r = txrec(i);
      CHECK(r.sender == (i % 2 ? &s2 : &s1));
      CHECK(r.arg == (i % 2 ? (void *)&a2 : (void *)&a1));
      CHECK_EQ(r.which, i % 2 ? 2 : 1);
      CHECK_EQ(r.result, i == 1 ? -EIO : 0);
    }

  teardown_dev();
}

/* Lock-freedom probe: another thread must be able to take the framework's
 * critical section while the callback runs (the host critical section is
 * a recursive mutex, so only another thread can tell), and a non-blocking
 * mbox_* call from inside the callback must work.
 */

struct txprobe_s
{
  struct mbox_sender_s *s;
  int calls;
  bool lock_free[4];
  int nested_send;
  int nested_depth;
  int result[4];
};

static struct txprobe_s g_txprobe;

static void *take_lock_thread(void *arg)
{
  struct mbox_stats_s st;
  (void)arg;
  mbox_chan_get_stats_checked(ch(TX), &st);             /* takes the lock */
  return NULL;
}

static bool lock_is_free(void)
{
  pthread_t t;
  struct timespec ts;
  bool ok;

  pthread_create(&t, NULL, take_lock_thread, NULL);
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 1;
  ok = pthread_timedjoin_np(t, NULL, &ts) == 0;
  if (!ok)
    {
      /* The lock is held by our caller: joining would hang the test. The
       * thread finishes once the lock is released.
       */

      pthread_detach(t);
    }

  return ok;
}

static void txprobe_cb(struct mbox_sender_s *s, void *arg, int result)
{
  int i = g_txprobe.calls;
  (void)arg;
  if (i < 4)
    {
      g_txprobe.lock_free[i] = lock_is_free();
      g_txprobe.result[i] = result;
    }

  if (i == 0)
    {
      g_txprobe.nested_depth = mbox_chan_txdepth(s->chan);
      g_txprobe.nested_send = mbox_ticksend(s, "nested", 6, 0);
    }

  g_txprobe.calls = i + 1;
  txlog_add(s, arg, result, 1);
}

static void test_txdone_called_without_critical_section(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 40);
  txlog_reset();
  memset(&g_txprobe, 0, sizeof(g_txprobe));
  g_txprobe.nested_send = 99;
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txprobe_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "A", 1, 0), 0);

  /* Task context (the ACK path). */

  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(g_txprobe.calls, 1);
  CHECK(g_txprobe.lock_free[0]);
  CHECK_EQ(g_txprobe.result[0], 0);
  CHECK_EQ(g_txprobe.nested_depth, 1);
  CHECK_EQ(g_txprobe.nested_send, 0);         /* accepted, no deadlock */
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  CHECK_EQ(fake_sent(fc(TX), 1).size, 6);

  /* The nested message times out: its callback comes from the watchdog,
   * also without the critical section.
   */

  CHECK(wait_ntx(2));
  CHECK_EQ(g_txprobe.calls, 2);
  CHECK(g_txprobe.lock_free[1]);
  CHECK_EQ(g_txprobe.result[1], -ETIMEDOUT);
  teardown_dev();
}

static void test_txdone_refused_sends_get_no_callback(void)
{
  static uint8_t small[32];
  struct mbox_sender_s s = { NULL, NULL };
  uint8_t big[32];

  setup_dev(24, 1000);
  txlog_reset();
  memset(big, 7, sizeof(big));
  CHECK_EQ(mbox_chan_init(ch(UNINIT), &g_dev.base, MBOX_TX, small,
                          sizeof(small)), 0);
  s.chan = ch(UNINIT);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);

  /* Immediate send error on an idle channel: returned, no callback. */

  fc(UNINIT)->send_fail_count = 1;
  fc(UNINIT)->send_fail_errno = -EIO;
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), -EIO);

  /* Refused at the call. */

  CHECK_EQ(mbox_ticksend(&s, big, 25, 0), -EMSGSIZE);
  CHECK_EQ(mbox_ticksend(&s, NULL, 4, 0), -EINVAL);

  /* 32-byte ring, 14 + 4 bytes per record with a client: one queued. */

  CHECK_EQ(mbox_ticksend(&s, "AAAA", 4, 0), 0);      /* in flight */
  CHECK_EQ(mbox_ticksend(&s, "BBBB", 4, 0), 0);      /* queued */
  CHECK_EQ(mbox_ticksend(&s, "CCCC", 4, 0), -ENOBUFS);
  CHECK_EQ(mbox_ticksend(&s, big, 25, 0), -EMSGSIZE);
  CHECK_EQ(fake_ack(fc(UNINIT)), 0);
  CHECK_EQ(fake_ack(fc(UNINIT)), 0);
  usleep(20000);
  CHECK_EQ(ntx(), 2);                       /* only the two accepted */
  CHECK_EQ(txrec(0).result, 0);
  CHECK_EQ(txrec(1).result, 0);
  CHECK_EQ(fake_nsent(fc(UNINIT)), 2);
  CHECK_STAT(stats_of(UNINIT).queue_full, 1);
  CHECK_EQ(mbox_chan_deinit(ch(UNINIT)), 0);
  CHECK_EQ(ntx(), 2);
  teardown_dev();
}

static void test_txdone_blocking_sends_get_no_callback(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  fc(TX)->auto_ack_ms = 2;
  CHECK_EQ(mbox_send(&s, "b1", 2), 0);
  CHECK_EQ(mbox_ticksend(&s, "b2", 2, 1000), 0);
  fc(TX)->auto_ack_ms = -1;
  CHECK_EQ(mbox_ticksend(&s, "b3", 2, 20), -ETIMEDOUT);
  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(mbox_ticksend(&s, "b4", 2, 1000), -EIO);
  fc(TX)->ack_on_send = true;
  CHECK_EQ(mbox_send_poll(&s, "p", 1, 1000), 0);
  usleep(20000);
  CHECK_EQ(ntx(), 0);

  /* Still registered: a non-blocking send gets its call. */

  fc(TX)->ack_on_send = false;
  CHECK_EQ(mbox_ticksend(&s, "nb", 2, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 1);
  teardown_dev();
}

static void test_txdone_removed_callback_stops_calls(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "A", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "B", 1, 0), 0);
  CHECK_EQ(mbox_register_txdone(&s, NULL, NULL), 0);  /* removed */
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 0);                       /* even for accepted ones */
  CHECK_EQ(mbox_register_txdone(&s, NULL, NULL), -ENOENT);

  /* Registered again: new messages get their calls. */

  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "C", 1, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 1);
  CHECK_STAT(stats_of(TX).acked, 3);
  teardown_dev();
}

static void test_txdone_registration_errors(void)
{
  struct mbox_sender_s s[MBOX_MAX_CLIENTS + 1];
  struct mbox_sender_s nullchan = { NULL, NULL };
  struct mbox_sender_s onrx = { NULL, NULL };
  struct mbox_sender_s onuninit = { NULL, NULL };
  int i;

  setup_dev(24, 1000);
  txlog_reset();
  memset(s, 0, sizeof(s));
  onrx.chan = ch(RX);
  onuninit.chan = ch(UNINIT);
  CHECK_EQ(mbox_register_txdone(NULL, txdone_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_register_txdone(&nullchan, txdone_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_register_txdone(&onrx, txdone_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_register_txdone(&onuninit, txdone_cb, NULL), -EINVAL);

  for (i = 0; i <= MBOX_MAX_CLIENTS; i++)
    {
      s[i].chan = ch(TX);
    }

  CHECK_EQ(mbox_register_txdone(&s[0], NULL, NULL), -ENOENT);
  for (i = 0; i < MBOX_MAX_CLIENTS; i++)
    {
      CHECK_EQ(mbox_register_txdone(&s[i], txdone_cb, NULL), 0);
    }

  CHECK_EQ(mbox_register_txdone(&s[MBOX_MAX_CLIENTS], txdone_cb, NULL),
           -ENOSPC);

  /* Re-registering replaces (no second entry, so no -ENOSPC). */

  CHECK_EQ(mbox_register_txdone(&s[0], txdone_cb2, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s[0], "r", 1, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 1);
  CHECK_EQ(txrec(0).which, 2);

  /* A removal frees an entry for the fifth sender. */

  CHECK_EQ(mbox_register_txdone(&s[1], NULL, NULL), 0);
  CHECK_EQ(mbox_register_txdone(&s[MBOX_MAX_CLIENTS], txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s[MBOX_MAX_CLIENTS], "5", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s[1], "1", 1, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 2);
  CHECK(txrec(1).sender == &s[MBOX_MAX_CLIENTS]);
  teardown_dev();
}

static void test_txdone_uninitialised_sender_still_works(void)
{
  struct mbox_sender_s reg = { NULL, NULL };
  struct mbox_sender_s junk;

  setup_dev(24, 1000);
  txlog_reset();
  reg.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&reg, txdone_cb, NULL), 0);
  memset(&junk, 0xa5, sizeof(junk));     /* only .chan is set */
  junk.chan = ch(TX);
  CHECK_EQ(mbox_ticksend(&junk, "j1", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&junk, "j2", 2, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  fc(TX)->auto_ack_ms = 2;
  CHECK_EQ(mbox_send(&junk, "j3", 2), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 3);
  CHECK_EQ(ntx(), 0);                    /* not registered: no callback */
  teardown_dev();
}

/****************************************************************************
 * 2. Several messages in flight
 ****************************************************************************/

static void test_several_messages_in_flight_ack_in_fifo_order(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  uint8_t m;
  int i;

  setup_fifo(4, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), 4);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  for (m = 0; m < 5; m++)
    {
      CHECK_EQ(mbox_ticksend(&s, &m, 1, 0), 0);
    }

  /* Four went out before any ACK; the fifth waits. */

  CHECK_EQ(fake_nsent(fc(TX)), 4);
  CHECK_EQ(fake_fifo_count(fc(TX)), 4);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.sent, 4);
  CHECK_STAT(st.buffered, 1);
  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(fake_sent(fc(TX), i).data[0], i);
    }

  for (i = 1; i < 4; i++)
    {
      CHECK(fake_sent(fc(TX), i).token != fake_sent(fc(TX), i - 1).token);
    }

  /* An ACK carrying the 2nd message's token while the 1st is in flight:
   * out of FIFO order, refused, completes nothing.
   */

  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), fake_sent(fc(TX), 1).token),
           -ESRCH);
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), fake_sent(fc(TX), 3).token),
           -ESRCH);
  CHECK_EQ(ntx(), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 4);
  st = stats_of(TX);
  CHECK_STAT(st.acked, 0);
  CHECK_STAT(st.spurious_ack, 2);

  /* FIFO ACKs (each with the token of the oldest): the first frees a slot
   * and starts the queued fifth.
   */

  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 1);
  CHECK_EQ(fake_nsent(fc(TX)), 5);
  CHECK_EQ(fake_sent(fc(TX), 4).data[0], 4);
  CHECK_EQ(fake_fifo_count(fc(TX)), 4);
  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
      CHECK_EQ(ntx(), i + 2);
    }

  for (i = 0; i < 5; i++)
    {
      CHECK_EQ(txrec(i).result, 0);
    }

  CHECK_EQ(fake_fifo_ack(fc(TX)), -ENODATA);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -ENOENT);
  CHECK_EQ(fc(TX)->max_hw_inflight, 4);
  CHECK_EQ(fc(TX)->overflow, 0);
  st = stats_of(TX);
  CHECK_STAT(st.acked, 5);
  CHECK_STAT(st.sent, 5);

  /* mbox_chan_tx_done (no token) completes the oldest when txacked says
   * so.
   */

  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "y", 1, 0), 0);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -EAGAIN);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 6);
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), fake_sent(fc(TX), 5).token),
           -ESRCH);                                   /* x is done */
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), fake_sent(fc(TX), 6).token),
           0);
  CHECK_EQ(ntx(), 7);
  teardown_dev();
}

/* Callbacks in submission order with several in flight: a queued message
 * whose send fails must wait for the older message still in flight.
 */

static void test_fifo_txdone_order_with_send_error(void)
{
  struct mbox_sender_s s1 = { NULL, NULL };
  struct mbox_sender_s s2 = { NULL, NULL };

  setup_fifo(2, 1000);
  txlog_reset();
  s1.chan = ch(TX);
  s2.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s1, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_register_txdone(&s2, txdone_cb2, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s1, "1", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s1, "2", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s2, "3", 1, 0), 0);        /* queued */
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);        /* 1 done; 3's send fails */
  CHECK_EQ(ntx(), 1);                        /* 3 waits behind 2 */
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 3);
  CHECK(txrec(0).sender == &s1);
  CHECK_EQ(txrec(0).result, 0);
  CHECK(txrec(1).sender == &s1);
  CHECK_EQ(txrec(1).result, 0);
  CHECK(txrec(2).sender == &s2);
  CHECK_EQ(txrec(2).result, -EIO);
  teardown_dev();
}

static void test_fifo_blocking_threads_own_results_wire_order(void)
{
  struct sender_s t[6];
  struct mbox_sender_s s = { NULL, NULL };
  int i;

  setup_fifo(4, 1000);
  s.chan = ch(TX);
  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "busy", 4, 0), 0);
    }

  CHECK_EQ(fake_nsent(fc(TX)), 4);
  for (i = 0; i < 6; i++)
    {
      start_sender(&t[i], TX, 0xa0 + i, 3000);
      CHECK(wait_buffered(TX, i + 1));
    }

  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
    }

  CHECK(wait_nsent(TX, 8));
  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(fake_sent(fc(TX), 4 + i).data[0], 0xa0 + i);
    }

  usleep(20000);
  for (i = 0; i < 6; i++)
    {
      CHECK_EQ(t[i].result, 12345);           /* nobody woke early */
    }

  /* a0 acked; a4's send fails; a5 goes out. */

  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  pthread_join(t[0].thread, NULL);
  pthread_join(t[4].thread, NULL);
  CHECK_EQ(t[0].result, 0);
  CHECK_EQ(t[4].result, -EIO);
  CHECK_EQ(fake_nsent(fc(TX)), 9);
  CHECK_EQ(fake_sent(fc(TX), 8).data[0], 0xa5);
  usleep(10000);
  CHECK_EQ(t[1].result, 12345);
  CHECK_EQ(t[5].result, 12345);

  /* ACK the rest in FIFO order: each thread gets its own 0. */

  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
    }

  for (i = 1; i < 6; i++)
    {
      if (i != 4)
        {
          pthread_join(t[i].thread, NULL);
          CHECK_EQ(t[i].result, 0);
        }
    }

  CHECK_EQ(fc(TX)->max_hw_inflight, 4);
  CHECK_EQ(fc(TX)->overflow, 0);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.acked, 9);
  CHECK_STAT(st.send_err, 1);
  teardown_dev();
}

static void test_fifo_init_validation(void)
{
  static uint8_t buf[MBOX_TXBUF_SIZE(MBOX_MAX_TXDEPTH, 64) + 8]
    __attribute__((aligned(8)));
  struct mbox_sender_s s = { NULL, NULL };
  int i;

  fake_dev_init_fifo(&g_dev, 24, 4);
  s.chan = ch(TX);

  /* Too small for four slots (aligned buffer), misaligned buffer one byte
   * short of MBOX_TXBUF_SIZE, no buffer at all.
   */

  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, buf,
                          4 * MBOX_TXSLOT_SIZE - 1), -EINVAL);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, buf + 1,
                          MBOX_TXBUF_SIZE(4, 0) - 1), -EINVAL);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, NULL, 0), -EINVAL);
  CHECK_EQ(fc(TX)->nsetup, 0);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), -EINVAL);      /* left uninit */
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), -EINVAL);

  /* MBOX_TXBUF_SIZE(4, 0) is enough even misaligned: 4 in flight, no
   * queue.
   */

  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, buf + 1,
                          MBOX_TXBUF_SIZE(4, 0)), 0);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), 4);
  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "abcd", 4, 0), 0);
    }

  CHECK_EQ(mbox_ticksend(&s, "abcd", 4, 0), -ENOBUFS);
  CHECK_EQ(fake_nsent(fc(TX)), 4);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);

  /* With a queue: MBOX_TXBUF_SIZE(4, 64) holds 4 in flight plus at least
   * 64 bytes of records (10 bytes each for 4-byte messages: 6 queued; 7
   * when the alignment slack was not needed).
   */

  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, buf,
                          MBOX_TXBUF_SIZE(4, 64)), 0);
  int accepted = 0;
  for (i = 0; i < 20; i++)
    {
      int r = mbox_ticksend(&s, "abcd", 4, 0);
      CHECK(r == 0 || r == -ENOBUFS);
      accepted += r == 0;
    }

  CHECK(accepted == 4 + 6 || accepted == 4 + 7);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);

  /* An RX channel of a FIFO controller is unaffected by txdepth. */

  CHECK_EQ(mbox_chan_init(ch(RX), &g_dev.base, MBOX_RX, g_rxbuf, 24), 0);
  CHECK_EQ(mbox_chan_txdepth(ch(RX)), -EINVAL);
  CHECK_EQ(mbox_chan_mtu(ch(RX)), 24);
  teardown_dev();

  /* txdepth above MBOX_MAX_TXDEPTH, and exactly MBOX_MAX_TXDEPTH. */

  fake_dev_init_fifo(&g_dev, 24, MBOX_MAX_TXDEPTH + 1);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_fifobuf,
                          sizeof(g_fifobuf)), -EINVAL);
  CHECK_EQ(fc(TX)->nsetup, 0);
  teardown_dev();
  fake_dev_init_fifo(&g_dev, 24, MBOX_MAX_TXDEPTH);
  s.chan = ch(TX);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_fifobuf,
                          MBOX_TXBUF_SIZE(MBOX_MAX_TXDEPTH, 0)), 0);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), MBOX_MAX_TXDEPTH);
  for (i = 0; i < MBOX_MAX_TXDEPTH; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "abcd", 4, 0), 0);
    }

  CHECK_EQ(fake_nsent(fc(TX)), MBOX_MAX_TXDEPTH);
  for (i = 0; i < MBOX_MAX_TXDEPTH; i++)
    {
      CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
    }

  CHECK_EQ(fc(TX)->overflow, 0);
  teardown_dev();
}

/* Each message in flight keeps its own deadline: the older one times out,
 * the younger is still in flight and can be ACKed (after the late ACK of
 * the timed-out one is refused).
 */

static void test_fifo_per_message_deadline(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_fifo(4, 150);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  int64_t t0 = now_ms();
  CHECK_EQ(mbox_ticksend(&s, "A", 1, 0), 0);
  usleep(100000);
  CHECK_EQ(mbox_ticksend(&s, "B", 1, 0), 0);
  CHECK(wait_ntx(1));
  CHECK(now_ms() - t0 >= 149);
  CHECK_EQ(txrec(0).result, -ETIMEDOUT);
  CHECK_EQ(ntx(), 1);                                 /* B still out */
  CHECK_EQ(fc(TX)->last_finish_token, fake_sent(fc(TX), 0).token); /* A's */
  CHECK_EQ(ch(TX)->txtoken, fake_sent(fc(TX), 1).token); /* restored: B */
  CHECK_EQ(fake_fifo_ack(fc(TX)), -ESRCH);            /* A's late ACK */
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);                 /* B's ACK */
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(txrec(1).result, 0);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 1);
  CHECK_STAT(st.acked, 1);
  teardown_dev();
}

static void test_fifo_deinit_cancels_all_before_return(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  int i;

  setup_fifo(4, 1000);
  txlog_reset();
  s.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  for (i = 0; i < 6; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "d", 1, 0), 0);
    }

  CHECK_EQ(fake_nsent(fc(TX)), 4);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);
  CHECK_EQ(ntx(), 6);
  for (i = 0; i < 6; i++)
    {
      CHECK_EQ(txrec(i).result, -ECANCELED);
    }

  CHECK_EQ(fc(TX)->ntxfinish, 4);                     /* 4 aborted */
  CHECK_STAT(stats_of(TX).cancelled, 6);

  /* The channel can be initialised again and works. */

  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_fifobuf,
                          MBOX_TXBUF_SIZE(4, 64)), 0);
  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "again", 5, 0), 0);
  CHECK_EQ(fake_fifo_count(fc(TX)), 1);       /* shutdown flushed it */
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(ntx(), 7);
  CHECK_EQ(txrec(6).result, 0);
  teardown_dev();
}

static void test_depth1_behaves_as_before(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  CHECK_EQ(MBOX_TXBUF_SIZE(1, 100), 100);
  CHECK_EQ(MBOX_TXBUF_SIZE(0, 100), 100);

  /* txdepth 1, FIFO fake of depth 1; NULL buffer is fine for depth 1. */

  fake_dev_init_fifo(&g_dev, 24, 1);
  s.chan = ch(TX);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, NULL, 0), 0);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), 1);
  CHECK_EQ(mbox_ticksend(&s, "1", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "2", 1, 0), -ENOBUFS);  /* no queue */
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_ring,
                          sizeof(g_ring)), 0);
  int base = fake_nsent(fc(TX));
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "b", 1, 0), 0);
  CHECK_EQ(fake_nsent(fc(TX)), base + 1);             /* one at a time */
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX),
                                   fake_sent(fc(TX), base).token + 1),
           -ESRCH);
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(fake_nsent(fc(TX)), base + 2);
  CHECK_EQ(fake_sent(fc(TX), base + 1).data[0], 'b');
  CHECK_EQ(fake_fifo_ack(fc(TX)), 0);
  CHECK_EQ(fc(TX)->max_hw_inflight, 1);
  teardown_dev();

  /* txdepth 0 (every lower half written before the field existed). */

  setup_dev(24, 1000);
  s.chan = ch(TX);
  CHECK_EQ(g_dev.base.txdepth, 0);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), 1);
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "b", 1, 0), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 1);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(fc(TX)->max_hw_inflight, 1);
  teardown_dev();
}

/****************************************************************************
 * 3. Several clients on one channel
 ****************************************************************************/

struct rxrec_s
{
  intptr_t id;
  int ret;
  size_t size;
  const void *ptr;
  uint8_t data[32];
  int nack;
};

static struct rxrec_s g_rxlog[32];
static int g_nrx;

static int rx_cb(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                 size_t size)
{
  if (g_nrx < 32)
    {
      struct rxrec_s *r = &g_rxlog[g_nrx];
      r->id = (intptr_t)arg;
      r->ret = ret;
      r->size = size;
      r->ptr = data;
      if (data != NULL && size <= sizeof(r->data))
        {
          memcpy(r->data, data, size);
        }

      r->nack = ((struct fake_chan_s *)chan)->nack;
    }

  g_nrx++;
  return 0;
}

static int rx_cb_other(int ret, struct mbox_chan_s *chan, void *arg,
                       void *data, size_t size)
{
  return rx_cb(ret, chan, (void *)((intptr_t)arg + 1000), data, size);
}

static void rx_present(const char *s)
{
  fc(RX)->rx_size = strlen(s);
  memcpy(fc(RX)->rx_data, s, strlen(s));
}

static void test_several_clients_per_channel(void)
{
  struct mbox_receiver_s r[3];
  struct mbox_sender_s s1 = { NULL, NULL };
  struct mbox_sender_s s2 = { NULL, NULL };
  struct mbox_sender_s plain = { NULL, NULL };
  int i;

  setup_dev(24, 1000);
  g_nrx = 0;
  for (i = 0; i < 3; i++)
    {
      r[i].chan = ch(RX);
      r[i].priv = NULL;
      CHECK_EQ(mbox_register_rxcallback(&r[i], rx_cb,
                                        (void *)(intptr_t)(i + 1)), 0);
    }

  /* Every receiver gets every message, in registration order, the same
   * data, after the message was acknowledged.
   */

  rx_present("hello");
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 5);
  CHECK_EQ(g_nrx, 3);
  for (i = 0; i < 3; i++)
    {
      CHECK_EQ(g_rxlog[i].id, i + 1);
      CHECK_EQ(g_rxlog[i].ret, 0);
      CHECK_EQ(g_rxlog[i].size, 5);
      CHECK(memcmp(g_rxlog[i].data, "hello", 5) == 0);
      CHECK(g_rxlog[i].ptr == g_rxlog[0].ptr);
      CHECK_EQ(g_rxlog[i].nack, 1);
    }

  struct mbox_stats_s st = stats_of(RX);
  CHECK_STAT(st.received, 1);                         /* counted once */
  CHECK_STAT(st.rx_dropped, 0);
  CHECK_EQ(fc(RX)->nack, 1);                          /* ACKed once */

  /* Unregistering the middle one keeps the others' order. */

  CHECK_EQ(mbox_unregister_rxcallback(&r[1]), 0);
  g_nrx = 0;
  rx_present("world");
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 5);
  CHECK_EQ(g_nrx, 2);
  CHECK_EQ(g_rxlog[0].id, 1);
  CHECK_EQ(g_rxlog[1].id, 3);
  CHECK(memcmp(g_rxlog[1].data, "world", 5) == 0);
  CHECK_STAT(stats_of(RX).received, 2);

  /* Two senders on one TX channel, each with its own TX-done callback,
   * and a third without one: each callback hears only its own messages.
   */

  txlog_reset();
  s1.chan = ch(TX);
  s2.chan = ch(TX);
  plain.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&s1, txdone_cb, &s1), 0);
  CHECK_EQ(mbox_register_txdone(&s2, txdone_cb2, &s2), 0);
  CHECK_EQ(mbox_ticksend(&s1, "1a", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&plain, "pa", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&s2, "2a", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&s2, "2b", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&s1, "1b", 2, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);                      /* 1a: 0 */
  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(fake_ack(fc(TX)), 0);              /* pa: 0; 2a fails; 2b out */
  CHECK_EQ(fake_ack(fc(TX)), 0);                      /* 2b: 0 */
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);              /* 1b: cancelled */
  CHECK_EQ(ntx(), 4);
  int n1 = 0, n2 = 0;
  for (i = 0; i < ntx(); i++)
    {
      struct txrec_s t = txrec(i);
      CHECK(t.arg == t.sender);               /* own arg */
      CHECK_EQ(t.which, t.sender == &s1 ? 1 : 2);
      CHECK(t.sender == &s1 || t.sender == &s2);
      n1 += t.sender == &s1;
      n2 += t.sender == &s2;
    }

  CHECK_EQ(n1, 2);
  CHECK_EQ(n2, 2);
  CHECK(txrec(0).sender == &s1 && txrec(0).result == 0);
  CHECK(txrec(1).sender == &s2 && txrec(1).result == -EIO);
  CHECK(txrec(2).sender == &s2 && txrec(2).result == 0);
  CHECK(txrec(3).sender == &s1 && txrec(3).result == -ECANCELED);
  teardown_dev();
}

static void test_rx_clients_replace_limits_errors(void)
{
  struct mbox_receiver_s r[MBOX_MAX_CLIENTS + 1];
  struct mbox_receiver_s stranger;
  int i;

  setup_dev(24, 1000);
  g_nrx = 0;
  for (i = 0; i <= MBOX_MAX_CLIENTS; i++)
    {
      r[i].chan = ch(RX);
      r[i].priv = NULL;
    }

  stranger.chan = ch(RX);
  CHECK_EQ(mbox_register_rxcallback(&r[0], rx_cb, (void *)1), 0);
  CHECK_EQ(fc(RX)->nsetcallback, 1);
  CHECK_EQ(mbox_register_rxcallback(&r[1], rx_cb, (void *)2), 0);
  CHECK_EQ(fc(RX)->nsetcallback, 1);          /* first unchanged */

  /* Re-registering r[0] replaces its entry in place. */

  CHECK_EQ(mbox_register_rxcallback(&r[0], rx_cb_other, (void *)1), 0);
  CHECK_EQ(fc(RX)->nsetcallback, 2);          /* first changed */
  rx_present("abc");
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 3);
  CHECK_EQ(g_nrx, 2);
  CHECK_EQ(g_rxlog[0].id, 1001);
  CHECK_EQ(g_rxlog[1].id, 2);

  /* Up to MBOX_MAX_CLIENTS; the replacement took no second entry. */

  for (i = 2; i < MBOX_MAX_CLIENTS; i++)
    {
      CHECK_EQ(mbox_register_rxcallback(&r[i], rx_cb,
                                        (void *)(intptr_t)(i + 1)), 0);
    }

  CHECK_EQ(mbox_register_rxcallback(&r[MBOX_MAX_CLIENTS], rx_cb,
                                    (void *)9), -ENOSPC);
  CHECK_EQ(mbox_unregister_rxcallback(&stranger), -ENOENT);
  CHECK_EQ(mbox_unregister_rxcallback(&r[MBOX_MAX_CLIENTS]), -ENOENT);

  /* Removing the first: the lower half is told the new first one. */

  CHECK_EQ(mbox_unregister_rxcallback(&r[0]), 0);
  CHECK_EQ(fc(RX)->nsetcallback, 3);
  CHECK_EQ(mbox_register_rxcallback(&r[MBOX_MAX_CLIENTS], rx_cb,
                                    (void *)9), 0);
  g_nrx = 0;
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 3);
  CHECK_EQ(g_nrx, MBOX_MAX_CLIENTS);
  for (i = 0; i < MBOX_MAX_CLIENTS - 1; i++)
    {
      CHECK_EQ(g_rxlog[i].id, i + 2);
    }

  CHECK_EQ(g_rxlog[MBOX_MAX_CLIENTS - 1].id, 9);

  /* A failed reception reaches every receiver, with NULL data. */

  fc(RX)->recv_result = -EIO;
  g_nrx = 0;
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), -EIO);
  CHECK_EQ(g_nrx, MBOX_MAX_CLIENTS);
  for (i = 0; i < MBOX_MAX_CLIENTS; i++)
    {
      CHECK_EQ(g_rxlog[i].ret, -EIO);
      CHECK(g_rxlog[i].ptr == NULL);
      CHECK_EQ(g_rxlog[i].size, 0);
    }

  struct mbox_stats_s st = stats_of(RX);
  CHECK_STAT(st.received, 2);
  CHECK_STAT(st.rx_dropped, 1);

  /* The lower half refuses a change of the first receiver: nothing
   * changes (r[1] stays first and registered, r[0] is not added back).
   */

  fc(RX)->recv_result = 0;
  fc(RX)->setcallback_result = -EIO;
  CHECK_EQ(mbox_unregister_rxcallback(&r[1]), -EIO);
  CHECK_EQ(mbox_register_rxcallback(&r[1], rx_cb_other, (void *)2), -EIO);
  CHECK_EQ(mbox_register_rxcallback(&r[0], rx_cb, (void *)1), -ENOSPC);
  fc(RX)->setcallback_result = 0;
  g_nrx = 0;
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 3);
  CHECK_EQ(g_nrx, MBOX_MAX_CLIENTS);
  CHECK_EQ(g_rxlog[0].id, 2);

  /* All removed: messages are dropped (acknowledged, counted). */

  fc(RX)->recv_result = 0;
  for (i = 1; i <= MBOX_MAX_CLIENTS; i++)
    {
      CHECK_EQ(mbox_unregister_rxcallback(&r[i]), 0);
    }

  g_nrx = 0;
  int nack = fc(RX)->nack;
  CHECK_EQ(mbox_chan_rx_data(ch(RX)), 3);
  CHECK_EQ(g_nrx, 0);
  CHECK_EQ(fc(RX)->nack, nack + 1);
  CHECK_STAT(stats_of(RX).rx_dropped, 2);
  teardown_dev();
}

/****************************************************************************
 * 4. Capabilities and TX-done method
 ****************************************************************************/

static void test_polling_and_irq_channels_on_one_controller(void)
{
  struct sender_s a, b;
  struct mbox_sender_s sa = { NULL, NULL };
  struct mbox_sender_s sb = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  sa.chan = ch(TX);
  sb.chan = ch(TX2);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_IRQ, 0), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX2), MBOX_TXDONE_POLL, 3), 0);

  /* Blocking senders on both channels. */

  start_sender(&b, TX2, 0xbb, 2000);
  CHECK(wait_nsent(TX2, 1));
  start_sender(&a, TX, 0xaa, 2000);
  CHECK(wait_nsent(TX, 1));

  /* The lower half's own reports are refused on the polled channel. */

  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX2)), -EPERM);
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX2), fake_sent(fc(TX2), 0).token),
           -EPERM);
  usleep(20000);                      /* several poll periods, no ACK */
  CHECK_EQ(b.result, 12345);
  CHECK_EQ(a.result, 12345);

  /* A: the IRQ-style report completes it. */

  CHECK_EQ(fake_ack(fc(TX)), 0);
  pthread_join(a.thread, NULL);
  CHECK_EQ(a.result, 0);
  CHECK_EQ(b.result, 12345);

  /* B: the remote ACKs, nobody calls tx_done: the framework's poll finds
   * it within a few periods.
   */

  int64_t t0 = now_ms();
  fake_set_acked(fc(TX2), true);
  pthread_join(b.thread, NULL);
  CHECK_EQ(b.result, 0);
  CHECK(now_ms() - t0 < 500);
  CHECK_EQ(fake_read(fc(TX2), &fc(TX2)->ntxfinish), 1);

  /* Non-blocking messages with TX-done callbacks, on both channels. */

  CHECK_EQ(mbox_register_txdone(&sa, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_register_txdone(&sb, txdone_cb2, NULL), 0);
  CHECK_EQ(mbox_ticksend(&sb, "p", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&sa, "i", 1, 0), 0);

  /* The IRQ channel is never polled: its hardware shows the ACK but
   * nothing completes until the lower half reports it.
   */

  fake_set_acked(fc(TX), true);
  usleep(20000);
  CHECK_EQ(ntx(), 0);
  fake_set_acked(fc(TX2), true);
  CHECK(wait_ntx(1));
  CHECK_EQ(txrec(0).which, 2);                        /* the polled one */
  CHECK_EQ(txrec(0).result, 0);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), 0);
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(txrec(1).which, 1);

  struct mbox_stats_s st = stats_of(TX2);
  CHECK_STAT(st.acked, 2);
  CHECK_STAT(st.spurious_ack, 2);
  st = stats_of(TX);
  CHECK_STAT(st.acked, 2);
  CHECK_STAT(st.spurious_ack, 0);

  /* Timeouts still work on the polled channel. */

  CHECK_EQ(mbox_ticksend(&sb, "late", 4, 30), -ETIMEDOUT);
  teardown_dev();
}

static void test_capabilities_mtu_maxchans_txdepth(void)
{
  static struct mbox_chan_s zeroed;

  setup_dev(24, 1000);
  CHECK_EQ(mbox_chan_mtu(ch(TX)), 24);
  CHECK_EQ(mbox_chan_mtu(ch(RX)), 24);
  CHECK_EQ(mbox_chan_mtu(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_mtu(ch(UNINIT)), -EINVAL);
  CHECK_EQ(mbox_chan_mtu(&zeroed), -EINVAL);
  CHECK_EQ(mbox_dev_max_chans(&g_dev.base), FAKE_NCHANS);
  CHECK_EQ(mbox_dev_max_chans(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), 1);
  CHECK_EQ(mbox_chan_txdepth(ch(RX)), -EINVAL);
  CHECK_EQ(mbox_chan_txdepth(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_txdepth(ch(UNINIT)), -EINVAL);
  g_dev.base.num_chans = 0;
  CHECK_EQ(mbox_dev_max_chans(&g_dev.base), -ENOSYS);
  g_dev.base.num_chans = 1;
  CHECK_EQ(mbox_dev_max_chans(&g_dev.base), 1);
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);
  CHECK_EQ(mbox_chan_mtu(ch(TX)), -EINVAL);          /* after deinit */
  CHECK_EQ(mbox_chan_txdepth(ch(TX)), -EINVAL);
  teardown_dev();

  /* An MTU of 0 means MBOX_DEFAULT_MTU; a large one is reported as is. */

  fake_dev_init(&g_dev, 0);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, NULL, 0), 0);
  CHECK_EQ(mbox_chan_mtu(ch(TX)), MBOX_DEFAULT_MTU);
  teardown_dev();
  fake_dev_init(&g_dev, 200);
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, NULL, 0), 0);
  CHECK_EQ(mbox_chan_mtu(ch(TX)), 200);
  teardown_dev();
}

static void test_set_txdone_errors(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  s.chan = ch(TX);
  CHECK_EQ(mbox_chan_set_txdone(NULL, MBOX_TXDONE_IRQ, 0), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(RX), MBOX_TXDONE_IRQ, 0), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(UNINIT), MBOX_TXDONE_IRQ, 0), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), 7, 0), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), -1, 5), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL,
                                MBOX_WAIT_FOREVER), -EINVAL);

  /* The refusals changed nothing: still IRQ. */

  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);

  /* -EBUSY while a message is in flight or queued; nothing changes. */

  CHECK_EQ(mbox_ticksend(&s, "b", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "c", 1, 0), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), -EBUSY);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL, 2), -EBUSY);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), -EBUSY);
  CHECK_EQ(fake_ack(fc(TX)), 0);                      /* still IRQ */
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL, 2), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_IRQ, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "d", 1, 0), 0);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  teardown_dev();

  /* A lower half without txacked cannot be polled; the other methods
   * work.
   */

  fake_dev_init(&g_dev, 24);
  g_dev.base.ops = &g_fake_ops_noacked;
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_ring,
                          sizeof(g_ring)), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL, 2), -ENOSYS);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), 0);
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_IRQ, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "e", 1, 0), 0);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), 0);     /* trusted without txacked */
  teardown_dev();
}

static void test_ack_method_client_txdone(void)
{
  struct sender_s a;
  struct mbox_sender_s s = { NULL, NULL };
  struct mbox_sender_s rxs = { NULL, NULL };
  struct mbox_sender_s nullchan = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  s.chan = ch(TX);
  rxs.chan = ch(RX);

  /* IRQ mode (default): the client may not report. */

  CHECK_EQ(mbox_ticksend(&s, "i", 1, 0), 0);
  CHECK_EQ(mbox_client_txdone(&s, 0), -EPERM);
  CHECK_EQ(fake_ack(fc(TX)), 0);

  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), 0);
  CHECK_EQ(mbox_client_txdone(&s, 0), -ENOENT);       /* nothing out */
  CHECK_EQ(mbox_client_txdone(NULL, 0), -EINVAL);
  CHECK_EQ(mbox_client_txdone(&nullchan, 0), -EINVAL);
  CHECK_EQ(mbox_client_txdone(&rxs, 0), -EINVAL);

  /* A blocked sender: the lower half's report is refused, the client's
   * completes it with 0.
   */

  start_sender(&a, TX, 0x11, 2000);
  CHECK(wait_nsent(TX, 2));
  CHECK_EQ(fake_ack(fc(TX)), -EPERM);
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), fake_sent(fc(TX), 1).token),
           -EPERM);
  usleep(10000);
  CHECK_EQ(a.result, 12345);
  CHECK_EQ(mbox_client_txdone(&s, 0), 0);
  pthread_join(a.thread, NULL);
  CHECK_EQ(a.result, 0);

  /* The client's error becomes the message's result. */

  start_sender(&a, TX, 0x22, 2000);
  CHECK(wait_nsent(TX, 3));
  CHECK_EQ(mbox_client_txdone(&s, -EIO), 0);
  pthread_join(a.thread, NULL);
  CHECK_EQ(a.result, -EIO);

  /* Oldest first; a TX-done callback gets the client's result. */

  CHECK_EQ(mbox_register_txdone(&s, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "y", 1, 0), 0);
  CHECK_EQ(mbox_client_txdone(&s, -EPROTO), 0);
  CHECK_EQ(ntx(), 1);
  CHECK_EQ(txrec(0).result, -EPROTO);
  CHECK_EQ(fake_sent(fc(TX), 4).data[0], 'y');        /* y went out */
  CHECK_EQ(mbox_client_txdone(&s, 0), 0);
  CHECK_EQ(ntx(), 2);
  CHECK_EQ(txrec(1).result, 0);
  CHECK_EQ(mbox_client_txdone(&s, 0), -ENOENT);

  /* Timeouts work the same in ACK mode. */

  CHECK_EQ(mbox_ticksend(&s, "t", 1, 30), -ETIMEDOUT);
  CHECK_EQ(mbox_client_txdone(&s, 0), -ENOENT);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.acked, 3);
  CHECK_STAT(st.timeout, 1);
  teardown_dev();
}

/****************************************************************************
 * 5. Polling send
 ****************************************************************************/

static void *set_acked_later(void *arg)
{
  struct fake_chan_s *c = arg;
  int64_t end = now_ms() + 3000;
  while (fake_nsent(c) < 1 && now_ms() < end)
    {
      usleep(200);
    }

  usleep(5000);
  fake_set_acked(c, true);
  return NULL;
}

static void test_send_poll_completes_when_txacked(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  pthread_t t;

  setup_dev(24, 1000);
  s.chan = ch(TX);

  /* The remote ACKs a little later (another thread sets the hardware's
   * ACK flag; nobody calls tx_done).
   */

  pthread_create(&t, NULL, set_acked_later, fc(TX));
  CHECK_EQ(mbox_send_poll(&s, "poll", 4, 50000000), 0);
  pthread_join(t, NULL);
  CHECK_EQ(fake_nsent(fc(TX)), 1);
  CHECK_EQ(fake_read(fc(TX), &fc(TX)->ntxfinish), 1);

  /* Hardware that shows the ACK at once. */

  fc(TX)->ack_on_send = true;
  CHECK_EQ(mbox_send_poll(&s, "fast", 4, 1), 0);
  CHECK_EQ(mbox_send_poll(&s, "", 0, 3), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 3);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.acked, 3);
  CHECK_STAT(st.timeout, 0);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -ENOENT);       /* nothing left */

  /* On a POLL channel, too. */

  fc(TX)->ack_on_send = false;
  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_POLL, 5), 0);
  fc(TX)->ack_on_send = true;
  CHECK_EQ(mbox_send_poll(&s, "pp", 2, 10), 0);
  teardown_dev();
}

/* mbox_send_poll on a helper thread, bounded: a poll that never gives up
 * fails the test (returns 12345) instead of hanging it.
 */

struct bounded_poll_s
{
  struct mbox_sender_s *s;
  const char *data;
  uint32_t spins;
  volatile int result;
};

static void *bounded_poll_main(void *arg)
{
  struct bounded_poll_s *b = arg;
  b->result = mbox_send_poll(b->s, b->data, strlen(b->data), b->spins);
  return NULL;
}

static int send_poll_bounded(struct mbox_sender_s *s, const char *data,
                             uint32_t spins)
{
  static struct bounded_poll_s b;   /* outlives a detached thread */
  struct timespec ts;
  pthread_t t;

  b.s = s;
  b.data = data;
  b.spins = spins;
  b.result = 12345;
  pthread_create(&t, NULL, bounded_poll_main, &b);
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 2;
  if (pthread_timedjoin_np(t, NULL, &ts) != 0)
    {
      pthread_detach(t);
      return 12345;
    }

  return b.result;
}

static void test_send_poll_spins_spent_aborts(void)
{
  struct mbox_sender_s s = { NULL, NULL };

  setup_dev(24, 1000);
  s.chan = ch(TX);
  CHECK_EQ(send_poll_bounded(&s, "never", 1000), -ETIMEDOUT);
  CHECK_EQ(fake_nsent(fc(TX)), 1);
  CHECK_EQ(fc(TX)->ntxfinish, 1);                     /* aborted */
  uint32_t tok = fake_sent(fc(TX), 0).token;
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 1);

  /* Its late ACK is spurious. */

  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), tok), -ENOENT);
  CHECK_EQ(fake_ack(fc(TX)), -ENOENT);
  CHECK_STAT(stats_of(TX).spurious_ack, 2);

  /* The channel sends the next message normally. */

  CHECK_EQ(mbox_ticksend(&s, "next", 4, 0), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  CHECK(fake_sent(fc(TX), 1).token != tok);
  CHECK_EQ(mbox_chan_tx_done_token(ch(TX), tok), -ESRCH);
  CHECK_EQ(fake_ack(fc(TX)), 0);
  CHECK_STAT(stats_of(TX).acked, 1);

  /* Queued behind a message that is never ACKed: spins spent while
   * queued, so it is withdrawn and never sent.
   */

  CHECK_EQ(mbox_ticksend(&s, "stuck", 5, 0), 0);
  CHECK_EQ(send_poll_bounded(&s, "behind", 200), -ETIMEDOUT);
  CHECK_EQ(fake_nsent(fc(TX)), 3);
  CHECK_EQ(fake_ack(fc(TX)), 0);                      /* stuck done */
  CHECK_EQ(fake_nsent(fc(TX)), 3);                    /* not sent */
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -ENOENT);
  teardown_dev();
}

struct poller_s
{
  struct mbox_sender_s s;
  volatile int result;
};

static void *poller_main(void *arg)
{
  struct poller_s *p = arg;
  p->result = mbox_send_poll(&p->s, "spin", 4, 0xffffffffu);
  return NULL;
}

static void test_send_poll_cancelled_by_deinit(void)
{
  struct poller_s p;
  pthread_t t;

  setup_dev(24, 1000);
  memset(&p, 0, sizeof(p));
  p.s.chan = ch(TX);
  p.result = 12345;
  pthread_create(&t, NULL, poller_main, &p);
  CHECK(wait_nsent(TX, 1));
  usleep(5000);
  CHECK_EQ(p.result, 12345);                  /* still spinning */
  CHECK_EQ(mbox_chan_deinit(ch(TX)), 0);
  pthread_join(t, NULL);
  CHECK_EQ(p.result, -ECANCELED);
  CHECK_STAT(stats_of(TX).cancelled, 1);
  teardown_dev();
}

static void poll_in_irq(void *arg)
{
  struct mbox_sender_s *s = arg;
  int *res = s->priv;
  res[0] = mbox_ticksend(s, "b", 1, 10);
  res[1] = mbox_send(s, "b", 1);
  res[2] = mbox_send_poll(s, "p", 1, 100);
}

static void test_send_poll_from_interrupt(void)
{
  int res[3] = { 99, 99, 99 };
  struct mbox_sender_s s;

  setup_dev(24, 1000);
  s.chan = ch(TX);
  s.priv = res;
  fc(TX)->ack_on_send = true;
  host_run_as_interrupt(poll_in_irq, &s);
  CHECK_EQ(res[0], -EPERM);
  CHECK_EQ(res[1], -EPERM);
  CHECK_EQ(res[2], 0);
  CHECK_EQ(fake_nsent(fc(TX)), 1);
  CHECK_EQ(fake_sent(fc(TX), 0).data[0], 'p');
  CHECK_STAT(stats_of(TX).acked, 1);
  teardown_dev();
}

static void test_send_poll_moves_queued_along(void)
{
  struct mbox_sender_s nb = { NULL, NULL };
  struct mbox_sender_s p = { NULL, NULL };

  setup_dev(24, 1000);
  txlog_reset();
  nb.chan = ch(TX);
  p.chan = ch(TX);
  CHECK_EQ(mbox_register_txdone(&nb, txdone_cb, NULL), 0);
  CHECK_EQ(mbox_ticksend(&nb, "M", 1, 0), 0);         /* in flight */
  fake_set_acked(fc(TX), true);       /* its ACK shows, no interrupt */
  fc(TX)->ack_on_send = true;         /* P's ACK will show at once */
  CHECK_EQ(mbox_send_poll(&p, "P", 1, 100), 0);
  CHECK_EQ(fake_nsent(fc(TX)), 2);
  CHECK_EQ(fake_sent(fc(TX), 0).data[0], 'M');
  CHECK_EQ(fake_sent(fc(TX), 1).data[0], 'P');
  CHECK_EQ(ntx(), 1);                 /* M's callback already ran */
  CHECK_EQ(txrec(0).result, 0);
  CHECK_STAT(stats_of(TX).acked, 2);
  CHECK_EQ(mbox_chan_tx_done_checked(ch(TX)), -ENOENT);
  teardown_dev();
}

static void test_send_poll_errors(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  struct mbox_sender_s rxs = { NULL, NULL };
  struct mbox_sender_s nullchan = { NULL, NULL };
  uint8_t big[32];

  setup_dev(24, 1000);
  memset(big, 1, sizeof(big));
  s.chan = ch(TX);
  rxs.chan = ch(RX);
  CHECK_EQ(mbox_send_poll(&s, "x", 1, 0), -EINVAL);
  CHECK_EQ(mbox_send_poll(NULL, "x", 1, 10), -EINVAL);
  CHECK_EQ(mbox_send_poll(&nullchan, "x", 1, 10), -EINVAL);
  CHECK_EQ(mbox_send_poll(&rxs, "x", 1, 10), -EINVAL);
  CHECK_EQ(mbox_send_poll(&s, NULL, 4, 10), -EINVAL);
  CHECK_EQ(mbox_send_poll(&s, big, 25, 10), -EMSGSIZE);
  CHECK_EQ(fake_nsent(fc(TX)), 0);

  /* Immediate send error: returned. */

  fc(TX)->send_fail_count = 1;
  fc(TX)->send_fail_errno = -EIO;
  CHECK_EQ(mbox_send_poll(&s, "x", 1, 10), -EIO);

  /* ACK mode: refused. */

  CHECK_EQ(mbox_chan_set_txdone(ch(TX), MBOX_TXDONE_ACK, 0), 0);
  CHECK_EQ(mbox_send_poll(&s, "x", 1, 10), -EPERM);
  CHECK_EQ(fake_nsent(fc(TX)), 0);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.sent, 0);
  CHECK_STAT(st.buffered, 0);
  teardown_dev();

  /* No txacked: nothing to poll. */

  fake_dev_init(&g_dev, 24);
  g_dev.base.ops = &g_fake_ops_noacked;
  CHECK_EQ(mbox_chan_init(ch(TX), &g_dev.base, MBOX_TX, g_ring,
                          sizeof(g_ring)), 0);
  CHECK_EQ(mbox_send_poll(&s, "x", 1, 10), -ENOSYS);
  CHECK_EQ(fake_nsent(fc(TX)), 0);
  teardown_dev();
}

/****************************************************************************
 * Regressions of two bugs this file found in src/
 ****************************************************************************/

/* mbox_send_poll() is bounded by the channel timeout as well as by its
 * spins: with plenty of spins and an ACK that comes after the channel
 * timeout, the watchdog ends the message with -ETIMEDOUT. (Found as a bug:
 * the polled waiter first had no deadline.)
 */

static void *set_acked_at_150ms(void *arg)
{
  struct fake_chan_s *c = arg;
  int64_t end = now_ms() + 3000;
  while (fake_nsent(c) < 1 && now_ms() < end)
    {
      usleep(200);
    }

  usleep(150000);
  fake_set_acked(c, true);
  return NULL;
}

static void test_send_poll_bounded_by_channel_timeout(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  pthread_t t;

  setup_dev(24, 20);                          /* channel timeout 20 ms */
  s.chan = ch(TX);
  pthread_create(&t, NULL, set_acked_at_150ms, fc(TX));
  int64_t t0 = now_ms();
  int r = mbox_send_poll(&s, "p", 1, 0xffffffffu);
  int64_t took = now_ms() - t0;
  pthread_join(t, NULL);
  CHECK_EQ(r, -ETIMEDOUT);
  CHECK(took < 140);
  teardown_dev();
}

/* mbox_chan_deinit() from one of the channel's own callbacks running in
 * task context (a TX-done callback handed out by a task, an RX callback of
 * a lower half that polls from a task) would wait for itself: it is
 * refused with -EDEADLK and changes nothing; the channel can be torn down
 * afterwards from outside. (Found as a bug: it used to hang.)
 */

static struct fake_dev_s g_hang_dev[2];
static uint8_t g_hang_buf[2][64];
static volatile int g_hang_ret[2] = { 99, 99 };

static void deinit_txdone_cb(struct mbox_sender_s *s, void *arg, int r)
{
  (void)arg;
  (void)r;
  g_hang_ret[0] = mbox_chan_deinit(s->chan);
}

static int deinit_rx_cb(int ret, struct mbox_chan_s *chan, void *arg,
                        void *data, size_t size)
{
  (void)ret; (void)arg; (void)data; (void)size;
  g_hang_ret[1] = mbox_chan_deinit(chan);
  return 0;
}

static void *hang_tx_main(void *arg)
{
  struct mbox_sender_s *s = arg;
  mbox_ticksend(s, "x", 1, 0);
  fake_ack(&g_hang_dev[0].chans[0]);          /* task context */
  return NULL;
}

static void *hang_rx_main(void *arg)
{
  (void)arg;
  mbox_chan_rx_data(&g_hang_dev[1].chans[0].base);
  return NULL;
}

static bool joins_within_1s(pthread_t t)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 1;
  return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static void test_deinit_from_own_callback_is_edeadlk(void)
{
  static struct mbox_sender_s s;
  static struct mbox_receiver_s r;
  pthread_t t;

  fake_dev_init(&g_hang_dev[0], 24);
  CHECK_EQ(mbox_chan_init(&g_hang_dev[0].chans[0].base, &g_hang_dev[0].base,
                          MBOX_TX, g_hang_buf[0], 64), 0);
  s.chan = &g_hang_dev[0].chans[0].base;
  CHECK_EQ(mbox_register_txdone(&s, deinit_txdone_cb, NULL), 0);
  pthread_create(&t, NULL, hang_tx_main, &s);
  CHECK(joins_within_1s(t));
  CHECK_EQ(g_hang_ret[0], -EDEADLK);
  CHECK_EQ(mbox_chan_deinit(s.chan), 0);

  fake_dev_init(&g_hang_dev[1], 24);
  CHECK_EQ(mbox_chan_init(&g_hang_dev[1].chans[0].base, &g_hang_dev[1].base,
                          MBOX_RX, g_hang_buf[1], 64), 0);
  r.chan = &g_hang_dev[1].chans[0].base;
  CHECK_EQ(mbox_register_rxcallback(&r, deinit_rx_cb, NULL), 0);
  g_hang_dev[1].chans[0].rx_size = 1;
  pthread_create(&t, NULL, hang_rx_main, NULL);
  CHECK(joins_within_1s(t));
  CHECK_EQ(g_hang_ret[1], -EDEADLK);
  CHECK_EQ(mbox_chan_deinit(r.chan), 0);
  fake_dev_stop(&g_hang_dev[0]);
  fake_dev_stop(&g_hang_dev[1]);
}

int main(void)
{
  /* 1. TX-done callback */

  RUN(test_txdone_result_zero_after_ack);
  RUN(test_txdone_timeout_from_watchdog);
  RUN(test_txdone_queued_send_error);
  RUN(test_txdone_cancelled_at_deinit_in_order);
  RUN(test_txdone_deinit_waits_for_running_callbacks);
  RUN(test_deinit_waits_for_a_hand_out_an_ack_path_began);
  RUN(test_txdone_submission_order_two_senders);
  RUN(test_txdone_called_without_critical_section);
  RUN(test_txdone_refused_sends_get_no_callback);
  RUN(test_txdone_blocking_sends_get_no_callback);
  RUN(test_txdone_removed_callback_stops_calls);
  RUN(test_txdone_registration_errors);
  RUN(test_txdone_uninitialised_sender_still_works);

  /* 2. Several messages in flight */

  RUN(test_several_messages_in_flight_ack_in_fifo_order);
  RUN(test_fifo_txdone_order_with_send_error);
  RUN(test_fifo_blocking_threads_own_results_wire_order);
  RUN(test_fifo_init_validation);
  RUN(test_fifo_per_message_deadline);
  RUN(test_fifo_deinit_cancels_all_before_return);
  RUN(test_depth1_behaves_as_before);

  /* 3. Several clients on one channel */

  RUN(test_several_clients_per_channel);
  RUN(test_rx_clients_replace_limits_errors);

  /* 4. Capabilities and TX-done method */

  RUN(test_polling_and_irq_channels_on_one_controller);
  RUN(test_capabilities_mtu_maxchans_txdepth);
  RUN(test_set_txdone_errors);
  RUN(test_ack_method_client_txdone);

  /* 5. Polling send */

  RUN(test_send_poll_completes_when_txacked);
  RUN(test_send_poll_spins_spent_aborts);
  RUN(test_send_poll_from_interrupt);
  RUN(test_send_poll_moves_queued_along);
  RUN(test_send_poll_errors);
  RUN(test_send_poll_cancelled_by_deinit);
  RUN(test_send_poll_bounded_by_channel_timeout);
  RUN(test_deinit_from_own_callback_is_edeadlk);

  host_shutdown();
  return harness_finish();
}
