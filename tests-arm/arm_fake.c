/****************************************************************************
 * tests-arm/arm_fake.c
 *
 * The bare-metal fake lower half of the Cortex-M test image (arm_fake.h).
 * Its ops run inside the framework's critical section: `send` only pends
 * the ACK interrupt, which runs when the critical section ends.
 ****************************************************************************/

#include <errno.h>
#include <string.h>

#include "arm_fake.h"
#include "cortexm.h"

static struct arm_fake_dev_s *g_dev;
static void (*volatile g_call_fn)(void *arg);
static void *volatile g_call_arg;

static struct mbox_chan_s *fake_getchan(struct mbox_dev_s *dev, void *arg)
{
  struct arm_fake_dev_s *d = (struct arm_fake_dev_s *)dev;

  return arg == (void *)0 ? &d->tx.base : arg == (void *)1 ? &d->rx.base :
         NULL;
}

static int fake_setup(struct mbox_chan_s *chan, void *arg)
{
  (void)arg;
  ((struct arm_fake_chan_s *)chan)->nsetup++;
  return 0;
}

static int fake_shutdown(struct mbox_chan_s *chan)
{
  ((struct arm_fake_chan_s *)chan)->nshutdown++;
  return 0;
}

static int fake_send(struct mbox_chan_s *chan, const void *data,
                     size_t size)
{
  struct arm_fake_chan_s *c = (struct arm_fake_chan_s *)chan;
  uint32_t word = 0;
  int i = c->nsent;

  memcpy(&word, data, size < 4 ? size : 4);
  if (i < ARM_FAKE_LOG)
    {
      c->tokens[i] = chan->txtoken;
      c->words[i] = word;
    }

  c->nsent = i + 1;
  c->ack_token = chan->txtoken;
  switch (c->mode)
    {
      case ARM_ACK_NOW:
        c->ack_pending = true;
        cortexm_irq_pend(ARM_FAKE_ACK_IRQ);
        break;

      case ARM_ACK_AFTER:
        c->ack_countdown = c->ack_delay;
        break;

      case ARM_ACK_NEVER:
        break;
    }

  return 0;
}

static int fake_recv(struct mbox_chan_s *chan, void *data)
{
  struct arm_fake_chan_s *c = (struct arm_fake_chan_s *)chan;

  memcpy(data, c->rx_data, c->rx_size);
  return (int)c->rx_size;
}

static int fake_acknowledge(struct mbox_chan_s *chan, const void *data,
                            size_t size)
{
  (void)data;
  (void)size;
  ((struct arm_fake_chan_s *)chan)->nacknowledge++;
  return 0;
}

static int fake_txfinish(struct mbox_chan_s *chan)
{
  ((struct arm_fake_chan_s *)chan)->ntxfinish++;
  return 0;
}

const struct mbox_ops_s g_arm_fake_ops =
{
  .getchan     = fake_getchan,
  .setup       = fake_setup,
  .shutdown    = fake_shutdown,
  .send        = fake_send,
  .recv        = fake_recv,
  .acknowledge = fake_acknowledge,
  .txfinish    = fake_txfinish,
};

/* The remote's ACK interrupt. */

static int fake_ack_isr(int irq, void *context, void *arg)
{
  struct arm_fake_chan_s *c = &((struct arm_fake_dev_s *)arg)->tx;

  (void)irq;
  (void)context;
  if (c->ack_pending)
    {
      c->ack_pending = false;
      c->ack_in_irq = mbox_os_in_interrupt();
      c->last_ack_ret = mbox_chan_tx_done_token(&c->base, c->ack_token);
      c->nack_irq++;
    }

  return 0;
}

/* The remote's RX interrupt. */

static int fake_rx_isr(int irq, void *context, void *arg)
{
  struct arm_fake_chan_s *c = &((struct arm_fake_dev_s *)arg)->rx;

  (void)irq;
  (void)context;
  if (c->rx_pending)
    {
      c->rx_pending = false;
      c->last_rx_ret = mbox_chan_rx_data(&c->base);
    }

  return 0;
}

static int fake_call_isr(int irq, void *context, void *arg)
{
  void (*fn)(void *arg) = g_call_fn;

  (void)irq;
  (void)context;
  (void)arg;
  g_call_fn = NULL;
  if (fn != NULL)
    {
      fn(g_call_arg);
    }

  return 0;
}

/* SysTick hook: the delayed ACK of ARM_ACK_AFTER. */

static void fake_tick(void)
{
  struct arm_fake_chan_s *c;

  if (g_dev == NULL)
    {
      return;
    }

  c = &g_dev->tx;
  if (c->ack_countdown > 0 && --c->ack_countdown == 0)
    {
      c->ack_pending = true;
      cortexm_irq_pend(ARM_FAKE_ACK_IRQ);
    }
}

void arm_fake_init(struct arm_fake_dev_s *dev)
{
  memset(dev, 0, sizeof(*dev));
  dev->base.ops = &g_arm_fake_ops;
  dev->base.mtu = ARM_FAKE_MTU;
  dev->base.num_chans = 2;
  dev->tx.base.dev = &dev->base;
  dev->tx.base.dir = MBOX_TX;
  dev->tx.base.timeout = 50;
  dev->rx.base.dev = &dev->base;
  dev->rx.base.dir = MBOX_RX;
  g_dev = dev;
  mbox_os_irq_attach(ARM_FAKE_ACK_IRQ, fake_ack_isr, dev);
  mbox_os_irq_attach(ARM_FAKE_RX_IRQ, fake_rx_isr, dev);
  mbox_os_irq_attach(ARM_FAKE_CALL_IRQ, fake_call_isr, dev);
  mbox_os_irq_enable(ARM_FAKE_ACK_IRQ);
  mbox_os_irq_enable(ARM_FAKE_RX_IRQ);
  mbox_os_irq_enable(ARM_FAKE_CALL_IRQ);
  cortexm_set_tick_hook(fake_tick);
}

void arm_fake_ack_irq(struct arm_fake_chan_s *chan, uint32_t token)
{
  chan->ack_token = token;
  chan->ack_pending = true;
  cortexm_irq_pend(ARM_FAKE_ACK_IRQ);
}

void arm_fake_rx_irq(struct arm_fake_chan_s *chan, const void *data,
                     size_t size)
{
  memcpy(chan->rx_data, data, size);
  chan->rx_size = size;
  chan->rx_pending = true;
  cortexm_irq_pend(ARM_FAKE_RX_IRQ);
}

void arm_fake_call_in_irq(void (*fn)(void *arg), void *arg)
{
  g_call_arg = arg;
  g_call_fn = fn;
  cortexm_irq_pend(ARM_FAKE_CALL_IRQ);
}
