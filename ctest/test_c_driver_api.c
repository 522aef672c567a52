/****************************************************************************
 * ctest/test_c_driver_api.c
 *
 * Source compatibility with the NuttX C driver's API, both halves:
 *
 *   - a lower half written to the C driver's lower-half contract: a
 *     loopback mailbox whose TX channel delivers into its RX channel
 *     through a simulated interrupt; its recv returns int, it keeps its
 *     channels in dev->chans / dev->num_chans, it ACKs with
 *     mbox_chan_tx_done() (no token) and reads mbox_chan_rx_data()'s
 *     return value;
 *   - a client that uses every name of the C driver's mbox.h and pl320.h
 *     (each macro, type, field, enum value and function, with the C
 *     driver's prototypes) and checks the statistics and txstate meanings.
 *
 * Compiled with -Wall -Wextra -Werror, and incompatible pointer types are
 * errors here: every function pointer below has the C driver's type.
 ****************************************************************************/

#pragma GCC diagnostic error "-Wincompatible-pointer-types"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* NuttX names that are not mailbox API (nuttx/compiler.h provides them). */

#define FAR
#define CODE
#define OK 0

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "harness.h"
#include "host.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define LOOP_IRQ        11
#define LOOP_TX_ID      0
#define LOOP_RX_ID      1
#define LOOP_NCHANS     2
#define LOOP_QUEUED     8

#define SEND_INACTIVE   0
#define SEND_MSG        1
#define SEND_ACK        2

/****************************************************************************
 * Compile-time checks: the C driver's names, types and orders
 ****************************************************************************/

/* Every function with the C driver's prototype. */

static FAR struct mbox_chan_s *(*const g_get_chan)(FAR struct mbox_dev_s *,
                                                   FAR void *) =
  mbox_get_chan;
static int (*const g_chan_init)(FAR struct mbox_chan_s *,
                                FAR struct mbox_dev_s *,
                                enum mbox_direction_e, FAR void *,
                                size_t) = mbox_chan_init;
static int (*const g_send)(FAR struct mbox_sender_s *, FAR const void *,
                           size_t) = mbox_send;
static int (*const g_ticksend)(FAR struct mbox_sender_s *,
                               FAR const void *, size_t, clock_t) =
  mbox_ticksend;
static int (*const g_register)(FAR struct mbox_receiver_s *,
                               mbox_callback_t, FAR void *) =
  mbox_register_rxcallback;
static int (*const g_unregister)(FAR struct mbox_receiver_s *) =
  mbox_unregister_rxcallback;
static int (*const g_rx_data)(FAR struct mbox_chan_s *) = mbox_chan_rx_data;
static void (*const g_tx_done)(FAR struct mbox_chan_s *) = mbox_chan_tx_done;
#ifdef CONFIG_MBOX_TRACE
static void (*const g_get_stats)(FAR struct mbox_chan_s *,
                                 FAR struct mbox_stats_s *) =
  mbox_chan_get_stats;
#endif
static int (*const g_chan_deinit)(FAR struct mbox_chan_s *) =
  mbox_chan_deinit;
#ifdef CONFIG_MBOX_PL320
static FAR struct mbox_dev_s *(*const g_pl320_init)(
    FAR const struct pl320_config_s *, uintptr_t) = pl320_initialize;
#endif

/* Constants and enum values. */

_Static_assert(MBOX_MAX_MSG_SIZE == 128, "MBOX_MAX_MSG_SIZE");
_Static_assert(MBOX_WAIT_FOREVER == (clock_t)-1, "MBOX_WAIT_FOREVER");
_Static_assert(MBOX_RX == 0 && MBOX_TX == 1, "mbox_direction_e");
_Static_assert(MBOX_TX_IDLE == 0 && MBOX_TX_ACTIVE == 1, "mbox_txstate_e");

/* The C driver's public fields of mbox_chan_s, in its order. */

#define BEFORE(t, a, b) _Static_assert(offsetof(t, a) < offsetof(t, b), \
                                       #t ": " #a " before " #b)

BEFORE(struct mbox_chan_s, id, dir);
BEFORE(struct mbox_chan_s, dir, dev);
BEFORE(struct mbox_chan_s, dev, callback);
BEFORE(struct mbox_chan_s, callback, timeout);
BEFORE(struct mbox_chan_s, timeout, txstate);
#ifdef CONFIG_MBOX_TRACE
BEFORE(struct mbox_chan_s, txstate, stats);
BEFORE(struct mbox_chan_s, stats, priv);
BEFORE(struct mbox_stats_s, timeout, sent);
BEFORE(struct mbox_stats_s, sent, received);
BEFORE(struct mbox_stats_s, received, acked);
BEFORE(struct mbox_stats_s, acked, buffered);
#else
BEFORE(struct mbox_chan_s, txstate, priv);
#endif
_Static_assert(offsetof(struct mbox_chan_s, id) == 0, "id first");
_Static_assert(offsetof(struct mbox_dev_s, ops) == 0, "ops first");
BEFORE(struct mbox_dev_s, ops, chans);
BEFORE(struct mbox_dev_s, chans, num_chans);
BEFORE(struct mbox_sender_s, chan, priv);
BEFORE(struct mbox_receiver_s, chan, priv);
BEFORE(struct mbox_ops_s, getchan, setup);
BEFORE(struct mbox_ops_s, setup, shutdown);
BEFORE(struct mbox_ops_s, shutdown, send);
BEFORE(struct mbox_ops_s, send, recv);
BEFORE(struct mbox_ops_s, recv, acknowledge);
BEFORE(struct mbox_ops_s, acknowledge, txfinish);
BEFORE(struct mbox_ops_s, txfinish, setcallback);
BEFORE(struct mbox_ops_s, setcallback, rxavailable);
BEFORE(struct mbox_ops_s, rxavailable, txready);
BEFORE(struct mbox_ops_s, txready, txacked);
_Static_assert(sizeof(((struct mbox_dev_s *)0)->num_chans) ==
               sizeof(size_t), "num_chans is a size_t");
_Static_assert(sizeof(((struct mbox_chan_s *)0)->txstate) ==
               sizeof(enum mbox_txstate_e), "txstate is the enum");

#ifdef CONFIG_MBOX_PL320
_Static_assert(PL320_MAX_MBOX_NUM == 32 && PL320_MAX_CHAN_NUM == 32 &&
               PL320_MAX_DATA_BUF_SIZE == 16 && PL320_MSG_SIZE == 28,
               "pl320.h limits");
_Static_assert(offsetof(struct pl320_chan_s, base) == 0, "base first");
BEFORE(struct pl320_chan_s, base, mbox);
BEFORE(struct pl320_chan_s, mbox, src);
BEFORE(struct pl320_chan_s, src, dst);
BEFORE(struct pl320_chan_s, dst, ctrl);
BEFORE(struct pl320_chan_s, ctrl, txbuf);
BEFORE(struct pl320_chan_s, txbuf, bufsize);
_Static_assert(offsetof(struct pl320_chan_s, bufsize) + sizeof(size_t) ==
               sizeof(struct pl320_chan_s), "bufsize is the last field");
BEFORE(struct pl320_config_s, chans, num_chans);
BEFORE(struct pl320_config_s, num_chans, ipcmint);
BEFORE(struct pl320_config_s, ipcmint, irq_num);
#endif

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* The loopback hardware: one mailbox register set shared by the two
 * channels, with a SEND register as on the PL320.
 */

struct loop_dev_s
{
  struct mbox_dev_s base;         /* Must be first */
  pthread_mutex_t   lock;         /* The "bus" */
  uint8_t           data[MBOX_MAX_MSG_SIZE];
  size_t            size;
  int               send;         /* SEND_INACTIVE, SEND_MSG or SEND_ACK */
  bool              hold;         /* The remote does not look (no IRQ) */
  int               recv_error;   /* recv fails with it, once, when < 0 */
  int               last_rx_ret;  /* What mbox_chan_rx_data() returned */
  int               rx_calls;     /* Calls of mbox_chan_rx_data() */
  int               nsetup;
  int               nshutdown;
};

struct rx_log_s
{
  pthread_mutex_t lock;
  int             calls;
  int             ret;
  FAR void       *arg;
  size_t          size;
  bool            data_null;
  uint8_t         data[MBOX_MAX_MSG_SIZE];
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static struct loop_dev_s g_loop =
{
  .lock = PTHREAD_MUTEX_INITIALIZER,
};

static struct mbox_chan_s g_loop_chans[LOOP_NCHANS] =
{
  {
    .id = LOOP_TX_ID,
  },
  {
    .id = LOOP_RX_ID,
  },
};

/* Queue of the TX channel: room for LOOP_QUEUED largest messages. */

static uint8_t g_txbuf[LOOP_QUEUED * (MBOX_MAX_MSG_SIZE + 16)];

static struct rx_log_s g_rx =
{
  .lock = PTHREAD_MUTEX_INITIALIZER,
};

/****************************************************************************
 * Lower half: the C driver's lower-half contract
 ****************************************************************************/

static void loop_update_irq(FAR struct loop_dev_s *dev)
{
  host_irq_set_level(LOOP_IRQ, dev->send != SEND_INACTIVE && !dev->hold);
}

static FAR struct mbox_chan_s *loop_getchan(FAR struct mbox_dev_s *dev,
                                            FAR void *arg)
{
  size_t i;

  for (i = 0; i < dev->num_chans; i++)
    {
      if (dev->chans[i].id == (int)(uintptr_t)arg)
        {
          return &dev->chans[i];
        }
    }

  return NULL;
}

static int loop_setup(FAR struct mbox_chan_s *chan, FAR void *arg)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;

  (void)arg;
  dev->nsetup++;
  return OK;
}

static int loop_shutdown(FAR struct mbox_chan_s *chan)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;

  dev->nshutdown++;
  return OK;
}

static int loop_send(FAR struct mbox_chan_s *chan, FAR const void *data,
                     size_t size)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;
  int ret = OK;

  if (size > MBOX_MAX_MSG_SIZE)
    {
      return -EMSGSIZE;
    }

  pthread_mutex_lock(&dev->lock);
  if (dev->send != SEND_INACTIVE)
    {
      ret = -EBUSY;
    }
  else
    {
      memcpy(dev->data, data, size);
      dev->size = size;
      dev->send = SEND_MSG;
      loop_update_irq(dev);
    }

  pthread_mutex_unlock(&dev->lock);
  return ret;
}

/* The C driver's recv type: int, the message size or a negated errno. */

static int loop_recv(FAR struct mbox_chan_s *chan, FAR void *data)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;
  int ret;

  pthread_mutex_lock(&dev->lock);
  if (dev->recv_error < 0)
    {
      ret = dev->recv_error;
      dev->recv_error = 0;
    }
  else if (dev->send != SEND_MSG)
    {
      ret = -ENODATA;
    }
  else
    {
      memcpy(data, dev->data, dev->size);
      ret = (int)dev->size;
    }

  pthread_mutex_unlock(&dev->lock);
  return ret;
}

static int loop_acknowledge(FAR struct mbox_chan_s *chan,
                            FAR const void *data, size_t size)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;

  (void)data;
  (void)size;
  pthread_mutex_lock(&dev->lock);
  dev->send = SEND_ACK;
  loop_update_irq(dev);
  pthread_mutex_unlock(&dev->lock);
  return OK;
}

static int loop_txfinish(FAR struct mbox_chan_s *chan)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;

  pthread_mutex_lock(&dev->lock);
  dev->send = SEND_INACTIVE;
  loop_update_irq(dev);
  pthread_mutex_unlock(&dev->lock);
  return OK;
}

static int loop_setcallback(FAR struct mbox_chan_s *chan,
                            mbox_callback_t callback, FAR void *arg)
{
  /* As the C driver's lower halves do: keep them in the channel. */

  chan->callback = callback;
  chan->priv     = arg;
  return OK;
}

static bool loop_state_is(FAR struct mbox_chan_s *chan, int state)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)chan->dev;
  bool ret;

  pthread_mutex_lock(&dev->lock);
  ret = dev->send == state;
  pthread_mutex_unlock(&dev->lock);
  return ret;
}

static bool loop_rxavailable(FAR struct mbox_chan_s *chan)
{
  return loop_state_is(chan, SEND_MSG);
}

static bool loop_txready(FAR struct mbox_chan_s *chan)
{
  return loop_state_is(chan, SEND_INACTIVE);
}

static bool loop_txacked(FAR struct mbox_chan_s *chan)
{
  return loop_state_is(chan, SEND_ACK);
}

static const struct mbox_ops_s g_loop_ops =
{
  .getchan     = loop_getchan,
  .setup       = loop_setup,
  .shutdown    = loop_shutdown,
  .send        = loop_send,
  .recv        = loop_recv,
  .acknowledge = loop_acknowledge,
  .txfinish    = loop_txfinish,
  .setcallback = loop_setcallback,
  .rxavailable = loop_rxavailable,
  .txready     = loop_txready,
  .txacked     = loop_txacked,
};

/* The interrupt handler: the remote side of the loop receives, and the
 * sender's ACK comes back, as the C driver's PL320 handler does it.
 */

static int loop_irq_handler(int irq, FAR void *context, FAR void *arg)
{
  FAR struct loop_dev_s *dev = (FAR struct loop_dev_s *)arg;
  FAR struct mbox_chan_s *tx = MBOX_GET_CHAN(&dev->base,
                                             (FAR void *)LOOP_TX_ID);
  FAR struct mbox_chan_s *rx = MBOX_GET_CHAN(&dev->base,
                                             (FAR void *)LOOP_RX_ID);
  int ret;

  (void)irq;
  (void)context;

  if (MBOX_RX_AVAILABLE(rx))
    {
      ret = mbox_chan_rx_data(rx);
      pthread_mutex_lock(&dev->lock);
      dev->last_rx_ret = ret;
      dev->rx_calls++;
      pthread_mutex_unlock(&dev->lock);
    }

  if (MBOX_TX_ACKED(tx))
    {
      mbox_chan_tx_done(tx);
    }

  return OK;
}

/* Lower-half initialisation in the C driver's style: the channels are an
 * array of mbox_chan_s that dev->chans points to.
 */

static FAR struct mbox_dev_s *loop_initialize(FAR struct mbox_chan_s *chans,
                                              size_t num_chans)
{
  FAR struct loop_dev_s *dev = &g_loop;
  size_t i;

  dev->base.ops       = &g_loop_ops;
  dev->base.chans     = chans;
  dev->base.num_chans = num_chans;
  dev->send           = SEND_INACTIVE;
  dev->hold           = false;

  for (i = 0; i < num_chans; i++)
    {
      FAR struct mbox_chan_s *chan = &dev->base.chans[i];
      int ret;

      if (chan->id == LOOP_TX_ID)
        {
          ret = mbox_chan_init(chan, &dev->base, MBOX_TX, g_txbuf,
                               sizeof(g_txbuf));
        }
      else
        {
          /* RX without a buffer: the upper half receives on its stack. */

          ret = mbox_chan_init(chan, &dev->base, MBOX_RX, NULL, 0);
        }

      if (ret < 0)
        {
          while (i > 0)
            {
              mbox_chan_deinit(&dev->base.chans[--i]);
            }

          return NULL;
        }
    }

  if (mbox_os_irq_attach(LOOP_IRQ, loop_irq_handler, dev) < 0)
    {
      for (i = 0; i < num_chans; i++)
        {
          mbox_chan_deinit(&dev->base.chans[i]);
        }

      return NULL;
    }

  mbox_os_irq_enable(LOOP_IRQ);
  return &dev->base;
}

static void loop_uninitialize(FAR struct mbox_dev_s *dev)
{
  size_t i;

  host_irq_set_level(LOOP_IRQ, false);
  mbox_os_irq_detach(LOOP_IRQ);
  for (i = 0; i < dev->num_chans; i++)
    {
      mbox_chan_deinit(&dev->chans[i]);
    }
}

static int loop_rx_calls(void)
{
  int n;

  pthread_mutex_lock(&g_loop.lock);
  n = g_loop.rx_calls;
  pthread_mutex_unlock(&g_loop.lock);
  return n;
}

static void loop_hold(bool hold)
{
  pthread_mutex_lock(&g_loop.lock);
  g_loop.hold = hold;
  loop_update_irq(&g_loop);
  pthread_mutex_unlock(&g_loop.lock);
}

/****************************************************************************
 * Client
 ****************************************************************************/

static int rx_callback(int ret, FAR struct mbox_chan_s *chan, FAR void *arg,
                       FAR void *data, size_t size)
{
  (void)chan;
  pthread_mutex_lock(&g_rx.lock);
  g_rx.calls++;
  g_rx.ret = ret;
  g_rx.arg = arg;
  g_rx.size = size;
  g_rx.data_null = data == NULL;
  if (data != NULL && size <= sizeof(g_rx.data))
    {
      memcpy(g_rx.data, data, size);
    }

  pthread_mutex_unlock(&g_rx.lock);
  return OK;
}

static int rx_calls(void)
{
  int n;

  pthread_mutex_lock(&g_rx.lock);
  n = g_rx.calls;
  pthread_mutex_unlock(&g_rx.lock);
  return n;
}

/* Waits up to 2 s for cond; true if it became true. */

#define WAIT_FOR(cond) \
  ({ \
    int64_t _end = now_ms() + 2000; \
    while (!(cond) && now_ms() < _end) \
      { \
        sleep_ms(1); \
      } \
    (cond); \
  })

static FAR struct mbox_dev_s *g_dev;
static struct mbox_sender_s g_sender;
static struct mbox_receiver_s g_receiver;
static int g_arg;

static void fill(FAR uint8_t *buf, size_t size, uint8_t seed)
{
  size_t i;

  for (i = 0; i < size; i++)
    {
      buf[i] = (uint8_t)(seed + i * 7);
    }
}

#ifdef CONFIG_MBOX_TRACE
static struct mbox_stats_s stats_of(FAR struct mbox_chan_s *chan)
{
  struct mbox_stats_s st;

  memset(&st, 0xff, sizeof(st));
  mbox_chan_get_stats(chan, &st);
  return st;
}
#endif

/****************************************************************************
 * Tests
 ****************************************************************************/

static void test_c_lower_half_initialises_its_channels(void)
{
  g_dev = loop_initialize(g_loop_chans, LOOP_NCHANS);
  CHECK(g_dev != NULL);
  if (g_dev == NULL)
    {
      return;
    }

  CHECK(g_dev->chans == g_loop_chans);
  CHECK_EQ(g_dev->num_chans, LOOP_NCHANS);
  CHECK_EQ(g_loop.nsetup, LOOP_NCHANS);

  g_sender.chan = mbox_get_chan(g_dev, (FAR void *)LOOP_TX_ID);
  g_sender.priv = NULL;
  g_receiver.chan = mbox_get_chan(g_dev, (FAR void *)LOOP_RX_ID);
  g_receiver.priv = &g_arg;
  CHECK(g_sender.chan == &g_loop_chans[0]);
  CHECK(g_receiver.chan == &g_loop_chans[1]);
  CHECK(MBOX_GET_CHAN(g_dev, (FAR void *)LOOP_RX_ID) == g_receiver.chan);
  CHECK(mbox_get_chan(g_dev, (FAR void *)7) == NULL);

  CHECK_EQ(g_sender.chan->id, LOOP_TX_ID);
  CHECK_EQ(g_sender.chan->dir, MBOX_TX);
  CHECK_EQ(g_receiver.chan->dir, MBOX_RX);
  CHECK(g_sender.chan->dev == g_dev);
  CHECK_EQ(g_sender.chan->txstate, MBOX_TX_IDLE);
  CHECK_EQ(g_receiver.chan->txstate, MBOX_TX_IDLE);

  CHECK_EQ(g_register(&g_receiver, rx_callback, &g_arg), OK);
}

static void test_blocking_send_of_a_128_byte_message(void)
{
  uint8_t msg[MBOX_MAX_MSG_SIZE];

  fill(msg, sizeof(msg), 1);
  CHECK_EQ(g_send(&g_sender, msg, sizeof(msg)), OK);
  CHECK(WAIT_FOR(rx_calls() == 1));
  CHECK_EQ(g_rx.ret, OK);
  CHECK_EQ(g_rx.size, MBOX_MAX_MSG_SIZE);
  CHECK(g_rx.arg == &g_arg);
  CHECK(memcmp(g_rx.data, msg, sizeof(msg)) == 0);

  /* mbox_chan_rx_data() returned the size it received. */

  CHECK(WAIT_FOR(loop_rx_calls() == 1));
  CHECK_EQ(g_loop.last_rx_ret, MBOX_MAX_MSG_SIZE);
  CHECK_EQ(g_sender.chan->txstate, MBOX_TX_IDLE);

  /* A bounded blocking send and one without a limit. */

  fill(msg, 33, 2);
  CHECK_EQ(g_ticksend(&g_sender, msg, 33, 1000), OK);
  CHECK(WAIT_FOR(rx_calls() == 2));
  CHECK_EQ(g_rx.size, 33);
  CHECK_EQ(g_ticksend(&g_sender, msg, 4, MBOX_WAIT_FOREVER), OK);
  CHECK(WAIT_FOR(rx_calls() == 3));
  CHECK_EQ(g_rx.size, 4);

  /* Above MBOX_MAX_MSG_SIZE: refused at the call. */

  CHECK_EQ(g_send(&g_sender, g_txbuf, MBOX_MAX_MSG_SIZE + 1), -EMSGSIZE);
}

static void test_non_blocking_sends_queue_while_one_is_in_flight(void)
{
  uint8_t msg[MBOX_MAX_MSG_SIZE];
  int before = rx_calls();
  int i;

  loop_hold(true);
  for (i = 0; i < 4; i++)
    {
      fill(msg, sizeof(msg), (uint8_t)(10 + i));
      CHECK_EQ(g_ticksend(&g_sender, msg, 100 + i, 0), OK);
    }

  /* The first one is in flight, the other three are queued. */

  CHECK_EQ(g_sender.chan->txstate, MBOX_TX_ACTIVE);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(stats_of(g_sender.chan).buffered, 3);
  CHECK_EQ(g_sender.chan->stats.buffered, 3);
#endif

  loop_hold(false);
  CHECK(WAIT_FOR(rx_calls() == before + 4));
  CHECK(WAIT_FOR(g_sender.chan->txstate == MBOX_TX_IDLE));
  fill(msg, sizeof(msg), 13);
  CHECK_EQ(g_rx.size, 103);
  CHECK(memcmp(g_rx.data, msg, 103) == 0);
#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(stats_of(g_sender.chan).buffered, 0);
#endif
}

static void test_timed_send_without_ack_times_out(void)
{
  uint32_t word = 0x5a5a5a5a;

  loop_hold(true);
  CHECK_EQ(g_ticksend(&g_sender, &word, sizeof(word), 20), -ETIMEDOUT);
  CHECK_EQ(g_sender.chan->txstate, MBOX_TX_IDLE);

  /* txfinish cleared the mailbox for the next message. */

  CHECK(MBOX_TX_READY(g_sender.chan));
  loop_hold(false);
}

static void test_statistics_mean_what_they_mean_in_the_c_driver(void)
{
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s tx = stats_of(g_sender.chan);
  struct mbox_stats_s rx = stats_of(g_receiver.chan);

  /* TX: 3 blocking + 4 queued + 1 timed out were handed to the lower
   * half; 7 ACKs came back; nothing waits now.
   */

  CHECK_EQ(tx.sent, 8);
  CHECK_EQ(tx.acked, 7);
  CHECK_EQ(tx.timeout, 1);
  CHECK_EQ(tx.buffered, 0);
  CHECK_EQ(tx.received, 0);

  /* RX: every message received was acknowledged. */

  CHECK_EQ(rx.received, 7);
  CHECK_EQ(rx.acked, 7);
  CHECK_EQ(rx.sent, 0);
  CHECK_EQ(rx.timeout, 0);
  CHECK_EQ(rx.buffered, 0);

  /* The plain fields say the same. */

  CHECK_EQ(g_sender.chan->stats.sent, tx.sent);
  CHECK_EQ(g_receiver.chan->stats.acked, rx.acked);

  g_get_stats(NULL, &tx);                        /* Ignored */
  g_get_stats(g_sender.chan, NULL);              /* Ignored */
#endif
}

static void test_lower_half_macros_and_rx_data_return_values(void)
{
  uint8_t msg[7] = "seven!";
  uint8_t buf[MBOX_MAX_MSG_SIZE];
  int before;

  /* Drive the lower half through the macros, the interrupt held off, and
   * receive in task context as a polling lower half would.
   */

  loop_hold(true);
  CHECK(MBOX_TX_READY(g_sender.chan));
  CHECK_EQ(MBOX_SEND(g_sender.chan, msg, sizeof(msg)), OK);
  CHECK(!MBOX_TX_READY(g_sender.chan));
  CHECK(MBOX_RX_AVAILABLE(g_receiver.chan));
  CHECK_EQ(MBOX_RECV(g_receiver.chan, buf), (int)sizeof(msg));

  before = rx_calls();
  CHECK_EQ(g_rx_data(g_receiver.chan), (int)sizeof(msg));
  CHECK_EQ(rx_calls(), before + 1);
  CHECK_EQ(g_rx.size, sizeof(msg));
  CHECK(memcmp(g_rx.data, msg, sizeof(msg)) == 0);
  CHECK(MBOX_TX_ACKED(g_sender.chan));

  /* The ACK with nothing in flight (the message bypassed the upper
   * half) completes nothing; the lower half clears it itself.
   */

  g_tx_done(g_sender.chan);
  CHECK_EQ(g_sender.chan->txstate, MBOX_TX_IDLE);
  CHECK_EQ(MBOX_TX_FINISH(g_sender.chan), OK);
  CHECK(MBOX_TX_READY(g_sender.chan));

  /* A C lower half's -EIO stays -EIO, and the callback gets it. */

  CHECK_EQ(MBOX_SEND(g_sender.chan, msg, sizeof(msg)), OK);
  g_loop.recv_error = -EIO;
  CHECK_EQ(g_rx_data(g_receiver.chan), -EIO);
  CHECK_EQ(rx_calls(), before + 2);
  CHECK_EQ(g_rx.ret, -EIO);
  CHECK(g_rx.data_null);
  CHECK_EQ(g_rx.size, 0);
  CHECK_EQ(MBOX_ACKNOWLEDGE(g_receiver.chan, NULL, 0), OK);
  CHECK_EQ(MBOX_TX_FINISH(g_sender.chan), OK);

  /* Wrong direction and NULL. */

  CHECK_EQ(g_rx_data(g_sender.chan), -EINVAL);
  CHECK_EQ(g_rx_data(NULL), -EINVAL);
  g_tx_done(NULL);                               /* Ignored */
  g_tx_done(g_receiver.chan);                    /* Ignored */

  /* The ops reached directly. */

  CHECK_EQ(MBOX_SETUP(g_sender.chan, NULL), OK);
  CHECK_EQ(MBOX_SHUTDOWN(g_sender.chan), OK);
  CHECK_EQ(g_loop.nshutdown, 1);
  CHECK_EQ(MBOX_REGISTER_CALLBACK(g_receiver.chan, rx_callback, &g_arg),
           OK);
  CHECK(g_receiver.chan->callback == rx_callback);
  CHECK(g_receiver.chan->priv == &g_arg);
  loop_hold(false);
}

static void test_rx_without_receiver_is_still_acknowledged(void)
{
  uint32_t word = 0x11223344;
  int before = rx_calls();

  CHECK_EQ(g_unregister(&g_receiver), OK);
  CHECK_EQ(g_send(&g_sender, &word, sizeof(word)), OK);
  CHECK_EQ(rx_calls(), before);
  CHECK_EQ(g_register(&g_receiver, rx_callback, &g_arg), OK);
  CHECK_EQ(g_send(&g_sender, &word, sizeof(word)), OK);
  CHECK(WAIT_FOR(rx_calls() == before + 1));
}

static void test_channel_timeout_and_positional_initialisers(void)
{
  /* Board code sets id and timeout before the lower half initialises
   * the channel; positional initialisers of the leading fields keep
   * their meaning.
   */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
  static struct mbox_chan_s chan = { 42, MBOX_TX, NULL, rx_callback };
#pragma GCC diagnostic pop
  static struct mbox_chan_s timed =
  {
    .id      = 3,
    .timeout = 50,
  };

  CHECK_EQ(chan.id, 42);
  CHECK_EQ(chan.dir, MBOX_TX);
  CHECK(chan.dev == NULL);
  CHECK(chan.callback == rx_callback);
  CHECK_EQ(timed.id, 3);
  CHECK_EQ(timed.timeout, 50);
  CHECK_EQ(timed.txstate, MBOX_TX_IDLE);
}

static void test_deinit_and_pl320_symbols(void)
{
#ifdef CONFIG_MBOX_PL320
  static uint8_t txbuf[PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE];
  static struct pl320_chan_s chans[PL320_MAX_CHAN_NUM] =
  {
    {
      .base    =
      {
        .id = 16,
      },
      .mbox    = 16,
      .src     = 0,
      .dst     = 1,
      .ctrl    = true,
      .txbuf   = txbuf,
      .bufsize = sizeof(txbuf),
    },
  };

  static const struct pl320_config_s config =
  {
    .chans     = chans,
    .num_chans = 1,
    .ipcmint   = 0,
    .irq_num   = 12,
  };

  /* Refused before any register is read: no base address, no config. */

  CHECK(g_pl320_init(&config, 0) == NULL);
  CHECK(g_pl320_init(NULL, 0x7f000000) == NULL);
  CHECK_EQ(chans[0].mbox, 16);
  CHECK_EQ(PL320_MAX_MBOX_NUM, 32);
#endif

  CHECK_EQ(g_chan_deinit(NULL), -EINVAL);
  loop_uninitialize(g_dev);
  CHECK_EQ(g_loop.nshutdown, 1 + LOOP_NCHANS);    /* + MBOX_SHUTDOWN */
  CHECK_EQ(g_chan_init(NULL, g_dev, MBOX_TX, NULL, 0), -EINVAL);
  CHECK(g_get_chan(NULL, NULL) == NULL);
  CHECK_EQ(g_ticksend(&g_sender, g_txbuf, 1, 0), -EINVAL);
}

/****************************************************************************
 * Public Functions
 ****************************************************************************/

int main(void)
{
  RUN(test_c_lower_half_initialises_its_channels);
  RUN(test_blocking_send_of_a_128_byte_message);
  RUN(test_non_blocking_sends_queue_while_one_is_in_flight);
  RUN(test_timed_send_without_ack_times_out);
  RUN(test_statistics_mean_what_they_mean_in_the_c_driver);
  RUN(test_lower_half_macros_and_rx_data_return_values);
  RUN(test_rx_without_receiver_is_still_acknowledged);
  RUN(test_channel_timeout_and_positional_initialisers);
  RUN(test_deinit_and_pl320_symbols);
  return harness_finish();
}
