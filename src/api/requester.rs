//! [`Requester`]: the safe API over the request/response helper
//! (`mbox_rr_*`, `CONFIG_MBOX_RR`, cargo feature `rr`).

use super::*;
use crate::rr::{mbox_rr_tag_t, RrCell};

/// Storage of a [`Requester`]: the C helper (`struct mbox_rr_s`) and the
/// sender and receiver it keeps pointers to. It must be `'static` (on a
/// board: `static` memory, e.g. through a `StaticCell`): the C side keeps
/// its address while the helper is live, and the RX callback of a
/// reception that started before [`Requester`]'s teardown may still read
/// it afterwards, on another CPU.
pub struct RrStorage {
    rr: RrCell,
    sender: mbox_sender_s,
    receiver: mbox_receiver_s,
    unsolicited: Option<Unsolicited>,
}

impl RrStorage {
    /// Zeroed storage (C's `= { 0 }`), ready for a [`Requester`].
    pub const fn new() -> RrStorage {
        RrStorage {
            rr: RrCell::new(),
            sender: mbox_sender_s { chan: None, r#priv: ptr::null_mut() },
            receiver: mbox_receiver_s { chan: None, r#priv: ptr::null_mut() },
            unsolicited: None,
        }
    }
}

impl Default for RrStorage {
    fn default() -> RrStorage {
        RrStorage::new()
    }
}

impl fmt::Debug for RrStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RrStorage").finish_non_exhaustive()
    }
}

/// The callback of a [`Requester`] for received messages that answer no
/// request, and for reception errors (its RX callback's context, usually
/// an interrupt; it must not block).
pub type Unsolicited = &'static (dyn Fn(Result<&[u8]>) + Sync);

/// How a [`Requester`] finds the tag of a request and of a reply: a reply
/// answers the pending request with the same tag. Implemented by a type
/// of your own (the C helper takes a plain function, without an argument,
/// so the tag function is an associated function, not a closure).
///
/// It runs in the requester's task (requests) and in the RX callback's
/// context (replies, usually an interrupt), and must not block.
pub trait Tag: 'static {
    /// The tag of `msg`, or `None` when it carries none (a request
    /// without one fails with [`Error::Invalid`]; such a reply is
    /// unsolicited).
    fn tag(msg: &[u8]) -> Option<u32>;
}

/// A request/response helper (`mbox_rr_*`, docs/beyond.md §3): requests
/// go out on a TX channel, replies come in on an RX channel (whose
/// receiver it registers while it lives), and each reply is matched to
/// the request it answers, by tag ([`Requester::tagged`]) or in order
/// ([`Requester::in_order`]). Borrows both channels; torn down
/// (`mbox_rr_deinit()`) on drop, which ends requests still waiting with
/// [`Error::Cancelled`]. `Send` and `Sync`: several threads may have
/// requests pending at once.
///
/// ```
/// # use mbox::api::{Channel, Direction, Requester, RrStorage, Tag, Timeout};
/// # use mbox::api::testing::{leak_buf, leak_chan, Loopback};
/// /// The protocol's first byte is the request number.
/// struct FirstByte;
/// impl Tag for FirstByte {
///     fn tag(msg: &[u8]) -> Option<u32> {
///         msg.first().map(|&b| u32::from(b))
///     }
/// }
/// # let remote = Loopback::new(16);
/// # let dev = remote.device();
/// let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64))?;
/// let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16))?;
/// let storage: &'static mut RrStorage = Box::leak(Box::new(RrStorage::new()));
/// let rr = Requester::tagged::<FirstByte>(storage, &tx, &rx, None)?;
/// let mut reply = [0u8; 16];
/// // The loopback remote echoes each request: the echo is its reply.
/// let n = rr.request(&[7, 1, 2], &mut reply, Timeout::Ticks(1000))?;
/// assert_eq!(&reply[..n], &[7, 1, 2]);
/// drop(rr);
/// tx.deinit()?;
/// # Ok::<(), mbox::api::Error>(())
/// ```
pub struct Requester<'c> {
    rr: &'static RrCell,
    _chans: PhantomData<&'c Channel<'c>>,
}

// Send and Sync: the helper (`RrCell`) is Sync, and so are the borrowed
// channels.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Requester<'static>>();
};

impl<'c> Requester<'c> {
    /// A helper whose replies answer the oldest pending request (in-order
    /// matching: by position only, so the late reply of a request that
    /// timed out answers the next one; use [`Requester::tagged`] when
    /// requests can time out). `unsolicited` gets every received message
    /// that answers no request, and reception errors.
    ///
    /// Errors: [`Error::Invalid`] when `tx` is not a TX or `rx` not an RX
    /// channel (or either is uninitialised); [`Error::NoSpace`] when `rx`
    /// already has 4 receivers; the lower half's `setcallback` error. On
    /// an error the storage stays unused but is not handed back.
    pub fn in_order(
        storage: &'static mut RrStorage,
        tx: &'c Channel<'_>,
        rx: &'c Channel<'_>,
        unsolicited: Option<Unsolicited>,
    ) -> Result<Requester<'c>> {
        Requester::init(storage, tx, rx, None, unsolicited)
    }

    /// A helper whose replies answer the pending request with the same
    /// tag ([`Tag`]); at most one request per tag may be pending. Errors
    /// as [`Requester::in_order`].
    pub fn tagged<T: Tag>(
        storage: &'static mut RrStorage,
        tx: &'c Channel<'_>,
        rx: &'c Channel<'_>,
        unsolicited: Option<Unsolicited>,
    ) -> Result<Requester<'c>> {
        Requester::init(storage, tx, rx, Some(tag_trampoline::<T>), unsolicited)
    }

    fn init(
        storage: &'static mut RrStorage,
        tx: &'c Channel<'_>,
        rx: &'c Channel<'_>,
        tag: mbox_rr_tag_t,
        unsolicited: Option<Unsolicited>,
    ) -> Result<Requester<'c>> {
        let RrStorage { rr, sender, receiver, unsolicited: slot } = storage;
        // The helper follows these only while it is live, i.e. while this
        // Requester (which borrows both channels for 'c) has not been
        // dropped, or after it was forgotten: then nothing calls
        // request() any more, and its RX callback does not use them.
        // SAFETY: as the lines above explain; both are valid channels.
        let (txc, rxc) = unsafe { (CChan::from_ptr(tx.as_ptr()), CChan::from_ptr(rx.as_ptr())) };
        *sender = mbox_sender_s { chan: txc, r#priv: ptr::null_mut() };
        *receiver = mbox_receiver_s { chan: rxc, r#priv: ptr::null_mut() };
        *slot = unsolicited;
        // From here on shared (the helper keeps their addresses).
        let (rr, slot): (&'static RrCell, &'static Option<Unsolicited>) = (rr, slot);
        // The unsolicited callback runs the &'static callback in the
        // storage; the tag trampoline needs no argument.
        let (cb, arg) = match slot {
            Some(f) => rx_callback(f),
            None => (None, ptr::null_mut()),
        };
        check(rr.init(sender, receiver, tag, cb, arg))?;
        Ok(Requester { rr, _chans: PhantomData })
    }

    /// Sends `req` and waits for its reply (`mbox_rr_request()`): the
    /// reply is copied into `resp` and its length returned. `timeout`
    /// bounds the send and the wait together; it must wait
    /// ([`Timeout::NonBlocking`] is [`Error::Invalid`]). Task context.
    ///
    /// Errors: [`Error::TimedOut`] (no reply in time; a later reply is
    /// unsolicited), [`Error::MsgSize`] (the reply was larger than `resp`,
    /// which holds its first bytes; or the request is larger than the
    /// MTU), [`Error::Cancelled`] (torn down meanwhile), [`Error::Busy`]
    /// (a request with the same tag is pending), [`Error::Invalid`] (no
    /// tag in the request, a non-blocking timeout), [`Error::Perm`] in
    /// interrupt context, the send's errors.
    pub fn request(&self, req: &[u8], resp: &mut [u8], timeout: Timeout) -> Result<usize> {
        let (r, len) = self.rr.request(req, resp, timeout.to_clock());
        check(r).map(|()| len)
    }
}

impl Drop for Requester<'_> {
    fn drop(&mut self) {
        let _ = self.rr.deinit();
    }
}

impl fmt::Debug for Requester<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requester").field("storage", &ptr::from_ref(self.rr)).finish()
    }
}

/// The C tag function of a [`Tag`] type.
unsafe extern "C" fn tag_trampoline<T: Tag>(data: *const c_void, size: usize, tag: Option<&mut u32>) -> c_int {
    // SAFETY: the helper passes a request (size checked against the TX
    // MTU by mbox_rr_request) or a reply (checked against the RX MTU by
    // mbox_chan_rx_data): NULL or `size` bytes, valid for the call.
    let msg = unsafe { capi::Msg::from_c(data, size) };
    match (T::tag(capi::Msg::received(msg)), tag) {
        (Some(t), Some(out)) => {
            *out = t;
            0
        }
        _ => -errno::EINVAL,
    }
}

#[cfg(test)]
mod tests;
