/****************************************************************************
 * bench/fifo.c
 *
 * Throughput of one TX channel against the depth of the controller's
 * hardware FIFO (`mbox_dev_s::txdepth`, docs/beyond.md §2), on the host
 * port, with a FIFO-capable fake lower half written for this benchmark:
 *
 *   send      pushes { token = chan->txtoken, sequence number, time } into
 *             a hardware-FIFO model (a single-producer single-consumer
 *             ring: sends are serialised by the critical section) and
 *             checks that the framework never has more than `txdepth`
 *             messages in flight (sends minus txfinish calls);
 *   remote    a "remote core" thread pops the FIFO in order; each message
 *             becomes visible to it WIRE_NS after it was sent (the
 *             interrupt round trip between the cores), then it works on it
 *             for SERVICE_NS (busy wait), then ACKs it by its token with
 *             mbox_chan_tx_done_token(). The remote handles one message at
 *             a time; the same WIRE_NS and SERVICE_NS for every depth.
 *
 * One sender thread pushes N non-blocking messages (mbox_ticksend(.., 0),
 * retrying after a 2 us pause, yielding the CPU, on -ENOBUFS) through a ring of QUEUE_MSGS
 * messages, with a TX-done callback registered (so every message reports
 * its end). A depth D channel lets the remote start on the next message
 * while earlier ones are still "on the wire", so it can hide WIRE_NS but
 * never SERVICE_NS: the bound is min(D / (WIRE_NS + SERVICE_NS),
 * 1 / SERVICE_NS) messages per second, less the framework's own cost.
 *
 * Every run checks that each message was ACKed exactly once (one
 * successful mbox_chan_tx_done_token() per sequence number, no refused
 * ACK), that every TX-done callback reported 0, once per message, and
 * that the channel statistics agree (sent = acked = N, no timeout,
 * spurious ACK or send error); any failure makes the program exit 1.
 *
 * Depths 1, 4 and 8 run in one process, interleaved (round r runs every
 * depth once), --rounds times; the report is the median per depth.
 *
 * Output (stdout): "config {json}", one "run {json}" per run and one
 * "result {json}" per depth. Progress on stderr.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nuttx/mbox/mbox.h>

#include "host.h"

#define MSG_SIZE      16
#define QUEUE_MSGS    32
#define BACKOFF_NS    2000              /* Pause before retrying -ENOBUFS */
#define MAX_DEPTH     8
#define HW_SLOTS      16              /* Power of two, >= MAX_DEPTH */
#define QUEUE_BYTES   (QUEUE_MSGS * (6 + 8 + MSG_SIZE))
#define TXBUF_BYTES   MBOX_TXBUF_SIZE(MAX_DEPTH, QUEUE_BYTES)

static const int g_depths[] = { 1, 4, 8 };
#define NDEPTHS       ((int)(sizeof(g_depths) / sizeof(g_depths[0])))

/* The message: its sequence number in the run. */

struct msg_s
{
  uint32_t seq;
  uint32_t run;
  uint8_t pad[MSG_SIZE - 8];
};

_Static_assert(sizeof(struct msg_s) == MSG_SIZE, "message size");

struct hw_entry_s
{
  uint32_t token;
  uint32_t seq;
  uint64_t t_sent;
};

/* The fake controller: one TX channel with a hardware FIFO. */

struct fifo_dev_s
{
  struct mbox_dev_s base;               /* Must be first */
  struct mbox_chan_s chan;
  uint8_t txbuf[TXBUF_BYTES] __attribute__((aligned(8)));

  /* Hardware FIFO (producer: send, under the critical section; consumer:
   * the remote thread).
   */

  struct hw_entry_s hw[HW_SLOTS];
  atomic_uint hw_head;                  /* Next entry the remote pops */
  atomic_uint hw_tail;                  /* Next entry send fills */

  /* Written under the critical section only (send/txfinish). */

  unsigned long nsend;
  unsigned long nfinish;
  unsigned long overdepth;              /* Sends beyond txdepth */
  unsigned long overflow;               /* FIFO model full */
};

static struct fifo_dev_s g_dev;
static struct mbox_sender_s g_sender;

/* Run state */

static uint64_t g_wire_ns = 20000;
static uint64_t g_service_ns = 2000;
static atomic_int g_stop;
static uint8_t *g_acked;                /* Successful ACKs per sequence */
static atomic_ulong g_bad_acks;         /* Refused tx_done_token */
static atomic_ulong g_callbacks;        /* TX-done callbacks with 0 */
static atomic_ulong g_cb_errors;        /* TX-done callbacks with != 0 */
static uint32_t g_run;

static uint64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static void spin_until(uint64_t t)
{
  while (now_ns() < t)
    {
      relax();
    }
}

/****************************************************************************
 * The lower half
 ****************************************************************************/

static int fifo_send(struct mbox_chan_s *chan, const void *data,
                     size_t size)
{
  struct fifo_dev_s *dev = (struct fifo_dev_s *)chan->dev;
  unsigned tail = atomic_load_explicit(&dev->hw_tail, memory_order_relaxed);
  unsigned head = atomic_load_explicit(&dev->hw_head, memory_order_acquire);
  const struct msg_s *m = data;

  if (size != sizeof(*m))
    {
      return -EINVAL;
    }

  if (dev->nsend - dev->nfinish >= dev->base.txdepth)
    {
      dev->overdepth++;
    }

  if (tail - head >= HW_SLOTS)
    {
      dev->overflow++;
      return -EIO;
    }

  dev->hw[tail % HW_SLOTS].token = chan->txtoken;
  dev->hw[tail % HW_SLOTS].seq = m->seq;
  dev->hw[tail % HW_SLOTS].t_sent = now_ns();
  atomic_store_explicit(&dev->hw_tail, tail + 1, memory_order_release);
  dev->nsend++;
  return 0;
}

static int fifo_txfinish(struct mbox_chan_s *chan)
{
  struct fifo_dev_s *dev = (struct fifo_dev_s *)chan->dev;

  dev->nfinish++;
  return 0;
}

static const struct mbox_ops_s g_ops =
{
  .send     = fifo_send,
  .txfinish = fifo_txfinish,
};

/* The remote core: pops the FIFO in order, waits for the wire latency,
 * serves the message, ACKs it by its token.
 */

static void *remote_main(void *arg)
{
  struct fifo_dev_s *dev = arg;
  unsigned head = atomic_load(&dev->hw_head);

  while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
    {
      struct hw_entry_s e;
      int r;

      if (atomic_load_explicit(&dev->hw_tail, memory_order_acquire) == head)
        {
          relax();
          continue;
        }

      e = dev->hw[head % HW_SLOTS];
      head++;
      atomic_store_explicit(&dev->hw_head, head, memory_order_release);

      spin_until(e.t_sent + g_wire_ns);
      spin_until(now_ns() + g_service_ns);

      r = mbox_chan_tx_done_token(&dev->chan, e.token);
      if (r == 0)
        {
          g_acked[e.seq]++;
        }
      else
        {
          atomic_fetch_add(&g_bad_acks, 1);
        }
    }

  return NULL;
}

static void on_txdone(struct mbox_sender_s *sender, void *arg, int result)
{
  (void)sender;
  (void)arg;
  if (result == 0)
    {
      atomic_fetch_add_explicit(&g_callbacks, 1, memory_order_release);
    }
  else
    {
      atomic_fetch_add(&g_cb_errors, 1);
    }
}

/****************************************************************************
 * One run
 ****************************************************************************/

struct run_s
{
  int depth;
  unsigned long n;
  double secs;
  double rate;
  unsigned long nobufs;
  int ok;
};

static int run_one(int depth, unsigned long n, struct run_s *out)
{
  struct mbox_stats_s st;
  pthread_t remote;
  struct msg_s m;
  unsigned long i;
  unsigned long nobufs = 0;
  unsigned long once = 0;
  uint64_t t0;
  uint64_t t1;
  int ok = 1;
  int r;

  memset(&g_dev.chan, 0, sizeof(g_dev.chan));
  g_dev.base.ops = &g_ops;
  g_dev.base.mtu = MSG_SIZE;
  g_dev.base.num_chans = 1;
  g_dev.base.txdepth = (size_t)depth;
  g_dev.chan.timeout = HOST_MSEC2TICK(5000);
  atomic_store(&g_dev.hw_head, 0);
  atomic_store(&g_dev.hw_tail, 0);
  g_dev.nsend = g_dev.nfinish = g_dev.overdepth = g_dev.overflow = 0;
  memset(g_acked, 0, n);
  atomic_store(&g_bad_acks, 0);
  atomic_store(&g_callbacks, 0);
  atomic_store(&g_cb_errors, 0);
  atomic_store(&g_stop, 0);
  g_run++;

  r = mbox_chan_init(&g_dev.chan, &g_dev.base, MBOX_TX, g_dev.txbuf,
                     MBOX_TXBUF_SIZE(depth, QUEUE_BYTES));
  if (r < 0)
    {
      fprintf(stderr, "fifo: mbox_chan_init(depth %d): %d\n", depth, r);
      return -1;
    }

  if (mbox_chan_txdepth(&g_dev.chan) != depth)
    {
      fprintf(stderr, "fifo: mbox_chan_txdepth %d != %d\n",
              mbox_chan_txdepth(&g_dev.chan), depth);
      ok = 0;
    }

  g_sender.chan = &g_dev.chan;
  r = mbox_register_txdone(&g_sender, on_txdone, NULL);
  if (r < 0)
    {
      fprintf(stderr, "fifo: mbox_register_txdone: %d\n", r);
      return -1;
    }

  pthread_create(&remote, NULL, remote_main, &g_dev);

  memset(&m, 0, sizeof(m));
  m.run = g_run;
  t0 = now_ns();
  for (i = 0; i < n; i++)
    {
      m.seq = (uint32_t)i;
      while ((r = mbox_ticksend(&g_sender, &m, sizeof(m), 0)) == -ENOBUFS)
        {
          uint64_t until = now_ns() + BACKOFF_NS;

          /* Yield while pausing: on a busy machine the remote core's
           * thread may need this CPU.
           */

          nobufs++;
          do
            {
              sched_yield();
            }
          while (now_ns() < until);
        }

      if (r < 0)
        {
          fprintf(stderr, "fifo: mbox_ticksend: %d\n", r);
          ok = 0;
          break;
        }
    }

  while (atomic_load_explicit(&g_callbacks, memory_order_acquire) +
         atomic_load(&g_cb_errors) < i)
    {
      if (now_ns() - t0 > 30ull * 1000000000ull)
        {
          fprintf(stderr, "fifo: depth %d: only %lu of %lu messages ended "
                  "after 30 s\n", depth, atomic_load(&g_callbacks), i);
          ok = 0;
          break;
        }

      relax();
    }

  t1 = now_ns();
  atomic_store(&g_stop, 1);
  pthread_join(remote, NULL);

  mbox_chan_get_stats(&g_dev.chan, &st);
  mbox_chan_deinit(&g_dev.chan);

  /* Every message ACKed exactly once, every callback with 0. */

  for (i = 0; i < n; i++)
    {
      once += g_acked[i] == 1;
    }

  if (once != n || atomic_load(&g_bad_acks) != 0 ||
      atomic_load(&g_callbacks) != n || atomic_load(&g_cb_errors) != 0 ||
      st.sent != n || st.acked != n || st.timeout != 0 ||
      st.spurious_ack != 0 || st.send_err != 0 ||
      g_dev.overdepth != 0 || g_dev.overflow != 0 ||
      g_dev.nsend != n || g_dev.nfinish != n)
    {
      fprintf(stderr, "fifo: depth %d: FAILED: acked once %lu/%lu, refused "
              "ACKs %lu, callbacks %lu (errors %lu), stats sent %zu acked "
              "%zu timeout %zu spurious %zu send_err %zu, sends %lu "
              "finishes %lu beyond depth %lu, FIFO overflow %lu\n", depth,
              once, n, atomic_load(&g_bad_acks), atomic_load(&g_callbacks),
              atomic_load(&g_cb_errors), st.sent, st.acked, st.timeout,
              st.spurious_ack, st.send_err, g_dev.nsend, g_dev.nfinish,
              g_dev.overdepth, g_dev.overflow);
      ok = 0;
    }

  out->depth = depth;
  out->n = n;
  out->secs = (double)(t1 - t0) / 1e9;
  out->rate = (double)n / out->secs;
  out->nobufs = nobufs;
  out->ok = ok;
  return ok ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;

  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  unsigned long n = 20000;
  int rounds = 5;
  double rates[NDEPTHS][64];
  int bad = 0;
  int i;
  int d;
  int k;

  for (i = 1; i < argc; i++)
    {
      if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
        {
          n = strtoul(argv[++i], NULL, 0);
        }
      else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
        {
          rounds = atoi(argv[++i]);
        }
      else if (strcmp(argv[i], "--wire-ns") == 0 && i + 1 < argc)
        {
          g_wire_ns = strtoull(argv[++i], NULL, 0);
        }
      else if (strcmp(argv[i], "--service-ns") == 0 && i + 1 < argc)
        {
          g_service_ns = strtoull(argv[++i], NULL, 0);
        }
      else
        {
          fprintf(stderr, "usage: %s [--messages N] [--rounds R] "
                  "[--wire-ns W] [--service-ns S]\n", argv[0]);
          return 2;
        }
    }

  if (rounds < 1 || rounds > 64 || n == 0)
    {
      fprintf(stderr, "fifo: bad --rounds or --messages\n");
      return 2;
    }

  g_acked = calloc(n, 1);
  if (g_acked == NULL)
    {
      return 1;
    }

  printf("config {\"messages\": %lu, \"rounds\": %d, \"wire_ns\": %llu, "
         "\"service_ns\": %llu, \"queue_msgs\": %d, \"msg_size\": %d}\n",
         n, rounds, (unsigned long long)g_wire_ns,
         (unsigned long long)g_service_ns, QUEUE_MSGS, MSG_SIZE);
  fflush(stdout);

  /* Rounds go over every depth in turn, so that a noisy moment on the
   * shared machine hits one run of several depths, not every run of one.
   */

  for (k = 0; k < rounds; k++)
    {
      for (d = 0; d < NDEPTHS; d++)
        {
          struct run_s r;

          memset(&r, 0, sizeof(r));
          if (run_one(g_depths[d], n, &r) < 0)
            {
              bad = 1;
            }

          rates[d][k] = r.rate;
          printf("run {\"round\": %d, \"depth\": %d, \"messages\": %lu, "
                 "\"seconds\": %.6f, \"msgs_per_s\": %.1f, \"nobufs\": %lu, "
                 "\"ok\": %s}\n", k, r.depth, r.n, r.secs, r.rate, r.nobufs,
                 r.ok ? "true" : "false");
          fflush(stdout);
          fprintf(stderr, "fifo: round %d depth %d: %.0f msgs/s%s\n", k,
                  g_depths[d], r.rate, r.ok ? "" : " FAILED");
        }
    }

  for (d = 0; d < NDEPTHS; d++)
    {
      double v[64];
      double med;

      memcpy(v, rates[d], sizeof(double) * (size_t)rounds);
      qsort(v, (size_t)rounds, sizeof(double), cmp_double);
      med = rounds % 2 ? v[rounds / 2]
                       : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
      printf("result {\"depth\": %d, \"median_msgs_per_s\": %.1f, "
             "\"min_msgs_per_s\": %.1f, \"max_msgs_per_s\": %.1f, "
             "\"rounds\": %d}\n", g_depths[d], med, v[0], v[rounds - 1],
             rounds);
    }

  host_shutdown();
  free(g_acked);
  return bad;
}
