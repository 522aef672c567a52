/****************************************************************************
 * ctest/test_bad_input.c
 *
 * What the upper half does with values no correct lower half produces, on
 * the host port with the scriptable fake lower half: a `recv` result that
 * does not fit an int. Every such input gets a clear negative errno.
 ****************************************************************************/

#define _GNU_SOURCE
#include <errno.h>
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

#define MTU 24

#ifdef CONFIG_MBOX_TRACE
#  define CHECK_STAT(a, b) CHECK_EQ(a, b)
#else
#  define CHECK_STAT(a, b) ((void)(a), (void)(b))
#endif

static struct fake_dev_s g_dev;
static uint8_t g_ring[256];
static uint8_t g_rxbuf[256];

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
  CHECK_EQ(mbox_chan_get_stats(&g_dev.chans[i].base, &st), 0);
  return st;
}
#endif

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

static void check_recv_value(ssize_t value, int expect)
{
  int nack = fake_read(&g_dev.chans[RX], &g_dev.chans[RX].nack);
  int r;

  memset(&g_rx, 0, sizeof(g_rx));
  g_rx.data = &g_rx;
  g_dev.chans[RX].recv_result = value;
  r = mbox_chan_rx_data(&g_dev.chans[RX].base);
  if (r != expect)
    {
      printf("#   recv returned %zd\n", value);
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

/* `recv` returns a ptrdiff_t: a negative value is an error whatever its
 * width. One that is no errno (below -MBOX_MAX_ERRNO) becomes -EIO; it
 * is never taken as a size, and its low 32 bits never become the result.
 */

static void test_negative_recv_result_wider_than_int_is_eio(void)
{
  struct mbox_receiver_s r = { &g_dev.chans[RX].base, NULL };

  setup_dev();
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, rx_probe, NULL), 0);

  check_recv_value(-((ssize_t)1 << 32), -EIO);       /* low half 0 */
  check_recv_value(-((ssize_t)1 << 32) + 5, -EIO);   /* low half +5 */
  check_recv_value(PTRDIFF_MIN, -EIO);
  check_recv_value((ssize_t)INT32_MIN, -EIO);
  check_recv_value(-(MBOX_MAX_ERRNO + 1), -EIO);

  /* Errno values pass through unchanged. */

  check_recv_value(-MBOX_MAX_ERRNO, -MBOX_MAX_ERRNO);
  check_recv_value(-ENODEV, -ENODEV);
  CHECK_STAT(stats_of(RX).rx_dropped, 7);
  CHECK_STAT(stats_of(RX).received, 0);

  /* The channel still receives normally. */

  g_dev.chans[RX].recv_result = 0;
  memcpy(g_dev.chans[RX].rx_data, "hello", 5);
  g_dev.chans[RX].rx_size = 5;
  memset(&g_rx, 0, sizeof(g_rx));
  CHECK_EQ(mbox_chan_rx_data(&g_dev.chans[RX].base), 0);
  CHECK_EQ(g_rx.ret, 0);
  CHECK_EQ(g_rx.size, 5);
  CHECK(g_rx.data != NULL && memcmp(g_rx.data, "hello", 5) == 0);
  teardown_dev();
}

/* A size above the MTU is -EMSGSIZE however large, also when its low 32
 * bits would look like a valid size.
 */

static void test_recv_size_above_mtu_is_emsgsize(void)
{
  struct mbox_receiver_s r = { NULL, NULL };

  setup_dev();
  r.chan = &g_dev.chans[RX].base;
  CHECK_EQ(mbox_register_rxcallback(&r, rx_probe, NULL), 0);
  check_recv_value(MTU + 1, -EMSGSIZE);
  check_recv_value(((ssize_t)1 << 32) + 4, -EMSGSIZE);
  check_recv_value(PTRDIFF_MAX, -EMSGSIZE);
  CHECK_STAT(stats_of(RX).rx_dropped, 3);
  teardown_dev();
}

int main(void)
{
  RUN(test_negative_recv_result_wider_than_int_is_eio);
  RUN(test_recv_size_above_mtu_is_emsgsize);
  host_shutdown();
  return harness_finish();
}
