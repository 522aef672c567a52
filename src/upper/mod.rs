//! The upper half's core: the channel state machine, its queue, the
//! blocking glue, the waiters and the lent buffer, in safe Rust (only
//! `waiters` and `lent` hold `unsafe`, behind a safe API). It reaches the
//! OS through [`crate::os::Os`] and knows nothing of C.

pub mod chan;
pub mod errno;
pub mod glue;
pub mod lent;
pub mod queue;
pub mod waiters;
