//! Loom interleaving tests of the libmbox channel state machine.
//!
//! Everything lives in `tests/`: `tests/model/mod.rs` is the model (the
//! real `mbox::chan::ChanState` behind one loom mutex standing for the
//! port's critical section, a fake lower half, per-sender loom wait
//! objects, a clock/watchdog thread), `tests/interleavings.rs` the tests.
//! `tests/model/fifo.rs` is the same for a channel with several messages
//! in flight (`set_txdepth`, a hardware FIFO, the TX-done hand-out of
//! `capi.rs::drain`), `tests/multi_inflight.rs` its tests.
//! See docs/concurrency.md for the protocol being checked.
//!
//! Run with `cargo test -p mbox-loom --release`.
