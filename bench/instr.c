/****************************************************************************
 * bench/instr.c
 *
 * Instructions per message of the upper half's fast paths, and the
 * instructions executed with the critical section held, counted by
 * valgrind's callgrind (bench/run.py runs this program under
 * `valgrind --tool=callgrind --collect-atstart=no` and reads one dump per
 * measured region).
 *
 * Single-threaded and deterministic: libmbox runs on the minimal port
 * (port_min.c: no thread, no system call), against two lower halves:
 *
 *   fake   ctest/fake_lower.c, the scriptable fake of the C tests (every op
 *          takes its pthread mutex; ACKs are confirmed through txacked and
 *          reported with mbox_chan_tx_done()). Its responder thread is not
 *          started.
 *   null   the cheapest lower half possible (below): ops that only record,
 *          ACKs reported with mbox_chan_tx_done_token() as PL320 does.
 *
 * Every region is measured twice: through the upper half ("total"), and as
 * the same lower-half work called directly through the ops table with no
 * upper half ("floor"). A region runs ITER iterations between
 * CALLGRIND_TOGGLE_COLLECT pairs and ends with CALLGRIND_DUMP_STATS_AT
 * ("<target>/<row>/<total|floor>"); run.py divides by the iteration count
 * printed here. What each row measures is printed with --describe and
 * copied into BENCHMARKS.md.
 *
 * Without valgrind the client requests do nothing: `valgrind
 * --tool=memcheck bench/instr` is how run.py shows that a program using
 * libmbox makes no heap allocation (stdout uses a static buffer).
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <valgrind/callgrind.h>

#include <nuttx/mbox/mbox.h>

#include "fake_lower.h"
#include "port_min.h"

#define MSG_SIZE   24          /* The framed PL320 MTU, the size every row uses */
#define ITER       10000       /* Iterations of a single-message region */
#define BATCH      48          /* Messages queued, then drained, per batch */
#define BURST      8           /* Messages per burst (sent, then ACKed) */
#define NBATCH     200
#define CS_REPS    50          /* Measured calls per queue depth */
#define RING_SIZE  4096        /* Ring bytes: 65 records of 6 + 24 bytes fit */

static const int g_cs_depths[] = { 0, 1, 4, 16, 64 };

/****************************************************************************
 * The null lower half
 ****************************************************************************/

struct null_chan_s
{
  struct mbox_chan_s base;     /* Must be first */
  const void *data;            /* Last message handed to send */
  size_t size;
  uint32_t token;              /* Its token (chan->txtoken) */
  unsigned nsend;
  unsigned nfinish;
  unsigned nack;
};

struct null_dev_s
{
  struct mbox_dev_s base;      /* Must be first */
  struct null_chan_s chans[2]; /* 0: TX, 1: RX */
};

static uint8_t g_null_rxmsg[MSG_SIZE];

static int null_send(struct mbox_chan_s *chan, const void *data,
                     size_t size)
{
  struct null_chan_s *nc = (struct null_chan_s *)chan;

  nc->data = data;
  nc->size = size;
  nc->token = chan->txtoken;
  nc->nsend++;
  return 0;
}

static int null_txfinish(struct mbox_chan_s *chan)
{
  ((struct null_chan_s *)chan)->nfinish++;
  return 0;
}

static int null_recv(struct mbox_chan_s *chan, void *data)
{
  (void)chan;
  memcpy(data, g_null_rxmsg, MSG_SIZE);
  return MSG_SIZE;
}

static int null_acknowledge(struct mbox_chan_s *chan, const void *data,
                            size_t size)
{
  (void)data;
  (void)size;
  ((struct null_chan_s *)chan)->nack++;
  return 0;
}

static const struct mbox_ops_s g_null_ops =
{
  .send        = null_send,
  .recv        = null_recv,
  .acknowledge = null_acknowledge,
  .txfinish    = null_txfinish,
};

/****************************************************************************
 * Targets
 ****************************************************************************/

struct target_s
{
  const char *name;
  struct mbox_dev_s *dev;
  struct mbox_chan_s *tx;
  struct mbox_chan_s *rx;
  const struct mbox_ops_s *ops;

  /* The remote's ACK, as the lower half's interrupt handler reports it to
   * the upper half; and the same lower-half work without the upper half.
   */

  int (*ack_upper)(struct mbox_chan_s *tx);
  void (*ack_floor)(struct mbox_chan_s *tx);
};

static struct fake_dev_s g_fake;
static struct null_dev_s g_null;
static uint8_t g_ring[2][RING_SIZE];
static uint8_t g_rxbuf[2][64];
static uint8_t g_msg[MSG_SIZE];
static uint8_t g_slots[BATCH][MSG_SIZE];
static unsigned long g_errors;
static volatile unsigned long g_cb_sum;

static int fake_ack_upper(struct mbox_chan_s *tx)
{
  ((struct fake_chan_s *)tx)->acked = true;   /* The "hardware" ACK bit */
  return mbox_chan_tx_done_checked(tx);
}

static void fake_ack_floor(struct mbox_chan_s *tx)
{
  ((struct fake_chan_s *)tx)->acked = true;
  if (g_fake_ops.txacked(tx))
    {
      g_fake_ops.txfinish(tx);
    }
}

static int null_ack_upper(struct mbox_chan_s *tx)
{
  return mbox_chan_tx_done_token(tx, ((struct null_chan_s *)tx)->token);
}

static void null_ack_floor(struct mbox_chan_s *tx)
{
  g_null_ops.txfinish(tx);
}

static int rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                       void *data, size_t size)
{
  (void)chan;
  (void)arg;
  if (ret == 0 && size > 0)
    {
      g_cb_sum += ((const uint8_t *)data)[0] + size;
    }

  return 0;
}

static void check(int ret, int want, const char *what)
{
  if (ret != want)
    {
      if (g_errors++ < 10)
        {
          printf("instr: %s returned %d, expected %d\n", what, ret, want);
        }
    }
}

static void setup_targets(struct target_s t[2])
{
  struct mbox_receiver_s r;
  int i;

  /* The fake of the C tests, without its responder thread. */

  memset(&g_fake, 0, sizeof(g_fake));
  g_fake.base.ops = &g_fake_ops;
  g_fake.base.mtu = MSG_SIZE;
  g_fake.base.num_chans = FAKE_NCHANS;
  for (i = 0; i < FAKE_NCHANS; i++)
    {
      g_fake.chans[i].auto_ack_ms = -1;
      g_fake.chans[i].base.id = i;
      g_fake.chans[i].base.timeout = 100;
    }

  pthread_mutex_init(&g_fake.lock, NULL);
  g_fake.chans[2].rx_size = MSG_SIZE;
  memset(g_fake.chans[2].rx_data, 0x5a, MSG_SIZE);

  memset(&g_null, 0, sizeof(g_null));
  g_null.base.ops = &g_null_ops;
  g_null.base.mtu = MSG_SIZE;
  g_null.base.num_chans = 2;
  g_null.chans[0].base.timeout = 100;
  memset(g_null_rxmsg, 0x5a, sizeof(g_null_rxmsg));

  t[0].name = "fake";
  t[0].dev = &g_fake.base;
  t[0].tx = &g_fake.chans[0].base;
  t[0].rx = &g_fake.chans[2].base;
  t[0].ops = &g_fake_ops;
  t[0].ack_upper = fake_ack_upper;
  t[0].ack_floor = fake_ack_floor;

  t[1].name = "null";
  t[1].dev = &g_null.base;
  t[1].tx = &g_null.chans[0].base;
  t[1].rx = &g_null.chans[1].base;
  t[1].ops = &g_null_ops;
  t[1].ack_upper = null_ack_upper;
  t[1].ack_floor = null_ack_floor;

  for (i = 0; i < 2; i++)
    {
      check(mbox_chan_init(t[i].tx, t[i].dev, MBOX_TX, g_ring[i],
                           sizeof(g_ring[i])), 0, "mbox_chan_init(tx)");
      check(mbox_chan_init(t[i].rx, t[i].dev, MBOX_RX, g_rxbuf[i],
                           sizeof(g_rxbuf[i])), 0, "mbox_chan_init(rx)");
      r.chan = t[i].rx;
      r.priv = NULL;
      check(mbox_register_rxcallback(&r, rx_callback, NULL), 0,
            "mbox_register_rxcallback");
    }

  for (i = 0; i < MSG_SIZE; i++)
    {
      g_msg[i] = (uint8_t)i;
    }
}

/* Ends every message of tx (unmeasured): ACK until nothing is in flight. */

static void drain(struct target_s *t)
{
  int guard = 0;

  while (t->ack_upper(t->tx) == 0)
    {
      if (++guard > 10000)
        {
          check(-1, 0, "drain");
          return;
        }
    }
}

/* The message copy a queue needs, as the floor of a queued send. */

static void __attribute__((noinline)) store_msg(int slot, const void *msg,
                                                size_t size)
{
  memcpy(g_slots[slot], msg, size);
  __asm__ volatile("" ::: "memory");
}

/****************************************************************************
 * Regions
 ****************************************************************************/

static struct target_s *g_hook_target;

static void ack_from_wait(void *arg)
{
  struct target_s *t = arg;

  check(t->ack_upper(t->tx), 0, "ACK during mbox_send");
}

/* Port calls made inside measured regions: the collection toggles bracket
 * exactly the same code, so a snapshot at each toggle counts them.
 */

static struct bench_port_calls_s g_calls_acc;
static struct bench_port_calls_s g_calls_at;

static void calls_begin(void)
{
  g_calls_at = bench_calls;
}

static void calls_end(void)
{
  g_calls_acc.enter_critical += bench_calls.enter_critical -
                                g_calls_at.enter_critical;
  g_calls_acc.ticks += bench_calls.ticks - g_calls_at.ticks;
  g_calls_acc.timer_start += bench_calls.timer_start -
                             g_calls_at.timer_start;
  g_calls_acc.timer_cancel += bench_calls.timer_cancel -
                              g_calls_at.timer_cancel;
  g_calls_acc.wait_init += bench_calls.wait_init - g_calls_at.wait_init;
  g_calls_acc.wait_timed += bench_calls.wait_timed - g_calls_at.wait_timed;
  g_calls_acc.wait_post += bench_calls.wait_post - g_calls_at.wait_post;
}

static void calls_dump(const char *name)
{
  printf("calls %s enter_critical=%lu ticks=%lu timer_start=%lu "
         "timer_cancel=%lu wait_init=%lu wait_timed=%lu wait_post=%lu\n",
         name, g_calls_acc.enter_critical, g_calls_acc.ticks,
         g_calls_acc.timer_start, g_calls_acc.timer_cancel,
         g_calls_acc.wait_init, g_calls_acc.wait_timed,
         g_calls_acc.wait_post);
  memset(&g_calls_acc, 0, sizeof(g_calls_acc));
}

#define ZERO() \
  do \
    { \
      CALLGRIND_ZERO_STATS; \
      memset(&g_calls_acc, 0, sizeof(g_calls_acc)); \
    } \
  while (0)

#define TOGGLE_ON() \
  do \
    { \
      calls_begin(); \
      CALLGRIND_TOGGLE_COLLECT; \
    } \
  while (0)

#define TOGGLE_OFF() \
  do \
    { \
      CALLGRIND_TOGGLE_COLLECT; \
      calls_end(); \
    } \
  while (0)

#define DUMP(name) \
  do \
    { \
      CALLGRIND_DUMP_STATS_AT(name); \
      calls_dump(name); \
    } \
  while (0)

#define BEGIN() TOGGLE_ON()
#define END(name) \
  do \
    { \
      TOGGLE_OFF(); \
      DUMP(name); \
    } \
  while (0)

static void region_name(char *buf, size_t n, const struct target_s *t,
                        const char *row, const char *kind)
{
  snprintf(buf, n, "%s/%s/%s", t->name, row, kind);
}

static void run_loop_overhead(void)
{
  int i;

  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      __asm__ volatile("" ::: "memory");
    }

  END("harness/loop/total");
}

static void run_target(struct target_s *t)
{
  struct mbox_sender_s s = { t->tx, NULL };
  char name[64];
  int i;
  int b;
  int k;

  drain(t);

  /* A: blocking send + its ACK. */

  g_hook_target = t;
  bench_wait_hook = ack_from_wait;
  bench_wait_hook_arg = t;
  region_name(name, sizeof(name), t, "blocking", "total");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      check(mbox_send(&s, g_msg, MSG_SIZE), 0, "mbox_send");
    }

  END(name);
  bench_wait_hook = NULL;

  region_name(name, sizeof(name), t, "blocking", "floor");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      check(t->ops->send(t->tx, g_msg, MSG_SIZE), 0, "ops->send");
      t->ack_floor(t->tx);
    }

  END(name);

  /* B: non-blocking send on an idle channel (goes out at once) + ACK. */

  region_name(name, sizeof(name), t, "nb_idle", "total");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "mbox_ticksend");
      check(t->ack_upper(t->tx), 0, "ACK");
    }

  END(name);

  /* Floor of B: the same lower-half work as A. */

  region_name(name, sizeof(name), t, "nb_idle", "floor");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      check(t->ops->send(t->tx, g_msg, MSG_SIZE), 0, "ops->send");
      t->ack_floor(t->tx);
    }

  END(name);

  /* C: non-blocking send that queues (one message in flight, BATCH queued
   * per batch, then drained unmeasured).
   */

  check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "mbox_ticksend");
  region_name(name, sizeof(name), t, "nb_queue", "total");
  ZERO();
  for (b = 0; b < NBATCH; b++)
    {
      BEGIN();
      for (k = 0; k < BATCH; k++)
        {
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "queue");
        }

      TOGGLE_OFF();
      for (k = 0; k < BATCH; k++)
        {
          check(t->ack_upper(t->tx), 0, "ACK (drain)");
        }
    }

  DUMP(name);

  region_name(name, sizeof(name), t, "nb_queue", "floor");
  ZERO();
  for (b = 0; b < NBATCH; b++)
    {
      BEGIN();
      for (k = 0; k < BATCH; k++)
        {
          store_msg(k, g_msg, MSG_SIZE);
        }

      TOGGLE_OFF();
    }

  DUMP(name);

  /* D: draining the queue on ACK: each ACK ends the message in flight and
   * starts the oldest queued one.
   */

  region_name(name, sizeof(name), t, "drain", "total");
  ZERO();
  for (b = 0; b < NBATCH; b++)
    {
      for (k = 0; k < BATCH; k++)
        {
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "queue");
        }

      BEGIN();
      for (k = 0; k < BATCH; k++)
        {
          check(t->ack_upper(t->tx), 0, "ACK (drain)");
        }

      TOGGLE_OFF();
    }

  DUMP(name);

  region_name(name, sizeof(name), t, "drain", "floor");
  ZERO();
  for (b = 0; b < NBATCH; b++)
    {
      BEGIN();
      for (k = 0; k < BATCH; k++)
        {
          t->ack_floor(t->tx);
          check(t->ops->send(t->tx, g_slots[k], MSG_SIZE), 0, "ops->send");
        }

      TOGGLE_OFF();
    }

  DUMP(name);
  drain(t);

  /* F: a burst of BURST non-blocking sends on an idle channel (the first
   * goes out at once, the others queue), then their BURST ACKs (each
   * starts the next queued one): the same sequence as the C driver's
   * figure "8 queued sends then 8 ACKs", per message.
   */

  region_name(name, sizeof(name), t, "burst8", "total");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER / BURST; i++)
    {
      for (k = 0; k < BURST; k++)
        {
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "burst");
        }

      for (k = 0; k < BURST; k++)
        {
          check(t->ack_upper(t->tx), 0, "ACK (burst)");
        }
    }

  END(name);

  region_name(name, sizeof(name), t, "burst8", "floor");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER / BURST; i++)
    {
      for (k = 0; k < BURST; k++)
        {
          check(t->ops->send(t->tx, g_msg, MSG_SIZE), 0, "ops->send");
          t->ack_floor(t->tx);
        }
    }

  END(name);
  drain(t);

  /* E: RX delivery to the registered callback. */

  region_name(name, sizeof(name), t, "rx", "total");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      check(mbox_chan_rx_data(t->rx), MSG_SIZE, "mbox_chan_rx_data");
    }

  END(name);

  region_name(name, sizeof(name), t, "rx", "floor");
  ZERO();
  BEGIN();
  for (i = 0; i < ITER; i++)
    {
      uint8_t *buf = g_rxbuf[t->ops == &g_null_ops];
      int n = t->ops->recv(t->rx, buf);

      if (n >= 0)
        {
          t->ops->acknowledge(t->rx, buf, (size_t)n);
          rx_callback(0, t->rx, NULL, buf, (size_t)n);
        }
      else
        {
          check((int)n, 0, "ops->recv");
        }
    }

  END(name);
}

/* Critical-section length against queue depth: the instructions executed
 * with the lock held by one non-blocking send that queues behind `depth`
 * messages, and by one tx_done that drains one of `depth` queued messages.
 */

static void run_cs(struct target_s *t)
{
  struct mbox_sender_s s = { t->tx, NULL };
  char name[64];
  size_t di;
  int r;
  int j;

  for (di = 0; di < sizeof(g_cs_depths) / sizeof(g_cs_depths[0]); di++)
    {
      int depth = g_cs_depths[di];

      snprintf(name, sizeof(name), "%s/cs_send/%d", t->name, depth);
      CALLGRIND_ZERO_STATS;
      bench_cs_enters = 0;
      for (r = 0; r < CS_REPS; r++)
        {
          drain(t);
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "in flight");
          for (j = 0; j < depth; j++)
            {
              check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "fill");
            }

          bench_cs_measure = 1;
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "measured send");
          bench_cs_measure = 0;
        }

      CALLGRIND_DUMP_STATS_AT(name);
      printf("cs_enters %s %lu\n", name, bench_cs_enters);

      snprintf(name, sizeof(name), "%s/cs_txdone/%d", t->name, depth);
      CALLGRIND_ZERO_STATS;
      bench_cs_enters = 0;
      for (r = 0; r < CS_REPS; r++)
        {
          drain(t);
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "in flight");
          for (j = 0; j < depth; j++)
            {
              check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "fill");
            }

          bench_cs_measure = 1;
          check(t->ack_upper(t->tx), 0, "measured tx_done");
          bench_cs_measure = 0;
        }

      CALLGRIND_DUMP_STATS_AT(name);
      printf("cs_enters %s %lu\n", name, bench_cs_enters);
    }

  drain(t);
}

int main(int argc, char **argv)
{
  static char outbuf[8192];
  struct target_s t[2];
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s st;
#else
  int st;
#endif
  int i;

  /* A static stdout buffer: stdio must not allocate either. */

  setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
  (void)argc;
  (void)argv;

  setup_targets(t);
  printf("iter %d\nbatch %d\nnbatch %d\ncs_reps %d\nmsg_size %d\n", ITER,
         BATCH, NBATCH, CS_REPS, MSG_SIZE);

  run_loop_overhead();
  for (i = 0; i < 2; i++)
    {
      run_target(&t[i]);
    }

  for (i = 0; i < 2; i++)
    {
      run_cs(&t[i]);
    }

  for (i = 0; i < 2; i++)
    {
#ifdef CONFIG_MBOX_TRACE
      if (mbox_chan_get_stats_checked(t[i].tx, &st) == 0)
        {
          printf("stats %s sent=%zu acked=%zu buffered=%zu queue_full=%zu "
                 "spurious_ack=%zu max_queued=%zu\n", t[i].name, st.sent,
                 st.acked, st.buffered, st.queue_full, st.spurious_ack,
                 st.max_queued);
        }
#else
      (void)st;
#endif

      check(mbox_chan_deinit(t[i].tx), 0, "deinit tx");
      check(mbox_chan_deinit(t[i].rx), 0, "deinit rx");
    }

  printf("cb_sum %lu\nerrors %lu\n", g_cb_sum, g_errors);
  fflush(stdout);
  return g_errors == 0 ? 0 : 1;
}
