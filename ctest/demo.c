/****************************************************************************
 * ctest/demo.c
 *
 * `make run`: the scenarios of the NuttX ipcmtest example (PL320 IPCM)
 * on two simulated cores, "r52" and "riscv", that share one PL320
 * IPCM model. Each core is a thread that brings up its own PL320 lower
 * half (its own ipcmint and interrupt), with the board channel table of
 * ipcmtest: mailbox 16 carries riscv -> r52, mailbox 17 r52 -> riscv.
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
#define TEST_PL320_TX_BUFSIZE   (PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE)
#define TIMED_SEND_MS           5000
#define STRESS_COUNT            1000
#define BURST_COUNT             10
#define WAIT_MS                 3000

/* Every message of the scenarios: ipcmtest's uint32_t data[7] (28 bytes)
 * in the compatible wire format, 6 words in the framed one.
 */

#define MSG_WORDS               (PL320_MTU / 4)

struct test_pl320_txbuf_s
{
  uint8_t buf[PL320_MAX_DATA_BUF_SIZE][PL320_MSG_SIZE]
    __attribute__((aligned(64)));
};

/****************************************************************************
 * A simulated core
 ****************************************************************************/

struct core_s;
typedef int (*job_t)(struct core_s *core, void *arg);

struct core_s
{
  const char *name;
  int ipcmint;
  int irq;
  int tx_id;                               /* Mailbox this core sends on */
  int rx_id;                               /* Mailbox it receives on */

  /* Board memory of this core */

  struct test_pl320_txbuf_s txbuf[2];
  struct pl320_chan_s chans[2];
  struct pl320_config_s config;

  /* Driver and client handles */

  struct mbox_dev_s *dev;
  struct mbox_chan_s *tx;
  struct mbox_chan_s *rx;
  struct mbox_sender_s sender;
  struct mbox_receiver_s receiver;

  /* The core's thread runs one job at a time */

  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job_t job;
  void *job_arg;
  int job_ret;
  bool job_pending;
  bool job_done;
  bool quit;

  /* What the RX callback saw (under lock) */

  int rx_count;
  int rx_errors;
  bool stress;                             /* Check sequence numbers */
  uint32_t stress_next;
  int stress_order_errors;
  int stress_content_errors;
  uint8_t last[PL320_MSG_SIZE];
  size_t last_size;
};

static struct core_s g_r52;
static struct core_s g_riscv;
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
 * RX callback (runs in the receiving core's interrupt handler)
 ****************************************************************************/

static int mbox_callback(int ret, struct mbox_chan_s *chan, void *arg,
                         void *data, size_t size)
{
  struct core_s *core = arg;
  const uint8_t *msg = data;
  uint8_t expect[PL320_MSG_SIZE];
  uint32_t seq;

  (void)chan;
  pthread_mutex_lock(&core->lock);

  if (ret != 0 || data == NULL)
    {
      core->rx_errors++;
    }
  else
    {
      core->rx_count++;
      core->last_size = size < sizeof(core->last) ? size : sizeof(core->last);
      memcpy(core->last, msg, core->last_size);

      if (core->stress)
        {
          if (size < sizeof(seq))
            {
              core->stress_content_errors++;
            }
          else
            {
              memcpy(&seq, msg, sizeof(seq));
              if (seq != core->stress_next)
                {
                  core->stress_order_errors++;
                }

              core->stress_next = seq + 1;
              stress_fill(expect, size, seq);
              if (memcmp(expect, msg, size) != 0)
                {
                  core->stress_content_errors++;
                }
            }
        }
    }

  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
  return 0;
}

/* Wait until the core has received `count` messages in total. */

static bool wait_rx(struct core_s *core, int count, int timeout_ms)
{
  int64_t end = now_ms() + timeout_ms;
  struct timespec ts;
  bool ok;

  pthread_mutex_lock(&core->lock);
  while (core->rx_count < count && now_ms() < end)
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

  ok = core->rx_count >= count;
  pthread_mutex_unlock(&core->lock);
  return ok;
}

static int rx_count(struct core_s *core)
{
  int n;

  pthread_mutex_lock(&core->lock);
  n = core->rx_count;
  pthread_mutex_unlock(&core->lock);
  return n;
}

/****************************************************************************
 * Core threads and jobs
 ****************************************************************************/

static void *core_main(void *arg)
{
  struct core_s *core = arg;

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
      int ret = core->job(core, core->job_arg);
      pthread_mutex_lock(&core->lock);
      core->job_ret = ret;
      core->job_done = true;
      pthread_cond_broadcast(&core->cond);
    }

  pthread_mutex_unlock(&core->lock);
  return NULL;
}

/* Run job on the core's thread; core_wait() collects its result. */

static void core_start(struct core_s *core, job_t job, void *arg)
{
  pthread_mutex_lock(&core->lock);
  core->job = job;
  core->job_arg = arg;
  core->job_done = false;
  core->job_pending = true;
  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
}

static bool core_done(struct core_s *core)
{
  bool done;

  pthread_mutex_lock(&core->lock);
  done = core->job_done;
  pthread_mutex_unlock(&core->lock);
  return done;
}

static int core_wait(struct core_s *core)
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

static int core_run(struct core_s *core, job_t job, void *arg)
{
  core_start(core, job, arg);
  return core_wait(core);
}

/* Board tables of one core, as in ipcmtest (both mailboxes, ctrl set on
 * both sides; each core has its own copy in its own memory).
 */

static void board_tables(struct core_s *core)
{
  struct pl320_chan_s *c = core->chans;

  memset(c, 0, sizeof(core->chans));

  c[0].base.id      = CHAN_RISCV_TO_R52;
  c[0].base.timeout = TEST_PL320_TIMEOUT;
  c[0].mbox         = CHAN_RISCV_TO_R52;
  c[0].src          = RISCV_PL320_INT;
  c[0].dst          = R52_PL320_INT;
  c[0].ctrl         = true;
  c[0].txbuf        = (uint8_t *)&core->txbuf[0];
  c[0].bufsize      = TEST_PL320_TX_BUFSIZE;

  c[1].base.id      = CHAN_R52_TO_RISCV;
  c[1].base.timeout = TEST_PL320_TIMEOUT;
  c[1].mbox         = CHAN_R52_TO_RISCV;
  c[1].src          = R52_PL320_INT;
  c[1].dst          = RISCV_PL320_INT;
  c[1].ctrl         = true;
  c[1].txbuf        = (uint8_t *)&core->txbuf[1];
  c[1].bufsize      = TEST_PL320_TX_BUFSIZE;

  core->config.chans     = c;
  core->config.num_chans = 2;
  core->config.ipcmint   = core->ipcmint;
  core->config.irq_num   = core->irq;
}

/* Job: board_mbox_init() plus the ipcmtest initialisation. */

static int job_init(struct core_s *core, void *arg)
{
  int ret;

  (void)arg;
  board_tables(core);
  core->dev = pl320_initialize(&core->config, PL320_REG_BASE);
  if (core->dev == NULL)
    {
      return -ENODEV;
    }

  core->tx = mbox_get_chan(core->dev, (void *)(uintptr_t)core->tx_id);
  core->rx = mbox_get_chan(core->dev, (void *)(uintptr_t)core->rx_id);
  if (core->tx == NULL || core->rx == NULL)
    {
      return -ENOENT;
    }

  core->sender.chan = core->tx;
  core->sender.priv = NULL;
  core->receiver.chan = core->rx;
  core->receiver.priv = NULL;

  ret = mbox_register_rxcallback(&core->receiver, mbox_callback, core);
  return ret;
}

struct send_arg_s
{
  const uint8_t *data;
  size_t size;
  clock_t timeout;
  bool use_mbox_send;                      /* mbox_send(): chan timeout */
};

static int job_send(struct core_s *core, void *arg)
{
  struct send_arg_s *s = arg;

  if (s->use_mbox_send)
    {
      return mbox_send(&core->sender, s->data, s->size);
    }

  return mbox_ticksend(&core->sender, s->data, s->size, s->timeout);
}

static int job_stress(struct core_s *core, void *arg)
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

static int job_burst(struct core_s *core, void *arg)
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
  core_start(&g_r52, job_init, NULL);
  core_start(&g_riscv, job_init, NULL);
  r1 = core_wait(&g_r52);
  r2 = core_wait(&g_riscv);
  printf("  r52:   pl320_initialize(ipcmint=%d, irq=%d) -> %s, "
         "tx chan[%d] rx chan[%d] ret=%d\n", R52_PL320_INT, R52_PL320_IRQ,
         g_r52.dev ? "dev" : "NULL", g_r52.tx_id, g_r52.rx_id, r1);
  printf("  riscv: pl320_initialize(ipcmint=%d, irq=%d) -> %s, "
         "tx chan[%d] rx chan[%d] ret=%d\n", RISCV_PL320_INT,
         RISCV_PL320_IRQ, g_riscv.dev ? "dev" : "NULL", g_riscv.tx_id,
         g_riscv.rx_id, r2);
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

static void scenario_xfer(struct core_s *from, struct core_s *to)
{
  uint32_t data[MSG_WORDS];
  struct send_arg_s s;
  char what[96];
  int before = rx_count(to);
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

  ret = core_run(from, job_send, &s);
  printf("  %s: mbox_send(%s->%s pl320 chan[%d], uint32_t data[%d] = %zu "
         "bytes) ret=[%d]\n", from->name, from->name, to->name,
         from->tx_id, MSG_WORDS, sizeof(data), ret);
  dump("    sent ", (const uint8_t *)data, sizeof(data));

  got = wait_rx(to, before + 1, WAIT_MS);
  pthread_mutex_lock(&to->lock);
  same = got && to->last_size == sizeof(data) &&
         memcmp(to->last, data, sizeof(data)) == 0;
  printf("  %s: received msg on chan[%d] (count=%d) size=%zu:\n", to->name,
         to->rx_id, to->rx_count, to->last_size);
  dump("    ", to->last, got ? to->last_size : 0);
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
  int before = rx_count(&g_riscv);
  int r1;
  int r2;

  printf("\n=== A %zu-byte message (MTU is %d) ===\n", sizeof(data),
         PL320_MTU);
  memset(data, 0xff, sizeof(data));
  s.data = (const uint8_t *)data;
  s.size = sizeof(data);
  s.timeout = 0;
  s.use_mbox_send = true;
  r1 = core_run(&g_r52, job_send, &s);
  s.use_mbox_send = false;
  r2 = core_run(&g_r52, job_send, &s);
  printf("  r52: mbox_send(chan[%d], %zu bytes) ret=%d, "
         "mbox_ticksend(.., 0) ret=%d (-EMSGSIZE = %d)\n", g_r52.tx_id,
         sizeof(data), r1, r2, -EMSGSIZE);
  result(r1 == -EMSGSIZE && r2 == -EMSGSIZE &&
         !wait_rx(&g_riscv, before + 1, 20),
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
  struct core_s *c[2] =
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
      pthread_mutex_lock(&c[i]->lock);
      c[i]->stress = true;
      c[i]->stress_next = 0;
      c[i]->stress_order_errors = 0;
      c[i]->stress_content_errors = 0;
      base[i] = c[i]->rx_count;
      pthread_mutex_unlock(&c[i]->lock);
    }

  core_start(&g_r52, job_stress, NULL);
  core_start(&g_riscv, job_stress, NULL);
  r1 = core_wait(&g_r52);
  r2 = core_wait(&g_riscv);
  got1 = wait_rx(&g_riscv, base[1] + STRESS_COUNT, WAIT_MS);
  got2 = wait_rx(&g_r52, base[0] + STRESS_COUNT, WAIT_MS);
  dt = now_ms() - t0;

  for (i = 0; i < 2; i++)
    {
      pthread_mutex_lock(&c[i]->lock);
      c[i]->stress = false;
      printf("  %s: sent %d (ret=%d), received %d, out of order %d, "
             "corrupt %d, last:\n", c[i]->name, STRESS_COUNT,
             i == 0 ? r1 : r2, c[i]->rx_count - base[i],
             c[i]->stress_order_errors, c[i]->stress_content_errors);
      dump("    ", c[i]->last, c[i]->last_size);
      ok = ok && c[i]->rx_count - base[i] == STRESS_COUNT &&
           c[i]->stress_order_errors == 0 &&
           c[i]->stress_content_errors == 0;
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
  int before = rx_count(&g_riscv);
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

  ret = core_run(&g_r52, job_send, &s);
  printf("  r52: mbox_ticksend(chan[%d], %zu bytes, 0) ret=%d (%s)\n",
         g_r52.tx_id, sizeof(data), ret,
         ret == 0 ? "sent immediately" : "error");
  got = wait_rx(&g_riscv, before + 1, WAIT_MS);
  pthread_mutex_lock(&g_riscv.lock);
  same = got && g_riscv.last_size == sizeof(data) &&
         memcmp(g_riscv.last, bytes, sizeof(data)) == 0;
  printf("  riscv: received msg on chan[%d] (count=%d):\n", g_riscv.rx_id,
         g_riscv.rx_count);
  dump("    ", g_riscv.last, got ? g_riscv.last_size : 0);
  pthread_mutex_unlock(&g_riscv.lock);
  result(ret == 0 && same, "nonblocking_send: ret=0, delivered");

  /* A burst: all but the first wait in the channel's queue (txbuf). */

  pthread_mutex_lock(&g_riscv.lock);
  g_riscv.stress = true;
  g_riscv.stress_next = 0;
  g_riscv.stress_order_errors = 0;
  g_riscv.stress_content_errors = 0;
  before = g_riscv.rx_count;
  pthread_mutex_unlock(&g_riscv.lock);

  ret = core_run(&g_r52, job_burst, NULL);
  got = wait_rx(&g_riscv, before + BURST_COUNT, WAIT_MS);
  pthread_mutex_lock(&g_riscv.lock);
  g_riscv.stress = false;
  printf("  r52: %d non-blocking sends back to back ret=%d; riscv "
         "received %d, out of order %d, corrupt %d\n", BURST_COUNT, ret,
         g_riscv.rx_count - before, g_riscv.stress_order_errors,
         g_riscv.stress_content_errors);
  i = g_riscv.stress_order_errors + g_riscv.stress_content_errors;
  pthread_mutex_unlock(&g_riscv.lock);

#ifdef CONFIG_MBOX_TRACE
  {
    struct mbox_stats_s st;

    if (mbox_chan_get_stats_checked(g_r52.tx, &st) == 0)
      {
        printf("  r52 chan[%d]: buffered=%zu max_queued=%zu\n",
               g_r52.tx_id, st.buffered, st.max_queued);
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
  int before = rx_count(&g_riscv);
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
  core_start(&g_r52, job_send, &s);
  printf("  r52: mbox_ticksend(chan[%d], %zu bytes, %d ms)\n", g_r52.tx_id,
         sizeof(data), TIMED_SEND_MS);
  printf("  waiting up to 5 s for an ACK that will not come...\n");
  fflush(stdout);
  next = t0 + 1000;
  while (!core_done(&g_r52))
    {
      struct timespec ts =
      {
        0, 20 * 1000000
      };

      nanosleep(&ts, NULL);
      if (now_ms() >= next && !core_done(&g_r52))
        {
          printf("    ... %lld s\n", (long long)((next - t0) / 1000));
          fflush(stdout);
          next += 1000;
        }
    }

  ret = core_wait(&g_r52);
  dt = now_ms() - t0;
  got = rx_count(&g_riscv) > before;
  printf("  r52: timed_send(r52->riscv pl320 chan[%d]) ret=%d after "
         "%lld ms %s\n", g_r52.tx_id, ret, (long long)dt,
         ret == -ETIMEDOUT ? "[INFO] timed out (riscv silent)" : "");
  printf("  riscv: the message itself %s\n",
         got ? "arrived (only the ACK was lost)" : "did not arrive");
  result(ret == -ETIMEDOUT && dt >= TIMED_SEND_MS - 5 &&
         dt < TIMED_SEND_MS + 1000,
         "timed_send: -ETIMEDOUT after 5 s against a silent remote");

  /* The remote is back: the channel works again at once. */

  before = rx_count(&g_riscv);
  memset(data, 0xa5, sizeof(data));
  s.timeout = HOST_MSEC2TICK(1000);
  ret = core_run(&g_r52, job_send, &s);
  got = wait_rx(&g_riscv, before + 1, WAIT_MS);
  printf("  r52: next send after recovery ret=%d, riscv received=%s\n",
         ret, got ? "yes" : "no");
  result(ret == 0 && got, "timed_send: channel recovers after a timeout");
}

static void print_stats(struct core_s *core)
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
  printf("  %-5s rx_count=%d rx_errors=%d\n", core->name, core->rx_count,
         core->rx_errors);
  pthread_mutex_unlock(&core->lock);
}

/****************************************************************************
 * Main
 ****************************************************************************/

static void core_create(struct core_s *core, const char *name, int ipcmint,
                        int irq, int tx_id, int rx_id)
{
  core->name = name;
  core->ipcmint = ipcmint;
  core->irq = irq;
  core->tx_id = tx_id;
  core->rx_id = rx_id;
  pthread_mutex_init(&core->lock, NULL);
  pthread_cond_init(&core->cond, NULL);
  if (pthread_create(&core->thread, NULL, core_main, core) != 0)
    {
      fprintf(stderr, "demo: cannot create thread %s\n", name);
      exit(2);
    }
}

static void core_stop(struct core_s *core)
{
  pthread_mutex_lock(&core->lock);
  core->quit = true;
  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
  pthread_join(core->thread, NULL);
}

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

  core_create(&g_r52, "r52", R52_PL320_INT, R52_PL320_IRQ,
              CHAN_R52_TO_RISCV, CHAN_RISCV_TO_R52);
  core_create(&g_riscv, "riscv", RISCV_PL320_INT, RISCV_PL320_IRQ,
              CHAN_RISCV_TO_R52, CHAN_R52_TO_RISCV);

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

  core_stop(&g_r52);
  core_stop(&g_riscv);
  host_shutdown();
  pl320_model_destroy(g_model);

  printf("\ndemo: %d passed, %d failed (%lld ms)\n", g_passed, g_failed,
         (long long)(now_ms() - t0));
  return g_failed == 0 ? 0 : 1;
}

#endif /* CONFIG_MBOX_PL320 */
