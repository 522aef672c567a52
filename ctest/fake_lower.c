/****************************************************************************
 * ctest/fake_lower.c
 *
 * The scriptable fake lower half (see fake_lower.h). Lock order: the
 * framework's critical section may be held when an op takes the fake's
 * mutex; the responder thread never holds the fake's mutex while it calls
 * into the framework.
 ****************************************************************************/

#include <errno.h>
#include <sys/types.h>
#include <string.h>
#include <time.h>

#include "fake_lower.h"

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct fake_dev_s *dev_of(struct mbox_chan_s *chan)
{
  return (struct fake_dev_s *)chan->dev;
}

static struct mbox_chan_s *fake_getchan(struct mbox_dev_s *d, void *arg)
{
  struct fake_dev_s *dev = (struct fake_dev_s *)d;
  uintptr_t i = (uintptr_t)arg;
  return i < FAKE_NCHANS ? &dev->chans[i].base : NULL;
}

static int fake_setup(struct mbox_chan_s *chan, void *arg)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  (void)arg;
  pthread_mutex_lock(&dev_of(chan)->lock);
  fc->nsetup++;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return fc->setup_result;
}

static int fake_shutdown(struct mbox_chan_s *chan)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  pthread_mutex_lock(&dev_of(chan)->lock);
  fc->nshutdown++;
  fc->fifo_head = 0;                /* the hardware FIFO is flushed */
  fc->fifo_count = 0;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return 0;
}

static int fake_send(struct mbox_chan_s *chan, const void *data,
                     size_t size)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  struct fake_dev_s *dev = dev_of(chan);
  int ret = 0;

  pthread_mutex_lock(&dev->lock);
  if (fc->send_fail_count > 0)
    {
      fc->send_fail_count--;
      ret = fc->send_fail_errno;
    }
  else if (fc->fifo_depth > 0 &&
           (fc->hw_inflight >= fc->fifo_depth ||
            fc->fifo_count >= FAKE_FIFO_MAX))
    {
      fc->overflow++;                   /* more than the FIFO holds */
      ret = -EIO;
    }
  else
    {
      struct fake_msg_s *m = &fc->log[fc->nsent % FAKE_LOG];
      m->token = chan->txtoken;
      m->size = size;
      m->ptr = data;
      if (size > 0)
        {
          memcpy(m->data, data, size < FAKE_MAXMSG ? size : FAKE_MAXMSG);
        }
      fc->nsent++;
      fc->acked = fc->ack_on_send;
      if (++fc->hw_inflight > fc->max_hw_inflight)
        {
          fc->max_hw_inflight = fc->hw_inflight;
        }

      if (fc->fifo_depth > 0)
        {
          int t = (fc->fifo_head + fc->fifo_count) % FAKE_FIFO_MAX;
          fc->fifo_tok[t] = chan->txtoken;
          fc->fifo_due[t] = fc->auto_ack_ms >= 0 ?
                            now_ms() + fc->auto_ack_ms : -1;
          fc->fifo_count++;
          if (fc->auto_ack_ms >= 0)
            {
              pthread_cond_signal(&dev->cond);
            }
        }
      else if (fc->auto_ack_ms >= 0)
        {
          fc->ack_pending = true;
          fc->ack_due_ms = now_ms() + fc->auto_ack_ms;
          pthread_cond_signal(&dev->cond);
        }
    }

  pthread_mutex_unlock(&dev->lock);
  return ret;
}

static int fake_recv(struct mbox_chan_s *chan, void *data)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  if (fc->recv_result != 0)
    {
      return fc->recv_result;
    }

  memcpy(data, fc->rx_data, fc->rx_size);
  return (int)fc->rx_size;
}

static int fake_acknowledge(struct mbox_chan_s *chan, const void *data,
                            size_t size)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  (void)data;
  (void)size;
  pthread_mutex_lock(&dev_of(chan)->lock);
  fc->nack++;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return 0;
}

static int fake_txfinish(struct mbox_chan_s *chan)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  pthread_mutex_lock(&dev_of(chan)->lock);
  fc->ntxfinish++;
  fc->last_finish_token = chan->txtoken;
  fc->hw_inflight--;
  fc->acked = false;
  fc->ack_pending = false;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return 0;
}

static int fake_setcallback(struct mbox_chan_s *chan, mbox_callback_t cb,
                            void *arg)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  (void)cb;
  (void)arg;
  pthread_mutex_lock(&dev_of(chan)->lock);
  fc->nsetcallback++;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return fc->setcallback_result;
}

static bool fake_txacked(struct mbox_chan_s *chan)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;
  bool acked;
  pthread_mutex_lock(&dev_of(chan)->lock);
  acked = fc->acked;
  pthread_mutex_unlock(&dev_of(chan)->lock);
  return acked;
}

const struct mbox_ops_s g_fake_ops =
{
  .getchan     = fake_getchan,
  .setup       = fake_setup,
  .shutdown    = fake_shutdown,
  .send        = fake_send,
  .recv        = fake_recv,
  .acknowledge = fake_acknowledge,
  .txfinish    = fake_txfinish,
  .setcallback = fake_setcallback,
  .rxavailable = NULL,
  .txready     = NULL,
  .txacked     = fake_txacked,
};

const struct mbox_ops_s g_fake_ops_noacked =
{
  .getchan     = fake_getchan,
  .setup       = fake_setup,
  .shutdown    = fake_shutdown,
  .send        = fake_send,
  .recv        = fake_recv,
  .acknowledge = fake_acknowledge,
  .txfinish    = fake_txfinish,
  .setcallback = fake_setcallback,
  .rxavailable = NULL,
  .txready     = NULL,
  .txacked     = NULL,
};

int fake_ack(struct fake_chan_s *fc)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  pthread_mutex_lock(&dev->lock);
  fc->acked = true;
  pthread_mutex_unlock(&dev->lock);
  return mbox_chan_tx_done_checked(&fc->base);
}

int fake_fifo_ack(struct fake_chan_s *fc)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  uint32_t token;

  pthread_mutex_lock(&dev->lock);
  if (fc->fifo_count == 0)
    {
      pthread_mutex_unlock(&dev->lock);
      return -ENODATA;
    }

  token = fc->fifo_tok[fc->fifo_head];
  fc->fifo_head = (fc->fifo_head + 1) % FAKE_FIFO_MAX;
  fc->fifo_count--;
  pthread_mutex_unlock(&dev->lock);
  return mbox_chan_tx_done_token(&fc->base, token);
}

int fake_fifo_count(struct fake_chan_s *fc)
{
  return fake_read(fc, &fc->fifo_count);
}

void fake_set_acked(struct fake_chan_s *fc, bool acked)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  pthread_mutex_lock(&dev->lock);
  fc->acked = acked;
  pthread_mutex_unlock(&dev->lock);
}

int fake_read(struct fake_chan_s *fc, const int *field)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  int v;
  pthread_mutex_lock(&dev->lock);
  v = *field;
  pthread_mutex_unlock(&dev->lock);
  return v;
}

int fake_nsent(struct fake_chan_s *fc)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  int n;
  pthread_mutex_lock(&dev->lock);
  n = fc->nsent;
  pthread_mutex_unlock(&dev->lock);
  return n;
}

struct fake_msg_s fake_sent(struct fake_chan_s *fc, int i)
{
  struct fake_dev_s *dev = dev_of(&fc->base);
  struct fake_msg_s m;
  pthread_mutex_lock(&dev->lock);
  m = fc->log[i % FAKE_LOG];
  pthread_mutex_unlock(&dev->lock);
  return m;
}

/* The remote core: ACKs each sent message auto_ack_ms after it was sent
 * (in FIFO mode, the oldest message of the FIFO when its time comes).
 */

static void *responder(void *arg)
{
  struct fake_dev_s *dev = arg;

  pthread_mutex_lock(&dev->lock);
  while (!dev->stop)
    {
      long long now = now_ms();
      long long next = now + 50;
      int due = -1;
      bool fifo = false;
      int i;

      for (i = 0; i < FAKE_NCHANS; i++)
        {
          struct fake_chan_s *fc = &dev->chans[i];
          bool pending;
          long long due_ms;

          if (fc->fifo_depth > 0)
            {
              pending = fc->fifo_count > 0 &&
                        fc->fifo_due[fc->fifo_head] >= 0;
              due_ms = pending ? fc->fifo_due[fc->fifo_head] : 0;
            }
          else
            {
              pending = fc->ack_pending;
              due_ms = fc->ack_due_ms;
            }

          if (pending)
            {
              if (due_ms <= now)
                {
                  due = i;
                  fifo = fc->fifo_depth > 0;
                  break;
                }

              if (due_ms < next)
                {
                  next = due_ms;
                }
            }
        }

      if (due >= 0)
        {
          dev->chans[due].ack_pending = false;
          pthread_mutex_unlock(&dev->lock);
          if (fifo)
            {
              fake_fifo_ack(&dev->chans[due]);
            }
          else
            {
              fake_ack(&dev->chans[due]);
            }

          pthread_mutex_lock(&dev->lock);
          continue;
        }

      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      long long wait = next - now;
      ts.tv_nsec += (wait % 1000) * 1000000;
      ts.tv_sec += wait / 1000 + ts.tv_nsec / 1000000000;
      ts.tv_nsec %= 1000000000;
      pthread_cond_timedwait(&dev->cond, &dev->lock, &ts);
    }

  pthread_mutex_unlock(&dev->lock);
  return NULL;
}

void fake_dev_init(struct fake_dev_s *dev, size_t mtu)
{
  pthread_condattr_t ca;
  int i;

  memset(dev, 0, sizeof(*dev));
  dev->base.ops = &g_fake_ops;
  dev->base.mtu = mtu;
  dev->base.num_chans = FAKE_NCHANS;
  for (i = 0; i < FAKE_NCHANS; i++)
    {
      dev->chans[i].auto_ack_ms = -1;
      dev->chans[i].base.id = i;
    }

  pthread_mutex_init(&dev->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&dev->cond, &ca);
  pthread_condattr_destroy(&ca);
  dev->running = true;
  pthread_create(&dev->responder, NULL, responder, dev);
}

void fake_dev_init_fifo(struct fake_dev_s *dev, size_t mtu, size_t depth)
{
  int i;

  fake_dev_init(dev, mtu);
  pthread_mutex_lock(&dev->lock);
#if defined(CONFIG_MBOX_TXFIFO)
  dev->base.txdepth = depth;
#endif
  for (i = 0; i < FAKE_NCHANS; i++)
    {
      dev->chans[i].fifo_depth = (int)(depth > 0 ? depth : 1);
    }

  pthread_mutex_unlock(&dev->lock);
}

void fake_dev_stop(struct fake_dev_s *dev)
{
  if (!dev->running)
    {
      return;
    }

  pthread_mutex_lock(&dev->lock);
  dev->stop = true;
  pthread_cond_signal(&dev->cond);
  pthread_mutex_unlock(&dev->lock);
  pthread_join(dev->responder, NULL);
  dev->running = false;
  pthread_mutex_destroy(&dev->lock);
  pthread_cond_destroy(&dev->cond);
}
