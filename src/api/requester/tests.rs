//! Tests of [`Requester`] over the loopback lower half.

extern crate std;

use std::sync::Mutex;
use std::thread;

use std::vec::Vec;

use super::*;
use crate::api::testing::{leak_buf, leak_chan, Loopback};
use crate::api::tests::{pair, wait_until};

struct FirstByte;
impl Tag for FirstByte {
    fn tag(msg: &[u8]) -> Option<u32> {
        msg.first().map(|&b| u32::from(b))
    }
}
static UNSOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
fn unsol(m: Result<&[u8]>) {
    UNSOL.lock().unwrap().push(m.unwrap().to_vec());
}

fn leak_rr() -> &'static mut RrStorage {
    std::boxed::Box::leak(std::boxed::Box::new(RrStorage::new()))
}

#[test]
fn each_request_gets_the_reply_with_its_tag() {
    let (lb, tx, rx) = pair(16, 64, 1000);
    lb.set_echo(false); // replies come only from the test
    let rr = Requester::tagged::<FirstByte>(leak_rr(), &tx, &rx, Some(&unsol)).unwrap();
    let (one, two) = thread::scope(|sc| {
        let h1 = sc.spawn(|| {
            let mut buf = [0u8; 16];
            rr.request(&[1, b'?'], &mut buf, Timeout::Ticks(3000)).map(|n| buf[..n].to_vec())
        });
        assert!(wait_until(2000, || lb.sent().len() == 1));
        let h2 = sc.spawn(|| {
            let mut buf = [0u8; 16];
            rr.request(&[2, b'?'], &mut buf, Timeout::Ticks(3000)).map(|n| buf[..n].to_vec())
        });
        assert!(wait_until(2000, || lb.sent().len() == 2));
        // Answered in reverse order, with an unsolicited message between.
        assert_eq!(lb.inject(&[2, b'B', b'B'], true), 3);
        assert_eq!(lb.inject(&[9, b'x'], true), 2);
        assert_eq!(lb.inject(&[1, b'A'], true), 2);
        (h1.join().unwrap(), h2.join().unwrap())
    });
    assert_eq!(one, Ok(std::vec![1, b'A']));
    assert_eq!(two, Ok(std::vec![2, b'B', b'B']));
    assert_eq!(*UNSOL.lock().unwrap(), std::vec![std::vec![9, b'x']]);
    // No reply: TimedOut; a reply larger than the buffer: MsgSize.
    let mut small = [0u8; 2];
    assert_eq!(rr.request(&[3], &mut small, Timeout::Ticks(20)), Err(Error::TimedOut));
    thread::scope(|sc| {
        let h = sc.spawn(|| {
            let mut small = [0u8; 2];
            let r = rr.request(&[4], &mut small, Timeout::Ticks(3000));
            (r, small)
        });
        assert!(wait_until(2000, || lb.sent().len() == 4));
        lb.inject(&[4, 5, 6, 7], true);
        assert_eq!(h.join().unwrap(), (Err(Error::MsgSize), [4, 5]));
    });
    assert_eq!(rr.request(&[], &mut small, Timeout::Ticks(20)), Err(Error::Invalid), "no tag");
    assert_eq!(rr.request(&[5], &mut small, Timeout::NonBlocking), Err(Error::Invalid));
    drop(rr);
    // In order, with the echoing remote: the echo answers each request.
    lb.set_echo(true);
    let rr = Requester::in_order(leak_rr(), &tx, &rx, None).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(rr.request(b"ping", &mut buf, Timeout::Forever), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    // Wrong directions are refused.
    assert_eq!(Requester::in_order(leak_rr(), &rx, &tx, None).err(), Some(Error::Invalid));
}

static DL: Mutex<Option<Channel<'static>>> = Mutex::new(None);
static DL_RES: Mutex<Vec<Result<()>>> = Mutex::new(Vec::new());
fn dl_cb(_m: Result<&[u8]>) {
    if let Some(ch) = DL.lock().unwrap().take() {
        DL_RES.lock().unwrap().push(ch.deinit());
    } else {
        DL_RES.lock().unwrap().push(Ok(()));
    }
}

#[test]
fn deinit_from_own_callback_is_deadlock() {
    let lb = Loopback::new(16);
    let dev = lb.device();
    let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16)).unwrap();
    // The receiver on a second (adopted) handle, the owner in a static
    // where the callback finds it.
    let adopted: &'static Channel<'static> = std::boxed::Box::leak(std::boxed::Box::new(dev.channel(1).unwrap()));
    let mut r = adopted.receiver().unwrap();
    r.register(&dl_cb).unwrap();
    *DL.lock().unwrap() = Some(rx);
    // A reception in task context (a lower half's polling path): the
    // callback's deinit would wait for itself.
    assert_eq!(lb.inject(b"x", false), 1);
    assert_eq!(*DL_RES.lock().unwrap(), std::vec![Err(Error::Deadlock)]);
    // Nothing changed: the channel is still live and delivers.
    assert_eq!(lb.inject(b"y", true), 1);
    assert_eq!(DL_RES.lock().unwrap().len(), 2);
    assert_eq!(adopted.mtu(), 16);
}

/// The send paths pass the message's pointer on to the lower half: an
/// empty message goes with a real, readable address (an empty slice's
/// own pointer is dangling), a non-empty one with its own.
#[test]
fn empty_message_is_passed_with_a_readable_pointer() {
    use crate::shell::capi::{Msg, EMPTY_MSG};
    let p = Msg::of(&[]).bytes(0).unwrap().as_ptr();
    assert!(!p.is_null());
    assert_eq!(p, ptr::addr_of!(EMPTY_MSG).cast());
    // SAFETY: points at the static word EMPTY_MSG.
    assert_eq!(unsafe { p.cast::<u32>().read() }, 0);
    let msg = [1u8, 2, 3];
    assert_eq!(Msg::of(&msg).bytes(3).unwrap().as_ptr(), msg.as_ptr());
    // And an empty message is accepted end to end.
    let lb = Loopback::new(16);
    let dev = lb.device();
    let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(64)).unwrap();
    let s = tx.sender().unwrap();
    s.send(&[]).unwrap();
    assert_eq!(lb.sent(), std::vec![std::vec::Vec::<u8>::new()]);
}
