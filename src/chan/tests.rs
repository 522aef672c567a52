//! Unit tests of the channel state machine, driven directly (no C, no OS):
//! a scripted fake environment records what the state machine asks of the
//! lower half, the timer and the waiters.

extern crate std;

use std::boxed::Box;
use std::collections::VecDeque;
use std::vec::Vec;

use super::*;

#[derive(Default)]
struct Fake {
    now: Ticks,
    /// (token, payload) of every successful lower-half send.
    sent: Vec<(u32, Vec<u8>)>,
    /// Scripted results for the next sends (0 when empty).
    send_results: VecDeque<i32>,
    txfinish: usize,
    acked_hw: bool,
    armed: Option<Ticks>,
    arms: usize,
    woken: usize,
    counts: Vec<Stat>,
    max_queued: usize,
}

impl Fake {
    fn n(&self, s: Stat) -> usize {
        self.counts.iter().filter(|&&c| c == s).count()
    }
}

impl ChanEnv for Fake {
    fn now(&self) -> Ticks {
        self.now
    }
    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        let r = self.send_results.pop_front().unwrap_or(0);
        if r == 0 {
            self.sent.push((token, data.to_vec()));
            self.acked_hw = false;
        }
        r
    }
    fn txfinish(&mut self) {
        self.txfinish += 1;
    }
    fn txacked(&mut self) -> bool {
        self.acked_hw
    }
    fn arm(&mut self, ticks: Ticks) {
        self.armed = Some(self.now + ticks);
        self.arms += 1;
    }
    fn disarm(&mut self) {
        self.armed = None;
    }
    fn wake(&mut self, _w: &mut Waiter) {
        self.woken += 1;
    }
    fn count(&mut self, s: Stat) {
        self.counts.push(s);
    }
    fn queued(&mut self, depth: usize) {
        self.max_queued = self.max_queued.max(depth);
    }
}

/// A TX channel over a leaked ring buffer of `cap` bytes, timeout 10.
fn tx_chan(cap: usize) -> ChanState {
    let buf: &'static mut [u8] = Box::leak(std::vec![0u8; cap].into_boxed_slice());
    let mut st = ChanState::new();
    st.init(true, buf.as_mut_ptr(), cap, 24, 10);
    st
}

fn ack(st: &mut ChanState, f: &mut Fake) -> i32 {
    f.acked_hw = true;
    st.tx_done(f, None)
}

#[test]
fn idle_send_goes_out_at_once_with_deadline() {
    let mut st = tx_chan(64);
    let mut f = Fake { now: 100, ..Default::default() };
    assert_eq!(st.submit_nb(&mut f, b"abc"), 0);
    assert_eq!(f.sent, std::vec![(0, b"abc".to_vec())]);
    assert_eq!(st.inflight_token(), Some(0));
    // The channel timeout (10) is the in-flight deadline.
    assert_eq!(f.armed, Some(110));
    assert_eq!(ack(&mut st, &mut f), 0);
    assert!(!st.is_busy());
    assert_eq!(f.n(Stat::Acked), 1);
    assert_eq!(f.txfinish, 1);
    assert_eq!(f.armed, None);
}

#[test]
fn nonblocking_messages_queue_in_order_and_drain_on_ack() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    for i in 0..4u8 {
        assert_eq!(st.submit_nb(&mut f, &[i; 5]), 0);
    }
    assert_eq!(st.queued(), 3);
    assert_eq!(f.n(Stat::Buffered), 3);
    assert_eq!(f.max_queued, 3);
    for i in 1..4u8 {
        assert_eq!(ack(&mut st, &mut f), 0);
        assert_eq!(f.sent.last().unwrap(), &(i as u32, std::vec![i; 5]));
    }
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(st.queued(), 0);
    assert!(!st.is_busy());
    assert_eq!(f.n(Stat::Acked), 4);
}

#[test]
fn full_ring_is_enobufs_and_changes_nothing() {
    let mut st = tx_chan(20);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb(&mut f, &[1; 8]), 0); // in flight
    assert_eq!(st.submit_nb(&mut f, &[2; 8]), 0); // 14 bytes queued
    assert_eq!(st.submit_nb(&mut f, &[3; 8]), -ENOBUFS);
    assert_eq!(f.n(Stat::QueueFull), 1);
    assert_eq!(st.queued(), 1);
    // The refused message did not consume a sequence number: the next
    // accepted one is 2, directly after the queued 1.
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(st.submit_nb(&mut f, &[4; 1]), 0);
    assert_eq!(ack(&mut st, &mut f), 0);
    let tokens: Vec<u32> = f.sent.iter().map(|s| s.0).collect();
    assert_eq!(tokens, std::vec![0, 1, 2]);
}

/// REFERENCE §2 item 2: a queued message has a deadline, so a silent
/// remote cannot stall the channel forever.
#[test]
fn queued_message_gets_channel_timeout_when_in_flight() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"one");
    st.submit_nb(&mut f, b"two");
    f.now = 10;
    st.timer_expired(&mut f);
    assert_eq!(f.n(Stat::Timeout), 1);
    // "two" is now in flight with its own deadline.
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.armed, Some(20));
    f.now = 20;
    st.timer_expired(&mut f);
    assert_eq!(f.n(Stat::Timeout), 2);
    assert!(!st.is_busy());
    // And a new message goes out at once.
    assert_eq!(st.submit_nb(&mut f, b"three"), 0);
    assert_eq!(st.inflight_token(), Some(2));
}

/// REFERENCE §2 item 3: a queued message whose send fails is counted, and
/// the rest of the queue goes on in order.
#[test]
fn send_error_on_queued_message_does_not_strand_or_reorder() {
    let mut st = tx_chan(128);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"m0");
    st.submit_nb(&mut f, b"m1");
    st.submit_nb(&mut f, b"m2");
    st.submit_nb(&mut f, b"m3");
    f.send_results.push_back(-EIO_TEST);
    assert_eq!(ack(&mut st, &mut f), 0); // m1 fails, m2 goes
    assert_eq!(f.n(Stat::SendErr), 1);
    assert_eq!(f.sent.last().unwrap().1, b"m2".to_vec());
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(f.sent.last().unwrap().1, b"m3".to_vec());
    let order: Vec<Vec<u8>> = f.sent.iter().map(|s| s.1.clone()).collect();
    assert_eq!(order, std::vec![b"m0".to_vec(), b"m2".to_vec(), b"m3".to_vec()]);
}

const EIO_TEST: i32 = 5;

#[test]
fn immediate_send_error_is_returned_and_not_accepted() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    f.send_results.push_back(-EIO_TEST);
    assert_eq!(st.submit_nb(&mut f, b"x"), -EIO_TEST);
    assert!(!st.is_busy());
    assert_eq!(f.n(Stat::SendErr), 1);
    assert_eq!(f.n(Stat::Sent), 0);
}

/// REFERENCE §2 items 1 and 11: a tx_done with nothing in flight, a
/// duplicate, or a token of another message completes nothing.
#[test]
fn stale_duplicate_and_spurious_acks_complete_nothing() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.tx_done(&mut f, None), -ENOENT);
    st.submit_nb(&mut f, b"a");
    st.submit_nb(&mut f, b"b");
    assert_eq!(ack(&mut st, &mut f), 0); // a done, b in flight
    // A duplicate notification: the hardware shows no ACK for b.
    assert_eq!(st.tx_done(&mut f, None), -EAGAIN);
    // A late ACK carrying a's token.
    assert_eq!(st.tx_done(&mut f, Some(0)), -ESRCH);
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.n(Stat::SpuriousAck), 3);
    assert_eq!(f.n(Stat::Acked), 1);
    assert_eq!(st.tx_done(&mut f, Some(1)), 0);
    assert_eq!(f.n(Stat::Acked), 2);
}

/// REFERENCE §2 item 1, the timeout case: after M1 timed out and M2 went
/// out, the late ACK of M1 must not report M2 as acknowledged.
#[test]
fn late_ack_after_timeout_does_not_complete_next() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"M1");
    st.submit_nb(&mut f, b"M2");
    f.now = 10;
    st.timer_expired(&mut f); // M1 times out, M2 in flight
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(st.tx_done(&mut f, Some(0)), -ESRCH);
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.n(Stat::Acked), 0);
}

/// REFERENCE §2 item 7: a watchdog callback that was already running when
/// its message was acknowledged must not time out the next message.
#[test]
fn stale_watchdog_does_not_expire_next_message() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"M1"); // deadline 10
    st.submit_nb(&mut f, b"M2");
    f.now = 10; // M1's watchdog fires and waits for the lock...
    assert_eq!(ack(&mut st, &mut f), 0); // ...while M1's ACK wins it.
    assert_eq!(f.armed, Some(20)); // M2 armed for its own deadline
    st.timer_expired(&mut f); // the stale callback now runs
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.n(Stat::Timeout), 0);
    assert_eq!(f.armed, Some(20));
}

/// Seed 000: T1 enqueues M1, T2 enqueues M2, M1 is submitted, both wait.
/// Each waiter must be completed by its own message.
#[test]
fn seed000_each_blocked_sender_gets_its_own_completion() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"busy"); // keep the channel busy
    let mut w1 = Waiter::new(b"M1", FOREVER);
    let mut w2 = Waiter::new(b"M2", FOREVER);
    // SAFETY: w1/w2 live until the end of the test and are not moved.
    unsafe {
        assert_eq!(st.submit_blocking(&mut f, &mut w1), Submit::Pending);
        assert_eq!(st.submit_blocking(&mut f, &mut w2), Submit::Pending);
    }
    assert_eq!(ack(&mut st, &mut f), 0); // busy done, M1 submitted
    assert_eq!(f.sent.last().unwrap().1, b"M1".to_vec());
    assert_eq!(w1.state(), WaitState::InFlight);
    assert_eq!(w2.state(), WaitState::Queued);
    assert_eq!(ack(&mut st, &mut f), 0); // M1's ACK
    assert_eq!(w1.state(), WaitState::Done);
    assert_eq!(w1.result(), 0);
    assert_eq!(w2.state(), WaitState::InFlight);
    assert_eq!(f.woken, 1);
    f.send_results.clear();
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(w2.state(), WaitState::Done);
    assert_eq!(f.woken, 2);
}

/// REFERENCE §2 item 6: a blocking send on a busy channel waits its turn
/// (it is never refused with -EAGAIN), and blocking and non-blocking
/// messages keep their submission order.
#[test]
fn blocking_sender_waits_its_turn_in_fifo_order() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"n0");
    let mut w = Waiter::new(b"b1", FOREVER);
    // SAFETY: w lives until the end of the test.
    assert_eq!(unsafe { st.submit_blocking(&mut f, &mut w) }, Submit::Pending);
    st.submit_nb(&mut f, b"n2");
    ack(&mut st, &mut f);
    ack(&mut st, &mut f);
    ack(&mut st, &mut f);
    let order: Vec<Vec<u8>> = f.sent.iter().map(|s| s.1.clone()).collect();
    assert_eq!(order, std::vec![b"n0".to_vec(), b"b1".to_vec(), b"n2".to_vec()]);
    assert_eq!(w.result(), 0);
}

#[test]
fn blocking_send_error_is_that_senders_result() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    let mut w = Waiter::new(b"x", FOREVER);
    f.send_results.push_back(-EIO_TEST);
    // SAFETY: w lives until the end of the test.
    assert_eq!(unsafe { st.submit_blocking(&mut f, &mut w) }, Submit::Done(-EIO_TEST));
    // Queued behind another message, the error arrives through the waiter.
    st.submit_nb(&mut f, b"busy");
    let mut w2 = Waiter::new(b"y", FOREVER);
    // SAFETY: w2 lives until the end of the test.
    assert_eq!(unsafe { st.submit_blocking(&mut f, &mut w2) }, Submit::Pending);
    f.send_results.push_back(-EIO_TEST);
    ack(&mut st, &mut f);
    assert_eq!(w2.state(), WaitState::Done);
    assert_eq!(w2.result(), -EIO_TEST);
    assert!(!st.is_busy());
}

#[test]
fn queued_waiter_timeout_unlinks_only_itself() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"busy");
    let mut w1 = Waiter::new(b"w1", 5);
    let mut w2 = Waiter::new(b"w2", 50);
    let mut w3 = Waiter::new(b"w3", 50);
    // SAFETY: the waiters live until the end of the test.
    unsafe {
        st.submit_blocking(&mut f, &mut w1);
        st.submit_blocking(&mut f, &mut w2);
        st.submit_blocking(&mut f, &mut w3);
    }
    f.now = 5;
    // w2 (middle) times out first, then w1 (head).
    assert_eq!(st.waiter_timeout(&mut f, &mut w2), -ETIMEDOUT);
    assert_eq!(st.waiter_timeout(&mut f, &mut w1), -ETIMEDOUT);
    assert_eq!(st.queued(), 1);
    ack(&mut st, &mut f);
    assert_eq!(f.sent.last().unwrap().1, b"w3".to_vec());
    assert_eq!(w3.state(), WaitState::InFlight);
}

#[test]
fn inflight_waiter_timeout_aborts_and_starts_next() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    let mut w = Waiter::new(b"w", 7);
    // SAFETY: w lives until the end of the test.
    unsafe { st.submit_blocking(&mut f, &mut w) };
    assert_eq!(f.armed, Some(7));
    st.submit_nb(&mut f, b"next");
    f.now = 7;
    assert_eq!(st.waiter_timeout(&mut f, &mut w), -ETIMEDOUT);
    assert_eq!(f.txfinish, 1);
    assert_eq!(f.sent.last().unwrap().1, b"next".to_vec());
    // The watchdog, racing the waiter, finds the next message not due.
    st.timer_expired(&mut f);
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.n(Stat::Timeout), 1);
}

/// A waiter whose deadline passed while queued is not sent at all.
#[test]
fn expired_queued_waiter_is_skipped_not_sent() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"busy");
    let mut w = Waiter::new(b"late", 3);
    // SAFETY: w lives until the end of the test.
    unsafe { st.submit_blocking(&mut f, &mut w) };
    f.now = 4;
    ack(&mut st, &mut f);
    assert_eq!(w.result(), -ETIMEDOUT);
    assert_eq!(w.state(), WaitState::Done);
    assert_eq!(f.sent.len(), 1);
}

/// REFERENCE §2 item 9: deinit releases every sender with -ECANCELED and
/// counts the dropped queued messages.
#[test]
fn deinit_cancels_everything_once() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    let mut w1 = Waiter::new(b"w1", FOREVER);
    let mut w2 = Waiter::new(b"w2", FOREVER);
    // SAFETY: the waiters live until the end of the test.
    unsafe { st.submit_blocking(&mut f, &mut w1) };
    st.submit_nb(&mut f, b"n1");
    st.submit_nb(&mut f, b"n2");
    // SAFETY: as above.
    unsafe { st.submit_blocking(&mut f, &mut w2) };
    assert_eq!(st.deinit(&mut f), 4);
    assert!(!st.is_live());
    assert_eq!((w1.state(), w1.result()), (WaitState::Done, -ECANCELED));
    assert_eq!((w2.state(), w2.result()), (WaitState::Done, -ECANCELED));
    assert_eq!(f.n(Stat::Cancelled), 4);
    assert_eq!(f.woken, 2);
    assert_eq!(f.armed, None);
    assert_eq!(f.txfinish, 1);
    // A late ACK after deinit finds nothing.
    assert_eq!(st.tx_done(&mut f, None), -ENOENT);
}

#[test]
fn every_message_ends_exactly_once_under_random_events() {
    // Random mix of submissions, ACKs (right, stale, duplicate), expiries
    // and send errors; at the end every accepted message has exactly one
    // outcome and the messages went out in submission order.
    let mut seed: u64 = 42;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut st = tx_chan(96);
    let mut f = Fake::default();
    let (mut accepted, mut refused_send) = (0usize, 0usize);
    for _ in 0..20000 {
        match rnd() % 6 {
            0 | 1 => {
                if rnd() % 7 == 0 {
                    f.send_results.push_back(-EIO_TEST);
                }
                match st.submit_nb(&mut f, &[0; 7]) {
                    0 => accepted += 1,
                    r if r == -ENOBUFS => {}
                    _ => refused_send += 1,
                }
            }
            2 => {
                ack(&mut st, &mut f);
            }
            3 => {
                let t = st.inflight_token().unwrap_or(0);
                st.tx_done(&mut f, Some(t.wrapping_sub(1)));
            }
            4 => {
                f.now += 3;
                st.timer_expired(&mut f);
            }
            _ => {
                st.tx_done(&mut f, None);
            }
        }
    }
    let was_busy = st.is_busy() as usize;
    st.deinit(&mut f);
    let tokens: Vec<u32> = f.sent.iter().map(|s| s.0).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "sent out of order");
    let queued_send_err = f.n(Stat::SendErr) - refused_send;
    assert_eq!(
        accepted,
        f.n(Stat::Acked) + f.n(Stat::Timeout) + queued_send_err + f.n(Stat::Cancelled),
        "an accepted message ended zero or several times"
    );
    // Each message that went out ended once: ACK, expiry, or (at most
    // one) cancellation of the message in flight at deinit.
    assert_eq!(f.n(Stat::Sent), f.n(Stat::Acked) + f.n(Stat::Timeout) + was_busy);
    assert!(f.n(Stat::Acked) > 100 && f.n(Stat::Timeout) > 100 && queued_send_err > 10);
}
