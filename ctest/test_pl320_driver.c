/****************************************************************************
 * ctest/test_pl320_driver.c
 *
 * Tests of the PL320 lower half (src/pl320/driver.rs) through the PL320
 * register model: two cores "A" and "B" share one IPCM, each with its own
 * pl320_initialize(), interrupt line and host IRQ, and its own channel
 * array (simulated cores of ctest/simcore.h, without a job thread: the
 * tests run on the main thread).
 *
 * Covered: every validation case of pl320_initialize() returns NULL and
 * leaves nothing behind (no slot taken, no mailbox claimed, no interrupt
 * attached, no channel initialised); every message size 0..MTU arrives
 * exactly; MTU + 1 is refused at the send; channels are found by mailbox
 * number with the stride of pl320_chan_s (never that of mbox_chan_s); one
 * MIS read that holds an unknown mailbox and a real message serves both
 * (no interrupt storm); a spurious interrupt is harmless; late, duplicated
 * and lost ACKs never complete another message; the device slots run out
 * cleanly; an empty table and a second device on an interrupt that a
 * device already uses are refused; pl320_uninitialize() gives everything
 * back (slot, mailboxes, interrupt), cancels blocked senders, refuses bad
 * calls, and lets a device come up again any number of times.
 *
 * The tests share the two devices A and B and run in order.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "harness.h"
#include "host.h"
#include "pl320_model.h"
#include "simcore.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define BASE            ((uintptr_t)0x40000000u)  /* The main IPCM */
#define BASE_SMALL      ((uintptr_t)0x40010000u)  /* 8 mailboxes, 4 lines */
#define BASE_DATA1      ((uintptr_t)0x40020000u)  /* DATANUM = 1 */
#define BASE_FAKE       ((uintptr_t)0x40030000u)  /* Not a PL320 */

#define NINT            8
#define LINE_A          1
#define LINE_B          2
#define LINE_X          3          /* Lines of the extra devices */
#define LINE_Y          4
#define LINE_3RD        6          /* A third party (no driver) */
#define IRQ_A           3
#define IRQ_B           4
#define IRQ_X           7
#define IRQ_Y           8
#define IRQ_SPARE       10         /* Connected to nothing */

#define NCHANS          5
#define UNKNOWN_MBOX    2          /* In no configuration */
#define BUSY_MBOX       9          /* Pre-claimed by a third party */
#define WAIT_MS         2000

/* The MTU of the wire format: 24 framed (DR0 is the header), 28
 * compatible (CONFIG_MBOX_PL320_WIRE_COMPAT). A compatible receiver gets
 * every message as MTU bytes (the wire carries no length), zero-padded by
 * this driver's sender.
 */

#define MTU             PL320_MTU
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
#  define RX_SIZE(size) ((size_t)MTU)
#else
#  define RX_SIZE(size) (size)
#endif

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* Trace statistics, or an all-zero stand-in without CONFIG_MBOX_TRACE. */

#ifdef CONFIG_MBOX_TRACE
typedef struct mbox_stats_s stats_t;
#else
typedef struct
{
  size_t timeout, sent, received, acked, buffered, queue_full;
  size_t spurious_ack, send_err, rx_dropped, max_queued, cancelled;
} stats_t;
#endif

_Static_assert(NCHANS <= SIMCORE_MAX_CHANS, "a core's table holds NCHANS");

/****************************************************************************
 * Private Data
 ****************************************************************************/

/* Channel table: mailbox, and whether A sends on it. B lists the same
 * mailboxes in the reverse order, so index k differs between the cores.
 */

static const struct
{
  uint8_t mbox;
  bool a_sends;
} g_table[NCHANS] =
{
  { 5, true }, { 11, false }, { 16, true }, { 17, false }, { 23, true },
};

static struct pl320_model_s *g_model;
static struct pl320_model_s *g_small;
static struct pl320_model_s *g_data1;
static struct simcore_s g_a;
static struct simcore_s g_b;
static struct mbox_receiver_s g_rcv_a[NCHANS];
static struct mbox_receiver_s g_rcv_b[NCHANS];

/****************************************************************************
 * Helpers
 ****************************************************************************/

static uint32_t reg(uintptr_t base, uint32_t off)
{
  return mbox_os_getreg32(base + off);
}

static void putreg(uintptr_t base, uint32_t off, uint32_t v)
{
  mbox_os_putreg32(base + off, v);
}

/* OR of every mailbox's SOURCE of the main IPCM except `except`. */

static uint32_t sources_except(int except)
{
  uint32_t any = 0;
  int m;

  for (m = 0; m < PL320M_MAX_MBOX; m++)
    {
      if (m != except)
        {
          any |= reg(BASE, PL320M_SOURCE(m));
        }
    }

  return any;
}

/* Fill the board tables of a core (nothing initialised yet). A sets ctrl
 * on every mailbox, B on none: one side configuring is enough.
 */

static void core_tables(struct simcore_s *core, bool is_a)
{
  int k;

  for (k = 0; k < NCHANS; k++)
    {
      int t = is_a ? k : NCHANS - 1 - k;
      bool a_sends = g_table[t].a_sends;
      bool tx = is_a ? a_sends : !a_sends;
      struct pl320_chan_s *c =
        simcore_set_chan(core, k, g_table[t].mbox, a_sends ? LINE_A : LINE_B,
                         a_sends ? LINE_B : LINE_A, HOST_MSEC2TICK(1000));

      c->base.id = 0;            /* The driver sets it to the mailbox */
      c->ctrl = is_a;

      /* TX: the queue; RX: scratch on some channels, the stack on others */

      if (!tx && (k & 1) != 0)
        {
          c->txbuf = NULL;
          c->bufsize = 0;
        }
    }
}

static struct pl320_chan_s *chan_of(struct simcore_s *core, int mbox)
{
  int k;

  for (k = 0; k < NCHANS; k++)
    {
      if (core->chans[k].mbox == mbox)
        {
          return &core->chans[k];
        }
    }

  return NULL;
}

static int send_on(struct simcore_s *core, int mbox, const void *data,
                   size_t size, clock_t timeout)
{
  struct mbox_sender_s s;

  s.chan = mbox_get_chan(core->dev, (void *)(uintptr_t)mbox);
  s.priv = NULL;
  return mbox_ticksend(&s, data, size, timeout);
}

static void get_stats(struct simcore_s *core, int mbox, stats_t *st)
{
  memset(st, 0, sizeof(*st));
#ifdef CONFIG_MBOX_TRACE
  mbox_chan_get_stats(mbox_get_chan(core->dev, (void *)(uintptr_t)mbox),
                      st);
#else
  (void)core;
  (void)mbox;
#endif
}

static bool devices_up(void)
{
  if (g_a.dev == NULL || g_b.dev == NULL)
    {
      printf("#   devices A/B are not initialised\n");
      return false;
    }

  return true;
}

/* A register window that answers like an IPCM with PeriphID0..2 =
 * g_fake_id (a wrong ID unless a test sets the right one for a while):
 * every write is lost, every other register reads 0.
 */

static const uint32_t g_pl320_id[3] =
{
  0x20, 0x13, 0x04                        /* Part 0x320, designer 0x41 */
};

static uint32_t g_fake_id[3] =
{
  0x21, 0x13, 0x04                        /* Part 0x321 */
};

static uint32_t fake_read(void *dev, uint32_t off)
{
  (void)dev;
  switch (off)
    {
      case PL320M_PERIPHID(0):
      case PL320M_PERIPHID(1):
      case PL320M_PERIPHID(2):
        return g_fake_id[(off - PL320M_PERIPHID(0)) / 4];
      case PL320M_CFGSTAT:
        return (32u << 16) | (8u << 8) | 7u;
      default:
        return 0;
    }
}

static void fake_write(void *dev, uint32_t off, uint32_t v)
{
  (void)dev;
  (void)off;
  (void)v;
}

/****************************************************************************
 * Tests: initialisation
 ****************************************************************************/

/* A valid one-channel config on the scratch array, which each case then
 * breaks in one way.
 */

static struct pl320_chan_s g_scratch[33];
static uint8_t g_scratch_buf[64];

static void scratch_config(struct pl320_config_s *cfg, int n)
{
  int i;

  memset(g_scratch, 0, sizeof(g_scratch));
  for (i = 0; i < n && i < 33; i++)
    {
      g_scratch[i].mbox = (uint8_t)(24 + i % 8);
      g_scratch[i].src = LINE_X;
      g_scratch[i].dst = LINE_Y;
      g_scratch[i].ctrl = true;
      g_scratch[i].txbuf = g_scratch_buf;
      g_scratch[i].bufsize = sizeof(g_scratch_buf);
    }

  cfg->chans = g_scratch;
  cfg->num_chans = (size_t)n;
  cfg->ipcmint = LINE_X;
  cfg->irq_num = IRQ_X;
}

static void test_init_rejects_invalid(void)
{
  struct pl320_config_s cfg;
  struct host_irq_stats_s st;
  int fails = 0;

#define EXPECT_NULL(base) \
  do \
    { \
      CHECK(pl320_initialize(&cfg, (base)) == NULL); \
      fails++; \
    } \
  while (0)

  CHECK(pl320_initialize(NULL, BASE) == NULL);

  scratch_config(&cfg, 1);
  cfg.chans = NULL;
  EXPECT_NULL(BASE);                        /* NULL chans, num_chans 1 */

  scratch_config(&cfg, 33);
  EXPECT_NULL(BASE);                        /* More than 32 channels */

  scratch_config(&cfg, 1);
  g_scratch[0].mbox = 32;
  EXPECT_NULL(BASE);                        /* Mailbox >= 32 */

  scratch_config(&cfg, 1);
  g_scratch[0].src = 1;
  g_scratch[0].dst = 2;
  cfg.ipcmint = 1;
  g_scratch[0].mbox = 8;
  EXPECT_NULL(BASE_SMALL);                  /* Mailbox >= MBOXNUM (8) */

  scratch_config(&cfg, 2);
  g_scratch[1].mbox = g_scratch[0].mbox;
  EXPECT_NULL(BASE);                        /* Duplicate mailbox */

  scratch_config(&cfg, 1);
  g_scratch[0].dst = LINE_X;
  EXPECT_NULL(BASE);                        /* src == dst */

  scratch_config(&cfg, 1);
  g_scratch[0].dst = 32;
  EXPECT_NULL(BASE);                        /* dst >= 32 */

  scratch_config(&cfg, 1);
  g_scratch[0].src = 40;
  g_scratch[0].dst = LINE_X;
  EXPECT_NULL(BASE);                        /* src >= 32 */

  scratch_config(&cfg, 1);
  g_scratch[0].src = 1;
  g_scratch[0].dst = 5;
  cfg.ipcmint = 1;
  g_scratch[0].mbox = 3;
  EXPECT_NULL(BASE_SMALL);                  /* dst >= INTNUM (4) */

  scratch_config(&cfg, 1);
  g_scratch[0].txbuf = NULL;
  EXPECT_NULL(BASE);                        /* TX without txbuf */

  scratch_config(&cfg, 1);
  g_scratch[0].bufsize = 0;
  EXPECT_NULL(BASE);                        /* TX with bufsize 0 */

  scratch_config(&cfg, 1);
  cfg.ipcmint = -1;
  EXPECT_NULL(BASE);                        /* ipcmint < 0 */

  scratch_config(&cfg, 1);
  cfg.ipcmint = 32;
  EXPECT_NULL(BASE);                        /* ipcmint >= 32 */

  scratch_config(&cfg, 1);
  g_scratch[0].mbox = 3;
  cfg.ipcmint = 6;
  EXPECT_NULL(BASE_SMALL);                  /* ipcmint >= INTNUM (4) */

  scratch_config(&cfg, 1);
  g_scratch[0].src = LINE_A;
  g_scratch[0].dst = LINE_B;
  EXPECT_NULL(BASE);                        /* Neither src nor dst */

  scratch_config(&cfg, 1);
  cfg.irq_num = -1;
  EXPECT_NULL(BASE);                        /* irq_num < 0 */

  scratch_config(&cfg, 1);
  EXPECT_NULL(BASE + 2);                    /* Misaligned base */

  /* Every field of the identification counts: the part number's low
   * byte (PeriphID0) and top nibble (PeriphID1[3:0]), the designer's low
   * nibble (PeriphID1[7:4]) and top nibble (PeriphID2[3:0]). A channel
   * without ctrl reads nothing back from the window, so with the right ID
   * the same configuration makes a device.
   */

  {
    static const uint32_t wrong[][3] =
    {
      { 0x21, 0x13, 0x04 },                 /* Part 0x321 */
      { 0x20, 0x14, 0x04 },                 /* Part 0x420 */
      { 0x20, 0x23, 0x04 },                 /* Designer 0x42 */
      { 0x20, 0x13, 0x05 },                 /* Designer 0x51 */
    };

    struct mbox_dev_s *d;
    size_t i;

    for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
      {
        memcpy(g_fake_id, wrong[i], sizeof(g_fake_id));
        scratch_config(&cfg, 1);
        g_scratch[0].ctrl = false;
        EXPECT_NULL(BASE_FAKE);
      }

    memcpy(g_fake_id, g_pl320_id, sizeof(g_fake_id));
    scratch_config(&cfg, 1);
    g_scratch[0].ctrl = false;
    d = pl320_initialize(&cfg, BASE_FAKE);
    CHECK(d != NULL);
    if (d != NULL)
      {
        CHECK_EQ(pl320_uninitialize(d), 0);
      }

    memcpy(g_fake_id, wrong[0], sizeof(g_fake_id));
  }

  scratch_config(&cfg, 1);
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
  /* DATANUM 1 carries 4 bytes in the compatible format (no header). */

  {
    struct mbox_dev_s *d1 = pl320_initialize(&cfg, BASE_DATA1);

    CHECK(d1 != NULL);
    if (d1 != NULL)
      {
        CHECK_EQ(d1->mtu, 4);
        CHECK_EQ(pl320_uninitialize(d1), 0);
      }
  }
#else
  EXPECT_NULL(BASE_DATA1);                  /* DATANUM 1: no payload */
#endif

  printf("#   %d invalid configurations refused\n", fails + 1);
  CHECK(fails >= 10);

#undef EXPECT_NULL

  /* Nothing was claimed or attached: every SOURCE is still 0, and a
   * pulse on the IRQ those configurations named reaches no handler.
   */

  CHECK_EQ(sources_except(-1), 0);
  host_irq_reset_stats(IRQ_X);
  pl320_model_raise_spurious(g_model, LINE_X);
  sleep_ms(20);
  host_irq_get_stats(IRQ_X, &st);
  CHECK_EQ(st.calls, 0);
}

/* True when no channel of the core's array is initialised. */

static bool channels_dead(struct simcore_s *core)
{
  struct mbox_sender_s s;
  struct mbox_receiver_s r;
  uint8_t b = 0;
  bool dead = true;
  int k;

  for (k = 0; k < NCHANS; k++)
    {
      s.chan = &core->chans[k].base;
      s.priv = NULL;
      r.chan = &core->chans[k].base;
      r.priv = NULL;
      if (mbox_ticksend(&s, &b, 1, 0) != -EINVAL ||
          mbox_register_rxcallback(&r, simcore_rx_callback, core) != -EINVAL)
        {
          printf("#   channel %d (mailbox %d) is still live\n", k,
                 core->chans[k].mbox);
          dead = false;
        }
    }

  return dead;
}

/* A ctrl mailbox owned by someone else makes init fail after the first
 * channels were initialised and their mailboxes claimed: all undone.
 */

static void test_init_failure_undoes_channels(void)
{
  struct pl320_config_s cfg;
  struct pl320_chan_s *busy;
  struct host_irq_stats_s st;

  core_tables(&g_a, true);
  cfg = g_a.config;

  /* Make the last channel's mailbox foreign: a third party owns it. */

  busy = &g_a.chans[NCHANS - 1];
  busy->mbox = BUSY_MBOX;
  putreg(BASE, PL320M_SOURCE(BUSY_MBOX), 1u << LINE_3RD);

  host_irq_reset_stats(IRQ_A);
  CHECK(pl320_initialize(&cfg, BASE) == NULL);

  /* The mailboxes the first channels claimed are released again. */

  CHECK_EQ(sources_except(BUSY_MBOX), 0);
  CHECK_EQ(reg(BASE, PL320M_SOURCE(BUSY_MBOX)), 1u << LINE_3RD);

  /* No handler: a pulse on A's line goes nowhere. */

  pl320_model_raise_spurious(g_model, LINE_A);
  sleep_ms(20);
  host_irq_get_stats(IRQ_A, &st);
  CHECK_EQ(st.calls, 0);

  /* Every channel was de-initialised again (without clearing the
   * arrays in between): sends and registrations are refused.
   */

  CHECK(channels_dead(&g_a));
  putreg(BASE, PL320M_SOURCE(BUSY_MBOX), 0);

  /* An IRQ that cannot be attached: every channel is undone. */

  core_tables(&g_a, true);
  cfg = g_a.config;
  cfg.irq_num = HOST_NIRQ + 5;
  CHECK(pl320_initialize(&cfg, BASE) == NULL);
  CHECK_EQ(sources_except(-1), 0);
  CHECK(channels_dead(&g_a));
}

/* An empty channel table is refused: such a device could do nothing,
 * and it would take one of the few device slots. More of them than there
 * are slots, each on its own interrupt, take no slot (the real devices
 * come up next) and attach nothing.
 */

static void test_empty_table_refused_and_takes_no_slot(void)
{
  struct pl320_config_s cfg;
  struct host_irq_stats_s st;
  int i;

  for (i = 0; i < 6; i++)
    {
      scratch_config(&cfg, 0);
      cfg.irq_num = IRQ_SPARE + i;
      CHECK(pl320_initialize(&cfg, BASE) == NULL);
      host_irq_reset_stats(cfg.irq_num);
      host_irq_pulse(cfg.irq_num);
    }

  sleep_ms(20);
  for (i = 0; i < 6; i++)
    {
      host_irq_get_stats(IRQ_SPARE + i, &st);
      CHECK_EQ(st.calls, 0);
    }
}

/* After all those failures the real devices still come up (no slot was
 * leaked, no channel was left initialised).
 */

static void test_init_valid(void)
{
  struct mbox_chan_s *c;
  int k;

  core_tables(&g_a, true);
  core_tables(&g_b, false);
  g_a.dev = pl320_initialize(&g_a.config, BASE);
  g_b.dev = pl320_initialize(&g_b.config, BASE);
  CHECK(g_a.dev != NULL);
  CHECK(g_b.dev != NULL);
  if (!devices_up())
    {
      return;
    }

  CHECK_EQ(g_a.dev->mtu, MTU);
  CHECK_EQ(g_a.dev->mtu, PL320_MTU);
  CHECK_EQ(g_a.dev->num_chans, NCHANS);
  CHECK(g_a.dev->ops != NULL);

  /* A configured every mailbox: SOURCE is the sender's bit. */

  for (k = 0; k < NCHANS; k++)
    {
      const struct pl320_chan_s *pc = &g_a.chans[k];

      CHECK_EQ(reg(BASE, PL320M_SOURCE(pc->mbox)), 1u << pc->src);
      CHECK_EQ(reg(BASE, PL320M_MSTATUS(pc->mbox)),
               (1u << LINE_A) | (1u << LINE_B));
      CHECK_EQ(reg(BASE, PL320M_MODE(pc->mbox)), 0);
    }

  /* Register an RX callback on every RX channel of both cores. */

  for (k = 0; k < NCHANS; k++)
    {
      struct simcore_s *cores[2] =
      {
        &g_a, &g_b
      };

      struct mbox_receiver_s *rcv[2] =
      {
        g_rcv_a, g_rcv_b
      };

      int i;

      for (i = 0; i < 2; i++)
        {
          c = &cores[i]->chans[k].base;
          if (c->dir == MBOX_RX)
            {
              rcv[i][k].chan = c;
              rcv[i][k].priv = NULL;
              CHECK_EQ(mbox_register_rxcallback(&rcv[i][k],
                                                simcore_rx_callback,
                                                cores[i]), 0);
            }
        }
    }

  CHECK(mbox_get_chan(g_a.dev, (void *)(uintptr_t)UNKNOWN_MBOX) == NULL);
  CHECK(mbox_get_chan(g_a.dev, (void *)(uintptr_t)32) == NULL);
  CHECK(mbox_get_chan(g_a.dev, (void *)(uintptr_t)1000) == NULL);
}

/* A configuration that names a channel that is already live fails without
 * touching the live device.
 */

static void test_init_live_channel_refused(void)
{
  struct pl320_config_s cfg;
  uint8_t msg[4] =
  {
    1, 2, 3, 4
  };

  int before;

  if (!devices_up())
    {
      return;
    }

  cfg = g_a.config;
  CHECK(pl320_initialize(&cfg, BASE) == NULL);

  /* A is untouched: its channels still work. */

  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
  before = simcore_nrx(&g_a);
  CHECK_EQ(send_on(&g_b, 11, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_a, before + 1, WAIT_MS));
}

/* A second device on the interrupt that A uses would take that interrupt
 * away from A (A's mailboxes would be served by nobody): refused, with no
 * slot, mailbox or channel taken, and A keeps working in both directions.
 */

static void test_device_on_used_irq_refused(void)
{
  struct pl320_config_s cfg;
  struct mbox_sender_s s;
  uint8_t msg[4] =
  {
    5, 6, 7, 8
  };

  int before;

  if (!devices_up())
    {
      return;
    }

  scratch_config(&cfg, 1);
  cfg.irq_num = IRQ_A;
  CHECK(pl320_initialize(&cfg, BASE) == NULL);
  CHECK_EQ(reg(BASE, PL320M_SOURCE(g_scratch[0].mbox)), 0);
  s.chan = &g_scratch[0].base;
  s.priv = NULL;
  CHECK_EQ(mbox_ticksend(&s, msg, 1, 0), -EINVAL);

  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
  before = simcore_nrx(&g_a);
  CHECK_EQ(send_on(&g_b, 11, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_a, before + 1, WAIT_MS));
}

/****************************************************************************
 * Tests: data path
 ****************************************************************************/

static void test_every_size(void)
{
  uint8_t msg[MTU];
  struct simcore_msg_s r;
  size_t size;
  size_t i;
  int before;

  if (!devices_up())
    {
      return;
    }

  for (size = 0; size <= MTU; size++)
    {
      for (i = 0; i < size; i++)
        {
          msg[i] = (uint8_t)(0xa0 + size * 3 + i);
        }

      before = simcore_nrx(&g_b);
      CHECK_EQ(send_on(&g_a, 16, msg, size, HOST_MSEC2TICK(1000)), 0);
      CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
      r = simcore_rx_at(&g_b, before);
      CHECK_EQ(r.chan_id, 16);
      CHECK_EQ(r.size, RX_SIZE(size));
      CHECK(memcmp(r.data, msg, size) == 0);
      for (i = size; i < sizeof(r.data); i++)
        {
          CHECK_EQ(r.data[i], 0);          /* Nothing beyond the size */
        }
    }

  /* And the other direction, over an RX channel without scratch. */

  for (size = 0; size <= MTU; size += 5)
    {
      memset(msg, (int)size, sizeof(msg));
      before = simcore_nrx(&g_a);
      CHECK_EQ(send_on(&g_b, 17, msg, size, HOST_MSEC2TICK(1000)), 0);
      CHECK(simcore_wait_rx(&g_a, before + 1, WAIT_MS));
      r = simcore_rx_at(&g_a, before);
      CHECK_EQ(r.chan_id, 17);
      CHECK_EQ(r.size, RX_SIZE(size));
      CHECK(memcmp(r.data, msg, size) == 0);
    }

  CHECK_EQ(g_a.rx_errors + g_b.rx_errors, 0);
}

static void test_oversize_refused(void)
{
  uint8_t msg[MTU + 8];
  stats_t before;
  stats_t after;

  if (!devices_up())
    {
      return;
    }

  memset(msg, 0x33, sizeof(msg));
  get_stats(&g_a, 16, &before);
  CHECK_EQ(send_on(&g_a, 16, msg, MTU + 1, HOST_MSEC2TICK(1000)),
           -EMSGSIZE);
  CHECK_EQ(send_on(&g_a, 16, msg, MTU + 1, 0), -EMSGSIZE);
#ifdef CONFIG_MBOX_PL320_WIRE_FRAMED
  CHECK_EQ(send_on(&g_a, 16, msg, PL320_MSG_SIZE, 0), -EMSGSIZE);
#endif
  get_stats(&g_a, 16, &after);
  CHECK_EQ(after.sent, before.sent);       /* Nothing went out */
  CHECK_EQ(after.buffered, before.buffered);
}

/* Channel k is found by its mailbox number and is
 * element k of the pl320_chan_s array (a cast to mbox_chan_s[] would
 * index with the wrong stride).
 */

static void test_lookup_by_mailbox(void)
{
  uint8_t msg[8];
  struct simcore_msg_s r;
  int k;
  int before;

  if (!devices_up())
    {
      return;
    }

  for (k = 0; k < NCHANS; k++)
    {
      struct pl320_chan_s *pa = &g_a.chans[k];
      struct pl320_chan_s *pb = chan_of(&g_b, pa->mbox);
      struct mbox_chan_s *ca;
      struct mbox_chan_s *cb;

      ca = mbox_get_chan(g_a.dev, (void *)(uintptr_t)pa->mbox);
      CHECK(ca == &pa->base);
      CHECK_EQ(ca->id, pa->mbox);
      CHECK(ca->dev == g_a.dev);
      CHECK_EQ(ca->dir, pa->src == LINE_A ? MBOX_TX : MBOX_RX);

      CHECK(pb != NULL);
      if (pb == NULL)
        {
          continue;
        }

      cb = mbox_get_chan(g_b.dev, (void *)(uintptr_t)pb->mbox);
      CHECK(cb == &pb->base);
      CHECK_EQ(cb->id, pb->mbox);
      CHECK(cb->dir != ca->dir);

      /* A message on this mailbox arrives on the peer's channel of the
       * same mailbox.
       */

      memset(msg, 0x10 + k, sizeof(msg));
      if (ca->dir == MBOX_TX)
        {
          before = simcore_nrx(&g_b);
          CHECK_EQ(send_on(&g_a, pa->mbox, msg, sizeof(msg),
                           HOST_MSEC2TICK(1000)), 0);
          CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
          r = simcore_rx_at(&g_b, before);
        }
      else
        {
          before = simcore_nrx(&g_a);
          CHECK_EQ(send_on(&g_b, pb->mbox, msg, sizeof(msg),
                           HOST_MSEC2TICK(1000)), 0);
          CHECK(simcore_wait_rx(&g_a, before + 1, WAIT_MS));
          r = simcore_rx_at(&g_a, before);
        }

      CHECK_EQ(r.chan_id, pa->mbox);
      CHECK_EQ(r.size, RX_SIZE(sizeof(msg)));
      CHECK(memcmp(r.data, msg, sizeof(msg)) == 0);
    }
}

/****************************************************************************
 * Tests: interrupt handler
 ****************************************************************************/

/* One MIS read shows an unknown mailbox (lower
 * number, so a handler that stops there would miss the rest) and a real
 * message. Both are served in one call, the unknown one is masked for
 * this line, and the line does not stay asserted.
 */

static void test_unknown_and_real_in_one_read(void)
{
  struct host_irq_stats_s st;
  uint8_t msg[12];
  struct simcore_msg_s r;
  uint32_t mis;
  int before;

  if (!devices_up())
    {
      return;
    }

  host_irq_disable(IRQ_B);

  /* A third party posts a message to B on a mailbox B does not know. */

  putreg(BASE, PL320M_SOURCE(UNKNOWN_MBOX), 1u << LINE_3RD);
  putreg(BASE, PL320M_DSET(UNKNOWN_MBOX), 1u << LINE_B);
  putreg(BASE, PL320M_MSET(UNKNOWN_MBOX), 1u << LINE_B);
  putreg(BASE, PL320M_SEND(UNKNOWN_MBOX), PL320M_SEND_MSG);

  /* A real message to B, non-blocking. */

  memset(msg, 0x77, sizeof(msg));
  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), 0), 0);

  mis = reg(BASE, PL320M_MIS(LINE_B));
  CHECK_EQ(mis, (1u << UNKNOWN_MBOX) | (1u << 16));

  host_irq_reset_stats(IRQ_B);
  mbox_os_irq_enable(IRQ_B);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
  host_irq_quiesce(IRQ_B, 500);
  host_irq_get_stats(IRQ_B, &st);

  /* One call served both; nothing is left asserted. */

  CHECK_EQ(st.calls, 1);
  CHECK_EQ(st.still_asserted_after_return, 0);
  CHECK_EQ(reg(BASE, PL320M_MIS(LINE_B)), 0);
  CHECK_EQ(reg(BASE, PL320M_MSTATUS(UNKNOWN_MBOX)) & (1u << LINE_B), 0);

  r = simcore_rx_at(&g_b, before);
  CHECK_EQ(r.chan_id, 16);
  CHECK_EQ(r.size, RX_SIZE(sizeof(msg)));
  CHECK(memcmp(r.data, msg, sizeof(msg)) == 0);

  /* The third party's message is still there (only masked for B). */

  CHECK_EQ(reg(BASE, PL320M_SEND(UNKNOWN_MBOX)), PL320M_SEND_MSG);
  putreg(BASE, PL320M_SOURCE(UNKNOWN_MBOX), 0);

  /* And B keeps receiving. */

  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, 4, HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
}

static void test_spurious_interrupt(void)
{
  struct host_irq_stats_s st;
  uint8_t msg[4] =
  {
    9, 8, 7, 6
  };

  int before;

  if (!devices_up())
    {
      return;
    }

  host_irq_reset_stats(IRQ_A);
  host_irq_reset_stats(IRQ_B);
  pl320_model_raise_spurious(g_model, LINE_A);
  pl320_model_raise_spurious(g_model, LINE_B);
  host_irq_quiesce(IRQ_A, 500);
  host_irq_quiesce(IRQ_B, 500);
  host_irq_get_stats(IRQ_A, &st);
  CHECK_EQ(st.calls, 1);
  CHECK_EQ(st.still_asserted_after_return, 0);
  host_irq_get_stats(IRQ_B, &st);
  CHECK_EQ(st.calls, 1);
  CHECK_EQ(st.still_asserted_after_return, 0);

  /* Nothing was delivered by it, and both directions still work. */

  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
  before = simcore_nrx(&g_a);
  CHECK_EQ(send_on(&g_b, 17, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_a, before + 1, WAIT_MS));
}

/****************************************************************************
 * Tests: ACK faults (late, duplicated and lost ACKs)
 ****************************************************************************/

/* The remote ACKs message 1 after its sender gave up; by then message 2
 * is in flight (and its own ACK is lost): the late ACK must not complete
 * message 2.
 */

static void test_late_ack(void)
{
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
  /* Framed wire format only (a tokened ACK word); the compatible format's
   * late ACKs are checked in test_pl320_legacy_peer.c.
   */

  if (true)
    {
      return;
    }

#endif

  stats_t s0;
  stats_t s1;
  uint8_t msg[8];
  int64_t t0;
  int ret;
  int before;

  if (!devices_up())
    {
      return;
    }

  get_stats(&g_a, 16, &s0);
  memset(msg, 0x42, sizeof(msg));

  pl320_model_set_fault(g_model, 16, PL320_FAULT_DELAY_ACK, 300, 1);
  t0 = now_ms();
  ret = send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(100));
  CHECK_EQ(ret, -ETIMEDOUT);
  CHECK(now_ms() - t0 >= 100);

  /* Message 2: its ACK is lost, the late ACK of message 1 lands on it. */

  pl320_model_set_fault(g_model, 16, PL320_FAULT_DROP_ACK, 0, 1);
  before = simcore_nrx(&g_b);
  ret = send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(600));
  CHECK_EQ(ret, -ETIMEDOUT);
  CHECK(now_ms() - t0 >= 650);
  CHECK(simcore_nrx(&g_b) >= before + 1);           /* Delivered, ACK lost */

  get_stats(&g_a, 16, &s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK(s1.spurious_ack >= s0.spurious_ack + 1);
  CHECK_EQ(s1.timeout, s0.timeout + 2);
  CHECK_EQ(s1.acked, s0.acked);
#endif

  /* The level ACK interrupt of the stale ACK was cleared. */

  host_irq_quiesce(IRQ_A, 200);
  CHECK_EQ(reg(BASE, PL320M_MIS(LINE_A)), 0);

  /* Message 3 is acknowledged normally. */

  before = simcore_nrx(&g_b);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_b, before + 1, WAIT_MS));
}

/* A duplicated ACK (the remote ACKs message 1 twice) is counted as
 * spurious and does not complete message 2.
 */

static void test_dup_ack(void)
{
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
  /* Framed wire format only (a tokened ACK word); the compatible format's
   * late ACKs are checked in test_pl320_legacy_peer.c.
   */

  if (true)
    {
      return;
    }

#endif

  stats_t s0;
  stats_t s1;
  uint8_t msg[8];
  int64_t t0;

  if (!devices_up())
    {
      return;
    }

  get_stats(&g_a, 16, &s0);
  memset(msg, 0x24, sizeof(msg));

  pl320_model_set_fault(g_model, 16, PL320_FAULT_DUP_ACK, 200, 1);
  t0 = now_ms();
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(now_ms() - t0 < 150);

  pl320_model_set_fault(g_model, 16, PL320_FAULT_DROP_ACK, 0, 1);
  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(400)),
           -ETIMEDOUT);

  get_stats(&g_a, 16, &s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK(s1.spurious_ack >= s0.spurious_ack + 1);
  CHECK_EQ(s1.acked, s0.acked + 1);
  CHECK_EQ(s1.timeout, s0.timeout + 1);
#endif

  CHECK_EQ(send_on(&g_a, 16, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
}

/* A lost ACK: the blocking send times out and the channel keeps working,
 * for blocking and queued messages alike.
 */

static void test_drop_ack(void)
{
  stats_t s0;
  stats_t s1;
  uint8_t msg[8];
  int before;
  int i;

  if (!devices_up())
    {
      return;
    }

  get_stats(&g_b, 17, &s0);
  memset(msg, 0x99, sizeof(msg));

  pl320_model_set_fault(g_model, 17, PL320_FAULT_DROP_ACK, 0, 1);
  before = simcore_nrx(&g_a);
  CHECK_EQ(send_on(&g_b, 17, msg, sizeof(msg), HOST_MSEC2TICK(200)),
           -ETIMEDOUT);
  CHECK(simcore_nrx(&g_a) >= before + 1);

  before = simcore_nrx(&g_a);
  for (i = 0; i < 5; i++)
    {
      msg[0] = (uint8_t)i;
      CHECK_EQ(send_on(&g_b, 17, msg, sizeof(msg), 0), 0);
    }

  CHECK_EQ(send_on(&g_b, 17, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  CHECK(simcore_wait_rx(&g_a, before + 6, WAIT_MS));
  for (i = 0; i < 5; i++)
    {
      CHECK_EQ(simcore_rx_at(&g_a, before + i).data[0], i);
    }

  get_stats(&g_b, 17, &s1);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(s1.timeout, s0.timeout + 1);
  CHECK_EQ(s1.acked, s0.acked + 6);
#endif
}

/****************************************************************************
 * Tests: device slots
 ****************************************************************************/

/* The extra devices X (sends on mailbox 29) and Y (receives it). */

static struct pl320_chan_s g_cx[1];
static struct pl320_chan_s g_cy[1];
static uint8_t g_xbuf[128];
static struct pl320_config_s g_x;
static struct pl320_config_s g_y;
static struct mbox_dev_s *g_dx;
static struct mbox_dev_s *g_dy;
static struct mbox_receiver_s g_yrcv;
static struct simcore_s g_yc;

static void test_slots_run_out(void)
{
  static struct pl320_chan_s cz[1];
  struct pl320_chan_s *cx = g_cx;
  struct pl320_chan_s *cy = g_cy;
  uint8_t *buf = g_xbuf;
  struct pl320_config_s z;
  uint8_t msg[3] =
  {
    0xab, 0xcd, 0xef
  };

  memset(cx, 0, sizeof(g_cx));
  cx[0].mbox = 29;
  cx[0].src = LINE_X;
  cx[0].dst = LINE_Y;
  cx[0].ctrl = true;
  cx[0].txbuf = buf;
  cx[0].bufsize = sizeof(g_xbuf);
  cx[0].base.timeout = HOST_MSEC2TICK(1000);
  memcpy(cy, cx, sizeof(g_cy));
  cy[0].txbuf = NULL;
  cy[0].bufsize = 0;
  cy[0].ctrl = false;
  memcpy(cz, cx, sizeof(cz));
  cz[0].mbox = 30;

  g_x.chans = cx;
  g_x.num_chans = 1;
  g_x.ipcmint = LINE_X;
  g_x.irq_num = IRQ_X;
  g_y.chans = cy;
  g_y.num_chans = 1;
  g_y.ipcmint = LINE_Y;
  g_y.irq_num = IRQ_Y;
  z = g_x;
  z.chans = cz;
  z.irq_num = IRQ_SPARE;              /* Refused for want of a slot only */

  g_dx = pl320_initialize(&g_x, BASE);
  g_dy = pl320_initialize(&g_y, BASE);
  CHECK(g_dx != NULL);
  CHECK(g_dy != NULL);

  /* All four slots are taken: a fifth device is refused, with nothing
   * claimed.
   */

  CHECK(pl320_initialize(&z, BASE) == NULL);
  CHECK_EQ(reg(BASE, PL320M_SOURCE(30)), 0);

  if (g_dx == NULL || g_dy == NULL)
    {
      return;
    }

  /* The extra devices work too. */

  simcore_init(&g_yc, "Y", LINE_Y, IRQ_Y);
  g_yrcv.chan = mbox_get_chan(g_dy, (void *)(uintptr_t)29);
  CHECK_EQ(mbox_register_rxcallback(&g_yrcv, simcore_rx_callback, &g_yc), 0);
  g_yc.dev = g_dy;
  {
    struct mbox_sender_s s;

    s.chan = mbox_get_chan(g_dx, (void *)(uintptr_t)29);
    s.priv = NULL;
    CHECK_EQ(mbox_ticksend(&s, msg, sizeof(msg), HOST_MSEC2TICK(1000)), 0);
  }

  CHECK(simcore_wait_rx(&g_yc, 1, WAIT_MS));
  CHECK_EQ(simcore_rx_at(&g_yc, 0).size, RX_SIZE(sizeof(msg)));
  CHECK(memcmp(simcore_rx_at(&g_yc, 0).data, msg, sizeof(msg)) == 0);
}

/****************************************************************************
 * Tests: pl320_uninitialize()
 ****************************************************************************/

static int x_send(const void *msg, size_t size, clock_t timeout)
{
  struct mbox_sender_s s;

  s.chan = mbox_get_chan(g_dx, (void *)(uintptr_t)29);
  s.priv = NULL;
  return mbox_ticksend(&s, msg, size, timeout);
}

static bool xy_up(void)
{
  if (g_dx == NULL || g_dy == NULL)
    {
      printf("#   devices X/Y are not initialised\n");
      return false;
    }

  return true;
}

/* X -> Y works: one message sent and received. */

static bool xy_works(void)
{
  uint8_t msg[2] =
  {
    0x5a, 0xa5
  };

  int before = simcore_nrx(&g_yc);

  return x_send(msg, sizeof(msg), HOST_MSEC2TICK(1000)) == 0 &&
         simcore_wait_rx(&g_yc, before + 1, WAIT_MS);
}

static void uninit_in_irq(void *arg)
{
  int *ret = arg;

  *ret = pl320_uninitialize(g_dx);
}

static void test_uninitialize_rejects_bad_calls(void)
{
  struct mbox_dev_s not_a_device;
  int ret = 1;

  memset(&not_a_device, 0, sizeof(not_a_device));
  CHECK_EQ(pl320_uninitialize(NULL), -EINVAL);
  CHECK_EQ(pl320_uninitialize(&not_a_device), -EINVAL);
  if (!xy_up())
    {
      return;
    }

  host_run_as_interrupt(uninit_in_irq, &ret);
  CHECK_EQ(ret, -EPERM);

  /* Nothing changed. */

  CHECK(xy_works());
}

/* A reception run in task context: its callback tries to tear its own
 * device down, which would wait for that very callback.
 */

static int g_cb_uninit_ret = 1;

static int uninit_rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                              void *data, size_t size)
{
  g_cb_uninit_ret = pl320_uninitialize(g_dy);
  return simcore_rx_callback(ret, chan, arg, data, size);
}

static void test_uninitialize_from_own_callback_is_edeadlk(void)
{
  struct mbox_chan_s *rx;
  uint8_t msg[1] =
  {
    0x77
  };

  int before;

  if (!xy_up())
    {
      return;
    }

  rx = mbox_get_chan(g_dy, (void *)(uintptr_t)29);
  CHECK_EQ(mbox_register_rxcallback(&g_yrcv, uninit_rx_callback, &g_yc), 0);
  host_irq_disable(IRQ_Y);
  before = simcore_nrx(&g_yc);
  CHECK_EQ(x_send(msg, sizeof(msg), 0), 0);
  sleep_ms(10);
  CHECK_EQ(mbox_chan_rx_data(rx), (int)RX_SIZE(sizeof(msg))); /* in a task */
  CHECK_EQ(g_cb_uninit_ret, -EDEADLK);
  CHECK_EQ(simcore_nrx(&g_yc), before + 1);
  mbox_os_irq_enable(IRQ_Y);
  CHECK_EQ(mbox_register_rxcallback(&g_yrcv, simcore_rx_callback, &g_yc), 0);

  /* Y is still a device, and works. */

  CHECK(xy_works());
}

struct blocked_s
{
  int ret;
  int64_t ms;
};

static void *blocked_sender(void *arg)
{
  struct blocked_s *b = arg;
  uint8_t msg[4] =
  {
    1, 1, 2, 3
  };

  int64_t t0 = now_ms();

  b->ret = x_send(msg, sizeof(msg), HOST_MSEC2TICK(5000));
  b->ms = now_ms() - t0;
  return NULL;
}

/* X is torn down while a sender waits for an ACK that never comes: the
 * sender returns -ECANCELED at once, the mailbox X claimed is released,
 * its interrupt reaches nothing, and a second teardown is refused.
 */

static void test_uninitialize_cancels_blocked_sender(void)
{
  struct blocked_s b =
  {
    1, 0
  };

  struct host_irq_stats_s st;
  pthread_t t;

  if (!xy_up())
    {
      return;
    }

  pl320_model_set_fault(g_model, 29, PL320_FAULT_DROP_ACK, 0, 1);
  pthread_create(&t, NULL, blocked_sender, &b);
  sleep_ms(100);
  CHECK_EQ(pl320_uninitialize(g_dx), 0);
  pthread_join(t, NULL);
  CHECK_EQ(b.ret, -ECANCELED);
  CHECK(b.ms < 1000);
  CHECK_EQ(reg(BASE, PL320M_SOURCE(29)), 0);

  host_irq_reset_stats(IRQ_X);
  pl320_model_raise_spurious(g_model, LINE_X);
  sleep_ms(20);
  host_irq_get_stats(IRQ_X, &st);
  CHECK_EQ(st.calls, 0);

  CHECK_EQ(pl320_uninitialize(g_dx), -EINVAL);
  g_dx = NULL;
}

/* Y is torn down: a message for it afterwards reaches neither its
 * handler nor its callback.
 */

static void test_uninitialized_device_gets_no_interrupts(void)
{
  struct host_irq_stats_s st;
  int before;

  if (g_dy == NULL)
    {
      CHECK(g_dy != NULL);
      return;
    }

  CHECK_EQ(pl320_uninitialize(g_dy), 0);
  g_dy = NULL;
  before = simcore_nrx(&g_yc);
  host_irq_reset_stats(IRQ_Y);

  /* A third party sends on mailbox 29 to Y's line. */

  putreg(BASE, PL320M_SOURCE(29), 1u << LINE_3RD);
  putreg(BASE, PL320M_DSET(29), 1u << LINE_Y);
  putreg(BASE, PL320M_MSET(29), 1u << LINE_Y);
  putreg(BASE, PL320M_DR(29, 0), 1);
  putreg(BASE, PL320M_SEND(29), PL320M_SEND_MSG);
  CHECK(reg(BASE, PL320M_MIS(LINE_Y)) != 0);
  sleep_ms(30);
  host_irq_get_stats(IRQ_Y, &st);
  CHECK_EQ(st.calls, 0);
  CHECK_EQ(simcore_nrx(&g_yc), before);
  putreg(BASE, PL320M_SOURCE(29), 0);
}

/* Initialise / uninitialise / initialise again, many more times than
 * there are slots: the slots never run out and every incarnation works.
 */

static void test_reinitialize_after_uninitialize(void)
{
  int i;
  int ok = 0;

  for (i = 0; i < 3 * 4 + 1; i++)
    {
      g_dx = pl320_initialize(&g_x, BASE);
      g_dy = pl320_initialize(&g_y, BASE);
      if (g_dx == NULL || g_dy == NULL)
        {
          printf("#   cycle %d: initialisation failed\n", i);
          break;
        }

      g_yrcv.chan = mbox_get_chan(g_dy, (void *)(uintptr_t)29);
      if (mbox_register_rxcallback(&g_yrcv, simcore_rx_callback, &g_yc) != 0 ||
          !xy_works())
        {
          printf("#   cycle %d: X -> Y does not work\n", i);
          break;
        }

      if (pl320_uninitialize(g_dx) != 0 || pl320_uninitialize(g_dy) != 0)
        {
          printf("#   cycle %d: uninitialisation failed\n", i);
          break;
        }

      ok++;
    }

  CHECK_EQ(ok, 3 * 4 + 1);
  CHECK_EQ(reg(BASE, PL320M_SOURCE(29)), 0);

  /* Leave X and Y up, as a board would. */

  g_dx = pl320_initialize(&g_x, BASE);
  g_dy = pl320_initialize(&g_y, BASE);
  CHECK(g_dx != NULL && g_dy != NULL);
  g_yrcv.chan = mbox_get_chan(g_dy, (void *)(uintptr_t)29);
  CHECK_EQ(mbox_register_rxcallback(&g_yrcv, simcore_rx_callback, &g_yc), 0);
  CHECK(xy_up() && xy_works());
}

static void test_no_protocol_errors(void)
{
  struct pl320_model_stats_s ms;

  pl320_model_get_stats(g_model, &ms);
  printf("#   model: %lu writes, %lu protocol errors\n", ms.writes,
         ms.protocol_errors);
  CHECK_EQ(ms.protocol_errors, 0);
}

/****************************************************************************
 * Main
 ****************************************************************************/

int main(void)
{
  int lines[NINT];
  int small_lines[4] =
  {
    -1, -1, -1, -1
  };

  int i;

  setvbuf(stdout, NULL, _IOLBF, 0);
  for (i = 0; i < NINT; i++)
    {
      lines[i] = -1;
    }

  lines[LINE_A] = IRQ_A;
  lines[LINE_B] = IRQ_B;
  lines[LINE_X] = IRQ_X;
  lines[LINE_Y] = IRQ_Y;

  g_model = pl320_model_create(BASE, 32, NINT, 7, lines);
  g_small = pl320_model_create(BASE_SMALL, 8, 4, 7, small_lines);
  g_data1 = pl320_model_create(BASE_DATA1, 32, NINT, 1, NULL);
  if (g_model == NULL || g_small == NULL || g_data1 == NULL ||
      host_bus_map(BASE_FAKE, PL320M_WINDOW_SIZE, fake_read, fake_write,
                   NULL) != 0)
    {
      printf("Bail out! cannot create the models\n");
      return 1;
    }

  simcore_init(&g_a, "A", LINE_A, IRQ_A);
  simcore_init(&g_b, "B", LINE_B, IRQ_B);

  RUN(test_init_rejects_invalid);
  RUN(test_init_failure_undoes_channels);
  RUN(test_empty_table_refused_and_takes_no_slot);
  RUN(test_init_valid);
  RUN(test_init_live_channel_refused);
  RUN(test_device_on_used_irq_refused);
  RUN(test_every_size);
  RUN(test_oversize_refused);
  RUN(test_lookup_by_mailbox);
  RUN(test_unknown_and_real_in_one_read);
  RUN(test_spurious_interrupt);
  RUN(test_late_ack);
  RUN(test_dup_ack);
  RUN(test_drop_ack);
  RUN(test_slots_run_out);
  RUN(test_uninitialize_rejects_bad_calls);
  RUN(test_uninitialize_from_own_callback_is_edeadlk);
  RUN(test_uninitialize_cancels_blocked_sender);
  RUN(test_uninitialized_device_gets_no_interrupts);
  RUN(test_reinitialize_after_uninitialize);
  RUN(test_no_protocol_errors);

  host_shutdown();
  return harness_finish();
}
