/****************************************************************************
 * ffi/host/host_port.c
 *
 * The host implementation of the libmbox port contract (ffi/mbox_os.h) on
 * pthreads, plus the simulated register bus and interrupt controller that
 * let the PL320 lower half run against a device model (see host.h).
 *
 * Locks and their order (a thread holding one may take those to its right,
 * never the other way round):
 *
 *   critical section -> bus rwlock (read) -> device model lock -> irq lock
 *   critical section -> timer lock
 *   critical section -> wait object lock
 *
 * The timer thread and the interrupt delivery threads drop their own lock
 * before they call into libmbox: a timer callback or an ISR takes the
 * critical section first, and libmbox calls mbox_os_timer_start() or
 * touches registers while holding it. Holding the timer/irq lock across
 * the call would invert the order above and deadlock.
 ****************************************************************************/

/****************************************************************************
 * Included Files
 ****************************************************************************/

#define _GNU_SOURCE 1

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"

/****************************************************************************
 * Pre-processor Definitions
 ****************************************************************************/

#define NSEC_PER_SEC        1000000000LL

/* Magic values that catch use of an uninitialised or destroyed object. */

#define HOST_WAIT_MAGIC     0x57414954u  /* "WAIT" */
#define HOST_TIMER_MAGIC    0x54494d52u  /* "TIMR" */

/* After this many back-to-back deliveries with the line still asserted
 * (an interrupt storm), pause between deliveries so that a broken handler
 * cannot starve the rest of a test.
 */

#define HOST_IRQ_STORM_LIMIT  1000
#define HOST_IRQ_STORM_PAUSE_NS 1000000L

/****************************************************************************
 * Private Types
 ****************************************************************************/

/* The native wait object, stored in struct mbox_os_wait_s. */

struct host_wait_s
{
  pthread_mutex_t lock;
  pthread_cond_t  cond;      /* CLOCK_MONOTONIC, for absolute deadlines */
  int             posted;    /* Binary: one post, consumed by one wait */
  uint32_t        magic;
};

/* The native one-shot timer, stored in struct mbox_os_timer_s. All fields
 * are protected by g_tmr_lock.
 */

struct host_timer_s
{
  struct host_timer_s *next;     /* Link in the armed list */
  struct host_timer_s *prev;
  int64_t              deadline; /* CLOCK_MONOTONIC ns of expiry */
  mbox_os_timer_cb_t   cb;
  uintptr_t            arg;
  uint32_t             gen;      /* Bumped by every start and cancel */
  uint32_t             magic;
  bool                 armed;
  bool                 running;  /* Its callback is executing now */
};

/* A register window on the simulated bus. */

struct host_window_s
{
  bool             used;
  uintptr_t        base;
  size_t           size;
  host_reg_read_t  rd;
  host_reg_write_t wr;
  void            *dev;
};

/* One interrupt line of the simulated controller; protected by g_irq_lock
 * except the thread handle, which only attach and shutdown touch (they are
 * serialised by g_irq_lock and g_shutdown_lock respectively).
 */

struct host_irq_s
{
  mbox_os_isr_t   isr;
  void           *arg;
  bool            enabled;
  bool            asserted;     /* Level driven by the device model */
  bool            running;      /* The ISR is executing now */
  bool            stop;         /* host_shutdown() asks the thread to end */
  bool            thread_started;
  unsigned        pulses;       /* Pending spurious deliveries */
  unsigned long   calls;
  unsigned long   still_asserted;
  pthread_t       thread;
  pthread_cond_t  cond;         /* Wakes the delivery thread */
};

/****************************************************************************
 * Private Data
 ****************************************************************************/

static pthread_once_t g_host_once = PTHREAD_ONCE_INIT;

/* The critical section: one recursive mutex for the whole "machine", so
 * that it excludes both the other simulated CPU and the ISR threads.
 */

static pthread_mutex_t g_critical;

/* Per-thread context: nesting depth of the critical section and of
 * simulated interrupt context.
 */

static _Thread_local int t_crit_depth;
static _Thread_local unsigned long t_crit_entries;
static _Thread_local void (*t_exit_hook)(void *);
static _Thread_local void *t_exit_hook_arg;
static _Thread_local int t_in_irq;

/* Register bus. A read-write lock so that accesses from several threads
 * proceed in parallel (the model serialises them itself) while unmap can
 * wait for accesses in progress. Writer-preferring so that a busy ISR
 * cannot starve an unmap.
 */

static pthread_rwlock_t g_bus_lock;
static struct host_window_s g_bus[HOST_BUS_NWINDOWS];

/* Timers: one thread serves the list of armed timers. */

static pthread_mutex_t g_tmr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_tmr_cond;     /* Armed list changed, or stop */
static pthread_cond_t g_tmr_idle;     /* A callback finished */
static struct host_timer_s *g_tmr_head;
static bool g_tmr_started;
static bool g_tmr_stop;
static pthread_t g_tmr_thread;

/* Interrupt controller. */

static pthread_mutex_t g_irq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_irq_idle;     /* A line fell or an ISR returned */
static struct host_irq_s g_irq[HOST_NIRQ];

/* Serialises host_shutdown() calls (they join threads without locks). */

static pthread_mutex_t g_shutdown_lock = PTHREAD_MUTEX_INITIALIZER;

/****************************************************************************
 * Private Functions
 ****************************************************************************/

/****************************************************************************
 * Name: host_fatal
 *
 * Description:
 *   Report a misuse of the port that would otherwise corrupt memory or
 *   deadlock, and abort.
 *
 ****************************************************************************/

static void host_fatal(const char *what) __attribute__((noreturn));
static void host_fatal(const char *what)
{
  fprintf(stderr, "libmbox host: %s\n", what);
  abort();
}

/****************************************************************************
 * Name: host_check
 *
 * Description:
 *   Abort on a failing pthread call: the port has no way to report these
 *   from functions that "never fail", and continuing would hide bugs.
 *
 ****************************************************************************/

static void host_check(int ret, const char *what)
{
  if (ret != 0)
    {
      fprintf(stderr, "libmbox host: %s failed: %s\n", what, strerror(ret));
      abort();
    }
}

/****************************************************************************
 * Name: host_cond_init_monotonic
 *
 * Description:
 *   Initialise a condition variable whose timed waits use CLOCK_MONOTONIC,
 *   so that deadlines do not move when the wall clock is set.
 *
 ****************************************************************************/

static int host_cond_init_monotonic(pthread_cond_t *cond)
{
  pthread_condattr_t attr;
  int ret;

  ret = pthread_condattr_init(&attr);
  if (ret != 0)
    {
      return ret;
    }

  ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (ret == 0)
    {
      ret = pthread_cond_init(cond, &attr);
    }

  pthread_condattr_destroy(&attr);
  return ret;
}

/****************************************************************************
 * Name: host_init
 *
 * Description:
 *   One-time initialisation of the objects that have no static
 *   initialiser (recursive mutex, monotonic condvars, rwlock kind).
 *
 ****************************************************************************/

static void host_init(void)
{
  pthread_mutexattr_t mattr;
  pthread_rwlockattr_t rwattr;
  int i;

  host_check(pthread_mutexattr_init(&mattr), "pthread_mutexattr_init");
  host_check(pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_RECURSIVE),
             "pthread_mutexattr_settype");
  host_check(pthread_mutex_init(&g_critical, &mattr), "pthread_mutex_init");
  pthread_mutexattr_destroy(&mattr);

  host_check(pthread_rwlockattr_init(&rwattr), "pthread_rwlockattr_init");
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
  host_check(pthread_rwlockattr_setkind_np(&rwattr,
               PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
             "pthread_rwlockattr_setkind_np");
#endif
  host_check(pthread_rwlock_init(&g_bus_lock, &rwattr),
             "pthread_rwlock_init");
  pthread_rwlockattr_destroy(&rwattr);

  host_check(host_cond_init_monotonic(&g_tmr_cond), "pthread_cond_init");
  host_check(pthread_cond_init(&g_tmr_idle, NULL), "pthread_cond_init");
  host_check(host_cond_init_monotonic(&g_irq_idle), "pthread_cond_init");

  for (i = 0; i < HOST_NIRQ; i++)
    {
      host_check(pthread_cond_init(&g_irq[i].cond, NULL),
                 "pthread_cond_init");
    }
}

static void host_init_once(void)
{
  host_check(pthread_once(&g_host_once, host_init), "pthread_once");
}

/****************************************************************************
 * Name: host_now_ns
 ****************************************************************************/

static int64_t host_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/****************************************************************************
 * Name: host_ticks_to_ns
 *
 * Description:
 *   Convert a tick count to nanoseconds, rounding up (a timeout must never
 *   be shorter than asked for) and saturating far in the future.
 *
 ****************************************************************************/

static int64_t host_ticks_to_ns(mbox_os_clock_t ticks)
{
  int64_t sec;
  int64_t rem;

  if (ticks <= 0)
    {
      return 0;
    }

  sec = (int64_t)ticks / HOST_TICK_HZ;
  rem = (int64_t)ticks % HOST_TICK_HZ;

  /* About a century is "forever" for a test; it also keeps now + delay
   * far from overflowing.
   */

  if (sec > 100LL * 365 * 24 * 3600)
    {
      sec = 100LL * 365 * 24 * 3600;
    }

  return sec * NSEC_PER_SEC + (rem * NSEC_PER_SEC + HOST_TICK_HZ - 1) /
         HOST_TICK_HZ;
}

static void host_ns_to_timespec(int64_t ns, struct timespec *ts)
{
  ts->tv_sec = (time_t)(ns / NSEC_PER_SEC);
  ts->tv_nsec = (long)(ns % NSEC_PER_SEC);
}

/****************************************************************************
 * Name: host_irq_enter / host_irq_leave
 *
 * Description:
 *   Mark the calling thread as running in simulated interrupt context.
 *   A counter rather than a flag so that nesting (a test helper inside an
 *   ISR) restores the outer state.
 *
 ****************************************************************************/

static void host_irq_enter(void)
{
  t_in_irq++;
}

static void host_irq_leave(void)
{
  t_in_irq--;
}

/****************************************************************************
 * Name: host_wait_of / host_timer_of
 *
 * Description:
 *   The native object inside the contract's opaque storage.
 *
 ****************************************************************************/

_Static_assert(sizeof(struct host_wait_s) <= MBOX_OS_WAIT_SIZE,
               "struct host_wait_s does not fit MBOX_OS_WAIT_SIZE");
_Static_assert(_Alignof(struct host_wait_s) <=
               _Alignof(struct mbox_os_wait_s),
               "struct mbox_os_wait_s is not aligned enough");
_Static_assert(sizeof(struct host_timer_s) <= MBOX_OS_TIMER_SIZE,
               "struct host_timer_s does not fit MBOX_OS_TIMER_SIZE");
_Static_assert(_Alignof(struct host_timer_s) <=
               _Alignof(struct mbox_os_timer_s),
               "struct mbox_os_timer_s is not aligned enough");

static struct host_wait_s *host_wait_of(struct mbox_os_wait_s *w)
{
  return (struct host_wait_s *)(void *)w->opaque;
}

static struct host_timer_s *host_timer_of(struct mbox_os_timer_s *t)
{
  return (struct host_timer_s *)(void *)t->opaque;
}

/****************************************************************************
 * Name: host_timer_unlink
 *
 * Description:
 *   Remove an armed timer from the armed list. g_tmr_lock held.
 *
 ****************************************************************************/

static void host_timer_unlink(struct host_timer_s *ht)
{
  if (!ht->armed)
    {
      return;
    }

  if (ht->prev != NULL)
    {
      ht->prev->next = ht->next;
    }
  else
    {
      g_tmr_head = ht->next;
    }

  if (ht->next != NULL)
    {
      ht->next->prev = ht->prev;
    }

  ht->next = NULL;
  ht->prev = NULL;
  ht->armed = false;
}

/****************************************************************************
 * Name: host_timer_thread
 *
 * Description:
 *   Serve all armed timers: sleep until the earliest deadline, then call
 *   its callback with g_tmr_lock dropped and the interrupt flag set.
 *
 *   Every start and cancel bumps the timer's generation and (re)links or
 *   unlinks it under g_tmr_lock; the thread picks an expired timer, copies
 *   its callback and unlinks it in one lock hold. So an arming that was
 *   cancelled or replaced before that point is gone from the list and can
 *   never fire, and the arming that did fire cannot fire again. The list
 *   is rescanned after every sleep rather than remembering a timer
 *   pointer across it, because a destroyed timer's memory may be gone.
 *
 ****************************************************************************/

static void *host_timer_thread(void *unused)
{
  struct host_timer_s *ht;
  struct host_timer_s *earliest;
  struct timespec ts;
  mbox_os_timer_cb_t cb;
  uintptr_t arg;
  int64_t now;

  (void)unused;
  pthread_mutex_lock(&g_tmr_lock);

  while (!g_tmr_stop)
    {
      earliest = NULL;
      for (ht = g_tmr_head; ht != NULL; ht = ht->next)
        {
          if (earliest == NULL || ht->deadline < earliest->deadline)
            {
              earliest = ht;
            }
        }

      if (earliest == NULL)
        {
          pthread_cond_wait(&g_tmr_cond, &g_tmr_lock);
          continue;
        }

      now = host_now_ns();
      if (earliest->deadline > now)
        {
          /* Sleep until the deadline, or until the list changes; then
           * look again (the earliest timer may be another one by then).
           */

          host_ns_to_timespec(earliest->deadline, &ts);
          pthread_cond_timedwait(&g_tmr_cond, &g_tmr_lock, &ts);
          continue;
        }

      /* Expired: take this arming and run it. cb and arg are copied now,
       * so a re-arm from here on (new gen) cannot change what this
       * expiry calls, and the unlink below means the old arming cannot
       * expire a second time.
       */

      cb = earliest->cb;
      arg = earliest->arg;
      host_timer_unlink(earliest);
      earliest->running = true;

      pthread_mutex_unlock(&g_tmr_lock);

      host_irq_enter();
      cb(arg);
      host_irq_leave();

      pthread_mutex_lock(&g_tmr_lock);

      /* The timer may have been re-armed (gen changed) during the call;
       * it is then in the armed list again with its new deadline. Either
       * way no callback of it is running any more: destroy() waits for
       * this flag, and the timer memory must not be touched after it.
       */

      earliest->running = false;
      pthread_cond_broadcast(&g_tmr_idle);
    }

  pthread_mutex_unlock(&g_tmr_lock);
  return NULL;
}

/****************************************************************************
 * Name: host_irq_thread
 *
 * Description:
 *   Delivery thread of one interrupt: call the ISR while the line is
 *   asserted (level semantics) or a spurious pulse is pending, as long as
 *   the interrupt is enabled.
 *
 ****************************************************************************/

static void *host_irq_thread(void *p)
{
  int irq = (int)(intptr_t)p;
  struct host_irq_s *q = &g_irq[irq];
  struct timespec pause;
  unsigned long consecutive = 0;
  mbox_os_isr_t isr;
  void *arg;

  pause.tv_sec = 0;
  pause.tv_nsec = HOST_IRQ_STORM_PAUSE_NS;

  pthread_mutex_lock(&g_irq_lock);

  for (; ; )
    {
      while (!q->stop &&
             !(q->enabled && q->isr != NULL &&
               (q->asserted || q->pulses > 0)))
        {
          consecutive = 0;
          pthread_cond_wait(&q->cond, &g_irq_lock);
        }

      if (q->stop)
        {
          break;
        }

      /* A delivery satisfies one pending pulse whether or not the line is
       * also high: the pulse only guarantees "at least one more call".
       */

      if (q->pulses > 0)
        {
          q->pulses--;
        }

      isr = q->isr;
      arg = q->arg;
      q->running = true;
      q->calls++;

      pthread_mutex_unlock(&g_irq_lock);

      host_irq_enter();
      isr(irq, NULL, arg);
      host_irq_leave();

      pthread_mutex_lock(&g_irq_lock);
      q->running = false;

      if (q->asserted)
        {
          /* The handler did not clear its source: a level interrupt is
           * taken again at once.
           */

          q->still_asserted++;
          if (++consecutive >= HOST_IRQ_STORM_LIMIT)
            {
              pthread_mutex_unlock(&g_irq_lock);
              nanosleep(&pause, NULL);
              pthread_mutex_lock(&g_irq_lock);
            }
        }
      else
        {
          consecutive = 0;
        }

      pthread_cond_broadcast(&g_irq_idle);
    }

  pthread_mutex_unlock(&g_irq_lock);
  return NULL;
}

/****************************************************************************
 * Name: host_irq_get
 *
 * Description:
 *   The state of irq; aborts on an irq number out of range (a device model
 *   or test bug, never valid input).
 *
 ****************************************************************************/

static struct host_irq_s *host_irq_get(int irq, const char *who)
{
  if (irq < 0 || irq >= HOST_NIRQ)
    {
      fprintf(stderr, "libmbox host: %s: bad irq %d\n", who, irq);
      abort();
    }

  host_init_once();
  return &g_irq[irq];
}

/****************************************************************************
 * Name: host_bus_find
 *
 * Description:
 *   The window that holds the 4-byte register at addr, or abort like a bus
 *   fault. g_bus_lock held for reading.
 *
 ****************************************************************************/

static struct host_window_s *host_bus_find(uintptr_t addr, const char *op)
{
  int i;

  if ((addr & 3) != 0)
    {
      pthread_rwlock_unlock(&g_bus_lock);
      fprintf(stderr, "libmbox host: misaligned 32-bit %s at %#lx\n", op,
              (unsigned long)addr);
      abort();
    }

  for (i = 0; i < HOST_BUS_NWINDOWS; i++)
    {
      struct host_window_s *win = &g_bus[i];

      if (win->used && addr >= win->base &&
          addr - win->base <= win->size - 4)
        {
          return win;
        }
    }

  pthread_rwlock_unlock(&g_bus_lock);
  fprintf(stderr, "libmbox host: %s of unmapped address %#lx\n", op,
          (unsigned long)addr);
  abort();
}

/****************************************************************************
 * Public Functions: critical section, clock, context
 ****************************************************************************/

mbox_os_irqstate_t mbox_os_enter_critical(void)
{
  host_init_once();
  host_check(pthread_mutex_lock(&g_critical), "enter_critical");
  t_crit_depth++;
  t_crit_entries++;
  return 0;
}

unsigned long host_critical_entries(void)
{
  return t_crit_entries;
}

void mbox_os_leave_critical(mbox_os_irqstate_t flags)
{
  (void)flags;

  if (t_crit_depth <= 0)
    {
      host_fatal("mbox_os_leave_critical without enter");
    }

  t_crit_depth--;
  host_check(pthread_mutex_unlock(&g_critical), "leave_critical");
  if (t_crit_depth == 0 && t_exit_hook != NULL)
    {
      void (*hook)(void *) = t_exit_hook;

      t_exit_hook = NULL;
      hook(t_exit_hook_arg);
    }
}

void host_on_next_critical_exit(void (*fn)(void *), void *arg)
{
  t_exit_hook = fn;
  t_exit_hook_arg = arg;
}

mbox_os_clock_t mbox_os_ticks(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (mbox_os_clock_t)((int64_t)ts.tv_sec * HOST_TICK_HZ +
                           (int64_t)ts.tv_nsec * HOST_TICK_HZ /
                           NSEC_PER_SEC);
}

bool mbox_os_in_interrupt(void)
{
  return t_in_irq > 0;
}

uintptr_t mbox_os_self(void)
{
  return (uintptr_t)pthread_self();
}

void host_run_as_interrupt(void (*fn)(void *), void *arg)
{
  host_irq_enter();
  fn(arg);
  host_irq_leave();
}

/****************************************************************************
 * Public Functions: wait object
 ****************************************************************************/

int mbox_os_wait_init(struct mbox_os_wait_s *w)
{
  struct host_wait_s *hw = host_wait_of(w);
  int ret;

  memset(w, 0, sizeof(*w));

  ret = pthread_mutex_init(&hw->lock, NULL);
  if (ret != 0)
    {
      return -ret;
    }

  ret = host_cond_init_monotonic(&hw->cond);
  if (ret != 0)
    {
      pthread_mutex_destroy(&hw->lock);
      return -ret;
    }

  hw->posted = 0;
  hw->magic = HOST_WAIT_MAGIC;
  return 0;
}

void mbox_os_wait_destroy(struct mbox_os_wait_s *w)
{
  struct host_wait_s *hw = host_wait_of(w);

  if (hw->magic != HOST_WAIT_MAGIC)
    {
      host_fatal("mbox_os_wait_destroy of an uninitialised wait object");
    }

  hw->magic = 0;
  pthread_cond_destroy(&hw->cond);
  pthread_mutex_destroy(&hw->lock);
}

int mbox_os_wait_timed(struct mbox_os_wait_s *w, mbox_os_clock_t ticks)
{
  struct host_wait_s *hw = host_wait_of(w);
  struct timespec ts;
  int ret;

  if (hw->magic != HOST_WAIT_MAGIC)
    {
      host_fatal("mbox_os_wait_timed on an uninitialised wait object");
    }

  /* Blocking here with the critical section held would stall every ISR
   * and the other CPU; in interrupt context it is not allowed at all.
   */

  if (t_crit_depth > 0)
    {
      host_fatal("mbox_os_wait_timed with the critical section held");
    }

  if (t_in_irq > 0)
    {
      host_fatal("mbox_os_wait_timed in interrupt context");
    }

  pthread_mutex_lock(&hw->lock);

  if (ticks == (mbox_os_clock_t)-1)
    {
      while (!hw->posted)
        {
          pthread_cond_wait(&hw->cond, &hw->lock);
        }
    }
  else
    {
      host_ns_to_timespec(host_now_ns() + host_ticks_to_ns(ticks), &ts);

      /* Loop: a wakeup may be spurious; only the post or the deadline end
       * the wait. pthread_cond_timedwait() reports ETIMEDOUT only once the
       * clock has reached the deadline, so the wait is never early.
       */

      while (!hw->posted)
        {
          if (pthread_cond_timedwait(&hw->cond, &hw->lock, &ts) ==
              ETIMEDOUT)
            {
              break;
            }
        }
    }

  if (hw->posted)
    {
      hw->posted = 0;
      ret = 0;
    }
  else
    {
      ret = -ETIMEDOUT;
    }

  pthread_mutex_unlock(&hw->lock);
  return ret;
}

void mbox_os_wait_post(struct mbox_os_wait_s *w)
{
  struct host_wait_s *hw = host_wait_of(w);

  if (hw->magic != HOST_WAIT_MAGIC)
    {
      host_fatal("mbox_os_wait_post on an uninitialised wait object");
    }

  /* Signal with the lock held: the waiter may destroy the object as soon
   * as it sees the post, so nothing of it may be touched after unlock.
   */

  pthread_mutex_lock(&hw->lock);
  hw->posted = 1;
  pthread_cond_signal(&hw->cond);
  pthread_mutex_unlock(&hw->lock);
}

/****************************************************************************
 * Public Functions: timers
 ****************************************************************************/

int mbox_os_timer_init(struct mbox_os_timer_s *t)
{
  struct host_timer_s *ht = host_timer_of(t);

  host_init_once();
  memset(t, 0, sizeof(*t));
  ht->magic = HOST_TIMER_MAGIC;
  return 0;
}

int mbox_os_timer_start(struct mbox_os_timer_s *t, mbox_os_clock_t ticks,
                        mbox_os_timer_cb_t cb, uintptr_t arg)
{
  struct host_timer_s *ht = host_timer_of(t);
  int ret;

  if (ht->magic != HOST_TIMER_MAGIC)
    {
      host_fatal("mbox_os_timer_start on an uninitialised timer");
    }

  if (cb == NULL || ticks < 0)
    {
      return -EINVAL;
    }

  /* Like a NuttX watchdog, a delay of 0 expires at the next tick. */

  if (ticks == 0)
    {
      ticks = 1;
    }

  host_init_once();
  pthread_mutex_lock(&g_tmr_lock);

  if (!g_tmr_started)
    {
      ret = pthread_create(&g_tmr_thread, NULL, host_timer_thread, NULL);
      if (ret != 0)
        {
          pthread_mutex_unlock(&g_tmr_lock);
          return -ret;
        }

      g_tmr_started = true;
    }

  host_timer_unlink(ht);

  ht->deadline = host_now_ns() + host_ticks_to_ns(ticks);
  ht->cb = cb;
  ht->arg = arg;
  ht->gen++;
  ht->armed = true;
  ht->prev = NULL;
  ht->next = g_tmr_head;
  if (g_tmr_head != NULL)
    {
      g_tmr_head->prev = ht;
    }

  g_tmr_head = ht;

  pthread_cond_signal(&g_tmr_cond);
  pthread_mutex_unlock(&g_tmr_lock);
  return 0;
}

void mbox_os_timer_cancel(struct mbox_os_timer_s *t)
{
  struct host_timer_s *ht = host_timer_of(t);

  if (ht->magic != HOST_TIMER_MAGIC)
    {
      host_fatal("mbox_os_timer_cancel on an uninitialised timer");
    }

  pthread_mutex_lock(&g_tmr_lock);
  if (ht->armed)
    {
      host_timer_unlink(ht);
      ht->gen++;
      pthread_cond_signal(&g_tmr_cond);
    }

  pthread_mutex_unlock(&g_tmr_lock);
}

void mbox_os_timer_destroy(struct mbox_os_timer_s *t)
{
  struct host_timer_s *ht = host_timer_of(t);

  if (ht->magic != HOST_TIMER_MAGIC)
    {
      host_fatal("mbox_os_timer_destroy on an uninitialised timer");
    }

  if (t_crit_depth > 0)
    {
      host_fatal("mbox_os_timer_destroy with the critical section held");
    }

  pthread_mutex_lock(&g_tmr_lock);

  host_timer_unlink(ht);
  ht->gen++;

  if (ht->running && g_tmr_started &&
      pthread_equal(pthread_self(), g_tmr_thread))
    {
      pthread_mutex_unlock(&g_tmr_lock);
      host_fatal("mbox_os_timer_destroy from its own callback");
    }

  while (ht->running)
    {
      pthread_cond_wait(&g_tmr_idle, &g_tmr_lock);
    }

  ht->magic = 0;
  pthread_mutex_unlock(&g_tmr_lock);
}

/****************************************************************************
 * Public Functions: register bus
 ****************************************************************************/

int host_bus_map(uintptr_t base, size_t size, host_reg_read_t rd,
                 host_reg_write_t wr, void *dev)
{
  int free_slot = -1;
  int i;

  if (rd == NULL || wr == NULL || size < 4 || (base & 3) != 0 ||
      base + (size - 1) < base)
    {
      return -EINVAL;
    }

  host_init_once();
  pthread_rwlock_wrlock(&g_bus_lock);

  for (i = 0; i < HOST_BUS_NWINDOWS; i++)
    {
      struct host_window_s *win = &g_bus[i];

      if (!win->used)
        {
          if (free_slot < 0)
            {
              free_slot = i;
            }

          continue;
        }

      if (base <= win->base + (win->size - 1) &&
          win->base <= base + (size - 1))
        {
          pthread_rwlock_unlock(&g_bus_lock);
          return -EBUSY;
        }
    }

  if (free_slot < 0)
    {
      pthread_rwlock_unlock(&g_bus_lock);
      return -ENOMEM;
    }

  g_bus[free_slot].used = true;
  g_bus[free_slot].base = base;
  g_bus[free_slot].size = size;
  g_bus[free_slot].rd = rd;
  g_bus[free_slot].wr = wr;
  g_bus[free_slot].dev = dev;

  pthread_rwlock_unlock(&g_bus_lock);
  return 0;
}

void host_bus_unmap(uintptr_t base)
{
  int i;

  host_init_once();

  /* Taking the write lock waits for every access in progress: after this
   * the device may be freed.
   */

  pthread_rwlock_wrlock(&g_bus_lock);
  for (i = 0; i < HOST_BUS_NWINDOWS; i++)
    {
      if (g_bus[i].used && g_bus[i].base == base)
        {
          memset(&g_bus[i], 0, sizeof(g_bus[i]));
        }
    }

  pthread_rwlock_unlock(&g_bus_lock);
}

uint32_t mbox_os_getreg32(uintptr_t addr)
{
  struct host_window_s *win;
  uint32_t value;

  host_init_once();
  pthread_rwlock_rdlock(&g_bus_lock);
  win = host_bus_find(addr, "read");
  value = win->rd(win->dev, (uint32_t)(addr - win->base));
  pthread_rwlock_unlock(&g_bus_lock);
  return value;
}

void mbox_os_putreg32(uintptr_t addr, uint32_t value)
{
  struct host_window_s *win;

  host_init_once();
  pthread_rwlock_rdlock(&g_bus_lock);
  win = host_bus_find(addr, "write");
  win->wr(win->dev, (uint32_t)(addr - win->base), value);
  pthread_rwlock_unlock(&g_bus_lock);
}

/****************************************************************************
 * Public Functions: interrupts
 ****************************************************************************/

int mbox_os_irq_attach(int irq, mbox_os_isr_t isr, void *arg)
{
  struct host_irq_s *q;
  int ret;

  if (irq < 0 || irq >= HOST_NIRQ || isr == NULL)
    {
      return -EINVAL;
    }

  q = host_irq_get(irq, "mbox_os_irq_attach");
  pthread_mutex_lock(&g_irq_lock);

  q->isr = isr;
  q->arg = arg;

  if (!q->thread_started)
    {
      q->stop = false;
      ret = pthread_create(&q->thread, NULL, host_irq_thread,
                           (void *)(intptr_t)irq);
      if (ret != 0)
        {
          q->isr = NULL;
          q->arg = NULL;
          pthread_mutex_unlock(&g_irq_lock);
          return -ret;
        }

      q->thread_started = true;
    }

  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&g_irq_lock);
  return 0;
}

void mbox_os_irq_enable(int irq)
{
  struct host_irq_s *q = host_irq_get(irq, "mbox_os_irq_enable");

  pthread_mutex_lock(&g_irq_lock);
  q->enabled = true;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&g_irq_lock);
}

void mbox_os_irq_detach(int irq)
{
  struct host_irq_s *q = host_irq_get(irq, "mbox_os_irq_detach");

  /* Disable first: host_irq_disable() also waits for a handler call in
   * progress (unless called from it), so the handler and its argument are
   * no longer in use once the attachment is dropped.
   */

  host_irq_disable(irq);
  pthread_mutex_lock(&g_irq_lock);
  q->isr = NULL;
  q->arg = NULL;
  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_disable(int irq)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_disable");

  pthread_mutex_lock(&g_irq_lock);
  q->enabled = false;

  /* Like Linux disable_irq(): wait for a handler call in progress, so the
   * caller may tear down what the handler uses. Not from the handler
   * itself, which would wait for its own return.
   */

  if (!(q->thread_started && pthread_equal(pthread_self(), q->thread)))
    {
      while (q->running)
        {
          pthread_cond_wait(&g_irq_idle, &g_irq_lock);
        }
    }

  pthread_cond_broadcast(&g_irq_idle);
  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_set_level(int irq, bool asserted)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_set_level");

  /* Only record and signal: the caller may hold its device lock, which an
   * ISR takes through the bus, so calling the ISR here would deadlock.
   */

  pthread_mutex_lock(&g_irq_lock);
  if (q->asserted != asserted)
    {
      q->asserted = asserted;
      pthread_cond_signal(&q->cond);
      pthread_cond_broadcast(&g_irq_idle);
    }

  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_pulse(int irq)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_pulse");

  pthread_mutex_lock(&g_irq_lock);
  q->pulses++;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_get_stats(int irq, struct host_irq_stats_s *s)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_get_stats");

  pthread_mutex_lock(&g_irq_lock);
  s->calls = q->calls;
  s->still_asserted_after_return = q->still_asserted;
  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_reset_stats(int irq)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_reset_stats");

  pthread_mutex_lock(&g_irq_lock);
  q->calls = 0;
  q->still_asserted = 0;
  pthread_mutex_unlock(&g_irq_lock);
}

void host_irq_quiesce(int irq, int timeout_ms)
{
  struct host_irq_s *q = host_irq_get(irq, "host_irq_quiesce");
  struct timespec ts;

  if (timeout_ms < 0)
    {
      timeout_ms = 0;
    }

  host_ns_to_timespec(host_now_ns() + (int64_t)timeout_ms * 1000000LL, &ts);

  pthread_mutex_lock(&g_irq_lock);

  /* A pending pulse only counts while it can still be delivered. */

  while (q->asserted || q->running ||
         (q->pulses > 0 && q->enabled && q->isr != NULL &&
          q->thread_started))
    {
      if (pthread_cond_timedwait(&g_irq_idle, &g_irq_lock, &ts) ==
          ETIMEDOUT)
        {
          break;
        }
    }

  pthread_mutex_unlock(&g_irq_lock);
}

/****************************************************************************
 * Public Functions: shutdown, assertions
 ****************************************************************************/

void host_shutdown(void)
{
  pthread_t threads[HOST_NIRQ];
  bool join[HOST_NIRQ];
  pthread_t tmr;
  bool tmr_join;
  int i;

  host_init_once();
  pthread_mutex_lock(&g_shutdown_lock);

  /* Interrupt delivery threads. An ISR in progress completes first. */

  pthread_mutex_lock(&g_irq_lock);
  for (i = 0; i < HOST_NIRQ; i++)
    {
      join[i] = g_irq[i].thread_started;
      if (join[i])
        {
          threads[i] = g_irq[i].thread;
          g_irq[i].stop = true;
          pthread_cond_signal(&g_irq[i].cond);
        }
    }

  pthread_mutex_unlock(&g_irq_lock);

  for (i = 0; i < HOST_NIRQ; i++)
    {
      if (join[i])
        {
          pthread_join(threads[i], NULL);
        }
    }

  pthread_mutex_lock(&g_irq_lock);
  for (i = 0; i < HOST_NIRQ; i++)
    {
      struct host_irq_s *q = &g_irq[i];

      if (join[i])
        {
          q->thread_started = false;
          q->stop = false;
          q->isr = NULL;
          q->arg = NULL;
          q->enabled = false;
          q->pulses = 0;
          q->running = false;
        }
    }

  pthread_cond_broadcast(&g_irq_idle);
  pthread_mutex_unlock(&g_irq_lock);

  /* The timer thread. A callback in progress completes first. */

  pthread_mutex_lock(&g_tmr_lock);
  tmr_join = g_tmr_started;
  tmr = g_tmr_thread;
  if (tmr_join)
    {
      g_tmr_stop = true;
      pthread_cond_signal(&g_tmr_cond);
    }

  pthread_mutex_unlock(&g_tmr_lock);

  if (tmr_join)
    {
      pthread_join(tmr, NULL);

      pthread_mutex_lock(&g_tmr_lock);
      g_tmr_started = false;
      g_tmr_stop = false;
      pthread_mutex_unlock(&g_tmr_lock);
    }

  pthread_mutex_unlock(&g_shutdown_lock);
}

void mbox_os_assert_fail(const char *file, size_t file_len, int line)
{
  if (file == NULL)
    {
      file = "?";
      file_len = 1;
    }

  fprintf(stderr, "libmbox assertion: %.*s:%d\n", (int)file_len, file,
          line);
  fflush(stderr);
  abort();
}
