/****************************************************************************
 * ctest/test_race.c
 *
 * Multi-threaded stress of the upper half on the host port.
 *
 * Part 1, PL320: two simulated cores share one PL320 model, each with its
 * own pl320_initialize() (own interrupt line and host IRQ). Each core
 * sends on CHANS_PER_CORE mailboxes to the other core; SENDERS_PER_CHAN
 * threads share every TX channel, so 8 sender threads in all, 10,000
 * messages each by default (STRESS_SCALE multiplies that). Every message
 * picks its mode at random: non-blocking (timeout 0), blocking with a
 * very short timeout (1..4 ticks), or blocking with a longer one. A chaos
 * thread keeps injecting late (PL320_FAULT_DELAY_ACK), duplicated
 * (PL320_FAULT_DUP_ACK) and lost (PL320_FAULT_DROP_ACK) acknowledges on
 * random mailboxes. When the senders are done, the TX channels are
 * de-initialised at once (whatever is still queued or in flight ends
 * cancelled), the late ACKs die out, and the checks run:
 *
 *   - every acknowledged (blocking, result 0) message was delivered
 *     exactly once; every other message at most once; a message that was
 *     refused (-ENOBUFS, a failed immediate send) never;
 *   - no duplicates, no corrupted payloads, and per-sender order: the
 *     messages of one sender that arrive do so in the order it sent them;
 *   - every result is accounted for: each message ends as exactly one of
 *     acked / timed out / send error / cancelled, which the channel
 *     statistics must balance against what the senders saw (the outcome
 *     of non-blocking messages is known only through the statistics);
 *   - at most as many ACKs as deliveries per channel, and the model saw
 *     no protocol error.
 *
 * Part 2, fake lower half: blocking and non-blocking senders on one
 * channel while mbox_chan_deinit() tears it down under them, 20 rounds:
 * every sender returns, with a result that balances the statistics.
 *
 * Payload: magic, sender id, size, sequence number, a hash of both and a
 * derived pattern, so the receiver can check every byte.
 *
 * Environment: STRESS_SCALE (default 1; e.g. 0.02 under valgrind, 125 for
 * the 10^7-message soak), STRESS_SEED (default: time). The last lines are
 * a summary "race: ..." and "N passed, M failed".
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>
#ifdef CONFIG_MBOX_PL320
#  include <nuttx/mbox/pl320.h>
#endif

#include "harness.h"
#include "fake_lower.h"
#include "host.h"
#include "pl320_model.h"
#include "simcore.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define NCORES            2
#define CHANS_PER_CORE    2
#define SENDERS_PER_CHAN  2
#define NTXCHANS          (NCORES * CHANS_PER_CORE)
#define NSENDERS          (NTXCHANS * SENDERS_PER_CHAN)
#define MSGS_PER_SENDER   10000

#define REG_BASE          ((uintptr_t)0x2b000000u)
#define NINT              4
#define IRQ_BASE          12               /* host IRQ of line i: 12 + i */
#define CHAN_TIMEOUT      20               /* ticks (ms) */
#define TXBUF_SIZE        (8 * (6 + 24))   /* 8 queued MTU messages */
#define MAX_FAULT_DELAY   6                /* ms */

#define MSG_MAGIC         0xb00cu
#define MSG_HDR           12
#define MSG_MTU           24               /* PL320_MTU */

/* Helpers that only the PL320 part uses (no unused warnings without it). */

#define PL320_ONLY        __attribute__((unused))

/* What one message ended as, from its sender's point of view. */

enum outcome_e
{
  O_NONE = 0,
  O_ACKED,          /* blocking, 0 */
  O_TIMEDOUT,       /* blocking, -ETIMEDOUT */
  O_CANCELLED,      /* blocking, -ECANCELED */
  O_SENDERR,        /* blocking, the lower half's send error */
  O_NB_ACCEPTED,    /* non-blocking, 0: outcome only in the statistics */
  O_NB_NOBUFS,      /* non-blocking, -ENOBUFS: refused */
  O_NB_SENDERR,     /* non-blocking, immediate send failed: refused */
  O_UNEXPECTED,     /* any other result */
  O_MAX
};

static const char *g_outcome_name[O_MAX] PL320_ONLY =
{
  "none", "acked", "timedout", "cancelled", "senderr", "nb_accepted",
  "nb_nobufs", "nb_senderr", "unexpected"
};

/****************************************************************************
 * Private Types
 ****************************************************************************/

struct sender_s
{
  int id;
  int chan;                       /* Index into g_tx */
  pthread_t thread;
  struct mbox_sender_s snd;
  uint32_t rng;
  unsigned long count;
  uint8_t *outcome;               /* [count], written by the sender */
  uint8_t *delivered;             /* [count], under g_rx_lock */
  long long last_rx;              /* Last delivered seq, under g_rx_lock */
  unsigned long n[O_MAX];
  int first_unexpected;
  unsigned long senderr_code[128]; /* Send errors by errno */
};

struct txchan_s
{
  int core;                       /* Sending core */
  int mbox;
  struct mbox_chan_s *chan;
  unsigned long delivered;        /* Under g_rx_lock */
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s stats;      /* After deinit */
#endif
};

#ifdef CONFIG_MBOX_PL320
_Static_assert(NTXCHANS <= SIMCORE_MAX_CHANS, "a core lists every mailbox");
_Static_assert(TXBUF_SIZE <= SIMCORE_TXBUF_SIZE, "a TX queue fits its slot");
#endif

/****************************************************************************
 * Private Data
 ****************************************************************************/

static double g_scale = 1.0;
static bool g_faults = true;
static uint32_t g_seed;

static struct sender_s g_senders[NSENDERS];
static struct txchan_s g_tx[NTXCHANS];

static pthread_mutex_t g_rx_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_rx_errors;        /* Callback with ret != 0 */
static unsigned long g_rx_corrupt;       /* Bad magic/size/hash/pattern */
static unsigned long g_rx_wrongchan;     /* Arrived on another mailbox */
static unsigned long g_rx_dup;           /* Deliveries beyond the first */
static unsigned long g_rx_order;         /* Per-sender order violations */
static unsigned long g_rx_total;

#ifdef CONFIG_MBOX_PL320
static struct pl320_model_s *g_model;
static struct simcore_s g_cores[NCORES];
static struct mbox_receiver_s g_rcv[NCORES][CHANS_PER_CORE];
static pthread_mutex_t g_chaos_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_chaos_stop;
static unsigned long g_faults_injected;
static bool g_stress_ran;
#endif

/****************************************************************************
 * Helpers
 ****************************************************************************/

static uint32_t rnd(uint32_t *s)
{
  uint32_t x = *s;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

static void sleep_us(long us)
{
  struct timespec ts;

  ts.tv_sec = us / 1000000;
  ts.tv_nsec = (us % 1000000) * 1000;
  nanosleep(&ts, NULL);
}

PL320_ONLY static uint32_t msg_hash(uint32_t sender, uint32_t seq)
{
  uint32_t h = 0x9e3779b9u ^ (sender * 0x85ebca6bu) ^ (seq * 0xc2b2ae35u);

  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return h;
}

PL320_ONLY static uint8_t msg_pattern(uint32_t sender, uint32_t seq, size_t i)
{
  return (uint8_t)(seq * 31u + i * 7u + sender * 13u);
}

PL320_ONLY static void msg_fill(uint8_t *p, size_t size, uint32_t sender, uint32_t seq)
{
  uint16_t magic = MSG_MAGIC;
  uint32_t h = msg_hash(sender, seq);
  size_t i;

  memcpy(p, &magic, 2);
  p[2] = (uint8_t)sender;
  p[3] = (uint8_t)size;
  memcpy(p + 4, &seq, 4);
  memcpy(p + 8, &h, 4);
  for (i = MSG_HDR; i < size; i++)
    {
      p[i] = msg_pattern(sender, seq, i);
    }
}

/* Decode and verify a received message: 0 and (sender, seq), or -1. */

PL320_ONLY static int msg_check(const uint8_t *p, size_t size, uint32_t *sender,
                     uint32_t *seq)
{
  uint16_t magic;
  uint32_t h;
  size_t i;

  if (size < MSG_HDR || size > MSG_MTU)
    {
      return -1;
    }

  memcpy(&magic, p, 2);
  memcpy(seq, p + 4, 4);
  memcpy(&h, p + 8, 4);
  *sender = p[2];
  if (magic != MSG_MAGIC || p[3] != size || *sender >= NSENDERS ||
      h != msg_hash(*sender, *seq))
    {
      return -1;
    }

  for (i = MSG_HDR; i < size; i++)
    {
      if (p[i] != msg_pattern(*sender, *seq, i))
        {
          return -1;
        }
    }

  return 0;
}

/* The RX callback (the receiving core's interrupt handler). arg is the
 * TX channel record of the mailbox it receives on.
 */

PL320_ONLY static int rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                       void *data, size_t size)
{
  struct txchan_s *tx = arg;
  struct sender_s *s;
  uint32_t sender;
  uint32_t seq;

  pthread_mutex_lock(&g_rx_lock);
  if (ret != 0 || data == NULL)
    {
      g_rx_errors++;
    }
  else if (msg_check(data, size, &sender, &seq) < 0 ||
           seq >= g_senders[sender].count)
    {
      if (g_rx_corrupt++ < 5)
        {
          const uint8_t *p = data;
          char hex[3 * MSG_MTU + 1];
          size_t i;

          for (i = 0; i < size && i < MSG_MTU; i++)
            {
              snprintf(hex + 3 * i, 4, " %02x", p[i]);
            }

          hex[3 * i] = '\0';
          printf("#   corrupt message on mailbox %d, %zu bytes:%s\n",
                 chan->id, size, hex);
        }
    }
  else
    {
      s = &g_senders[sender];
      if (chan->id != tx->mbox || s->chan != (int)(tx - g_tx))
        {
          g_rx_wrongchan++;
        }

      g_rx_total++;
      tx->delivered++;
      if (s->delivered[seq] < 255)
        {
          s->delivered[seq]++;
        }

      if (s->delivered[seq] > 1)
        {
          g_rx_dup++;
        }

      if ((long long)seq <= s->last_rx)
        {
          g_rx_order++;
        }

      s->last_rx = seq;
    }

  pthread_mutex_unlock(&g_rx_lock);
  return 0;
}

PL320_ONLY static void rx_reset(void)
{
  pthread_mutex_lock(&g_rx_lock);
  g_rx_errors = 0;
  g_rx_corrupt = 0;
  g_rx_wrongchan = 0;
  g_rx_dup = 0;
  g_rx_order = 0;
  g_rx_total = 0;
  pthread_mutex_unlock(&g_rx_lock);
}

/* Record the result `ret` of a send with `timeout`. */

static enum outcome_e classify(clock_t timeout, int ret)
{
  if (timeout == 0)
    {
      if (ret == 0)
        {
          return O_NB_ACCEPTED;
        }

      if (ret == -ENOBUFS)
        {
          return O_NB_NOBUFS;
        }

      if (ret == -EINVAL || ret == -EMSGSIZE || ret == -EPERM)
        {
          return O_UNEXPECTED;
        }

      return O_NB_SENDERR;
    }

  switch (ret)
    {
      case 0:
        return O_ACKED;

      case -ETIMEDOUT:
        return O_TIMEDOUT;

      case -ECANCELED:
        return O_CANCELLED;

      case -EINVAL:
      case -EMSGSIZE:
      case -EPERM:
      case -ENOBUFS:
        return O_UNEXPECTED;

      default:
        return ret < 0 ? O_SENDERR : O_UNEXPECTED;
    }
}

/****************************************************************************
 * Part 1: two PL320 cores
 ****************************************************************************/

#ifdef CONFIG_MBOX_PL320

static void *sender_main(void *arg)
{
  struct sender_s *s = arg;
  uint8_t msg[MSG_MTU];
  unsigned long seq;

  for (seq = 0; seq < s->count; seq++)
    {
      uint32_t r = rnd(&s->rng);
      size_t size = MSG_HDR + r % (MSG_MTU - MSG_HDR + 1);
      uint32_t mode = (r >> 8) % 100;
      clock_t timeout;
      enum outcome_e o;
      int ret;

      if (mode < 35)
        {
          timeout = 0;
        }
      else if (mode < 85)
        {
          timeout = 1 + (r >> 16) % 4;
        }
      else
        {
          timeout = 20 + (r >> 16) % 80;
        }

      msg_fill(msg, size, (uint32_t)s->id, (uint32_t)seq);
      ret = mbox_ticksend(&s->snd, msg, size, timeout);
      o = classify(timeout, ret);
      s->outcome[seq] = (uint8_t)o;
      s->n[o]++;
      if (o == O_UNEXPECTED && s->first_unexpected == 0)
        {
          s->first_unexpected = ret == 0 ? 1 : ret;
        }

      if ((o == O_SENDERR || o == O_NB_SENDERR) && ret > -128)
        {
          s->senderr_code[-ret]++;
        }

      if (o == O_NB_NOBUFS || o == O_SENDERR || o == O_NB_SENDERR)
        {
          /* The ring is full, or the mailbox is still busy (a stale ACK
           * the sender's interrupt has not cleared yet): give the other
           * threads a moment.
           */

          sched_yield();
        }
    }

  return NULL;
}

/* Keeps injecting acknowledge faults on random TX mailboxes. */

static void *chaos_main(void *arg)
{
  uint32_t rng = g_seed ^ 0xc4a05u;

  (void)arg;
  for (; ; )
    {
      uint32_t r;
      int mbox;
      unsigned f;

      pthread_mutex_lock(&g_chaos_lock);
      if (g_chaos_stop)
        {
          pthread_mutex_unlock(&g_chaos_lock);
          break;
        }

      if (!g_faults)
        {
          pthread_mutex_unlock(&g_chaos_lock);
          sleep_us(1000);
          continue;
        }

      g_faults_injected++;
      pthread_mutex_unlock(&g_chaos_lock);

      r = rnd(&rng);
      mbox = g_tx[r % NTXCHANS].mbox;
      f = (r >> 8) % 10;
      if (f < 4)
        {
          pl320_model_set_fault(g_model, mbox, PL320_FAULT_DELAY_ACK,
                                1 + (r >> 12) % MAX_FAULT_DELAY,
                                1 + (r >> 20) % 2);
        }
      else if (f < 8)
        {
          pl320_model_set_fault(g_model, mbox, PL320_FAULT_DUP_ACK,
                                (r >> 12) % 4, 1 + (r >> 20) % 2);
        }
      else
        {
          pl320_model_set_fault(g_model, mbox, PL320_FAULT_DROP_ACK, 0, 1);
        }

      sleep_us(500 + (long)((r >> 24) % 2500));
    }

  return NULL;
}

static int cores_init(void)
{
  int lines[NINT];
  int k;
  int i;

  for (i = 0; i < NINT; i++)
    {
      lines[i] = i < NCORES ? IRQ_BASE + i : -1;
    }

  g_model = pl320_model_create(REG_BASE, 32, NINT, 7, lines);
  if (g_model == NULL)
    {
      printf("#   cannot create the PL320 model\n");
      return -1;
    }

  /* TX channel t is mailbox t, sent by core t / CHANS_PER_CORE to the
   * other core. Every core lists all mailboxes: its own as TX, the other
   * core's as RX.
   */

  for (k = 0; k < NCORES; k++)
    {
      struct simcore_s *core = &g_cores[k];
      int nrx = 0;

      simcore_init(core, k == 0 ? "core0" : "core1", k, IRQ_BASE + k);
      for (i = 0; i < NTXCHANS; i++)
        {
          int from = i / CHANS_PER_CORE;
          struct pl320_chan_s *c =
            simcore_set_chan(core, i, i, from, 1 - from, CHAN_TIMEOUT);

          if (from == k)
            {
              c->bufsize = TXBUF_SIZE;      /* 8 queued MTU messages */
            }
          else
            {
              c->txbuf = NULL;
              c->bufsize = 0;
            }
        }

      core->dev = pl320_initialize(&core->config, REG_BASE);
      if (core->dev == NULL)
        {
          printf("#   pl320_initialize failed on core %d\n", k);
          return -1;
        }

      for (i = 0; i < NTXCHANS; i++)
        {
          struct mbox_chan_s *chan =
            mbox_get_chan(core->dev, (void *)(uintptr_t)i);

          if (chan == NULL)
            {
              printf("#   no channel for mailbox %d on core %d\n", i, k);
              return -1;
            }

          if (i / CHANS_PER_CORE == k)
            {
              g_tx[i].core = k;
              g_tx[i].mbox = i;
              g_tx[i].chan = chan;
            }
          else
            {
              g_rcv[k][nrx].chan = chan;
              if (mbox_register_rxcallback(&g_rcv[k][nrx], rx_callback,
                                           &g_tx[i]) < 0)
                {
                  printf("#   cannot register the RX callback\n");
                  return -1;
                }

              nrx++;
            }
        }
    }

  return 0;
}

static void test_pl320_stress(void)
{
  pthread_t chaos;
  unsigned long count;
  struct timespec t0;
  struct timespec t1;
  double dt;
  int i;
  int t;

  count = (unsigned long)(MSGS_PER_SENDER * g_scale);
  if (count == 0)
    {
      count = 1;
    }

  rx_reset();
  if (cores_init() < 0)
    {
      CHECK(!"two-core PL320 setup");
      return;
    }

  for (i = 0; i < NSENDERS; i++)
    {
      struct sender_s *s = &g_senders[i];

      memset(s, 0, sizeof(*s));
      s->id = i;
      s->chan = i / SENDERS_PER_CHAN;
      s->snd.chan = g_tx[s->chan].chan;
      s->rng = (g_seed + 0x1000193u * (uint32_t)(i + 1)) | 1u;
      s->count = count;
      s->outcome = calloc(count, 1);
      s->delivered = calloc(count, 1);
      s->last_rx = -1;
      if (s->outcome == NULL || s->delivered == NULL)
        {
          CHECK(!"out of memory");
          return;
        }
    }

  printf("#   %d senders x %lu messages on %d channels, both directions, "
         "seed %u\n", NSENDERS, count, NTXCHANS, g_seed);

  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_create(&chaos, NULL, chaos_main, NULL);
  for (i = 0; i < NSENDERS; i++)
    {
      pthread_create(&g_senders[i].thread, NULL, sender_main,
                     &g_senders[i]);
    }

  for (i = 0; i < NSENDERS; i++)
    {
      pthread_join(g_senders[i].thread, NULL);
    }

  pthread_mutex_lock(&g_chaos_lock);
  g_chaos_stop = true;
  pthread_mutex_unlock(&g_chaos_lock);
  pthread_join(chaos, NULL);

  /* Tear the TX channels down at once: queued and in-flight messages end
   * cancelled, while late and duplicated ACKs are still on their way.
   */

  for (t = 0; t < NTXCHANS; t++)
    {
      pl320_model_set_fault(g_model, g_tx[t].mbox, PL320_FAULT_NONE, 0, 0);
      CHECK_EQ(mbox_chan_deinit(g_tx[t].chan), 0);
    }

  /* Let the last delayed ACKs fire and every interrupt settle. */

  sleep_us((MAX_FAULT_DELAY + 20) * 1000);
  for (i = 0; i < NCORES; i++)
    {
      host_irq_quiesce(IRQ_BASE + i, 2000);
    }

  clock_gettime(CLOCK_MONOTONIC, &t1);
  dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

#ifdef CONFIG_MBOX_TRACE
  for (t = 0; t < NTXCHANS; t++)
    {
      CHECK_EQ(mbox_chan_get_stats_checked(g_tx[t].chan, &g_tx[t].stats), 0);
    }
#endif

  for (i = 0; i < NSENDERS; i++)
    {
      struct sender_s *s = &g_senders[i];

      if (s->n[O_UNEXPECTED] != 0)
        {
          printf("#   sender %d: %lu unexpected results (first %d)\n",
                 i, s->n[O_UNEXPECTED], s->first_unexpected);
        }

      CHECK_EQ(s->n[O_UNEXPECTED], 0);
    }

  for (t = 1; t < 128; t++)
    {
      unsigned long e = 0;

      for (i = 0; i < NSENDERS; i++)
        {
          e += g_senders[i].senderr_code[t];
        }

      if (e != 0)
        {
          printf("#   send errors -%d: %lu\n", t, e);
        }
    }

  printf("#   ran %.2f s, %lu fault injections\n", dt, g_faults_injected);
  g_stress_ran = true;
}

/* Exactly once for acknowledged messages, at most once for the others,
 * never for refused ones.
 */

static void test_delivery_exactly_once(void)
{
  unsigned long bad_acked = 0;
  unsigned long bad_refused = 0;
  unsigned long bad_other = 0;
  int i;

  if (!g_stress_ran)
    {
      CHECK(!"stress did not run");
      return;
    }

  pthread_mutex_lock(&g_rx_lock);
  for (i = 0; i < NSENDERS; i++)
    {
      struct sender_s *s = &g_senders[i];
      unsigned long q;

      for (q = 0; q < s->count; q++)
        {
          uint8_t d = s->delivered[q];

          switch (s->outcome[q])
            {
              case O_ACKED:
                if (d != 1)
                  {
                    if (bad_acked++ < 5)
                      {
                        printf("#   sender %d seq %lu: acked, delivered "
                               "%u times\n", i, q, d);
                      }
                  }
                break;

              case O_NB_NOBUFS:
              case O_NB_SENDERR:
              case O_UNEXPECTED:
              case O_NONE:
                if (d != 0)
                  {
                    if (bad_refused++ < 5)
                      {
                        printf("#   sender %d seq %lu: %s, delivered "
                               "%u times\n", i, q,
                               g_outcome_name[s->outcome[q]], d);
                      }
                  }
                break;

              default:
                if (d > 1)
                  {
                    bad_other++;
                  }
                break;
            }
        }
    }

  CHECK_EQ(bad_acked, 0);
  CHECK_EQ(bad_refused, 0);
  CHECK_EQ(bad_other, 0);
  CHECK_EQ(g_rx_dup, 0);
  pthread_mutex_unlock(&g_rx_lock);
}

static void test_order_and_integrity(void)
{
  if (!g_stress_ran)
    {
      CHECK(!"stress did not run");
      return;
    }

  pthread_mutex_lock(&g_rx_lock);
  CHECK_EQ(g_rx_order, 0);
  CHECK_EQ(g_rx_corrupt, 0);
  CHECK_EQ(g_rx_wrongchan, 0);
  CHECK_EQ(g_rx_errors, 0);
  CHECK(g_rx_total > 0);
  pthread_mutex_unlock(&g_rx_lock);
}

/* Every result accounted for, and the statistics agree with the senders. */

static void test_results_accounted(void)
{
#ifdef CONFIG_MBOX_TRACE
  int t;

  if (!g_stress_ran)
    {
      CHECK(!"stress did not run");
      return;
    }

  for (t = 0; t < NTXCHANS; t++)
    {
      struct mbox_stats_s *st = &g_tx[t].stats;
      unsigned long n[O_MAX];
      unsigned long starts;
      unsigned long ends;
      int i;
      int o;

      memset(n, 0, sizeof(n));
      for (i = 0; i < NSENDERS; i++)
        {
          if (g_senders[i].chan == t)
            {
              for (o = 0; o < O_MAX; o++)
                {
                  n[o] += g_senders[i].n[o];
                }
            }
        }

      /* Messages the framework took on: every blocking one (it got a
       * result of its own), every accepted non-blocking one, and the
       * non-blocking ones whose immediate send failed (counted as
       * send_err, not accepted).
       */

      starts = n[O_ACKED] + n[O_TIMEDOUT] + n[O_CANCELLED] + n[O_SENDERR] +
               n[O_NB_ACCEPTED] + n[O_NB_SENDERR];
      ends = st->acked + st->timeout + st->cancelled + st->send_err;

      printf("#   chan %d: acked %zu timeout %zu cancelled %zu send_err %zu"
             " | sent %zu buffered %zu queue_full %zu spurious_ack %zu"
             " max_queued %zu | delivered %lu\n", t, st->acked,
             st->timeout, st->cancelled, st->send_err, st->sent,
             st->buffered, st->queue_full, st->spurious_ack,
             st->max_queued, g_tx[t].delivered);
      printf("#   chan %d senders: acked %lu timedout %lu cancelled %lu "
             "senderr %lu nb_accepted %lu nb_nobufs %lu nb_senderr %lu\n",
             t, n[O_ACKED], n[O_TIMEDOUT], n[O_CANCELLED], n[O_SENDERR],
             n[O_NB_ACCEPTED], n[O_NB_NOBUFS], n[O_NB_SENDERR]);

      CHECK_EQ(ends, starts);
      CHECK_EQ(st->queue_full, n[O_NB_NOBUFS]);
      CHECK(st->acked >= n[O_ACKED]);
      CHECK(st->timeout >= n[O_TIMEDOUT]);
      CHECK(st->cancelled >= n[O_CANCELLED]);
      CHECK(st->send_err >= n[O_SENDERR] + n[O_NB_SENDERR]);

      /* Each ACK belongs to a delivered message; each delivery to a
       * message that went out.
       */

      pthread_mutex_lock(&g_rx_lock);
      CHECK(st->acked <= g_tx[t].delivered);
      CHECK(g_tx[t].delivered <= st->sent);
      pthread_mutex_unlock(&g_rx_lock);
    }
#endif
}

static void test_model_protocol(void)
{
  struct pl320_model_stats_s ms;

  if (g_model == NULL)
    {
      CHECK(!"no model");
      return;
    }

  pl320_model_get_stats(g_model, &ms);
  printf("#   model: acks delayed %lu, duplicated %lu, dropped %lu, "
         "protocol errors %lu\n", ms.acks_delayed, ms.acks_duplicated,
         ms.acks_dropped, ms.protocol_errors);
  CHECK_EQ(ms.protocol_errors, 0);
  CHECK(!g_faults ||
        ms.acks_delayed + ms.acks_duplicated + ms.acks_dropped > 0);
}

/* One line for the soak (and the log): what happened to every message. */

static void print_summary(void)
{
  unsigned long total = 0;
  unsigned long n[O_MAX];
  unsigned long lost_blocking = 0;
  unsigned long lost_chan = 0;
  unsigned long sent = 0;
  unsigned long acked = 0;
  unsigned long lost;
  int i;
  int o;

  if (!g_stress_ran)
    {
      return;
    }

  memset(n, 0, sizeof(n));
  pthread_mutex_lock(&g_rx_lock);
  for (i = 0; i < NSENDERS; i++)
    {
      struct sender_s *s = &g_senders[i];
      unsigned long q;

      total += s->count;
      for (o = 0; o < O_MAX; o++)
        {
          n[o] += s->n[o];
        }

      for (q = 0; q < s->count; q++)
        {
          if (s->outcome[q] == O_ACKED && s->delivered[q] == 0)
            {
              lost_blocking++;
            }
        }
    }

#ifdef CONFIG_MBOX_TRACE
  for (i = 0; i < NTXCHANS; i++)
    {
      sent += g_tx[i].stats.sent;
      acked += g_tx[i].stats.acked;
      if (g_tx[i].stats.acked > g_tx[i].delivered)
        {
          lost_chan += g_tx[i].stats.acked - g_tx[i].delivered;
        }
    }
#endif

  lost = lost_blocking > lost_chan ? lost_blocking : lost_chan;
  printf("race: messages %lu, sent %lu, delivered %lu, acked %lu, "
         "lost %lu, duplicated %lu | blocking: acked %lu timedout %lu "
         "cancelled %lu senderr %lu | non-blocking: accepted %lu "
         "refused %lu\n", total, sent, g_rx_total, acked, lost, g_rx_dup,
         n[O_ACKED], n[O_TIMEDOUT], n[O_CANCELLED], n[O_SENDERR],
         n[O_NB_ACCEPTED], n[O_NB_NOBUFS] + n[O_NB_SENDERR]);
  pthread_mutex_unlock(&g_rx_lock);
}

#endif /* CONFIG_MBOX_PL320 */

/****************************************************************************
 * Part 2: deinit under load (fake lower half)
 ****************************************************************************/

#define FAKE_SENDERS  4
#define FAKE_ROUNDS   20

struct fake_sender_s
{
  pthread_t thread;
  struct mbox_sender_s snd;
  uint32_t rng;
  bool *stop;
  unsigned long n[O_MAX];
  unsigned long einval;           /* After deinit: not submitted */
  int first_unexpected;
};

static pthread_mutex_t g_fake_lock = PTHREAD_MUTEX_INITIALIZER;

static void *fake_sender_main(void *arg)
{
  struct fake_sender_s *s = arg;
  uint8_t msg[16];

  for (; ; )
    {
      uint32_t r = rnd(&s->rng);
      clock_t timeout = (r & 3) == 0 ? 0 : 1 + (r >> 8) % 5;
      enum outcome_e o = O_NONE;
      bool stop;
      int ret;

      memset(msg, (int)(r >> 16), sizeof(msg));
      ret = mbox_ticksend(&s->snd, msg, 1 + (r >> 24) % sizeof(msg),
                          timeout);
      if (ret == -EINVAL)
        {
          /* The channel is gone: nothing was submitted. */

          s->einval++;
        }
      else
        {
          o = classify(timeout, ret);
          s->n[o]++;
          if (o == O_UNEXPECTED && s->first_unexpected == 0)
            {
              s->first_unexpected = ret == 0 ? 1 : ret;
            }
        }

      pthread_mutex_lock(&g_fake_lock);
      stop = *s->stop;
      pthread_mutex_unlock(&g_fake_lock);
      if (stop)
        {
          break;
        }

      if (ret == -EINVAL)
        {
          /* Do not spin on the dead channel (valgrind's scheduler would
           * starve the thread that stops us).
           */

          sleep_us(200);
        }
      else if (o == O_NB_NOBUFS)
        {
          sched_yield();
        }
    }

  return NULL;
}

static void test_fake_deinit_under_load(void)
{
  static struct fake_dev_s dev;
  static uint8_t ring[4 * (6 + 16)];
  struct fake_chan_s *fc = &dev.chans[0];
  uint32_t rng = g_seed ^ 0xfa4eu;
  int round;
  int i;

  fake_dev_init(&dev, 16);
  for (round = 0; round < FAKE_ROUNDS; round++)
    {
      struct fake_sender_s s[FAKE_SENDERS];
      unsigned long n[O_MAX];
      unsigned long starts;
      bool stop = false;
      int o;

      pthread_mutex_lock(&dev.lock);
      fc->auto_ack_ms = round % 3;
      pthread_mutex_unlock(&dev.lock);
      fc->base.timeout = 3;
      CHECK_EQ(mbox_chan_init(&fc->base, &dev.base, MBOX_TX, ring,
                              sizeof(ring)), 0);

      memset(s, 0, sizeof(s));
      for (i = 0; i < FAKE_SENDERS; i++)
        {
          s[i].snd.chan = &fc->base;
          s[i].rng = (rnd(&rng) | 1u);
          s[i].stop = &stop;
          pthread_create(&s[i].thread, NULL, fake_sender_main, &s[i]);
        }

      sleep_us(2000 + (long)(rnd(&rng) % 8000));
      CHECK_EQ(mbox_chan_deinit(&fc->base), 0);

      /* A little more load against the dead channel, then stop. */

      sleep_us(500);
      pthread_mutex_lock(&g_fake_lock);
      stop = true;
      pthread_mutex_unlock(&g_fake_lock);
      memset(n, 0, sizeof(n));
      for (i = 0; i < FAKE_SENDERS; i++)
        {
          pthread_join(s[i].thread, NULL);
          for (o = 0; o < O_MAX; o++)
            {
              n[o] += s[i].n[o];
            }

          if (s[i].n[O_UNEXPECTED])
            {
              printf("#   round %d sender %d: unexpected result %d\n",
                     round, i, s[i].first_unexpected);
            }
        }

      CHECK_EQ(n[O_UNEXPECTED], 0);

#ifdef CONFIG_MBOX_TRACE
        {
          struct mbox_stats_s st;

          CHECK_EQ(mbox_chan_get_stats_checked(&fc->base, &st), 0);
          starts = n[O_ACKED] + n[O_TIMEDOUT] + n[O_CANCELLED] +
                   n[O_SENDERR] + n[O_NB_ACCEPTED] + n[O_NB_SENDERR];
          CHECK_EQ(st.acked + st.timeout + st.cancelled + st.send_err,
                   starts);
          CHECK_EQ(st.queue_full, n[O_NB_NOBUFS]);
          CHECK(st.acked >= n[O_ACKED]);
          CHECK(st.cancelled >= n[O_CANCELLED]);
          if (round == FAKE_ROUNDS - 1)
            {
              printf("#   last round: acked %zu timeout %zu cancelled %zu "
                     "(blocking cancelled %lu)\n", st.acked, st.timeout,
                     st.cancelled, n[O_CANCELLED]);
            }
        }
#else
      (void)starts;
#endif
    }

  fake_dev_stop(&dev);
}

/****************************************************************************
 * Main
 ****************************************************************************/

int main(void)
{
  const char *e;
  int i;

  setvbuf(stdout, NULL, _IOLBF, 0);
  e = getenv("STRESS_SCALE");
  if (e != NULL && atof(e) > 0)
    {
      g_scale = atof(e);
    }

  e = getenv("STRESS_FAULTS");
  if (e != NULL && atoi(e) == 0)
    {
      g_faults = false;
    }

  e = getenv("STRESS_SEED");
  g_seed = e != NULL ? (uint32_t)strtoul(e, NULL, 0)
                     : (uint32_t)time(NULL) ^ (uint32_t)getpid();
  if (g_seed == 0)
    {
      g_seed = 1;
    }

#ifdef CONFIG_MBOX_PL320
  RUN(test_pl320_stress);
  RUN(test_delivery_exactly_once);
  RUN(test_order_and_integrity);
  RUN(test_results_accounted);
  RUN(test_model_protocol);
#endif
  RUN(test_fake_deinit_under_load);

#ifdef CONFIG_MBOX_PL320
  print_summary();
#endif
  host_shutdown();
#ifdef CONFIG_MBOX_PL320
  if (g_model != NULL)
    {
      pl320_model_destroy(g_model);
    }

  for (i = 0; i < NSENDERS; i++)
    {
      free(g_senders[i].outcome);
      free(g_senders[i].delivered);
    }
#else
  (void)i;
#endif

  return harness_finish();
}
