//! Loom interleaving tests of the channel state machine and the blocking
//! send protocol (see tests/model/mod.rs and docs/concurrency.md).
//!
//! Each test spawns at most four loom threads besides the main one and
//! runs with a preemption bound of 2 or 3, so that it finishes in well
//! under a minute in `cargo test -p mbox-loom --release`.

mod model;

use loom::thread;
use mbox::os::FOREVER;
use mbox::upper::chan::Stat;
use mbox::upper::errno::*;

use model::*;

/// Two blocked senders: T1 enqueues M1, T2 enqueues M2, M1 is submitted,
/// both wait; the completion of M1 must wake T1 (not T2, the first thread
/// that happens to sleep), and each gets its own result. In libmbox T1's
/// submit on the idle channel both enqueues and submits M1; T2 starts only
/// after that and is parked behind it; the remote's first ACK is held back
/// until M2 is queued, so that both senders are (about to be) waiting when
/// M1 completes. Loom explores where exactly the ACKs land relative to the
/// two waits. Both wait forever: a wake-up that went to the wrong thread
/// would leave T1 blocked for good, which loom reports as a deadlock.
#[test]
fn two_blocked_senders_each_woken_by_their_own_message() {
    run(3, || {
        let m = Model::new();
        let t1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], FOREVER, None))
        };
        let t2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], FOREVER, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || {
                m.remote(2, Ack::Immediate, true, |l| !l.env.remote_seen.is_empty() || l.st.queued() >= 1)
            })
        };
        let r1 = t1.join().unwrap();
        let r2 = t2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2]);
        assert_eq!(r1.result, 0);
        assert_eq!(r2.result, 0);
        assert_eq!(sent.iter().map(|s| s.payload).collect::<Vec<_>>(), vec![[1, 0], [2, 0]]);
    });
}

/// Two blocked senders again, with bounded waits: T1's deadline passes (the clock
/// jumps past it and fires the watchdog) while T2 waits behind it with a
/// long timeout; the remote ACKs late. Whatever wins for M1 (ACK, the
/// watchdog, or T1's own waiter timeout), T1 gets M1's result and T2 gets
/// M2's.
#[test]
fn two_blocked_senders_with_deadlines_watchdog_and_late_acks() {
    run(2, || {
        let m = Model::new();
        let t1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], CHAN_TIMEOUT, None))
        };
        let t2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], LONG, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, Ack::Late, true, always))
        };
        m.clock(true);
        let r1 = t1.join().unwrap();
        let r2 = t2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        m.check(&[r1, r2]);
        assert!(r1.result == 0 || r1.result == -ETIMEDOUT, "{r1:?}");
        assert_eq!(r2.result, 0, "M2's deadline never passes and the remote ACKs it");
    });
}

/// A late ACK racing the watchdog: M1 (deadline 10) is in flight with M2
/// (long deadline) queued behind it; the clock passes M1's deadline and
/// the watchdog fires, while the remote's ACK of M1 arrives late. The
/// late ACK must not complete M2 (token check), and a watchdog callback
/// that was already on its way when M1 completed must not time out M2
/// (deadline check in timer_expired).
#[test]
fn late_ack_racing_the_watchdog_completes_at_most_once() {
    run(3, || {
        let m = Model::new();
        // M1: non-blocking, in flight at once with the channel timeout.
        let r1 = m.ticksend([1, 0], 0, None);
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], LONG, None))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, Ack::Late, true, always))
        };
        let clk = {
            let m = m.clone();
            thread::spawn(move || m.clock(true))
        };
        let r2 = s2.join().unwrap();
        clk.join().unwrap();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2]);
        assert_eq!(r1.result, 0, "non-blocking M1 accepted");
        assert_eq!(r2.result, 0, "M2 never reaches its deadline and the remote ACKs it");
        assert_eq!(sent.len(), 2);
    });
}

/// The same race for a lower half without tokens (`mbox_chan_tx_done`,
/// trusting `txacked`): the mailbox shows an ACK only while it holds the
/// acknowledged message, so a late ACK of M1 is refused by `txacked`.
#[test]
fn late_ack_races_watchdog_untokened() {
    run(2, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], CHAN_TIMEOUT, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], LONG, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, Ack::Late, false, always))
        };
        m.clock(true);
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        m.check(&[r1, r2]);
        assert_eq!(r2.result, 0);
    });
}

/// Double ACKs: the remote ACKs every message twice (the second
/// one late, when the next message may already be in flight). A message is
/// completed at most once, and the duplicate never completes the next one.
#[test]
fn double_ack_completes_each_message_once() {
    run(3, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], FOREVER, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], LONG, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, Ack::Dup, true, always))
        };
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2]);
        assert_eq!((r1.result, r2.result), (0, 0));
        assert_eq!(sent.len(), 2);
    });
}

/// Three senders, two blocking and one non-blocking with two messages, in
/// any order: global submission order on the wire, per-sender FIFO order,
/// each blocked sender woken once with its own result.
#[test]
fn three_senders_fifo_and_own_results() {
    run(2, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], FOREVER, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], FOREVER, None))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(4, Ack::Immediate, true, always))
        };
        // The main thread is the third sender: two non-blocking messages.
        let mut logs = vec![m.ticksend([3, 0], 0, None), m.ticksend([3, 1], 0, None)];
        logs.push(s1.join().unwrap());
        logs.push(s2.join().unwrap());
        // The non-blocking messages may still be queued: let the remote
        // drain them before stopping it.
        m.wait_idle();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&logs);
        assert!(logs.iter().all(|l| l.result == 0), "{logs:?}");
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|s| s.outcome == Some(mbox::upper::chan::Stat::Acked)));
    });
}

/// A blocked sender's own deadline (its timed wait running out) races the
/// ACK and the watchdog; a non-blocking message queued behind it must go
/// out next whatever wins.
#[test]
fn waiter_timeout_races_ack_and_watchdog() {
    run(2, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], CHAN_TIMEOUT, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], 0, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(1, Ack::Immediate, true, always))
        };
        m.clock(true);
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2]);
        assert!(r1.result == 0 || r1.result == -ETIMEDOUT, "{r1:?}");
        assert_eq!(r2.result, 0);
        // M1 ended (whatever way): M2 was started behind it.
        assert_eq!(sent.iter().map(|s| s.payload).collect::<Vec<_>>(), vec![[1, 0], [2, 0]]);
    });
}

/// A blocked sender whose deadline passes while it is still queued takes
/// its message back (waiter_timeout on a Queued waiter, or start_next
/// skipping it); the message is never sent afterwards, and the one in
/// flight is unaffected.
#[test]
fn queued_waiter_expires_before_its_turn() {
    run(2, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], LONG, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], CHAN_TIMEOUT, Some(1)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(2, Ack::Immediate, true, always))
        };
        m.clock(true);
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        m.stop();
        rem.join().unwrap();
        m.check(&[r1, r2]);
        assert_eq!(r1.result, 0);
        assert!(r2.result == 0 || r2.result == -ETIMEDOUT, "{r2:?}");
    });
}

/// Deinit while senders are blocked (or about to
/// submit) and the remote is ACKing: every sender returns (no one is left
/// on a destroyed wait object), with 0, -ECANCELED or -EINVAL, and every
/// message that was accepted ends exactly once.
#[test]
fn deinit_races_blocked_senders_and_ack() {
    run(2, || {
        let m = Model::new();
        let s1 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([1, 0], FOREVER, None))
        };
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], FOREVER, None))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(1, Ack::Immediate, true, always))
        };
        let d = {
            let m = m.clone();
            thread::spawn(move || m.deinit())
        };
        let r1 = s1.join().unwrap();
        let r2 = s2.join().unwrap();
        d.join().unwrap();
        m.stop();
        rem.join().unwrap();
        m.check(&[r1, r2]);
        for r in [r1, r2] {
            assert!(r.result == 0 || r.result == -ECANCELED || r.result == -EINVAL, "{r:?}");
        }
    });
}

/// A queued message whose lower-half send fails ends
/// with that error (the blocked sender gets it) and the queue goes on in
/// order; nothing is lost silently.
#[test]
fn send_error_of_queued_message_is_reported_and_queue_goes_on() {
    run(2, || {
        let m = Model::with_sends(&[0, -EIO]);
        // M1: non-blocking, in flight at once.
        let r1 = m.ticksend([1, 0], 0, None);
        let s2 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([2, 0], FOREVER, None))
        };
        let s3 = {
            let m = m.clone();
            thread::spawn(move || m.ticksend([3, 0], FOREVER, Some(2)))
        };
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(3, Ack::Immediate, true, always))
        };
        let r2 = s2.join().unwrap();
        let r3 = s3.join().unwrap();
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2, r3]);
        assert_eq!(r1.result, 0);
        // The second lower-half send fails: M2's (queued behind M1, or
        // immediate if M1 was already ACKed); either way M2's result.
        assert_eq!(r2.result, -EIO);
        assert_eq!(r3.result, 0);
        assert_eq!(sent.iter().map(|s| s.payload).collect::<Vec<_>>(), vec![[1, 0], [3, 0]]);
    });
}

/// The watchdog stays armed across messages: armed for M1 (due 10), it
/// still covers M2, sent at 5 (due 15) after M1's ACK, without a timer
/// call. Its expiry at 10 is early for M2 and races M2's late ACK; the
/// clock then passes 15 and the watchdog fires again if it was re-armed.
/// Whatever wins: M2 is never timed out before its own deadline (no false
/// timeout: the model checks the clock at every timeout), and once the
/// clock has passed 15 and the watchdog has run, M2 is no longer in flight
/// (no lost timeout).
#[test]
fn early_watchdog_expiry_races_the_ack_of_a_later_message() {
    run(3, || {
        let m = Model::new();
        let r1 = m.ticksend([1, 0], 0, None);
        assert_eq!(m.armed(), Some(CHAN_TIMEOUT));
        assert_eq!(m.ack_in_flight(), 0);
        m.advance_to(5, false);
        let r2 = m.ticksend([2, 0], 0, None);
        {
            let g = m.lock();
            assert_eq!((g.env.arms, g.env.disarms), (1, 0), "M2 needed no timer call");
            assert_eq!(g.st.in_flight(), 1);
        }
        let rem = {
            let m = m.clone();
            thread::spawn(move || m.remote(1, Ack::Late, true, always))
        };
        let clk = {
            let m = m.clone();
            thread::spawn(move || {
                m.advance_to(CHAN_TIMEOUT, true);
                m.advance_to(2 * CHAN_TIMEOUT, true);
            })
        };
        clk.join().unwrap();
        {
            let g = m.lock();
            assert_eq!(g.st.in_flight(), 0, "M2 still in flight after its deadline passed: a lost timeout");
        }
        m.stop();
        rem.join().unwrap();
        let sent = m.check(&[r1, r2]);
        assert_eq!((r1.result, r2.result), (0, 0));
        assert_eq!(sent.len(), 2);
        assert!(matches!(sent[1].outcome, Some(Stat::Acked | Stat::Timeout)), "{sent:?}");
    });
}
