//! The loom model of one TX channel with several messages in flight
//! (`txdepth` > 1, docs/beyond.md §2): the real `ChanState` with
//! `set_txdepth(depth)` behind one loom mutex (the critical section), a
//! lower half whose `send` pushes into a hardware FIFO, a remote core that
//! pops that FIFO and ACKs each message by its token
//! (`mbox_chan_tx_done_token`), blocked senders in the real
//! `glue::send_blocking`, non-blocking senders with TX-done clients, and
//! the real hand-out of `glue::hand_out` (claim_delivery /
//! take_completion / release_delivery, the callback run outside the lock)
//! over a loom `Os` whose critical section is the channel mutex.
//!
//! The lower half is not told which message `txfinish` ends, so every
//! critical section (the glue's too: its guard, [`FGuard`], does it when
//! dropped) ends with [`settle`]: it compares the state machine's
//! in-flight tokens with the previous ones and checks, step by step:
//! - never more than `depth` messages in flight (`in_flight()`), the
//!   in-flight tokens in increasing (FIFO) order;
//! - the messages that entered flight are exactly those sent in the step;
//! - the messages that left flight are exactly those `txfinish`ed in the
//!   step, each with one outcome, and a message never ends twice;
//! - a message timed out only once its own deadline had passed.
//!
//! [`FifoModel::check`] then checks, after all threads joined: the wire
//! order is the token (submission) order; every sent message ended once;
//! an ACK returned 0 only for the oldest in-flight message with that
//! token, and a message completed as ACKed was ACKed exactly once with
//! its token; every ACK of a message that had already ended (timed out)
//! was refused with -ESRCH or -ENOENT; blocked senders got their own
//! results; TX-done callbacks never overlapped, came in token order, once
//! per accepted client message, with the client and result of that
//! message.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex as StdMutex;

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

use mbox::os::{Ticks, FOREVER};
use mbox::upper::chan::{ChanEnv, ChanState, Completion, Stat, Wake};
use mbox::upper::errno::*;
use mbox::upper::glue::{self, Chan};
use mbox::upper::lent::Lent;

use super::os::{LoomTimer, Waits};
use super::{Payload, CHAN_TIMEOUT, LATE};

const MTU: usize = 8;
/// Channel buffer: the in-flight slots (depth x 40 bytes) come off its
/// start, the rest is the ring for non-blocking messages.
const BUF_WORDS: usize = 40;

/// One successful lower-half send.
#[derive(Debug, Clone)]
pub struct FSent {
    pub token: u32,
    pub payload: Payload,
    /// Absolute ACK deadline of the message (FOREVER: none).
    pub deadline: Ticks,
    pub outcome: Option<Stat>,
}

/// One ACK interrupt of the remote: the token it echoed and what
/// `tx_done` returned.
#[derive(Debug, Clone, Copy)]
pub struct FAck {
    pub token: u32,
    pub result: i32,
    /// Outcome the message already had when its ACK arrived (None: it was
    /// still in flight).
    pub before: Option<Stat>,
}

/// One TX-done callback "run" by a hand-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handout {
    pub client: usize,
    pub token: u32,
    pub result: i32,
}

/// What the senders record under the critical section, before their
/// submission (see `super::Rec`). Not loom state: written and read only
/// under the model's loom mutex.
#[derive(Default)]
pub struct FRec {
    /// Deadlines of blocking messages by payload (Waiter::deadline).
    deadlines: Vec<(Payload, Ticks)>,
    /// Messages submitted so far (to order the senders).
    pub submitted: usize,
    /// Payloads in the order they took a token (index = token).
    pub submit_log: Vec<Payload>,
}

pub struct FEnv {
    clock: Arc<AtomicU64>,
    depth: usize,
    timeout: Ticks,
    pub sent: Vec<FSent>,
    /// The hardware FIFO: tokens sent, not yet picked up by the remote.
    pub hw: VecDeque<u32>,
    pub acks: Vec<FAck>,
    /// Scripted results of the next lower-half sends (0 when empty).
    pub send_results: VecDeque<i32>,
    timer: LoomTimer,
    pub counts: Vec<Stat>,
    rec: std::sync::Arc<StdMutex<FRec>>,
    /// In-flight tokens as of the end of the previous critical section.
    inflight: Vec<u32>,
    pub max_inflight: usize,
    // Per critical section:
    step_sent: Vec<u32>,
    step_finishes: usize,
    step_outcomes: Vec<Stat>,
    finish_pending: bool,
    pub stop: bool,
}

impl FEnv {
    pub fn n(&self, s: Stat) -> usize {
        self.counts.iter().filter(|&&c| c == s).count()
    }

    fn now_(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    fn by_token(&mut self, t: u32) -> &mut FSent {
        self.sent.iter_mut().find(|s| s.token == t).expect("unknown token")
    }

    pub fn outcome_of(&self, t: u32) -> Option<Stat> {
        self.sent.iter().find(|s| s.token == t).and_then(|s| s.outcome)
    }
}

impl ChanEnv for FEnv {
    fn now(&self) -> Ticks {
        self.now_()
    }

    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        let r = self.send_results.pop_front().unwrap_or(0);
        if r < 0 {
            return r;
        }
        let live = self.inflight.len() + self.step_sent.len() - self.step_finishes;
        assert!(live < self.depth, "lower-half send with {live} messages already in flight (depth {})", self.depth);
        let payload: Payload = data.try_into().expect("2-byte payloads");
        let now = self.now_();
        let deadline = match self.rec.lock().unwrap().deadlines.iter().find(|d| d.0 == payload) {
            Some(d) => d.1,
            None => ChanState::deadline_from(now, self.timeout),
        };
        self.sent.push(FSent { token, payload, deadline, outcome: None });
        self.hw.push_back(token);
        self.step_sent.push(token);
        0
    }

    fn txfinish(&mut self, _token: u32) {
        assert!(!self.finish_pending, "txfinish twice without an outcome");
        self.step_finishes += 1;
        self.finish_pending = true;
    }

    fn txacked(&mut self) -> bool {
        false
    }

    fn arm(&mut self, ticks: Ticks) {
        self.timer.start(self.now_(), ticks);
    }

    fn disarm(&mut self) {
        self.timer.cancel();
    }

    fn wake(&mut self, w: Wake<'_>) {
        // Only the end of a blocked sender's message hands out its wake-up
        // (the wait object checks it is posted once).
        w.post();
    }

    fn count(&mut self, s: Stat) {
        self.counts.push(s);
        if self.finish_pending {
            self.finish_pending = false;
            self.step_outcomes.push(s);
        }
    }

    fn queued(&mut self, _depth: usize) {}
}

pub struct FLocked {
    pub st: ChanState,
    pub env: FEnv,
    _buf: Box<[u64]>,
}

// SAFETY: the raw pointers inside (buffer, slots, waiters) are only used
// under the model mutex, which is what the port's critical section
// guarantees.
unsafe impl Send for FLocked {}

/// End of a critical section: reconcile the lower half's view with the
/// state machine's in-flight slots (see the module doc).
pub fn settle(l: &mut FLocked) {
    let now: Vec<u32> = l.st.inflight_tokens().collect();
    let env = &mut l.env;
    assert!(!env.finish_pending, "txfinish without an outcome");
    assert_eq!(now.len(), l.st.in_flight(), "in_flight() disagrees with the in-flight slots");
    assert!(now.len() <= l.st.txdepth(), "{} messages in flight at depth {}", now.len(), l.st.txdepth());
    for p in now.windows(2) {
        assert!((p[1].wrapping_sub(p[0]) as i32) > 0, "in-flight slots out of token order: {now:?}");
    }
    let removed: Vec<u32> = env.inflight.iter().copied().filter(|t| !now.contains(t)).collect();
    let added: Vec<u32> = now.iter().copied().filter(|t| !env.inflight.contains(t)).collect();
    assert_eq!(added, env.step_sent, "messages entering flight are not the ones sent in this step");
    assert_eq!(removed.len(), env.step_finishes, "in-flight messages left without txfinish (or vice versa)");
    assert_eq!(removed.len(), env.step_outcomes.len());
    let clock = env.now_();
    let outcomes = std::mem::take(&mut env.step_outcomes);
    for (t, o) in removed.into_iter().zip(outcomes) {
        let m = env.by_token(t);
        assert!(m.outcome.is_none(), "message {t} ended twice");
        if o == Stat::Timeout {
            assert!(m.deadline != FOREVER && clock >= m.deadline, "message {t} timed out before its deadline");
        }
        m.outcome = Some(o);
    }
    env.max_inflight = env.max_inflight.max(now.len());
    env.inflight = now;
    env.step_sent.clear();
    env.step_finishes = 0;
}

pub struct FifoModel {
    chan: Mutex<FLocked>,
    cv: Condvar,
    clock: Arc<AtomicU64>,
    waits: std::sync::Arc<Waits>,
    rec: std::sync::Arc<StdMutex<FRec>>,
    /// Messages of blocking senders, kept until the model ends (see
    /// `Model::graveyard`). Not loom state.
    #[allow(clippy::vec_box)]
    graveyard: StdMutex<Vec<Box<Payload>>>,
    /// TX-done callbacks, in the order they ran (outside the chan lock).
    pub handed: Mutex<Vec<Handout>>,
    in_callback: AtomicBool,
}

/// The critical section of the FIFO model: leaving it settles the step
/// (see the module doc) and wakes the threads that wait for a condition.
pub struct FGuard<'a> {
    g: Option<MutexGuard<'a, FLocked>>,
    cv: &'a Condvar,
}

impl Deref for FGuard<'_> {
    type Target = FLocked;
    fn deref(&self) -> &FLocked {
        self.g.as_ref().unwrap()
    }
}

impl DerefMut for FGuard<'_> {
    fn deref_mut(&mut self) -> &mut FLocked {
        self.g.as_mut().unwrap()
    }
}

impl Drop for FGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.g.take().unwrap();
        if !std::thread::panicking() {
            settle(&mut g);
        }
        self.cv.notify_all();
    }
}

crate::loom_os!(FifoModel, FGuard<'a>, |m| FGuard { g: Some(m.gated(m.chan.lock().unwrap())), cv: &m.cv });

impl Chan for FifoModel {
    type Os = FifoModel;
    type Env<'c> = FEnv;
    type Callback = ();

    fn os(&self) -> &FifoModel {
        self
    }

    fn with_state<R>(&self, g: &mut FGuard<'_>, f: impl FnOnce(&mut ChanState) -> R) -> R {
        f(&mut g.st)
    }

    fn with<R>(&self, g: &mut FGuard<'_>, f: impl FnOnce(&mut ChanState, &mut FEnv) -> R) -> R {
        let l = &mut **g;
        f(&mut l.st, &mut l.env)
    }

    /// Every client of the model is registered.
    fn txdone_of(&self, _g: &mut FGuard<'_>, _c: &Completion) -> Option<()> {
        Some(())
    }

    /// The TX-done callback, outside the critical section: callbacks of
    /// one channel must never overlap.
    fn call_txdone(&self, _cb: (), c: &Completion) {
        assert!(!self.in_callback.swap(true, SeqCst), "two TX-done callbacks of one channel at once");
        self.handed.lock().unwrap().push(Handout { client: c.client, token: c.token, result: c.result });
        self.in_callback.store(false, SeqCst);
    }
}

impl FifoModel {
    /// A live TX channel of `depth` slots whose next lower-half sends
    /// return `results`.
    pub fn new(depth: usize, results: &[i32]) -> Arc<FifoModel> {
        let clock = Arc::new(AtomicU64::new(0));
        let hold_clock = clock.clone();
        let rec = std::sync::Arc::new(StdMutex::new(FRec::default()));
        let mut buf = vec![0u64; BUF_WORDS].into_boxed_slice();
        let mut st = ChanState::new();
        // SAFETY: the box stays in the locked state beside the channel for
        // the model's life, touched only through the channel.
        st.init(true, unsafe { Lent::new(buf.as_mut_ptr().cast(), BUF_WORDS * 8) }, MTU, CHAN_TIMEOUT);
        st.set_txdepth(depth).expect("set_txdepth");
        assert_eq!(st.txdepth(), depth);
        let env = FEnv {
            clock: clock.clone(),
            depth,
            timeout: CHAN_TIMEOUT,
            sent: Vec::new(),
            hw: VecDeque::new(),
            acks: Vec::new(),
            send_results: results.iter().copied().collect(),
            timer: LoomTimer::default(),
            counts: Vec::new(),
            rec: rec.clone(),
            inflight: Vec::new(),
            max_inflight: 0,
            step_sent: Vec::new(),
            step_finishes: 0,
            step_outcomes: Vec::new(),
            finish_pending: false,
            stop: false,
        };
        Arc::new(FifoModel {
            chan: Mutex::new(FLocked { st, env, _buf: buf }),
            cv: Condvar::new(),
            clock,
            waits: Waits::new(hold_clock),
            rec,
            graveyard: StdMutex::new(Vec::new()),
            handed: Mutex::new(Vec::new()),
            in_callback: AtomicBool::new(false),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, FLocked> {
        self.chan.lock().unwrap()
    }

    /// Leave a critical section that touched the state machine.
    fn unlock(&self, mut g: MutexGuard<'_, FLocked>) {
        settle(&mut g);
        self.cv.notify_all();
        drop(g);
    }

    pub fn now(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    /// Wait (under the lock) until `cond` holds.
    fn lock_when(&self, cond: impl Fn(&FLocked) -> bool) -> MutexGuard<'_, FLocked> {
        let mut g = self.lock();
        while !cond(&g) {
            g = self.cv.wait(g).unwrap();
        }
        g
    }

    /// The critical section `g` once this thread's gate (`os::set_gate`:
    /// that many messages accepted) is open.
    fn gated<'a>(&'a self, mut g: MutexGuard<'a, FLocked>) -> MutexGuard<'a, FLocked> {
        if let Some(after) = super::os::take_gate() {
            while self.submitted() < after {
                g = self.cv.wait(g).unwrap();
            }
        }
        g
    }

    /// Messages accepted so far.
    fn submitted(&self) -> usize {
        self.rec.lock().unwrap().submitted
    }

    /// `mbox_ticksend(sender, msg, 0)` by a sender whose TX-done client is
    /// `client` (0: none), as `capi.rs` does it, then the glue's hand-out
    /// in case a message with a client ended meanwhile. `after`: do not
    /// start before that many messages were accepted.
    pub fn send_nb(&self, msg: Payload, client: usize, after: usize) -> i32 {
        let mut g = self.lock_when(|_| self.submitted() >= after);
        let l = &mut *g;
        if !l.st.is_live() {
            return -EINVAL;
        }
        let r = l.st.submit_nb_client(&mut l.env, &msg, client);
        let mut rec = self.rec.lock().unwrap();
        rec.submitted += 1;
        if r != -ENOBUFS {
            rec.submit_log.push(msg);
        }
        drop(rec);
        let more = l.st.has_completion();
        self.unlock(g);
        if more {
            glue::hand_out(self, self.enter_os());
        }
        r
    }

    /// Enters the critical section as the glue does (settled on leaving).
    fn enter_os(&self) -> FGuard<'_> {
        mbox::os::Os::enter(self)
    }

    /// Blocking `mbox_ticksend(sender, msg, timeout)`: the real
    /// `glue::send_blocking`, with the argument checks of `capi.rs` as its
    /// `accept` step. `after`: do not submit before that many messages
    /// were accepted (to fix the submission order).
    pub fn send_blocking(&self, msg: Payload, timeout: Ticks, after: usize) -> i32 {
        // The glue's first critical section (the submission) waits for
        // the gate.
        super::os::set_gate(Some(after));
        let buf = Box::new(msg);
        // SAFETY: the box is moved into the graveyard below, never freed
        // before the model ends, so the slice outlives the call.
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr(), buf.len()) };
        let mut deadline = FOREVER;
        let r = glue::send_blocking(self, |st| {
            if !st.is_live() {
                return Err(-EINVAL);
            }
            // The clock stands still inside a critical section: this is
            // the reading the glue takes for the deadline.
            deadline = ChanState::deadline_from(self.now(), timeout);
            let mut rec = self.rec.lock().unwrap();
            rec.deadlines.push((msg, deadline));
            rec.submitted += 1;
            rec.submit_log.push(msg);
            Ok((data, timeout))
        });
        if r == -ETIMEDOUT {
            assert!(self.now() >= deadline, "sender returned -ETIMEDOUT before its deadline");
        }
        self.graveyard.lock().unwrap().push(buf);
        r
    }

    /// The remote core: `budget` times, wait for a message in the hardware
    /// FIFO (once `gate` allows), pop it and ACK it by its token
    /// (`mbox_chan_tx_done_token`, interrupt context), handing out after.
    pub fn remote(&self, budget: usize, gate: fn(&FLocked) -> bool) {
        for _ in 0..budget {
            let g = self.lock_when(|l| l.env.stop || (!l.env.hw.is_empty() && gate(l)));
            let mut g = FGuard { g: Some(g), cv: &self.cv };
            let l = &mut *g;
            if l.env.stop {
                return;
            }
            let tok = l.env.hw.pop_front().unwrap();
            if !l.st.is_live() {
                l.env.acks.push(FAck { token: tok, result: -EINVAL, before: None });
                continue;
            }
            let before = l.env.outcome_of(tok);
            let r = l.st.tx_done(&mut l.env, Some(tok));
            l.env.acks.push(FAck { token: tok, result: r, before });
            // As mbox_chan_tx_done_token(): the glue's hand-out ends the
            // operation's critical section.
            glue::hand_out(self, g);
        }
    }

    /// Time jumps to LATE; timed waits re-evaluate; the watchdog fires if
    /// its expiry has passed (popped, then `on_timer` in a separate
    /// critical section, with the hand-out that follows it).
    pub fn clock(&self) {
        {
            let g = self.lock();
            self.clock.store(LATE, SeqCst);
            drop(g);
        }
        self.waits.tick_all();
        let fired = {
            let g = self.lock();
            g.env.timer.fire(self.now())
        };
        if fired {
            // The real expiry path: times out, re-arms and hands out.
            glue::on_timer(self);
        }
    }

    pub fn stop(&self) {
        let mut g = self.lock();
        g.env.stop = true;
        self.cv.notify_all();
    }

    /// `mbox_chan_deinit()` up to its hand-out: the state machine's
    /// teardown under the critical section, then the glue's
    /// `hand_out_rest`, which waits (one-tick naps) for a hand-out another
    /// context holds and hands out what is left, so that no TX-done
    /// callback runs after it returns.
    pub fn deinit(&self) {
        {
            let mut g = self.enter_os();
            let l = &mut *g;
            if l.st.is_live() {
                l.st.deinit(&mut l.env);
            }
        }
        glue::hand_out_rest(self);
    }

    /// After every thread joined: the properties of the module doc.
    /// Returns the sent log.
    pub fn check(&self) -> Vec<FSent> {
        let g = self.lock();
        let env = &g.env;
        assert_eq!(self.waits.live.load(Relaxed), 0, "a sender left its wait object alive");
        let rec = self.rec.lock().unwrap();
        assert_eq!(g.st.in_flight(), 0, "messages still in flight after every thread joined");
        assert_eq!(g.st.queued(), 0, "messages still queued after every thread joined");
        assert!(!g.st.has_completion(), "a TX-done hand-out was left behind");
        assert!(!g.st.delivery_in_progress(), "hand-out claim left taken");
        for p in env.sent.windows(2) {
            assert!((p[1].token.wrapping_sub(p[0].token) as i32) > 0, "wire order != submission order: {:?}", env.sent);
        }
        assert_eq!(env.n(Stat::Sent), env.sent.len());
        for m in &env.sent {
            assert_eq!(rec.submit_log[m.token as usize], m.payload, "token {} went to another message", m.token);
            assert!(m.outcome.is_some(), "message {} never ended", m.token);
        }
        for a in &env.acks {
            let m = env.sent.iter().find(|s| s.token == a.token).expect("ACK of a token never sent");
            if a.before.is_none() {
                // Popped in FIFO order: a message still in flight is the
                // oldest one in flight, and its ACK must complete it.
                assert_eq!(a.result, 0, "ACK of in-flight message {} refused", a.token);
                assert_eq!(m.outcome, Some(Stat::Acked));
            } else {
                // It had already ended (timed out): the ACK completes
                // nothing, in particular not the next message.
                assert!(
                    a.result == -ESRCH || a.result == -ENOENT,
                    "late ACK of ended message {} returned {}",
                    a.token,
                    a.result
                );
            }
        }
        for m in &env.sent {
            if m.outcome == Some(Stat::Acked) {
                let n = env.acks.iter().filter(|a| a.token == m.token && a.result == 0).count();
                assert_eq!(n, 1, "message {} completed as ACKed by {n} ACKs", m.token);
            }
        }
        // TX-done callbacks: in token order, each token once.
        let h = self.handed.lock().unwrap();
        for p in h.windows(2) {
            assert!((p[1].token.wrapping_sub(p[0].token) as i32) > 0, "TX-done callbacks out of order: {h:?}");
        }
        env.sent.clone()
    }

    /// The TX-done callbacks that ran, in order.
    pub fn handouts(&self) -> Vec<Handout> {
        self.handed.lock().unwrap().clone()
    }

    pub fn with<R>(&self, f: impl FnOnce(&FLocked) -> R) -> R {
        let g = self.lock();
        f(&g)
    }
}
