//! The C-visible types of `include/nuttx/mbox/mbox.h`.
//!
//! cbindgen generates the header from this file, so these definitions *are*
//! the ABI. Names and field names follow the NuttX mailbox API so that
//! board and client code written for it compiles unchanged.
//! Fields after the comment "framework-private" belong to the upper half:
//! C code may not touch them.

#![allow(non_camel_case_types)]

use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_int, c_void};
use core::mem::{align_of, size_of};
use core::sync::atomic::AtomicU8;

use crate::os;
use crate::upper::chan::ChanState;

/// Ticks of the system clock (the OS's `clock_t`).
pub type clock_t = os::sys::mbox_os_clock_t;

/// Direction of a channel, fixed by `mbox_chan_init()`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum mbox_direction_e {
    /// The channel receives messages from the remote.
    MBOX_RX = 0,
    /// The channel sends messages to the remote.
    MBOX_TX = 1,
}

/// TX state of a channel (`mbox_chan_s::txstate`), kept current by the
/// upper half.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum mbox_txstate_e {
    /// No message of the channel is in flight.
    MBOX_TX_IDLE = 0,
    /// At least one message was handed to the lower half and has not ended
    /// yet (no ACK, timeout or error so far).
    MBOX_TX_ACTIVE = 1,
}

/// Largest message of a lower half that does not declare its MTU
/// (`mbox_dev_s::mtu` left 0): the limit of the NuttX C driver's API. A
/// lower half that declares a larger MTU carries larger messages.
pub const MBOX_MAX_MSG_SIZE: usize = 128;

/// Client callback: for RX channels it is called once per received message.
///
/// `ret` is 0 when `data` holds `size` received bytes, or the lower half's
/// negated errno when reception failed (then `data` is NULL and `size` 0).
/// `data` is valid only during the call. Context: the context that called
/// `mbox_chan_rx_data()` (usually the lower half's interrupt handler), never
/// with the framework's critical section held. The return value is ignored
/// by the framework.
pub type mbox_callback_t = Option<
    unsafe extern "C" fn(ret: c_int, chan: *mut mbox_chan_s, arg: *mut c_void, data: *mut c_void, size: usize) -> c_int,
>;

/// TX-done callback of a sender (`mbox_register_txdone()`): called once
/// per accepted non-blocking message of that sender when the message ends,
/// with its result: 0 (ACKed), -ETIMEDOUT, the lower half's send error, or
/// -ECANCELED (`mbox_chan_deinit()`). Context: the one that ended the
/// message (the lower half's interrupt handler, the watchdog, or a task),
/// never with the framework's critical section held. Callbacks of one
/// channel run one at a time, in submission order.
#[cfg(feature = "txdone-callback")]
pub type mbox_txdone_t = Option<unsafe extern "C" fn(sender: *mut mbox_sender_s, arg: *mut c_void, result: c_int)>;

/// How a TX channel learns that a transfer is done (Linux TXDONE_BY_*),
/// chosen with `mbox_chan_set_txdone()`.
#[cfg(feature = "txdone-methods")]
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum mbox_txdone_method_e {
    /// The lower half reports ACKs (`mbox_chan_tx_done*()`). The default.
    MBOX_TXDONE_IRQ = 0,
    /// The framework polls `ops->txacked` every period from the watchdog.
    MBOX_TXDONE_POLL = 1,
    /// The client reports completion (`mbox_client_txdone()`).
    MBOX_TXDONE_ACK = 2,
}

/// Most messages one TX channel keeps in flight (`mbox_dev_s::txdepth`;
/// `CONFIG_MBOX_TXFIFO`).
#[cfg(feature = "txfifo")]
pub const MBOX_MAX_TXDEPTH: usize = 16;

/// Bytes of the channel buffer that each in-flight slot of a channel with
/// `txdepth > 1` takes (see `MBOX_TXBUF_SIZE()`; `CONFIG_MBOX_TXFIFO`).
#[cfg(feature = "txfifo")]
pub const MBOX_TXSLOT_SIZE: usize = 40;

/// Most clients with a callback on one channel: receivers on an RX channel
/// (`mbox_register_rxcallback()`, `CONFIG_MBOX_MULTI_RX`; without it one
/// receiver), senders with a TX-done callback on a TX channel
/// (`mbox_register_txdone()`).
pub const MBOX_MAX_CLIENTS: usize = 4;

/// One client of a channel that registered a callback (framework-private;
/// only with an option that keeps several clients per channel).
#[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct mbox_client_s {
    /// The receiver or sender that registered (identity only; never
    /// dereferenced by the framework).
    pub owner: *mut c_void,
    /// RX callback (RX channels; `CONFIG_MBOX_MULTI_RX`).
    #[cfg(feature = "multi-rx")]
    pub rxcallback: mbox_callback_t,
    /// TX-done callback (TX channels; `CONFIG_MBOX_TXDONE_CALLBACK`).
    #[cfg(feature = "txdone-callback")]
    pub txdone: mbox_txdone_t,
    pub arg: *mut c_void,
}

#[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
impl mbox_client_s {
    pub const EMPTY: mbox_client_s = mbox_client_s {
        owner: core::ptr::null_mut(),
        #[cfg(feature = "multi-rx")]
        rxcallback: None,
        #[cfg(feature = "txdone-callback")]
        txdone: None,
        arg: core::ptr::null_mut(),
    };
}

/// Trace statistics of one channel (`CONFIG_MBOX_TRACE`). Read a
/// consistent copy with `mbox_chan_get_stats()`.
#[cfg(feature = "trace")]
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct mbox_stats_s {
    /// TX messages that ended with -ETIMEDOUT (queued or in flight).
    pub timeout: usize,
    /// TX messages handed to the lower half successfully.
    pub sent: usize,
    /// RX messages received from the lower half (`recv` returned a size),
    /// whether or not a callback was registered.
    pub received: usize,
    /// Acknowledgements seen on the channel: on a TX channel the ACKs that
    /// completed a message (a stale or spurious one is `spurious_ack`
    /// instead), on an RX channel the messages acknowledged to the remote.
    pub acked: usize,
    /// TX messages waiting now to be handed to the lower half (queued
    /// non-blocking messages and blocked senders not yet in flight).
    pub buffered: usize,
    /// Non-blocking sends refused with -ENOBUFS because the ring was full.
    pub queue_full: usize,
    /// tx_done notifications that matched no in-flight message (stale,
    /// duplicate, late or spurious ACKs); they completed nothing.
    pub spurious_ack: usize,
    /// Lower-half send failures (the message ended with that error).
    pub send_err: usize,
    /// RX receptions that reached no callback: messages received with no
    /// receiver registered (also counted in `received`), and failed
    /// receptions (`recv` error, size above the MTU).
    pub rx_dropped: usize,
    /// High-water mark of messages waiting in the queue.
    pub max_queued: usize,
    /// TX messages ended with -ECANCELED by mbox_chan_deinit().
    pub cancelled: usize,
}

/// The lower-half operations. A lower half (C or Rust) fills one static
/// table and points `mbox_dev_s::ops` at it. Every entry may be NULL, in
/// which case the framework does without it (documented per entry).
///
/// Rules for all ops: they run with the framework's critical section held
/// unless stated otherwise, so they must be short, must not block and must
/// not call back into any `mbox_*` function.
#[repr(C)]
pub struct mbox_ops_s {
    /// Resolve a channel from a platform argument (the PL320 lower half
    /// takes the mailbox number). Returns the channel or NULL.
    /// Context: task or interrupt; critical section not held.
    /// Called by `mbox_get_chan()`; NULL op means no channel can be found.
    pub getchan: Option<unsafe extern "C" fn(dev: *mut mbox_dev_s, arg: *mut c_void) -> Option<&'static CChan>>,
    /// Prepare the hardware of one channel. Called by `mbox_chan_init()`
    /// (arg NULL) after the framework state is ready; critical section not
    /// held. Returns 0 or a negated errno (then init fails with it).
    pub setup: Option<unsafe extern "C" fn(chan: Option<&CChan>, arg: *mut c_void) -> c_int>,
    /// Quiesce the hardware of one channel. Called once by
    /// `mbox_chan_deinit()` after all senders were released; critical
    /// section not held. Returns 0 or a negated errno (reported by deinit).
    pub shutdown: Option<extern "C" fn(chan: Option<&CChan>) -> c_int>,
    /// Start transmitting `size` bytes (size <= `mbox_dev_s::mtu`) from
    /// `data`, which is never NULL, also for 0 bytes (the caller's buffer,
    /// or the message's record inside the channel's queue buffer). The
    /// token of the message is in `chan->txtoken`. Returns 0 when the
    /// message is on its way (an ACK will follow through
    /// `mbox_chan_tx_done()`), or a negated errno (the message ends with
    /// that error). Required for TX channels.
    pub send: Option<unsafe extern "C" fn(chan: Option<&CChan>, data: *const c_void, size: usize) -> c_int>,
    /// Copy the pending RX message into `data` (at least `mtu` bytes).
    /// Returns its size (0..=mtu) or a negated errno (-1 to
    /// `-MBOX_MAX_ERRNO`), as an `int` (the NuttX C driver's type). A size
    /// above the MTU becomes -EMSGSIZE, a value below `-MBOX_MAX_ERRNO`
    /// -EIO (the message is then not acknowledged). Called by
    /// `mbox_chan_rx_data()` with the critical section held (like `send`:
    /// short, no blocking, no `mbox_*` call on the same channel). -EAGAIN
    /// means "not complete yet": nothing happens, the call returns -EAGAIN.
    /// Required for RX.
    pub recv: Option<unsafe extern "C" fn(chan: Option<&CChan>, data: *mut c_void) -> c_int>,
    /// Acknowledge the message just received; `data`/`size` are that
    /// message as `recv` returned it (a lower half may inspect it; PL320
    /// ignores it). Called by `mbox_chan_rx_data()` after `recv`, before the
    /// client callback, in the same critical section as `recv`. Returns 0
    /// or a negated errno (not counted as `acked`; the message is still
    /// delivered). NULL: no ACK.
    pub acknowledge: Option<unsafe extern "C" fn(chan: Option<&CChan>, data: *const c_void, size: usize) -> c_int>,
    /// Finish the current TX transfer after its ACK, or abort it after a
    /// timeout or deinit, so that the channel can send again. During the
    /// call `chan->txtoken` is the token of the message that ends: with
    /// `txdepth > 1` it is called once per message leaving flight, usually
    /// the oldest, but a timed-out later one may end first. NULL: nothing
    /// to do. Returns 0 or a negated errno (ignored).
    pub txfinish: Option<extern "C" fn(chan: Option<&CChan>) -> c_int>,
    /// Tell the lower half that an RX callback was (un)registered. Called by
    /// `mbox_register_rxcallback()`/`mbox_unregister_rxcallback()` with the
    /// critical section held. NULL: nothing to do. Returns 0 or negated
    /// errno (then registration fails with it).
    pub setcallback: Option<unsafe extern "C" fn(chan: Option<&CChan>, cb: mbox_callback_t, arg: *mut c_void) -> c_int>,
    /// True when an RX message is pending in the hardware.
    pub rxavailable: Option<extern "C" fn(chan: Option<&CChan>) -> bool>,
    /// True when the hardware can accept a TX message.
    pub txready: Option<extern "C" fn(chan: Option<&CChan>) -> bool>,
    /// True when the remote has acknowledged the in-flight message. Called
    /// by `mbox_chan_tx_done()` to reject duplicate and spurious
    /// notifications. NULL: every notification with a message in flight
    /// is trusted.
    pub txacked: Option<extern "C" fn(chan: Option<&CChan>) -> bool>,
}

/// A mailbox controller instance. Lower halves embed it first in their own
/// device structure (`struct mbox_dev_s base;`). `ops`, `chans` and
/// `num_chans` come first, as in the NuttX C driver.
#[repr(C)]
pub struct mbox_dev_s {
    /// The lower-half operations.
    // A table that lives as long as the program (`static`), not changed
    // while a channel of the device is initialised.
    pub ops: Option<&'static mbox_ops_s>,
    /// The lower half's channels (for its own use: the upper half never
    /// reads it; it may be NULL).
    pub chans: *mut mbox_chan_s,
    /// Number of channels the device offers (`mbox_dev_max_chans()`; 0 if
    /// unknown).
    pub num_chans: usize,
    /// Largest message, in bytes, that one hardware transfer carries
    /// (the MTU). 0 means `MBOX_MAX_MSG_SIZE` (128).
    pub mtu: usize,
    /// Messages one TX channel of the controller holds in flight (its
    /// hardware FIFO depth): 0 or 1 means one, at most `MBOX_MAX_TXDEPTH`.
    /// With N > 1 the upper half keeps up to N messages in flight and
    /// expects their ACKs in FIFO order; the channel's buffer must then
    /// hold `MBOX_TXBUF_SIZE(N, queue bytes)`. Such a lower half should
    /// report ACKs with `mbox_chan_tx_done_token()`: without a token
    /// (`mbox_chan_tx_done()`, or POLL mode) `txacked` must mean "the
    /// oldest message still in flight is acknowledged", which a late ACK
    /// of an aborted message can fake. Only with `CONFIG_MBOX_TXFIFO`:
    /// without it every TX channel has one message in flight.
    #[cfg(feature = "txfifo")]
    pub txdepth: usize,
}

/// Bytes of a channel's framework-private state
/// (`struct mbox_chan_state_s`): the part that every configuration has, by
/// pointer width.
#[cfg(target_pointer_width = "64")]
pub const MBOX_CHAN_STATE_BASE_SIZE: usize = 152;
#[cfg(target_pointer_width = "32")]
pub const MBOX_CHAN_STATE_BASE_SIZE: usize = 120;

/// What `CONFIG_MBOX_TXFIFO` adds to it (a pointer to the carved slots; on
/// a 32-bit target it fits in padding).
#[cfg(all(feature = "txfifo", target_pointer_width = "64"))]
pub const MBOX_CHAN_STATE_TXFIFO_SIZE: usize = 8;
#[cfg(not(all(feature = "txfifo", target_pointer_width = "64")))]
pub const MBOX_CHAN_STATE_TXFIFO_SIZE: usize = 0;

/// What `CONFIG_MBOX_TXDONE_METHODS` adds to it (the poll period).
#[cfg(feature = "txdone-methods")]
pub const MBOX_CHAN_STATE_POLL_SIZE: usize = 8;
#[cfg(not(feature = "txdone-methods"))]
pub const MBOX_CHAN_STATE_POLL_SIZE: usize = 0;

/// Bytes of a channel's framework-private state.
pub const MBOX_CHAN_STATE_SIZE: usize =
    MBOX_CHAN_STATE_BASE_SIZE + MBOX_CHAN_STATE_TXFIFO_SIZE + MBOX_CHAN_STATE_POLL_SIZE;

/// The same in 8-byte words (the storage's element).
pub const MBOX_CHAN_STATE_WORDS: usize = MBOX_CHAN_STATE_SIZE / 8;

/// framework-private: a channel's state machine, opaque to C. The header
/// gives it only the size and alignment of the library's own state, so
/// that C code can allocate channels statically; the library asserts at
/// compile time that its state is exactly this storage, and mbox.h that
/// the C compiler lays it out with that size.
#[repr(C)]
pub struct mbox_chan_state_s {
    pub opaque: [u64; MBOX_CHAN_STATE_WORDS],
}
static_assertions::const_assert_eq!(size_of::<ChanState>(), size_of::<mbox_chan_state_s>());
static_assertions::const_assert_eq!(align_of::<ChanState>(), align_of::<mbox_chan_state_s>());
static_assertions::const_assert_eq!(MBOX_CHAN_STATE_SIZE % 8, 0);

/// Opaque storage for the port's watchdog timer (the same size and
/// alignment as `struct mbox_os_timer_s` in ffi/mbox_os.h, asserted below)
/// so that this header does not depend on the port header.
#[repr(C)]
pub struct mbox_timer_storage_s {
    pub opaque: [u64; 8],
}

/// A mailbox channel. Lower halves embed it first in their own channel
/// structure (`struct mbox_chan_s base;`); board code may set `id` and
/// `timeout` with designated initialisers before `mbox_chan_init()`. The
/// public fields of the NuttX C driver come in its order (`id`, `dir`,
/// `dev`, `callback`, then `timeout`, `txstate`, `stats`, `priv`), so
/// positional and designated initialisers keep their meaning; the
/// framework's own state lies between them.
#[repr(C)]
pub struct mbox_chan_s {
    /// Channel number, chosen by board code (PL320: the mailbox number).
    pub id: c_int,
    /// Direction (set by `mbox_chan_init()`).
    pub dir: mbox_direction_e,
    /// The device this channel belongs to (set by `mbox_chan_init()`).
    pub dev: *mut mbox_dev_s,
    /// RX callback of the registered receiver (set by
    /// `mbox_register_rxcallback()`; with `CONFIG_MBOX_MULTI_RX` the first
    /// one's, and all receivers, with their arguments, are in `clients`).
    pub callback: mbox_callback_t,
    /// framework-private: the argument `callback` is called with (without
    /// `CONFIG_MBOX_MULTI_RX`, where the channel has one receiver).
    #[cfg(not(feature = "multi-rx"))]
    pub callback_arg: *mut c_void,
    /// framework-private: the clients with a callback, in registration
    /// order (receivers of an RX channel with `CONFIG_MBOX_MULTI_RX`,
    /// TX-done senders of a TX channel with `CONFIG_MBOX_TXDONE_CALLBACK`).
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    pub clients: [mbox_client_s; MBOX_MAX_CLIENTS],
    /// framework-private: the channel state machine (opaque storage).
    pub state: mbox_chan_state_s,
    /// framework-private: the RX claim, 1 while a reception runs (recv,
    /// ACK, callbacks). Beside `state`, not inside it: a reception
    /// releases it after its callbacks without the critical section.
    pub rx_claim: AtomicU8,
    /// framework-private: the port's watchdog for the in-flight message.
    pub timer: mbox_timer_storage_s,
    /// Default ACK timeout in ticks: used by `mbox_send()` and as the
    /// deadline of every queued non-blocking message. 0 or
    /// `MBOX_WAIT_FOREVER` mean `CONFIG_MBOX_DEFAULT_TIMEOUT`.
    pub timeout: clock_t,
    /// `MBOX_TX_ACTIVE` while a message of the channel is in flight,
    /// `MBOX_TX_IDLE` otherwise (framework-maintained; C may read it).
    pub txstate: mbox_txstate_e,
    /// Token of the message being passed to `ops->send`; a lower half that
    /// can carry it to the remote and back reports the ACK with
    /// `mbox_chan_tx_done_token()`.
    pub txtoken: u32,
    /// Trace statistics (framework-maintained; read with
    /// `mbox_chan_get_stats()`).
    #[cfg(feature = "trace")]
    pub stats: mbox_stats_s,
    /// Free for the lower half.
    pub r#priv: *mut c_void,
}

/// A client's handle for sending on a TX channel. Several senders may
/// share one channel.
#[repr(C)]
pub struct mbox_sender_s {
    // The channel (C: NULL or a channel that outlives every call made
    // with this sender).
    pub chan: Option<&'static CChan>,
    pub r#priv: *mut c_void,
}

/// A client's handle for receiving on an RX channel. With
/// `CONFIG_MBOX_MULTI_RX` up to `MBOX_MAX_CLIENTS` receivers may register
/// on one channel and each receives every message; without it the
/// channel has one receiver, the last one registered.
#[repr(C)]
pub struct mbox_receiver_s {
    // The channel (C: NULL or a channel that outlives every call made
    // with this receiver).
    pub chan: Option<&'static CChan>,
    pub r#priv: *mut c_void,
}

/// A channel as Rust reaches it: `mbox_chan_s` field for field (the
/// layout is asserted below), each field in a cell. C code, interrupts
/// and other tasks change a live channel meanwhile (under the critical
/// section, or the RX claim atomically), so no `&mut` to the whole
/// channel and no `&mbox_chan_s` is ever formed while it is shared: the
/// plain fields are read and written through their `Cell`, the state
/// machine is borrowed under the critical section only, and a reference
/// to a `CChan` is the channel's own address (a C `struct mbox_chan_s *`
/// is an `Option<&CChan>` at the C boundary). Its operations are the
/// safe methods in `capi.rs`.
#[repr(C)]
pub struct CChan {
    pub(crate) id: Cell<c_int>,
    pub(crate) dir: Cell<mbox_direction_e>,
    pub(crate) dev: Cell<*mut mbox_dev_s>,
    pub(crate) callback: Cell<mbox_callback_t>,
    #[cfg(not(feature = "multi-rx"))]
    pub(crate) callback_arg: Cell<*mut c_void>,
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    pub(crate) clients: Cell<[mbox_client_s; MBOX_MAX_CLIENTS]>,
    pub(crate) state: UnsafeCell<ChanState>,
    pub(crate) rx_claim: AtomicU8,
    pub(crate) timer: os::Timer,
    pub(crate) timeout: Cell<clock_t>,
    pub(crate) txstate: Cell<mbox_txstate_e>,
    pub(crate) txtoken: Cell<u32>,
    #[cfg(feature = "trace")]
    pub(crate) stats: CStats,
    pub(crate) r#priv: Cell<*mut c_void>,
}

/// `mbox_stats_s` as an array of counters in a cell (its layout, asserted
/// below): the state machine counts under the critical section, readers
/// copy under it. One cell over the whole array, so that a copy or a
/// reset stays one block move. The statistics entry points also take
/// their output as one: C may pass any writable `mbox_stats_s`.
#[cfg(feature = "trace")]
#[repr(transparent)]
pub struct CStats(Cell<[usize; CStats::N]>);

#[cfg(feature = "trace")]
impl CStats {
    const N: usize = 11;
    // The counters' indices, in the order of `mbox_stats_s`.
    pub(crate) const TIMEOUT: usize = 0;
    pub(crate) const SENT: usize = 1;
    pub(crate) const RECEIVED: usize = 2;
    pub(crate) const ACKED: usize = 3;
    pub(crate) const BUFFERED: usize = 4;
    pub(crate) const QUEUE_FULL: usize = 5;
    pub(crate) const SPURIOUS_ACK: usize = 6;
    pub(crate) const SEND_ERR: usize = 7;
    pub(crate) const RX_DROPPED: usize = 8;
    pub(crate) const MAX_QUEUED: usize = 9;
    pub(crate) const CANCELLED: usize = 10;

    /// Counter `i` (one of the constants above).
    #[inline(always)]
    pub(crate) fn at(&self, i: usize) -> &Cell<usize> {
        let all: &Cell<[usize]> = &self.0;
        &all.as_slice_of_cells()[i]
    }

    /// Every counter 0.
    pub(crate) const fn new() -> CStats {
        CStats(Cell::new([0; Self::N]))
    }

    /// Every counter as `src` has it (a block move, which allows `src`
    /// and `self` to overlap).
    pub(crate) fn copy_from(&self, src: &CStats) {
        self.0.set(src.0.get());
    }

    /// A copy of the counters.
    pub(crate) fn get(&self) -> mbox_stats_s {
        let [timeout, sent, received, acked, buffered, queue_full, spurious_ack, send_err, rx_dropped, max_queued, cancelled] =
            self.0.get();
        mbox_stats_s {
            timeout,
            sent,
            received,
            acked,
            buffered,
            queue_full,
            spurious_ack,
            send_err,
            rx_dropped,
            max_queued,
            cancelled,
        }
    }

    /// Every counter back to 0.
    pub(crate) fn clear(&self) {
        self.0.set([0; Self::N]);
    }
}

/// `CChan` is `mbox_chan_s` with its fields in cells (`Cell<T>` and
/// `UnsafeCell<T>` have the layout of `T`): same size, alignment and
/// offsets. `CStats` likewise is `mbox_stats_s`.
const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<CChan>() == size_of::<mbox_chan_s>());
    assert!(align_of::<CChan>() == align_of::<mbox_chan_s>());
    assert!(offset_of!(CChan, id) == offset_of!(mbox_chan_s, id));
    assert!(offset_of!(CChan, dir) == offset_of!(mbox_chan_s, dir));
    assert!(offset_of!(CChan, dev) == offset_of!(mbox_chan_s, dev));
    assert!(offset_of!(CChan, callback) == offset_of!(mbox_chan_s, callback));
    #[cfg(not(feature = "multi-rx"))]
    assert!(offset_of!(CChan, callback_arg) == offset_of!(mbox_chan_s, callback_arg));
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    assert!(offset_of!(CChan, clients) == offset_of!(mbox_chan_s, clients));
    assert!(offset_of!(CChan, state) == offset_of!(mbox_chan_s, state));
    assert!(offset_of!(CChan, rx_claim) == offset_of!(mbox_chan_s, rx_claim));
    assert!(offset_of!(CChan, timer) == offset_of!(mbox_chan_s, timer));
    assert!(offset_of!(CChan, timeout) == offset_of!(mbox_chan_s, timeout));
    assert!(offset_of!(CChan, txstate) == offset_of!(mbox_chan_s, txstate));
    assert!(offset_of!(CChan, txtoken) == offset_of!(mbox_chan_s, txtoken));
    #[cfg(feature = "trace")]
    assert!(offset_of!(CChan, stats) == offset_of!(mbox_chan_s, stats));
    assert!(offset_of!(CChan, r#priv) == offset_of!(mbox_chan_s, r#priv));
    #[cfg(feature = "trace")]
    {
        assert!(size_of::<CStats>() == size_of::<mbox_stats_s>());
        assert!(align_of::<CStats>() == align_of::<mbox_stats_s>());
        let w = size_of::<usize>();
        assert!(offset_of!(mbox_stats_s, timeout) == CStats::TIMEOUT * w);
        assert!(offset_of!(mbox_stats_s, sent) == CStats::SENT * w);
        assert!(offset_of!(mbox_stats_s, received) == CStats::RECEIVED * w);
        assert!(offset_of!(mbox_stats_s, acked) == CStats::ACKED * w);
        assert!(offset_of!(mbox_stats_s, buffered) == CStats::BUFFERED * w);
        assert!(offset_of!(mbox_stats_s, queue_full) == CStats::QUEUE_FULL * w);
        assert!(offset_of!(mbox_stats_s, spurious_ack) == CStats::SPURIOUS_ACK * w);
        assert!(offset_of!(mbox_stats_s, send_err) == CStats::SEND_ERR * w);
        assert!(offset_of!(mbox_stats_s, rx_dropped) == CStats::RX_DROPPED * w);
        assert!(offset_of!(mbox_stats_s, max_queued) == CStats::MAX_QUEUED * w);
        assert!(offset_of!(mbox_stats_s, cancelled) == CStats::CANCELLED * w);
    }
};
// A C pointer field and an optional reference have one layout.
static_assertions::const_assert_eq!(size_of::<Option<&'static CChan>>(), size_of::<*mut mbox_chan_s>());

// The port's timer object must fit the storage reserved for it here.
static_assertions::const_assert!(size_of::<os::sys::mbox_os_timer_s>() <= size_of::<mbox_timer_storage_s>());
static_assertions::const_assert!(align_of::<os::sys::mbox_os_timer_s>() <= align_of::<mbox_timer_storage_s>());
// CChan holds that storage as the port's `os::Timer`.
static_assertions::const_assert_eq!(size_of::<os::Timer>(), size_of::<mbox_timer_storage_s>());
static_assertions::const_assert_eq!(align_of::<os::Timer>(), align_of::<mbox_timer_storage_s>());
static_assertions::const_assert_eq!(align_of::<os::sys::mbox_os_wait_s>(), 8);
#[cfg(feature = "txfifo")]
static_assertions::const_assert_eq!(MBOX_MAX_TXDEPTH, crate::upper::chan::MAX_TXDEPTH);
#[cfg(feature = "txfifo")]
static_assertions::const_assert_eq!(MBOX_TXSLOT_SIZE, crate::upper::chan::TXSLOT_SIZE);
#[cfg(feature = "txfifo")]
static_assertions::const_assert!(MBOX_MAX_TXDEPTH <= u8::MAX as usize);
// A C enum is at most int-sized: `mbox_chan_init()` can take the direction
// as an int (arguments are widened to a register). In structs, repr(C)
// follows the target's C ABI: int-sized on Linux/NuttX-sim, one byte on
// bare-metal Arm EABI, where arm-none-eabi-gcc also uses short enums.
static_assertions::const_assert!(size_of::<mbox_direction_e>() <= size_of::<c_int>());
static_assertions::const_assert!(size_of::<mbox_txstate_e>() <= size_of::<c_int>());
static_assertions::const_assert_eq!(size_of::<mbox_callback_t>(), size_of::<usize>());
