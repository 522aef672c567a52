/****************************************************************************
 * bench/twocore.c
 *
 * Two-core throughput and round-trip latency over the PL320 model, on the
 * host port: two simulated cores, A and B, each with its own PL320 lower
 * half (pl320_initialize(), its own IPCM interrupt line and host IRQ),
 * sharing one register-accurate IPCM model (ffi/host/pl320_model.c); the
 * cores are the test suite's simulated cores (ctest/simcore.h), with this
 * benchmark's own RX callbacks and TX rings.
 *
 *   mailbox 0  A -> B   TX on A (the measured channel), RX on B
 *   mailbox 1  B -> A   TX on B (echoes), RX on A
 *
 * S sender threads on core A all send 24-byte messages (the PL320 MTU) on
 * the one A -> B channel. Two modes:
 *
 *   blocking  (depth "B") each sender loops mbox_send(): latency is the
 *             duration of one mbox_send(), i.e. message to B, B's
 *             interrupt handler receives and ACKs it, A's interrupt
 *             handler completes it and wakes the sender (send -> ACK).
 *             B's callback only counts.
 *   window D  each sender keeps at most D non-blocking messages
 *             (mbox_ticksend(.., 0)) outstanding: it takes one credit per
 *             send; B's RX callback echoes every message back on mailbox 1
 *             (non-blocking, from its interrupt handler); A's RX callback
 *             returns the credit. Latency is that echo round trip, from
 *             just before mbox_ticksend() to A's callback, so it includes
 *             the time spent queued in both rings. Depth = the window.
 *
 * Throughput is messages A -> B completed per second during the measured
 * window (blocking: mbox_send() calls that returned 0; window: echoes
 * received, one per message). Each configuration runs a warm-up, then a
 * measured window (--seconds, default 1.0). Rings are large enough that
 * no send is refused (queue_full is reported and must stay 0).
 *
 * Output (stdout): one JSON object per configuration on a line starting
 * with "result ", and the latency quantiles for the CDF plot in
 * <outdir>/cdf_s<S>_d<D>.csv (D = 0 for blocking). Progress on stderr.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "host.h"
#include "pl320_model.h"
#include "simcore.h"

#define IPCM_BASE       ((uintptr_t)0x2b000000u)
#define IPCM_NINT       8
#define A_INT           5
#define B_INT           2
#define A_IRQ           11
#define B_IRQ           10
#define MBOX_AB         0
#define MBOX_BA         1

#define MSG_SIZE        PL320_MTU
#define MAX_SENDERS     16
#define MAX_DEPTH       64
#define RING_MSGS       (MAX_SENDERS * MAX_DEPTH + 64)
#define RING_BYTES      (RING_MSGS * (6 + MSG_SIZE))
#define CHAN_TIMEOUT    HOST_MSEC2TICK(2000)
#define MAX_SAMPLES     (4 * 1024 * 1024)

/* The payload: when it was submitted, by whom, for which run. */

struct payload_s
{
  uint64_t t_ns;
  uint16_t sender;
  uint16_t run;
  uint32_t seq;
  uint8_t pad[MSG_SIZE - 16];
} __attribute__((packed));

_Static_assert(sizeof(struct payload_s) == MSG_SIZE, "payload size");

struct sender_s
{
  pthread_t thread;
  int id;
  sem_t credits;
  uint32_t seq;
  unsigned long nobufs;
  unsigned long errors;
};

static struct simcore_s g_a;
static struct simcore_s g_b;
static uint8_t g_a_ring[RING_BYTES] __attribute__((aligned(8)));
static uint8_t g_b_ring[RING_BYTES] __attribute__((aligned(8)));
static struct sender_s g_senders[MAX_SENDERS];

/* Run state, read by the callbacks. */

static atomic_int g_stop;
static atomic_int g_measuring;
static atomic_int g_run;              /* Generation of the current run */
static int g_mode_window;             /* 0: blocking, 1: window */
static atomic_long g_outstanding;     /* Window: sent, echo not back */
static atomic_ulong g_completed;      /* Counted while measuring */
static atomic_ulong g_echo_drop;      /* B could not echo */
static atomic_ulong g_stale;          /* Echo of an earlier run */
static atomic_ulong g_b_received;

static uint32_t *g_samples;           /* Latencies in ns */
static atomic_ulong g_nsamples;

static const char *g_outdir = ".";

static uint64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Core A runs on CPU 0, core B on CPU 1 (when there are two): each
 * interrupt thread pins itself in its first callback, the senders at
 * start. --no-pin leaves placement to the scheduler.
 */

static int g_pin = 1;

static void pin_self(int cpu)
{
  cpu_set_t set;

  if (!g_pin || sysconf(_SC_NPROCESSORS_ONLN) < 2)
    {
      return;
    }

  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void record(uint64_t lat_ns)
{
  unsigned long i;

  if (!atomic_load_explicit(&g_measuring, memory_order_relaxed))
    {
      return;
    }

  atomic_fetch_add_explicit(&g_completed, 1, memory_order_relaxed);
  i = atomic_fetch_add_explicit(&g_nsamples, 1, memory_order_relaxed);
  if (i < MAX_SAMPLES)
    {
      g_samples[i] = lat_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)lat_ns;
    }
}

/****************************************************************************
 * Callbacks (interrupt context of the receiving core)
 ****************************************************************************/

static int b_rx(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                size_t size)
{
  static __thread int pinned;

  (void)chan;
  (void)arg;
  if (!pinned)
    {
      pinned = 1;
      pin_self(1);
    }

  atomic_fetch_add_explicit(&g_b_received, 1, memory_order_relaxed);
  if (ret != 0 || data == NULL || !g_mode_window)
    {
      return 0;
    }

  if (mbox_ticksend(&g_b.sender, data, size, 0) != 0)
    {
      atomic_fetch_add(&g_echo_drop, 1);
    }

  return 0;
}

static int a_rx(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                size_t size)
{
  static __thread int pinned;
  struct payload_s p;

  (void)chan;
  (void)arg;
  if (!pinned)
    {
      pinned = 1;
      pin_self(0);
    }

  if (ret != 0 || data == NULL || size != sizeof(p))
    {
      return 0;
    }

  memcpy(&p, data, sizeof(p));
  if (p.run != (uint16_t)atomic_load(&g_run) || p.sender >= MAX_SENDERS)
    {
      atomic_fetch_add(&g_stale, 1);
      return 0;
    }

  record(now_ns() - p.t_ns);
  atomic_fetch_sub(&g_outstanding, 1);
  sem_post(&g_senders[p.sender].credits);
  return 0;
}

/****************************************************************************
 * Senders (task context of core A)
 ****************************************************************************/

static void fill(struct sender_s *s, struct payload_s *p)
{
  memset(p, 0, sizeof(*p));
  p->sender = (uint16_t)s->id;
  p->run = (uint16_t)atomic_load(&g_run);
  p->seq = s->seq++;
  p->t_ns = now_ns();
}

static void *sender_blocking(void *arg)
{
  struct sender_s *s = arg;
  struct mbox_sender_s snd = { g_a.tx, NULL };
  struct payload_s p;

  pin_self(0);
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
    {
      fill(s, &p);
      int ret = mbox_send(&snd, &p, sizeof(p));
      uint64_t t1 = now_ns();

      if (ret == 0)
        {
          record(t1 - p.t_ns);
        }
      else
        {
          s->errors++;
        }
    }

  return NULL;
}

static void *sender_window(void *arg)
{
  struct sender_s *s = arg;
  struct mbox_sender_s snd = { g_a.tx, NULL };
  struct payload_s p;
  struct timespec ts;

  pin_self(0);
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
    {
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 20 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000)
        {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000;
        }

      if (sem_timedwait(&s->credits, &ts) != 0)
        {
          continue;
        }

      fill(s, &p);
      atomic_fetch_add(&g_outstanding, 1);
      int ret = mbox_ticksend(&snd, &p, sizeof(p), 0);
      if (ret != 0)
        {
          atomic_fetch_sub(&g_outstanding, 1);
          sem_post(&s->credits);
          if (ret == -ENOBUFS)
            {
              s->nobufs++;
              sched_yield();
            }
          else
            {
              s->errors++;
            }
        }
    }

  return NULL;
}

/****************************************************************************
 * Setup
 ****************************************************************************/

/* Core c sends on tx_mbox (into its ring) to the peer's line and
 * receives on rx_mbox, with callback cb.
 */

static int bring_up(struct simcore_s *c, uint8_t *ring, int tx_mbox,
                    int rx_mbox, int peer_int, mbox_callback_t cb)
{
  struct pl320_chan_s *tx;
  int ret;

  tx = simcore_set_chan(c, 0, tx_mbox, c->ipcmint, peer_int, CHAN_TIMEOUT);
  tx->txbuf = ring;
  tx->bufsize = RING_BYTES;
  simcore_set_chan(c, 1, rx_mbox, peer_int, c->ipcmint, CHAN_TIMEOUT);

  ret = simcore_bringup(c, IPCM_BASE, tx_mbox, rx_mbox, cb, c);
  if (ret == -ENODEV)
    {
      fprintf(stderr, "twocore: pl320_initialize(%s) failed\n", c->name);
    }
  else if (ret != 0)
    {
      fprintf(stderr, "twocore: %s: bring-up failed (%d)\n", c->name, ret);
    }

  return ret;
}

/****************************************************************************
 * One configuration
 ****************************************************************************/

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a;
  uint32_t y = *(const uint32_t *)b;

  return x < y ? -1 : x > y;
}

static double quantile(const uint32_t *v, size_t n, double q)
{
  size_t i;

  if (n == 0)
    {
      return 0;
    }

  i = (size_t)ceil(q * (double)n);
  i = i == 0 ? 0 : i - 1;
  return v[i < n ? i : n - 1];
}

static void write_cdf(int senders, int depth, const uint32_t *v, size_t n)
{
  char path[512];
  FILE *f;
  int k;

  snprintf(path, sizeof(path), "%s/cdf_s%d_d%d.csv", g_outdir, senders,
           depth);
  f = fopen(path, "w");
  if (f == NULL)
    {
      return;
    }

  /* Points dense in the tail: q = 1 - 10^(-x) for x in [0, 5]. */

  fprintf(f, "quantile,latency_us\n");
  for (k = 0; k <= 400; k++)
    {
      double q = 1.0 - pow(10.0, -5.0 * k / 400.0);

      if (k == 0)
        {
          q = 0.0;
        }

      fprintf(f, "%.6f,%.3f\n", q, quantile(v, n, q) / 1000.0);
    }

  fprintf(f, "%.6f,%.3f\n", 1.0, n ? v[n - 1] / 1000.0 : 0.0);
  fclose(f);
}

static void stats(struct mbox_chan_s *ch, struct mbox_stats_s *st)
{
  memset(st, 0, sizeof(*st));
#ifdef CONFIG_MBOX_TRACE
  mbox_chan_get_stats(ch, st);
#else
  (void)ch;
#endif
}

/* Everything measured for one configuration, over all rounds. */

#define MAX_ROUNDS 9

struct agg_s
{
  int senders;
  int depth;
  int rounds;
  double secs;                        /* Measured time, all rounds */
  unsigned long done;                 /* Messages, all rounds */
  double tput[MAX_ROUNDS];            /* msgs/s of each round */
  uint32_t *v;                        /* Latency samples, all rounds */
  size_t n;
  size_t cap;
  size_t queue_full;
  size_t timeouts;
  size_t max_queued;
  size_t echo_queue_full;
  unsigned long echo_drop;
  unsigned long nobufs;
  unsigned long errors;
  long lost;
};

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* One measured run of configuration g, appended to g. */

static int run_one(struct agg_s *g, double warm_s, double meas_s)
{
  struct mbox_stats_s a0;
  struct mbox_stats_s a1;
  struct mbox_stats_s b0;
  struct mbox_stats_s b1;
  struct timespec ts;
  int senders = g->senders;
  int depth = g->depth;
  unsigned long n;
  uint64_t t0;
  uint64_t t1;
  uint64_t drain_end;
  unsigned long errors0 = g->errors;
  long lost;
  int i;

  atomic_store(&g_run, atomic_load(&g_run) + 1);
  g_mode_window = depth > 0;
  atomic_store(&g_stop, 0);
  atomic_store(&g_measuring, 0);
  atomic_store(&g_outstanding, 0);
  atomic_store(&g_completed, 0);
  atomic_store(&g_nsamples, 0);
  atomic_store(&g_echo_drop, 0);
  stats(g_a.tx, &a0);
  stats(g_b.tx, &b0);

  for (i = 0; i < senders; i++)
    {
      struct sender_s *s = &g_senders[i];

      memset(s, 0, sizeof(*s));
      s->id = i;
      sem_init(&s->credits, 0, depth > 0 ? (unsigned)depth : 0);
      pthread_create(&s->thread, NULL,
                     depth > 0 ? sender_window : sender_blocking, s);
    }

  ts.tv_sec = (time_t)warm_s;
  ts.tv_nsec = (long)((warm_s - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL);

  t0 = now_ns();
  atomic_store(&g_measuring, 1);
  ts.tv_sec = (time_t)meas_s;
  ts.tv_nsec = (long)((meas_s - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL);
  atomic_store(&g_measuring, 0);
  t1 = now_ns();

  atomic_store(&g_stop, 1);
  for (i = 0; i < senders; i++)
    {
      pthread_join(g_senders[i].thread, NULL);
      g->nobufs += g_senders[i].nobufs;
      g->errors += g_senders[i].errors;
    }

  /* Let every outstanding message come back before the next run. */

  drain_end = now_ns() + 3000000000ull;
  while (atomic_load(&g_outstanding) > 0 && now_ns() < drain_end)
    {
      usleep(1000);
    }

  lost = atomic_load(&g_outstanding);
  g->lost += lost;
  for (i = 0; i < senders; i++)
    {
      sem_destroy(&g_senders[i].credits);
    }

  stats(g_a.tx, &a1);
  stats(g_b.tx, &b1);
  g->queue_full += a1.queue_full - a0.queue_full;
  g->timeouts += a1.timeout - a0.timeout;
  g->echo_queue_full += b1.queue_full - b0.queue_full;
  g->echo_drop += atomic_load(&g_echo_drop);
  if (a1.max_queued > g->max_queued)
    {
      g->max_queued = a1.max_queued;
    }

  n = atomic_load(&g_nsamples);
  if (n > MAX_SAMPLES)
    {
      n = MAX_SAMPLES;
    }

  if (g->n + n > g->cap)
    {
      size_t cap = (g->n + n) * 2;
      uint32_t *v = realloc(g->v, cap * sizeof(*v));

      if (v == NULL)
        {
          return 1;
        }

      g->v = v;
      g->cap = cap;
    }

  memcpy(g->v + g->n, g_samples, n * sizeof(*g_samples));
  g->n += n;

  double secs = (double)(t1 - t0) / 1e9;
  unsigned long done = atomic_load(&g_completed);

  g->secs += secs;
  g->done += done;
  g->tput[g->rounds++] = done / secs;

  /* This round's percentiles, for the progress line. */

  qsort(g_samples, n, sizeof(g_samples[0]), cmp_u32);
  char dname[16];
  snprintf(dname, sizeof(dname), depth > 0 ? "%d" : "blocking", depth);
  fprintf(stderr, "  twocore round %d: senders=%-2d depth=%-8s %7.0f msg/s  "
          "p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us\n", g->rounds,
          senders, dname, done / secs,
          quantile(g_samples, n, 0.50) / 1000.0,
          quantile(g_samples, n, 0.99) / 1000.0,
          quantile(g_samples, n, 0.999) / 1000.0);
  return lost == 0 && g->errors == errors0 ? 0 : 1;
}

/* Print the result of configuration g over all its rounds. */

static void report(struct agg_s *g)
{
  double t[MAX_ROUNDS];
  int i;

  qsort(g->v, g->n, sizeof(g->v[0]), cmp_u32);
  write_cdf(g->senders, g->depth, g->v, g->n);
  memcpy(t, g->tput, sizeof(t));
  qsort(t, (size_t)g->rounds, sizeof(t[0]), cmp_double);

  printf("result {\"mode\": \"%s\", \"senders\": %d, \"depth\": %d, "
         "\"rounds\": %d, \"seconds\": %.3f, \"messages\": %lu, "
         "\"msgs_per_s\": %.0f, \"msgs_per_s_rounds\": [",
         g->depth > 0 ? "window" : "blocking", g->senders, g->depth,
         g->rounds, g->secs, g->done,
         (t[(g->rounds - 1) / 2] + t[g->rounds / 2]) / 2);
  for (i = 0; i < g->rounds; i++)
    {
      printf("%s%.0f", i ? ", " : "", g->tput[i]);
    }

  printf("], \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
         "\"max_us\": %.2f, \"samples\": %zu, \"queue_full\": %zu, "
         "\"timeouts\": %zu, \"max_queued\": %zu, \"echo_queue_full\": %zu, "
         "\"echo_drop\": %lu, \"nobufs\": %lu, \"errors\": %lu, "
         "\"lost\": %ld}\n",
         quantile(g->v, g->n, 0.50) / 1000.0,
         quantile(g->v, g->n, 0.99) / 1000.0,
         quantile(g->v, g->n, 0.999) / 1000.0,
         g->n ? g->v[g->n - 1] / 1000.0 : 0.0, g->n, g->queue_full,
         g->timeouts, g->max_queued, g->echo_queue_full, g->echo_drop,
         g->nobufs, g->errors, g->lost);
  fflush(stdout);
}

/****************************************************************************
 * Main
 ****************************************************************************/

int main(int argc, char **argv)
{
  static const int senders[] = { 1, 4, 16 };
  static const int depths[] = { 0, 1, 4, 16, 64 };
  int irq_of_line[IPCM_NINT];
  struct pl320_model_s *model;
  struct pl320_model_stats_s ms;
  double warm_s = 0.2;
  double meas_s = 1.0;
  int rounds = 1;
  struct agg_s aggs[15];
  int naggs = 0;
  int r;
  int only_s = 0;
  int only_d = -1;
  int bad = 0;
  size_t i;
  size_t j;
  int k;

  for (k = 1; k < argc; k++)
    {
      if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
        {
          meas_s = atof(argv[++k]);
        }
      else if (strcmp(argv[k], "--warmup") == 0 && k + 1 < argc)
        {
          warm_s = atof(argv[++k]);
        }
      else if (strcmp(argv[k], "--no-pin") == 0)
        {
          g_pin = 0;
        }
      else if (strcmp(argv[k], "--rounds") == 0 && k + 1 < argc)
        {
          rounds = atoi(argv[++k]);
          rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
        }
      else if (strcmp(argv[k], "--outdir") == 0 && k + 1 < argc)
        {
          g_outdir = argv[++k];
        }
      else if (strcmp(argv[k], "--only") == 0 && k + 2 < argc)
        {
          only_s = atoi(argv[++k]);
          only_d = atoi(argv[++k]);
        }
      else
        {
          fprintf(stderr, "usage: %s [--seconds S] [--warmup S] "
                  "[--rounds N] [--no-pin] [--outdir DIR] [--only SENDERS DEPTH]\n", argv[0]);
          return 2;
        }
    }

  g_samples = calloc(MAX_SAMPLES, sizeof(g_samples[0]));
  if (g_samples == NULL)
    {
      return 2;
    }

  for (k = 0; k < IPCM_NINT; k++)
    {
      irq_of_line[k] = -1;
    }

  irq_of_line[A_INT] = A_IRQ;
  irq_of_line[B_INT] = B_IRQ;
  model = pl320_model_create(IPCM_BASE, PL320_MAX_MBOX_NUM, IPCM_NINT, 7,
                             irq_of_line);
  if (model == NULL)
    {
      fprintf(stderr, "twocore: cannot create the PL320 model\n");
      return 2;
    }

  simcore_init(&g_a, "A", A_INT, A_IRQ);
  simcore_init(&g_b, "B", B_INT, B_IRQ);
  if (bring_up(&g_a, g_a_ring, MBOX_AB, MBOX_BA, B_INT, a_rx) != 0 ||
      bring_up(&g_b, g_b_ring, MBOX_BA, MBOX_AB, A_INT, b_rx) != 0)
    {
      return 2;
    }

  /* One echo, so that both interrupt threads have run a callback (and
   * pinned themselves) before the first measurement.
   */

  {
    struct payload_s p;
    struct mbox_sender_s snd = { g_a.tx, NULL };
    uint64_t end = now_ns() + 2000000000ull;

    memset(&p, 0, sizeof(p));
    p.run = 0xffff;
    g_mode_window = 1;
    mbox_ticksend(&snd, &p, sizeof(p), 0);
    while (atomic_load(&g_stale) == 0 && now_ns() < end)
      {
        usleep(1000);
      }

    atomic_store(&g_stale, 0);
  }

  printf("config {\"msg_size\": %d, \"ring_msgs\": %d, \"warmup_s\": %.2f, "
         "\"seconds\": %.2f, \"rounds\": %d, \"pinned\": %s, "
         "\"chan_timeout_ticks\": %ld}\n",
         MSG_SIZE, RING_MSGS, warm_s, meas_s, rounds,
         g_pin && sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? "true" : "false",
         (long)CHAN_TIMEOUT);
  memset(aggs, 0, sizeof(aggs));
  for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
    {
      for (j = 0; j < sizeof(depths) / sizeof(depths[0]); j++)
        {
          if (only_s != 0 && (senders[i] != only_s || depths[j] != only_d))
            {
              continue;
            }

          aggs[naggs].senders = senders[i];
          aggs[naggs].depth = depths[j];
          naggs++;
        }
    }

  /* Rounds go over every configuration in turn, so that a noisy moment
   * on the shared machine hits one round of several configurations, not
   * every round of one.
   */

  for (r = 0; r < rounds; r++)
    {
      for (k = 0; k < naggs; k++)
        {
          bad |= run_one(&aggs[k], warm_s, meas_s);
        }
    }

  for (k = 0; k < naggs; k++)
    {
      report(&aggs[k]);
      free(aggs[k].v);
    }

  pl320_model_get_stats(model, &ms);
  printf("model {\"register_writes\": %lu, \"protocol_errors\": %lu, "
         "\"stale_echoes\": %lu, \"b_received\": %lu}\n", ms.writes,
         ms.protocol_errors, (unsigned long)atomic_load(&g_stale),
         (unsigned long)atomic_load(&g_b_received));
  host_shutdown();
  pl320_model_destroy(model);
  free(g_samples);
  return bad || ms.protocol_errors != 0 ? 1 : 0;
}
