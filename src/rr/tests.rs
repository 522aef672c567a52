//! Unit tests of the request/response matching ([`Pending`]), driven
//! directly: records on the test's stack (boxed so they stay in place),
//! replies delivered as plain slices.

extern crate std;

use std::boxed::Box;
use std::vec::Vec;

use super::*;

/// A requester's record, boxed so that it stays in place, with a reply
/// buffer of 8 bytes (leaked: the record borrows it).
type Req = Box<Record<'static>>;

fn req(tag: Option<u32>) -> Req {
    Box::new(Record::new(tag, Box::leak(Box::new([0u8; 8]))))
}

fn link(p: &Pending, r: &Record<'_>) -> Result<(), i32> {
    // SAFETY: the box keeps the record in place; every test keeps it
    // alive until the record is Done or removed.
    unsafe { p.insert(r) }
}

/// What the record's reply buffer holds.
fn buf(r: &Record<'_>) -> Vec<u8> {
    let b = r.buf.take();
    let v = b.to_vec();
    r.buf.set(b);
    v
}

#[test]
fn reply_goes_to_the_request_with_its_tag_not_the_oldest() {
    let p = Pending::new();
    let (a, b, c) = (req(Some(1)), req(Some(2)), req(Some(3)));
    link(&p, &a).unwrap();
    link(&p, &b).unwrap();
    link(&p, &c).unwrap();
    // Replies in reverse order.
    for (tag, body) in [(3u32, b"three".as_slice()), (1, b"one"), (2, b"two")] {
        let r = p.complete(Some(tag), body).expect("pending request with that tag");
        assert_eq!(r.tag(), Some(tag));
        assert_eq!(r.state(), RecState::Done);
        assert_eq!(r.result(), 0);
    }
    assert!(p.is_empty());
    assert_eq!((&buf(&a)[..3], a.reply_len()), (b"one".as_slice(), 3));
    assert_eq!((&buf(&b)[..3], b.reply_len()), (b"two".as_slice(), 3));
    assert_eq!((&buf(&c)[..5], c.reply_len()), (b"three".as_slice(), 5));
}

#[test]
fn match_reply_finds_without_taking() {
    let p = Pending::new();
    let (a, b) = (req(Some(7)), req(Some(8)));
    link(&p, &a).unwrap();
    link(&p, &b).unwrap();
    assert_eq!(p.match_reply(Some(8)).map(|r| r.tag()), Some(Some(8)));
    assert!(p.match_reply(Some(9)).is_none());
    assert_eq!(p.len(), 2);
    assert_eq!(b.state(), RecState::Waiting);
    p.cancel_all(-ECANCELED, |_| ());
}

#[test]
fn in_order_default_reply_answers_the_oldest() {
    let p = Pending::new();
    let (a, b) = (req(None), req(None));
    link(&p, &a).unwrap();
    link(&p, &b).unwrap();
    assert!(p.complete(None, b"first").is_some());
    assert_eq!(a.state(), RecState::Done);
    assert_eq!(b.state(), RecState::Waiting);
    assert!(p.complete(None, b"second").is_some());
    assert_eq!(&buf(&a)[..5], b"first");
    assert_eq!(&buf(&b)[..6], b"second");
    // In-order requests carry no tag: several may be pending.
    assert!(p.complete(None, b"third").is_none(), "nothing pending: unsolicited");
}

#[test]
fn duplicate_tag_is_refused_until_the_first_is_done() {
    let p = Pending::new();
    let (a, b, c) = (req(Some(5)), req(Some(5)), req(Some(5)));
    link(&p, &a).unwrap();
    assert_eq!(link(&p, &b), Err(-EBUSY));
    assert_eq!(b.state(), RecState::Idle, "a refused record is not linked");
    assert_eq!(p.len(), 1);
    assert!(p.complete(Some(5), b"x").is_some());
    link(&p, &c).unwrap();
    assert_eq!(p.len(), 1);
    p.cancel_all(-ECANCELED, |_| ());
}

#[test]
fn a_linked_or_done_record_cannot_be_inserted_again() {
    let p = Pending::new();
    let a = req(Some(1));
    link(&p, &a).unwrap();
    assert_eq!(link(&p, &a), Err(-EINVAL));
    p.complete(Some(1), b"").unwrap();
    assert_eq!(link(&p, &a), Err(-EINVAL));
    assert!(p.is_empty());
}

#[test]
fn unsolicited_messages_match_nothing_and_change_nothing() {
    let p = Pending::new();
    assert!(p.complete(Some(1), b"x").is_none());
    assert!(p.complete(None, b"x").is_none());
    let a = req(Some(1));
    link(&p, &a).unwrap();
    assert!(p.complete(Some(2), b"notify").is_none());
    assert_eq!(a.state(), RecState::Waiting);
    assert_eq!(buf(&a), [0; 8], "an unsolicited message is not copied anywhere");
    assert_eq!(p.len(), 1);
    p.complete(Some(1), b"ok").unwrap();
}

#[test]
fn timeout_unlinks_and_a_late_reply_is_unsolicited() {
    let p = Pending::new();
    let (a, b) = (req(Some(1)), req(Some(2)));
    link(&p, &a).unwrap();
    link(&p, &b).unwrap();
    // a's requester times out: takes its record back.
    assert!(p.remove(&a));
    assert_eq!(a.state(), RecState::Idle);
    assert_eq!(p.len(), 1);
    assert!(!p.remove(&a), "removed twice");
    // Its late reply answers nothing and does not touch its buffer.
    assert!(p.complete(Some(1), b"late").is_none());
    assert_eq!(buf(&a), [0; 8]);
    // The tag is free again; b is unaffected.
    let a2 = req(Some(1));
    link(&p, &a2).unwrap();
    assert!(p.complete(Some(2), b"b").is_some());
    assert!(p.complete(Some(1), b"a2").is_some());
    assert_eq!(&buf(&a2)[..2], b"a2");
}

#[test]
fn reply_that_won_the_race_is_kept_not_removed() {
    let p = Pending::new();
    let a = req(Some(1));
    link(&p, &a).unwrap();
    p.complete(Some(1), b"won").unwrap();
    // The requester's deadline passed just after: remove reports that
    // the record is no longer pending, and the reply stands.
    assert!(!p.remove(&a));
    assert_eq!(a.state(), RecState::Done);
    assert_eq!(a.result(), 0);
    assert_eq!(&buf(&a)[..3], b"won");
}

#[test]
fn remove_ignores_a_record_of_another_list() {
    let (p, q) = (Pending::new(), Pending::new());
    let (a, b) = (req(Some(1)), req(Some(2)));
    link(&p, &a).unwrap();
    link(&q, &b).unwrap();
    assert!(!p.remove(&b));
    assert_eq!((p.len(), q.len()), (1, 1));
    assert!(q.remove(&b));
    assert!(p.remove(&a));
}

#[test]
fn remove_from_the_middle_keeps_fifo_order() {
    let p = Pending::new();
    let (a, b, c) = (req(None), req(None), req(None));
    link(&p, &a).unwrap();
    link(&p, &b).unwrap();
    link(&p, &c).unwrap();
    assert!(p.remove(&b));
    p.complete(None, b"1").unwrap();
    p.complete(None, b"2").unwrap();
    assert_eq!((buf(&a)[0], buf(&c)[0]), (b'1', b'2'));
    assert!(p.is_empty());
    // The list is reusable after draining (head and tail reset).
    let d = req(None);
    link(&p, &d).unwrap();
    p.complete(None, b"3").unwrap();
    assert_eq!(buf(&d)[0], b'3');
}

#[test]
fn reply_larger_than_buffer_is_emsgsize_truncated_with_real_size() {
    let p = Pending::new();
    let a = req(Some(1));
    link(&p, &a).unwrap();
    let big = *b"0123456789ab";
    let r = p.complete(Some(1), &big).unwrap();
    assert_eq!(r.result(), -EMSGSIZE);
    assert_eq!(r.reply_len(), 12);
    assert_eq!(&buf(&a), b"01234567");
    assert!(p.is_empty(), "the oversized reply consumed its request");
}

#[test]
fn zero_capacity_request_accepts_an_empty_reply_only() {
    let p = Pending::new();
    let r1 = Record::new(Some(1), &mut []);
    let r2 = Record::new(Some(2), &mut []);
    // SAFETY: both records outlive the list's use of them (this frame).
    unsafe {
        p.insert(&r1).unwrap();
        p.insert(&r2).unwrap();
    }
    assert_eq!(p.complete(Some(1), b"").map(|r| r.result()), Some(0));
    assert_eq!(p.complete(Some(2), b"x").map(|r| (r.result(), r.reply_len())), Some((-EMSGSIZE, 1)));
}

#[test]
fn cancel_all_finishes_every_request_oldest_first() {
    let p = Pending::new();
    let rs: Vec<Req> = (0..4).map(|i| req(Some(i))).collect();
    for r in rs.iter() {
        link(&p, r).unwrap();
    }
    assert!(p.remove(&rs[2]));
    let mut woken = Vec::new();
    let n = p.cancel_all(-ECANCELED, |r| {
        assert_eq!(r.state(), RecState::Done);
        woken.push(r.tag().unwrap());
    });
    assert_eq!(n, 3);
    assert_eq!(woken, [0, 1, 3]);
    assert!(p.is_empty());
    for i in [0, 1, 3] {
        assert_eq!(rs[i].result(), -ECANCELED);
    }
    assert_eq!(rs[2].state(), RecState::Idle);
    assert!(p.complete(Some(0), b"late").is_none());
}

#[test]
fn ticks_to_clock_maps_forever_and_never_zero() {
    #[allow(clippy::unnecessary_cast)]
    let forever = (-1i64) as clock_t;
    assert!(ticks_to_clock(FOREVER) == forever);
    assert!(ticks_to_clock(0) == 1 as clock_t, "a blocking send needs a timeout > 0");
    assert!(ticks_to_clock(25) == 25 as clock_t);
    assert!(ticks_to_clock(FOREVER - 1) != forever);
    assert_eq!(deadline_from(10, FOREVER), FOREVER);
    assert_eq!(deadline_from(10, 5), 15);
    assert_eq!(deadline_from(FOREVER - 3, 10), FOREVER - 1);
}
