//! The loom model of one TX channel: the real state machine
//! (`mbox::chan::ChanState`) behind one loom mutex that stands for the
//! port's critical section, a fake lower half, one loom wait object per
//! blocked sender, and the threads that drive it: senders that follow the
//! glue protocol of `capi.rs::ticksend` step by step, a remote core that
//! acknowledges from "interrupt context", and a clock that lets time pass,
//! wakes timed waits and fires the channel watchdog.
//!
//! Everything the state machine does is recorded (lower-half sends and
//! finishes, outcomes, wake-ups) and [`Model::check`] verifies, after all
//! threads have joined:
//! - lower-half sends go out in token (= submission) order, each once,
//!   and per-sender order holds;
//! - every message sent ends exactly once (acked / timed out / cancelled),
//!   and a timed-out in-flight message had really reached its deadline;
//! - an ACKed message was ACKed by the remote with *its* token;
//! - every blocked sender returns exactly its own message's result;
//! - every wake-up goes to a live waiter whose message is Done, once;
//! - the statistics balance: every accepted message ended exactly once.
//!
//! Lost wake-ups show up as loom deadlocks (a sender blocked forever).

#![allow(dead_code)]

use std::collections::VecDeque;

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

use mbox::chan::{ChanEnv, ChanState, Stat, Submit, WaitState, Waiter};
use mbox::errno::*;
use mbox::os::{Ticks, FOREVER};

pub mod fifo;

/// Channel timeout (ticks) for non-blocking messages.
pub const CHAN_TIMEOUT: Ticks = 10;
/// The clock thread's single step: the time jumps from 0 to LATE, past
/// every deadline set at time 0 that is shorter than LATE.
pub const LATE: Ticks = 100;
/// A blocking timeout that never runs out inside a model (deadline
/// >= 1000 > LATE) but still arms the watchdog.
pub const LONG: Ticks = 1000;
const RING: usize = 64;
const MTU: usize = 8;

/// A message: (sender id, per-sender index).
pub type Payload = [u8; 2];

/// One successful lower-half send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub token: u32,
    pub payload: Payload,
    /// Its deadline (None: FOREVER): a blocking message's own, or the
    /// channel timeout from the moment it went out.
    pub deadline: Option<Ticks>,
    /// How it ended (Acked, Timeout or Cancelled), once finished.
    pub outcome: Option<Stat>,
}

/// A per-sender wait object: the model of `mbox_os_wait_s` (a binary
/// semaphore for exactly one waiter, with a timed wait).
pub struct WaitObj {
    posted: Mutex<bool>,
    cv: Condvar,
}

impl WaitObj {
    pub fn new() -> Arc<WaitObj> {
        Arc::new(WaitObj { posted: Mutex::new(false), cv: Condvar::new() })
    }

    /// mbox_os_wait_post: wake the waiter, or make its next wait return.
    fn post(&self) {
        let mut p = self.posted.lock().unwrap();
        *p = true;
        self.cv.notify_all();
    }

    /// mbox_os_wait_timed until the absolute `deadline` of the model
    /// clock: 0 when posted (consuming the post), -ETIMEDOUT when the
    /// clock reached the deadline first.
    fn wait(&self, clock: &AtomicU64, deadline: Ticks) -> i32 {
        let mut p = self.posted.lock().unwrap();
        loop {
            if *p {
                *p = false;
                return 0;
            }
            if deadline != FOREVER && clock.load(SeqCst) >= deadline {
                return -ETIMEDOUT;
            }
            p = self.cv.wait(p).unwrap();
        }
    }

    /// The clock moved: re-evaluate a timed wait.
    fn tick(&self) {
        let _g = self.posted.lock().unwrap();
        self.cv.notify_all();
    }
}

struct Reg {
    addr: usize,
    obj: Arc<WaitObj>,
    wakes: u32,
}

/// The fake lower half and OS seen by the state machine.
pub struct Env {
    clock: Arc<AtomicU64>,
    hw_cv: Arc<Condvar>,
    /// Every successful lower-half send, in order.
    pub sent: Vec<Sent>,
    /// Index in `sent` of the message in the mailbox (until txfinish).
    hw: Option<usize>,
    /// What `txacked` reports.
    hw_acked: bool,
    /// Tokens the remote has picked up / acknowledged.
    pub remote_seen: Vec<u32>,
    pub remote_acked: Vec<u32>,
    /// Scripted results of the next lower-half sends (0 when empty).
    pub send_results: VecDeque<i32>,
    /// The watchdog: absolute expiry, if armed.
    armed: Option<Ticks>,
    /// Calls of `arm` and `disarm`.
    pub arms: usize,
    pub disarms: usize,
    last_finished: Option<usize>,
    pub counts: Vec<Stat>,
    /// Side table: waiter address -> its sender's wait object.
    table: Vec<Reg>,
    /// Senders that have submitted (for gating the start of others).
    submitted: Vec<u8>,
    /// Absolute deadlines of blocking messages (Waiter::deadline), by
    /// payload (a non-blocking one is due the channel timeout after it
    /// went out; the watchdog's arming says neither: it stays armed
    /// across messages, for the earliest of them).
    deadlines: Vec<(Payload, Ticks)>,
    stop: bool,
}

impl Env {
    pub fn n(&self, s: Stat) -> usize {
        self.counts.iter().filter(|&&c| c == s).count()
    }

    fn now_(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    fn register(&mut self, w: &Waiter, obj: Arc<WaitObj>) {
        let addr = w as *const Waiter as usize;
        assert!(self.table.iter().all(|r| r.addr != addr), "waiter registered twice");
        self.table.push(Reg { addr, obj, wakes: 0 });
    }

    fn deregister(&mut self, w: &Waiter) {
        let addr = w as *const Waiter as usize;
        let i = self.table.iter().position(|r| r.addr == addr).expect("deregister of unknown waiter");
        self.table.swap_remove(i);
    }

    /// Token of the message in the mailbox that the remote has not seen.
    fn unseen(&self) -> Option<u32> {
        let t = self.sent[self.hw?].token;
        if self.remote_seen.contains(&t) {
            None
        } else {
            Some(t)
        }
    }

    fn hw_token(&self) -> Option<u32> {
        self.hw.map(|i| self.sent[i].token)
    }
}

impl ChanEnv for Env {
    fn now(&self) -> Ticks {
        self.now_()
    }

    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        let r = self.send_results.pop_front().unwrap_or(0);
        if r < 0 {
            return r;
        }
        assert!(self.hw.is_none(), "lower-half send while message {:?} is still in flight", self.hw_token());
        let payload: Payload = data.try_into().expect("2-byte payloads");
        // The clock stands still inside a critical section: `now` is the
        // reading the state machine takes for this message.
        let deadline = match self.deadlines.iter().find(|x| x.0 == payload) {
            Some(&(_, d)) => d,
            None => ChanState::deadline_from(self.now_(), CHAN_TIMEOUT),
        };
        let deadline = (deadline != FOREVER).then_some(deadline);
        self.sent.push(Sent { token, payload, deadline, outcome: None });
        self.hw = Some(self.sent.len() - 1);
        self.hw_acked = false;
        self.hw_cv.notify_all();
        0
    }

    fn txfinish(&mut self, _token: u32) {
        let i = self.hw.take().expect("txfinish with nothing in flight: a message finished twice");
        assert!(self.sent[i].outcome.is_none(), "message finished twice");
        self.last_finished = Some(i);
        self.hw_acked = false;
        self.hw_cv.notify_all();
    }

    fn txacked(&mut self) -> bool {
        self.hw_acked
    }

    fn arm(&mut self, ticks: Ticks) {
        assert!(ticks >= 1);
        self.armed = Some(self.now_().saturating_add(ticks));
        self.arms += 1;
    }

    fn disarm(&mut self) {
        self.armed = None;
        self.disarms += 1;
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
        if matches!(s, Stat::Acked | Stat::Timeout | Stat::Cancelled) {
            if let Some(i) = self.last_finished.take() {
                let m = &mut self.sent[i];
                m.outcome = Some(s);
                if s == Stat::Timeout {
                    let d = m.deadline.expect("a message without deadline timed out");
                    assert!(
                        self.clock.load(SeqCst) >= d,
                        "in-flight message {} timed out before its deadline {d} (a stale watchdog expiry)",
                        m.token
                    );
                }
            }
        }
    }

    fn queued(&mut self, _depth: usize) {
        self.hw_cv.notify_all();
    }
}

/// Everything under the "critical section".
pub struct Locked {
    pub st: ChanState,
    pub env: Env,
    _ring: Box<[u8]>,
    /// Sender frames (waiter + message), kept until the model ends so that
    /// a broken state machine that keeps a pointer to a returned sender's
    /// waiter is caught by the side table instead of touching freed memory.
    #[allow(clippy::vec_box)] // boxed so that a waiter never moves
    graveyard: Vec<Box<Frame>>,
}

// SAFETY: the raw pointers inside (ring, waiters) are only used under the
// model mutex, which is what the port's critical section guarantees.
unsafe impl Send for Locked {}

struct Frame {
    msg: Payload,
    w: Waiter,
}

pub struct Model {
    chan: Mutex<Locked>,
    hw_cv: Arc<Condvar>,
    clock: Arc<AtomicU64>,
}

/// What one sender did with one message.
#[derive(Debug, Clone, Copy)]
pub struct MsgLog {
    pub payload: Payload,
    /// 0: non-blocking.
    pub timeout: Ticks,
    pub result: i32,
    /// A blocking message reached submit_blocking (channel was live).
    pub submitted: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ack {
    /// Pick up and acknowledge in one interrupt.
    Immediate,
    /// Pick up the token, let go of the lock, acknowledge later.
    Late,
    /// Acknowledge, then acknowledge the same token again later.
    Dup,
}

impl Model {
    pub fn new() -> Arc<Model> {
        Model::with_sends(&[])
    }

    /// A live TX channel whose next lower-half sends return `results`.
    pub fn with_sends(results: &[i32]) -> Arc<Model> {
        let clock = Arc::new(AtomicU64::new(0));
        let hw_cv = Arc::new(Condvar::new());
        let mut ring = vec![0u8; RING].into_boxed_slice();
        let mut st = ChanState::new();
        st.init(true, ring.as_mut_ptr(), RING, MTU, CHAN_TIMEOUT);
        let env = Env {
            clock: clock.clone(),
            hw_cv: hw_cv.clone(),
            sent: Vec::new(),
            hw: None,
            hw_acked: false,
            remote_seen: Vec::new(),
            remote_acked: Vec::new(),
            send_results: results.iter().copied().collect(),
            armed: None,
            arms: 0,
            disarms: 0,
            last_finished: None,
            counts: Vec::new(),
            table: Vec::new(),
            submitted: Vec::new(),
            deadlines: Vec::new(),
            stop: false,
        };
        Arc::new(Model { chan: Mutex::new(Locked { st, env, _ring: ring, graveyard: Vec::new() }), hw_cv, clock })
    }

    /// Enter the critical section.
    pub fn lock(&self) -> MutexGuard<'_, Locked> {
        self.chan.lock().unwrap()
    }

    /// Enter the critical section once sender `after` (if any) has
    /// submitted (to force an order between senders).
    fn lock_after(&self, after: Option<u8>) -> MutexGuard<'_, Locked> {
        let mut g = self.lock();
        if let Some(a) = after {
            while !g.env.submitted.contains(&a) {
                g = self.hw_cv.wait(g).unwrap();
            }
        }
        g
    }

    pub fn now(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    /// `mbox_ticksend(sender, msg, timeout)` exactly as capi.rs does it.
    /// `after`: do not start before that sender has submitted.
    pub fn ticksend(&self, obj: &Arc<WaitObj>, msg: Payload, timeout: Ticks, after: Option<u8>) -> MsgLog {
        let mut log = MsgLog { payload: msg, timeout, result: -EINVAL, submitted: false };
        if timeout == 0 {
            // Non-blocking: one critical section.
            let mut g = self.lock_after(after);
            let l = &mut *g;
            if !l.st.is_live() || !l.st.is_tx() {
                return log;
            }
            if msg.len() > l.st.mtu() {
                log.result = -EMSGSIZE;
                return log;
            }
            log.result = l.st.submit_nb(&mut l.env, &msg);
            l.env.submitted.push(msg[0]);
            self.hw_cv.notify_all();
            return log;
        }
        // Blocking. The waiter "on the stack" (boxed so that it stays in
        // place even after this function returned: see Locked::graveyard),
        // with its wait object initialised at its final address before the
        // critical section; then one pass under the lock validates,
        // computes the deadline and submits.
        let mut frame = Box::new(Frame { msg, w: Waiter::new(&[], FOREVER) });
        frame.w = Waiter::new(&frame.msg, FOREVER);
        let deadline;
        let mut result;
        {
            let mut g = self.lock_after(after);
            let l = &mut *g;
            if !l.st.is_live() || !l.st.is_tx() {
                return self.leave(g, frame, log, -EINVAL);
            }
            if msg.len() > l.st.mtu() {
                return self.leave(g, frame, log, -EMSGSIZE);
            }
            deadline = if timeout == FOREVER { FOREVER } else { self.now().saturating_add(timeout).min(FOREVER - 1) };
            frame.w.set_deadline(deadline);
            // w.os.init() (the model keeps the side table under the lock).
            l.env.register(&frame.w, obj.clone());
            l.env.deadlines.push((msg, deadline));
            log.submitted = true;
            // SAFETY: frame.w stays in place (boxed, then kept in the
            // graveyard) and is touched only under the lock until Done or
            // waiter_timeout() returned, which the loop below ensures.
            result = match unsafe { l.st.submit_blocking(&mut l.env, &mut frame.w) } {
                Submit::Done(r) => Some(r),
                Submit::Pending => None,
            };
            l.env.submitted.push(msg[0]);
            self.hw_cv.notify_all();
            if let Some(r) = result {
                return self.leave(g, frame, log, r);
            }
        }
        loop {
            // Outside the lock: wait on our own wait object.
            let wait_ticks = if deadline == FOREVER { FOREVER } else { deadline.saturating_sub(self.now()) };
            let timed_out = wait_ticks == 0 || obj.wait(&self.clock, deadline) < 0;
            let mut g = self.lock();
            let l = &mut *g;
            if frame.w.state() == WaitState::Done {
                result = Some(frame.w.result());
            } else if timed_out && self.now() >= deadline {
                result = Some(l.st.waiter_timeout(&mut l.env, &mut frame.w));
            }
            if let Some(r) = result {
                if r == -ETIMEDOUT {
                    assert!(self.now() >= deadline, "sender returned -ETIMEDOUT before its deadline");
                }
                return self.leave(g, frame, log, r);
            }
            // Otherwise an early or spurious wake-up: wait again.
        }
    }

    /// The sender returns: w.os.destroy() (leave the side table).
    fn leave(&self, mut g: MutexGuard<'_, Locked>, frame: Box<Frame>, mut log: MsgLog, r: i32) -> MsgLog {
        if log.submitted {
            assert_eq!(frame.w.state(), WaitState::Done, "sender returned with its waiter still linked");
            g.env.deregister(&frame.w);
        }
        g.graveyard.push(frame);
        log.result = r;
        log
    }

    /// The remote core: acknowledges up to `budget` messages as they show
    /// up in the mailbox (from "interrupt context", through
    /// `mbox_chan_tx_done_token`, or `mbox_chan_tx_done` when `tokened` is
    /// false), once `gate` allows it. Stops when the model ends.
    pub fn remote(&self, budget: usize, mode: Ack, tokened: bool, gate: fn(&Locked) -> bool) {
        for _ in 0..budget {
            let mut g = self.lock();
            let tok = loop {
                if g.env.stop {
                    return;
                }
                if let Some(t) = g.env.unseen() {
                    if gate(&g) {
                        break t;
                    }
                }
                g = self.hw_cv.wait(g).unwrap();
            };
            g.env.remote_seen.push(tok);
            match mode {
                Ack::Immediate => {
                    Self::ack(&mut g, tok, tokened);
                }
                Ack::Late => {
                    drop(g);
                    let mut g = self.lock();
                    Self::ack(&mut g, tok, tokened);
                }
                Ack::Dup => {
                    Self::ack(&mut g, tok, tokened);
                    drop(g);
                    let mut g = self.lock();
                    Self::ack(&mut g, tok, tokened);
                }
            }
        }
    }

    /// One ACK interrupt for `tok`: `mbox_chan_tx_done[_token]`.
    fn ack(l: &mut Locked, tok: u32, tokened: bool) -> i32 {
        l.env.remote_acked.push(tok);
        // capi.rs live() check.
        if !l.st.is_live() || !l.st.is_tx() {
            return -EINVAL;
        }
        // The mailbox shows the ACK only if it still holds that message.
        if l.env.hw_token() == Some(tok) {
            l.env.hw_acked = true;
        }
        let r = l.st.tx_done(&mut l.env, if tokened { Some(tok) } else { None });
        l.env.hw_acked = false;
        r
    }

    /// The clock: time jumps to LATE, timed waits re-evaluate, and (if
    /// `watchdog`) the channel watchdog fires.
    pub fn clock(&self, objs: &[Arc<WaitObj>], watchdog: bool) {
        // Under the lock, so that time stands still inside a critical
        // section (the state machine reads it more than once per step).
        {
            let _g = self.lock();
            self.clock.store(LATE, SeqCst);
        }
        for o in objs {
            o.tick();
        }
        if watchdog {
            self.watchdog();
        }
    }

    /// The clock moves to `t` (no earlier than now), timed waits
    /// re-evaluate, and (if `watchdog`) the channel watchdog fires if its
    /// expiry has passed.
    pub fn advance_to(&self, t: Ticks, objs: &[Arc<WaitObj>], watchdog: bool) {
        {
            let _g = self.lock();
            assert!(t >= self.now());
            self.clock.store(t, SeqCst);
        }
        for o in objs {
            o.tick();
        }
        if watchdog {
            self.watchdog();
        }
    }

    /// The remote acknowledges the message in the mailbox at once (one
    /// ACK interrupt with its token), in the calling thread.
    pub fn ack_in_flight(&self) -> i32 {
        let mut g = self.lock();
        let tok = g.env.unseen().expect("no message in the mailbox");
        g.env.remote_seen.push(tok);
        let r = Self::ack(&mut g, tok, true);
        self.hw_cv.notify_all();
        r
    }

    /// Expiry the watchdog is armed for, if any.
    pub fn armed(&self) -> Option<Ticks> {
        self.lock().env.armed
    }

    /// The port's timer thread: pops the expired timer under its own lock
    /// (here: the model lock, as disarm happens under the critical section
    /// too), then, in a separate step, runs `on_timer`, which takes the
    /// critical section. Between the two, the message may complete and
    /// the next one start (the expiry must not time out that one).
    pub fn watchdog(&self) {
        let fired = {
            let mut g = self.lock();
            let now = self.now();
            match g.env.armed {
                Some(d) if d <= now => {
                    g.env.armed = None;
                    true
                }
                _ => false,
            }
        };
        if fired {
            let mut g = self.lock();
            let l = &mut *g;
            if l.st.is_live() {
                l.st.timer_expired(&mut l.env);
            }
        }
    }

    /// `mbox_chan_deinit` (the critical-section part; the timer is
    /// destroyed afterwards, so later watchdog steps see a dead channel).
    pub fn deinit(&self) -> usize {
        let mut g = self.lock();
        let l = &mut *g;
        if !l.st.is_live() {
            return 0;
        }
        let n = l.st.deinit(&mut l.env);
        self.hw_cv.notify_all();
        n
    }

    /// Wait until nothing is in flight or queued (the remote drains it).
    pub fn wait_idle(&self) {
        let mut g = self.lock();
        while g.st.is_busy() || g.st.queued() > 0 {
            g = self.hw_cv.wait(g).unwrap();
        }
    }

    /// Stop the remote (call before joining it).
    pub fn stop(&self) {
        let mut g = self.lock();
        g.env.stop = true;
        self.hw_cv.notify_all();
    }

    /// After every thread has joined: drain the channel (deinit) and check
    /// every property listed in the module doc. Returns the sent log.
    pub fn check(&self, msgs: &[MsgLog]) -> Vec<Sent> {
        let mut g = self.lock();
        let l = &mut *g;
        l.env.stop = true;
        if l.st.is_live() {
            l.st.deinit(&mut l.env);
        }
        assert!(!l.st.is_busy() && l.st.queued() == 0, "channel not empty after deinit");
        assert!(l.env.table.is_empty(), "a sender left its waiter registered");
        let env = &l.env;

        // Lower-half sends: in token order, each once; per-sender order.
        for p in env.sent.windows(2) {
            assert!((p[1].token.wrapping_sub(p[0].token) as i32) > 0, "sends out of submission order: {:?}", env.sent);
        }
        for a in 0..env.sent.len() {
            for b in a + 1..env.sent.len() {
                let (x, y) = (env.sent[a].payload, env.sent[b].payload);
                assert!(x != y, "message {x:?} sent twice");
                if x[0] == y[0] {
                    assert!(x[1] < y[1], "sender {} overtaken by itself: {:?}", x[0], env.sent);
                }
            }
        }
        assert_eq!(env.n(Stat::Sent), env.sent.len());

        // Every sent message ended once; an ACKed one was ACKed with its
        // own token by the remote.
        for s in &env.sent {
            let o = s.outcome.unwrap_or_else(|| panic!("message {:?} never finished", s.payload));
            if o == Stat::Acked {
                assert!(
                    env.remote_acked.contains(&s.token),
                    "message {:?} (token {}) completed as ACKed, but the remote never ACKed that token",
                    s.payload,
                    s.token
                );
            }
        }

        // Each blocked sender got exactly its own message's result.
        let (mut starts, mut accepted_nb) = (0, 0);
        for m in msgs {
            let sent = env.sent.iter().find(|s| s.payload == m.payload);
            if m.timeout == 0 {
                if m.result == 0 {
                    accepted_nb += 1;
                    starts += 1;
                } else if m.result != -ENOBUFS && m.result != -EINVAL {
                    starts += 1; // immediate send error, counted as send_err
                    assert!(sent.is_none());
                }
                continue;
            }
            if m.submitted {
                starts += 1;
            }
            match sent {
                Some(s) => {
                    let want = match s.outcome.unwrap() {
                        Stat::Acked => 0,
                        Stat::Timeout => -ETIMEDOUT,
                        Stat::Cancelled => -ECANCELED,
                        o => panic!("bad outcome {o:?}"),
                    };
                    assert_eq!(
                        m.result, want,
                        "sender {} got {} but its message {:?} ended as {:?}",
                        m.payload[0], m.result, m.payload, s.outcome
                    );
                }
                None => assert!(
                    m.result == -ETIMEDOUT || m.result == -ECANCELED || m.result == -EINVAL || m.result == -EIO,
                    "sender {} got {} for a message that was never sent",
                    m.payload[0],
                    m.result
                ),
            }
        }
        let _ = accepted_nb;
        // Statistics: every accepted message ended exactly once.
        let ends = env.n(Stat::Acked) + env.n(Stat::Timeout) + env.n(Stat::Cancelled) + env.n(Stat::SendErr);
        assert_eq!(ends, starts, "messages started {starts}, ended {ends}: {:?}", env.counts);
        env.sent.clone()
    }
}

/// Remote gate that never holds back.
pub fn always(_: &Locked) -> bool {
    true
}

/// Run a model with the given preemption bound.
pub fn run<F>(bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}
