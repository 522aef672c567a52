/****************************************************************************
 * bench/port_min.h
 *
 * Controls of the minimal single-threaded bench port (port_min.c).
 ****************************************************************************/

#ifndef __BENCH_PORT_MIN_H
#define __BENCH_PORT_MIN_H

#include "mbox_os.h"

/* Set: the outermost critical section toggles callgrind collection. */

extern volatile int bench_cs_measure;

/* Outermost critical sections entered while bench_cs_measure was set. */

extern unsigned long bench_cs_enters;

/* The port's clock. */

extern mbox_os_clock_t bench_ticks;

/* Called (as an interrupt) by a blocked sender's wait before it checks
 * whether it was posted: the bench delivers the ACK from here.
 */

extern void (*bench_wait_hook)(void *arg);
extern void *bench_wait_hook_arg;

extern unsigned long bench_timer_starts;
extern unsigned long bench_timer_cancels;

/* Calls of the port functions the fast paths use (counted only in a build
 * with -DBENCH_COUNT_CALLS, all zero otherwise).
 */

struct bench_port_calls_s
{
  unsigned long enter_critical;
  unsigned long ticks;
  unsigned long timer_start;
  unsigned long timer_cancel;
  unsigned long wait_init;
  unsigned long wait_timed;
  unsigned long wait_post;
};

extern struct bench_port_calls_s bench_calls;

int bench_cs_depth(void);
void bench_run_as_interrupt(void (*fn)(void *), void *arg);

#endif /* __BENCH_PORT_MIN_H */
