/****************************************************************************
 * ctest/test_upper.c
 *
 * The upper half through its C API, on the host port, with the scriptable
 * fake lower half. One test per behaviour of the upper half, including
 * each hazard of docs/hazards.md that concerns it.
 ****************************************************************************/

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>

#include "fake_lower.h"
#include "harness.h"
#include "host.h"

#define TX 0
#define TX2 1
#define RX 2

/* Without CONFIG_MBOX_TRACE the library has no statistics: the checks
 * that read them compile to nothing and the waits that poll them fall back
 * to sleeping, so every behaviour check still runs in that configuration.
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
static uint8_t g_ring[256];
static uint8_t g_ring2[256];
static uint8_t g_rxbuf[256];

static long long ms_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A fresh device with channel 0 and 1 TX (ring), channel 2 RX. */

static void setup_dev(size_t mtu, clock_t timeout)
{
  fake_dev_init(&g_dev, mtu);
  g_dev.chans[TX].base.timeout = timeout;
  g_dev.chans[TX2].base.timeout = timeout;
  CHECK_EQ(mbox_chan_init(&g_dev.chans[TX].base, &g_dev.base, MBOX_TX,
                          g_ring, sizeof(g_ring)), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[TX2].base, &g_dev.base, MBOX_TX,
                          g_ring2, sizeof(g_ring2)), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[RX].base, &g_dev.base, MBOX_RX,
                          g_rxbuf, sizeof(g_rxbuf)), 0);
}

static void teardown_dev(void)
{
  int i;

  /* Channels first: deinit calls the fake's shutdown, which takes the
   * fake's lock; fake_dev_stop() destroys it.
   */

  for (i = 0; i < FAKE_NCHANS; i++)
    {
      mbox_chan_deinit(&g_dev.chans[i].base);
    }

  fake_dev_stop(&g_dev);
}

static struct mbox_stats_s stats_of(int i)
{
  struct mbox_stats_s st;
  memset(&st, 0xa5, sizeof(st));
  CHECK_EQ(mbox_chan_get_stats_checked(&g_dev.chans[i].base, &st), 0);
  return st;
}

/****************************************************************************
 * Blocking sender threads
 ****************************************************************************/

struct sender_s
{
  pthread_t thread;
  struct mbox_sender_s sender;
  uint8_t msg[64];
  size_t size;
  clock_t timeout;
  int result;
  long long took_ms;
};

static void *sender_main(void *arg)
{
  struct sender_s *s = arg;
  long long t0 = ms_now();
  s->result = mbox_ticksend(&s->sender, s->msg, s->size, s->timeout);
  s->took_ms = ms_now() - t0;
  return NULL;
}

static void start_sender(struct sender_s *s, int chan, uint8_t tag,
                         clock_t timeout)
{
  memset(s, 0, sizeof(*s));
  s->sender.chan = &g_dev.chans[chan].base;
  s->size = 4;
  memset(s->msg, tag, s->size);
  s->timeout = timeout;
  s->result = 12345;
  pthread_create(&s->thread, NULL, sender_main, s);
}

/* Wait until the fake has sent n messages on chan (bounded). */

static bool wait_nsent(int chan, int n)
{
  long long end = ms_now() + 3000;
  while (fake_nsent(&g_dev.chans[chan]) < n)
    {
      if (ms_now() > end)
        {
          return false;
        }

      usleep(1000);
    }

  return true;
}

/* Wait until chan's stats show `buffered` queued messages (bounded). */

static bool wait_buffered(int chan, size_t n)
{
  long long end = ms_now() + 3000;
#ifndef CONFIG_MBOX_TRACE
  usleep(100000);
  return true;
#endif
  while (stats_of(chan).buffered < n)
    {
      if (ms_now() > end)
        {
          return false;
        }

      usleep(1000);
    }

  return true;
}

/****************************************************************************
 * Bad arguments
 ****************************************************************************/

static int dummy_cb(int ret, struct mbox_chan_s *chan, void *arg,
                    void *data, size_t size)
{
  (void)ret; (void)chan; (void)arg; (void)data; (void)size;
  return 0;
}

static void test_null_arguments(void)
{
  struct mbox_sender_s nullchan = { NULL, NULL };
  struct mbox_receiver_s nullrx = { NULL, NULL };
  struct mbox_stats_s st;
  uint8_t b[4] = { 0 };

  setup_dev(24, 10);
  CHECK(mbox_get_chan(NULL, NULL) == NULL);
  CHECK(mbox_get_chan(&g_dev.base, (void *)(uintptr_t)99) == NULL);
  CHECK(mbox_get_chan(&g_dev.base, (void *)(uintptr_t)TX) ==
        &g_dev.chans[TX].base);
  CHECK_EQ(mbox_chan_init(NULL, &g_dev.base, MBOX_TX, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[3].base, NULL, MBOX_TX, NULL, 0),
           -EINVAL);
  CHECK_EQ(mbox_chan_deinit(NULL), -EINVAL);
  CHECK_EQ(mbox_send(NULL, b, 4), -EINVAL);
  CHECK_EQ(mbox_ticksend(NULL, b, 4, 0), -EINVAL);
  CHECK_EQ(mbox_send(&nullchan, b, 4), -EINVAL);
  CHECK_EQ(mbox_ticksend(&nullchan, b, 4, 10), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_checked(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_token(NULL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_rx_data(NULL), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(NULL, dummy_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(&nullrx, dummy_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_unregister_rxcallback(NULL), -EINVAL);
  CHECK_EQ(mbox_unregister_rxcallback(&nullrx), -EINVAL);
  CHECK_EQ(mbox_chan_get_stats_checked(NULL, &st), -EINVAL);
  CHECK_EQ(mbox_chan_get_stats_checked(&g_dev.chans[TX].base, NULL), -EINVAL);

  /* NULL data with a size, on a valid channel: refused, nothing sent. */

  struct mbox_sender_s s = { &g_dev.chans[TX].base, NULL };
  CHECK_EQ(mbox_ticksend(&s, NULL, 4, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&s, b, 4, (clock_t)-7), -EINVAL);
  struct mbox_receiver_s r = { &g_dev.chans[RX].base, NULL };
  CHECK_EQ(mbox_register_rxcallback(&r, NULL, NULL), -EINVAL);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);
  st = stats_of(TX);
  CHECK_STAT(st.sent, 0);
  teardown_dev();
}

static void test_uninitialised_and_wrong_direction(void)
{
  static struct mbox_chan_s zeroed;
  struct mbox_sender_s su = { &zeroed, NULL };
  struct mbox_receiver_s ru = { &zeroed, NULL };
  struct mbox_stats_s st;
  uint8_t b[4] = { 1, 2, 3, 4 };

  setup_dev(24, 10);
  CHECK_EQ(mbox_send(&su, b, 4), -EINVAL);
  CHECK_EQ(mbox_ticksend(&su, b, 4, 0), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_checked(&zeroed), -EINVAL);
  CHECK_EQ(mbox_chan_rx_data(&zeroed), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(&ru, dummy_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_chan_deinit(&zeroed), -EINVAL);
  CHECK_EQ(mbox_chan_get_stats_checked(&zeroed, &st), -EINVAL);

  /* Sending on RX, receiving on TX. */

  struct mbox_sender_s srx = { &g_dev.chans[RX].base, NULL };
  struct mbox_receiver_s rtx = { &g_dev.chans[TX].base, NULL };
  CHECK_EQ(mbox_ticksend(&srx, b, 4, 0), -EINVAL);
  CHECK_EQ(mbox_send(&srx, b, 4), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(&rtx, dummy_cb, NULL), -EINVAL);
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[TX].base), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_checked(&g_dev.chans[RX].base), -EINVAL);
  CHECK_EQ(g_dev.chans[TX].nsetcallback, 0);
  CHECK_EQ(g_dev.chans[RX].nsent, 0);
  st = stats_of(RX);
  CHECK_STAT(st.received + st.rx_dropped + st.spurious_ack, 0);
  teardown_dev();
}

static void test_init_validation(void)
{
  setup_dev(24, 10);
  struct mbox_chan_s *c3 = &g_dev.chans[3].base;

  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 16), -EINVAL);
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, (enum mbox_direction_e)7,
                          g_rxbuf, 16), -EINVAL);
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_RX, g_rxbuf, 8), -EINVAL);
  c3->timeout = (clock_t)-5;
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 0), -EINVAL);
  c3->timeout = 0;
  CHECK_EQ(g_dev.chans[3].nsetup, 0);

  /* A device without ops. */

  struct mbox_dev_s noops = { .ops = NULL, .num_chans = 1, .mtu = 24 };
  CHECK_EQ(mbox_chan_init(c3, &noops, MBOX_TX, NULL, 0), -EINVAL);

  /* setup failure: the channel is left uninitialised. */

  g_dev.chans[3].setup_result = -EIO;
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 0), -EIO);
  struct mbox_sender_s s = { c3, NULL };
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), -EINVAL);

  /* Works, then double init is -EBUSY, deinit calls shutdown once, and
   * the channel can be initialised again.
   */

  g_dev.chans[3].setup_result = 0;
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 0), 0);
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 0), -EBUSY);
  CHECK_EQ(mbox_chan_deinit(c3), 0);
  CHECK_EQ(g_dev.chans[3].nshutdown, 1);
  CHECK_EQ(mbox_chan_deinit(c3), -EINVAL);
  CHECK_EQ(g_dev.chans[3].nshutdown, 1);
  CHECK_EQ(mbox_chan_init(c3, &g_dev.base, MBOX_TX, NULL, 0), 0);
  teardown_dev();
}

/****************************************************************************
 * Message size
 ****************************************************************************/

static void test_oversize_is_emsgsize_at_the_call(void)
{
  uint8_t big[200];
  struct mbox_sender_s s;

  /* MTU 24: 24 is fine, 25 is refused at once, blocking or not. */

  setup_dev(24, 10);
  s.chan = &g_dev.chans[TX].base;
  memset(big, 0x5a, sizeof(big));
  CHECK_EQ(mbox_ticksend(&s, big, 25, 0), -EMSGSIZE);
  CHECK_EQ(mbox_ticksend(&s, big, 25, 10), -EMSGSIZE);
  CHECK_EQ(mbox_send(&s, big, 25), -EMSGSIZE);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);
  CHECK_EQ(mbox_ticksend(&s, big, 24, 0), 0);      /* sent */
  CHECK_EQ(mbox_ticksend(&s, big, 25, 0), -EMSGSIZE);  /* not queued */
  CHECK_STAT(stats_of(TX).buffered, 0);
  teardown_dev();

  /* No fixed 128-byte cap: a 200-byte MTU carries 200-byte messages, also
   * through the queue.
   */

  setup_dev(200, 10);
  s.chan = &g_dev.chans[TX].base;
  g_ring[0] = 0;
  CHECK_EQ(mbox_ticksend(&s, big, 10, 0), 0);
  big[199] = 0x77;
  CHECK_EQ(mbox_ticksend(&s, big, 200, 0), 0);     /* queued */
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  struct fake_msg_s m = fake_sent(&g_dev.chans[TX], 1);
  CHECK_EQ(m.size, 200);
  CHECK_EQ(m.data[199], 0x77);
  teardown_dev();
}

/****************************************************************************
 * Non-blocking send
 ****************************************************************************/

static void test_nonblocking_queue_order_and_full(void)
{
  struct mbox_sender_s s;
  uint8_t msg[20];
  int i;
  int accepted = 0;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  for (i = 0; i < 40; i++)
    {
      memset(msg, i, sizeof(msg));
      int r = mbox_ticksend(&s, msg, sizeof(msg), 0);
      if (r == 0)
        {
          accepted++;
        }
      else
        {
          CHECK_EQ(r, -ENOBUFS);
        }
    }

  /* 256-byte ring, 26 bytes per record: 9 queued plus 1 in flight. */

  CHECK_EQ(accepted, 10);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.queue_full, 30);
  CHECK_STAT(st.buffered, 9);
  CHECK_STAT(st.max_queued, 9);
  CHECK_STAT(st.sent, 1);

  for (i = 1; i < accepted; i++)
    {
      CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
    }

  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), accepted);
  for (i = 0; i < accepted; i++)
    {
      struct fake_msg_s m = fake_sent(&g_dev.chans[TX], i);
      CHECK_EQ(m.data[0], i);
      CHECK_EQ(m.size, 20);
    }

  st = stats_of(TX);
  CHECK_STAT(st.acked, (size_t)accepted);
  teardown_dev();
}

/* Against a silent remote, queued messages time out
 * one after the other (channel timeout) and the channel recovers; a
 * blocking send afterwards is not refused.
 */

static void test_silent_remote_does_not_stall_channel(void)
{
  struct mbox_sender_s s;
  int i;

  setup_dev(24, 20);                  /* 20 ticks = 20 ms */
  s.chan = &g_dev.chans[TX].base;
  for (i = 0; i < 3; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "abc", 3, 0), 0);
    }

  long long t0 = ms_now();
#ifdef CONFIG_MBOX_TRACE
  while (stats_of(TX).timeout < 3 && ms_now() - t0 < 3000)
#else
  while (ms_now() - t0 < 150)
#endif
    {
      usleep(2000);
    }

  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 3);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 3);
  CHECK(ms_now() - t0 >= 40);        /* they really waited their turn */

  g_dev.chans[TX].auto_ack_ms = 1;
  CHECK_EQ(mbox_ticksend(&s, "ok", 2, 1000), 0);
  teardown_dev();
}

/* A queued message whose send fails is counted and
 * the rest of the queue is neither lost nor reordered.
 */

static void test_queued_send_error_counted_rest_in_order(void)
{
  struct mbox_sender_s s;
  uint8_t m;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  for (m = 0; m < 5; m++)
    {
      CHECK_EQ(mbox_ticksend(&s, &m, 1, 0), 0);
    }

  g_dev.chans[TX].send_fail_count = 2;
  g_dev.chans[TX].send_fail_errno = -EIO;
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);   /* 1 and 2 fail, 3 goes */
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);   /* 4 goes */
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 3);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 0).data[0], 0);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 1).data[0], 3);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 2).data[0], 4);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.send_err, 2);
  CHECK_STAT(st.acked, 3);

  /* An immediate send error is returned and the message not accepted. */

  g_dev.chans[TX].send_fail_count = 1;
  CHECK_EQ(mbox_ticksend(&s, "z", 1, 0), -EIO);
  CHECK_EQ(mbox_chan_tx_done_checked(&g_dev.chans[TX].base), -ENOENT);
  teardown_dev();
}

/****************************************************************************
 * Blocking send
 ****************************************************************************/

static void test_blocking_send_returns_after_ack(void)
{
  struct mbox_sender_s s;
  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  g_dev.chans[TX].auto_ack_ms = 20;
  long long t0 = ms_now();
  CHECK_EQ(mbox_send(&s, "hello", 5), 0);
  CHECK(ms_now() - t0 >= 15);
  CHECK_STAT(stats_of(TX).acked, 1);
  teardown_dev();
}

static void test_blocking_timeout_is_bounded_and_not_early(void)
{
  struct mbox_sender_s s;
  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  long long t0 = ms_now();
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 50), -ETIMEDOUT);
  long long took = ms_now() - t0;
  CHECK(took >= 49);
  CHECK(took < 1000);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 1);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  CHECK_EQ(g_dev.chans[TX].ntxfinish, 1);   /* transfer aborted */

  /* mbox_send uses the channel timeout (1000 ticks here): an ACK at 30 ms
   * is in time.
   */

  g_dev.chans[TX].auto_ack_ms = 30;
  CHECK_EQ(mbox_send(&s, "y", 1), 0);
  teardown_dev();
}

/* A blocking send on a busy channel waits its turn;
 * several senders can wait; the timeout covers queueing plus ACK.
 */

static void test_blocking_waits_turn_not_eagain(void)
{
  struct sender_s a, b;
  struct mbox_sender_s s;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  CHECK_EQ(mbox_ticksend(&s, "busy", 4, 0), 0);   /* channel busy */
  start_sender(&a, TX, 0xa1, 2000);
  CHECK(wait_buffered(TX, 1));
  start_sender(&b, TX, 0xb2, 2000);
  CHECK(wait_buffered(TX, 2));
  usleep(20000);
  CHECK_EQ(a.result, 12345);                      /* still waiting */
  CHECK_EQ(b.result, 12345);
  g_dev.chans[TX].auto_ack_ms = 5;
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);        /* frees "busy" */
  pthread_join(a.thread, NULL);
  pthread_join(b.thread, NULL);
  CHECK_EQ(a.result, 0);
  CHECK_EQ(b.result, 0);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 1).data[0], 0xa1);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 2).data[0], 0xb2);

  /* Timeout covers queueing: behind a message that never gets its ACK
   * (channel timeout 1000 ms), a 60 ms sender times out while queued and
   * its message is never sent.
   */

  g_dev.chans[TX].auto_ack_ms = -1;
  CHECK_EQ(mbox_ticksend(&s, "stuck", 5, 0), 0);
  int before = fake_nsent(&g_dev.chans[TX]);
  start_sender(&a, TX, 0xc3, 60);
  pthread_join(a.thread, NULL);
  CHECK_EQ(a.result, -ETIMEDOUT);
  CHECK(a.took_ms >= 59 && a.took_ms < 900);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), before);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), before);  /* c3 was withdrawn */
  teardown_dev();
}

/* Two threads blocked on one channel
 * are each woken by their own message, with their own result.
 */

static void test_each_blocked_sender_gets_its_own_result(void)
{
  struct sender_s a, b;
  struct mbox_sender_s s;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  CHECK_EQ(mbox_ticksend(&s, "busy", 4, 0), 0);
  start_sender(&a, TX, 0x01, 3000);               /* T1 enqueues M1 */
  CHECK(wait_buffered(TX, 1));
  start_sender(&b, TX, 0x02, 3000);               /* T2 enqueues M2 */
  CHECK(wait_buffered(TX, 2));

  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);        /* M1 submitted */
  CHECK(wait_nsent(TX, 2));
  usleep(20000);
  CHECK_EQ(a.result, 12345);                      /* nobody woke early */
  CHECK_EQ(b.result, 12345);

  /* M1 is acknowledged: only T1 may wake, with 0. M2's send then fails:
   * T2 gets that error (the blocking send returns the TX error).
   */

  g_dev.chans[TX].send_fail_count = 1;
  g_dev.chans[TX].send_fail_errno = -EIO;
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  pthread_join(a.thread, NULL);
  pthread_join(b.thread, NULL);
  CHECK_EQ(a.result, 0);
  CHECK_EQ(b.result, -EIO);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 1).data[0], 0x01);
  teardown_dev();
}

static void run_in_irq(void *arg)
{
  struct mbox_sender_s *s = arg;
  int *res = s->priv;
  res[0] = mbox_ticksend(s, "i", 1, 10);
  res[1] = mbox_ticksend(s, "i", 1, 0);
}

static void test_blocking_from_interrupt_is_eperm(void)
{
  int res[2] = { 99, 99 };
  struct mbox_sender_s s;
  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  s.priv = res;
  host_run_as_interrupt(run_in_irq, &s);
  CHECK_EQ(res[0], -EPERM);
  CHECK_EQ(res[1], 0);             /* non-blocking is fine in an ISR */
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  teardown_dev();
}

/****************************************************************************
 * Tokens (late, duplicated and stale ACKs; the watchdog race)
 ****************************************************************************/

static void test_spurious_duplicate_and_stale_acks(void)
{
  struct mbox_sender_s s;
  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;

  CHECK_EQ(mbox_chan_tx_done_checked(&g_dev.chans[TX].base), -ENOENT);
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "b", 1, 0), 0);
  uint32_t tok_a = fake_sent(&g_dev.chans[TX], 0).token;
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);           /* a done, b out */
  uint32_t tok_b = fake_sent(&g_dev.chans[TX], 1).token;
  CHECK(tok_a != tok_b);

  /* Duplicate tx_done: the hardware shows no ACK for b. */

  CHECK_EQ(mbox_chan_tx_done_checked(&g_dev.chans[TX].base), -EAGAIN);

  /* A late ACK carrying a's token. */

  CHECK_EQ(mbox_chan_tx_done_token(&g_dev.chans[TX].base, tok_a), -ESRCH);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.spurious_ack, 3);
  CHECK_STAT(st.acked, 1);
  CHECK_EQ(mbox_chan_tx_done_token(&g_dev.chans[TX].base, tok_b), 0);
  CHECK_STAT(stats_of(TX).acked, 2);
  teardown_dev();
}

/* M1 times out; M2 (blocking) goes out; the late ACK
 * of M1 must not make M2's send return 0.
 */

static void test_late_ack_does_not_complete_next(void)
{
  struct mbox_sender_s s;
  struct sender_s b;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  CHECK_EQ(mbox_ticksend(&s, "M1", 2, 30), -ETIMEDOUT);
  uint32_t tok1 = fake_sent(&g_dev.chans[TX], 0).token;
  start_sender(&b, TX, 0x22, 150);
  CHECK(wait_nsent(TX, 2));
  CHECK_EQ(mbox_chan_tx_done_token(&g_dev.chans[TX].base, tok1), -ESRCH);
  pthread_join(b.thread, NULL);
  CHECK_EQ(b.result, -ETIMEDOUT);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.acked, 0);
  CHECK_STAT(st.timeout, 2);
  CHECK_STAT(st.spurious_ack, 1);
  teardown_dev();
}

/* The watchdog race through the real watchdog: many messages whose ACK
 * lands right at their deadline; no message may be timed out by the
 * previous message's watchdog (each result is 0 or -ETIMEDOUT for itself,
 * and every message that was acked in time reports 0).
 */

static void test_watchdog_vs_ack_race(void)
{
  struct mbox_sender_s s;
  int i;
  int ok = 0;
  int to = 0;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  g_dev.chans[TX].auto_ack_ms = 3;
  for (i = 0; i < 60; i++)
    {
      int r = mbox_ticksend(&s, "r", 1, 3);
      CHECK(r == 0 || r == -ETIMEDOUT);
      ok += r == 0;
      to += r == -ETIMEDOUT;
    }

  usleep(20000);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.acked, (size_t)ok);
  CHECK_STAT(st.timeout, (size_t)to);
  CHECK_STAT(st.acked + st.timeout, 60);
  teardown_dev();
}

/****************************************************************************
 * Receive
 ****************************************************************************/

struct rx_probe_s
{
  int calls;
  int ret;
  size_t size;
  uint8_t data[MBOX_MAX_MSG_SIZE];
  bool data_null;
  int nack_seen;
  bool lock_free;
  void *arg;
};

static struct rx_probe_s g_probe;

static void *try_lock_thread(void *arg)
{
  struct mbox_stats_s st;
  (void)arg;
  mbox_chan_get_stats_checked(&g_dev.chans[TX].base, &st);  /* takes the lock */
  return NULL;
}

static int probe_cb(int ret, struct mbox_chan_s *chan, void *arg,
                    void *data, size_t size)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  pthread_t t;

  g_probe.calls++;
  g_probe.ret = ret;
  g_probe.size = size;
  g_probe.arg = arg;
  g_probe.data_null = data == NULL;
  if (data != NULL && size <= sizeof(g_probe.data))
    {
      memcpy(g_probe.data, data, size);
    }

  g_probe.nack_seen = fc->nack;

  /* Another thread must be able to take the framework's lock now: the
   * callback does not run under it. (With the lock held this thread
   * would block until we return; give it 1 s.)
   */

  pthread_create(&t, NULL, try_lock_thread, NULL);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 1;
  g_probe.lock_free = pthread_timedjoin_np(t, NULL, &ts) == 0;
  if (!g_probe.lock_free)
    {
      pthread_join(t, NULL);
    }

  return 0;
}

static void test_rx_ack_then_callback_outside_lock(void)
{
  struct mbox_receiver_s r;
  int arg;

  setup_dev(24, 1000);
  memset(&g_probe, 0, sizeof(g_probe));
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, probe_cb, &arg), 0);
  CHECK_EQ(g_dev.chans[RX].nsetcallback, 1);
  memcpy(g_dev.chans[RX].rx_data, "0123456789abcdefghijklmn", 24);
  g_dev.chans[RX].rx_size = 24;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 24); /* its size */
  CHECK_EQ(g_probe.calls, 1);
  CHECK_EQ(g_probe.ret, 0);
  CHECK_EQ(g_probe.size, 24);
  CHECK(memcmp(g_probe.data, "0123456789abcdefghijklmn", 24) == 0);
  CHECK(g_probe.arg == &arg);
  CHECK_EQ(g_probe.nack_seen, 1);       /* acknowledged before callback */
  CHECK(g_probe.lock_free);
  CHECK_STAT(stats_of(RX).received, 1);

  /* A short message reports its own size. */

  g_dev.chans[RX].rx_size = 3;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 3);
  CHECK_EQ(g_probe.size, 3);

  /* recv failure: the callback hears it with NULL data; counted. */

  g_dev.chans[RX].recv_result = -EIO;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), -EIO);
  CHECK_EQ(g_probe.ret, -EIO);
  CHECK(g_probe.data_null);
  CHECK_STAT(stats_of(RX).rx_dropped, 1);
  teardown_dev();
}

#if !defined(CONFIG_MBOX_MULTI_RX)
/* One receiver per channel, as with the NuttX C driver: a second
 * registration replaces the first (whoever made it), an unregister clears
 * the registration (whoever asks), and the lower half's setcallback hears
 * every change; a refused setcallback changes nothing.
 */

static int g_one_calls[2];

static int one_cb(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                  size_t size)
{
  (void)ret;
  (void)chan;
  (void)data;
  (void)size;
  g_one_calls[(intptr_t)arg]++;
  return 0;
}

static void test_second_receiver_replaces_first_unregister_clears(void)
{
  struct mbox_chan_s *rx;
  struct mbox_receiver_s a;
  struct mbox_receiver_s b;

  setup_dev(24, 1000);
  rx = &g_dev.chans[RX].base;
  a.chan = rx;
  b.chan = rx;
  memset(g_one_calls, 0, sizeof(g_one_calls));
  g_dev.chans[RX].rx_size = 4;
  CHECK_EQ(mbox_register_rxcallback(&a, one_cb, (void *)0), 0);
  CHECK_EQ(mbox_chan_rx_data(rx), 4);
  CHECK_EQ(mbox_register_rxcallback(&b, one_cb, (void *)1), 0);
  CHECK_EQ(mbox_chan_rx_data(rx), 4);
  CHECK_EQ(g_one_calls[0], 1);
  CHECK_EQ(g_one_calls[1], 1);
  CHECK(rx->callback == one_cb);
  CHECK_EQ(g_dev.chans[RX].nsetcallback, 2);

  /* a's unregister clears b's registration. */

  CHECK_EQ(mbox_unregister_rxcallback(&a), 0);
  CHECK(rx->callback == NULL);
  CHECK_EQ(g_dev.chans[RX].nsetcallback, 3);
  CHECK_EQ(mbox_chan_rx_data(rx), 4);
  CHECK_EQ(g_one_calls[0] + g_one_calls[1], 2);
  CHECK_STAT(stats_of(RX).rx_dropped, 1);

  /* Nothing registered: clearing again is not an error. */

  CHECK_EQ(mbox_unregister_rxcallback(&b), 0);

  /* A refused replacement keeps the registration it would replace. */

  CHECK_EQ(mbox_register_rxcallback(&a, one_cb, (void *)0), 0);
  g_dev.chans[RX].setcallback_result = -EIO;
  CHECK_EQ(mbox_register_rxcallback(&b, one_cb, (void *)1), -EIO);
  g_dev.chans[RX].setcallback_result = 0;
  CHECK_EQ(mbox_chan_rx_data(rx), 4);
  CHECK_EQ(g_one_calls[0], 2);
  CHECK_EQ(g_one_calls[1], 1);
  teardown_dev();
}
#endif

/* RX before any callback is registered: received, acknowledged, counted
 * (received and acked as in the NuttX C driver, and rx_dropped).
 */

static void test_rx_without_callback_is_acked_and_counted(void)
{
  struct mbox_receiver_s r;

  setup_dev(24, 1000);
  g_dev.chans[RX].rx_size = 4;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 4);
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 4);
  CHECK_EQ(g_dev.chans[RX].nack, 2);
  struct mbox_stats_s st = stats_of(RX);
  CHECK_STAT(st.rx_dropped, 2);
  CHECK_STAT(st.received, 2);
  CHECK_STAT(st.acked, 2);

  /* After unregistering, too. */

  memset(&g_probe, 0, sizeof(g_probe));
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, probe_cb, NULL), 0);
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 4);
  CHECK_EQ(mbox_unregister_rxcallback(&r), 0);
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 4);
  CHECK_EQ(g_probe.calls, 1);
  st = stats_of(RX);
  CHECK_STAT(st.rx_dropped, 3);
  CHECK_STAT(st.received, 4);
  CHECK_STAT(st.acked, 4);
  teardown_dev();
}

/* An RX channel without a buffer receives on the stack, up to
 * MBOX_MAX_MSG_SIZE (128) bytes: also a lower half that declares no MTU,
 * whose MTU is then 128.
 */

static void test_rx_on_stack_without_buffer_up_to_128_bytes(void)
{
  struct mbox_receiver_s r;
  fake_dev_init(&g_dev, 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[RX].base, &g_dev.base, MBOX_RX,
                          NULL, 0), 0);
  CHECK_EQ(mbox_chan_mtu(&g_dev.chans[RX].base), MBOX_MAX_MSG_SIZE);
  memset(&g_probe, 0, sizeof(g_probe));
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, probe_cb, NULL), 0);
  memset(g_dev.chans[RX].rx_data, 0x3c, MBOX_MAX_MSG_SIZE);
  g_dev.chans[RX].rx_size = MBOX_MAX_MSG_SIZE;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), MBOX_MAX_MSG_SIZE);
  CHECK_EQ(g_probe.size, MBOX_MAX_MSG_SIZE);
  CHECK_EQ(g_probe.data[MBOX_MAX_MSG_SIZE - 1], 0x3c);
  teardown_dev();

  /* An MTU above 128 without an RX buffer is refused at init. */

  fake_dev_init(&g_dev, MBOX_MAX_MSG_SIZE + 1);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[RX].base, &g_dev.base, MBOX_RX,
                          NULL, 0), -EINVAL);
  teardown_dev();
}

/* Critical sections the calling thread takes in one mbox_chan_rx_data(). */

static unsigned long rx_critical_sections(int *ret)
{
  unsigned long before = host_critical_entries();

  *ret = mbox_chan_rx_data(&g_dev.chans[RX].base);
  return host_critical_entries() - before;
}

/* Every outcome of a reception (delivered to a receiver, dropped without
 * one, recv error, size above the MTU, not complete yet, channel busy)
 * takes at most one critical section: on an RTOS each is an interrupt
 * mask round trip, in a simulator a pair of system calls.
 */

static void test_reception_takes_at_most_one_critical_section(void)
{
  struct mbox_receiver_s r;
  int ret;

  setup_dev(24, 1000);
  g_dev.chans[RX].rx_size = 4;
  CHECK(rx_critical_sections(&ret) <= 1);     /* no receiver: dropped */
  CHECK_EQ(ret, 4);

  memset(&g_probe, 0, sizeof(g_probe));
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, probe_cb, NULL), 0);
  g_dev.chans[RX].rx_size = 24;
  CHECK(rx_critical_sections(&ret) <= 1);     /* delivered */
  CHECK_EQ(ret, 24);
  CHECK_EQ(g_probe.calls, 1);

  g_dev.chans[RX].recv_result = 25;          /* reports 25 of MTU 24 */
  CHECK(rx_critical_sections(&ret) <= 1);     /* above the MTU */
  CHECK_EQ(ret, -EMSGSIZE);

  g_dev.chans[RX].rx_size = 4;
  g_dev.chans[RX].recv_result = -EIO;
  CHECK(rx_critical_sections(&ret) <= 1);     /* recv error */
  CHECK_EQ(ret, -EIO);

  g_dev.chans[RX].recv_result = -EAGAIN;
  CHECK(rx_critical_sections(&ret) <= 1);     /* not complete yet */
  CHECK_EQ(ret, -EAGAIN);
  g_dev.chans[RX].recv_result = 0;

  CHECK(rx_critical_sections(&ret) <= 1);     /* the claim is free again */
  CHECK_EQ(ret, 4);
  CHECK_STAT(stats_of(RX).received, 3);
  teardown_dev();
}

/****************************************************************************
 * Teardown
 ****************************************************************************/

static void test_deinit_wakes_blocked_senders_with_ecanceled(void)
{
  struct sender_s a, b;
  struct mbox_sender_s s;

  setup_dev(24, 1000);
  s.chan = &g_dev.chans[TX].base;
  start_sender(&a, TX, 0x0a, MBOX_WAIT_FOREVER);  /* in flight */
  CHECK(wait_nsent(TX, 1));
  start_sender(&b, TX, 0x0b, MBOX_WAIT_FOREVER);  /* queued */
  CHECK(wait_buffered(TX, 1));
  CHECK_EQ(mbox_ticksend(&s, "q1", 2, 0), 0);
  CHECK_EQ(mbox_ticksend(&s, "q2", 2, 0), 0);

  CHECK_EQ(mbox_chan_deinit(&g_dev.chans[TX].base), 0);
  pthread_join(a.thread, NULL);
  pthread_join(b.thread, NULL);
  CHECK_EQ(a.result, -ECANCELED);
  CHECK_EQ(b.result, -ECANCELED);
  CHECK_EQ(g_dev.chans[TX].nshutdown, 1);
  struct mbox_stats_s st = stats_of(TX);      /* readable after deinit */
  CHECK_STAT(st.cancelled, 4);

  /* Nothing runs on the dead channel: no late timeout, sends refused. */

  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_checked(&g_dev.chans[TX].base), -EINVAL);
  teardown_dev();
}

static void test_deinit_stops_watchdog(void)
{
  struct mbox_sender_s s;
  setup_dev(24, 20);
  s.chan = &g_dev.chans[TX].base;
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), 0);   /* watchdog at 20 ms */
  CHECK_EQ(mbox_chan_deinit(&g_dev.chans[TX].base), 0);
  usleep(60000);
  struct mbox_stats_s st = stats_of(TX);
  CHECK_STAT(st.timeout, 0);
  CHECK_STAT(st.cancelled, 1);
  teardown_dev();
}

/****************************************************************************
 * Init and de-init racing
 ****************************************************************************/

/* Two tasks initialise the same channel at the same moment, round after
 * round: exactly one gets 0, the other -EBUSY, and setup runs once.
 */

#define INIT_RACE_ROUNDS  20000
#define INIT_RACE_MAX_MS  3000

static struct
{
  atomic_int round;                 /* the round the workers may start */
  atomic_int done;                  /* results stored in this round */
  atomic_bool stop;
  int result[2];
} g_irace;

static void *init_racer(void *arg)
{
  int me = (int)(intptr_t)arg;
  int seen = 0;

  for (; ; )
    {
      int r;

      while ((r = atomic_load(&g_irace.round)) == seen &&
             !atomic_load(&g_irace.stop))
        {
          sched_yield();
        }

      if (atomic_load(&g_irace.stop))
        {
          return NULL;
        }

      seen = r;
      g_irace.result[me] = mbox_chan_init(&g_dev.chans[3].base, &g_dev.base,
                                          MBOX_TX, NULL, 0);
      atomic_fetch_add(&g_irace.done, 1);
    }
}

static void test_concurrent_init_of_one_channel_has_one_winner(void)
{
  struct fake_chan_s *fc = &g_dev.chans[3];
  pthread_t t[2];
  long long end;
  int rounds = 0;
  int bad = 0;
  int i;

  setup_dev(24, 10);
  atomic_store(&g_irace.round, 0);
  atomic_store(&g_irace.done, 0);
  atomic_store(&g_irace.stop, false);
  for (i = 0; i < 2; i++)
    {
      pthread_create(&t[i], NULL, init_racer, (void *)(intptr_t)i);
    }

  end = ms_now() + INIT_RACE_MAX_MS;
  while (rounds < INIT_RACE_ROUNDS && ms_now() < end && bad == 0)
    {
      int ok;
      int busy;

      g_irace.result[0] = g_irace.result[1] = 12345;
      atomic_store(&g_irace.done, 0);
      atomic_store(&g_irace.round, ++rounds);
      while (atomic_load(&g_irace.done) < 2)
        {
          sched_yield();
        }

      ok = (g_irace.result[0] == 0) + (g_irace.result[1] == 0);
      busy = (g_irace.result[0] == -EBUSY) + (g_irace.result[1] == -EBUSY);
      if (ok != 1 || busy != 1 || fake_read(fc, &fc->nsetup) != rounds)
        {
          printf("#   round %d: init returned %d and %d, setup ran %d "
                 "times\n", rounds, g_irace.result[0], g_irace.result[1],
                 fake_read(fc, &fc->nsetup));
          bad++;
        }

      CHECK_EQ(mbox_chan_deinit(&fc->base), 0);
    }

  atomic_store(&g_irace.stop, true);
  for (i = 0; i < 2; i++)
    {
      pthread_join(t[i], NULL);
    }

  printf("#   %d rounds\n", rounds);
  CHECK_EQ(bad, 0);
  CHECK(rounds >= 100);
  teardown_dev();
}

/* A slow TX-done callback keeps a de-init waiting; meanwhile the channel
 * is busy: a new init is -EBUSY (it would get a watchdog and a lower half
 * that the de-init is about to destroy and shut down), a second de-init
 * too. Once the de-init returned, the channel initialises and sends.
 */

static struct
{
  atomic_int calls;
  atomic_bool entered;
  atomic_bool hold;                 /* callbacks wait while set (<= 5 s) */
} g_slow;

static void slow_callback(void)
{
  long long end = ms_now() + 5000;

  atomic_fetch_add(&g_slow.calls, 1);
  atomic_store(&g_slow.entered, true);
  while (atomic_load(&g_slow.hold) && ms_now() < end)
    {
      usleep(1000);
    }
}

#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
static void slow_txdone(struct mbox_sender_s *sender, void *arg, int result)
{
  (void)sender;
  (void)arg;
  (void)result;
  slow_callback();
}
#endif

static int slow_rx(int ret, struct mbox_chan_s *chan, void *arg,
                   void *data, size_t size)
{
  (void)ret; (void)chan; (void)arg; (void)data; (void)size;
  slow_callback();
  return 0;
}

struct deinit_s
{
  pthread_t thread;
  struct mbox_chan_s *chan;
  int result;
};

static void *deinit_main(void *arg)
{
  struct deinit_s *d = arg;
  d->result = mbox_chan_deinit(d->chan);
  return NULL;
}

static void *rx_main(void *arg)
{
  *(int *)arg = mbox_chan_rx_data(&g_dev.chans[RX].base);
  return NULL;
}

static bool wait_entered(void)
{
  long long end = ms_now() + 3000;
  while (!atomic_load(&g_slow.entered))
    {
      if (ms_now() > end)
        {
          return false;
        }

      usleep(1000);
    }

  return true;
}

#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
static void test_init_while_deinit_waits_is_ebusy(void)
{
  struct mbox_chan_s *tx = &g_dev.chans[TX].base;
  struct mbox_sender_s s;
  struct deinit_s d;

  setup_dev(24, 1000);
  s.chan = tx;
  atomic_store(&g_slow.calls, 0);
  atomic_store(&g_slow.entered, false);
  atomic_store(&g_slow.hold, true);
  CHECK_EQ(mbox_register_txdone(&s, slow_txdone, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, "x", 1, 0), 0);       /* in flight */

  /* The de-init cancels it and waits out its TX-done callback. */

  d.chan = tx;
  d.result = 12345;
  pthread_create(&d.thread, NULL, deinit_main, &d);
  CHECK(wait_entered());
  CHECK_EQ(mbox_chan_init(tx, &g_dev.base, MBOX_TX, g_ring, sizeof(g_ring)),
           -EBUSY);
  CHECK_EQ(mbox_chan_deinit(tx), -EBUSY);
  CHECK_EQ(mbox_ticksend(&s, "y", 1, 0), -EINVAL);
  atomic_store(&g_slow.hold, false);
  pthread_join(d.thread, NULL);
  CHECK_EQ(d.result, 0);
  CHECK_EQ(atomic_load(&g_slow.calls), 1);
  CHECK_EQ(g_dev.chans[TX].nsetup, 1);
  CHECK_EQ(g_dev.chans[TX].nshutdown, 1);

  /* Done: the channel starts afresh, with a working watchdog. */

  CHECK_EQ(mbox_chan_init(tx, &g_dev.base, MBOX_TX, g_ring, sizeof(g_ring)),
           0);
  CHECK_EQ(g_dev.chans[TX].nsetup, 2);
  CHECK_EQ(mbox_ticksend(&s, "z", 1, 0), 0);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  CHECK_EQ(mbox_chan_deinit(tx), 0);
  CHECK_EQ(g_dev.chans[TX].nshutdown, 2);
  teardown_dev();
}
#endif

/* The same while the de-init waits for a reception still in its client
 * callback.
 */

static void test_init_while_deinit_waits_for_reception_is_ebusy(void)
{
  struct mbox_chan_s *rx = &g_dev.chans[RX].base;
  struct mbox_receiver_s r;
  struct deinit_s d;
  pthread_t rt;
  long long end;
  int rxret = 12345;

  setup_dev(24, 1000);
  r.chan = rx;
  atomic_store(&g_slow.calls, 0);
  atomic_store(&g_slow.entered, false);
  atomic_store(&g_slow.hold, true);
  CHECK_EQ(mbox_register_rxcallback(&r, slow_rx, NULL), 0);
  g_dev.chans[RX].rx_size = 4;
  pthread_create(&rt, NULL, rx_main, &rxret);
  CHECK(wait_entered());

  d.chan = rx;
  d.result = 12345;
  pthread_create(&d.thread, NULL, deinit_main, &d);
  end = ms_now() + 3000;
  while (mbox_chan_mtu(rx) > 0 && ms_now() < end)  /* de-init started */
    {
      usleep(1000);
    }

  CHECK_EQ(mbox_chan_init(rx, &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), -EBUSY);
  CHECK_EQ(mbox_chan_deinit(rx), -EBUSY);

  /* The de-init does not return while the reception's callback runs. */

  usleep(20000);
  CHECK_EQ(__atomic_load_n(&d.result, __ATOMIC_ACQUIRE), 12345);
  atomic_store(&g_slow.hold, false);
  pthread_join(rt, NULL);
  pthread_join(d.thread, NULL);
  CHECK_EQ(rxret, 4);
  CHECK_EQ(d.result, 0);
  CHECK_EQ(g_dev.chans[RX].nshutdown, 1);

  CHECK_EQ(mbox_chan_init(rx, &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), 0);
  CHECK_EQ(mbox_register_rxcallback(&r, slow_rx, NULL), 0);
  CHECK_EQ(mbox_chan_rx_data(rx), 4);
  CHECK_EQ(atomic_load(&g_slow.calls), 2);
  teardown_dev();
}

int main(void)
{
  RUN(test_null_arguments);
  RUN(test_uninitialised_and_wrong_direction);
  RUN(test_init_validation);
  RUN(test_oversize_is_emsgsize_at_the_call);
  RUN(test_nonblocking_queue_order_and_full);
  RUN(test_silent_remote_does_not_stall_channel);
  RUN(test_queued_send_error_counted_rest_in_order);
  RUN(test_blocking_send_returns_after_ack);
  RUN(test_blocking_timeout_is_bounded_and_not_early);
  RUN(test_blocking_waits_turn_not_eagain);
  RUN(test_each_blocked_sender_gets_its_own_result);
  RUN(test_blocking_from_interrupt_is_eperm);
  RUN(test_spurious_duplicate_and_stale_acks);
  RUN(test_late_ack_does_not_complete_next);
  RUN(test_watchdog_vs_ack_race);
  RUN(test_rx_ack_then_callback_outside_lock);
#if !defined(CONFIG_MBOX_MULTI_RX)
  RUN(test_second_receiver_replaces_first_unregister_clears);
#endif
  RUN(test_rx_without_callback_is_acked_and_counted);
  RUN(test_rx_on_stack_without_buffer_up_to_128_bytes);
  RUN(test_reception_takes_at_most_one_critical_section);
  RUN(test_deinit_wakes_blocked_senders_with_ecanceled);
  RUN(test_deinit_stops_watchdog);
  RUN(test_concurrent_init_of_one_channel_has_one_winner);
#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
  RUN(test_init_while_deinit_waits_is_ebusy);
#endif
  RUN(test_init_while_deinit_waits_for_reception_is_ebusy);
  host_shutdown();
  return harness_finish();
}
