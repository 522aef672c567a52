/****************************************************************************
 * tests-arm/arm_fake.h
 *
 * A bare-metal fake lower half for the Cortex-M test image: the "remote"
 * answers from real interrupt handlers. Its ACKs come from an NVIC
 * interrupt (ARM_FAKE_ACK_IRQ) that the fake pends in `send` (or a number
 * of SysTick ticks later, or when the test injects one), so the ACK
 * preempts the sender as soon as it leaves the critical section; RX
 * messages come from a second pended interrupt (ARM_FAKE_RX_IRQ) whose
 * handler calls mbox_chan_rx_data().
 ****************************************************************************/

#ifndef __TESTS_ARM_ARM_FAKE_H
#define __TESTS_ARM_ARM_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include <nuttx/mbox/mbox.h>

#define ARM_FAKE_ACK_IRQ  28
#define ARM_FAKE_RX_IRQ   29
#define ARM_FAKE_CALL_IRQ 30
#define ARM_FAKE_LOG      64
#define ARM_FAKE_MTU      24

enum arm_fake_ack_e
{
  ARM_ACK_NOW,        /* pend the ACK interrupt in send */
  ARM_ACK_AFTER,      /* pend it ack_delay ticks after send */
  ARM_ACK_NEVER,      /* a silent remote */
};

struct arm_fake_chan_s
{
  struct mbox_chan_s base;      /* Must be first */

  enum arm_fake_ack_e mode;
  int ack_delay;                /* ARM_ACK_AFTER: ticks */

  /* The ACK the remote will give: token of the last message sent */

  volatile uint32_t ack_token;
  volatile bool ack_pending;    /* the ACK interrupt serves it */
  volatile int ack_countdown;   /* ARM_ACK_AFTER: ticks left */

  /* What the ACK handler saw */

  volatile int nack_irq;        /* ACKs it reported */
  volatile int last_ack_ret;    /* mbox_chan_tx_done_token()'s result */
  volatile bool ack_in_irq;     /* mbox_os_in_interrupt() in the handler */

  /* What send saw */

  uint32_t tokens[ARM_FAKE_LOG];
  uint32_t words[ARM_FAKE_LOG]; /* the message's first word */
  volatile int nsent;
  int nsetup;
  int nshutdown;
  int ntxfinish;

  /* RX: the remote's next message */

  uint8_t rx_data[ARM_FAKE_MTU];
  size_t rx_size;
  volatile bool rx_pending;
  volatile int last_rx_ret;
  int nacknowledge;
};

struct arm_fake_dev_s
{
  struct mbox_dev_s base;       /* Must be first */
  struct arm_fake_chan_s tx;    /* getchan arg 0 */
  struct arm_fake_chan_s rx;    /* getchan arg 1 */
};

/* Reset the device (channels not initialised), attach and enable the ACK,
 * RX and call interrupts.
 */

void arm_fake_init(struct arm_fake_dev_s *dev);

/* The remote ACKs `token` now, from the ACK interrupt (late, duplicated or
 * foreign ACKs as well as the right one). Returns once the handler ran.
 */

void arm_fake_ack_irq(struct arm_fake_chan_s *chan, uint32_t token);

/* The remote sends size bytes on the RX channel; the RX interrupt handler
 * receives them. Returns once the handler ran.
 */

void arm_fake_rx_irq(struct arm_fake_chan_s *chan, const void *data,
                     size_t size);

/* Run fn(arg) in an interrupt handler now. */

void arm_fake_call_in_irq(void (*fn)(void *arg), void *arg);

extern const struct mbox_ops_s g_arm_fake_ops;

#endif /* __TESTS_ARM_ARM_FAKE_H */
