/* A C unit that uses the channel structure, for check-config-mismatch
 * (tools/check_config_mismatch.py): built with the library's
 * CONFIG_MBOX_TRACE setting it links and runs; built with the other
 * setting its link must fail on the configuration-check symbol.
 */

#include <errno.h>
#include <stdio.h>

#include <nuttx/mbox/mbox.h>

static struct mbox_chan_s g_chan;

int main(void)
{
  struct mbox_sender_s sender = { .chan = &g_chan };
  uint32_t msg = 0;

  /* g_chan was never initialised: the library refuses it. */

  int ret = mbox_ticksend(&sender, &msg, sizeof(msg), 0);
  printf("config_unit: sizeof(struct mbox_chan_s) = %zu, "
         "send on an uninitialised channel = %d\n",
         sizeof(struct mbox_chan_s), ret);
  return ret == -EINVAL ? 0 : 1;
}
