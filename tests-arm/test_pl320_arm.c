/****************************************************************************
 * tests-arm/test_pl320_arm.c
 *
 * The PL320 lower half on a Cortex-M3 against the register model
 * (ffi/host/pl320_model.c compiled for the bare-metal port, model-shim/).
 * Two driver instances share the model on one core, as two cores would:
 * "local" (IPCM interrupt line 0 on NVIC irq 20) sends on mailbox 16,
 * "remote" (line 1 on irq 21) receives it in its interrupt handler and
 * the driver ACKs, which reaches the local handler on irq 20.
 ****************************************************************************/

#include <errno.h>
#include <string.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "cortexm.h"
#include "harness.h"
#include "pl320_model.h"
#include "tests_arm.h"

#define MODEL_BASE   ((uintptr_t)0x2a000000u)
#define LOCAL_IRQ    20
#define REMOTE_IRQ   21
#define NVIC_ICER0   (*(volatile uint32_t *)0xe000e180u)
#define NVIC_ISER0   (*(volatile uint32_t *)0xe000e100u)

struct core_s
{
  struct pl320_chan_s chans[2];
  struct pl320_config_s cfg;
  uint8_t txbuf[2][PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE];
  struct mbox_dev_s *dev;
};

static struct core_s g_local;
static struct core_s g_remote;
static struct pl320_model_s *g_model;

static volatile int g_got;
static volatile bool g_got_in_irq;
static uint32_t g_words[64];
static size_t g_sizes[64];

static int rx_cb(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                 size_t size)
{
  (void)chan;
  (void)arg;
  if (ret == 0 && g_got < 64)
    {
      uint32_t w = 0;
      memcpy(&w, data, size < 4 ? size : 4);
      g_words[g_got] = w;
      g_sizes[g_got] = size;
    }

  g_got_in_irq = mbox_os_in_interrupt();
  g_got++;
  return 0;
}

static void core_init(struct core_s *c, int ipcmint, int irq)
{
  memset(c, 0, sizeof(*c));
  for (int i = 0; i < 2; i++)
    {
      c->chans[i].base.id = 16 + i;
      c->chans[i].base.timeout = 20;
      c->chans[i].mbox = 16 + i;
      c->chans[i].src = i == 0 ? 0 : 1;   /* 16: 0 -> 1, 17: 1 -> 0 */
      c->chans[i].dst = i == 0 ? 1 : 0;
      c->chans[i].ctrl = true;
      c->chans[i].txbuf = c->txbuf[i];
      c->chans[i].bufsize = sizeof(c->txbuf[i]);
    }

  c->cfg.chans = c->chans;
  c->cfg.num_chans = 2;
  c->cfg.ipcmint = ipcmint;
  c->cfg.irq_num = irq;
  c->dev = pl320_initialize(&c->cfg, MODEL_BASE);
}

static void test_pl320_two_drivers_come_up_on_the_model(void)
{
  int lines[2] = { LOCAL_IRQ, REMOTE_IRQ };

  g_model = pl320_model_create(MODEL_BASE, 32, 2, 7, lines);
  CHECK(g_model != NULL);
  core_init(&g_local, 0, LOCAL_IRQ);
  core_init(&g_remote, 1, REMOTE_IRQ);
  CHECK(g_local.dev != NULL);
  CHECK(g_remote.dev != NULL);
}

static void test_pl320_blocking_sends_delivered_and_acked_by_interrupts(void)
{
  struct mbox_sender_s s;
  struct mbox_receiver_s r;
  struct mbox_stats_s st;

  if (g_local.dev == NULL || g_remote.dev == NULL)
    {
      CHECK(false);
      return;
    }

  g_got = 0;
  s.chan = mbox_get_chan(g_local.dev, (void *)16);
  r.chan = mbox_get_chan(g_remote.dev, (void *)16);
  CHECK(s.chan != NULL && r.chan != NULL);
  CHECK_EQ(mbox_register_rxcallback(&r, rx_cb, NULL), 0);
  for (uint32_t i = 0; i < 20; i++)
    {
      uint8_t msg[PL320_MTU];
      memset(msg, (int)i, sizeof(msg));
      memcpy(msg, &i, sizeof(i));
      CHECK_EQ(mbox_send(&s, msg, 4 + i), 0);
    }

  /* The last one is the 28-byte uint32_t data[7] of the compatible wire
   * format (the default), 24 bytes (the MTU) framed.
   */

  {
    uint32_t data[PL320_MTU / 4];

    memset(data, 0xa5, sizeof(data));
    data[0] = 20;
    CHECK_EQ(mbox_send(&s, data, sizeof(data)), 0);
  }

  CHECK_EQ(g_got, 21);
  CHECK(g_got_in_irq);
  for (uint32_t i = 0; i < 21; i++)
    {
      CHECK_EQ(g_words[i], i);
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
      /* The compatible format carries no length: always DR0..DR6. */

      CHECK_EQ(g_sizes[i], PL320_MTU);
#else
      CHECK_EQ(g_sizes[i], i < 20 ? 4 + i : PL320_MTU);
#endif
    }

  memset(&st, 0, sizeof(st));
  CHECK_EQ(mbox_chan_get_stats_checked(s.chan, &st), 0);
  CHECK_EQ(st.sent, 21);
  CHECK_EQ(st.acked, 21);
  CHECK_EQ(st.spurious_ack, 0);
  CHECK_EQ(mbox_unregister_rxcallback(&r), 0);
}

static void test_pl320_send_times_out_while_remote_masked_then_next_goes_through(void)
{
  struct mbox_sender_s s;
  struct mbox_receiver_s r;
  struct mbox_stats_s st;
  struct mbox_stats_s st0;
  uint32_t msg = 0xabc;

  if (g_local.dev == NULL || g_remote.dev == NULL)
    {
      CHECK(false);
      return;
    }

  g_got = 0;
  s.chan = mbox_get_chan(g_local.dev, (void *)16);
  r.chan = mbox_get_chan(g_remote.dev, (void *)16);
  CHECK_EQ(mbox_register_rxcallback(&r, rx_cb, NULL), 0);
  memset(&st0, 0, sizeof(st0));
  CHECK_EQ(mbox_chan_get_stats_checked(s.chan, &st0), 0);

  /* The remote core does not take its interrupt: the send times out. */

  NVIC_ICER0 = 1u << REMOTE_IRQ;
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 5), -ETIMEDOUT);

  /* Then it does: the timed-out message was withdrawn from the mailbox
   * (the remote never sees it), the next one goes through with its ACK.
   */

  NVIC_ISER0 = 1u << REMOTE_IRQ;
  msg = 0xdef;
  CHECK_EQ(mbox_send(&s, &msg, sizeof(msg)), 0);
  CHECK_EQ(g_got, 1);
  CHECK_EQ(g_words[0], 0xdef);
  memset(&st, 0, sizeof(st));
  CHECK_EQ(mbox_chan_get_stats_checked(s.chan, &st), 0);
  CHECK_EQ(st.timeout - st0.timeout, 1);
  CHECK_EQ(st.acked - st0.acked, 1);
  CHECK_EQ(mbox_unregister_rxcallback(&r), 0);
}

static void test_pl320_uninitialize_frees_both_devices(void)
{
  if (g_local.dev == NULL || g_remote.dev == NULL)
    {
      CHECK(false);
      return;
    }

  CHECK_EQ(pl320_uninitialize(g_local.dev), 0);
  CHECK_EQ(pl320_uninitialize(g_remote.dev), 0);
  g_local.dev = NULL;
  g_remote.dev = NULL;
}

void tests_pl320_arm(void)
{
  RUN(test_pl320_two_drivers_come_up_on_the_model);
  RUN(test_pl320_blocking_sends_delivered_and_acked_by_interrupts);
  RUN(test_pl320_send_times_out_while_remote_masked_then_next_goes_through);
  RUN(test_pl320_uninitialize_frees_both_devices);
}
