/****************************************************************************
 * ffi/nuttx/app/mboxbench/mboxbench_main.c
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * Times the mailbox upper half against a fake lower half written here to
 * the lower-half contract of the NuttX mailbox API (send, recv,
 * acknowledge, txfinish, txready, setcallback storing the callback and
 * its argument in the channel). It uses only the API that libmbox and the
 * NuttX C driver share, so the same source builds against either.
 *
 *   mboxbench [nmsg [path]]
 *
 * nmsg: messages per path (default 100000); path: send, queued, rx or all
 * (default). Paths, each timed with clock_gettime(CLOCK_MONOTONIC) (the
 * host's, on the simulator) over nmsg messages of MBOXBENCH_SIZE bytes,
 * from one task:
 *
 *   send    mbox_ticksend(timeout 0) to an idle channel, then its ACK
 *           (mbox_chan_tx_done(), as a lower half's ACK interrupt calls it)
 *   queued  8 x mbox_ticksend(timeout 0) (the first goes out, 7 wait in
 *           the channel's queue), then 8 x mbox_chan_tx_done() (each one
 *           sends the next queued message)
 *   rx      mbox_chan_rx_data() (recv, acknowledge, the RX callback)
 *
 * nmsg is rounded up to a multiple of 1000: the loops are timed in chunks
 * of 1000 messages. Prints one line per path with the nanoseconds per
 * message over all of them and in the fastest chunk (on a loaded host:
 * the chunks the host did not preempt), then
 * "mboxbench: done" (or "mboxbench: FAILED" when a call returned an error
 * or the fake lower half saw a different number of messages).
 ****************************************************************************/

#include <nuttx/config.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nuttx/compiler.h>
#include <nuttx/mbox/mbox.h>

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define MBOXBENCH_NMSG    100000
#define MBOXBENCH_BURST   8
#define MBOXBENCH_CHUNK   1000      /* Messages per timed chunk (x BURST) */
#define MBOXBENCH_SIZE    8
#define MBOXBENCH_QBUF    512       /* Holds 7 queued messages in either */
#define MBOXBENCH_RXMAX   128       /* The largest MTU recv may fill */


/* The clock. On the simulator NuttX's CLOCK_MONOTONIC advances in system
 * ticks (10 ms in sim:nsh), too coarse for these loops; the simulator's
 * host layer reads the host's clock_gettime(CLOCK_MONOTONIC) in ns
 * (host_gettime(), arch/sim/src/sim/sim_internal.h), so the app takes
 * that one there.
 */

#ifdef CONFIG_ARCH_SIM
uint64_t host_gettime(bool rtc);
#endif

/****************************************************************************
 * Private Types
 ****************************************************************************/

struct fake_chan_s
{
  struct mbox_chan_s base;          /* Must be first */
  unsigned long nsent;              /* send calls */
  unsigned long nfinish;            /* txfinish calls */
  unsigned long nrecv;              /* recv calls */
  unsigned long nack;               /* acknowledge calls */
  uint8_t last[MBOXBENCH_SIZE];     /* Payload of the latest send */
};

struct fake_dev_s
{
  struct mbox_dev_s base;           /* Must be first */
  struct fake_chan_s ch[2];         /* 0: TX, 1: RX */
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static struct fake_dev_s g_dev;
static uint8_t g_qbuf[MBOXBENCH_QBUF];
static unsigned long g_nrxcb;
static volatile uint8_t g_sink;

/****************************************************************************
 * Fake lower half
 ****************************************************************************/

static struct mbox_chan_s *fake_getchan(FAR struct mbox_dev_s *dev,
                                        FAR void *arg)
{
  uintptr_t i = (uintptr_t)arg;

  return i < 2 ? &((FAR struct fake_dev_s *)dev)->ch[i].base : NULL;
}

static int fake_setup(FAR struct mbox_chan_s *chan, FAR void *arg)
{
  (void)chan;
  (void)arg;
  return 0;
}

static int fake_shutdown(FAR struct mbox_chan_s *chan)
{
  (void)chan;
  return 0;
}

static int fake_send(FAR struct mbox_chan_s *chan, FAR const void *data,
                     size_t size)
{
  FAR struct fake_chan_s *fc = (FAR struct fake_chan_s *)chan;

  if (size > MBOXBENCH_SIZE)
    {
      return -EMSGSIZE;
    }

  memcpy(fc->last, data, size);
  fc->nsent++;
  return 0;
}

static int fake_recv(FAR struct mbox_chan_s *chan,
                                  FAR void *data)
{
  FAR struct fake_chan_s *fc = (FAR struct fake_chan_s *)chan;

  memset(data, (int)(fc->nrecv & 0xff), MBOXBENCH_SIZE);
  fc->nrecv++;
  return MBOXBENCH_SIZE;
}

static int fake_acknowledge(FAR struct mbox_chan_s *chan,
                            FAR const void *data, size_t size)
{
  (void)data;
  (void)size;
  ((FAR struct fake_chan_s *)chan)->nack++;
  return 0;
}

static int fake_txfinish(FAR struct mbox_chan_s *chan)
{
  ((FAR struct fake_chan_s *)chan)->nfinish++;
  return 0;
}

static int fake_setcallback(FAR struct mbox_chan_s *chan,
                            mbox_callback_t callback, FAR void *arg)
{
  /* The contract of the NuttX mailbox API: the lower half keeps the
   * callback and its argument in the channel.
   */

  chan->callback = callback;
  chan->priv     = arg;
  return 0;
}

static bool fake_txready(FAR struct mbox_chan_s *chan)
{
  (void)chan;
  return true;
}

static const struct mbox_ops_s g_fake_ops =
{
  .getchan     = fake_getchan,
  .setup       = fake_setup,
  .shutdown    = fake_shutdown,
  .send        = fake_send,
  .recv        = fake_recv,
  .acknowledge = fake_acknowledge,
  .txfinish    = fake_txfinish,
  .setcallback = fake_setcallback,
  .txready     = fake_txready,
};

/****************************************************************************
 * Client side
 ****************************************************************************/

static int bench_rxcallback(int ret, FAR struct mbox_chan_s *chan,
                            FAR void *arg, FAR void *data, size_t size)
{
  (void)chan;
  (void)arg;
  if (ret == 0 && size == MBOXBENCH_SIZE)
    {
      g_sink = ((FAR const uint8_t *)data)[size - 1];
      g_nrxcb++;
    }

  return 0;
}

static uint64_t now_ns(void)
{
#ifdef CONFIG_ARCH_SIM
  return host_gettime(false);
#else
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

/* One timed path: the total over all messages, and the fastest chunk of
 * MBOXBENCH_CHUNK messages (on a loaded host, the chunks during which the
 * process was not preempted).
 */

struct timing_s
{
  uint64_t total;
  uint64_t best;
};

static void chunk_done(FAR struct timing_s *t, uint64_t t0)
{
  uint64_t dt = now_ns() - t0;

  t->total += dt;
  if (t->best == 0 || dt < t->best)
    {
      t->best = dt;
    }
}

static void report(FAR const char *name, FAR const struct timing_s *t,
                   unsigned long n, unsigned long done)
{
  printf("%-42s %7lu ns per message, best chunk %5lu (%lu of %lu)\n",
         name, (unsigned long)(n ? t->total / n : 0),
         (unsigned long)(t->best / MBOXBENCH_CHUNK), done, n);
}

/* Non-blocking send to an idle channel, then its ACK. */

static bool bench_send(FAR struct mbox_sender_s *sender, unsigned long n)
{
  FAR struct fake_chan_s *tx = &g_dev.ch[0];
  struct timing_s t;
  uint8_t msg[MBOXBENCH_SIZE];
  unsigned long sent0 = tx->nsent;
  unsigned long ok = 0;
  unsigned long i;
  unsigned long j;
  uint64_t t0;

  memset(&t, 0, sizeof(t));
  memset(msg, 0x5a, sizeof(msg));
  for (i = 0; i < n; i += MBOXBENCH_CHUNK)
    {
      t0 = now_ns();
      for (j = 0; j < MBOXBENCH_CHUNK; j++)
        {
          msg[0] = (uint8_t)j;
          if (mbox_ticksend(sender, msg, sizeof(msg), 0) == 0)
            {
              ok++;
            }

          mbox_chan_tx_done(&tx->base);
        }

      chunk_done(&t, t0);
    }

  report("send + ACK (mbox_ticksend 0, tx_done)", &t, i, ok);
  return ok == i && tx->nsent - sent0 == i;
}

/* Bursts of 8 non-blocking sends, then their 8 ACKs. */

static bool bench_queued(FAR struct mbox_sender_s *sender, unsigned long n)
{
  FAR struct fake_chan_s *tx = &g_dev.ch[0];
  struct timing_s t;
  uint8_t msg[MBOXBENCH_SIZE];
  unsigned long sent0 = tx->nsent;
  unsigned long ok = 0;
  unsigned long i;
  unsigned long j;
  unsigned long k;
  uint64_t t0;

  memset(&t, 0, sizeof(t));
  memset(msg, 0xa5, sizeof(msg));
  for (i = 0; i < n; i += MBOXBENCH_CHUNK)
    {
      t0 = now_ns();
      for (j = 0; j < MBOXBENCH_CHUNK; j += MBOXBENCH_BURST)
        {
          for (k = 0; k < MBOXBENCH_BURST; k++)
            {
              msg[0] = (uint8_t)(j + k);
              if (mbox_ticksend(sender, msg, sizeof(msg), 0) == 0)
                {
                  ok++;
                }
            }

          for (k = 0; k < MBOXBENCH_BURST; k++)
            {
              mbox_chan_tx_done(&tx->base);
            }
        }

      chunk_done(&t, t0);
    }

  report("queued (8 x mbox_ticksend 0, 8 x tx_done)", &t, i, ok);
  return ok == i && tx->nsent - sent0 == i;
}

/* A reception to the RX callback. */

static bool bench_rx(unsigned long n)
{
  FAR struct fake_chan_s *rx = &g_dev.ch[1];
  struct timing_s t;
  unsigned long cb0 = g_nrxcb;
  unsigned long ok = 0;
  unsigned long i;
  unsigned long j;
  uint64_t t0;

  memset(&t, 0, sizeof(t));
  for (i = 0; i < n; i += MBOXBENCH_CHUNK)
    {
      t0 = now_ns();
      for (j = 0; j < MBOXBENCH_CHUNK; j++)
        {
          if (mbox_chan_rx_data(&rx->base) >= 0)
            {
              ok++;
            }
        }

      chunk_done(&t, t0);
    }

  report("rx (mbox_chan_rx_data to the callback)", &t, i, ok);
  return ok == i && g_nrxcb - cb0 == i;
}

/****************************************************************************
 * Public Functions
 ****************************************************************************/

int main(int argc, FAR char *argv[])
{
  struct mbox_sender_s sender;
  struct mbox_receiver_s receiver;
  FAR struct mbox_chan_s *txc;
  FAR struct mbox_chan_s *rxc;
  FAR const char *path = argc > 2 ? argv[2] : "all";
  unsigned long n = MBOXBENCH_NMSG;
  bool all = strcmp(path, "all") == 0;
  bool good = true;
  int ret;

  if (argc > 1)
    {
      n = strtoul(argv[1], NULL, 10);
    }

  if (argc > 3 || (!all && strcmp(path, "send") != 0 &&
                   strcmp(path, "queued") != 0 && strcmp(path, "rx") != 0))
    {
      fprintf(stderr, "usage: mboxbench [nmsg [send|queued|rx|all]]\n");
      return EXIT_FAILURE;
    }

  memset(&g_dev, 0, sizeof(g_dev));
  memset(&sender, 0, sizeof(sender));
  memset(&receiver, 0, sizeof(receiver));
  g_dev.base.ops = &g_fake_ops;

  txc = mbox_get_chan(&g_dev.base, (FAR void *)0);
  rxc = mbox_get_chan(&g_dev.base, (FAR void *)1);
  ret = mbox_chan_init(txc, &g_dev.base, MBOX_TX, g_qbuf, sizeof(g_qbuf));
  if (ret == 0)
    {
      ret = mbox_chan_init(rxc, &g_dev.base, MBOX_RX, NULL, 0);
    }

  sender.chan = txc;
  receiver.chan = rxc;
  if (ret == 0)
    {
      ret = mbox_register_rxcallback(&receiver, bench_rxcallback, NULL);
    }

  if (ret != 0)
    {
      printf("mboxbench: FAILED (setup: %d)\n", ret);
      return EXIT_FAILURE;
    }

  printf("mboxbench: mailbox upper half, fake lower half, %lu messages "
         "of %d bytes per path\n", n, MBOXBENCH_SIZE);

  if (all || strcmp(path, "send") == 0)
    {
      good &= bench_send(&sender, n);
    }

  if (all || strcmp(path, "queued") == 0)
    {
      good &= bench_queued(&sender, n);
    }

  if (all || strcmp(path, "rx") == 0)
    {
      good &= bench_rx(n);
    }

  mbox_unregister_rxcallback(&receiver);
  mbox_chan_deinit(rxc);
  mbox_chan_deinit(txc);

  printf("mboxbench: %s\n", good ? "done" : "FAILED");
  return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
