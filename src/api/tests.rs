//! Tests of the safe API over real channels: the loopback lower half of
//! `api::testing` (and PL320 over the register model) on the host port.
//! Every callback is a `fn` item with its own statics, so the tests may run
//! in parallel.

extern crate std;

use core::ffi::c_int;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::testing::{init_tx_in_c, leak_buf, leak_chan, Loopback};
use super::*;
use crate::upper::errno::*;

pub(super) fn wait_until(ms: u64, f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    f()
}

/// A TX and an RX channel on a fresh loopback device.
pub(super) fn pair(
    mtu: usize,
    txbuf: usize,
    timeout: clock_t,
) -> (&'static Loopback, Channel<'static>, Channel<'static>) {
    let lb = Loopback::new(mtu);
    let dev = lb.device();
    let tc = leak_chan();
    tc.timeout = timeout;
    let tx = Channel::init(tc, &dev, Direction::Tx, leak_buf(txbuf)).expect("tx init");
    let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(mtu)).expect("rx init");
    (lb, tx, rx)
}

#[test]
fn errno_mapping() {
    let all = [
        (EINVAL, Error::Invalid),
        (EBUSY, Error::Busy),
        (ENOBUFS, Error::NoBufs),
        (ETIMEDOUT, Error::TimedOut),
        (ECANCELED, Error::Cancelled),
        (EMSGSIZE, Error::MsgSize),
        (EPERM, Error::Perm),
        (ENOENT, Error::NoEnt),
        (ENOSYS, Error::NoSys),
        (EAGAIN, Error::Again),
        (ENODEV, Error::NoDev),
        (ENOMEM, Error::NoMem),
        (ENOSPC, Error::NoSpace),
        (EDEADLK, Error::Deadlock),
    ];
    for (e, v) in all {
        assert_eq!(Error::from_errno(-e), v);
        assert_eq!(Error::from_errno(e), v);
        assert_eq!(v.errno(), e);
    }
    assert_eq!(Error::from_errno(-ESRCH), Error::Other(ESRCH));
    assert_eq!(Error::Other(ESRCH).errno(), ESRCH);
    assert_eq!(check(0), Ok(()));
    assert_eq!(check(-ETIMEDOUT), Err(Error::TimedOut));
    assert_eq!(std::format!("{}", Error::MsgSize), "message larger than the MTU (EMSGSIZE)");
    assert_eq!(std::format!("{}", Error::Other(3)), "mailbox error 3");
    assert_eq!((ENOSPC, EDEADLK), (28, 35));
    assert_eq!(std::format!("{}", Error::Deadlock), "would wait for itself (EDEADLK)");
}

#[test]
fn timeout_to_clock() {
    #[allow(clippy::unnecessary_cast)]
    let forever = -1i64 as clock_t;
    assert_eq!(Timeout::NonBlocking.to_clock(), 0 as clock_t);
    assert_eq!(Timeout::Ticks(0).to_clock(), 0 as clock_t);
    assert_eq!(Timeout::Ticks(25).to_clock(), 25 as clock_t);
    assert_eq!(Timeout::Forever.to_clock(), forever);
    let big = Timeout::Ticks(u32::MAX).to_clock();
    assert_ne!(big, forever);
    #[allow(unused_comparisons)]
    let positive = big > 0 as clock_t;
    assert!(positive);
}

static OK_BYTES: Mutex<Vec<u8>> = Mutex::new(Vec::new());
fn ok_cb(m: Result<&[u8]>) {
    OK_BYTES.lock().unwrap().extend_from_slice(m.expect("reception ok"));
}

#[test]
fn blocking_send_ok_and_received() {
    let (lb, tx, rx) = pair(16, 64, 1000);
    assert_eq!((tx.mtu(), tx.direction(), tx.is_owned()), (16, Direction::Tx, true));
    assert_eq!(rx.direction(), Direction::Rx);
    let mut r = rx.receiver().unwrap();
    r.register(&ok_cb).unwrap();
    let s = tx.sender().unwrap();
    assert_eq!(s.send(b"abc"), Ok(()));
    assert_eq!(s.send_timeout(b"defg", Timeout::Ticks(1000)), Ok(()));
    assert_eq!(s.send_timeout(b"", Timeout::Forever), Ok(()));
    // The loopback delivers before it ACKs: the bytes are there already.
    assert_eq!(&OK_BYTES.lock().unwrap()[..], b"abcdefg");
    assert_eq!(lb.sent(), std::vec![b"abc".to_vec(), b"defg".to_vec(), Vec::new()]);
    #[cfg(feature = "trace")]
    {
        let st = tx.stats().unwrap();
        assert_eq!((st.sent, st.acked, st.timeout), (3, 3, 0));
        assert_eq!(rx.stats().unwrap().received, 3);
    }
}

#[test]
fn timeouts_and_msgsize_map_to_errors() {
    let (lb, tx, _rx) = pair(16, 64, 30);
    lb.set_ack_delay_ms(-1); // a silent remote
    let s = tx.sender().unwrap();
    assert_eq!(s.send_timeout(b"x", Timeout::Ticks(20)), Err(Error::TimedOut));
    let t0 = Instant::now();
    assert_eq!(s.send(b"y"), Err(Error::TimedOut)); // the channel's 30 ticks
    assert!(t0.elapsed() >= Duration::from_millis(25));
    assert_eq!(s.send(&[0; 17]), Err(Error::MsgSize));
    assert_eq!(s.try_send(&[0; 17]), Err(Error::MsgSize));
    assert_eq!(s.send_timeout(&[0; 17], Timeout::Forever), Err(Error::MsgSize));
    assert_eq!(lb.sent().len(), 2, "oversized messages never reach the lower half");
    #[cfg(feature = "trace")]
    assert_eq!(tx.stats().unwrap().timeout, 2);
}

static Q_MSGS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
fn q_cb(m: Result<&[u8]>) {
    Q_MSGS.lock().unwrap().push(m.unwrap().to_vec());
}

#[test]
fn try_send_queues_then_no_bufs() {
    // 20 bytes of queue: two 4-byte messages (6 + 4 bytes each).
    let (lb, tx, rx) = pair(16, 20, 1000);
    lb.set_ack_delay_ms(100);
    let mut r = rx.receiver().unwrap();
    r.register(&q_cb).unwrap();
    let s = tx.sender().unwrap();
    assert_eq!(s.try_send(b"msg0"), Ok(())); // idle: in flight at once
    assert_eq!(s.try_send(b"msg1"), Ok(())); // queued
    assert_eq!(s.try_send(b"msg2"), Ok(())); // queued
    assert_eq!(s.try_send(b"msg3"), Err(Error::NoBufs));
    assert!(wait_until(3000, || Q_MSGS.lock().unwrap().len() == 3));
    assert_eq!(*Q_MSGS.lock().unwrap(), std::vec![b"msg0".to_vec(), b"msg1".to_vec(), b"msg2".to_vec()]);
    #[cfg(feature = "trace")]
    {
        assert!(wait_until(1000, || tx.stats().unwrap().acked == 3));
        let st = tx.stats().unwrap();
        // Nothing waits any more; two did at most.
        assert_eq!((st.queue_full, st.buffered, st.max_queued), (1, 0, 2));
    }
}

static DROP_N: AtomicUsize = AtomicUsize::new(0);
fn drop_cb(_m: Result<&[u8]>) {
    DROP_N.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn receiver_unregisters_on_drop() {
    let (_lb, tx, rx) = pair(16, 64, 1000);
    let s = tx.sender().unwrap();
    {
        let mut r = rx.receiver().unwrap();
        r.register(&drop_cb).unwrap();
        s.send(b"one").unwrap();
        assert_eq!(DROP_N.load(Ordering::SeqCst), 1);
    }
    s.send(b"two").unwrap(); // ACKed, but nobody listens any more
    assert_eq!(DROP_N.load(Ordering::SeqCst), 1);
    #[cfg(feature = "trace")]
    assert_eq!(rx.stats().unwrap().rx_dropped, 1);
    // Explicit unregister, then register again on a new receiver.
    let mut r = rx.receiver().unwrap();
    r.register(&drop_cb).unwrap();
    r.unregister().unwrap();
    s.send(b"three").unwrap();
    assert_eq!(DROP_N.load(Ordering::SeqCst), 1);
    r.register(&drop_cb).unwrap();
    s.send(b"four").unwrap();
    assert_eq!(DROP_N.load(Ordering::SeqCst), 2);
}

#[test]
fn direction_is_checked() {
    let (_lb, tx, rx) = pair(16, 64, 1000);
    assert_eq!(rx.sender().err(), Some(Error::Invalid));
    assert_eq!(tx.receiver().err(), Some(Error::Invalid));
}

#[test]
fn two_threads_each_get_their_own_result() {
    let (lb, tx, _rx) = pair(16, 64, 1000);
    lb.set_ack_delay_ms(150);
    let s = tx.sender().unwrap();
    let (a, b) = thread::scope(|sc| {
        // A's message goes first and is ACKed after 150 ms; B's waits
        // behind it and gives up after 30 ticks: each gets its own result.
        let a = sc.spawn(|| s.send_timeout(b"A", Timeout::Ticks(2000)));
        assert!(wait_until(1000, || lb.sent().len() == 1));
        let b = sc.spawn(|| s.send_timeout(b"B", Timeout::Ticks(30)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a, Ok(()));
    assert_eq!(b, Err(Error::TimedOut));
    assert_eq!(lb.sent(), std::vec![b"A".to_vec()], "B timed out while queued");

    // Both succeed when there is time for both, through copies of one
    // Sender moved into the threads.
    lb.set_ack_delay_ms(20);
    let results: Vec<Result<()>> = thread::scope(|sc| {
        let hs: Vec<_> = (0..4u8).map(|i| sc.spawn(move || s.send_timeout(&[i], Timeout::Ticks(2000)))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, std::vec![Ok(()); 4]);
    assert_eq!(lb.sent().len(), 5);
}

#[test]
fn scope_deinits_on_return_and_on_panic() {
    let dev = Loopback::new(16).device();
    // SAFETY: all-zero is a de-initialised channel.
    let mut chan = unsafe { core::mem::zeroed::<mbox_chan_s>() };
    let mut buf = [0u8; 64];
    let r = Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |tx| tx.sender().and_then(|s| s.send(b"1")));
    assert_eq!(r, Ok(Ok(())));
    // De-initialised: the same storage initialises again (not -EBUSY).
    let r = Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |tx| tx.mtu());
    assert_eq!(r, Ok(16));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |_tx| panic!("in scope"))
    }));
    assert!(caught.is_err());
    let r = Channel::scope(&mut chan, &dev, Direction::Tx, &mut buf, |_| ());
    assert_eq!(r, Ok(()), "the panic's unwinding de-initialised the channel");
    // An RX buffer below the MTU is refused by mbox_chan_init.
    let mut small = [0u8; 8];
    assert_eq!(Channel::scope(&mut chan, &dev, Direction::Rx, &mut small, |_| ()), Err(Error::Invalid));
}

#[test]
fn init_errors() {
    let lb = Loopback::new(16);
    let dev = lb.device();
    let c = leak_chan();
    // Initialised behind our back (by a lower half, in C): -EBUSY.
    assert_eq!(init_tx_in_c(c, &dev), 0);
    assert_eq!(Channel::init(c, &dev, Direction::Tx, leak_buf(0)).err(), Some(Error::Busy));
    assert_eq!(Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(15)).err(), Some(Error::Invalid));
    // SAFETY: a null device is refused.
    assert!(unsafe { Device::from_raw(ptr::null_mut()) }.is_none());
}

#[test]
fn adopted_channel_belongs_to_the_lower_half() {
    let lb = Loopback::new(16);
    let dev = lb.device();
    assert!(dev.channel(0).is_none(), "nothing set up yet");
    let c = leak_chan();
    // The "lower half" initialises the channel itself.
    assert_eq!(init_tx_in_c(c, &dev), 0);
    let tx = dev.channel(0).expect("adopted");
    assert_eq!((tx.direction(), tx.mtu(), tx.is_owned()), (Direction::Tx, 16, false));
    tx.sender().unwrap().send(b"hi").unwrap();
    assert_eq!(tx.deinit(), Err(Error::Perm));
    // Still live after deinit() was refused and after a drop.
    drop(dev.channel(0).expect("adopted again"));
    let tx = dev.channel(0).unwrap();
    assert_eq!(tx.sender().unwrap().send(b"again"), Ok(()));
    // When its owner de-initialises it, the handle reports -EINVAL.
    let raw = tx.as_ptr();
    // SAFETY: the owner's own teardown of its channel.
    assert_eq!(capi::mbox_chan_deinit(unsafe { capi::CChan::from_ptr(raw) }), 0);
    assert_eq!(tx.sender().unwrap().send(b"gone"), Err(Error::Invalid));
}

// Either PL320 wire format: framed delivers each message's exact size,
// compatible (the default) every message as the MTU's 28 bytes.
#[cfg(feature = "pl320")]
mod pl320 {
    //! Adoption of the channels that `pl320_initialize()` set up, over the
    //! register model, one simulated core on each side.
    use super::*;
    use crate::pl320::abi::{pl320_chan_s, pl320_config_s, PL320_MTU};
    use crate::pl320::driver::pl320_initialize;
    use core::ffi::c_void;
    use std::boxed::Box;

    extern "C" {
        fn pl320_model_create(
            base: usize,
            nmbox: c_int,
            nint: c_int,
            datanum: c_int,
            irq_of_line: *const c_int,
        ) -> *mut c_void;
    }

    // Other than src/pl320/tests.rs (same test process).
    const BASE: usize = 0x5100_0000;
    const IRQ_A: c_int = 24;
    const IRQ_B: c_int = 25;
    const MBOX: u8 = 16;

    static GOT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    fn on_rx(m: Result<&[u8]>) {
        GOT.lock().unwrap().extend_from_slice(m.unwrap());
    }

    fn chan(tx: bool) -> &'static mut pl320_chan_s {
        // SAFETY: all-zero is C's `= { 0 }`: a valid, unused description.
        let c: &'static mut pl320_chan_s = Box::leak(Box::new(unsafe { core::mem::zeroed() }));
        c.mbox = MBOX;
        c.src = 1;
        c.dst = 2;
        if tx {
            let buf = leak_buf(256);
            c.ctrl = true;
            c.txbuf = buf.as_mut_ptr();
            c.bufsize = buf.len();
            c.base.timeout = 1000;
        }
        c
    }

    #[test]
    fn adopt_pl320_channels() {
        let mut lines = [-1 as c_int; 8];
        lines[1] = IRQ_A;
        lines[2] = IRQ_B;
        // SAFETY: valid arguments; the model lives for the process.
        assert!(!unsafe { pl320_model_create(BASE, 32, 8, 7, lines.as_ptr()) }.is_null());
        let cfg_a = Box::leak(Box::new(pl320_config_s { chans: chan(true), num_chans: 1, ipcmint: 1, irq_num: IRQ_A }));
        let cfg_b =
            Box::leak(Box::new(pl320_config_s { chans: chan(false), num_chans: 1, ipcmint: 2, irq_num: IRQ_B }));
        // SAFETY: leaked configurations; pl320_initialize's devices are
        // correct lower halves that live for the process.
        let (da, db) = unsafe {
            (
                Device::from_raw(pl320_initialize(Some(cfg_a), BASE)).expect("core A"),
                Device::from_raw(pl320_initialize(Some(cfg_b), BASE)).expect("core B"),
            )
        };
        let compat = !cfg!(feature = "pl320-framed");
        assert_eq!((da.mtu(), PL320_MTU), (PL320_MTU, if compat { 28 } else { 24 }));
        let tx = da.channel(MBOX as usize).expect("TX mailbox");
        let rx = db.channel(MBOX as usize).expect("RX mailbox");
        assert!(da.channel(3).is_none());
        assert_eq!((tx.direction(), rx.direction(), tx.mtu()), (Direction::Tx, Direction::Rx, PL320_MTU));
        let mut r = rx.receiver().unwrap();
        r.register(&on_rx).unwrap();
        let s = tx.sender().unwrap();
        assert_eq!(s.send(b"over the PL320"), Ok(()));
        assert_eq!(s.send(&[7; PL320_MTU + 1]), Err(Error::MsgSize));
        assert_eq!(s.try_send(b"+nb"), Ok(()));
        // Compatible: no length on the wire, each message arrives as the
        // MTU's bytes, zero-padded by the sender.
        let mut want = std::vec::Vec::new();
        for m in [&b"over the PL320"[..], b"+nb"] {
            want.extend_from_slice(m);
            if compat {
                want.resize(want.len() + PL320_MTU - m.len(), 0);
            }
        }
        assert!(wait_until(2000, || GOT.lock().unwrap().len() == want.len()));
        assert_eq!(&GOT.lock().unwrap()[..], &want[..]);
        assert_eq!(tx.deinit(), Err(Error::Perm), "PL320 owns its channels");
    }
}

// ---------------------------------------------------------------------
// The extensions beyond the NuttX API, through the safe API.
// ---------------------------------------------------------------------

#[cfg(feature = "txdone-callback")]
/// Results of a TX-done callback, in call order.
static TXD: Mutex<Vec<Result<()>>> = Mutex::new(Vec::new());
#[cfg(feature = "txdone-callback")]
fn txd_cb(r: Result<()>) {
    TXD.lock().unwrap().push(r);
}
#[cfg(feature = "txdone-callback")]
fn txd_len() -> usize {
    TXD.lock().unwrap().len()
}

#[cfg(feature = "txdone-callback")]
#[test]
fn tx_client_results_ok_timed_out_cancelled_in_order() {
    // 500 ticks of channel timeout (the deadline of non-blocking messages):
    // long enough for the remote's ACK on a loaded machine, short enough to
    // wait for the timeout.
    let (lb, tx, _rx) = pair(16, 128, 500);
    let client = tx.tx_client(&txd_cb).unwrap();
    client.try_send(b"acked").unwrap();
    assert!(wait_until(5000, || txd_len() == 1));
    lb.set_ack_delay_ms(-1); // a silent remote from now on
    client.try_send(b"lost").unwrap(); // the watchdog times it out
    assert!(wait_until(5000, || txd_len() == 2));
    // Refused at the call: no callback.
    assert_eq!(client.try_send(&[0; 17]), Err(Error::MsgSize));
    // One in flight, two queued, all cancelled by deinit (in order,
    // before deinit returns).
    for m in [&b"c1"[..], b"c2", b"c3"] {
        client.try_send(m).unwrap();
    }
    assert_eq!(txd_len(), 2, "nothing ended yet");
    client.keep_registered();
    tx.deinit().unwrap();
    let got = TXD.lock().unwrap().clone();
    assert_eq!(
        got,
        std::vec![Ok(()), Err(Error::TimedOut), Err(Error::Cancelled), Err(Error::Cancelled), Err(Error::Cancelled)]
    );
}

#[cfg(feature = "txdone-callback")]
static TXD2: AtomicUsize = AtomicUsize::new(0);
#[cfg(feature = "txdone-callback")]
fn txd2_cb(_r: Result<()>) {
    TXD2.fetch_add(1, Ordering::SeqCst);
}

#[cfg(feature = "txdone-callback")]
#[test]
fn tx_client_slots_and_unregister_on_drop() {
    let (lb, tx, rx) = pair(16, 128, 1000);
    assert_eq!(rx.tx_client(&txd2_cb).err(), Some(Error::Invalid));
    let cs: Vec<_> = (0..4).map(|_| tx.tx_client(&txd2_cb).unwrap()).collect();
    assert_eq!(tx.tx_client(&txd2_cb).err(), Some(Error::NoSpace));
    drop(cs);
    // A client dropped while its message waits: no call.
    lb.set_ack_delay_ms(100);
    let c = tx.tx_client(&txd2_cb).unwrap();
    c.try_send(b"x").unwrap();
    drop(c);
    let s = tx.sender().unwrap();
    assert_eq!(s.send(b"after"), Ok(()));
    assert_eq!(TXD2.load(Ordering::SeqCst), 0);
    // Registered by C code: four others leave no room on the C side.
    let raw: Vec<mbox_sender_s> =
        // SAFETY: a live channel, valid for the test.
        (0..4).map(|_| mbox_sender_s { chan: unsafe { capi::CChan::from_ptr(tx.as_ptr()) }, r#priv: ptr::null_mut() }).collect();
    unsafe extern "C" fn nop(_s: *mut mbox_sender_s, _a: *mut core::ffi::c_void, _r: c_int) {}
    for r in raw.iter() {
        // SAFETY: a valid sender of a live channel; removed below.
        assert_eq!(capi::mbox_register_txdone(Some(r), Some(nop), ptr::null_mut()), 0);
    }
    assert_eq!(tx.tx_client(&txd2_cb).err(), Some(Error::NoSpace));
    for r in raw.iter() {
        // SAFETY: as above.
        assert_eq!(capi::mbox_register_txdone(Some(r), None, ptr::null_mut()), 0);
    }
    let c = tx.tx_client(&txd2_cb).unwrap();
    c.try_send(b"y").unwrap();
    assert!(wait_until(2000, || TXD2.load(Ordering::SeqCst) == 1));
}

#[cfg(feature = "txdone-callback")]
static DEPTH_RX: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
#[cfg(feature = "txdone-callback")]
fn depth_rx(m: Result<&[u8]>) {
    DEPTH_RX.lock().unwrap().push(m.unwrap().to_vec());
}
#[cfg(feature = "txdone-callback")]
static DEPTH_TXD: Mutex<Vec<Result<()>>> = Mutex::new(Vec::new());
#[cfg(feature = "txdone-callback")]
fn depth_txd(r: Result<()>) {
    DEPTH_TXD.lock().unwrap().push(r);
}

#[cfg(all(feature = "txdone-callback", feature = "txfifo"))]
#[test]
fn several_messages_in_flight_ack_in_fifo_order() {
    const DEPTH: usize = 4;
    let lb = Loopback::with_depth(16, DEPTH);
    let dev = lb.device();
    let tx = Channel::init(leak_chan(), &dev, Direction::Tx, leak_buf(tx_buffer_size(DEPTH, 64))).unwrap();
    let rx = Channel::init(leak_chan(), &dev, Direction::Rx, leak_buf(16)).unwrap();
    assert_eq!(tx.txdepth(), Ok(DEPTH));
    assert_eq!(rx.txdepth(), Err(Error::Invalid));
    let mut r = rx.receiver().unwrap();
    r.register(&depth_rx).unwrap();
    let client = tx.tx_client(&depth_txd).unwrap();
    lb.hold(true); // the remote takes nothing yet
    let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| std::vec![b'm', i]).collect();
    for m in &msgs {
        client.try_send(m).unwrap();
    }
    // DEPTH messages handed to the lower half at once, the rest queued.
    assert_eq!(lb.sent(), msgs[..DEPTH].to_vec());
    assert!(DEPTH_TXD.lock().unwrap().is_empty());
    lb.hold(false);
    assert!(wait_until(3000, || DEPTH_TXD.lock().unwrap().len() == msgs.len()));
    assert_eq!(*DEPTH_TXD.lock().unwrap(), std::vec![Ok(()); msgs.len()]);
    assert_eq!(*DEPTH_RX.lock().unwrap(), msgs, "delivered in order");
    assert_eq!(lb.sent(), msgs);

    // Blocking senders too: DEPTH of them in flight at once, each Ok.
    lb.hold(true);
    let s = tx.sender().unwrap();
    let results: Vec<Result<()>> = thread::scope(|sc| {
        let hs: Vec<_> =
            (0..DEPTH as u8).map(|i| sc.spawn(move || s.send_timeout(&[i], Timeout::Ticks(3000)))).collect();
        assert!(wait_until(2000, || lb.sent().len() == msgs.len() + DEPTH), "all in flight while the remote holds");
        lb.hold(false);
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, std::vec![Ok(()); DEPTH]);
    #[cfg(feature = "trace")]
    assert_eq!(tx.stats().unwrap().acked, (msgs.len() + DEPTH) as _);
    // A depth-1 controller keeps one in flight.
    let (lb1, tx1, _rx1) = pair(16, 64, 1000);
    assert_eq!(tx1.txdepth(), Ok(1));
    lb1.hold(true);
    let s1 = tx1.sender().unwrap();
    s1.try_send(b"a").unwrap();
    s1.try_send(b"b").unwrap();
    assert_eq!(lb1.sent().len(), 1);
    lb1.hold(false);
}

#[cfg(feature = "multi-rx")]
static MC_A: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
#[cfg(feature = "multi-rx")]
static MC_B: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
#[cfg(feature = "multi-rx")]
fn mc_a(m: Result<&[u8]>) {
    MC_A.lock().unwrap().push(m.unwrap().to_vec());
}
#[cfg(feature = "multi-rx")]
fn mc_b(m: Result<&[u8]>) {
    MC_B.lock().unwrap().push(m.unwrap().to_vec());
}
#[cfg(feature = "multi-rx")]
unsafe extern "C" fn raw_rx_nop(
    _r: c_int,
    _c: *mut mbox_chan_s,
    _a: *mut core::ffi::c_void,
    _d: *mut core::ffi::c_void,
    _s: usize,
) -> c_int {
    0
}

#[cfg(feature = "multi-rx")]
#[test]
fn several_receivers_each_get_every_message() {
    let (_lb, tx, rx) = pair(16, 64, 1000);
    let s = tx.sender().unwrap();
    let mut a = rx.receiver().unwrap();
    let mut b = rx.receiver().unwrap();
    a.register(&mc_a).unwrap();
    b.register(&mc_b).unwrap();
    for m in [&b"one"[..], b"two", b"three"] {
        s.send(m).unwrap();
    }
    let want: Vec<Vec<u8>> = std::vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    assert_eq!(*MC_A.lock().unwrap(), want);
    assert_eq!(*MC_B.lock().unwrap(), want);
    #[cfg(feature = "trace")]
    assert_eq!(rx.stats().unwrap().received, 3, "counted once");
    // Four receivers per handle, then NoSpace.
    let c = rx.receiver().unwrap();
    let d = rx.receiver().unwrap();
    assert_eq!(rx.receiver().err(), Some(Error::NoSpace));
    drop((c, d));
    // The C side's limit counts C code's receivers too.
    let raw: Vec<mbox_receiver_s> =
        // SAFETY: a live channel, valid for the test.
        (0..2).map(|_| mbox_receiver_s { chan: unsafe { capi::CChan::from_ptr(rx.as_ptr()) }, r#priv: ptr::null_mut() }).collect();
    for r in raw.iter() {
        // SAFETY: a valid receiver of a live channel; removed below.
        assert_eq!(capi::mbox_register_rxcallback(Some(r), Some(raw_rx_nop), ptr::null_mut()), 0);
    }
    let mut e = rx.receiver().unwrap();
    assert_eq!(e.register(&mc_a), Err(Error::NoSpace));
    for r in raw.iter() {
        // SAFETY: as above.
        assert_eq!(capi::mbox_unregister_rxcallback(Some(r)), 0);
    }
    drop(e);
    // Dropping one receiver leaves the other registered.
    drop(a);
    s.send(b"four").unwrap();
    assert_eq!(MC_A.lock().unwrap().len(), 3);
    assert_eq!(MC_B.lock().unwrap().last().unwrap(), b"four");
    drop(b);
}

#[cfg(not(feature = "multi-rx"))]
static ONE_A: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
#[cfg(not(feature = "multi-rx"))]
static ONE_B: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
#[cfg(not(feature = "multi-rx"))]
fn one_a(m: Result<&[u8]>) {
    ONE_A.lock().unwrap().push(m.unwrap().to_vec());
}
#[cfg(not(feature = "multi-rx"))]
fn one_b(m: Result<&[u8]>) {
    ONE_B.lock().unwrap().push(m.unwrap().to_vec());
}

/// One receiver per channel (the NuttX C driver's rule): a second
/// registration replaces the first, whoever made it, and any receiver's
/// unregister clears the channel's one registration.
#[cfg(not(feature = "multi-rx"))]
#[test]
fn second_receiver_replaces_the_first_and_unregister_clears_it() {
    let (_lb, tx, rx) = pair(16, 64, 1000);
    let s = tx.sender().unwrap();
    let mut a = rx.receiver().unwrap();
    let mut b = rx.receiver().unwrap();
    a.register(&one_a).unwrap();
    s.send(b"one").unwrap();
    b.register(&one_b).unwrap();
    s.send(b"two").unwrap();
    assert_eq!(*ONE_A.lock().unwrap(), std::vec![b"one".to_vec()]);
    assert_eq!(*ONE_B.lock().unwrap(), std::vec![b"two".to_vec()]);
    // a's unregister clears b's registration: nobody gets "three".
    a.unregister().unwrap();
    s.send(b"three").unwrap();
    assert_eq!(ONE_A.lock().unwrap().len(), 1);
    assert_eq!(ONE_B.lock().unwrap().len(), 1);
    #[cfg(feature = "trace")]
    assert_eq!(rx.stats().unwrap().rx_dropped, 1);
    // Unregistering with nothing registered is not an error.
    // SAFETY: a live channel, valid for the test.
    let raw = mbox_receiver_s { chan: unsafe { capi::CChan::from_ptr(rx.as_ptr()) }, r#priv: ptr::null_mut() };
    assert_eq!(capi::mbox_unregister_rxcallback(Some(&raw)), 0);
    drop((a, b));
}

#[cfg(feature = "txdone-methods")]
#[test]
fn poll_and_irq_txdone_channels_on_one_device() {
    let (lb, tx, rx) = pair(16, 64, 200);
    let dev = lb.device();
    assert_eq!(dev.max_chans(), Ok(2));
    assert_eq!((tx.mtu(), rx.mtu()), (16, 16));
    let s = tx.sender().unwrap();
    // POLL: the loopback's token reports are refused (-EPERM); the
    // watchdog finds each ACK through txacked.
    tx.set_txdone(TxDoneMethod::Poll(2)).unwrap();
    #[cfg(feature = "trace")]
    let spurious0 = tx.stats().unwrap().spurious_ack;
    assert_eq!(s.send(b"p1"), Ok(()));
    assert_eq!(s.send_timeout(b"p2", Timeout::Ticks(100)), Ok(()));
    #[cfg(feature = "trace")]
    assert!(
        wait_until(1000, || tx.stats().unwrap().spurious_ack >= spurious0 + 2),
        "IRQ reports were refused in POLL mode"
    );
    // A silent remote: polling finds no ACK, the send times out.
    lb.set_ack_delay_ms(-1);
    assert_eq!(s.send_timeout(b"p3", Timeout::Ticks(20)), Err(Error::TimedOut));
    lb.set_ack_delay_ms(0);
    assert_eq!(tx.set_txdone(TxDoneMethod::Poll(0)), Err(Error::Invalid));
    assert_eq!(rx.set_txdone(TxDoneMethod::Irq), Err(Error::Invalid));
    // Not while a message is in flight.
    lb.hold(true);
    s.try_send(b"held").unwrap();
    assert_eq!(tx.set_txdone(TxDoneMethod::Irq), Err(Error::Busy));
    lb.hold(false);
    assert!(wait_until(2000, || tx.set_txdone(TxDoneMethod::Irq).is_ok()));
    // IRQ again: the token reports complete the messages.
    assert_eq!(s.send(b"irq"), Ok(()));
    assert_eq!(s.client_txdone(Ok(())), Err(Error::Perm), "only in ACK mode");
}

#[cfg(feature = "txdone-methods")]
#[test]
fn ack_mode_client_reports_completion() {
    let (lb, tx, _rx) = pair(16, 64, 2000);
    tx.set_txdone(TxDoneMethod::Ack).unwrap();
    let s = tx.sender().unwrap();
    assert_eq!(s.client_txdone(Ok(())), Err(Error::NoEnt), "nothing in flight");
    assert_eq!(s.send_poll(b"x", 10), Err(Error::Perm));
    let (a, b) = thread::scope(|sc| {
        let h = sc.spawn(|| s.send(b"first"));
        assert!(wait_until(1000, || lb.sent().len() == 1));
        thread::sleep(Duration::from_millis(20)); // the remote's report is refused
        s.client_txdone(Ok(())).unwrap();
        let a = h.join().unwrap();
        let h = sc.spawn(|| s.send(b"second"));
        assert!(wait_until(1000, || lb.sent().len() == 2));
        s.client_txdone(Err(Error::NoDev)).unwrap();
        (a, h.join().unwrap())
    });
    assert_eq!((a, b), (Ok(()), Err(Error::NoDev)));
}

#[cfg(feature = "txdone-methods")]
#[test]
fn send_poll_ok_and_timed_out() {
    let (lb, tx, _rx) = pair(16, 64, 500);
    let s = tx.sender().unwrap();
    assert_eq!(s.send_poll(b"spin", u32::MAX), Ok(()));
    // The remote answers after 30 ms; the poller sees it through txacked
    // (POLL mode: only the poller can complete it).
    tx.set_txdone(TxDoneMethod::Poll(1000)).unwrap();
    lb.set_ack_delay_ms(30);
    assert_eq!(s.send_poll(b"late", u32::MAX), Ok(()));
    tx.set_txdone(TxDoneMethod::Irq).unwrap();
    lb.set_ack_delay_ms(-1);
    let t0 = Instant::now();
    assert_eq!(s.send_poll(b"never", 1000), Err(Error::TimedOut));
    assert!(t0.elapsed() < Duration::from_millis(400), "the spins ran out, not the channel timeout");
    assert_eq!(s.send_poll(b"x", 0), Err(Error::Invalid));
    assert_eq!(s.send_poll(&[0; 17], 10), Err(Error::MsgSize));
    #[cfg(feature = "trace")]
    assert!(tx.stats().unwrap().timeout >= 1);
}
