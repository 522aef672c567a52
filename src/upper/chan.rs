//! The channel state machine: one small state machine per TX channel.
//!
//! ```text
//!            submit (a slot free)             tx_done(token) / expiry / error
//!   IDLE ─────────────────────▶ IN FLIGHT ───────────────────────────────▶ next or IDLE
//!     ▲     submit (no slot free): queue it       │
//!     └───────────────────────────────────────────┘ (queue empty)
//! ```
//!
//! A channel has `depth` in-flight slots (1 unless the controller has a
//! hardware FIFO, docs/beyond.md §2). Slots form a FIFO in token order;
//! a slot is `InFlight` until its message ends, then `Done` until it is
//! the oldest slot and its TX-done callback (if any) has been handed out
//! by [`ChanState::take_completion`]; then it is free again.
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
//!   gets exactly its own result (a completion per thread, never one
//!   shared by every blocked sender).
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
//! - when a slot is free, nothing waits (freeing a slot always starts
//!   the next message), so a new message can never overtake older ones;
//! - at most `depth` messages are in flight, each identified by its token
//!   (its sequence number); an ACK completes only the oldest message in
//!   flight and only with its token; an ACK, expiry or waiter timeout
//!   that matches no message in flight completes nothing;
//! - every accepted message ends exactly once: acked, timed out, send
//!   error or cancelled.
//!
//! Safe Rust: the blocked senders' frames are reached through
//! [`crate::upper::waiters`], the caller's buffer through [`crate::upper::lent`].

#![deny(unsafe_code)]

use core::sync::atomic::{AtomicU8, Ordering};

use crate::os::{Ticks, FOREVER};
use crate::upper::errno::*;
#[cfg(feature = "txfifo")]
pub use crate::upper::lent::TXSLOT_SIZE;
pub use crate::upper::lent::{Lent, TxSlot};
use crate::upper::queue::TxQueue;
use crate::upper::waiters::WaitList;
pub use crate::upper::waiters::{Frame, Linked, Polled, WaitState, Waiter, Wake};

/// Marks an initialised channel (a zeroed or de-initialised one has 0).
const MAGIC: u32 = 0x4D42_4F58;
/// An init has claimed the channel ([`ChanState::claim_init`]) and is
/// setting it up.
const INITIALISING: u32 = 0x4D42_4F49;
/// A de-init is tearing the channel down ([`ChanState::deinit`] until
/// [`ChanState::release`]).
const TEARING_DOWN: u32 = 0x4D42_4F44;

/// A counter in `mbox_stats_s`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stat {
    Timeout,
    Sent,
    Received,
    Acked,
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
    /// deinit) the transfer of the message `token` (with several in
    /// flight, any of them: a timeout may end a later one first).
    fn txfinish(&mut self, token: u32);
    /// Lower-half txacked: does the hardware show an ACK?
    fn txacked(&mut self) -> bool;
    /// Arm the channel watchdog `ticks` from now (replacing any arming).
    /// The state machine calls it only when the watchdog is not armed or
    /// is armed for a later expiry than a message in flight needs.
    fn arm(&mut self, ticks: Ticks);
    /// Disarm the channel watchdog (teardown only: between messages the
    /// watchdog stays armed, and an expiry with nothing due is harmless).
    fn disarm(&mut self);
    /// Wake the owner of a waiter whose message ends now, with `w.post()`
    /// (never called for a polled waiter, whose owner spins instead of
    /// sleeping).
    fn wake(&mut self, w: Wake<'_>);
    /// Count one event.
    fn count(&mut self, s: Stat);
    /// Record the current queue depth (messages waiting to go: the
    /// `buffered` statistic, and `max_queued`); called after every change.
    fn queued(&mut self, depth: usize);
    /// Record how many messages are in flight now (`txstate`); called
    /// after every change.
    fn in_flight(&mut self, _n: usize) {}
}

/// Outcome of [`ChanState::submit_blocking`].
#[derive(Debug, PartialEq, Eq)]
pub enum Submit {
    /// The message finished (or was refused) at once with this result.
    Done(i32),
    /// The message is queued or in flight: sleep on the waiter.
    Pending,
}

/// Whether messages can carry a TX-done client (`CONFIG_MBOX_TXDONE_CALLBACK`,
/// cargo feature `txdone-callback`). Without it every client is 0, and the
/// checks for one are constants.
pub const TX_CLIENTS: bool = cfg!(feature = "txdone-callback");

/// Most messages one channel keeps in flight (`mbox_dev_s::txdepth`).
#[cfg(feature = "txfifo")]
pub const MAX_TXDEPTH: usize = 16;

/// How the end of a transfer is detected (Linux TXDONE_BY_*).
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TxDoneMethod {
    /// The lower half reports ACKs from its interrupt handler.
    Irq = 0,
    /// The framework polls `txacked` every poll period.
    Poll = 1,
    /// The client reports completion (`mbox_client_txdone`).
    Ack = 2,
}

/// A message that ended and whose TX-done client must be told, outside
/// the critical section ([`ChanState::take_completion`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The client recorded with the message (never 0).
    pub client: usize,
    /// Token of the message.
    pub token: u32,
    /// Its result: 0, -ETIMEDOUT, a send error or -ECANCELED.
    pub result: i32,
}

const SLOT_INFLIGHT: u8 = 1;
const SLOT_DONE: u8 = 2;

/// Framework-private state of one channel, embedded in `mbox_chan_s`.
///
/// Every field accepts any bytes (integers and nullable handles, no enum
/// or bool): the library reads the state of a channel that C never
/// initialised (to refuse it by its `magic`) before it has written it
/// itself. The TX-done method is therefore a byte that
/// [`ChanState::txdone_method`] decodes, and the flags are bytes.
#[repr(C)]
pub struct ChanState {
    magic: u32,
    is_tx: u8,
    /// Slots (messages in flight at most; `CONFIG_MBOX_TXFIFO`, otherwise
    /// always 1).
    #[cfg(feature = "txfifo")]
    depth: u8,
    /// Slots in use (InFlight or Done), a FIFO from `sl_head`.
    nslots: u8,
    #[cfg(feature = "txfifo")]
    sl_head: u8,
    /// Slots that are InFlight.
    inflight: u8,
    /// A `TxDoneMethod` (always `Irq` without `CONFIG_MBOX_TXDONE_METHODS`).
    method: u8,
    /// A context is handing out completions (one at a time, in order).
    delivering: u8,
    /// Sequence number (and token) of the next accepted message.
    next_seq: u32,
    /// Largest message in bytes (at most 32766, `queue::MAX_PAYLOAD`).
    mtu: u16,
    /// The init that made the channel live has not returned yet (its
    /// lower-half setup runs): lifecycle calls get -EBUSY.
    in_setup: u8,
    _rsv: u8,
    /// Queued ring records that carry a TX-done client.
    ring_clients: u32,
    queue: TxQueue,
    /// Channel timeout for non-blocking messages and mbox_send().
    timeout: Ticks,
    /// Poll period of `TxDoneMethod::Poll`.
    #[cfg(feature = "txdone-methods")]
    poll_period: Ticks,
    /// Absolute expiry the watchdog was last armed for, `FOREVER` when it
    /// is not armed (never armed, fired, or disarmed). It stays armed
    /// across messages: [`ChanState::rearm`] arms it only for an earlier
    /// expiry than this, so the decision needs no OS call.
    armed_until: Ticks,
    /// The caller's buffer: TX ring storage (after the in-flight slots
    /// of a deeper channel), or RX scratch.
    buf: Lent,
    /// The task (`os::current`) holding the delivery claim, and the one
    /// running the current reception: a teardown from inside either's
    /// callback would wait for itself.
    deliverer: usize,
    receiver: usize,
    // Before `slot0` (8-aligned): no hole on 32-bit targets.
    waiters: WaitList,
    slot0: TxSlot,
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
            is_tx: 0,
            #[cfg(feature = "txfifo")]
            depth: 1,
            nslots: 0,
            #[cfg(feature = "txfifo")]
            sl_head: 0,
            inflight: 0,
            method: TxDoneMethod::Irq as u8,
            delivering: 0,
            next_seq: 0,
            mtu: 0,
            in_setup: 0,
            _rsv: 0,
            ring_clients: 0,
            buf: Lent::EMPTY,
            queue: TxQueue::new(),
            timeout: 0,
            #[cfg(feature = "txdone-methods")]
            poll_period: 0,
            armed_until: FOREVER,
            deliverer: 0,
            receiver: 0,
            waiters: WaitList::new(),
            slot0: TxSlot::EMPTY,
        }
    }

    /// Claims a free channel for its initialisation, in the same critical
    /// section as the check: until [`ChanState::init`] makes it live or
    /// [`ChanState::release`] frees it, every other claim is refused, so
    /// two inits racing for one channel have exactly one winner.
    /// -EBUSY when the channel is live, being initialised or being torn
    /// down.
    pub fn claim_init(&mut self) -> Result<(), i32> {
        if self.magic != 0 {
            return Err(-EBUSY);
        }
        self.magic = INITIALISING;
        Ok(())
    }

    /// An init or a de-init is running on the channel (claimed, tearing
    /// down, or live while its init's lower-half setup runs): lifecycle
    /// calls get -EBUSY.
    pub fn in_transition(&self) -> bool {
        self.magic == INITIALISING || self.magic == TEARING_DOWN || self.in_setup != 0
    }

    /// Marks the live channel's init as still running (`on`) or returned.
    pub fn set_in_setup(&mut self, on: bool) {
        self.in_setup = on as u8;
    }

    /// Frees the channel completely (a failed init's claim, or the end of
    /// a teardown once nothing of the channel runs any more): a new
    /// [`ChanState::claim_init`] may take it. The sequence numbers go on
    /// (see [`ChanState::init`]).
    pub fn release(&mut self) {
        *self = self.fresh();
    }

    /// An init that failed after [`ChanState::init`] in the same critical
    /// section (so nobody saw the channel live): back to claimed, with
    /// nothing of the failed set-up; [`ChanState::release`] follows once
    /// the init has undone the rest.
    pub fn abort_init(&mut self) {
        *self = self.fresh();
        self.magic = INITIALISING;
    }

    /// A de-initialised state that keeps what must outlive one life of the
    /// channel: the sequence numbers, and a delivery claim that a context
    /// which found the channel live may still hold (it releases it).
    fn fresh(&self) -> ChanState {
        let mut st = ChanState::new();
        st.next_seq = self.next_seq;
        st.delivering = self.delivering;
        st.deliverer = self.deliverer;
        st
    }

    /// Make the channel live, with one in-flight slot, over the caller's
    /// buffer `buf` (kept until [`ChanState::release`]).
    /// The sequence numbers (tokens) continue from the previous life of
    /// the channel, so that an ACK a lower half still held from before a
    /// re-initialisation cannot match a new message.
    pub fn init(&mut self, is_tx: bool, buf: Lent, mtu: usize, timeout: Ticks) {
        *self = self.fresh();
        self.is_tx = is_tx as u8;
        self.buf = buf;
        debug_assert!(mtu <= crate::upper::queue::MAX_PAYLOAD);
        self.mtu = mtu as u16;
        // Finite (capi gives FOREVER the default timeout): the deadline of
        // a non-blocking message needs no FOREVER case.
        debug_assert!(timeout != FOREVER);
        self.timeout = timeout.min(FOREVER - 1);
        self.magic = MAGIC;
    }

    /// Gives a freshly initialised TX channel `depth` in-flight slots. For
    /// depth > 1 they are carved from the start of the buffer (aligned to
    /// 8), the rest stays the ring. Returns -EINVAL for a depth of 0 or
    /// above [`MAX_TXDEPTH`], or a buffer too small for the slots.
    #[cfg(feature = "txfifo")]
    pub fn set_txdepth(&mut self, depth: usize) -> Result<(), i32> {
        if depth == 0 || depth > MAX_TXDEPTH || !self.is_tx() || self.nslots != 0 {
            return Err(-EINVAL);
        }
        if depth > 1 && !self.buf.carve_slots(depth as u8) {
            return Err(-EINVAL);
        }
        self.depth = depth as u8;
        Ok(())
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

    /// Messages the channel keeps in flight at most.
    #[inline(always)]
    pub fn txdepth(&self) -> usize {
        #[cfg(feature = "txfifo")]
        return self.depth as usize;
        // Without the slot FIFO every channel has its one embedded slot.
        #[cfg(not(feature = "txfifo"))]
        1
    }

    /// Messages in flight now.
    pub fn in_flight(&self) -> usize {
        self.inflight as usize
    }

    /// No slot is free: a new message has to queue.
    #[inline]
    pub fn is_busy(&self) -> bool {
        self.nslots as usize >= self.txdepth()
    }

    /// Number of messages waiting (ring plus blocked senders).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.waiters.len()
    }

    /// Token of the oldest message in flight.
    pub fn inflight_token(&self) -> Option<u32> {
        self.oldest_inflight().map(|(_, s)| s.token)
    }

    /// Tokens of every message in flight, oldest first.
    pub fn inflight_tokens(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.nslots as usize).map(|i| self.slot_ref(i)).filter(|s| s.state == SLOT_INFLIGHT).map(|s| s.token)
    }

    /// Whether the channel's TX-done method is `m` (without
    /// `CONFIG_MBOX_TXDONE_METHODS` it is always `Irq`, a constant).
    #[inline(always)]
    fn method_is(&self, m: TxDoneMethod) -> bool {
        if cfg!(feature = "txdone-methods") {
            self.method == m as u8
        } else {
            m == TxDoneMethod::Irq
        }
    }

    pub fn txdone_method(&self) -> TxDoneMethod {
        match self.method {
            1 => TxDoneMethod::Poll,
            2 => TxDoneMethod::Ack,
            _ => TxDoneMethod::Irq,
        }
    }

    /// Chooses how the end of a transfer is detected. Only while nothing
    /// is in flight or queued (-EBUSY otherwise); Poll needs a period of at
    /// least one tick (-EINVAL).
    /// Nothing is in flight then, so the watchdog needs nothing: an expiry
    /// still armed from earlier messages finds nothing due.
    #[cfg(feature = "txdone-methods")]
    pub fn set_txdone_method(&mut self, m: TxDoneMethod, period: Ticks) -> Result<(), i32> {
        if m == TxDoneMethod::Poll && (period == 0 || period == FOREVER) {
            return Err(-EINVAL);
        }
        if self.nslots != 0 || self.queued() != 0 {
            return Err(-EBUSY);
        }
        self.method = m as u8;
        self.poll_period = if m == TxDoneMethod::Poll { period } else { 0 };
        Ok(())
    }

    /// The caller's buffer (TX ring or RX scratch): where it starts (null
    /// when none was given) and its size.
    pub fn buffer(&self) -> (*mut u8, usize) {
        (self.buf.as_ptr(), self.buf.len())
    }

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = s.wrapping_add(1);
        s
    }

    /// Physical index of the `i`-th used slot (0 = oldest) of a channel
    /// with external slots.
    #[cfg(feature = "txfifo")]
    #[inline]
    fn phys(&self, i: usize) -> usize {
        let p = self.sl_head as usize + i;
        let d = self.depth as usize;
        if p >= d {
            p - d
        } else {
            p
        }
    }

    // Depth 1 (the common case, no `ext`) takes the embedded slot without
    // any index arithmetic: these run several times per message.
    #[cfg(feature = "txfifo")]
    #[inline]
    fn slot_ref(&self, i: usize) -> &TxSlot {
        if !self.buf.has_slots() {
            return &self.slot0;
        }
        // phys < depth <= MAX_TXDEPTH: a u8.
        self.buf.slot(self.phys(i) as u8)
    }

    #[cfg(feature = "txfifo")]
    #[inline]
    fn slot(&mut self, i: usize) -> &mut TxSlot {
        if !self.buf.has_slots() {
            return &mut self.slot0;
        }
        let p = self.phys(i) as u8;
        self.buf.slot_mut(p)
    }

    // Without the slot FIFO the one slot is embedded (and the only index
    // is 0).
    #[cfg(not(feature = "txfifo"))]
    #[inline(always)]
    fn slot_ref(&self, i: usize) -> &TxSlot {
        debug_assert!(i == 0);
        &self.slot0
    }

    #[cfg(not(feature = "txfifo"))]
    #[inline(always)]
    fn slot(&mut self, i: usize) -> &mut TxSlot {
        debug_assert!(i == 0);
        &mut self.slot0
    }

    /// The oldest used slot (`slot_ref(0)`): `sl_head` itself, which
    /// stays below the depth (pop_slot wraps it), so no wrap here.
    #[inline(always)]
    fn head_ref(&self) -> &TxSlot {
        #[cfg(feature = "txfifo")]
        if self.buf.has_slots() {
            return self.buf.slot(self.sl_head);
        }
        &self.slot0
    }

    /// The oldest used slot, mutably (see [`ChanState::head_ref`]).
    #[inline(always)]
    fn head_mut(&mut self) -> &mut TxSlot {
        #[cfg(feature = "txfifo")]
        if self.buf.has_slots() {
            return self.buf.slot_mut(self.sl_head);
        }
        &mut self.slot0
    }

    /// Slot `i` (as [`ChanState::slot`]) and the in-flight count, borrowed
    /// together: the end of a message updates both.
    #[inline(always)]
    fn slot_and_inflight(&mut self, i: usize) -> (&mut TxSlot, &mut u8) {
        #[cfg(feature = "txfifo")]
        if self.buf.has_slots() {
            let p = self.phys(i) as u8;
            return (self.buf.slot_mut(p), &mut self.inflight);
        }
        debug_assert!(cfg!(feature = "txfifo") || i == 0);
        (&mut self.slot0, &mut self.inflight)
    }

    /// Logical index of the oldest InFlight slot, and the slot.
    #[inline]
    fn oldest_inflight(&self) -> Option<(usize, &TxSlot)> {
        if self.inflight == 0 {
            return None;
        }
        // The used slots, oldest first, in one scan (one slot lookup in
        // the code); the ACK's token check reads the slot found.
        #[cfg(feature = "txfifo")]
        if self.buf.has_slots() {
            return (0..self.nslots as usize).map(|i| (i, self.slot_ref(i))).find(|(_, s)| s.state == SLOT_INFLIGHT);
        }
        // One slot: the message in flight is in it.
        Some((0, self.slot_ref(0)))
    }

    /// The message `token` is in flight from now until `deadline`. The
    /// caller re-arms the watchdog afterwards ([`ChanState::rearm`]).
    fn push_slot(&mut self, env: &mut impl ChanEnv, token: u32, deadline: Ticks, w: Option<Linked>, client: usize) {
        debug_assert!((self.nslots as usize) < self.txdepth());
        let i = self.nslots as usize;
        self.nslots += 1;
        // With one slot it was free, so nothing was in flight: a constant
        // (the compiler then knows `txstate` and the re-arm's check).
        debug_assert!(cfg!(feature = "txfifo") || self.inflight == 0);
        self.inflight = if cfg!(feature = "txfifo") { self.inflight + 1 } else { 1 };
        // Field by field: the padding needs no store, and `result` is
        // read only once the slot is Done (finish writes it then).
        let s = self.slot(i);
        s.deadline = deadline;
        s.waiter = w;
        s.client = client;
        s.token = token;
        s.state = SLOT_INFLIGHT;
        env.count(Stat::Sent);
        env.in_flight(self.inflight as usize);
    }

    /// A message that never went out (send error) but has a TX-done
    /// client: it takes a slot as Done so that its callback comes in
    /// submission order.
    fn push_done(&mut self, token: u32, client: usize, result: i32) {
        let i = self.nslots as usize;
        self.nslots += 1;
        *self.slot(i) = TxSlot { deadline: 0, waiter: None, client, token, result, state: SLOT_DONE, _pad: [0; 7] };
    }

    /// Frees the oldest slots that are Done and owe no callback.
    #[cfg(feature = "txfifo")]
    fn reap(&mut self) {
        while self.nslots > 0 {
            let s = self.head_ref();
            if s.state != SLOT_DONE || s.client != 0 {
                return;
            }
            self.pop_slot();
        }
    }

    fn pop_slot(&mut self) {
        // Only the state matters in a free slot (push writes all of it).
        self.head_mut().state = 0;
        #[cfg(feature = "txfifo")]
        {
            self.sl_head = self.phys(1) as u8;
        }
        self.nslots -= 1;
    }

    /// Makes sure the watchdog fires no later than the earliest deadline in
    /// flight (and, with `TxDoneMethod::Poll`, at most one poll period
    /// ahead). It stays armed across messages: it is armed only when it is
    /// not armed or armed for a later expiry than needed, never cancelled
    /// here. An expiry earlier than needed is harmless:
    /// [`ChanState::timer_expired`] times out only messages whose own
    /// deadline passed and calls this again for the rest. With nothing in
    /// flight it does nothing (an armed watchdog then fires once, finds
    /// nothing and stays disarmed).
    // With one slot it is a few instructions: inlined into the send and
    // ACK paths.
    #[cfg_attr(not(feature = "txfifo"), inline(always))]
    fn rearm(&mut self, env: &mut impl ChanEnv, now: Ticks) {
        if self.inflight == 0 {
            return;
        }
        #[cfg(not(feature = "txfifo"))]
        let due = self.slot0.deadline;
        #[cfg(feature = "txfifo")]
        let due = if !self.buf.has_slots() {
            // Depth 1: the one slot is the one in flight.
            self.slot0.deadline
        } else {
            // The earliest of them, whatever their order: every carved
            // slot (a free one is neither InFlight nor Done).
            // One pass with one running minimum (an iterator `min` splits
            // into a search for the first match and a second loop).
            let mut due = FOREVER;
            for s in self.buf.slots() {
                if s.state == SLOT_INFLIGHT && s.deadline < due {
                    due = s.deadline;
                }
            }
            due
        };
        #[cfg(feature = "txdone-methods")]
        let due = if self.method_is(TxDoneMethod::Poll) { due.min(now.saturating_add(self.poll_period)) } else { due };
        // At least one tick ahead (the port's contract); FOREVER stays.
        let at = due.max(now.saturating_add(1));
        if at >= self.armed_until {
            // Armed for this expiry or an earlier one (or nothing to time
            // and not armed).
            return;
        }
        env.arm(at - now);
        self.armed_until = at;
    }

    /// The deadline `ticks` after `now` (`FOREVER` stays `FOREVER`).
    pub fn deadline_from(now: Ticks, ticks: Ticks) -> Ticks {
        if ticks == FOREVER {
            FOREVER
        } else {
            now.saturating_add(ticks).min(FOREVER - 1)
        }
    }

    /// The deadline of a non-blocking message that goes out at `now`:
    /// [`ChanState::deadline_from`] with the channel timeout, which is
    /// finite.
    #[inline(always)]
    fn nb_deadline(&self, now: Ticks) -> Ticks {
        now.saturating_add(self.timeout).min(FOREVER - 1)
    }

    /// Non-blocking send without a TX-done client.
    pub fn submit_nb(&mut self, env: &mut impl ChanEnv, data: &[u8]) -> i32 {
        self.submit_nb_client(env, data, 0)
    }

    /// Non-blocking send (`mbox_ticksend(.., 0)`): send now when a slot is
    /// free, otherwise copy into the ring with the channel timeout as the
    /// deadline it gets once in flight. `client` (0: none) is handed back
    /// by [`ChanState::take_completion`] once the message has ended.
    /// Returns 0 (sent or queued), -ENOBUFS (ring full; counted), or the
    /// lower half's error when an immediate send failed (not accepted).
    pub fn submit_nb_client(&mut self, env: &mut impl ChanEnv, data: &[u8], client: usize) -> i32 {
        // Without TX-done callbacks no message carries a client.
        let client = if TX_CLIENTS { client } else { 0 };
        if !self.is_busy() {
            let seq = self.take_seq();
            let r = env.send(seq, data);
            if r < 0 {
                env.count(Stat::SendErr);
                return r;
            }
            let now = env.now();
            let deadline = self.nb_deadline(now);
            self.push_slot(env, seq, deadline, None, client);
            self.rearm(env, now);
            return 0;
        }
        let seq = self.next_seq;
        if !self.queue.push_client(self.buf.bytes(), seq, client, data) {
            env.count(Stat::QueueFull);
            return -ENOBUFS;
        }
        if client != 0 {
            self.ring_clients += 1;
        }
        self.take_seq();
        env.queued(self.queued());
        0
    }

    /// Blocking send: start `w`'s message now or park `w` in FIFO order
    /// (the channel keeps `w` until the message ends).
    pub fn submit_blocking(&mut self, env: &mut impl ChanEnv, w: Linked) -> Submit {
        let seq = self.take_seq();
        w.set_seq(seq);
        if !self.is_busy() {
            let r = env.send(seq, w.payload());
            if r < 0 {
                env.count(Stat::SendErr);
                // Its owner is the caller: no wake-up.
                w.end_quiet(r);
                return Submit::Done(r);
            }
            let now = env.now();
            let deadline = w.deadline();
            self.push_slot(env, seq, deadline, Some(w), 0);
            self.rearm(env, now);
            return Submit::Pending;
        }
        self.waiters.push_back(w);
        env.queued(self.queued());
        Submit::Pending
    }

    /// Ends the message of the `i`-th slot (InFlight) with `result`, tells
    /// a blocked owner, and frees what can be freed. The caller starts the
    /// next messages and re-arms.
    #[inline(never)]
    fn finish(&mut self, env: &mut impl ChanEnv, i: usize, result: i32) {
        self.finish_inline(env, i, result)
    }

    /// [`ChanState::finish`], inlined into the ACK path (where `result`
    /// is the constant 0, so the statistic to count is known).
    #[inline(always)]
    fn finish_inline(&mut self, env: &mut impl ChanEnv, i: usize, result: i32) {
        // The slot is looked up once for all that follows.
        let (s, inflight) = self.slot_and_inflight(i);
        env.txfinish(s.token);
        env.count(match result {
            0 => Stat::Acked,
            r if r == -ETIMEDOUT => Stat::Timeout,
            r if r == -ECANCELED => Stat::Cancelled,
            _ => Stat::SendErr,
        });
        // With one slot the message that ends was the only one in flight.
        debug_assert!(cfg!(feature = "txfifo") || *inflight == 1);
        *inflight = if cfg!(feature = "txfifo") { *inflight - 1 } else { 0 };
        env.in_flight(*inflight as usize);
        let owes_callback = TX_CLIENTS && s.client != 0;
        let free_now = i == 0 && !owes_callback;
        if !free_now {
            // Kept as Done until it is the oldest, or its callback is
            // handed out (a slot freed at once needs neither).
            s.state = SLOT_DONE;
            s.result = result;
        }
        // A free slot has no waiter: taken here when it had one (no store
        // for a slot without one).
        if s.waiter.is_some() {
            if let Some(w) = s.waiter.take() {
                Self::end_waiter(env, w, result);
            }
        }
        if free_now {
            // The oldest slot ended and owes nothing: free it, and any
            // ended ones behind it.
            self.pop_slot();
            #[cfg(feature = "txfifo")]
            if self.buf.has_slots() {
                self.reap();
            }
        }
    }

    /// Ends the message of a waiter this channel just unlinked or took
    /// from a slot, and wakes its owner. Out of line: the ACK path of a
    /// message without a blocked sender keeps its registers.
    #[inline(never)]
    fn end_waiter(env: &mut impl ChanEnv, w: Linked, result: i32) {
        w.end(result, |wake| env.wake(wake));
    }

    /// Starts the oldest waiting messages while slots are free; skips (and
    /// ends) the ones that cannot go: expired blocked senders and
    /// lower-half send errors.
    fn start_next(&mut self, env: &mut impl ChanEnv, now: Ticks) {
        // Each pass of the loop takes one message off the queue.
        let mut taken = false;
        while !self.is_busy() {
            let ring = self.buf.bytes();
            let head = self.queue.head(ring);
            let take_ring = match (head.map(|h| h.seq), self.waiters.front_seq()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // Sequence numbers wrap: compare by signed distance.
                (Some(r), Some(w)) => (r.wrapping_sub(w) as i32) < 0,
            };
            taken = true;
            if let (true, Some(h)) = (take_ring, head) {
                // Off the queue before the send, so that nothing of it is
                // kept across the call: the payload stays where it is (the
                // ring is written only by a push, under this same lock).
                let payload = self.queue.payload(ring, &h);
                self.queue.pop_head(ring.len(), &h);
                if h.client != 0 {
                    self.ring_clients -= 1;
                }
                let r = env.send(h.seq, payload);
                if r < 0 {
                    // Counted, and the rest of the queue goes on; a client
                    // learns the error through its callback.
                    env.count(Stat::SendErr);
                    if h.client != 0 {
                        self.push_done(h.seq, h.client, r);
                    }
                    continue;
                }
                let deadline = self.nb_deadline(now);
                self.push_slot(env, h.seq, deadline, None, h.client);
            } else {
                let Some(w) = self.waiters.pop_front() else {
                    break;
                };
                let (seq, deadline) = (w.seq(), w.deadline());
                if deadline != FOREVER && now >= deadline {
                    env.count(Stat::Timeout);
                    Self::end_waiter(env, w, -ETIMEDOUT);
                    continue;
                }
                let r = env.send(seq, w.payload());
                if r < 0 {
                    env.count(Stat::SendErr);
                    Self::end_waiter(env, w, r);
                    continue;
                }
                // In flight (pop_front says so): it now belongs to a slot.
                self.push_slot(env, seq, deadline, Some(w), 0);
            }
        }
        if taken {
            env.queued(self.queued());
        }
    }

    /// After slots were freed: start what waits, make sure the watchdog
    /// covers what is in flight.
    #[inline(always)]
    fn advance(&mut self, env: &mut impl ChanEnv) {
        // Checked inline: after most ACKs nothing is in flight or waiting,
        // and then there is nothing to start and nothing to time (no clock
        // reading, no timer call; an armed watchdog fires once and finds
        // nothing).
        if self.inflight != 0 || self.queued() != 0 {
            self.advance_busy(env);
        }
    }

    /// [`ChanState::advance`] when something is in flight or waits.
    #[inline(never)]
    fn advance_busy(&mut self, env: &mut impl ChanEnv) {
        // One clock reading serves the whole pass (sends are short).
        let now = env.now();
        if self.is_live() {
            self.start_next(env, now);
        }
        self.rearm(env, now);
    }

    /// TX completion from the lower half (`TxDoneMethod::Irq`). `token` is
    /// the token echoed by the remote when the lower half can carry one;
    /// without it the lower half's `txacked` must confirm the ACK. It can
    /// complete only the oldest message in flight (FIFO order).
    /// Returns 0 when that message was completed, -ENOENT when nothing was
    /// in flight, -ESRCH for a token of another message, -EAGAIN when the
    /// hardware shows no ACK, -EPERM when the channel's TX-done method is
    /// not Irq. Every refusal is counted in `spurious_ack` and changes
    /// nothing else.
    // Inlined into its two C entry points: the ACK is a hot path.
    #[inline(always)]
    pub fn tx_done(&mut self, env: &mut impl ChanEnv, token: Option<u32>) -> i32 {
        if !self.method_is(TxDoneMethod::Irq) {
            env.count(Stat::SpuriousAck);
            return -EPERM;
        }
        let Some((i, s)) = self.oldest_inflight() else {
            env.count(Stat::SpuriousAck);
            return -ENOENT;
        };
        match token {
            Some(t) if t != s.token => {
                env.count(Stat::SpuriousAck);
                return -ESRCH;
            }
            None if !env.txacked() => {
                env.count(Stat::SpuriousAck);
                return -EAGAIN;
            }
            _ => {}
        }
        // With the slot FIFO, finish() (reaping the slots behind) stays
        // one out-of-line copy.
        #[cfg(not(feature = "txfifo"))]
        {
            self.finish_inline(env, i, 0);
            // The one slot's message ended: nothing is in flight, so only
            // a waiting message needs the clock and the watchdog.
            if self.queued() != 0 {
                self.advance_busy(env);
            }
        }
        #[cfg(feature = "txfifo")]
        {
            self.finish(env, i, 0);
            self.advance(env);
        }
        0
    }

    /// The client reports the end of the oldest message in flight
    /// (`TxDoneMethod::Ack`, `mbox_client_txdone`) with `result` (0 or a
    /// negated errno). Returns 0, -ENOENT when nothing is in flight, or
    /// -EPERM when the method is not Ack (both change nothing).
    #[cfg(feature = "txdone-methods")]
    pub fn client_tx_done(&mut self, env: &mut impl ChanEnv, result: i32) -> i32 {
        if !self.method_is(TxDoneMethod::Ack) {
            return -EPERM;
        }
        let Some((i, _)) = self.oldest_inflight() else {
            env.count(Stat::SpuriousAck);
            return -ENOENT;
        };
        self.finish(env, i, result.min(0));
        self.advance(env);
        0
    }

    /// Polls the hardware for the ACK of the oldest message in flight
    /// (`TxDoneMethod::Poll` and polling sends). Returns true when it was
    /// ACKed and has been completed.
    #[cfg(feature = "txdone-methods")]
    pub fn poll_acked(&mut self, env: &mut impl ChanEnv) -> bool {
        let Some((i, _)) = self.oldest_inflight() else {
            return false;
        };
        if !env.txacked() {
            return false;
        }
        self.finish(env, i, 0);
        self.advance(env);
        true
    }

    /// Watchdog callback. With `TxDoneMethod::Poll` it first polls for the
    /// ACK. Then it expires every message in flight whose own deadline has
    /// passed, so a callback that was already running when its message
    /// completed cannot time out the next one; an
    /// early callback (armed for an earlier message, or for a deadline
    /// that has not passed yet) re-arms for the remainder. With nothing in
    /// flight it does nothing and the watchdog stays disarmed.
    pub fn timer_expired(&mut self, env: &mut impl ChanEnv) {
        // The one-shot watchdog fired: it is not armed any more. (A stale
        // callback that raced a re-arm makes this pessimistic: at worst one
        // more arming or one more harmless expiry.)
        self.armed_until = FOREVER;
        if self.inflight == 0 {
            return;
        }
        #[cfg(feature = "txdone-methods")]
        if self.method_is(TxDoneMethod::Poll) {
            while self.poll_acked(env) {}
        }
        let now = env.now();
        let mut i = 0;
        while i < self.nslots as usize {
            let s = self.slot_ref(i);
            if s.state == SLOT_INFLIGHT && s.deadline != FOREVER && now >= s.deadline {
                let before = self.nslots;
                self.finish(env, i, -ETIMEDOUT);
                // finish() may have freed slots at the front.
                i = (i + 1).saturating_sub((before - self.nslots) as usize);
            } else {
                i += 1;
            }
        }
        self.advance(env);
    }

    /// The blocked sender owning `w` woke at its deadline without a
    /// result: take its message back from wherever it is.
    /// Returns the message's result (-ETIMEDOUT unless it finished just
    /// in time).
    ///
    /// `w` must be the caller's own waiter, submitted to this channel.
    pub fn waiter_timeout(&mut self, env: &mut impl ChanEnv, w: &Waiter) -> i32 {
        match w.state() {
            WaitState::Done | WaitState::New => w.result(),
            WaitState::Queued => {
                let Some(mine) = self.waiters.remove(w) else {
                    crate::upper::waiters::misuse();
                };
                // Its owner is the caller: no wake-up.
                mine.end_quiet(-ETIMEDOUT);
                env.count(Stat::Timeout);
                env.queued(self.queued());
                -ETIMEDOUT
            }
            WaitState::InFlight => {
                let Some(i) =
                    (0..self.nslots as usize).find(|&i| self.slot_ref(i).waiter.as_ref().is_some_and(|l| l.is(w)))
                else {
                    crate::upper::waiters::misuse();
                };
                self.finish(env, i, -ETIMEDOUT);
                self.advance(env);
                w.result()
            }
        }
    }

    /// Tear down: every message in flight and every blocked sender ends
    /// with -ECANCELED (blocked senders are woken with it); queued
    /// messages without a TX-done client are dropped and counted. Queued
    /// messages with a client stay until [`ChanState::take_completion`]
    /// hands each out with -ECANCELED. The channel is dead afterwards,
    /// and busy for [`ChanState::claim_init`] until the teardown ends with
    /// [`ChanState::release`]; returns how many messages were cancelled
    /// here.
    pub fn deinit(&mut self, env: &mut impl ChanEnv) -> usize {
        let mut n = 0;
        self.magic = TEARING_DOWN;
        env.disarm();
        self.armed_until = FOREVER;
        let mut i = 0;
        while i < self.nslots as usize {
            if self.slot_ref(i).state == SLOT_INFLIGHT {
                let before = self.nslots;
                self.finish(env, i, -ECANCELED);
                n += 1;
                i = (i + 1).saturating_sub((before - self.nslots) as usize);
            } else {
                i += 1;
            }
        }
        while let Some(w) = self.waiters.pop_front() {
            env.count(Stat::Cancelled);
            Self::end_waiter(env, w, -ECANCELED);
            n += 1;
        }
        if self.ring_clients == 0 {
            let dropped = self.queue.clear();
            for _ in 0..dropped {
                env.count(Stat::Cancelled);
            }
            n += dropped;
        }
        env.queued(self.queued());
        n
    }

    /// True when [`ChanState::take_completion`] has something to hand out.
    /// Never without TX-done clients: a slot is freed as its message ends,
    /// and a teardown drops the whole queue (no record has a client).
    #[inline(always)]
    pub fn has_completion(&self) -> bool {
        TX_CLIENTS
            && ((self.nslots > 0 && self.head_ref().state == SLOT_DONE) || (!self.is_live() && !self.queue.is_empty()))
    }

    /// Hands out the oldest ended message that has a TX-done client, in
    /// submission order, and frees its slot (starting what waits). On a
    /// dead channel it also drains the queue: each queued message ends
    /// with -ECANCELED (counted), and those with a client are handed out.
    pub fn take_completion(&mut self, env: &mut impl ChanEnv) -> Option<Completion> {
        if self.nslots > 0 && self.head_ref().state == SLOT_DONE {
            let s = self.head_ref();
            let (client, token, result) = (s.client, s.token, s.result);
            self.pop_slot();
            #[cfg(feature = "txfifo")]
            self.reap();
            // A dead channel's watchdog is disarmed (and may be destroyed
            // by now): only a live one starts and re-arms.
            if self.is_live() {
                self.advance(env);
            }
            if client != 0 {
                return Some(Completion { client, token, result });
            }
        }
        if self.is_live() {
            return None;
        }
        loop {
            let ring = self.buf.bytes();
            let h = self.queue.head(ring)?;
            self.queue.pop_head(ring.len(), &h);
            env.count(Stat::Cancelled);
            env.queued(self.queued());
            if h.client != 0 {
                self.ring_clients -= 1;
                return Some(Completion { client: h.client, token: h.seq, result: -ECANCELED });
            }
        }
    }

    /// Claims the hand-out of completions (one context at a time, so that
    /// callbacks run in order). False when another context holds it: that
    /// context re-checks [`ChanState::has_completion`] before it lets go.
    /// `who` identifies the claiming task (see [`ChanState::owned_by`]).
    pub fn claim_delivery(&mut self, who: usize) -> bool {
        if self.delivering != 0 {
            return false;
        }
        self.delivering = 1;
        self.deliverer = who;
        true
    }

    pub fn release_delivery(&mut self) {
        self.delivering = 0;
        self.deliverer = 0;
    }

    /// True when the task `who` is handing out completions or running a
    /// reception on this channel, i.e. is inside one of its callbacks or
    /// about to be: a teardown by `who` would wait for itself. `claim` is
    /// the channel's RX claim (see [`ChanState::rx_begin`]).
    pub fn owned_by(&self, claim: &AtomicU8, who: usize) -> bool {
        (self.delivering != 0 && self.deliverer == who) || (rx_in_progress(claim) && self.receiver == who)
    }

    pub fn delivery_in_progress(&self) -> bool {
        self.delivering != 0
    }

    /// Claims the RX path (one reception at a time per channel) for the
    /// task `who`. `claim` is the channel's RX claim: a reception holds it
    /// (1) or not (0). It lies beside the state, not inside it, because a
    /// reception releases it after its callbacks without the critical
    /// section ([`rx_release`]) while other contexts may hold the state
    /// under it. The Acquire load orders this reception after the
    /// callbacks of the previous one, which read the channel's buffer
    /// that this reception's `recv` overwrites.
    pub fn rx_begin(&mut self, claim: &AtomicU8, who: usize) -> Result<(), i32> {
        if claim.load(Ordering::Acquire) != 0 {
            return Err(-EBUSY);
        }
        claim.store(1, Ordering::Relaxed);
        self.receiver = who;
        Ok(())
    }
}

/// A reception (recv, acknowledge, client callback) still holds the RX
/// claim `claim`. Acquire: once it reads false, everything the last
/// reception did (its callbacks included) happened before.
pub fn rx_in_progress(claim: &AtomicU8) -> bool {
    claim.load(Ordering::Acquire) != 0
}

/// Releases an RX claim taken with [`ChanState::rx_begin`], without the
/// critical section: the Release store orders the reception's callbacks
/// before whatever reads the claim free next (a teardown waiting for the
/// reception, or the next reception's `rx_begin`). The state's `receiver`
/// is left as it is: it means nothing once the claim is free.
pub fn rx_release(claim: &AtomicU8) {
    claim.store(0, Ordering::Release);
}

#[cfg(test)]
mod tests;
