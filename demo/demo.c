/****************************************************************************
 * demo/demo.c
 *
 * `make run`: the scenarios of the NuttX ipcmtest example (PL320 IPCM)
 * on two simulated cores, "r52" and "riscv", that share one PL320
 * IPCM model. Each core is a thread that brings up its own PL320 lower
 * half (its own ipcmint and interrupt), with the board channel table of
 * ipcmtest: mailbox 16 carries riscv -> r52, mailbox 17 r52 -> riscv.
 * The cores are the test suite's simulated cores (ctest/simcore.h).
 *
 * Scenarios: a blocking send in each direction, a sequential stress in
 * both directions at once, a non-blocking send (and a burst that has to
 * queue), and a timed send with a 5-second timeout against a remote that
 * never acknowledges.
 *
 * In the default, compatible wire format (the legacy protocol of the NuttX
 * C driver and Linux's pl320-ipc) every message is ipcmtest's
 * uint32_t data[7]: 28 bytes in DR0..DR6, and the receiver prints the 28
 * bytes it got. In the framed format (CONFIG_MBOX_PL320_WIRE_FRAMED, DR0
 * is a length and token header) the messages are 24 bytes and the 28-byte
 * one is refused with -EMSGSIZE. Each prints PASS or FAIL with what was sent and
 * received; the end shows the trace statistics of every channel and
 * "demo: N passed, M failed". The exit status is non-zero on a failure.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "host.h"
#include "pl320_model.h"
#include "simcore.h"

#ifndef CONFIG_MBOX_PL320

/* The demo runs the PL320 lower half: nothing to show without it. */

int main(void)
{
  printf("demo: needs CONFIG_MBOX_PL320=y (the PL320 lower half)\n");
  return 1;
}

#else /* CONFIG_MBOX_PL320 */

/****************************************************************************
 * Board configuration (as in the NuttX ipcmtest example)
 ****************************************************************************/

#define PL320_REG_BASE          ((uintptr_t)0x2a000000u)
#define PL320_NINT              8          /* IPCM interrupt lines */
#define RISCV_PL320_INT         2          /* ipcmint of the RISC-V core */
#define R52_PL320_INT           5          /* ipcmint of the R52 core */
#define RISCV_PL320_IRQ         10         /* host IRQ of that line */
#define R52_PL320_IRQ           11

#define CHAN_RISCV_TO_R52       16
#define CHAN_R52_TO_RISCV       17

/* ipcmtest's TEST_PL320_TIMEOUT is 5 ticks of its board; here a channel
 * timeout of one second (host tick: 1 ms) for mbox_send().
 */

#define TEST_PL320_TIMEOUT      HOST_MSEC2TICK(1000)
#define TIMED_SEND_MS           5000
#define STRESS_COUNT            1000
#define BURST_COUNT             10
#define WAIT_MS                 3000

/* Every message of the scenarios: ipcmtest's uint32_t data[7] (28 bytes)
 * in the compatible wire format, 6 words in the framed one.
 */

#define MSG_WORDS               (PL320_MTU / 4)

/****************************************************************************
 * The two cores
 ****************************************************************************/

/* What the demo adds to a simulated core: its mailboxes, and the sequence
 * check of the stress scenarios (under the core's lock).
 */

struct demo_core_s
{
  int tx_id;                               /* Mailbox this core sends on */
  int rx_id;                               /* Mailbox it receives on */
  bool stress;                             /* Check sequence numbers */
  uint32_t stress_next;
  int stress_order_errors;
  int stress_content_errors;
};

static struct simcore_s g_r52;
static struct simcore_s g_riscv;
static struct demo_core_s g_r52_x;
static struct demo_core_s g_riscv_x;
static struct pl320_model_s *g_model;
static pthread_mutex_t g_print_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_passed;
static int g_failed;

/****************************************************************************
 * Helpers
 ****************************************************************************/

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void result(bool ok, const char *what)
{
  printf("[%s] %s\n", ok ? "PASS" : "FAIL", what);
  if (ok)
    {
      g_passed++;
    }
  else
    {
      g_failed++;
    }

  fflush(stdout);
}

/* Hex dump in ipcmtest's format: "  [00:07]: ff ff ...". */

static void dump(const char *indent, const uint8_t *p, size_t n)
{
  size_t i;
  size_t j;

  for (i = 0; i < n; i += 8)
    {
      size_t end = i + 8 < n ? i + 8 : n;

      printf("%s[%02zu:%02zu]:", indent, i, end - 1);
      for (j = i; j < end; j++)
        {
          printf(" %02x", p[j]);
        }

      printf("\n");
    }

  if (n == 0)
    {
      printf("%s(empty)\n", indent);
    }
}

/* Stress message i: sequence number, then a pattern derived from it. */

static void stress_fill(uint8_t *p, size_t n, uint32_t seq)
{
  size_t i;

  memcpy(p, &seq, sizeof(seq));
  for (i = sizeof(seq); i < n; i++)
    {
      p[i] = (uint8_t)(seq * 7u + i);
    }
}

/****************************************************************************
 * RX check (runs in the receiving core's interrupt handler, under its lock)
 ****************************************************************************/

static struct demo_core_s *ext(struct simcore_s *core)
{
  return core->priv;
}

static void stress_check(struct simcore_s *core, const uint8_t *msg,
                         size_t size)
{
  struct demo_core_s *x = ext(core);
  uint8_t expect[PL320_MSG_SIZE];
  uint32_t seq;

  if (!x->stress)
    {
      return;
    }

  if (size < sizeof(seq) || size > sizeof(expect))
    {
      x->stress_content_errors++;
      return;
    }

  memcpy(&seq, msg, sizeof(seq));
  if (seq != x->stress_next)
    {
      x->stress_order_errors++;
    }

  x->stress_next = seq + 1;
  stress_fill(expect, size, seq);
  if (memcmp(expect, msg, size) != 0)
    {
      x->stress_content_errors++;
    }
}

static void stress_begin(struct simcore_s *core)
{
  pthread_mutex_lock(&core->lock);
  ext(core)->stress = true;
  ext(core)->stress_next = 0;
  ext(core)->stress_order_errors = 0;
  ext(core)->stress_content_errors = 0;
  pthread_mutex_unlock(&core->lock);
}

/****************************************************************************
 * Jobs (run on a core's thread)
 ****************************************************************************/

/* Job: board_mbox_init() plus the ipcmtest initialisation. */

static int job_init(struct simcore_s *core, void *arg)
{
  (void)arg;

  /* Both mailboxes, ctrl set on both sides; each core has its own copy
   * of the table in its own memory. The bring-up is pl320_initialize(),
   * mbox_get_chan() of each mailbox and mbox_register_rxcallback() on the
   * one this core receives on.
   */

  simcore_set_chan(core, 0, CHAN_RISCV_TO_R52, RISCV_PL320_INT,
                   R52_PL320_INT, TEST_PL320_TIMEOUT);
  simcore_set_chan(core, 1, CHAN_R52_TO_RISCV, R52_PL320_INT,
                   RISCV_PL320_INT, TEST_PL320_TIMEOUT);
  return simcore_bringup(core, PL320_REG_BASE, ext(core)->tx_id,
                         ext(core)->rx_id, NULL, NULL);
}

struct send_arg_s
{
  const uint8_t *data;
  size_t size;
  clock_t timeout;
  bool use_mbox_send;                      /* mbox_send(): chan timeout */
};

static int job_send(struct simcore_s *core, void *arg)
{
  struct send_arg_s *s = arg;

  if (s->use_mbox_send)
    {
      return mbox_send(&core->sender, s->data, s->size);
    }

  return mbox_ticksend(&core->sender, s->data, s->size, s->timeout);
}

static int job_stress(struct simcore_s *core, void *arg)
{
  uint8_t msg[PL320_MTU];
  uint32_t i;
  int ret;

  (void)arg;
  for (i = 0; i < STRESS_COUNT; i++)
    {
      stress_fill(msg, sizeof(msg), i);
      ret = mbox_send(&core->sender, msg, sizeof(msg));
      if (ret != 0)
        {
          pthread_mutex_lock(&g_print_lock);
          printf("  %s: message %u: mbox_send ret=%d\n", core->name, i, ret);
          pthread_mutex_unlock(&g_print_lock);
          return ret;
        }
    }

  return 0;
}

static int job_burst(struct simcore_s *core, void *arg)
{
  uint8_t msg[PL320_MTU];
  uint32_t i;
  int ret;
  int bad = 0;

  (void)arg;
  for (i = 0; i < BURST_COUNT; i++)
    {
      stress_fill(msg, sizeof(msg), i);
      ret = mbox_ticksend(&core->sender, msg, sizeof(msg), 0);
      if (ret != 0)
        {
          printf("  %s: burst message %u: ret=%d\n", core->name, i, ret);
          bad++;
        }
    }

  return bad == 0 ? 0 : -EIO;
}

/****************************************************************************
 * Scenarios
 ****************************************************************************/

static void scenario_init(void)
{
  int r1;
  int r2;

  printf("\n=== PL320 channel initialisation on both cores ===\n");
  simcore_start(&g_r52, job_init, NULL);
  simcore_start(&g_riscv, job_init, NULL);
  r1 = simcore_wait(&g_r52);
  r2 = simcore_wait(&g_riscv);
  printf("  r52:   pl320_initialize(ipcmint=%d, irq=%d) -> %s, "
         "tx chan[%d] rx chan[%d] ret=%d\n", R52_PL320_INT, R52_PL320_IRQ,
         g_r52.dev ? "dev" : "NULL", g_r52_x.tx_id, g_r52_x.rx_id, r1);
  printf("  riscv: pl320_initialize(ipcmint=%d, irq=%d) -> %s, "
         "tx chan[%d] rx chan[%d] ret=%d\n", RISCV_PL320_INT,
         RISCV_PL320_IRQ, g_riscv.dev ? "dev" : "NULL", g_riscv_x.tx_id,
         g_riscv_x.rx_id, r2);
  if (g_r52.dev != NULL)
    {
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
      printf("  compatible (legacy) wire format: MTU %zu bytes (DR0..DR6 "
             "= payload, ACK = SEND 2), as the NuttX C driver and Linux "
             "pl320-ipc\n", g_r52.dev->mtu);
#else
      printf("  framed wire format: MTU %zu bytes (DR0 = length + token, "
             "DR1..DR6 = payload)\n", g_r52.dev->mtu);
#endif
    }

  result(r1 == 0 && r2 == 0, "init: both cores, RX callbacks registered");
}

static void scenario_xfer(struct simcore_s *from, struct simcore_s *to)
{
  uint32_t data[MSG_WORDS];
  struct send_arg_s s;
  char what[96];
  int before = simcore_nrx(to);
  bool got;
  bool same;
  int ret;

  printf("\n=== %s -> %s one-way PL320 send (blocking) ===\n",
         from->name, to->name);
  memset(data, 0xff, sizeof(data));
  s.data = (const uint8_t *)data;
  s.size = sizeof(data);
  s.timeout = 0;
  s.use_mbox_send = true;

  ret = simcore_run(from, job_send, &s);
  printf("  %s: mbox_send(%s->%s pl320 chan[%d], uint32_t data[%d] = %zu "
         "bytes) ret=[%d]\n", from->name, from->name, to->name,
         ext(from)->tx_id, MSG_WORDS, sizeof(data), ret);
  dump("    sent ", (const uint8_t *)data, sizeof(data));

  got = simcore_wait_rx(to, before + 1, WAIT_MS);
  pthread_mutex_lock(&to->lock);
  same = got && to->last.size == sizeof(data) &&
         memcmp(to->last.data, data, sizeof(data)) == 0;
  printf("  %s: received msg on chan[%d] (count=%d) size=%zu:\n", to->name,
         ext(to)->rx_id, to->nrx, to->last.size);
  dump("    ", to->last.data, got ? to->last.size : 0);
  pthread_mutex_unlock(&to->lock);

  snprintf(what, sizeof(what), "xfer %s->%s: ret=0, payload intact",
           from->name, to->name);
  result(ret == 0 && same, what);
}

/* A message above the MTU is refused up front, nothing queued or sent.
 * Framed: ipcmtest's uint32_t data[7] (28 bytes) is one (DR0 is our
 * header, the MTU is 24). Compatible: 28 bytes is the MTU, 32 is above.
 */

static void scenario_oversize(void)
{
  uint32_t data[(PL320_MTU + 4) / 4];
  struct send_arg_s s;
  int before = simcore_nrx(&g_riscv);
  int r1;
  int r2;

  printf("\n=== A %zu-byte message (MTU is %d) ===\n", sizeof(data),
         PL320_MTU);
  memset(data, 0xff, sizeof(data));
  s.data = (const uint8_t *)data;
  s.size = sizeof(data);
  s.timeout = 0;
  s.use_mbox_send = true;
  r1 = simcore_run(&g_r52, job_send, &s);
  s.use_mbox_send = false;
  r2 = simcore_run(&g_r52, job_send, &s);
  printf("  r52: mbox_send(chan[%d], %zu bytes) ret=%d, "
         "mbox_ticksend(.., 0) ret=%d (-EMSGSIZE = %d)\n", g_r52_x.tx_id,
         sizeof(data), r1, r2, -EMSGSIZE);
  result(r1 == -EMSGSIZE && r2 == -EMSGSIZE &&
         !simcore_wait_rx(&g_riscv, before + 1, 20),
         "oversize: refused at the call, nothing sent");
}

static void scenario_stress(void)
{
  int64_t t0 = now_ms();
  int64_t dt;
  int r1;
  int r2;
  bool got1;
  bool got2;
  char what[128];
  struct simcore_s *c[2] =
  {
    &g_r52, &g_riscv
  };

  int i;
  int base[2];
  bool ok = true;

  printf("\n=== Sequential stress: %d blocking sends each way, both "
         "directions at once ===\n", STRESS_COUNT);

  for (i = 0; i < 2; i++)
    {
      stress_begin(c[i]);
      base[i] = simcore_nrx(c[i]);
    }

  simcore_start(&g_r52, job_stress, NULL);
  simcore_start(&g_riscv, job_stress, NULL);
  r1 = simcore_wait(&g_r52);
  r2 = simcore_wait(&g_riscv);
  got1 = simcore_wait_rx(&g_riscv, base[1] + STRESS_COUNT, WAIT_MS);
  got2 = simcore_wait_rx(&g_r52, base[0] + STRESS_COUNT, WAIT_MS);
  dt = now_ms() - t0;

  for (i = 0; i < 2; i++)
    {
      pthread_mutex_lock(&c[i]->lock);
      ext(c[i])->stress = false;
      printf("  %s: sent %d (ret=%d), received %d, out of order %d, "
             "corrupt %d, last:\n", c[i]->name, STRESS_COUNT,
             i == 0 ? r1 : r2, c[i]->nrx - base[i],
             ext(c[i])->stress_order_errors,
             ext(c[i])->stress_content_errors);
      dump("    ", c[i]->last.data, c[i]->last.size);
      ok = ok && c[i]->nrx - base[i] == STRESS_COUNT &&
           ext(c[i])->stress_order_errors == 0 &&
           ext(c[i])->stress_content_errors == 0;
      pthread_mutex_unlock(&c[i]->lock);
    }

  printf("  %d messages in %lld ms\n", 2 * STRESS_COUNT, (long long)dt);
  snprintf(what, sizeof(what), "stress: %d messages each way, all "
           "acknowledged, received in order and intact", STRESS_COUNT);
  result(ok && r1 == 0 && r2 == 0 && got1 && got2, what);
}

static void scenario_nonblocking(void)
{
  uint32_t data[MSG_WORDS];
  uint8_t *bytes = (uint8_t *)data;
  struct send_arg_s s;
  int before = simcore_nrx(&g_riscv);
  bool got;
  bool same;
  int ret;
  int i;

  printf("\n=== Non-blocking Send Test (timeout=0) ===\n");
  memset(data, 0xff, sizeof(data));
  data[0] = 0x02000101;                    /* Like ipcmtest's header */
  data[1] = 0x0001f8b0;
  s.data = bytes;
  s.size = sizeof(data);
  s.timeout = 0;
  s.use_mbox_send = false;

  ret = simcore_run(&g_r52, job_send, &s);
  printf("  r52: mbox_ticksend(chan[%d], %zu bytes, 0) ret=%d (%s)\n",
         g_r52_x.tx_id, sizeof(data), ret,
         ret == 0 ? "sent immediately" : "error");
  got = simcore_wait_rx(&g_riscv, before + 1, WAIT_MS);
  pthread_mutex_lock(&g_riscv.lock);
  same = got && g_riscv.last.size == sizeof(data) &&
         memcmp(g_riscv.last.data, bytes, sizeof(data)) == 0;
  printf("  riscv: received msg on chan[%d] (count=%d):\n", g_riscv_x.rx_id,
         g_riscv.nrx);
  dump("    ", g_riscv.last.data, got ? g_riscv.last.size : 0);
  pthread_mutex_unlock(&g_riscv.lock);
  result(ret == 0 && same, "nonblocking_send: ret=0, delivered");

  /* A burst: all but the first wait in the channel's queue (txbuf). */

  stress_begin(&g_riscv);
  before = simcore_nrx(&g_riscv);

  ret = simcore_run(&g_r52, job_burst, NULL);
  got = simcore_wait_rx(&g_riscv, before + BURST_COUNT, WAIT_MS);
  pthread_mutex_lock(&g_riscv.lock);
  g_riscv_x.stress = false;
  printf("  r52: %d non-blocking sends back to back ret=%d; riscv "
         "received %d, out of order %d, corrupt %d\n", BURST_COUNT, ret,
         g_riscv.nrx - before, g_riscv_x.stress_order_errors,
         g_riscv_x.stress_content_errors);
  i = g_riscv_x.stress_order_errors + g_riscv_x.stress_content_errors;
  pthread_mutex_unlock(&g_riscv.lock);

#ifdef CONFIG_MBOX_TRACE
  {
    struct mbox_stats_s st;

    if (mbox_chan_get_stats_checked(g_r52.tx, &st) == 0)
      {
        printf("  r52 chan[%d]: buffered=%zu max_queued=%zu\n",
               g_r52_x.tx_id, st.buffered, st.max_queued);
      }
  }
#endif

  result(ret == 0 && got && i == 0,
         "nonblocking_burst: queued messages delivered in order");
}

static void scenario_timed(void)
{
  uint8_t data[PL320_MTU];
  struct send_arg_s s;
  int64_t t0;
  int64_t dt;
  int64_t next;
  int before = simcore_nrx(&g_riscv);
  int ret;
  bool got;

  printf("\n=== PL320 Timed Send Test (5-second timeout) ===\n");
  printf("  riscv goes silent: its ACKs on mailbox %d are dropped "
         "(model fault DROP_ACK)\n", CHAN_R52_TO_RISCV);
  pl320_model_set_fault(g_model, CHAN_R52_TO_RISCV, PL320_FAULT_DROP_ACK,
                        0, 1);

  memset(data, 0x5a, sizeof(data));
  s.data = data;
  s.size = sizeof(data);
  s.timeout = HOST_MSEC2TICK(TIMED_SEND_MS);
  s.use_mbox_send = false;

  t0 = now_ms();
  simcore_start(&g_r52, job_send, &s);
  printf("  r52: mbox_ticksend(chan[%d], %zu bytes, %d ms)\n", g_r52_x.tx_id,
         sizeof(data), TIMED_SEND_MS);
  printf("  waiting up to 5 s for an ACK that will not come...\n");
  fflush(stdout);
  next = t0 + 1000;
  while (!simcore_done(&g_r52))
    {
      struct timespec ts =
      {
        0, 20 * 1000000
      };

      nanosleep(&ts, NULL);
      if (now_ms() >= next && !simcore_done(&g_r52))
        {
          printf("    ... %lld s\n", (long long)((next - t0) / 1000));
          fflush(stdout);
          next += 1000;
        }
    }

  ret = simcore_wait(&g_r52);
  dt = now_ms() - t0;
  got = simcore_nrx(&g_riscv) > before;
  printf("  r52: timed_send(r52->riscv pl320 chan[%d]) ret=%d after "
         "%lld ms %s\n", g_r52_x.tx_id, ret, (long long)dt,
         ret == -ETIMEDOUT ? "[INFO] timed out (riscv silent)" : "");
  printf("  riscv: the message itself %s\n",
         got ? "arrived (only the ACK was lost)" : "did not arrive");
  result(ret == -ETIMEDOUT && dt >= TIMED_SEND_MS - 5 &&
         dt < TIMED_SEND_MS + 1000,
         "timed_send: -ETIMEDOUT after 5 s against a silent remote");

  /* The remote is back: the channel works again at once. */

  before = simcore_nrx(&g_riscv);
  memset(data, 0xa5, sizeof(data));
  s.timeout = HOST_MSEC2TICK(1000);
  ret = simcore_run(&g_r52, job_send, &s);
  got = simcore_wait_rx(&g_riscv, before + 1, WAIT_MS);
  printf("  r52: next send after recovery ret=%d, riscv received=%s\n",
         ret, got ? "yes" : "no");
  result(ret == 0 && got, "timed_send: channel recovers after a timeout");
}

static void print_stats(struct simcore_s *core)
{
#ifdef CONFIG_MBOX_TRACE
  struct mbox_chan_s *chans[2];
  struct mbox_stats_s st;
  int i;

  chans[0] = core->tx;
  chans[1] = core->rx;
  for (i = 0; i < 2; i++)
    {
      if (chans[i] == NULL || mbox_chan_get_stats_checked(chans[i], &st) != 0)
        {
          continue;
        }

      if (i == 0)
        {
          printf("  %-5s chan[%d] TX: sent=%zu acked=%zu timeout=%zu "
                 "buffered=%zu max_queued=%zu queue_full=%zu "
                 "spurious_ack=%zu send_err=%zu cancelled=%zu\n",
                 core->name, chans[i]->id, st.sent, st.acked, st.timeout,
                 st.buffered, st.max_queued, st.queue_full,
                 st.spurious_ack, st.send_err, st.cancelled);
        }
      else
        {
          printf("  %-5s chan[%d] RX: received=%zu rx_dropped=%zu\n",
                 core->name, chans[i]->id, st.received, st.rx_dropped);
        }
    }
#else
  (void)core;
#endif

  pthread_mutex_lock(&core->lock);
  printf("  %-5s rx_count=%d rx_errors=%d\n", core->name, core->nrx,
         core->rx_errors);
  pthread_mutex_unlock(&core->lock);
}

/****************************************************************************
 * Main
 ****************************************************************************/

int main(void)
{
  int irq_of_line[PL320_NINT];
  struct pl320_model_stats_s ms;
  int64_t t0 = now_ms();
  int i;

  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("libmbox demo: the NuttX ipcmtest scenarios on two simulated cores "
         "(r52, riscv) over a PL320 IPCM model\n");

  for (i = 0; i < PL320_NINT; i++)
    {
      irq_of_line[i] = -1;
    }

  irq_of_line[RISCV_PL320_INT] = RISCV_PL320_IRQ;
  irq_of_line[R52_PL320_INT] = R52_PL320_IRQ;
  g_model = pl320_model_create(PL320_REG_BASE, PL320_MAX_MBOX_NUM,
                               PL320_NINT, 7, irq_of_line);
  if (g_model == NULL)
    {
      fprintf(stderr, "demo: cannot create the PL320 model\n");
      return 2;
    }

  simcore_init(&g_r52, "r52", R52_PL320_INT, R52_PL320_IRQ);
  g_r52_x.tx_id = CHAN_R52_TO_RISCV;
  g_r52_x.rx_id = CHAN_RISCV_TO_R52;
  g_r52.priv = &g_r52_x;
  g_r52.on_rx = stress_check;
  simcore_init(&g_riscv, "riscv", RISCV_PL320_INT, RISCV_PL320_IRQ);
  g_riscv_x.tx_id = CHAN_RISCV_TO_R52;
  g_riscv_x.rx_id = CHAN_R52_TO_RISCV;
  g_riscv.priv = &g_riscv_x;
  g_riscv.on_rx = stress_check;

  scenario_init();
  if (g_r52.dev != NULL && g_riscv.dev != NULL)
    {
      scenario_xfer(&g_r52, &g_riscv);
      scenario_xfer(&g_riscv, &g_r52);
      scenario_oversize();
      scenario_stress();
      scenario_nonblocking();
      scenario_timed();
    }

  printf("\n=== Trace statistics ===\n");
  print_stats(&g_r52);
  print_stats(&g_riscv);
  pl320_model_get_stats(g_model, &ms);
  printf("  model: register writes=%lu protocol_errors=%lu "
         "acks_dropped=%lu\n", ms.writes, ms.protocol_errors,
         ms.acks_dropped);
  result(ms.protocol_errors == 0, "model: no PL320 protocol errors");

  simcore_stop(&g_r52);
  simcore_stop(&g_riscv);
  host_shutdown();
  pl320_model_destroy(g_model);

  printf("\ndemo: %d passed, %d failed (%lld ms)\n", g_passed, g_failed,
         (long long)(now_ms() - t0));
  return g_failed == 0 ? 0 : 1;
}

#endif /* CONFIG_MBOX_PL320 */
