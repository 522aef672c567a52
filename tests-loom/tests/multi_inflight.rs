//! Loom models of a channel with several messages in flight (`txdepth`
//! 2 or 3, docs/beyond.md §2, docs/concurrency.md items 7 and 8): the real
//! `ChanState` with `set_txdepth`, a hardware FIFO, a remote that ACKs by
//! token in FIFO order, blocked senders, the watchdog, and the TX-done
//! hand-out, all through the real glue (`mbox::upper::glue`). See tests/model/fifo.rs for what
//! is checked after every critical section and at the end.
//!
//! Each test runs with a preemption bound of 2 and at most four loom
//! threads, so that `cargo test -p mbox-loom --release` stays well under
//! a minute for all of them.

mod model;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::thread;
use mbox::os::FOREVER;
use mbox::upper::chan::Stat;
use mbox::upper::errno::*;

use model::fifo::*;
use model::*;

/// Remote gate: hold the first ACK back until `n` messages went out, so
/// that the model really has that many in flight at once.
fn sent_at_least<const N: usize>(l: &FLocked) -> bool {
    l.env.sent.len() >= N || !l.env.acks.is_empty()
}

/// (a) Three blocked senders on a depth-2 channel; the remote ACKs in FIFO
/// order by token from another thread, its first ACK held back until two
/// messages are in flight. Every sender gets its own result (a wake-up of
/// the wrong sender leaves one blocked: a loom deadlock), the wire order is
/// the submission order, never more than two are in flight (checked after
/// every critical section), and each message ends once.
#[test]
fn multi_inflight_fifo_acks_complete_in_order() {
    run(2, || {
        let m = FifoModel::new(2, &[]);
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([1, 0], FOREVER, 0))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([2, 0], FOREVER, 0))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(3, sent_at_least::<2>))
        };
        let r3 = m.send_blocking([3, 0], FOREVER, 0);
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        rem.join().unwrap();
        let sent = m.check();
        assert_eq!((r1, r2, r3), (0, 0, 0));
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|s| s.outcome == Some(Stat::Acked)));
        m.with(|l| {
            assert_eq!(l.env.max_inflight, 2, "two messages were never in flight at once");
            let acked: Vec<u32> = l.env.acks.iter().map(|a| a.token).collect();
            assert_eq!(acked, vec![0, 1, 2], "ACKs in FIFO order");
        });
    });
}

static B_LATE_ACK_REFUSED: AtomicUsize = AtomicUsize::new(0);
static B_ACK_FIRST: AtomicUsize = AtomicUsize::new(0);

/// (b) Depth 2: M1 (non-blocking, channel timeout 10) and M2 (blocked
/// sender, long timeout) in flight; the clock passes M1's deadline and the
/// watchdog fires while the remote ACKs both in FIFO order. An ACK that
/// arrives for M1 after it timed out completes nothing (-ESRCH while M2 is
/// in flight, -ENOENT if not yet), in particular not M2; M2's deadline
/// never passes, so it is never timed out by M1's watchdog and its sender
/// gets 0.
#[test]
fn multi_inflight_timeout_races_ack() {
    B_LATE_ACK_REFUSED.store(0, Relaxed);
    B_ACK_FIRST.store(0, Relaxed);
    run(2, || {
        let m = FifoModel::new(2, &[]);
        assert_eq!(m.send_nb([1, 0], 0, 0), 0);
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([2, 0], LONG, 1))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, always_fifo))
        };
        let clk = {
            let m = m.clone();
            thread::spawn(move || m.clock())
        };
        let r2 = s2.join().unwrap();
        clk.join().unwrap();
        rem.join().unwrap();
        let sent = m.check();
        assert_eq!(r2, 0, "M2 is unaffected by M1's timeout");
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].outcome, Some(Stat::Acked));
        m.with(|l| {
            let a1 = l.env.acks.iter().find(|a| a.token == 0).unwrap();
            match sent[0].outcome {
                Some(Stat::Timeout) => {
                    assert!(a1.result == -ESRCH || a1.result == -ENOENT, "{a1:?}");
                    B_LATE_ACK_REFUSED.fetch_add(1, Relaxed);
                }
                Some(Stat::Acked) => {
                    assert_eq!(a1.result, 0);
                    B_ACK_FIRST.fetch_add(1, Relaxed);
                }
                o => panic!("M1 ended as {o:?}"),
            }
        });
    });
    // Both sides of the race were explored.
    assert!(B_LATE_ACK_REFUSED.load(Relaxed) > 0, "no interleaving with M1 timed out before its ACK");
    assert!(B_ACK_FIRST.load(Relaxed) > 0, "no interleaving with M1 ACKed in time");
}

fn always_fifo(_: &FLocked) -> bool {
    true
}

/// (b') Depth 2: the oldest message belongs to a blocked sender whose own
/// deadline passes (its timed wait runs out and it takes the message back
/// with `waiter_timeout`) while the watchdog fires and the remote ACKs.
/// Whatever wins, the sender gets its own message's result, the ACK of
/// an ended message completes nothing, and the message behind it (in
/// flight at the same time) is ACKed normally.
#[test]
fn multi_inflight_waiter_timeout_races_ack() {
    run(2, || {
        let m = FifoModel::new(2, &[]);
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([1, 0], CHAN_TIMEOUT, 0))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([2, 0], LONG, 1))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, always_fifo))
        };
        m.clock();
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        rem.join().unwrap();
        let sent = m.check();
        let want1 = match sent[0].outcome {
            Some(Stat::Acked) => 0,
            Some(Stat::Timeout) => -ETIMEDOUT,
            o => panic!("M1 ended as {o:?}"),
        };
        assert_eq!(r1, want1, "sender 1 got another message's result");
        assert_eq!(r2, 0);
        assert_eq!(sent[1].outcome, Some(Stat::Acked));
    });
}

/// (c) TX-done callbacks with two contexts draining: a task submits three
/// non-blocking messages of two clients on a depth-2 channel (the third
/// waits in the ring until a slot is handed out), and an "interrupt" thread
/// ACKs in FIFO order; each runs the glue's hand-out after its
/// operation. Every accepted message is handed out exactly once, in token
/// order, with its own client and result, callbacks never overlap, and no
/// hand-out is lost when the other context holds the claim (a lost one
/// would keep the third message from ever going out: a loom deadlock; and
/// check() finds nothing left to hand out).
#[test]
fn multi_inflight_txdone_callbacks_in_order() {
    run(3, || {
        let m = FifoModel::new(2, &[]);
        let isr = {
            let m = m.clone();
            thread::spawn(move || m.remote(3, always_fifo))
        };
        let clients = [0x11usize, 0x22, 0x11];
        let rs: Vec<i32> = (0..3u8).map(|i| m.send_nb([i + 1, 0], clients[i as usize], 0)).collect();
        isr.join().unwrap();
        m.check();
        assert_eq!(rs, vec![0, 0, 0]);
        let want: Vec<Handout> = (0..3).map(|i| Handout { client: clients[i], token: i as u32, result: 0 }).collect();
        assert_eq!(m.handouts(), want);
    });
}

/// (c') Depth 2 with a lower-half send error on the queued client message
/// (it takes a slot as Done so that its callback keeps its place) and a
/// message without a client in between: callbacks still come once each,
/// in token order, the failed one with the send error.
#[test]
fn multi_inflight_txdone_send_error_keeps_order() {
    run(3, || {
        let m = FifoModel::new(2, &[0, 0, -EIO]);
        let isr = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, always_fifo))
        };
        let r = [m.send_nb([1, 0], 0x11, 0), m.send_nb([2, 0], 0, 0), m.send_nb([3, 0], 0x22, 0)];
        isr.join().unwrap();
        m.check();
        // The third send fails when it goes out: at once (-EIO to the
        // caller, no callback) if a slot was free, else from the ring
        // (accepted, callback with -EIO).
        assert_eq!(&r[..2], &[0, 0]);
        let mut want = vec![Handout { client: 0x11, token: 0, result: 0 }];
        if r[2] == 0 {
            want.push(Handout { client: 0x22, token: 2, result: -EIO });
        } else {
            assert_eq!(r[2], -EIO);
        }
        assert_eq!(m.handouts(), want);
    });
}

/// Several TX messages in flight: a depth-3
/// channel with two blocked senders and two non-blocking messages from a
/// third; the remote holds its first ACK back until three are in flight.
/// Never more than three in flight, all three slots used at once, the
/// wire order is the submission order, every message is ACKed once in
/// FIFO order and each blocked sender gets its own result.
#[test]
fn several_in_flight_wire_order_fifo_acks_own_results() {
    run(2, || {
        let m = FifoModel::new(3, &[]);
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([1, 0], FOREVER, 0))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.send_blocking([2, 0], FOREVER, 0))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(4, sent_at_least::<3>))
        };
        let r3 = [m.send_nb([3, 0], 0, 0), m.send_nb([3, 1], 0, 0)];
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        rem.join().unwrap();
        let sent = m.check();
        assert_eq!((r1, r2, r3), (0, 0, [0, 0]));
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|s| s.outcome == Some(Stat::Acked)));
        let p3: Vec<_> = sent.iter().filter(|s| s.payload[0] == 3).map(|s| s.payload[1]).collect();
        assert_eq!(p3, vec![0, 1], "per-sender order");
        m.with(|l| assert_eq!(l.env.max_inflight, 3, "three messages were never in flight at once"));
    });
}

/// Teardown waits for a hand-out that another context has claimed: the
/// remote's ACK ends a message with a TX-done client and hands it out
/// (outside the lock) while a task tears the channel down. When the
/// teardown's hand-out (`glue::hand_out_rest`) returns, the callback has
/// run exactly once (ACKed or cancelled), and no callback runs after it.
#[test]
fn deinit_waits_for_a_hand_out_another_context_began() {
    run(3, || {
        let m = FifoModel::new(2, &[]);
        assert_eq!(m.send_nb([1, 0], 0x11, 0), 0);
        let isr = {
            let m = m.clone();
            thread::spawn(move || m.remote(1, always_fifo))
        };
        m.deinit();
        let at_return = m.handouts();
        assert_eq!(at_return.len(), 1, "deinit returned before the callback ran: {at_return:?}");
        assert!(at_return[0].result == 0 || at_return[0].result == -ECANCELED, "{at_return:?}");
        m.stop();
        isr.join().unwrap();
        assert_eq!(m.handouts(), at_return, "a TX-done callback ran after deinit returned");
    });
}
