//! The C shell: the structs of `mbox.h`, the `extern "C"` entry points
//! and the adapter to a lower half's `mbox_ops_s`. The only place where
//! raw C pointers become references (besides the PL320 lower half's own
//! entry points and registers).

pub mod capi;
mod config_tag;
pub mod types;
