//! Request/response helper (ties each reply on an RX channel to the
//! request on a TX channel that it answers): a helper *above* the
//! mailbox API, not a change to the channel state machine.
//!
//! It is built only on the channel's public operations (a blocking send,
//! `mbox_register_rxcallback()` and `mbox_unregister_rxcallback()`) plus
//! the OS ([`Os`]): a `struct mbox_rr_s` owns one TX sender and one RX
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
//! Layers:
//! - [`Pending`], a safe intrusive FIFO of [`Record`]s (one per waiting
//!   requester, on its stack) that does the matching; unit tests drive it
//!   directly;
//! - the protocol, generic over the helper ([`Rr`]: its OS, its liveness and its
//!   pending requests under the OS's critical section): the blocking
//!   request ([`request`]), the reply delivery ([`deliver`]) and the
//!   cancellation of a teardown ([`cancel`]). The loom suite
//!   (tests-loom/tests/rr.rs) runs these very functions over a loom
//!   [`Os`];
//! - [`RrCell`], the helper as its users share it (C's `struct mbox_rr_s
//!   *` is an `Option<&RrCell>`), whose safe methods run the protocol
//!   over [`PortOs`]; the `extern "C"` entry points `mbox_rr_*` are
//!   shells over them that check the arguments C passes.
//!
//! `unsafe` is confined to following the list's links ([`Pending`]: a
//! linked record, with the reply buffer and the wait object it borrows,
//! is live), to linking a record (the protocol), and to the C edge.

#![allow(non_camel_case_types, clippy::missing_safety_doc, clippy::mut_from_ref)]

use core::cell::Cell;
use core::ffi::{c_int, c_void};
use core::ptr;

use crate::os::{self, Critical, Os, OsWait, PortOs, ReadyWait, Ticks, FOREVER};
use crate::shell::capi::{rx_callback, Msg, OnRx, RxCall};
use crate::shell::types::{clock_t, mbox_callback_t, mbox_receiver_s, mbox_sender_s};
use crate::upper::errno::*;

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
pub type mbox_rr_tag_t = Option<unsafe extern "C" fn(data: *const c_void, size: usize, tag: Option<&mut u32>) -> c_int>;

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
/// of its request, linked in the helper's [`Pending`] list while it waits
/// for its reply. `'a` is its requester's frame: the reply buffer and the
/// wait object it lends are borrowed for it.
///
/// Its owner and the list both reach it through shared references (the
/// list keeps a raw pointer while it is linked); what the list changes is
/// in `Cell`s, and only under the critical section.
// repr(C): the links first, as in `Pending`, which lets the compiler
// treat the list's head and a record's `next` alike.
#[repr(C)]
pub struct Record<'a> {
    next: Cell<Link>,
    prev: Cell<Link>,
    /// The request's tag; None in in-order mode.
    tag: Option<u32>,
    /// Where the reply goes (`cap` bytes), lent by the requester; taken
    /// out only for the copy of the reply.
    buf: Cell<&'a mut [u8]>,
    cap: usize,
    /// Size of the reply that completed it (may exceed `cap`).
    len: Cell<usize>,
    state: Cell<RecState>,
    result: Cell<i32>,
    /// The requester's wait object (set by [`request`]): posted once the
    /// record is Done.
    waker: Option<&'a dyn Post>,
}

/// A link of the pending list: null or a linked record, whose lifetime
/// the list forgets while it is linked ([`Pending::linked`] gives it back,
/// bounded by a borrow of the list).
type Link = *mut Record<'static>;

/// The wait object of a requester, as a reply or a cancellation posts it.
trait Post {
    /// Wakes the requester ([`ReadyWait::post`]).
    fn post(&self);
}

impl<W: ReadyWait> Post for W {
    #[inline]
    fn post(&self) {
        ReadyWait::post(self)
    }
}

impl<'a> Record<'a> {
    /// A record for a request with `tag` (None: in-order mode) whose reply
    /// goes to `buf`.
    pub fn new(tag: Option<u32>, buf: &'a mut [u8]) -> Record<'a> {
        Record {
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
            tag,
            cap: buf.len(),
            buf: Cell::new(buf),
            len: Cell::new(0),
            state: Cell::new(RecState::Idle),
            result: Cell::new(0),
            waker: None,
        }
    }

    pub fn tag(&self) -> Option<u32> {
        self.tag
    }

    pub fn state(&self) -> RecState {
        self.state.get()
    }

    /// 0 (reply copied), -EMSGSIZE (reply larger than the buffer; its
    /// first `cap` bytes were copied) or the value given to
    /// [`Pending::cancel_all`]. Meaningful once `Done`.
    pub fn result(&self) -> i32 {
        self.result.get()
    }

    /// Real size of the reply that completed the record.
    pub fn reply_len(&self) -> usize {
        self.len.get()
    }

    fn finish(&self, result: i32) {
        self.result.set(result);
        self.state.set(RecState::Done);
    }

    /// Posts the requester's wait object, if it lent one.
    fn wake(&self) {
        if let Some(w) = self.waker {
            w.post();
        }
    }

    /// Copies what fits of `data` into the reply buffer.
    fn fill(&self, data: &[u8]) {
        let buf = self.buf.take();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.buf.set(buf);
    }
}

/// framework-private: the pending requests of a request/response helper,
/// oldest first (each record lives on its requester's stack).
//
// An intrusive FIFO through `Record::next/prev`. Safety invariant: every
// linked record is alive and does not move, and so are the buffer and the
// wait object it borrows, because its requester stays in `request()`
// (keeping them in place) until the record is unlinked, which only
// happens under the critical section.
//
// The links are cells, so that unlinking needs only a shared borrow of
// the list: every record reference it hands out is bounded by a borrow
// of the list ([`Pending::linked`]), and a record unlinked under such a
// borrow stays reachable only until it ends.
#[cfg(feature = "rr")]
#[repr(C)]
pub struct Pending {
    // Spelled out (not `Link`), which the C header shows as it is.
    head: Cell<*mut Record<'static>>,
    tail: Cell<*mut Record<'static>>,
    len: Cell<u32>,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending::new()
    }
}

impl Pending {
    pub const fn new() -> Pending {
        Pending { head: Cell::new(ptr::null_mut()), tail: Cell::new(ptr::null_mut()), len: Cell::new(0) }
    }

    /// Empties the list (of a helper that is not live), forgetting its
    /// links.
    fn clear(&self) {
        self.head.set(ptr::null_mut());
        self.tail.set(ptr::null_mut());
        self.len.set(0);
    }

    /// Number of pending requests.
    pub fn len(&self) -> usize {
        self.len.get() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }

    /// The record a link of this list points to, for as long as the list
    /// is borrowed; None at the end of the list. Only for the links
    /// `head`, `tail`, `next` and `prev`, which the list keeps null or
    /// pointing to a linked record. The record's own borrows (buffer,
    /// wait object) are bounded by the list's borrow too.
    fn linked<'l>(&'l self, p: Link) -> Option<&'l Record<'l>> {
        // SAFETY: list invariant (see above): a link is null or points to
        // a linked record, which stays alive and in place, with what it
        // borrows, while it is linked, and while the list is borrowed after
        // it was unlinked under that borrow; every access happens under the
        // critical section, and a record's mutable fields are Cells, so
        // shared references may coexist. Its borrows are shortened to 'l
        // and used in place (`fill` puts the buffer back), never replaced.
        unsafe { p.cast::<Record<'l>>().as_ref() }
    }

    /// The first linked record satisfying `pred`, oldest first.
    fn find(&self, mut pred: impl FnMut(&Record<'_>) -> bool) -> Option<&Record<'_>> {
        let mut p = self.linked(self.head.get());
        while let Some(r) = p {
            if pred(r) {
                return Some(r);
            }
            p = self.linked(r.next.get());
        }
        None
    }

    /// True when a pending request has tag `tag`.
    pub fn has_tag(&self, tag: u32) -> bool {
        self.find(|r| r.tag == Some(tag)).is_some()
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
    pub unsafe fn insert(&self, r: &Record<'_>) -> Result<(), i32> {
        if r.state() != RecState::Idle {
            return Err(-EINVAL);
        }
        if let Some(t) = r.tag {
            if self.has_tag(t) {
                return Err(-EBUSY);
            }
        }
        let rp: Link = ptr::from_ref(r).cast_mut().cast();
        r.next.set(ptr::null_mut());
        r.prev.set(self.tail.get());
        match self.linked(self.tail.get()) {
            None => self.head.set(rp),
            Some(t) => t.next.set(rp),
        }
        self.tail.set(rp);
        self.len.set(self.len.get() + 1);
        r.state.set(RecState::Waiting);
        Ok(())
    }

    /// The pending request a reply with `tag` answers, without taking it:
    /// `Some(t)`: the request with tag `t`; `None` (in-order mode): the
    /// oldest pending request.
    pub fn match_reply(&self, tag: Option<u32>) -> Option<&Record<'_>> {
        match tag {
            Some(t) => self.find(|r| r.tag == Some(t)),
            None => self.linked(self.head.get()),
        }
    }

    /// Deliver a reply: the request it answers (see
    /// [`Pending::match_reply`]) gets a copy of `data` (at most its
    /// buffer's size), is unlinked and becomes `Done` with 0, or with
    /// -EMSGSIZE when `data` was larger than its buffer. Returns that
    /// record, whose owner the caller must wake; None when the reply
    /// answers nothing (it is unsolicited).
    pub fn complete<'r>(&'r self, tag: Option<u32>, data: &[u8]) -> Option<&'r Record<'r>> {
        let list = self;
        let r = match tag {
            Some(t) => list.find(|r| r.tag == Some(t)),
            None => list.linked(list.head.get()),
        }?;
        list.unlink(r);
        r.fill(data);
        r.len.set(data.len());
        r.finish(if data.len() > r.cap { -EMSGSIZE } else { 0 });
        Some(r)
    }

    /// Take `r` back (its requester gives up: timeout, send error).
    /// Returns true when it was pending in this list (it is now `Idle`);
    /// false when it is not linked here (already `Done`: a reply or a
    /// cancellation won the race, and its result stands).
    pub fn remove(&self, r: &Record<'_>) -> bool {
        if r.state() != RecState::Waiting || self.find(|x| ptr::addr_eq(x, r)).is_none() {
            return false;
        }
        self.unlink(r);
        r.state.set(RecState::Idle);
        true
    }

    /// Finish every pending request with `result` (oldest first), calling
    /// `wake` on each after it is `Done` and unlinked. Returns how many.
    pub fn cancel_all(&self, result: i32, mut wake: impl FnMut(&Record<'_>)) -> usize {
        let mut n = 0;
        while let Some(r) = self.linked(self.head.get()) {
            self.unlink(r);
            r.finish(result);
            wake(r);
            n += 1;
        }
        n
    }

    /// `r` must be linked in this list.
    fn unlink(&self, r: &Record<'_>) {
        let (prev, next) = (r.prev.get(), r.next.get());
        match self.linked(prev) {
            None => {
                debug_assert!(ptr::addr_eq(self.head.get(), r));
                self.head.set(next);
            }
            Some(p) => p.next.set(next),
        }
        match self.linked(next) {
            None => {
                debug_assert!(ptr::addr_eq(self.tail.get(), r));
                self.tail.set(prev);
            }
            Some(n) => n.prev.set(prev),
        }
        r.next.set(ptr::null_mut());
        r.prev.set(ptr::null_mut());
        self.len.set(self.len.get() - 1);
    }
}

/// The held critical section of a helper's OS.
pub type Guard<'a, H> = <<H as Rr>::Os as Os>::Guard<'a>;

/// One request/response helper as the protocol sees it: its OS, and its
/// liveness and pending requests under the OS's critical section.
///
/// # Safety
/// Records linked by [`request`] live on their requesters' stacks, and a
/// requester takes its record back from where it linked it before it
/// returns: [`Rr::pending`] gives one and the same [`Pending`] every
/// time, which does not move, and nothing else links records into it or
/// reaches the records linked in it.
pub unsafe trait Rr {
    /// The OS the helper runs on.
    type Os: Os;

    /// The OS. Context: any.
    fn os(&self) -> &Self::Os;

    /// Whether the helper is live (requests may be linked, replies are
    /// delivered), under the critical section `g` (entered with
    /// [`Rr::os`]).
    fn live(&self, g: &mut Guard<'_, Self>) -> bool;

    /// The pending requests, under the critical section `g`.
    fn pending<'g>(&'g self, g: &'g mut Guard<'_, Self>) -> &'g Pending;

    /// Makes a live helper not live (being torn down), under `g`.
    fn end_live(&self, g: &mut Guard<'_, Self>);
}

fn deadline_from(now: Ticks, ticks: Ticks) -> Ticks {
    if ticks == FOREVER {
        FOREVER
    } else {
        now.saturating_add(ticks).min(FOREVER - 1)
    }
}

/// Ticks from now to `deadline` (the clock is read only for a finite
/// one).
fn ticks_left<O: Os>(os: &O, deadline: Ticks) -> Ticks {
    if deadline == FOREVER {
        FOREVER
    } else {
        deadline.saturating_sub(os.now())
    }
}

/// The blocking request: a record for a request with `tag` whose reply
/// goes to `buf` is linked while the helper is live, *before* `send`
/// sends it (a reply may arrive before the send returns); `send` gets the
/// ticks left of the deadline (`ticks` from now, FOREVER: none) and
/// returns 0 or its error. Then the requester sleeps on its own wait
/// object and decides by the record's state under the critical section:
/// Done (a reply or a cancellation) gives that result; at the deadline it
/// takes the record back (a later reply is unsolicited).
///
/// Context: task (the caller checks it). Returns (result, reply size):
/// 0 or -EMSGSIZE (reply copied, its real size), -ETIMEDOUT, the value
/// given to [`cancel`], `send`'s error unless a reply or a cancellation
/// finished the request first, -EBUSY (a pending request has the same
/// tag), -EINVAL (the helper is not live), or the wait object's init
/// error. The size is meaningful with 0 and -EMSGSIZE only.
#[inline(always)]
pub fn request<H: Rr>(
    h: &H,
    tag: Option<u32>,
    buf: &mut [u8],
    ticks: Ticks,
    send: impl FnOnce(Ticks) -> i32,
) -> (i32, usize) {
    let os = h.os();
    let deadline = deadline_from(os.now(), ticks);
    // The wait object is initialised in place before the record is linked
    // (a port may allocate or block in init), and destroyed after the
    // record is unlinked.
    let mut wait = os.wait_object();
    wait.ready(|wait| match wait {
        Ok(wait) => request_on(h, wait, deadline, tag, buf, send),
        Err(e) => (e, 0),
    })
}

/// [`request`] with the requester's initialised wait object.
#[inline(always)]
fn request_on<H: Rr>(
    h: &H,
    wait: &<<H::Os as Os>::Wait as OsWait>::Ready,
    deadline: Ticks,
    tag: Option<u32>,
    buf: &mut [u8],
    send: impl FnOnce(Ticks) -> i32,
) -> (i32, usize) {
    let os = h.os();
    let mut rec = Record::new(tag, buf);
    // The record lends the wait object to whoever finishes it, under the
    // critical section (so before this frame sees Done and it is destroyed).
    rec.waker = Some(wait);
    let rec = rec;
    let linked = {
        let mut g = os.enter();
        if h.live(&mut g) {
            // SAFETY: `rec`, its buffer and `wait` stay in place on this
            // frame until the record is Done or removed, which every path
            // below ensures (under the lock) before `wait` is destroyed and
            // the function returns.
            unsafe { h.pending(&mut g).insert(&rec) }
        } else {
            Err(-EINVAL)
        }
    };
    if let Err(e) = linked {
        return (e, 0);
    }
    // While the record is linked this frame must not unwind away (a panic
    // in `send` or in the OS): the guard turns that into an abort. Free
    // where panics abort anyway (the shipped library).
    let linked_guard = AbortOnUnwind;
    let sent = send(ticks_left(os, deadline));
    let mut result = None;
    if sent < 0 {
        let mut g = os.enter();
        if rec.state() == RecState::Done {
            // A reply (the request reached the remote after all) or a
            // cancellation finished it first: that result stands.
            result = Some(rec.result());
        } else {
            h.pending(&mut g).remove(&rec);
            result = Some(sent);
        }
    }
    while result.is_none() {
        let timed_out = wait.wait_until(deadline) < 0;
        let mut g = os.enter();
        if rec.state() == RecState::Done {
            result = Some(rec.result());
        } else if timed_out && os.now() >= deadline {
            // The record is taken back; a later reply is unsolicited.
            let removed = h.pending(&mut g).remove(&rec);
            debug_assert!(removed);
            result = Some(-ETIMEDOUT);
        }
        // Otherwise an early or spurious wake-up: wait again.
    }
    core::mem::forget(linked_guard);
    // Unlinked: nobody posts the wait object any more (it is destroyed on
    // return).
    (result.unwrap_or(-EINVAL), rec.reply_len())
}

/// Panics when dropped, which during an unwind aborts.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        panic!("a request unwound while its record was linked");
    }
}

/// What [`deliver`] did with a received message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Delivery {
    /// It answered a pending request, whose requester was woken.
    Matched,
    /// It answers no pending request: the caller passes it on as
    /// unsolicited.
    Unsolicited,
    /// The helper is not live (being torn down): dropped.
    Dropped,
}

/// Delivers a received message with `tag` (see [`Pending::match_reply`]):
/// under the critical section, the request it answers gets a copy and
/// its requester's wait object is posted (before the lock is dropped, so
/// that the requester cannot have returned meanwhile).
///
/// Context: task or interrupt (the RX callback's), never blocks.
pub fn deliver<H: Rr>(h: &H, tag: Option<u32>, msg: &[u8]) -> Delivery {
    let mut g = h.os().enter();
    if !h.live(&mut g) {
        return Delivery::Dropped;
    }
    match h.pending(&mut g).complete(tag, msg) {
        Some(r) => {
            // Under the lock still held: its requester is still waiting.
            r.wake();
            Delivery::Matched
        }
        None => Delivery::Unsolicited,
    }
}

/// Starts a teardown under the critical section `g` (held by the
/// caller, who may read the helper under it afterwards): makes the helper
/// not live and finishes every pending request with `result`, posting
/// each requester. Returns how many, or -EINVAL when the helper is not
/// live.
///
/// Context: task or interrupt, never blocks.
pub fn cancel<H: Rr>(h: &H, g: &mut Guard<'_, H>, result: i32) -> Result<usize, i32> {
    if !h.live(g) {
        return Err(-EINVAL);
    }
    h.end_live(g);
    Ok(h.pending(g).cancel_all(result, |r| r.wake()))
}

/// A request/response helper over one TX sender and one RX receiver.
/// Zero it (`= {0}`) before `mbox_rr_init()`; it must stay valid and in
/// place until `mbox_rr_deinit()` returned and every `mbox_rr_request()`
/// on it has returned.
#[cfg(feature = "rr")]
#[repr(C)]
pub struct mbox_rr_s {
    /// The sender requests go out on (a TX channel; set by `mbox_rr_init()`).
    pub sender: Option<&'static mbox_sender_s>,
    /// The receiver replies come in on (an RX channel whose RX callback the
    /// helper owns while it is live).
    pub receiver: Option<&'static mbox_receiver_s>,
    /// framework-private: the tag function (NULL: in-order matching).
    pub tag: mbox_rr_tag_t,
    /// framework-private: callback for messages that answer no request.
    pub unsolicited: mbox_callback_t,
    /// framework-private: its argument.
    pub arg: *mut c_void,
    /// framework-private: the pending requests, oldest first (opaque
    /// storage).
    pub pending: mbox_rr_pending_s,
    /// framework-private: whether the helper is live.
    pub magic: u32,
}

/// framework-private: a helper's list of pending requests, opaque to C
/// (three pointer-sized words: the library asserts at compile time that its
/// list is exactly this storage).
#[cfg(feature = "rr")]
#[repr(C)]
pub struct mbox_rr_pending_s {
    pub opaque: [*mut c_void; 3],
}
#[cfg(feature = "rr")]
const _: () = assert!(
    core::mem::size_of::<Pending>() == core::mem::size_of::<mbox_rr_pending_s>()
        && core::mem::align_of::<Pending>() == core::mem::align_of::<mbox_rr_pending_s>()
);

#[cfg(feature = "rr")]
impl mbox_rr_s {
    /// A helper as C's `= {0}` leaves it: not live, nothing set.
    pub const fn zeroed() -> mbox_rr_s {
        mbox_rr_s {
            sender: None,
            receiver: None,
            tag: None,
            unsolicited: None,
            arg: ptr::null_mut(),
            pending: mbox_rr_pending_s { opaque: [ptr::null_mut(); 3] },
            magic: 0,
        }
    }
}

/// A helper as its users reach it (C: `struct mbox_rr_s *`, the layout
/// asserted below): `mbox_rr_s` field for field, each in a cell.
/// Requesters, the RX callback and a teardown share it, so its fields are
/// reached only under the critical section, by this file. The protocol's
/// [`Rr`] over [`PortOs`], and the safe operations behind the `mbox_rr_*`
/// entry points.
#[cfg(feature = "rr")]
#[repr(C)]
pub struct RrCell {
    sender: Cell<Option<&'static mbox_sender_s>>,
    receiver: Cell<Option<&'static mbox_receiver_s>>,
    tag: Cell<mbox_rr_tag_t>,
    unsolicited: Cell<mbox_callback_t>,
    arg: Cell<*mut c_void>,
    pending: Pending,
    magic: Cell<u32>,
}

#[cfg(feature = "rr")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RrCell>() == size_of::<mbox_rr_s>() && align_of::<RrCell>() == align_of::<mbox_rr_s>());
    assert!(
        offset_of!(RrCell, sender) == offset_of!(mbox_rr_s, sender)
            && offset_of!(RrCell, receiver) == offset_of!(mbox_rr_s, receiver)
            && offset_of!(RrCell, tag) == offset_of!(mbox_rr_s, tag)
            && offset_of!(RrCell, unsolicited) == offset_of!(mbox_rr_s, unsolicited)
            && offset_of!(RrCell, arg) == offset_of!(mbox_rr_s, arg)
            && offset_of!(RrCell, pending) == offset_of!(mbox_rr_s, pending)
            && offset_of!(RrCell, magic) == offset_of!(mbox_rr_s, magic)
    );
};

#[cfg(feature = "rr")]
impl RrCell {
    /// A zeroed helper (C's `= {0}`).
    pub const fn new() -> RrCell {
        RrCell {
            sender: Cell::new(None),
            receiver: Cell::new(None),
            tag: Cell::new(None),
            unsolicited: Cell::new(None),
            arg: Cell::new(ptr::null_mut()),
            pending: Pending::new(),
            magic: Cell::new(0),
        }
    }
}

// SAFETY: the helper's fields (cells, and the list's cells) are private
// to this file, which reaches them only under the critical section:
// every context (tasks, the RX callback's interrupt, other CPUs) is
// serialised by it.
#[cfg(feature = "rr")]
unsafe impl Sync for RrCell {}

#[cfg(feature = "rr")]
impl Default for RrCell {
    fn default() -> RrCell {
        RrCell::new()
    }
}

// SAFETY: the list is the helper's own `pending` field (the helper stays
// in place while borrowed); besides the protocol, only `init` touches it,
// emptying it while the helper is not live, which only forgets links
// (no record is reached through them afterwards).
#[cfg(feature = "rr")]
unsafe impl Rr for RrCell {
    type Os = PortOs;

    #[inline]
    fn os(&self) -> &PortOs {
        &PortOs
    }

    #[inline]
    fn live(&self, _g: &mut Critical) -> bool {
        self.magic.get() == RR_LIVE
    }

    #[inline]
    fn pending<'g>(&'g self, _g: &'g mut Critical) -> &'g Pending {
        &self.pending
    }

    #[inline]
    fn end_live(&self, _g: &mut Critical) {
        self.magic.set(RR_DYING);
    }
}

/// The tag of `msg` through `f`; `data` is the C pointer `msg` was made
/// from, passed on as it is (NULL stays NULL for an empty message).
fn tag_of(f: mbox_rr_tag_t, data: *const c_void, msg: &[u8]) -> Result<Option<u32>, i32> {
    let Some(f) = f else {
        return Ok(None);
    };
    debug_assert!(msg.is_empty() || ptr::eq(data, msg.as_ptr().cast()));
    let mut t = 0u32;
    // SAFETY: the client's tag function (mbox_rr_tag_t contract) with the
    // message's own pointer (valid for msg.len() bytes) and a valid
    // output.
    let r = unsafe { f(data, msg.len(), Some(&mut t)) };
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

/// The receiver's RX callback while a helper is live: matches the
/// message to a pending request, or passes it to the unsolicited callback.
#[cfg(feature = "rr")]
impl OnRx for RrCell {
    fn on_rx(&self, call: &RxCall<'_>) {
        let (tagfn, cb, cbarg) = {
            let _cs = Critical::enter();
            if self.magic.get() != RR_LIVE {
                // Being torn down: its requests are cancelled; drop the message.
                return;
            }
            (self.tag.get(), self.unsolicited.get(), self.arg.get())
        };
        if let Ok(msg) = call.msg {
            if let Ok(tag) = tag_of(tagfn, call.data, msg) {
                match deliver(self, tag, msg) {
                    Delivery::Unsolicited => {}
                    Delivery::Matched | Delivery::Dropped => return,
                }
            }
        }
        if let Some(cb) = cb {
            // SAFETY: the client's callback with the arguments the framework
            // gave us, outside the critical section.
            unsafe { cb(call.ret, call.chan, cbarg, call.data, call.size) };
        }
    }
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
pub extern "C" fn mbox_rr_init(
    rr: Option<&'static RrCell>,
    sender: Option<&'static mbox_sender_s>,
    receiver: Option<&'static mbox_receiver_s>,
    tag: mbox_rr_tag_t,
    unsolicited: mbox_callback_t,
    arg: *mut c_void,
) -> c_int {
    match (rr, sender, receiver) {
        (Some(h), Some(s), Some(r)) => h.init(s, r, tag, unsolicited, arg),
        _ => -EINVAL,
    }
}

#[cfg(feature = "rr")]
impl RrCell {
    /// `mbox_rr_init()`: every result as there. The helper must stay in
    /// place until its de-init has returned (its RX callback gets its
    /// address).
    pub fn init(
        &'static self,
        sender: &'static mbox_sender_s,
        receiver: &'static mbox_receiver_s,
        tag: mbox_rr_tag_t,
        unsolicited: mbox_callback_t,
        arg: *mut c_void,
    ) -> c_int {
        // An initialised TX channel (`dev` is set by mbox_chan_init; the
        // direction is the state machine's, whatever C left in `dir`).
        let ok = {
            let _cs = Critical::enter();
            sender.chan.is_some_and(|c| !c.dev.get().is_null() && c.is_tx())
        };
        if !ok {
            return -EINVAL;
        }
        {
            let _cs = Critical::enter();
            let magic = self.magic.get();
            if magic == RR_LIVE || magic == RR_DYING {
                return -EBUSY;
            }
            self.sender.set(Some(sender));
            self.receiver.set(Some(receiver));
            self.tag.set(tag);
            self.unsolicited.set(unsolicited);
            self.arg.set(arg);
            self.pending.clear();
            // Live before the callback is registered: a reply may come at once.
            self.magic.set(RR_LIVE);
        }
        let r = match receiver.chan {
            Some(c) => {
                let (cb, arg) = rx_callback(self);
                c.register_rx(receiver, cb, arg)
            }
            None => -EINVAL,
        };
        if r < 0 {
            let _cs = Critical::enter();
            self.magic.set(0);
            return r;
        }
        0
    }
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
    rr: Option<&RrCell>,
    req: *const c_void,
    reqlen: usize,
    resp: *mut c_void,
    respcap: usize,
    resplen: Option<&mut usize>,
    timeout: clock_t,
) -> c_int {
    // The reply buffer must be able to describe an object (at most
    // isize::MAX bytes, not wrapping the address space) before a slice is
    // built over it.
    if req.is_null()
        || (resp.is_null() && respcap != 0)
        || respcap > isize::MAX as usize
        || (resp as usize).checked_add(respcap).is_none()
    {
        return -EINVAL;
    }
    let Some(h) = rr else {
        return -EINVAL;
    };
    // SAFETY: req is valid for reqlen bytes, unchanged during the call
    // (API contract).
    let Some(msg) = (unsafe { Msg::from_c(req, reqlen) }) else {
        return -EINVAL;
    };
    let buf: &mut [u8] = if respcap == 0 {
        &mut []
    } else {
        // SAFETY: resp is non-NULL, valid for respcap bytes and ours until
        // we return (API contract); respcap is at most isize::MAX and does
        // not wrap (checked above).
        unsafe { core::slice::from_raw_parts_mut(resp.cast(), respcap) }
    };
    let (r, len) = h.request_msg(msg, buf, timeout);
    if r == 0 || r == -EMSGSIZE {
        if let Some(out) = resplen {
            *out = len;
        }
    }
    r
}

#[cfg(feature = "rr")]
impl RrCell {
    /// `mbox_rr_request()` of `req`, its reply into `resp`: the result
    /// and, with 0 and -EMSGSIZE, the reply's real size; every result as
    /// there.
    pub fn request(&self, req: &[u8], resp: &mut [u8], timeout: clock_t) -> (c_int, usize) {
        self.request_msg(Msg::of(req), resp, timeout)
    }

    fn request_msg(&self, req: Msg<'_>, resp: &mut [u8], timeout: clock_t) -> (c_int, usize) {
        let ticks = match os::clock_to_ticks(timeout) {
            Ok(0) => return (-EINVAL, 0),
            Ok(t) => t,
            Err(e) => return (e, 0),
        };
        if os::in_interrupt() {
            return (-EPERM, 0);
        }
        let (sender, tagfn) = {
            let _cs = Critical::enter();
            match (self.magic.get(), self.sender.get()) {
                (RR_LIVE, Some(s)) => (s, self.tag.get()),
                _ => return (-EINVAL, 0),
            }
        };
        // The tag function sees only a request that can be sent: at most
        // the MTU of the sender's channel (-EINVAL when that is not live).
        let Some(chan) = sender.chan else {
            return (-EINVAL, 0);
        };
        let mtu = chan.mtu();
        if mtu < 0 {
            return (mtu as c_int, 0);
        }
        let Some(msg) = req.bytes(mtu as usize) else {
            return (-EMSGSIZE, 0);
        };
        let tag = match tag_of(tagfn, msg.as_ptr().cast(), msg) {
            Ok(t) => t,
            Err(e) => return (e, 0),
        };
        // A positive timeout makes the send blocking; the message goes as
        // the caller gave it (its own pointer, also with 0 bytes).
        request(self, tag, resp, ticks, move |left| chan.send_msg(sender, req, Some(ticks_to_clock(left))))
    }
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
pub extern "C" fn mbox_rr_deinit(rr: Option<&RrCell>) -> c_int {
    rr.map_or(-EINVAL, RrCell::deinit)
}

#[cfg(feature = "rr")]
impl RrCell {
    /// `mbox_rr_deinit()`: every result as there.
    pub fn deinit(&self) -> c_int {
        let receiver = {
            let mut cs = Critical::enter();
            if let Err(e) = cancel(self, &mut cs, -ECANCELED) {
                return e;
            }
            self.receiver.get()
        };
        // The channel may already be de-initialised: nothing to unregister.
        if let Some(r) = receiver {
            let _ = r.chan.map(|c| c.unregister_rx(r));
        }
        // Nothing was linked meanwhile (requests refuse a helper that is
        // not live).
        let _cs = Critical::enter();
        self.magic.set(0);
        0
    }
}

#[cfg(test)]
mod tests;
