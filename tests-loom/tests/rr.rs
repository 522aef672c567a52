//! Loom interleavings of the request/response helper (src/rr.rs): the
//! real protocol — `mbox::rr::request` (link before send, wait on the
//! requester's own wait object, decide by the record's state under the
//! lock, take the record back at the deadline), `mbox::rr::deliver`
//! (match, copy and post under the lock, otherwise unsolicited) and
//! `mbox::rr::cancel` (teardown) — over a loom `Os` whose critical
//! section is one loom mutex, with the loom wait objects of
//! `model/os.rs`.
//!
//! A wait object checks that it is posted at most once and only while
//! initialised (its requester has not returned); every requester must
//! destroy its own; a lost wake-up shows up as a loom deadlock.
//!
//! Run with `cargo test -p mbox-loom --release`.

mod model;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc as StdArc;

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use loom::thread;

use mbox::os::{Ticks, FOREVER};
use mbox::rr::{self, Delivery, Pending, Rr};
use mbox::upper::errno::*;

use model::os::Waits;

/// The clock thread's single step: from 0 to LATE.
const LATE: Ticks = 100;
/// A request timeout that LATE passes.
const SHORT: Ticks = 10;

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
}

// SAFETY: the raw pointers inside (pending records) are used only under
// the model mutex, which is what the port's critical section guarantees.
unsafe impl Send for Locked {}

/// One helper: its state behind the loom mutex, the clock, and the wait
/// objects its OS made.
struct Helper {
    st: Mutex<Locked>,
    cv: Condvar,
    clock: Arc<AtomicU64>,
    waits: StdArc<Waits>,
}

crate::loom_os!(Helper, MutexGuard<'a, Locked>, |h| h.st.lock().unwrap());

// SAFETY: `pending` stays in the helper's mutex and is reached only
// through `Rr::pending`.
unsafe impl Rr for Helper {
    type Os = Helper;

    fn os(&self) -> &Helper {
        self
    }

    fn live(&self, g: &mut MutexGuard<'_, Locked>) -> bool {
        g.live
    }

    fn pending<'g>(&'g self, g: &'g mut MutexGuard<'_, Locked>) -> &'g Pending {
        &g.pending
    }

    fn end_live(&self, g: &mut MutexGuard<'_, Locked>) {
        g.live = false;
    }
}

/// What a requester got.
#[derive(Debug, Clone, Copy)]
struct Got {
    result: i32,
    reply: [u8; 4],
    len: usize,
}

impl Helper {
    fn new() -> Arc<Helper> {
        let clock = Arc::new(AtomicU64::new(0));
        Arc::new(Helper {
            st: Mutex::new(Locked {
                live: true,
                pending: Pending::new(),
                wire: Vec::new(),
                unsolicited: Vec::new(),
                dropped: Vec::new(),
            }),
            cv: Condvar::new(),
            waits: Waits::new(clock.clone()),
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.st.lock().unwrap()
    }

    fn now(&self) -> Ticks {
        self.clock.load(SeqCst)
    }

    /// `mbox_rr_request()`: the real `rr::request` with tag `tag`,
    /// `timeout` ticks, and a send that succeeds (the request `id` goes
    /// on the wire).
    fn request(&self, tag: u32, id: u8, timeout: Ticks) -> Got {
        let start = self.now();
        let mut reply = [0u8; 4];
        let (result, len) = rr::request(self, Some(tag), &mut reply, timeout, |_left| {
            let mut g = self.lock();
            g.wire.push((tag, id));
            self.cv.notify_all();
            0
        });
        if result == -ETIMEDOUT {
            // Its deadline is at least `timeout` after `start`.
            assert!(timeout != FOREVER && self.now() >= start + timeout, "timed out before its deadline");
        }
        Got { result, reply, len }
    }

    /// Wait until `n` requests are on the wire; returns them.
    fn wire(&self, n: usize) -> Vec<(u32, u8)> {
        let mut g = self.lock();
        while g.wire.len() < n {
            g = self.cv.wait(g).unwrap();
        }
        g.wire.clone()
    }

    /// The RX callback for the message `[tag, 'r', id]`: the real
    /// `rr::deliver`; what answers nothing is recorded as unsolicited (or
    /// dropped when the helper is being torn down).
    fn rx(&self, tag: u32, id: u8) {
        let msg = [tag as u8, b'r', id];
        match rr::deliver(self, Some(tag), &msg) {
            Delivery::Matched => {}
            Delivery::Unsolicited => self.lock().unsolicited.push(msg.to_vec()),
            Delivery::Dropped => self.lock().dropped.push(msg.to_vec()),
        }
    }

    /// `mbox_rr_deinit()`: the real `rr::cancel`.
    fn deinit(&self) -> usize {
        let mut g = self.lock();
        rr::cancel(self, &mut g, -ECANCELED).expect("live helper")
    }

    /// The clock jumps past SHORT deadlines; timed waits re-evaluate.
    fn advance(&self) {
        {
            let _g = self.lock();
            self.clock.store(LATE, SeqCst);
        }
        self.waits.tick_all();
    }

    /// After every thread has joined: nothing pending, every wait object
    /// destroyed by its requester.
    fn check_idle(&self) {
        assert!(self.lock().pending.is_empty(), "a record is still pending");
        assert_eq!(self.waits.live.load(Relaxed), 0, "a requester left its wait object alive");
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
        let h = Helper::new();
        let t1 = {
            let h = h.clone();
            thread::spawn(move || h.request(1, b'a', FOREVER))
        };
        let t2 = {
            let h = h.clone();
            thread::spawn(move || h.request(2, b'b', FOREVER))
        };
        let rx = {
            let h = h.clone();
            thread::spawn(move || {
                let mut w = h.wire(2);
                w.reverse();
                for (tag, id) in w {
                    h.rx(tag, id);
                }
            })
        };
        let (g1, g2) = (t1.join().unwrap(), t2.join().unwrap());
        rx.join().unwrap();
        assert_eq!((g1.result, g1.len, &g1.reply[..3]), (0, 3, &[1, b'r', b'a'][..]));
        assert_eq!((g2.result, g2.len, &g2.reply[..3]), (0, 3, &[2, b'r', b'b'][..]));
        let unsolicited = h.lock().unsolicited.clone();
        assert!(unsolicited.is_empty(), "{unsolicited:?}");
        h.check_idle();
    });
}

/// A requester whose deadline passes races its reply: it either gets the
/// reply (and nothing is unsolicited) or returns -ETIMEDOUT at or after
/// its deadline and the reply goes unsolicited. Never both, never lost.
#[test]
fn rr_timeout_races_reply_never_both_never_lost() {
    run(3, || {
        let h = Helper::new();
        let t = {
            let h = h.clone();
            thread::spawn(move || h.request(7, b'x', SHORT))
        };
        let rx = {
            let h = h.clone();
            thread::spawn(move || {
                let w = h.wire(1);
                h.rx(w[0].0, w[0].1);
            })
        };
        h.advance();
        let got = t.join().unwrap();
        rx.join().unwrap();
        let unsolicited = h.lock().unsolicited.clone();
        match got.result {
            0 => {
                assert_eq!(&got.reply[..3], &[7, b'r', b'x']);
                assert!(unsolicited.is_empty(), "reply delivered twice");
            }
            r if r == -ETIMEDOUT => {
                assert_eq!(got.reply, [0; 4], "a timed-out request's buffer was written");
                assert_eq!(unsolicited, vec![vec![7, b'r', b'x']], "reply lost");
            }
            r => panic!("unexpected result {r}"),
        }
        h.check_idle();
    });
}

/// Deinit races a reply and a second requester's timeout: each request
/// ends exactly once (its reply, -ECANCELED, or -ETIMEDOUT), every woken
/// requester was still waiting, and a reply is delivered at most once.
#[test]
fn rr_deinit_races_reply_and_timeout() {
    run(2, || {
        let h = Helper::new();
        let t1 = {
            let h = h.clone();
            thread::spawn(move || h.request(1, b'a', FOREVER))
        };
        let t2 = {
            let h = h.clone();
            thread::spawn(move || h.request(2, b'b', SHORT))
        };
        let rx = {
            let h = h.clone();
            thread::spawn(move || {
                let w = h.wire(1);
                h.rx(w[0].0, w[0].1);
            })
        };
        h.advance();
        // Both requests are out (linked before sent), then deinit.
        h.wire(2);
        let cancelled = h.deinit();
        let (g1, g2) = (t1.join().unwrap(), t2.join().unwrap());
        rx.join().unwrap();
        h.check_idle();
        assert!(cancelled <= 2);
        assert!(g1.result == 0 || g1.result == -ECANCELED, "{g1:?}");
        assert!([0, -ECANCELED, -ETIMEDOUT].contains(&g2.result), "{g2:?}");
        let n_cancelled = [g1, g2].iter().filter(|g| g.result == -ECANCELED).count();
        assert_eq!(n_cancelled, cancelled, "every cancelled request heard it, once");
        // The one reply sent went to exactly one place.
        let l = h.lock();
        let delivered = [g1, g2].iter().filter(|g| g.result == 0).count();
        assert_eq!(delivered + l.unsolicited.len() + l.dropped.len(), 1);
    });
}
