//! A safe Rust API over the channel's operations, for firmware written in
//! Rust.
//!
//! Every call goes through the same safe methods of [`crate::shell::capi::CChan`]
//! (and [`crate::rr::RrCell`]) that the `extern "C"` functions C clients
//! use are shells over, so the state machine, its locking and every
//! guarantee of `docs/concurrency.md` are exactly those of the C API; this
//! module only adds types and lifetimes.
//!
//! - [`Device`]: a lower half's device (`struct mbox_dev_s`), trusted once,
//!   with an `unsafe` constructor;
//! - [`Channel`]: an initialised channel, either owned (initialised here,
//!   de-initialised on drop) or adopted from a lower half that initialised
//!   it (PL320: [`Device::channel`]);
//! - [`Sender`], [`TxClient`] (a sender with a TX-done callback) and
//!   [`Receiver`] (up to four per RX channel): borrowed from a TX or RX
//!   [`Channel`], so none can outlive it, and [`Channel::deinit`] (which
//!   takes the channel by value) cannot run while one exists;
//! - [`Requester`]: request/response over a TX and an RX channel (the
//!   `mbox_rr_*` helper), in [`RrStorage`];
//! - [`Error`], [`Result`], [`Direction`], [`Timeout`], [`TxDoneMethod`].
//!
//! # Example
//!
//! A TX and an RX channel of a loopback lower half (a test double that
//! delivers every message to its own RX channel and then ACKs it, from a
//! simulated interrupt). On a board the device comes from the lower half,
//! e.g. `pl320_initialize()`, and the channel storage from a `static`.
//!
//! ```
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use mbox::api::{Channel, Direction, Error, Result, Timeout};
//! # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
//!
//! static RECEIVED: AtomicUsize = AtomicUsize::new(0);
//!
//! // Runs in interrupt context for every message of the RX channel.
//! fn on_message(msg: Result<&[u8]>) {
//!     if let Ok(data) = msg {
//!         RECEIVED.fetch_add(data.len(), Ordering::SeqCst);
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! let lower = Loopback::new(16); // MTU 16 bytes
//! let dev = lower.device();
//! // Storage that lives for ever (on a board: `static` memory).
//! let (tx_chan, tx_buf) = (leak_chan(), leak_buf(128));
//! let (rx_chan, rx_buf) = (leak_chan(), leak_buf(16));
//!
//! let tx = Channel::init(tx_chan, &dev, Direction::Tx, tx_buf)?;
//! let rx = Channel::init(rx_chan, &dev, Direction::Rx, rx_buf)?;
//! assert_eq!(tx.mtu(), 16);
//!
//! let mut receiver = rx.receiver()?;
//! receiver.register(&on_message)?;
//!
//! let sender = tx.sender()?;
//! sender.send(b"hello")?; // waits for the ACK (channel timeout)
//! sender.send_timeout(b"world!", Timeout::Ticks(100))?;
//! assert_eq!(RECEIVED.load(Ordering::SeqCst), 11);
//! assert_eq!(sender.send(&[0; 17]), Err(Error::MsgSize));
//! sender.try_send(b"queued")?; // returns at once
//!
//! drop(receiver); // unregisters the callback
//! tx.deinit()?;   // no Sender may be alive here (checked at compile time)
//! rx.deinit()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Lifetimes: what does not compile
//!
//! A [`Sender`] borrows its [`Channel`], so the channel cannot be
//! de-initialised (or dropped) while the sender is still used:
//!
//! ```compile_fail,E0505
//! # use mbox::api::{Channel, Direction};
//! # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
//! # let dev = Loopback::new(16).device();
//! let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64)).unwrap();
//! let sender = tx.sender().unwrap();
//! tx.deinit().unwrap(); // error: cannot move out of `tx` while borrowed
//! sender.send(b"late").unwrap();
//! ```
//!
//! The same holds for a [`Receiver`]:
//!
//! ```compile_fail,E0505
//! # use mbox::api::{Channel, Direction};
//! # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
//! # let dev = Loopback::new(16).device();
//! let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16)).unwrap();
//! let mut receiver = rx.receiver().unwrap();
//! drop(rx); // error: cannot move out of `rx` while borrowed
//! receiver.unregister().unwrap();
//! ```
//!
#![cfg_attr(
    feature = "txdone-callback",
    doc = r#"
... and for a [`TxClient`] or a [`Requester`]:

```compile_fail,E0505
# use mbox::api::{Channel, Direction, Result};
# use mbox::api::testing::{leak_buf, leak_chan, Loopback};
# let dev = Loopback::new(16).device();
fn done(_r: Result<()>) {}
let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64)).unwrap();
let client = tx.tx_client(&done).unwrap();
tx.deinit().unwrap(); // error: cannot move out of `tx` while borrowed
client.try_send(b"late").unwrap();
```

"#
)]
//! A callback must be `'static`: a closure that borrows a local is refused.
//!
//! ```compile_fail,E0597
//! # use mbox::api::{Channel, Direction, Result};
//! # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
//! # let dev = Loopback::new(16).device();
//! let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16)).unwrap();
//! let mut receiver = rx.receiver().unwrap();
//! let count = core::sync::atomic::AtomicUsize::new(0);
//! let cb = |_m: Result<&[u8]>| { count.fetch_add(1, core::sync::atomic::Ordering::SeqCst); };
//! receiver.register(&cb).unwrap(); // error: `cb` does not live long enough
//! ```
//!
//! ... and it must be `Sync`, because it runs in interrupt context, on
//! another thread than the one that registered it:
//!
//! ```compile_fail,E0277
//! # use mbox::api::{Channel, Direction, Result};
//! # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
//! # let dev = Loopback::new(16).device();
//! let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16)).unwrap();
//! let mut receiver = rx.receiver().unwrap();
//! let count = core::cell::Cell::new(0);
//! let cb = Box::leak(Box::new(move |_m: Result<&[u8]>| count.set(count.get() + 1)));
//! receiver.register(cb).unwrap(); // error: `Cell<i32>` cannot be shared between threads
//! ```
//!
//! A sender cannot leave [`Channel::scope`] either:
//!
//! ```compile_fail,E0521
//! # use mbox::api::{Channel, Direction, Sender};
//! # use mbox::api::testing::{leak_buf, Loopback};
//! # let dev = Loopback::new(16).device();
//! // SAFETY: all zeroes is a valid, not yet initialised mbox_chan_s.
//! let mut chan = unsafe { core::mem::zeroed::<mbox::shell::types::mbox_chan_s>() };
//! let mut buf = [0u8; 64];
//! let mut escaped: Option<Sender<'_>> = None;
//! Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |tx| {
//!     escaped = tx.sender().ok(); // error: borrowed data escapes the closure
//! })
//! .unwrap();
//! escaped.unwrap().send(b"after deinit").unwrap();
//! ```
//!
//! A channel initialised with [`Channel::init`] needs storage that lives
//! for ever (see "Soundness" below); a stack channel goes through
//! [`Channel::scope`]:
//!
//! ```compile_fail,E0597
//! # use mbox::api::{Channel, Direction};
//! # use mbox::api::testing::{leak_buf, Loopback};
//! # let dev = Loopback::new(16).device();
//! // SAFETY: all zeroes is a valid, not yet initialised mbox_chan_s.
//! let mut chan = unsafe { core::mem::zeroed::<mbox::shell::types::mbox_chan_s>() };
//! let tx = Channel::init(&mut chan, &dev, Direction::Tx, leak_buf(64)); // error: borrowed value does not live long enough
//! # drop(tx);
//! ```
//!
//! # Soundness
//!
//! - **Trusting the lower half.** A `mbox_dev_s` can be built in safe Rust
//!   with any `ops` pointer, and the ops are `unsafe extern "C"` functions
//!   that the upper half calls with raw pointers. So the one place where a
//!   lower half is trusted is [`Device::from_raw`], which is `unsafe`;
//!   everything after it is safe.
//! - **Channel storage and `mem::forget`.** Once initialised, the C side
//!   keeps raw pointers to the channel and its buffer (the watchdog, the
//!   lower half's interrupt handler). If a `Channel` over a borrowed stack
//!   channel were forgotten (`mem::forget` is safe), the borrow would end
//!   while the channel is still live, and the storage could be reused
//!   under a running watchdog. So [`Channel::init`] takes `'static`
//!   storage (forgetting it then only leaks), and borrowed storage is
//!   only accepted by [`Channel::scope`], which de-initialises the channel
//!   itself before it returns (even when the closure panics), while the
//!   closure only ever sees `&Channel`.
//! - **Callbacks.** The C side keeps the callback's `arg` pointer and calls
//!   it from interrupt context, on another thread or CPU. Unregistering
//!   does not wait for a callback that is already running (see
//!   `mbox_unregister_rxcallback()`), so even an unregister-on-drop guard
//!   or a scope could return while the closure still runs. Callbacks are
//!   therefore `&'static F` with `F: Fn(Result<&[u8]>) + Sync` (a `fn`
//!   item or a `static` works: `receiver.register(&on_message)`). The
//!   received bytes are lent only for the call.
//! - **Threads.** [`Channel`], [`Sender`], [`TxClient`], [`Requester`]
//!   and [`Device`] are `Send` and `Sync`: every operation is one of the
//!   channel's safe methods (`capi::CChan`, `rr::RrCell`, the same code
//!   the C entry points run), which takes the port's critical section, and several senders
//!   (threads) on one channel each get their own result
//!   (`docs/concurrency.md`). A [`Receiver`] is a shared borrow of its
//!   channel (so `Send` and `Sync` too); the methods that change its
//!   registration take `&mut self`.
//! - **Client identities.** The C side keys a receiver's RX callback and
//!   a sender's TX-done callback on the address of its `mbox_receiver_s`
//!   or `mbox_sender_s`. Those live in one of the `MBOX_MAX_CLIENTS`
//!   client slots inside the [`Channel`] handle, which the [`Receiver`] or
//!   [`TxClient`] borrows, so the address stays the same from register to
//!   unregister. A forgotten client keeps its slot for the life of the
//!   handle (so no later client inherits its registration); the channel
//!   never dereferences an identity, so a stale one is harmless.
//! - **Request/response storage.** The C helper keeps pointers to its
//!   `mbox_rr_s`, sender and receiver, and a reception that started
//!   before `mbox_rr_deinit()` may still read the helper afterwards (on
//!   another CPU). So [`RrStorage`] is `'static` and consumed by the
//!   [`Requester`]; the `Requester` borrows both channels.
//! - **Deinit from a callback.** A callback can only reach `'static`
//!   handles. Its [`Channel::deinit`] returns [`Error::Deadlock`] (C
//!   refuses to wait for itself) and leaves the channel initialised over
//!   its `'static` storage; [`Channel::scope`]'s own teardown never runs
//!   inside a callback of its channel.
//! - **Who may de-initialise.** A channel initialised through this API is
//!   owned: dropping it or [`Channel::deinit`] tears it down. A channel
//!   adopted with [`Device::channel`] belongs to the lower half that
//!   initialised it (PL320 keeps it in its device table and its interrupt
//!   handler keeps using it); dropping the `Channel` leaves it live, and
//!   [`Channel::deinit`] refuses with [`Error::Perm`].
//!
//! # The C extensions (`docs/beyond.md`)
//!
//! | C | here |
//! |---|---|
//! | `mbox_register_txdone` | [`Channel::tx_client`], [`TxClient::try_send`] |
//! | `mbox_dev_s::txdepth`, `mbox_chan_txdepth` (`txfifo`) | `Channel::txdepth`, `tx_buffer_size` |
//! | `mbox_rr_init/request/deinit` | [`Requester`] |
//! | several receivers | [`Channel::receiver`] (up to 4) |
//! | `mbox_chan_mtu`, `mbox_dev_max_chans` | [`Channel::mtu`], [`Device::max_chans`] |
//! | `mbox_chan_set_txdone`, `mbox_client_txdone` | [`Channel::set_txdone`], [`Sender::client_txdone`] |
//! | `mbox_send_poll` | [`Sender::send_poll`] |

#![warn(missing_docs)]

use core::ffi::{c_int, c_void};
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::shell::capi::{self, rx_callback, OnRx, RxCall};
#[cfg(feature = "txdone-methods")]
use crate::shell::types::mbox_txdone_method_e;
use crate::shell::types::CChan;
#[cfg(feature = "txfifo")]
use crate::shell::types::MBOX_TXSLOT_SIZE;
use crate::shell::types::{
    clock_t, mbox_chan_s, mbox_dev_s, mbox_direction_e, mbox_receiver_s, mbox_sender_s, MBOX_MAX_CLIENTS,
};
use crate::upper::errno;

#[cfg(feature = "trace")]
pub use crate::shell::types::mbox_stats_s as Stats;

#[cfg(feature = "rr")]
mod requester;
#[doc(hidden)]
#[cfg(feature = "host-port")]
pub mod testing;
#[cfg(feature = "rr")]
pub use requester::{Requester, RrStorage, Tag, Unsolicited};

#[cfg(all(test, feature = "host-port"))]
mod tests;

/// An error of the mailbox API: the errno value a C entry point returned.
///
/// The C functions return negated errno values; an `Error` holds the
/// positive value ([`Error::errno`]). Values without a variant of their
/// own (for instance a lower half's private error) are [`Error::Other`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// `EINVAL`: wrong direction, uninitialised channel, bad arguments.
    Invalid,
    /// `EBUSY`: channel already initialised; TX-done method changed while
    /// messages are in flight; a request with the same tag is pending.
    Busy,
    /// `ENOBUFS`: the queue of a non-blocking send is full.
    NoBufs,
    /// `ETIMEDOUT`: no ACK before the deadline.
    TimedOut,
    /// `ECANCELED`: the channel was de-initialised while the message waited.
    Cancelled,
    /// `EMSGSIZE`: the message is larger than the MTU.
    MsgSize,
    /// `EPERM`: not allowed in this context (a blocking call from an
    /// interrupt; de-initialising a channel that belongs to a lower half).
    Perm,
    /// `ENOENT`: nothing in flight.
    NoEnt,
    /// `ENOSYS`: the lower half lacks the operation.
    NoSys,
    /// `EAGAIN`: not yet; try again.
    Again,
    /// `ENODEV`: no such device.
    NoDev,
    /// `ENOMEM`: out of memory (a port's wait object or timer).
    NoMem,
    /// `ENOSPC`: no room for another client on the channel
    /// (`MBOX_MAX_CLIENTS` receivers or TX-done senders).
    NoSpace,
    /// `EDEADLK`: the call would wait for itself (de-initialising a
    /// channel from one of its own callbacks).
    Deadlock,
    /// Any other errno value (positive), e.g. a lower half's own error.
    Other(i32),
}

impl Error {
    /// The error of a C return code or errno value: `-EINVAL` and `EINVAL`
    /// both give [`Error::Invalid`]. (0 is not an error; it gives
    /// `Other(0)`.)
    pub fn from_errno(code: i32) -> Error {
        match code.wrapping_abs() {
            errno::EINVAL => Error::Invalid,
            errno::EBUSY => Error::Busy,
            errno::ENOBUFS => Error::NoBufs,
            errno::ETIMEDOUT => Error::TimedOut,
            errno::ECANCELED => Error::Cancelled,
            errno::EMSGSIZE => Error::MsgSize,
            errno::EPERM => Error::Perm,
            errno::ENOENT => Error::NoEnt,
            errno::ENOSYS => Error::NoSys,
            errno::EAGAIN => Error::Again,
            errno::ENODEV => Error::NoDev,
            errno::ENOMEM => Error::NoMem,
            errno::ENOSPC => Error::NoSpace,
            errno::EDEADLK => Error::Deadlock,
            e => Error::Other(e),
        }
    }

    /// The positive errno value (`Error::Invalid.errno() == EINVAL`); a C
    /// function would return its negation.
    pub fn errno(self) -> i32 {
        match self {
            Error::Invalid => errno::EINVAL,
            Error::Busy => errno::EBUSY,
            Error::NoBufs => errno::ENOBUFS,
            Error::TimedOut => errno::ETIMEDOUT,
            Error::Cancelled => errno::ECANCELED,
            Error::MsgSize => errno::EMSGSIZE,
            Error::Perm => errno::EPERM,
            Error::NoEnt => errno::ENOENT,
            Error::NoSys => errno::ENOSYS,
            Error::Again => errno::EAGAIN,
            Error::NoDev => errno::ENODEV,
            Error::NoMem => errno::ENOMEM,
            Error::NoSpace => errno::ENOSPC,
            Error::Deadlock => errno::EDEADLK,
            Error::Other(e) => e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Invalid => "invalid argument or channel (EINVAL)",
            Error::Busy => "busy (EBUSY)",
            Error::NoBufs => "queue full (ENOBUFS)",
            Error::TimedOut => "timed out (ETIMEDOUT)",
            Error::Cancelled => "cancelled by deinit (ECANCELED)",
            Error::MsgSize => "message larger than the MTU (EMSGSIZE)",
            Error::Perm => "not permitted here (EPERM)",
            Error::NoEnt => "nothing in flight (ENOENT)",
            Error::NoSys => "not supported by the lower half (ENOSYS)",
            Error::Again => "try again (EAGAIN)",
            Error::NoDev => "no such device (ENODEV)",
            Error::NoMem => "out of memory (ENOMEM)",
            Error::NoSpace => "no room for another client (ENOSPC)",
            Error::Deadlock => "would wait for itself (EDEADLK)",
            Error::Other(e) => return write!(f, "mailbox error {e}"),
        };
        f.write_str(what)
    }
}

/// The result of the mailbox API.
pub type Result<T> = core::result::Result<T, Error>;

/// A C return code (0 or a negated errno) as a [`Result`].
fn check(ret: c_int) -> Result<()> {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

/// Direction of a channel, fixed when it is initialised.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// The channel sends messages to the remote.
    Tx,
    /// The channel receives messages from the remote.
    Rx,
}

impl Direction {
    fn raw(self) -> mbox_direction_e {
        match self {
            Direction::Tx => mbox_direction_e::MBOX_TX,
            Direction::Rx => mbox_direction_e::MBOX_RX,
        }
    }
}

/// How long a send may wait (its queueing plus the remote's ACK).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Timeout {
    /// Do not wait: send at once when the channel is idle, otherwise queue
    /// the message in the channel's buffer ([`Error::NoBufs`] when full).
    /// Allowed in interrupt context.
    NonBlocking,
    /// Wait at most this many ticks of the OS clock. `Ticks(0)` is
    /// [`Timeout::NonBlocking`]; values beyond what the OS's `clock_t`
    /// holds are clamped (never turned into "forever").
    Ticks(u32),
    /// Wait without limit (`MBOX_WAIT_FOREVER`).
    Forever,
}

impl Timeout {
    fn to_clock(self) -> clock_t {
        #[allow(clippy::unnecessary_cast)]
        let forever = -1i64 as clock_t;
        match self {
            Timeout::NonBlocking => 0 as clock_t,
            Timeout::Forever => forever,
            Timeout::Ticks(n) => {
                let bits = 8 * core::mem::size_of::<clock_t>() as u32;
                #[allow(clippy::unnecessary_cast, unused_comparisons)]
                let signed = forever < (0 as clock_t);
                // Largest value that is neither negative nor all ones.
                let max = if signed { u64::MAX >> (65 - bits) } else { (u64::MAX >> (64 - bits)) - 1 };
                (n as u64).min(max) as clock_t
            }
        }
    }
}

/// A lower half's device (`struct mbox_dev_s`), trusted for `'d`.
///
/// Copying it is free; it is only a pointer.
#[derive(Clone, Copy)]
pub struct Device<'d> {
    dev: &'d mbox_dev_s,
}

// SAFETY: a Device is a pointer to a device whose ops the from_raw contract
// makes callable from any thread; the upper half only reads `ops` and
// `mtu`, which do not change while the device lives.
unsafe impl Send for Device<'_> {}
// SAFETY: as for Send; shared use only calls thread-safe operations.
unsafe impl Sync for Device<'_> {}

impl<'d> Device<'d> {
    /// Wraps the device a lower half returned (e.g. `pl320_initialize()`).
    /// Returns `None` for NULL.
    ///
    /// # Safety
    /// For all of `'d`: `dev` points to a `mbox_dev_s` (embedded first in
    /// the lower half's own device if it has one, with the provenance of
    /// that whole device) whose `ops` table is a correct lower half in the
    /// sense of `mbox_ops_s` (every op honours its documented contract,
    /// may be called from any thread, and touches only memory it owns or
    /// was given); `ops` and `mtu` do not change; and every channel that
    /// `ops->getchan` returns stays valid memory for `'d`, and after
    /// `ops->shutdown` returns the lower half no longer uses that channel.
    pub unsafe fn from_raw(dev: *mut mbox_dev_s) -> Option<Device<'d>> {
        // SAFETY: NULL or a device valid for 'd whose base fields do not
        // change (the function's contract).
        unsafe { dev.as_ref() }.map(|dev| Device { dev })
    }

    /// The device pointer, for C functions of the lower half.
    pub fn as_ptr(&self) -> *mut mbox_dev_s {
        ptr::from_ref(self.dev).cast_mut()
    }

    /// The largest message one transfer carries (`mtu`, or the default of
    /// `MBOX_MAX_MSG_SIZE`, 128 bytes, when the lower half leaves it 0).
    pub fn mtu(&self) -> usize {
        match self.dev.mtu {
            0 => capi::MBOX_DEFAULT_MTU,
            m => m,
        }
    }

    /// Adopts a channel that the lower half initialised, looked up with
    /// its `getchan` op (`mbox_get_chan()`; PL320: `arg` is the mailbox
    /// number). Returns `None` when the lower half knows no such channel.
    ///
    /// The channel stays the lower half's: dropping the returned
    /// `Channel` leaves it initialised, and [`Channel::deinit`] refuses
    /// with [`Error::Perm`]. If the lower half (or C code) de-initialises
    /// it, operations on it fail with [`Error::Invalid`].
    pub fn channel(&self, arg: usize) -> Option<Channel<'d>> {
        let chan = capi::get_chan(self.dev, arg as *mut c_void)?;
        let dir = if chan.is_tx() { Direction::Tx } else { Direction::Rx };
        Some(Channel::new(chan, false, dir, self.mtu()))
    }

    /// The number of channels the device offers (`mbox_dev_max_chans()`).
    ///
    /// Errors: [`Error::NoSys`] when the lower half does not say.
    pub fn max_chans(&self) -> Result<usize> {
        let n = capi::dev_max_chans(self.dev);
        check(n).map(|()| n as usize)
    }
}

impl fmt::Debug for Device<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device").field("raw", &self.as_ptr()).finish()
    }
}

/// The C identities (`mbox_receiver_s`, `mbox_sender_s`: the same layout,
/// the channel first) share the client slots of a [`Channel`].
const _: () = assert!(
    core::mem::size_of::<mbox_receiver_s>() == core::mem::size_of::<mbox_sender_s>()
        && core::mem::align_of::<mbox_receiver_s>() == core::mem::align_of::<mbox_sender_s>()
        && core::mem::offset_of!(mbox_receiver_s, chan) == core::mem::offset_of!(mbox_sender_s, chan)
        && core::mem::offset_of!(mbox_receiver_s, r#priv) == core::mem::offset_of!(mbox_sender_s, r#priv)
);

/// An initialised channel, valid for `'a`.
///
/// Obtained with [`Channel::init`] (owned, `'static` storage),
/// [`Channel::scope`] (owned, borrowed storage, for the duration of a
/// closure) or [`Device::channel`] (adopted from the lower half). Send
/// with a [`Sender`] from [`Channel::sender`], receive with a
/// [`Receiver`] from [`Channel::receiver`].
///
/// Dropping an owned channel de-initialises it (use [`Channel::deinit`]
/// to see the result); dropping an adopted one does nothing.
pub struct Channel<'a> {
    chan: &'a CChan,
    owned: bool,
    dir: Direction,
    mtu: usize,
    /// Client slots in use (bit i: `ids[i]`), each by one [`Receiver`] or
    /// [`TxClient`] of this handle; taken and released atomically.
    taken: AtomicU8,
    /// The C identities of those clients: a `mbox_receiver_s` (RX) or a
    /// `mbox_sender_s` (TX), each `{ chan: NULL, priv: NULL }`. Only their
    /// addresses matter (the channel keys registrations on them, never
    /// reads them). They live here, not in the `Receiver` or `TxClient`,
    /// so that each client's address stays the same from register to
    /// unregister: a client borrows the channel, so the channel cannot
    /// move meanwhile.
    ids: [mbox_sender_s; MBOX_MAX_CLIENTS],
    _chan: PhantomData<&'a mut mbox_chan_s>,
}

// SAFETY: the channel is only reached through its operations (CChan's
// methods), which take the port's critical section and may be called from
// any task; deinit (on drop) is a task-context call that any thread may
// make.
unsafe impl Send for Channel<'_> {}
// SAFETY: shared use (&Channel) only makes calls that are safe to race
// with each other (the state machine runs under the critical section,
// several blocked senders each get their own result); `taken` is an
// atomic; `ids` are never written after construction, and only their
// addresses are used.
unsafe impl Sync for Channel<'_> {}

impl Channel<'static> {
    /// Initialises `chan` as a channel of `dev` (`mbox_chan_init()`):
    /// for [`Direction::Tx`], `buf` holds the queue of non-blocking
    /// messages (6 bytes plus the payload each, plus a pointer's size for
    /// a sender with a TX-done callback; may be empty, then
    /// non-blocking sends only succeed while the channel is idle); for
    /// [`Direction::Rx`], `buf` is the receive scratch, at least the MTU
    /// (may be empty when the MTU is at most `MBOX_MAX_MSG_SIZE`, 128:
    /// reception then uses the stack). Board code may set `chan.id` and `chan.timeout` (the
    /// default ACK timeout, in ticks) before.
    ///
    /// The storage must be `'static` because the C side keeps pointers to
    /// it for as long as the channel is live, and a `Channel` may be
    /// forgotten; see [`Channel::scope`] for storage on the stack.
    ///
    /// Errors: [`Error::Busy`] when `chan` is already initialised,
    /// [`Error::Invalid`] for an RX buffer below the MTU, [`Error::Perm`]
    /// from interrupt context, the lower half's `setup` error.
    pub fn init(
        chan: &'static mut mbox_chan_s,
        dev: &Device<'static>,
        dir: Direction,
        buf: &'static mut [u8],
    ) -> Result<Channel<'static>> {
        // 'static storage outlives the channel whether or not it is ever
        // de-initialised.
        Channel::init_over(chan, dev, dir, buf, Outlives(PhantomData))
    }
}

/// That storage borrowed for `'a` outlives the C side's use of a channel
/// initialised over it: `'a` is `'static` ([`Channel::init`]), or the
/// channel is de-initialised before `'a` ends ([`Channel::scope`]). Made
/// only in those two places.
struct Outlives<'a>(PhantomData<fn(&'a ()) -> &'a ()>);

/// A buffer as `mbox_chan_init()` takes it: NULL for an empty one.
fn buf_parts(buf: &mut [u8]) -> (*mut u8, usize) {
    if buf.is_empty() {
        (ptr::null_mut(), 0)
    } else {
        (buf.as_mut_ptr(), buf.len())
    }
}

impl<'a> Channel<'a> {
    /// Initialises `chan` over `buf` (`mbox_chan_init()`), and its handle:
    /// the one path of [`Channel::init`] and [`Channel::scope`].
    fn init_over(
        chan: &'a mut mbox_chan_s,
        dev: &Device<'a>,
        dir: Direction,
        buf: &'a mut [u8],
        _outlives: Outlives<'a>,
    ) -> Result<Channel<'a>> {
        let c = CChan::from_mut(chan);
        let (bp, len) = buf_parts(buf);
        // SAFETY: chan and buf are exclusively ours for 'a and outlive the
        // C side's use of them (`Outlives`); dev is a trusted device valid
        // for 'a (Device::from_raw contract).
        let r = unsafe { c.init(dev.dev, dir.raw() as c_int, bp, len) };
        check(r)?;
        Ok(Channel::new(c, true, dir, dev.mtu()))
    }

    fn new(chan: &'a CChan, owned: bool, dir: Direction, mtu: usize) -> Channel<'a> {
        let id = || mbox_sender_s { chan: None, r#priv: ptr::null_mut() };
        Channel {
            chan,
            owned,
            dir,
            mtu,
            taken: AtomicU8::new(0),
            ids: core::array::from_fn(|_| id()),
            _chan: PhantomData,
        }
    }

    /// Takes a free client slot: [`Error::NoSpace`] when all
    /// `MBOX_MAX_CLIENTS` are in use by this handle's clients.
    fn take_slot(&self) -> Result<u8> {
        let all = (1u8 << MBOX_MAX_CLIENTS) - 1;
        self.taken
            .fetch_update(
                Ordering::AcqRel,
                Ordering::Acquire,
                |t| if t & all == all { None } else { Some(t | (t + 1)) },
            )
            .map(|t| (!t).trailing_zeros() as u8)
            .map_err(|_| Error::NoSpace)
    }

    fn free_slot(&self, slot: u8) {
        self.taken.fetch_and(!(1u8 << slot), Ordering::AcqRel);
    }

    /// The C identity of a client slot.
    fn id(&self, slot: u8) -> *const mbox_sender_s {
        &self.ids[usize::from(slot)]
    }

    /// Initialises a channel over borrowed storage (a stack channel), runs
    /// `f` with it, and de-initialises it before returning, also when `f`
    /// panics. Returns what `f` returned, or the error of `mbox_chan_init`
    /// or `mbox_chan_deinit` (then `f`'s result is dropped).
    ///
    /// `f` sees the channel only by reference, so it cannot forget it:
    /// the teardown always runs, and the storage is free again afterwards.
    ///
    /// ```
    /// # use mbox::api::{Channel, Direction, Result};
    /// # use mbox::api::testing::Loopback;
    /// # let dev = Loopback::new(16).device();
    /// // SAFETY: all zeroes is a valid, not yet initialised mbox_chan_s.
    /// let mut chan = unsafe { core::mem::zeroed::<mbox::shell::types::mbox_chan_s>() };
    /// let mut buf = [0u8; 64];
    /// let sent = Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |tx| -> Result<()> {
    ///     tx.sender()?.send(b"ping")
    /// });
    /// assert_eq!(sent, Ok(Ok(())));
    /// ```
    pub fn scope<R>(
        chan: &'a mut mbox_chan_s,
        dev: &Device<'a>,
        dir: Direction,
        buf: &'a mut [u8],
        f: impl FnOnce(&Channel<'a>) -> R,
    ) -> Result<R> {
        // The channel is de-initialised before the borrows of chan and buf
        // end: it is a local of this function that `f` only sees by
        // reference (so it cannot be moved out or forgotten), and it is
        // de-initialised below on return, or by its Drop while unwinding
        // when `f` panics.
        let ch = Channel::init_over(chan, dev, dir, buf, Outlives(PhantomData))?;
        let r = f(&ch);
        ch.deinit().map(|()| r)
    }

    /// The largest message, in bytes, that a send accepts
    /// (`mbox_chan_mtu()`; the device's MTU once the channel is no longer
    /// initialised, e.g. an adopted one its lower half tore down).
    pub fn mtu(&self) -> usize {
        match self.chan.mtu() {
            m if m > 0 => m as usize,
            _ => self.mtu,
        }
    }

    /// How many messages this TX channel keeps in flight at once
    /// (`mbox_chan_txdepth()`: the controller's `txdepth`, at least 1).
    /// A deeper channel's buffer must hold [`tx_buffer_size`] bytes.
    ///
    /// ```
    /// # use mbox::api::{tx_buffer_size, Channel, Direction, Error};
    /// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
    /// let dev = Loopback::with_depth(16, 4).device(); // a 4-deep FIFO
    /// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(tx_buffer_size(4, 64)))?;
    /// assert_eq!(tx.txdepth(), Ok(4));
    /// let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16))?;
    /// assert_eq!(rx.txdepth(), Err(Error::Invalid));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// Errors: [`Error::Invalid`] for an RX channel or one that is no
    /// longer initialised.
    #[cfg(feature = "txfifo")]
    pub fn txdepth(&self) -> Result<usize> {
        let d = self.chan.txdepth();
        check(d).map(|()| d as usize)
    }

    #[cfg(feature = "txdone-methods")]
    /// Chooses how this TX channel learns that a transfer is done
    /// (`mbox_chan_set_txdone()`); see [`TxDoneMethod`]. Timeouts work
    /// the same in every mode.
    ///
    /// ```
    /// # use mbox::api::{Channel, Direction, Error, TxDoneMethod};
    /// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
    /// # let dev = Loopback::new(16).device();
    /// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64))?;
    /// // Poll the lower half's `txacked` every 2 ticks instead of its IRQ.
    /// tx.set_txdone(TxDoneMethod::Poll(2))?;
    /// tx.sender()?.send(b"polled")?;
    /// assert_eq!(tx.set_txdone(TxDoneMethod::Poll(0)), Err(Error::Invalid));
    /// tx.set_txdone(TxDoneMethod::Irq)?;
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// Errors: [`Error::Invalid`] for an RX or uninitialised channel, or
    /// `Poll(0)`; [`Error::NoSys`] for `Poll` when the lower half has no
    /// `txacked`; [`Error::Busy`] while messages are in flight or queued
    /// (nothing changes).
    pub fn set_txdone(&self, method: TxDoneMethod) -> Result<()> {
        let (m, period) = match method {
            TxDoneMethod::Irq => (mbox_txdone_method_e::MBOX_TXDONE_IRQ, 0),
            TxDoneMethod::Poll(n) => (mbox_txdone_method_e::MBOX_TXDONE_POLL, n),
            TxDoneMethod::Ack => (mbox_txdone_method_e::MBOX_TXDONE_ACK, 0),
        };
        // Ticks(0) is 0, which C refuses for POLL; large values are clamped
        // below MBOX_WAIT_FOREVER.
        let period = Timeout::Ticks(period).to_clock();
        // SAFETY: a valid channel for 'a; the C side checks the rest.
        check(self.chan.set_txdone(m as c_int, period))
    }

    /// The channel's direction.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// True for a channel initialised through this API (dropping it
    /// de-initialises it), false for one adopted from a lower half.
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// The raw channel, for C functions (e.g. of the lower half).
    pub fn as_ptr(&self) -> *mut mbox_chan_s {
        self.chan.as_ptr()
    }

    /// A consistent copy of the channel's statistics
    /// (`mbox_chan_get_stats()`, `CONFIG_MBOX_TRACE`).
    #[cfg(feature = "trace")]
    pub fn stats(&self) -> Result<Stats> {
        self.chan.stats().map_err(Error::from_errno)
    }

    /// A sender on this TX channel; [`Error::Invalid`] on an RX channel.
    /// Any number of senders may exist, on any threads.
    pub fn sender(&self) -> Result<Sender<'_>> {
        if self.dir != Direction::Tx {
            return Err(Error::Invalid);
        }
        Ok(Sender { chan: self.chan })
    }

    /// A receiver of this RX channel. With `CONFIG_MBOX_MULTI_RX` (cargo
    /// feature `multi-rx`) up to `MBOX_MAX_CLIENTS` (4) receivers may be
    /// registered on one channel; each gets every message, in
    /// registration order (the C fan-out, docs/beyond.md §4). Without it
    /// the channel has one receiver: a registration replaces the previous
    /// one, and any receiver's unregister (or drop) clears it, as in the
    /// NuttX C driver.
    ///
    /// ```
    /// # use mbox::api::{Channel, Direction, Result};
    /// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
    /// # use core::sync::atomic::{AtomicUsize, Ordering};
    /// static LOGGED: AtomicUsize = AtomicUsize::new(0);
    /// static HANDLED: AtomicUsize = AtomicUsize::new(0);
    /// fn logger(m: Result<&[u8]>) { LOGGED.fetch_add(m.map_or(0, |d| d.len()), Ordering::SeqCst); }
    /// fn handler(m: Result<&[u8]>) { HANDLED.fetch_add(m.map_or(0, |d| d.len()), Ordering::SeqCst); }
    /// # let dev = Loopback::new(16).device();
    /// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64))?;
    /// let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16))?;
    /// let (mut a, mut b) = (rx.receiver()?, rx.receiver()?);
    /// a.register(&logger)?;
    /// b.register(&handler)?;
    /// tx.sender()?.send(b"to both")?;
    /// # #[cfg(feature = "multi-rx")]
    /// assert_eq!((LOGGED.load(Ordering::SeqCst), HANDLED.load(Ordering::SeqCst)), (7, 7));
    /// # #[cfg(not(feature = "multi-rx"))] // b replaced a
    /// # assert_eq!((LOGGED.load(Ordering::SeqCst), HANDLED.load(Ordering::SeqCst)), (0, 7));
    /// # Ok::<(), mbox::api::Error>(())
    /// ```
    ///
    /// Errors: [`Error::Invalid`] on a TX channel; [`Error::NoSpace`]
    /// while 4 `Receiver`s of this `Channel` exist. (Receivers registered
    /// by C code or through another handle count too: then
    /// [`Receiver::register`] fails with [`Error::NoSpace`].)
    pub fn receiver(&self) -> Result<Receiver<'_>> {
        if self.dir != Direction::Rx {
            return Err(Error::Invalid);
        }
        let slot = self.take_slot()?;
        Ok(Receiver { chan: self, slot, registered: false })
    }

    #[cfg(feature = "txdone-callback")]
    /// A sender with a TX-done callback (`mbox_register_txdone()`): every
    /// message that [`TxClient::try_send`] accepts ends with exactly one
    /// call `callback(result)`: `Ok(())` (ACKed), [`Error::TimedOut`],
    /// the lower half's send error, or [`Error::Cancelled`] (channel
    /// de-initialised; see [`TxClient::keep_registered`]). The callback
    /// runs outside the critical section, in the context that ended the
    /// message (the lower half's interrupt handler, the watchdog, or a
    /// task), one at a time and in submission order for the channel; it
    /// must not block. Like RX callbacks it is `&'static F` with `F: Sync`
    /// (the C side keeps it and may call it on another CPU).
    ///
    /// Dropping the `TxClient` removes the callback: messages still
    /// queued or in flight then end without a call.
    ///
    /// ```
    /// # use mbox::api::{Channel, Direction, Result};
    /// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
    /// use core::sync::atomic::{AtomicUsize, Ordering};
    /// static DONE: AtomicUsize = AtomicUsize::new(0);
    /// fn on_done(r: Result<()>) {
    ///     if r.is_ok() {
    ///         DONE.fetch_add(1, Ordering::SeqCst);
    ///     }
    /// }
    /// # let dev = Loopback::new(16).device();
    /// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64))?;
    /// let client = tx.tx_client(&on_done)?;
    /// client.try_send(b"one")?; // returns at once
    /// client.try_send(b"two")?; // queued behind it
    /// # let t0 = std::time::Instant::now();
    /// # while DONE.load(Ordering::SeqCst) < 2 && t0.elapsed().as_secs() < 5 {
    /// #     std::thread::yield_now();
    /// # }
    /// // ... later, from the ACK interrupt:
    /// assert_eq!(DONE.load(Ordering::SeqCst), 2);
    /// # Ok::<(), mbox::api::Error>(())
    /// ```
    ///
    /// Errors: [`Error::Invalid`] on an RX or uninitialised channel;
    /// [`Error::NoSpace`] when 4 senders (of this handle, or of C code)
    /// have a TX-done callback on the channel.
    pub fn tx_client<F>(&self, callback: &'static F) -> Result<TxClient<'_>>
    where
        F: Fn(Result<()>) + Sync + 'static,
    {
        if self.dir != Direction::Tx {
            return Err(Error::Invalid);
        }
        let slot = self.take_slot()?;
        let arg = callback as *const F as *mut c_void;
        // The slot's sender is ours alone until freed; the trampoline is
        // instantiated for F, and arg is a &'static F, valid for ever and
        // shareable with the interrupt context (F: Sync): what the
        // trampoline relies on.
        let r = check(self.chan.register_txdone(self.id(slot), Some(txdone_trampoline::<F>), arg));
        match r {
            Ok(()) => Ok(TxClient { chan: self, slot }),
            Err(e) => {
                self.free_slot(slot);
                Err(e)
            }
        }
    }

    /// De-initialises the channel (`mbox_chan_deinit()`): messages still
    /// queued or in flight end with [`Error::Cancelled`] (TX-done
    /// callbacks still registered get it before this returns), and no
    /// callback of this channel runs after it returns. Taking the channel
    /// by value means no `Sender`, `Receiver`, `TxClient` or `Requester`
    /// can still be alive.
    ///
    /// Errors: [`Error::Perm`] for an adopted channel (it belongs to its
    /// lower half; it stays initialised) or from interrupt context;
    /// [`Error::Deadlock`] from one of this channel's own callbacks running
    /// in task context (tearing down would wait for that very callback:
    /// the channel stays initialised, and since its storage is `'static`
    /// (a callback cannot hold a [`Channel::scope`] channel) it is only
    /// leaked); the lower half's `shutdown` error (the channel is
    /// de-initialised all the same).
    pub fn deinit(self) -> Result<()> {
        let this = core::mem::ManuallyDrop::new(self);
        if !this.owned {
            return Err(Error::Perm);
        }
        // SAFETY: an owned, initialised channel; by value, so no borrow
        // (Sender, Receiver) of it exists.
        check(this.chan.deinit())
    }
}

impl Drop for Channel<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: as in deinit(); the result has no one to go to (use
            // deinit() to see it).
            let _ = self.chan.deinit();
        }
    }
}

impl fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("chan", &self.chan.as_ptr())
            .field("dir", &self.dir)
            .field("mtu", &self.mtu)
            .field("owned", &self.owned)
            .finish()
    }
}

/// A handle for sending on a TX [`Channel`], borrowed from it.
///
/// `Copy`, `Send` and `Sync`: the C API lets any number of tasks send on
/// one channel at once (each call builds its own `mbox_sender_s`; every
/// blocked sender waits for and returns its own message's result).
#[derive(Clone, Copy, Debug)]
pub struct Sender<'c> {
    chan: &'c CChan,
}

// SAFETY: see the type's documentation; a Sender is a shared borrow of a
// Sync Channel, and each call uses a C sender of its own on its stack.
unsafe impl Send for Sender<'_> {}
// SAFETY: as for Send: concurrent sends are what the C API supports.
unsafe impl Sync for Sender<'_> {}

impl Sender<'_> {
    /// Sends `data` and waits for the remote's ACK, at most the channel's
    /// timeout (`mbox_send()`). Task context.
    ///
    /// Errors: [`Error::TimedOut`], [`Error::MsgSize`] (larger than the
    /// MTU, nothing sent), [`Error::Cancelled`] (channel de-initialised
    /// meanwhile), [`Error::Perm`] in interrupt context, the lower half's
    /// send error, [`Error::Invalid`] when the channel is no longer
    /// initialised (an adopted one).
    pub fn send(&self, data: &[u8]) -> Result<()> {
        check(self.chan.send(ptr::null(), data, None))
    }

    /// Sends `data` with an explicit timeout (`mbox_ticksend()`): a
    /// blocking send waits its turn and its ACK within `timeout`;
    /// [`Timeout::NonBlocking`] is [`Sender::try_send`].
    pub fn send_timeout(&self, data: &[u8], timeout: Timeout) -> Result<()> {
        check(self.chan.send(ptr::null(), data, Some(timeout.to_clock())))
    }

    /// Sends `data` without waiting (`mbox_ticksend(.., 0)`): at once if
    /// the channel is idle, otherwise copied into its queue. `Ok` means
    /// sent or queued (the outcome is counted in the statistics). Allowed
    /// in interrupt context.
    ///
    /// Errors: [`Error::NoBufs`] when the queue is full, [`Error::MsgSize`],
    /// the lower half's error for an immediate send.
    pub fn try_send(&self, data: &[u8]) -> Result<()> {
        self.send_timeout(data, Timeout::NonBlocking)
    }

    #[cfg(feature = "txdone-methods")]
    /// Sends `data` and busy-polls the lower half's `txacked` for its ACK
    /// at most `spins` times, never sleeping (`mbox_send_poll()`): for
    /// interrupt context and code that runs before the scheduler. The
    /// message waits its turn behind those queued before it.
    ///
    /// ```
    /// # use mbox::api::{Channel, Direction, Error};
    /// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
    /// # let lower = Loopback::new(16);
    /// # let dev = lower.device();
    /// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64))?;
    /// let s = tx.sender()?;
    /// s.send_poll(b"early boot", u32::MAX)?; // bounded by the channel timeout too
    /// lower.set_ack_delay_ms(-1); // the remote never answers
    /// assert_eq!(s.send_poll(b"lost", 100), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// Errors: [`Error::TimedOut`] (spins spent, or the channel timeout
    /// passed; the message is taken back), [`Error::Cancelled`], the lower
    /// half's send error, [`Error::MsgSize`], [`Error::Invalid`] for 0
    /// spins or an uninitialised channel, [`Error::NoSys`] when the lower
    /// half has no `txacked`, [`Error::Perm`] in [`TxDoneMethod::Ack`]
    /// mode.
    pub fn send_poll(&self, data: &[u8], spins: u32) -> Result<()> {
        check(self.chan.send_poll(data, spins))
    }

    #[cfg(feature = "txdone-methods")]
    /// Reports the end of the oldest message in flight on the channel
    /// ([`TxDoneMethod::Ack`] mode: the client knows, e.g. from the
    /// remote's reply, that it was taken; `mbox_client_txdone()`).
    /// `result` becomes that message's result: its blocked sender returns
    /// it, its TX-done callback gets it. Allowed in interrupt context.
    ///
    /// Errors: [`Error::NoEnt`] when nothing is in flight, [`Error::Perm`]
    /// in another mode, [`Error::Invalid`] for an uninitialised channel.
    pub fn client_txdone(&self, result: Result<()>) -> Result<()> {
        let code = match result {
            Ok(()) => 0,
            Err(e) => -e.errno().wrapping_abs(),
        };
        check(self.chan.client_txdone(code))
    }
}

#[cfg(feature = "txdone-methods")]
/// How a TX channel learns that a transfer is done
/// ([`Channel::set_txdone`], Linux `TXDONE_BY_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TxDoneMethod {
    /// The lower half reports each ACK from its interrupt (the default).
    Irq,
    /// The framework polls the lower half's `txacked` every this many
    /// ticks (not 0), from the channel's watchdog; the lower half's own
    /// reports are refused.
    Poll(u32),
    /// The client reports completion with [`Sender::client_txdone`]; the
    /// lower half's own reports are refused.
    Ack,
}

/// Bytes of TX channel buffer for a controller of depth `depth`
/// ([`Channel::txdepth`]) that also queues `queue_bytes` of non-blocking
/// messages (`MBOX_TXBUF_SIZE()`: 6 bytes of header per message, 14 with
/// a TX-done callback, plus the payload): a depth above 1 takes in-flight
/// slots from the start of the buffer.
#[cfg(feature = "txfifo")]
pub const fn tx_buffer_size(depth: usize, queue_bytes: usize) -> usize {
    if depth > 1 {
        7 + depth * MBOX_TXSLOT_SIZE + queue_bytes
    } else {
        queue_bytes
    }
}

#[cfg(feature = "txdone-callback")]
/// A sender with a TX-done callback ([`Channel::tx_client`]), borrowed
/// from its TX channel. Its C sender (its identity to the C side) lives in
/// a client slot of the [`Channel`], at one address for as long as the
/// callback is registered. `Send` and `Sync`: sends from several threads
/// or interrupts are fine.
#[derive(Debug)]
pub struct TxClient<'c> {
    chan: &'c Channel<'c>,
    slot: u8,
}

#[cfg(feature = "txdone-callback")]
impl<'c> TxClient<'c> {
    /// Sends `data` without waiting (`mbox_ticksend(.., 0)` by this
    /// client's C sender): at once if the channel has room in flight,
    /// otherwise copied into its queue. `Ok` means accepted: the callback
    /// gets the message's result later. Allowed in interrupt context.
    ///
    /// Errors (then no callback follows): [`Error::NoBufs`] when the queue
    /// is full, [`Error::MsgSize`], the lower half's error for an immediate
    /// send, [`Error::Invalid`] for an uninitialised channel.
    pub fn try_send(&self, data: &[u8]) -> Result<()> {
        // The slot's sender is registered at this address.
        check(self.chan.chan.send(self.chan.id(self.slot), data, Some(0)))
    }

    /// A plain sender on the same channel (blocking sends return their
    /// result instead of calling back).
    pub fn sender(&self) -> Sender<'c> {
        Sender { chan: self.chan.chan }
    }

    /// The channel this client sends on.
    pub fn channel(&self) -> &'c Channel<'c> {
        self.chan
    }

    /// Ends this handle but leaves the callback registered until the
    /// channel is de-initialised, so that messages still queued or in
    /// flight then get their result (e.g. [`Error::Cancelled`]). Its
    /// client slot stays in use for the life of the `Channel`.
    pub fn keep_registered(self) {
        core::mem::forget(self);
    }
}

#[cfg(feature = "txdone-callback")]
impl Drop for TxClient<'_> {
    fn drop(&mut self) {
        // The slot's sender, registered at this address by tx_client().
        let _ = self.chan.chan.register_txdone(self.chan.id(self.slot), None, ptr::null_mut());
        self.chan.free_slot(self.slot);
    }
}

#[cfg(feature = "txdone-callback")]
/// The C TX-done callback of a `&'static F`.
unsafe extern "C" fn txdone_trampoline<F>(_sender: *mut mbox_sender_s, arg: *mut c_void, result: c_int)
where
    F: Fn(Result<()>) + Sync + 'static,
{
    // SAFETY: arg is the &'static F given to Channel::tx_client together
    // with this instantiation of the trampoline.
    let f = unsafe { &*(arg as *const F) };
    f(check(result));
}

/// The receiving side of an RX [`Channel`], borrowed from it: registers
/// the channel's callback, and unregisters it when dropped.
///
/// Callbacks are `&'static F` where `F: Fn(Result<&[u8]>) + Sync`:
/// the C side keeps a raw pointer to the callback and calls it from
/// interrupt context, possibly on another CPU, and unregistering does not
/// wait for a call that already started. A borrowed closure could
/// therefore be freed while it still runs (and a guard that unregisters
/// on drop could be leaked with `mem::forget`), so only `'static`
/// callbacks are accepted: a `fn` item (`&on_message`) or a `static`.
#[derive(Debug)]
pub struct Receiver<'c> {
    chan: &'c Channel<'c>,
    slot: u8,
    registered: bool,
}

impl<'c> Receiver<'c> {
    /// The C receiver: this receiver's slot of the channel (see
    /// `Channel::ids`; same layout as a `mbox_sender_s`, checked above).
    fn raw(&self) -> *const mbox_receiver_s {
        self.chan.id(self.slot).cast()
    }

    /// Registers `callback` for every message of the channel (replacing
    /// this receiver's previous one, `mbox_register_rxcallback()`); with
    /// `multi-rx` the channel's other receivers get every message too,
    /// without it this registration replaces theirs.
    ///
    /// The callback gets `Ok(bytes)` for a received message (lent for the
    /// call only) or the lower half's reception error. It runs in the
    /// context that received (usually the lower half's interrupt handler),
    /// never with the critical section held; it must be short and must
    /// not block (a blocking send there fails with [`Error::Perm`]; use
    /// [`Sender::try_send`]). A panic in it aborts.
    ///
    /// Errors: [`Error::Invalid`] when the channel is no longer
    /// initialised; [`Error::NoSpace`] when 4 other receivers (of C code,
    /// another handle or a [`Requester`]) are registered (`multi-rx`); the lower half's
    /// `setcallback` error.
    pub fn register<F>(&mut self, callback: &'static F) -> Result<()>
    where
        F: Fn(Result<&[u8]>) + Sync + 'static,
    {
        let r = self.raw();
        let (cb, arg) = rx_callback(callback);
        check(self.chan.chan.register_rx(r, cb, arg))?;
        self.registered = true;
        Ok(())
    }

    /// Removes the callback (`mbox_unregister_rxcallback()`); messages that
    /// arrive afterwards are ACKed and counted as dropped. A callback
    /// already running on another CPU may still finish after this
    /// returns. Also done on drop.
    pub fn unregister(&mut self) -> Result<()> {
        if !self.registered {
            return Ok(());
        }
        let r = self.raw();
        let ret = check(self.chan.chan.unregister_rx(r));
        if matches!(ret, Ok(()) | Err(Error::Invalid) | Err(Error::NoEnt)) {
            // Invalid: the channel is no longer initialised, so no
            // callback is registered on it any more; NoEnt: the C side
            // (which keys receivers on their address) no longer has it.
            self.registered = false;
        }
        ret
    }

    /// The channel this receiver belongs to.
    pub fn channel(&self) -> &'c Channel<'c> {
        self.chan
    }
}

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        let _ = self.unregister();
        if !self.registered {
            self.chan.free_slot(self.slot);
        }
        // Otherwise (the lower half's setcallback refused) the slot stays
        // taken: its identity may still be registered.
    }
}

/// A callback of [`Receiver::register`] (or of a [`Requester`]'s
/// unsolicited messages) as the RX callback's handler.
impl<F> OnRx for F
where
    F: Fn(Result<&[u8]>) + Sync + 'static,
{
    fn on_rx(&self, call: &RxCall<'_>) {
        self(call.msg.map_err(Error::from_errno))
    }
}
