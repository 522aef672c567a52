/****************************************************************************
 * ctest/test_pl320_legacy_peer.c
 *
 * Interoperability of the PL320 lower half in the compatible wire format
 * (CONFIG_MBOX_PL320_WIRE_COMPAT) with a core that speaks the legacy
 * protocol of the NuttX C driver and Linux's pl320-ipc.
 *
 * One simulated core runs libmbox (pl320_initialize() on line LINE_L).
 * The other is a minimal legacy peer written here directly against the
 * register model (line LINE_P): no libmbox, no header word, no token.
 *
 *   libmbox -> peer (mailbox MB_TX): the peer's interrupt handler reads
 *     DR0..DR6 and acknowledges with SEND = 2 alone.
 *   peer -> libmbox (mailbox MB_RX): the peer claims the mailbox (SOURCE,
 *     DSET, MSET), writes the data registers it needs, SEND = 1, waits for
 *     SEND = 2 and writes SEND = 0.
 *
 * Covered, libmbox -> peer: blocking sends (mbox_send, and mbox_ticksend
 * with a timeout that the ACK beats), a queued non-blocking burst, queued
 * non-blocking messages that time out one after the other against a
 * silent peer (each withdrawn, each with its TX-done result), a blocking
 * send against a silent peer (-ETIMEDOUT, the message withdrawn, then
 * recovery), and a late ACK after a timeout: with nothing in flight it is
 * cleared and counted; after the next message went out it completes that
 * message (the documented limit of a protocol without tokens).
 * Peer -> libmbox: the peer's blocking send (it waits for the ACK), the
 * peer posting a message and collecting the ACK later while libmbox sends
 * the other way (both directions at once), and the peer timing out while
 * libmbox does not take its interrupt: the withdrawn message is never
 * delivered, the peer's retry is, once. Both ways: the 28-byte message
 * (uint32_t data[7]) and short messages (zero-padded by libmbox; a
 * legacy sender's unwritten registers reach libmbox as they were).
 *
 * Built with the framed wire format (CONFIG_MBOX_PL320_WIRE_FRAMED) it only
 * reports that it does not apply.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "harness.h"
#include "host.h"
#include "pl320_model.h"

#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define BASE       ((uintptr_t)0x48000000u)
#define NINT       4
#define LINE_L     0          /* The libmbox core */
#define LINE_P     1          /* The legacy peer */
#define IRQ_L      21
#define IRQ_P      22
#define MB_TX      3          /* libmbox -> peer */
#define MB_RX      4          /* peer -> libmbox */
#define NDATA      7
#define WAIT_MS    2000
#define MAX_LOG    64

/****************************************************************************
 * The legacy peer
 ****************************************************************************/

/* What the peer's interrupt handler does with a message on MB_TX. */

enum peer_mode_e
{
  PEER_ACK,      /* Read DR0..DR6, then SEND = 2 (the legacy RX flow) */
  PEER_SILENT,   /* Drop its line (DCLEAR), read nothing, never ACK */
  PEER_HOLD      /* Read DR0..DR6, drop its line, ACK later by hand */
};

static _Atomic int g_peer_mode = PEER_ACK;
static pthread_mutex_t g_peer_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_peer_log[MAX_LOG][NDATA];   /* Messages the peer read */
static atomic_int g_peer_nread;
static atomic_int g_peer_nacked;

static uint32_t rd(uint32_t off)
{
  return mbox_os_getreg32(BASE + off);
}

static void wr(uint32_t off, uint32_t v)
{
  mbox_os_putreg32(BASE + off, v);
}

static int peer_isr(int irq, void *context, void *arg)
{
  uint32_t mis = rd(PL320M_MIS(LINE_P));
  int i;

  (void)irq;
  (void)context;
  (void)arg;

  if ((mis & (1u << MB_TX)) == 0 || rd(PL320M_SEND(MB_TX)) != 1)
    {
      return 0;
    }

  if (g_peer_mode == PEER_SILENT)
    {
      wr(PL320M_DCLEAR(MB_TX), 1u << LINE_P);
      return 0;
    }

  pthread_mutex_lock(&g_peer_lock);
  if (g_peer_nread < MAX_LOG)
    {
      for (i = 0; i < NDATA; i++)
        {
          g_peer_log[g_peer_nread][i] = rd(PL320M_DR(MB_TX, i));
        }
    }

  g_peer_nread++;
  pthread_mutex_unlock(&g_peer_lock);

  if (g_peer_mode == PEER_HOLD)
    {
      wr(PL320M_DCLEAR(MB_TX), 1u << LINE_P);
    }
  else
    {
      wr(PL320M_SEND(MB_TX), PL320M_SEND_ACK);
      g_peer_nacked++;
    }

  return 0;
}

static bool wait_until(atomic_int *v, int want)
{
  int64_t end = now_ms() + WAIT_MS;

  while (*v < want)
    {
      if (now_ms() > end)
        {
          return false;
        }

      sleep_ms(1);
    }

  return true;
}

static bool wait_reg(uint32_t off, uint32_t want)
{
  int64_t end = now_ms() + WAIT_MS;

  while (rd(off) != want)
    {
      if (now_ms() > end)
        {
          return false;
        }

      sleep_ms(1);
    }

  return true;
}

/* The legacy send on MB_RX in two halves. peer_post(): claim the mailbox
 * if free, write the first nwords data registers, SEND = 1; returns 0 or
 * -EBUSY. peer_collect(): wait up to wait_ms for SEND = 2, then SEND = 0;
 * on a timeout the message is withdrawn (SEND = 0) and it returns
 * -ETIMEDOUT.
 */

static int peer_post(const uint32_t *words, int nwords)
{
  int i;

  if (rd(PL320M_SOURCE(MB_RX)) == 0)
    {
      wr(PL320M_SOURCE(MB_RX), 1u << LINE_P);
      wr(PL320M_DSET(MB_RX), 1u << LINE_L);

      /* The peer polls for its ACK: only libmbox's line is unmasked. */

      wr(PL320M_MSET(MB_RX), 1u << LINE_L);
      wr(PL320M_MODE(MB_RX), 0);
    }

  if (rd(PL320M_SOURCE(MB_RX)) != 1u << LINE_P ||
      rd(PL320M_SEND(MB_RX)) != PL320M_SEND_IDLE)
    {
      return -EBUSY;
    }

  for (i = 0; i < nwords; i++)
    {
      wr(PL320M_DR(MB_RX, i), words[i]);
    }

  wr(PL320M_DSET(MB_RX), 1u << LINE_L);
  wr(PL320M_SEND(MB_RX), PL320M_SEND_MSG);
  return 0;
}

static int peer_collect(int wait_ms)
{
  int64_t end = now_ms() + wait_ms;

  while (rd(PL320M_SEND(MB_RX)) != PL320M_SEND_ACK)
    {
      if (now_ms() > end)
        {
          wr(PL320M_SEND(MB_RX), PL320M_SEND_IDLE);
          return -ETIMEDOUT;
        }

      sleep_ms(1);
    }

  wr(PL320M_SEND(MB_RX), PL320M_SEND_IDLE);
  return 0;
}

/* The legacy blocking send: post, then wait for the ACK. */

static int peer_send(const uint32_t *words, int nwords)
{
  int ret = peer_post(words, nwords);

  return ret < 0 ? ret : peer_collect(WAIT_MS);
}

/****************************************************************************
 * The libmbox core
 ****************************************************************************/

static uint8_t g_txbuf[PL320_MAX_DATA_BUF_SIZE * (PL320_MTU + 6)];
static uint8_t g_rxbuf[PL320_MSG_SIZE];
static struct pl320_chan_s g_chans[2];
static struct pl320_config_s g_cfg;
static struct pl320_model_s *g_model;
static struct mbox_dev_s *g_dev;
static struct mbox_sender_s g_snd;
static struct mbox_receiver_s g_rcv;

static pthread_mutex_t g_rx_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t g_rx_log[MAX_LOG][PL320_MSG_SIZE];
static size_t g_rx_size[MAX_LOG];
static atomic_int g_rx_n;

static int on_rx(int ret, struct mbox_chan_s *chan, void *arg,
                 void *data, size_t size)
{
  (void)chan;
  (void)arg;
  if (ret < 0)
    {
      return 0;
    }

  pthread_mutex_lock(&g_rx_lock);
  if (g_rx_n < MAX_LOG && size <= PL320_MSG_SIZE)
    {
      memcpy(g_rx_log[g_rx_n], data, size);
      g_rx_size[g_rx_n] = size;
    }

  g_rx_n++;
  pthread_mutex_unlock(&g_rx_lock);
  return 0;
}

/* The channel statistics, or an empty stand-in when they are compiled
 * out (CONFIG_MBOX_TRACE off): the checks that read them are under the
 * same #ifdef.
 */

#ifdef CONFIG_MBOX_TRACE
typedef struct mbox_stats_s chan_stats_t;
#else
typedef struct
{
  int none;
} chan_stats_t;
#endif

static void stats(chan_stats_t *s)
{
  memset(s, 0, sizeof(*s));
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(mbox_chan_get_stats_checked(g_snd.chan, s), 0);
#endif
}

static void setup(void)
{
  int lines[NINT] = { IRQ_L, IRQ_P, -1, -1 };

  g_model = pl320_model_create(BASE, 8, NINT, NDATA, lines);
  CHECK(g_model != NULL);

  memset(g_chans, 0, sizeof(g_chans));
  g_chans[0].base.timeout = 200;
  g_chans[0].mbox = MB_TX;
  g_chans[0].src = LINE_L;
  g_chans[0].dst = LINE_P;
  g_chans[0].ctrl = true;
  g_chans[0].txbuf = g_txbuf;
  g_chans[0].bufsize = sizeof(g_txbuf);
  g_chans[1].mbox = MB_RX;
  g_chans[1].src = LINE_P;
  g_chans[1].dst = LINE_L;
  g_chans[1].ctrl = false;           /* The peer claims its own mailbox */
  g_chans[1].txbuf = g_rxbuf;
  g_chans[1].bufsize = sizeof(g_rxbuf);
  g_cfg.chans = g_chans;
  g_cfg.num_chans = 2;
  g_cfg.ipcmint = LINE_L;
  g_cfg.irq_num = IRQ_L;

  g_dev = pl320_initialize(&g_cfg, BASE);
  CHECK(g_dev != NULL);
  CHECK_EQ(mbox_chan_mtu(mbox_get_chan(g_dev, (void *)MB_TX)), 28);
  g_snd.chan = mbox_get_chan(g_dev, (void *)MB_TX);
  g_rcv.chan = mbox_get_chan(g_dev, (void *)MB_RX);
  CHECK(g_snd.chan != NULL && g_rcv.chan != NULL);
  CHECK_EQ(mbox_register_rxcallback(&g_rcv, on_rx, NULL), 0);

  CHECK_EQ(mbox_os_irq_attach(IRQ_P, peer_isr, NULL), 0);
  mbox_os_irq_enable(IRQ_P);
}

static void peer_reset(int mode)
{
  g_peer_mode = mode;
  pthread_mutex_lock(&g_peer_lock);
  g_peer_nread = 0;
  g_peer_nacked = 0;
  memset(g_peer_log, 0, sizeof(g_peer_log));
  pthread_mutex_unlock(&g_peer_lock);
}

static void rx_reset(void)
{
  pthread_mutex_lock(&g_rx_lock);
  g_rx_n = 0;
  memset(g_rx_log, 0, sizeof(g_rx_log));
  pthread_mutex_unlock(&g_rx_lock);
}

/****************************************************************************
 * Tests
 ****************************************************************************/

static void test_mtu_is_all_seven_data_registers(void)
{
  uint8_t big[29];

  memset(big, 0x5a, sizeof(big));
  CHECK_EQ(PL320_MTU, 28);
  CHECK_EQ(mbox_chan_mtu(g_snd.chan), 28);
  CHECK_EQ(mbox_send(&g_snd, big, 29), -EMSGSIZE);
  CHECK_EQ(mbox_ticksend(&g_snd, big, 29, 0), -EMSGSIZE);
}

static void test_blocking_28_byte_message_reaches_legacy_peer(void)
{
  uint32_t data[7] = { 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c,
                       0x13121110, 0x17161514, 0x1b1a1918 };
  chan_stats_t s0;
  chan_stats_t s1;
  int i;

  peer_reset(PEER_ACK);
  stats(&s0);
  CHECK_EQ(mbox_send(&g_snd, data, sizeof(data)), 0);
  CHECK_EQ(g_peer_nread, 1);
  CHECK(wait_until(&g_peer_nacked, 1));   /* Counted after its SEND = 2 */
  for (i = 0; i < NDATA; i++)
    {
      CHECK_EQ(g_peer_log[0][i], data[i]);
    }

  /* The mailbox is idle again: the ACK was taken and SEND cleared. */

  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.acked - s0.acked, 1);
  CHECK_EQ(s1.spurious_ack - s0.spurious_ack, 0);
#endif
}

static void test_short_message_reaches_legacy_peer_zero_padded(void)
{
  uint32_t word = 0xcafef00d;
  int i;

  peer_reset(PEER_ACK);
  CHECK_EQ(mbox_send(&g_snd, &word, 4), 0);
  CHECK_EQ(mbox_send(&g_snd, "xyz", 3), 0);
  CHECK_EQ(g_peer_nread, 2);
  CHECK_EQ(g_peer_log[0][0], 0xcafef00d);
  CHECK_EQ(g_peer_log[1][0], 0x007a7978);
  for (i = 1; i < NDATA; i++)
    {
      CHECK_EQ(g_peer_log[0][i], 0);
      CHECK_EQ(g_peer_log[1][i], 0);
    }
}

static void test_nonblocking_burst_reaches_legacy_peer_in_order(void)
{
  uint32_t data[7];
  int n = PL320_MAX_DATA_BUF_SIZE;
  int i;
  int k;

  peer_reset(PEER_ACK);
  for (i = 0; i < n; i++)
    {
      for (k = 0; k < NDATA; k++)
        {
          data[k] = (uint32_t)(i << 8 | k);
        }

      CHECK_EQ(mbox_ticksend(&g_snd, data, sizeof(data), 0), 0);
    }

  CHECK(wait_until(&g_peer_nacked, n));
  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  CHECK_EQ(g_peer_nread, n);
  for (i = 0; i < n; i++)
    {
      for (k = 0; k < NDATA; k++)
        {
          CHECK_EQ(g_peer_log[i][k], (uint32_t)(i << 8 | k));
        }
    }
}

static void test_legacy_peer_28_byte_message_reaches_libmbox(void)
{
  uint32_t data[7] = { 1, 2, 3, 4, 5, 6, 0xffffffffu };

  rx_reset();
  CHECK_EQ(peer_send(data, 7), 0);
  CHECK_EQ(g_rx_n, 1);
  CHECK_EQ(g_rx_size[0], 28);
  CHECK(memcmp(g_rx_log[0], data, sizeof(data)) == 0);
  CHECK_EQ(rd(PL320M_SEND(MB_RX)), PL320M_SEND_IDLE);
}

static void test_legacy_short_message_reaches_libmbox_as_28_bytes(void)
{
  uint32_t first[7] = { 11, 12, 13, 14, 15, 16, 17 };
  uint32_t word = 0x12345678;
  uint32_t expect[7] = { 0x12345678, 12, 13, 14, 15, 16, 17 };
  int i;

  /* A legacy sender of 4 bytes writes DR0 only: the receiver reads all
   * seven registers, the rest as the previous message left them.
   */

  rx_reset();
  CHECK_EQ(peer_send(first, 7), 0);
  CHECK_EQ(peer_send(&word, 1), 0);
  CHECK_EQ(g_rx_n, 2);
  CHECK_EQ(g_rx_size[1], 28);
  CHECK(memcmp(g_rx_log[1], expect, sizeof(expect)) == 0);

  /* Many in a row, each acknowledged before the next. */

  for (i = 0; i < 20; i++)
    {
      word = (uint32_t)i;
      CHECK_EQ(peer_send(&word, 1), 0);
    }

  CHECK_EQ(g_rx_n, 22);
  for (i = 0; i < 20; i++)
    {
      uint32_t got;

      memcpy(&got, g_rx_log[2 + i], 4);
      CHECK_EQ(got, (uint32_t)i);
    }
}

static void test_timed_send_acked_in_time_by_legacy_peer(void)
{
  uint32_t data[7] = { 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76 };
  int i;

  peer_reset(PEER_ACK);
  CHECK_EQ(mbox_ticksend(&g_snd, data, sizeof(data), 1000), 0);
  CHECK_EQ(g_peer_nread, 1);
  CHECK(wait_until(&g_peer_nacked, 1));   /* Counted after its SEND = 2 */
  for (i = 0; i < NDATA; i++)
    {
      CHECK_EQ(g_peer_log[0][i], data[i]);
    }
}

#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
static atomic_int g_cb_n;
static atomic_int g_cb_timedout;
static atomic_int g_cb_ok;

static void on_txdone(struct mbox_sender_s *sender, void *arg, int result)
{
  (void)sender;
  (void)arg;
  if (result == -ETIMEDOUT)
    {
      g_cb_timedout++;
    }
  else if (result == 0)
    {
      g_cb_ok++;
    }

  g_cb_n++;
}
#endif

#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
static void test_queued_messages_time_out_against_silent_peer_then_recover(void)
{
  struct mbox_sender_s nb;
  chan_stats_t s0;
  chan_stats_t s1;
  uint32_t word;
  int64_t t0;
  int i;

  /* Three non-blocking messages to a peer that never answers: each is on
   * the wire in turn, times out after the channel timeout (200 ticks),
   * is withdrawn, and gets its TX-done result; nothing is left pending.
   */

  nb.chan = g_snd.chan;
  nb.priv = NULL;
  g_cb_n = 0;
  g_cb_timedout = 0;
  g_cb_ok = 0;
  CHECK_EQ(mbox_register_txdone(&nb, on_txdone, NULL), 0);
  peer_reset(PEER_SILENT);
  stats(&s0);
  t0 = now_ms();
  for (i = 0; i < 3; i++)
    {
      word = 0x100u + (uint32_t)i;
      CHECK_EQ(mbox_ticksend(&nb, &word, 4, 0), 0);
    }

  CHECK(wait_until(&g_cb_n, 3));
  CHECK(now_ms() - t0 >= 3 * 200 - 5);
  CHECK_EQ(g_cb_timedout, 3);
  CHECK_EQ(rd(PL320M_SEND(MB_TX)), PL320M_SEND_IDLE);
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.timeout - s0.timeout, 3);
  CHECK_EQ(s1.acked - s0.acked, 0);
#endif

  /* The peer answers again: queued messages are acknowledged. */

  peer_reset(PEER_ACK);
  for (i = 0; i < 3; i++)
    {
      word = 0x200u + (uint32_t)i;
      CHECK_EQ(mbox_ticksend(&nb, &word, 4, 0), 0);
    }

  CHECK(wait_until(&g_cb_n, 6));
  CHECK_EQ(g_cb_ok, 3);
  CHECK_EQ(g_peer_nread, 3);
  for (i = 0; i < 3; i++)
    {
      CHECK_EQ(g_peer_log[i][0], 0x200u + (uint32_t)i);
    }

  CHECK_EQ(mbox_register_txdone(&nb, NULL, NULL), 0);
}
#endif

struct duplex_s
{
  int n;
  int failed;
};

static void *peer_duplex_main(void *arg)
{
  struct duplex_s *d = arg;
  uint32_t data[7];
  int i;
  int k;

  /* Post, then collect the ACK later (the peer does not wait at once). */

  for (i = 0; i < d->n; i++)
    {
      for (k = 0; k < NDATA; k++)
        {
          data[k] = 0xd0000000u | (uint32_t)(i << 8 | k);
        }

      if (peer_post(data, NDATA) != 0)
        {
          d->failed++;
          continue;
        }

      sched_yield();
      if (peer_collect(WAIT_MS) != 0)
        {
          d->failed++;
        }
    }

  return NULL;
}

static void test_both_directions_at_once_with_legacy_peer(void)
{
  struct duplex_s d = { 50, 0 };
  uint32_t data[7];
  pthread_t t;
  int i;
  int k;

  peer_reset(PEER_ACK);
  rx_reset();
  pthread_create(&t, NULL, peer_duplex_main, &d);
  for (i = 0; i < MAX_LOG; i++)
    {
      for (k = 0; k < NDATA; k++)
        {
          data[k] = 0xe0000000u | (uint32_t)(i << 8 | k);
        }

      /* Blocking and non-blocking sends, alternately. */

      if (i % 2 == 0)
        {
          CHECK_EQ(mbox_send(&g_snd, data, sizeof(data)), 0);
        }
      else
        {
          CHECK_EQ(mbox_ticksend(&g_snd, data, sizeof(data), 0), 0);
        }
    }

  pthread_join(t, NULL);
  CHECK_EQ(d.failed, 0);
  CHECK(wait_until(&g_peer_nacked, MAX_LOG));
  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  CHECK_EQ(g_peer_nread, MAX_LOG);
  CHECK_EQ(g_rx_n, d.n);
  pthread_mutex_lock(&g_peer_lock);
  for (i = 0; i < MAX_LOG; i++)
    {
      for (k = 0; k < NDATA; k++)
        {
          CHECK_EQ(g_peer_log[i][k], 0xe0000000u | (uint32_t)(i << 8 | k));
        }
    }

  pthread_mutex_unlock(&g_peer_lock);
  pthread_mutex_lock(&g_rx_lock);
  for (i = 0; i < d.n; i++)
    {
      uint32_t got[7];

      CHECK_EQ(g_rx_size[i], 28);
      memcpy(got, g_rx_log[i], sizeof(got));
      for (k = 0; k < NDATA; k++)
        {
          CHECK_EQ(got[k], 0xd0000000u | (uint32_t)(i << 8 | k));
        }
    }

  pthread_mutex_unlock(&g_rx_lock);
}

static void test_legacy_peer_times_out_then_its_retry_is_delivered_once(void)
{
  uint32_t data[7] = { 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7 };
  uint32_t retry[7] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7 };

  /* libmbox does not take its interrupt: the peer's send times out and
   * the peer withdraws it (SEND = 0). When libmbox takes interrupts
   * again, the withdrawn message is not delivered; the peer's retry is,
   * once.
   */

  rx_reset();
  host_irq_disable(IRQ_L);
  CHECK_EQ(peer_post(data, NDATA), 0);
  CHECK_EQ(peer_collect(50), -ETIMEDOUT);
  CHECK_EQ(rd(PL320M_SEND(MB_RX)), PL320M_SEND_IDLE);
  mbox_os_irq_enable(IRQ_L);
  host_irq_quiesce(IRQ_L, WAIT_MS);
  CHECK_EQ(g_rx_n, 0);

  CHECK_EQ(peer_send(retry, NDATA), 0);
  host_irq_quiesce(IRQ_L, WAIT_MS);
  CHECK_EQ(g_rx_n, 1);
  CHECK(memcmp(g_rx_log[0], retry, sizeof(retry)) == 0);
}

static void test_silent_peer_times_out_then_recovers(void)
{
  uint32_t word = 0xdead;
  chan_stats_t s0;
  chan_stats_t s1;

  peer_reset(PEER_SILENT);
  stats(&s0);
  CHECK_EQ(mbox_ticksend(&g_snd, &word, 4, 30), -ETIMEDOUT);

  /* The message was withdrawn: nothing is left pending for the peer. */

  CHECK_EQ(rd(PL320M_SEND(MB_TX)), PL320M_SEND_IDLE);
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.timeout - s0.timeout, 1);
#endif

  peer_reset(PEER_ACK);
  word = 0xbeef;
  CHECK_EQ(mbox_send(&g_snd, &word, 4), 0);
  CHECK_EQ(g_peer_nread, 1);
  CHECK_EQ(g_peer_log[0][0], 0xbeef);
}

static void test_late_ack_with_nothing_in_flight_is_counted_and_cleared(void)
{
  uint32_t word = 0xa;
  chan_stats_t s0;
  chan_stats_t s1;

  /* The peer reads the message but acknowledges it only after the
   * sender timed it out and withdrew it.
   */

  peer_reset(PEER_HOLD);
  stats(&s0);
  CHECK_EQ(mbox_ticksend(&g_snd, &word, 4, 30), -ETIMEDOUT);
  CHECK_EQ(g_peer_nread, 1);
  CHECK_EQ(rd(PL320M_SEND(MB_TX)), PL320M_SEND_IDLE);

  wr(PL320M_SEND(MB_TX), PL320M_SEND_ACK);            /* The late ACK */
  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  host_irq_quiesce(IRQ_L, WAIT_MS);
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.timeout - s0.timeout, 1);
  CHECK_EQ(s1.spurious_ack - s0.spurious_ack, 1);     /* Counted */
  CHECK_EQ(s1.acked - s0.acked, 0);                   /* Completed nothing */
#endif

  /* The next message goes out and is acknowledged normally. */

  peer_reset(PEER_ACK);
  word = 0xb;
  CHECK_EQ(mbox_send(&g_snd, &word, 4), 0);
  CHECK_EQ(g_peer_nread, 1);
  CHECK_EQ(g_peer_log[0][0], 0xb);
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.acked - s0.acked, 1);
#endif
}

struct job_s
{
  uint32_t word;
  clock_t timeout;
  int ret;
};

static void *send_main(void *arg)
{
  struct job_s *j = arg;

  j->ret = mbox_ticksend(&g_snd, &j->word, 4, j->timeout);
  return NULL;
}

static void test_late_ack_after_next_send_completes_it_documented_limit(void)
{
  struct job_s b = { 0xb, 1000, 1 };
  uint32_t word = 0xa;
  pthread_t t;

  /* The peer read A and holds its ACK; A times out and is withdrawn. */

  peer_reset(PEER_HOLD);
  CHECK_EQ(mbox_ticksend(&g_snd, &word, 4, 30), -ETIMEDOUT);
  CHECK_EQ(g_peer_nread, 1);

  /* B goes out while the peer takes no interrupt (it will never read
   * B); then A's late ACK arrives. Without a token on the wire it is
   * indistinguishable from B's ACK: B completes although the peer never
   * read it. This is the one late-ACK case the compatible format cannot
   * catch (the framed format refuses it).
   */

  host_irq_disable(IRQ_P);
  pthread_create(&t, NULL, send_main, &b);
  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_MSG));
  wr(PL320M_SEND(MB_TX), PL320M_SEND_ACK);            /* A's late ACK */
  pthread_join(t, NULL);
  CHECK_EQ(b.ret, 0);
  CHECK_EQ(g_peer_nread, 1);                          /* B never read */
  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  mbox_os_irq_enable(IRQ_P);

  peer_reset(PEER_ACK);
  word = 0xc;
  CHECK_EQ(mbox_send(&g_snd, &word, 4), 0);
  CHECK_EQ(g_peer_log[0][0], 0xc);
}

/* A legacy remote may leave reply data in the data registers with its
 * ACK (pl320-ipc's sender reads them back after the ACK). When that ACK
 * is late, after the message timed out and was withdrawn, it can land
 * while the next message's data registers are being written: the sender
 * must then write them again, so that the message that goes out is the
 * one it was given.
 */

static const uint32_t g_next[7] =
{
  0x11111111, 0x22222222, 0x33333333, 0x44444444,
  0x55555555, 0x66666666, 0x77777777
};

static void timed_out_message_held_by_peer(void)
{
  uint32_t word = 0xa;

  peer_reset(PEER_HOLD);
  CHECK_EQ(mbox_ticksend(&g_snd, &word, 4, 30), -ETIMEDOUT);
  CHECK_EQ(g_peer_nread, 1);
  CHECK_EQ(rd(PL320M_SEND(MB_TX)), PL320M_SEND_IDLE);
}

static void test_late_reply_ack_during_next_message_writes_is_not_left_in_it(void)
{
  chan_stats_t s0;
  chan_stats_t s1;
  int i;

  timed_out_message_held_by_peer();
  stats(&s0);

  /* The late ACK, with reply data in DR0, lands right after the next
   * message's last data register is written.
   */

  pl320_model_ack_at_write(g_model, PL320M_DR(MB_TX, NDATA - 1),
                           g_next[NDATA - 1], false, 0xdeadbeef);
  peer_reset(PEER_ACK);
  CHECK_EQ(mbox_send(&g_snd, g_next, sizeof(g_next)), 0);
  CHECK_EQ(g_peer_nread, 1);
  for (i = 0; i < NDATA; i++)
    {
      CHECK_EQ(g_peer_log[0][i], g_next[i]);
    }

  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
  stats(&s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.acked - s0.acked, 1);
#endif
}

/* The window the protocol leaves: a late ACK with reply data that lands
 * between the sender's last look at SEND and its SEND = 1 is overwritten
 * by that SEND = 1, and its reply data goes out in the new message (two
 * register accesses apart; the PL320 has no compare-and-set). Pinned so
 * that a change of it is seen.
 */

static void test_late_reply_ack_just_before_send_is_the_documented_window(void)
{
  int i;

  timed_out_message_held_by_peer();
  pl320_model_ack_at_write(g_model, PL320M_SEND(MB_TX), PL320M_SEND_MSG,
                           true, 0xdeadbeef);
  peer_reset(PEER_ACK);
  CHECK_EQ(mbox_send(&g_snd, g_next, sizeof(g_next)), 0);
  CHECK_EQ(g_peer_nread, 1);
  CHECK_EQ(g_peer_log[0][0], 0xdeadbeef);
  for (i = 1; i < NDATA; i++)
    {
      CHECK_EQ(g_peer_log[0][i], g_next[i]);
    }

  CHECK(wait_reg(PL320M_SEND(MB_TX), PL320M_SEND_IDLE));
}

static void test_model_saw_no_protocol_error(void)
{
  struct pl320_model_stats_s ms;

  pl320_model_get_stats(g_model, &ms);
  CHECK_EQ(ms.protocol_errors, 0);
}

int main(void)
{
  setup();
  RUN(test_mtu_is_all_seven_data_registers);
  RUN(test_blocking_28_byte_message_reaches_legacy_peer);
  RUN(test_short_message_reaches_legacy_peer_zero_padded);
  RUN(test_nonblocking_burst_reaches_legacy_peer_in_order);
  RUN(test_legacy_peer_28_byte_message_reaches_libmbox);
  RUN(test_legacy_short_message_reaches_libmbox_as_28_bytes);
  RUN(test_timed_send_acked_in_time_by_legacy_peer);
#if defined(CONFIG_MBOX_TXDONE_CALLBACK)
  RUN(test_queued_messages_time_out_against_silent_peer_then_recover);
#endif
  RUN(test_both_directions_at_once_with_legacy_peer);
  RUN(test_legacy_peer_times_out_then_its_retry_is_delivered_once);
  RUN(test_silent_peer_times_out_then_recovers);
  RUN(test_late_ack_with_nothing_in_flight_is_counted_and_cleared);
  RUN(test_late_ack_after_next_send_completes_it_documented_limit);
  RUN(test_late_reply_ack_during_next_message_writes_is_not_left_in_it);
  RUN(test_late_reply_ack_just_before_send_is_the_documented_window);
  RUN(test_model_saw_no_protocol_error);
  CHECK_EQ(pl320_uninitialize(g_dev), 0);
  host_shutdown();
  return harness_finish();
}

#else /* CONFIG_MBOX_PL320_WIRE_FRAMED */

static void test_applies_to_the_compatible_wire_format_only(void)
{
  CHECK_EQ(PL320_MTU, 24);
}

int main(void)
{
  RUN(test_applies_to_the_compatible_wire_format_only);
  return harness_finish();
}

#endif
