//! The channel state machine: one small state machine per TX channel.
//!
//! ```text
//!            submit (idle)                    tx_done(token) / expiry / error
//!   IDLE ─────────────────────▶ IN FLIGHT ───────────────────────────────▶ next or IDLE
//!     ▲        submit (busy): queue it            │
//!     └───────────────────────────────────────────┘ (queue empty)
//! ```
//!
//! Everything here runs with the port's critical section held (the caller,
//! `capi.rs`, takes it); nothing here blocks or calls a client callback.
//! The hardware and the OS are reached through [`ChanEnv`], so unit tests
//! drive the state machine directly with a fake.
//!
//! Messages waiting for the channel live in two places, merged in
//! submission order by a per-channel sequence number:
//! - non-blocking messages are copied into the [`TxQueue`] ring (the
//!   caller's buffer), because their sender returns at once;
//! - a blocking sender keeps its message in its own buffer and parks a
//!   [`Waiter`] (on its stack) in a FIFO list: it needs no ring space and
//!   gets exactly its own result (seed 000's per-thread completion).
//!
//! Concurrency: every method here runs under the port's single critical
//! section. docs/concurrency.md says which lock protects what, which entry
//! points may run in interrupt context, what may run with the lock held,
//! and why per-sender order, global submission order, "each result to its
//! own sender" and at-most-once completion hold. The interleavings are
//! checked by the loom models in tests-loom/ (`make test-loom`) and by the
//! stress test ctest/test_race.c (`make test-race`).
//!
//! Invariants (checked by the tests):
//! - when the channel is idle, nothing waits (a completion always starts
//!   the next message), so a new message can never overtake older ones;
//! - exactly one message is in flight, identified by its token (its
//!   sequence number); an ACK, expiry or waiter timeout that does not
//!   match the in-flight message completes nothing;
//! - every accepted message ends exactly once: acked, timed out, send
//!   error or cancelled.

use core::ptr;

use crate::errno::*;
use crate::os::{Ticks, FOREVER};
use crate::queue::TxQueue;

/// Marks an initialised channel (a zeroed or de-initialised one has 0).
const MAGIC: u32 = 0x4D42_4F58;

/// A counter in `mbox_stats_s`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stat {
    Timeout,
    Sent,
    Received,
    Acked,
    Buffered,
    QueueFull,
    SpuriousAck,
    SendErr,
    RxDropped,
    Cancelled,
}

/// What the state machine needs from the lower half and the OS.
pub trait ChanEnv {
    /// Current tick.
    fn now(&self) -> Ticks;
    /// Lower-half send of the message with this token. 0 or negated errno.
    fn send(&mut self, token: u32, data: &[u8]) -> i32;
    /// Lower-half txfinish: end (after ACK) or abort (after timeout or
    /// deinit) the transfer in flight.
    fn txfinish(&mut self);
    /// Lower-half txacked: does the hardware show an ACK?
    fn txacked(&mut self) -> bool;
    /// Arm the channel watchdog `ticks` from now (replacing any arming).
    fn arm(&mut self, ticks: Ticks);
    /// Disarm the channel watchdog.
    fn disarm(&mut self);
    /// Wake the owner of a waiter whose state is now `Done`.
    fn wake(&mut self, w: &mut Waiter);
    /// Count one event.
    fn count(&mut self, s: Stat);
    /// Record the current queue depth (for `max_queued`).
    fn queued(&mut self, depth: usize);
}

/// State of a blocked sender's message.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitState {
    /// Not submitted yet.
    New = 0,
    /// Waiting for the channel in the waiter list.
    Queued = 1,
    /// Handed to the lower half; waiting for its ACK.
    InFlight = 2,
    /// Finished; `result` holds the outcome.
    Done = 3,
}

/// One blocked sender: lives on that sender's stack for the duration of
/// its `mbox_ticksend()` call. The channel links it while the message is
/// queued or in flight.
#[repr(C)]
pub struct Waiter {
    next: *mut Waiter,
    prev: *mut Waiter,
    data: *const u8,
    len: usize,
    deadline: Ticks,
    seq: u32,
    state: WaitState,
    result: i32,
    /// The OS wait object the sender sleeps on (unused by the state
    /// machine itself; the environment posts it in `wake`).
    pub os: crate::os::WaitObj,
}

impl Waiter {
    /// A waiter for the message `data` (which must stay valid and
    /// unchanged until the waiter is `Done`), due at `deadline`.
    pub fn new(data: &[u8], deadline: Ticks) -> Waiter {
        Waiter {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            data: data.as_ptr(),
            len: data.len(),
            deadline,
            seq: 0,
            state: WaitState::New,
            result: 0,
            os: crate::os::WaitObj::uninit(),
        }
    }

    pub fn state(&self) -> WaitState {
        self.state
    }

    pub fn result(&self) -> i32 {
        self.result
    }

    pub fn deadline(&self) -> Ticks {
        self.deadline
    }

    /// Sets the deadline before the waiter is submitted.
    pub fn set_deadline(&mut self, deadline: Ticks) {
        debug_assert!(self.state == WaitState::New);
        self.deadline = deadline;
    }

    fn payload(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `data`/`len` came from a slice whose owner is blocked in
        // mbox_ticksend() until this waiter is Done (Waiter::new contract).
        unsafe { core::slice::from_raw_parts(self.data, self.len) }
    }
}

/// FIFO of blocked senders, intrusive through `Waiter::next/prev`.
///
/// Safety invariant: every linked waiter is alive and does not move,
/// because its owner stays blocked (and keeps it in place) until the
/// waiter is unlinked, which only happens under the critical section.
#[repr(C)]
struct WaitList {
    head: *mut Waiter,
    tail: *mut Waiter,
    len: u32,
}

impl WaitList {
    const fn new() -> WaitList {
        WaitList { head: ptr::null_mut(), tail: ptr::null_mut(), len: 0 }
    }

    fn push_back(&mut self, w: &mut Waiter) {
        w.next = ptr::null_mut();
        w.prev = self.tail;
        let wp: *mut Waiter = w;
        if self.tail.is_null() {
            self.head = wp;
        } else {
            // SAFETY: tail is a linked, live waiter (list invariant).
            unsafe { (*self.tail).next = wp };
        }
        self.tail = wp;
        self.len += 1;
    }

    fn front_seq(&self) -> Option<u32> {
        // SAFETY: head is null or a linked, live waiter (list invariant).
        unsafe { self.head.as_ref() }.map(|w| w.seq)
    }

    fn pop_front<'a>(&mut self) -> Option<&'a mut Waiter> {
        // SAFETY: head is null or a linked, live waiter (list invariant);
        // once unlinked, the caller owns the only reference until Done.
        let w = unsafe { self.head.as_mut() }?;
        self.unlink(w);
        Some(w)
    }

    fn unlink(&mut self, w: &mut Waiter) {
        let wp: *mut Waiter = w;
        if w.prev.is_null() {
            debug_assert!(self.head == wp);
            self.head = w.next;
        } else {
            // SAFETY: prev is a linked, live waiter (list invariant).
            unsafe { (*w.prev).next = w.next };
        }
        if w.next.is_null() {
            self.tail = w.prev;
        } else {
            // SAFETY: next is a linked, live waiter (list invariant).
            unsafe { (*w.next).prev = w.prev };
        }
        w.next = ptr::null_mut();
        w.prev = ptr::null_mut();
        self.len -= 1;
    }
}

/// Outcome of [`ChanState::submit_blocking`].
#[derive(Debug, PartialEq, Eq)]
pub enum Submit {
    /// The message finished (or was refused) at once with this result.
    Done(i32),
    /// The message is queued or in flight: sleep on the waiter.
    Pending,
}

/// Framework-private state of one channel, embedded in `mbox_chan_s`.
#[repr(C)]
pub struct ChanState {
    magic: u32,
    busy: u8,
    rx_busy: u8,
    is_tx: u8,
    _pad: u8,
    /// Sequence number (and token) of the next accepted message.
    next_seq: u32,
    /// Token of the message in flight (valid while busy).
    inflight_token: u32,
    /// Largest message in bytes.
    mtu: u32,
    /// The caller's buffer: TX ring storage, or RX scratch.
    buf: *mut u8,
    cap: usize,
    queue: TxQueue,
    /// When the in-flight message times out.
    inflight_deadline: Ticks,
    /// Channel timeout for non-blocking messages and mbox_send().
    timeout: Ticks,
    /// The blocked sender whose message is in flight (null for a
    /// non-blocking message).
    inflight_waiter: *mut Waiter,
    waiters: WaitList,
}

impl Default for ChanState {
    fn default() -> ChanState {
        ChanState::new()
    }
}

impl ChanState {
    /// A de-initialised channel state (what a zeroed C struct also is).
    pub const fn new() -> ChanState {
        ChanState {
            magic: 0,
            busy: 0,
            rx_busy: 0,
            is_tx: 0,
            _pad: 0,
            next_seq: 0,
            inflight_token: 0,
            mtu: 0,
            buf: ptr::null_mut(),
            cap: 0,
            queue: TxQueue::new(),
            inflight_deadline: 0,
            timeout: 0,
            inflight_waiter: ptr::null_mut(),
            waiters: WaitList::new(),
        }
    }

    /// Make the channel live. `buf[..cap]` must stay valid and reserved to
    /// this channel until [`ChanState::deinit`].
    pub fn init(&mut self, is_tx: bool, buf: *mut u8, cap: usize, mtu: usize, timeout: Ticks) {
        *self = ChanState::new();
        self.is_tx = is_tx as u8;
        self.buf = buf;
        self.cap = if buf.is_null() { 0 } else { cap };
        self.mtu = mtu as u32;
        self.timeout = timeout;
        self.magic = MAGIC;
    }

    pub fn is_live(&self) -> bool {
        self.magic == MAGIC
    }

    pub fn is_tx(&self) -> bool {
        self.is_tx != 0
    }

    pub fn mtu(&self) -> usize {
        self.mtu as usize
    }

    pub fn timeout(&self) -> Ticks {
        self.timeout
    }

    pub fn is_busy(&self) -> bool {
        self.busy != 0
    }

    /// Number of messages waiting (ring plus blocked senders).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.waiters.len as usize
    }

    pub fn inflight_token(&self) -> Option<u32> {
        if self.busy != 0 {
            Some(self.inflight_token)
        } else {
            None
        }
    }

    /// The caller's buffer (TX ring or RX scratch), if any.
    pub fn buffer(&self) -> (*mut u8, usize) {
        (self.buf, self.cap)
    }

    /// The ring storage. It is not part of `self` (it is the caller's
    /// buffer), hence the free lifetime; callers keep at most one such
    /// slice alive at a time.
    fn ring<'a>(&self) -> &'a mut [u8] {
        if self.buf.is_null() || self.cap == 0 {
            return &mut [];
        }
        // SAFETY: buf/cap were given to init() as storage reserved to this
        // channel until deinit; all access is under the critical section,
        // and each caller holds only one slice of it at a time.
        unsafe { core::slice::from_raw_parts_mut(self.buf, self.cap) }
    }

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = s.wrapping_add(1);
        s
    }

    /// The message `token` is in flight from `now` until `deadline`. Arming
    /// the watchdog replaces any earlier arming, so the previous message's
    /// watchdog needs no separate cancel.
    fn go_busy(&mut self, env: &mut impl ChanEnv, now: Ticks, token: u32, deadline: Ticks, w: *mut Waiter) {
        self.busy = 1;
        self.inflight_token = token;
        self.inflight_deadline = deadline;
        self.inflight_waiter = w;
        env.count(Stat::Sent);
        if deadline != FOREVER {
            env.arm(deadline.saturating_sub(now).max(1));
        } else {
            env.disarm();
        }
    }

    /// The deadline `ticks` after `now` (`FOREVER` stays `FOREVER`).
    pub fn deadline_from(now: Ticks, ticks: Ticks) -> Ticks {
        if ticks == FOREVER {
            FOREVER
        } else {
            now.saturating_add(ticks).min(FOREVER - 1)
        }
    }

    /// Non-blocking send (`mbox_ticksend(.., 0)`): send now when the channel
    /// is idle, otherwise copy into the ring with the channel timeout as
    /// the deadline it gets once in flight.
    /// Returns 0 (sent or queued), -ENOBUFS (ring full; counted), or the
    /// lower half's error when an immediate send failed (not accepted).
    pub fn submit_nb(&mut self, env: &mut impl ChanEnv, data: &[u8]) -> i32 {
        if self.busy == 0 {
            let seq = self.take_seq();
            let r = env.send(seq, data);
            if r < 0 {
                env.count(Stat::SendErr);
                return r;
            }
            let now = env.now();
            let deadline = Self::deadline_from(now, self.timeout);
            self.go_busy(env, now, seq, deadline, ptr::null_mut());
            return 0;
        }
        let seq = self.next_seq;
        let ring = self.ring();
        if !self.queue.push(ring, seq, data) {
            env.count(Stat::QueueFull);
            return -ENOBUFS;
        }
        self.take_seq();
        env.count(Stat::Buffered);
        env.queued(self.queued());
        0
    }

    /// Blocking send: start `w`'s message now or park `w` in FIFO order.
    ///
    /// # Safety
    /// On `Submit::Pending`, `w` must stay alive, in place and otherwise
    /// untouched until, under the critical section, its state is `Done`
    /// or [`ChanState::waiter_timeout`] has returned for it.
    pub unsafe fn submit_blocking(&mut self, env: &mut impl ChanEnv, w: &mut Waiter) -> Submit {
        w.seq = self.take_seq();
        if self.busy == 0 {
            let r = env.send(w.seq, w.payload());
            if r < 0 {
                env.count(Stat::SendErr);
                w.state = WaitState::Done;
                w.result = r;
                return Submit::Done(r);
            }
            w.state = WaitState::InFlight;
            let deadline = w.deadline;
            let now = env.now();
            self.go_busy(env, now, w.seq, deadline, w);
            return Submit::Pending;
        }
        w.state = WaitState::Queued;
        self.waiters.push_back(w);
        env.count(Stat::Buffered);
        env.queued(self.queued());
        Submit::Pending
    }

    /// Ends the in-flight message with `result` and tells its owner. The
    /// watchdog is left to the caller: the next message re-arms it, and
    /// going idle disarms it (start_next, deinit).
    fn finish(&mut self, env: &mut impl ChanEnv, result: i32) {
        env.txfinish();
        self.busy = 0;
        env.count(match result {
            0 => Stat::Acked,
            r if r == -ETIMEDOUT => Stat::Timeout,
            _ => Stat::Cancelled,
        });
        // SAFETY: a non-null inflight_waiter is alive until Done (the
        // submit_blocking contract); it is cleared here, once.
        if let Some(w) = unsafe { self.inflight_waiter.as_mut() } {
            self.inflight_waiter = ptr::null_mut();
            w.result = result;
            w.state = WaitState::Done;
            env.wake(w);
        }
    }

    /// Starts the oldest waiting message; skips (and ends) the ones that
    /// cannot go: expired blocked senders and lower-half send errors.
    fn start_next(&mut self, env: &mut impl ChanEnv) {
        // One clock reading serves the whole pass (sends are short).
        let now = env.now();
        while self.busy == 0 {
            let ring = self.ring();
            let head = self.queue.head(ring);
            let take_ring = match (head.map(|h| h.seq), self.waiters.front_seq()) {
                (None, None) => {
                    env.disarm();
                    return;
                }
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // Sequence numbers wrap: compare by signed distance.
                (Some(r), Some(w)) => (r.wrapping_sub(w) as i32) < 0,
            };
            if let (true, Some(h)) = (take_ring, head) {
                let r = env.send(h.seq, self.queue.payload(ring, &h));
                self.queue.pop_head(ring.len(), &h);
                if r < 0 {
                    // Counted, and the rest of the queue goes on.
                    env.count(Stat::SendErr);
                    continue;
                }
                let deadline = Self::deadline_from(now, self.timeout);
                self.go_busy(env, now, h.seq, deadline, ptr::null_mut());
            } else {
                let w = self.waiters.pop_front().expect("peeked above");
                if w.deadline != FOREVER && now >= w.deadline {
                    w.result = -ETIMEDOUT;
                    w.state = WaitState::Done;
                    env.count(Stat::Timeout);
                    env.wake(w);
                    continue;
                }
                let r = env.send(w.seq, w.payload());
                if r < 0 {
                    env.count(Stat::SendErr);
                    w.result = r;
                    w.state = WaitState::Done;
                    env.wake(w);
                    continue;
                }
                w.state = WaitState::InFlight;
                let (seq, deadline) = (w.seq, w.deadline);
                self.go_busy(env, now, seq, deadline, w);
            }
        }
    }

    /// TX completion from the lower half. `token` is the token echoed by
    /// the remote when the lower half can carry one; without it the
    /// lower half's `txacked` must confirm the ACK.
    /// Returns 0 when the in-flight message was completed, -ENOENT when
    /// nothing was in flight, -ESRCH for a token of another message,
    /// -EAGAIN when the hardware shows no ACK. Every refusal is counted in
    /// `spurious_ack` and changes nothing else.
    pub fn tx_done(&mut self, env: &mut impl ChanEnv, token: Option<u32>) -> i32 {
        if self.busy == 0 {
            env.count(Stat::SpuriousAck);
            return -ENOENT;
        }
        match token {
            Some(t) if t != self.inflight_token => {
                env.count(Stat::SpuriousAck);
                return -ESRCH;
            }
            None if !env.txacked() => {
                env.count(Stat::SpuriousAck);
                return -EAGAIN;
            }
            _ => {}
        }
        self.finish(env, 0);
        self.start_next(env);
        0
    }

    /// Watchdog callback. Expires the in-flight message only when its own
    /// deadline has passed, so a callback that was already running when
    /// its message completed cannot time out the next one (REFERENCE §2
    /// item 7); an early callback re-arms for the remainder.
    pub fn timer_expired(&mut self, env: &mut impl ChanEnv) {
        if self.busy == 0 || self.inflight_deadline == FOREVER {
            return;
        }
        let now = env.now();
        if now < self.inflight_deadline {
            env.arm(self.inflight_deadline - now);
            return;
        }
        self.finish(env, -ETIMEDOUT);
        self.start_next(env);
    }

    /// The blocked sender owning `w` woke at its deadline without a
    /// result: take its message back from wherever it is.
    /// Returns the message's result (-ETIMEDOUT unless it finished just
    /// in time).
    pub fn waiter_timeout(&mut self, env: &mut impl ChanEnv, w: &mut Waiter) -> i32 {
        match w.state {
            WaitState::Done | WaitState::New => w.result,
            WaitState::Queued => {
                self.waiters.unlink(w);
                w.state = WaitState::Done;
                w.result = -ETIMEDOUT;
                env.count(Stat::Timeout);
                -ETIMEDOUT
            }
            WaitState::InFlight => {
                let wp: *mut Waiter = w;
                if self.busy == 0 || self.inflight_waiter != wp {
                    crate::os::assert_fail(file!(), line!());
                }
                self.finish(env, -ETIMEDOUT);
                self.start_next(env);
                w.result
            }
        }
    }

    /// Tear down: the in-flight message and every waiting one end with
    /// -ECANCELED (blocked senders are woken with it). The channel is dead
    /// afterwards; returns how many messages were cancelled.
    pub fn deinit(&mut self, env: &mut impl ChanEnv) -> usize {
        let mut n = 0;
        self.magic = 0;
        env.disarm();
        if self.busy != 0 {
            self.finish(env, -ECANCELED);
            n += 1;
        }
        while let Some(w) = self.waiters.pop_front() {
            w.result = -ECANCELED;
            w.state = WaitState::Done;
            env.count(Stat::Cancelled);
            env.wake(w);
            n += 1;
        }
        let dropped = self.queue.clear();
        for _ in 0..dropped {
            env.count(Stat::Cancelled);
        }
        n + dropped
    }

    /// Claims the RX path (one reception at a time per channel).
    pub fn rx_begin(&mut self) -> Result<(), i32> {
        if self.rx_busy != 0 {
            return Err(-EBUSY);
        }
        self.rx_busy = 1;
        Ok(())
    }

    pub fn rx_end(&mut self) {
        self.rx_busy = 0;
    }

    /// A reception (recv, acknowledge, client callback) is still running.
    pub fn rx_in_progress(&self) -> bool {
        self.rx_busy != 0
    }
}

#[cfg(test)]
mod tests;
