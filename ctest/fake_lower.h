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

#include <nuttx/mbox/mbox.h>

#define FAKE_NCHANS   4
#define FAKE_LOG      256
#define FAKE_MAXMSG   256

struct fake_msg_s
{
  uint32_t token;
  size_t size;
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
  int recv_result;                  /* < 0: recv fails with it */

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
  int nsetcallback;
  int nack;                         /* acknowledge calls */
  int seq_ack_before_cb;            /* order probe: ack seen by callback */
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

#endif /* __CTEST_FAKE_LOWER_H */
