/****************************************************************************
 * ffi/cortexm/port.c
 *
 * The port contract (ffi/mbox_os.h) on a bare-metal Cortex-M3: PRIMASK,
 * SysTick, NVIC, WFI and semihosting; see cortexm.h for the summary.
 * Single core: an interrupt handler and the task it interrupted never run
 * at once, and every exception runs at the same (reset) priority, so
 * handlers never preempt each other.
 *
 * Build with -DCORTEXM_BROKEN_CRITICAL=1 for a deliberately broken port
 * whose critical section does not mask interrupts (the test image must
 * then fail: make test-arm ARM_BROKEN_CRITICAL=1).
 ****************************************************************************/

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cortexm.h"

/****************************************************************************
 * Registers
 ****************************************************************************/

#define REG32(a)        (*(volatile uint32_t *)(uintptr_t)(a))

#define SYST_CSR        REG32(0xe000e010)
#define SYST_RVR        REG32(0xe000e014)
#define SYST_CVR        REG32(0xe000e018)
#define NVIC_ISER(n)    REG32(0xe000e100 + 4 * (n))
#define NVIC_ICER(n)    REG32(0xe000e180 + 4 * (n))
#define NVIC_ISPR(n)    REG32(0xe000e200 + 4 * (n))
#define NVIC_ICPR(n)    REG32(0xe000e280 + 4 * (n))

#define SYST_CSR_ENABLE     (1u << 0)
#define SYST_CSR_TICKINT    (1u << 1)
#define SYST_CSR_CLKSOURCE  (1u << 2)   /* The core clock */

#define SYST_RELOAD     (CORTEXM_CPU_HZ / CORTEXM_TICK_HZ)

/* Semihosting operations (Arm semihosting 2.0). */

#define SH_SYS_WRITE0         0x04
#define SH_SYS_EXIT           0x18
#define SH_SYS_EXIT_EXTENDED  0x20
#define SH_ADP_APPLICATION_EXIT 0x20026

#define CORTEXM_WAIT_MAGIC    0x57414954u   /* "WAIT" */
#define CORTEXM_TIMER_MAGIC   0x54494d52u   /* "TIMR" */

#define TASK2_STACK_WORDS     1024

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* The native wait object, in struct mbox_os_wait_s. */

struct cortexm_wait_s
{
  volatile uint32_t posted;
  uint32_t magic;
};

/* The native one-shot timer, in struct mbox_os_timer_s; linked into
 * g_timers while armed. Changed only with interrupts masked, or by the
 * SysTick handler.
 */

struct cortexm_timer_s
{
  struct cortexm_timer_s *next;
  mbox_os_timer_cb_t cb;
  uintptr_t arg;
  uint32_t deadline;          /* g_ticks at which it fires */
  uint32_t magic;
  bool armed;
};

/* A task of the two-task cooperative switcher. */

struct cortexm_task_s
{
  uint32_t *sp;                       /* Saved while switched out */
  struct cortexm_wait_s *blocked_on;  /* Its wait, NULL when ready */
  uint32_t deadline;                  /* Of that wait ... */
  bool forever;                       /* ... unless it waits forever */
  bool alive;
};

_Static_assert(sizeof(struct cortexm_wait_s) <= MBOX_OS_WAIT_SIZE,
               "wait object too large");
_Static_assert(sizeof(struct cortexm_timer_s) <= MBOX_OS_TIMER_SIZE,
               "timer object too large");

/****************************************************************************
 * Private Data
 ****************************************************************************/

static volatile uint32_t g_ticks;
static void (*volatile g_tick_hook)(void);
static struct cortexm_timer_s *g_timers;

static struct
{
  mbox_os_isr_t isr;
  void *arg;
} g_irq[CORTEXM_NIRQ];

static volatile uint32_t g_spurious_irqs;
static volatile uint32_t g_irq_level;     /* Lines held high, bit per irq */

static struct
{
  uintptr_t base;
  size_t size;
  cortexm_reg_read_t rd;
  cortexm_reg_write_t wr;
  void *dev;
} g_bus;

/* Task 1 is main (always alive), task 2 the one cortexm_task_start()
 * runs. g_cur is the running one's number.
 */

static struct cortexm_task_s g_task[3];
static volatile int g_cur = 1;
static void (*g_task2_fn)(void *arg);
static void *g_task2_arg;
static uint32_t g_task2_stack[TASK2_STACK_WORDS] __attribute__((aligned(8)));

/****************************************************************************
 * Semihosting and output
 ****************************************************************************/

static int semihost(int op, void *arg)
{
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;

  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void cortexm_puts(const char *s)
{
  semihost(SH_SYS_WRITE0, (void *)s);
}

void cortexm_exit(int status)
{
  uint32_t block[2] = { SH_ADP_APPLICATION_EXIT, (uint32_t)status };

  semihost(SH_SYS_EXIT_EXTENDED, block);

  /* A host without SYS_EXIT_EXTENDED: any reason but ApplicationExit
   * exits non-zero.
   */

  semihost(SH_SYS_EXIT, (void *)(uintptr_t)(status == 0 ?
           SH_ADP_APPLICATION_EXIT : 0x20023 /* RunTimeErrorUnknown */));
  for (; ; )
    {
      __asm__ volatile("wfi");
    }
}

static char g_line[256];
static size_t g_linelen;

static void out_flush(void)
{
  g_line[g_linelen] = '\0';
  if (g_linelen > 0)
    {
      cortexm_puts(g_line);
    }

  g_linelen = 0;
}

static void out_char(char c)
{
  g_line[g_linelen++] = c;
  if (c == '\n' || g_linelen == sizeof(g_line) - 1)
    {
      out_flush();
    }
}

static void out_num(unsigned long long v, unsigned base, bool neg,
                    int width, char pad)
{
  char buf[24];
  int n = 0;

  do
    {
      unsigned d = (unsigned)(v % base);
      buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
      v /= base;
    }
  while (v != 0);

  if (neg)
    {
      if (pad == '0')
        {
          out_char('-');
        }
      else
        {
          buf[n++] = '-';
        }

      width--;
    }

  for (; width > n; width--)
    {
      out_char(pad);
    }

  while (n > 0)
    {
      out_char(buf[--n]);
    }
}

void cortexm_printf(const char *fmt, ...)
{
  va_list ap;
  mbox_os_irqstate_t flags = mbox_os_enter_critical();

  va_start(ap, fmt);
  for (; *fmt != '\0'; fmt++)
    {
      int width = 0;
      int lng = 0;
      char pad = ' ';

      if (*fmt != '%')
        {
          out_char(*fmt);
          continue;
        }

      fmt++;
      if (*fmt == '0')
        {
          pad = '0';
          fmt++;
        }

      while (*fmt >= '0' && *fmt <= '9')
        {
          width = width * 10 + (*fmt++ - '0');
        }

      while (*fmt == 'l' || *fmt == 'z')
        {
          lng += *fmt == 'l' ? 1 : 1;
          fmt++;
        }

      switch (*fmt)
        {
          case 'd':
          case 'i':
            {
              long long v = lng >= 2 ? va_arg(ap, long long) :
                            lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
              out_num(v < 0 ? 0ull - (unsigned long long)v :
                      (unsigned long long)v, 10, v < 0, width, pad);
            }
            break;

          case 'u':
          case 'x':
            {
              unsigned long long v = lng >= 2 ?
                va_arg(ap, unsigned long long) : lng == 1 ?
                va_arg(ap, unsigned long) : va_arg(ap, unsigned);
              out_num(v, *fmt == 'x' ? 16 : 10, false, width, pad);
            }
            break;

          case 'p':
            out_char('0');
            out_char('x');
            out_num((uintptr_t)va_arg(ap, void *), 16, false, 8, '0');
            break;

          case 's':
            {
              const char *s = va_arg(ap, const char *);
              int n = (int)strlen(s != NULL ? s : "(null)");
              for (; width > n; width--)
                {
                  out_char(' ');
                }

              for (s = s != NULL ? s : "(null)"; *s != '\0'; s++)
                {
                  out_char(*s);
                }
            }
            break;

          case 'c':
            out_char((char)va_arg(ap, int));
            break;

          case '\0':
            fmt--;
            break;

          default:
            out_char(*fmt);
            break;
        }
    }

  va_end(ap);
  mbox_os_leave_critical(flags);
}

/****************************************************************************
 * Start-up, clock, interrupts (called from startup.c's vector table)
 ****************************************************************************/

void cortexm_port_start(void)
{
  g_task[1].alive = true;
  SYST_RVR = SYST_RELOAD - 1;
  SYST_CVR = 0;
  SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
  __asm__ volatile("cpsie i" ::: "memory");
}

uint64_t cortexm_cycles(void)
{
  uint32_t t1;
  uint32_t t2;
  uint32_t cvr;

  do
    {
      t1 = g_ticks;
      cvr = SYST_CVR;
      t2 = g_ticks;
    }
  while (t1 != t2);

  return (uint64_t)t1 * SYST_RELOAD + (SYST_RELOAD - 1 - cvr);
}

void cortexm_set_tick_hook(void (*hook)(void))
{
  g_tick_hook = hook;
}

void cortexm_irq_pend(int irq)
{
  if (irq >= 0 && irq < CORTEXM_NIRQ)
    {
      NVIC_ISPR(irq / 32) = 1u << (irq % 32);
      __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
}

void cortexm_irq_set_level(int irq, bool high)
{
  mbox_os_irqstate_t flags;

  if (irq < 0 || irq >= CORTEXM_NIRQ)
    {
      return;
    }

  flags = mbox_os_enter_critical();
  if (high)
    {
      g_irq_level |= 1u << irq;
      cortexm_irq_pend(irq);
    }
  else
    {
      g_irq_level &= ~(1u << irq);
      NVIC_ICPR(irq / 32) = 1u << (irq % 32);
    }

  mbox_os_leave_critical(flags);
}

void cortexm_systick_handler(void);
void cortexm_systick_handler(void)
{
  void (*hook)(void) = g_tick_hook;

  g_ticks++;
  if (hook != NULL)
    {
      hook();
    }

  /* Serve the expired watchdogs; a callback may arm or cancel timers,
   * so the scan starts over after each one.
   */

again:
  for (struct cortexm_timer_s **pp = &g_timers; *pp != NULL;
       pp = &(*pp)->next)
    {
      struct cortexm_timer_s *t = *pp;

      if ((int32_t)(g_ticks - t->deadline) >= 0)
        {
          *pp = t->next;
          t->next = NULL;
          t->armed = false;
          t->cb(t->arg);
          goto again;
        }
    }
}

void cortexm_irq_dispatch(void);
void cortexm_irq_dispatch(void)
{
  uint32_t ipsr;
  int irq;

  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  irq = (int)(ipsr & 0x1ff) - 16;
  if (irq >= 0 && irq < CORTEXM_NIRQ && g_irq[irq].isr != NULL)
    {
      g_irq[irq].isr(irq, NULL, g_irq[irq].arg);
      if ((g_irq_level & (1u << irq)) != 0)
        {
          cortexm_irq_pend(irq);    /* a level still high fires again */
        }
    }
  else if (irq >= 0 && irq < CORTEXM_NIRQ)
    {
      /* Nobody attached: mask it so that it cannot storm. */

      NVIC_ICER(irq / 32) = 1u << (irq % 32);
      g_spurious_irqs++;
    }
}

/****************************************************************************
 * Two tasks
 ****************************************************************************/

/* Save r4-r11 and the return address on the current stack, store the
 * stack pointer in *save, switch to the stack `to` and restore the same
 * frame from it.
 */

__attribute__((naked)) static void cortexm_switch(uint32_t **save
                                                  __attribute__((unused)),
                                                  uint32_t *to
                                                  __attribute__((unused)))
{
  __asm__ volatile(
    "push {r4-r11, lr}\n\t"
    "mov r2, sp\n\t"
    "str r2, [r0]\n\t"
    "mov sp, r1\n\t"
    "pop {r4-r11, pc}\n\t");
}

static void switch_to(int next)
{
  int prev = g_cur;

  g_cur = next;
  cortexm_switch(&g_task[prev].sp, g_task[next].sp);
}

static void task2_entry(void)
{
  g_task2_fn(g_task2_arg);
  __asm__ volatile("cpsid i" ::: "memory");
  g_task[2].alive = false;
  g_task[2].blocked_on = NULL;
  __asm__ volatile("cpsie i" ::: "memory");

  /* Main is switched out in a wait (the only place that runs task 2). */

  switch_to(1);
}

/* Whether task n could make progress if it ran. Interrupts masked. */

static bool task_ready(int n)
{
  const struct cortexm_task_s *t = &g_task[n];

  return t->alive && (t->blocked_on == NULL || t->blocked_on->posted != 0 ||
                      (!t->forever &&
                       (int32_t)(g_ticks - t->deadline) >= 0));
}

int cortexm_task_start(void (*fn)(void *arg), void *arg)
{
  uint32_t *sp = &g_task2_stack[TASK2_STACK_WORDS];

  if (g_task[2].alive || g_cur != 1)
    {
      return -EBUSY;
    }

  /* The frame cortexm_switch() pops: r4-r11, then pc = task2_entry. */

  sp -= 10;   /* 9 words, and 8-byte alignment at entry */
  for (int i = 0; i < 8; i++)
    {
      sp[i] = 0;
    }

  sp[8] = (uint32_t)(uintptr_t)task2_entry | 1u;
  sp[9] = 0;
  g_task2_fn = fn;
  g_task2_arg = arg;
  g_task[2].sp = sp;
  g_task[2].blocked_on = NULL;
  g_task[2].alive = true;
  return 0;
}

bool cortexm_task_running(void)
{
  return g_task[2].alive;
}

/****************************************************************************
 * Port contract: critical section, clock, context
 ****************************************************************************/

mbox_os_irqstate_t mbox_os_enter_critical(void)
{
#ifdef CORTEXM_BROKEN_CRITICAL
  __asm__ volatile("" ::: "memory");
  return 0;
#else
  uint32_t primask;

  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) ::
                   "memory");
  return primask;
#endif
}

void mbox_os_leave_critical(mbox_os_irqstate_t flags)
{
#ifdef CORTEXM_BROKEN_CRITICAL
  (void)flags;
  __asm__ volatile("" ::: "memory");
#else
  __asm__ volatile("msr primask, %0" :: "r"(flags) : "memory");
#endif
}

/* The tick count as a clock_t: monotonic for 2^31 ticks (24 days at
 * 1 kHz), which bounds the uptime this port supports.
 */

mbox_os_clock_t mbox_os_ticks(void)
{
  return (mbox_os_clock_t)g_ticks;
}

bool mbox_os_in_interrupt(void)
{
  uint32_t ipsr;

  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  return (ipsr & 0x1ff) != 0;
}

uintptr_t mbox_os_self(void)
{
  return (uintptr_t)g_cur;
}

/****************************************************************************
 * Port contract: wait objects
 ****************************************************************************/

int mbox_os_wait_init(struct mbox_os_wait_s *w)
{
  struct cortexm_wait_s *cw = (struct cortexm_wait_s *)w->opaque;

  cw->posted = 0;
  cw->magic = CORTEXM_WAIT_MAGIC;
  return 0;
}

void mbox_os_wait_destroy(struct mbox_os_wait_s *w)
{
  struct cortexm_wait_s *cw = (struct cortexm_wait_s *)w->opaque;

  cw->magic = 0;
}

int mbox_os_wait_timed(struct mbox_os_wait_s *w, mbox_os_clock_t ticks)
{
  struct cortexm_wait_s *cw = (struct cortexm_wait_s *)w->opaque;
  struct cortexm_task_s *me = &g_task[g_cur];
  bool forever = ticks == (mbox_os_clock_t)-1;
  uint32_t start = g_ticks;
  uint32_t span = ticks < 0 ? 0 : (uint32_t)ticks;

  if (cw->magic != CORTEXM_WAIT_MAGIC)
    {
      static const char file[] = __FILE__;
      mbox_os_assert_fail(file, sizeof(file) - 1, __LINE__);
    }

  if (span > INT32_MAX)
    {
      span = INT32_MAX;
    }

  for (; ; )
    {
      /* Masked from the check to the WFI: a post by an interrupt in
       * between stays pending and ends the WFI (PRIMASK does not stop
       * WFI from waking, only the handler from running).
       */

      __asm__ volatile("cpsid i" ::: "memory");
      if (cw->posted != 0)
        {
          cw->posted = 0;
          me->blocked_on = NULL;
          __asm__ volatile("cpsie i" ::: "memory");
          return 0;
        }

      if (!forever && g_ticks - start >= span)
        {
          me->blocked_on = NULL;
          __asm__ volatile("cpsie i" ::: "memory");
          return -ETIMEDOUT;
        }

      me->blocked_on = cw;
      me->deadline = start + span;
      me->forever = forever;
      if (task_ready(g_cur == 1 ? 2 : 1))
        {
          __asm__ volatile("cpsie i" ::: "memory");
          switch_to(g_cur == 1 ? 2 : 1);
          continue;
        }

      __asm__ volatile("dsb\n\twfi\n\tcpsie i\n\tisb" ::: "memory");
    }
}

void mbox_os_wait_post(struct mbox_os_wait_s *w)
{
  struct cortexm_wait_s *cw = (struct cortexm_wait_s *)w->opaque;

  cw->posted = 1;
}

/****************************************************************************
 * Port contract: watchdog
 ****************************************************************************/

static void timer_unlink(struct cortexm_timer_s *t)
{
  for (struct cortexm_timer_s **pp = &g_timers; *pp != NULL;
       pp = &(*pp)->next)
    {
      if (*pp == t)
        {
          *pp = t->next;
          break;
        }
    }

  t->next = NULL;
  t->armed = false;
}

int mbox_os_timer_init(struct mbox_os_timer_s *t)
{
  struct cortexm_timer_s *ct = (struct cortexm_timer_s *)t->opaque;

  ct->next = NULL;
  ct->cb = NULL;
  ct->armed = false;
  ct->magic = CORTEXM_TIMER_MAGIC;
  return 0;
}

int mbox_os_timer_start(struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg)
{
  struct cortexm_timer_s *ct = (struct cortexm_timer_s *)t->opaque;
  mbox_os_irqstate_t flags;

  if (ct->magic != CORTEXM_TIMER_MAGIC || cb == NULL)
    {
      return -EINVAL;
    }

  if (ticks < 1)
    {
      ticks = 1;
    }

  if (ticks > INT32_MAX / 2)
    {
      ticks = INT32_MAX / 2;
    }

  flags = mbox_os_enter_critical();
  if (ct->armed)
    {
      timer_unlink(ct);
    }

  ct->cb = cb;
  ct->arg = arg;

  /* +1: the current tick has partly elapsed, so at least `ticks` whole
   * ticks pass before the callback.
   */

  ct->deadline = g_ticks + (uint32_t)ticks + 1;
  ct->armed = true;
  ct->next = g_timers;
  g_timers = ct;
  mbox_os_leave_critical(flags);
  return 0;
}

void mbox_os_timer_cancel(struct mbox_os_timer_s *t)
{
  struct cortexm_timer_s *ct = (struct cortexm_timer_s *)t->opaque;
  mbox_os_irqstate_t flags = mbox_os_enter_critical();

  if (ct->armed)
    {
      timer_unlink(ct);
    }

  mbox_os_leave_critical(flags);
}

/* Single core: a callback runs in the SysTick handler, which has returned
 * before any task code runs again, so none can be running here.
 */

void mbox_os_timer_destroy(struct mbox_os_timer_s *t)
{
  struct cortexm_timer_s *ct = (struct cortexm_timer_s *)t->opaque;

  mbox_os_timer_cancel(t);
  ct->magic = 0;
}

/****************************************************************************
 * Port contract: registers and interrupts
 ****************************************************************************/

void cortexm_bus_map(uintptr_t base, size_t size, cortexm_reg_read_t rd,
                     cortexm_reg_write_t wr, void *dev)
{
  mbox_os_irqstate_t flags = mbox_os_enter_critical();

  g_bus.base = base;
  g_bus.size = rd != NULL ? size : 0;
  g_bus.rd = rd;
  g_bus.wr = wr;
  g_bus.dev = dev;
  mbox_os_leave_critical(flags);
}

uint32_t mbox_os_getreg32(uintptr_t addr)
{
  if (g_bus.rd != NULL && addr - g_bus.base < g_bus.size)
    {
      return g_bus.rd(g_bus.dev, (uint32_t)(addr - g_bus.base));
    }

  return REG32(addr);
}

void mbox_os_putreg32(uintptr_t addr, uint32_t value)
{
  if (g_bus.wr != NULL && addr - g_bus.base < g_bus.size)
    {
      g_bus.wr(g_bus.dev, (uint32_t)(addr - g_bus.base), value);
      return;
    }

  REG32(addr) = value;
}

int mbox_os_irq_attach(int irq, mbox_os_isr_t isr, void *arg)
{
  mbox_os_irqstate_t flags;

  if (irq < 0 || irq >= CORTEXM_NIRQ || isr == NULL)
    {
      return -EINVAL;
    }

  flags = mbox_os_enter_critical();
  g_irq[irq].isr = isr;
  g_irq[irq].arg = arg;
  mbox_os_leave_critical(flags);
  return 0;
}

void mbox_os_irq_enable(int irq)
{
  if (irq >= 0 && irq < CORTEXM_NIRQ)
    {
      NVIC_ISER(irq / 32) = 1u << (irq % 32);
    }
}

void mbox_os_irq_detach(int irq)
{
  mbox_os_irqstate_t flags;

  if (irq < 0 || irq >= CORTEXM_NIRQ)
    {
      return;
    }

  NVIC_ICER(irq / 32) = 1u << (irq % 32);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  flags = mbox_os_enter_critical();
  g_irq[irq].isr = NULL;
  g_irq[irq].arg = NULL;
  mbox_os_leave_critical(flags);
}

/****************************************************************************
 * Port contract: assertions
 ****************************************************************************/

void mbox_os_assert_fail(const char *file, size_t file_len, int line)
{
  char name[96];
  size_t n = file_len < sizeof(name) - 1 ? file_len : sizeof(name) - 1;

  __asm__ volatile("cpsid i" ::: "memory");
  memcpy(name, file, n);
  name[n] = '\0';
  g_linelen = 0;
  cortexm_printf("mbox_os_assert_fail: %s:%d\n", name, line);
  cortexm_exit(2);
}
