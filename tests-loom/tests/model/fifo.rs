//! The loom model of one TX channel with several messages in flight
//! (`txdepth` > 1, docs/beyond.md §2): the real `ChanState` with
//! `set_txdepth(depth)` behind one loom mutex (the critical section), a
//! lower half whose `send` pushes into a hardware FIFO, a remote core that
//! pops that FIFO and ACKs each message by its token
//! (`mbox_chan_tx_done_token`), blocked senders that follow
//! `capi.rs::ticksend`, non-blocking senders with TX-done clients, and the
//! hand-out protocol of `capi.rs::drain` (claim_delivery /
//! take_completion / release_delivery, the callback run outside the lock).
//!
//! The lower half is not told which message `txfinish` ends, so every
//! critical section ends with [`settle`]: it compares the state machine's
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

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

use mbox::chan::{ChanEnv, ChanState, Completion, Stat, Submit, WaitState, Waiter};
use mbox::errno::*;
use mbox::os::{Ticks, FOREVER};

use super::{Payload, WaitObj, CHAN_TIMEOUT, LATE};

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

/// One TX-done callback "run" by a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handout {
    pub client: usize,
    pub token: u32,
    pub result: i32,
}

struct Reg {
    addr: usize,
    obj: Arc<WaitObj>,
    wakes: u32,
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
    armed: Option<Ticks>,
    pub counts: Vec<Stat>,
    table: Vec<Reg>,
    /// Deadlines of blocking messages by payload (Waiter::deadline).
    deadlines: Vec<(Payload, Ticks)>,
    /// In-flight tokens as of the end of the previous critical section.
    inflight: Vec<u32>,
    pub max_inflight: usize,
    /// Messages submitted so far (to order the senders).
    pub submitted: usize,
    /// Payloads in the order they took a token (index = token).
    pub submit_log: Vec<Payload>,
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
        let deadline = match self.deadlines.iter().find(|d| d.0 == payload) {
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
        assert!(ticks >= 1);
        self.armed = Some(self.now_().saturating_add(ticks));
    }

    fn disarm(&mut self) {
        self.armed = None;
    }

    fn wake(&mut self, w: *mut Waiter) {
        let addr = w as usize;
        let reg = self
            .table
            .iter_mut()
            .find(|r| r.addr == addr)
            .expect("wake of a waiter whose sender has already returned (or never waited)");
        // SAFETY: the state machine passes a live waiter, under the lock.
        assert_eq!(unsafe { (*w).state() }, WaitState::Done, "wake of a waiter whose message is not finished");
        assert_eq!(reg.wakes, 0, "waiter woken twice");
        reg.wakes += 1;
        reg.obj.post();
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
    /// Sender frames, kept until the model ends (see `Locked::graveyard`);
    /// boxed so that a waiter never moves.
    #[allow(clippy::vec_box)]
    graveyard: Vec<Box<Frame>>,
}

// SAFETY: the raw pointers inside (buffer, slots, waiters) are only used
// under the model mutex, which is what the port's critical section
// guarantees.
unsafe impl Send for FLocked {}

struct Frame {
    msg: Payload,
    w: Waiter,
}

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
    /// TX-done callbacks, in the order they ran (outside the chan lock).
    pub handed: Mutex<Vec<Handout>>,
    in_callback: AtomicBool,
}

impl FifoModel {
    /// A live TX channel of `depth` slots whose next lower-half sends
    /// return `results`.
    pub fn new(depth: usize, results: &[i32]) -> Arc<FifoModel> {
        let clock = Arc::new(AtomicU64::new(0));
        let mut buf = vec![0u64; BUF_WORDS].into_boxed_slice();
        let mut st = ChanState::new();
        st.init(true, buf.as_mut_ptr().cast(), BUF_WORDS * 8, MTU, CHAN_TIMEOUT);
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
            armed: None,
            counts: Vec::new(),
            table: Vec::new(),
            deadlines: Vec::new(),
            inflight: Vec::new(),
            max_inflight: 0,
            submitted: 0,
            submit_log: Vec::new(),
            step_sent: Vec::new(),
            step_finishes: 0,
            step_outcomes: Vec::new(),
            finish_pending: false,
            stop: false,
        };
        Arc::new(FifoModel {
            chan: Mutex::new(FLocked { st, env, _buf: buf, graveyard: Vec::new() }),
            cv: Condvar::new(),
            clock,
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

    /// `mbox_ticksend(sender, msg, 0)` by a sender whose TX-done client is
    /// `client` (0: none), with the drain that follows when something can
    /// be handed out. `after`: do not start before that many messages were
    /// accepted.
    pub fn send_nb(&self, msg: Payload, client: usize, after: usize) -> i32 {
        let mut g = self.lock_when(|l| l.env.submitted >= after);
        let l = &mut *g;
        if !l.st.is_live() {
            return -EINVAL;
        }
        let r = l.st.submit_nb_client(&mut l.env, &msg, client);
        l.env.submitted += 1;
        if r != -ENOBUFS {
            l.env.submit_log.push(msg);
        }
        let more = l.st.has_completion();
        self.unlock(g);
        if more {
            self.drain();
        }
        r
    }

    /// Blocking `mbox_ticksend(sender, msg, timeout)` as capi.rs does it
    /// (see `Model::ticksend`). `after`: do not submit before that many
    /// messages were accepted (to fix the submission order).
    pub fn send_blocking(&self, obj: &Arc<WaitObj>, msg: Payload, timeout: Ticks, after: usize) -> i32 {
        let mut frame = Box::new(Frame { msg, w: Waiter::new(&[], FOREVER) });
        frame.w = Waiter::new(&frame.msg, FOREVER);
        let deadline;
        let mut result;
        {
            let mut g = self.lock_when(|l| l.env.submitted >= after);
            let l = &mut *g;
            if !l.st.is_live() {
                l.graveyard.push(frame);
                return -EINVAL;
            }
            deadline = ChanState::deadline_from(self.now(), timeout);
            frame.w.set_deadline(deadline);
            let addr = &frame.w as *const Waiter as usize;
            l.env.table.push(Reg { addr, obj: obj.clone(), wakes: 0 });
            l.env.deadlines.push((msg, deadline));
            // SAFETY: frame.w stays in place (boxed, then kept in the
            // graveyard) and is touched only under the lock until Done or
            // waiter_timeout() returned.
            result = match unsafe { l.st.submit_blocking(&mut l.env, &mut frame.w) } {
                Submit::Done(r) => Some(r),
                Submit::Pending => None,
            };
            l.env.submitted += 1;
            l.env.submit_log.push(msg);
            if let Some(r) = result {
                return self.leave(g, frame, r);
            }
            self.unlock(g);
        }
        loop {
            let wait_ticks = if deadline == FOREVER { FOREVER } else { deadline.saturating_sub(self.now()) };
            let timed_out = wait_ticks == 0 || obj.wait(&self.clock, deadline) < 0;
            let mut g = self.lock();
            let l = &mut *g;
            let mut more = false;
            if frame.w.state() == WaitState::Done {
                result = Some(frame.w.result());
            } else if timed_out && self.now() >= deadline {
                result = Some(l.st.waiter_timeout(&mut l.env, &mut frame.w));
                more = l.st.has_completion();
            }
            if let Some(r) = result {
                let r = self.leave(g, frame, r);
                if more {
                    self.drain();
                }
                return r;
            }
            self.unlock(g);
        }
    }

    fn leave(&self, mut g: MutexGuard<'_, FLocked>, frame: Box<Frame>, r: i32) -> i32 {
        assert_eq!(frame.w.state(), WaitState::Done, "sender returned with its waiter still linked");
        let addr = &frame.w as *const Waiter as usize;
        let i = g.env.table.iter().position(|x| x.addr == addr).expect("registered");
        g.env.table.swap_remove(i);
        if r == -ETIMEDOUT {
            assert!(self.now() >= frame.w.deadline(), "sender returned -ETIMEDOUT before its deadline");
        }
        g.graveyard.push(frame);
        self.unlock(g);
        r
    }

    /// `capi.rs::drain(chan, false)`: claim the hand-out or leave it to
    /// the context that holds it; the claimer takes completions one at a
    /// time under the lock, runs each callback without it, and releases
    /// the claim in the same critical section in which it found nothing
    /// more to hand out.
    pub fn drain(&self) {
        {
            let mut g = self.lock();
            let claimed = g.st.claim_delivery(1);
            self.unlock(g);
            if !claimed {
                return;
            }
        }
        loop {
            let c: Completion;
            {
                let mut g = self.lock();
                let l = &mut *g;
                match l.st.take_completion(&mut l.env) {
                    Some(x) => c = x,
                    None => {
                        l.st.release_delivery();
                        self.unlock(g);
                        return;
                    }
                }
                self.unlock(g);
            }
            // The TX-done callback, outside the critical section: callbacks
            // of one channel must never overlap.
            assert!(!self.in_callback.swap(true, SeqCst), "two TX-done callbacks of one channel at once");
            self.handed.lock().unwrap().push(Handout { client: c.client, token: c.token, result: c.result });
            self.in_callback.store(false, SeqCst);
        }
    }

    /// The remote core: `budget` times, wait for a message in the hardware
    /// FIFO (once `gate` allows), pop it and ACK it by its token
    /// (`mbox_chan_tx_done_token`, interrupt context), draining after.
    pub fn remote(&self, budget: usize, gate: fn(&FLocked) -> bool) {
        for _ in 0..budget {
            let mut g = self.lock_when(|l| l.env.stop || (!l.env.hw.is_empty() && gate(l)));
            let l = &mut *g;
            if l.env.stop {
                return;
            }
            let tok = l.env.hw.pop_front().unwrap();
            if !l.st.is_live() {
                l.env.acks.push(FAck { token: tok, result: -EINVAL, before: None });
                self.unlock(g);
                continue;
            }
            let before = l.env.outcome_of(tok);
            let r = l.st.tx_done(&mut l.env, Some(tok));
            l.env.acks.push(FAck { token: tok, result: r, before });
            let more = l.st.has_completion();
            self.unlock(g);
            if more {
                self.drain();
            }
        }
    }

    /// Time jumps to LATE; timed waits re-evaluate; the watchdog fires if
    /// its expiry has passed (popped, then `on_timer` in a separate
    /// critical section, with the drain that follows it).
    pub fn clock(&self, objs: &[Arc<WaitObj>]) {
        {
            let g = self.lock();
            self.clock.store(LATE, SeqCst);
            drop(g);
        }
        for o in objs {
            o.tick();
        }
        let fired = {
            let mut g = self.lock();
            match g.env.armed {
                Some(d) if d <= self.now() => {
                    g.env.armed = None;
                    true
                }
                _ => false,
            }
        };
        if fired {
            let mut g = self.lock();
            let l = &mut *g;
            let mut more = false;
            if l.st.is_live() {
                l.st.timer_expired(&mut l.env);
                more = l.st.has_completion();
            }
            self.unlock(g);
            if more {
                self.drain();
            }
        }
    }

    pub fn stop(&self) {
        let mut g = self.lock();
        g.env.stop = true;
        self.cv.notify_all();
    }

    /// After every thread joined: the properties of the module doc.
    /// Returns the sent log.
    pub fn check(&self) -> Vec<FSent> {
        let g = self.lock();
        let env = &g.env;
        assert!(env.table.is_empty(), "a sender left its waiter registered");
        assert_eq!(g.st.in_flight(), 0, "messages still in flight after every thread joined");
        assert_eq!(g.st.queued(), 0, "messages still queued after every thread joined");
        assert!(!g.st.has_completion(), "a TX-done hand-out was left behind");
        assert!(!g.st.delivery_in_progress(), "hand-out claim left taken");
        for p in env.sent.windows(2) {
            assert!((p[1].token.wrapping_sub(p[0].token) as i32) > 0, "wire order != submission order: {:?}", env.sent);
        }
        assert_eq!(env.n(Stat::Sent), env.sent.len());
        for m in &env.sent {
            assert_eq!(env.submit_log[m.token as usize], m.payload, "token {} went to another message", m.token);
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
