//! Blocked senders: the frame a sender keeps on its own stack while its
//! message waits ([`Frame`]), the channel's handle to it ([`Linked`]) and
//! the FIFO of those handles ([`WaitList`], intrusive, no allocation).
//!
//! A blocked sender needs no ring space and gets exactly its own result:
//! its message stays in its own buffer, and the channel reaches its frame
//! through a pointer until the message ends. This module holds that
//! pointer work behind a safe API; the state machine ([`crate::upper::chan`]) and
//! the blocking glue ([`crate::upper::glue`]) use it without `unsafe`.
//!
//! # Invariant
//! - A [`Waiter`] exists only inside a [`Frame`], which is pinned: its
//!   memory stays in place until its `Drop` has run.
//! - [`Unsent::submit`] makes the one [`Linked`] of a frame (once: a
//!   frame has one [`Unsent`], which the submit consumes; the waiter
//!   leaves `New` for good), and only [`Linked::end`] consumes it;
//!   `end` stores `Done` as its last access to the frame. So while a
//!   `Linked` exists the state is `Queued` or `InFlight`, and a frame is
//!   never dropped in those states: its `Drop` stops the system
//!   (`os::assert_fail`) rather than free memory a `Linked` reaches.
//! - Only a `Linked` or a [`WaitList`] (which keeps the `Linked`s it holds
//!   as raw pointers, each reached from the list's head) dereferences a
//!   pointer to a waiter, through one function (`held`); the [`Wake`]
//!   that `Linked::end` lends for the wake-up reaches the frame's wait
//!   object. Handles and list live in the channel state, reached under
//!   the channel's critical section, and the frame's owner reads or
//!   unlinks its waiter under that same section; so the waiter's fields
//!   (plain cells) are never accessed by two contexts at once. Only the state is atomic: its owner may check
//!   it anywhere, and the `Release` store of `Done` publishes the result.
//! - The wait object is reached through shared references only: the
//!   owner waits on it while the channel posts it ([`ReadyWait::post`]
//!   runs in any context). The frame borrows it initialised for the
//!   frame's whole life (its lifetime parameter `'w`), so it is
//!   initialised whenever a `Linked` can post it.
//! - The message given to the submit outlives the frame (the frame's
//!   lifetime parameter).

use core::cell::Cell;
use core::marker::{PhantomData, PhantomPinned};
use core::pin::{pin, Pin};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::os::{ReadyWait, Ticks, FOREVER};

/// State of a blocked sender's message. The two states in which the
/// channel holds the waiter share one bit set, so "is it linked" is one
/// bit test.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitState {
    /// Not submitted yet.
    New = 0,
    /// Finished; the result is final.
    Done = 1,
    /// Waiting for the channel in the waiter list.
    Queued = LINKED,
    /// Taken by the channel: handed to the lower half (waiting for its
    /// ACK), or about to be.
    InFlight = LINKED | 1,
}

/// The bit of the states in which a [`Linked`] reaches the waiter.
const LINKED: u8 = 2;

impl WaitState {
    fn from_u8(v: u8) -> WaitState {
        // Only the two low bits are ever stored.
        match v & 3 {
            0 => WaitState::New,
            1 => WaitState::Done,
            LINKED => WaitState::Queued,
            _ => WaitState::InFlight,
        }
    }
}

/// One blocked sender's message, inside its [`Frame`].
#[repr(C)]
pub struct Waiter {
    next: Cell<*mut Waiter>,
    prev: Cell<*mut Waiter>,
    data: Cell<*const u8>,
    len: Cell<usize>,
    deadline: Cell<Ticks>,
    seq: Cell<u32>,
    result: Cell<i32>,
    state: AtomicU8,
    /// Posts the frame's wait object; None for an owner that polls
    /// instead of sleeping.
    post: Option<fn(NonNull<Waiter>)>,
}

impl Waiter {
    /// The message's state (`Done` once it ended).
    #[inline]
    pub fn state(&self) -> WaitState {
        WaitState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// The message's result once it is `Done` (0 before).
    #[inline]
    pub fn result(&self) -> i32 {
        self.result.get()
    }

    /// The result, once the message ended.
    #[inline]
    pub fn outcome(&self) -> Option<i32> {
        (self.state() == WaitState::Done).then(|| self.result.get())
    }

    /// When the message is due (fixed once submitted).
    #[inline]
    pub fn deadline(&self) -> Ticks {
        self.deadline.get()
    }

    fn set_state(&self, s: WaitState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
}

/// The stack frame of a blocked (or polling) sender: its [`Waiter`] and
/// the initialised wait object it sleeps on. Used pinned
/// (`core::pin::pin!`), so the channel can keep a pointer to it while its
/// message waits.
#[repr(C)]
pub struct Frame<'m, 'w, W: ReadyWait> {
    // First: a pointer to the waiter is a pointer to the frame.
    w: Waiter,
    wait: &'w W,
    _msg: PhantomData<&'m [u8]>,
    _pinned: PhantomPinned,
}

impl<'m, 'w, W: ReadyWait> Frame<'m, 'w, W> {
    /// Runs `f` with a new frame, pinned here until `f` returns, whose
    /// owner sleeps on `wait`, initialised for as long as the frame is
    /// borrowed from it (see [`crate::os::OsWait::ready`]): the end of the
    /// message posts it. `f` gets the frame as [`Unsent`], the one right
    /// to submit it.
    #[inline(always)]
    pub fn scope<R>(wait: &'w W, f: impl FnOnce(Unsent<'_, 'm, 'w, W>) -> R) -> R {
        let frame = pin!(Self::new(wait));
        f(Unsent(frame.into_ref()))
    }

    /// A frame whose owner sleeps on `wait` (see [`Frame::scope`]).
    #[inline(always)]
    pub(crate) fn new(wait: &'w W) -> Self {
        Self::with(wait, Some(post_frame::<W>))
    }
}

impl<'m> Frame<'m, 'static, Polled> {
    /// [`Frame::scope`] for an owner that polls: nothing posts its frame,
    /// and its waits return -ETIMEDOUT at once.
    #[inline(always)]
    pub fn scope_polled<R>(f: impl FnOnce(Unsent<'_, 'm, 'static, Polled>) -> R) -> R {
        let frame = pin!(Self::polled());
        f(Unsent(frame.into_ref()))
    }

    /// A frame whose owner polls (see [`Frame::scope_polled`]).
    #[inline(always)]
    pub(crate) fn polled() -> Self {
        Self::with(&Polled, None)
    }
}

impl<'m, 'w, W: ReadyWait> Frame<'m, 'w, W> {
    #[inline(always)]
    fn with(wait: &'w W, post: Option<fn(NonNull<Waiter>)>) -> Self {
        Frame {
            w: Waiter {
                next: Cell::new(ptr::null_mut()),
                prev: Cell::new(ptr::null_mut()),
                data: Cell::new(ptr::null()),
                len: Cell::new(0),
                deadline: Cell::new(FOREVER),
                seq: Cell::new(0),
                result: Cell::new(0),
                state: AtomicU8::new(WaitState::New as u8),
                post,
            },
            wait,
            _msg: PhantomData,
            _pinned: PhantomPinned,
        }
    }

    /// Links the frame, which is `New`: the one handle the channel keeps
    /// until the message ends.
    #[inline(always)]
    fn link(&self, msg: &'m [u8], deadline: Ticks) -> Linked {
        let w = &self.w;
        w.data.set(msg.as_ptr());
        w.len.set(msg.len());
        w.deadline.set(deadline);
        w.set_state(WaitState::InFlight);
        // From the whole frame: its wait object is reached through it.
        Linked(NonNull::from(self).cast())
    }

    /// Unit tests build frames on their own stack: this submit checks at
    /// run time what [`Unsent`] guarantees by construction.
    #[cfg(test)]
    pub(crate) fn submit(&self, msg: &'m [u8], deadline: Ticks) -> Linked {
        if self.w.state.load(Ordering::Relaxed) != WaitState::New as u8 {
            misuse();
        }
        self.link(msg, deadline)
    }

    /// Waits for the end of the message or `deadline` (see
    /// [`ReadyWait::wait_until`]): 0 when posted, -ETIMEDOUT otherwise. A
    /// polling frame returns -ETIMEDOUT at once.
    pub fn wait_until(&self, deadline: Ticks) -> i32 {
        // A polling frame's `Polled` returns at once.
        self.wait.wait_until(deadline)
    }

    /// The waiter (its state, result and deadline).
    #[inline]
    pub fn waiter(&self) -> &Waiter {
        &self.w
    }
}

impl<W: ReadyWait> core::ops::Deref for Frame<'_, '_, W> {
    type Target = Waiter;

    #[inline]
    fn deref(&self) -> &Waiter {
        &self.w
    }
}

impl<W: ReadyWait> Drop for Frame<'_, '_, W> {
    fn drop(&mut self) {
        // The channel still reaches a Queued or InFlight waiter: this
        // memory must not be freed (nor the wait object the frame
        // borrows destroyed). Relaxed: the owner saw the end of its
        // message under the channel's critical section before it left.
        if self.w.state.load(Ordering::Relaxed) & LINKED != 0 {
            misuse();
        }
    }
}

/// Stops the system: a frame dropped while the channel still reaches it,
/// a waiter taken back from a channel that does not hold it, or (unit
/// tests' own submit) a frame submitted twice. One cold function for
/// these checks keeps each of them to a test and a call.
#[cold]
#[inline(never)]
pub(crate) fn misuse() -> ! {
    crate::os::assert_fail(file!(), line!())
}

/// A pinned frame that was never submitted: the one right to submit it.
/// Made once per frame, by [`Frame::scope`] or [`Frame::scope_polled`],
/// and consumed by [`Unsent::submit`]: so a frame is submitted at most
/// once, without a check at run time.
pub struct Unsent<'a, 'm, 'w, W: ReadyWait>(Pin<&'a Frame<'m, 'w, W>>);

impl<'a, 'm, 'w, W: ReadyWait> Unsent<'a, 'm, 'w, W> {
    /// The frame, to wait on it and read its outcome, for as long as it
    /// lives.
    #[inline(always)]
    pub fn frame(&self) -> Pin<&'a Frame<'m, 'w, W>> {
        self.0
    }

    /// Hands the message `msg`, due at `deadline`, to the channel: the
    /// one handle the channel keeps until the message ends.
    #[inline(always)]
    pub fn submit(self, msg: &'m [u8], deadline: Ticks) -> Linked {
        self.0.get_ref().link(msg, deadline)
    }
}

/// Posts the wait object of the frame of `w`.
fn post_frame<W: ReadyWait>(w: NonNull<Waiter>) {
    // SAFETY: `post` is set to this function only by `Frame::new` of a
    // `Frame<W>`, whose first field is the waiter; `w` comes from a
    // `Linked` (whole-frame pointer), whose frame is alive (invariant).
    let frame = unsafe { w.cast::<Frame<'_, '_, W>>().as_ref() };
    frame.wait.post();
}

/// The channel's handle to a submitted waiter (see the module's
/// invariant): not `Copy`, made by [`Unsent::submit`], consumed by
/// [`Linked::end`].
#[repr(transparent)]
pub struct Linked(NonNull<Waiter>);

/// The waiter at `p`, for as long as `holder` is borrowed: the one place
/// that turns a handle into a reference. Only ever called with a pointer
/// that `holder` holds, a [`Linked`] (its own) or a [`WaitList`] (its head,
/// its tail, or a link of one of its waiters).
#[inline(always)]
fn held<H: Holder>(p: NonNull<Waiter>, holder: &H) -> &Waiter {
    let _ = holder;
    // SAFETY: `p` is a handle `holder` holds, so its frame is alive and
    // pinned until the handle is consumed or unlinked (the module's
    // invariant), which needs `holder` (a `Linked` by value, a `WaitList`
    // by `&mut`): not while this borrow of it lives.
    unsafe { p.as_ref() }
}

/// The two holders of handles (see [`held`]).
trait Holder {}
impl Holder for Linked {}
impl Holder for WaitList {}

impl Linked {
    #[inline(always)]
    fn w(&self) -> &Waiter {
        held(self.0, self)
    }

    /// Sequence number (and token) of the message.
    #[inline]
    pub fn seq(&self) -> u32 {
        self.w().seq.get()
    }

    /// Numbers the message (at submission).
    #[inline]
    pub fn set_seq(&self, seq: u32) {
        self.w().seq.set(seq);
    }

    #[inline]
    pub fn deadline(&self) -> Ticks {
        self.w().deadline.get()
    }

    /// The message, in its sender's buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let w = self.w();
        // SAFETY: data/len came from the `&'m [u8]` given to submit, which
        // outlives the frame (its lifetime parameter); a 0-byte message
        // keeps its real (non-NULL) pointer.
        unsafe { core::slice::from_raw_parts(w.data.get(), w.len.get()) }
    }

    /// The message is handed to the lower half.
    #[inline]
    pub fn set_in_flight(&self) {
        self.w().set_state(WaitState::InFlight);
    }

    /// Whether this is the handle of `w`.
    #[inline]
    pub fn is(&self, w: &Waiter) -> bool {
        ptr::eq(self.0.as_ptr(), w)
    }

    /// Ends the message with `result`. A sleeping owner is woken through
    /// `wake` (given a [`Wake`] for its frame; never called for an owner
    /// that polls); then the waiter is `Done`, and the handle is gone.
    #[inline]
    pub fn end(self, result: i32, wake: impl FnOnce(Wake<'_>)) {
        let w = self.w();
        w.result.set(result);
        if let Some(post) = w.post {
            wake(Wake { w: self.0, post, _handle: PhantomData });
        }
        // Last access: from here the owner may go.
        w.state.store(WaitState::Done as u8, Ordering::Release);
    }

    /// Ends the message with `result` without waking its owner (the
    /// owner is the caller).
    #[inline]
    pub fn end_quiet(self, result: i32) {
        self.end(result, |_| {})
    }
}

/// The wake-up of one ending waiter's owner, for the length of
/// [`Linked::end`].
pub struct Wake<'a> {
    w: NonNull<Waiter>,
    post: fn(NonNull<Waiter>),
    _handle: PhantomData<&'a Linked>,
}

impl Wake<'_> {
    /// Posts the owner's wait object.
    #[inline]
    pub fn post(&self) {
        (self.post)(self.w)
    }
}

/// FIFO of blocked senders, intrusive through their waiters (each pointer
/// in it, the head, the tail and the links, is a handle the list holds).
#[repr(C)]
pub struct WaitList {
    head: *mut Waiter,
    tail: *mut Waiter,
    len: u32,
}

impl Default for WaitList {
    fn default() -> WaitList {
        WaitList::new()
    }
}

impl WaitList {
    pub const fn new() -> WaitList {
        WaitList { head: ptr::null_mut(), tail: ptr::null_mut(), len: 0 }
    }

    /// Waiters in the list.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// The waiter at `p`, a pointer of this list (or null).
    #[inline(always)]
    fn at(&self, p: *mut Waiter) -> Option<&Waiter> {
        NonNull::new(p).map(|p| held(p, self))
    }

    /// Parks `w` at the back.
    pub fn push_back(&mut self, w: Linked) {
        let p = w.0.as_ptr();
        let n = w.w();
        n.set_state(WaitState::Queued);
        n.next.set(ptr::null_mut());
        n.prev.set(self.tail);
        if let Some(t) = self.at(self.tail) {
            t.next.set(p);
        }
        if self.tail.is_null() {
            self.head = p;
        }
        self.tail = p;
        self.len += 1;
    }

    /// Sequence number of the oldest waiter.
    #[inline]
    pub fn front_seq(&self) -> Option<u32> {
        self.at(self.head).map(|w| w.seq.get())
    }

    /// Takes the oldest waiter off the list (it is the caller's to start
    /// or end).
    // Out of line: inlined into both of its callers it costs more than
    // the call.
    #[inline(never)]
    pub fn pop_front(&mut self) -> Option<Linked> {
        let p = NonNull::new(self.head)?;
        let n = held(p, self);
        let next = n.next.get();
        n.next.set(ptr::null_mut());
        n.prev.set(ptr::null_mut());
        // The head has no predecessor: only its successor (or the tail)
        // changes.
        match self.at(next) {
            Some(nx) => nx.prev.set(ptr::null_mut()),
            None => self.tail = ptr::null_mut(),
        }
        self.head = next;
        self.len -= 1;
        let w = Linked(p);
        w.set_in_flight();
        Some(w)
    }

    /// Takes the waiter `w` off the list, None when it is not in it. It
    /// walks the list (one channel's blocked senders: a few), so that a
    /// waiter of another list is never unlinked from this one.
    pub fn remove(&mut self, w: &Waiter) -> Option<Linked> {
        let mut p = self.head;
        while let Some(n) = self.at(p) {
            if ptr::eq(n, w) {
                self.unlink(p);
                // The list's own pointer (the whole frame's).
                return NonNull::new(p).map(Linked);
            }
            p = n.next.get();
        }
        None
    }

    /// Unlinks `p`, a waiter of this list.
    fn unlink(&mut self, p: *mut Waiter) {
        let Some(n) = self.at(p) else {
            return;
        };
        let (prev, next) = (n.prev.get(), n.next.get());
        n.next.set(ptr::null_mut());
        n.prev.set(ptr::null_mut());
        if let Some(pv) = self.at(prev) {
            pv.next.set(next);
        }
        if let Some(nx) = self.at(next) {
            nx.prev.set(prev);
        }
        if prev.is_null() {
            self.head = next;
        }
        if next.is_null() {
            self.tail = prev;
        }
        self.len -= 1;
    }
}

/// The wait object of an owner that polls instead of sleeping
/// ([`Frame::scope_polled`]): never posted, never waited on.
pub struct Polled;

impl ReadyWait for Polled {
    fn wait_until(&self, _deadline: Ticks) -> i32 {
        -crate::upper::errno::ETIMEDOUT
    }

    fn post(&self) {}
}

#[cfg(test)]
mod tests {
    use core::pin::pin;

    use super::*;

    /// A wait object that counts its posts.
    #[derive(Default)]
    struct Counted(Cell<u32>);

    impl ReadyWait for Counted {
        fn wait_until(&self, _deadline: Ticks) -> i32 {
            0
        }
        fn post(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn list_keeps_fifo_order_when_a_middle_waiter_leaves() {
        let (a, b, c) = (pin!(Frame::polled()), pin!(Frame::polled()), pin!(Frame::polled()));
        let (a, b, c) = (a.into_ref(), b.into_ref(), c.into_ref());
        let mut l = WaitList::new();
        for (i, f) in [&a, &b, &c].into_iter().enumerate() {
            let w = f.submit(b"m", FOREVER);
            w.set_seq(i as u32);
            l.push_back(w);
        }
        assert_eq!((l.len(), b.state()), (3, WaitState::Queued));
        l.remove(&b).expect("b is linked").end_quiet(-1);
        assert_eq!((l.len(), b.outcome()), (2, Some(-1)));
        let first = l.pop_front().unwrap();
        assert_eq!((first.seq(), a.state()), (0, WaitState::InFlight));
        first.end_quiet(0);
        let last = l.pop_front().unwrap();
        assert_eq!(last.seq(), 2);
        last.end_quiet(0);
        assert!(l.pop_front().is_none() && l.is_empty());
    }

    #[test]
    fn removing_a_waiter_that_is_not_in_the_list_changes_nothing() {
        let (a, other) = (pin!(Frame::polled()), pin!(Frame::polled()));
        let (a, other) = (a.into_ref(), other.into_ref());
        let mut l = WaitList::new();
        l.push_back(a.submit(b"a", FOREVER));
        assert!(l.remove(&other).is_none());
        assert_eq!((l.len(), a.state()), (1, WaitState::Queued));
        l.pop_front().unwrap().end_quiet(0);
    }

    #[test]
    fn ending_a_message_wakes_its_sleeping_owner_once_and_a_poller_never() {
        let counted = Counted::default();
        let f = pin!(Frame::new(&counted));
        let f = f.into_ref();
        let mut wakes = 0;
        f.submit(b"x", 5).end(-7, |w| {
            wakes += 1;
            w.post();
        });
        assert_eq!((wakes, counted.0.get(), f.outcome()), (1, 1, Some(-7)));
        let p = pin!(Frame::polled());
        let p = p.into_ref();
        p.submit(b"y", 5).end(0, |_| wakes += 1);
        assert_eq!((wakes, p.outcome()), (1, Some(0)));
    }

    /// Runs this binary's ignored test `name` alone in a child process:
    /// true when it stopped the system (the port's assertion hook, which
    /// aborts on the host).
    fn stops_the_system(name: &str) -> bool {
        extern crate std;
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", name, "--ignored", "--test-threads=1"])
            .output()
            .expect("child test run");
        !out.status.success() && std::string::String::from_utf8_lossy(&out.stderr).contains("libmbox assertion")
    }

    #[test]
    #[cfg_attr(miri, ignore = "starts a process")]
    fn a_frame_dropped_while_the_channel_holds_it_stops_the_system() {
        assert!(stops_the_system("upper::waiters::tests::drop_a_queued_frame"));
        assert!(stops_the_system("upper::waiters::tests::drop_an_in_flight_frame"));
        assert!(!stops_the_system("upper::waiters::tests::drop_an_ended_frame"));
    }

    #[test]
    #[ignore = "a child of a_frame_dropped_while_the_channel_holds_it_stops_the_system"]
    fn drop_a_queued_frame() {
        let mut l = WaitList::new();
        Frame::scope_polled(|once| l.push_back(once.submit(b"q", FOREVER)));
    }

    #[test]
    #[ignore = "a child of a_frame_dropped_while_the_channel_holds_it_stops_the_system"]
    fn drop_an_in_flight_frame() {
        let counted = Counted::default();
        // The handle outlives its frame, as a channel's would.
        let _kept = Frame::scope(&counted, |once| once.submit(b"f", FOREVER));
    }

    #[test]
    #[ignore = "a child of a_frame_dropped_while_the_channel_holds_it_stops_the_system"]
    fn drop_an_ended_frame() {
        Frame::scope_polled(|once| once.submit(b"e", FOREVER).end_quiet(0));
    }

    #[test]
    fn the_channel_sees_the_senders_message_and_deadline() {
        let f = pin!(Frame::polled());
        let f = f.into_ref();
        let msg = [1u8, 2, 3];
        let w = f.submit(&msg, 42);
        assert_eq!((w.payload(), w.deadline(), f.deadline()), (&msg[..], 42, 42));
        assert!(w.is(&f));
        w.end_quiet(0);
    }
}
