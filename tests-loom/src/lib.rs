//! Loom interleaving tests of the libmbox channel state machine and its
//! blocking glue.
//!
//! Everything lives in `tests/`: `tests/model/mod.rs` is the model (the
//! real `mbox::upper::chan::ChanState` and the real `mbox::upper::glue` over a loom
//! implementation of `mbox::os::Os` whose critical section is one loom
//! mutex, a fake lower half, per-sender loom wait objects from
//! `tests/model/os.rs`, a clock/watchdog thread), `tests/interleavings.rs`
//! the tests. `tests/model/fifo.rs` is the same for a channel with several
//! messages in flight (`set_txdepth`, a hardware FIFO, the glue's TX-done
//! hand-out), `tests/multi_inflight.rs` its tests. `tests/rr.rs` runs the
//! request/response helper's protocol (`mbox::rr::request`, `deliver`,
//! `cancel`) over a loom `Os` of its own, with the wait objects of
//! `tests/model/os.rs`.
//! See docs/concurrency.md for the protocol being checked.
//!
//! Run with `cargo test -p mbox-loom --release`.
