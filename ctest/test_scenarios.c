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
#include "simcore.h"

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
#define STRESS_COUNT            1000
#define TIMED_MS                200
#define WAIT_MS                 3000

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* What the scenarios check of each core's messages, beyond the record:
 * MTU-sized ones carry a sequence number and a pattern derived from it.
 */

struct seqcheck_s
{
  uint32_t next_seq;                       /* Expected sequence number */
  int order_errors;
  int content_errors;
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
static struct simcore_s g_r52;
static struct simcore_s g_riscv;
static struct seqcheck_s g_r52_seq;
static struct seqcheck_s g_riscv_seq;

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

/* Under the core's lock, for each message its record keeps. */

static void seq_check(struct simcore_s *core, const uint8_t *data,
                      size_t size)
{
  struct seqcheck_s *sc = core->priv;
  uint8_t expect[PL320_MTU];
  uint32_t seq;

  if (size == PL320_MTU)
    {
      memcpy(&seq, data, sizeof(seq));
      if (seq != sc->next_seq)
        {
          sc->order_errors++;
        }

      sc->next_seq = seq + 1;
      seq_fill(expect, size, seq);
      if (memcmp(expect, data, size) != 0)
        {
          sc->content_errors++;
        }
    }
}

/* Reset the RX record before a scenario. */

static void rx_reset(struct simcore_s *core)
{
  struct seqcheck_s *sc = core->priv;

  simcore_rx_reset(core);
  pthread_mutex_lock(&core->lock);
  sc->next_seq = 0;
  sc->order_errors = 0;
  sc->content_errors = 0;
  pthread_mutex_unlock(&core->lock);
}

static int order_errors(struct simcore_s *core)
{
  return ((struct seqcheck_s *)core->priv)->order_errors;
}

static int content_errors(struct simcore_s *core)
{
  return ((struct seqcheck_s *)core->priv)->content_errors;
}

/* Job: ipcmtest's board_mbox_init() and RX initialisation. */

static int job_init(struct simcore_s *core, void *arg)
{
  bool r52 = core == &g_r52;

  (void)arg;
  simcore_set_chan(core, 0, CHAN_RISCV_TO_R52, RISCV_PL320_INT,
                   R52_PL320_INT, TEST_PL320_TIMEOUT);
  simcore_set_chan(core, 1, CHAN_R52_TO_RISCV, R52_PL320_INT,
                   RISCV_PL320_INT, TEST_PL320_TIMEOUT);
  return simcore_bringup(core, PL320_REG_BASE,
                         r52 ? CHAN_R52_TO_RISCV : CHAN_RISCV_TO_R52,
                         r52 ? CHAN_RISCV_TO_R52 : CHAN_R52_TO_RISCV,
                         NULL, NULL);
}

/* Job: one send of s->data. */

static int job_send(struct simcore_s *core, void *arg)
{
  struct send_s *s = arg;

  return mbox_ticksend(&core->sender, s->data, s->size, s->timeout);
}

/* Job: s->count sequenced MTU-sized messages with timeout s->timeout;
 * stops at the first error when blocking, counts acceptances when not.
 */

static int job_sequence(struct simcore_s *core, void *arg)
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

  simcore_start(&g_r52, job_init, NULL);
  simcore_start(&g_riscv, job_init, NULL);
  r1 = simcore_wait(&g_r52);
  r2 = simcore_wait(&g_riscv);
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

static void blocking_send(struct simcore_s *from, struct simcore_s *to)
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

  CHECK_EQ(simcore_run(from, job_send, &s), 0);

  /* The receiver ACKs before it runs the callback, so the send may
   * return a moment before the callback has finished: wait for it.
   */

  CHECK(simcore_wait_rx(to, 1, WAIT_MS));
  pthread_mutex_lock(&to->lock);
  CHECK_EQ(to->nrx, 1);
  CHECK_EQ(to->last.size, sizeof(data));
  CHECK(memcmp(to->last.data, data, sizeof(data)) == 0);
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
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), 0);
  CHECK(simcore_wait_rx(&g_riscv, 1, WAIT_MS));
  CHECK_EQ(simcore_run(&g_riscv, job_send, &s), 0);
  CHECK(simcore_wait_rx(&g_r52, 1, WAIT_MS));
  s.timeout = 0;
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), 0);
  CHECK(simcore_wait_rx(&g_riscv, 2, WAIT_MS));
  pthread_mutex_lock(&g_riscv.lock);
  CHECK_EQ(g_riscv.last.size, sizeof(data));
  CHECK(memcmp(g_riscv.last.data, data, sizeof(data)) == 0);
  pthread_mutex_unlock(&g_riscv.lock);
  pthread_mutex_lock(&g_r52.lock);
  CHECK_EQ(g_r52.last.size, sizeof(data));
  CHECK(memcmp(g_r52.last.data, data, sizeof(data)) == 0);
  pthread_mutex_unlock(&g_r52.lock);
#else
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), -EMSGSIZE);
  s.timeout = 0;
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), -EMSGSIZE);
  CHECK(!simcore_wait_rx(&g_riscv, 1, 20));
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

  simcore_start(&g_r52, job_sequence, &a);
  simcore_start(&g_riscv, job_sequence, &b);
  CHECK_EQ(simcore_wait(&g_r52), 0);
  CHECK_EQ(simcore_wait(&g_riscv), 0);
  CHECK_EQ(a.accepted, STRESS_COUNT);
  CHECK_EQ(b.accepted, STRESS_COUNT);
  CHECK(simcore_wait_rx(&g_riscv, STRESS_COUNT, WAIT_MS));
  CHECK(simcore_wait_rx(&g_r52, STRESS_COUNT, WAIT_MS));
  printf("#   %d messages each way in %lld ms\n", STRESS_COUNT,
         (long long)(now_ms() - t0));

  CHECK_EQ(g_riscv.nrx, STRESS_COUNT);
  CHECK_EQ(order_errors(&g_riscv), 0);
  CHECK_EQ(content_errors(&g_riscv), 0);
  CHECK_EQ(g_riscv.rx_errors, 0);
  CHECK_EQ(g_r52.nrx, STRESS_COUNT);
  CHECK_EQ(order_errors(&g_r52), 0);
  CHECK_EQ(content_errors(&g_r52), 0);
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
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), 0);
  CHECK(simcore_wait_rx(&g_riscv, 1, WAIT_MS));
  CHECK(memcmp(g_riscv.last.data, data, sizeof(data)) == 0);

  /* Many back to back: all accepted (most wait in the queue), all
   * delivered in order.
   */

  rx_reset(&g_riscv);
  memset(&s, 0, sizeof(s));
  s.count = 12;
  s.timeout = 0;
  CHECK_EQ(simcore_run(&g_r52, job_sequence, &s), 0);
  CHECK_EQ(s.accepted, 12);
  CHECK(simcore_wait_rx(&g_riscv, 12, WAIT_MS));
  CHECK_EQ(order_errors(&g_riscv), 0);
  CHECK_EQ(content_errors(&g_riscv), 0);
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
  CHECK_EQ(simcore_run(&g_r52, job_sequence, &s), -ENOBUFS);
  printf("#   %d non-blocking messages accepted before -ENOBUFS\n",
         s.accepted);
  CHECK(s.accepted >= 2);
  CHECK(s.accepted <= 1 + SIMCORE_TXBUF_SIZE / PL320_MTU);
  CHECK(simcore_wait_rx(&g_riscv, s.accepted, WAIT_MS));
  CHECK_EQ(order_errors(&g_riscv), 0);
  CHECK_EQ(content_errors(&g_riscv), 0);

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
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), -ETIMEDOUT);
  dt = now_ms() - t0;
  printf("#   timed send returned after %lld ms\n", (long long)dt);
  CHECK(dt >= TIMED_MS);
  CHECK(dt < TIMED_MS + 800);

  /* riscv is back: the channel works again. */

  pl320_model_set_fault(g_model, CHAN_R52_TO_RISCV, PL320_FAULT_NONE, 0, 0);
  rx_reset(&g_riscv);
  memset(data, 0xa5, sizeof(data));
  CHECK_EQ(simcore_run(&g_r52, job_send, &s), 0);
  CHECK(simcore_wait_rx(&g_riscv, 1, WAIT_MS));
  CHECK(memcmp(g_riscv.last.data, data, sizeof(data)) == 0);
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

  simcore_init(&g_r52, "r52", R52_PL320_INT, R52_PL320_IRQ);
  simcore_init(&g_riscv, "riscv", RISCV_PL320_INT, RISCV_PL320_IRQ);
  g_r52.on_rx = seq_check;
  g_r52.priv = &g_r52_seq;
  g_riscv.on_rx = seq_check;
  g_riscv.priv = &g_riscv_seq;

  RUN(test_init_both_cores);
  RUN(test_blocking_r52_to_riscv);
  RUN(test_blocking_riscv_to_r52);
  RUN(test_28_byte_message);
  RUN(test_sequential_stress);
  RUN(test_nonblocking_send);
  RUN(test_nonblocking_queue_full);
  RUN(test_timed_send_silent_remote);
  RUN(test_no_protocol_errors);

  simcore_stop(&g_r52);
  simcore_stop(&g_riscv);
  host_shutdown();
  return harness_finish();
}
