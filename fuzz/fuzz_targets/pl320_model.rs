//! The PL320 driver end to end, through the register model
//! (`ffi/host/pl320_model.c`) and the host port, against a remote core
//! that writes whatever the input says: any DR0..DR6 and SEND values on the
//! receive mailbox, any DR0 word as the ACK on the transmit mailbox, ACKs
//! when nothing is in flight, and interrupts of mailboxes the driver does
//! not know. The device under test ("B") runs the real driver with its
//! interrupt handler on the host port's delivery thread; the fuzzer plays
//! core "A" by writing the model's registers directly.
//!
//! Invariants, after every step (the handler has returned and the line is
//! quiet):
//! - nothing panics or aborts, and B's interrupt line is low (nothing the
//!   handler served is left asserted: no interrupt storm);
//! - every word the remote sends is ACKed with its own token, and it is
//!   delivered exactly when `wire::decode` says it is a message: once,
//!   with its exact size (at most the MTU) and bytes; a refused header
//!   reaches the receiver as its error and is counted in `rx_dropped`; an
//!   ACK word in a message's place is never delivered;
//! - B's messages reach the wire in order with their exact size and
//!   bytes, and one completes exactly when an ACK word echoes its token;
//!   any other ACK completes nothing, is counted (`spurious_ack` when it
//!   has the ACK mark) and is cleared; a proper ACK always completes the
//!   message in flight, so nothing is lost.
//!
//! Those are the framed wire format's (feature `pl320-framed`). In the
//! compatible one (the default; no length, no token on the wire): every
//! message the remote sends is delivered once as the 28 bytes of DR0..DR6
//! and ACKed with SEND = 2 (DR0 left alone); B's message on the wire is
//! its bytes zero-padded to 28 in DR0..DR6; an ACK (whatever DR0 holds)
//! completes the message in flight, and one with nothing in flight
//! completes nothing and is counted and cleared.

#![no_main]

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mbox::os::sys::{mbox_os_getreg32, mbox_os_putreg32};
use mbox::pl320::abi::{pl320_chan_s, pl320_config_s, PL320_MTU};
use mbox::pl320::driver::pl320_initialize;
use mbox::pl320::wire::{self, Dr0};
use mbox::shell::capi::{mbox_get_chan, mbox_register_rxcallback, mbox_ticksend, CChan};
use mbox::shell::types::{mbox_chan_s, mbox_receiver_s, mbox_sender_s, mbox_stats_s};
use mbox::upper::errno::{EMSGSIZE, ENOBUFS};

extern "C" {
    fn pl320_model_create(
        base: usize,
        nmbox: c_int,
        nint: c_int,
        datanum: c_int,
        irq_of_line: *const c_int,
    ) -> *mut c_void;
    fn host_irq_quiesce(irq: c_int, timeout_ms: c_int);
}

const BASE: usize = 0x7100_0000;
/// The remote's interrupt line (not connected: the fuzzer polls) and B's.
const LINE_A: usize = 1;
const LINE_B: usize = 2;
const IRQ_B: c_int = 25;
/// Mailboxes: A -> B (B receives), B -> A (B sends).
const RXM: usize = 3;
const TXM: usize = 5;
/// B's TX queue: a few messages, so that a full queue is reachable.
const TXBUF: usize = 96;
/// The compatible (legacy) wire format: no header, no token.
const COMPAT: bool = !cfg!(feature = "pl320-framed");

const SOURCE: usize = 0x00;
const DSET: usize = 0x04;
const MSET: usize = 0x14;
const MSTATUS: usize = 0x1C;
const SEND: usize = 0x20;
const DR0: usize = 0x24;

fn rd(m: usize, reg: usize) -> u32 {
    // SAFETY: an aligned register inside the model's window.
    unsafe { mbox_os_getreg32(BASE + m * 0x40 + reg) }
}

fn wr(m: usize, reg: usize, v: u32) {
    // SAFETY: as in rd().
    unsafe { mbox_os_putreg32(BASE + m * 0x40 + reg, v) }
}

fn mis_b() -> u32 {
    // SAFETY: IPCMMIS(LINE_B) inside the window.
    unsafe { mbox_os_getreg32(BASE + 0x800 + 8 * LINE_B) }
}

/// B's handler has returned and its line is low; panics if the line stays
/// asserted (an interrupt the handler cannot clear).
fn settle(what: &dyn std::fmt::Debug) {
    // SAFETY: plain port call on the attached IRQ.
    unsafe { host_irq_quiesce(IRQ_B, 2000) };
    let mis = mis_b();
    assert_eq!(
        mis,
        0,
        "after {what:?}: B's line still asserted by mailboxes {mis:#x} \
         (RX SEND {} DR0 {:#x}, TX SEND {} DR0 {:#x})",
        rd(RXM, SEND),
        rd(RXM, DR0),
        rd(TXM, SEND),
        rd(TXM, DR0)
    );
}

/// What B's receive callback saw.
static DELIVERED: Mutex<Vec<(c_int, Vec<u8>)>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_rx(ret: c_int, _c: *mut mbox_chan_s, _a: *mut c_void, data: *mut c_void, size: usize) -> c_int {
    let bytes = if ret == 0 {
        assert!(size <= PL320_MTU, "delivered {size} bytes, above the MTU");
        assert!(!data.is_null() || size == 0);
        if size == 0 {
            Vec::new()
        } else {
            // SAFETY: the framework passes `size` readable bytes.
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) }.to_vec()
        }
    } else {
        assert!(ret < 0 && data.is_null() && size == 0, "error {ret} with {size} bytes");
        Vec::new()
    };
    DELIVERED.lock().unwrap().push((ret, bytes));
    0
}

struct Rig {
    rx: *mut mbox_chan_s,
    tx: *mut mbox_chan_s,
    sender: &'static mbox_sender_s,
}

// SAFETY: libFuzzer runs the target on one thread; the pointers are to
// leaked objects that live for the whole process.
unsafe impl Send for Rig {}
// SAFETY: as above.
unsafe impl Sync for Rig {}

/// Board description of one channel of B.
fn config_chan(c: &mut pl320_chan_s, mbox: usize, src: usize, dst: usize, buf: usize) {
    c.mbox = mbox as u8;
    c.src = src as u8;
    c.dst = dst as u8;
    c.ctrl = true;
    // An hour: the watchdog never fires during a run.
    c.base.timeout = 3_600_000;
    c.txbuf = Box::leak(vec![0u8; buf].into_boxed_slice()).as_mut_ptr();
    c.bufsize = buf;
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let mut lines = [-1 as c_int; 8];
        lines[LINE_B] = IRQ_B;
        // SAFETY: valid arguments; the model lives for the process.
        let model = unsafe { pl320_model_create(BASE, 32, 8, 7, lines.as_ptr()) };
        assert!(!model.is_null());
        // SAFETY: an all-zero pl320_chan_s is C's `= { 0 }`.
        let chans: &'static mut [pl320_chan_s; 2] = Box::leak(Box::new(unsafe { std::mem::zeroed() }));
        config_chan(&mut chans[0], RXM, LINE_A, LINE_B, 32);
        config_chan(&mut chans[1], TXM, LINE_B, LINE_A, TXBUF);
        let cfg: &'static pl320_config_s = Box::leak(Box::new(pl320_config_s {
            chans: chans.as_mut_ptr(),
            num_chans: 2,
            ipcmint: LINE_B as c_int,
            irq_num: IRQ_B,
        }));
        // SAFETY: config and channels live forever.
        let dev = unsafe { pl320_initialize(Some(cfg), BASE) };
        assert!(!dev.is_null());
        // SAFETY: a live device.
        let (rx, tx) = unsafe {
            (mbox_get_chan(dev.as_ref(), RXM as *mut c_void), mbox_get_chan(dev.as_ref(), TXM as *mut c_void))
        };
        assert!(!rx.is_null() && !tx.is_null());
        // SAFETY: live channels, valid for ever.
        let (rxc, txc) = unsafe { (CChan::from_ptr(rx), CChan::from_ptr(tx)) };
        let receiver = Box::leak(Box::new(mbox_receiver_s { chan: rxc, r#priv: ptr::null_mut() }));
        assert_eq!(mbox_register_rxcallback(Some(receiver), Some(on_rx), ptr::null_mut()), 0);
        let sender = Box::leak(Box::new(mbox_sender_s { chan: txc, r#priv: ptr::null_mut() }));
        Rig { rx, tx, sender }
    })
}

fn stats(chan: *mut mbox_chan_s) -> mbox_stats_s {
    // SAFETY: a live channel.
    let c = unsafe { CChan::from_ptr(chan) }.expect("a channel");
    // mbox_chan_get_stats_checked()'s copy.
    c.stats().expect("the statistics of a live channel")
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// The remote sends DR0 = dr0 (any word) with DR1..DR6 = payload.
    RxRaw { dr0: u32, payload: [u32; 6] },
    /// The remote sends a header built from a length (any byte) and a
    /// token.
    RxMsg { len: u8, token: u16, payload: [u32; 6] },
    /// The remote writes `value` (any of 0..=3) to SEND of the receive
    /// mailbox, over whatever it holds now.
    RxSend { value: u8 },
    /// B sends `len` bytes without waiting.
    TxSend { len: u8, fill: u8 },
    /// The remote answers on the transmit mailbox with DR0 = dr0, SEND = 2.
    TxAckRaw { dr0: u32 },
    /// The remote ACKs B's message in flight with its token (again, or
    /// late, when it was ACKed or cleared already).
    TxAck,
    /// A mailbox B has no channel for raises B's line.
    Unknown { mbox: u8 },
}

/// The remote's view of B's transmit side.
struct Remote {
    /// B's accepted messages that have not completed, oldest first.
    tx_pending: VecDeque<Vec<u8>>,
    /// Token field of the last message of B seen on the wire.
    tx_token: Option<u32>,
}

impl Remote {
    /// A message now on the wire (SEND = 1) must be the oldest pending one,
    /// whole; remember its token.
    fn check_tx_wire(&mut self, what: &dyn std::fmt::Debug) {
        let send = rd(TXM, SEND);
        if send != 1 {
            assert_eq!(send, 0, "after {what:?}: TX SEND {send} left for B's line");
            return;
        }
        let dr0 = rd(TXM, DR0);
        let want = self
            .tx_pending
            .front()
            .unwrap_or_else(|| panic!("after {what:?}: a message on the wire that B never accepted"));
        if COMPAT {
            let got: Vec<u8> = (0..7).flat_map(|i| rd(TXM, DR0 + 4 * i).to_le_bytes()).collect();
            assert!(got[want.len()..].iter().all(|&b| b == 0), "after {what:?}: padding not zero");
            assert_eq!(&got[..want.len()], &want[..], "after {what:?}: wrong bytes on the wire");
            return;
        }
        match wire::decode(dr0, PL320_MTU) {
            Dr0::Message { token, len } => {
                assert_eq!(len, want.len(), "after {what:?}: wrong size on the wire");
                let mut got = Vec::new();
                for i in 0..len.div_ceil(4) {
                    got.extend_from_slice(&rd(TXM, DR0 + 4 * (i + 1)).to_le_bytes());
                }
                assert!(got[len..].iter().all(|&b| b == 0), "padding not zero");
                assert_eq!(&got[..len], &want[..], "after {what:?}: wrong bytes on the wire");
                self.tx_token = Some(token);
            }
            other => panic!("after {what:?}: B's header {dr0:#x} decodes as {other:?}"),
        }
    }

    /// The remote puts a new message (or re-sends what the registers hold)
    /// on the receive mailbox, and checks what B made of it.
    fn rx(&mut self, what: &Op, words: Option<[u32; 7]>) {
        let r = rig();
        if let Some(w) = words {
            if rd(RXM, SEND) == 2 {
                // Collect B's previous ACK first, as a sender does.
                wr(RXM, SEND, 0);
            }
            for (i, v) in w.iter().enumerate() {
                wr(RXM, DR0 + 4 * i, *v);
            }
        }
        let dr0 = rd(RXM, DR0);
        let payload: Vec<u8> = (1..7).flat_map(|i| rd(RXM, DR0 + 4 * i).to_le_bytes()).collect();
        let before = stats(r.rx);
        DELIVERED.lock().unwrap().clear();
        wr(RXM, DSET, 1 << LINE_B);
        wr(RXM, SEND, 1);
        settle(what);
        let after = stats(r.rx);
        let got = std::mem::take(&mut *DELIVERED.lock().unwrap());
        let (received, dropped) = (after.received - before.received, after.rx_dropped - before.rx_dropped);
        if COMPAT {
            // All seven data registers, as they were; the ACK is SEND = 2
            // with DR0 left as the remote wrote it.
            let mut all = dr0.to_le_bytes().to_vec();
            all.extend_from_slice(&payload);
            assert_eq!(rd(RXM, SEND), 2, "after {what:?}: not ACKed");
            assert_eq!(rd(RXM, DR0), dr0, "after {what:?}: the ACK wrote DR0");
            assert_eq!(got, vec![(0, all)], "after {what:?}");
            assert_eq!((received, dropped), (1, 0));
            return;
        }
        let token = wire::token(dr0);
        assert_eq!(rd(RXM, SEND), 2, "after {what:?}: DR0 {dr0:#x} was not ACKed");
        assert_eq!(rd(RXM, DR0), wire::ack_word(token), "after {what:?}: DR0 {dr0:#x} ACKed with another token");
        match wire::decode(dr0, PL320_MTU) {
            Dr0::Message { len, .. } => {
                assert_eq!(got, vec![(0, payload[..len].to_vec())], "after {what:?}: DR0 {dr0:#x}");
                assert_eq!((received, dropped), (1, 0));
            }
            Dr0::Bad { err, .. } => {
                assert_eq!(got, vec![(-err, Vec::new())], "after {what:?}: DR0 {dr0:#x}");
                assert_eq!((received, dropped), (0, 1));
            }
            Dr0::Ack { .. } => {
                assert!(got.is_empty(), "after {what:?}: an ACK word {dr0:#x} was delivered: {got:?}");
                assert_eq!((received, dropped), (0, 0));
            }
        }
    }

    /// The remote writes `dr0` and SEND = 2 on the transmit mailbox.
    fn tx_ack(&mut self, what: &Op, dr0: u32) {
        let r = rig();
        let before = stats(r.tx);
        // SAFETY: txtoken is a plain field; B is idle (its handler has
        // returned and no send runs).
        let txtoken = unsafe { ptr::addr_of!((*r.tx).txtoken).read() };
        // Compatible: no token, so any ACK completes the message in flight.
        let completes = !self.tx_pending.is_empty() && (COMPAT || wire::acked_token(dr0, txtoken) == Some(txtoken));
        wr(TXM, DR0, dr0);
        wr(TXM, SEND, 2);
        settle(what);
        let after = stats(r.tx);
        let acked = after.acked - before.acked;
        let spurious = after.spurious_ack - before.spurious_ack;
        if completes {
            assert_eq!((acked, spurious), (1, 0), "after {what:?}: its own ACK {dr0:#x} did not complete it");
            self.tx_pending.pop_front();
        } else {
            assert_eq!(acked, 0, "after {what:?}: {dr0:#x} completed token {txtoken:#x}");
            let marked = COMPAT || dr0 & wire::ACK_MARK != 0;
            assert_eq!(spurious, marked as usize, "after {what:?}: a stale ACK {dr0:#x} not counted");
        }
        self.check_tx_wire(what);
    }

    fn step(&mut self, op: &Op) {
        let r = rig();
        match *op {
            Op::RxRaw { dr0, payload } => {
                let mut w = [dr0; 7];
                w[1..].copy_from_slice(&payload);
                self.rx(op, Some(w));
            }
            Op::RxMsg { len, token, payload } => {
                let mut w = [wire::header(len as usize, token as u32); 7];
                w[1..].copy_from_slice(&payload);
                self.rx(op, Some(w));
            }
            Op::RxSend { value } => match value & 3 {
                1 => self.rx(op, None),
                v => {
                    let before = stats(r.rx);
                    wr(RXM, SEND, v as u32);
                    settle(op);
                    let after = stats(r.rx);
                    assert_eq!((after.received, after.rx_dropped), (before.received, before.rx_dropped));
                    assert!(DELIVERED.lock().unwrap().is_empty());
                }
            },
            Op::TxSend { len, fill } => {
                let len = len as usize % (PL320_MTU + 4);
                let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add((i as u8).wrapping_mul(37))).collect();
                // SAFETY: a live sender; data outlives the call.
                let ret = unsafe { mbox_ticksend(Some(r.sender), data.as_ptr().cast(), len, 0) };
                if len > PL320_MTU {
                    assert_eq!(ret, -EMSGSIZE, "a {len}-byte send");
                } else if ret == 0 {
                    self.tx_pending.push_back(data);
                } else {
                    assert_eq!(ret, -ENOBUFS, "a {len}-byte send");
                    assert!(!self.tx_pending.is_empty(), "an idle channel refused a message");
                }
                settle(op);
                self.check_tx_wire(op);
            }
            Op::TxAckRaw { dr0 } => self.tx_ack(op, dr0),
            Op::TxAck if COMPAT => self.tx_ack(op, rd(TXM, DR0)),
            Op::TxAck => {
                let t = self.tx_token.unwrap_or(0);
                self.tx_ack(op, wire::ack_word(t));
            }
            Op::Unknown { mbox } => {
                let m = [0usize, 1, 2, 4, 6, 9, 17, 31][mbox as usize % 8];
                wr(m, SOURCE, 1 << LINE_A);
                wr(m, DSET, 1 << LINE_B);
                wr(m, MSET, 1 << LINE_B);
                wr(m, DR0, wire::header(4, mbox as u32));
                wr(m, SEND, 1);
                settle(op);
                assert_eq!(rd(m, MSTATUS) & (1 << LINE_B), 0, "an unknown mailbox not masked");
                wr(m, SOURCE, 0);
            }
        }
    }
}

fn run(u: &mut Unstructured) -> arbitrary::Result<()> {
    rig();
    let mut remote = Remote { tx_pending: VecDeque::new(), tx_token: None };
    // The previous input left B idle; learn the last token on the wire.
    remote.check_tx_wire(&"start");
    let mut steps = 0;
    let mut result = Ok(());
    while !u.is_empty() && steps < 64 {
        steps += 1;
        match u.arbitrary::<Op>() {
            Ok(op) => remote.step(&op),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Drain: a proper ACK always completes the message in flight, and the
    // next one goes out, until nothing is left.
    for _ in 0..=TXBUF {
        if remote.tx_pending.is_empty() {
            break;
        }
        remote.step(&Op::TxAck);
    }
    assert!(remote.tx_pending.is_empty(), "B's messages stuck: {:?}", remote.tx_pending);
    assert_eq!(rd(TXM, SEND), 0);
    result
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
