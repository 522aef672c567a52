
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

#ifdef CONFIG_MBOX_TXFIFO
/* Bytes of TX channel buffer for a controller of the given txdepth that
 * also queues `qbytes` of messages (6 bytes of header, 14 with a TX-done
 * callback, plus the payload each): depth > 1 needs MBOX_TXSLOT_SIZE per
 * in-flight slot and up to 7 bytes to align them.
 */

#define MBOX_TXBUF_SIZE(depth, qbytes) \
  ((depth) > 1 ? 7 + (size_t)(depth) * MBOX_TXSLOT_SIZE + (qbytes) : (qbytes))
#endif

/* The C compiler lays the channel's private storage out with the size the
 * library's own state has (the library asserts its side at compile time):
 * a negative array size stops the build otherwise.
 */

typedef char mbox_chan_state_size_check
  [sizeof(struct mbox_chan_state_s) == MBOX_CHAN_STATE_SIZE ? 1 : -1];

/* Link-time configuration check. struct mbox_chan_s has its statistics only
 * with CONFIG_MBOX_TRACE, its state has the poll period only with
 * CONFIG_MBOX_TXDONE_METHODS, its client table the TX-done callbacks
 * only with CONFIG_MBOX_TXDONE_CALLBACK and the RX callbacks only with
 * CONFIG_MBOX_MULTI_RX (without it the RX callback's argument lies beside
 * the callback), and its state the external in-flight slots (struct
 * mbox_dev_s its txdepth) only with CONFIG_MBOX_TXFIFO, so a unit
 * compiled with another setting than
 * libmbox.a would disagree with the library on the layout of every channel.
 * Each unit that includes this header refers, for each such option, to the
 * symbol that only a library built with the unit's own setting defines: a
 * mismatch fails the link with an undefined reference to
 * mbox_config_with_CONFIG_MBOX_<OPTION> (the unit has it, the library does
 * not) or mbox_config_without_CONFIG_MBOX_<OPTION> (the other way round).
 * The reference is one read-only pointer per unit and option (kept through --gc-sections
 * where the toolchain supports the retain attribute: GCC 11 and clang 13
 * with binutils 2.36 or newer); no code runs.
 */

#if defined(__GNUC__) || defined(__clang__)
#  if defined(__has_attribute)
#    if __has_attribute(retain)
#      define MBOX_CONFIG_CHECK_ATTR __attribute__((used, retain))
#    endif
#  endif
#  ifndef MBOX_CONFIG_CHECK_ATTR
#    define MBOX_CONFIG_CHECK_ATTR __attribute__((used))
#  endif
#else
#  define MBOX_CONFIG_CHECK_ATTR
#endif

/* A GCC whose assembler lacked section retention when it was built knows
 * the attribute but ignores it with a warning: the reference then still
 * fails a link without --gc-sections, and the warning must not fail a
 * -Werror build.
 */

#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wattributes"
#endif
#ifdef CONFIG_MBOX_TRACE
static const uint8_t *const mbox_config_check MBOX_CONFIG_CHECK_ATTR =
  &mbox_config_with_CONFIG_MBOX_TRACE;
#else
static const uint8_t *const mbox_config_check MBOX_CONFIG_CHECK_ATTR =
  &mbox_config_without_CONFIG_MBOX_TRACE;
#endif
#ifdef CONFIG_MBOX_TXDONE_METHODS
static const uint8_t *const mbox_config_check_txdone_methods
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_with_CONFIG_MBOX_TXDONE_METHODS;
#else
static const uint8_t *const mbox_config_check_txdone_methods
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_without_CONFIG_MBOX_TXDONE_METHODS;
#endif
#ifdef CONFIG_MBOX_TXDONE_CALLBACK
static const uint8_t *const mbox_config_check_txdone_callback
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_with_CONFIG_MBOX_TXDONE_CALLBACK;
#else
static const uint8_t *const mbox_config_check_txdone_callback
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_without_CONFIG_MBOX_TXDONE_CALLBACK;
#endif
#ifdef CONFIG_MBOX_TXFIFO
static const uint8_t *const mbox_config_check_txfifo
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_with_CONFIG_MBOX_TXFIFO;
#else
static const uint8_t *const mbox_config_check_txfifo
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_without_CONFIG_MBOX_TXFIFO;
#endif
#ifdef CONFIG_MBOX_MULTI_RX
static const uint8_t *const mbox_config_check_multi_rx
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_with_CONFIG_MBOX_MULTI_RX;
#else
static const uint8_t *const mbox_config_check_multi_rx
  MBOX_CONFIG_CHECK_ATTR = &mbox_config_without_CONFIG_MBOX_MULTI_RX;
#endif
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif

#endif /* __INCLUDE_NUTTX_MBOX_MBOX_MACROS_H */
