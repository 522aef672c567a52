/****************************************************************************
 * ctest/test_random_ops.c
 *
 * Randomised operation sequences over the public API, with every result
 * checked against what the API documents.
 *
 * Worker threads each run a random sequence of good and bad calls:
 * blocking sends (mbox_send, mbox_ticksend with a timeout), non-blocking
 * sends (also from interrupt context), polling sends (mbox_send_poll),
 * TX-done callbacks (mbox_register_txdone, on and off), spurious and
 * untokened ACKs (mbox_chan_tx_done, mbox_chan_tx_done_token with tokens
 * that are never in flight), statistics and capability reads, TX-done
 * method switches, NULL pointers, oversize messages, negative timeouts,
 * calls on channels of the wrong direction and calls from interrupt
 * context. Each message carries its sender, its channel, its sequence
 * number and a hash, so that the receiving side knows exactly which
 * message arrived.
 *
 * Part 1 runs over the PL320 register model (ffi/host/pl320_model.c):
 * two simulated cores, each sending on two mailboxes to the other, with
 * delayed, duplicated and dropped ACKs injected all the time. Among the
 * operations is the late-ACK race: a timed send whose ACK is delayed past
 * its timeout, then, while that late ACK is on its way and the receiving
 * core is busy (its interrupt held off), a message completed by an
 * untokened path (mbox_send_poll, the MBOX_TXDONE_POLL method, or a
 * client's mbox_chan_tx_done()). The late ACK must not complete it.
 *
 * Part 2 runs over the scriptable fake lower half (ctest/fake_lower.c),
 * whose send is wrapped to record every message handed to the "remote",
 * while a lifecycle thread de-initialises and re-initialises the channels
 * under the workers, scripts lower-half send failures, setup failures,
 * silent remotes and ACK delays, and probes three lifecycle rules: two
 * concurrent mbox_chan_init() of one channel admit exactly one;
 * mbox_chan_init() while mbox_chan_deinit() of the same channel still
 * waits (here: for a TX-done callback) is refused; and when an init's
 * setup() fails after clients got messages in (the channel is live while
 * setup runs), each of those messages gets its TX-done callback before
 * mbox_chan_init() returns, as with a deinit.
 *
 * What is provable, and checked at the end:
 *   - a message whose sender was told 0 (blocking or polling send, or a
 *     TX-done callback with 0) was delivered exactly once;
 *   - no message was delivered twice; a refused message (bad argument,
 *     -EMSGSIZE, -ENOBUFS, -EPERM, a lower-half send error) never;
 *   - the messages of one sender on one channel arrive in the order they
 *     were sent; every payload arrives intact on its own channel;
 *   - a timed-out or cancelled message may or may not have arrived (the
 *     ACK was late, not the message): only "at most once" is checked;
 *   - no channel counts more ACKs than messages delivered on it;
 *   - every accepted non-blocking message of a sender with a TX-done
 *     callback got exactly one callback (at most one when a channel was
 *     re-initialised during the call), and no callback came for anything
 *     else; a teardown (deinit, or an init whose setup failed) hands out
 *     the callbacks of what it ended before it returns;
 *   - the statistics balance per channel (summed over its lifetimes):
 *     acked + timeout + cancelled + send_err equals the messages the
 *     framework took on; queue_full equals the -ENOBUFS results; each
 *     counter is at least what the senders were told; sent lies between
 *     acked and the messages that ended; the fake's sends equal `sent`;
 *   - the model saw no protocol error;
 *   - every call returned a documented result for its arguments: exactly
 *     the documented errno for a bad argument, one of the documented
 *     outcomes for a good call (-EINVAL only when the channel may have
 *     been de-initialised during the call);
 *   - of two concurrent inits exactly one succeeds; an init during a
 *     deinit is refused with -EBUSY.
 *
 * Environment:
 *   RANDOM_SEED=n     the seed (default: time and pid; printed as seed=n).
 *                     It fixes the operations each worker picks, their
 *                     arguments and the injected faults (a few operations
 *                     adapt to results: a method switch that finds the
 *                     channel busy takes another path); with several
 *                     threads the interleavings still differ.
 *   RANDOM_OPS=n      worker operations in all (default 100000; 2/5 of
 *                     them on the PL320 part, which takes most of the time)
 *   RANDOM_SCALE=x    multiplies the default number of operations
 *   RANDOM_THREADS=1  one thread runs every worker's operations in turn,
 *                     with the fault injection and the lifecycle actions
 *                     between them, so that the calls come in the same
 *                     order in every run (their results may still differ
 *                     with the timing of the interrupt threads)
 *
 * PL320 wire format. In the framed format (CONFIG_MBOX_PL320_WIRE_FRAMED,
 * run by make test-pl320-framed) every ACK carries its message's token,
 * and everything above is checked as it stands. The compatible (legacy)
 * format, the default, carries neither a length nor a token:
 *   - every message arrives as PL320_MTU (28) bytes; the receiving side
 *     finds the size that was sent from the message's hash (the rest must
 *     be the zero padding; test_compat_size_recovers_every_sent_size
 *     checks that decoding for every size, payloads ending in zero bytes
 *     included);
 *   - a delayed ACK is SEND = 2 alone, as the receiving libmbox core
 *     writes it (the model replays only the remote's writes), so a late
 *     ACK never changes the data registers and every payload must arrive
 *     intact;
 *   - no duplicated ACKs are injected (a duplicate of an ACK that already
 *     completed its message cannot be told apart from the ACK of the next
 *     one; a legacy remote ACKs each message once);
 *   - "told 0 => delivered" is checked with the one exception the protocol
 *     leaves: a late ACK of a message that timed out (or was cancelled)
 *     after the remote had read it may complete the next message on the
 *     channel, which the remote then never reads. So per PL320 channel,
 *     the messages told 0 but never delivered must be no more than the
 *     messages that ended timed out or cancelled and yet were delivered
 *     (each remote ACK follows one delivery); any excess is a failure.
 *     The late-ACK race runs all the same (its late ACK must be absorbed
 *     or stay within that bound), and a stale ACK with nothing in flight
 *     must still complete nothing;
 *   - everything else (exactly once, order, intact payloads, no ACK
 *     without a delivery, TX-done callbacks, statistics, errnos) is
 *     checked as in the framed format.
 *
 * Output: "ok"/"not ok" per check, a line "random: ..." with the counts,
 * and last "N passed, M failed".
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

#define DEFAULT_OPS       100000

#define PART_PL320        0
#define PART_FAKE         1
#define NPARTS            2

#define NCH               4          /* TX channels per part */
#define NSLOTS            3          /* senders per worker and channel */
#define FIFO_CAP          64         /* callbacks one sender may owe */

#define PL_WORKERS        8          /* two per PL320 TX channel */
#define FK_WORKERS        4          /* on any fake channel */
#define LC_WORKER         (PL_WORKERS + FK_WORKERS)
#define NWORKERS          (LC_WORKER + 1)

/* PL320 setup (as ctest/test_race.c) */

#define NCORES            2
#define REG_BASE          ((uintptr_t)0x2b000000u)
#define NINT              4
#define IRQ_BASE          12         /* host IRQ of line i: 12 + i */
#define PL_TIMEOUT        20         /* ticks (ms) */
#ifdef CONFIG_MBOX_PL320
#  define PL_MTU          PL320_MTU
#else
#  define PL_MTU          24
#endif
#if defined(CONFIG_MBOX_PL320) && !defined(CONFIG_MBOX_PL320_WIRE_FRAMED)
#  define PL_COMPAT       1          /* No length, no token on the wire */
#else
#  define PL_COMPAT       0
#endif
#define PL_TXBUF          (6 * (14 + PL_MTU))
#define MAX_FAULT_DELAY   6          /* ms */

/* Fake lower half */

#define FK_MTU            16
#define FK_TXBUF          (6 * (14 + FK_MTU))

/* Messages: magic, sender, channel, sequence number, hash, pattern. */

#define MSG_MAGIC         0xa5c3u
#define MSG_HDR           12
#define MSG_MAX           64

#define NO_SEQ            UINT32_MAX

/* Result bits: the documented results of a call, as a set. */

#define RS_OK             (1u << 0)
#define RS_EINVAL         (1u << 1)
#define RS_EMSGSIZE       (1u << 2)
#define RS_ENOBUFS        (1u << 3)
#define RS_ETIMEDOUT      (1u << 4)
#define RS_ECANCELED      (1u << 5)
#define RS_EPERM          (1u << 6)
#define RS_EBUSY          (1u << 7)
#define RS_ENOSPC         (1u << 8)
#define RS_EDEADLK        (1u << 9)
#define RS_ENOENT         (1u << 10)
#define RS_EAGAIN         (1u << 11)
#define RS_ESRCH          (1u << 12)
#define RS_ENOSYS         (1u << 13)
#define RS_EIO            (1u << 14)
#define RS_EPROTO         (1u << 15)
#define RS_OTHER          (1u << 31)

/* Lifecycle word of a channel: epoch (one per init attempt) and phase,
 * written by the only thread that initialises and de-initialises the
 * channel. A call bracketed by two equal readings in phase UP ran on a
 * live channel; in phase DOWN on a dead one.
 */

#define PH_DOWN           0
#define PH_INIT           1
#define PH_UP             2
#define PH_DEINIT         3
#define LC(e, p)          (((unsigned)(e) << 2) | (unsigned)(p))
#define LC_EPOCH(v)       ((v) >> 2)
#define LC_PHASE(v)       ((v) & 3u)

#define LIVE_YES          0
#define LIVE_NO           1
#define LIVE_MAYBE        2

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* What a message ended as, from its sender's point of view. */

enum outcome_e
{
  O_NONE = 0,      /* sequence number not used */
  O_OK,            /* told 0: must be delivered exactly once */
  O_REFUSED,       /* never accepted or never handed on: never delivered */
  O_MAYBE,         /* timed out, cancelled, or outcome unknown: <= once */
  O_NB_CB          /* accepted non-blocking, outcome from its callback */
};

/* TX-done callback expectation of a message. */

#define CB_NONE           0
#define CB_EXACT          1          /* exactly one callback */
#define CB_ATMOST         2          /* the channel changed life: <= 1 */
#define CB_TENTATIVE      3          /* being submitted */

/* msgrec_s::cbexp: bits 1:0 the expectation, bits 3:2 the outcome the
 * callback told (enum outcome_e), bits 5:4 the channel index.
 */

#define CBX_EXP           0x03u
#define CBX_KEEP          0x33u
#define CBX_RES(x)        (((x) >> 2) & 3u)
#define CBX_CHAN(x)       (((x) >> 4) & 3u)

/* Where a message's "0" came from (for the report). */

enum path_e
{
  P_BLOCKING = 0,
  P_POLL,
  P_CALLBACK,
  P_MAX
};

struct msgrec_s
{
  uint8_t outcome;                /* worker thread */
  uint8_t delivered;              /* under g_rx_lock */
  uint8_t cbexp;                  /* under the worker's lock */
  int8_t cbres;                   /* callback's outcome, under the lock */
  uint8_t chan;                   /* chan_byte() of its channel */
};

struct chan_s;
struct worker_s;

/* One sender of a worker on one channel. */

struct slot_s
{
  struct mbox_sender_s snd;
  struct worker_s *w;
  struct chan_s *c;
  int state;                      /* REG_* (worker thread) */
  unsigned reg_epoch;
  uint32_t fifo[FIFO_CAP];        /* sequence numbers owed a callback */
  int fhead;
  int fcount;
  unsigned ncb;                   /* callbacks so far */
  bool probe;                     /* the lifecycle's probe sender */
};

#define REG_NO            0
#define REG_YES           1
#define REG_UNKNOWN       2

/* What the senders saw on one channel (for the statistics balance). */

struct cnt_s
{
  unsigned long submitted;        /* blocking/polling messages taken on */
  unsigned long nb_accepted;      /* non-blocking, 0 */
  unsigned long nb_senderr;       /* non-blocking, immediate send error */
  unsigned long nobufs;           /* -ENOBUFS */
  unsigned long k_acked;          /* known results ... */
  unsigned long k_timeout;
  unsigned long k_cancelled;
  unsigned long k_senderr;
  unsigned long spurious_min;     /* refused tx_done calls */
};

struct worker_s
{
  int id;
  int part;
  struct chan_s *home;            /* PL320: its channel */
  pthread_t thread;
  uint32_t rng;
  unsigned long ops;
  unsigned long done;
  uint32_t seq;
  uint32_t cap;
  struct msgrec_s *msg;
  pthread_mutex_t lock;
  struct slot_s slot[NCH][NSLOTS];
  struct cnt_s cnt[NCH];          /* worker thread */
  struct cnt_s cbcnt[NCH];        /* callbacks, under lock */
  long long last_rx[NCH];         /* under g_rx_lock */
  unsigned long cb_unexpected;    /* under lock */
  unsigned long cb_for_refused;   /* under lock */
  unsigned long skipped;
};

struct chan_s
{
  int part;
  int index;
  struct mbox_chan_s *chan;
  struct mbox_dev_s *dev;
  int core;                       /* PL320: sending core */
  int mbox;
  struct mbox_chan_s *rxchan;     /* PL320: the mailbox's RX side */
  struct fake_chan_s *fc;         /* fake */
  uint8_t *buf;
  size_t bufsize;
  atomic_uint lc;
  atomic_int paused;
  atomic_int inuse;
  atomic_bool retired;
  bool stats_lost;                /* an epoch's statistics were reset */
  unsigned long delivered;        /* under g_rx_lock */
  unsigned long rx_ok;            /* PL320 RX side, under g_rx_lock */
  unsigned long rx_err;
  unsigned long sends_ok;         /* fake: lower-half sends, g_rx_lock */
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s acc;        /* summed over the channel's lives */
  struct mbox_stats_s rxacc;      /* PL320 RX side */
#endif
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static uint32_t g_seed;
static unsigned long g_total_ops = DEFAULT_OPS;
static bool g_single;

static struct worker_s g_w[NWORKERS];
static struct chan_s g_ch[NPARTS][NCH];

static pthread_mutex_t g_rx_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long g_rx_total;
static unsigned long g_rx_corrupt;
static unsigned long g_rx_wrongchan;
static unsigned long g_rx_dup;
static unsigned long g_rx_order;
static unsigned long g_rx_errors;

static pthread_mutex_t g_print_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong g_calls;
static atomic_ulong g_wrong_errno;
static atomic_ulong g_snapshot_bad;
static atomic_ulong g_ops;

static atomic_bool g_stop;

/* Scenario counters: what the run exercised. */

static atomic_ulong g_race_runs[3];       /* late-ACK race, per path */
static atomic_ulong g_race_timedout;      /* ... whose first send timed out */
static atomic_ulong g_probe_b_runs;
static atomic_ulong g_probe_b_double;
static atomic_ulong g_probe_c_runs;
static atomic_ulong g_probe_c_skipped;
static atomic_ulong g_probe_c_bad;
static atomic_ulong g_probe_d_runs;
static atomic_ulong g_probe_d_bad;
static atomic_ulong g_deinits;
static atomic_ulong g_deadlk_probes;

#ifdef CONFIG_MBOX_PL320
static struct pl320_model_s *g_model;

_Static_assert(NCH <= SIMCORE_MAX_CHANS, "a core lists every mailbox");
_Static_assert(PL_TXBUF <= SIMCORE_TXBUF_SIZE, "a TX queue fits its slot");

static struct simcore_s g_cores[NCORES];
static struct mbox_receiver_s g_rcv[NCORES][NCH / NCORES];
static pthread_mutex_t g_stall_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_stall_count[NCORES];
static unsigned long g_faults_injected;
#endif

static struct fake_dev_s g_fdev;
static struct mbox_ops_s g_wrap_ops;
static int (*g_fake_send)(struct mbox_chan_s *, const void *, size_t);
static int (*g_fake_setup)(struct mbox_chan_s *, void *);
static uint8_t g_fk_txbuf[NCH][FK_TXBUF] __attribute__((aligned(8)));
static struct mbox_chan_s g_never_inited;   /* a zeroed channel */

/* The probe of "init while deinit waits" (one at a time). */

static struct
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct chan_s *c;
  bool armed;
  bool in_cb;
  bool done;
  bool abort;
  int ret;
  bool deinit_returned_at_init;
  atomic_bool deinit_returned;
} g_probe =
{
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .cond = PTHREAD_COND_INITIALIZER,
};

/* The probe of "messages accepted while an init fails". */

static struct
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct chan_s *c;
  bool armed;
  bool in_setup;
  bool done;
  uint32_t seq[4];
  int accepted;
} g_probe_d =
{
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .cond = PTHREAD_COND_INITIALIZER,
};

/* The probe of two concurrent inits. */

#define PROBE_B_ROUNDS    150
#define PROBE_B_MIN       (40 * PROBE_B_ROUNDS)   /* per run, at least */

static struct
{
  struct chan_s *c;
  atomic_int ready;
  atomic_int go;
  atomic_int delay[2];            /* spins before the call, per round */
  int ret[2];
} g_race_init;

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

static unsigned rbit(int ret)
{
  switch (ret)
    {
      case 0:           return RS_OK;
      case -EINVAL:     return RS_EINVAL;
      case -EMSGSIZE:   return RS_EMSGSIZE;
      case -ENOBUFS:    return RS_ENOBUFS;
      case -ETIMEDOUT:  return RS_ETIMEDOUT;
      case -ECANCELED:  return RS_ECANCELED;
      case -EPERM:      return RS_EPERM;
      case -EBUSY:      return RS_EBUSY;
      case -ENOSPC:     return RS_ENOSPC;
      case -EDEADLK:    return RS_EDEADLK;
      case -ENOENT:     return RS_ENOENT;
      case -EAGAIN:     return RS_EAGAIN;
      case -ESRCH:      return RS_ESRCH;
      case -ENOSYS:     return RS_ENOSYS;
      case -EIO:        return RS_EIO;
      case -EPROTO:     return RS_EPROTO;
      default:          return RS_OTHER;
    }
}

static void set_names(unsigned set, char *out, size_t len)
{
  static const char *names[] =
  {
    "0", "-EINVAL", "-EMSGSIZE", "-ENOBUFS", "-ETIMEDOUT", "-ECANCELED",
    "-EPERM", "-EBUSY", "-ENOSPC", "-EDEADLK", "-ENOENT", "-EAGAIN",
    "-ESRCH", "-ENOSYS", "-EIO", "-EPROTO"
  };

  size_t n = 0;
  int i;

  out[0] = '\0';
  for (i = 0; i < 16 && n + 12 < len; i++)
    {
      if (set & (1u << i))
        {
          n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "",
                                names[i]);
        }
    }
}

/* Count one call and check its result against the documented set. */

static bool check_ret(const char *what, int chan_id, int ret,
                      unsigned allowed)
{
  atomic_fetch_add(&g_calls, 1);
  if ((rbit(ret) & allowed) != 0)
    {
      return true;
    }

  if (atomic_fetch_add(&g_wrong_errno, 1) < 20)
    {
      char names[160];

      set_names(allowed, names, sizeof(names));
      pthread_mutex_lock(&g_print_lock);
      printf("#   %s on channel %d returned %d, documented: %s\n", what,
             chan_id, ret, names);
      pthread_mutex_unlock(&g_print_lock);
    }

  return false;
}

static unsigned lc_read(struct chan_s *c)
{
  return atomic_load(&c->lc);
}

static int liveness(unsigned before, unsigned after)
{
  if (before == after && LC_PHASE(before) == PH_UP)
    {
      return LIVE_YES;
    }

  if (before == after && LC_PHASE(before) == PH_DOWN)
    {
      return LIVE_NO;
    }

  return LIVE_MAYBE;
}

/* A good call's documented results on a channel of liveness lv: the
 * documented outcomes when it is live, -EINVAL when it is not.
 */

static unsigned on_chan(unsigned live_set, int lv)
{
  if (lv == LIVE_YES)
    {
      return live_set;
    }

  if (lv == LIVE_NO)
    {
      return RS_EINVAL;
    }

  return live_set | RS_EINVAL;
}

/* The lower half's send error in each part. */

static int senderr_of(int part)
{
  return part == PART_PL320 ? -EBUSY : -EIO;
}

static unsigned senderr_bit(int part)
{
  return part == PART_PL320 ? RS_EBUSY : RS_EIO;
}

static int chan_id(struct chan_s *c)
{
  return c->part * 100 + c->index;
}

/* Workers keep out of a paused or retired channel. */

static bool chan_enter(struct chan_s *c)
{
  atomic_fetch_add(&c->inuse, 1);
  if (atomic_load(&c->paused) || atomic_load(&c->retired))
    {
      atomic_fetch_sub(&c->inuse, 1);
      return false;
    }

  return true;
}

static void chan_leave(struct chan_s *c)
{
  atomic_fetch_sub(&c->inuse, 1);
}

static void chan_pause(struct chan_s *c)
{
  atomic_fetch_add(&c->paused, 1);
  while (atomic_load(&c->inuse) != 0)
    {
      sleep_us(100);
    }
}

static void chan_resume(struct chan_s *c)
{
  atomic_fetch_sub(&c->paused, 1);
}

/****************************************************************************
 * Messages
 ****************************************************************************/

static uint32_t msg_hash(uint32_t w, uint32_t ch, uint32_t seq, size_t size)
{
  uint32_t h = 0x9e3779b9u ^ (w * 0x85ebca6bu) ^ (seq * 0xc2b2ae35u) ^
               (ch * 0x27d4eb2fu) ^ ((uint32_t)size << 24);

  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return h;
}

static uint8_t chan_byte(struct chan_s *c)
{
  return (uint8_t)(c->part << 4 | c->index);
}

/* A new message of w for channel c in buf (size bytes, >= MSG_HDR);
 * returns its sequence number, or NO_SEQ when w has no room left.
 */

static uint32_t msg_make(struct worker_s *w, struct chan_s *c, uint8_t *buf,
                         size_t size)
{
  uint16_t magic = MSG_MAGIC;
  uint32_t seq;
  uint32_t h;
  size_t i;

  if (w->seq >= w->cap)
    {
      return NO_SEQ;
    }

  seq = w->seq++;
  w->msg[seq].cbexp = (uint8_t)(c->index << 4);
  w->msg[seq].chan = chan_byte(c);
  h = msg_hash((uint32_t)w->id, chan_byte(c), seq, size);
  memcpy(buf, &magic, 2);
  buf[2] = (uint8_t)w->id;
  buf[3] = chan_byte(c);
  memcpy(buf + 4, &seq, 4);
  memcpy(buf + 8, &h, 4);
  for (i = MSG_HDR; i < size; i++)
    {
      buf[i] = (uint8_t)(seq * 31u + i * 7u + (uint32_t)w->id * 13u);
    }

  return seq;
}

/* Record a message the remote received on channel c. Called with no lock
 * of ours held (PL320: the receiving core's interrupt handler; fake: the
 * wrapped send, with the framework's critical section held).
 */

static void record_delivery(struct chan_s *c, const uint8_t *p, size_t size)
{
  struct worker_s *w;
  uint16_t magic;
  uint32_t seq;
  uint32_t h;
  size_t i;
  bool bad = false;

  pthread_mutex_lock(&g_rx_lock);
  if (p == NULL || size < MSG_HDR || size > MSG_MAX)
    {
      bad = true;
    }
  else
    {
      memcpy(&magic, p, 2);
      memcpy(&seq, p + 4, 4);
      memcpy(&h, p + 8, 4);
      if (magic != MSG_MAGIC || p[2] >= NWORKERS ||
          h != msg_hash(p[2], p[3], seq, size) ||
          seq >= g_w[p[2]].cap)
        {
          bad = true;
        }

      for (i = MSG_HDR; !bad && i < size; i++)
        {
          if (p[i] != (uint8_t)(seq * 31u + i * 7u + p[2] * 13u))
            {
              bad = true;
            }
        }
    }

  if (bad)
    {
      if (g_rx_corrupt++ < 5)
        {
          printf("#   corrupt message on channel %d, %zu bytes\n",
                 chan_id(c), size);
        }

      pthread_mutex_unlock(&g_rx_lock);
      return;
    }

  w = &g_w[p[2]];
  if (p[3] != chan_byte(c))
    {
      g_rx_wrongchan++;
    }

  g_rx_total++;
  c->delivered++;
  if (w->msg[seq].delivered < 255)
    {
      w->msg[seq].delivered++;
    }

  if (w->msg[seq].delivered > 1)
    {
      if (g_rx_dup++ < 5)
        {
          printf("#   worker %d seq %u delivered %u times\n", w->id, seq,
                 w->msg[seq].delivered);
        }
    }

  if ((long long)seq <= w->last_rx[c->index])
    {
      if (g_rx_order++ < 5)
        {
          printf("#   worker %d channel %d: seq %u arrived after %lld\n",
                 w->id, chan_id(c), seq, w->last_rx[c->index]);
        }
    }
  else
    {
      w->last_rx[c->index] = seq;
    }

  pthread_mutex_unlock(&g_rx_lock);
}

/****************************************************************************
 * TX-done callbacks
 ****************************************************************************/

/* The documented results a TX-done callback may get. */

static unsigned cb_allowed(int part)
{
  unsigned s = RS_OK | RS_ETIMEDOUT | RS_ECANCELED | senderr_bit(part);

  return part == PART_FAKE ? s | RS_EPROTO : s;
}

/* Known result of a message that ended with ret, into the counters. */

static void count_result(struct cnt_s *n, int part, int ret)
{
  if (ret == 0)
    {
      n->k_acked++;
    }
  else if (ret == -ETIMEDOUT)
    {
      n->k_timeout++;
    }
  else if (ret == -ECANCELED)
    {
      n->k_cancelled++;
    }
  else if (ret == senderr_of(part) || ret == -EPROTO)
    {
      n->k_senderr++;
    }
}

/* Outcome of a message from its result: 0 must be delivered; a lower-half
 * send error means the lower half never took it; anything else may or
 * may not have reached the remote.
 */

static uint8_t outcome_of(int part, int ret)
{
  if (ret == 0)
    {
      return O_OK;
    }

  if (ret == senderr_of(part))
    {
      return O_REFUSED;
    }

  return O_MAYBE;
}

static void probe_c_in_callback(struct slot_s *s);
static void deinit_from_callback(struct chan_s *c);

static void txdone_cb(struct mbox_sender_s *snd, void *arg, int result)
{
  struct slot_s *s = arg;
  struct worker_s *w = s->w;
  struct chan_s *c = s->c;
  unsigned lc = lc_read(c);
  unsigned allowed = cb_allowed(c->part);
  bool hook = false;
  uint32_t seq;

  /* Cancellation only comes from a teardown (or a failed init). */

  if (LC_PHASE(lc) == PH_UP)
    {
      allowed &= ~RS_ECANCELED;
    }

  check_ret("TX-done callback result", chan_id(c), result, allowed);
  pthread_mutex_lock(&w->lock);
  if (snd != &s->snd || s->fcount == 0)
    {
      if (w->cb_unexpected++ < 3)
        {
          printf("#   unexpected TX-done callback (%d) for worker %d "
                 "channel %d\n", result, w->id, chan_id(c));
        }
    }
  else
    {
      seq = s->fifo[s->fhead];
      s->fhead = (s->fhead + 1) % FIFO_CAP;
      s->fcount--;
      if (w->msg[seq].cbres < 127)
        {
          w->msg[seq].cbres++;
        }

      /* cbres counts the calls; cbexp keeps the outcome they told. */

      w->msg[seq].cbexp = (uint8_t)((w->msg[seq].cbexp & CBX_KEEP) |
                                    outcome_of(c->part, result) << 2);
      count_result(&w->cbcnt[c->index], c->part, result);
    }

  s->ncb++;
  hook = (s->ncb % 23) == 11;
  pthread_mutex_unlock(&w->lock);

  if (s->probe)
    {
      if (result == -ECANCELED)
        {
          probe_c_in_callback(s);
        }
    }
  else if (hook)
    {
      deinit_from_callback(c);
    }
}

/* mbox_chan_deinit() from a channel's own callback: -EPERM in interrupt
 * context, otherwise -EDEADLK; while the channel may be being torn down
 * or initialised anyway, also -EINVAL (dead) or -EBUSY (that teardown or
 * init has not returned yet).
 */

static void deinit_from_callback(struct chan_s *c)
{
  unsigned before = lc_read(c);
  bool irq = mbox_os_in_interrupt();
  int ret = mbox_chan_deinit(c->chan);
  int lv = liveness(before, lc_read(c));
  unsigned allowed;

  atomic_fetch_add(&g_deadlk_probes, 1);
  if (irq)
    {
      allowed = RS_EPERM;
    }
  else
    {
      allowed = lv == LIVE_YES ? RS_EDEADLK
                               : RS_EDEADLK | RS_EINVAL | RS_EBUSY;
    }

  check_ret("mbox_chan_deinit from a TX-done callback", chan_id(c), ret,
            allowed);
}

/* Forget what a sender owed from an earlier life of its channel: all of
 * those callbacks came before that life's deinit returned.
 */

static void slot_refresh(struct slot_s *s, unsigned lc)
{
  if (s->state != REG_NO && LC_EPOCH(lc) != s->reg_epoch)
    {
      pthread_mutex_lock(&s->w->lock);
      s->fcount = 0;
      pthread_mutex_unlock(&s->w->lock);
      s->state = REG_NO;
    }
}

/* Register (install) or remove the TX-done callback of slot s. */

static void slot_register(struct slot_s *s, bool install, bool from_irq);

struct irq_call_s
{
  int kind;
  struct slot_s *s;
  const void *data;
  size_t size;
  clock_t timeout;
  struct chan_s *c;
  int ret;
};

static void irq_call(void *arg)
{
  struct irq_call_s *a = arg;

  switch (a->kind)
    {
      case 0:
        a->ret = mbox_ticksend(&a->s->snd, a->data, a->size, a->timeout);
        break;

      case 1:
        a->ret = mbox_send(&a->s->snd, a->data, a->size);
        break;

      case 2:
        a->ret = mbox_register_txdone(&a->s->snd, txdone_cb, a->s);
        break;

      case 3:
        a->ret = mbox_chan_deinit(a->c->chan);
        break;

      default:
        a->ret = mbox_chan_init(a->c->chan, a->c->dev, MBOX_TX, a->c->buf,
                                a->c->bufsize);
        break;
    }
}

static void slot_register(struct slot_s *s, bool install, bool from_irq)
{
  struct chan_s *c = s->c;
  unsigned before = lc_read(c);
  unsigned after;
  unsigned allowed;
  int lv;
  int ret;

  slot_refresh(s, before);
  if (!install && s->state == REG_YES)
    {
      int pending;

      pthread_mutex_lock(&s->w->lock);
      pending = s->fcount;
      pthread_mutex_unlock(&s->w->lock);
      if (pending > 0)
        {
          /* It still owes callbacks: removing it now would lose them
           * (documented), which this test does not want to count.
           */

          return;
        }
    }

  if (from_irq && install)
    {
      struct irq_call_s a = { .kind = 2, .s = s };

      host_run_as_interrupt(irq_call, &a);
      ret = a.ret;
    }
  else
    {
      ret = mbox_register_txdone(&s->snd, install ? txdone_cb : NULL, s);
    }

  after = lc_read(c);
  lv = liveness(before, after);
  if (install)
    {
      allowed = s->state == REG_YES ? RS_OK : RS_OK | RS_ENOSPC;
    }
  else
    {
      allowed = s->state == REG_YES ? RS_OK :
                s->state == REG_NO ? RS_ENOENT : RS_OK | RS_ENOENT;
    }

  check_ret(install ? "mbox_register_txdone" : "mbox_register_txdone(NULL)",
            chan_id(c), ret, on_chan(allowed, lv));

  if (install && ret == 0)
    {
      if (LC_EPOCH(before) == LC_EPOCH(after))
        {
          s->state = REG_YES;
          s->reg_epoch = LC_EPOCH(before);
        }
      else
        {
          s->state = REG_UNKNOWN;
          s->reg_epoch = LC_EPOCH(after);
        }
    }
  else if (ret == -ENOSPC || ret == -ENOENT || (!install && ret == 0))
    {
      s->state = REG_NO;
    }
}

/****************************************************************************
 * Operations
 ****************************************************************************/

static size_t good_size(struct chan_s *c, uint32_t r)
{
  size_t mtu = c->part == PART_PL320 ? PL_MTU : FK_MTU;

  return MSG_HDR + r % (mtu - MSG_HDR + 1);
}

static void set_outcome(struct worker_s *w, uint32_t seq, uint8_t o)
{
  if (seq != NO_SEQ)
    {
      w->msg[seq].outcome = o;
    }
}

/* A blocking send: kind 0 mbox_ticksend(timeout), 1 mbox_send. */

static void op_blocking(struct worker_s *w, struct slot_s *s, int kind,
                        clock_t timeout, uint32_t r)
{
  struct chan_s *c = s->c;
  struct cnt_s *n = &w->cnt[c->index];
  uint8_t buf[MSG_MAX];
  size_t size = good_size(c, r);
  unsigned before = lc_read(c);
  unsigned allowed;
  uint32_t seq;
  int ret;
  int lv;

  seq = msg_make(w, c, buf, size);
  if (seq == NO_SEQ)
    {
      w->skipped++;
      return;
    }

  ret = kind == 1 ? mbox_send(&s->snd, buf, size)
                  : mbox_ticksend(&s->snd, buf, size, timeout);
  lv = liveness(before, lc_read(c));
  allowed = RS_OK | RS_ETIMEDOUT | senderr_bit(c->part);
  if (c->part == PART_FAKE)
    {
      allowed |= RS_EPROTO | (lv == LIVE_YES ? 0 : RS_ECANCELED);
    }

  check_ret(kind == 1 ? "mbox_send" : "mbox_ticksend (blocking)",
            chan_id(c), ret, on_chan(allowed, lv));
  if (ret == 0 || ret == -ETIMEDOUT || ret == -ECANCELED || ret == -EPROTO ||
      ret == senderr_of(c->part))
    {
      n->submitted++;
      count_result(n, c->part, ret);
      set_outcome(w, seq, outcome_of(c->part, ret));
    }
  else
    {
      set_outcome(w, seq, ret == -EINVAL || ret == -EMSGSIZE ||
                          ret == -EPERM ? O_REFUSED : O_MAYBE);
    }
}

/* A non-blocking send through slot s (from interrupt context when
 * from_irq). Returns the sequence number and the result.
 */

static int op_nb(struct worker_s *w, struct slot_s *s, uint32_t r,
                 bool from_irq, uint32_t *seqp)
{
  struct chan_s *c = s->c;
  struct cnt_s *n = &w->cnt[c->index];
  uint8_t buf[MSG_MAX];
  size_t size = good_size(c, r);
  unsigned before = lc_read(c);
  unsigned after;
  bool expect_cb;
  uint32_t seq;
  int ret;
  int lv;

  *seqp = NO_SEQ;
  slot_refresh(s, before);
  if (s->state == REG_UNKNOWN)
    {
      /* Registered or not: find out first. */

      slot_register(s, true, false);
      before = lc_read(c);
      slot_refresh(s, before);
      if (s->state == REG_UNKNOWN)
        {
          w->skipped++;
          return -EAGAIN;
        }
    }

  expect_cb = s->state == REG_YES;
  if (expect_cb)
    {
      pthread_mutex_lock(&w->lock);
      if (s->fcount >= FIFO_CAP)
        {
          pthread_mutex_unlock(&w->lock);
          w->skipped++;
          return -EAGAIN;
        }

      pthread_mutex_unlock(&w->lock);
    }

  seq = msg_make(w, c, buf, size);
  if (seq == NO_SEQ)
    {
      w->skipped++;
      return -EAGAIN;
    }

  *seqp = seq;
  if (expect_cb)
    {
      /* Owed before the call: the callback may come before it returns. */

      pthread_mutex_lock(&w->lock);
      w->msg[seq].cbexp = (uint8_t)((w->msg[seq].cbexp & ~CBX_EXP) |
                                    CB_TENTATIVE);
      s->fifo[(s->fhead + s->fcount) % FIFO_CAP] = seq;
      s->fcount++;
      pthread_mutex_unlock(&w->lock);
    }

  if (from_irq)
    {
      struct irq_call_s a = { .kind = 0, .s = s, .data = buf, .size = size };

      host_run_as_interrupt(irq_call, &a);
      ret = a.ret;
    }
  else
    {
      ret = mbox_ticksend(&s->snd, buf, size, 0);
    }

  after = lc_read(c);
  lv = liveness(before, after);
  check_ret(from_irq ? "mbox_ticksend (non-blocking, interrupt context)"
                     : "mbox_ticksend (non-blocking)", chan_id(c), ret,
            on_chan(RS_OK | RS_ENOBUFS | senderr_bit(c->part), lv));
  if (ret == 0)
    {
      n->nb_accepted++;
      if (expect_cb)
        {
          pthread_mutex_lock(&w->lock);
          w->msg[seq].cbexp = (uint8_t)((w->msg[seq].cbexp & ~CBX_EXP) |
                              (LC_EPOCH(before) == LC_EPOCH(after) ?
                               CB_EXACT : CB_ATMOST));
          pthread_mutex_unlock(&w->lock);
          set_outcome(w, seq, O_NB_CB);
        }
      else
        {
          set_outcome(w, seq, O_MAYBE);
        }
    }
  else
    {
      if (expect_cb)
        {
          pthread_mutex_lock(&w->lock);
          if (s->fcount > 0 &&
              s->fifo[(s->fhead + s->fcount - 1) % FIFO_CAP] == seq)
            {
              s->fcount--;
            }
          else
            {
              w->cb_for_refused++;
            }

          w->msg[seq].cbexp &= (uint8_t)~CBX_EXP;
          pthread_mutex_unlock(&w->lock);
        }

      if (ret == -ENOBUFS)
        {
          n->nobufs++;
        }
      else if (ret == senderr_of(c->part))
        {
          n->nb_senderr++;
          n->k_senderr++;
        }

      set_outcome(w, seq, O_REFUSED);
    }

  return ret;
}

static int op_poll(struct worker_s *w, struct slot_s *s, uint32_t spins,
                   uint32_t r)
{
  struct chan_s *c = s->c;
  struct cnt_s *n = &w->cnt[c->index];
  uint8_t buf[MSG_MAX];
  size_t size = good_size(c, r);
  unsigned before = lc_read(c);
  unsigned allowed;
  uint32_t seq;
  int ret;
  int lv;

  seq = msg_make(w, c, buf, size);
  if (seq == NO_SEQ)
    {
      w->skipped++;
      return -EAGAIN;
    }

  ret = mbox_send_poll(&s->snd, buf, size, spins);
  lv = liveness(before, lc_read(c));
  allowed = RS_OK | RS_ETIMEDOUT | senderr_bit(c->part);
  if (c->part == PART_FAKE)
    {
      /* ACK mode refuses polling; a teardown cancels. */

      allowed |= RS_EPERM | (lv == LIVE_YES ? 0 : RS_ECANCELED);
    }

  check_ret("mbox_send_poll", chan_id(c), ret, on_chan(allowed, lv));
  if (ret == 0 || ret == -ETIMEDOUT || ret == -ECANCELED ||
      ret == senderr_of(c->part))
    {
      n->submitted++;
      count_result(n, c->part, ret);
      set_outcome(w, seq, outcome_of(c->part, ret));
    }
  else
    {
      set_outcome(w, seq, ret == -EINVAL || ret == -EMSGSIZE ||
                          ret == -EPERM ? O_REFUSED : O_MAYBE);
    }

  return ret;
}

/* Untokened ACK (kind 0: mbox_chan_tx_done; 1: the fake's ACK, which
 * also makes txacked true) or a token that is never in flight (2).
 */

static int op_ack(struct worker_s *w, struct chan_s *c, int kind, uint32_t r)
{
  unsigned before = lc_read(c);
  unsigned allowed;
  int ret;
  int lv;

  if (kind == 2)
    {
      ret = mbox_chan_tx_done_token(c->chan, 0xff000000u | (r & 0xffffffu));
    }
  else if (kind == 1)
    {
      ret = fake_ack(c->fc);
    }
  else
    {
      ret = mbox_chan_tx_done_checked(c->chan);
    }

  lv = liveness(before, lc_read(c));
  allowed = kind == 2 ? RS_ESRCH | RS_ENOENT | RS_EPERM
                      : RS_OK | RS_ENOENT | RS_EAGAIN | RS_EPERM;
  check_ret(kind == 2 ? "mbox_chan_tx_done_token (foreign token)"
                      : kind == 1 ? "mbox_chan_tx_done (fake ACK)"
                                  : "mbox_chan_tx_done", chan_id(c), ret,
            on_chan(allowed, lv));
  if (ret == -ENOENT || ret == -EAGAIN || ret == -EPERM || ret == -ESRCH)
    {
      w->cnt[c->index].spurious_min++;
    }

  return ret;
}

static void op_stats(struct worker_s *w, struct chan_s *c, uint32_t r)
{
  unsigned before = lc_read(c);
  int lv;
  long long v;

  (void)w;
  switch (r % 4)
    {
      case 0:
#ifdef CONFIG_MBOX_TRACE
        {
          struct mbox_stats_s st;
          int ret = mbox_chan_get_stats_checked(c->chan, &st);

          check_ret("mbox_chan_get_stats", chan_id(c), ret, RS_OK);
          if (ret == 0 && (st.acked > st.sent ||
                           st.buffered > st.max_queued ||
                           st.received != 0 || st.rx_dropped != 0))
            {
              if (atomic_fetch_add(&g_snapshot_bad, 1) < 3)
                {
                  printf("#   inconsistent statistics snapshot on "
                         "channel %d: acked %zu sent %zu max_queued %zu "
                         "buffered %zu\n", chan_id(c), st.acked, st.sent,
                         st.max_queued, st.buffered);
                }
            }
        }
#endif
        break;

      case 1:
        v = mbox_chan_mtu(c->chan);
        lv = liveness(before, lc_read(c));
        check_ret("mbox_chan_mtu", chan_id(c),
                  v == (c->part == PART_PL320 ? PL_MTU : FK_MTU) ? 0
                  : v < 0 ? (int)v : -1000, on_chan(RS_OK, lv));
        break;

      case 2:
        v = mbox_chan_txdepth(c->chan);
        lv = liveness(before, lc_read(c));
        check_ret("mbox_chan_txdepth", chan_id(c),
                  v == 1 ? 0 : v < 0 ? (int)v : -1000, on_chan(RS_OK, lv));
        break;

      default:
        v = mbox_dev_max_chans(c->dev);
        check_ret("mbox_dev_max_chans", chan_id(c),
                  v == NCH ? 0 : v < 0 ? (int)v : -1000, RS_OK);
        break;
    }
}

/* A TX-done method switch; returns the result. */

static int op_method(struct chan_s *c, int method, clock_t period)
{
  unsigned before = lc_read(c);
  int ret = mbox_chan_set_txdone(c->chan, method, period);

  check_ret("mbox_chan_set_txdone", chan_id(c), ret,
            on_chan(RS_OK | RS_EBUSY, liveness(before, lc_read(c))));
  return ret;
}

/* Calls with a bad argument: exactly the documented errno. */

static void op_bad(struct worker_s *w, struct chan_s *c, uint32_t r)
{
  struct slot_s *s = &w->slot[c->index][(r >> 8) % NSLOTS];
  struct mbox_sender_s nullchan = { .chan = NULL };
  struct mbox_sender_s wrongdir = { .chan = NULL };
  uint8_t buf[MSG_MAX];
  size_t mtu = c->part == PART_PL320 ? PL_MTU : FK_MTU;
  size_t big = mtu + 1 + (r >> 12) % (MSG_MAX - mtu);
  size_t msz = MSG_HDR;
  unsigned before = lc_read(c);
  uint32_t seq = NO_SEQ;
  unsigned lvset;
  int ret = 0;
  int what = (int)(r % 26);
  const char *name = "?";
  unsigned allowed = RS_EINVAL;
  bool chan_dep = false;          /* -EINVAL when the channel is dead */

  /* A sender whose channel is of the other direction (PL320: the RX side
   * of the same mailbox; fake: a channel that was never initialised).
   */

  wrongdir.chan = c->rxchan != NULL ? c->rxchan : &g_never_inited;

  if (what <= 9)
    {
      msz = what == 4 || what == 5 || what == 6 ? big : good_size(c, r);
      seq = msg_make(w, c, buf, msz);
      if (seq == NO_SEQ)
        {
          w->skipped++;
          return;
        }
    }

  switch (what)
    {
      case 0:
        name = "mbox_ticksend with a negative timeout";
        ret = mbox_ticksend(&s->snd, buf, msz,
                            -(clock_t)(2 + (r >> 16) % 1000));
        break;

      case 1:
        name = "mbox_ticksend on a NULL channel";
        ret = mbox_ticksend(&nullchan, buf, msz, (r >> 16) % 3);
        break;

      case 2:
        name = "mbox_ticksend on a channel of the other direction";
        ret = mbox_ticksend(&wrongdir, buf, msz, (r >> 16) % 3);
        break;

      case 3:
        name = "mbox_send_poll with 0 spins";
        ret = mbox_send_poll(&s->snd, buf, msz, 0);
        break;

      case 4:
        name = "mbox_ticksend oversize (non-blocking)";
        ret = mbox_ticksend(&s->snd, buf, big, 0);
        allowed = RS_EMSGSIZE;
        chan_dep = true;
        break;

      case 5:
        name = "mbox_ticksend oversize (blocking)";
        ret = mbox_ticksend(&s->snd, buf, big, 1 + (r >> 16) % 5);
        allowed = RS_EMSGSIZE;
        chan_dep = true;
        break;

      case 6:
        name = "mbox_send_poll oversize";
        ret = mbox_send_poll(&s->snd, buf, big, 100);
        allowed = RS_EMSGSIZE;
        chan_dep = true;
        break;

      case 7:
        {
          struct irq_call_s a = { .kind = 0, .s = s, .data = buf,
                                  .size = msz, .timeout = 5 };

          name = "mbox_ticksend (blocking) from interrupt context";
          host_run_as_interrupt(irq_call, &a);
          ret = a.ret;
          allowed = RS_EPERM;
        }
        break;

      case 8:
        {
          struct irq_call_s a = { .kind = 1, .s = s, .data = buf,
                                  .size = msz };

          name = "mbox_send from interrupt context";
          host_run_as_interrupt(irq_call, &a);
          ret = a.ret;
          allowed = RS_EPERM;
        }
        break;

      case 9:
        name = "mbox_send_poll on a channel of the other direction";
        ret = mbox_send_poll(&wrongdir, buf, msz, 10);
        break;

      case 10:
        name = "mbox_ticksend with NULL data";
        ret = mbox_ticksend(&s->snd, NULL, 4, (r >> 16) % 3);
        break;

      case 11:
        name = "mbox_send with a NULL sender";
        ret = mbox_send(NULL, buf, 4);
        break;

      case 12:
        name = "mbox_send_poll with a NULL sender";
        ret = mbox_send_poll(NULL, buf, 4, 10);
        break;

      case 13:
        name = "mbox_chan_tx_done_checked(NULL)";
        ret = (r >> 16) & 1 ? mbox_chan_tx_done_checked(NULL)
                            : mbox_chan_tx_done_token(NULL, r);
        break;

      case 14:
        name = "mbox_chan_tx_done on a channel of the other direction";
        ret = (r >> 16) & 1 ? mbox_chan_tx_done_checked(wrongdir.chan)
                            : mbox_chan_tx_done_token(wrongdir.chan, r);
        break;

      case 15:
        name = "mbox_register_txdone with a bad sender";
        ret = mbox_register_txdone((r >> 16) % 3 == 0 ? NULL :
                                   (r >> 16) % 3 == 1 ? &nullchan
                                                      : &wrongdir,
                                   txdone_cb, s);
        break;

      case 16:
        name = "mbox_chan_set_txdone with an unknown method";
        ret = mbox_chan_set_txdone(c->chan,
                                   (r >> 16) & 1 ? -1 : 3 + (int)((r >> 17) % 100),
                                   1);
        break;

      case 17:
        name = "mbox_chan_set_txdone POLL with a bad period";
        ret = mbox_chan_set_txdone(c->chan, MBOX_TXDONE_POLL,
                                   (r >> 16) % 3 == 0 ? 0 :
                                   (r >> 16) % 3 == 1 ? MBOX_WAIT_FOREVER
                                                      : -5);
        break;

      case 18:
        name = "mbox_chan_set_txdone on a bad channel";
        ret = mbox_chan_set_txdone((r >> 16) & 1 ? NULL : wrongdir.chan,
                                   MBOX_TXDONE_IRQ, 0);
        break;

      case 19:
#ifdef CONFIG_MBOX_TRACE
        {
          struct mbox_stats_s st;

          name = "mbox_chan_get_stats with NULL";
          ret = (r >> 16) & 1 ? mbox_chan_get_stats_checked(NULL, &st)
                              : mbox_chan_get_stats_checked(c->chan, NULL);
        }
#else
        name = "mbox_chan_mtu(NULL)";
        ret = (int)mbox_chan_mtu(NULL);
#endif
        break;

      case 20:
        name = "capability call with NULL";
        ret = (r >> 16) % 3 == 0 ? (int)mbox_chan_mtu(NULL) :
              (r >> 16) % 3 == 1 ? mbox_chan_txdepth(NULL)
                                 : mbox_dev_max_chans(NULL);
        break;

      case 21:
        name = "mbox_chan_txdepth on a channel of the other direction";
        ret = mbox_chan_txdepth(wrongdir.chan);
        break;

      case 22:
        name = "mbox_client_txdone with a bad sender";
        ret = mbox_client_txdone((r >> 16) & 1 ? NULL : &nullchan, 0);
        break;

      case 23:
        {
          struct irq_call_s a = { .kind = 3, .c = c };

          name = "mbox_chan_deinit from interrupt context";
          host_run_as_interrupt(irq_call, &a);
          ret = a.ret;
          allowed = RS_EPERM;
        }
        break;

      case 24:
        {
          struct irq_call_s a = { .kind = 4, .c = c };

          name = "mbox_chan_init from interrupt context";
          host_run_as_interrupt(irq_call, &a);
          ret = a.ret;
          allowed = RS_EPERM;
        }
        break;

      default:
        name = "mbox_chan_init/deinit with NULL";
        ret = (r >> 16) % 3 == 0 ? mbox_chan_deinit(NULL) :
              (r >> 16) % 3 == 1 ? mbox_chan_init(NULL, c->dev, MBOX_TX,
                                                  NULL, 0)
                                 : mbox_chan_init(&g_never_inited, NULL,
                                                  MBOX_TX, NULL, 0);
        break;
    }

  lvset = chan_dep ? on_chan(allowed, liveness(before, lc_read(c)))
                   : allowed;
  check_ret(name, chan_id(c), ret, lvset);
  set_outcome(w, seq, O_REFUSED);
}

#ifdef CONFIG_MBOX_PL320

/****************************************************************************
 * Part 1: two PL320 cores
 ****************************************************************************/

/* A core busy with its interrupts off: the handler is not called until
 * the last stall ends (the lines stay asserted, level-triggered).
 */

static void stall_begin(int core)
{
  pthread_mutex_lock(&g_stall_lock);
  if (g_stall_count[core]++ == 0)
    {
      host_irq_disable(IRQ_BASE + core);
    }

  pthread_mutex_unlock(&g_stall_lock);
}

static void stall_end(int core)
{
  pthread_mutex_lock(&g_stall_lock);
  if (--g_stall_count[core] == 0)
    {
      mbox_os_irq_enable(IRQ_BASE + core);
    }

  pthread_mutex_unlock(&g_stall_lock);
}

/* The size that was sent of a message received in the compatible wire
 * format, which always delivers PL320_MTU bytes: the one size whose hash
 * matches and after which every byte is the sender's zero padding; size
 * itself (which record_delivery() then finds corrupt) when none is.
 */

static size_t compat_size(const uint8_t *p, size_t size)
{
  uint32_t seq;
  uint32_t h;
  size_t n;
  size_t i;

  if (p == NULL || size < MSG_HDR || size > MSG_MAX)
    {
      return size;
    }

  memcpy(&seq, p + 4, 4);
  memcpy(&h, p + 8, 4);
  for (n = size; n >= MSG_HDR; n--)
    {
      if (h == msg_hash(p[2], p[3], seq, n))
        {
          for (i = n; i < size && p[i] == 0; i++)
            {
            }

          if (i == size)
            {
              return n;
            }
        }
    }

  return size;
}

/* compat_size() finds the size that was sent for every size a worker
 * sends (MSG_HDR..PL_MTU), for every worker and channel, whatever the
 * payload's last bytes are: the sequence numbers run over all 256
 * residues, so some payloads end in one or more zero bytes, which the
 * zero padding must not swallow (the hash covers the size).
 */

static void test_compat_size_recovers_every_sent_size(void)
{
  uint8_t buf[PL_MTU];
  uint16_t magic = MSG_MAGIC;
  unsigned long wrong = 0;
  unsigned long zero_tail = 0;
  uint32_t seq;
  uint32_t h;
  size_t size;
  size_t i;
  int id;
  int ch;

  for (size = MSG_HDR; size <= PL_MTU; size++)
    {
      for (id = 0; id < NWORKERS; id++)
        {
          for (ch = 0; ch < 4; ch++)
            {
              for (seq = 0; seq < 256; seq++)
                {
                  memset(buf, 0, sizeof(buf));
                  h = msg_hash((uint32_t)id, (uint32_t)ch, seq, size);
                  memcpy(buf, &magic, 2);
                  buf[2] = (uint8_t)id;
                  buf[3] = (uint8_t)ch;
                  memcpy(buf + 4, &seq, 4);
                  memcpy(buf + 8, &h, 4);
                  for (i = MSG_HDR; i < size; i++)
                    {
                      buf[i] = (uint8_t)(seq * 31u + i * 7u +
                                         (uint32_t)id * 13u);
                    }

                  zero_tail += size > MSG_HDR && buf[size - 1] == 0;
                  if (compat_size(buf, sizeof(buf)) != size)
                    {
                      if (wrong++ < 5)
                        {
                          printf("#   size %zu worker %d channel %d "
                                 "seq %u decoded as %zu\n", size, id, ch,
                                 seq, compat_size(buf, sizeof(buf)));
                        }
                    }
                }
            }
        }
    }

  CHECK_EQ(wrong, 0);
  CHECK(zero_tail > 0);
}

static int pl_rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                          void *data, size_t size)
{
  struct chan_s *c = arg;

  (void)chan;
  if (ret != 0)
    {
      pthread_mutex_lock(&g_rx_lock);
      c->rx_err++;
      g_rx_errors++;
      pthread_mutex_unlock(&g_rx_lock);
      return 0;
    }

  pthread_mutex_lock(&g_rx_lock);
  c->rx_ok++;
  pthread_mutex_unlock(&g_rx_lock);
  record_delivery(c, data, PL_COMPAT ? compat_size(data, size) : size);
  return 0;
}

static int pl_setup(void)
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

  /* TX channel t is mailbox t, sent by core t / 2 to the other core;
   * every core lists all four mailboxes (its own as TX).
   */

  for (k = 0; k < NCORES; k++)
    {
      struct simcore_s *core = &g_cores[k];
      int nrx = 0;

      simcore_init(core, k == 0 ? "core0" : "core1", k, IRQ_BASE + k);
      for (i = 0; i < NCH; i++)
        {
          int from = i / (NCH / NCORES);
          struct pl320_chan_s *pc =
            simcore_set_chan(core, i, i, from, 1 - from, PL_TIMEOUT);

          if (from == k)
            {
              pc->bufsize = PL_TXBUF;
            }
          else
            {
              pc->txbuf = NULL;
              pc->bufsize = 0;
            }
        }

      core->dev = pl320_initialize(&core->config, REG_BASE);
      if (core->dev == NULL)
        {
          printf("#   pl320_initialize failed on core %d\n", k);
          return -1;
        }

      for (i = 0; i < NCH; i++)
        {
          struct chan_s *c = &g_ch[PART_PL320][i];
          struct mbox_chan_s *chan =
            mbox_get_chan(core->dev, (void *)(uintptr_t)i);

          if (chan == NULL)
            {
              printf("#   no channel for mailbox %d on core %d\n", i, k);
              return -1;
            }

          if (i / (NCH / NCORES) == k)
            {
              c->chan = chan;
              c->dev = core->dev;
              c->core = k;
              c->mbox = i;
              c->buf = core->chans[i].txbuf;
              c->bufsize = PL_TXBUF;
            }
          else
            {
              c->rxchan = chan;
              g_rcv[k][nrx].chan = chan;
              if (mbox_register_rxcallback(&g_rcv[k][nrx], pl_rx_callback,
                                           c) < 0)
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

/* The late-ACK race. A timed send whose ACK the model delays past its
 * timeout; then, with the receiving core busy (so the next message waits
 * unread in the mailbox) and the late ACK on its way, a message that is
 * completed without a token: by mbox_send_poll (path 0), by the
 * MBOX_TXDONE_POLL method (path 1), or by a client's mbox_chan_tx_done()
 * (path 2). If the late ACK completes it, its sender is told 0 for a
 * message the remote never read. Returns true when the channel must go
 * back to MBOX_TXDONE_IRQ.
 */

static bool op_late_ack_race(struct worker_s *w, struct chan_s *c,
                             uint32_t r, int path)
{
  struct slot_s *s0 = &w->slot[c->index][0];
  struct slot_s *sa = &w->slot[c->index][1 + (r >> 20) % (NSLOTS - 1)];
  int ta = 1 + (int)((r >> 4) % 3);
  int delay = ta + 2 + (int)((r >> 8) % 4);
  int remote = 1 - c->core;
  bool stall_local = path != 0 || ((r >> 12) & 1) != 0;
  uint32_t seq;
  int i;
  int ret;

  if (!(w->seq + 2 <= w->cap))
    {
      w->skipped++;
      return false;
    }

  if (path == 1)
    {
      for (i = 0; i < 40 && op_method(c, MBOX_TXDONE_POLL, 1) != 0; i++)
        {
          sleep_us(250);
        }

      if (i == 40)
        {
          path = 0;
        }
    }

  if (path == 2)
    {
      slot_register(s0, true, false);
      if (s0->state != REG_YES)
        {
          path = 0;
        }
    }

  atomic_fetch_add(&g_race_runs[path], 1);
  pl320_model_set_fault(g_model, c->mbox, PL320_FAULT_DELAY_ACK,
                        (unsigned)delay, 1);

  /* The message whose ACK comes late. */

  op_blocking(w, sa, 0, ta, r >> 3);
  if (w->msg[w->seq - 1].outcome == O_MAYBE)
    {
      atomic_fetch_add(&g_race_timedout, 1);
    }

  stall_begin(remote);
  if (stall_local)
    {
      stall_begin(c->core);
    }

  switch (path)
    {
      case 0:
        op_poll(w, s0, 50000 + (r >> 14) % 150000, r >> 5);
        break;

      case 1:
        op_blocking(w, s0, 0, delay + 6, r >> 5);
        break;

      default:
        ret = op_nb(w, s0, r >> 5, false, &seq);
        if (ret == 0)
          {
            int64_t end = now_ms() + delay + 3;

            while (now_ms() < end)
              {
                op_ack(w, c, 0, 0);
                sleep_us(50);
              }
          }
        break;
    }

  if (stall_local)
    {
      stall_end(c->core);
    }

  stall_end(remote);
  return path == 1;
}

/* Back to MBOX_TXDONE_IRQ. In POLL mode the PL320 interrupt handler
 * clears the ACKs that the framework refuses (-EPERM), so a busy channel
 * may never drain by itself: keep the workers out until it is idle.
 */

static void pl_restore_irq(struct chan_s *c)
{
  int i;

  chan_pause(c);
  for (i = 0; i < 1000 && op_method(c, MBOX_TXDONE_IRQ, 0) != 0; i++)
    {
      sleep_us(500);
    }

  chan_resume(c);
}

/* One random operation of a PL320 worker. */

static void pl_step(struct worker_s *w)
{
  struct chan_s *c = w->home;
  uint32_t r = rnd(&w->rng);
  uint32_t r2 = rnd(&w->rng);
  struct slot_s *s = &w->slot[c->index][r2 % NSLOTS];
  unsigned op = r % 1000;
  bool restore = false;
  uint32_t seq;
  int i;

  atomic_fetch_add(&g_ops, 1);
  w->done++;
  if (!chan_enter(c))
    {
      w->skipped++;
      sleep_us(200);
      return;
    }

  if (w->done == 1)
    {
      /* However short the run, every worker starts with a late-ACK
       * race, the workers taking the three paths in turn.
       */

      restore = op_late_ack_race(w, c, r2, w->id % 3);
    }
  else if (op < 140)
    {
      op_blocking(w, s, 0, 1 + r2 % 4, r2 >> 4);
    }
  else if (op < 210)
    {
      op_blocking(w, s, 0, 10 + r2 % 30, r2 >> 4);
    }
  else if (op < 260)
    {
      op_blocking(w, s, 1, 0, r2 >> 4);
    }
  else if (op < 460)
    {
      op_nb(w, s, r2 >> 4, false, &seq);
    }
  else if (op < 490)
    {
      op_nb(w, s, r2 >> 4, true, &seq);
    }
  else if (op < 570)
    {
      op_poll(w, s, 1 + (r2 >> 4) % 20000, r2 >> 8);
    }
  else if (op < 620)
    {
      slot_register(s, s->state != REG_YES || ((r2 >> 4) & 3) == 0,
                    ((r2 >> 6) & 7) == 0);
    }
  else if (op < 660)
    {
      op_ack(w, c, 0, r2);
    }
  else if (op < 690)
    {
      op_ack(w, c, 2, r2);
    }
  else if (op < 720)
    {
      op_stats(w, c, r2);
    }
  else if (op < 840)
    {
      op_bad(w, c, r2);
    }
  else if (op < 860)
    {
      /* A method switch; back to IRQ after this operation. */

      if (op_method(c, MBOX_TXDONE_POLL, 1 + r2 % 2) == 0)
        {
          op_blocking(w, s, 0, 5 + r2 % 10, r2 >> 4);
          restore = true;
        }
    }
  else if (op < 890)
    {
      restore = op_late_ack_race(w, c, r2, (int)(r2 % 3));
    }
  else if (op < 900)
    {
      /* The other core is busy for a while. */

      stall_begin(1 - c->core);
      sleep_us(500 + (long)(r2 % 2500));
      stall_end(1 - c->core);
    }
  else if (op < 950)
    {
      /* A burst that fills the queue. */

      for (i = 0; i < 3 + (int)(r2 % 6); i++)
        {
          op_nb(w, &w->slot[c->index][(r2 >> 8) % NSLOTS], r2 >> (i + 4),
                false, &seq);
        }
    }
  else if (op < 990)
    {
      op_stats(w, c, r2 >> 3);
    }
  else
    {
      sched_yield();
    }

  chan_leave(c);
  if (restore)
    {
      pl_restore_irq(c);
    }
}

/* Random ACK faults on random TX mailboxes (as ctest/test_race.c). */

static void pl_chaos_step(uint32_t *rng)
{
  uint32_t r = rnd(rng);
  int mbox = (int)(r % NCH);
  unsigned f = (r >> 8) % 10;

  g_faults_injected++;
  atomic_fetch_add(&g_ops, 1);
  if (f < 4 || (f < 8 && PL_COMPAT))
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
}

static void *pl_worker_main(void *arg)
{
  struct worker_s *w = arg;

  while (w->done < w->ops)
    {
      pl_step(w);
    }

  return NULL;
}

static void *pl_chaos_main(void *arg)
{
  uint32_t rng = g_seed ^ 0xc4a05u;

  (void)arg;
  while (!atomic_load(&g_stop))
    {
      pl_chaos_step(&rng);
      sleep_us(500 + (long)(rng % 2500));
    }

  return NULL;
}

static void pl_run(void)
{
  pthread_t chaos;
  int i;
  int k;

  for (i = 0; i < NCH; i++)
    {
      atomic_store(&g_ch[PART_PL320][i].lc, LC(0, PH_UP));
    }

  if (g_single)
    {
      uint32_t rng = g_seed ^ 0xc4a05u;
      bool more = true;

      while (more)
        {
          more = false;
          for (i = 0; i < PL_WORKERS; i++)
            {
              if (g_w[i].done < g_w[i].ops)
                {
                  pl_step(&g_w[i]);
                  more = true;
                }
            }

          if ((rnd(&rng) & 3) == 0)
            {
              pl_chaos_step(&rng);
            }
        }
    }
  else
    {
      atomic_store(&g_stop, false);
      pthread_create(&chaos, NULL, pl_chaos_main, NULL);
      for (i = 0; i < PL_WORKERS; i++)
        {
          pthread_create(&g_w[i].thread, NULL, pl_worker_main, &g_w[i]);
        }

      for (i = 0; i < PL_WORKERS; i++)
        {
          pthread_join(g_w[i].thread, NULL);
        }

      atomic_store(&g_stop, true);
      pthread_join(chaos, NULL);
    }

  /* Tear the TX channels down: what is queued or in flight ends
   * cancelled while late and duplicated ACKs are still on their way.
   */

  for (i = 0; i < NCH; i++)
    {
      struct chan_s *c = &g_ch[PART_PL320][i];
      int ret;

      pl320_model_set_fault(g_model, c->mbox, PL320_FAULT_NONE, 0, 0);
      atomic_store(&c->lc, LC(0, PH_DEINIT));
      ret = mbox_chan_deinit(c->chan);
      check_ret("mbox_chan_deinit", chan_id(c), ret, RS_OK);
      atomic_store(&c->lc, LC(0, PH_DOWN));
    }

  sleep_us((MAX_FAULT_DELAY + 30) * 1000);
  for (k = 0; k < NCORES; k++)
    {
      host_irq_quiesce(IRQ_BASE + k, 2000);
    }

#ifdef CONFIG_MBOX_TRACE
  for (i = 0; i < NCH; i++)
    {
      struct chan_s *c = &g_ch[PART_PL320][i];

      check_ret("mbox_chan_get_stats", chan_id(c),
                mbox_chan_get_stats_checked(c->chan, &c->acc), RS_OK);
      check_ret("mbox_chan_get_stats (RX)", chan_id(c),
                mbox_chan_get_stats_checked(c->rxchan, &c->rxacc), RS_OK);
    }
#endif
}

#endif /* CONFIG_MBOX_PL320 */

/****************************************************************************
 * Part 2: fake lower half with de-init and re-init under load
 ****************************************************************************/

static int wrap_send(struct mbox_chan_s *chan, const void *data, size_t size)
{
  int ret = g_fake_send(chan, data, size);
  struct chan_s *c = &g_ch[PART_FAKE][(struct fake_chan_s *)chan -
                                      g_fdev.chans];

  if (ret == 0)
    {
      pthread_mutex_lock(&g_rx_lock);
      c->sends_ok++;
      pthread_mutex_unlock(&g_rx_lock);
      record_delivery(c, data, size);
    }

  return ret;
}

/* A lower half whose setup takes a while before it fails: the channel is
 * live meanwhile, and the workers may get messages in.
 */

static int wrap_setup(struct mbox_chan_s *chan, void *arg)
{
  int ret = g_fake_setup(chan, arg);
  struct timespec ts;

  if (ret < 0)
    {
      pthread_mutex_lock(&g_probe_d.lock);
      if (g_probe_d.armed && g_probe_d.c->chan == chan)
        {
          /* Let the probe's client in before failing. */

          g_probe_d.armed = false;
          g_probe_d.in_setup = true;
          pthread_cond_broadcast(&g_probe_d.cond);
          clock_gettime(CLOCK_REALTIME, &ts);
          ts.tv_sec += 2;
          while (!g_probe_d.done)
            {
              if (pthread_cond_timedwait(&g_probe_d.cond, &g_probe_d.lock,
                                         &ts) != 0)
                {
                  break;
                }
            }

          pthread_mutex_unlock(&g_probe_d.lock);
        }
      else
        {
          pthread_mutex_unlock(&g_probe_d.lock);
          sleep_us(1000);
        }
    }

  return ret;
}

static void fk_step(struct worker_s *w)
{
  uint32_t r = rnd(&w->rng);
  uint32_t r2 = rnd(&w->rng);
  struct chan_s *c = &g_ch[PART_FAKE][(r >> 20) % NCH];
  struct slot_s *s = &w->slot[c->index][r2 % NSLOTS];
  unsigned op = r % 1000;
  uint32_t seq;
  int i;

  atomic_fetch_add(&g_ops, 1);
  w->done++;
  if (!chan_enter(c))
    {
      w->skipped++;
      sched_yield();
      return;
    }

  if (op < 120)
    {
      op_blocking(w, s, 0, 1 + r2 % 6, r2 >> 4);
    }
  else if (op < 170)
    {
      op_blocking(w, s, 1, 0, r2 >> 4);
    }
  else if (op < 390)
    {
      op_nb(w, s, r2 >> 4, false, &seq);
    }
  else if (op < 420)
    {
      op_nb(w, s, r2 >> 4, true, &seq);
    }
  else if (op < 480)
    {
      op_poll(w, s, 1 + (r2 >> 4) % 5000, r2 >> 8);
    }
  else if (op < 550)
    {
      slot_register(s, s->state != REG_YES || ((r2 >> 4) & 3) == 0,
                    ((r2 >> 6) & 7) == 0);
    }
  else if (op < 590)
    {
      op_ack(w, c, 0, r2);
    }
  else if (op < 620)
    {
      op_ack(w, c, 1, r2);
    }
  else if (op < 650)
    {
      op_ack(w, c, 2, r2);
    }
  else if (op < 700)
    {
      /* The client's own completion (ACK mode). */

      unsigned before = lc_read(c);
      int ret = mbox_client_txdone(&s->snd, (r2 & 7) == 0 ? -EPROTO : 0);

      check_ret("mbox_client_txdone", chan_id(c), ret,
                on_chan(RS_OK | RS_ENOENT | RS_EPERM,
                        liveness(before, lc_read(c))));
    }
  else if (op < 740)
    {
      int m = (int)(r2 % 3);

      op_method(c, m, m == MBOX_TXDONE_POLL ? 1 + (r2 >> 4) % 3 : 0);
    }
  else if (op < 770)
    {
      op_stats(w, c, r2);
    }
  else if (op < 900)
    {
      op_bad(w, c, r2);
    }
  else if (op < 950)
    {
      for (i = 0; i < 3 + (int)(r2 % 6); i++)
        {
          op_nb(w, &w->slot[c->index][(r2 >> 8) % NSLOTS], r2 >> (i + 4),
                false, &seq);
        }
    }
  else
    {
      sched_yield();
    }

  chan_leave(c);
}

static void fk_accumulate(struct chan_s *c)
{
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s st;
  int ret = mbox_chan_get_stats_checked(c->chan, &st);

  check_ret("mbox_chan_get_stats", chan_id(c), ret, RS_OK);
  if (ret == 0)
    {
      c->acc.timeout += st.timeout;
      c->acc.sent += st.sent;
      c->acc.received += st.received;
      c->acc.acked += st.acked;
      c->acc.buffered += st.buffered;
      c->acc.queue_full += st.queue_full;
      c->acc.spurious_ack += st.spurious_ack;
      c->acc.send_err += st.send_err;
      c->acc.rx_dropped += st.rx_dropped;
      c->acc.cancelled += st.cancelled;
      if (st.max_queued > c->acc.max_queued)
        {
          c->acc.max_queued = st.max_queued;
        }
    }
#else
  (void)c;
#endif
}

/* Script the fake remote of c for its next life (fake lock held). */

static void fk_script(struct chan_s *c, uint32_t r, bool may_fail_setup)
{
  struct fake_chan_s *fc = c->fc;

  pthread_mutex_lock(&g_fdev.lock);
  fc->auto_ack_ms = (r & 7) == 0 ? -1 : (int)((r >> 3) % 4);
  fc->send_fail_count = (r >> 5) % 4 == 0 ? 1 + (int)((r >> 7) % 2) : 0;
  fc->send_fail_errno = -EIO;
  fc->setup_result = may_fail_setup && (r >> 9) % 16 == 0 ? -EIO : 0;
  pthread_mutex_unlock(&g_fdev.lock);
  fc->base.timeout = 2 + (clock_t)((r >> 13) % 7);
}

static int fk_init(struct chan_s *c, uint32_t r, bool may_fail_setup,
                   clock_t timeout)
{
  unsigned e = LC_EPOCH(lc_read(c)) + 1;
  int expect;
  int ret;

  fk_script(c, r, may_fail_setup);
  if (timeout > 0)
    {
      c->fc->base.timeout = timeout;
    }

  expect = c->fc->setup_result;
  atomic_store(&c->lc, LC(e, PH_INIT));
  ret = mbox_chan_init(c->chan, c->dev, MBOX_TX, c->buf, c->bufsize);
  check_ret("mbox_chan_init", chan_id(c), ret, expect ? rbit(expect) : RS_OK);
  if (ret == 0)
    {
      atomic_store(&c->lc, LC(e, PH_UP));
    }
  else
    {
      /* The failed init's own teardown ended whatever got in. */

      fk_accumulate(c);
      atomic_store(&c->lc, LC(e, PH_DOWN));
    }

  return ret;
}

static void fk_deinit(struct chan_s *c)
{
  unsigned e = LC_EPOCH(lc_read(c));
  int ret;

  atomic_store(&c->lc, LC(e, PH_DEINIT));
  ret = mbox_chan_deinit(c->chan);
  check_ret("mbox_chan_deinit", chan_id(c), ret, RS_OK);
  atomic_fetch_add(&g_deinits, 1);
  fk_accumulate(c);
  atomic_store(&c->lc, LC(e, PH_DOWN));
}

/* Probe: mbox_chan_init() while mbox_chan_deinit() of the same channel
 * still waits for a TX-done callback. The lifecycle's probe sender has
 * messages queued on a silent channel; deinit cancels them and waits for
 * their callbacks; the first callback lets a prober thread call
 * mbox_chan_init() and holds deinit there until that returned. The init
 * must be refused (-EBUSY): the channel is still being torn down.
 */

static void *probe_c_main(void *arg)
{
  struct chan_s *c = arg;
  struct timespec ts;
  int ret;

  pthread_mutex_lock(&g_probe.lock);
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 5;
  while (!g_probe.in_cb && !g_probe.abort)
    {
      if (pthread_cond_timedwait(&g_probe.cond, &g_probe.lock, &ts) != 0)
        {
          break;
        }
    }

  if (!g_probe.in_cb)
    {
      g_probe.done = true;
      pthread_cond_broadcast(&g_probe.cond);
      pthread_mutex_unlock(&g_probe.lock);
      return NULL;
    }

  pthread_mutex_unlock(&g_probe.lock);
  ret = mbox_chan_init(c->chan, c->dev, MBOX_TX, c->buf, c->bufsize);
  pthread_mutex_lock(&g_probe.lock);
  g_probe.ret = ret;
  g_probe.deinit_returned_at_init = atomic_load(&g_probe.deinit_returned);
  g_probe.done = true;
  pthread_cond_broadcast(&g_probe.cond);
  pthread_mutex_unlock(&g_probe.lock);
  return NULL;
}

static void probe_c_in_callback(struct slot_s *s)
{
  struct timespec ts;

  pthread_mutex_lock(&g_probe.lock);
  if (!g_probe.armed || g_probe.c != s->c)
    {
      pthread_mutex_unlock(&g_probe.lock);
      return;
    }

  g_probe.armed = false;
  g_probe.in_cb = true;
  pthread_cond_broadcast(&g_probe.cond);
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 2;
  while (!g_probe.done)
    {
      if (pthread_cond_timedwait(&g_probe.cond, &g_probe.lock, &ts) != 0)
        {
          break;
        }
    }

  pthread_mutex_unlock(&g_probe.lock);
}

static void probe_c(struct chan_s *c, uint32_t r)
{
  struct worker_s *lw = &g_w[LC_WORKER];
  struct slot_s *ps = &lw->slot[c->index][0];
  pthread_t prober;
  uint32_t seq;
  int accepted = 0;
  int i;

  chan_pause(c);

  /* A fresh life of the channel (no other sender holds a callback slot),
   * with a silent remote and a long timeout, so that the probe's messages
   * are still pending when the deinit comes.
   */

  fk_deinit(c);
  if (fk_init(c, r, false, 200) != 0)
    {
      chan_resume(c);
      return;
    }

  pthread_mutex_lock(&g_fdev.lock);
  c->fc->auto_ack_ms = -1;
  c->fc->send_fail_count = 0;
  pthread_mutex_unlock(&g_fdev.lock);

  pthread_mutex_lock(&g_probe.lock);
  g_probe.c = c;
  g_probe.armed = false;
  g_probe.in_cb = false;
  g_probe.done = false;
  g_probe.abort = false;
  g_probe.ret = 1;
  atomic_store(&g_probe.deinit_returned, false);
  pthread_mutex_unlock(&g_probe.lock);
  pthread_create(&prober, NULL, probe_c_main, c);

  /* One message in flight and the rest queued (the ring holds six). */

  slot_register(ps, true, false);
  if (ps->state == REG_YES)
    {
      for (i = 0; i < 40 && accepted < 6; i++)
        {
          if (op_nb(lw, ps, r >> (i % 8), false, &seq) == 0)
            {
              accepted++;
            }
          else
            {
              sleep_us(500);
            }
        }
    }

  pthread_mutex_lock(&g_probe.lock);
  g_probe.armed = accepted > 0;
  pthread_mutex_unlock(&g_probe.lock);

  atomic_store(&c->lc, LC(LC_EPOCH(lc_read(c)), PH_DEINIT));
  check_ret("mbox_chan_deinit", chan_id(c), mbox_chan_deinit(c->chan),
            RS_OK);
  atomic_store(&g_probe.deinit_returned, true);
  atomic_fetch_add(&g_deinits, 1);

  pthread_mutex_lock(&g_probe.lock);
  g_probe.armed = false;
  g_probe.abort = true;
  pthread_cond_broadcast(&g_probe.cond);
  pthread_mutex_unlock(&g_probe.lock);
  pthread_join(prober, NULL);

  if (!g_probe.in_cb)
    {
      atomic_fetch_add(&g_probe_c_skipped, 1);
      fk_accumulate(c);
      atomic_store(&c->lc, LC(LC_EPOCH(lc_read(c)), PH_DOWN));
    }
  else if (g_probe.ret == 0 && !g_probe.deinit_returned_at_init)
    {
      /* Initialised while the teardown was still running: the teardown
       * goes on to destroy what the init set up. Nothing may touch this
       * channel again.
       */

      atomic_fetch_add(&g_probe_c_runs, 1);
      atomic_fetch_add(&g_probe_c_bad, 1);
      atomic_store(&c->retired, true);
      printf("#   mbox_chan_init returned 0 on channel %d while its "
             "mbox_chan_deinit was still running\n", chan_id(c));
    }
  else
    {
      atomic_fetch_add(&g_probe_c_runs, 1);
      check_ret("mbox_chan_init while mbox_chan_deinit runs", chan_id(c),
                g_probe.ret,
                g_probe.deinit_returned_at_init ? RS_OK | RS_EBUSY : RS_EBUSY);
      if (g_probe.ret == 0)
        {
          /* It waited for the teardown and then initialised: the
           * channel is up, but that life's statistics were reset before
           * they could be read.
           */

          c->stats_lost = true;
          atomic_store(&c->lc, LC(LC_EPOCH(lc_read(c)) + 1, PH_UP));
        }
      else
        {
          fk_accumulate(c);
          atomic_store(&c->lc, LC(LC_EPOCH(lc_read(c)), PH_DOWN));
        }
    }

  chan_resume(c);
}

/* Probe: a client registers a TX-done callback and queues messages on a
 * channel whose init is still in the lower half's setup (the channel is
 * live from the framework's side), and that setup then fails. The init
 * ends those messages with -ECANCELED; like a deinit, it must hand each
 * its TX-done callback before it returns.
 */

static void *probe_d_main(void *arg)
{
  struct chan_s *c = arg;
  struct worker_s *lw = &g_w[LC_WORKER];
  struct slot_s *ps = &lw->slot[c->index][1];
  struct timespec ts;
  uint32_t seq;
  int i;

  pthread_mutex_lock(&g_probe_d.lock);
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 5;
  while (!g_probe_d.in_setup && g_probe_d.armed)
    {
      if (pthread_cond_timedwait(&g_probe_d.cond, &g_probe_d.lock, &ts) != 0)
        {
          break;
        }
    }

  if (!g_probe_d.in_setup)
    {
      g_probe_d.done = true;
      pthread_cond_broadcast(&g_probe_d.cond);
      pthread_mutex_unlock(&g_probe_d.lock);
      return NULL;
    }

  pthread_mutex_unlock(&g_probe_d.lock);
  slot_register(ps, true, false);
  for (i = 0; i < 4 && ps->state == REG_YES; i++)
    {
      if (op_nb(lw, ps, g_seed >> i, false, &seq) == 0)
        {
          g_probe_d.seq[g_probe_d.accepted++] = seq;
        }
    }

  pthread_mutex_lock(&g_probe_d.lock);
  g_probe_d.done = true;
  pthread_cond_broadcast(&g_probe_d.cond);
  pthread_mutex_unlock(&g_probe_d.lock);
  return NULL;
}

static void probe_d(struct chan_s *c, uint32_t r)
{
  struct worker_s *lw = &g_w[LC_WORKER];
  unsigned e = LC_EPOCH(lc_read(c)) + 1;
  pthread_t helper;
  int missing = 0;
  int ret;
  int i;

  chan_pause(c);
  pthread_mutex_lock(&g_fdev.lock);
  c->fc->auto_ack_ms = -1;
  c->fc->send_fail_count = 0;
  c->fc->setup_result = -EIO;
  pthread_mutex_unlock(&g_fdev.lock);
  c->fc->base.timeout = 50;

  pthread_mutex_lock(&g_probe_d.lock);
  g_probe_d.c = c;
  g_probe_d.armed = true;
  g_probe_d.in_setup = false;
  g_probe_d.done = false;
  g_probe_d.accepted = 0;
  pthread_mutex_unlock(&g_probe_d.lock);
  pthread_create(&helper, NULL, probe_d_main, c);

  atomic_store(&c->lc, LC(e, PH_INIT));
  ret = mbox_chan_init(c->chan, c->dev, MBOX_TX, c->buf, c->bufsize);
  check_ret("mbox_chan_init with a failing setup", chan_id(c), ret,
            RS_EIO);

  pthread_mutex_lock(&g_probe_d.lock);
  g_probe_d.armed = false;
  pthread_cond_broadcast(&g_probe_d.cond);
  pthread_mutex_unlock(&g_probe_d.lock);
  pthread_join(helper, NULL);

  /* What the failed init's teardown ended, it handed out before it
   * returned.
   */

  pthread_mutex_lock(&lw->lock);
  for (i = 0; i < g_probe_d.accepted; i++)
    {
      missing += lw->msg[g_probe_d.seq[i]].cbres == 0;
    }

  pthread_mutex_unlock(&lw->lock);
  if (g_probe_d.accepted > 0)
    {
      atomic_fetch_add(&g_probe_d_runs, 1);
    }

  if (missing > 0)
    {
      if (atomic_fetch_add(&g_probe_d_bad, 1) < 3)
        {
          printf("#   mbox_chan_init of channel %d failed (%d) with %d of "
                 "%d accepted messages still owed their TX-done "
                 "callback\n", chan_id(c), ret, missing,
                 g_probe_d.accepted);
        }
    }

  fk_accumulate(c);
  atomic_store(&c->lc, LC(e, ret == 0 ? PH_UP : PH_DOWN));
  (void)r;
  chan_resume(c);
}

/* Probe: two threads call mbox_chan_init() of one dead channel at once;
 * exactly one may succeed, the other gets -EBUSY. The window is a few
 * instructions wide, so the probe runs many rounds with two prober
 * threads that spin until the round starts.
 */


static void *probe_b_main(void *arg)
{
  int k = (int)(intptr_t)arg;
  struct chan_s *c = g_race_init.c;
  int round;

  for (round = 1; ; round++)
    {
      long spins = 0;

      while (atomic_load(&g_race_init.go) < round)
        {
          if (++spins > 2000)
            {
              sched_yield();
            }
        }

      if (atomic_load(&g_race_init.go) > PROBE_B_ROUNDS)
        {
          return NULL;
        }

      /* Both at once would meet on the port's critical section, and the
       * one that sleeps on it wakes too late: start one of them a little
       * after the other, by a different offset every round.
       */

      for (volatile int d = atomic_load(&g_race_init.delay[k]); d > 0; d--)
        {
        }

      g_race_init.ret[k] = mbox_chan_init(c->chan, c->dev, MBOX_TX, c->buf,
                                          c->bufsize);
      atomic_fetch_add(&g_race_init.ready, 1);
    }
}

static void probe_b(struct chan_s *c, uint32_t r)
{
  pthread_t t[2];
  int round;
  int k;

  chan_pause(c);
  fk_script(c, r, false);
  g_race_init.c = c;
  atomic_store(&g_race_init.ready, 0);
  atomic_store(&g_race_init.go, 0);
  for (k = 0; k < 2; k++)
    {
      pthread_create(&t[k], NULL, probe_b_main, (void *)(intptr_t)k);
    }

  for (round = 1; round <= PROBE_B_ROUNDS; round++)
    {
      unsigned e = LC_EPOCH(lc_read(c)) + 1;
      int ok = 0;

      atomic_store(&c->lc, LC(e, PH_INIT));
      r = rnd(&r);
      atomic_store(&g_race_init.delay[r & 1], (int)((r >> 1) % 1500));
      atomic_store(&g_race_init.delay[!(r & 1)], 0);
      atomic_store(&g_race_init.go, round);
      while (atomic_load(&g_race_init.ready) < 2 * round)
        {
          sched_yield();
        }

      atomic_fetch_add(&g_probe_b_runs, 1);
      for (k = 0; k < 2; k++)
        {
          check_ret("mbox_chan_init (two at once)", chan_id(c),
                    g_race_init.ret[k], RS_OK | RS_EBUSY);
          ok += g_race_init.ret[k] == 0;
        }

      if (ok != 1)
        {
          if (atomic_fetch_add(&g_probe_b_double, 1) < 3)
            {
              printf("#   two concurrent mbox_chan_init of channel %d "
                     "returned %d and %d\n", chan_id(c),
                     g_race_init.ret[0], g_race_init.ret[1]);
            }
        }

      if (ok == 0)
        {
          atomic_store(&c->lc, LC(e, PH_DOWN));
          continue;
        }

      atomic_store(&c->lc, LC(e, PH_UP));
      if (round < PROBE_B_ROUNDS)
        {
          fk_deinit(c);
        }
    }

  atomic_store(&g_race_init.go, PROBE_B_ROUNDS + 1);
  for (k = 0; k < 2; k++)
    {
      pthread_join(t[k], NULL);
    }

  chan_resume(c);
}

/* One lifecycle action on a random fake channel. */

static void fk_lifecycle_step(uint32_t *rng)
{
  uint32_t r = rnd(rng);
  struct chan_s *c = &g_ch[PART_FAKE][r % NCH];
  unsigned phase = LC_PHASE(lc_read(c));
  unsigned a = (r >> 4) % 100;
  int ret;

  if (atomic_load(&c->retired))
    {
      return;
    }

  atomic_fetch_add(&g_ops, 1);
  if (phase == PH_UP)
    {
      if (a < 55)
        {
          fk_deinit(c);
        }
      else if (a < 70)
        {
          /* Once a channel has failed it, the rule is known broken: keep
           * the other channels in service.
           */

          if (atomic_load(&g_probe_c_bad) == 0)
            {
              probe_c(c, rnd(rng));
            }
        }
      else if (a < 85)
        {
          fk_script(c, rnd(rng), false);
        }
      else
        {
          ret = mbox_chan_init(c->chan, c->dev, MBOX_TX, c->buf,
                               c->bufsize);
          check_ret("mbox_chan_init of a live channel", chan_id(c), ret,
                    RS_EBUSY);
        }
    }
  else
    {
      if (a < 60)
        {
          fk_init(c, rnd(rng), true, 0);
        }
      else if (a < 75)
        {
          probe_b(c, rnd(rng));
        }
      else if (a < 85)
        {
          probe_d(c, rnd(rng));
        }
      else
        {
          ret = mbox_chan_deinit(c->chan);
          check_ret("mbox_chan_deinit of a dead channel", chan_id(c), ret,
                    RS_EINVAL);
        }
    }
}

static void *fk_worker_main(void *arg)
{
  struct worker_s *w = arg;

  while (w->done < w->ops)
    {
      fk_step(w);
    }

  return NULL;
}

static void *fk_lifecycle_main(void *arg)
{
  uint32_t rng = g_seed ^ 0x11fecu;

  (void)arg;
  while (!atomic_load(&g_stop))
    {
      fk_lifecycle_step(&rng);
      sleep_us(300 + (long)(rng % 1500));
    }

  return NULL;
}

static int fk_setup(void)
{
  int i;

  fake_dev_init(&g_fdev, FK_MTU);
  g_wrap_ops = g_fake_ops;
  g_fake_send = g_fake_ops.send;
  g_wrap_ops.send = wrap_send;
  g_fake_setup = g_fake_ops.setup;
  g_wrap_ops.setup = wrap_setup;
  g_fdev.base.ops = &g_wrap_ops;
  for (i = 0; i < NCH; i++)
    {
      struct chan_s *c = &g_ch[PART_FAKE][i];

      c->fc = &g_fdev.chans[i];
      c->chan = &g_fdev.chans[i].base;
      c->dev = &g_fdev.base;
      c->buf = g_fk_txbuf[i];
      c->bufsize = FK_TXBUF;
      atomic_store(&c->lc, LC(0, PH_DOWN));
      if (fk_init(c, g_seed >> i, false, 0) != 0)
        {
          return -1;
        }
    }

  return 0;
}

static void fk_run(void)
{
  pthread_t lifecycle;
  int i;

  if (g_single)
    {
      uint32_t rng = g_seed ^ 0x11fecu;
      bool more = true;

      while (more)
        {
          more = false;
          for (i = PL_WORKERS; i < LC_WORKER; i++)
            {
              if (g_w[i].done < g_w[i].ops)
                {
                  fk_step(&g_w[i]);
                  more = true;
                }
            }

          if ((rnd(&rng) & 3) == 0)
            {
              fk_lifecycle_step(&rng);
            }
        }
    }
  else
    {
      atomic_store(&g_stop, false);
      pthread_create(&lifecycle, NULL, fk_lifecycle_main, NULL);
      for (i = PL_WORKERS; i < LC_WORKER; i++)
        {
          pthread_create(&g_w[i].thread, NULL, fk_worker_main, &g_w[i]);
        }

      for (i = PL_WORKERS; i < LC_WORKER; i++)
        {
          pthread_join(g_w[i].thread, NULL);
        }

      atomic_store(&g_stop, true);
      pthread_join(lifecycle, NULL);
    }

  /* Every run probes both teardown rules at least a few times, however
   * short it was.
   */

  for (i = 0; i < 100 * NCH && ((atomic_load(&g_probe_c_runs) < 4 &&
                               atomic_load(&g_probe_c_bad) == 0) ||
                              atomic_load(&g_probe_d_runs) < 2 ||
                              atomic_load(&g_probe_b_runs) <
                              PROBE_B_MIN); i++)
    {
      struct chan_s *c = &g_ch[PART_FAKE][i % NCH];
      uint32_t r = g_seed ^ (uint32_t)i * 0x9e3779b9u;

      if (atomic_load(&c->retired))
        {
          continue;
        }

      if (LC_PHASE(lc_read(c)) != PH_UP && atomic_load(&g_probe_d_runs) < 2)
        {
          probe_d(c, r);
        }

      if (LC_PHASE(lc_read(c)) != PH_UP &&
          atomic_load(&g_probe_b_runs) < PROBE_B_MIN)
        {
          probe_b(c, r);
        }

      if (LC_PHASE(lc_read(c)) == PH_UP)
        {
          if (atomic_load(&g_probe_c_runs) < 4 &&
              atomic_load(&g_probe_c_bad) == 0)
            {
              probe_c(c, r);
            }
          else
            {
              fk_deinit(c);
            }
        }
    }

  for (i = 0; i < NCH; i++)
    {
      struct chan_s *c = &g_ch[PART_FAKE][i];

      if (!atomic_load(&c->retired) && LC_PHASE(lc_read(c)) == PH_UP)
        {
          fk_deinit(c);
        }
    }
}

/****************************************************************************
 * Checks
 ****************************************************************************/

static bool g_ran;
static unsigned long g_lost;
static unsigned long g_lost_by[P_MAX];
static unsigned long g_lost_late_ack;      /* compatible: within the bound */
static unsigned long g_late_ack_bound;     /* compatible: the bound, summed */
static unsigned long g_refused_delivered;
static unsigned long g_false_acks;
static unsigned long g_cb_bad;
static unsigned long g_messages;
static bool g_stats_balanced = true;

/* The outcome of message m at the end. */

static uint8_t final_outcome(const struct msgrec_s *m)
{
  if (m->outcome == O_NB_CB)
    {
      switch (CBX_RES(m->cbexp))
        {
          case O_OK:
            return O_OK;

          case O_REFUSED:
            return O_REFUSED;

          default:
            return O_MAYBE;
        }
    }

  return m->outcome;
}

static bool chan_counts(struct chan_s *c)
{
  return !atomic_load(&c->retired);
}

/* Compatible wire format: per PL320 channel (chan_byte), the messages
 * told 0 that never arrived, and the messages that ended timed out or
 * cancelled (or unknown) and yet arrived: each of those may have sent a
 * late ACK that completed a later message (see the top of this file).
 */

static void compat_late_ack_bound(unsigned long lost_on[NCH],
                                  unsigned long late_on[NCH])
{
  int i;

  for (i = 0; i < NWORKERS; i++)
    {
      struct worker_s *w = &g_w[i];
      uint32_t q;

      for (q = 0; q < w->seq; q++)
        {
          const struct msgrec_s *m = &w->msg[q];
          uint8_t o = final_outcome(m);

          if ((m->chan >> 4) != PART_PL320)
            {
              continue;
            }

          if (o == O_OK && m->delivered == 0)
            {
              lost_on[m->chan & 15]++;
            }
          else if (o == O_MAYBE && m->delivered != 0)
            {
              late_on[m->chan & 15]++;
            }
        }
    }
}

static void test_acknowledged_messages_are_delivered_once(void)
{
  unsigned long lost_on[NCH] = { 0 };
  unsigned long late_on[NCH] = { 0 };
  int i;

  CHECK(g_ran);
  pthread_mutex_lock(&g_rx_lock);
  if (PL_COMPAT)
    {
      compat_late_ack_bound(lost_on, late_on);
      for (i = 0; i < NCH; i++)
        {
          g_late_ack_bound += late_on[i];
        }
    }

  for (i = 0; i < NWORKERS; i++)
    {
      struct worker_s *w = &g_w[i];
      uint32_t q;

      for (q = 0; q < w->seq; q++)
        {
          const struct msgrec_s *m = &w->msg[q];

          g_messages++;
          if (PL_COMPAT && final_outcome(m) == O_OK && m->delivered == 0 &&
              (m->chan >> 4) == PART_PL320 &&
              lost_on[m->chan & 15] <= late_on[m->chan & 15])
            {
              /* Completed by a late ACK, within the protocol's bound. */

              g_lost_late_ack++;
              continue;
            }

          if (final_outcome(m) == O_OK && m->delivered != 1)
            {
              if (m->delivered == 0)
                {
                  g_lost++;
                  g_lost_by[m->outcome == O_NB_CB ? P_CALLBACK : P_BLOCKING]
                    ++;
                }

              if (g_lost < 6)
                {
                  printf("#   worker %d seq %u: told 0, delivered %u "
                         "times\n", w->id, q, m->delivered);
                }
            }
        }
    }

  pthread_mutex_unlock(&g_rx_lock);
  CHECK_EQ(g_lost, 0);
}

static void test_no_message_is_delivered_twice(void)
{
  pthread_mutex_lock(&g_rx_lock);
  CHECK_EQ(g_rx_dup, 0);
  pthread_mutex_unlock(&g_rx_lock);
}

static void test_refused_messages_are_never_delivered(void)
{
  int i;

  pthread_mutex_lock(&g_rx_lock);
  for (i = 0; i < NWORKERS; i++)
    {
      struct worker_s *w = &g_w[i];
      uint32_t q;

      for (q = 0; q < w->seq; q++)
        {
          uint8_t o = final_outcome(&w->msg[q]);

          if ((o == O_REFUSED || o == O_NONE) && w->msg[q].delivered != 0)
            {
              if (g_refused_delivered++ < 5)
                {
                  printf("#   worker %d seq %u: refused, delivered %u "
                         "times\n", w->id, q, w->msg[q].delivered);
                }
            }
        }
    }

  pthread_mutex_unlock(&g_rx_lock);
  CHECK_EQ(g_refused_delivered, 0);
}

static void test_each_sender_order_holds(void)
{
  pthread_mutex_lock(&g_rx_lock);
  CHECK_EQ(g_rx_order, 0);
  pthread_mutex_unlock(&g_rx_lock);
}

static void test_payloads_arrive_intact(void)
{
  pthread_mutex_lock(&g_rx_lock);
  CHECK_EQ(g_rx_corrupt, 0);
  CHECK_EQ(g_rx_wrongchan, 0);
  CHECK_EQ(g_rx_errors, 0);
  CHECK(g_rx_total > 0);
  pthread_mutex_unlock(&g_rx_lock);
}

/* No channel counts more ACKs than deliveries, and no sender was told 0
 * for a message the remote never got.
 */

static void test_no_ack_without_delivery(void)
{
  unsigned long excess = 0;
  int p;
  int i;

#ifdef CONFIG_MBOX_TRACE
  pthread_mutex_lock(&g_rx_lock);
  for (p = 0; p < NPARTS; p++)
    {
      for (i = 0; i < NCH; i++)
        {
          struct chan_s *c = &g_ch[p][i];

          if (chan_counts(c) && !c->stats_lost &&
              c->acc.acked > c->delivered)
            {
              printf("#   channel %d: %zu ACKs for %lu deliveries\n",
                     chan_id(c), c->acc.acked, c->delivered);
              excess += c->acc.acked - c->delivered;
            }
        }
    }

  pthread_mutex_unlock(&g_rx_lock);
#else
  (void)p;
  (void)i;
#endif
  g_false_acks = excess > g_lost ? excess : g_lost;
  CHECK_EQ(g_false_acks, 0);
}

static void test_every_accepted_nonblocking_message_gets_one_txdone(void)
{
  unsigned long missing = 0;
  unsigned long extra = 0;
  unsigned long unexpected = 0;
  unsigned long refused = 0;
  int i;

  for (i = 0; i < NWORKERS; i++)
    {
      struct worker_s *w = &g_w[i];
      uint32_t q;

      pthread_mutex_lock(&w->lock);
      for (q = 0; q < w->seq; q++)
        {
          const struct msgrec_s *m = &w->msg[q];
          unsigned exp = m->cbexp & CBX_EXP;
          unsigned n = (unsigned)m->cbres;

          /* A channel that a failed check retired may have lost its
           * callbacks with it; that failure is reported on its own.
           */

          if (atomic_load(&g_ch[w->part][CBX_CHAN(m->cbexp)].retired))
            {
              continue;
            }

          if (exp == CB_EXACT && n != 1)
            {
              if (n == 0)
                {
                  missing++;
                }
              else
                {
                  extra++;
                }
            }
          else if (exp != CB_EXACT && n > 1)
            {
              extra++;
            }
          else if ((exp == CB_NONE || exp == CB_TENTATIVE) && n != 0)
            {
              extra++;
            }
        }

      unexpected += w->cb_unexpected;
      refused += w->cb_for_refused;
      pthread_mutex_unlock(&w->lock);
    }

  printf("#   TX-done: missing %lu, extra %lu, unexpected %lu, for a "
         "refused message %lu\n", missing, extra, unexpected, refused);
  g_cb_bad = missing + extra + unexpected + refused;
  CHECK_EQ(missing, 0);
  CHECK_EQ(extra, 0);
  CHECK_EQ(unexpected, 0);
  CHECK_EQ(refused, 0);
}

static void test_statistics_balance(void)
{
#ifdef CONFIG_MBOX_TRACE
  int p;
  int i;
  int k;

  CHECK_EQ(atomic_load(&g_snapshot_bad), 0);
  if (atomic_load(&g_snapshot_bad) != 0)
    {
      g_stats_balanced = false;
    }

  for (p = 0; p < NPARTS; p++)
    {
      for (i = 0; i < NCH; i++)
        {
          struct chan_s *c = &g_ch[p][i];
          struct mbox_stats_s *st = &c->acc;
          struct cnt_s n;
          unsigned long starts;
          unsigned long ends;
          int before = g_h_cur_failed;

          if (!chan_counts(c) || c->stats_lost)
            {
              printf("#   channel %d: statistics not balanced (%s)\n",
                     chan_id(c), c->stats_lost ? "a life's statistics "
                     "were reset early" : "retired");
              continue;
            }

          memset(&n, 0, sizeof(n));
          for (k = 0; k < NWORKERS; k++)
            {
              struct worker_s *w = &g_w[k];
              struct cnt_s *a = &w->cnt[i];
              struct cnt_s *b = &w->cbcnt[i];

              if (w->part != p)
                {
                  continue;
                }

              n.submitted += a->submitted;
              n.nb_accepted += a->nb_accepted;
              n.nb_senderr += a->nb_senderr;
              n.nobufs += a->nobufs;
              n.k_acked += a->k_acked + b->k_acked;
              n.k_timeout += a->k_timeout + b->k_timeout;
              n.k_cancelled += a->k_cancelled + b->k_cancelled;
              n.k_senderr += a->k_senderr + b->k_senderr;
              n.spurious_min += a->spurious_min;
            }

          starts = n.submitted + n.nb_accepted + n.nb_senderr;
          ends = st->acked + st->timeout + st->cancelled + st->send_err;
          printf("#   channel %d: acked %zu timeout %zu cancelled %zu "
                 "send_err %zu sent %zu buffered %zu queue_full %zu "
                 "spurious_ack %zu max_queued %zu | delivered %lu\n",
                 chan_id(c), st->acked, st->timeout, st->cancelled,
                 st->send_err, st->sent, st->buffered, st->queue_full,
                 st->spurious_ack, st->max_queued, c->delivered);
          printf("#   channel %d senders: taken on %lu (blocking/poll %lu,"
                 " non-blocking %lu, immediate send error %lu), -ENOBUFS "
                 "%lu, known acked %lu timeout %lu cancelled %lu send_err "
                 "%lu, refused ACKs %lu\n", chan_id(c), starts,
                 n.submitted, n.nb_accepted, n.nb_senderr, n.nobufs,
                 n.k_acked, n.k_timeout, n.k_cancelled, n.k_senderr,
                 n.spurious_min);

          CHECK_EQ(ends, starts);
          CHECK_EQ(st->queue_full, n.nobufs);
          CHECK(st->acked >= n.k_acked);
          CHECK(st->timeout >= n.k_timeout);
          CHECK(st->cancelled >= n.k_cancelled);
          CHECK(st->send_err >= n.k_senderr);
          CHECK(st->spurious_ack >= n.spurious_min);
          CHECK(st->sent >= st->acked);
          CHECK(st->sent <= ends);
          CHECK(st->buffered <= starts);
          CHECK(st->buffered <= st->max_queued);
          CHECK_EQ(st->received, 0);
          CHECK_EQ(st->rx_dropped, 0);
          pthread_mutex_lock(&g_rx_lock);
          if (p == PART_FAKE)
            {
              CHECK_EQ(st->sent, c->sends_ok);
            }
          else
            {
              CHECK(c->delivered <= st->sent);
              CHECK_EQ(c->rxacc.received, c->rx_ok);
              CHECK_EQ(c->rxacc.rx_dropped, c->rx_err);
              CHECK_EQ(c->rxacc.sent, 0);

              /* RX acked: the messages acknowledged to the remote, at
               * most those received (the PL320 lower half refuses to ACK
               * over a message that replaced the one it read).
               */

              CHECK(c->rxacc.acked <= c->rx_ok);
            }

          pthread_mutex_unlock(&g_rx_lock);
          if (g_h_cur_failed != before)
            {
              g_stats_balanced = false;
            }
        }
    }
#else
  printf("#   CONFIG_MBOX_TRACE is off: no statistics to balance\n");
  g_stats_balanced = true;
#endif
}

static void test_model_saw_no_protocol_error(void)
{
#ifdef CONFIG_MBOX_PL320
  struct pl320_model_stats_s ms;

  if (g_model == NULL)
    {
      CHECK(!"no model");
      return;
    }

  pl320_model_get_stats(g_model, &ms);
  printf("#   model: acks delayed %lu, duplicated %lu, dropped %lu, "
         "protocol errors %lu; %lu fault injections\n", ms.acks_delayed,
         ms.acks_duplicated, ms.acks_dropped, ms.protocol_errors,
         g_faults_injected);
  CHECK_EQ(ms.protocol_errors, 0);
  CHECK(ms.acks_delayed + ms.acks_duplicated + ms.acks_dropped > 0);
#endif
}

static void test_every_call_returns_a_documented_result(void)
{
  CHECK(atomic_load(&g_calls) > 0);
  CHECK_EQ(atomic_load(&g_wrong_errno), 0);
}

static void test_concurrent_inits_admit_exactly_one(void)
{
  printf("#   %lu init races, %lu admitted other than one\n",
         atomic_load(&g_probe_b_runs), atomic_load(&g_probe_b_double));
  CHECK_EQ(atomic_load(&g_probe_b_double), 0);
}

static void test_init_is_refused_while_deinit_runs(void)
{
  printf("#   %lu inits during a deinit (%lu probes without a pending "
         "callback), %lu admitted\n", atomic_load(&g_probe_c_runs),
         atomic_load(&g_probe_c_skipped), atomic_load(&g_probe_c_bad));
  CHECK_EQ(atomic_load(&g_probe_c_bad), 0);
}

static void test_failed_init_hands_out_txdone_callbacks(void)
{
  printf("#   %lu failed inits with accepted messages, %lu owed callbacks "
         "after returning\n", atomic_load(&g_probe_d_runs),
         atomic_load(&g_probe_d_bad));
  CHECK_EQ(atomic_load(&g_probe_d_bad), 0);
}

/* The run really produced the situations the checks are about. */

static void test_the_run_exercised_its_scenarios(void)
{
  printf("#   late-ACK races: polling send %lu, POLL method %lu, "
         "untokened tx_done %lu (first send timed out in %lu); deinits "
         "%lu; deinit from a callback %lu\n",
         atomic_load(&g_race_runs[0]), atomic_load(&g_race_runs[1]),
         atomic_load(&g_race_runs[2]), atomic_load(&g_race_timedout),
         atomic_load(&g_deinits), atomic_load(&g_deadlk_probes));
#ifdef CONFIG_MBOX_PL320
  CHECK(atomic_load(&g_race_runs[0]) + atomic_load(&g_race_runs[1]) +
        atomic_load(&g_race_runs[2]) >= PL_WORKERS);
#endif
  CHECK(atomic_load(&g_deinits) > 0);
  CHECK(atomic_load(&g_probe_b_runs) >= PROBE_B_MIN);
  CHECK(atomic_load(&g_probe_c_runs) + atomic_load(&g_probe_c_skipped) > 0);
  CHECK(atomic_load(&g_probe_d_runs) > 0);
}

static void print_summary(void)
{
  unsigned long skipped = 0;
  int i;

  for (i = 0; i < NWORKERS; i++)
    {
      skipped += g_w[i].skipped;
    }

  printf("#   lost by path: blocking/polling %lu, TX-done callback %lu; "
         "operations skipped %lu\n", g_lost_by[P_BLOCKING],
         g_lost_by[P_CALLBACK], skipped);
  if (PL_COMPAT)
    {
      printf("#   compatible wire format: %lu told 0 but completed by a "
             "late ACK, within the bound of %lu timed-out or cancelled "
             "messages that arrived\n", g_lost_late_ack, g_late_ack_bound);
    }
  printf("random: seed=%u operations %lu, calls %lu, messages %lu, "
         "delivered %lu, lost %lu, duplicated %lu, false ACKs %lu, "
         "refused but delivered %lu, reordered %lu, TX-done errors %lu, "
         "wrong errno %lu, double init %lu, init during deinit %lu, "
         "callbacks owed after a failed init %lu, stats balanced %s\n",
         g_seed, atomic_load(&g_ops), atomic_load(&g_calls), g_messages,
         g_rx_total, g_lost, g_rx_dup, g_false_acks, g_refused_delivered,
         g_rx_order, g_cb_bad, atomic_load(&g_wrong_errno),
         atomic_load(&g_probe_b_double), atomic_load(&g_probe_c_bad),
         atomic_load(&g_probe_d_bad), g_stats_balanced ? "yes" : "no");
}

/****************************************************************************
 * Main
 ****************************************************************************/

static int workers_setup(void)
{
  unsigned long pl_ops = 0;
  unsigned long fk_ops;
  int i;
  int k;
  int j;

#ifdef CONFIG_MBOX_PL320
  pl_ops = g_total_ops * 2 / 5;
#endif
  fk_ops = g_total_ops - pl_ops;

  for (i = 0; i < NWORKERS; i++)
    {
      struct worker_s *w = &g_w[i];
      int part = i < PL_WORKERS ? PART_PL320 : PART_FAKE;
      unsigned long ops;

      if (i < PL_WORKERS)
        {
          ops = pl_ops / PL_WORKERS;
        }
      else if (i < LC_WORKER)
        {
          ops = fk_ops / FK_WORKERS;
        }
      else
        {
          ops = 0;
        }

      w->id = i;
      w->part = part;
      w->ops = ops;
      w->rng = (g_seed + 0x1000193u * (uint32_t)(i + 1)) | 1u;
      w->cap = (uint32_t)(ops + ops / 2 + 4096 +
                          (i == LC_WORKER ? g_total_ops / 8 : 0));
      w->msg = calloc(w->cap, sizeof(*w->msg));
      if (w->msg == NULL)
        {
          return -1;
        }

      pthread_mutex_init(&w->lock, NULL);
      for (k = 0; k < NCH; k++)
        {
          w->last_rx[k] = -1;
          for (j = 0; j < NSLOTS; j++)
            {
              struct slot_s *s = &w->slot[k][j];

              s->w = w;
              s->c = &g_ch[part][k];
              s->probe = i == LC_WORKER;
            }
        }

      if (part == PART_PL320)
        {
          w->home = &g_ch[PART_PL320][i / (PL_WORKERS / NCH)];
        }
    }

  for (i = 0; i < NPARTS; i++)
    {
      for (k = 0; k < NCH; k++)
        {
          g_ch[i][k].part = i;
          g_ch[i][k].index = k;
        }
    }

  return 0;
}

/* Sender handles point at their channels once those exist. */

static void slots_bind(int part)
{
  int i;
  int k;
  int j;

  for (i = 0; i < NWORKERS; i++)
    {
      if (g_w[i].part != part)
        {
          continue;
        }

      for (k = 0; k < NCH; k++)
        {
          for (j = 0; j < NSLOTS; j++)
            {
              g_w[i].slot[k][j].snd.chan = g_ch[part][k].chan;
            }
        }
    }
}

static void run_all(void)
{
  struct timespec t0;
  struct timespec t1;

  clock_gettime(CLOCK_MONOTONIC, &t0);
#ifdef CONFIG_MBOX_PL320
  if (pl_setup() < 0)
    {
      CHECK(!"two-core PL320 setup");
      return;
    }

  slots_bind(PART_PL320);
  pl_run();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("#   PL320 part: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
         (t1.tv_nsec - t0.tv_nsec) / 1e9);
  t0 = t1;
#endif

  if (fk_setup() < 0)
    {
      CHECK(!"fake lower half setup");
      return;
    }

  slots_bind(PART_FAKE);
  fk_run();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("#   fake part: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
         (t1.tv_nsec - t0.tv_nsec) / 1e9);
  g_ran = true;
}

static void test_random_operations_run(void)
{
  run_all();
  CHECK(g_ran);
}

int main(void)
{
  const char *e;
  double scale = 1.0;
  int i;

  setvbuf(stdout, NULL, _IOLBF, 0);
  e = getenv("RANDOM_SEED");
  g_seed = e != NULL ? (uint32_t)strtoul(e, NULL, 0)
                     : (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
  if (g_seed == 0)
    {
      g_seed = 1;
    }

  e = getenv("RANDOM_SCALE");
  if (e != NULL && atof(e) > 0)
    {
      scale = atof(e);
    }

  g_total_ops = (unsigned long)(DEFAULT_OPS * scale);
  e = getenv("RANDOM_OPS");
  if (e != NULL && strtoul(e, NULL, 0) > 0)
    {
      g_total_ops = strtoul(e, NULL, 0);
    }

  e = getenv("RANDOM_THREADS");
  g_single = e != NULL && atoi(e) == 1;

  printf("seed=%u\n", g_seed);
  printf("#   %lu operations, %s; reproduce with RANDOM_SEED=%u "
         "RANDOM_OPS=%lu%s\n", g_total_ops,
         g_single ? "one thread" : "one thread per worker", g_seed,
         g_total_ops, g_single ? " RANDOM_THREADS=1" : "");

  if (workers_setup() < 0)
    {
      printf("#   out of memory\n");
      return 1;
    }

#ifdef CONFIG_MBOX_PL320
  RUN(test_compat_size_recovers_every_sent_size);
#endif
  RUN(test_random_operations_run);
  RUN(test_acknowledged_messages_are_delivered_once);
  RUN(test_no_message_is_delivered_twice);
  RUN(test_refused_messages_are_never_delivered);
  RUN(test_each_sender_order_holds);
  RUN(test_payloads_arrive_intact);
  RUN(test_no_ack_without_delivery);
  RUN(test_every_accepted_nonblocking_message_gets_one_txdone);
  RUN(test_statistics_balance);
  RUN(test_model_saw_no_protocol_error);
  RUN(test_every_call_returns_a_documented_result);
  RUN(test_concurrent_inits_admit_exactly_one);
  RUN(test_init_is_refused_while_deinit_runs);
  RUN(test_failed_init_hands_out_txdone_callbacks);
  RUN(test_the_run_exercised_its_scenarios);
  print_summary();

  fake_dev_stop(&g_fdev);
  host_shutdown();
#ifdef CONFIG_MBOX_PL320
  if (g_model != NULL)
    {
      pl320_model_destroy(g_model);
    }
#endif

  for (i = 0; i < NWORKERS; i++)
    {
      free(g_w[i].msg);
    }

  return harness_finish();
}
