//! Unit tests of the channel state machine, driven directly (no C, no OS):
//! a scripted fake environment records what the state machine asks of the
//! lower half, the timer and the waiters.

extern crate std;

use std::boxed::Box;
use std::cell::Cell;
use std::collections::VecDeque;
use std::vec::Vec;

use core::sync::atomic::AtomicU8;

use super::*;

#[derive(Default)]
struct Fake {
    now: Ticks,
    /// (token, payload) of every successful lower-half send.
    sent: Vec<(u32, Vec<u8>)>,
    /// Scripted results for the next sends (0 when empty).
    send_results: VecDeque<i32>,
    txfinish: usize,
    /// Token of every txfinish, in order.
    finished: Vec<u32>,
    acked_hw: bool,
    armed: Option<Ticks>,
    arms: usize,
    disarms: usize,
    /// Clock readings (`now`).
    reads: Cell<usize>,
    woken: usize,
    counts: Vec<Stat>,
    max_queued: usize,
    /// The last queue depth and in-flight count reported.
    buffered: usize,
    in_flight: usize,
}

impl Fake {
    fn n(&self, s: Stat) -> usize {
        self.counts.iter().filter(|&&c| c == s).count()
    }
}

impl ChanEnv for Fake {
    fn now(&self) -> Ticks {
        self.reads.set(self.reads.get() + 1);
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
    fn txfinish(&mut self, token: u32) {
        self.txfinish += 1;
        self.finished.push(token);
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
        self.disarms += 1;
    }
    fn wake(&mut self, w: Wake<'_>) {
        w.post();
        self.woken += 1;
    }
    fn count(&mut self, s: Stat) {
        self.counts.push(s);
    }
    fn queued(&mut self, depth: usize) {
        self.max_queued = self.max_queued.max(depth);
        self.buffered = depth;
    }
    fn in_flight(&mut self, n: usize) {
        self.in_flight = n;
    }
}

/// A buffer of `n` bytes that is the channel's for good.
fn leaked(n: usize) -> Lent {
    Lent::from_static(Box::leak(std::vec![0u8; n].into_boxed_slice()))
}

/// A TX channel over a leaked ring buffer of `cap` bytes, timeout 10.
fn tx_chan(cap: usize) -> ChanState {
    let mut st = ChanState::new();
    st.init(true, leaked(cap), 24, 10);
    st
}

/// The wait object of a test's blocked sender: a test never sleeps, so
/// it only counts its posts.
#[derive(Default)]
struct TestWait {
    posts: Cell<usize>,
}

impl crate::os::ReadyWait for TestWait {
    fn wait_until(&self, _deadline: Ticks) -> i32 {
        if self.posts.get() > 0 {
            0
        } else {
            -ETIMEDOUT
        }
    }
    fn post(&self) {
        self.posts.set(self.posts.get() + 1);
    }
}

/// A blocked sender's frame `$w` on the test's stack, ready to submit.
macro_rules! frame {
    ($w:ident) => {
        let wait = TestWait::default();
        let $w = core::pin::pin!(Frame::new(&wait));
        let $w = $w.into_ref();
    };
}

/// The frame `$w` of a sender that polls (never woken).
macro_rules! polled_frame {
    ($w:ident) => {
        let $w = core::pin::pin!(Frame::polled());
        let $w = $w.into_ref();
    };
}

fn ack(st: &mut ChanState, f: &mut Fake) -> i32 {
    f.acked_hw = true;
    st.tx_done(f, None)
}

/// The armed watchdog fires: time moves to its expiry and the callback
/// runs. Returns that expiry.
fn fire(st: &mut ChanState, f: &mut Fake) -> Ticks {
    let at = f.armed.take().expect("the watchdog is not armed");
    assert!(at >= f.now, "the watchdog was armed in the past");
    f.now = at;
    st.timer_expired(f);
    at
}

/// A watchdog callback at the current time, whether or not it was due
/// (an early, stale or spurious callback; a due arming is used up).
fn expire(st: &mut ChanState, f: &mut Fake) {
    if f.armed.is_some_and(|a| a <= f.now) {
        f.armed = None;
    }
    st.timer_expired(f);
}

/// No timeout can be lost: the watchdog is armed no later than the
/// deadline of every message in flight.
fn assert_watchdog_covers_in_flight(st: &ChanState, f: &Fake) {
    for i in 0..st.nslots as usize {
        let s = st.slot_ref(i);
        if s.state == SLOT_INFLIGHT && s.deadline != FOREVER {
            assert!(
                f.armed.is_some_and(|a| a <= s.deadline),
                "message {} (deadline {}) in flight, watchdog armed for {:?}",
                s.token,
                s.deadline,
                f.armed
            );
        }
    }
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
    // Not cancelled: the watchdog stays armed across messages.
    assert_eq!((f.armed, f.arms, f.disarms), (Some(110), 1, 0));
}

#[test]
fn nonblocking_messages_queue_in_order_and_drain_on_ack() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    for i in 0..4u8 {
        assert_eq!(st.submit_nb(&mut f, &[i; 5]), 0);
    }
    assert_eq!(st.queued(), 3);
    assert_eq!(f.buffered, 3);
    assert_eq!(f.max_queued, 3);
    for i in 1..4u8 {
        assert_eq!(ack(&mut st, &mut f), 0);
        assert_eq!(f.sent.last().unwrap(), &(i as u32, std::vec![i; 5]));
        assert_eq!(f.buffered, 3 - i as usize);
    }
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(st.queued(), 0);
    assert!(!st.is_busy());
    assert_eq!(f.n(Stat::Acked), 4);
}

#[cfg(feature = "txdone-callback")]
/// The environment always knows how many messages wait (the `buffered`
/// statistic: messages queued now, ring and blocked senders) and how many
/// are in flight (`txstate`), after submissions, ACKs, timeouts and
/// teardown.
#[test]
fn queue_depth_and_in_flight_count_are_reported_after_every_change() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb(&mut f, &[1; 4]), 0);
    assert_eq!((f.in_flight, f.buffered), (1, 0));
    assert_eq!(st.submit_nb(&mut f, &[2; 4]), 0);
    frame!(w);
    assert_eq!(st.submit_blocking(&mut f, w.submit(&[3; 4], 50)), Submit::Pending);
    assert_eq!((f.in_flight, f.buffered), (1, 2));
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!((f.in_flight, f.buffered), (1, 1));
    // The watchdog times the ring message out; the blocked one goes.
    f.now = 20;
    st.timer_expired(&mut f);
    assert_eq!((f.in_flight, f.buffered), (1, 0));
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(w.state(), WaitState::Done);
    assert_eq!((f.in_flight, f.buffered), (0, 0));
    // Queued again, then torn down: nothing waits, nothing in flight.
    assert_eq!(st.submit_nb(&mut f, &[4; 4]), 0);
    assert_eq!(st.submit_nb(&mut f, &[5; 4]), 0);
    assert_eq!((f.in_flight, f.buffered), (1, 1));
    st.deinit(&mut f);
    while st.take_completion(&mut f).is_some() {}
    assert_eq!((f.in_flight, f.buffered), (0, 0));
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

/// A queued message has a deadline, so a silent
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

/// A queued message whose send fails is counted, and
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

/// A tx_done with nothing in flight, a
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

/// A late ACK, the timeout case: after M1 timed out and M2 went
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

/// A watchdog callback that was already running when
/// its message was acknowledged must not time out the next message.
#[test]
fn stale_watchdog_does_not_expire_next_message() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"M1"); // deadline 10
    st.submit_nb(&mut f, b"M2");
    f.now = 10; // M1's watchdog fires and waits for the lock...
    assert_eq!(ack(&mut st, &mut f), 0); // ...while M1's ACK wins it.
                                         // M2 (due 20) goes out; the watchdog armed for 10 already covers it.
    assert_eq!((f.armed, f.arms), (Some(10), 1));
    assert_eq!(fire(&mut st, &mut f), 10); // the stale callback now runs
    assert_eq!(st.inflight_token(), Some(1));
    assert_eq!(f.n(Stat::Timeout), 0);
    // Re-armed for M2's own deadline.
    assert_eq!(f.armed, Some(20));
}

/// T1 enqueues M1, T2 enqueues M2, M1 is submitted, both wait.
/// Each waiter must be completed by its own message.
#[test]
fn each_blocked_sender_gets_its_own_completion() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"busy"); // keep the channel busy
    frame!(w1);
    frame!(w2);
    assert_eq!(st.submit_blocking(&mut f, w1.submit(b"M1", FOREVER)), Submit::Pending);
    assert_eq!(st.submit_blocking(&mut f, w2.submit(b"M2", FOREVER)), Submit::Pending);
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

/// A blocking send on a busy channel waits its turn
/// (it is never refused with -EAGAIN), and blocking and non-blocking
/// messages keep their submission order.
#[test]
fn blocking_sender_waits_its_turn_in_fifo_order() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"n0");
    frame!(w);
    assert_eq!(st.submit_blocking(&mut f, w.submit(b"b1", FOREVER)), Submit::Pending);
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
    frame!(w);
    f.send_results.push_back(-EIO_TEST);
    assert_eq!(st.submit_blocking(&mut f, w.submit(b"x", FOREVER)), Submit::Done(-EIO_TEST));
    // Queued behind another message, the error arrives through the waiter.
    st.submit_nb(&mut f, b"busy");
    frame!(w2);
    assert_eq!(st.submit_blocking(&mut f, w2.submit(b"y", FOREVER)), Submit::Pending);
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
    frame!(w1);
    frame!(w2);
    frame!(w3);
    st.submit_blocking(&mut f, w1.submit(b"w1", 5));
    st.submit_blocking(&mut f, w2.submit(b"w2", 50));
    st.submit_blocking(&mut f, w3.submit(b"w3", 50));
    f.now = 5;
    // w2 (middle) times out first, then w1 (head).
    assert_eq!(st.waiter_timeout(&mut f, &w2), -ETIMEDOUT);
    assert_eq!(st.waiter_timeout(&mut f, &w1), -ETIMEDOUT);
    assert_eq!(st.queued(), 1);
    ack(&mut st, &mut f);
    assert_eq!(f.sent.last().unwrap().1, b"w3".to_vec());
    assert_eq!(w3.state(), WaitState::InFlight);
    // Its frame may go once its message ended.
    ack(&mut st, &mut f);
    assert_eq!((w3.state(), w3.result()), (WaitState::Done, 0));
}

#[test]
fn inflight_waiter_timeout_aborts_and_starts_next() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    frame!(w);
    st.submit_blocking(&mut f, w.submit(b"w", 7));
    assert_eq!(f.armed, Some(7));
    st.submit_nb(&mut f, b"next");
    f.now = 7;
    assert_eq!(st.waiter_timeout(&mut f, &w), -ETIMEDOUT);
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
    frame!(w);
    st.submit_blocking(&mut f, w.submit(b"late", 3));
    f.now = 4;
    ack(&mut st, &mut f);
    assert_eq!(w.result(), -ETIMEDOUT);
    assert_eq!(w.state(), WaitState::Done);
    assert_eq!(f.sent.len(), 1);
}

/// Deinit releases every sender with -ECANCELED and
/// counts the dropped queued messages.
#[test]
fn deinit_cancels_everything_once() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    frame!(w1);
    frame!(w2);
    st.submit_blocking(&mut f, w1.submit(b"w1", FOREVER));
    st.submit_nb(&mut f, b"n1");
    st.submit_nb(&mut f, b"n2");
    st.submit_blocking(&mut f, w2.submit(b"w2", FOREVER));
    assert_eq!(st.deinit(&mut f), 4);
    assert!(!st.is_live());
    assert_eq!((w1.state(), w1.result()), (WaitState::Done, -ECANCELED));
    assert_eq!((w2.state(), w2.result()), (WaitState::Done, -ECANCELED));
    assert_eq!(f.n(Stat::Cancelled), 4);
    assert_eq!(f.woken, 2);
    // Teardown disarms.
    assert_eq!((f.armed, f.disarms), (None, 1));
    assert_eq!(f.txfinish, 1);
    // A late ACK after deinit finds nothing.
    assert_eq!(st.tx_done(&mut f, None), -ENOENT);
}

/// One init claims a free channel in one step: a second claim is -EBUSY
/// while it initialises, while the channel is live, and while it is torn
/// down, until the teardown releases it. A failed init goes back to
/// claimed and then frees the channel; the sequence numbers go on.
#[test]
fn init_claim_is_exclusive_from_claim_to_release() {
    let mut f = Fake::default();
    let mut st = ChanState::new();
    assert!(!st.in_transition());
    assert_eq!(st.claim_init(), Ok(()));
    assert!(st.in_transition() && !st.is_live());
    assert_eq!(st.claim_init(), Err(-EBUSY));
    st.init(true, leaked(64), 24, 10);
    st.set_in_setup(true);
    assert!(st.is_live() && st.in_transition());
    st.set_in_setup(false);
    assert!(st.is_live() && !st.in_transition());
    assert_eq!(st.claim_init(), Err(-EBUSY));
    assert_eq!(st.submit_nb(&mut f, b"a"), 0);
    st.deinit(&mut f);
    assert!(!st.is_live() && st.in_transition());
    assert_eq!(st.claim_init(), Err(-EBUSY));
    st.release();
    assert!(!st.in_transition());
    assert_eq!(st.claim_init(), Ok(()));
    // A failed init: back to claimed (still busy), then free.
    st.init(true, leaked(64), 24, 10);
    st.abort_init();
    assert!(!st.is_live() && st.in_transition());
    assert_eq!(st.claim_init(), Err(-EBUSY));
    st.release();
    assert_eq!(st.claim_init(), Ok(()));
    // Tokens continue across the lives of the channel.
    st.init(true, leaked(64), 24, 10);
    assert_eq!(st.submit_nb(&mut f, b"b"), 0);
    assert_eq!(f.sent.iter().map(|m| m.0).collect::<Vec<_>>(), [0, 1]);
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
                expire(&mut st, &mut f);
            }
            _ => {
                st.tx_done(&mut f, None);
            }
        }
        assert_watchdog_covers_in_flight(&st, &f);
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

// ---- Several in flight, TX-done completions, TX-done methods ----

#[cfg(feature = "txfifo")]
/// A TX channel of `depth` in-flight slots over a leaked buffer that has
/// room for the slots plus `cap` bytes of ring, timeout 10.
fn tx_chan_depth(cap: usize, depth: usize) -> ChanState {
    let total = if depth > 1 { 7 + depth * TXSLOT_SIZE + cap } else { cap };
    let buf: &'static mut [u8] = Box::leak(std::vec![0u8; total].into_boxed_slice());
    let mut st = ChanState::new();
    st.init(true, Lent::from_static(buf), 24, 10);
    st.set_txdepth(depth).unwrap();
    st
}

#[cfg(feature = "txdone-callback")]
#[cfg(feature = "txdone-callback")]
/// Every completion handed out now, in order.
fn completions(st: &mut ChanState, f: &mut Fake) -> Vec<Completion> {
    let mut v = Vec::new();
    while let Some(c) = st.take_completion(f) {
        v.push(c);
    }
    v
}

#[test]
fn tokens_continue_across_reinit() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"a");
    st.submit_nb(&mut f, b"b");
    st.deinit(&mut f);
    st.init(true, leaked(64), 24, 10);
    st.submit_nb(&mut f, b"c");
    // An ACK of "a" (token 0) held over the re-init completes nothing.
    assert_eq!(st.tx_done(&mut f, Some(0)), -ESRCH);
    assert_eq!(st.inflight_token(), Some(2));
}

#[cfg(feature = "txfifo")]
#[test]
fn set_txdepth_carves_slots_and_rejects_small_buffers() {
    let st = tx_chan_depth(64, 4);
    assert_eq!(st.txdepth(), 4);
    // The ring keeps at least the bytes asked for.
    assert!(st.buffer().1 >= 64);
    let buf: &'static mut [u8] = Box::leak(std::vec![0u8; 4 * TXSLOT_SIZE].into_boxed_slice());
    let mut small = ChanState::new();
    // One byte short once the slots are aligned (or exactly enough when
    // the buffer happens to be aligned: then the ring is empty).
    small.init(true, Lent::from_static(&mut buf[1..]), 24, 10);
    assert_eq!(small.set_txdepth(4), Err(-EINVAL));
    let mut st = tx_chan(64);
    assert_eq!(st.set_txdepth(0), Err(-EINVAL));
    assert_eq!(st.set_txdepth(MAX_TXDEPTH + 1), Err(-EINVAL));
    let mut rx = ChanState::new();
    rx.init(false, Lent::EMPTY, 24, 10);
    assert_eq!(rx.set_txdepth(2), Err(-EINVAL));
}

#[cfg(feature = "txfifo")]
/// A controller with a hardware queue gets up to
/// `depth` messages in flight; ACKs complete them in FIFO order, each
/// only with its own token.
#[test]
fn depth_n_keeps_n_in_flight_and_acks_in_fifo_order() {
    let mut st = tx_chan_depth(128, 3);
    let mut f = Fake::default();
    for i in 0..5u8 {
        assert_eq!(st.submit_nb(&mut f, &[i; 4]), 0);
    }
    assert_eq!(f.sent.len(), 3);
    assert_eq!(st.in_flight(), 3);
    assert_eq!(st.queued(), 2);
    assert_eq!(st.inflight_tokens().collect::<Vec<_>>(), [0, 1, 2]);
    // Not the oldest: refused, nothing changes.
    assert_eq!(st.tx_done(&mut f, Some(1)), -ESRCH);
    assert_eq!(st.in_flight(), 3);
    assert_eq!(st.tx_done(&mut f, Some(0)), 0);
    assert_eq!(f.sent.len(), 4);
    assert_eq!(st.inflight_tokens().collect::<Vec<_>>(), [1, 2, 3]);
    for t in 1..5 {
        assert_eq!(st.tx_done(&mut f, Some(t)), 0);
    }
    assert_eq!(st.tx_done(&mut f, Some(5)), -ENOENT);
    assert_eq!(f.sent.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(f.sent.iter().map(|s| s.1[0]).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(f.n(Stat::Acked), 5);
    // Armed once (due 10) for all five, never cancelled; its expiry
    // finds nothing.
    assert_eq!((f.arms, f.disarms), (1, 0));
    assert_eq!(fire(&mut st, &mut f), 10);
    assert_eq!((f.n(Stat::Timeout), f.armed), (0, None));
}

#[cfg(feature = "txfifo")]
#[test]
fn each_in_flight_message_keeps_its_own_deadline() {
    let mut st = tx_chan_depth(128, 2);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"a"); // due 10
    f.now = 4;
    st.submit_nb(&mut f, b"b"); // due 14
    assert_eq!(f.armed, Some(10));
    f.now = 10;
    st.timer_expired(&mut f);
    assert_eq!(st.inflight_tokens().collect::<Vec<_>>(), [1]);
    assert_eq!(f.armed, Some(14));
    // The late ACK of "a" completes nothing; "b" is unaffected.
    assert_eq!(st.tx_done(&mut f, Some(0)), -ESRCH);
    assert_eq!(st.tx_done(&mut f, Some(1)), 0);
    assert_eq!((f.n(Stat::Timeout), f.n(Stat::Acked)), (1, 1));
}

#[cfg(feature = "txfifo")]
#[test]
fn timeout_of_a_later_in_flight_waiter_leaves_the_older_one() {
    let mut st = tx_chan_depth(64, 2);
    let mut f = Fake::default();
    frame!(w1);
    frame!(w2);
    assert_eq!(st.submit_blocking(&mut f, w1.submit(b"w1", 100)), Submit::Pending);
    assert_eq!(st.submit_blocking(&mut f, w2.submit(b"w2", 5)), Submit::Pending);
    assert_eq!(st.in_flight(), 2);
    f.now = 5;
    assert_eq!(st.waiter_timeout(&mut f, &w2), -ETIMEDOUT);
    assert_eq!(w1.state(), WaitState::InFlight);
    // The lower half is told which message ends: the later one.
    assert_eq!(f.finished, [1]);
    assert_eq!(st.tx_done(&mut f, Some(1)), -ESRCH);
    assert_eq!(st.tx_done(&mut f, Some(0)), 0);
    assert_eq!((w1.state(), w1.result()), (WaitState::Done, 0));
    assert_eq!(st.in_flight(), 0);
    assert_eq!(f.finished, [1, 0]);
}

#[cfg(feature = "txdone-callback")]
#[cfg(feature = "txdone-callback")]
/// TX-done completions: one per accepted client message, with its
/// result, in submission order; a Done slot that owes a callback holds
/// its slot until it has been handed out.
#[test]
fn txdone_completions_are_handed_out_in_submission_order() {
    let mut st = tx_chan(128);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb_client(&mut f, b"a", 7), 0);
    assert_eq!(st.submit_nb_client(&mut f, b"b", 8), 0);
    assert_eq!(st.submit_nb(&mut f, b"c"), 0);
    assert!(!st.has_completion());
    assert_eq!(ack(&mut st, &mut f), 0);
    assert!(st.has_completion());
    // "b" waits for the hand-out of "a" (its slot is still taken).
    assert_eq!(f.sent.len(), 1);
    assert_eq!(completions(&mut st, &mut f), [Completion { client: 7, token: 0, result: 0 }]);
    assert_eq!(f.sent.len(), 2);
    f.now = 50;
    st.timer_expired(&mut f);
    assert_eq!(completions(&mut st, &mut f), [Completion { client: 8, token: 1, result: -ETIMEDOUT }]);
    assert_eq!(ack(&mut st, &mut f), 0);
    // "c" has no client: nothing to hand out.
    assert!(completions(&mut st, &mut f).is_empty());
    assert!(!st.is_busy());
}

#[cfg(feature = "txfifo")]
#[cfg(feature = "txdone-callback")]
#[cfg(feature = "txdone-callback")]
#[test]
fn send_error_of_a_queued_client_message_is_handed_out_in_order() {
    let mut st = tx_chan_depth(256, 2);
    let mut f = Fake::default();
    for c in 1..=4 {
        assert_eq!(st.submit_nb_client(&mut f, &[c as u8], c), 0);
    }
    // m0, m1 in flight; m2 will fail to send, m3 then goes.
    f.send_results.push_back(-EIO_TEST);
    assert_eq!(st.tx_done(&mut f, Some(0)), 0);
    assert_eq!(completions(&mut st, &mut f), [Completion { client: 1, token: 0, result: 0 }]);
    // m2 failed behind m1, which is still in flight: its error waits.
    assert!(!st.has_completion());
    assert_eq!(st.tx_done(&mut f, Some(1)), 0);
    let got = completions(&mut st, &mut f);
    assert_eq!(
        got,
        [Completion { client: 2, token: 1, result: 0 }, Completion { client: 3, token: 2, result: -EIO_TEST }]
    );
    assert_eq!(st.tx_done(&mut f, Some(3)), 0);
    assert_eq!(completions(&mut st, &mut f), [Completion { client: 4, token: 3, result: 0 }]);
    assert_eq!(f.n(Stat::SendErr), 1);
}

#[cfg(feature = "txdone-callback")]
#[cfg(feature = "txdone-callback")]
#[test]
fn deinit_hands_out_every_client_message_cancelled_in_order() {
    let mut st = tx_chan(128);
    let mut f = Fake::default();
    st.submit_nb_client(&mut f, b"in flight", 1);
    st.submit_nb(&mut f, b"plain");
    st.submit_nb_client(&mut f, b"queued", 2);
    assert_eq!(st.deinit(&mut f), 1);
    let got = completions(&mut st, &mut f);
    assert_eq!(
        got,
        [
            Completion { client: 1, token: 0, result: -ECANCELED },
            Completion { client: 2, token: 2, result: -ECANCELED }
        ]
    );
    // Each of the three ended once.
    assert_eq!(f.n(Stat::Cancelled), 3);
    assert!(!st.has_completion());
}

/// Messages without a TX-done client leave nothing to hand out after a
/// teardown: the one in flight and every queued one end there, counted
/// once each.
#[test]
fn deinit_without_clients_leaves_nothing_to_hand_out() {
    let mut st = tx_chan(128);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb(&mut f, b"in flight"), 0);
    assert_eq!(st.submit_nb(&mut f, b"queued 1"), 0);
    assert_eq!(st.submit_nb(&mut f, b"queued 2"), 0);
    assert_eq!(st.deinit(&mut f), 3);
    assert_eq!(f.n(Stat::Cancelled), 3);
    assert_eq!(st.queued(), 0);
    assert!(!st.has_completion());
    assert_eq!(st.take_completion(&mut f), None);
    assert_eq!(f.n(Stat::Cancelled), 3);
}

#[test]
fn delivery_claim_is_exclusive() {
    let claim = AtomicU8::new(0);
    let mut st = tx_chan(64);
    assert!(st.claim_delivery(11));
    assert!(!st.claim_delivery(12));
    assert!(st.delivery_in_progress());
    // Only the claimer would wait for itself in a teardown.
    assert!(st.owned_by(&claim, 11) && !st.owned_by(&claim, 12));
    st.release_delivery();
    assert!(!st.owned_by(&claim, 11));
    assert!(st.claim_delivery(12));
    st.rx_begin(&claim, 13).unwrap();
    assert!(st.owned_by(&claim, 13) && st.owned_by(&claim, 12) && !st.owned_by(&claim, 11));
    rx_release(&claim);
    assert!(!st.owned_by(&claim, 13));
}

/// A reception releases its claim after its callbacks, without the
/// critical section, while another context may hold the state under it:
/// the claim lies beside the state, so the release writes nothing that
/// borrow covers (Miri checks this), and the holder then sees the channel
/// free for the next reception and no longer owned by the receiver.
#[test]
fn rx_claim_released_while_state_is_borrowed() {
    let claim = AtomicU8::new(0);
    let mut st = tx_chan(64);
    st.rx_begin(&claim, 21).unwrap();
    assert_eq!(st.rx_begin(&claim, 22), Err(-EBUSY));
    assert!(rx_in_progress(&claim) && st.owned_by(&claim, 21));
    let held = &mut st;
    rx_release(&claim);
    assert!(!rx_in_progress(&claim) && !held.owned_by(&claim, 21));
    held.rx_begin(&claim, 22).unwrap();
    assert!(held.owned_by(&claim, 22));
}

#[cfg(feature = "txdone-methods")]
/// Polling and IRQ TX-done (state machine side): a channel in Poll mode
/// is completed by the watchdog polling `txacked`, one in Irq mode by
/// the lower half's report; each refuses the other's.
#[test]
fn poll_and_irq_txdone_methods_per_channel() {
    let mut poll = tx_chan(64);
    let mut irq = tx_chan(64);
    let (mut fp, mut fi) = (Fake::default(), Fake::default());
    assert_eq!(poll.set_txdone_method(TxDoneMethod::Poll, 2), Ok(()));
    assert_eq!(poll.submit_nb(&mut fp, b"p"), 0);
    assert_eq!(irq.submit_nb(&mut fi, b"i"), 0);
    // Armed for the poll period, not the 10-tick timeout.
    assert_eq!(fp.armed, Some(2));
    fp.acked_hw = true;
    assert_eq!(poll.tx_done(&mut fp, None), -EPERM);
    fp.now = 1;
    fp.acked_hw = false;
    fp.now = 2;
    poll.timer_expired(&mut fp);
    assert_eq!(poll.in_flight(), 1);
    assert_eq!(fp.armed, Some(4));
    fp.acked_hw = true;
    fp.now = 4;
    poll.timer_expired(&mut fp);
    assert_eq!(poll.in_flight(), 0);
    assert_eq!(fp.n(Stat::Acked), 1);
    fi.acked_hw = true;
    assert_eq!(irq.tx_done(&mut fi, None), 0);
    assert_eq!(irq.client_tx_done(&mut fi, 0), -EPERM);
}

#[cfg(feature = "txdone-methods")]
#[test]
fn ack_method_lets_the_client_complete_with_its_result() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.set_txdone_method(TxDoneMethod::Ack, 0), Ok(()));
    assert_eq!(st.client_tx_done(&mut f, 0), -ENOENT);
    frame!(w);
    st.submit_blocking(&mut f, w.submit(b"w", FOREVER));
    f.acked_hw = true;
    assert_eq!(st.tx_done(&mut f, None), -EPERM);
    assert_eq!(w.state(), WaitState::InFlight);
    assert_eq!(st.client_tx_done(&mut f, -EIO_TEST), 0);
    assert_eq!((w.state(), w.result()), (WaitState::Done, -EIO_TEST));
    assert_eq!(f.woken, 1);
}

#[cfg(feature = "txdone-methods")]
#[test]
fn txdone_method_changes_only_when_idle() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.set_txdone_method(TxDoneMethod::Poll, 0), Err(-EINVAL));
    st.submit_nb(&mut f, b"x");
    assert_eq!(st.set_txdone_method(TxDoneMethod::Ack, 0), Err(-EBUSY));
    assert_eq!(st.txdone_method(), TxDoneMethod::Irq);
    ack(&mut st, &mut f);
    assert_eq!(st.set_txdone_method(TxDoneMethod::Ack, 0), Ok(()));
    assert_eq!(st.txdone_method(), TxDoneMethod::Ack);
}

#[cfg(feature = "txdone-methods")]
#[test]
fn polled_waiter_completes_by_polling_and_is_never_woken() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    st.submit_nb(&mut f, b"older");
    polled_frame!(w);
    assert_eq!(st.submit_blocking(&mut f, w.submit(b"poll", FOREVER)), Submit::Pending);
    assert_eq!(w.state(), WaitState::Queued);
    assert!(!st.poll_acked(&mut f));
    f.acked_hw = true;
    // The first poll completes the older message and starts ours.
    assert!(st.poll_acked(&mut f));
    assert_eq!(w.state(), WaitState::InFlight);
    f.acked_hw = true;
    assert!(st.poll_acked(&mut f));
    assert_eq!((w.state(), w.result()), (WaitState::Done, 0));
    assert_eq!(f.woken, 0);
    // Spins spent on another: taking it back aborts it.
    polled_frame!(w2);
    st.submit_blocking(&mut f, w2.submit(b"poll2", FOREVER));
    assert_eq!(st.waiter_timeout(&mut f, &w2), -ETIMEDOUT);
    assert_eq!(f.woken, 0);
    assert!(!st.is_busy());
}

#[cfg(feature = "txfifo")]
#[cfg(feature = "txdone-callback")]
#[test]
fn every_message_ends_exactly_once_with_depth_and_clients_under_random_events() {
    // As the depth-1 random test, with 3 slots and half the messages
    // carrying a client: every accepted message ends once, and every
    // client message is handed out exactly once, in token order.
    let mut seed: u64 = 7;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut st = tx_chan_depth(160, 3);
    let mut f = Fake::default();
    let (mut accepted, mut refused_send, mut accepted_clients) = (0usize, 0usize, Vec::new());
    let mut handed = Vec::new();
    let mut next_token = 0u32;
    for _ in 0..20000 {
        match rnd() % 7 {
            0 | 1 => {
                if rnd() % 7 == 0 {
                    f.send_results.push_back(-EIO_TEST);
                }
                let client = if rnd() % 2 == 0 { 1000 + next_token as usize } else { 0 };
                match st.submit_nb_client(&mut f, &[0; 7], client) {
                    0 => {
                        accepted += 1;
                        if client != 0 {
                            accepted_clients.push(next_token);
                        }
                    }
                    r if r == -ENOBUFS => {}
                    _ => refused_send += 1,
                }
                // A refused message still used up its sequence number
                // when the immediate send failed; ENOBUFS did not.
                next_token = st_next_seq(&st);
            }
            2 => {
                let t = st.inflight_token();
                if let Some(t) = t {
                    st.tx_done(&mut f, Some(t));
                }
            }
            3 => {
                let t = st.inflight_token().unwrap_or(0);
                st.tx_done(&mut f, Some(t.wrapping_add(1)));
            }
            4 => {
                f.now += 3;
                expire(&mut st, &mut f);
            }
            5 => handed.extend(completions(&mut st, &mut f)),
            _ => {
                assert!(st.in_flight() <= 3);
            }
        }
        assert_watchdog_covers_in_flight(&st, &f);
    }
    st.deinit(&mut f);
    handed.extend(completions(&mut st, &mut f));
    let tokens: Vec<u32> = f.sent.iter().map(|s| s.0).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "sent out of order");
    let queued_send_err = f.n(Stat::SendErr) - refused_send;
    assert_eq!(accepted, f.n(Stat::Acked) + f.n(Stat::Timeout) + queued_send_err + f.n(Stat::Cancelled));
    let got: Vec<u32> = handed.iter().map(|c| c.token).collect();
    assert_eq!(got, accepted_clients, "a client message was lost, repeated or reordered");
    assert!(handed.iter().all(|c| c.client == 1000 + c.token as usize));
    assert!(f.n(Stat::Acked) > 100 && f.n(Stat::Timeout) > 100 && queued_send_err > 10);
}

#[cfg(feature = "txdone-callback")]
/// The sequence number the next accepted message will get.
fn st_next_seq(st: &ChanState) -> u32 {
    st.next_seq
}

// ---- The watchdog stays armed across messages ----

/// Back-to-back messages, each ACKed before its deadline, on every send
/// path (immediate non-blocking, queued non-blocking, blocking): the
/// watchdog is armed once for all of them and never cancelled, and each
/// send or ACK that starts a message reads the clock once (an ACK that
/// leaves the channel idle reads it not at all).
#[test]
fn back_to_back_acked_messages_arm_the_watchdog_once_and_never_cancel_it() {
    const N: usize = 8;
    let mut st = tx_chan(256);
    let mut f = Fake::default();
    // Immediate sends on an idle channel, the clock moving on.
    for i in 0..N {
        f.now = i as Ticks;
        let reads = f.reads.get();
        assert_eq!(st.submit_nb(&mut f, b"nb"), 0);
        assert_eq!(f.reads.get() - reads, 1, "one clock read per send");
        assert_eq!(ack(&mut st, &mut f), 0);
        assert_eq!(f.reads.get() - reads, 1, "no clock read for an ACK that leaves the channel idle");
    }
    assert_eq!((f.arms, f.disarms, f.armed), (1, 0, Some(10)));
    // Queued behind one another: each ACK starts the next message.
    for _ in 0..N {
        assert_eq!(st.submit_nb(&mut f, b"q"), 0);
    }
    for i in 0..N {
        let reads = f.reads.get();
        assert_eq!(ack(&mut st, &mut f), 0);
        let want = if i + 1 < N { 1 } else { 0 };
        assert_eq!(f.reads.get() - reads, want);
    }
    // Blocking senders, one after another.
    for _ in 0..N {
        frame!(w);
        let due = f.now + 5;
        assert_eq!(st.submit_blocking(&mut f, w.submit(b"w", due)), Submit::Pending);
        assert_eq!(ack(&mut st, &mut f), 0);
        assert_eq!((w.state(), w.result()), (WaitState::Done, 0));
    }
    assert_eq!(f.n(Stat::Acked), 3 * N);
    assert_eq!((f.arms, f.disarms, f.armed), (1, 0, Some(10)));
    // Its expiry, long after, finds nothing and leaves it disarmed.
    assert_eq!(fire(&mut st, &mut f), 10);
    assert_eq!((f.arms, f.n(Stat::Timeout)), (1, 0));
}

/// A message whose ACK never comes times out at its own deadline, even
/// though the watchdog was armed for an earlier message: the early expiry
/// times out nothing and re-arms for exactly the remainder.
#[test]
fn unacked_message_times_out_at_its_own_deadline_after_an_early_expiry() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb(&mut f, b"M1"), 0); // due 10
    f.now = 4;
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(st.submit_nb(&mut f, b"M2"), 0); // due 14, never ACKed
    assert_eq!((f.arms, f.armed), (1, Some(10)));
    // The expiry armed for M1: M2 is not due.
    assert_eq!(fire(&mut st, &mut f), 10);
    assert_eq!((f.n(Stat::Timeout), st.inflight_token()), (0, Some(1)));
    assert_eq!(f.armed, Some(14));
    // A spurious callback before then changes nothing either (it cannot
    // tell whether the watchdog is still armed, so it arms it again).
    f.now = 13;
    st.timer_expired(&mut f);
    assert_eq!((f.n(Stat::Timeout), st.inflight_token()), (0, Some(1)));
    assert_eq!(f.armed, Some(14));
    // At its own deadline, by the watchdog: timed out then.
    assert_eq!(fire(&mut st, &mut f), 14);
    assert_eq!(f.n(Stat::Timeout), 1);
    assert!(!st.is_busy());
    assert_eq!(f.finished, [0, 1]);
    // Idle: nothing armed any more, and the next message arms anew.
    assert_eq!(f.armed, None);
    f.now = 20;
    assert_eq!(st.submit_nb(&mut f, b"M3"), 0);
    assert_eq!((f.armed, f.arms, f.disarms), (Some(30), 4, 0));
}

#[cfg(feature = "txfifo")]
/// A message that needs an earlier expiry than the armed one (a shorter
/// blocking timeout, or one of several in flight) re-arms the watchdog
/// earlier; a later one never does.
#[test]
fn watchdog_is_rearmed_only_for_an_earlier_deadline() {
    let mut st = tx_chan_depth(128, 2);
    let mut f = Fake::default();
    frame!(w1);
    frame!(w2);
    assert_eq!(st.submit_blocking(&mut f, w1.submit(b"w1", 50)), Submit::Pending);
    assert_eq!((f.arms, f.armed), (1, Some(50)));
    assert_eq!(st.submit_blocking(&mut f, w2.submit(b"w2", 3)), Submit::Pending);
    assert_eq!((f.arms, f.armed), (2, Some(3)));
    assert_eq!(st.tx_done(&mut f, Some(0)), 0);
    // w2 (due 3) times out at 3; w1 is done already.
    assert_eq!(fire(&mut st, &mut f), 3);
    assert_eq!((w2.state(), w2.result()), (WaitState::Done, -ETIMEDOUT));
    assert_eq!((w1.state(), w1.result()), (WaitState::Done, 0));
    // Idle after that expiry: nothing armed, nothing cancelled.
    assert_eq!((f.armed, f.arms, f.disarms), (None, 2, 0));
}

/// An idle channel whose watchdog is still armed from its last message:
/// the expiry counts no timeout, touches no message, and does not re-arm.
/// A message submitted after the expiry fired but before its callback
/// ran is covered by that callback's re-arm.
#[test]
fn idle_channel_expiry_is_harmless_and_a_pending_callback_covers_the_next_message() {
    let mut st = tx_chan(64);
    let mut f = Fake::default();
    assert_eq!(st.submit_nb(&mut f, b"a"), 0);
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!(fire(&mut st, &mut f), 10);
    assert_eq!((f.n(Stat::Timeout), f.txfinish, f.sent.len()), (0, 1, 1));
    assert_eq!((f.armed, f.arms), (None, 1));
    // Armed again by the next message (due 20), which is ACKed.
    assert_eq!(st.submit_nb(&mut f, b"b"), 0);
    assert_eq!(ack(&mut st, &mut f), 0);
    assert_eq!((f.armed, f.arms), (Some(20), 2));
    // The timer fires at 20, its callback waits for the lock while "c"
    // (due 30) goes out without arming: the callback re-arms for it.
    let at = f.armed.take().unwrap();
    f.now = at;
    assert_eq!(st.submit_nb(&mut f, b"c"), 0);
    assert_eq!(f.arms, 2);
    st.timer_expired(&mut f);
    assert_eq!((f.n(Stat::Timeout), f.armed, f.arms), (0, Some(30), 3));
    assert_eq!(fire(&mut st, &mut f), 30);
    assert_eq!(f.n(Stat::Timeout), 1);
    assert_eq!(f.disarms, 0);
}
