/****************************************************************************
 * tests-arm/bench_arm.c
 *
 * Thumb instructions per message of the upper half's fast paths on a
 * Cortex-M3, counted deterministically: QEMU runs this image with
 * `-icount shift=N,sleep=off`, so its virtual clock advances by exactly
 * 2^N ns per executed instruction, and the mps2-an385 CMSDK APB timer 0
 * (25 MHz, a 32-bit down counter, no interrupt) read before and after a
 * region gives the instructions executed in it. The ratio of timer counts
 * to instructions is not assumed: it is measured first on an assembler loop
 * of a known instruction count (calibration), and every figure is divided
 * by it.
 *
 * The same paths as bench/instr.c (the x86-64 callgrind table), on the
 * bare-metal port (ffi/cortexm) and the fake lower half of the test image
 * (tests-arm/arm_fake.c), 24-byte messages:
 *
 *   blocking  mbox_send() on an idle channel; the fake pends its ACK
 *             interrupt in `send`, whose handler reports the ACK with
 *             mbox_chan_tx_done_token() as soon as the sender leaves the
 *             critical section (exception entry and return, the port's
 *             dispatch and the handler are inside the count)
 *   nb_idle   mbox_ticksend(.., 0) on an idle channel, then the ACK called
 *             directly by the bench: mbox_chan_tx_done_token()
 *   nb_queue  mbox_ticksend(.., 0) that queues behind a message in flight
 *             (BATCH per batch, the batch drained unmeasured)
 *   drain     the ACK that ends the message in flight and starts the
 *             oldest queued one (BATCH per batch, queued unmeasured)
 *   rx        mbox_chan_rx_data() to a registered callback
 *
 * each with its floor: the same lower-half work called through the ops
 * table with no upper half (as in bench/instr.c); and, for reading the
 * blocking row, the cost of an interrupt round trip (pend, entry, the
 * port's dispatch, an empty handler, return) and of the port's
 * __aeabi_memclr8 over the 128-byte wait storage that a blocking send
 * clears. Every region's harness
 * (the loop, and the timer reads of a batched region) is measured with an
 * empty body in the same structure and subtracted; the raw figures are
 * printed too. The SysTick interrupt is disabled inside measured regions
 * (the clock stands still, as on the host's minimal port), so no tick
 * handler runs in a count.
 *
 * Output: "bench-arm: key value" lines, parsed by bench/arm_icount.py.
 ****************************************************************************/

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <nuttx/mbox/mbox.h>

#include "arm_fake.h"
#include "mbox_os.h"
#include "cortexm.h"

#define MSG_SIZE   24          /* The PL320 MTU, as on the host */
#define ITER       10000       /* Messages of a single-message region */
#define BATCH      48          /* Queued, then drained, per batch */
#define NBATCH     210         /* 10,080 messages per batched region */
#define RING_SIZE  2048        /* 48 records of 6 + 24 bytes fit */
#define CAL_LOOPS  1000000     /* Calibration: 2 instructions each */

void __aeabi_memclr8(void *dst, size_t n);   /* ffi/cortexm/libc */

/* CMSDK APB timer 0 of mps2-an385 (25 MHz APB clock). */

#define TIMER0_CTRL   (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE  (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

/* SysTick and the DWT cycle counter */

#define SYST_CSR      (*(volatile uint32_t *)0xe000e010u)
#define SYST_TICKINT  (1u << 1)
#define DEMCR         (*(volatile uint32_t *)0xe000edfcu)
#define DEMCR_TRCENA  (1u << 24)
#define DWT_CTRL      (*(volatile uint32_t *)0xe0001000u)
#define DWT_CYCCNT    (*(volatile uint32_t *)0xe0001004u)

static struct arm_fake_dev_s g_dev;
static uint8_t g_ring[RING_SIZE] __attribute__((aligned(8)));
static uint8_t g_rxbuf[64] __attribute__((aligned(8)));
static uint8_t g_msg[MSG_SIZE];
static uint8_t g_slots[BATCH][MSG_SIZE];
static uint8_t g_clr[MBOX_OS_WAIT_SIZE] __attribute__((aligned(8)));
static volatile unsigned long g_cb_sum;
static unsigned long g_errors;

static void check(int ret, int want, const char *what)
{
  if (ret != want && g_errors++ < 10)
    {
      cortexm_printf("bench-arm: error %s returned %d, expected %d\n", what,
                     ret, want);
    }
}

/****************************************************************************
 * Counting
 ****************************************************************************/

static inline uint32_t now(void)
{
  return TIMER0_VALUE;
}

static uint32_t g_syst_csr;

/* A measured region: the tick interrupt off, the elapsed timer counts
 * accumulated over one or more intervals.
 */

static void region_begin(void)
{
  g_syst_csr = SYST_CSR;
  SYST_CSR = g_syst_csr & ~SYST_TICKINT;
}

static void region_end(const char *name, uint64_t counts, unsigned msgs)
{
  SYST_CSR = g_syst_csr;
  cortexm_printf("bench-arm: region %s %llu %u\n", name,
                 (unsigned long long)counts, msgs);
}

#define INTERVAL(acc, body) \
  do \
    { \
      uint32_t _t0 = now(); \
      body; \
      (acc) += (uint32_t)(_t0 - now()); \
    } \
  while (0)

/* Timer counts per instruction, from a loop of 2 * CAL_LOOPS + 2
 * instructions (movw + movt, then subs + bne per iteration, the last bne
 * not taken), between the same two timer reads as the empty interval
 * "reads", which is subtracted.
 */

static void calibrate(void)
{
  uint64_t acc = 0;
  uint64_t acc0 = 0;

  region_begin();
  INTERVAL(acc, __asm__ volatile("movw r0, #:lower16:%0\n\t"
                                 "movt r0, #:upper16:%0\n"
                                 "1:\n\t"
                                 "subs r0, r0, #1\n\t"
                                 "bne 1b\n\t" :: "i"(CAL_LOOPS) : "r0",
                                 "cc"));
  region_end("calibrate", acc, 2 * CAL_LOOPS + 2);

  /* The two timer reads alone: one instruction apart (the second read).
   */

  region_begin();
  INTERVAL(acc0, __asm__ volatile("" ::: "memory"));
  region_end("reads", acc0, 1);
}

/* Does this machine model the DWT cycle counter? Reported, not used when
 * it does not count.
 */

static void probe_dwt(void)
{
  uint32_t a;
  uint32_t b;
  uint32_t ctrl;

  DEMCR |= DEMCR_TRCENA;
  ctrl = DWT_CTRL;
  DWT_CYCCNT = 0;
  DWT_CTRL = ctrl | 1u;
  a = DWT_CYCCNT;
  __asm__ volatile("nop\n\tnop\n\tnop\n\tnop" ::: "memory");
  b = DWT_CYCCNT;
  cortexm_printf("bench-arm: dwt ctrl 0x%08x cyccnt %u %u\n",
                 (unsigned)ctrl, (unsigned)a, (unsigned)b);
}

/****************************************************************************
 * The paths
 ****************************************************************************/

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

/* The ACK as the bench reports it (the remote's token). */

static int ack_upper(void)
{
  return mbox_chan_tx_done_token(&g_dev.tx.base, g_dev.tx.ack_token);
}

/* The ACK as the lower half sees it, no upper half. */

static void ack_floor(void)
{
  g_arm_fake_ops.txfinish(&g_dev.tx.base);
}

static void drain(void)
{
  int guard = 0;

  while (ack_upper() == 0)
    {
      if (++guard > 10000)
        {
          check(-1, 0, "drain");
          return;
        }
    }
}

static void __attribute__((noinline)) store_msg(int slot, const void *msg,
                                                size_t size)
{
  memcpy(g_slots[slot], msg, size);
  __asm__ volatile("" ::: "memory");
}

static void __attribute__((noinline)) empty_in_irq(void *arg)
{
  (void)arg;
  __asm__ volatile("" ::: "memory");
}

static void run(void)
{
  struct mbox_chan_s *tx = &g_dev.tx.base;
  struct mbox_chan_s *rx = &g_dev.rx.base;
  struct mbox_sender_s s = { tx, NULL };
  uint64_t acc;
  int i;
  int b;
  int k;

  /* Harness: an empty loop of ITER, and NBATCH empty batches of BATCH
   * with their timer reads.
   */

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    __asm__ volatile("" ::: "memory");
                  });
  region_end("harness/loop", acc, ITER);

  acc = 0;
  region_begin();
  for (b = 0; b < NBATCH; b++)
    {
      INTERVAL(acc, for (k = 0; k < BATCH; k++)
                      {
                        __asm__ volatile("" ::: "memory");
                      });
    }

  region_end("harness/batch", acc, NBATCH * BATCH);

  /* Interrupt round trip: pend an interrupt whose handler calls an empty
   * function (NVIC pend, exception entry, the port's dispatch, return).
   */

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    arm_fake_call_in_irq(empty_in_irq, NULL);
                  });
  region_end("irq_roundtrip/total", acc, ITER);

  /* What the port's C library costs a blocking send: the upper half
   * clears the port's 128-byte wait storage (MBOX_OS_WAIT_SIZE) with
   * __aeabi_memclr8, a byte loop in ffi/cortexm/libc/string.c.
   */

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    __aeabi_memclr8(g_clr, sizeof(g_clr));
                    __asm__ volatile("" ::: "memory");
                  });
  region_end("memclr128/total", acc, ITER);

  /* blocking send + its ACK from the ACK interrupt */

  g_dev.tx.mode = ARM_ACK_NOW;
  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    check(mbox_send(&s, g_msg, MSG_SIZE), 0, "mbox_send");
                  });
  region_end("blocking/total", acc, ITER);
  check(g_dev.tx.last_ack_ret, 0, "ACK in the interrupt");
  g_dev.tx.mode = ARM_ACK_NEVER;

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    check(g_arm_fake_ops.send(tx, g_msg, MSG_SIZE), 0,
                          "ops->send");
                    ack_floor();
                  });
  region_end("blocking/floor", acc, ITER);

  /* non-blocking send on an idle channel + its ACK (called directly) */

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0,
                          "mbox_ticksend");
                    check(ack_upper(), 0, "ACK");
                  });
  region_end("nb_idle/total", acc, ITER);

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    check(g_arm_fake_ops.send(tx, g_msg, MSG_SIZE), 0,
                          "ops->send");
                    ack_floor();
                  });
  region_end("nb_idle/floor", acc, ITER);

  /* non-blocking send that queues */

  check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "in flight");
  acc = 0;
  region_begin();
  for (b = 0; b < NBATCH; b++)
    {
      INTERVAL(acc, for (k = 0; k < BATCH; k++)
                      {
                        check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0,
                              "queue");
                      });
      for (k = 0; k < BATCH; k++)
        {
          check(ack_upper(), 0, "ACK (drain)");
        }
    }

  region_end("nb_queue/total", acc, NBATCH * BATCH);

  acc = 0;
  region_begin();
  for (b = 0; b < NBATCH; b++)
    {
      INTERVAL(acc, for (k = 0; k < BATCH; k++)
                      {
                        store_msg(k, g_msg, MSG_SIZE);
                      });
    }

  region_end("nb_queue/floor", acc, NBATCH * BATCH);

  /* draining the queue on ACK */

  acc = 0;
  region_begin();
  for (b = 0; b < NBATCH; b++)
    {
      for (k = 0; k < BATCH; k++)
        {
          check(mbox_ticksend(&s, g_msg, MSG_SIZE, 0), 0, "queue");
        }

      INTERVAL(acc, for (k = 0; k < BATCH; k++)
                      {
                        check(ack_upper(), 0, "ACK (drain)");
                      });
    }

  region_end("drain/total", acc, NBATCH * BATCH);

  acc = 0;
  region_begin();
  for (b = 0; b < NBATCH; b++)
    {
      INTERVAL(acc, for (k = 0; k < BATCH; k++)
                      {
                        ack_floor();
                        check(g_arm_fake_ops.send(tx, g_slots[k], MSG_SIZE),
                              0, "ops->send");
                      });
    }

  region_end("drain/floor", acc, NBATCH * BATCH);
  drain();

  /* RX delivery to the registered callback */

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    check(mbox_chan_rx_data(rx), MSG_SIZE, "mbox_chan_rx_data");
                  });
  region_end("rx/total", acc, ITER);

  acc = 0;
  region_begin();
  INTERVAL(acc, for (i = 0; i < ITER; i++)
                  {
                    int n = g_arm_fake_ops.recv(rx, g_rxbuf);

                    if (n >= 0)
                      {
                        g_arm_fake_ops.acknowledge(rx, g_rxbuf, (size_t)n);
                        rx_callback(0, rx, NULL, g_rxbuf, (size_t)n);
                      }
                    else
                      {
                        check(n, 0, "ops->recv");
                      }
                  });
  region_end("rx/floor", acc, ITER);
}

int main(void)
{
  struct mbox_receiver_s r;
  int i;

  cortexm_port_start();

  /* Timer 0 free-running from 0xffffffff, no interrupt. */

  TIMER0_CTRL = 0;
  TIMER0_RELOAD = 0xffffffffu;
  TIMER0_VALUE = 0xffffffffu;
  TIMER0_CTRL = 1;

  arm_fake_init(&g_dev);
  g_dev.tx.mode = ARM_ACK_NEVER;
  g_dev.tx.base.timeout = 100;
  g_dev.rx.rx_size = MSG_SIZE;
  memset(g_dev.rx.rx_data, 0x5a, MSG_SIZE);
  for (i = 0; i < MSG_SIZE; i++)
    {
      g_msg[i] = (uint8_t)i;
    }

  check(mbox_chan_init(&g_dev.tx.base, &g_dev.base, MBOX_TX, g_ring,
                       sizeof(g_ring)), 0, "mbox_chan_init(tx)");
  check(mbox_chan_init(&g_dev.rx.base, &g_dev.base, MBOX_RX, g_rxbuf,
                       sizeof(g_rxbuf)), 0, "mbox_chan_init(rx)");
  r.chan = &g_dev.rx.base;
  r.priv = NULL;
  check(mbox_register_rxcallback(&r, rx_callback, NULL), 0,
        "mbox_register_rxcallback");

  cortexm_printf("bench-arm: msg_size %d\n", MSG_SIZE);
  probe_dwt();
  calibrate();
  run();

#ifdef CONFIG_MBOX_TRACE
  {
    struct mbox_stats_s st;

    if (mbox_chan_get_stats_checked(&g_dev.tx.base, &st) == 0)
      {
        cortexm_printf("bench-arm: stats sent=%u acked=%u queue_full=%u "
                       "spurious_ack=%u timeouts=%u\n", (unsigned)st.sent,
                       (unsigned)st.acked, (unsigned)st.queue_full,
                       (unsigned)st.spurious_ack, (unsigned)st.timeout);
      }
  }
#endif

  check(mbox_chan_deinit(&g_dev.tx.base), 0, "deinit tx");
  check(mbox_chan_deinit(&g_dev.rx.base), 0, "deinit rx");
  cortexm_printf("bench-arm: cb_sum %lu\nbench-arm: errors %lu\n", g_cb_sum,
                 g_errors);
  return g_errors == 0 ? 0 : 1;
}
