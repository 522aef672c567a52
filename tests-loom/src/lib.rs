//! Loom interleaving tests of the libmbox channel state machine.
//!
//! Everything lives in `tests/`: `tests/model/mod.rs` is the model (the
//! real `mbox::chan::ChanState` behind one loom mutex standing for the
//! port's critical section, a fake lower half, per-sender loom wait
//! objects, a clock/watchdog thread), `tests/interleavings.rs` the tests.
//! See docs/concurrency.md for the protocol being checked.
//!
//! Run with `cargo test -p mbox-loom --release`.
