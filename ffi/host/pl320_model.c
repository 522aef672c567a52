/****************************************************************************
 * ffi/host/pl320_model.c
 *
 * Register model of the ARM PL320 IPCM (DDI0306B) on the host bus.
 *
 * State per mailbox: SOURCE, DSTATUS, MODE, MSTATUS, SEND and DATANUM data
 * registers. Interrupt line i of mailbox m is active when MSTATUS bit i is
 * set and either a message is pending for destination i (SEND == 1 and
 * DSTATUS bit i) or an acknowledge is pending for source i (SEND == 2 and
 * SOURCE bit i). Line i is asserted while any mailbox has it active; the
 * model recomputes the levels after every write and reports changes to the
 * host interrupt controller.
 *
 * Concurrency: one mutex protects the whole model. Register accesses come
 * from several threads (the two simulated cores and their ISR threads)
 * and from the fault helper thread that applies delayed ACKs.
 * host_irq_set_level() is called with that mutex held; it only records the
 * level and signals the delivery thread, so no ISR runs under it.
 ****************************************************************************/

/****************************************************************************
 * Included Files
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "pl320_model.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define NSEC_PER_SEC        1000000000LL

/* Register offsets inside one mailbox's 0x40-byte block. */

#define REG_SOURCE          0x00u
#define REG_DSET            0x04u
#define REG_DCLEAR          0x08u
#define REG_DSTATUS         0x0cu
#define REG_MODE            0x10u
#define REG_MSET            0x14u
#define REG_MCLEAR          0x18u
#define REG_MSTATUS         0x1cu
#define REG_SEND            0x20u
#define REG_DR0             0x24u

#define MBOX_STRIDE         0x40u
#define GLOBAL_BASE         0x800u   /* First offset after the mailboxes */

/* Identification registers (part 0x320, designer 0x41 'A', revision 0). */

static const uint32_t g_periph_id[4] =
{
  0x20, 0x13, 0x04, 0x00
};

static const uint32_t g_pcell_id[4] =
{
  0x0d, 0xf0, 0x05, 0xb1
};

/****************************************************************************
 * Private Types
 ****************************************************************************/

struct pl320_mbox_s
{
  uint32_t source;
  uint32_t dstatus;
  uint32_t mode;
  uint32_t mstatus;
  uint32_t send;
  uint32_t dr[PL320M_MAX_DATA];
  bool     dest_wrote_dr0;  /* DR0 written while SEND == 1 (an ACK word) */

  /* Injected fault */

  enum pl320_fault_e fault;
  unsigned           fault_delay_ms;
  unsigned           fault_left;    /* ACKs still affected; 0 = forever */
};

/* An ACK that the helper thread applies later (DELAY_ACK, DUP_ACK). */

struct pl320_action_s
{
  struct pl320_action_s *next;
  int64_t                due;       /* CLOCK_MONOTONIC ns */
  int                    mbox;
  uint32_t               dr0;       /* What the destination wrote */
  bool                   has_dr0;   /* It wrote DR0 (else SEND alone) */
};

struct pl320_model_s
{
  pthread_mutex_t lock;
  pthread_cond_t  cond;             /* Action list changed, or stop */
  uintptr_t       base;
  int             nmbox;
  int             nint;
  int             datanum;
  int             irq[PL320M_MAX_INT];    /* Host IRQ per line, or -1 */
  bool            level[PL320M_MAX_INT];  /* Last level reported */
  struct pl320_mbox_s mb[PL320M_MAX_MBOX];
  struct pl320_model_stats_s stats;
  struct pl320_action_s *actions;   /* Sorted by due time */

  /* One-shot ACK with reply data at a given write (test hook) */

  bool            trig_armed;
  bool            trig_before;
  uint32_t        trig_offset;
  uint32_t        trig_value;
  uint32_t        trig_dr0;
  bool            stop;
  pthread_t       helper;
};

/****************************************************************************
 * Private Functions
 ****************************************************************************/

static int64_t pl320_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/****************************************************************************
 * Name: pl320_line_active
 *
 * Description:
 *   Whether interrupt line i of mailbox b is active; masked says whether
 *   MSTATUS applies (MIS) or not (RIS).
 *
 ****************************************************************************/

static bool pl320_line_active(const struct pl320_mbox_s *b, int i,
                              bool masked)
{
  uint32_t bit = 1u << i;

  if (masked && (b->mstatus & bit) == 0)
    {
      return false;
    }

  return (b->send == PL320M_SEND_MSG && (b->dstatus & bit) != 0) ||
         (b->send == PL320M_SEND_ACK && (b->source & bit) != 0);
}

/****************************************************************************
 * Name: pl320_status
 *
 * Description:
 *   IPCMMIS(i) / IPCMRIS(i): one bit per mailbox whose line i is active.
 *
 ****************************************************************************/

static uint32_t pl320_status(const struct pl320_model_s *m, int i,
                             bool masked)
{
  uint32_t status = 0;
  int mb;

  for (mb = 0; mb < m->nmbox; mb++)
    {
      if (pl320_line_active(&m->mb[mb], i, masked))
        {
          status |= 1u << mb;
        }
    }

  return status;
}

/****************************************************************************
 * Name: pl320_update_lines
 *
 * Description:
 *   Recompute every line's level and tell the interrupt controller about
 *   the ones that changed. A host IRQ shared by several lines gets the OR
 *   of them. Model lock held.
 *
 ****************************************************************************/

static void pl320_update_lines(struct pl320_model_s *m)
{
  bool changed[PL320M_MAX_INT];
  bool any = false;
  int i;
  int j;

  for (i = 0; i < m->nint; i++)
    {
      bool level = pl320_status(m, i, true) != 0;

      changed[i] = level != m->level[i];
      m->level[i] = level;
      any |= changed[i];
    }

  if (!any)
    {
      return;
    }

  for (i = 0; i < m->nint; i++)
    {
      bool level = false;

      if (!changed[i] || m->irq[i] < 0)
        {
          continue;
        }

      for (j = 0; j < m->nint; j++)
        {
          if (m->irq[j] == m->irq[i] && m->level[j])
            {
              level = true;
            }
        }

      host_irq_set_level(m->irq[i], level);
    }
}

/****************************************************************************
 * Name: pl320_schedule_ack
 *
 * Description:
 *   Queue an ACK (DR0 value, then SEND = 2) for mailbox mb, delay_ms from
 *   now, for the helper thread. Model lock held.
 *
 ****************************************************************************/

static void pl320_schedule_ack(struct pl320_model_s *m, int mb,
                               unsigned delay_ms, bool has_dr0,
                               uint32_t dr0)
{
  struct pl320_action_s *a;
  struct pl320_action_s **pp;

  a = malloc(sizeof(*a));
  if (a == NULL)
    {
      fprintf(stderr, "pl320_model: out of memory for a delayed ACK\n");
      abort();
    }

  a->due = pl320_now_ns() + (int64_t)delay_ms * 1000000LL;
  a->mbox = mb;
  a->dr0 = dr0;
  a->has_dr0 = has_dr0;

  /* Keep the list sorted; equal due times stay in arrival order. */

  for (pp = &m->actions; *pp != NULL && (*pp)->due <= a->due;
       pp = &(*pp)->next)
    {
    }

  a->next = *pp;
  *pp = a;
  pthread_cond_signal(&m->cond);
}

/****************************************************************************
 * Name: pl320_apply_late_ack
 *
 * Description:
 *   The remote's ACK arriving now: its writes replayed, whatever message
 *   the mailbox carries by now: DR0 if the destination wrote DR0 with its
 *   ACK (a legacy remote writes SEND alone, and then the data registers
 *   stay as the source wrote them since), then SEND = 2. A released
 *   mailbox ignores it, as it would ignore the register writes. Model
 *   lock held.
 *
 ****************************************************************************/

static void pl320_apply_late_ack(struct pl320_model_s *m,
                                 const struct pl320_action_s *a)
{
  struct pl320_mbox_s *b = &m->mb[a->mbox];

  if (b->source == 0)
    {
      return;
    }

  if (a->has_dr0)
    {
      b->dr[0] = a->dr0;
    }

  b->send = PL320M_SEND_ACK;
  pl320_update_lines(m);
}

/****************************************************************************
 * Name: pl320_helper
 *
 * Description:
 *   Applies queued ACKs when they are due.
 *
 ****************************************************************************/

static void *pl320_helper(void *arg)
{
  struct pl320_model_s *m = arg;
  struct pl320_action_s *a;
  struct timespec ts;

  pthread_mutex_lock(&m->lock);

  while (!m->stop)
    {
      a = m->actions;
      if (a == NULL)
        {
          pthread_cond_wait(&m->cond, &m->lock);
          continue;
        }

      if (a->due > pl320_now_ns())
        {
          ts.tv_sec = (time_t)(a->due / NSEC_PER_SEC);
          ts.tv_nsec = (long)(a->due % NSEC_PER_SEC);
          pthread_cond_timedwait(&m->cond, &m->lock, &ts);
          continue;
        }

      m->actions = a->next;
      pl320_apply_late_ack(m, a);
      free(a);
    }

  pthread_mutex_unlock(&m->lock);
  return NULL;
}

/****************************************************************************
 * Name: pl320_write_ack
 *
 * Description:
 *   A write of 2 to SEND (the destination's ACK), through the mailbox's
 *   fault injection. Model lock held.
 *
 ****************************************************************************/

static void pl320_write_ack(struct pl320_model_s *m, int mb)
{
  struct pl320_mbox_s *b = &m->mb[mb];
  enum pl320_fault_e fault = b->fault;

  if (fault != PL320_FAULT_NONE && b->fault_left > 0 &&
      --b->fault_left == 0)
    {
      /* This is the last ACK the fault applies to. */

      b->fault = PL320_FAULT_NONE;
    }

  switch (fault)
    {
      case PL320_FAULT_DROP_ACK:
        m->stats.acks_dropped++;
        b->dstatus = 0;
        break;

      case PL320_FAULT_DELAY_ACK:
        m->stats.acks_delayed++;
        b->dstatus = 0;
        pl320_schedule_ack(m, mb, b->fault_delay_ms, b->dest_wrote_dr0,
                           b->dr[0]);
        break;

      case PL320_FAULT_DUP_ACK:
        m->stats.acks_duplicated++;
        b->send = PL320M_SEND_ACK;
        pl320_schedule_ack(m, mb, b->fault_delay_ms, b->dest_wrote_dr0,
                           b->dr[0]);
        break;

      case PL320_FAULT_NONE:
      default:
        b->send = PL320M_SEND_ACK;
        break;
    }
}

/****************************************************************************
 * Name: pl320_write_mbox
 *
 * Description:
 *   A write to register reg of mailbox mb. Model lock held.
 *
 ****************************************************************************/

static void pl320_write_mbox(struct pl320_model_s *m, int mb, uint32_t reg,
                             uint32_t value)
{
  struct pl320_mbox_s *b = &m->mb[mb];
  uint32_t prev;

  /* Read-only registers, and data registers the configuration does not
   * have: the write goes nowhere.
   */

  if (reg == REG_DSTATUS || reg == REG_MSTATUS ||
      (reg >= REG_DR0 &&
       (reg - REG_DR0) / 4 >= (uint32_t)m->datanum))
    {
      return;
    }

  if (reg == REG_SOURCE)
    {
      if (value == 0)
        {
          /* Release: the mailbox is free again, its data stays. */

          b->source = 0;
          b->dstatus = 0;
          b->mode = 0;
          b->mstatus = 0;
          b->send = PL320M_SEND_IDLE;
        }
      else if (b->source != 0)
        {
          /* Another channel owns it: the claim fails, which the sender
           * finds out by reading SOURCE back. Normal contention, not an
           * error.
           */

          m->stats.source_write_ignored++;
        }
      else if ((value & (value - 1)) != 0)
        {
          m->stats.protocol_errors++;  /* Not one-hot */
        }
      else
        {
          b->source = value;
        }

      return;
    }

  /* Everything else needs the mailbox claimed first. */

  if (b->source == 0)
    {
      m->stats.protocol_errors++;
      return;
    }

  switch (reg)
    {
      case REG_DSET:
        b->dstatus |= value;
        break;

      case REG_DCLEAR:
        prev = b->dstatus;
        b->dstatus &= ~value;

        /* Auto-acknowledge: the last destination clearing its bit sends
         * the ACK (the only way to collect several destinations' ACKs).
         */

        if ((b->mode & PL320M_MODE_AUTOACK) != 0 &&
            b->send == PL320M_SEND_MSG && prev != 0 && b->dstatus == 0)
          {
            b->send = PL320M_SEND_ACK;
          }
        break;

      case REG_MODE:
        b->mode = value & (PL320M_MODE_AUTOACK | PL320M_MODE_AUTOLINK);
        break;

      case REG_MSET:
        b->mstatus |= value;
        break;

      case REG_MCLEAR:
        b->mstatus &= ~value;
        break;

      case REG_SEND:
        if (value == PL320M_SEND_ACK)
          {
            pl320_write_ack(m, mb);
          }
        else if (value == PL320M_SEND_IDLE || value == PL320M_SEND_MSG)
          {
            b->send = value;
            if (value == PL320M_SEND_MSG)
              {
                b->dest_wrote_dr0 = false;
              }
          }
        else
          {
            /* 3 is "unpredictable" in the TRM: refuse it visibly. */

            m->stats.protocol_errors++;
          }
        break;

      default:  /* Data register below DATANUM (checked above) */
        b->dr[(reg - REG_DR0) / 4] = value;
        if (reg == REG_DR0 && b->send == PL320M_SEND_MSG)
          {
            b->dest_wrote_dr0 = true;
          }
        break;
    }
}

/****************************************************************************
 * Name: pl320_bus_write / pl320_bus_read
 *
 * Description:
 *   Register access callbacks for the host bus.
 *
 ****************************************************************************/

static void pl320_bus_write(void *dev, uint32_t offset, uint32_t value)
{
  struct pl320_model_s *m = dev;

  struct pl320_action_s trig;
  bool fire;

  pthread_mutex_lock(&m->lock);
  m->stats.writes++;

  fire = m->trig_armed && offset == m->trig_offset &&
         value == m->trig_value;
  if (fire)
    {
      m->trig_armed = false;
      trig.mbox = (int)(offset / MBOX_STRIDE);
      trig.dr0 = m->trig_dr0;
      trig.has_dr0 = true;
    }

  if (fire && m->trig_before)
    {
      pl320_apply_late_ack(m, &trig);
    }

  if ((offset & 3) == 0 && offset < GLOBAL_BASE &&
      offset / MBOX_STRIDE < (uint32_t)m->nmbox)
    {
      pl320_write_mbox(m, (int)(offset / MBOX_STRIDE),
                       offset % MBOX_STRIDE, value);
    }

  if (fire && !m->trig_before)
    {
      pl320_apply_late_ack(m, &trig);
    }

  /* Global registers are read-only; unmapped offsets ignore writes. */

  pl320_update_lines(m);
  pthread_mutex_unlock(&m->lock);
}

static uint32_t pl320_read_mbox(const struct pl320_model_s *m, int mb,
                                uint32_t reg)
{
  const struct pl320_mbox_s *b = &m->mb[mb];

  switch (reg)
    {
      case REG_SOURCE:
        return b->source;

      case REG_DSTATUS:
        return b->dstatus;

      case REG_MODE:
        return b->mode;

      case REG_MSTATUS:
        return b->mstatus;

      case REG_SEND:
        return b->send;

      case REG_DSET:
      case REG_DCLEAR:
      case REG_MSET:
      case REG_MCLEAR:
        return 0;  /* Write-only */

      default:
        if ((reg - REG_DR0) / 4 < (uint32_t)m->datanum)
          {
            return b->dr[(reg - REG_DR0) / 4];
          }

        return 0;
    }
}

static uint32_t pl320_bus_read(void *dev, uint32_t offset)
{
  struct pl320_model_s *m = dev;
  uint32_t value = 0;
  int i;

  if ((offset & 3) != 0)
    {
      return 0;
    }

  pthread_mutex_lock(&m->lock);

  if (offset < GLOBAL_BASE)
    {
      if (offset / MBOX_STRIDE < (uint32_t)m->nmbox)
        {
          value = pl320_read_mbox(m, (int)(offset / MBOX_STRIDE),
                                  offset % MBOX_STRIDE);
        }
    }
  else if (offset < GLOBAL_BASE + 8u * PL320M_MAX_INT)
    {
      i = (int)((offset - GLOBAL_BASE) / 8);
      if (i < m->nint)
        {
          value = pl320_status(m, i, (offset & 4) == 0);
        }
    }
  else if (offset == PL320M_CFGSTAT)
    {
      value = ((uint32_t)m->nmbox << 16) | ((uint32_t)m->nint << 8) |
              (uint32_t)m->datanum;
    }
  else if (offset >= PL320M_PERIPHID(0) && offset <= PL320M_PERIPHID(3))
    {
      value = g_periph_id[(offset - PL320M_PERIPHID(0)) / 4];
    }
  else if (offset >= PL320M_PCELLID(0) && offset <= PL320M_PCELLID(3))
    {
      value = g_pcell_id[(offset - PL320M_PCELLID(0)) / 4];
    }

  pthread_mutex_unlock(&m->lock);
  return value;
}

/****************************************************************************
 * Public Functions
 ****************************************************************************/

struct pl320_model_s *pl320_model_create(uintptr_t base, int nmbox,
                                         int nint, int datanum,
                                         const int *irq_of_line)
{
  struct pl320_model_s *m;
  pthread_condattr_t attr;
  int i;

  if (nmbox < 1 || nmbox > PL320M_MAX_MBOX || nint < 1 ||
      nint > PL320M_MAX_INT || datanum < 1 || datanum > PL320M_MAX_DATA)
    {
      return NULL;
    }

  for (i = 0; irq_of_line != NULL && i < nint; i++)
    {
      if (irq_of_line[i] < -1 || irq_of_line[i] >= HOST_NIRQ)
        {
          return NULL;
        }
    }

  m = calloc(1, sizeof(*m));
  if (m == NULL)
    {
      return NULL;
    }

  m->base = base;
  m->nmbox = nmbox;
  m->nint = nint;
  m->datanum = datanum;
  for (i = 0; i < PL320M_MAX_INT; i++)
    {
      m->irq[i] = (irq_of_line != NULL && i < nint) ? irq_of_line[i] : -1;
    }

  if (pthread_mutex_init(&m->lock, NULL) != 0)
    {
      free(m);
      return NULL;
    }

  /* The helper sleeps until absolute CLOCK_MONOTONIC due times. */

  if (pthread_condattr_init(&attr) != 0)
    {
      goto err_mutex;
    }

  if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&m->cond, &attr) != 0)
    {
      pthread_condattr_destroy(&attr);
      goto err_mutex;
    }

  pthread_condattr_destroy(&attr);

  if (pthread_create(&m->helper, NULL, pl320_helper, m) != 0)
    {
      goto err_cond;
    }

  /* Map last: from here on other threads can reach the model. */

  if (host_bus_map(base, PL320M_WINDOW_SIZE, pl320_bus_read,
                   pl320_bus_write, m) != 0)
    {
      pthread_mutex_lock(&m->lock);
      m->stop = true;
      pthread_cond_signal(&m->cond);
      pthread_mutex_unlock(&m->lock);
      pthread_join(m->helper, NULL);
      goto err_cond;
    }

  return m;

err_cond:
  pthread_cond_destroy(&m->cond);
err_mutex:
  pthread_mutex_destroy(&m->lock);
  free(m);
  return NULL;
}

void pl320_model_destroy(struct pl320_model_s *m)
{
  struct pl320_action_s *a;
  int i;

  if (m == NULL)
    {
      return;
    }

  /* No register access is in progress or can start after this. */

  host_bus_unmap(m->base);

  pthread_mutex_lock(&m->lock);
  m->stop = true;
  pthread_cond_signal(&m->cond);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->helper, NULL);

  /* Drop pending late ACKs, and the lines: the device is gone. */

  pthread_mutex_lock(&m->lock);
  while ((a = m->actions) != NULL)
    {
      m->actions = a->next;
      free(a);
    }

  for (i = 0; i < m->nint; i++)
    {
      if (m->level[i] && m->irq[i] >= 0)
        {
          host_irq_set_level(m->irq[i], false);
        }

      m->level[i] = false;
    }

  pthread_mutex_unlock(&m->lock);

  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void pl320_model_get_stats(struct pl320_model_s *m,
                           struct pl320_model_stats_s *s)
{
  pthread_mutex_lock(&m->lock);
  *s = m->stats;
  pthread_mutex_unlock(&m->lock);
}

void pl320_model_set_fault(struct pl320_model_s *m, int mbox,
                           enum pl320_fault_e f, unsigned delay_ms,
                           unsigned count)
{
  struct pl320_mbox_s *b;

  if (mbox < 0 || mbox >= m->nmbox)
    {
      return;
    }

  pthread_mutex_lock(&m->lock);
  b = &m->mb[mbox];
  b->fault = f;
  b->fault_delay_ms = delay_ms;
  b->fault_left = f == PL320_FAULT_NONE ? 0 : count;
  pthread_mutex_unlock(&m->lock);
}

void pl320_model_raise_spurious(struct pl320_model_s *m, int line)
{
  pthread_mutex_lock(&m->lock);
  if (line >= 0 && line < m->nint && m->irq[line] >= 0)
    {
      host_irq_pulse(m->irq[line]);
    }

  pthread_mutex_unlock(&m->lock);
}

void pl320_model_ack_at_write(struct pl320_model_s *m, uint32_t offset,
                              uint32_t value, bool before, uint32_t dr0)
{
  pthread_mutex_lock(&m->lock);
  m->trig_armed = offset / MBOX_STRIDE < (uint32_t)m->nmbox &&
                  offset < GLOBAL_BASE;
  m->trig_before = before;
  m->trig_offset = offset;
  m->trig_value = value;
  m->trig_dr0 = dr0;
  pthread_mutex_unlock(&m->lock);
}
