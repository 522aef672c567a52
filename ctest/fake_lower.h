/****************************************************************************
 * ctest/fake_lower.h
 *
 * A scriptable fake lower half for the upper-half tests (not PL320). Each
 * fake channel records what the framework asked of it and can be told to
 * fail sends, to ACK automatically after a delay (from a responder thread,
 * like a remote core would), or to hold an RX message for
 * mbox_chan_rx_data().
 ****************************************************************************/

#ifndef __CTEST_FAKE_LOWER_H
#define __CTEST_FAKE_LOWER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <nuttx/mbox/mbox.h>

#define FAKE_NCHANS   4
#define FAKE_LOG      256
#define FAKE_MAXMSG   256
#define FAKE_FIFO_MAX 64                /* Entries of the FIFO-mode queue */

struct fake_msg_s
{
  uint32_t token;
  size_t size;
  const void *ptr;                  /* The data pointer send was given */
  uint8_t data[FAKE_MAXMSG];
};

struct fake_chan_s
{
  struct mbox_chan_s base;          /* Must be first */

  /* Script */

  int send_fail_count;              /* Fail the next N sends ... */
  int send_fail_errno;              /* ... with this (negative) value */
  int auto_ack_ms;                  /* < 0: never ACK; >= 0: ACK after */
  int setup_result;                 /* Returned by setup */
  int recv_result;                  /* < 0: recv fails with it; > 0:
                                     * recv returns it as the size and
                                     * writes nothing */
  int setcallback_result;           /* Returned by setcallback */

  /* RX message presented by recv */

  uint8_t rx_data[FAKE_MAXMSG];
  size_t rx_size;

  /* Record (under the fake's own mutex) */

  struct fake_msg_s log[FAKE_LOG];
  int nsent;
  bool acked;                       /* What txacked reports */
  int nsetup;
  int nshutdown;
  int ntxfinish;
  uint32_t last_finish_token;        /* chan->txtoken during txfinish */
  int nsetcallback;
  int nack;                         /* acknowledge calls */
  int seq_ack_before_cb;            /* order probe: ack seen by callback */

  /* Pending automatic ACK of the classic (depth 1) mode */

  bool ack_pending;
  long long ack_due_ms;

  /* Extensions for docs/beyond.md (all off after fake_dev_init) */

  bool ack_on_send;                 /* send sets acked (hardware that
                                     * completes at once, for polling) */
  int hw_inflight;                  /* successful sends - txfinish calls */
  int max_hw_inflight;              /* high-water mark of hw_inflight */
  int overflow;                     /* sends beyond the FIFO depth */

  /* FIFO mode (fake_dev_init_fifo): the tokens handed to the hardware
   * FIFO, oldest first, each with the time its automatic ACK is due.
   * An aborted message (timeout, deinit) stays in it until its ACK is
   * popped, as a late ACK would be on real hardware.
   */

  int fifo_depth;                   /* 0: classic mode */
  uint32_t fifo_tok[FAKE_FIFO_MAX];
  long long fifo_due[FAKE_FIFO_MAX];
  int fifo_head;
  int fifo_count;
};

struct fake_dev_s
{
  struct mbox_dev_s base;           /* Must be first */
  struct fake_chan_s chans[FAKE_NCHANS];
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t responder;
  bool stop;
  bool running;
};

/* Initialise the device with the given MTU; channels are not initialised
 * (tests call mbox_chan_init themselves). Starts the responder thread.
 */

void fake_dev_init(struct fake_dev_s *dev, size_t mtu);

/* Like fake_dev_init, for a controller with a hardware TX FIFO of `depth`
 * messages per channel: sets base.txdepth to depth (with
 * CONFIG_MBOX_TXFIFO; without it the upper half keeps one message in
 * flight, which the FIFO then holds at most), and every channel's
 * send pushes the message's token (chan->txtoken) into that channel's
 * FIFO. ACKs are given in FIFO order with fake_fifo_ack() (or by the
 * responder thread when auto_ack_ms >= 0, each message auto_ack_ms after
 * it was sent). A send with depth messages already in the hardware (sends
 * minus txfinish calls) is refused with -EIO and counted in `overflow`.
 * shutdown flushes the FIFO (its pending ACKs are lost).
 */

void fake_dev_init_fifo(struct fake_dev_s *dev, size_t mtu, size_t depth);

/* FIFO mode: pop the oldest token of chan's hardware FIFO and report its
 * ACK with mbox_chan_tx_done_token(). Returns what that returned, or
 * -ENODATA when the FIFO is empty (nothing reported).
 */

int fake_fifo_ack(struct fake_chan_s *chan);

/* FIFO mode: number of tokens in chan's hardware FIFO (thread-safe). */

int fake_fifo_count(struct fake_chan_s *chan);

/* Set what txacked reports, without notifying the framework (the remote
 * ACKed but the interrupt was not taken, or the lower half only polls).
 */

void fake_set_acked(struct fake_chan_s *chan, bool acked);

/* Read a counter of chan under the fake's lock (e.g. &chan->ntxfinish). */

int fake_read(struct fake_chan_s *chan, const int *field);

/* Stop the responder thread. */

void fake_dev_stop(struct fake_dev_s *dev);

/* Mark the in-flight message of chan acknowledged in the "hardware" and
 * notify the framework, as an interrupt handler would. Returns what
 * mbox_chan_tx_done() returned.
 */

int fake_ack(struct fake_chan_s *chan);

/* Number of messages the fake has sent on chan (thread-safe). */

int fake_nsent(struct fake_chan_s *chan);

/* Copy of the i-th sent message. */

struct fake_msg_s fake_sent(struct fake_chan_s *chan, int i);

extern const struct mbox_ops_s g_fake_ops;

/* The same ops without txacked (for -ENOSYS of the calls that need it and
 * for lower halves whose every notification is trusted).
 */

extern const struct mbox_ops_s g_fake_ops_noacked;

#endif /* __CTEST_FAKE_LOWER_H */
