/****************************************************************************
 * ctest/test_bad_input.c
 *
 * What the upper half does with values no correct caller or lower half
 * produces, on the host port with the scriptable fake lower half: a
 * `recv` result that does not fit an int, sizes that no object can have
 * (above PTRDIFF_MAX), NULL message data, and which pointer a 0-byte
 * message reaches the lower half with. Every such input gets a clear
 * negative errno before anything is built from it; run against the debug
 * archive (`make test-debug`) a size that reached slice::from_raw_parts
 * would abort the program.
 ****************************************************************************/

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>

#include "fake_lower.h"
#include "harness.h"
#include "host.h"

#define TX  0
#define RX  2
#define SPARE 3

#define MTU 24

/* Without CONFIG_MBOX_TRACE there are no statistics to check. */

#ifdef CONFIG_MBOX_TRACE
#  define CHECK_STAT(a, b) CHECK_EQ(a, b)
#else
#  define CHECK_STAT(a, b) do { } while (0)
#endif

static struct fake_dev_s g_dev;
static uint8_t g_ring[256];
static uint8_t g_rxbuf[256];
static uint8_t g_spare[256];

/* Sizes that no object can have: slice::from_raw_parts requires at most
 * PTRDIFF_MAX bytes.
 */

static const size_t g_huge[] =
{
  (size_t)PTRDIFF_MAX + 1,
  SIZE_MAX,
};

#define NHUGE (sizeof(g_huge) / sizeof(g_huge[0]))

/* Channel 0 TX (queue in g_ring, timeout 1000 ticks), channel 2 RX. */

static void setup_dev(void)
{
  fake_dev_init(&g_dev, MTU);
  g_dev.chans[TX].base.timeout = 1000;
  CHECK_EQ(mbox_chan_init(&g_dev.chans[TX].base, &g_dev.base, MBOX_TX,
                          g_ring, sizeof(g_ring)), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[RX].base, &g_dev.base, MBOX_RX,
                          g_rxbuf, sizeof(g_rxbuf)), 0);
}

static void teardown_dev(void)
{
  int i;

  for (i = 0; i < FAKE_NCHANS; i++)
    {
      mbox_chan_deinit(&g_dev.chans[i].base);
    }

  fake_dev_stop(&g_dev);
}

#ifdef CONFIG_MBOX_TRACE
static struct mbox_stats_s stats_of(int i)
{
  struct mbox_stats_s st;
  memset(&st, 0xa5, sizeof(st));
  CHECK_EQ(mbox_chan_get_stats_checked(&g_dev.chans[i].base, &st), 0);
  return st;
}
#endif

static bool wait_nsent(int n)
{
  int64_t end = now_ms() + 3000;
  while (fake_nsent(&g_dev.chans[TX]) < n)
    {
      if (now_ms() > end)
        {
          return false;
        }

      sleep_ms(1);
    }

  return true;
}

/****************************************************************************
 * RX probe
 ****************************************************************************/

static struct
{
  int calls;
  int ret;
  void *data;
  size_t size;
} g_rx;

static int rx_probe(int ret, struct mbox_chan_s *chan, void *arg,
                    void *data, size_t size)
{
  (void)chan;
  (void)arg;
  g_rx.calls++;
  g_rx.ret = ret;
  g_rx.data = data;
  g_rx.size = size;
  return 0;
}

/* One reception whose `recv` returns `value`: the result of
 * mbox_chan_rx_data() and what the callback got must both be `expect`,
 * with no data, and the message must not be acknowledged.
 */

static void check_recv_value(int value, int expect)
{
  int nack = fake_read(&g_dev.chans[RX], &g_dev.chans[RX].nack);
  int r;

  memset(&g_rx, 0, sizeof(g_rx));
  g_rx.data = &g_rx;
  g_dev.chans[RX].recv_result = value;
  r = mbox_chan_rx_data(&g_dev.chans[RX].base);
  if (r != expect)
    {
      printf("#   recv returned %d\n", value);
    }

  CHECK_EQ(r, expect);
  CHECK_EQ(g_rx.calls, 1);
  CHECK_EQ(g_rx.ret, expect);
  CHECK(g_rx.data == NULL);
  CHECK_EQ(g_rx.size, 0);
  CHECK_EQ(fake_read(&g_dev.chans[RX], &g_dev.chans[RX].nack), nack);
}

/****************************************************************************
 * recv results
 ****************************************************************************/

/* `recv` returns an int (the NuttX C driver's type): a negative value is
 * an error. One that is no errno (below -MBOX_MAX_ERRNO) becomes -EIO; it
 * is never taken as a size.
 */

static void test_negative_recv_result_below_any_errno_is_eio(void)
{
  struct mbox_receiver_s r = { &g_dev.chans[RX].base, NULL };

  setup_dev();
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, rx_probe, NULL), 0);

  check_recv_value(INT_MIN, -EIO);
  check_recv_value(INT_MIN + 5, -EIO);
  check_recv_value(-65536, -EIO);
  check_recv_value(-(MBOX_MAX_ERRNO + 1), -EIO);

  /* Errno values pass through unchanged. */

  check_recv_value(-MBOX_MAX_ERRNO, -MBOX_MAX_ERRNO);
  check_recv_value(-ENODEV, -ENODEV);
  CHECK_STAT(stats_of(RX).rx_dropped, 6);
  CHECK_STAT(stats_of(RX).received, 0);

  /* The channel still receives normally. */

  g_dev.chans[RX].recv_result = 0;
  memcpy(g_dev.chans[RX].rx_data, "hello", 5);
  g_dev.chans[RX].rx_size = 5;
  memset(&g_rx, 0, sizeof(g_rx));
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 5);
  CHECK_EQ(g_rx.ret, 0);
  CHECK_EQ(g_rx.size, 5);
  CHECK(g_rx.data != NULL && memcmp(g_rx.data, "hello", 5) == 0);
  teardown_dev();
}

/* A size above the MTU is -EMSGSIZE however large. */

static void test_recv_size_above_mtu_is_emsgsize(void)
{
  struct mbox_receiver_s r = { NULL, NULL };

  setup_dev();
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, rx_probe, NULL), 0);
  check_recv_value(MTU + 1, -EMSGSIZE);
  check_recv_value(65536 + 4, -EMSGSIZE);
  check_recv_value(INT_MAX, -EMSGSIZE);
  CHECK_STAT(stats_of(RX).rx_dropped, 3);
  teardown_dev();
}

/* The ends of the message range: 0 and MTU bytes are messages (delivered
 * with their data, acknowledged), -1 is an errno passed through.
 */

static void test_recv_sizes_zero_and_mtu_are_messages(void)
{
  struct mbox_receiver_s r = { NULL, NULL };
  int nack;

  setup_dev();
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, rx_probe, NULL), 0);
  nack = fake_read(&g_dev.chans[RX], &g_dev.chans[RX].nack);

  memset(&g_rx, 0, sizeof(g_rx));
  g_dev.chans[RX].rx_size = 0;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 0);
  CHECK_EQ(g_rx.calls, 1);
  CHECK_EQ(g_rx.ret, 0);
  CHECK(g_rx.data != NULL);
  CHECK_EQ(g_rx.size, 0);

  memset(&g_rx, 0, sizeof(g_rx));
  g_dev.chans[RX].rx_size = MTU;
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), MTU);
  CHECK_EQ(g_rx.ret, 0);
  CHECK(g_rx.data != NULL);
  CHECK_EQ(g_rx.size, MTU);
  CHECK_EQ(fake_read(&g_dev.chans[RX], &g_dev.chans[RX].nack), nack + 2);

  check_recv_value(-1, -1);
  CHECK_STAT(stats_of(RX).received, 2);
  teardown_dev();
}

/****************************************************************************
 * Sizes beyond any object
 ****************************************************************************/

#if defined(CONFIG_MBOX_RR)
static int tag_first_byte(const void *data, size_t size, uint32_t *tag)
{
  if (size < 1)
    {
      return -EBADMSG;
    }

  *tag = ((const uint8_t *)data)[0];
  return 0;
}
#endif

/* A size above PTRDIFF_MAX is refused at the call, before anything is
 * built from it: above the MTU on the send paths (-EMSGSIZE), an invalid
 * buffer for mbox_chan_init() and for a reply buffer (-EINVAL).
 */

static void test_size_above_ptrdiff_max_is_refused_before_use(void)
{
  struct mbox_sender_s s = { NULL, NULL };
#if defined(CONFIG_MBOX_RR)
  struct mbox_receiver_s rx = { NULL, NULL };
  struct mbox_rr_s rr;
  uint8_t resp[8];
#endif
  uint8_t buf[8] = { 7, 'q', 0 };
  size_t i;

  setup_dev();
  s.chan = &g_dev.chans[TX].base;
#if defined(CONFIG_MBOX_RR)
  rx.chan = &g_dev.chans[RX].base;
  memset(&rr, 0, sizeof(rr));
  CHECK_EQ(mbox_rr_init(&rr, &s, &rx, tag_first_byte, NULL, NULL), 0);
#endif
  for (i = 0; i < NHUGE; i++)
    {
      size_t n = g_huge[i];

      CHECK_EQ(mbox_ticksend(&s, buf, n, 0), -EMSGSIZE);
      CHECK_EQ(mbox_ticksend(&s, buf, n, 10), -EMSGSIZE);
      CHECK_EQ(mbox_send(&s, buf, n), -EMSGSIZE);
#if defined(CONFIG_MBOX_TXDONE_METHODS)
      CHECK_EQ(mbox_send_poll(&s, buf, n, 10), -EMSGSIZE);
#endif
#if defined(CONFIG_MBOX_RR)
      CHECK_EQ(mbox_rr_request(&rr, buf, n, resp, sizeof(resp), NULL, 100),
               -EMSGSIZE);
      CHECK_EQ(mbox_rr_request(&rr, buf, 3, resp, n, NULL, 100), -EINVAL);
#endif

      /* A channel buffer of that size: refused, the channel stays free. */

      CHECK_EQ(mbox_chan_init(&g_dev.chans[SPARE].base, &g_dev.base,
                              MBOX_TX, g_spare, n), -EINVAL);
      CHECK_EQ(mbox_chan_init(&g_dev.chans[SPARE].base, &g_dev.base,
                              MBOX_RX, g_spare, n), -EINVAL);
    }

  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);
  CHECK_EQ(g_dev.chans[SPARE].nsetup, 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[SPARE].base, &g_dev.base, MBOX_TX,
                          g_spare, sizeof(g_spare)), 0);
#if defined(CONFIG_MBOX_RR)
  CHECK_EQ(mbox_rr_deinit(&rr), 0);
#endif
  teardown_dev();
}

/****************************************************************************
 * NULL data and 0-byte messages
 ****************************************************************************/

#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
static struct
{
  int calls;
  int result;
} g_txdone;

static void txdone_probe(struct mbox_sender_s *sender, void *arg,
                         int result)
{
  (void)sender;
  (void)arg;
  g_txdone.calls++;
  g_txdone.result = result;
}
#endif

/* NULL data is refused with -EINVAL whatever the size, on every send
 * entry point, and nothing reaches the lower half.
 */

static void test_null_data_is_einval_on_every_send_entry_point(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  struct mbox_sender_s cl = { NULL, NULL };
#if defined(CONFIG_MBOX_RR)
  struct mbox_receiver_s rx = { NULL, NULL };
  struct mbox_rr_s rr;
  uint8_t resp[8];
#endif

  setup_dev();
  s.chan = &g_dev.chans[TX].base;
  cl.chan = &g_dev.chans[TX].base;
#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
  memset(&g_txdone, 0, sizeof(g_txdone));
  CHECK_EQ(mbox_register_txdone(&cl, txdone_probe, NULL), 0);
#endif
#if defined(CONFIG_MBOX_RR)
  rx.chan = &g_dev.chans[RX].base;
  memset(&rr, 0, sizeof(rr));
  CHECK_EQ(mbox_rr_init(&rr, &s, &rx, NULL, NULL, NULL), 0);
#endif

  CHECK_EQ(mbox_send(&s, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&s, NULL, 0, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&s, NULL, 0, 10), -EINVAL);
  CHECK_EQ(mbox_ticksend(&s, NULL, 0, 50), -EINVAL);
#if defined(CONFIG_MBOX_TXDONE_METHODS)
  CHECK_EQ(mbox_send_poll(&s, NULL, 0, 10), -EINVAL);
  CHECK_EQ(mbox_send_poll(&s, NULL, 4, 10), -EINVAL);
#endif
  CHECK_EQ(mbox_ticksend(&cl, NULL, 0, 0), -EINVAL);   /* TX-done client */
  CHECK_EQ(mbox_send(&s, NULL, 4), -EINVAL);
#if defined(CONFIG_MBOX_RR)
  CHECK_EQ(mbox_rr_request(&rr, NULL, 0, resp, sizeof(resp), NULL, 100),
           -EINVAL);
  CHECK_EQ(mbox_rr_request(&rr, NULL, 4, resp, sizeof(resp), NULL, 100),
           -EINVAL);
#endif

  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);
  CHECK_STAT(stats_of(TX).send_err, 0);
#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
  CHECK_EQ(g_txdone.calls, 0);
#endif
#if defined(CONFIG_MBOX_RR)
  CHECK_EQ(mbox_rr_deinit(&rr), 0);
#endif
  teardown_dev();
}

/* A 0-byte message sent at once reaches the lower half with the caller's
 * own pointer (a lower half may look at it), on every send path.
 */

static void test_zero_byte_direct_send_passes_callers_buffer(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  uint32_t word = 0x12345678;

  setup_dev();
  s.chan = &g_dev.chans[TX].base;

  /* Non-blocking. */

  CHECK_EQ(mbox_ticksend(&s, &word, 0, 0), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  CHECK(fake_sent(&g_dev.chans[TX], 0).ptr == (const void *)&word);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 0).size, 0);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);

  /* Blocking, with a timeout and with the channel's (the remote ACKs). */

  g_dev.chans[TX].auto_ack_ms = 0;
  CHECK_EQ(mbox_ticksend(&s, &word, 0, 1000), 0);
  CHECK_EQ(mbox_send(&s, &word, 0), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 3);
  CHECK(fake_sent(&g_dev.chans[TX], 1).ptr == (const void *)&word);
  CHECK(fake_sent(&g_dev.chans[TX], 2).ptr == (const void *)&word);

#if defined(CONFIG_MBOX_TXDONE_METHODS)
  /* Polling. */

  g_dev.chans[TX].auto_ack_ms = -1;
  g_dev.chans[TX].ack_on_send = true;
  CHECK_EQ(mbox_send_poll(&s, &word, 0, 100), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 4);
  CHECK(fake_sent(&g_dev.chans[TX], 3).ptr == (const void *)&word);
#endif
  teardown_dev();
}

struct blocked_s
{
  pthread_t thread;
  struct mbox_sender_s sender;
  uint32_t word;
  int result;
};

static void *blocked_main(void *arg)
{
  struct blocked_s *b = arg;
  b->result = mbox_ticksend(&b->sender, &b->word, 0, 3000);
  return NULL;
}

/* A 0-byte message that had to wait reaches the lower half with real
 * memory: a non-blocking one (copied into the queue) with an address
 * inside the caller-supplied queue buffer, a blocked sender's with its
 * own buffer.
 */

static void test_zero_byte_queued_send_points_into_queue_buffer(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  struct blocked_s b;
  uint32_t word = 0x12345678;
  const uint8_t *p;

  setup_dev();
  s.chan = &g_dev.chans[TX].base;
  CHECK_EQ(mbox_ticksend(&s, "a", 1, 0), 0);        /* in flight */
  CHECK_EQ(mbox_ticksend(&s, &word, 0, 0), 0);      /* queued */
  CHECK_STAT(stats_of(TX).buffered, 1);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);          /* starts it */
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 2);
  p = fake_sent(&g_dev.chans[TX], 1).ptr;
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 1).size, 0);
  CHECK(p >= g_ring && p < g_ring + sizeof(g_ring));

  /* A blocked sender's 0-byte message behind the one in flight. */

  memset(&b, 0, sizeof(b));
  b.sender.chan = &g_dev.chans[TX].base;
  b.word = 0xcafe;
  b.result = 12345;
  pthread_create(&b.thread, NULL, blocked_main, &b);
#ifdef CONFIG_MBOX_TRACE
  int64_t end = now_ms() + 3000;
  while (stats_of(TX).buffered < 1 && now_ms() < end)
    {
      sleep_ms(1);
    }
#else
  sleep_ms(100);
#endif
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 2);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  CHECK(wait_nsent(3));
  CHECK(fake_sent(&g_dev.chans[TX], 2).ptr == (const void *)&b.word);
  CHECK_EQ(fake_ack(&g_dev.chans[TX]), 0);
  pthread_join(b.thread, NULL);
  CHECK_EQ(b.result, 0);
  teardown_dev();
}

#if defined(CONFIG_MBOX_TXFIFO)
/* The same with a controller FIFO (txdepth 2): the in-flight slots take
 * the start of the buffer, the queued record still lies inside it.
 */

static void test_zero_byte_queued_send_with_fifo_points_into_buffer(void)
{
  struct mbox_sender_s s = { NULL, NULL };
  uint32_t word = 0;
  const uint8_t *p;
  int i;

  fake_dev_init_fifo(&g_dev, MTU, 2);
  g_dev.chans[TX].base.timeout = 1000;
  CHECK_EQ(mbox_chan_init(&g_dev.chans[TX].base, &g_dev.base, MBOX_TX,
                          g_ring, sizeof(g_ring)), 0);
  s.chan = &g_dev.chans[TX].base;
  for (i = 0; i < 2; i++)
    {
      CHECK_EQ(mbox_ticksend(&s, "ab", 2, 0), 0);   /* both in flight */
    }

  CHECK_EQ(mbox_ticksend(&s, &word, 0, 0), 0);      /* queued */
  CHECK_EQ(fake_fifo_ack(&g_dev.chans[TX]), 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 3);
  p = fake_sent(&g_dev.chans[TX], 2).ptr;
  CHECK(p >= g_ring && p < g_ring + sizeof(g_ring));
  teardown_dev();
}
#endif

int main(void)
{
  RUN(test_negative_recv_result_below_any_errno_is_eio);
  RUN(test_recv_size_above_mtu_is_emsgsize);
  RUN(test_recv_sizes_zero_and_mtu_are_messages);
  RUN(test_size_above_ptrdiff_max_is_refused_before_use);
  RUN(test_null_data_is_einval_on_every_send_entry_point);
  RUN(test_zero_byte_direct_send_passes_callers_buffer);
  RUN(test_zero_byte_queued_send_points_into_queue_buffer);
#if defined(CONFIG_MBOX_TXFIFO)
  RUN(test_zero_byte_queued_send_with_fifo_points_into_buffer);
#endif
  host_shutdown();
  return harness_finish();
}
