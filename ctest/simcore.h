/****************************************************************************
 * ctest/simcore.h
 *
 * A simulated core for the programs that run libmbox's PL320 lower half
 * over the PL320 register model (ffi/host/pl320_model.c): the C tests,
 * the demo and the two-core benchmark. A core is the memory image of one
 * side of the board (its PL320 channel table, TX buffers and
 * pl320_config_s), its device and TX/RX channel handles, an optional
 * thread that runs one job at a time (so that each core brings up its own
 * lower half and sends from its own task), and a record of what its RX
 * callback received, with wait helpers.
 *
 * It lives in ctest/, beside the fake lower half, and not in ffi/host/
 * with the model: ffi/host/ holds the OS port and the device model, which
 * sit below the library (the Rust tests and the fuzz targets build them
 * without its C API), while a core is a client of that API.
 *
 * What a user needs beyond this goes through fields: adjust the
 * pl320_chan_s that simcore_set_chan() returns (ctrl, txbuf, bufsize),
 * give simcore_bringup() its own RX callback, or set on_rx (and priv) to
 * check each message as it is recorded.
 ****************************************************************************/

#ifndef __CTEST_SIMCORE_H
#define __CTEST_SIMCORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#ifdef CONFIG_MBOX_PL320

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define SIMCORE_MAX_CHANS   5            /* Channel table slots per core */
#define SIMCORE_TXBUF_SIZE  (PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE)
#define SIMCORE_RX_RING     64           /* Messages kept by the record */
#define SIMCORE_MSG_MAX     32           /* Bytes kept of each message */

/****************************************************************************
 * Public Types
 ****************************************************************************/

struct simcore_s;

/* A job runs on the core's thread; its return value is the job's result. */

typedef int (*simcore_job_t)(struct simcore_s *core, void *arg);

/* One received message as the record keeps it: its channel, its size and
 * its first SIMCORE_MSG_MAX bytes (all zero when it is longer).
 */

struct simcore_msg_s
{
  int chan_id;
  size_t size;
  uint8_t data[SIMCORE_MSG_MAX];
};

struct simcore_s
{
  const char *name;
  int ipcmint;                             /* The core's IPCM line */
  int irq;                                 /* Its host IRQ */

  /* Board memory of this core: a TX buffer per table slot */

  uint8_t txbuf[SIMCORE_MAX_CHANS][SIMCORE_TXBUF_SIZE]
    __attribute__((aligned(64)));
  struct pl320_chan_s chans[SIMCORE_MAX_CHANS];
  struct pl320_config_s config;

  /* Driver and client handles (simcore_bringup()) */

  struct mbox_dev_s *dev;
  struct mbox_chan_s *tx;                  /* NULL: no TX channel */
  struct mbox_chan_s *rx;                  /* NULL: no RX channel */
  struct mbox_sender_s sender;
  struct mbox_receiver_s receiver;

  /* The record of simcore_rx_callback() (under lock; cond is broadcast
   * on every message and every finished job). A message on a channel
   * other than rx (when the core has one), an error or a NULL buffer of
   * a non-empty message is an rx_error and is not recorded.
   */

  pthread_mutex_t lock;
  pthread_cond_t cond;
  int nrx;
  int rx_errors;
  struct simcore_msg_s last;               /* The latest message */
  struct simcore_msg_s ring[SIMCORE_RX_RING];   /* Message i: [i % size] */

  /* Called under lock for each message recorded, with its whole data
   * (which may be NULL when the size is 0); priv is the user's.
   */

  void (*on_rx)(struct simcore_s *core, const uint8_t *data, size_t size);
  void *priv;

  /* The job thread (started by the first simcore_start()) */

  pthread_t thread;
  bool thread_started;
  simcore_job_t job;
  void *job_arg;
  int job_ret;
  bool job_pending;
  bool job_done;
  bool quit;
};

/****************************************************************************
 * Public Functions
 ****************************************************************************/

/* Name the core, give it its IPCM line and host IRQ, and set up its lock;
 * the rest of *core is zeroed.
 */

void simcore_init(struct simcore_s *core, const char *name, int ipcmint,
                  int irq);

/* Stop the core's thread if it has one (after its job), then destroy the
 * lock. The device is left as it is.
 */

void simcore_stop(struct simcore_s *core);

/* Table slot k: mailbox mbox (also the channel id) from line src to line
 * dst, with ctrl set, the given timeout, and slot k's TX buffer. The
 * configuration covers slots 0..k at least. Returns the slot to adjust.
 */

struct pl320_chan_s *simcore_set_chan(struct simcore_s *core, int k,
                                      int mbox, int src, int dst,
                                      clock_t timeout);

/* pl320_initialize() of the core's table at base, then the TX and RX
 * channels of mailboxes tx_mbox and rx_mbox (-1: none) into tx/sender and
 * rx/receiver, and the RX callback on rx: cb with arg, or
 * simcore_rx_callback with the core when cb is NULL. 0, -ENODEV when the
 * device does not come up, -ENOENT when a channel is missing, or the
 * registration's error.
 */

int simcore_bringup(struct simcore_s *core, uintptr_t base, int tx_mbox,
                    int rx_mbox, mbox_callback_t cb, void *arg);

/* The RX callback that keeps the record (arg is the core); also callable
 * from a user's own callback.
 */

int simcore_rx_callback(int ret, struct mbox_chan_s *chan, void *arg,
                        void *data, size_t size);

/* The record: messages so far, a wait for `count` of them (false after
 * timeout_ms without), message number i (one of the last SIMCORE_RX_RING),
 * and a reset to nothing received.
 */

int simcore_nrx(struct simcore_s *core);
bool simcore_wait_rx(struct simcore_s *core, int count, int timeout_ms);
struct simcore_msg_s simcore_rx_at(struct simcore_s *core, int i);
void simcore_rx_reset(struct simcore_s *core);

/* Jobs: run job on the core's thread (start it; simcore_wait() returns
 * its result, simcore_done() says whether it has finished), or both. One
 * job at a time: wait for a job before starting the next.
 */

void simcore_start(struct simcore_s *core, simcore_job_t job, void *arg);
bool simcore_done(struct simcore_s *core);
int simcore_wait(struct simcore_s *core);
int simcore_run(struct simcore_s *core, simcore_job_t job, void *arg);

#endif /* CONFIG_MBOX_PL320 */
#endif /* __CTEST_SIMCORE_H */
