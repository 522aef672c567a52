//! Loom interleavings of the request/response helper (src/rr.rs): the
//! real matching type `mbox::rr::Pending` behind one loom mutex standing
//! for the port's critical section, with the protocol of
//! `mbox_rr_request()` (link before send, wait on an own wait object,
//! decide by the record's state under the lock, take the record back at
//! the deadline) and of the RX trampoline (match, copy and post under the
//! lock, otherwise unsolicited) replayed step by step.
//!
//! Wake-ups are checked through a side table: a record may be posted only
//! while its requester is still registered (has not returned), once; a
//! lost wake-up shows up as a loom deadlock.
//!
//! Run with `cargo test -p mbox-loom --release`.

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use loom::thread;

use mbox::errno::*;
use mbox::os::{Ticks, FOREVER};
use mbox::rr::{Pending, RecState, Record};

/// The clock thread's single step: from 0 to LATE.
const LATE: Ticks = 100;
/// A request deadline that LATE passes.
const SHORT: Ticks = 10;

/// The per-requester wait object (`mbox_os_wait_s`: a binary semaphore
/// for one waiter with a timed wait on the model clock).
struct WaitObj {
    posted: Mutex<bool>,
    cv: Condvar,
}

impl WaitObj {
    fn new() -> Arc<WaitObj> {
        Arc::new(WaitObj { posted: Mutex::new(false), cv: Condvar::new() })
    }

    fn post(&self) {
        *self.posted.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// 0 when posted (consuming the post), -ETIMEDOUT once the clock
    /// reached `deadline`.
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

/// A requester's stack frame: reply buffer and record.
struct Frame {
    buf: [u8; 4],
    rec: Record,
}

/// Everything under the critical section.
struct Locked {
    live: bool,
    pending: Pending,
    /// Requests on the wire: (tag, id), in send order.
    wire: Vec<(u32, u8)>,
    /// Messages that answered nothing.
    unsolicited: Vec<Vec<u8>>,
    /// Messages dropped because the helper was being torn down.
    dropped: Vec<Vec<u8>>,
    /// Record address -> (its requester's wait object, posts so far).
    table: Vec<(usize, Arc<WaitObj>, u32)>,
    /// Frames of requesters that returned, kept so that a broken helper
    /// that still points to one is caught by the table, not by a crash.
    /// Boxed: the records must not move when the vector grows.
    #[allow(clippy::vec_box)]
    graveyard: Vec<Box<Frame>>,
}

// SAFETY: the raw pointers inside (pending records) are used only under
// the model mutex, which is what the port's critical section guarantees.
unsafe impl Send for Locked {}

impl Locked {
    /// `rec.os.post()` for a record the helper just finished.
    fn wake(table: &mut [(usize, Arc<WaitObj>, u32)], rec: &mut Record) {
        assert_eq!(rec.state(), RecState::Done, "woken before Done");
        let addr = rec as *mut Record as usize;
        let e = table.iter_mut().find(|e| e.0 == addr).expect("wake of a record whose requester has returned");
        assert_eq!(e.2, 0, "record woken twice");
        e.2 += 1;
        e.1.post();
    }
}

struct Model {
    st: Mutex<Locked>,
    cv: Condvar,
    clock: AtomicU64,
}

/// What a requester got.
#[derive(Debug, Clone, Copy)]
struct Got {
    result: i32,
    reply: [u8; 4],
    len: usize,
}

impl Model {
    fn new() -> Arc<Model> {
        Arc::new(Model {
            st: Mutex::new(Locked {
                live: true,
                pending: Pending::new(),
                wire: Vec::new(),
                unsolicited: Vec::new(),
                dropped: Vec::new(),
                table: Vec::new(),
                graveyard: Vec::new(),
            }),
            cv: Condvar::new(),
            clock: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.st.lock().unwrap()
    }

    /// `mbox_rr_request()` as src/rr.rs does it, with a send that succeeds
    /// (the request goes on the wire) and `timeout` ticks from time 0.
    fn request(&self, obj: &Arc<WaitObj>, tag: u32, id: u8, timeout: Ticks) -> Got {
        let deadline = if timeout == FOREVER { FOREVER } else { timeout };
        let mut f = Box::new(Frame { buf: [0; 4], rec: Record::new(None, &mut []) });
        f.rec = Record::new(Some(tag), &mut f.buf);
        {
            let mut g = self.lock();
            let l = &mut *g;
            if !l.live {
                return Got { result: -EINVAL, reply: [0; 4], len: 0 };
            }
            // SAFETY: the frame is boxed and ends in the graveyard, so the
            // record and its buffer never move or go away.
            unsafe { l.pending.insert(&mut f.rec) }.expect("distinct tags");
            l.table.push((&mut f.rec as *mut Record as usize, obj.clone(), 0));
        }
        {
            // mbox_ticksend(): the request reaches the remote.
            let mut g = self.lock();
            g.wire.push((tag, id));
            self.cv.notify_all();
        }
        let result = loop {
            let timed_out = obj.wait(&self.clock, deadline) < 0;
            let mut g = self.lock();
            let l = &mut *g;
            if f.rec.state() == RecState::Done {
                break f.rec.result();
            }
            if timed_out && self.clock.load(SeqCst) >= deadline {
                assert!(l.pending.remove(&mut f.rec), "a waiting record must be pending");
                break -ETIMEDOUT;
            }
        };
        let got = Got { result, reply: f.buf, len: f.rec.reply_len() };
        let mut g = self.lock();
        let addr = &mut f.rec as *mut Record as usize;
        let i = g.table.iter().position(|e| e.0 == addr).unwrap();
        g.table.swap_remove(i);
        assert!(
            g.pending.match_reply(Some(tag)).is_none_or(|r| r as *mut Record as usize != addr),
            "requester returned with its record still pending"
        );
        g.graveyard.push(f);
        got
    }

    /// Wait until `n` requests are on the wire; returns them.
    fn wire(&self, n: usize) -> Vec<(u32, u8)> {
        let mut g = self.lock();
        while g.wire.len() < n {
            g = self.cv.wait(g).unwrap();
        }
        g.wire.clone()
    }

    /// The RX trampoline for the message `[tag, id]`: match, copy and
    /// post under the lock; otherwise unsolicited (or dropped when the
    /// helper is being torn down).
    fn rx(&self, tag: u32, id: u8) {
        let msg = [tag as u8, b'r', id];
        let mut g = self.lock();
        let l = &mut *g;
        if !l.live {
            l.dropped.push(msg.to_vec());
            return;
        }
        match l.pending.complete(Some(tag), &msg) {
            Some(rec) => Locked::wake(&mut l.table, rec),
            None => {
                drop(g);
                // Outside the lock in src/rr.rs; recorded under it here.
                self.lock().unsolicited.push(msg.to_vec());
            }
        }
    }

    /// `mbox_rr_deinit()`: cancel everything pending.
    fn deinit(&self) -> usize {
        let mut g = self.lock();
        let l = &mut *g;
        l.live = false;
        let table = &mut l.table;
        l.pending.cancel_all(-ECANCELED, |r| Locked::wake(table, r))
    }

    /// The clock jumps past SHORT deadlines; timed waits re-evaluate.
    fn advance(&self, objs: &[Arc<WaitObj>]) {
        {
            let _g = self.lock();
            self.clock.store(LATE, SeqCst);
        }
        for o in objs {
            o.tick();
        }
    }
}

fn run<F>(bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}

/// Replies matched by tag: two requests with different tags are pending
/// at once and the remote answers them in reverse order; each requester
/// gets exactly its own reply, nothing is unsolicited.
#[test]
fn rr_reply_matches_its_request_in_any_answer_order() {
    run(3, || {
        let m = Model::new();
        let (o1, o2) = (WaitObj::new(), WaitObj::new());
        let t1 = {
            let (m, o) = (m.clone(), o1.clone());
            thread::spawn(move || m.request(&o, 1, b'a', FOREVER))
        };
        let t2 = {
            let (m, o) = (m.clone(), o2.clone());
            thread::spawn(move || m.request(&o, 2, b'b', FOREVER))
        };
        let rx = {
            let m = m.clone();
            thread::spawn(move || {
                let mut w = m.wire(2);
                w.reverse();
                for (tag, id) in w {
                    m.rx(tag, id);
                }
            })
        };
        let (g1, g2) = (t1.join().unwrap(), t2.join().unwrap());
        rx.join().unwrap();
        assert_eq!((g1.result, g1.len, &g1.reply[..3]), (0, 3, &[1, b'r', b'a'][..]));
        assert_eq!((g2.result, g2.len, &g2.reply[..3]), (0, 3, &[2, b'r', b'b'][..]));
        let l = m.lock();
        assert!(l.unsolicited.is_empty(), "{:?}", l.unsolicited);
        assert!(l.pending.is_empty() && l.table.is_empty());
    });
}

/// A requester whose deadline passes races its reply: it either gets the
/// reply (and nothing is unsolicited) or returns -ETIMEDOUT at or after
/// its deadline and the reply goes unsolicited. Never both, never lost.
#[test]
fn rr_timeout_races_reply_never_both_never_lost() {
    run(3, || {
        let m = Model::new();
        let o = WaitObj::new();
        let t = {
            let (m, o) = (m.clone(), o.clone());
            thread::spawn(move || m.request(&o, 7, b'x', SHORT))
        };
        let rx = {
            let m = m.clone();
            thread::spawn(move || {
                let w = m.wire(1);
                m.rx(w[0].0, w[0].1);
            })
        };
        m.advance(&[o]);
        let got = t.join().unwrap();
        rx.join().unwrap();
        let l = m.lock();
        match got.result {
            0 => {
                assert_eq!(&got.reply[..3], &[7, b'r', b'x']);
                assert!(l.unsolicited.is_empty(), "reply delivered twice");
            }
            r if r == -ETIMEDOUT => {
                assert!(m.clock.load(SeqCst) >= SHORT, "timed out early");
                assert_eq!(got.reply, [0; 4], "a timed-out request's buffer was written");
                assert_eq!(l.unsolicited, vec![vec![7, b'r', b'x']], "reply lost");
            }
            r => panic!("unexpected result {r}"),
        }
        assert!(l.pending.is_empty() && l.table.is_empty());
    });
}

/// Deinit races a reply and a second requester's timeout: each request
/// ends exactly once (its reply, -ECANCELED, or -ETIMEDOUT), every woken
/// requester was still waiting, and a reply is delivered at most once.
#[test]
fn rr_deinit_races_reply_and_timeout() {
    run(2, || {
        let m = Model::new();
        let (o1, o2) = (WaitObj::new(), WaitObj::new());
        let t1 = {
            let (m, o) = (m.clone(), o1.clone());
            thread::spawn(move || m.request(&o, 1, b'a', FOREVER))
        };
        let t2 = {
            let (m, o) = (m.clone(), o2.clone());
            thread::spawn(move || m.request(&o, 2, b'b', SHORT))
        };
        let rx = {
            let m = m.clone();
            thread::spawn(move || {
                let w = m.wire(1);
                m.rx(w[0].0, w[0].1);
            })
        };
        m.advance(&[o1, o2]);
        // Both requests are out (linked before sent), then deinit.
        m.wire(2);
        let cancelled = m.deinit();
        let (g1, g2) = (t1.join().unwrap(), t2.join().unwrap());
        rx.join().unwrap();
        let l = m.lock();
        assert!(l.pending.is_empty() && l.table.is_empty());
        assert!(cancelled <= 2);
        assert!(g1.result == 0 || g1.result == -ECANCELED, "{g1:?}");
        assert!([0, -ECANCELED, -ETIMEDOUT].contains(&g2.result), "{g2:?}");
        let n_cancelled = [g1, g2].iter().filter(|g| g.result == -ECANCELED).count();
        assert_eq!(n_cancelled, cancelled, "every cancelled request heard it, once");
        // The one reply sent went to exactly one place.
        let delivered = [g1, g2].iter().filter(|g| g.result == 0).count();
        assert_eq!(delivered + l.unsolicited.len() + l.dropped.len(), 1);
    });
}
