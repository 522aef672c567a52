//! The C entry points of `include/nuttx/mbox/mbox.h`.
//!
//! This is the only place where raw C pointers become references. Every
//! function checks its arguments (NULL, direction, initialisation) and
//! returns a negated errno without changing any state when they are bad.
//!
//! Raw pointers: each entry point turns its channel pointer into a
//! `CChan` once (`CChan::from_ptr`), and the check "live, of this
//! direction, under the critical section" gives a `Live`, whose
//! environment (`OpsEnv`) reaches the lower half's ops. From there the
//! code is safe; `unsafe` is left for that conversion, the state machine's
//! borrow under the critical section, the watchdog's storage, the device
//! pointer, message slices, and the calls into the lower half and the
//! clients.
//! The state machine itself is `chan.rs`, the blocking glue around it
//! (blocked and polling senders, watchdog expiry, TX-done hand-out) is
//! `glue.rs`; this file implements the glue's [`Chan`] for `mbox_chan_s`
//! over [`PortOs`] and adds the calls into the lower half's ops.
//!
//! Documentation of each function (who may call it, from which context,
//! every return code) is in its doc comment, which cbindgen copies into the
//! header.

#![allow(clippy::missing_safety_doc, clippy::mut_from_ref, clippy::needless_lifetimes)]

use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::AtomicU8;

#[cfg(feature = "txdone-methods")]
use crate::chan::TxDoneMethod;
use crate::chan::{self, ChanEnv, ChanState, Completion, Stat, Wake};
use crate::errno::*;
use crate::glue::{self, Chan};
use crate::lent::Lent;
use crate::os::{self, Critical, Os, PortOs, Ticks, FOREVER};
use crate::queue;
use crate::types::*;

/// MTU assumed for a lower half that leaves `mbox_dev_s::mtu` at 0: the
/// NuttX C driver's `MBOX_MAX_MSG_SIZE` (128).
pub const MBOX_DEFAULT_MTU: usize = MBOX_MAX_MSG_SIZE;

/// Largest RX message received into the on-stack scratch buffer when an RX
/// channel has no buffer of its own (`MBOX_MAX_MSG_SIZE`, 128).
pub const MBOX_RX_STACK_MAX: usize = MBOX_MAX_MSG_SIZE;

/// Largest errno a lower half's `recv` may return negated: a negative
/// result below `-MBOX_MAX_ERRNO` is no errno and becomes -EIO.
pub const MBOX_MAX_ERRNO: c_int = 4095;

/// A channel as this file sees it: `mbox_chan_s` field for field (the
/// layout is asserted below), each field in a cell. Other contexts change
/// the channel meanwhile (under the critical section, or the RX claim
/// atomically), so no `&mut` to the whole channel is ever formed: the
/// plain fields are read and written through their `Cell`, the state
/// machine is borrowed under the critical section only ([`CChan::state`]),
/// and a reference to a `CChan` is the channel's own address, so handing
/// it to the glue costs nothing.
///
/// [`CChan::from_ptr`] is the one place where a C channel pointer
/// becomes one; the rest of the file is safe code over it, apart from the
/// calls into the lower half and the client.
#[repr(C)]
struct CChan {
    id: Cell<c_int>,
    dir: Cell<mbox_direction_e>,
    dev: Cell<*mut mbox_dev_s>,
    callback: Cell<mbox_callback_t>,
    #[cfg(not(feature = "multi-rx"))]
    callback_arg: Cell<*mut c_void>,
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    clients: Cell<[mbox_client_s; MBOX_MAX_CLIENTS]>,
    state: UnsafeCell<ChanState>,
    rx_claim: AtomicU8,
    timer: UnsafeCell<mbox_timer_storage_s>,
    timeout: Cell<clock_t>,
    txstate: Cell<mbox_txstate_e>,
    txtoken: Cell<u32>,
    #[cfg(feature = "trace")]
    stats: Cell<mbox_stats_s>,
    r#priv: Cell<*mut c_void>,
}

/// `CChan` is `mbox_chan_s` with its fields in cells (`Cell<T>` and
/// `UnsafeCell<T>` have the layout of `T`): same size, alignment and
/// offsets.
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<CChan>() == size_of::<mbox_chan_s>());
    assert!(align_of::<CChan>() == align_of::<mbox_chan_s>());
    assert!(offset_of!(CChan, id) == offset_of!(mbox_chan_s, id));
    assert!(offset_of!(CChan, dir) == offset_of!(mbox_chan_s, dir));
    assert!(offset_of!(CChan, dev) == offset_of!(mbox_chan_s, dev));
    assert!(offset_of!(CChan, callback) == offset_of!(mbox_chan_s, callback));
    #[cfg(not(feature = "multi-rx"))]
    assert!(offset_of!(CChan, callback_arg) == offset_of!(mbox_chan_s, callback_arg));
    #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
    assert!(offset_of!(CChan, clients) == offset_of!(mbox_chan_s, clients));
    assert!(offset_of!(CChan, state) == offset_of!(mbox_chan_s, state));
    assert!(offset_of!(CChan, rx_claim) == offset_of!(mbox_chan_s, rx_claim));
    assert!(offset_of!(CChan, timer) == offset_of!(mbox_chan_s, timer));
    assert!(offset_of!(CChan, timeout) == offset_of!(mbox_chan_s, timeout));
    assert!(offset_of!(CChan, txstate) == offset_of!(mbox_chan_s, txstate));
    assert!(offset_of!(CChan, txtoken) == offset_of!(mbox_chan_s, txtoken));
    #[cfg(feature = "trace")]
    assert!(offset_of!(CChan, stats) == offset_of!(mbox_chan_s, stats));
    assert!(offset_of!(CChan, r#priv) == offset_of!(mbox_chan_s, r#priv));
};

impl CChan {
    /// The channel behind a C pointer, None for NULL.
    ///
    /// # Safety
    /// `chan` is NULL or points to a `mbox_chan_s` that stays allocated
    /// for `'a` (the API contract: a channel outlives every call on it
    /// and, until its de-init has destroyed it, its watchdog).
    #[inline(always)]
    unsafe fn from_ptr<'a>(chan: *mut mbox_chan_s) -> Option<&'a CChan> {
        // SAFETY: valid for 'a or NULL (contract); CChan has the layout of
        // mbox_chan_s (asserted above) and every field in a cell, so a
        // shared reference allows every change other contexts make.
        unsafe { chan.cast::<CChan>().as_ref() }
    }

    #[inline]
    fn ptr(&self) -> *mut mbox_chan_s {
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
        // SAFETY: the storage is large and aligned enough for the port's
        // timer (asserted in types.rs), and os::Timer is an UnsafeCell
        // over it, touched only by the port.
        unsafe { &*self.timer.get().cast::<os::Timer>() }
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

    /// The environment of the channel: its ops and its timer.
    ///
    /// # Safety
    /// The channel's `dev` was set by `mbox_chan_init()` (it is live or
    /// being torn down): a valid device whose ops were checked non-NULL.
    #[inline(always)]
    unsafe fn env(&self) -> OpsEnv {
        // SAFETY: per the function contract; the device and its ops table
        // stay valid and unchanged while the channel is initialised.
        let ops = unsafe { (*self.dev.get()).ops };
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
    fn client_of(&self, owner: *mut c_void) -> Option<usize> {
        let table = self.clients();
        if table[0].get().owner.is_null() {
            return None;
        }
        table.iter().take_while(|c| !c.get().owner.is_null()).position(|c| c.get().owner == owner)
    }
}

/// A channel found live under the critical section ([`CChan::live`],
/// [`live`]): its `dev` was set by its init to a device whose ops are
/// set, and stays set (a de-init leaves it, and the device outlives its
/// channels), so its environment can be made.
#[derive(Clone, Copy)]
struct Live<'c>(&'c CChan);

impl Live<'_> {
    /// The channel's environment: its ops and its timer.
    #[inline(always)]
    fn env(self) -> OpsEnv {
        // SAFETY: dev is set (the type's invariant).
        unsafe { self.0.env() }
    }
}

impl core::ops::Deref for Live<'_> {
    type Target = CChan;

    #[inline(always)]
    fn deref(&self) -> &CChan {
        self.0
    }
}

/// The environment of one live channel: its ops and its timer. Made only
/// by [`CChan::env`], used only while the channel is live or being torn
/// down by the operation that made it (the glue's trait wants an
/// environment type without a lifetime, hence the pointers).
struct OpsEnv {
    chan: *const CChan,
    ops: *const mbox_ops_s,
}

impl OpsEnv {
    #[inline(always)]
    fn chan(&self) -> &CChan {
        // SAFETY: the channel outlives every use of its environment
        // (CChan::env).
        unsafe { &*self.chan }
    }

    #[inline(always)]
    fn ops(&self) -> &mbox_ops_s {
        // SAFETY: checked non-NULL at mbox_chan_init, and the table is
        // static for the life of the device (CChan::env).
        unsafe { &*self.ops }
    }

    /// The statistics, changed by the state machine under the critical
    /// section (the only time an OpsEnv is used): one borrow at a time,
    /// as `&mut self` makes it, and no `Cell` access to them meanwhile
    /// (those too are under the critical section, outside the state
    /// machine).
    #[cfg(feature = "trace")]
    #[inline(always)]
    fn stats(&mut self) -> &mut mbox_stats_s {
        // SAFETY: written only under the critical section, here and at
        // init; readers copy it under the critical section too.
        unsafe { &mut *self.chan().stats.as_ptr() }
    }
}

impl ChanEnv for OpsEnv {
    fn now(&self) -> Ticks {
        PortOs.now()
    }

    fn send(&mut self, token: u32, data: &[u8]) -> i32 {
        let Some(send) = self.ops().send else {
            return -ENOSYS;
        };
        self.chan().txtoken.set(token);
        // SAFETY: the lower half's own op on its live channel, with a
        // valid (data, len) pair.
        unsafe { send(self.chan().ptr(), data.as_ptr().cast(), data.len()) }
    }

    fn txfinish(&mut self, token: u32) {
        if let Some(f) = self.ops().txfinish {
            // For the call txtoken names the message that ends (with
            // several in flight not always the last one sent), then it is
            // restored. With one slot the message that ends is always the
            // one last sent (nothing is sent while it is in flight).
            let (c, sent) = (self.chan(), self.chan().txtoken.get());
            // SAFETY: the lower half's own op on its live channel; the op
            // contract allows the lock held.
            unsafe {
                if !cfg!(feature = "txfifo") || sent == token {
                    f(c.ptr());
                } else {
                    c.txtoken.set(token);
                    f(c.ptr());
                    c.txtoken.set(sent);
                }
            }
        }
    }

    fn txacked(&mut self) -> bool {
        match self.ops().txacked {
            // SAFETY: chan is live; the op contract allows the lock held.
            Some(f) => unsafe { f(self.chan().ptr()) },
            None => true,
        }
    }

    fn arm(&mut self, ticks: Ticks) {
        // The callback gets the channel, which outlives the timer (deinit
        // destroys it).
        if PortOs.timer_start(self.chan().timer(), ticks, on_timer, self.chan().ptr() as usize).is_err() {
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
            let st = self.stats();
            let f = match s {
                Stat::Timeout => &mut st.timeout,
                Stat::Sent => &mut st.sent,
                Stat::Received => &mut st.received,
                Stat::Acked => &mut st.acked,
                Stat::QueueFull => &mut st.queue_full,
                Stat::SpuriousAck => &mut st.spurious_ack,
                Stat::SendErr => &mut st.send_err,
                Stat::RxDropped => &mut st.rx_dropped,
                Stat::Cancelled => &mut st.cancelled,
            };
            *f = f.wrapping_add(1);
        }
    }

    #[allow(unused_variables)]
    fn queued(&mut self, depth: usize) {
        #[cfg(feature = "trace")]
        {
            let st = self.stats();
            st.buffered = depth;
            if depth > st.max_queued {
                st.max_queued = depth;
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
    type Env = OpsEnv;
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
    fn with<R>(&self, g: &mut Critical, f: impl FnOnce(&mut ChanState, &mut OpsEnv) -> R) -> R {
        let st = self.state(g);
        // SAFETY: the glue asks for the environment only while the channel
        // is live or being torn down: dev is set.
        let mut env = unsafe { self.env() };
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
        let i = self.client_of(c.client as *mut c_void)?;
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

/// The device behind a C pointer and its ops, None when either is NULL.
///
/// # Safety
/// `dev` is NULL or points to a device whose ops, when set, point to a
/// table (the API contract), both valid for `'a`.
#[inline]
unsafe fn device<'a>(dev: *mut mbox_dev_s) -> Option<(&'a mbox_dev_s, &'a mbox_ops_s)> {
    // SAFETY: per the function contract.
    unsafe {
        let d = dev.as_ref()?;
        Some((d, d.ops.as_ref()?))
    }
}

/// Resolve a channel of `dev` from a lower-half specific argument (PL320:
/// the mailbox number cast to a pointer).
///
/// Context: task or interrupt.
/// Returns the channel, or NULL when `dev` or its ops are NULL, the lower
/// half has no `getchan`, or it knows no such channel.
#[no_mangle]
pub unsafe extern "C" fn mbox_get_chan(dev: *mut mbox_dev_s, arg: *mut c_void) -> *mut mbox_chan_s {
    // SAFETY: dev is NULL or a device (API contract).
    match unsafe { device(dev) }.and_then(|(_, ops)| ops.getchan) {
        // SAFETY: calling the lower half's op with its own device.
        Some(f) => unsafe { f(dev, arg) },
        None => ptr::null_mut(),
    }
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
    chan: *mut mbox_chan_s,
    dev: *mut mbox_dev_s,
    // `enum mbox_direction_e` in the header (tools/headergen): taken as an
    // int because C may pass any value, and a Rust enum outside its
    // variants would be undefined behaviour.
    dir: c_int,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    let buffer = buffer.cast::<u8>();
    // SAFETY: chan and dev are NULL or valid (API contract).
    let (Some(c), Some((d, ops))) = (unsafe { (CChan::from_ptr(chan), device(dev)) }) else {
        return -EINVAL;
    };
    let is_tx = match dir {
        d if d == mbox_direction_e::MBOX_RX as c_int => false,
        d if d == mbox_direction_e::MBOX_TX as c_int => true,
        _ => return -EINVAL,
    };
    // The buffer must be able to describe an object: at most isize::MAX
    // bytes, not wrapping the address space.
    if (buffer.is_null() && size != 0) || size > isize::MAX as usize || (buffer as usize).checked_add(size).is_none() {
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
        c.dev.set(dev);
        c.dir.set(if is_tx { mbox_direction_e::MBOX_TX } else { mbox_direction_e::MBOX_RX });
        c.callback.set(None);
        #[cfg(not(feature = "multi-rx"))]
        c.callback_arg.set(ptr::null_mut());
        #[cfg(any(feature = "multi-rx", feature = "txdone-callback"))]
        c.clients.set([mbox_client_s::EMPTY; MBOX_MAX_CLIENTS]);
        c.txtoken.set(0);
        c.txstate.set(mbox_txstate_e::MBOX_TX_IDLE);
        #[cfg(feature = "trace")]
        c.stats.set(mbox_stats_s::default());
        let st = c.state(&cs);
        // SAFETY: buffer is NULL or, by the API contract, `size` bytes
        // reserved to the channel until its de-init returns (checked above
        // to describe one object); the channel keeps it until then.
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
    if let Some(setup) = ops.setup {
        // SAFETY: the lower half's own op on its initialised channel.
        let r = unsafe { setup(chan, ptr::null_mut()) };
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
pub unsafe extern "C" fn mbox_chan_deinit(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: chan is NULL or valid (API contract).
    let Some(c) = (unsafe { CChan::from_ptr(chan) }) else {
        return -EINVAL;
    };
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
    let r = match env.ops().shutdown {
        // SAFETY: the lower half's own op.
        Some(f) => unsafe { f(chan) },
        None => 0,
    };
    // Nothing of the old channel runs any more: a new init may take it.
    let cs = Critical::enter();
    c.state(&cs).release();
    r
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
pub unsafe extern "C" fn mbox_send(sender: *mut mbox_sender_s, data: *const c_void, size: usize) -> c_int {
    // SAFETY: same contract as mbox_ticksend.
    unsafe { ticksend(sender, data, size, None) }
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
    sender: *mut mbox_sender_s,
    data: *const c_void,
    size: usize,
    timeout: clock_t,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { ticksend(sender, data, size, Some(timeout)) }
}

/// `timeout` None: the channel's. Converted to ticks only for a blocking
/// send: the non-blocking one is told by one comparison (a bad timeout
/// and a NULL argument are both -EINVAL, so the order of the checks does
/// not show).
///
/// # Safety
/// `sender` NULL or valid; `data` valid for `size` bytes when non-NULL.
unsafe fn ticksend(sender: *mut mbox_sender_s, data: *const c_void, size: usize, timeout: Option<clock_t>) -> c_int {
    if sender.is_null() || data.is_null() {
        return -EINVAL;
    }
    // SAFETY: sender non-NULL, valid by the API contract, and its
    // channel NULL or valid.
    let c = unsafe { CChan::from_ptr((*sender).chan) };
    if timeout == Some(0) {
        let cs = Critical::enter();
        let (c, st) = match live(c, &cs, true) {
            Ok(live) => live,
            Err(e) => return e,
        };
        if size > st.mtu() {
            return -EMSGSIZE;
        }
        // size is at most the MTU (so far below isize::MAX); a 0-byte
        // message keeps the caller's pointer.
        // SAFETY: data is non-NULL and valid for size bytes, unchanged
        // during the call (API contract).
        let msg: &[u8] = unsafe { core::slice::from_raw_parts(data.cast(), size) };
        #[cfg(feature = "txdone-callback")]
        let client = if c.client_of(sender.cast()).is_some() { sender as usize } else { 0 };
        // Without TX-done callbacks no message has a client to hand back.
        #[cfg(not(feature = "txdone-callback"))]
        let client = 0;
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
    // SAFETY: forwarded contract.
    unsafe { ticksend_blocking(c, data, size, timeout) }
}

/// The blocking half of [`ticksend`]: mbox_send() (the channel's timeout,
/// `timeout` None) or a timeout > 0. Out of line, so that the non-blocking
/// path does not pay for the waiter's stack frame.
///
/// # Safety
/// `data` non-NULL and valid for `size` bytes.
#[inline(never)]
unsafe fn ticksend_blocking(c: Option<&CChan>, data: *const c_void, size: usize, timeout: Option<Ticks>) -> c_int {
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
        if size > st.mtu() {
            return Err(-EMSGSIZE);
        }
        // size is at most the MTU; a 0-byte message keeps the caller's
        // pointer.
        // SAFETY: data is non-NULL and valid for size bytes (API
        // contract), unchanged until the call returns.
        let msg: &[u8] = unsafe { core::slice::from_raw_parts(data.cast(), size) };
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
pub unsafe extern "C" fn mbox_chan_tx_done(chan: *mut mbox_chan_s) {
    // SAFETY: same contract.
    unsafe { mbox_chan_tx_done_checked(chan) };
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
pub unsafe extern "C" fn mbox_chan_tx_done_checked(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: chan is NULL or valid (API contract).
    tx_done(unsafe { CChan::from_ptr(chan) }, NO_TOKEN)
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
pub unsafe extern "C" fn mbox_chan_tx_done_token(chan: *mut mbox_chan_s, token: u32) -> c_int {
    // SAFETY: chan is NULL or valid (API contract).
    tx_done(unsafe { CChan::from_ptr(chan) }, token as u64)
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
pub unsafe extern "C" fn mbox_chan_rx_data(chan: *mut mbox_chan_s) -> c_int {
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
    // SAFETY: chan is NULL or valid (API contract); once live it stays
    // valid until a teardown has seen the claim released.
    let c = unsafe { CChan::from_ptr(chan) };
    let (msg, ret, claim, result) = {
        let cs = Critical::enter();
        let (c, st) = match live(c, &cs, false) {
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
        let n = match env.ops().recv {
            // SAFETY: data has room for mtu bytes (checked at init). No
            // borrow of the channel state is live across the call.
            Some(recv) => unsafe { recv(chan, data.cast()) },
            None => -ENOSYS,
        };
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
        (msg, ret, claim, result)
    };
    // This reception is ours (the claim); msg is the message recv
    // reported, or NULL.
    deliver(chan, &receivers, msg, ret);
    // Other contexts only load the claim meanwhile, and write it only
    // after loading it free, i.e. after this store.
    chan::rx_release(claim);
    result
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
fn ack_and_count(c: &CChan, env: &mut OpsEnv, data: *mut u8, n: c_int, ret: c_int, receivers: &mut Receivers) {
    let mut acked = false;
    if ret == 0 {
        if let Some(ack) = env.ops().acknowledge {
            // SAFETY: the lower half's own op on its live channel; data
            // holds n bytes.
            acked = unsafe { ack(c.ptr(), data.cast(), n as usize) } >= 0;
        }
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
fn deliver(chan: *mut mbox_chan_s, receivers: &Receivers, (d, len): (*mut u8, usize), ret: c_int) {
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
/// message, in registration order (docs/beyond.md §4). Registering the
/// same receiver again replaces its callback and argument. The receiver
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
pub unsafe extern "C" fn mbox_register_rxcallback(
    receiver: *mut mbox_receiver_s,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> c_int {
    if callback.is_none() {
        return -EINVAL;
    }
    // SAFETY: forwarded contract.
    unsafe { set_callback(receiver, callback, arg) }
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
pub unsafe extern "C" fn mbox_unregister_rxcallback(receiver: *mut mbox_receiver_s) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { set_callback(receiver, None, ptr::null_mut()) }
}

/// Adds, replaces (callback Some) or removes (None) the receiver's entry
/// (`multi-rx`), or sets or clears the channel's one receiver (without).
///
/// # Safety
/// `receiver` is NULL or valid (the API contract).
unsafe fn set_callback(receiver: *mut mbox_receiver_s, callback: mbox_callback_t, arg: *mut c_void) -> c_int {
    if receiver.is_null() {
        return -EINVAL;
    }
    // SAFETY: receiver is valid, its channel NULL or valid (function
    // contract).
    let c = unsafe { CChan::from_ptr((*receiver).chan) };
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
        if let Some(f) = c.env().ops().setcallback {
            // SAFETY: the lower half's own op on its live channel, lock
            // held as documented.
            let r = unsafe { f(c.ptr(), first_cb, first_arg) };
            if r < 0 {
                return r;
            }
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
    receiver: *mut mbox_receiver_s,
    callback: mbox_callback_t,
    arg: *mut c_void,
) -> Result<(), i32> {
    let entry = mbox_client_s {
        owner: receiver.cast(),
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
    _receiver: *mut mbox_receiver_s,
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
pub unsafe extern "C" fn mbox_register_txdone(
    sender: *mut mbox_sender_s,
    callback: mbox_txdone_t,
    arg: *mut c_void,
) -> c_int {
    if sender.is_null() {
        return -EINVAL;
    }
    // SAFETY: sender is valid, its channel NULL or valid (API contract).
    let c = unsafe { CChan::from_ptr((*sender).chan) };
    let cs = Critical::enter();
    let (c, _) = match live(c, &cs, true) {
        Ok(live) => live,
        Err(e) => return e,
    };
    let entry = mbox_client_s {
        owner: sender.cast(),
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
pub unsafe extern "C" fn mbox_chan_mtu(chan: *mut mbox_chan_s) -> isize {
    // SAFETY: chan is NULL or valid (API contract).
    let Some(c) = (unsafe { CChan::from_ptr(chan) }) else {
        return -(EINVAL as isize);
    };
    let cs = Critical::enter();
    let st = c.state(&cs);
    if !st.is_live() {
        return -(EINVAL as isize);
    }
    st.mtu() as isize
}

/// How many messages the TX channel `chan` keeps in flight at most (the
/// controller's `txdepth`, at least 1).
///
/// Context: task or interrupt.
/// Returns the depth; -EINVAL for a NULL, uninitialised or RX channel.
/// Only with `CONFIG_MBOX_TXFIFO`.
#[cfg(feature = "txfifo")]
#[no_mangle]
pub unsafe extern "C" fn mbox_chan_txdepth(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: chan is NULL or valid (API contract).
    let c = unsafe { CChan::from_ptr(chan) };
    let cs = Critical::enter();
    match live(c, &cs, true) {
        Ok((_, st)) => st.txdepth() as c_int,
        Err(e) => e,
    }
}

/// The number of channels `dev` offers (Zephyr `mbox_max_channels_get`).
///
/// Context: task or interrupt.
/// Returns the count (> 0); -EINVAL for a NULL device; -ENOSYS when the
/// lower half does not say (`num_chans` is 0).
#[no_mangle]
pub unsafe extern "C" fn mbox_dev_max_chans(dev: *mut mbox_dev_s) -> c_int {
    // SAFETY: dev is NULL or valid (API contract).
    match unsafe { dev.as_ref() }.map(|d| d.num_chans) {
        None => -EINVAL,
        Some(0) => -ENOSYS,
        Some(n) => n.min(c_int::MAX as usize) as c_int,
    }
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
pub unsafe extern "C" fn mbox_chan_set_txdone(chan: *mut mbox_chan_s, method: c_int, period: clock_t) -> c_int {
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
    // SAFETY: chan is NULL or valid (API contract).
    let c = unsafe { CChan::from_ptr(chan) };
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
pub unsafe extern "C" fn mbox_client_txdone(sender: *mut mbox_sender_s, result: c_int) -> c_int {
    if sender.is_null() {
        return -EINVAL;
    }
    // SAFETY: sender is valid, its channel NULL or valid (API contract).
    let c = unsafe { CChan::from_ptr((*sender).chan) };
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
    sender: *mut mbox_sender_s,
    data: *const c_void,
    size: usize,
    spins: u32,
) -> c_int {
    if data.is_null() || spins == 0 {
        return -EINVAL;
    }
    // SAFETY: sender is NULL or valid, its channel NULL or valid (API
    // contract).
    let Some(c) = (unsafe { sender.as_ref().and_then(|s| CChan::from_ptr(s.chan)) }) else {
        return -EINVAL;
    };
    glue::send_poll(c, spins, |st| {
        if !st.is_live() || !st.is_tx() {
            return Err(-EINVAL);
        }
        if size > st.mtu() {
            return Err(-EMSGSIZE);
        }
        // SAFETY: live channel: its dev is set (CChan::env).
        if unsafe { c.env() }.ops().txacked.is_none() {
            return Err(-ENOSYS);
        }
        if st.txdone_method() == TxDoneMethod::Ack {
            return Err(-EPERM);
        }
        // SAFETY: data is non-NULL and valid for size bytes (API
        // contract), size is at most the MTU, and it stays unchanged
        // during the call. A 0-byte message keeps the caller's pointer.
        Ok(unsafe { core::slice::from_raw_parts(data.cast(), size) })
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
pub unsafe extern "C" fn mbox_chan_get_stats(chan: *mut mbox_chan_s, stats: *mut mbox_stats_s) {
    // SAFETY: same contract.
    unsafe { mbox_chan_get_stats_checked(chan, stats) };
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
pub unsafe extern "C" fn mbox_chan_get_stats_checked(chan: *mut mbox_chan_s, stats: *mut mbox_stats_s) -> c_int {
    // SAFETY: chan is NULL or valid and stats NULL or a valid output
    // (API contract).
    let Some((c, out)) = (unsafe { CChan::from_ptr(chan).zip(stats.as_mut()) }) else {
        return -EINVAL;
    };
    // Copied under the lock: the statistics change under it only.
    let _cs = Critical::enter();
    if c.dev.get().is_null() {
        return -EINVAL;
    }
    *out = c.stats.get();
    0
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
