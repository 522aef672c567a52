//! Negated errno values returned by libmbox (NuttX and Linux share them).

#![deny(unsafe_code)]

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
pub const EIO: i32 = 5;
pub const EBADMSG: i32 = 74;
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EBUSY: i32 = 16;
pub const ENODEV: i32 = 19;
pub const EINVAL: i32 = 22;
pub const ENOSPC: i32 = 28;
pub const EDEADLK: i32 = 35;
pub const ENOSYS: i32 = 38;
pub const EMSGSIZE: i32 = 90;
pub const ENOBUFS: i32 = 105;
pub const ETIMEDOUT: i32 = 110;
pub const ECANCELED: i32 = 125;
