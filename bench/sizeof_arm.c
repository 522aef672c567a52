/****************************************************************************
 * bench/sizeof_arm.c
 *
 * sizeof of the public structs for a target the bench cannot run (the Arm
 * size link of bench/run.py): each struct gets an array of its size, and
 * run.py reads the sizes back with `llvm-nm -S` from the object. Same
 * structs as bench/sizes.c, for -DCONFIG_MBOX_TRACE / -DCONFIG_MBOX_PL320.
 ****************************************************************************/

#include <nuttx/mbox/mbox.h>
#ifdef CONFIG_MBOX_PL320
#  include <nuttx/mbox/pl320.h>
#endif

#define SHOW(s) char sizeof_struct_##s[sizeof(struct s)]

SHOW(mbox_chan_s);
SHOW(mbox_dev_s);
SHOW(mbox_ops_s);
SHOW(mbox_sender_s);
SHOW(mbox_receiver_s);
#ifdef CONFIG_MBOX_TRACE
SHOW(mbox_stats_s);
#endif
#ifdef CONFIG_MBOX_PL320
SHOW(pl320_chan_s);
SHOW(pl320_config_s);
#endif
