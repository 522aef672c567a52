//! The C entry points of `include/nuttx/mbox/mbox.h`, and the channel's
//! operations as safe methods of [`CChan`].
//!
//! A C `struct mbox_chan_s *` argument is an `Option<&CChan>` (the same
//! ABI, guaranteed by Rust), a sender, receiver, device or statistics
//! pointer an `Option<&T>` of its type: the C caller's contract ("NULL or
//! a live object") is all an entry point needs, so the entry points are
//! safe functions, each a short shell over a method of [`CChan`]. The
//! Rust API (`api`), the request/response helper and the PL320 lower half
//! call those methods. Every function checks its arguments (NULL,
//! direction, initialisation) and returns a negated errno without
//! changing any state when they are bad.
//!
//! `unsafe` is left for a few places, each with its invariant written
//! down: the watchdog's argument (the channel's address as an integer),
//! the state machine's borrow under the critical section
//! (`CChan::state`), the device behind a live channel (`CChan::env`), a
//! message that C passes as a pointer and a size ([`Msg`]), a buffer
//! lent to a channel at init, and the calls into C that pass more than
//! the channel: one block per such op of the lower half in its adapter
//! ([`OpsEnv`]: `getchan`, `setup`, `send`, `recv`, `acknowledge`,
//! `setcallback`), one per client callback. The ops that take the
//! channel alone are safe function pointers (`Option<&CChan>` is C's
//! `struct mbox_chan_s *`), and so is what `getchan` returns.
//! The state machine itself is `chan.rs`, the blocking glue around it
//! (blocked and polling senders, watchdog expiry, TX-done hand-out) is
//! `glue.rs`; this file implements the glue's [`Chan`] for [`CChan`]
//! over [`PortOs`].
//!
//! Documentation of each function (who may call it, from which context,
//! every return code) is in its doc comment, which cbindgen copies into the
//! header.

#![allow(clippy::missing_safety_doc, clippy::mut_from_ref, clippy::needless_lifetimes)]

#[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
use core::cell::Cell;
use core::ffi::{c_int, c_void};
use core::marker::PhantomData;
use core::ptr;

use crate::os::{self, Critical, Os, PortOs, Ticks, FOREVER};
pub use crate::shell::types::CChan;
use crate::shell::types::*;
#[cfg(feature = "txdone-methods")]
use crate::upper::chan::TxDoneMethod;
use crate::upper::chan::{self, ChanEnv, ChanState, Completion, Stat, Wake};
use crate::upper::errno::*;
use crate::upper::glue::{self, Chan};
use crate::upper::lent::Lent;
use crate::upper::queue;

/// MTU assumed for a lower half that leaves `mbox_dev_s::mtu` at 0: the
/// NuttX C driver's `MBOX_MAX_MSG_SIZE` (128).
pub const MBOX_DEFAULT_MTU: usize = MBOX_MAX_MSG_SIZE;

/// Largest RX message received into the on-stack scratch buffer when an RX
/// channel has no buffer of its own (`MBOX_MAX_MSG_SIZE`, 128).
pub const MBOX_RX_STACK_MAX: usize = MBOX_MAX_MSG_SIZE;

/// Largest errno a lower half's `recv` may return negated: a negative
/// result below `-MBOX_MAX_ERRNO` is no errno and becomes -EIO.
pub const MBOX_MAX_ERRNO: c_int = 4095;

impl CChan {
    /// The channel behind a C pointer, None for NULL.
    ///
    /// # Safety
    /// `chan` is NULL or points to a `mbox_chan_s` that stays allocated
    /// for `'a`.
    #[inline(always)]
    pub unsafe fn from_ptr<'a>(chan: *mut mbox_chan_s) -> Option<&'a CChan> {
        // SAFETY: valid for 'a or NULL (contract); CChan has the layout of
        // mbox_chan_s (asserted in types.rs) and every field in a cell, so
        // a shared reference allows every change other contexts make.
        unsafe { chan.cast::<CChan>().as_ref() }
    }

    /// The channel in storage the caller holds exclusively (e.g. before
    /// its `init`): from here on it is reached only through cells, shared
    /// with whatever the channel is handed to, for as long as the borrow.
    #[inline]
    pub fn from_mut(chan: &mut mbox_chan_s) -> &CChan {
        // SAFETY: the same layout (asserted in types.rs); the exclusive
        // borrow becomes a shared one of the cell view, so nothing else
        // can reach the storage through a plain reference meanwhile.
        unsafe { &*ptr::from_mut(chan).cast::<CChan>() }
    }

    /// The channel's address, as C and the lower half's ops see it.
    #[inline]
    pub fn as_ptr(&self) -> *mut mbox_chan_s {
        self as *const CChan as *mut mbox_chan_s
    }

    /// The state machine, borrowed for the critical section `_cs`. Each
    /// operation of this file borrows it once (never twice at a time, and
    /// never across a call that reaches the channel again), so the
    /// reference is the only one.
    #[inline(always)]
    fn state<'g>(&'g self, _cs: &'g Critical) -> &'g mut ChanState {
        // SAFETY: under the critical section every context that touches
        // the state holds it, and this file holds one borrow at a time
        // (above); the other fields are cells outside this borrow.
        unsafe { &mut *self.state.get() }
    }

    /// The port's watchdog, in its opaque storage (interior-mutable: a
    /// shared reference lets the port change it).
    #[inline(always)]
    fn timer(&self) -> &os::Timer {
        &self.timer
    }

    /// The channel and its state if it is live (any direction).
    #[inline(always)]
    fn live<'c: 'g, 'g>(&'c self, cs: &'g Critical) -> Option<(Live<'c>, &'g mut ChanState)> {
        let st = self.state(cs);
        if !st.is_live() {
            return None;
        }
        Some((Live(self), st))
    }

    /// The environment of the channel: its ops and its timer. Called only
    /// for a channel that is live or being torn down by the caller ([`Live`],
    /// the glue's [`Chan::with`]): its `dev` is then the device its init
    /// accepted.
    #[inline(always)]
    fn env(&self) -> OpsEnv<'_> {
        // SAFETY: dev was set by init (see above) to a device whose ops
        // init checked non-NULL, and init's contract keeps the device, its
        // ops unchanged, valid until the channel's de-init has returned.
        let ops = unsafe { (*self.dev.get()).ops.unwrap_unchecked() };
        OpsEnv { chan: self, ops }
    }

    /// The client table, entry by entry.
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    #[inline(always)]
    fn clients(&self) -> &[Cell<mbox_client_s>] {
        let table: &Cell<[mbox_client_s]> = &self.clients;
        table.as_slice_of_cells()
    }

    /// Index of `owner` in the channel's client table.
    #[cfg(feature = "txdone-callback")]
    #[inline]
    fn client_of(&self, owner: *const c_void) -> Option<usize> {
        let table = self.clients();
        if table[0].get().owner.is_null() {
            return None;
        }
        table.iter().take_while(|c| !c.get().owner.is_null()).position(|c| ptr::eq(c.get().owner, owner))
    }
}

impl core::fmt::Debug for CChan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("CChan").field(&self.as_ptr()).finish()
    }
}

/// A channel found live under the critical section ([`CChan::live`],
/// [`live`]): its `dev` was set by its init to a device whose ops are
/// set, and stays set (a de-init leaves it, and the device outlives its
/// channels), so its environment can be made.
#[derive(Clone, Copy)]
struct Live<'c>(&'c CChan);

impl<'c> Live<'c> {
    /// The channel's environment: its ops and its timer.
    #[inline(always)]
    fn env(self) -> OpsEnv<'c> {
        self.0.env()
    }
}

impl core::ops::Deref for Live<'_> {
    type Target = CChan;

    #[inline(always)]
    fn deref(&self) -> &CChan {
        self.0
    }
}

/// Read by the lower half in place of an empty message from Rust (a
/// word: see [`Msg::of`]).
pub(crate) static EMPTY_MSG: u32 = 0;

/// A message that a client sends: `len` bytes at `ptr`, lent for `'m`.
/// Made from a slice, or from C's pointer and size ([`Msg::from_c`]);
/// it becomes a slice only once its size is known to be at most the
/// channel's MTU ([`Msg::bytes`]), so that a wrong size from C is an
/// error, never a slice that does not exist.
#[derive(Clone, Copy)]
pub struct Msg<'m> {
    ptr: *const u8,
    len: usize,
    _m: PhantomData<&'m [u8]>,
}

impl<'m> Msg<'m> {
    /// The bytes of `data`. An empty slice's pointer may dangle: the
    /// lower half gets a real, readable address instead (one that peeks
    /// at the first word of a doorbell message reads memory).
    #[inline(always)]
    pub fn of(data: &'m [u8]) -> Msg<'m> {
        let ptr = if data.is_empty() { ptr::addr_of!(EMPTY_MSG).cast() } else { data.as_ptr() };
        Msg { ptr, len: data.len(), _m: PhantomData }
    }

    /// The message C passes as `data` and `size`; None for NULL data
    /// (whatever the size).
    ///
    /// # Safety
    /// `data` is NULL or valid for reading `size` bytes, unchanged, for
    /// `'m` (the C caller's contract).
    #[inline(always)]
    pub unsafe fn from_c(data: *const c_void, size: usize) -> Option<Msg<'m>> {
        if data.is_null() {
            return None;
        }
        Some(Msg { ptr: data.cast(), len: size, _m: PhantomData })
    }

    /// The bytes of a message a callback was given (`from_c`), whose size
    /// the upper half checked: none for NULL.
    #[inline(always)]
    pub fn received(msg: Option<Msg<'m>>) -> &'m [u8] {
        msg.and_then(|m| m.bytes(usize::MAX)).unwrap_or_default()
    }

    /// The bytes, when there are at most `mtu` of them (else None). A
    /// 0-byte message keeps its pointer.
    #[inline(always)]
    pub fn bytes(self, mtu: usize) -> Option<&'m [u8]> {
        if self.len > mtu {
            return None;
        }
        // SAFETY: ptr is valid for len bytes for 'm (how the Msg was
        // made), so len describes one object (at most isize::MAX).
        Some(unsafe { core::slice::from_raw_parts(self.ptr, self.len) })
    }
}

/// The environment of one live channel: its ops and its timer. Made only
/// by `CChan::env` (and by init for its `setup`), used only while the
/// channel is live or being torn down by the operation that made it. It is
/// the adapter of the lower half: every call through a `mbox_ops_s`
/// function pointer of a channel is one of its methods.
pub struct OpsEnv<'c> {
    chan: &'c CChan,
    ops: &'static mbox_ops_s,
}

impl<'c> OpsEnv<'c> {
    #[inline(always)]
    fn chan(&self) -> &'c CChan {
        self.chan
    }

    #[inline(always)]
    fn ops(&self) -> &'static mbox_ops_s {
        self.ops
    }

    /// `ops->setup(chan, NULL)`: 0 without the op.
    fn setup(&self) -> c_int {
        match self.ops.setup {
            // SAFETY: the lower half's own op on its channel, which init
            // has made ready; lock not held.
            Some(f) => unsafe { f(Some(self.chan), ptr::null_mut()) },
            None => 0,
        }
    }

    /// `ops->shutdown(chan)`: 0 without the op. Called once, after
    /// everything of the channel has ended; lock not held.
    fn shutdown(&self) -> c_int {
        match self.ops.shutdown {
            Some(f) => f(Some(self.chan)),
            None => 0,
        }
    }

    /// `ops->recv(chan, data)`: -ENOSYS without the op.
    #[inline(always)]
    fn recv(&self, data: *mut u8) -> c_int {
        match self.ops.recv {
            // SAFETY: data has room for the channel's MTU (the channel's
            // buffer, checked at init, or the stack scratch), as the op
            // wants; lock held, as documented.
            Some(f) => unsafe { f(Some(self.chan), data.cast()) },
            None => -ENOSYS,
        }
    }

    /// `ops->acknowledge(chan, data, n)` of the message `recv` just
    /// returned (`n` bytes at `data`): true when it accepted (false
    /// without the op).
    #[inline(always)]
    fn acknowledge(&self, data: *const u8, n: usize) -> bool {
        match self.ops.acknowledge {
            // SAFETY: the lower half's own op on its live channel, with
            // the message its recv returned; lock held, as documented.
            Some(f) => (unsafe { f(Some(self.chan), data.cast(), n) }) >= 0,
            None => false,
        }
    }

    /// `ops->setcallback(chan, cb, arg)`: 0 without the op.
    fn setcallback(&self, cb: mbox_callback_t, arg: *mut c_void) -> c_int {
        match self.ops.setcallback {
            // SAFETY: the lower half's own op on its live channel; lock
            // held, as documented.
            Some(f) => unsafe { f(Some(self.chan), cb, arg) },
            None => 0,
        }
    }

    /// The statistics, changed by the state machine under the critical
    /// section (the only time an OpsEnv is used).
    #[cfg(feature = "trace")]
    #[inline(always)]
    fn stats(&self) -> &CStats {
        &self.chan().stats
    }
}

impl OpsEnv<'_> {
    /// `ops->getchan(dev, arg)` of a device (the one op of a device, not
    /// of a channel): the channel, if the lower half knows one for `arg`
    /// (None without the op). The op's result type carries its contract:
    /// NULL or a channel that stays valid.
    fn getchan(dev: &mbox_dev_s, arg: *mut c_void) -> Option<&'static CChan> {
        let f = dev.ops?.getchan?;
        // SAFETY: the lower half's own op with its own device and the
        // argument the caller gave for it; lock not held.
        unsafe { f(ptr::from_ref(dev).cast_mut(), arg) }
    }
}

/// `mbox_get_chan()`: the channel of `dev` that the lower half finds
/// for `arg` (its to interpret: only passed on).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn get_chan<'d>(dev: &'d mbox_dev_s, arg: *mut c_void) -> Option<&'d CChan> {
    OpsEnv::getchan(dev, arg)
}

/// `mbox_dev_max_chans()` of a device.
pub fn dev_max_chans(dev: &mbox_dev_s) -> c_int {
    match dev.num_chans {
        0 => -ENOSYS,
        n => n.min(c_int::MAX as usize) as c_int,
    }
}

impl ChanEnv for OpsEnv<'_> {
    fn now(&self) -> Ticks {
        PortOs.now()
    }

    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        let Some(send) = self.ops().send else {
            return -ENOSYS;
        };
        self.chan().txtoken.set(token);
        // SAFETY: the lower half's own op on its live channel, with a
        // valid (data, len) pair; lock held, as documented.
        unsafe { send(Some(self.chan), data.as_ptr().cast(), data.len()) }
    }

    fn txfinish(&mut self, token: u32) {
        if let Some(f) = self.ops().txfinish {
            // For the call txtoken names the message that ends (with
            // several in flight not always the last one sent), then it is
            // restored. With one slot the message that ends is always the
            // one last sent (nothing is sent while it is in flight).
            let (c, sent) = (self.chan(), self.chan().txtoken.get());
            let other = cfg!(feature = "txfifo") && sent != token;
            if other {
                c.txtoken.set(token);
            }
            f(Some(c));
            if other {
                c.txtoken.set(sent);
            }
        }
    }

    fn txacked(&mut self) -> bool {
        match self.ops().txacked {
            Some(f) => f(Some(self.chan)),
            None => true,
        }
    }

    fn arm(&mut self, ticks: Ticks) {
        // The callback gets the channel, which outlives the timer (deinit
        // destroys it).
        if PortOs.timer_start(self.chan().timer(), ticks, on_timer, self.chan().as_ptr() as usize).is_err() {
            os::assert_fail(file!(), line!());
        }
    }

    fn disarm(&mut self) {
        PortOs.timer_cancel(self.chan().timer())
    }

    fn wake(&mut self, w: Wake<'_>) {
        w.post();
    }

    #[allow(unused_variables)]
    fn count(&mut self, s: Stat) {
        #[cfg(feature = "trace")]
        {
            let f = self.stats().at(match s {
                Stat::Timeout => CStats::TIMEOUT,
                Stat::Sent => CStats::SENT,
                Stat::Received => CStats::RECEIVED,
                Stat::Acked => CStats::ACKED,
                Stat::QueueFull => CStats::QUEUE_FULL,
                Stat::SpuriousAck => CStats::SPURIOUS_ACK,
                Stat::SendErr => CStats::SEND_ERR,
                Stat::RxDropped => CStats::RX_DROPPED,
                Stat::Cancelled => CStats::CANCELLED,
            });
            f.set(f.get().wrapping_add(1));
        }
    }

    #[allow(unused_variables)]
    fn queued(&mut self, depth: usize) {
        #[cfg(feature = "trace")]
        {
            let st = self.stats();
            st.at(CStats::BUFFERED).set(depth);
            let max = st.at(CStats::MAX_QUEUED);
            if depth > max.get() {
                max.set(depth);
            }
        }
    }

    fn in_flight(&mut self, n: usize) {
        let s = if n == 0 { mbox_txstate_e::MBOX_TX_IDLE } else { mbox_txstate_e::MBOX_TX_ACTIVE };
        self.chan().txstate.set(s);
    }
}

impl Chan for CChan {
    type Os = PortOs;
    type Env<'c> = OpsEnv<'c>;
    type Callback = (unsafe extern "C" fn(*mut mbox_sender_s, *mut c_void, c_int), *mut c_void);

    #[inline]
    fn os(&self) -> &PortOs {
        &PortOs
    }

    #[inline]
    fn with_state<R>(&self, g: &mut Critical, f: impl FnOnce(&mut ChanState) -> R) -> R {
        f(self.state(g))
    }

    #[inline]
    fn with<R>(&self, g: &mut Critical, f: impl FnOnce(&mut ChanState, &mut OpsEnv<'_>) -> R) -> R {
        let st = self.state(g);
        // The glue asks for the environment only while the channel is
        // live or being torn down (CChan::env).
        let mut env = self.env();
        f(st, &mut env)
    }

    #[inline]
    fn txdone_of(&self, _g: &mut Critical, c: &Completion) -> Option<Self::Callback> {
        // Without TX-done callbacks no message has a client to hand back.
        #[cfg(not(feature = "txdone-callback"))]
        {
            let _ = c;
            None
        }
        #[cfg(feature = "txdone-callback")]
        self.txdone_callback_of(c)
    }

    #[inline]
    fn call_txdone(&self, (cb, arg): Self::Callback, c: &Completion) {
        // SAFETY: the client's callback, without the critical section, with
        // the sender that registered it.
        unsafe { cb(c.client as *mut mbox_sender_s, arg, c.result) };
    }
}

impl CChan {
    /// The TX-done callback registered by the client of `c`, if any.
    #[cfg(feature = "txdone-callback")]
    #[inline]
    fn txdone_callback_of(&self, c: &Completion) -> Option<<Self as Chan>::Callback> {
        let i = self.client_of(c.client as *const c_void)?;
        let e = self.clients()[i].get();
        e.txdone.map(|f| (f, e.arg))
    }
}

/// Watchdog callback of a channel (interrupt context).
unsafe extern "C" fn on_timer(arg: usize) {
    // SAFETY: the timer was started with its channel's own (non-NULL)
    // address, and the channel stays allocated until deinit has destroyed
    // the timer (so no callback runs after); the glue asks for the
    // environment only while the channel is live.
    let c = unsafe { CChan::from_ptr(arg as *mut mbox_chan_s).unwrap_unchecked() };
    glue::on_timer(c);
}

/// A live channel of the wanted direction and its state under the
/// critical section `cs`, or -EINVAL.
#[inline(always)]
fn live<'c: 'g, 'g>(c: Option<&'c CChan>, cs: &'g Critical, tx: bool) -> Result<(Live<'c>, &'g mut ChanState), i32> {
    match c.and_then(|c| c.live(cs)) {
        Some((c, st)) if st.is_tx() == tx => Ok((c, st)),
        _ => Err(-EINVAL),
    }
}

/// Resolve a channel of `dev` from a lower-half specific argument (PL320:
/// the mailbox number cast to a pointer).
///
/// Context: task or interrupt.
/// Returns the channel, or NULL when `dev` or its ops are NULL, the lower
/// half has no `getchan`, or it knows no such channel.
#[no_mangle]
pub extern "C" fn mbox_get_chan(dev: Option<&mbox_dev_s>, arg: *mut c_void) -> *mut mbox_chan_s {
    dev.and_then(|d| get_chan(d, arg)).map_or(ptr::null_mut(), CChan::as_ptr)
}

/// Initialise a channel (called by lower halves, once per channel).
///
/// `buffer`/`size`: for a TX channel, the memory of its queue of
/// non-blocking messages (each takes 6 bytes plus its payload, plus a
/// pointer's size more when its sender has a TX-done callback; NULL with
/// size 0 means non-blocking sends work only while the channel is idle).
/// For an RX channel, the receive scratch (at least the MTU), or NULL to
/// receive on the stack (MTU at most `MBOX_MAX_MSG_SIZE`, 128). The memory
/// must stay valid until `mbox_chan_deinit()`. Calls `ops->setup(chan,
/// NULL)` last. The NuttX C driver's argument types: any object pointer
/// converts to `buffer`.
///
/// Context: task.
/// Returns 0; -EINVAL for a NULL chan or dev, a device without ops, a
/// direction other than MBOX_TX/MBOX_RX, a NULL buffer with a non-zero
/// size, a size above PTRDIFF_MAX or one that wraps the address space
/// from `buffer`, an RX buffer smaller than the MTU (or no RX buffer with an MTU
/// above 128), an MTU above 32766, a `txdepth` above MBOX_MAX_TXDEPTH or a
/// TX buffer too small for its in-flight slots (`MBOX_TXBUF_SIZE()`;
/// `CONFIG_MBOX_TXFIFO`), or a negative timeout; -EBUSY when the
/// channel is already initialised, another `mbox_chan_init()` of it is
/// running (of several racing ones exactly one succeeds) or a
/// `mbox_chan_deinit()` of it has not returned yet; -EPERM from interrupt
/// context; the port's error if its timer cannot be created; `setup`'s
/// error (what was accepted during setup ends with -ECANCELED, and the
/// channel is left uninitialised, free for a new init).
#[no_mangle]
pub unsafe extern "C" fn mbox_chan_init(
    chan: Option<&CChan>,
    dev: Option<&mbox_dev_s>,
    // `enum mbox_direction_e` in the header (tools/headergen): taken as an
    // int because C may pass any value, and a Rust enum outside its
    // variants would be undefined behaviour.
    dir: c_int,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    let (Some(c), Some(d)) = (chan, dev) else {
        return -EINVAL;
    };
    // SAFETY: the C caller's contract is init's (the memory, the device
    // and the channel stay valid until the channel's de-init returns).
    unsafe { c.init(d, dir, buffer.cast(), size) }
}

impl CChan {
    /// `mbox_chan_init()`: initialises this channel of `dev`, with
    /// `dir` (`mbox_direction_e` as an int) and the buffer `(buffer,
    /// size)`; every check and result as there.
    ///
    /// # Safety
    /// Until this channel's de-init has returned (or this call failed):
    /// the channel's storage and `dev`, with its ops unchanged, stay
    /// valid, and `buffer` (when not NULL) is valid for `size` bytes and
    /// used by nothing else.
    pub unsafe fn init(&self, dev: &mbox_dev_s, dir: c_int, buffer: *mut u8, size: usize) -> c_int {
        let (c, d) = (self, dev);
        let Some(ops) = d.ops else {
            return -EINVAL;
        };
        let is_tx = match dir {
            d if d == mbox_direction_e::MBOX_RX as c_int => false,
            d if d == mbox_direction_e::MBOX_TX as c_int => true,
            _ => return -EINVAL,
        };
        // The buffer must be able to describe an object: at most isize::MAX
        // bytes, not wrapping the address space.
        if (buffer.is_null() && size != 0)
            || size > isize::MAX as usize
            || (buffer as usize).checked_add(size).is_none()
        {
            return -EINVAL;
        }
        if PortOs.in_interrupt() {
            return -EPERM;
        }
        let mtu = match d.mtu {
            0 => MBOX_DEFAULT_MTU,
            m => m,
        };
        if mtu > queue::MAX_PAYLOAD {
            return -EINVAL;
        }
        #[cfg(feature = "txfifo")]
        let depth = d.txdepth.max(1);
        #[cfg(feature = "txfifo")]
        if is_tx && depth > MBOX_MAX_TXDEPTH {
            return -EINVAL;
        }
        if !is_tx && ((buffer.is_null() && mtu > MBOX_RX_STACK_MAX) || (!buffer.is_null() && size < mtu)) {
            return -EINVAL;
        }
        // Board code may have set the timeout.
        let timeout = match os::clock_to_ticks(c.timeout.get()) {
            Ok(0) | Ok(FOREVER) => crate::kconfig::DEFAULT_TIMEOUT_TICKS,
            Ok(t) => t,
            Err(e) => return e,
        };
        {
            let cs = Critical::enter();
            // Checked and claimed in one critical section: exactly one of
            // several racing inits gets the channel; a channel that is live,
            // being initialised or being torn down is busy.
            if let Err(e) = c.state(&cs).claim_init() {
                return e;
            }
        }
        // The channel is claimed by this call and not live: no other init or
        // de-init touches the timer, and no timer callback can run.
        if let Err(r) = PortOs.timer_init(c.timer()) {
            let cs = Critical::enter();
            c.state(&cs).release();
            return r;
        }
        {
            let cs = Critical::enter();
            // The public fields are written before the channel becomes live.
            c.dev.set(ptr::from_ref(d).cast_mut());
            c.dir.set(if is_tx { mbox_direction_e::MBOX_TX } else { mbox_direction_e::MBOX_RX });
            c.callback.set(None);
            #[cfg(not(feature = "multi-rx"))]
            c.callback_arg.set(ptr::null_mut());
            #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
            c.clients.set([mbox_client_s::EMPTY; MBOX_MAX_CLIENTS]);
            c.txtoken.set(0);
            c.txstate.set(mbox_txstate_e::MBOX_TX_IDLE);
            #[cfg(feature = "trace")]
            c.stats.clear();
            let st = c.state(&cs);
            // SAFETY: buffer is NULL or, by the caller's contract, `size`
            // bytes reserved to the channel until its de-init returns
            // (checked above to describe one object); the channel keeps
            // it until then.
            st.init(is_tx, unsafe { Lent::new(buffer, size) }, mtu, timeout);
            #[cfg(feature = "txfifo")]
            if is_tx {
                if let Err(e) = st.set_txdepth(depth) {
                    // Too small a buffer for the in-flight slots. Never seen
                    // live (same critical section): back to claimed until the
                    // timer is gone, then free.
                    st.abort_init();
                    drop(cs);
                    PortOs.timer_destroy(c.timer());
                    let cs = Critical::enter();
                    c.state(&cs).release();
                    return e;
                }
            }
            // Live from here (a lower half's interrupt may deliver during
            // setup), but still this init's: a de-init is -EBUSY until setup
            // returned.
            st.set_in_setup(true);
        }
        {
            let r = OpsEnv { chan: c, ops }.setup();
            if r < 0 {
                {
                    let mut cs = Critical::enter();
                    // The channel was live during setup (a racing client may
                    // have queued or registered); no de-init could start
                    // (in_setup).
                    c.with(&mut cs, |st, env| st.deinit(env));
                }
                // Everything that was accepted meanwhile ends (-ECANCELED),
                // then the channel is free again; no shutdown (the hardware
                // was never set up).
                teardown(c);
                let cs = Critical::enter();
                c.state(&cs).release();
                return r;
            }
        }
        let cs = Critical::enter();
        // Live and ours since set_in_setup.
        c.state(&cs).set_in_setup(false);
        0
    }
}
/// Tear a channel down: the in-flight messages and every queued one end
/// with -ECANCELED (blocked senders return it, TX-done callbacks get it
/// before this returns), the watchdog is destroyed (no callback runs
/// after this returns), then `ops->shutdown` is called.
/// The channel may be initialised again once this has returned: until
/// then it is busy (a `mbox_chan_init()` or a second `mbox_chan_deinit()`
/// meanwhile gets -EBUSY and changes nothing).
///
/// Not from one of the channel's own callbacks (an RX callback of a
/// reception run in task context, or a TX-done callback): that would wait
/// for itself, so it is refused with -EDEADLK and changes nothing.
///
/// Context: task.
/// Returns 0 or `shutdown`'s error; -EINVAL for a NULL or uninitialised
/// channel; -EBUSY while another `mbox_chan_deinit()` or the
/// `mbox_chan_init()` of the channel has not returned; -EPERM from
/// interrupt context; -EDEADLK from the channel's own callback.
#[no_mangle]
pub extern "C" fn mbox_chan_deinit(chan: Option<&CChan>) -> c_int {
    chan.map_or(-EINVAL, CChan::deinit)
}

impl CChan {
    /// `mbox_chan_deinit()`: tears this channel down; every result as
    /// there.
    /// True when task `me` is inside one of this channel's callbacks (so
    /// tearing the channel down would wait for `me`). Under the critical
    /// section, which `cs` shows held.
    #[cfg(feature = "pl320")]
    pub(crate) fn in_callback_of(&self, me: usize, cs: &Critical) -> bool {
        self.state(cs).owned_by(&self.rx_claim, me)
    }

    pub fn deinit(&self) -> c_int {
        let c = self;
        if PortOs.in_interrupt() {
            return -EPERM;
        }
        let env = {
            let cs = Critical::enter();
            if c.state(&cs).in_transition() {
                // Another init or de-init of this channel is still running.
                return -EBUSY;
            }
            let Some((l, st)) = c.live(&cs) else {
                return -EINVAL;
            };
            if st.owned_by(&c.rx_claim, PortOs.current()) {
                // Called from one of this channel's own callbacks: tearing
                // down would wait for this very call to return.
                return -EDEADLK;
            }
            let mut env = l.env();
            // Tearing down from here: init and de-init get -EBUSY until the
            // channel is released below.
            st.deinit(&mut env);
            env
        };
        teardown(c);
        // The ops the channel was live with.
        let r = env.shutdown();
        // Nothing of the old channel runs any more: a new init may take it.
        let cs = Critical::enter();
        c.state(&cs).release();
        r
    }
}

/// The part of a teardown after [`ChanState::deinit`]: hands out the
/// TX-done callbacks of everything that ended, destroys the watchdog and
/// waits for a reception still in its callbacks, so that nothing of the
/// channel runs when it returns. The channel stays claimed (tearing down)
/// for the caller to release. Task context, lock not held; the channel
/// is being torn down by the caller (its dev is set).
fn teardown(c: &CChan) {
    // TX-done callbacks of everything that ended (queued messages with a
    // client end here with -ECANCELED), none after this returns.
    glue::hand_out_rest(c);
    // The timer was initialised by init and only this teardown may
    // destroy it (the channel is claimed); the lock is not held, and a
    // callback that already started sees a dead channel.
    PortOs.timer_destroy(c.timer());
    // A reception that started before the channel died may still be in
    // its recv/callback: wait for it, so that no client callback runs after
    // deinit returns and a re-init cannot overlap it. Bounded by that
    // callback (which runs in interrupt context, so it cannot be this
    // thread: deinit refuses interrupt context).
    glue::nap_until(c, |_| !chan::rx_in_progress(&c.rx_claim));
}

/// Send and wait for the remote's ACK, bounded by the channel's `timeout`
/// (`mbox_ticksend(sender, data, size, chan->timeout)`).
///
/// Context: task. Returns as `mbox_ticksend()` with a positive timeout.
#[no_mangle]
pub unsafe extern "C" fn mbox_send(sender: Option<&mbox_sender_s>, data: *const c_void, size: usize) -> c_int {
    // SAFETY: data is NULL or valid for size bytes, unchanged during the
    // call (API contract).
    c_ticksend(sender, unsafe { Msg::from_c(data, size) }, None)
}

/// Send a message on a TX channel.
///
/// `timeout == 0` (non-blocking): the message is sent at once when the
/// channel has room in flight, otherwise copied into the channel's queue
/// behind the messages before it; it gets the channel's `timeout` as its
/// ACK deadline once in flight. Returns 0 (sent or queued; the outcome is
/// counted in the statistics and, when the sender has a TX-done callback,
/// reported to it), -ENOBUFS when the queue is full, or the lower half's
/// error when the immediate send failed (then no callback follows).
///
/// `timeout > 0` (blocking): waits its turn in FIFO order, then for its own
/// ACK; the timeout covers both. `MBOX_WAIT_FOREVER` waits without limit.
/// Returns exactly this message's result: 0 (acknowledged), -ETIMEDOUT,
/// the lower half's send error, or -ECANCELED (channel de-initialised).
/// Several blocked senders on one channel each get their own result.
///
/// `data` is never NULL, also for a 0-byte message: the lower half gets
/// the caller's pointer for a message sent at once (or, for one copied
/// into the queue, an address inside the channel's queue buffer).
///
/// Context: task for a blocking send; task or interrupt for timeout 0.
/// Also returns -EINVAL for a NULL sender or channel, a channel that is
/// uninitialised or not TX, NULL data (whatever the size), or a negative
/// timeout; -EMSGSIZE when size exceeds the lower half's MTU (nothing is
/// queued); -EPERM for a blocking send from interrupt context.
#[no_mangle]
pub unsafe extern "C" fn mbox_ticksend(
    sender: Option<&mbox_sender_s>,
    data: *const c_void,
    size: usize,
    timeout: clock_t,
) -> c_int {
    // SAFETY: as in mbox_send.
    c_ticksend(sender, unsafe { Msg::from_c(data, size) }, Some(timeout))
}

/// The C shell of both sends: the sender's channel, and the message as C
/// passes it (None: NULL data).
#[inline(always)]
fn c_ticksend(sender: Option<&mbox_sender_s>, msg: Option<Msg<'_>>, timeout: Option<clock_t>) -> c_int {
    let (Some(s), Some(msg)) = (sender, msg) else {
        return -EINVAL;
    };
    ticksend(s.chan, ptr::from_ref(s).cast(), msg, timeout)
}

impl CChan {
    /// `mbox_ticksend()` (`timeout` Some) or `mbox_send()` (None: the
    /// channel's timeout) of `data` by the client `sender` (an identity
    /// only: it gets its TX-done callback, if it registered one; may be
    /// NULL); every result as there.
    pub fn send(&self, sender: *const mbox_sender_s, data: &[u8], timeout: Option<clock_t>) -> c_int {
        self.send_msg(sender, Msg::of(data), timeout)
    }

    /// [`CChan::send`] of a [`Msg`]: the lower half gets its pointer as
    /// it is (C's own for a message from C, also with 0 bytes).
    pub fn send_msg(&self, sender: *const mbox_sender_s, msg: Msg<'_>, timeout: Option<clock_t>) -> c_int {
        ticksend(Some(self), sender.cast(), msg, timeout)
    }
}

/// `timeout` None: the channel's. Converted to ticks only for a blocking
/// send: the non-blocking one is told by one comparison (a bad timeout
/// and a NULL argument are both -EINVAL, so the order of the checks does
/// not show). `client`: the sender's identity.
#[inline(always)]
fn ticksend(c: Option<&CChan>, client: *const c_void, msg: Msg<'_>, timeout: Option<clock_t>) -> c_int {
    if timeout == Some(0) {
        let cs = Critical::enter();
        let (c, st) = match live(c, &cs, true) {
            Ok(live) => live,
            Err(e) => return e,
        };
        let Some(msg) = msg.bytes(st.mtu()) else {
            return -EMSGSIZE;
        };
        #[cfg(feature = "txdone-callback")]
        let client = if c.client_of(client).is_some() { client as usize } else { 0 };
        // Without TX-done callbacks no message has a client to hand back.
        #[cfg(not(feature = "txdone-callback"))]
        let client = {
            let _ = client;
            0
        };
        let mut env = c.env();
        // A submission ends no message (an immediate send error is
        // refused, not accepted), so there is nothing to hand out here.
        return st.submit_nb_client(&mut env, msg, client);
    }
    let timeout = match timeout.map(os::clock_to_ticks) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return e,
    };
    ticksend_blocking(c, msg, timeout)
}

/// The blocking half of [`ticksend`]: mbox_send() (the channel's timeout,
/// `timeout` None) or a timeout > 0. Out of line, so that the non-blocking
/// path does not pay for the waiter's stack frame.
#[inline(never)]
fn ticksend_blocking(c: Option<&CChan>, msg: Msg<'_>, timeout: Option<Ticks>) -> c_int {
    if PortOs.in_interrupt() {
        return -EPERM;
    }
    let Some(c) = c else {
        return -EINVAL;
    };
    glue::send_blocking(c, |st| {
        if !st.is_live() || !st.is_tx() {
            return Err(-EINVAL);
        }
        let Some(msg) = msg.bytes(st.mtu()) else {
            return Err(-EMSGSIZE);
        };
        Ok((msg, timeout.unwrap_or(st.timeout())))
    })
}

/// Notify the framework that the in-flight message of a TX channel was
/// acknowledged (lower halves, from their interrupt handler or polling
/// path), with the NuttX C driver's prototype: it returns nothing. It does
/// what `mbox_chan_tx_done_checked()` does. An ACK that completes nothing
/// changes nothing else: with nothing in flight, or denied by `txacked`,
/// it is counted in `spurious_ack`; on a NULL, uninitialised or RX channel
/// it is ignored.
///
/// Without a token the ACK cannot tell which message it belongs to: a
/// late ACK of a message that timed out can complete the next one unless
/// `ops->txacked` rules it out (as in the C driver). Lower halves that can
/// carry the token use `mbox_chan_tx_done_token()`.
///
/// Context: interrupt or task.
#[no_mangle]
pub extern "C" fn mbox_chan_tx_done(chan: Option<&CChan>) {
    mbox_chan_tx_done_checked(chan);
}

/// `mbox_chan_tx_done()` with its result: notify the framework that the
/// in-flight message of a TX channel was acknowledged. The ACK is trusted
/// only when `ops->txacked` (if any) confirms it. On success the next
/// queued message is started before this returns. With several messages
/// in flight (`txdepth > 1`) it completes the oldest.
///
/// Context: interrupt or task.
/// Returns 0 when a message was completed; -ENOENT when none was in
/// flight, -EAGAIN when `txacked` denies the ACK, -EPERM when the channel's
/// TX-done method is not MBOX_TXDONE_IRQ (all counted as `spurious_ack`,
/// nothing else changes); -EINVAL for a NULL, uninitialised or RX channel.
#[no_mangle]
pub extern "C" fn mbox_chan_tx_done_checked(chan: Option<&CChan>) -> c_int {
    tx_done(chan, NO_TOKEN)
}

impl CChan {
    /// `mbox_chan_tx_done_checked()` (`token` None) or
    /// `mbox_chan_tx_done_token()`: the ACK of the oldest message in
    /// flight; every result as there.
    #[inline]
    pub fn tx_done(&self, token: Option<u32>) -> c_int {
        tx_done(Some(self), token.map_or(NO_TOKEN, u64::from))
    }
}

/// The ACK of `mbox_chan_tx_done_checked()` (`token` [`NO_TOKEN`]) and
/// `mbox_chan_tx_done_token()`: one copy of the inlined ACK path for both.
/// The token comes in one register (an `Option<u32>` takes two, and the
/// path then saves one more).
#[inline(never)]
fn tx_done(c: Option<&CChan>, token: u64) -> c_int {
    let token = u32::try_from(token).ok();
    let cs = Critical::enter();
    match live(c, &cs, true) {
        Err(e) => e,
        Ok((c, st)) => {
            let mut env = c.env();
            let r = st.tx_done(&mut env, token);
            // cs is this operation's critical section.
            glue::hand_out(c.0, cs);
            r
        }
    }
}

/// The `token` of [`tx_done`] for an ACK without one.
const NO_TOKEN: u64 = u64::MAX;

/// Like `mbox_chan_tx_done()`, for lower halves that carry the message
/// token (`chan->txtoken` at send time) to the remote and back: the ACK
/// completes the in-flight message only if `token` is its token, so a
/// late ACK of a timed-out message can never complete a newer one.
///
/// Context: interrupt or task.
/// Returns 0; -ESRCH for another message's token (with several messages
/// in flight: any but the oldest's), -ENOENT when nothing is in flight,
/// -EPERM when the TX-done method is not MBOX_TXDONE_IRQ (all counted as
/// `spurious_ack`); -EINVAL as for `mbox_chan_tx_done_checked()`.
#[no_mangle]
pub extern "C" fn mbox_chan_tx_done_token(chan: Option<&CChan>, token: u32) -> c_int {
    tx_done(chan, token as u64)
}

/// Receive the pending message of an RX channel (lower halves, from their
/// interrupt handler or polling path): `ops->recv` into a buffer of MTU
/// size (the channel's buffer, or the stack for an MTU up to
/// `MBOX_MAX_MSG_SIZE`), then `ops->acknowledge`, both inside the one
/// critical section a reception takes, then the callback of every
/// registered receiver, in registration order, outside the critical
/// section. A message that arrives with no receiver registered is still
/// acknowledged and is counted in `received` and `rx_dropped`.
///
/// Context: interrupt or task.
/// Returns the size of the received message (>= 0; delivered or dropped),
/// as the NuttX C driver does; the
/// negated errno of `recv` (the callback, if any, gets it with NULL data);
/// -EIO when `recv` returns a negative value below `-MBOX_MAX_ERRNO`;
/// -EMSGSIZE when `recv` reports more than the MTU (in both cases the
/// message is not acknowledged and the callback gets that code with NULL
/// data, as for a `recv` error); -EBUSY when another
/// reception on this channel is still running (the message stays in the
/// hardware); -EAGAIN when `recv` says the message is not complete yet
/// (no callback, nothing counted: it stays pending and is received on the
/// next call); -ENOSYS without a `recv` op; -EINVAL for a NULL,
/// uninitialised or TX channel.
#[no_mangle]
pub extern "C" fn mbox_chan_rx_data(chan: Option<&CChan>) -> c_int {
    // One critical section per reception (on NuttX an interrupt mask round
    // trip, in its simulator two system calls): it checks the channel,
    // claims the reception, runs `recv` and `acknowledge` (short, like
    // `send`, which also runs under it), counts, and copies the client
    // table; the callbacks then run without it, and the claim is released
    // with an atomic store, which a waiting teardown reads. The claim
    // stays what keeps receptions of one channel apart and what a teardown
    // waits for; holding the lock across recv also means that no other
    // context can change the channel between the check and the ACK.
    //
    // Scratch for channels without a buffer. Left uninitialised: `recv`
    // writes the message into it and only the `n` bytes it reports are
    // read back (zeroing it would cost every reception).
    let mut stack = core::mem::MaybeUninit::<[u32; MBOX_RX_STACK_MAX / 4]>::uninit();
    // Filled in place under the lock (moving it out would copy it again).
    let mut receivers: Receivers = [(None, ptr::null_mut()); RX_MAX];
    // Once live the channel stays valid until a teardown has seen the
    // claim released.
    let (c, msg, ret, claim, result) = {
        let cs = Critical::enter();
        let (c, st) = match live(chan, &cs, false) {
            Ok(live) => live,
            Err(e) => return e,
        };
        // The claim is outside the state, which other contexts may borrow
        // under the lock meanwhile.
        let claim = &c.0.rx_claim;
        if let Err(e) = st.rx_begin(claim, PortOs.current()) {
            return e;
        }
        let (buf, mtu) = (st.buffer().0, st.mtu());
        let mut env = c.env();
        let data = if buf.is_null() { stack.as_mut_ptr().cast::<u8>() } else { buf };
        // data has room for mtu bytes (checked at init). No borrow of
        // the channel state is live across the call.
        let n = env.recv(data);
        // A message of 0..=mtu bytes in one comparison (a negative `n`
        // is above any MTU as unsigned; the MTU fits in 16 bits). Decided
        // once per outcome: `ret` and `msg` for the callbacks (the
        // message, or the error with NULL), `result` for the caller (the
        // size, or the error).
        let (ret, msg, result) = if n as u32 as usize <= mtu {
            (0, (data, n as usize), n)
        } else if n == -EAGAIN {
            // "Nothing complete yet" (e.g. a torn read while the sender
            // rewrote the mailbox): the message is still pending in the
            // hardware and will be received again. Not an error for the
            // client: no ACK, no callback, nothing counted.
            chan::rx_release(claim);
            return -EAGAIN;
        } else {
            let e = rx_error(n);
            (e, (ptr::null_mut(), 0), e)
        };
        // This reception holds its claim; data holds what recv reported.
        ack_and_count(&c, &mut env, data, n, ret, &mut receivers);
        if receivers[0].0.is_none() {
            // Nobody to call: release the claim right here.
            chan::rx_release(claim);
            return result;
        }
        (c.0, msg, ret, claim, result)
    };
    // This reception is ours (the claim); msg is the message recv
    // reported, or NULL.
    deliver(c, &receivers, msg, ret);
    // Other contexts only load the claim meanwhile, and write it only
    // after loading it free, i.e. after this store.
    chan::rx_release(claim);
    result
}

impl CChan {
    /// `mbox_chan_rx_data()`: receives the pending message; every result
    /// as there.
    #[inline]
    pub fn rx_data(&self) -> c_int {
        mbox_chan_rx_data(Some(self))
    }
}

/// What a reception reports for `recv`'s result `n` when it is no
/// message (not 0..=MTU, not -EAGAIN): the negated errno. `recv` returns
/// an int (the C driver's type): a negative value is a negated errno as it
/// is, unless it is below any errno; a size above the MTU is -EMSGSIZE.
fn rx_error(n: c_int) -> c_int {
    if n < -MBOX_MAX_ERRNO {
        -EIO
    } else if n < 0 {
        n
    } else {
        -EMSGSIZE
    }
}

/// The receivers a reception calls, each a callback and its argument
/// (`None` ends the list), copied under the critical section: receivers
/// may (un)register while the callbacks run, and each reception calls them
/// as they were when it was acknowledged.
type Receivers = [(mbox_callback_t, *mut c_void); RX_MAX];
/// Receivers per RX channel.
#[cfg(feature = "multi-rx")]
const RX_MAX: usize = MBOX_MAX_CLIENTS;
#[cfg(not(feature = "multi-rx"))]
const RX_MAX: usize = 1;

/// The registrations of an RX channel, as the framework keeps them: the
/// client table (`multi-rx`; on an RX channel it holds only receivers, so
/// an entry without an RX callback is a free one), else the one callback
/// and its argument.
#[cfg(feature = "multi-rx")]
type Registrations = [mbox_client_s; MBOX_MAX_CLIENTS];
#[cfg(not(feature = "multi-rx"))]
type Registrations = (mbox_callback_t, *mut c_void);

/// The part of a reception after `recv` that runs under the critical
/// section: ACK (only a message received whole), count, and copy of the
/// receivers into `receivers` (which comes empty). The reception holds
/// the claim of `c` and the lock; `data` holds the `n` bytes `recv`
/// returned when `ret == 0`.
#[inline(always)]
fn ack_and_count(c: &CChan, env: &mut OpsEnv<'_>, data: *mut u8, n: c_int, ret: c_int, receivers: &mut Receivers) {
    let mut acked = false;
    if ret == 0 {
        // data holds the n bytes recv returned.
        acked = env.acknowledge(data, n as usize);
    }
    // Only the receivers in use are copied (`receivers` comes empty): the
    // table is in registration order, a free entry ends it.
    #[cfg(feature = "multi-rx")]
    for (r, e) in receivers.iter_mut().zip(c.clients()) {
        let e = e.get();
        if e.rxcallback.is_none() {
            break;
        }
        *r = (e.rxcallback, e.arg);
    }
    #[cfg(not(feature = "multi-rx"))]
    {
        receivers[0] = (c.callback.get(), c.callback_arg.get());
    }
    if ret == 0 {
        env.count(Stat::Received);
    }
    if acked {
        env.count(Stat::Acked);
    }
    if ret != 0 || receivers[0].0.is_none() {
        env.count(Stat::RxDropped);
    }
}

/// The client callbacks of a reception of `chan`, outside the critical
/// section: the message `(d, len)` with `ret == 0`, or `ret` with NULL
/// data. The reception holds the claim; `d` holds the `len` bytes `recv`
/// returned when `ret == 0`.
fn deliver(c: &CChan, receivers: &Receivers, (d, len): (*mut u8, usize), ret: c_int) {
    let chan = c.as_ptr();
    for &(cb, arg) in receivers {
        let Some(cb) = cb else { break };
        // SAFETY: a callback its receiver registered on chan (copied under
        // the lock), with the documented arguments, called without the
        // critical section.
        unsafe { cb(ret, chan, arg, d.cast(), len) };
    }
}

/// Register the RX callback of a receiver on its channel.
///
/// Without `CONFIG_MBOX_MULTI_RX` a channel has one receiver, as with the
/// NuttX C driver: this registration replaces the previous one, whoever
/// made it, and the lower half's `ops->setcallback` is told every time.
///
/// With `CONFIG_MBOX_MULTI_RX` several receivers (up to
/// `MBOX_MAX_CLIENTS`) may register on one RX channel; each gets every
/// message, in registration order. Registering the same receiver again
/// replaces its callback and argument. The receiver
/// is only an identity to the framework (never dereferenced after this
/// call). The lower half's `ops->setcallback` is told the first
/// receiver's callback whenever that changes.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL receiver, channel or callback, or a
/// channel that is uninitialised or not RX; -ENOSPC when
/// `MBOX_MAX_CLIENTS` other receivers are registered
/// (`CONFIG_MBOX_MULTI_RX`); `setcallback`'s error (then nothing
/// changes).
#[no_mangle]
pub extern "C" fn mbox_register_rxcallback(
    receiver: Option<&mbox_receiver_s>,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> c_int {
    if callback.is_none() {
        return -EINVAL;
    }
    set_callback_of(receiver, callback, arg)
}

/// Remove the RX callback from a receiver's channel. Without
/// `CONFIG_MBOX_MULTI_RX` this clears the channel's one registration,
/// whoever made it (as the NuttX C driver does); with it only this
/// receiver's entry goes and the other receivers stay registered.
/// Messages that arrive when no receiver is left are acknowledged and
/// counted in `rx_dropped`. A callback already running on another CPU may
/// still finish after this returns.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL receiver or channel, or a channel that is
/// uninitialised or not RX; -ENOENT when this receiver is not registered
/// (`CONFIG_MBOX_MULTI_RX`); `setcallback`'s error (then nothing
/// changes).
#[no_mangle]
pub extern "C" fn mbox_unregister_rxcallback(receiver: Option<&mbox_receiver_s>) -> c_int {
    set_callback_of(receiver, None, ptr::null_mut())
}

/// [`set_callback`] for a C receiver: one copy for both entry points.
#[inline(never)]
fn set_callback_of(receiver: Option<&mbox_receiver_s>, callback: mbox_callback_t, arg: *mut c_void) -> c_int {
    match receiver {
        Some(r) => set_callback(r.chan, r, callback, arg),
        None => -EINVAL,
    }
}

impl CChan {
    /// `mbox_register_rxcallback()` by the receiver `receiver` (an
    /// identity only, never dereferenced); every result as there.
    pub fn register_rx(&self, receiver: *const mbox_receiver_s, callback: mbox_callback_t, arg: *mut c_void) -> c_int {
        if callback.is_none() {
            return -EINVAL;
        }
        self.set_rx(receiver, callback, arg)
    }

    /// `mbox_unregister_rxcallback()` by the receiver `receiver` (an
    /// identity only); every result as there.
    pub fn unregister_rx(&self, receiver: *const mbox_receiver_s) -> c_int {
        self.set_rx(receiver, None, ptr::null_mut())
    }

    /// [`set_callback`] for a Rust receiver: one copy for both methods.
    #[inline(never)]
    fn set_rx(&self, receiver: *const mbox_receiver_s, callback: mbox_callback_t, arg: *mut c_void) -> c_int {
        set_callback(Some(self), receiver, callback, arg)
    }
}

/// What a C RX callback was given, for a Rust handler ([`OnRx`]).
// The raw arguments are read by the request/response helper only.
#[cfg_attr(not(feature = "rr"), allow(dead_code))]
pub(crate) struct RxCall<'m> {
    /// The callback's arguments as C passed them.
    pub ret: c_int,
    pub chan: *mut mbox_chan_s,
    pub data: *mut c_void,
    pub size: usize,
    /// The received bytes (lent for the call), or `ret` when negative
    /// (the reception error).
    pub msg: Result<&'m [u8], c_int>,
}

/// A Rust handler of the C RX callback, registered by address
/// ([`rx_callback`]): it runs for every message of its channel in the
/// callback's context (usually an interrupt, possibly on another CPU:
/// hence `Sync`).
pub(crate) trait OnRx: Sync + 'static {
    fn on_rx(&self, call: &RxCall<'_>);
}

/// The C RX callback and its argument that run `target`'s handler
/// (`mbox_register_rxcallback()`'s callback and arg).
pub(crate) fn rx_callback<T: OnRx>(target: &'static T) -> (mbox_callback_t, *mut c_void) {
    (Some(rx_trampoline::<T>), ptr::from_ref(target).cast_mut().cast())
}

/// The C RX callback of [`rx_callback`]: `arg` is its `&'static T`.
unsafe extern "C" fn rx_trampoline<T: OnRx>(
    ret: c_int,
    chan: *mut mbox_chan_s,
    arg: *mut c_void,
    data: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: arg is the &'static T that rx_callback paired with this
    // instantiation; the upper half passes NULL or `size` received bytes
    // (at most the channel's MTU, checked by mbox_chan_rx_data), valid and
    // unchanged for the call.
    let (t, msg) = unsafe { (&*arg.cast::<T>(), Msg::from_c(data, size)) };
    let msg = if ret < 0 { Err(ret) } else { Ok(Msg::received(msg)) };
    t.on_rx(&RxCall { ret, chan, data, size, msg });
    0
}

/// Adds, replaces (callback Some) or removes (None) the entry of
/// `receiver` (an identity) on `c` (`multi-rx`), or sets or clears the
/// channel's one receiver (without). Inlined into its two callers (C's
/// and Rust's receivers): a program uses one of them, usually.
#[inline(always)]
fn set_callback(
    c: Option<&CChan>,
    receiver: *const mbox_receiver_s,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> c_int {
    let cs = Critical::enter();
    let (c, _) = match live(c, &cs, false) {
        Ok(live) => live,
        Err(e) => return e,
    };
    // The receivers before this change (the framework's own record;
    // `callback` may also have been written by the lower half's op).
    #[cfg(feature = "multi-rx")]
    let mut regs: Registrations = c.clients.get();
    #[cfg(not(feature = "multi-rx"))]
    let mut regs: Registrations = (c.callback.get(), c.callback_arg.get());
    let old_first = first_of(&regs);
    if let Err(e) = with_receiver(&mut regs, receiver, callback, arg) {
        return e;
    }
    let ((first_cb, first_arg), tell) = first_receiver(old_first, &regs);
    if tell {
        let r = c.env().setcallback(first_cb, first_arg);
        if r < 0 {
            return r;
        }
    }
    // Live channel, lock held: the receivers are ours.
    #[cfg(feature = "multi-rx")]
    c.clients.set(regs);
    #[cfg(not(feature = "multi-rx"))]
    c.callback_arg.set(first_arg);
    c.callback.set(first_cb);
    0
}

/// The receivers changed for `receiver` setting (callback Some) or
/// clearing (None) its callback: its entry added, replaced or removed in
/// the table (an error for a full table or an absent receiver), or, with
/// one receiver per channel, that one replaced or cleared, whoever
/// registered it.
#[cfg(feature = "multi-rx")]
fn with_receiver(
    table: &mut Registrations,
    receiver: *const mbox_receiver_s,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> Result<(), i32> {
    let entry = mbox_client_s {
        owner: receiver.cast_mut().cast(),
        rxcallback: callback,
        #[cfg(feature = "txdone-callback")]
        txdone: None,
        arg,
    };
    update_clients(table, entry)
}
#[cfg(not(feature = "multi-rx"))]
fn with_receiver(
    one: &mut Registrations,
    _receiver: *const mbox_receiver_s,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> Result<(), i32> {
    *one = (callback, arg);
    Ok(())
}

/// The first receiver of `r`: its callback and argument.
#[cfg(feature = "multi-rx")]
fn first_of(r: &Registrations) -> (mbox_callback_t, *mut c_void) {
    (r[0].rxcallback, r[0].arg)
}
#[cfg(not(feature = "multi-rx"))]
fn first_of(r: &Registrations) -> (mbox_callback_t, *mut c_void) {
    *r
}

/// The callback and argument the lower half's `setcallback` hears after a
/// change whose first receiver was `old`, and whether to tell it: when the
/// first receiver changed (`multi-rx`), or at every registration as in the
/// NuttX C driver (one receiver per channel).
fn first_receiver(old: (mbox_callback_t, *mut c_void), new: &Registrations) -> ((mbox_callback_t, *mut c_void), bool) {
    let first = first_of(new);
    let changed =
        !cfg!(feature = "multi-rx") || old.0.map(|f| f as usize) != first.0.map(|f| f as usize) || old.1 != first.1;
    (first, changed)
}

/// Adds or replaces `entry` (a callback set) or removes its owner (none
/// set) in a client table kept in registration order. -ENOSPC when full,
/// -ENOENT when removing an owner that is not there.
#[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
fn update_clients(table: &mut [mbox_client_s; MBOX_MAX_CLIENTS], entry: mbox_client_s) -> Result<(), i32> {
    let used = table.iter().take_while(|c| !c.owner.is_null()).count();
    let at = table[..used].iter().position(|c| c.owner == entry.owner);
    let set = false;
    #[cfg(feature = "multi-rx")]
    let set = set || entry.rxcallback.is_some();
    #[cfg(feature = "txdone-callback")]
    let set = set || entry.txdone.is_some();
    match (at, set) {
        (Some(i), true) => table[i] = entry,
        (None, true) if used == MBOX_MAX_CLIENTS => return Err(-ENOSPC),
        (None, true) => table[used] = entry,
        (Some(i), false) => {
            table.copy_within(i + 1..used, i);
            table[used - 1] = mbox_client_s::EMPTY;
        }
        (None, false) => return Err(-ENOENT),
    }
    Ok(())
}

/// Register (or, with a NULL callback, remove) the TX-done callback of a
/// sender on its channel. Every later non-blocking
/// `mbox_ticksend(sender, .., 0)` that is accepted gets exactly one call
/// of it when its message ends (see `mbox_txdone_t`); blocking sends
/// return their result instead. The sender is only an identity to the
/// framework (`struct mbox_sender_s` is unchanged, so code that leaves
/// it partly uninitialised stays correct). The callback is looked up when
/// a message ends: a message whose sender has no callback registered at
/// that moment gets no call. Registrations end with the channel
/// (`mbox_chan_deinit()`; a new `mbox_chan_init()` starts with none).
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL sender or channel, or a channel that is
/// uninitialised or not TX; -ENOSPC when `MBOX_MAX_CLIENTS` other senders
/// have a callback on the channel; -ENOENT when removing a callback that
/// was not registered.
#[cfg(feature = "txdone-callback")]
#[no_mangle]
pub extern "C" fn mbox_register_txdone(
    sender: Option<&mbox_sender_s>,
    callback: mbox_txdone_t,
    arg: *mut c_void,
) -> c_int {
    match sender {
        Some(s) => register_txdone(s.chan, s, callback, arg),
        None => -EINVAL,
    }
}

#[cfg(feature = "txdone-callback")]
impl CChan {
    /// `mbox_register_txdone()` for the client `sender` (an identity
    /// only, never dereferenced); every result as there.
    pub fn register_txdone(&self, sender: *const mbox_sender_s, callback: mbox_txdone_t, arg: *mut c_void) -> c_int {
        register_txdone(Some(self), sender, callback, arg)
    }
}

#[cfg(feature = "txdone-callback")]
fn register_txdone(
    c: Option<&CChan>,
    sender: *const mbox_sender_s,
    callback: mbox_txdone_t,
    arg: *mut c_void,
) -> c_int {
    let cs = Critical::enter();
    let (c, _) = match live(c, &cs, true) {
        Ok(live) => live,
        Err(e) => return e,
    };
    let entry = mbox_client_s {
        owner: sender.cast_mut().cast(),
        #[cfg(feature = "multi-rx")]
        rxcallback: None,
        txdone: callback,
        arg,
    };
    // Live channel, lock held: the client table is ours.
    let mut table = c.clients.get();
    match update_clients(&mut table, entry) {
        Ok(()) => {
            c.clients.set(table);
            0
        }
        Err(e) => e,
    }
}

/// The largest message, in bytes, that one transfer on `chan` carries.
///
/// Context: task or interrupt.
/// Returns the MTU (> 0); -EINVAL for a NULL or uninitialised channel.
#[no_mangle]
pub extern "C" fn mbox_chan_mtu(chan: Option<&CChan>) -> isize {
    chan.map_or(-(EINVAL as isize), CChan::mtu)
}

impl CChan {
    /// `mbox_chan_mtu()`: the MTU, or -EINVAL when not initialised.
    pub fn mtu(&self) -> isize {
        let cs = Critical::enter();
        let st = self.state(&cs);
        if !st.is_live() {
            return -(EINVAL as isize);
        }
        st.mtu() as isize
    }

    /// The direction the channel was last initialised with: true for TX
    /// (RX for one never initialised). Kept by the state machine, so any
    /// value C left in `dir` does not matter.
    pub fn is_tx(&self) -> bool {
        let cs = Critical::enter();
        self.state(&cs).is_tx()
    }
}

/// How many messages the TX channel `chan` keeps in flight at most (the
/// controller's `txdepth`, at least 1).
///
/// Context: task or interrupt.
/// Returns the depth; -EINVAL for a NULL, uninitialised or RX channel.
/// Only with `CONFIG_MBOX_TXFIFO`.
#[cfg(feature = "txfifo")]
#[no_mangle]
pub extern "C" fn mbox_chan_txdepth(chan: Option<&CChan>) -> c_int {
    chan.map_or(-EINVAL, CChan::txdepth)
}

#[cfg(feature = "txfifo")]
impl CChan {
    /// `mbox_chan_txdepth()`: every result as there.
    pub fn txdepth(&self) -> c_int {
        let cs = Critical::enter();
        match live(Some(self), &cs, true) {
            Ok((_, st)) => st.txdepth() as c_int,
            Err(e) => e,
        }
    }
}

/// The number of channels `dev` offers (Zephyr `mbox_max_channels_get`).
///
/// Context: task or interrupt.
/// Returns the count (> 0); -EINVAL for a NULL device; -ENOSYS when the
/// lower half does not say (`num_chans` is 0).
#[no_mangle]
pub extern "C" fn mbox_dev_max_chans(dev: Option<&mbox_dev_s>) -> c_int {
    dev.map_or(-EINVAL, dev_max_chans)
}

/// Choose how the TX channel `chan` learns that a transfer is done:
/// `MBOX_TXDONE_IRQ` (default: the lower half calls `mbox_chan_tx_done*()`),
/// `MBOX_TXDONE_POLL` (the framework calls `ops->txacked` every `period`
/// ticks from the channel's watchdog, so an ACK is seen at most one period
/// late), or `MBOX_TXDONE_ACK` (the client calls `mbox_client_txdone()`).
/// In POLL and ACK mode the lower half's own reports are refused with
/// -EPERM. Timeouts work the same in every mode.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL, uninitialised or RX channel, an unknown
/// method, or POLL with a period of 0 or MBOX_WAIT_FOREVER; -ENOSYS for
/// POLL on a lower half without `txacked`; -EBUSY while messages are in
/// flight or queued (nothing changes).
#[cfg(feature = "txdone-methods")]
#[no_mangle]
pub extern "C" fn mbox_chan_set_txdone(chan: Option<&CChan>, method: c_int, period: clock_t) -> c_int {
    set_txdone(chan, method, period)
}

#[cfg(feature = "txdone-methods")]
impl CChan {
    /// `mbox_chan_set_txdone()`: every result as there.
    pub fn set_txdone(&self, method: c_int, period: clock_t) -> c_int {
        set_txdone(Some(self), method, period)
    }
}

#[cfg(feature = "txdone-methods")]
fn set_txdone(c: Option<&CChan>, method: c_int, period: clock_t) -> c_int {
    let m = match method {
        x if x == mbox_txdone_method_e::MBOX_TXDONE_IRQ as c_int => TxDoneMethod::Irq,
        x if x == mbox_txdone_method_e::MBOX_TXDONE_POLL as c_int => TxDoneMethod::Poll,
        x if x == mbox_txdone_method_e::MBOX_TXDONE_ACK as c_int => TxDoneMethod::Ack,
        _ => return -EINVAL,
    };
    // The period matters only for POLL.
    let ticks = match (m, os::clock_to_ticks(period)) {
        (TxDoneMethod::Poll, Ok(t)) => t,
        (TxDoneMethod::Poll, Err(e)) => return e,
        _ => 0,
    };
    let cs = Critical::enter();
    let (c, st) = match live(c, &cs, true) {
        Ok(live) => live,
        Err(e) => return e,
    };
    if m == TxDoneMethod::Poll && c.env().ops().txacked.is_none() {
        return -ENOSYS;
    }
    match st.set_txdone_method(m, ticks) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

/// Report the end of the oldest message in flight on the sender's channel
/// (`MBOX_TXDONE_ACK` mode: the client knows, e.g. from the remote's
/// reply, that its message was taken). `result` is 0 or a negated errno;
/// it becomes that message's result (a blocked sender returns it, a
/// TX-done callback gets it).
///
/// Context: task or interrupt.
/// Returns 0; -ENOENT when nothing is in flight; -EPERM when the channel's
/// method is not MBOX_TXDONE_ACK; -EINVAL for a NULL sender or channel, or
/// a channel that is uninitialised or not TX.
#[cfg(feature = "txdone-methods")]
#[no_mangle]
pub extern "C" fn mbox_client_txdone(sender: Option<&mbox_sender_s>, result: c_int) -> c_int {
    client_txdone(sender.and_then(|s| s.chan), result)
}

#[cfg(feature = "txdone-methods")]
impl CChan {
    /// `mbox_client_txdone()`: every result as there.
    pub fn client_txdone(&self, result: c_int) -> c_int {
        client_txdone(Some(self), result)
    }
}

#[cfg(feature = "txdone-methods")]
fn client_txdone(c: Option<&CChan>, result: c_int) -> c_int {
    let cs = Critical::enter();
    let (c, st) = match live(c, &cs, true) {
        Ok(live) => live,
        Err(e) => return e,
    };
    let mut env = c.env();
    let r = st.client_tx_done(&mut env, result);
    // cs is this operation's critical section.
    glue::hand_out(c.0, cs);
    r
}

/// Send a message and busy-poll for its ACK without ever sleeping (Linux
/// `flush`, Zephyr `send_then_poll`): for interrupt context and for code
/// that runs before the scheduler. The message takes its turn behind
/// those queued before it like a blocking send; then, at most `spins`
/// times, the oldest message in flight is completed if `ops->txacked`
/// shows its ACK (so the poller also moves older messages along). When
/// the spins are spent, the message is taken back (aborted if in flight)
/// and -ETIMEDOUT is returned.
///
/// Context: task or interrupt; never sleeps.
/// Returns 0 (ACKed), -ETIMEDOUT (spins spent, or the message was timed
/// out by its channel timeout meanwhile), the lower half's send error,
/// -ECANCELED (deinit); -EINVAL for a NULL sender or channel, a channel
/// that is uninitialised or not TX, NULL data (whatever the size), or
/// `spins` 0; -EMSGSIZE above the MTU; -ENOSYS without `ops->txacked`;
/// -EPERM on a channel whose TX-done method is MBOX_TXDONE_ACK.
#[cfg(feature = "txdone-methods")]
#[no_mangle]
pub unsafe extern "C" fn mbox_send_poll(
    sender: Option<&mbox_sender_s>,
    data: *const c_void,
    size: usize,
    spins: u32,
) -> c_int {
    // SAFETY: data is NULL or valid for size bytes, unchanged during the
    // call (API contract).
    let Some(msg) = (unsafe { Msg::from_c(data, size) }) else {
        return -EINVAL;
    };
    send_poll(sender.and_then(|s| s.chan), msg, spins)
}

#[cfg(feature = "txdone-methods")]
impl CChan {
    /// `mbox_send_poll()` of `data`: every result as there.
    pub fn send_poll(&self, data: &[u8], spins: u32) -> c_int {
        send_poll(Some(self), Msg::of(data), spins)
    }
}

#[cfg(feature = "txdone-methods")]
fn send_poll(c: Option<&CChan>, msg: Msg<'_>, spins: u32) -> c_int {
    if spins == 0 {
        return -EINVAL;
    }
    let Some(c) = c else {
        return -EINVAL;
    };
    glue::send_poll(c, spins, |st| {
        if !st.is_live() || !st.is_tx() {
            return Err(-EINVAL);
        }
        let Some(msg) = msg.bytes(st.mtu()) else {
            return Err(-EMSGSIZE);
        };
        // Live channel: its dev is set (CChan::env).
        if c.env().ops().txacked.is_none() {
            return Err(-ENOSYS);
        }
        if st.txdone_method() == TxDoneMethod::Ack {
            return Err(-EPERM);
        }
        Ok(msg)
    })
}

/// Copy the statistics of a channel (`CONFIG_MBOX_TRACE`), with the NuttX
/// C driver's prototype: it returns nothing, and leaves `*stats` as it was
/// for a NULL channel or a channel that was never initialised (does
/// nothing for a NULL `stats`). `mbox_chan_get_stats_checked()` says which.
///
/// Context: task or interrupt.
#[cfg(feature = "trace")]
#[no_mangle]
pub extern "C" fn mbox_chan_get_stats(chan: Option<&CChan>, stats: Option<&CStats>) {
    mbox_chan_get_stats_checked(chan, stats);
}

/// `mbox_chan_get_stats()` with its result: copy the statistics of a
/// channel (`CONFIG_MBOX_TRACE`). They stay readable after
/// `mbox_chan_deinit()`.
///
/// Context: task or interrupt.
/// Returns 0; -EINVAL for a NULL channel or output, or a channel that was
/// never initialised.
#[cfg(feature = "trace")]
#[no_mangle]
pub extern "C" fn mbox_chan_get_stats_checked(chan: Option<&CChan>, stats: Option<&CStats>) -> c_int {
    match (chan, stats) {
        (Some(c), Some(out)) => c.copy_stats(out),
        _ => -EINVAL,
    }
}

#[cfg(feature = "trace")]
impl CChan {
    /// `mbox_chan_get_stats_checked()`: a copy of the statistics, or
    /// -EINVAL for a channel that was never initialised.
    pub fn stats(&self) -> Result<mbox_stats_s, c_int> {
        let out = CStats::new();
        match self.copy_stats(&out) {
            0 => Ok(out.get()),
            e => Err(e),
        }
    }

    /// The statistics into `out` (0), or -EINVAL for a channel that was
    /// never initialised (`out` unchanged).
    #[inline]
    fn copy_stats(&self, out: &CStats) -> c_int {
        // Copied under the lock: the statistics change under it only.
        let _cs = Critical::enter();
        if self.dev.get().is_null() {
            return -EINVAL;
        }
        out.copy_from(&self.stats);
        0
    }
}

#[cfg(all(test, feature = "multi-rx"))]
mod tests {
    use super::*;

    unsafe extern "C" fn rx_a(_: c_int, _: *mut mbox_chan_s, _: *mut c_void, _: *mut c_void, _: usize) -> c_int {
        0
    }
    unsafe extern "C" fn rx_b(_: c_int, _: *mut mbox_chan_s, _: *mut c_void, _: *mut c_void, _: usize) -> c_int {
        1
    }

    fn rx(owner: usize, cb: mbox_callback_t) -> mbox_client_s {
        mbox_client_s {
            owner: owner as *mut c_void,
            rxcallback: cb,
            #[cfg(feature = "txdone-callback")]
            txdone: None,
            arg: owner as *mut c_void,
        }
    }

    fn owners(t: &[mbox_client_s; MBOX_MAX_CLIENTS]) -> [usize; MBOX_MAX_CLIENTS] {
        t.map(|c| c.owner as usize)
    }

    /// The client table behind several receivers
    /// or TX-done senders per channel: registration order is kept, the
    /// same owner replaces its entry, removal closes the gap, a full
    /// table is -ENOSPC and an unknown owner -ENOENT.
    #[test]
    fn client_table_keeps_order_replaces_and_removes() {
        let mut t = [mbox_client_s::EMPTY; MBOX_MAX_CLIENTS];
        for o in 1..=3 {
            assert_eq!(update_clients(&mut t, rx(o, Some(rx_a))), Ok(()));
        }
        assert_eq!(owners(&t), [1, 2, 3, 0]);
        // Same owner again: replaced in place, not added.
        assert_eq!(update_clients(&mut t, rx(2, Some(rx_b))), Ok(()));
        assert_eq!(owners(&t), [1, 2, 3, 0]);
        assert_eq!(t[1].rxcallback.map(|f| f as usize), Some(rx_b as *const () as usize));
        assert_eq!(update_clients(&mut t, rx(4, Some(rx_a))), Ok(()));
        assert_eq!(update_clients(&mut t, rx(5, Some(rx_a))), Err(-ENOSPC));
        // Removing the second keeps the others in order.
        assert_eq!(update_clients(&mut t, rx(2, None)), Ok(()));
        assert_eq!(owners(&t), [1, 3, 4, 0]);
        assert_eq!(update_clients(&mut t, rx(2, None)), Err(-ENOENT));
        assert_eq!(update_clients(&mut t, rx(1, None)), Ok(()));
        assert_eq!(update_clients(&mut t, rx(4, None)), Ok(()));
        assert_eq!(update_clients(&mut t, rx(3, None)), Ok(()));
        assert_eq!(owners(&t), [0; MBOX_MAX_CLIENTS]);
    }
}
