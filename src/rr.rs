//! Request/response helper (ties each reply on an RX channel to the
//! request on a TX channel that it answers): a helper *above* the
//! mailbox API, not a change to the channel state machine.
//!
//! It is built only on the public entry points `mbox_ticksend()`,
//! `mbox_register_rxcallback()` and `mbox_unregister_rxcallback()` plus the
//! port (`crate::os`): a `struct mbox_rr_s` owns one TX sender and one RX
//! receiver, registers itself as the receiver's RX callback, and matches
//! each received message to the pending request it answers.
//!
//! Matching rules (docs/beyond.md §3):
//! - with a tag function, a reply answers the pending request whose tag
//!   equals the reply's tag; at most one pending request per tag
//!   (`-EBUSY` for a second one);
//! - without one (in-order), a reply answers the oldest pending request;
//! - a received message that answers no pending request (no match, the
//!   tag function failed, the lower half's error, a reply that comes after
//!   its request timed out) goes to the `unsolicited` callback, if any.
//!
//! The matching itself is [`Pending`], a safe intrusive FIFO of
//! [`Record`]s (one per waiting requester, on its stack) that unit tests
//! and the loom models (tests-loom/tests/rr.rs) drive directly. Everything
//! in it runs under the port's critical section; `unsafe` is confined to
//! linking a record ([`Pending::insert`]), to following the list's links
//! and to the `extern "C"` edge below.

#![allow(non_camel_case_types, clippy::missing_safety_doc, clippy::mut_from_ref, clippy::needless_lifetimes)]

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::capi::{mbox_chan_mtu, mbox_register_rxcallback, mbox_ticksend, mbox_unregister_rxcallback};
use crate::errno::*;
use crate::os::{self, Critical, Ticks, WaitObj, FOREVER};
use crate::types::{clock_t, mbox_callback_t, mbox_chan_s, mbox_direction_e, mbox_receiver_s, mbox_sender_s};

/// `mbox_rr_s::magic` of a live helper.
const RR_LIVE: u32 = 0x5252_4C56;
/// `mbox_rr_s::magic` while `mbox_rr_deinit()` runs.
const RR_DYING: u32 = 0x5252_4447;

/// Extract the tag of a message (a request before it is sent, or a
/// received message). Writes the tag to `*tag` and returns 0, or returns a
/// negated errno when the message carries no valid tag.
///
/// Context: `mbox_rr_request()`'s caller (requests) and the RX callback's
/// context, usually interrupt (received messages); never with the
/// framework's critical section held. It must not block.
#[cfg(feature = "rr")]
pub type mbox_rr_tag_t = Option<unsafe extern "C" fn(data: *const c_void, size: usize, tag: *mut u32) -> c_int>;

/// State of a pending request's [`Record`].
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecState {
    /// Not linked: new, or taken back with [`Pending::remove`].
    Idle = 0,
    /// Linked in a [`Pending`] list, waiting for its reply.
    Waiting = 1,
    /// Finished (unlinked): `result` holds the outcome.
    Done = 2,
}

/// One pending request: lives on its requester's stack for the duration
/// of its `mbox_rr_request()` call, linked in the helper's [`Pending`]
/// list while it waits for its reply.
#[repr(C)]
pub struct Record {
    next: *mut Record,
    prev: *mut Record,
    /// The request's tag; None in in-order mode.
    tag: Option<u32>,
    /// Where the reply goes (`cap` bytes).
    buf: *mut u8,
    cap: usize,
    /// Size of the reply that completed it (may exceed `cap`).
    len: usize,
    state: RecState,
    result: i32,
    /// The OS wait object the requester sleeps on (unused by [`Pending`];
    /// the RX side posts it after [`Pending::complete`]).
    pub os: WaitObj,
}

impl Record {
    /// A record for a request with `tag` (None: in-order mode) whose reply
    /// goes to `buf` (which must stay valid until the record is no longer
    /// linked: see [`Pending::insert`]).
    pub fn new(tag: Option<u32>, buf: &mut [u8]) -> Record {
        Record {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            tag,
            buf: buf.as_mut_ptr(),
            cap: buf.len(),
            len: 0,
            state: RecState::Idle,
            result: 0,
            os: WaitObj::uninit(),
        }
    }

    pub fn tag(&self) -> Option<u32> {
        self.tag
    }

    pub fn state(&self) -> RecState {
        self.state
    }

    /// 0 (reply copied), -EMSGSIZE (reply larger than the buffer; its
    /// first `cap` bytes were copied) or the value given to
    /// [`Pending::cancel_all`]. Meaningful once `Done`.
    pub fn result(&self) -> i32 {
        self.result
    }

    /// Real size of the reply that completed the record.
    pub fn reply_len(&self) -> usize {
        self.len
    }
}

/// framework-private: the pending requests of a request/response helper,
/// oldest first (each record lives on its requester's stack).
//
// An intrusive FIFO through `Record::next/prev`. Safety invariant: every
// linked record is alive, does not move, and its reply buffer is valid,
// because its requester stays in `mbox_rr_request()` (keeping the record
// in place) until the record is unlinked, which only happens under the
// critical section.
#[cfg(feature = "rr")]
#[repr(C)]
pub struct Pending {
    head: *mut Record,
    tail: *mut Record,
    len: u32,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending::new()
    }
}

impl Pending {
    pub const fn new() -> Pending {
        Pending { head: ptr::null_mut(), tail: ptr::null_mut(), len: 0 }
    }

    /// Number of pending requests.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// The first linked record satisfying `pred`, oldest first.
    fn find(&self, mut pred: impl FnMut(&Record) -> bool) -> *mut Record {
        let mut p = self.head;
        // SAFETY: p is null or a linked, live record (list invariant).
        while let Some(r) = unsafe { p.as_ref() } {
            if pred(r) {
                return p;
            }
            p = r.next;
        }
        ptr::null_mut()
    }

    /// True when a pending request has tag `tag`.
    pub fn has_tag(&self, tag: u32) -> bool {
        !self.find(|r| r.tag == Some(tag)).is_null()
    }

    /// Link `r` (oldest-first order) so that a reply can find it.
    ///
    /// Errors: -EBUSY when a pending request already has `r`'s tag (the
    /// reply could not tell them apart); -EINVAL when `r` is not `Idle`.
    ///
    /// # Safety
    /// `r` and its reply buffer stay valid and in place until `r` is no
    /// longer linked: its state is `Done`, or [`Pending::remove`] took it
    /// back. Only then may its owner move, reuse or free it.
    pub unsafe fn insert(&mut self, r: &mut Record) -> Result<(), i32> {
        if r.state != RecState::Idle {
            return Err(-EINVAL);
        }
        if let Some(t) = r.tag {
            if self.has_tag(t) {
                return Err(-EBUSY);
            }
        }
        let rp: *mut Record = r;
        r.next = ptr::null_mut();
        r.prev = self.tail;
        if self.tail.is_null() {
            self.head = rp;
        } else {
            // SAFETY: tail is a linked, live record (list invariant).
            unsafe { (*self.tail).next = rp };
        }
        self.tail = rp;
        self.len += 1;
        r.state = RecState::Waiting;
        Ok(())
    }

    /// The pending request a reply with `tag` answers, without taking it:
    /// `Some(t)`: the request with tag `t`; `None` (in-order mode): the
    /// oldest pending request.
    pub fn match_reply(&mut self, tag: Option<u32>) -> Option<&mut Record> {
        let p = match tag {
            Some(t) => self.find(|r| r.tag == Some(t)),
            None => self.head,
        };
        // SAFETY: p is null or a linked, live record (list invariant);
        // the borrow is tied to &mut self, under which nobody else can
        // reach the list.
        unsafe { p.as_mut() }
    }

    /// Deliver a reply: the request it answers (see
    /// [`Pending::match_reply`]) gets a copy of `data` (at most its
    /// buffer's size), is unlinked and becomes `Done` with 0, or with
    /// -EMSGSIZE when `data` was larger than its buffer. Returns that
    /// record, whose owner the caller must wake; None when the reply
    /// answers nothing (it is unsolicited).
    pub fn complete(&mut self, tag: Option<u32>, data: &[u8]) -> Option<&mut Record> {
        let rp: *mut Record = self.match_reply(tag)?;
        // SAFETY: rp is a linked, live record (just found in the list).
        let r = unsafe { &mut *rp };
        self.unlink(r);
        let n = data.len().min(r.cap);
        if n > 0 {
            // SAFETY: the record's buffer is valid for `cap` bytes while it
            // was linked (insert contract) and we still hold the list; the
            // source is a distinct received message.
            unsafe { ptr::copy_nonoverlapping(data.as_ptr(), r.buf, n) };
        }
        r.len = data.len();
        r.result = if data.len() > r.cap { -EMSGSIZE } else { 0 };
        r.state = RecState::Done;
        Some(r)
    }

    /// Take `r` back (its requester gives up: timeout, send error).
    /// Returns true when it was pending in this list (it is now `Idle`);
    /// false when it is not linked here (already `Done`: a reply or a
    /// cancellation won the race, and its result stands).
    pub fn remove(&mut self, r: &mut Record) -> bool {
        let rp: *mut Record = r;
        if r.state != RecState::Waiting || self.find(|x| ptr::eq(x, rp)).is_null() {
            return false;
        }
        self.unlink(r);
        r.state = RecState::Idle;
        true
    }

    /// Finish every pending request with `result` (oldest first), calling
    /// `wake` on each after it is `Done` and unlinked. Returns how many.
    pub fn cancel_all(&mut self, result: i32, mut wake: impl FnMut(&mut Record)) -> usize {
        let mut n = 0;
        // SAFETY: head is null or a linked, live record (list invariant).
        while let Some(r) = unsafe { self.head.as_mut() } {
            self.unlink(r);
            r.result = result;
            r.state = RecState::Done;
            wake(r);
            n += 1;
        }
        n
    }

    /// `r` must be linked in this list.
    fn unlink(&mut self, r: &mut Record) {
        let rp: *mut Record = r;
        if r.prev.is_null() {
            debug_assert!(self.head == rp);
            self.head = r.next;
        } else {
            // SAFETY: prev is a linked, live record (list invariant).
            unsafe { (*r.prev).next = r.next };
        }
        if r.next.is_null() {
            debug_assert!(self.tail == rp);
            self.tail = r.prev;
        } else {
            // SAFETY: next is a linked, live record (list invariant).
            unsafe { (*r.next).prev = r.prev };
        }
        r.next = ptr::null_mut();
        r.prev = ptr::null_mut();
        self.len -= 1;
    }
}

/// A request/response helper over one TX sender and one RX receiver.
/// Zero it (`= {0}`) before `mbox_rr_init()`; it must stay valid and in
/// place until `mbox_rr_deinit()` returned and every `mbox_rr_request()`
/// on it has returned.
#[cfg(feature = "rr")]
#[repr(C)]
pub struct mbox_rr_s {
    /// The sender requests go out on (a TX channel; set by `mbox_rr_init()`).
    pub sender: *mut mbox_sender_s,
    /// The receiver replies come in on (an RX channel whose RX callback the
    /// helper owns while it is live).
    pub receiver: *mut mbox_receiver_s,
    /// framework-private: the tag function (NULL: in-order matching).
    pub tag: mbox_rr_tag_t,
    /// framework-private: callback for messages that answer no request.
    pub unsolicited: mbox_callback_t,
    /// framework-private: its argument.
    pub arg: *mut c_void,
    /// framework-private: the pending requests, oldest first.
    pub pending: Pending,
    /// framework-private: whether the helper is live.
    pub magic: u32,
}

/// # Safety
/// `rr` is non-NULL and valid; the critical section is held for as long
/// as the reference is used.
unsafe fn locked<'a>(rr: *mut mbox_rr_s, _cs: &'a Critical) -> &'a mut mbox_rr_s {
    // SAFETY: per the function contract: every access to the helper's
    // mutable fields happens under the one critical section.
    unsafe { &mut *rr }
}

/// The tag of `data` through `f`.
///
/// # Safety
/// `f` is a valid tag function; `data` is valid for `size` bytes (or NULL
/// with size 0).
unsafe fn tag_of(f: mbox_rr_tag_t, data: *const c_void, size: usize) -> Result<Option<u32>, i32> {
    let Some(f) = f else {
        return Ok(None);
    };
    let mut t = 0u32;
    // SAFETY: the client's tag function with a valid message and output.
    let r = unsafe { f(data, size, &mut t) };
    if r < 0 {
        Err(r)
    } else {
        Ok(Some(t))
    }
}

/// Ticks as the `clock_t` timeout of `mbox_ticksend()`: FOREVER is
/// `MBOX_WAIT_FOREVER`, anything else is clamped below it and above 0.
fn ticks_to_clock(t: Ticks) -> clock_t {
    #[allow(clippy::unnecessary_cast)]
    let forever = (-1i64) as clock_t;
    if t == FOREVER {
        return forever;
    }
    #[allow(clippy::unnecessary_cast, unused_comparisons)]
    let max: u64 = if forever < (0 as clock_t) {
        u64::MAX >> (65 - 8 * core::mem::size_of::<clock_t>())
    } else {
        ((-2i64) as clock_t) as u64
    };
    t.clamp(1, max) as clock_t
}

fn deadline_from(now: Ticks, ticks: Ticks) -> Ticks {
    if ticks == FOREVER {
        FOREVER
    } else {
        now.saturating_add(ticks).min(FOREVER - 1)
    }
}

fn ticks_left(deadline: Ticks) -> Ticks {
    if deadline == FOREVER {
        FOREVER
    } else {
        deadline.saturating_sub(os::now())
    }
}

/// The receiver's RX callback while a helper is live (`arg` is the
/// helper): matches the message to a pending request, or passes it to the
/// unsolicited callback.
unsafe extern "C" fn rr_rx_trampoline(
    ret: c_int,
    chan: *mut mbox_chan_s,
    arg: *mut c_void,
    data: *mut c_void,
    size: usize,
) -> c_int {
    let rr = arg as *mut mbox_rr_s;
    let (tagfn, cb, cbarg) = {
        let cs = Critical::enter();
        // SAFETY: the helper registered itself with its own address and
        // stays valid while registered (mbox_rr_s contract); lock held.
        let h = unsafe { locked(rr, &cs) };
        if h.magic != RR_LIVE {
            // Being torn down: its requests are cancelled; drop the message.
            return 0;
        }
        (h.tag, h.unsolicited, h.arg)
    };
    if ret >= 0 {
        // SAFETY: the framework passes a message of `size` bytes.
        if let Ok(tag) = unsafe { tag_of(tagfn, data, size) } {
            let msg: &[u8] = if data.is_null() || size == 0 {
                &[]
            } else {
                // SAFETY: data holds `size` received bytes during this
                // call; the framework checked size against the RX
                // channel's MTU (mbox_chan_rx_data).
                unsafe { core::slice::from_raw_parts(data.cast(), size) }
            };
            let cs = Critical::enter();
            // SAFETY: as above; lock held.
            let h = unsafe { locked(rr, &cs) };
            if h.magic != RR_LIVE {
                return 0;
            }
            if let Some(rec) = h.pending.complete(tag, msg) {
                // Posted under the lock: the requester cannot have
                // returned (and destroyed it) before it sees Done.
                rec.os.post();
                return 0;
            }
        }
    }
    if let Some(cb) = cb {
        // SAFETY: the client's callback with the arguments the framework
        // gave us, outside the critical section.
        unsafe { cb(ret, chan, cbarg, data, size) };
    }
    0
}

/// Set up a request/response helper: requests go out on `sender` (a TX
/// channel), replies come in on `receiver` (an RX channel), whose RX
/// callback the helper takes over (`mbox_register_rxcallback()`) until
/// `mbox_rr_deinit()`.
///
/// `tag` extracts the tag of a request and of a reply; a reply answers the
/// pending request with the same tag. NULL means in-order matching: a
/// reply answers the oldest pending request. `unsolicited` (may be NULL)
/// gets, with `arg`, every received message that answers no pending
/// request, with the RX callback's arguments and in its context, outside
/// the critical section. `rr` should be zeroed before the first init.
///
/// In-order matching pairs replies with requests by position only: the
/// late reply of a request that timed out answers the next pending
/// request, if there is one. Protocols whose requests can time out should
/// use a tag.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL rr, sender or receiver, or a sender whose
/// channel is NULL, uninitialised or not TX; -EBUSY when `rr` is already
/// live; `mbox_register_rxcallback()`'s error (-EINVAL for a receiver
/// whose channel is NULL, uninitialised or not RX; the lower half's
/// `setcallback` error), with `rr` left not live.
#[cfg(feature = "rr")]
#[no_mangle]
pub unsafe extern "C" fn mbox_rr_init(
    rr: *mut mbox_rr_s,
    sender: *mut mbox_sender_s,
    receiver: *mut mbox_receiver_s,
    tag: mbox_rr_tag_t,
    unsolicited: mbox_callback_t,
    arg: *mut c_void,
) -> c_int {
    if rr.is_null() || sender.is_null() || receiver.is_null() {
        return -EINVAL;
    }
    {
        let _cs = Critical::enter();
        // SAFETY: sender is non-NULL and valid by the API contract.
        let chan = unsafe { (*sender).chan };
        if chan.is_null() {
            return -EINVAL;
        }
        // SAFETY: chan is non-NULL and valid by the API contract; `dir` is
        // read as the int C stored (any value must be checkable), and
        // `dev` is set by mbox_chan_init.
        let (dev, dir) = unsafe { ((*chan).dev, ptr::addr_of!((*chan).dir).cast::<c_int>().read()) };
        if dev.is_null() || dir != mbox_direction_e::MBOX_TX as c_int {
            return -EINVAL;
        }
    }
    {
        let cs = Critical::enter();
        // SAFETY: rr non-NULL and valid; lock held.
        let h = unsafe { locked(rr, &cs) };
        if h.magic == RR_LIVE || h.magic == RR_DYING {
            return -EBUSY;
        }
        h.sender = sender;
        h.receiver = receiver;
        h.tag = tag;
        h.unsolicited = unsolicited;
        h.arg = arg;
        h.pending = Pending::new();
        // Live before the callback is registered: a reply may come at once.
        h.magic = RR_LIVE;
    }
    // SAFETY: receiver non-NULL and valid; the callback gets rr, which
    // stays valid while registered (mbox_rr_s contract).
    let r = unsafe { mbox_register_rxcallback(receiver, Some(rr_rx_trampoline), rr.cast()) };
    if r < 0 {
        let cs = Critical::enter();
        // SAFETY: as above.
        unsafe { locked(rr, &cs) }.magic = 0;
        return r;
    }
    0
}

/// Send a request and wait for its reply.
///
/// The request's tag (the helper's tag function, if any) is computed
/// first, and the request is registered as pending *before* it is sent
/// (a reply may arrive before the send returns). It is then sent with a
/// blocking `mbox_ticksend()`, and the reply is awaited; `timeout` bounds
/// both together (one deadline). `MBOX_WAIT_FOREVER` waits forever. The
/// reply is copied into `resp` (at most `respcap` bytes) by the RX
/// callback, and its size stored in `*resplen` (if not NULL) on 0 and
/// -EMSGSIZE. Several threads may have requests pending on one helper.
///
/// Context: task (it blocks).
/// Returns 0 (reply received); -EMSGSIZE when the reply was larger than
/// `respcap` (the reply is consumed: its first `respcap` bytes are in
/// `resp` and `*resplen` is its real size); -ETIMEDOUT when no reply came
/// before the deadline (the request is no longer pending: a later reply
/// is unsolicited); -ECANCELED when `mbox_rr_deinit()` ran meanwhile;
/// `mbox_ticksend()`'s error (-ETIMEDOUT, -EMSGSIZE, the lower half's
/// error, ...) when the send failed, unless a reply or a cancellation
/// already finished the request (then that result); the tag function's
/// error; -EBUSY when a pending request has the same tag; -EMSGSIZE when
/// `reqlen` exceeds the MTU of the sender's channel (checked before the
/// tag function sees the request); -EINVAL for a NULL or not live rr, a
/// sender whose channel is not an initialised TX channel, NULL req
/// (whatever reqlen), NULL resp with a non-zero respcap, a respcap above
/// PTRDIFF_MAX, a timeout of 0 (a request must wait) or a negative
/// timeout; -EPERM from interrupt context; the port's error if the wait
/// object cannot be created.
#[cfg(feature = "rr")]
#[no_mangle]
pub unsafe extern "C" fn mbox_rr_request(
    rr: *mut mbox_rr_s,
    req: *const c_void,
    reqlen: usize,
    resp: *mut c_void,
    respcap: usize,
    resplen: *mut usize,
    timeout: clock_t,
) -> c_int {
    // The reply buffer must be able to describe an object (at most
    // isize::MAX bytes, not wrapping the address space) before a slice is
    // built over it.
    if rr.is_null()
        || req.is_null()
        || (resp.is_null() && respcap != 0)
        || respcap > isize::MAX as usize
        || (resp as usize).checked_add(respcap).is_none()
    {
        return -EINVAL;
    }
    let ticks = match os::clock_to_ticks(timeout) {
        Ok(0) => return -EINVAL,
        Ok(t) => t,
        Err(e) => return e,
    };
    if os::in_interrupt() {
        return -EPERM;
    }
    let (sender, tagfn) = {
        let cs = Critical::enter();
        // SAFETY: rr non-NULL and valid by the API contract; lock held.
        let h = unsafe { locked(rr, &cs) };
        if h.magic != RR_LIVE {
            return -EINVAL;
        }
        (h.sender, h.tag)
    };
    // The tag function sees only a request that can be sent: at most the
    // MTU of the sender's channel (-EINVAL when that is not live).
    // SAFETY: sender valid (set by init, kept valid by the caller).
    let mtu = unsafe { mbox_chan_mtu((*sender).chan) };
    if mtu < 0 {
        return mtu as c_int;
    }
    if reqlen > mtu as usize {
        return -EMSGSIZE;
    }
    // SAFETY: req is non-NULL and valid for reqlen bytes (API contract),
    // reqlen is at most the MTU.
    let tag = match unsafe { tag_of(tagfn, req, reqlen) } {
        Ok(t) => t,
        Err(e) => return e,
    };
    let buf: &mut [u8] = if respcap == 0 {
        &mut []
    } else {
        // SAFETY: resp is non-NULL, valid for respcap bytes and ours until
        // we return (API contract); respcap is at most isize::MAX and does
        // not wrap (checked above).
        unsafe { core::slice::from_raw_parts_mut(resp.cast(), respcap) }
    };
    let deadline = deadline_from(os::now(), ticks);
    // The wait object is initialised at its final address before the
    // record is linked (a port may allocate or block in init).
    let mut rec = Record::new(tag, buf);
    if let Err(e) = rec.os.init() {
        return e;
    }
    let linked = {
        let cs = Critical::enter();
        // SAFETY: as above.
        let h = unsafe { locked(rr, &cs) };
        if h.magic != RR_LIVE {
            Err(-EINVAL)
        } else {
            // SAFETY: `rec` and `resp` stay in place on this frame until
            // the record is Done or removed, which every path below
            // ensures before returning.
            unsafe { h.pending.insert(&mut rec) }
        }
    };
    if let Err(e) = linked {
        rec.os.destroy();
        return e;
    }
    // SAFETY: sender valid (set by init, kept valid by the caller); req
    // valid for reqlen bytes. A positive timeout makes it blocking.
    let sent = unsafe { mbox_ticksend(sender, req, reqlen, ticks_to_clock(ticks_left(deadline))) };
    let mut result = None;
    if sent < 0 {
        let cs = Critical::enter();
        if rec.state() == RecState::Done {
            // A reply (the request reached the remote after all) or a
            // cancellation finished it first: that result stands.
            result = Some(rec.result());
        } else {
            // SAFETY: not Done, so deinit has not run: rr is live.
            unsafe { locked(rr, &cs) }.pending.remove(&mut rec);
            result = Some(sent);
        }
    }
    while result.is_none() {
        let left = ticks_left(deadline);
        let timed_out = left == 0 || rec.os.wait(left) < 0;
        let cs = Critical::enter();
        if rec.state() == RecState::Done {
            result = Some(rec.result());
        } else if timed_out && os::now() >= deadline {
            // SAFETY: not Done, so deinit has not run: rr is live; the
            // record is taken back, a later reply is unsolicited.
            let removed = unsafe { locked(rr, &cs) }.pending.remove(&mut rec);
            debug_assert!(removed);
            result = Some(-ETIMEDOUT);
        }
        // Otherwise an early or spurious wake-up: wait again.
    }
    rec.os.destroy();
    let r = result.unwrap_or(-EINVAL);
    if (r == 0 || r == -EMSGSIZE) && !resplen.is_null() {
        // SAFETY: resplen non-NULL, valid by the API contract.
        unsafe { *resplen = rec.reply_len() };
    }
    r
}

/// Tear a helper down: unregister its RX callback
/// (`mbox_unregister_rxcallback()`), finish every pending request with
/// -ECANCELED (their requesters wake and return it) and make `rr` not
/// live. Messages received meanwhile are dropped, not passed to the
/// unsolicited callback. The helper may be initialised again afterwards.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL or not live rr.
#[cfg(feature = "rr")]
#[no_mangle]
pub unsafe extern "C" fn mbox_rr_deinit(rr: *mut mbox_rr_s) -> c_int {
    if rr.is_null() {
        return -EINVAL;
    }
    let receiver = {
        let cs = Critical::enter();
        // SAFETY: rr non-NULL and valid by the API contract; lock held.
        let h = unsafe { locked(rr, &cs) };
        if h.magic != RR_LIVE {
            return -EINVAL;
        }
        h.magic = RR_DYING;
        h.pending.cancel_all(-ECANCELED, |r| r.os.post());
        h.receiver
    };
    // The channel may already be de-initialised: nothing to unregister.
    // SAFETY: receiver valid (set by init, kept valid by the caller).
    let _ = unsafe { mbox_unregister_rxcallback(receiver) };
    let cs = Critical::enter();
    // SAFETY: as above. Nothing was linked meanwhile (requests refuse a
    // helper that is not live).
    unsafe { locked(rr, &cs) }.magic = 0;
    0
}

#[cfg(test)]
mod tests;
