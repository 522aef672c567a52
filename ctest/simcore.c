/****************************************************************************
 * ctest/simcore.c
 *
 * A simulated core over the PL320 register model (simcore.h).
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "simcore.h"

#ifdef CONFIG_MBOX_PL320

/****************************************************************************
 * Private Functions
 ****************************************************************************/

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *core_main(void *arg)
{
  struct simcore_s *core = arg;
  int ret;

  pthread_setname_np(pthread_self(), core->name);
  pthread_mutex_lock(&core->lock);
  for (; ; )
    {
      while (!core->job_pending && !core->quit)
        {
          pthread_cond_wait(&core->cond, &core->lock);
        }

      if (core->quit)
        {
          break;
        }

      core->job_pending = false;
      pthread_mutex_unlock(&core->lock);
      ret = core->job(core, core->job_arg);
      pthread_mutex_lock(&core->lock);
      core->job_ret = ret;
      core->job_done = true;
      pthread_cond_broadcast(&core->cond);
    }

  pthread_mutex_unlock(&core->lock);
  return NULL;
}

/****************************************************************************
 * Public Functions
 ****************************************************************************/

void simcore_init(struct simcore_s *core, const char *name, int ipcmint,
                  int irq)
{
  memset(core, 0, sizeof(*core));
  core->name = name;
  core->ipcmint = ipcmint;
  core->irq = irq;
  pthread_mutex_init(&core->lock, NULL);
  pthread_cond_init(&core->cond, NULL);
}

void simcore_stop(struct simcore_s *core)
{
  if (core->thread_started)
    {
      pthread_mutex_lock(&core->lock);
      core->quit = true;
      pthread_cond_broadcast(&core->cond);
      pthread_mutex_unlock(&core->lock);
      pthread_join(core->thread, NULL);
      core->thread_started = false;
    }

  pthread_cond_destroy(&core->cond);
  pthread_mutex_destroy(&core->lock);
}

struct pl320_chan_s *simcore_set_chan(struct simcore_s *core, int k,
                                      int mbox, int src, int dst,
                                      clock_t timeout)
{
  struct pl320_chan_s *c = &core->chans[k];

  memset(c, 0, sizeof(*c));
  c->base.id = mbox;
  c->base.timeout = timeout;
  c->mbox = (uint8_t)mbox;
  c->src = (uint8_t)src;
  c->dst = (uint8_t)dst;
  c->ctrl = true;
  c->txbuf = core->txbuf[k];
  c->bufsize = sizeof(core->txbuf[k]);

  core->config.chans = core->chans;
  if (core->config.num_chans < (size_t)k + 1)
    {
      core->config.num_chans = (size_t)k + 1;
    }

  core->config.ipcmint = core->ipcmint;
  core->config.irq_num = core->irq;
  return c;
}

int simcore_bringup(struct simcore_s *core, uintptr_t base, int tx_mbox,
                    int rx_mbox, mbox_callback_t cb, void *arg)
{
  core->dev = pl320_initialize(&core->config, base);
  if (core->dev == NULL)
    {
      return -ENODEV;
    }

  if (tx_mbox >= 0)
    {
      core->tx = mbox_get_chan(core->dev, (void *)(uintptr_t)tx_mbox);
      core->sender.chan = core->tx;
      core->sender.priv = NULL;
      if (core->tx == NULL)
        {
          return -ENOENT;
        }
    }

  if (rx_mbox >= 0)
    {
      core->rx = mbox_get_chan(core->dev, (void *)(uintptr_t)rx_mbox);
      core->receiver.chan = core->rx;
      core->receiver.priv = NULL;
      if (core->rx == NULL)
        {
          return -ENOENT;
        }

      return mbox_register_rxcallback(&core->receiver,
                                      cb != NULL ? cb : simcore_rx_callback,
                                      cb != NULL ? arg : core);
    }

  return 0;
}

int simcore_rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                        void *data, size_t size)
{
  struct simcore_s *core = arg;
  struct simcore_msg_s *m;

  pthread_mutex_lock(&core->lock);
  if (ret != 0 || (data == NULL && size != 0) ||
      (core->rx != NULL && chan != core->rx))
    {
      core->rx_errors++;
    }
  else
    {
      m = &core->ring[core->nrx % SIMCORE_RX_RING];
      m->chan_id = chan->id;
      m->size = size;
      memset(m->data, 0, sizeof(m->data));
      if (size > 0 && size <= sizeof(m->data))
        {
          memcpy(m->data, data, size);
        }

      core->last = *m;
      core->nrx++;
      if (core->on_rx != NULL)
        {
          core->on_rx(core, data, size);
        }
    }

  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
  return 0;
}

int simcore_nrx(struct simcore_s *core)
{
  int n;

  pthread_mutex_lock(&core->lock);
  n = core->nrx;
  pthread_mutex_unlock(&core->lock);
  return n;
}

bool simcore_wait_rx(struct simcore_s *core, int count, int timeout_ms)
{
  int64_t end = now_ms() + timeout_ms;
  struct timespec ts;
  bool ok;

  /* Short slices: the condition variable runs on CLOCK_REALTIME, the
   * deadline on CLOCK_MONOTONIC.
   */

  pthread_mutex_lock(&core->lock);
  while (core->nrx < count && now_ms() < end)
    {
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 10 * 1000000;
      if (ts.tv_nsec >= 1000000000)
        {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000;
        }

      pthread_cond_timedwait(&core->cond, &core->lock, &ts);
    }

  ok = core->nrx >= count;
  pthread_mutex_unlock(&core->lock);
  return ok;
}

struct simcore_msg_s simcore_rx_at(struct simcore_s *core, int i)
{
  struct simcore_msg_s m;

  pthread_mutex_lock(&core->lock);
  m = core->ring[i % SIMCORE_RX_RING];
  pthread_mutex_unlock(&core->lock);
  return m;
}

void simcore_rx_reset(struct simcore_s *core)
{
  pthread_mutex_lock(&core->lock);
  core->nrx = 0;
  core->rx_errors = 0;
  memset(&core->last, 0, sizeof(core->last));
  pthread_mutex_unlock(&core->lock);
}

void simcore_start(struct simcore_s *core, simcore_job_t job, void *arg)
{
  pthread_mutex_lock(&core->lock);
  if (!core->thread_started)
    {
      core->thread_started =
        pthread_create(&core->thread, NULL, core_main, core) == 0;
    }

  core->job = job;
  core->job_arg = arg;
  core->job_done = !core->thread_started;  /* No thread: fails at once */
  core->job_ret = -EAGAIN;
  core->job_pending = core->thread_started;
  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
}

bool simcore_done(struct simcore_s *core)
{
  bool done;

  pthread_mutex_lock(&core->lock);
  done = core->job_done;
  pthread_mutex_unlock(&core->lock);
  return done;
}

int simcore_wait(struct simcore_s *core)
{
  int ret;

  pthread_mutex_lock(&core->lock);
  while (!core->job_done)
    {
      pthread_cond_wait(&core->cond, &core->lock);
    }

  ret = core->job_ret;
  pthread_mutex_unlock(&core->lock);
  return ret;
}

int simcore_run(struct simcore_s *core, simcore_job_t job, void *arg)
{
  simcore_start(core, job, arg);
  return simcore_wait(core);
}

#endif /* CONFIG_MBOX_PL320 */
