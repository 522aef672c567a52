/****************************************************************************
 * bench/size_app.c
 *
 * A minimal C program that uses the whole public API of libmbox, linked
 * with -ffunction-sections -Wl,--gc-sections and a linker map: bench/run.py
 * sums the .text and .rodata input sections that the link kept from
 * libmbox.a, i.e. what a firmware image actually pays for the library.
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
