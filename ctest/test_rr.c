/****************************************************************************
 * ctest/test_rr.c
 *
 * The request/response helper (mbox_rr_*, src/rr.rs: ties each reply to
 * the request it answers) through its C API, on the host port,
 * with the scriptable fake lower half: the TX channel is ACKed by the
 * fake's responder thread, and the "remote core" (a thread of this test,
 * or the test's main thread while requesters block) answers by injecting
 * RX messages with mbox_chan_rx_data() in simulated interrupt context.
 *
 * Wire format of the tests: byte 0 is the tag, byte 1 'q' (request) or
 * 'r' (reply), byte 2 the requester's id.
 ****************************************************************************/

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>

#include "fake_lower.h"
#include "harness.h"
#include "host.h"

#define TX 0
#define RX 2

static struct fake_dev_s g_dev;
static uint8_t g_ring[256];
static uint8_t g_rxbuf[256];
static struct mbox_sender_s g_sender;
static struct mbox_receiver_s g_receiver;
static struct mbox_rr_s g_rr;
static pthread_mutex_t g_inject_lock = PTHREAD_MUTEX_INITIALIZER;

/****************************************************************************
 * Unsolicited messages
 ****************************************************************************/

static struct
{
  pthread_mutex_t lock;
  int count;
  int ret;
  size_t size;
  uint8_t data[64];
  void *arg;
  bool in_irq;
} g_unsol = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int unsolicited_cb(int ret, struct mbox_chan_s *chan, void *arg,
                          void *data, size_t size)
{
  (void)chan;
  pthread_mutex_lock(&g_unsol.lock);
  g_unsol.count++;
  g_unsol.ret = ret;
  g_unsol.size = size;
  g_unsol.arg = arg;
  g_unsol.in_irq = mbox_os_in_interrupt();
  if (data != NULL && size <= sizeof(g_unsol.data))
    {
      memcpy(g_unsol.data, data, size);
    }

  pthread_mutex_unlock(&g_unsol.lock);
  return 0;
}

static int unsol_count(void)
{
  int n;
  pthread_mutex_lock(&g_unsol.lock);
  n = g_unsol.count;
  pthread_mutex_unlock(&g_unsol.lock);
  return n;
}

/* The tag is the first byte; a message without one has no tag. */

static int tag_first_byte(const void *data, size_t size, uint32_t *tag)
{
  if (size < 1)
    {
      return -EBADMSG;
    }

  *tag = ((const uint8_t *)data)[0];
  return 0;
}

/****************************************************************************
 * Device, remote core
 ****************************************************************************/

static void setup(mbox_rr_tag_t tag)
{
  fake_dev_init(&g_dev, 24);
  g_dev.chans[TX].base.timeout = 1000;
  g_dev.chans[TX].auto_ack_ms = 0;             /* the remote ACKs at once */
  CHECK_EQ(mbox_chan_init(&g_dev.chans[TX].base, &g_dev.base, MBOX_TX,
                          g_ring, sizeof(g_ring)), 0);
  CHECK_EQ(mbox_chan_init(&g_dev.chans[RX].base, &g_dev.base, MBOX_RX,
                          g_rxbuf, sizeof(g_rxbuf)), 0);
  g_sender.chan = &g_dev.chans[TX].base;
  g_receiver.chan = &g_dev.chans[RX].base;
  memset(&g_rr, 0, sizeof(g_rr));
  pthread_mutex_lock(&g_unsol.lock);
  g_unsol.count = 0;
  g_unsol.size = 0;
  memset(g_unsol.data, 0, sizeof(g_unsol.data));
  pthread_mutex_unlock(&g_unsol.lock);
  CHECK_EQ(mbox_rr_init(&g_rr, &g_sender, &g_receiver, tag,
                        unsolicited_cb, &g_unsol), 0);
}

static void teardown(void)
{
  mbox_rr_deinit(&g_rr);                       /* may already be dead */
  mbox_chan_deinit(&g_dev.chans[TX].base);     /* before the fake's lock */
  mbox_chan_deinit(&g_dev.chans[RX].base);     /* is destroyed */
  fake_dev_stop(&g_dev);
}

static void rx_in_irq(void *arg)
{
  *(int *)arg = mbox_chan_rx_data(&g_dev.chans[RX].base);
}

/* The remote core sends us a message: the RX interrupt fires. */

static int inject(const void *data, size_t size)
{
  int ret;

  pthread_mutex_lock(&g_inject_lock);
  memcpy(g_dev.chans[RX].rx_data, data, size);
  g_dev.chans[RX].rx_size = size;
  host_run_as_interrupt(rx_in_irq, &ret);
  pthread_mutex_unlock(&g_inject_lock);
  return ret;
}

/* Wait until the fake has sent n messages on TX (at most 5 s). */

static bool wait_nsent(int n)
{
  int64_t end = now_ms() + 5000;
  while (fake_nsent(&g_dev.chans[TX]) < n)
    {
      if (now_ms() > end)
        {
          return false;
        }

      sleep_ms(1);
    }

  return true;
}

/****************************************************************************
 * Requester threads
 ****************************************************************************/

struct requester_s
{
  pthread_t thread;
  uint8_t tag;
  uint8_t id;
  clock_t timeout;
  size_t cap;
  uint8_t resp[64];
  size_t resplen;
  int result;
  int done;
};

static void *requester_main(void *arg)
{
  struct requester_s *q = arg;
  uint8_t req[3] = { q->tag, 'q', q->id };

  q->result = mbox_rr_request(&g_rr, req, sizeof(req), q->resp, q->cap,
                              &q->resplen, q->timeout);
  __atomic_store_n(&q->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void start_requester_cap(struct requester_s *q, uint8_t tag,
                                uint8_t id, clock_t timeout, size_t cap)
{
  memset(q, 0, sizeof(*q));
  q->tag = tag;
  q->id = id;
  q->timeout = timeout;
  q->cap = cap;
  q->result = 12345;
  pthread_create(&q->thread, NULL, requester_main, q);
}

static void start_requester(struct requester_s *q, uint8_t tag, uint8_t id,
                            clock_t timeout)
{
  start_requester_cap(q, tag, id, timeout, sizeof(q->resp));
}

static bool is_done(struct requester_s *q)
{
  return __atomic_load_n(&q->done, __ATOMIC_SEQ_CST) != 0;
}

/* A reply to request (tag, id): tag, 'r', id, then `extra` filler bytes
 * (so that each reply has its own size).
 */

static int reply(uint8_t tag, uint8_t id, size_t extra)
{
  int ret;
  uint8_t msg[24];
  size_t i;

  msg[0] = tag;
  msg[1] = 'r';
  msg[2] = id;
  for (i = 0; i < extra && 3 + i < sizeof(msg); i++)
    {
      msg[3 + i] = (uint8_t)(0xa0 + id);
    }

  /* mbox_chan_rx_data() returns the size it received. */

  ret = inject(msg, 3 + i);
  return ret == (int)(3 + i) ? 0 : ret < 0 ? ret : -EIO;
}

/* The remote core of the tagged-reply test: waits for n requests, then
 * answers them in the reverse order of their arrival.
 */

struct remote_s
{
  pthread_t thread;
  int n;
  int ok;
  uint8_t order[8];                /* ids in the order answered */
};

static void *remote_reverse(void *arg)
{
  struct remote_s *r = arg;
  int i;

  if (!wait_nsent(r->n))
    {
      return NULL;
    }

  for (i = r->n - 1; i >= 0; i--)
    {
      struct fake_msg_s m = fake_sent(&g_dev.chans[TX], i);
      r->order[r->n - 1 - i] = m.data[2];
      if (reply(m.data[0], m.data[2], m.data[2]) != 0)
        {
          return NULL;
        }

      sleep_ms(2);
    }

  r->ok = 1;
  return NULL;
}

/****************************************************************************
 * Tests
 ****************************************************************************/

/* Each reply is tied to the request it answers. Four threads have requests
 * pending at once; the remote answers in the reverse order; each
 * requester gets exactly the reply to its own request.
 */

static void test_rr_each_requester_gets_its_own_reply(void)
{
  struct requester_s q[4];
  struct remote_s remote;
  uint8_t sent_ids[4];
  int i;

  setup(tag_first_byte);
  memset(&remote, 0, sizeof(remote));
  remote.n = 4;
  pthread_create(&remote.thread, NULL, remote_reverse, &remote);
  for (i = 0; i < 4; i++)
    {
      start_requester(&q[i], (uint8_t)(0x40 + i), (uint8_t)i, 3000);
    }

  for (i = 0; i < 4; i++)
    {
      pthread_join(q[i].thread, NULL);
    }

  pthread_join(remote.thread, NULL);
  CHECK(remote.ok);
  for (i = 0; i < 4; i++)
    {
      sent_ids[i] = fake_sent(&g_dev.chans[TX], i).data[2];
      CHECK_EQ(q[i].result, 0);
      CHECK_EQ(q[i].resp[0], 0x40 + i);          /* its own tag ... */
      CHECK_EQ(q[i].resp[1], 'r');
      CHECK_EQ(q[i].resp[2], i);                 /* ... and its own id */
      CHECK_EQ(q[i].resplen, 3 + i);             /* its reply's size */
      if (i > 0)
        {
          CHECK_EQ(q[i].resp[3 + i - 1], 0xa0 + i);
        }
    }

  /* The replies really came in another order than the requests went. */

  for (i = 0; i < 4; i++)
    {
      CHECK_EQ(remote.order[i], sent_ids[3 - i]);
    }

  CHECK(memcmp(remote.order, sent_ids, 4) != 0);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 4);
  CHECK_EQ(unsol_count(), 0);
  CHECK_EQ(mbox_rr_deinit(&g_rr), 0);
  teardown();
}

/* Without a tag function a reply answers the oldest pending request,
 * whatever it contains.
 */

static void test_rr_in_order_default(void)
{
  struct requester_s a;
  struct requester_s b;

  setup(NULL);
  start_requester(&a, 1, 'A', 3000);
  CHECK(wait_nsent(1));
  start_requester(&b, 2, 'B', 3000);
  CHECK(wait_nsent(2));
  sleep_ms(5);

  /* Byte 0 is B's "tag", but there is no tag: it is A's reply. */

  CHECK_EQ(reply(2, 'a', 0), 0);
  pthread_join(a.thread, NULL);
  CHECK_EQ(a.result, 0);
  CHECK_EQ(a.resp[2], 'a');
  CHECK(!is_done(&b));
  CHECK_EQ(reply(1, 'b', 5), 0);
  pthread_join(b.thread, NULL);
  CHECK_EQ(b.result, 0);
  CHECK_EQ(b.resp[2], 'b');
  CHECK_EQ(b.resplen, 8);

  /* Nothing pending: the next message is unsolicited. */

  CHECK_EQ(unsol_count(), 0);
  CHECK_EQ(reply(3, 'c', 0), 0);
  CHECK_EQ(unsol_count(), 1);
  teardown();
}

/* Messages that answer no request reach the unsolicited callback (in the
 * RX interrupt's context, with its argument) while a request waits, and
 * do not disturb it.
 */

static void test_rr_unsolicited_while_request_waits(void)
{
  struct requester_s q;
  static const uint8_t note[5] = { 99, 'n', 't', 'f', 'y' };

  setup(tag_first_byte);
  start_requester(&q, 5, 7, 3000);
  CHECK(wait_nsent(1));

  CHECK_EQ(inject(note, sizeof(note)), (int)sizeof(note)); /* no tag 99 */
  CHECK_EQ(unsol_count(), 1);
  CHECK_EQ(g_unsol.ret, 0);
  CHECK_EQ(g_unsol.size, sizeof(note));
  CHECK(memcmp(g_unsol.data, note, sizeof(note)) == 0);
  CHECK(g_unsol.arg == &g_unsol);
  CHECK(g_unsol.in_irq);

  CHECK_EQ(inject(note, 0), 0);                 /* no tag: -EBADMSG */
  CHECK_EQ(unsol_count(), 2);
  CHECK_EQ(g_unsol.size, 0);

  g_dev.chans[RX].recv_result = -EIO;           /* reception failed */
  CHECK_EQ(inject(note, 1), -EIO);
  g_dev.chans[RX].recv_result = 0;
  CHECK_EQ(unsol_count(), 3);
  CHECK_EQ(g_unsol.ret, -EIO);

  sleep_ms(5);
  CHECK(!is_done(&q));
  CHECK_EQ(reply(5, 7, 1), 0);
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, 0);
  CHECK_EQ(q.resp[2], 7);
  CHECK_EQ(q.resplen, 4);
  CHECK_EQ(unsol_count(), 3);
  teardown();
}

/* A request that gets no reply in time returns -ETIMEDOUT no earlier than
 * its timeout; its late reply is then unsolicited, and its tag is free.
 */

static void test_rr_timeout_then_late_reply_is_unsolicited(void)
{
  struct requester_s q;
  uint8_t req[3] = { 7, 'q', 1 };
  uint8_t resp[8];
  size_t len = 777;
  int64_t t0;
  int64_t took;

  setup(tag_first_byte);
  t0 = now_ms();
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, resp, sizeof(resp), &len,
                           HOST_MSEC2TICK(50)), -ETIMEDOUT);
  took = now_ms() - t0;
  CHECK(took >= 49);
  CHECK(took < 1000);
  CHECK_EQ(len, 777);                           /* untouched */
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);    /* it was sent */

  CHECK_EQ(reply(7, 1, 0), 0);                  /* the late reply */
  CHECK_EQ(unsol_count(), 1);
  CHECK_EQ(g_unsol.data[0], 7);
  CHECK_EQ(g_unsol.data[2], 1);

  start_requester(&q, 7, 2, 3000);              /* tag 7 is free again */
  CHECK(wait_nsent(2));
  CHECK_EQ(reply(7, 2, 0), 0);
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, 0);
  CHECK_EQ(q.resp[2], 2);
  CHECK_EQ(unsol_count(), 1);
  teardown();
}

/* A reply larger than the requester's buffer: -EMSGSIZE, the first bytes
 * copied, the real size reported, and the reply consumed.
 */

static void test_rr_reply_too_big_is_emsgsize(void)
{
  struct requester_s q;

  setup(tag_first_byte);
  start_requester_cap(&q, 3, 9, 3000, 4);
  CHECK(wait_nsent(1));
  CHECK_EQ(reply(3, 9, 17), 0);                 /* 20 bytes */
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, -EMSGSIZE);
  CHECK_EQ(q.resplen, 20);
  CHECK_EQ(q.resp[0], 3);
  CHECK_EQ(q.resp[2], 9);
  CHECK_EQ(q.resp[3], 0xa9);
  CHECK_EQ(q.resp[4], 0);                       /* nothing beyond cap */
  CHECK_EQ(unsol_count(), 0);
  CHECK_EQ(reply(3, 9, 0), 0);                  /* consumed: no longer */
  CHECK_EQ(unsol_count(), 1);                   /* pending */
  teardown();
}

/* mbox_rr_deinit() wakes a waiting requester with -ECANCELED, gives the
 * RX callback back, and refuses further use until init.
 */

static void test_rr_deinit_cancels_waiting_request(void)
{
  struct requester_s q;
  uint8_t req[3] = { 1, 'q', 0 };
  int nset;

  setup(tag_first_byte);
  start_requester(&q, 1, 0, MBOX_WAIT_FOREVER);
  CHECK(wait_nsent(1));
  sleep_ms(10);
  CHECK(!is_done(&q));
  nset = g_dev.chans[RX].nsetcallback;
  CHECK_EQ(mbox_rr_deinit(&g_rr), 0);
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, -ECANCELED);
  CHECK_EQ(g_dev.chans[RX].nsetcallback, nset + 1);   /* unregistered */
  CHECK(g_dev.chans[RX].base.callback == NULL);

  CHECK_EQ(mbox_rr_deinit(&g_rr), -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, NULL, 0, NULL, 100), -EINVAL);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  CHECK_EQ(reply(1, 0, 0), 0);              /* nobody listens: dropped */
  CHECK_EQ(unsol_count(), 0);

  /* It can be set up again. */

  CHECK_EQ(mbox_rr_init(&g_rr, &g_sender, &g_receiver, NULL,
                        unsolicited_cb, NULL), 0);
  CHECK_EQ(reply(1, 0, 0), 0);
  CHECK_EQ(unsol_count(), 1);
  teardown();
}

static void request_in_irq(void *arg)
{
  uint8_t req[3] = { 1, 'q', 0 };
  uint8_t resp[8];
  *(int *)arg = mbox_rr_request(&g_rr, req, 3, resp, sizeof(resp), NULL,
                                100);
}

static void test_rr_request_in_interrupt_is_eperm(void)
{
  int ret = 99;

  setup(tag_first_byte);
  host_run_as_interrupt(request_in_irq, &ret);
  CHECK_EQ(ret, -EPERM);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);
  teardown();
}

static void test_rr_argument_checks(void)
{
  struct mbox_rr_s rr2;
  struct mbox_sender_s on_rx;
  struct mbox_receiver_s on_tx;
  struct mbox_sender_s nochan = { 0 };
  struct requester_s q;
  uint8_t req[3] = { 9, 'q', 0 };
  uint8_t resp[8];

  setup(tag_first_byte);
  on_rx.chan = &g_dev.chans[RX].base;
  on_tx.chan = &g_dev.chans[TX].base;
  memset(&rr2, 0, sizeof(rr2));

  CHECK_EQ(mbox_rr_init(NULL, &g_sender, &g_receiver, NULL, NULL, NULL),
           -EINVAL);
  CHECK_EQ(mbox_rr_init(&rr2, NULL, &g_receiver, NULL, NULL, NULL),
           -EINVAL);
  CHECK_EQ(mbox_rr_init(&rr2, &g_sender, NULL, NULL, NULL, NULL), -EINVAL);
  CHECK_EQ(mbox_rr_init(&rr2, &nochan, &g_receiver, NULL, NULL, NULL),
           -EINVAL);
  CHECK_EQ(mbox_rr_init(&rr2, &on_rx, &g_receiver, NULL, NULL, NULL),
           -EINVAL);                               /* sender not TX */
  CHECK_EQ(mbox_rr_init(&rr2, &g_sender, &on_tx, NULL, NULL, NULL),
           -EINVAL);                               /* receiver not RX */
  CHECK_EQ(mbox_rr_request(&rr2, req, 3, resp, 8, NULL, 100), -EINVAL);
  CHECK_EQ(mbox_rr_deinit(&rr2), -EINVAL);
  CHECK_EQ(mbox_rr_deinit(NULL), -EINVAL);
  CHECK_EQ(mbox_rr_init(&g_rr, &g_sender, &g_receiver, NULL, NULL, NULL),
           -EBUSY);

  CHECK_EQ(mbox_rr_request(NULL, req, 3, resp, 8, NULL, 100), -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, NULL, 3, resp, 8, NULL, 100), -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, NULL, 8, NULL, 100), -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, resp, 8, NULL, 0), -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, resp, 8, NULL, (clock_t)-5),
           -EINVAL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 0, resp, 8, NULL, 100), -EBADMSG);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 0);    /* none of them was sent */

  /* One pending request per tag: the reply could not tell two apart. */

  start_requester(&q, 9, 1, 3000);
  CHECK(wait_nsent(1));
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, resp, 8, NULL, 100), -EBUSY);
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  CHECK_EQ(reply(9, 1, 0), 0);
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, 0);
  CHECK_EQ(q.resp[2], 1);
  teardown();
}

/* A failed send takes the request back: its error is returned and its
 * tag is free again.
 */

static void test_rr_send_error_is_returned_and_unlinks(void)
{
  struct requester_s q;
  uint8_t req[3] = { 4, 'q', 0 };
  uint8_t big[25] = { 4 };
  uint8_t resp[8];

  setup(tag_first_byte);
  g_dev.chans[TX].send_fail_count = 1;
  g_dev.chans[TX].send_fail_errno = -EIO;
  CHECK_EQ(mbox_rr_request(&g_rr, req, 3, resp, 8, NULL, 1000), -EIO);
  CHECK_EQ(mbox_rr_request(&g_rr, big, sizeof(big), resp, 8, NULL, 1000),
           -EMSGSIZE);                            /* above the MTU (24) */
  start_requester(&q, 4, 3, 3000);
  CHECK(wait_nsent(1));
  CHECK_EQ(reply(4, 3, 0), 0);
  pthread_join(q.thread, NULL);
  CHECK_EQ(q.result, 0);
  CHECK_EQ(unsol_count(), 0);
  teardown();
}

/* A 0-byte request goes to the lower half with the caller's own
 * pointer, as mbox_ticksend() passes it.
 */

static void test_rr_empty_request_keeps_the_callers_pointer(void)
{
  static const uint8_t req[1] = { 0 };
  uint8_t resp[8];

  setup(NULL);
  CHECK_EQ(mbox_rr_request(&g_rr, req, 0, resp, sizeof(resp), NULL, 20),
           -ETIMEDOUT);                                   /* no reply */
  CHECK_EQ(fake_nsent(&g_dev.chans[TX]), 1);
  CHECK(fake_sent(&g_dev.chans[TX], 0).ptr == (const void *)req);
  CHECK_EQ(fake_sent(&g_dev.chans[TX], 0).size, 0);
  teardown();
}

int main(void)
{
  RUN(test_rr_each_requester_gets_its_own_reply);
  RUN(test_rr_in_order_default);
  RUN(test_rr_unsolicited_while_request_waits);
  RUN(test_rr_timeout_then_late_reply_is_unsolicited);
  RUN(test_rr_reply_too_big_is_emsgsize);
  RUN(test_rr_deinit_cancels_waiting_request);
  RUN(test_rr_request_in_interrupt_is_eperm);
  RUN(test_rr_argument_checks);
  RUN(test_rr_send_error_is_returned_and_unlinks);
  RUN(test_rr_empty_request_keeps_the_callers_pointer);
  host_shutdown();
  return harness_finish();
}
