/****************************************************************************
 * ffi/cortexm/libc/time.h
 *
 * The bare-metal Cortex-M port has no C library: the port contract
 * (ffi/mbox_os.h) and the public headers need only clock_t from <time.h>.
 * Signed, as on the host and in NuttX, so that a negative timeout can be
 * refused; 32 bits (long on Arm EABI), ticks of the port's SysTick.
 ****************************************************************************/

#ifndef __LIBMBOX_CORTEXM_TIME_H
#define __LIBMBOX_CORTEXM_TIME_H

typedef long clock_t;

#endif /* __LIBMBOX_CORTEXM_TIME_H */
