/****************************************************************************
 * ctest/test_nuttx_client_usage.c
 *
 * Source compatibility: NuttX mailbox client and board code — board
 * channel table with designated initialisers, board init, client
 * lookup, the RX callback, blocking, bounded, non-blocking
 * and timed sends, the lower-half notification macros, deinit — written
 * against our headers exactly as NuttX users write it, compiled with
 * -Werror, and run on two simulated cores over the PL320 model (the
 * board memory and the RX record of ctest/simcore.h; the board and client
 * code is the test's own).
 *
 * The few NuttX names that are not mailbox API (FAR, OK, nitems,
 * ARRAY_SIZE, MSEC2TICK, clock_time2ticks, up_cpu_index) come from the
 * small shim below, as nuttx/config.h and friends provide them on NuttX.
 ****************************************************************************/

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- NuttX shim (not mailbox API) ------------------------------------ */

#define FAR
#define OK 0
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#define ARRAY_SIZE(a) nitems(a)
#define MSEC2TICK(ms) ((clock_t)(ms))           /* host port: 1 kHz tick */

static clock_t clock_time2ticks(const struct timespec *ts)
{
  return (clock_t)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000);
}

static __thread int g_cpu;
static int up_cpu_index(void)
{
  return g_cpu;
}

/* ---- The API under test ---------------------------------------------- */

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "harness.h"
#include "host.h"
#include "pl320_model.h"
#include "simcore.h"

#define PL320_REG_BASE        0x2a000000
#define RISCV_PL320_INT       0
#define R52_PL320_INT         1
#define TEST_PL320_TIMEOUT    MSEC2TICK(1000)
#define TEST_PL320_TX_BUFSIZE (PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE)

/* One copy of the board tables per simulated core (each core has its own
 * memory image on real hardware).
 */

static struct simcore_s g_core[2];

static void board_tables(struct simcore_s *c, int local_int, int irq)
{
  struct pl320_chan_s chans[] =
  {
    {
      .base =
      {
        .id      = 16,
        .timeout = TEST_PL320_TIMEOUT,
      },
      .mbox    = 16,
      .src     = RISCV_PL320_INT,
      .dst     = R52_PL320_INT,
      .ctrl    = true,
      .txbuf   = c->txbuf[0],
      .bufsize = TEST_PL320_TX_BUFSIZE,
    },
    {
      .base =
      {
        .id      = 17,
        .timeout = TEST_PL320_TIMEOUT,
      },
      .mbox    = 17,
      .src     = R52_PL320_INT,
      .dst     = RISCV_PL320_INT,
      .ctrl    = true,
      .txbuf   = c->txbuf[1],
      .bufsize = TEST_PL320_TX_BUFSIZE,
    },
  };

  memcpy(c->chans, chans, sizeof(chans));
  struct pl320_config_s config =
  {
    .chans     = c->chans,
    .num_chans = ARRAY_SIZE(chans),
    .ipcmint   = local_int,
    .irq_num   = irq,
  };

  c->config = config;
}

static int board_mbox_init(struct simcore_s *c)
{
  (void)up_cpu_index();
  c->dev = pl320_initialize(&c->config, PL320_REG_BASE);
  if (c->dev == NULL)
    {
      return -ENODEV;
    }

  return OK;
}

static int mbox_callback(int ret, FAR struct mbox_chan_s *chan,
                         FAR void *arg, FAR void *data, size_t size)
{
  struct simcore_s *c = arg;
  FAR uint8_t *msg;

  simcore_rx_callback(ret, chan, c, data, size);   /* The test's record */
  if (ret != 0 || data == NULL)
    {
      return -EIO;
    }

  msg = (FAR uint8_t *)data;
  printf("# received msg on chan[%d] count=%d size=%zu: "
         "%02x %02x %02x %02x ...\n",
         chan->id, simcore_nrx(c), size, msg[0], msg[1], msg[2], msg[3]);
  return OK;
}

static bool wait_rx(struct simcore_s *c, int n)
{
  return simcore_wait_rx(c, n, 2000);
}

/* The lower half's notification path, as a NuttX polling lower half
 * writes it: only the macros and the two notification calls.
 */

static void poll_path(FAR struct mbox_chan_s *chan)
{
  if (chan->dir == MBOX_TX && MBOX_TX_ACKED(chan))
    {
      mbox_chan_tx_done(chan);
    }

  if (chan->dir == MBOX_RX && MBOX_RX_AVAILABLE(chan))
    {
      mbox_chan_rx_data(chan);
    }
}

static void test_nuttx_client_usage(void)
{
  static const int irq_of_line[2] = { 3, 4 };
  struct pl320_model_s *m;
  FAR struct mbox_chan_s *tx_chan;
  FAR struct mbox_chan_s *rx_chan;
  static struct mbox_receiver_s receiver[2];
  struct mbox_sender_s sender;
  uint32_t data[6];
  uint32_t msg = 0x12345678;
  int ret;

  m = pl320_model_create(PL320_REG_BASE, 32, 2, 7, irq_of_line);
  CHECK(m != NULL);

  simcore_init(&g_core[0], "riscv", RISCV_PL320_INT, 3);
  simcore_init(&g_core[1], "r52", R52_PL320_INT, 4);
  board_tables(&g_core[0], RISCV_PL320_INT, 3);
  board_tables(&g_core[1], R52_PL320_INT, 4);
  g_cpu = 0;
  CHECK_EQ(board_mbox_init(&g_core[0]), OK);
  CHECK_EQ(board_mbox_init(&g_core[1]), OK);

  /* RISC-V receives on 17, R52 on 16. */

  rx_chan = mbox_get_chan(g_core[0].dev, (FAR void *)(uintptr_t)17);
  receiver[0].chan = rx_chan;
  receiver[0].priv = NULL;
  ret = mbox_register_rxcallback(&receiver[0], mbox_callback, &g_core[0]);
  CHECK_EQ(ret, OK);
  rx_chan = mbox_get_chan(g_core[1].dev, (FAR void *)(uintptr_t)16);
  receiver[1].chan = rx_chan;
  receiver[1].priv = NULL;
  ret = mbox_register_rxcallback(&receiver[1], mbox_callback, &g_core[1]);
  CHECK_EQ(ret, OK);

  /* R52 -> RISC-V on 17: one full message, blocking. */

  tx_chan = mbox_get_chan(g_core[1].dev, (FAR void *)(uintptr_t)17);
  CHECK(tx_chan != NULL);
  sender.chan = tx_chan;
  sender.priv = NULL;
  memset(data, 0xff, sizeof(data));
  ret = mbox_send(&sender, data, sizeof(data));
  CHECK_EQ(ret, 0);
  CHECK(wait_rx(&g_core[0], 1));
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
  /* The compatible wire format carries no length: every message arrives
   * as the 28 bytes of DR0..DR6, here 24 sent and 4 zero-padded.
   */

  CHECK_EQ(g_core[0].last.size, PL320_MSG_SIZE);
#else
  CHECK_EQ(g_core[0].last.size, sizeof(data));
#endif

  /* RISC-V -> R52 on 16: bounded, non-blocking and timed sends. */

  tx_chan = mbox_get_chan(g_core[0].dev, (FAR void *)(uintptr_t)16);
  sender.chan = tx_chan;
  ret = mbox_ticksend(&sender, &msg, sizeof(msg), MSEC2TICK(100));
  CHECK_EQ(ret, 0);
  ret = mbox_ticksend(&sender, data, sizeof(data), 0);
  CHECK_EQ(ret, 0);
  struct timespec ts = {.tv_sec = 5, .tv_nsec = 0};
  ret = mbox_ticksend(&sender, data, sizeof(data), clock_time2ticks(&ts));
  CHECK_EQ(ret, 0);
  /* The ACK precedes the receiver's callback (ACK, then callback): wait
   * for the callbacks, bounded.
   */

  CHECK(wait_rx(&g_core[1], 3));
  CHECK_EQ(g_core[1].rx_errors, 0);

  /* The polling notification path finds nothing pending and is
   * harmless.
   */

  poll_path(tx_chan);
  poll_path(rx_chan);

#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s st;
  memset(&st, 0, sizeof(st));
  mbox_chan_get_stats(tx_chan, &st);
  CHECK_EQ(st.acked, 3);
#endif

  mbox_chan_deinit(tx_chan);
  mbox_unregister_rxcallback(&receiver[1]);
  host_shutdown();
  pl320_model_destroy(m);
  simcore_stop(&g_core[0]);
  simcore_stop(&g_core[1]);
}

int main(void)
{
  RUN(test_nuttx_client_usage);
  return harness_finish();
}
