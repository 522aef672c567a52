/****************************************************************************
 * tests-arm/test_upper_arm.c
 *
 * The upper half on a Cortex-M3 (QEMU mps2-an385), over the bare-metal
 * port (ffi/cortexm) and the fake lower half whose remote answers from
 * real interrupt handlers (arm_fake.c). One core, one main task; the
 * scenarios that need a second task (deinit while a sender is blocked)
 * run it on the port's second task, which gets the CPU while the main
 * task waits.
 ****************************************************************************/

#include <errno.h>
#include <string.h>

#include <nuttx/mbox/mbox.h>

#include "arm_fake.h"
#include "cortexm.h"
#include "harness.h"
#include "tests_arm.h"

/* arm-none-eabi-gcc lays out enums in the smallest integer (AAPCS bare
 * metal), as rustc does for a repr(C) enum on thumbv7m-none-eabi: both
 * sides must see the same struct mbox_chan_s.
 */

_Static_assert(sizeof(enum mbox_direction_e) == 1, "short enums expected");

static struct arm_fake_dev_s g_dev;
static uint8_t g_txbuf[256];
static uint8_t g_rxbuf[ARM_FAKE_MTU];

/* A fresh device with its TX channel (queue of g_txbuf) and RX channel
 * initialised; ack mode for the TX channel.
 */

static void setup(enum arm_fake_ack_e mode, size_t txbuf)
{
  arm_fake_init(&g_dev);
  g_dev.tx.mode = mode;
  CHECK_EQ(mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX, txbuf ?
                          g_txbuf : NULL, txbuf), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.rx.base, &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), 0);
}

static void teardown(void)
{
  CHECK_EQ(mbox_chan_deinit(&g_dev.tx.base), 0);
  CHECK_EQ(mbox_chan_deinit(&g_dev.rx.base), 0);
}

static struct mbox_stats_s stats(struct arm_fake_chan_s *c)
{
  struct mbox_stats_s s;

  memset(&s, 0, sizeof(s));
  CHECK_EQ(mbox_chan_get_stats_checked(&c->base, &s), 0);
  return s;
}

/****************************************************************************
 * The port itself
 ****************************************************************************/

static volatile int g_isr_runs;

static int count_isr(int irq, void *context, void *arg)
{
  (void)irq;
  (void)context;
  (void)arg;
  g_isr_runs++;
  return 0;
}

#define TEST_IRQ 31

static void test_critical_section_masks_interrupts_and_nests(void)
{
  mbox_os_irqstate_t outer;
  mbox_os_irqstate_t inner;

  g_isr_runs = 0;
  CHECK_EQ(mbox_os_irq_attach(TEST_IRQ, count_isr, NULL), 0);
  mbox_os_irq_enable(TEST_IRQ);
  outer = mbox_os_enter_critical();
  inner = mbox_os_enter_critical();
  cortexm_irq_pend(TEST_IRQ);
  CHECK_EQ(g_isr_runs, 0);
  mbox_os_leave_critical(inner);
  CHECK_EQ(g_isr_runs, 0);            /* still inside the outer one */
  mbox_os_leave_critical(outer);
  CHECK_EQ(g_isr_runs, 1);
  mbox_os_irq_detach(TEST_IRQ);
  cortexm_irq_pend(TEST_IRQ);
  CHECK_EQ(g_isr_runs, 1);            /* detached: never called again */
  CHECK_EQ(mbox_os_irq_attach(CORTEXM_NIRQ, count_isr, NULL), -EINVAL);
  CHECK_EQ(mbox_os_irq_attach(-1, count_isr, NULL), -EINVAL);
}

static volatile int g_timer_fired;
static volatile bool g_timer_in_irq;

static void timer_cb(uintptr_t arg)
{
  g_timer_fired += (int)arg;
  g_timer_in_irq = mbox_os_in_interrupt();
}

static void test_watchdog_fires_once_in_interrupt_and_cancel_stops_it(void)
{
  struct mbox_os_timer_s t;
  struct mbox_os_wait_s w;
  clock_t t0;

  g_timer_fired = 0;
  CHECK(!mbox_os_in_interrupt());
  CHECK_EQ(mbox_os_timer_init(&t), 0);
  CHECK_EQ(mbox_os_wait_init(&w), 0);
  t0 = mbox_os_ticks();
  CHECK_EQ(mbox_os_timer_start(&t, 3, timer_cb, 1), 0);
  CHECK_EQ(mbox_os_wait_timed(&w, 10), -ETIMEDOUT);
  CHECK(mbox_os_ticks() - t0 >= 10);
  CHECK_EQ(g_timer_fired, 1);
  CHECK(g_timer_in_irq);
  CHECK_EQ(mbox_os_timer_start(&t, 3, timer_cb, 1), 0);
  mbox_os_timer_cancel(&t);
  CHECK_EQ(mbox_os_wait_timed(&w, 6), -ETIMEDOUT);
  CHECK_EQ(g_timer_fired, 1);
  mbox_os_wait_post(&w);
  CHECK_EQ(mbox_os_wait_timed(&w, 0), 0);  /* a post before the wait */
  mbox_os_wait_destroy(&w);
  mbox_os_timer_destroy(&t);
}

/****************************************************************************
 * Sends
 ****************************************************************************/

static void test_blocking_send_completed_by_ack_interrupt(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 0x11223344;
  struct mbox_stats_s st;

  setup(ARM_ACK_NOW, sizeof(g_txbuf));
  s.chan = mbox_get_chan(&g_dev.base, (void *)0);
  CHECK(s.chan == &g_dev.tx.base);
  for (int i = 0; i < 20; i++)
    {
      msg = 0x1000 + i;
      CHECK_EQ(mbox_send(&s, &msg, sizeof(msg)), 0);
    }

  CHECK_EQ(g_dev.tx.nsent, 20);
  CHECK_EQ(g_dev.tx.nack_irq, 20);
  CHECK_EQ(g_dev.tx.last_ack_ret, 0);
  CHECK(g_dev.tx.ack_in_irq);
  CHECK_EQ(g_dev.tx.words[19], 0x1000 + 19);
  st = stats(&g_dev.tx);
  CHECK_EQ(st.sent, 20);
  CHECK_EQ(st.acked, 20);
  CHECK_EQ(st.spurious_ack, 0);
  teardown();
}

static void test_timed_send_waits_for_a_delayed_ack(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 7;
  clock_t t0;

  setup(ARM_ACK_AFTER, sizeof(g_txbuf));
  g_dev.tx.ack_delay = 5;
  s.chan = &g_dev.tx.base;
  t0 = mbox_os_ticks();
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 40), 0);
  CHECK(mbox_os_ticks() - t0 >= 5);
  CHECK(mbox_os_ticks() - t0 < 40);
  CHECK_EQ(g_dev.tx.nack_irq, 1);
  teardown();
}

static void test_timed_send_times_out_against_silent_remote(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 7;
  clock_t t0;

  setup(ARM_ACK_NEVER, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  t0 = mbox_os_ticks();
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 8), -ETIMEDOUT);
  CHECK(mbox_os_ticks() - t0 >= 8);
  CHECK(mbox_os_ticks() - t0 < 30);
  CHECK_EQ(stats(&g_dev.tx).timeout, 1);
  CHECK_EQ(g_dev.tx.ntxfinish, 1);
  teardown();
}

static void test_late_ack_never_completes_the_next_message(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 1;
  uint32_t old;

  setup(ARM_ACK_NEVER, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 3), -ETIMEDOUT);
  old = g_dev.tx.tokens[0];

  /* The next message is in flight when the first one's ACK arrives. */

  msg = 2;
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
  CHECK_EQ(g_dev.tx.nsent, 2);
  arm_fake_ack_irq(&g_dev.tx, old);
  CHECK_EQ(g_dev.tx.last_ack_ret, -ESRCH);
  CHECK_EQ(stats(&g_dev.tx).acked, 0);

  /* Its own ACK completes it; a duplicate of that completes nothing. */

  arm_fake_ack_irq(&g_dev.tx, g_dev.tx.tokens[1]);
  CHECK_EQ(g_dev.tx.last_ack_ret, 0);
  arm_fake_ack_irq(&g_dev.tx, g_dev.tx.tokens[1]);
  CHECK_EQ(g_dev.tx.last_ack_ret, -ENOENT);
  CHECK_EQ(stats(&g_dev.tx).acked, 1);
  CHECK_EQ(stats(&g_dev.tx).spurious_ack, 2);
  teardown();
}

static void test_nonblocking_sends_go_out_in_order_acked_by_interrupts(void)
{
  struct mbox_sender_s s;

  setup(ARM_ACK_AFTER, sizeof(g_txbuf));
  g_dev.tx.ack_delay = 1;
  s.chan = &g_dev.tx.base;
  for (uint32_t i = 0; i < 8; i++)
    {
      uint32_t msg = 0x500 + i;
      CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
    }

  /* Drained by the ACK interrupts, one tick apart. */

  for (int i = 0; i < 100 && g_dev.tx.nack_irq < 8; i++)
    {
      struct mbox_os_wait_s w;
      mbox_os_wait_init(&w);
      mbox_os_wait_timed(&w, 1);
      mbox_os_wait_destroy(&w);
    }

  CHECK_EQ(g_dev.tx.nsent, 8);
  CHECK_EQ(g_dev.tx.nack_irq, 8);
  for (int i = 0; i < 8; i++)
    {
      CHECK_EQ(g_dev.tx.words[i], 0x500 + i);
    }

  CHECK_EQ(stats(&g_dev.tx).acked, 8);
  CHECK_EQ(stats(&g_dev.tx).spurious_ack, 0);
  teardown();
}

/* The ACK interrupt preempts a burst of non-blocking sends: every ACK
 * lands between two sends, right after the critical section of the send
 * that started its message.
 */

static void test_ack_interrupt_between_sends_keeps_order(void)
{
  struct mbox_sender_s s;

  setup(ARM_ACK_NOW, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  for (uint32_t i = 0; i < 40; i++)
    {
      uint32_t msg = 0x700 + i;
      CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
    }

  CHECK_EQ(g_dev.tx.nsent, 40);
  CHECK_EQ(g_dev.tx.nack_irq, 40);
  CHECK_EQ(g_dev.tx.last_ack_ret, 0);
  for (int i = 0; i < 40; i++)
    {
      CHECK_EQ(g_dev.tx.words[i], 0x700 + i);
    }

  CHECK_EQ(stats(&g_dev.tx).acked, 40);
  CHECK_EQ(stats(&g_dev.tx).spurious_ack, 0);
  teardown();
}

static void test_queue_full_is_enobufs_and_nothing_is_lost(void)
{
  struct mbox_sender_s s;
  int accepted = 0;
  int ret = 0;

  setup(ARM_ACK_NEVER, 64);
  s.chan = &g_dev.tx.base;
  for (uint32_t i = 0; i < 64; i++)
    {
      uint32_t msg = 0x900 + i;
      ret = mbox_ticksend(&s, &msg, sizeof(msg), 0);
      if (ret != 0)
        {
          break;
        }

      accepted++;
    }

  CHECK_EQ(ret, -ENOBUFS);
  CHECK(accepted >= 2);
  CHECK_EQ(stats(&g_dev.tx).queue_full, 1);

  /* The remote ACKs each message from its interrupt; all come out. */

  for (int i = 0; i < accepted; i++)
    {
      CHECK_EQ(g_dev.tx.nsent, i + 1);
      arm_fake_ack_irq(&g_dev.tx, g_dev.tx.tokens[i]);
      CHECK_EQ(g_dev.tx.last_ack_ret, 0);
    }

  for (int i = 0; i < accepted; i++)
    {
      CHECK_EQ(g_dev.tx.words[i], 0x900 + i);
    }

  CHECK_EQ(stats(&g_dev.tx).acked, accepted);
  teardown();
}

static void test_queued_message_times_out_by_watchdog(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 3;
  struct mbox_os_wait_s w;

  setup(ARM_ACK_NEVER, sizeof(g_txbuf));
  CHECK_EQ(mbox_chan_deinit(&g_dev.tx.base), 0);
  g_dev.tx.base.timeout = 4;
  CHECK_EQ(mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX, g_txbuf,
                          sizeof(g_txbuf)), 0);
  s.chan = &g_dev.tx.base;
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
  mbox_os_wait_init(&w);
  mbox_os_wait_timed(&w, 20);
  mbox_os_wait_destroy(&w);
  CHECK_EQ(stats(&g_dev.tx).timeout, 2);   /* both, one after the other */
  CHECK_EQ(g_dev.tx.nsent, 2);
  teardown();
}

#ifdef CONFIG_MBOX_TXFIFO
/* Two messages in flight (txdepth 2, the slots carved from a buffer that
 * held other bytes): once the first is ACKed, the watchdog still times
 * the second out, whose deadline comes later.
 */

static void test_second_in_flight_message_times_out_after_first_ack(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 5;
  struct mbox_os_wait_s w;

  memset(g_txbuf, 0xa5, sizeof(g_txbuf));
  arm_fake_init(&g_dev);
  g_dev.base.txdepth = 2;
  g_dev.tx.mode = ARM_ACK_NEVER;
  g_dev.tx.base.timeout = 4;
  CHECK_EQ(mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX, g_txbuf,
                          sizeof(g_txbuf)), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.rx.base, &g_dev.base, MBOX_RX, g_rxbuf,
                          sizeof(g_rxbuf)), 0);
  CHECK_EQ(mbox_chan_txdepth(&g_dev.tx.base), 2);
  s.chan = &g_dev.tx.base;
  mbox_os_wait_init(&w);
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
  mbox_os_wait_timed(&w, 2);
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), 0);
  CHECK_EQ(g_dev.tx.nsent, 2);
  arm_fake_ack_irq(&g_dev.tx, g_dev.tx.tokens[0]);
  CHECK_EQ(g_dev.tx.last_ack_ret, 0);
  mbox_os_wait_timed(&w, 20);
  mbox_os_wait_destroy(&w);
  CHECK_EQ(stats(&g_dev.tx).acked, 1);
  CHECK_EQ(stats(&g_dev.tx).timeout, 1);
  teardown();
}
#endif

/****************************************************************************
 * Deinit with a blocked sender
 ****************************************************************************/

static volatile int g_deinit_ret;

static void deinit_task(void *arg)
{
  (void)arg;
  g_deinit_ret = mbox_chan_deinit(&g_dev.tx.base);
}

static void test_deinit_wakes_blocked_sender_with_ecanceled(void)
{
  struct mbox_sender_s s;
  uint32_t msg = 5;

  setup(ARM_ACK_NEVER, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  g_deinit_ret = 1;

  /* The second task runs once this sender blocks; it tears the channel
   * down under it.
   */

  CHECK_EQ(cortexm_task_start(deinit_task, NULL), 0);
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), MBOX_WAIT_FOREVER_ARM),
           -ECANCELED);
  while (cortexm_task_running())
    {
      struct mbox_os_wait_s w;
      mbox_os_wait_init(&w);
      mbox_os_wait_timed(&w, 1);
      mbox_os_wait_destroy(&w);
    }

  CHECK_EQ(g_deinit_ret, 0);
  CHECK_EQ(g_dev.tx.nshutdown, 1);
  CHECK_EQ(mbox_ticksend(&s, &msg, sizeof(msg), 0), -EINVAL);
  CHECK_EQ(mbox_chan_deinit(&g_dev.rx.base), 0);
}

/****************************************************************************
 * RX
 ****************************************************************************/

static volatile int g_rx_calls;
static volatile size_t g_rx_size;
static volatile bool g_rx_in_irq;
static uint8_t g_rx_copy[ARM_FAKE_MTU];

static int rx_cb(int ret, struct mbox_chan_s *chan, void *arg, void *data,
                 size_t size)
{
  (void)chan;
  (void)arg;
  g_rx_calls++;
  g_rx_in_irq = mbox_os_in_interrupt();
  if (ret == 0 && data != NULL && size <= sizeof(g_rx_copy))
    {
      memcpy(g_rx_copy, data, size);
      g_rx_size = size;
    }

  return 0;
}

static void test_rx_from_interrupt_reaches_callback_with_its_size(void)
{
  struct mbox_receiver_s r;
  static const uint8_t msg[ARM_FAKE_MTU] = "twenty-three bytes ....";

  setup(ARM_ACK_NOW, sizeof(g_txbuf));
  g_rx_calls = 0;
  r.chan = mbox_get_chan(&g_dev.base, (void *)1);
  CHECK_EQ(mbox_register_rxcallback(&r, rx_cb, NULL), 0);
  for (size_t n = 0; n <= ARM_FAKE_MTU; n += 8)
    {
      arm_fake_rx_irq(&g_dev.rx, msg, n);
      CHECK_EQ(g_dev.rx.last_rx_ret, (int)n);
      CHECK_EQ(g_rx_size, n);
      CHECK(memcmp(g_rx_copy, msg, n) == 0);
    }

  CHECK_EQ(g_rx_calls, 4);
  CHECK(g_rx_in_irq);
  CHECK_EQ(g_dev.rx.nacknowledge, 4);
  CHECK_EQ(stats(&g_dev.rx).received, 4);
  teardown();
}

/****************************************************************************
 * Bad input and interrupt context
 ****************************************************************************/

static volatile int g_irq_ret[8];

static void calls_from_irq(void *arg)
{
  struct mbox_sender_s *s = arg;
  uint32_t msg = 9;

  g_irq_ret[0] = mbox_send(s, &msg, sizeof(msg));
  g_irq_ret[1] = mbox_ticksend(s, &msg, sizeof(msg), 5);
  g_irq_ret[2] = mbox_chan_deinit(&g_dev.tx.base);
  g_irq_ret[3] = mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX,
                                NULL, 0);
  g_irq_ret[4] = mbox_ticksend(s, &msg, sizeof(msg), 0);
  g_irq_ret[5] = mbox_os_in_interrupt();
}

static void test_blocking_calls_from_interrupt_are_eperm(void)
{
  struct mbox_sender_s s;

  setup(ARM_ACK_NOW, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  g_irq_ret[5] = 0;
  arm_fake_call_in_irq(calls_from_irq, &s);
  CHECK_EQ(g_irq_ret[5], 1);
  CHECK_EQ(g_irq_ret[0], -EPERM);
  CHECK_EQ(g_irq_ret[1], -EPERM);
  CHECK_EQ(g_irq_ret[2], -EPERM);
  CHECK_EQ(g_irq_ret[3], -EPERM);
  CHECK_EQ(g_irq_ret[4], 0);          /* non-blocking is fine there */
  CHECK_EQ(g_dev.tx.nsent, 1);
  CHECK_EQ(stats(&g_dev.tx).acked, 1);
  teardown();
}

static void test_bad_input_table(void)
{
  struct mbox_sender_s s;
  struct mbox_sender_s nochan = { 0 };
  struct mbox_sender_s onrx;
  struct mbox_receiver_s r;
  struct mbox_receiver_s ontx;
  uint8_t big[ARM_FAKE_MTU + 1];
  uint32_t msg = 1;
  struct
  {
    const char *what;
    int got;
    int want;
  } rows[20];
  int n = 0;

#define ROW(call, expected) \
  do \
    { \
      rows[n].what = #call; \
      rows[n].got = (call); \
      rows[n].want = (expected); \
      n++; \
    } \
  while (0)

  memset(big, 0, sizeof(big));
  setup(ARM_ACK_NOW, sizeof(g_txbuf));
  s.chan = &g_dev.tx.base;
  onrx.chan = &g_dev.rx.base;
  r.chan = NULL;
  ontx.chan = &g_dev.tx.base;

  ROW(mbox_ticksend(NULL, &msg, 4, 0), -EINVAL);
  ROW(mbox_ticksend(&nochan, &msg, 4, 0), -EINVAL);
  ROW(mbox_ticksend(&s, NULL, 4, 0), -EINVAL);
  ROW(mbox_ticksend(&s, NULL, 0, 0), -EINVAL);
  ROW(mbox_ticksend(&s, big, sizeof(big), 0), -EMSGSIZE);
  ROW(mbox_ticksend(&s, big, sizeof(big), 5), -EMSGSIZE);
  ROW(mbox_ticksend(&s, &msg, 4, -2), -EINVAL);
  ROW(mbox_ticksend(&onrx, &msg, 4, 0), -EINVAL);
  ROW(mbox_send(NULL, &msg, 4), -EINVAL);
  ROW(mbox_chan_init(NULL, &g_dev.base, MBOX_TX, NULL, 0), -EINVAL);
  ROW(mbox_chan_init(&g_dev.tx.base, NULL, MBOX_TX, NULL, 0), -EINVAL);
  ROW(mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX, NULL, 0),
      -EBUSY);
  ROW(mbox_chan_deinit(NULL), -EINVAL);
  ROW(mbox_register_rxcallback(NULL, rx_cb, NULL), -EINVAL);
  ROW(mbox_register_rxcallback(&r, rx_cb, NULL), -EINVAL);
  ROW(mbox_register_rxcallback(&ontx, rx_cb, NULL), -EINVAL);
  ROW(mbox_chan_tx_done_checked(NULL), -EINVAL);
  ROW(mbox_chan_tx_done_checked(&g_dev.rx.base), -EINVAL);
  ROW(mbox_chan_tx_done_token(&g_dev.tx.base, 0), -ENOENT);
  ROW(mbox_chan_rx_data(&g_dev.tx.base), -EINVAL);

  for (int i = 0; i < n; i++)
    {
      if (rows[i].got != rows[i].want)
        {
          cortexm_printf("#   %s returned %d, expected %d\n", rows[i].what,
                         rows[i].got, rows[i].want);
          g_h_cur_failed++;
        }
    }

  CHECK_EQ(g_dev.tx.nsent, 0);
  CHECK_EQ(stats(&g_dev.tx).sent, 0);
  teardown();
#undef ROW
}

void tests_upper_arm(void)
{
  RUN(test_critical_section_masks_interrupts_and_nests);
  RUN(test_watchdog_fires_once_in_interrupt_and_cancel_stops_it);
  RUN(test_blocking_send_completed_by_ack_interrupt);
  RUN(test_timed_send_waits_for_a_delayed_ack);
  RUN(test_timed_send_times_out_against_silent_remote);
  RUN(test_late_ack_never_completes_the_next_message);
  RUN(test_nonblocking_sends_go_out_in_order_acked_by_interrupts);
  RUN(test_ack_interrupt_between_sends_keeps_order);
  RUN(test_queue_full_is_enobufs_and_nothing_is_lost);
  RUN(test_queued_message_times_out_by_watchdog);
#ifdef CONFIG_MBOX_TXFIFO
  RUN(test_second_in_flight_message_times_out_after_first_ack);
#endif
  RUN(test_deinit_wakes_blocked_sender_with_ecanceled);
  RUN(test_rx_from_interrupt_reaches_callback_with_its_size);
  RUN(test_blocking_calls_from_interrupt_are_eperm);
  RUN(test_bad_input_table);
}
