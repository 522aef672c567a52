//! A loopback lower half for the examples and tests of [`crate::api`]
//! (host port only; not part of the shipped library).
//!
//! One device with at most one TX and one RX channel. `send` records the
//! message and hands it to a responder thread (the "remote"), which after
//! the configured delay delivers it to the device's RX channel
//! (`mbox_chan_rx_data()`; unless echo is off) and then ACKs it with its
//! token (`mbox_chan_tx_done_token()`), both in simulated interrupt
//! context. With a negative delay the remote stays silent (no delivery, no
//! ACK). The remote's ACKs are also visible to `txacked` (for POLL mode and
//! polling sends): it says whether the oldest message still in flight was
//! ACKed by the remote. `Loopback::with_depth` (`txfifo`) declares a FIFO of several
//! messages in flight (ACKed in order); [`Loopback::hold`] stops the remote
//! (messages pile up in flight); [`Loopback::inject`] delivers any message
//! to the RX channel (a reply of a request/response protocol).

extern crate std;

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::boxed::Box;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use super::Device;
use crate::shell::capi::{self, mbox_chan_rx_data, mbox_chan_tx_done_token, CChan};
use crate::shell::types::{mbox_chan_s, mbox_dev_s, mbox_direction_e, mbox_ops_s};
use crate::upper::errno::EAGAIN;

extern "C" {
    fn host_run_as_interrupt(f: unsafe extern "C" fn(*mut c_void), arg: *mut c_void);
}

/// The loopback device. `dev` is first, so a `*mut mbox_dev_s` to it is a
/// pointer to the whole device.
#[repr(C)]
pub struct Loopback {
    dev: mbox_dev_s,
    ack_delay_ms: AtomicI64,
    /// The remote delivers TX messages to the RX channel.
    echo: AtomicBool,
    state: Mutex<State>,
    cond: Condvar,
    /// Serialises deliveries to the RX channel (one `rx_msg` at a time).
    rx_lock: Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The set-up channels (addresses; 0 when none).
    tx: usize,
    rx: usize,
    /// Messages (token, bytes) waiting for the responder.
    pending: VecDeque<(u32, Vec<u8>)>,
    /// The message `recv` returns next.
    rx_msg: Option<Vec<u8>>,
    /// Every message `send` was given, in order.
    sent: Vec<Vec<u8>>,
    /// Contexts inside an `mbox_*` call with a channel pointer.
    delivering: u32,
    /// The remote takes no message while held.
    held: bool,
    /// Tokens handed to `send` and not yet finished (`txfinish`), oldest
    /// first, and those of them the remote has ACKed.
    inflight: VecDeque<u32>,
    acked: Vec<u32>,
}

// SAFETY: `dev` is never written after new(); it holds a pointer to the
// static OPS table and two integers. Everything else is Mutex/atomic.
unsafe impl Sync for Loopback {}
// SAFETY: as for Sync; nothing in it is tied to a thread.
unsafe impl Send for Loopback {}

// Built from zeroes (every op None) so that ops added to mbox_ops_s later
// stay None here without touching this file.
static OPS: mbox_ops_s = {
    // SAFETY: all-zero is a valid mbox_ops_s: every field is an
    // Option<fn>, and zero is None.
    let mut o: mbox_ops_s = unsafe { core::mem::zeroed() };
    o.getchan = Some(getchan_op);
    o.setup = Some(setup_op);
    o.shutdown = Some(shutdown_op);
    o.send = Some(send_op);
    o.recv = Some(recv_op);
    o.txfinish = Some(txfinish_op);
    o.txacked = Some(txacked_op);
    o
};

/// The channel's address as the raw ops below take it.
fn raw(chan: Option<&CChan>) -> *mut mbox_chan_s {
    chan.map_or(ptr::null_mut(), CChan::as_ptr)
}

unsafe extern "C" fn getchan_op(dev: *mut mbox_dev_s, arg: *mut c_void) -> Option<&'static CChan> {
    // SAFETY: the upper half's call; the channels of a Loopback are leaked.
    unsafe { CChan::from_ptr(getchan(dev, arg)) }
}

unsafe extern "C" fn setup_op(chan: Option<&CChan>, arg: *mut c_void) -> c_int {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { setup(raw(chan), arg) }
}

extern "C" fn shutdown_op(chan: Option<&CChan>) -> c_int {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { shutdown(raw(chan)) }
}

unsafe extern "C" fn send_op(chan: Option<&CChan>, data: *const c_void, size: usize) -> c_int {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { send(raw(chan), data, size) }
}

unsafe extern "C" fn recv_op(chan: Option<&CChan>, data: *mut c_void) -> c_int {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { recv(raw(chan), data) }
}

extern "C" fn txfinish_op(chan: Option<&CChan>) -> c_int {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { txfinish(raw(chan)) }
}

extern "C" fn txacked_op(chan: Option<&CChan>) -> bool {
    // SAFETY: the upper half's call on a channel of this device.
    unsafe { txacked(raw(chan)) }
}

impl Loopback {
    /// A new device with this MTU (leaked: it lives for the rest of the
    /// process) and its responder thread; the remote ACKs at once.
    pub fn new(mtu: usize) -> &'static Loopback {
        Loopback::make(mtu, 0)
    }

    /// A new device whose TX channel keeps up to `txdepth` messages in
    /// flight (`mbox_dev_s::txdepth`); the remote ACKs them in FIFO order.
    #[cfg(feature = "txfifo")]
    pub fn with_depth(mtu: usize, txdepth: usize) -> &'static Loopback {
        Loopback::make(mtu, txdepth)
    }

    #[cfg_attr(not(feature = "txfifo"), allow(unused_variables))]
    fn make(mtu: usize, txdepth: usize) -> &'static Loopback {
        // SAFETY: all-zero is a valid mbox_dev_s (a NULL ops pointer and
        // integers); zeroes also keep fields added later at their defaults.
        let mut dev: mbox_dev_s = unsafe { core::mem::zeroed() };
        dev.ops = Some(&OPS);
        dev.mtu = mtu;
        dev.num_chans = 2;
        #[cfg(feature = "txfifo")]
        {
            dev.txdepth = txdepth;
        }
        let lb: &'static Loopback = Box::leak(Box::new(Loopback {
            dev,
            ack_delay_ms: AtomicI64::new(0),
            echo: AtomicBool::new(true),
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            rx_lock: Mutex::new(()),
        }));
        thread::spawn(move || lb.respond());
        lb
    }

    /// The device, for [`crate::api::Channel::init`].
    pub fn device(&'static self) -> Device<'static> {
        // SAFETY: the loopback is a correct lower half that lives for ever;
        // the pointer covers the whole Loopback (dev is its first field),
        // and the ops only use its interior mutability (Mutex, atomics).
        unsafe { Device::from_raw(self as *const Loopback as *mut mbox_dev_s) }.expect("non-null")
    }

    /// Milliseconds the remote waits before delivering and ACKing each
    /// message; negative: it never does (sends time out).
    pub fn set_ack_delay_ms(&self, ms: i64) {
        self.ack_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Whether the remote delivers each TX message to the RX channel
    /// (default true). It ACKs them either way.
    pub fn set_echo(&self, on: bool) {
        self.echo.store(on, Ordering::SeqCst);
    }

    /// While held, the remote takes no message (they stay in flight);
    /// releasing lets it go on in order.
    pub fn hold(&self, on: bool) {
        self.lock().held = on;
        self.cond.notify_all();
    }

    /// Delivers `msg` to the RX channel, as the remote would: from a
    /// simulated interrupt, or (`interrupt` false) from the calling task,
    /// as a lower half's polling path. Returns `mbox_chan_rx_data()`'s
    /// result, or -ENODEV when no RX channel is set up.
    pub fn inject(&self, msg: &[u8], interrupt: bool) -> c_int {
        self.deliver(msg.to_vec(), interrupt).unwrap_or(-crate::upper::errno::ENODEV)
    }

    /// Delivers `msg` to the RX channel if one is set up.
    fn deliver(&self, msg: Vec<u8>, interrupt: bool) -> Option<c_int> {
        let _one = self.rx_lock.lock().unwrap_or_else(|e| e.into_inner());
        // The `delivering` count keeps shutdown() from returning while a
        // channel pointer is in use here.
        let rx = {
            let mut st = self.lock();
            if st.rx == 0 {
                return None;
            }
            st.delivering += 1;
            st.rx_msg = Some(msg);
            st.rx
        };
        let mut ret: (usize, c_int) = (rx, 0);
        if interrupt {
            // SAFETY: rx is set up (shutdown waits for `delivering`); ret
            // outlives the call.
            unsafe { host_run_as_interrupt(rx_irq, ptr::addr_of_mut!(ret).cast()) };
        } else {
            // SAFETY: as above.
            ret.1 = mbox_chan_rx_data(unsafe { CChan::from_ptr(rx as *mut mbox_chan_s) });
        }
        let mut st = self.lock();
        st.rx_msg = None;
        st.delivering -= 1;
        self.cond.notify_all();
        Some(ret.1)
    }

    /// Every message the upper half handed to `send`, in order.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.lock().sent.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// # Safety
    /// `chan` was initialised on a Loopback device.
    unsafe fn of(chan: *mut mbox_chan_s) -> &'static Loopback {
        // SAFETY: chan->dev is the pointer from device(), to a leaked
        // Loopback whose first field is the mbox_dev_s.
        unsafe { &*((*chan).dev as *const Loopback) }
    }

    fn respond(&'static self) {
        loop {
            let (token, msg) = {
                let mut st = self.lock();
                loop {
                    if !st.held {
                        if let Some(m) = st.pending.pop_front() {
                            break m;
                        }
                    }
                    st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let delay = self.ack_delay_ms.load(Ordering::SeqCst);
            if delay < 0 {
                continue;
            }
            thread::sleep(Duration::from_millis(delay as u64));
            // Deliver to the RX channel (if one is set up), then ACK: the
            // ACK is visible to txacked and reported with its token.
            if self.echo.load(Ordering::SeqCst) {
                self.deliver(msg, true);
            }
            let tx = {
                let mut st = self.lock();
                if st.inflight.contains(&token) {
                    st.acked.push(token);
                }
                if st.tx != 0 {
                    st.delivering += 1;
                }
                st.tx
            };
            if tx != 0 {
                let mut ack = (tx as *mut mbox_chan_s, token);
                // SAFETY: tx is set up (shutdown waits for `delivering`);
                // ack outlives the call.
                unsafe { host_run_as_interrupt(ack_irq, ptr::addr_of_mut!(ack).cast()) };
                self.lock().delivering -= 1;
                self.cond.notify_all();
            }
        }
    }
}

unsafe extern "C" fn rx_irq(arg: *mut c_void) {
    // SAFETY: arg points to deliver()'s (channel, result) pair, whose
    // channel is a set-up RX channel of this device.
    unsafe {
        let ret = &mut *(arg as *mut (usize, c_int));
        ret.1 = mbox_chan_rx_data(CChan::from_ptr(ret.0 as *mut mbox_chan_s));
    }
}

unsafe extern "C" fn ack_irq(arg: *mut c_void) {
    // SAFETY: arg points to respond()'s (channel, token) pair.
    let (chan, token) = unsafe { *(arg as *const (*mut mbox_chan_s, u32)) };
    // SAFETY: a set-up TX channel of this device.
    mbox_chan_tx_done_token(unsafe { CChan::from_ptr(chan) }, token);
}

unsafe extern "C" fn getchan(dev: *mut mbox_dev_s, arg: *mut c_void) -> *mut mbox_chan_s {
    // SAFETY: dev is a Loopback device (the ops are only reachable through
    // device()).
    let lb = unsafe { &*(dev as *const Loopback) };
    let st = lb.lock();
    match arg as usize {
        0 => st.tx as *mut mbox_chan_s,
        1 => st.rx as *mut mbox_chan_s,
        _ => ptr::null_mut(),
    }
}

unsafe extern "C" fn setup(chan: *mut mbox_chan_s, _arg: *mut c_void) -> c_int {
    // SAFETY: called by mbox_chan_init on a channel of this device.
    let (lb, tx) = unsafe { (Loopback::of(chan), (*chan).dir == mbox_direction_e::MBOX_TX) };
    let mut st = lb.lock();
    if tx {
        st.tx = chan as usize;
    } else {
        st.rx = chan as usize;
    }
    0
}

unsafe extern "C" fn shutdown(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: called by mbox_chan_deinit on a channel of this device.
    let lb = unsafe { Loopback::of(chan) };
    let mut st = lb.lock();
    if st.tx == chan as usize {
        st.tx = 0;
    }
    if st.rx == chan as usize {
        st.rx = 0;
    }
    while st.delivering > 0 {
        st = lb.cond.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    0
}

unsafe extern "C" fn send(chan: *mut mbox_chan_s, data: *const c_void, size: usize) -> c_int {
    // SAFETY: a live TX channel of this device; data holds size bytes.
    let (lb, token, msg) = unsafe {
        let bytes = if size == 0 { &[][..] } else { core::slice::from_raw_parts(data as *const u8, size) };
        (Loopback::of(chan), (*chan).txtoken, bytes.to_vec())
    };
    let mut st = lb.lock();
    st.sent.push(msg.clone());
    st.inflight.push_back(token);
    st.pending.push_back((token, msg));
    lb.cond.notify_all();
    0
}

unsafe extern "C" fn recv(chan: *mut mbox_chan_s, data: *mut c_void) -> c_int {
    // SAFETY: a live RX channel of this device.
    let lb = unsafe { Loopback::of(chan) };
    match lb.lock().rx_msg.take() {
        Some(m) => {
            // SAFETY: data has room for the MTU, and send() was refused
            // anything larger by the upper half.
            unsafe { ptr::copy_nonoverlapping(m.as_ptr(), data.cast::<u8>(), m.len()) };
            m.len() as c_int
        }
        None => -EAGAIN,
    }
}

unsafe extern "C" fn txfinish(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: a live TX channel of this device; txtoken names the message
    // that leaves flight (mbox_ops_s::txfinish).
    let (lb, token) = unsafe { (Loopback::of(chan), (*chan).txtoken) };
    let mut st = lb.lock();
    st.inflight.retain(|&t| t != token);
    st.acked.retain(|&t| t != token);
    0
}

unsafe extern "C" fn txacked(chan: *mut mbox_chan_s) -> bool {
    // SAFETY: a live TX channel of this device.
    let lb = unsafe { Loopback::of(chan) };
    let st = lb.lock();
    st.inflight.front().is_some_and(|t| st.acked.contains(t))
}

/// A zeroed channel that lives for ever (C's `static struct mbox_chan_s
/// chan;`).
pub fn leak_chan() -> &'static mut mbox_chan_s {
    // SAFETY: all-zero is a valid, de-initialised mbox_chan_s (NULL
    // pointers, MBOX_RX, no callback, ChanState::new()), as C's `= { 0 }`.
    Box::leak(Box::new(unsafe { core::mem::zeroed::<mbox_chan_s>() }))
}

/// Initialises `c` as a TX channel of `dev` with no buffer through the C
/// entry point, as a lower half written in C would (behind the API's
/// back); returns what `mbox_chan_init()` returned.
pub fn init_tx_in_c(c: &mut mbox_chan_s, dev: &Device<'_>) -> c_int {
    // SAFETY: a valid channel and device; no buffer.
    unsafe {
        capi::mbox_chan_init(
            Some(CChan::from_mut(c)),
            dev.as_ptr().as_ref(),
            mbox_direction_e::MBOX_TX as c_int,
            ptr::null_mut(),
            0,
        )
    }
}

/// A zeroed buffer of `n` bytes that lives for ever.
pub fn leak_buf(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}
