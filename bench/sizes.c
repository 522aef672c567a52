/****************************************************************************
 * bench/sizes.c
 *
 * sizeof and alignment of every public struct of the headers, for the
 * configuration given by -DCONFIG_MBOX_TRACE / -DCONFIG_MBOX_PL320.
 * Prints "sizeof <name> <size> <align>" lines for bench/run.py.
 ****************************************************************************/

#include <stdalign.h>
#include <stdio.h>

#include <nuttx/mbox/mbox.h>
#ifdef CONFIG_MBOX_PL320
#  include <nuttx/mbox/pl320.h>
#endif

#define SHOW(t) printf("sizeof %s %zu %zu\n", #t, sizeof(t), alignof(t))

int main(void)
{
  SHOW(struct mbox_chan_s);
  SHOW(struct mbox_dev_s);
  SHOW(struct mbox_ops_s);
  SHOW(struct mbox_sender_s);
  SHOW(struct mbox_receiver_s);
#ifdef CONFIG_MBOX_TRACE
  SHOW(struct mbox_stats_s);
#endif
#ifdef CONFIG_MBOX_PL320
  SHOW(struct pl320_chan_s);
  SHOW(struct pl320_config_s);
#endif
  return 0;
}
