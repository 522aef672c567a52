
/****************************************************************************
 * Macros over the lower-half ops (NuttX names). The channel macros reach the
 * ops through c->dev->ops. Lower halves and board code may use them; clients
 * use the mbox_* functions above.
 ****************************************************************************/

#ifndef __INCLUDE_NUTTX_MBOX_MBOX_MACROS_H
#define __INCLUDE_NUTTX_MBOX_MBOX_MACROS_H

#define MBOX_WAIT_FOREVER ((clock_t)-1)

#define MBOX_GET_CHAN(d,a)         ((d)->ops->getchan((d), (a)))
#define MBOX_SETUP(c,a)            ((c)->dev->ops->setup((c), (a)))
#define MBOX_SHUTDOWN(c)           ((c)->dev->ops->shutdown(c))
#define MBOX_SEND(c,d,s)           ((c)->dev->ops->send((c), (d), (s)))
#define MBOX_RECV(c,d)             ((c)->dev->ops->recv((c), (d)))
#define MBOX_ACKNOWLEDGE(c,d,s)    ((c)->dev->ops->acknowledge((c), (d), (s)))
#define MBOX_TX_FINISH(c)          ((c)->dev->ops->txfinish(c))
#define MBOX_REGISTER_CALLBACK(c,cb,a) \
  ((c)->dev->ops->setcallback((c), (cb), (a)))
#define MBOX_RX_AVAILABLE(c)       ((c)->dev->ops->rxavailable(c))
#define MBOX_TX_READY(c)           ((c)->dev->ops->txready(c))
#define MBOX_TX_ACKED(c)           ((c)->dev->ops->txacked(c))

/* Bytes of TX channel buffer for a controller of the given txdepth that
 * also queues `qbytes` of messages (6 bytes of header, 14 with a TX-done
 * callback, plus the payload each): depth > 1 needs MBOX_TXSLOT_SIZE per
 * in-flight slot and up to 7 bytes to align them.
 */

#define MBOX_TXBUF_SIZE(depth, qbytes) \
  ((depth) > 1 ? 7 + (size_t)(depth) * MBOX_TXSLOT_SIZE + (qbytes) : (qbytes))

#endif /* __INCLUDE_NUTTX_MBOX_MBOX_MACROS_H */
