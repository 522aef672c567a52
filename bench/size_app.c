/****************************************************************************
 * bench/size_app.c
 *
 * A minimal C program that calls the NuttX mailbox API of libmbox (what
 * the NuttX C driver offers, plus mbox_chan_tx_done_token(), which the
 * PL320 lower half uses), linked with -ffunction-sections -Wl,--gc-sections
 * and a linker map: bench/run.py sums the .text and .rodata input sections
 * that the link kept from libmbox.a, i.e. what a firmware image that uses
 * that API pays for the library, to compare like with like with the C
 * driver.
 *
 * Left out, because the C driver has no counterpart and a firmware that
 * does not call them does not pay for them (--gc-sections drops them):
 * the functions beyond the NuttX API (mbox_register_txdone,
 * mbox_chan_mtu, mbox_chan_txdepth, mbox_dev_max_chans,
 * mbox_chan_set_txdone, mbox_client_txdone, mbox_send_poll, mbox_rr_init,
 * mbox_rr_request, mbox_rr_deinit) and pl320_uninitialize. bench/run.py
 * lists every public function this file does not call, and BENCHMARKS.md
 * prints that list next to the size figures.
 * Built with -DSIZE_NO_CALLS it calls nothing (the baseline: libmbox must
 * then contribute nothing). The port comes from bench/port_min.c and is not
 * counted.
 ****************************************************************************/

#include <stdint.h>

#include <nuttx/mbox/mbox.h>
#ifdef CONFIG_MBOX_PL320
#  include <nuttx/mbox/pl320.h>
#endif

#ifndef SIZE_NO_CALLS
static int cb(int ret, struct mbox_chan_s *chan, void *arg, void *data,
              size_t size)
{
  (void)chan;
  (void)arg;
  (void)data;
  return ret + (int)size;
}
#endif

int main(int argc, char **argv)
{
#ifndef SIZE_NO_CALLS
  /* Never true at run time: the calls only have to be linked. */

  if (argc > 100)
    {
      struct mbox_dev_s *dev = (struct mbox_dev_s *)argv[1];
      struct mbox_chan_s *chan = mbox_get_chan(dev, argv[2]);
      struct mbox_sender_s s = { chan, NULL };
      struct mbox_receiver_s r = { chan, NULL };
      uint8_t msg[4] = { 0 };
      int ret = 0;

      ret |= mbox_chan_init(chan, dev, MBOX_TX, (uint8_t *)argv[3], 64);
      ret |= mbox_send(&s, msg, sizeof(msg));
      ret |= mbox_ticksend(&s, msg, sizeof(msg), 0);
      ret |= mbox_chan_tx_done_checked(chan);
      ret |= mbox_chan_tx_done_token(chan, 1);
      ret |= mbox_chan_rx_data(chan);
      ret |= mbox_register_rxcallback(&r, cb, NULL);
      ret |= mbox_unregister_rxcallback(&r);
#  ifdef CONFIG_MBOX_TRACE
      struct mbox_stats_s st;
      ret |= mbox_chan_get_stats_checked(chan, &st);
#  endif
#  ifdef CONFIG_MBOX_PL320
      ret |= pl320_initialize((const struct pl320_config_s *)argv[4],
                              (uintptr_t)argv[5]) != NULL;
#  endif
      ret |= mbox_chan_deinit(chan);
      return ret;
    }
#endif

  (void)argc;
  (void)argv;
  return 0;
}
