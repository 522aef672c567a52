/****************************************************************************
 * ctest/test_scenarios.c
 *
 * The scenarios of the NuttX ipcmtest example (PL320 IPCM) as
 * automated tests: two simulated cores, "r52" and "riscv", are two
 * threads that each bring up their own PL320 lower half (own ipcmint and
 * interrupt) over one PL320 model, with ipcmtest's channel table (mailbox
 * 16 riscv -> r52, mailbox 17 r52 -> riscv, ctrl on both sides). Every
 * send runs on the sending core's thread; messages arrive in the
 * receiving core's interrupt handler.
 *
 * Scenarios: blocking send in each direction; sequential stress (1000
 * messages each way at the same time, all in order and intact);
 * non-blocking sends (one, a burst that queues, and a full queue); timed
 * send against a silent remote (-ETIMEDOUT), then recovery.
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "harness.h"
#include "host.h"
#include "pl320_model.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define PL320_REG_BASE          ((uintptr_t)0x2a000000u)
#define NINT                    4
#define RISCV_PL320_INT         0
#define R52_PL320_INT           1
#define RISCV_PL320_IRQ         5
#define R52_PL320_IRQ           6
#define CHAN_RISCV_TO_R52       16
#define CHAN_R52_TO_RISCV       17

#define TEST_PL320_TIMEOUT      HOST_MSEC2TICK(300)
#define TEST_PL320_TX_BUFSIZE   (PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE)
#define STRESS_COUNT            1000
#define TIMED_MS                200
#define WAIT_MS                 3000

/****************************************************************************
 * Private Types
 ****************************************************************************/

struct core_s;
typedef int (*job_t)(struct core_s *core, void *arg);

struct core_s
{
  const char *name;
  int ipcmint;
  int irq;
  int tx_id;
  int rx_id;

  struct
  {
    uint8_t buf[PL320_MAX_DATA_BUF_SIZE][PL320_MSG_SIZE]
      __attribute__((aligned(64)));
  } txbuf[2];

  struct pl320_chan_s chans[2];
  struct pl320_config_s config;
  struct mbox_dev_s *dev;
  struct mbox_sender_s sender;
  struct mbox_receiver_s receiver;

  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job_t job;
  void *job_arg;
  int job_ret;
  bool pending;
  bool done;
  bool quit;

  /* RX record (under lock) */

  int nrx;
  int rx_errors;
  uint32_t next_seq;                       /* Expected sequence number */
  int order_errors;
  int content_errors;
  size_t last_size;
  uint8_t last[PL320_MTU];
};

struct send_s
{
  const void *data;
  size_t size;
  clock_t timeout;
  int count;                               /* Messages (sequence 0..) */
  int accepted;                            /* Out: sends that returned 0 */
  int first_error;                         /* Out */
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static struct pl320_model_s *g_model;
static struct core_s g_r52;
static struct core_s g_riscv;

/****************************************************************************
 * Helpers
 ****************************************************************************/

/* Sequenced message: a 4-byte sequence number, then a derived pattern. */

static void seq_fill(uint8_t *p, size_t n, uint32_t seq)
{
  size_t i;

  memcpy(p, &seq, sizeof(seq));
  for (i = sizeof(seq); i < n; i++)
    {
      p[i] = (uint8_t)(seq * 13u + i * 5u);
    }
}

static int rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                       void *data, size_t size)
{
  struct core_s *core = arg;
  uint8_t expect[PL320_MTU];
  uint32_t seq;

  pthread_mutex_lock(&core->lock);
  if (ret != 0 || data == NULL || chan->id != core->rx_id)
    {
      core->rx_errors++;
    }
  else
    {
      core->nrx++;
      core->last_size = size;
      memcpy(core->last, data, size);
      if (size == PL320_MTU)
        {
          memcpy(&seq, data, sizeof(seq));
          if (seq != core->next_seq)
            {
              core->order_errors++;
            }

          core->next_seq = seq + 1;
          seq_fill(expect, size, seq);
          if (memcmp(expect, data, size) != 0)
            {
              core->content_errors++;
            }
        }
    }

  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
  return 0;
}

/* Reset the RX record before a scenario. */

static void rx_reset(struct core_s *core)
{
  pthread_mutex_lock(&core->lock);
  core->nrx = 0;
  core->rx_errors = 0;
  core->next_seq = 0;
  core->order_errors = 0;
  core->content_errors = 0;
  core->last_size = 0;
  pthread_mutex_unlock(&core->lock);
}

static bool wait_nrx(struct core_s *core, int n, int timeout_ms)
{
  int64_t end = now_ms() + timeout_ms;
  bool ok;

  for (; ; )
    {
      pthread_mutex_lock(&core->lock);
      ok = core->nrx >= n;
      pthread_mutex_unlock(&core->lock);
      if (ok || now_ms() >= end)
        {
          return ok;
        }

      sleep_ms(1);
    }
}

/****************************************************************************
 * Core threads
 ****************************************************************************/

static void *core_main(void *arg)
{
  struct core_s *core = arg;
  int ret;

  pthread_setname_np(pthread_self(), core->name);
  pthread_mutex_lock(&core->lock);
  while (!core->quit)
    {
      if (!core->pending)
        {
          pthread_cond_wait(&core->cond, &core->lock);
          continue;
        }

      core->pending = false;
      pthread_mutex_unlock(&core->lock);
      ret = core->job(core, core->job_arg);
      pthread_mutex_lock(&core->lock);
      core->job_ret = ret;
      core->done = true;
      pthread_cond_broadcast(&core->cond);
    }

  pthread_mutex_unlock(&core->lock);
  return NULL;
}

static void core_start(struct core_s *core, job_t job, void *arg)
{
  pthread_mutex_lock(&core->lock);
  core->job = job;
  core->job_arg = arg;
  core->done = false;
  core->pending = true;
  pthread_cond_broadcast(&core->cond);
  pthread_mutex_unlock(&core->lock);
}

static int core_wait(struct core_s *core)
{
  int ret;

  pthread_mutex_lock(&core->lock);
  while (!core->done)
    {
      pthread_cond_wait(&core->cond, &core->lock);
    }

  ret = core->job_ret;
  pthread_mutex_unlock(&core->lock);
  return ret;
}

static int on_core(struct core_s *core, job_t job, void *arg)
{
  core_start(core, job, arg);
  return core_wait(core);
}

/* Job: ipcmtest's board_mbox_init() and RX initialisation. */

static int job_init(struct core_s *core, void *arg)
{
  struct pl320_chan_s *c = core->chans;

  (void)arg;
  memset(c, 0, sizeof(core->chans));
  c[0].base.id = CHAN_RISCV_TO_R52;
  c[0].base.timeout = TEST_PL320_TIMEOUT;
  c[0].mbox = CHAN_RISCV_TO_R52;
  c[0].src = RISCV_PL320_INT;
  c[0].dst = R52_PL320_INT;
  c[0].ctrl = true;
  c[0].txbuf = (uint8_t *)&core->txbuf[0];
  c[0].bufsize = TEST_PL320_TX_BUFSIZE;
  c[1].base.id = CHAN_R52_TO_RISCV;
  c[1].base.timeout = TEST_PL320_TIMEOUT;
  c[1].mbox = CHAN_R52_TO_RISCV;
  c[1].src = R52_PL320_INT;
  c[1].dst = RISCV_PL320_INT;
  c[1].ctrl = true;
  c[1].txbuf = (uint8_t *)&core->txbuf[1];
  c[1].bufsize = TEST_PL320_TX_BUFSIZE;

  core->config.chans = c;
  core->config.num_chans = 2;
  core->config.ipcmint = core->ipcmint;
  core->config.irq_num = core->irq;

  core->dev = pl320_initialize(&core->config, PL320_REG_BASE);
  if (core->dev == NULL)
    {
      return -ENODEV;
    }

  core->sender.chan = mbox_get_chan(core->dev,
                                    (void *)(uintptr_t)core->tx_id);
  core->sender.priv = NULL;
  core->receiver.chan = mbox_get_chan(core->dev,
                                      (void *)(uintptr_t)core->rx_id);
  core->receiver.priv = NULL;
  if (core->sender.chan == NULL || core->receiver.chan == NULL)
    {
      return -ENOENT;
    }

  return mbox_register_rxcallback(&core->receiver, rx_callback, core);
}

/* Job: one send of s->data. */

static int job_send(struct core_s *core, void *arg)
{
  struct send_s *s = arg;

  return mbox_ticksend(&core->sender, s->data, s->size, s->timeout);
}

/* Job: s->count sequenced MTU-sized messages with timeout s->timeout;
 * stops at the first error when blocking, counts acceptances when not.
 */

static int job_sequence(struct core_s *core, void *arg)
{
  struct send_s *s = arg;
  uint8_t msg[PL320_MTU];
  int i;
  int ret;

  s->accepted = 0;
  s->first_error = 0;
  for (i = 0; i < s->count; i++)
    {
      seq_fill(msg, sizeof(msg), (uint32_t)i);
      ret = mbox_ticksend(&core->sender, msg, sizeof(msg), s->timeout);
      if (ret != 0)
        {
          s->first_error = ret;
          break;
        }

      s->accepted++;
    }

  return s->first_error;
}

static bool up(void)
{
  if (g_r52.dev == NULL || g_riscv.dev == NULL)
    {
      printf("#   the cores are not initialised\n");
      return false;
    }

  return true;
}

/****************************************************************************
 * Tests
 ****************************************************************************/

static void test_init_both_cores(void)
{
  int r1;
  int r2;

  /* Both cores boot at the same time; both have ctrl on both mailboxes. */

  core_start(&g_r52, job_init, NULL);
  core_start(&g_riscv, job_init, NULL);
  r1 = core_wait(&g_r52);
  r2 = core_wait(&g_riscv);
  CHECK_EQ(r1, 0);
  CHECK_EQ(r2, 0);
  if (!up())
    {
      return;
    }

  CHECK_EQ(g_r52.sender.chan->dir, MBOX_TX);
  CHECK_EQ(g_r52.receiver.chan->dir, MBOX_RX);
  CHECK_EQ(g_riscv.sender.chan->id, CHAN_RISCV_TO_R52);
  CHECK_EQ(g_riscv.receiver.chan->id, CHAN_R52_TO_RISCV);
  CHECK_EQ(mbox_os_getreg32(PL320_REG_BASE + PL320M_SOURCE(16)),
           1u << RISCV_PL320_INT);
  CHECK_EQ(mbox_os_getreg32(PL320_REG_BASE + PL320M_SOURCE(17)),
           1u << R52_PL320_INT);
}

static void blocking_send(struct core_s *from, struct core_s *to)
{
  uint32_t data[PL320_MTU / 4];
  struct send_s s;

  if (!up())
    {
      return;
    }

  rx_reset(to);
  memset(data, 0xff, sizeof(data));
  s.data = data;
  s.size = sizeof(data);
  s.timeout = TEST_PL320_TIMEOUT;

  CHECK_EQ(on_core(from, job_send, &s), 0);

  /* The receiver ACKs before it runs the callback, so the send may
   * return a moment before the callback has finished: wait for it.
   */

  CHECK(wait_nrx(to, 1, WAIT_MS));
  pthread_mutex_lock(&to->lock);
  CHECK_EQ(to->nrx, 1);
  CHECK_EQ(to->last_size, sizeof(data));
  CHECK(memcmp(to->last, data, sizeof(data)) == 0);
  CHECK_EQ(to->rx_errors, 0);
  pthread_mutex_unlock(&to->lock);
}

static void test_blocking_r52_to_riscv(void)
{
  blocking_send(&g_r52, &g_riscv);
}

static void test_blocking_riscv_to_r52(void)
{
  blocking_send(&g_riscv, &g_r52);
}

/* ipcmtest's 28-byte message (uint32_t data[7]). Compatible wire format
 * (the default): it fills DR0..DR6 and arrives as the 28 bytes sent, in
 * both directions. Framed: it is larger than the MTU (DR0 is the header),
 * so it is refused up front, nothing queued or sent.
 */

static void test_28_byte_message(void)
{
  uint32_t data[7];
  struct send_s s;
  int i;

  if (!up())
    {
      return;
    }

  rx_reset(&g_riscv);
  rx_reset(&g_r52);
  for (i = 0; i < 7; i++)
    {
      data[i] = 0x01010101u * (uint32_t)(i + 1);
    }

  s.data = data;
  s.size = sizeof(data);
  s.timeout = TEST_PL320_TIMEOUT;
#ifndef CONFIG_MBOX_PL320_WIRE_FRAMED
  CHECK_EQ(PL320_MTU, 28);
  CHECK_EQ(on_core(&g_r52, job_send, &s), 0);
  CHECK(wait_nrx(&g_riscv, 1, WAIT_MS));
  CHECK_EQ(on_core(&g_riscv, job_send, &s), 0);
  CHECK(wait_nrx(&g_r52, 1, WAIT_MS));
  s.timeout = 0;
  CHECK_EQ(on_core(&g_r52, job_send, &s), 0);
  CHECK(wait_nrx(&g_riscv, 2, WAIT_MS));
  pthread_mutex_lock(&g_riscv.lock);
  CHECK_EQ(g_riscv.last_size, sizeof(data));
  CHECK(memcmp(g_riscv.last, data, sizeof(data)) == 0);
  pthread_mutex_unlock(&g_riscv.lock);
  pthread_mutex_lock(&g_r52.lock);
  CHECK_EQ(g_r52.last_size, sizeof(data));
  CHECK(memcmp(g_r52.last, data, sizeof(data)) == 0);
  pthread_mutex_unlock(&g_r52.lock);
#else
  CHECK_EQ(on_core(&g_r52, job_send, &s), -EMSGSIZE);
  s.timeout = 0;
  CHECK_EQ(on_core(&g_r52, job_send, &s), -EMSGSIZE);
  CHECK(!wait_nrx(&g_riscv, 1, 20));
#endif
}

static void test_sequential_stress(void)
{
  struct send_s a;
  struct send_s b;
  int64_t t0 = now_ms();

  if (!up())
    {
      return;
    }

  rx_reset(&g_riscv);
  rx_reset(&g_r52);
  memset(&a, 0, sizeof(a));
  a.count = STRESS_COUNT;
  a.timeout = TEST_PL320_TIMEOUT;
  b = a;

  core_start(&g_r52, job_sequence, &a);
  core_start(&g_riscv, job_sequence, &b);
  CHECK_EQ(core_wait(&g_r52), 0);
  CHECK_EQ(core_wait(&g_riscv), 0);
  CHECK_EQ(a.accepted, STRESS_COUNT);
  CHECK_EQ(b.accepted, STRESS_COUNT);
  CHECK(wait_nrx(&g_riscv, STRESS_COUNT, WAIT_MS));
  CHECK(wait_nrx(&g_r52, STRESS_COUNT, WAIT_MS));
  printf("#   %d messages each way in %lld ms\n", STRESS_COUNT,
         (long long)(now_ms() - t0));

  CHECK_EQ(g_riscv.nrx, STRESS_COUNT);
  CHECK_EQ(g_riscv.order_errors, 0);
  CHECK_EQ(g_riscv.content_errors, 0);
  CHECK_EQ(g_riscv.rx_errors, 0);
  CHECK_EQ(g_r52.nrx, STRESS_COUNT);
  CHECK_EQ(g_r52.order_errors, 0);
  CHECK_EQ(g_r52.content_errors, 0);
  CHECK_EQ(g_r52.rx_errors, 0);
}

static void test_nonblocking_send(void)
{
  uint32_t data[PL320_MTU / 4];
  struct send_s s;

  if (!up())
    {
      return;
    }

  /* One message, timeout 0: sent at once. */

  rx_reset(&g_riscv);
  memset(data, 0xff, sizeof(data));
  data[0] = 0x02000101;
  s.data = data;
  s.size = sizeof(data);
  s.timeout = 0;
  CHECK_EQ(on_core(&g_r52, job_send, &s), 0);
  CHECK(wait_nrx(&g_riscv, 1, WAIT_MS));
  CHECK(memcmp(g_riscv.last, data, sizeof(data)) == 0);

  /* Many back to back: all accepted (most wait in the queue), all
   * delivered in order.
   */

  rx_reset(&g_riscv);
  memset(&s, 0, sizeof(s));
  s.count = 12;
  s.timeout = 0;
  CHECK_EQ(on_core(&g_r52, job_sequence, &s), 0);
  CHECK_EQ(s.accepted, 12);
  CHECK(wait_nrx(&g_riscv, 12, WAIT_MS));
  CHECK_EQ(g_riscv.order_errors, 0);
  CHECK_EQ(g_riscv.content_errors, 0);
}

/* The remote holds the first message unacknowledged: the queue fills
 * (-ENOBUFS), then every accepted message is still delivered, in order,
 * once the first one has timed out.
 */

static void test_nonblocking_queue_full(void)
{
#ifdef CONFIG_MBOX_TRACE
  struct mbox_stats_s st;
#endif
  struct send_s s;

  if (!up())
    {
      return;
    }

  rx_reset(&g_riscv);
  pl320_model_set_fault(g_model, CHAN_R52_TO_RISCV, PL320_FAULT_DROP_ACK, 0,
                        1);
  memset(&s, 0, sizeof(s));
  s.count = 64;
  s.timeout = 0;
  CHECK_EQ(on_core(&g_r52, job_sequence, &s), -ENOBUFS);
  printf("#   %d non-blocking messages accepted before -ENOBUFS\n",
         s.accepted);
  CHECK(s.accepted >= 2);
  CHECK(s.accepted <= 1 + TEST_PL320_TX_BUFSIZE / PL320_MTU);
  CHECK(wait_nrx(&g_riscv, s.accepted, WAIT_MS));
  CHECK_EQ(g_riscv.order_errors, 0);
  CHECK_EQ(g_riscv.content_errors, 0);

#ifdef CONFIG_MBOX_TRACE
  CHECK_EQ(mbox_chan_get_stats_checked(g_r52.sender.chan, &st), 0);
  CHECK(st.queue_full >= 1);
  CHECK(st.timeout >= 1);
#endif
}

static void test_timed_send_silent_remote(void)
{
  uint8_t data[PL320_MTU];
  struct send_s s;
  int64_t t0;
  int64_t dt;

  if (!up())
    {
      return;
    }

  /* riscv "crashes": its ACKs on mailbox 17 are lost. */

  rx_reset(&g_riscv);
  pl320_model_set_fault(g_model, CHAN_R52_TO_RISCV, PL320_FAULT_DROP_ACK, 0,
                        0);
  memset(data, 0x5a, sizeof(data));
  s.data = data;
  s.size = sizeof(data);
  s.timeout = HOST_MSEC2TICK(TIMED_MS);
  t0 = now_ms();
  CHECK_EQ(on_core(&g_r52, job_send, &s), -ETIMEDOUT);
  dt = now_ms() - t0;
  printf("#   timed send returned after %lld ms\n", (long long)dt);
  CHECK(dt >= TIMED_MS);
  CHECK(dt < TIMED_MS + 800);

  /* riscv is back: the channel works again. */

  pl320_model_set_fault(g_model, CHAN_R52_TO_RISCV, PL320_FAULT_NONE, 0, 0);
  rx_reset(&g_riscv);
  memset(data, 0xa5, sizeof(data));
  CHECK_EQ(on_core(&g_r52, job_send, &s), 0);
  CHECK(wait_nrx(&g_riscv, 1, WAIT_MS));
  CHECK(memcmp(g_riscv.last, data, sizeof(data)) == 0);
}

static void test_no_protocol_errors(void)
{
  struct pl320_model_stats_s ms;

  pl320_model_get_stats(g_model, &ms);
  CHECK_EQ(ms.protocol_errors, 0);
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
  pthread_create(&core->thread, NULL, core_main, core);
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
  int lines[NINT] =
  {
    -1, -1, -1, -1
  };

  setvbuf(stdout, NULL, _IOLBF, 0);
  lines[RISCV_PL320_INT] = RISCV_PL320_IRQ;
  lines[R52_PL320_INT] = R52_PL320_IRQ;
  g_model = pl320_model_create(PL320_REG_BASE, 32, NINT, 7, lines);
  if (g_model == NULL)
    {
      printf("Bail out! cannot create the PL320 model\n");
      return 1;
    }

  core_create(&g_r52, "r52", R52_PL320_INT, R52_PL320_IRQ,
              CHAN_R52_TO_RISCV, CHAN_RISCV_TO_R52);
  core_create(&g_riscv, "riscv", RISCV_PL320_INT, RISCV_PL320_IRQ,
              CHAN_RISCV_TO_R52, CHAN_R52_TO_RISCV);

  RUN(test_init_both_cores);
  RUN(test_blocking_r52_to_riscv);
  RUN(test_blocking_riscv_to_r52);
  RUN(test_28_byte_message);
  RUN(test_sequential_stress);
  RUN(test_nonblocking_send);
  RUN(test_nonblocking_queue_full);
  RUN(test_timed_send_silent_remote);
  RUN(test_no_protocol_errors);

  core_stop(&g_r52);
  core_stop(&g_riscv);
  host_shutdown();
  return harness_finish();
}
