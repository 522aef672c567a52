/****************************************************************************
 * ctest/test_pl320_regressions.c
 *
 * Deterministic reproductions of two races that the stress test
 * (test_race.c) found, kept as regression tests:
 *
 * 1. The remote's ACK of message A is two register writes (DR0 = A's token
 *    with the ACK mark, then SEND = 2). If the sender times A out and sends
 *    B between them, SEND = 2 lands on B's header. The sender must not take
 *    that for B's ACK (the remote never read B).
 * 2. mbox_chan_deinit() while a reception is in its client callback must
 *    not return before that callback has finished; a re-init afterwards
 *    must not overlap it.
 ****************************************************************************/

#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>

#include "fake_lower.h"
#include "harness.h"
#include "host.h"
#include "pl320_model.h"

#define BASE ((uintptr_t)0x2c000000u)

/****************************************************************************
 * 1. An ACK split around a timeout and the next send
 ****************************************************************************/

static struct pl320_chan_s g_chans[1];
static uint8_t g_txbuf[256];
static struct mbox_sender_s g_snd;

struct job_s
{
  const char *msg;
  clock_t timeout;
  int ret;
};

static void *send_main(void *arg)
{
  struct job_s *j = arg;
  j->ret = mbox_ticksend(&g_snd, j->msg, strlen(j->msg), j->timeout);
  return NULL;
}

static uint32_t rd(uint32_t off)
{
  return mbox_os_getreg32(BASE + off);
}

static void wr(uint32_t off, uint32_t v)
{
  mbox_os_putreg32(BASE + off, v);
}

static bool wait_send_state(uint32_t v)
{
  int i;
  for (i = 0; i < 20000; i++)
    {
      if (rd(PL320M_SEND(0)) == v)
        {
          return true;
        }

      usleep(100);
    }

  return false;
}

static void test_split_ack_does_not_complete_next_message(void)
{
  int lines[2] = { -1, 13 };   /* line 0: the remote, driven by hand */
  struct pl320_model_s *m = pl320_model_create(BASE, 32, 2, 7, lines);
  struct pl320_config_s cfg;
  struct job_s a = { "message A", 20, 1 };
  struct job_s b = { "message B", 300, 1 };
  pthread_t t;
  uint32_t tok_a;

  CHECK(m != NULL);
  memset(g_chans, 0, sizeof(g_chans));
  g_chans[0].base.timeout = 20;
  g_chans[0].mbox = 0;
  g_chans[0].src = 1;
  g_chans[0].dst = 0;
  g_chans[0].ctrl = true;
  g_chans[0].txbuf = g_txbuf;
  g_chans[0].bufsize = sizeof(g_txbuf);
  cfg.chans = g_chans;
  cfg.num_chans = 1;
  cfg.ipcmint = 1;
  cfg.irq_num = 13;
  CHECK(pl320_initialize(&cfg, BASE) != NULL);
  g_snd.chan = mbox_get_chan(g_chans[0].base.dev, (void *)0);
  CHECK(g_snd.chan != NULL);

  pthread_create(&t, NULL, send_main, &a);
  CHECK(wait_send_state(PL320M_SEND_MSG));            /* A in the mailbox */
  tok_a = rd(PL320M_DR(0, 0)) >> 16;
  wr(PL320M_DR(0, 0), (tok_a << 16) | 0x100);         /* ACK, first half */
  pthread_join(t, NULL);                              /* A times out */
  CHECK_EQ(a.ret, -ETIMEDOUT);

  pthread_create(&t, NULL, send_main, &b);
  CHECK(wait_send_state(PL320M_SEND_MSG));            /* B in the mailbox */
  wr(PL320M_SEND(0), PL320M_SEND_ACK);                /* ACK, second half */
  pthread_join(t, NULL);

  /* The remote never read B: B must not be reported as acknowledged. */

  CHECK_EQ(b.ret, -ETIMEDOUT);
  pl320_model_destroy(m);
}

/****************************************************************************
 * 2. deinit while a reception runs its callback
 ****************************************************************************/

static struct fake_dev_s g_dev;
static struct mbox_receiver_s g_rcv;
static pthread_mutex_t g_l = PTHREAD_MUTEX_INITIALIZER;
static int g_in_cb;
static int g_deinit_returned;
static int g_exits;
static int g_first_exit_after_deinit = -1;
static int g_concurrent;

static int slow_cb(int ret, struct mbox_chan_s *c, void *arg, void *d,
                   size_t n)
{
  (void)ret; (void)c; (void)arg; (void)d; (void)n;
  pthread_mutex_lock(&g_l);
  g_concurrent |= g_in_cb != 0;
  g_in_cb++;
  pthread_mutex_unlock(&g_l);
  usleep(100000);                       /* a slow client callback */
  pthread_mutex_lock(&g_l);
  if (++g_exits == 1)
    {
      g_first_exit_after_deinit = g_deinit_returned;
    }

  g_in_cb--;
  pthread_mutex_unlock(&g_l);
  return 0;
}

static void *rx_main(void *arg)
{
  (void)arg;
  mbox_chan_rx_data(&g_dev.chans[1].base);
  return NULL;
}

static void test_deinit_waits_for_reception_in_progress(void)
{
  struct mbox_chan_s *c = &g_dev.chans[1].base;
  pthread_t t1;
  pthread_t t2;

  fake_dev_init(&g_dev, 16);
  g_dev.chans[1].rx_size = 4;
  CHECK_EQ(mbox_chan_init(c, &g_dev.base, MBOX_RX, NULL, 0), 0);
  g_rcv.chan = c;
  CHECK_EQ(mbox_register_rxcallback(&g_rcv, slow_cb, NULL), 0);
  pthread_create(&t1, NULL, rx_main, NULL);   /* "CPU1": a reception */
  usleep(30000);                              /* ... now in its callback */
  CHECK_EQ(mbox_chan_deinit(c), 0);           /* "CPU0" */
  pthread_mutex_lock(&g_l);
  g_deinit_returned = 1;
  pthread_mutex_unlock(&g_l);
  CHECK_EQ(mbox_chan_init(c, &g_dev.base, MBOX_RX, NULL, 0), 0);
  CHECK_EQ(mbox_register_rxcallback(&g_rcv, slow_cb, NULL), 0);
  pthread_create(&t2, NULL, rx_main, NULL);   /* a new reception */
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);

  /* The first reception's callback ended before deinit returned, and the
   * second one did not overlap it.
   */

  CHECK_EQ(g_first_exit_after_deinit, 0);
  CHECK_EQ(g_exits, 2);
  CHECK_EQ(g_concurrent, 0);
  fake_dev_stop(&g_dev);
  mbox_chan_deinit(c);
}

int main(void)
{
  RUN(test_split_ack_does_not_complete_next_message);
  RUN(test_deinit_waits_for_reception_in_progress);
  host_shutdown();
  return harness_finish();
}
