/****************************************************************************
 * ffi/cortexm/libc/errno.h
 *
 * The errno values libmbox returns (negated), as NuttX and Linux number
 * them (src/upper/errno.rs). A C library for Arm (newlib) numbers some of them
 * differently (EMSGSIZE, ECANCELED, ...), so the port and the test image
 * use this header instead of a C library's.
 ****************************************************************************/

#ifndef __LIBMBOX_CORTEXM_ERRNO_H
#define __LIBMBOX_CORTEXM_ERRNO_H

#define EPERM       1
#define ENOENT      2
#define ESRCH       3
#define EIO         5
#define EAGAIN      11
#define ENOMEM      12
#define EBUSY       16
#define ENODEV      19
#define EINVAL      22
#define ENOSPC      28
#define EDEADLK     35
#define ENOSYS      38
#define ENODATA     61
#define EBADMSG     74
#define EMSGSIZE    90
#define ENOBUFS     105
#define ETIMEDOUT   110
#define ECANCELED   125

#endif /* __LIBMBOX_CORTEXM_ERRNO_H */
