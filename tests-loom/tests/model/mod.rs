//! The loom model of one TX channel: the real state machine
//! (`mbox::upper::chan::ChanState`) and the real blocking glue (`mbox::upper::glue`:
//! blocked senders, waiter timeout, watchdog expiry) over a loom `Os`
//! whose critical section is one loom mutex, with a fake lower half and
//! loom wait objects (`os.rs`), and the threads that drive it: senders
//! that call `glue::send_blocking` (or submit non-blocking messages as
//! `capi.rs` does), a remote core that acknowledges from "interrupt
//! context", and a clock that lets time pass, wakes timed waits and fires
//! the channel watchdog (`glue::on_timer`).
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
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex as StdMutex;

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

use mbox::os::{Ticks, FOREVER};
use mbox::upper::chan::{ChanEnv, ChanState, Completion, Stat, Wake};
use mbox::upper::errno::*;
use mbox::upper::glue::{self, Chan};
use mbox::upper::lent::Lent;

pub mod os;

pub mod fifo;

use os::{LoomTimer, Waits};

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

/// What the senders record under the critical section, before their
/// submission (the glue's `accept` step sees only the state machine): the
/// order they submitted in and the deadlines of blocking messages. Not
/// loom state: written and read only under the model's loom mutex.
#[derive(Default)]
pub struct Rec {
    /// Senders that have submitted (for gating the start of others).
    pub submitted: Vec<u8>,
    /// Absolute deadlines of blocking messages (Waiter::deadline), by
    /// payload (a non-blocking one is due the channel timeout after it
    /// went out; the watchdog's arming says neither: it stays armed
    /// across messages, for the earliest of them).
    pub deadlines: Vec<(Payload, Ticks)>,
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
    /// The watchdog.
    timer: LoomTimer,
    /// Calls of `arm` and `disarm`.
    pub arms: usize,
    pub disarms: usize,
    last_finished: Option<usize>,
    pub counts: Vec<Stat>,
    rec: std::sync::Arc<StdMutex<Rec>>,
    stop: bool,
}

impl Env {
    pub fn n(&self, s: Stat) -> usize {
        self.counts.iter().filter(|&&c| c == s).count()
    }

    fn now_(&self) -> Ticks {
        self.clock.load(SeqCst)
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
        let deadline = match self.rec.lock().unwrap().deadlines.iter().find(|x| x.0 == payload) {
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
        self.timer.start(self.now_(), ticks);
        self.arms += 1;
    }

    fn disarm(&mut self) {
        self.timer.cancel();
        self.disarms += 1;
    }

    fn wake(&mut self, w: Wake<'_>) {
        // Only the end of a blocked sender's message hands out its wake-up
        // (the wait object checks it is posted once).
        w.post();
    }

    fn count(&mut self, s: Stat) {
        self.counts.push(s);
        // A sender may wait for another's submission, which may end at
        // once (a send error).
        self.hw_cv.notify_all();
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
}

// SAFETY: the raw pointers inside (ring, waiters) are only used under the
// model mutex, which is what the port's critical section guarantees.
unsafe impl Send for Locked {}

pub struct Model {
    chan: Mutex<Locked>,
    hw_cv: Arc<Condvar>,
    clock: Arc<AtomicU64>,
    waits: std::sync::Arc<Waits>,
    rec: std::sync::Arc<StdMutex<Rec>>,
    /// Messages of blocking senders, kept until the model ends (a broken
    /// state machine that kept a message pointer would read a live box).
    /// Not loom state.
    #[allow(clippy::vec_box)]
    graveyard: StdMutex<Vec<Box<Payload>>>,
}

crate::loom_os!(Model, MutexGuard<'a, Locked>, |m| m.gated(m.chan.lock().unwrap()));

impl Chan for Model {
    type Os = Model;
    type Env<'c> = Env;
    type Callback = ();

    fn os(&self) -> &Model {
        self
    }

    fn with_state<R>(&self, g: &mut MutexGuard<'_, Locked>, f: impl FnOnce(&mut ChanState) -> R) -> R {
        f(&mut g.st)
    }

    fn with<R>(&self, g: &mut MutexGuard<'_, Locked>, f: impl FnOnce(&mut ChanState, &mut Env) -> R) -> R {
        let l = &mut **g;
        f(&mut l.st, &mut l.env)
    }

    /// No TX-done clients on this channel.
    fn txdone_of(&self, _g: &mut MutexGuard<'_, Locked>, c: &Completion) -> Option<()> {
        panic!("TX-done hand-out of {c:?} on a channel without clients")
    }

    fn call_txdone(&self, _cb: (), _c: &Completion) {}
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
        let hold_clock = clock.clone();
        let hw_cv = Arc::new(Condvar::new());
        let rec = std::sync::Arc::new(StdMutex::new(Rec::default()));
        let mut ring = vec![0u8; RING].into_boxed_slice();
        let mut st = ChanState::new();
        // SAFETY: the box stays in the locked state beside the channel for
        // the model's life, touched only through the channel.
        st.init(true, unsafe { Lent::new(ring.as_mut_ptr(), RING) }, MTU, CHAN_TIMEOUT);
        let env = Env {
            clock: clock.clone(),
            hw_cv: hw_cv.clone(),
            sent: Vec::new(),
            hw: None,
            hw_acked: false,
            remote_seen: Vec::new(),
            remote_acked: Vec::new(),
            send_results: results.iter().copied().collect(),
            timer: LoomTimer::default(),
            arms: 0,
            disarms: 0,
            last_finished: None,
            counts: Vec::new(),
            rec: rec.clone(),
            stop: false,
        };
        Arc::new(Model {
            chan: Mutex::new(Locked { st, env, _ring: ring }),
            hw_cv,
            clock,
            waits: Waits::new(hold_clock),
            rec,
            graveyard: StdMutex::new(Vec::new()),
        })
    }

    /// Enter the critical section.
    pub fn lock(&self) -> MutexGuard<'_, Locked> {
        self.chan.lock().unwrap()
    }

    /// The critical section `g` once this thread's gate (`os::set_gate`:
    /// a sender that must have submitted first) is open.
    fn gated<'a>(&'a self, mut g: MutexGuard<'a, Locked>) -> MutexGuard<'a, Locked> {
        if let Some(a) = os::take_gate() {
            while !self.rec.lock().unwrap().submitted.contains(&(a as u8)) {
                g = self.hw_cv.wait(g).unwrap();
            }
        }
        g
    }

    /// Enter the critical section once sender `after` (if any) has
    /// submitted (to force an order between senders).
    fn lock_after(&self, after: Option<u8>) -> MutexGuard<'_, Locked> {
        let mut g = self.lock();
        if let Some(a) = after {
            while !self.rec.lock().unwrap().submitted.contains(&a) {
                g = self.hw_cv.wait(g).unwrap();
            }
        }
        g
    }

    pub fn now(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    /// `mbox_ticksend(sender, msg, timeout)`: a non-blocking message is
    /// submitted as `capi.rs` does it (one critical section, no glue); a
    /// blocking one goes through the real `glue::send_blocking`, with the
    /// argument checks of `capi.rs` as its `accept` step.
    /// `after`: do not start before that sender has submitted.
    pub fn ticksend(&self, msg: Payload, timeout: Ticks, after: Option<u8>) -> MsgLog {
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
            self.rec.lock().unwrap().submitted.push(msg[0]);
            self.hw_cv.notify_all();
            return log;
        }
        // Blocking: the glue, whose first critical section (the
        // submission) waits for the gate. The message is boxed and kept
        // until the model ends.
        os::set_gate(after.map(usize::from));
        let buf = Box::new(msg);
        let data: &[u8] = &buf[..];
        // SAFETY: the box is moved into the graveyard below, never freed
        // before the model ends, so the slice outlives the call.
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(data.as_ptr(), data.len()) };
        let mut deadline = FOREVER;
        let r = glue::send_blocking(self, |st| {
            if !st.is_live() || !st.is_tx() {
                return Err(-EINVAL);
            }
            if data.len() > st.mtu() {
                return Err(-EMSGSIZE);
            }
            // The clock stands still inside a critical section: this is
            // the reading the glue takes for the deadline.
            deadline = ChanState::deadline_from(self.now(), timeout);
            let mut rec = self.rec.lock().unwrap();
            rec.deadlines.push((msg, deadline));
            rec.submitted.push(msg[0]);
            log.submitted = true;
            Ok((data, timeout))
        });
        if r == -ETIMEDOUT {
            assert!(self.now() >= deadline, "sender returned -ETIMEDOUT before its deadline");
        }
        self.graveyard.lock().unwrap().push(buf);
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
    pub fn clock(&self, watchdog: bool) {
        // Under the lock, so that time stands still inside a critical
        // section (the state machine reads it more than once per step).
        {
            let _g = self.lock();
            self.clock.store(LATE, SeqCst);
        }
        self.waits.tick_all();
        if watchdog {
            self.watchdog();
        }
    }

    /// The clock moves to `t` (no earlier than now), timed waits
    /// re-evaluate, and (if `watchdog`) the channel watchdog fires if its
    /// expiry has passed.
    pub fn advance_to(&self, t: Ticks, watchdog: bool) {
        {
            let _g = self.lock();
            assert!(t >= self.now());
            self.clock.store(t, SeqCst);
        }
        self.waits.tick_all();
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
        self.lock().env.timer.armed()
    }

    /// The port's timer thread: pops the expired timer under its own lock
    /// (here: the model lock, as disarm happens under the critical section
    /// too), then, in a separate step, runs the real expiry path
    /// (`glue::on_timer`), which takes the critical section. Between the
    /// two, the message may complete and the next one start (the expiry
    /// must not time out that one).
    pub fn watchdog(&self) {
        let fired = {
            let g = self.lock();
            g.env.timer.fire(self.now())
        };
        if fired {
            glue::on_timer(self);
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
        assert_eq!(self.waits.live.load(Relaxed), 0, "a sender left its wait object alive");
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
