/****************************************************************************
 * ffi/nuttx/app/mboxtest/mboxtest_main.c
 *
 * SPDX-License-Identifier: Apache-2.0
 *
 * Licensed to the Apache Software Foundation (ASF) under one or more
 * contributor license agreements.  See the NOTICE file distributed with
 * this work for additional information regarding copyright ownership.  The
 * ASF licenses this file to you under the Apache License, Version 2.0 (the
 * "License"); you may not use this file except in compliance with the
 * License.  You may obtain a copy of the License at
 *
 *   http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTY OF ANY KIND, either express or implied.  See the License for the
 * specific language governing permissions and limitations
 * under the License.
 *
 * The libmbox upper half inside NuttX, against a fake lower half written
 * here: a device with one TX and one RX channel whose ACKs and receptions
 * are delivered from NuttX watchdog callbacks, i.e. from the timer
 * interrupt, as a mailbox controller's interrupt handler would deliver
 * them. Needs the flat build (it calls kernel interfaces directly).
 *
 * Prints every failed check, then "N passed, M failed", then the time per
 * message of four paths measured over MBOXTEST_NMSG messages.
 ****************************************************************************/

#include <nuttx/config.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/wdog.h>
#include <nuttx/mbox/mbox.h>

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define MBOXTEST_MTU      16
#define MBOXTEST_LOG      64
#define MBOXTEST_NMSG     10000
#define MBOXTEST_WAIT_MS  2000        /* Bound of every wait for an event */

#define CHECK_EQ(expr, want) \
  check_eq((long long)(expr), (long long)(want), #expr, __LINE__)

/****************************************************************************
 * Private Types
 ****************************************************************************/

struct fake_chan_s
{
  struct mbox_chan_s base;            /* Must be first */
  struct wdog_s wd;                   /* Automatic ACK ("remote core") */
  volatile int auto_ack;              /* < 0: no ACK; else ACK after ticks */
  volatile bool ack_on_send;          /* send sets acked (polled path) */
  volatile bool kick;                 /* send posts g_kick (task ACK) */
  volatile bool acked;                /* What txacked reports */
  volatile int nsent;
  volatile uint32_t last_token;       /* Token of the latest send */
  uint8_t first[MBOXTEST_LOG];        /* First payload byte of each send */
  volatile int nrxack;                /* acknowledge calls */
  uint8_t rx_data[MBOXTEST_MTU];
  size_t rx_size;
};

struct fake_dev_s
{
  struct mbox_dev_s base;             /* Must be first */
  struct fake_chan_s ch[2];           /* 0: TX, 1: RX */
};

struct txdone_rec_s
{
  volatile int count;
  int results[MBOXTEST_LOG];
};

struct rx_rec_s
{
  volatile int count;
  int ret;
  size_t size;
  uint8_t data[MBOXTEST_MTU];
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static struct fake_dev_s g_dev;
static struct fake_chan_s *const g_tx = &g_dev.ch[0];
static struct fake_chan_s *const g_rx = &g_dev.ch[1];
static struct mbox_sender_s g_sender;
static struct mbox_receiver_s g_receiver;
/* Ring of the queued tests: 4 queued 4-byte messages of a sender with a
 * TX-done callback take 4 x (6 + sizeof(uintptr_t) + 4) bytes, 72 on a
 * 64-bit target (the simulator).
 */

static uint8_t g_qbuf[128];

static struct txdone_rec_s g_txdone;
static struct rx_rec_s g_rxrec;

static struct wdog_s g_irq_wd;        /* Runs g_irq_fn in interrupt context */
static int (*g_irq_fn)(void);
static volatile int g_irq_ret;
static volatile bool g_irq_done;
static volatile uint32_t g_irq_token;

static sem_t g_kick;                  /* send -> ACK task */
static volatile bool g_kick_stop;

static int g_passed;
static int g_failed;

/****************************************************************************
 * Fake lower half
 ****************************************************************************/

static void fake_ack_wd(wdparm_t arg)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)arg;

  /* The remote took the message: interrupt context, like a controller's
   * ACK interrupt.
   */

  mbox_chan_tx_done_token(&fc->base, fc->last_token);
}

static struct mbox_chan_s *fake_getchan(struct mbox_dev_s *dev, void *arg)
{
  uintptr_t i = (uintptr_t)arg;

  return i < 2 ? &((struct fake_dev_s *)dev)->ch[i].base : NULL;
}

static int fake_setup(struct mbox_chan_s *chan, void *arg)
{
  (void)chan;
  (void)arg;
  return 0;
}

static int fake_shutdown(struct mbox_chan_s *chan)
{
  wd_cancel(&((struct fake_chan_s *)chan)->wd);
  return 0;
}

static int fake_send(struct mbox_chan_s *chan, const void *data,
                     size_t size)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;

  fc->first[fc->nsent % MBOXTEST_LOG] =
    size > 0 ? ((const uint8_t *)data)[0] : 0;
  fc->last_token = chan->txtoken;
  fc->acked = fc->ack_on_send;
  fc->nsent++;

  if (fc->kick)
    {
      sem_post(&g_kick);
    }
  else if (fc->auto_ack >= 0)
    {
      wd_start(&fc->wd, fc->auto_ack, fake_ack_wd, (wdparm_t)fc);
    }

  return 0;
}

static int fake_recv(struct mbox_chan_s *chan, void *data)
{
  struct fake_chan_s *fc = (struct fake_chan_s *)chan;

  memcpy(data, fc->rx_data, fc->rx_size);
  return (int)fc->rx_size;
}

static int fake_acknowledge(struct mbox_chan_s *chan, const void *data,
                            size_t size)
{
  (void)data;
  (void)size;
  ((struct fake_chan_s *)chan)->nrxack++;
  return 0;
}

static int fake_txfinish(struct mbox_chan_s *chan)
{
  ((struct fake_chan_s *)chan)->acked = false;
  return 0;
}

static int fake_setcallback(struct mbox_chan_s *chan, mbox_callback_t cb,
                            void *arg)
{
  (void)chan;
  (void)cb;
  (void)arg;
  return 0;
}

static bool fake_txacked(struct mbox_chan_s *chan)
{
  return ((struct fake_chan_s *)chan)->acked;
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
  .rxavailable = NULL,
  .txready     = NULL,
  .txacked     = fake_txacked,
};

/****************************************************************************
 * Helpers
 ****************************************************************************/

static void check_eq(long long got, long long want, const char *expr,
                     int line)
{
  if (got == want)
    {
      g_passed++;
    }
  else
    {
      g_failed++;
      printf("FAIL line %d: %s = %lld, expected %lld\n",
             line, expr, got, want);
    }
}

/* Wait (bounded) until *counter reaches want. */

static bool wait_count(volatile int *counter, int want)
{
  int ms;

  for (ms = 0; ms < MBOXTEST_WAIT_MS && *counter < want; ms++)
    {
      usleep(1000);
    }

  return *counter >= want;
}

static void irq_wd(wdparm_t arg)
{
  (void)arg;
  g_irq_ret = g_irq_fn();
  g_irq_done = true;
}

/* Run fn from a watchdog callback (interrupt context) and return its
 * result; -EINTR if it did not run within the bound.
 */

static int irq_call(int (*fn)(void))
{
  int ms;

  g_irq_fn = fn;
  g_irq_done = false;
  wd_start(&g_irq_wd, 1, irq_wd, 0);
  for (ms = 0; ms < MBOXTEST_WAIT_MS && !g_irq_done; ms++)
    {
      usleep(1000);
    }

  return g_irq_done ? g_irq_ret : -EINTR;
}

static void on_txdone(struct mbox_sender_s *sender, void *arg, int result)
{
  struct txdone_rec_s *rec = arg;

  (void)sender;
  if (rec->count < MBOXTEST_LOG)
    {
      rec->results[rec->count] = result;
    }

  rec->count++;
}

static int on_rx(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                 size_t size)
{
  struct rx_rec_s *rec = arg;

  (void)chan;
  rec->ret = ret;
  rec->size = size;
  if (data != NULL && size <= sizeof(rec->data))
    {
      memcpy(rec->data, data, size);
    }

  rec->count++;
  return 0;
}

static void reset_chan(struct fake_chan_s *fc, int id)
{
  wd_cancel(&fc->wd);
  memset(&fc->base, 0, sizeof(fc->base));
  fc->base.id = id;
  fc->auto_ack = -1;
  fc->ack_on_send = false;
  fc->kick = false;
  fc->acked = false;
  fc->nsent = 0;
  fc->nrxack = 0;
}

/* Open the TX channel with a queue of qbytes and a TX-done callback. */

static int tx_open(size_t qbytes)
{
  int ret;

  reset_chan(g_tx, 0);
  memset(&g_txdone, 0, sizeof(g_txdone));
  ret = mbox_chan_init(&g_tx->base, &g_dev.base, MBOX_TX,
                       qbytes > 0 ? g_qbuf : NULL, qbytes);
  if (ret == 0)
    {
      g_sender.chan = &g_tx->base;
      g_sender.priv = NULL;
      ret = mbox_register_txdone(&g_sender, on_txdone, &g_txdone);
    }

  return ret;
}

static int rx_open(void)
{
  int ret;

  reset_chan(g_rx, 1);
  memset(&g_rxrec, 0, sizeof(g_rxrec));
  ret = mbox_chan_init(&g_rx->base, &g_dev.base, MBOX_RX, NULL, 0);
  if (ret == 0)
    {
      g_receiver.chan = &g_rx->base;
      g_receiver.priv = NULL;
      ret = mbox_register_rxcallback(&g_receiver, on_rx, &g_rxrec);
    }

  return ret;
}

/****************************************************************************
 * Interrupt-context bodies for irq_call()
 ****************************************************************************/

static int irq_ack_token(void)
{
  return mbox_chan_tx_done_token(&g_tx->base, g_irq_token);
}

static int irq_blocking_send(void)
{
  static const uint8_t msg[4] = { 1, 2, 3, 4 };
  return mbox_ticksend(&g_sender, msg, sizeof(msg), 10);
}

static int irq_nonblocking_send(void)
{
  static const uint8_t msg[4] = { 9, 9, 9, 9 };
  return mbox_ticksend(&g_sender, msg, sizeof(msg), 0);
}

static int irq_rx_data(void)
{
  return mbox_chan_rx_data(&g_rx->base);
}

static int irq_chan_init(void)
{
  static struct mbox_chan_s chan;
  return mbox_chan_init(&chan, &g_dev.base, MBOX_TX, NULL, 0);
}

static int irq_chan_deinit(void)
{
  return mbox_chan_deinit(&g_tx->base);
}

/****************************************************************************
 * Tests
 ****************************************************************************/

static void test_blocking_send_returns_after_interrupt_ack(void)
{
  static const uint8_t msg[4] = { 0x11, 2, 3, 4 };

  CHECK_EQ(tx_open(0), 0);
  g_tx->auto_ack = 2;
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 100), 0);
  CHECK_EQ(g_tx->nsent, 1);
  CHECK_EQ(g_tx->first[0], 0x11);
  CHECK_EQ(mbox_send(&g_sender, msg, sizeof(msg)), 0);
  CHECK_EQ(g_txdone.count, 0);        /* Blocking sends get no callback */
  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
}

static void test_queued_messages_acked_in_order(void)
{
  uint8_t msg[4];
  int i;

  CHECK_EQ(tx_open(sizeof(g_qbuf)), 0);
  g_tx->auto_ack = 1;
  for (i = 0; i < 5; i++)
    {
      memset(msg, i, sizeof(msg));
      CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), 0);
    }

  CHECK_EQ(wait_count(&g_txdone.count, 5), true);
  CHECK_EQ(g_txdone.count, 5);
  CHECK_EQ(g_tx->nsent, 5);
  for (i = 0; i < 5; i++)
    {
      CHECK_EQ(g_tx->first[i], i);
      CHECK_EQ(g_txdone.results[i], 0);
    }

  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
}

static void test_timed_send_without_ack_times_out(void)
{
  static const uint8_t msg[4] = { 5, 6, 7, 8 };

  CHECK_EQ(tx_open(0), 0);
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 5), -ETIMEDOUT);
  CHECK_EQ(g_tx->nsent, 1);
  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
}

static void test_late_ack_after_timeout_completes_nothing(void)
{
  static const uint8_t msg[4] = { 5, 6, 7, 8 };
  uint32_t old;

  CHECK_EQ(tx_open(sizeof(g_qbuf)), 0);
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 3), -ETIMEDOUT);
  old = g_tx->last_token;

  /* Nothing in flight: the late ACK finds nothing to complete. */

  g_irq_token = old;
  CHECK_EQ(irq_call(irq_ack_token), -ENOENT);

  /* A newer message in flight: the late ACK must not complete it. */

  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), 0);
  CHECK_EQ(g_tx->nsent, 2);
  CHECK_EQ(g_tx->last_token != old, true);
  CHECK_EQ(irq_call(irq_ack_token), -ESRCH);
  CHECK_EQ(g_txdone.count, 0);

  /* Its own ACK does. */

  g_irq_token = g_tx->last_token;
  CHECK_EQ(irq_call(irq_ack_token), 0);
  CHECK_EQ(g_txdone.count, 1);
  CHECK_EQ(g_txdone.results[0], 0);
  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
}

static void test_full_queue_refuses_with_enobufs(void)
{
  static const uint8_t msg[4] = { 1, 1, 1, 1 };

  /* Room for two queued 4-byte messages of a sender with a TX-done
   * callback on a 64-bit target (6 bytes of header and an 8-byte client
   * word each); on a 32-bit one (a 4-byte client word) a third one does
   * not fit either.
   */

  CHECK_EQ(tx_open(2 * (14 + 4)), 0);
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), 0);  /* flight */
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), 0);  /* queue */
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), 0);  /* queue */
  CHECK_EQ(mbox_ticksend(&g_sender, msg, sizeof(msg), 0), -ENOBUFS);
  CHECK_EQ(g_tx->nsent, 1);
  CHECK_EQ(g_txdone.count, 0);

  /* Every accepted message still ends exactly once. */

  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
  CHECK_EQ(g_txdone.count, 3);
  CHECK_EQ(g_txdone.results[0], -ECANCELED);
  CHECK_EQ(g_txdone.results[1], -ECANCELED);
  CHECK_EQ(g_txdone.results[2], -ECANCELED);
}

static void *blocked_sender(void *arg)
{
  static const uint8_t msg[4] = { 3, 3, 3, 3 };

  *(int *)arg = mbox_ticksend(&g_sender, msg, sizeof(msg),
                              MBOX_WAIT_FOREVER);
  return NULL;
}

static void test_deinit_cancels_blocked_sender(void)
{
  pthread_t thread;
  int result = 1;

  CHECK_EQ(tx_open(0), 0);
  CHECK_EQ(pthread_create(&thread, NULL, blocked_sender, &result), 0);
  CHECK_EQ(wait_count(&g_tx->nsent, 1), true);
  usleep(10000);                      /* Let it block on its ACK */
  CHECK_EQ(result, 1);
  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
  CHECK_EQ(pthread_join(thread, NULL), 0);
  CHECK_EQ(result, -ECANCELED);
}

static void test_rx_from_interrupt_reaches_callback_with_exact_size(void)
{
  static const uint8_t data[7] = { 'm', 'a', 'i', 'l', 'b', 'o', 'x' };

  CHECK_EQ(rx_open(), 0);
  memcpy(g_rx->rx_data, data, sizeof(data));
  g_rx->rx_size = sizeof(data);
  CHECK_EQ(irq_call(irq_rx_data), (int)sizeof(data));   /* its size */
  CHECK_EQ(g_rxrec.count, 1);
  CHECK_EQ(g_rxrec.ret, 0);
  CHECK_EQ(g_rxrec.size, sizeof(data));
  CHECK_EQ(memcmp(g_rxrec.data, data, sizeof(data)), 0);
  CHECK_EQ(g_rx->nrxack, 1);

  /* An empty message is delivered as one, too. */

  g_rx->rx_size = 0;
  CHECK_EQ(irq_call(irq_rx_data), 0);
  CHECK_EQ(g_rxrec.count, 2);
  CHECK_EQ(g_rxrec.size, 0);
  CHECK_EQ(mbox_unregister_rxcallback(&g_receiver), 0);
  CHECK_EQ(mbox_chan_deinit(&g_rx->base), 0);
}

static void test_bad_input_is_refused(void)
{
  static const uint8_t msg[MBOXTEST_MTU + 1];
  struct mbox_sender_s nochan =
  {
    NULL, NULL
  };

  static struct mbox_chan_s never_init;

  CHECK_EQ(tx_open(sizeof(g_qbuf)), 0);
  CHECK_EQ(rx_open(), 0);

  CHECK_EQ(mbox_get_chan(NULL, NULL) == NULL, true);
  CHECK_EQ(mbox_get_chan(&g_dev.base, (void *)2) == NULL, true);
  CHECK_EQ(mbox_get_chan(&g_dev.base, (void *)0) == &g_tx->base, true);
  CHECK_EQ(mbox_chan_init(NULL, &g_dev.base, MBOX_TX, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_init(&never_init, NULL, MBOX_TX, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_init(&never_init, &g_dev.base,
                          (enum mbox_direction_e)7, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_chan_init(&never_init, &g_dev.base, MBOX_TX, NULL, 8),
           -EINVAL);
  CHECK_EQ(mbox_chan_init(&g_tx->base, &g_dev.base, MBOX_TX, NULL, 0),
           -EBUSY);
  CHECK_EQ(mbox_chan_deinit(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_deinit(&never_init), -EINVAL);

  CHECK_EQ(mbox_ticksend(NULL, msg, 4, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&nochan, msg, 4, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&g_sender, NULL, 0, 0), -EINVAL);
  CHECK_EQ(mbox_ticksend(&g_sender, msg, MBOXTEST_MTU + 1, 0), -EMSGSIZE);

  /* A negative timeout exists only where clock_t is signed. NuttX's is
   * unsigned: (clock_t)-2 is a valid (very long) timeout there, and a
   * send with it would wait for an ACK that never comes.
   */

  if ((clock_t)-1 < 0)
    {
      CHECK_EQ(mbox_ticksend(&g_sender, msg, 4, (clock_t)-2), -EINVAL);
    }

  g_sender.chan = &g_rx->base;
  CHECK_EQ(mbox_ticksend(&g_sender, msg, 4, 0), -EINVAL);
  g_sender.chan = &g_tx->base;
  CHECK_EQ(g_tx->nsent, 0);

  CHECK_EQ(mbox_chan_tx_done_checked(&g_tx->base), -ENOENT);
  CHECK_EQ(mbox_chan_tx_done_token(&g_tx->base, 1), -ENOENT);
  CHECK_EQ(mbox_chan_tx_done_checked(&g_rx->base), -EINVAL);
  CHECK_EQ(mbox_chan_tx_done_checked(NULL), -EINVAL);
  CHECK_EQ(mbox_chan_rx_data(&g_tx->base), -EINVAL);
  CHECK_EQ(mbox_chan_rx_data(NULL), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(&g_receiver, NULL, NULL), -EINVAL);
  CHECK_EQ(mbox_register_rxcallback(NULL, on_rx, NULL), -EINVAL);
  CHECK_EQ(mbox_chan_mtu(&g_tx->base), MBOXTEST_MTU);
  CHECK_EQ(mbox_chan_mtu(NULL), -EINVAL);
#if defined(CONFIG_MBOX_TXFIFO)
  CHECK_EQ(mbox_chan_txdepth(&g_tx->base), 1);
#endif
  CHECK_EQ(mbox_dev_max_chans(&g_dev.base), 2);
  CHECK_EQ(mbox_chan_set_txdone(&g_tx->base, 7, 0), -EINVAL);
  CHECK_EQ(mbox_send_poll(&g_sender, msg, 4, 0), -EINVAL);

  /* Task-only calls from interrupt context. */

  CHECK_EQ(irq_call(irq_blocking_send), -EPERM);
  CHECK_EQ(irq_call(irq_chan_init), -EPERM);
  CHECK_EQ(irq_call(irq_chan_deinit), -EPERM);
  CHECK_EQ(g_tx->nsent, 0);

  /* A non-blocking send from interrupt context is allowed. */

  CHECK_EQ(irq_call(irq_nonblocking_send), 0);
  CHECK_EQ(g_tx->nsent, 1);

  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);
  CHECK_EQ(g_txdone.count, 1);
  CHECK_EQ(g_txdone.results[0], -ECANCELED);
  CHECK_EQ(mbox_chan_deinit(&g_rx->base), 0);
}

/****************************************************************************
 * Timing
 ****************************************************************************/

static long long now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *ack_task(void *arg)
{
  (void)arg;
  for (; ; )
    {
      sem_wait(&g_kick);
      if (g_kick_stop)
        {
          return NULL;
        }

      mbox_chan_tx_done_token(&g_tx->base, g_tx->last_token);
    }
}

static void report(const char *path, long long t0, int n, int ok)
{
  long long dt = now_ns() - t0;

  printf("%-40s %8lld ns per message (%d of %d)\n",
         path, dt / n, ok, n);
}

static void time_paths(void)
{
  static const uint8_t msg[4] = { 1, 2, 3, 4 };
  struct sched_param param;
  pthread_attr_t attr;
  pthread_t thread;
  long long t0;
  int ok;
  int i;

  /* Polled: send, ACK seen by txacked on the first poll. */

  CHECK_EQ(tx_open(0), 0);
  g_tx->ack_on_send = true;
  t0 = now_ns();
  for (ok = i = 0; i < MBOXTEST_NMSG; i++)
    {
      ok += mbox_send_poll(&g_sender, msg, sizeof(msg), 100) == 0;
    }

  report("mbox_send_poll", t0, MBOXTEST_NMSG, ok);
  CHECK_EQ(ok, MBOXTEST_NMSG);

  /* Non-blocking send, ACK reported by the same task (upper half only). */

  g_tx->ack_on_send = false;
  t0 = now_ns();
  for (ok = i = 0; i < MBOXTEST_NMSG; i++)
    {
      ok += mbox_ticksend(&g_sender, msg, sizeof(msg), 0) == 0 &&
            mbox_chan_tx_done_token(&g_tx->base, g_tx->last_token) == 0;
    }

  report("mbox_ticksend(0) + mbox_chan_tx_done", t0, MBOXTEST_NMSG, ok);
  CHECK_EQ(ok, MBOXTEST_NMSG);
  CHECK_EQ(g_txdone.count, MBOXTEST_NMSG);

  /* Blocking send, ACK from a lower-priority task that runs once the
   * sender blocks (two switches). The fake's send only posts a semaphore;
   * a task of higher priority would run inside send, in the middle of the
   * framework's critical section (NuttX switches tasks there), which a
   * lower half must never cause.
   */

  sem_init(&g_kick, 0, 0);
  g_kick_stop = false;
  pthread_attr_init(&attr);
  param.sched_priority = CONFIG_TESTING_MBOXTEST_PRIORITY - 10;
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedparam(&attr, &param);
  CHECK_EQ(pthread_create(&thread, &attr, ack_task, NULL), 0);
  g_tx->kick = true;
  t0 = now_ns();
  for (ok = i = 0; i < MBOXTEST_NMSG; i++)
    {
      ok += mbox_ticksend(&g_sender, msg, sizeof(msg), 100) == 0;
    }

  report("mbox_ticksend (blocking, ACK task)", t0, MBOXTEST_NMSG, ok);
  CHECK_EQ(ok, MBOXTEST_NMSG);
  g_tx->kick = false;
  g_kick_stop = true;
  sem_post(&g_kick);
  CHECK_EQ(pthread_join(thread, NULL), 0);
  sem_destroy(&g_kick);
  CHECK_EQ(mbox_chan_deinit(&g_tx->base), 0);

  /* Reception to a callback. */

  CHECK_EQ(rx_open(), 0);
  g_rx->rx_size = 8;
  t0 = now_ns();
  for (ok = i = 0; i < MBOXTEST_NMSG; i++)
    {
      ok += mbox_chan_rx_data(&g_rx->base) == 8;
    }

  report("mbox_chan_rx_data", t0, MBOXTEST_NMSG, ok);
  CHECK_EQ(ok, MBOXTEST_NMSG);
  CHECK_EQ(g_rxrec.count, MBOXTEST_NMSG);
  CHECK_EQ(mbox_chan_deinit(&g_rx->base), 0);
}

/****************************************************************************
 * Public Functions
 ****************************************************************************/

int main(int argc, FAR char *argv[])
{
  (void)argc;
  (void)argv;

  g_dev.base.ops = &g_fake_ops;
  g_dev.base.mtu = MBOXTEST_MTU;
  g_dev.base.num_chans = 2;
#if defined(CONFIG_MBOX_TXFIFO)
  g_dev.base.txdepth = 1;
#endif

  printf("mboxtest: libmbox upper half, fake lower half, "
         "ACK/RX from watchdog callbacks\n");

  test_blocking_send_returns_after_interrupt_ack();
  test_queued_messages_acked_in_order();
  test_timed_send_without_ack_times_out();
  test_late_ack_after_timeout_completes_nothing();
  test_full_queue_refuses_with_enobufs();
  test_deinit_cancels_blocked_sender();
  test_rx_from_interrupt_reaches_callback_with_exact_size();
  test_bad_input_is_refused();
  time_paths();

  wd_cancel(&g_irq_wd);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
