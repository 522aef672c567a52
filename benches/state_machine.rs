//! Micro-benchmark of the pure channel state machine (`mbox::upper::chan`), with
//! a plain harness (no criterion): `ChanState` driven directly with a
//! trivial `ChanEnv`, as `src/upper/chan/tests.rs` does, so no C, no lock and no
//! OS call is timed, only the state machine and the ring.
//!
//!     cargo bench --bench state_machine --features host-port
//!
//! (`host-port` only links the port symbols the crate references.) Each
//! case runs a calibrated number of operations per sample, 15 samples after
//! a warm-up, and prints one line per case:
//!
//!     bench: <case> ns_per_op=<median> min=<fastest sample> ops=<per sample>
//!
//! `make bench` (bench/run.py) parses those lines into BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mbox::os::{ReadyWait, Ticks};
use mbox::upper::chan::{ChanEnv, ChanState, Frame, Stat, Submit, Wake};
use mbox::upper::lent::Lent;

/// The wait object of the measured blocked sender, which never sleeps.
struct NoWait;

impl ReadyWait for NoWait {
    fn wait_until(&self, _deadline: Ticks) -> i32 {
        0
    }
    #[inline(never)]
    fn post(&self) {
        black_box(self);
    }
}

/// The cheapest environment: a clock that stands still, a lower half that
/// accepts every message and always shows the ACK, counters in an array.
struct Env {
    now: Ticks,
    sent: u64,
    last_token: u32,
    armed: Ticks,
    counts: [u64; 16],
    max_queued: usize,
}

impl Env {
    fn new() -> Env {
        Env { now: 1000, sent: 0, last_token: 0, armed: 0, counts: [0; 16], max_queued: 0 }
    }
}

impl ChanEnv for Env {
    #[inline(never)]
    fn now(&self) -> Ticks {
        black_box(self.now)
    }
    #[inline(never)]
    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        black_box(data);
        self.last_token = token;
        self.sent += 1;
        0
    }
    #[inline(never)]
    fn txfinish(&mut self, _token: u32) {
        black_box(&mut self.sent);
    }
    #[inline(never)]
    fn txacked(&mut self) -> bool {
        true
    }
    #[inline(never)]
    fn arm(&mut self, ticks: Ticks) {
        self.armed = self.now + ticks;
    }
    #[inline(never)]
    fn disarm(&mut self) {
        self.armed = 0;
    }
    #[inline(never)]
    fn wake(&mut self, w: Wake<'_>) {
        w.post();
    }
    #[inline(never)]
    fn count(&mut self, s: Stat) {
        self.counts[s as usize] += 1;
    }
    #[inline(never)]
    fn queued(&mut self, depth: usize) {
        if depth > self.max_queued {
            self.max_queued = depth;
        }
    }
}

const MSG: [u8; 24] = [0x5a; 24];
/// Messages queued, then drained, per round of the queue case.
const DEPTH: usize = 16;

/// A TX channel over `ring` (MTU 24, timeout 100 ticks), which it keeps.
fn tx_chan(ring: &'static mut [u8]) -> ChanState {
    let mut st = ChanState::new();
    st.init(true, Lent::from_static(ring), 24, 100);
    st
}

/// Times `f(n)` (which performs `n` operations) and returns ns per op of
/// each sample.
fn measure(name: &str, mut f: impl FnMut(u64)) {
    // Calibrate: about 20 ms per sample.
    let mut n: u64 = 1000;
    loop {
        let t = Instant::now();
        f(n);
        let e = t.elapsed();
        if e >= Duration::from_millis(20) || n >= 1 << 30 {
            break;
        }
        let scale = (Duration::from_millis(25).as_nanos() as f64 / e.as_nanos().max(1) as f64).clamp(1.5, 100.0);
        n = (n as f64 * scale) as u64;
    }
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            f(n);
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("bench: {name} ns_per_op={:.2} min={:.2} ops={n}", samples[samples.len() / 2], samples[0]);
}

fn main() {
    println!("state_machine: mbox::upper::chan::ChanState with a trivial ChanEnv, {}-byte messages", MSG.len());
    // RAM of the framework-private parts (not in the C headers).
    println!("size: ChanState {}", std::mem::size_of::<ChanState>());
    println!("size: Waiter {}", std::mem::size_of::<mbox::upper::waiters::Waiter>());

    // 1. Non-blocking send on an idle channel (goes out at once) and its
    //    ACK: one op = submit_nb + tx_done.
    {
        let mut st = tx_chan(vec![0u8; 4096].leak());
        let mut env = Env::new();
        measure("submit_nb+tx_done", |n| {
            for _ in 0..n {
                let r = st.submit_nb(&mut env, black_box(&MSG));
                debug_assert_eq!(r, 0);
                let token = Some(env.last_token);
                let r = st.tx_done(&mut env, black_box(token));
                debug_assert_eq!(r, 0);
            }
        });
        assert_eq!(env.counts[Stat::Acked as usize], env.sent);
    }

    // 2. Queue + drain: one message in flight, DEPTH more queued into the
    //    ring, then DEPTH ACKs, each ending one message and starting the
    //    next from the ring. One op = one queued message (its submit_nb
    //    that copies it into the ring plus the tx_done that drains it).
    {
        let mut st = tx_chan(vec![0u8; 4096].leak());
        let mut env = Env::new();
        assert_eq!(st.submit_nb(&mut env, &MSG), 0);
        measure("queue+drain", |n| {
            let rounds = n.div_ceil(DEPTH as u64);
            for _ in 0..rounds {
                for _ in 0..DEPTH {
                    let r = st.submit_nb(&mut env, black_box(&MSG));
                    debug_assert_eq!(r, 0);
                }
                for _ in 0..DEPTH {
                    let token = Some(env.last_token);
                    let r = st.tx_done(&mut env, black_box(token));
                    debug_assert_eq!(r, 0);
                }
            }
        });
        assert_eq!(st.queued(), 0);
        assert_eq!(env.max_queued, DEPTH);
    }

    // 3. Case 2 split in its two halves, each timed on its own per round
    //    of DEPTH messages: the submit_nb that copies a message into the
    //    ring, and the tx_done that ends one and starts the next from the
    //    ring. (Two clock reads per half-round, about 1-2 ns per op, are
    //    included.)
    {
        let mut st = tx_chan(vec![0u8; 4096].leak());
        let mut env = Env::new();
        assert_eq!(st.submit_nb(&mut env, &MSG), 0);
        let mut queued_ns = Vec::new();
        let mut drained_ns = Vec::new();
        let rounds = 20_000u64;
        for _ in 0..15 {
            let mut q = Duration::ZERO;
            let mut d = Duration::ZERO;
            for _ in 0..rounds {
                let t = Instant::now();
                for _ in 0..DEPTH {
                    black_box(st.submit_nb(&mut env, black_box(&MSG)));
                }
                let t2 = Instant::now();
                for _ in 0..DEPTH {
                    let token = Some(env.last_token);
                    black_box(st.tx_done(&mut env, black_box(token)));
                }
                let t3 = Instant::now();
                q += t2 - t;
                d += t3 - t2;
            }
            let ops = (rounds * DEPTH as u64) as f64;
            queued_ns.push(q.as_nanos() as f64 / ops);
            drained_ns.push(d.as_nanos() as f64 / ops);
        }
        for (name, mut v) in [("submit_nb_queues", queued_ns), ("tx_done_drains_one", drained_ns)] {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("bench: {name} ns_per_op={:.2} min={:.2} ops={}", v[v.len() / 2], v[0], rounds * DEPTH as u64);
        }
    }

    // 4. Blocking submit on an idle channel and its ACK (the waiter lives
    //    on the stack, as in mbox_ticksend()): one op = submit_blocking +
    //    tx_done, which marks the waiter Done.
    {
        let mut st = tx_chan(vec![0u8; 64].leak());
        let mut env = Env::new();
        measure("submit_blocking+tx_done", |n| {
            for _ in 0..n {
                Frame::scope(&NoWait, |once| {
                    let w = once.frame();
                    let s = st.submit_blocking(&mut env, once.submit(black_box(&MSG), 2000));
                    debug_assert_eq!(s, Submit::Pending);
                    let token = Some(env.last_token);
                    let r = st.tx_done(&mut env, black_box(token));
                    debug_assert_eq!(r, 0);
                    black_box(w.result());
                });
            }
        });
    }
}
