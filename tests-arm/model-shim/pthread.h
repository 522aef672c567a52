/* tests-arm/model-shim/pthread.h: what ffi/host/pl320_model.c needs from
 * pthreads, on one bare-metal core. A mutex is the port's critical section
 * (the model's registers are reached from tasks and interrupt handlers);
 * pthread_create() succeeds without running the thread, so the model's
 * helper (delayed and late ACK fault injection) never runs on this core:
 * the image injects late and duplicated ACKs itself.
 */
#ifndef __TESTS_ARM_SHIM_PTHREAD_H
#define __TESTS_ARM_SHIM_PTHREAD_H
#include "mbox_os.h"
typedef struct { mbox_os_irqstate_t flags; } pthread_mutex_t;
typedef int pthread_cond_t;
typedef int pthread_condattr_t;
typedef int pthread_t;
static inline int pthread_mutex_init(pthread_mutex_t *m, const void *a) { (void)a; m->flags = 0; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { m->flags = mbox_os_enter_critical(); return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { mbox_os_leave_critical(m->flags); return 0; }
static inline int pthread_condattr_init(pthread_condattr_t *a) { (void)a; return 0; }
static inline int pthread_condattr_destroy(pthread_condattr_t *a) { (void)a; return 0; }
static inline int pthread_condattr_setclock(pthread_condattr_t *a, int c) { (void)a; (void)c; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return 0; }
static inline int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const void *t) { (void)c; (void)m; (void)t; return 0; }
static inline int pthread_create(pthread_t *t, const void *a, void *(*fn)(void *), void *arg) { (void)a; (void)fn; (void)arg; *t = 0; return 0; }
static inline int pthread_join(pthread_t t, void **r) { (void)t; (void)r; return 0; }
#endif
