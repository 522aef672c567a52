//! Tests of the PL320 driver's own counters and wire format, on the host
//! port and the PL320 register model (`cargo test --features host-port`).
//! The C tests (ctest/test_pl320_driver.c) cover the behaviour through the
//! public API; these look at what C cannot see.

// Each wire format runs its own counters test; some imports serve only
// the framed one (and so does one model function).
#![cfg_attr(not(feature = "pl320-framed"), allow(unused_imports, dead_code))]

extern crate std;

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::boxed::Box;
use std::thread::sleep;
use std::time::{Duration, Instant};

use core::ptr::{self, addr_of, addr_of_mut};

use super::abi::{pl320_chan_s, pl320_config_s};
use super::driver::{pl320_initialize, pl320_stats, pl320_uninitialize, Pl320Stats};
use super::regs::{self, Pl320Regs};
use crate::shell::capi::{mbox_chan_tx_done_checked, mbox_get_chan, mbox_register_rxcallback, mbox_ticksend, CChan};
use crate::shell::types::{mbox_chan_s, mbox_dev_s, mbox_receiver_s, mbox_sender_s};
use crate::upper::errno::{EAGAIN, EINVAL, ETIMEDOUT};

/// `struct pl320_model_s *` (opaque).
type Model = c_void;

const FAULT_DELAY_ACK: c_int = 2;

extern "C" {
    fn pl320_model_create(
        base: usize,
        nmbox: c_int,
        nint: c_int,
        datanum: c_int,
        irq_of_line: *const c_int,
    ) -> *mut Model;
    fn pl320_model_set_fault(m: *mut Model, mbox: c_int, f: c_int, delay_ms: u32, count: u32);
    fn pl320_model_raise_spurious(m: *mut Model, line: c_int);
    fn host_irq_quiesce(irq: c_int, timeout_ms: c_int);
    fn host_irq_disable(irq: c_int);
}

const BASE: usize = 0x5000_0000;
const LINE_A: u8 = 1;
const LINE_B: u8 = 2;
const IRQ_A: c_int = 20;
const IRQ_B: c_int = 21;
const MBOX: u8 = 4;

static RECEIVED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_rx(ret: c_int, _c: *mut mbox_chan_s, _a: *mut c_void, _d: *mut c_void, _s: usize) -> c_int {
    if ret == 0 {
        RECEIVED.fetch_add(1, Ordering::SeqCst);
    }
    0
}

fn zeroed_chan() -> &'static mut pl320_chan_s {
    // SAFETY: an all-zero pl320_chan_s is what C's `= { 0 }` gives: NULL
    // pointers, MBOX_RX, no callback, a de-initialised channel state.
    Box::leak(Box::new(unsafe { core::mem::zeroed::<pl320_chan_s>() }))
}

fn wait_until(ms: u64, f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(1));
    }
    f()
}

fn stats(dev: *mut mbox_dev_s) -> Pl320Stats {
    // SAFETY: dev came from pl320_initialize().
    pl320_stats(dev).expect("device")
}

/// The tests here take device slots that the API tests, running in
/// parallel in the same process, may hold too: one of these tests at a
/// time keeps the total within `CONFIG_MBOX_PL320_MAX_DEVICES`.
static DEVICE_SLOTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

// Framed wire format only: it checks the header and the tokened ACK word.
#[cfg(feature = "pl320-framed")]
#[test]
fn counters_and_wire_format() {
    let _slots = DEVICE_SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut lines = [-1 as c_int; 8];
    lines[LINE_A as usize] = IRQ_A;
    lines[LINE_B as usize] = IRQ_B;
    // SAFETY: valid arguments; the model lives for the rest of the test
    // process.
    let model = unsafe { pl320_model_create(BASE, 32, 8, 7, lines.as_ptr()) };
    assert!(!model.is_null());
    let regs = Pl320Regs::new(BASE);

    // A sends on MBOX to B; A configures the mailbox.
    let txbuf: &'static mut [u8; 256] = Box::leak(Box::new([0u8; 256]));
    let ca = zeroed_chan();
    ca.mbox = MBOX;
    ca.src = LINE_A;
    ca.dst = LINE_B;
    ca.ctrl = true;
    ca.txbuf = txbuf.as_mut_ptr();
    ca.bufsize = txbuf.len();
    ca.base.timeout = 1000;
    let cb = zeroed_chan();
    cb.mbox = MBOX;
    cb.src = LINE_A;
    cb.dst = LINE_B;
    let cfg_a = pl320_config_s { chans: ca, num_chans: 1, ipcmint: LINE_A as c_int, irq_num: IRQ_A };
    let cfg_b = pl320_config_s { chans: cb, num_chans: 1, ipcmint: LINE_B as c_int, irq_num: IRQ_B };
    // SAFETY: configs and channels are leaked (live forever).
    let (da, db) = unsafe { (pl320_initialize(Some(&cfg_a), BASE), pl320_initialize(Some(&cfg_b), BASE)) };
    assert!(!da.is_null() && !db.is_null());
    // SAFETY: both devices are ours.
    let (tx, rx) = unsafe {
        (
            mbox_get_chan(da.as_ref(), MBOX as usize as *mut c_void),
            mbox_get_chan(db.as_ref(), MBOX as usize as *mut c_void),
        )
    };
    let receiver = mbox_receiver_s { chan: unsafe { CChan::from_ptr(rx) }, r#priv: ptr::null_mut() };
    // SAFETY: live RX channel.
    let r = mbox_register_rxcallback(Some(&receiver), Some(on_rx), ptr::null_mut());
    assert_eq!(r, 0);
    let sender = mbox_sender_s { chan: unsafe { CChan::from_ptr(tx) }, r#priv: ptr::null_mut() };

    // Wire format: DR0 = token | length, payload little-endian from DR1;
    // the receiver's ACK echoes the token with length 0.
    let msg = [1u8, 2, 3, 4, 5, 6];
    // SAFETY: live TX channel; msg outlives the call.
    let r = unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 1000) };
    assert_eq!(r, 0);
    assert!(wait_until(1000, || RECEIVED.load(Ordering::SeqCst) == 1));
    // SAFETY: tx is live; txtoken is the token of the last send.
    let token = unsafe { addr_of!((*tx).txtoken).read() };
    let m = MBOX as usize;
    assert_eq!(regs.mbox_read(m, regs::DR0), ((token & 0xFFFF) << 16) | 0x100, "ACK header with the ACK mark");
    assert_eq!(regs.mbox_read(m, regs::DR0 + 4), 0x0403_0201);
    assert_eq!(regs.mbox_read(m, regs::DR0 + 8) & 0xFFFF, 0x0605);
    assert_eq!(regs.mbox_read(m, regs::SEND), regs::SEND_IDLE);
    assert_eq!(stats(da), Pl320Stats::default());
    assert_eq!(stats(db), Pl320Stats::default());

    // An interrupt of a mailbox B does not know: counted and masked.
    regs.mbox_write(9, regs::SOURCE, 1 << 5);
    regs.mbox_write(9, regs::DSET, 1 << LINE_B);
    regs.mbox_write(9, regs::MSET, 1 << LINE_B);
    regs.mbox_write(9, regs::SEND, regs::SEND_MSG);
    assert!(wait_until(1000, || stats(db).unknown_mbox == 1));
    assert_eq!(regs.mbox_read(9, regs::MSTATUS) & (1 << LINE_B), 0);
    regs.mbox_write(9, regs::SOURCE, 0);

    // A spurious interrupt: counted, nothing else.
    // SAFETY: model is live.
    unsafe { pl320_model_raise_spurious(model, LINE_B as c_int) };
    assert!(wait_until(1000, || stats(db).spurious >= 1));
    assert_eq!(RECEIVED.load(Ordering::SeqCst), 1);

    // A late ACK: the send times out, the ACK arrives afterwards and is
    // counted as stale on A (and cleared: A's line is low again).
    // SAFETY: model is live.
    unsafe { pl320_model_set_fault(model, MBOX as c_int, FAULT_DELAY_ACK, 100, 1) };
    // SAFETY: as above.
    let r = unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 30) };
    assert_eq!(r, -ETIMEDOUT);
    assert!(wait_until(1000, || stats(da).stale_ack == 1));
    // SAFETY: plain port call.
    unsafe { host_irq_quiesce(IRQ_A, 500) };
    assert_eq!(regs.read(regs::ipcmmis(LINE_A as usize)), 0);
    assert_eq!(regs.mbox_read(m, regs::SEND), regs::SEND_IDLE);

    // A message withdrawn while being read is a torn read (-EAGAIN).
    let mut buf = [0u8; 32];
    // SAFETY: rx is B's live RX channel; buf holds the MTU. No message is
    // pending (SEND == 0), as if the sender had just aborted it.
    let n = unsafe { ((*db).ops.expect("ops").recv.expect("recv op"))(CChan::from_ptr(rx), buf.as_mut_ptr().cast()) };
    assert_eq!(n, -EAGAIN);
    assert_eq!(stats(db).torn_read, 1);

    // The channel still works.
    // SAFETY: as above.
    assert_eq!(unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), 3, 1000) }, 0);
    assert!(wait_until(1000, || RECEIVED.load(Ordering::SeqCst) >= 3));

    // A late ACK that lands on the next message while both interrupts are
    // held off: an untokened "TX done" asks txacked, which refuses it,
    // clears it (SEND = 0) and counts it as stale, as the handler does.
    let stale = stats(da).stale_ack;
    // SAFETY: model is live; plain port calls on attached interrupts.
    unsafe {
        pl320_model_set_fault(model, MBOX as c_int, FAULT_DELAY_ACK, 100, 1);
    }
    // SAFETY: as above.
    let r = unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 30) };
    assert_eq!(r, -ETIMEDOUT);
    // SAFETY: plain port calls.
    unsafe {
        host_irq_disable(IRQ_A);
        host_irq_disable(IRQ_B);
    }
    // SAFETY: as above; a non-blocking send.
    assert_eq!(unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 0) }, 0);
    assert!(wait_until(1000, || regs.mbox_read(m, regs::SEND) == regs::SEND_ACK));
    // SAFETY: tx is live.
    assert_eq!(mbox_chan_tx_done_checked(unsafe { CChan::from_ptr(tx) }), -EAGAIN);
    assert_eq!(stats(da).stale_ack, stale + 1);
    assert_eq!(regs.mbox_read(m, regs::SEND), regs::SEND_IDLE);

    // Both devices go away (the message still in flight is cancelled) and
    // give their slots back; a second teardown is refused.
    crate::os::port::mbox_os_irq_enable(IRQ_A);
    crate::os::port::mbox_os_irq_enable(IRQ_B);
    assert_eq!(pl320_uninitialize(da), 0);
    assert_eq!(pl320_uninitialize(db), 0);
    assert_eq!(pl320_uninitialize(da), -EINVAL);
    assert_eq!(regs.mbox_read(m, regs::SOURCE), 0);
}

/// The compatible (legacy) wire format: payload from DR0, zero-padded,
/// delivered as 4 * DATANUM bytes; the ACK is SEND = 2 alone (DR0 keeps
/// the payload); a timed-out message is withdrawn and counted; its late
/// ACK, arriving with nothing in flight, is cleared and counted as stale;
/// a stale ACK found by the next send is cleared and counted before the
/// message goes out.
#[cfg(not(feature = "pl320-framed"))]
#[test]
fn compat_counters_and_wire_format() {
    use crate::upper::errno::EMSGSIZE;

    let _slots = DEVICE_SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut lines = [-1 as c_int; 8];
    lines[LINE_A as usize] = IRQ_A;
    lines[LINE_B as usize] = IRQ_B;
    // SAFETY: valid arguments; the model lives for the rest of the test
    // process.
    let model = unsafe { pl320_model_create(BASE, 32, 8, 7, lines.as_ptr()) };
    assert!(!model.is_null());
    let regs = Pl320Regs::new(BASE);

    let txbuf: &'static mut [u8; 256] = Box::leak(Box::new([0u8; 256]));
    let ca = zeroed_chan();
    ca.mbox = MBOX;
    ca.src = LINE_A;
    ca.dst = LINE_B;
    ca.ctrl = true;
    ca.txbuf = txbuf.as_mut_ptr();
    ca.bufsize = txbuf.len();
    ca.base.timeout = 1000;
    let cb = zeroed_chan();
    cb.mbox = MBOX;
    cb.src = LINE_A;
    cb.dst = LINE_B;
    let cfg_a = pl320_config_s { chans: ca, num_chans: 1, ipcmint: LINE_A as c_int, irq_num: IRQ_A };
    let cfg_b = pl320_config_s { chans: cb, num_chans: 1, ipcmint: LINE_B as c_int, irq_num: IRQ_B };
    // SAFETY: configs and channels are leaked (live forever).
    let (da, db) = unsafe { (pl320_initialize(Some(&cfg_a), BASE), pl320_initialize(Some(&cfg_b), BASE)) };
    assert!(!da.is_null() && !db.is_null());
    // SAFETY: both devices are ours.
    let (tx, rx) = unsafe {
        (
            mbox_get_chan(da.as_ref(), MBOX as usize as *mut c_void),
            mbox_get_chan(db.as_ref(), MBOX as usize as *mut c_void),
        )
    };
    // SAFETY: da is live.
    assert_eq!(unsafe { (*da).mtu }, 28);
    let receiver = mbox_receiver_s { chan: unsafe { CChan::from_ptr(rx) }, r#priv: ptr::null_mut() };
    // SAFETY: live RX channel.
    let r = mbox_register_rxcallback(Some(&receiver), Some(on_rx), ptr::null_mut());
    assert_eq!(r, 0);
    let sender = mbox_sender_s { chan: unsafe { CChan::from_ptr(tx) }, r#priv: ptr::null_mut() };
    let base_rx = RECEIVED.load(Ordering::SeqCst);
    let m = MBOX as usize;

    // Payload from DR0, little-endian, zero-padded; the ACK leaves DR0.
    let msg = [1u8, 2, 3, 4, 5, 6];
    // SAFETY: live TX channel; msg outlives the call.
    let r = unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 1000) };
    assert_eq!(r, 0);
    assert!(wait_until(1000, || RECEIVED.load(Ordering::SeqCst) == base_rx + 1));
    assert_eq!(regs.mbox_read(m, regs::DR0), 0x0403_0201, "the ACK wrote no DR0");
    assert_eq!(regs.mbox_read(m, regs::DR0 + 4), 0x0605);
    for i in 2..7 {
        assert_eq!(regs.mbox_read(m, regs::DR0 + 4 * i), 0, "DR{i} zero-padded");
    }
    assert_eq!(regs.mbox_read(m, regs::SEND), regs::SEND_IDLE);
    assert_eq!(stats(da), Pl320Stats::default());
    assert_eq!(stats(db), Pl320Stats::default());
    let big = [0u8; 29];
    // SAFETY: as above.
    assert_eq!(unsafe { mbox_ticksend(Some(&sender), big.as_ptr().cast(), 29, 0) }, -EMSGSIZE);

    // The remote reads the message but ACKs it after the timeout: the
    // message is withdrawn (counted), the late ACK lands with nothing in
    // flight and is cleared and counted as stale.
    // SAFETY: model is live.
    unsafe { pl320_model_set_fault(model, MBOX as c_int, FAULT_DELAY_ACK, 100, 1) };
    // SAFETY: as above.
    let r = unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 30) };
    assert_eq!(r, -ETIMEDOUT);
    assert_eq!(stats(da).retracted, 1);
    assert!(wait_until(1000, || stats(da).stale_ack == 1));
    // SAFETY: plain port call.
    unsafe { host_irq_quiesce(IRQ_A, 500) };
    assert_eq!(regs.read(regs::ipcmmis(LINE_A as usize)), 0);
    assert_eq!(regs.mbox_read(m, regs::SEND), regs::SEND_IDLE);

    // A stale ACK that the handler has not served yet (A's interrupt held
    // off) is found by the next send, cleared and counted; the message
    // then goes out on an idle mailbox and is ACKed normally.
    // SAFETY: plain port call.
    unsafe { host_irq_disable(IRQ_A) };
    regs.mbox_write(m, regs::SEND, regs::SEND_ACK);
    let before = RECEIVED.load(Ordering::SeqCst);
    // SAFETY: as above; a non-blocking send.
    assert_eq!(unsafe { mbox_ticksend(Some(&sender), msg.as_ptr().cast(), msg.len(), 0) }, 0);
    assert_eq!(stats(da).stale_ack, 2);
    assert!(wait_until(1000, || RECEIVED.load(Ordering::SeqCst) == before + 1));
    crate::os::port::mbox_os_irq_enable(IRQ_A);
    assert!(wait_until(1000, || regs.mbox_read(m, regs::SEND) == regs::SEND_IDLE));
    assert_eq!(stats(da).retracted, 1);
    assert_eq!(stats(da).stale_ack, 2);

    assert_eq!(pl320_uninitialize(da), 0);
    assert_eq!(pl320_uninitialize(db), 0);
    assert_eq!(regs.mbox_read(m, regs::SOURCE), 0);
}

/// A remote that breaks the flow and makes this core a destination of its
/// own TX mailbox (DSET with our bit, SEND = 1) raises our line with a
/// state the TX path cannot serve (it is no ACK). The handler must still
/// leave the line low, as it does for a mailbox it does not know;
/// otherwise it is called again and again for as long as the remote
/// leaves the mailbox so.
#[test]
fn foreign_message_on_own_tx_mailbox_does_not_storm() {
    let _slots = DEVICE_SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    const BASE2: usize = 0x5200_0000;
    const IRQ: c_int = 22;
    const M: u8 = 6;
    let mut lines = [-1 as c_int; 8];
    lines[LINE_B as usize] = IRQ;
    // SAFETY: valid arguments; the model lives for the rest of the test
    // process.
    let model = unsafe { pl320_model_create(BASE2, 32, 8, 7, lines.as_ptr()) };
    assert!(!model.is_null());
    let regs = Pl320Regs::new(BASE2);
    let txbuf: &'static mut [u8; 64] = Box::leak(Box::new([0u8; 64]));
    let c = zeroed_chan();
    c.mbox = M;
    c.src = LINE_B;
    c.dst = LINE_A;
    c.ctrl = true;
    c.txbuf = txbuf.as_mut_ptr();
    c.bufsize = txbuf.len();
    let cfg: &'static pl320_config_s =
        Box::leak(Box::new(pl320_config_s { chans: c, num_chans: 1, ipcmint: LINE_B as c_int, irq_num: IRQ }));
    // SAFETY: config and channel are leaked (live forever).
    let dev = unsafe { pl320_initialize(Some(cfg), BASE2) };
    assert!(!dev.is_null());

    // The remote (line A) on B's idle TX mailbox.
    let m = M as usize;
    regs.mbox_write(m, regs::DSET, 1 << LINE_B);
    regs.mbox_write(m, regs::SEND, regs::SEND_MSG);
    // SAFETY: plain port call.
    unsafe { host_irq_quiesce(IRQ, 200) };
    let mis = regs.read(regs::ipcmmis(LINE_B as usize));
    // Stop a storm before asserting, so the test process does not spin.
    regs.mbox_write(m, regs::SEND, regs::SEND_IDLE);
    assert_eq!(mis, 0, "B's line left asserted by its own TX mailbox");
    assert!(stats(dev).spurious >= 1);
    assert_eq!(pl320_uninitialize(dev), 0);
}

#[test]
fn torn_down_device_has_no_channels() {
    let _slots = DEVICE_SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    const BASE3: usize = 0x5300_0000;
    const IRQ: c_int = 23;
    const M: u8 = 7;
    let mut lines = [-1 as c_int; 8];
    lines[LINE_B as usize] = IRQ;
    // SAFETY: valid arguments; the model lives for the rest of the test
    // process.
    let model = unsafe { pl320_model_create(BASE3, 32, 8, 7, lines.as_ptr()) };
    assert!(!model.is_null());
    let c = zeroed_chan();
    c.mbox = M;
    c.src = LINE_A;
    c.dst = LINE_B;
    let cfg: &'static pl320_config_s =
        Box::leak(Box::new(pl320_config_s { chans: c, num_chans: 1, ipcmint: LINE_B as c_int, irq_num: IRQ }));
    // SAFETY: config and channel are leaked (live forever).
    let dev = unsafe { pl320_initialize(Some(cfg), BASE3) };
    assert!(!dev.is_null());
    // SAFETY: a device of pl320_initialize(); the argument is a mailbox
    // number.
    let chan = unsafe { mbox_get_chan(dev.as_ref(), M as usize as *mut c_void) };
    assert_eq!(chan, ptr::addr_of_mut!(c.base));
    // SAFETY: as above (an unknown mailbox).
    assert!(unsafe { mbox_get_chan(dev.as_ref(), (M + 1) as usize as *mut c_void) }.is_null());
    assert_eq!(pl320_uninitialize(dev), 0);
    // The slot's configuration is still there, but the device is gone.
    // SAFETY: the device slots are static: the torn-down slot is still
    // memory the reference may point at.
    assert!(unsafe { mbox_get_chan(dev.as_ref(), M as usize as *mut c_void) }.is_null());
}

/// The ops that take the channel alone are safe functions: given a channel
/// that was never initialised for a PL320 device, or none, they do nothing
/// and say so.
#[test]
fn channel_only_ops_refuse_a_channel_never_initialised() {
    let ops = super::driver::ops();
    let (shutdown, txfinish) = (ops.shutdown.expect("shutdown"), ops.txfinish.expect("txfinish"));
    let (txready, txacked, rxavailable) =
        (ops.txready.expect("txready"), ops.txacked.expect("txacked"), ops.rxavailable.expect("rxavailable"));
    let stray = zeroed_chan();
    // SAFETY: a leaked channel.
    let stray = unsafe { CChan::from_ptr(addr_of_mut!(stray.base)) };
    assert!(stray.is_some());
    for chan in [stray, None] {
        assert_eq!(shutdown(chan), -EINVAL);
        assert_eq!(txfinish(chan), -EINVAL);
        assert!(!txready(chan));
        assert!(!txacked(chan));
        assert!(!rxavailable(chan));
    }
}
