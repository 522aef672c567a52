/****************************************************************************
 * ffi/host/pl320_model.h
 *
 * A register-accurate model of the ARM PL320 Inter-Processor Communications
 * Module (IPCM, ARM DDI0306B) for the host port.
 *
 * The model maps itself on the host register bus (host.h) and drives one
 * host interrupt per IPCM interrupt line, so that the PL320 lower half of
 * libmbox can run unmodified against it, with two simulated cores (two
 * sets of threads, each with its own interrupt line) sharing one IPCM.
 *
 * It also counts protocol errors (register writes that the TRM's flow
 * does not allow) and can inject acknowledge faults per mailbox, to test
 * how the driver and the upper half cope with a misbehaving remote.
 ****************************************************************************/

#ifndef __LIBMBOX_FFI_HOST_PL320_MODEL_H
#define __LIBMBOX_FFI_HOST_PL320_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

/* Size of the register window the model occupies on the bus. */

#define PL320M_WINDOW_SIZE      0x1000

/* Register offsets from the model's base (DDI0306B). */

#define PL320M_MBOX(m)          ((uint32_t)(m) * 0x40u)
#define PL320M_SOURCE(m)        (PL320M_MBOX(m) + 0x00u)
#define PL320M_DSET(m)          (PL320M_MBOX(m) + 0x04u)
#define PL320M_DCLEAR(m)        (PL320M_MBOX(m) + 0x08u)
#define PL320M_DSTATUS(m)       (PL320M_MBOX(m) + 0x0cu)
#define PL320M_MODE(m)          (PL320M_MBOX(m) + 0x10u)
#define PL320M_MSET(m)          (PL320M_MBOX(m) + 0x14u)
#define PL320M_MCLEAR(m)        (PL320M_MBOX(m) + 0x18u)
#define PL320M_MSTATUS(m)       (PL320M_MBOX(m) + 0x1cu)
#define PL320M_SEND(m)          (PL320M_MBOX(m) + 0x20u)
#define PL320M_DR(m, d)         (PL320M_MBOX(m) + 0x24u + 4u * (uint32_t)(d))

#define PL320M_MIS(i)           (0x800u + 8u * (uint32_t)(i))
#define PL320M_RIS(i)           (0x804u + 8u * (uint32_t)(i))
#define PL320M_CFGSTAT          0x900u
#define PL320M_PERIPHID(n)      (0xfe0u + 4u * (uint32_t)(n))
#define PL320M_PCELLID(n)       (0xff0u + 4u * (uint32_t)(n))

/* MODE bits and SEND values. */

#define PL320M_MODE_AUTOACK     0x1u
#define PL320M_MODE_AUTOLINK    0x2u

#define PL320M_SEND_IDLE        0u
#define PL320M_SEND_MSG         1u
#define PL320M_SEND_ACK         2u

/* Limits of the IP configuration. */

#define PL320M_MAX_MBOX         32
#define PL320M_MAX_INT          32
#define PL320M_MAX_DATA         7

/****************************************************************************
 * Public Types
 ****************************************************************************/

struct pl320_model_s;

/* Counters, all since creation. */

struct pl320_model_stats_s
{
  unsigned long protocol_errors;      /* Writes the IPCM flow forbids */
  unsigned long source_write_ignored; /* Claim of a mailbox already owned */
  unsigned long acks_dropped;         /* ACKs lost by DROP_ACK */
  unsigned long acks_delayed;         /* ACKs postponed by DELAY_ACK */
  unsigned long acks_duplicated;      /* ACKs repeated by DUP_ACK */
  unsigned long writes;               /* Every register write on the bus */
};

/* Acknowledge faults, injected per mailbox. An "ACK" is any write of 2 to
 * SEND (the destination acknowledging); auto-acknowledge by the hardware
 * is not affected.
 *
 *   DROP_ACK   The SEND write is ignored and DSTATUS cleared, as if the
 *              destination consumed the message but its ACK got lost:
 *              the destination's line falls, the source never sees an
 *              ACK.
 *   DELAY_ACK  As DROP_ACK now, and delay_ms later the ACK is applied
 *              anyway, whatever the mailbox holds by then: a remote that
 *              ACKs late. The late ACK replays the destination's writes:
 *              DR0 as it wrote it, if it wrote DR0 while the message was
 *              pending (the framed format's ACK word; a legacy remote
 *              writes SEND alone and the data registers are left as
 *              they are), then SEND = 2. Ignored if the mailbox was
 *              released meanwhile.
 *   DUP_ACK    The ACK is applied now, and again delay_ms later (the same
 *              writes: DR0 if it was written, SEND = 2) if SOURCE is
 *              still set.
 */

enum pl320_fault_e
{
  PL320_FAULT_NONE = 0,
  PL320_FAULT_DROP_ACK,
  PL320_FAULT_DELAY_ACK,
  PL320_FAULT_DUP_ACK
};

/****************************************************************************
 * Public Function Prototypes
 ****************************************************************************/

/* Create a model with nmbox mailboxes (1..32), nint interrupt lines
 * (1..32) and datanum data registers per mailbox (1..7), and map it on the
 * host bus at base (PL320M_WINDOW_SIZE bytes). irq_of_line[i] is the host
 * IRQ driven by interrupt line i, or -1 for an unconnected line; it has
 * nint entries (NULL: no line connected). Several lines may share one
 * IRQ (it is then the OR of them). Returns NULL on bad arguments, an
 * address clash on the bus, or no memory.
 */

struct pl320_model_s *pl320_model_create(uintptr_t base, int nmbox,
                                         int nint, int datanum,
                                         const int *irq_of_line);

/* Unmap the model (waits for accesses in progress), stop its fault
 * helper thread, lower its interrupt lines and free it.
 */

void pl320_model_destroy(struct pl320_model_s *m);

/* Copy the counters. */

void pl320_model_get_stats(struct pl320_model_s *m,
                           struct pl320_model_stats_s *s);

/* Inject fault f into mailbox mbox for the next count ACKs (0: until
 * changed). PL320_FAULT_NONE removes a fault. delay_ms is used by
 * DELAY_ACK and DUP_ACK.
 */

void pl320_model_set_fault(struct pl320_model_s *m, int mbox,
                           enum pl320_fault_e f, unsigned delay_ms,
                           unsigned count);

/* Arm a one-shot late ACK with reply data, landing exactly at a write:
 * the next time value is written to the mailbox register at offset (e.g.
 * PL320M_DR(mb, 6) or PL320M_SEND(mb)), the destination's ACK of mailbox
 * offset / 0x40 is applied atomically with that write, just before it
 * (before = true) or just after it: DR0 = dr0 (the reply data a legacy
 * remote may leave in the data registers), then SEND = 2. Ignored if the
 * mailbox is released by then. A later call re-arms; an offset outside
 * the mailboxes disarms.
 */

void pl320_model_ack_at_write(struct pl320_model_s *m, uint32_t offset,
                              uint32_t value, bool before, uint32_t dr0);

/* Deliver one spurious interrupt on the host IRQ of interrupt line `line`
 * (host_irq_pulse()); nothing if the line is not connected.
 */

void pl320_model_raise_spurious(struct pl320_model_s *m, int line);

#ifdef __cplusplus
}
#endif

#endif /* __LIBMBOX_FFI_HOST_PL320_MODEL_H */
