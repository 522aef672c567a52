//! The PL320 lower half: `pl320_initialize()`, the `mbox_ops_s` table and
//! the interrupt handler.
//!
//! # Roles
//!
//! Every configured mailbox is one channel. On the core whose interrupt
//! line (`ipcmint`) is the mailbox's `src` it is a TX channel, on the core
//! whose line is `dst` an RX channel. A mailbox where this core is neither
//! is rejected (`pl320_initialize()` returns NULL): its interrupts never
//! reach this core, so it could not work as a channel here.
//!
//! # Wire format
//!
//! ```text
//!   DR0  [31:16] low 16 bits of the message token   [15:8] 0   [7:0] length
//!   DR1 .. DR(DATANUM-1)  payload, little-endian, zero-padded
//! ```
//!
//! DR0 is a header, so a message carries `4 * (DATANUM - 1)` bytes: the
//! MTU is 24 with the seven data registers of a full PL320 (an IPCM with
//! fewer than two data registers cannot carry the header and a payload and
//! is refused).
//!
//! The receiver acknowledges with DR0 = `token << 16 | 0x100` (an ACK mark
//! in bits 15:8, which are 0 in every message header) and
//! SEND = 2. The sender's interrupt handler hands that echoed token to
//! `mbox_chan_tx_done_token()`, which completes the in-flight message only
//! if the token is its own; `txacked`, which the upper half asks on the
//! paths without a token (`mbox_chan_tx_done()`, the POLL TX-done method,
//! `mbox_send_poll()`), says yes only to an ACK word with that same token
//! (one decoding function serves both). An ACK that arrives after its
//! message timed out, or a duplicated ACK, therefore carries the token of
//! the old message and can never complete a newer one, on any path; it
//! is counted and cleared (SEND = 0) so that the level interrupt drops.
//!
//! # Flow (DDI0306B)
//!
//! A channel with `ctrl` programs the mailbox at initialisation: SOURCE =
//! the sender's bit (if free), DSET = the receiver's bit, MSET = both, MODE
//! = 0 (no auto-ACK, no auto-link). The mailbox is never released while in
//! use, so either core may be the one that configures it (the seed's board
//! table sets `ctrl` on both). Send: SEND must be 0, DR1.. then DR0, DSET,
//! SEND = 1. Receive: DR0, payload, then SEND and DR0 again to detect a
//! message that changed under the reader (a "torn" read, when the sender
//! aborted it after a timeout and reused the mailbox): that returns
//! -EAGAIN and the still-asserted line brings the handler back.
//!
//! # Interrupt handler
//!
//! It reads `IPCMMIS(ipcmint)` once and serves every set bit in one pass
//! (REFERENCE.md §2 item 8): an ACK on a TX mailbox, a message on an RX
//! mailbox, and, for a mailbox this core does not know, it clears the
//! mailbox's mask bit for this line (MCLEAR), so one stray mailbox cannot
//! cause an interrupt storm. Nothing it served is left asserted.
//!
//! # Memory
//!
//! No allocation: devices live in a static array of
//! `CONFIG_MBOX_PL320_MAX_DEVICES` slots. A failed `pl320_initialize()`
//! releases its slot, de-initialises the channels it initialised and
//! releases the mailboxes it claimed, and attaches no interrupt.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::ptr::{self, addr_of, addr_of_mut};

use super::abi::{pl320_chan_s, pl320_config_s};
use super::regs::{self, Pl320Regs};
use crate::capi::{mbox_chan_deinit, mbox_chan_init, mbox_chan_rx_data, mbox_chan_tx_done_token};
use crate::errno::*;
use crate::os::{sys, Critical};
use crate::types::{mbox_callback_t, mbox_chan_s, mbox_dev_s, mbox_direction_e, mbox_ops_s};

/// Number of PL320 devices (one per core and IPCM) `pl320_initialize()`
/// can create.
pub(crate) const CONFIG_MBOX_PL320_MAX_DEVICES: usize = crate::kconfig::PL320_MAX_DEVICES;

/// Lookup-table entry of a mailbox that has no channel.
const NO_CHAN: u8 = 0xFF;

/// Driver counters of one device (readable from Rust tests).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Pl320Stats {
    /// Interrupts of mailboxes without a channel (masked for this line).
    pub(crate) unknown_mbox: usize,
    /// Interrupts, or MIS bits, that had nothing to serve.
    pub(crate) spurious: usize,
    /// ACKs that completed nothing (late, duplicated or stale token).
    pub(crate) stale_ack: usize,
    /// Receptions that saw the message change while reading it.
    pub(crate) torn_read: usize,
}

/// State that changes after initialisation; only touched with the
/// critical section held.
struct DevMut {
    /// Mailboxes whose SOURCE this device wrote during initialisation
    /// (released again if the initialisation fails).
    claimed: u32,
    stats: Pl320Stats,
}

/// One device slot. `base` must stay first: the `*mut mbox_dev_s` handed
/// to the upper half and to board code is cast back to the slot.
#[repr(C)]
struct Pl320Dev {
    base: mbox_dev_s,
    regs: Pl320Regs,
    /// This core's interrupt line.
    ipcmint: u32,
    /// The board's channel array (`num_chans` entries of `pl320_chan_s`).
    chans: *mut pl320_chan_s,
    num_chans: usize,
    /// Payload bytes per message (4 * (DATANUM - 1)).
    mtu: usize,
    /// Mailbox number -> index into `chans`, or NO_CHAN.
    lookup: [u8; regs::MAX_MBOX],
    /// Slot taken (written under the critical section).
    used: bool,
    mutable: UnsafeCell<DevMut>,
}

impl Pl320Dev {
    const fn empty() -> Pl320Dev {
        Pl320Dev {
            base: mbox_dev_s {
                ops: ptr::null(),
                mtu: 0,
                nchans: 0,
                txdepth: 0,
            },
            regs: Pl320Regs::new(0),
            ipcmint: 0,
            chans: ptr::null_mut(),
            num_chans: 0,
            mtu: 0,
            lookup: [NO_CHAN; regs::MAX_MBOX],
            used: false,
            mutable: UnsafeCell::new(DevMut {
                claimed: 0,
                stats: Pl320Stats {
                    unknown_mbox: 0,
                    spurious: 0,
                    stale_ack: 0,
                    torn_read: 0,
                },
            }),
        }
    }

    /// Runs `f` on the mutable state under the critical section.
    fn with_mut<R>(&self, f: impl FnOnce(&mut DevMut) -> R) -> R {
        let _cs = Critical::enter();
        // DevMut is only ever reached through this function, which holds
        // the critical section, so no other reference to it exists; the
        // closure cannot re-enter with_mut because it only gets the DevMut.
        // SAFETY: exclusive access, as explained above.
        let m = unsafe { &mut *self.mutable.get() };
        f(m)
    }

    fn count(&self, f: impl FnOnce(&mut Pl320Stats)) {
        self.with_mut(|m| f(&mut m.stats));
    }

    /// The board's channel at `idx` (< num_chans), indexed with the stride
    /// of `pl320_chan_s` (never as an array of `mbox_chan_s`, REFERENCE.md
    /// §2 item 5).
    fn chan_at(&self, idx: usize) -> *mut pl320_chan_s {
        debug_assert!(idx < self.num_chans);
        // SAFETY: chans points to num_chans elements (checked non-NULL at
        // initialisation whenever num_chans > 0), and idx < num_chans.
        unsafe { self.chans.add(idx) }
    }

    /// The channel of mailbox `m`, if this device has one.
    fn chan_of_mbox(&self, m: usize) -> Option<*mut pl320_chan_s> {
        match self.lookup.get(m) {
            Some(&i) if i != NO_CHAN => Some(self.chan_at(i as usize)),
            _ => None,
        }
    }
}

/// The device slots.
struct Slots([UnsafeCell<Pl320Dev>; CONFIG_MBOX_PL320_MAX_DEVICES]);

// SAFETY: a slot is claimed and released only under the critical section
// (the `used` flag). A claimed slot is written only by the thread that
// claimed it, until pl320_initialize() returns it; afterwards only its
// `mutable` part changes, and that part is accessed under the critical
// section only (Pl320Dev::with_mut).
unsafe impl Sync for Slots {}

static SLOTS: Slots = Slots([const { UnsafeCell::new(Pl320Dev::empty()) }; CONFIG_MBOX_PL320_MAX_DEVICES]);

static OPS: mbox_ops_s = mbox_ops_s {
    getchan: Some(pl320_getchan),
    setup: Some(pl320_setup),
    shutdown: Some(pl320_shutdown),
    send: Some(pl320_send),
    recv: Some(pl320_recv),
    acknowledge: Some(pl320_acknowledge),
    txfinish: Some(pl320_txfinish),
    setcallback: Some(pl320_setcallback),
    rxavailable: Some(pl320_rxavailable),
    txready: Some(pl320_txready),
    txacked: Some(pl320_txacked),
};

/// The configuration of one channel, copied out of the board's
/// `pl320_chan_s` (whose `base` the upper half may be changing, so no
/// reference to the whole structure is ever formed).
#[derive(Clone, Copy)]
struct ChanCfg {
    mbox: usize,
    src: u32,
    dst: u32,
    ctrl: bool,
    txbuf: *mut u8,
    bufsize: usize,
}

impl ChanCfg {
    /// # Safety
    /// `pc` points to a `pl320_chan_s`.
    unsafe fn read(pc: *const pl320_chan_s) -> ChanCfg {
        // SAFETY: per the contract; plain field reads through raw pointers
        // of fields that board code set before pl320_initialize() and that
        // nobody writes afterwards.
        unsafe {
            ChanCfg {
                mbox: addr_of!((*pc).mbox).read() as usize,
                src: addr_of!((*pc).src).read() as u32,
                dst: addr_of!((*pc).dst).read() as u32,
                ctrl: addr_of!((*pc).ctrl).read(),
                txbuf: addr_of!((*pc).txbuf).read(),
                bufsize: addr_of!((*pc).bufsize).read(),
            }
        }
    }

    fn src_bit(&self) -> u32 {
        1 << self.src
    }

    fn dst_bit(&self) -> u32 {
        1 << self.dst
    }
}

/// Everything an op needs about its channel.
struct Ctx {
    dev: &'static Pl320Dev,
    pc: *mut pl320_chan_s,
    cfg: ChanCfg,
}

impl Ctx {
    /// # Safety
    /// `chan` is NULL or the `base` of a `pl320_chan_s` that was passed to
    /// `mbox_chan_init()` by pl320_initialize() (so its `dev` is a slot).
    unsafe fn of(chan: *mut mbox_chan_s) -> Option<Ctx> {
        if chan.is_null() {
            return None;
        }
        // SAFETY: chan is valid (contract); dev was set by mbox_chan_init.
        let dev = unsafe { addr_of!((*chan).dev).read() };
        if dev.is_null() {
            return None;
        }
        // SAFETY: dev is the first field of a static Pl320Dev slot (the
        // contract), so the cast recovers the slot, which lives forever.
        let dev: &'static Pl320Dev = unsafe { &*(dev as *const Pl320Dev) };
        // `base` is the first field of pl320_chan_s (repr(C)), so the
        // channel pointer is also the pl320_chan_s pointer.
        let pc = chan.cast::<pl320_chan_s>();
        // SAFETY: pc points to a pl320_chan_s (contract).
        let cfg = unsafe { ChanCfg::read(pc) };
        Some(Ctx { dev, pc, cfg })
    }

    fn is_tx(&self) -> bool {
        self.cfg.src == self.dev.ipcmint
    }

    fn is_rx(&self) -> bool {
        self.cfg.dst == self.dev.ipcmint
    }

    fn rd(&self, reg: usize) -> u32 {
        self.dev.regs.mbox_read(self.cfg.mbox, reg)
    }

    fn wr(&self, reg: usize, v: u32) {
        self.dev.regs.mbox_write(self.cfg.mbox, reg, v)
    }

    /// The mailbox is configured for this channel's sender.
    fn owned(&self) -> bool {
        self.rd(regs::SOURCE) == self.cfg.src_bit()
    }

    fn chan(&self) -> *mut mbox_chan_s {
        // SAFETY: pc is valid; only the field address is taken.
        unsafe { addr_of_mut!((*self.pc).base) }
    }

    fn txtoken(&self) -> u32 {
        // SAFETY: pc is valid; txtoken is a plain field that the upper half
        // writes under the critical section, which the callers hold.
        unsafe { addr_of!((*self.pc).base.txtoken).read() }
    }

    fn set_rxtoken(&self, t: u32) {
        // SAFETY: pc is valid; rxtoken is driver-private and only touched
        // by the RX path of this channel, which the upper half serialises
        // (one reception at a time per channel).
        unsafe { addr_of_mut!((*self.pc).rxtoken).write(t) }
    }

    fn rxtoken(&self) -> u32 {
        // SAFETY: as in set_rxtoken().
        unsafe { addr_of!((*self.pc).rxtoken).read() }
    }
}

/// Claim (if free) and program mailbox `cfg.mbox` for the channel: SOURCE,
/// DSET and MSET as DDI0306B describes, MODE 0. With `record`, a claim is
/// remembered in the device so that a failed initialisation can undo it.
/// Returns 0 or -EBUSY when another sender owns the mailbox.
fn program_mailbox(dev: &Pl320Dev, cfg: &ChanCfg, record: bool) -> i32 {
    let r = &dev.regs;
    let m = cfg.mbox;
    let _cs = Critical::enter();
    let source = r.mbox_read(m, regs::SOURCE);
    if source == 0 {
        r.mbox_write(m, regs::SOURCE, cfg.src_bit());
        // The claim fails silently if the other core won the race.
        if r.mbox_read(m, regs::SOURCE) != cfg.src_bit() {
            return -EBUSY;
        }
        if record {
            dev.with_mut(|d| d.claimed |= 1 << m);
        }
        r.mbox_write(m, regs::DSET, cfg.dst_bit());
        r.mbox_write(m, regs::MSET, cfg.src_bit() | cfg.dst_bit());
        r.mbox_write(m, regs::MODE, 0);
        0
    } else if source == cfg.src_bit() {
        // Configured already (by the other core): make sure our bits are.
        r.mbox_write(m, regs::DSET, cfg.dst_bit());
        r.mbox_write(m, regs::MSET, cfg.src_bit() | cfg.dst_bit());
        0
    } else {
        -EBUSY
    }
}

// ---------------------------------------------------------------------------
// The ops
// ---------------------------------------------------------------------------

/// `arg` is the mailbox number.
unsafe extern "C" fn pl320_getchan(dev: *mut mbox_dev_s, arg: *mut c_void) -> *mut mbox_chan_s {
    if dev.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the upper half passes the device whose ops this is, i.e. a
    // slot returned by pl320_initialize(); slots live forever.
    let d: &Pl320Dev = unsafe { &*(dev as *const Pl320Dev) };
    match d.chan_of_mbox(arg as usize) {
        // SAFETY: pc is an element of the board's channel array; only the
        // address of its base is taken.
        Some(pc) => unsafe { addr_of_mut!((*pc).base) },
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn pl320_setup(chan: *mut mbox_chan_s, _arg: *mut c_void) -> c_int {
    // SAFETY: called by mbox_chan_init() on a channel pl320_initialize()
    // passed to it.
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if !c.cfg.ctrl {
        return 0;
    }
    program_mailbox(c.dev, &c.cfg, true)
}

unsafe extern "C" fn pl320_shutdown(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if c.is_tx() && c.cfg.ctrl {
        let _cs = Critical::enter();
        if c.owned() {
            // Withdraw anything still pending; the mailbox stays claimed
            // (the other core may still use its configuration).
            c.wr(regs::SEND, regs::SEND_IDLE);
        }
    }
    0
}

unsafe extern "C" fn pl320_send(chan: *mut mbox_chan_s, data: *const c_void, size: usize) -> c_int {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if !c.is_tx() {
        return -EINVAL;
    }
    if size > c.dev.mtu {
        return -EMSGSIZE;
    }
    if data.is_null() && size != 0 {
        return -EINVAL;
    }
    let msg: &[u8] = if size == 0 {
        &[]
    } else {
        // SAFETY: the upper half passes `size` readable bytes.
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), size) }
    };
    // The upper half holds the critical section already; taking it again
    // (it nests) keeps this op atomic for any other caller too.
    let _cs = Critical::enter();
    let source = c.rd(regs::SOURCE);
    if source == 0 {
        // Nobody configured the mailbox (a channel without `ctrl` whose
        // remote has not come up, or a released mailbox): claim it as the
        // TRM's sender does.
        let r = program_mailbox(c.dev, &c.cfg, false);
        if r < 0 {
            return r;
        }
    } else if source != c.cfg.src_bit() {
        return -EBUSY;
    }
    if c.rd(regs::SEND) != regs::SEND_IDLE {
        return -EBUSY;
    }
    for (i, chunk) in msg.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        c.wr(regs::DR0 + 4 * (i + 1), u32::from_le_bytes(w));
    }
    c.wr(regs::DR0, header(size, c.txtoken()));
    // The destination bit may have been consumed (a lost ACK clears it).
    c.wr(regs::DSET, c.cfg.dst_bit());
    c.wr(regs::SEND, regs::SEND_MSG);
    0
}

/// DR0 of a message: length, and the low 16 bits of its token.
fn header(len: usize, token: u32) -> u32 {
    ((token & 0xFFFF) << 16) | (len as u32 & 0xFF)
}

/// Marks DR0 as an ACK (bits 15:8 of a message header are 0). A late ACK
/// can land between the sender's DR0 write and its SEND = 1 of the next
/// message (found by ctest/test_race.c with injected late ACKs); without
/// the mark the receiver would then take the ACK word for an empty
/// message.
const ACK_MARK: u32 = 1 << 8;

unsafe extern "C" fn pl320_recv(chan: *mut mbox_chan_s, data: *mut c_void) -> isize {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -(EINVAL as isize);
    };
    if !c.is_rx() || data.is_null() {
        return -(EINVAL as isize);
    }
    if c.rd(regs::SEND) != regs::SEND_MSG {
        // Nothing pending any more: the sender withdrew it.
        c.dev.count(|s| s.torn_read += 1);
        return -(EAGAIN as isize);
    }
    let h1 = c.rd(regs::DR0);
    c.set_rxtoken(h1 >> 16);
    let len = (h1 & 0xFF) as usize;
    if h1 & ACK_MARK != 0 {
        // Not a message but a late ACK word that overwrote the header of
        // the message being sent (see ACK_MARK): that message is lost, and
        // its sender will see it time out. There is nothing to deliver:
        // hand the ACK word back (its token is stale on the sending side,
        // which clears it) so the line drops, and report "nothing yet".
        c.dev.count(|s| s.torn_read += 1);
        let _cs = Critical::enter();
        if c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DR0) == h1 {
            ack(&c, h1 >> 16);
        }
        return -(EAGAIN as isize);
    }
    if (h1 >> 8) & 0xFF != 0 {
        return -(EBADMSG as isize);
    }
    if len > c.dev.mtu {
        return -(EMSGSIZE as isize);
    }
    // SAFETY: the upper half passes a buffer of at least the MTU.
    let out = unsafe { core::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
    for (i, chunk) in out.chunks_mut(4).enumerate() {
        let w = c.rd(regs::DR0 + 4 * (i + 1)).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    // The message is whole only if it is still the same, still pending
    // message after the payload was read: a sender that aborted it writes
    // SEND = 0 before reusing the data registers, and its next message
    // has a new header.
    let send = c.rd(regs::SEND);
    let h2 = c.rd(regs::DR0);
    if send != regs::SEND_MSG || h2 != h1 {
        c.dev.count(|s| s.torn_read += 1);
        return -(EAGAIN as isize);
    }
    len as isize
}

/// ACK the message on the channel's mailbox with `token` (DR0 = token in
/// the upper half-word and ACK_MARK; then SEND = 2).
fn ack(c: &Ctx, token: u32) {
    c.wr(regs::DR0, ((token & 0xFFFF) << 16) | ACK_MARK);
    c.wr(regs::SEND, regs::SEND_ACK);
}

/// The reply data is ignored: the ACK carries only the message's token.
unsafe extern "C" fn pl320_acknowledge(chan: *mut mbox_chan_s, _data: *const c_void, _size: usize) -> c_int {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if !c.is_rx() {
        return -EINVAL;
    }
    let token = c.rxtoken();
    // Do not ACK over a message that replaced the one just read: our ACK
    // would wipe the new one. Its still-asserted line brings us back.
    if c.rd(regs::SEND) != regs::SEND_MSG || c.rd(regs::DR0) >> 16 != token {
        return -EAGAIN;
    }
    ack(&c, token);
    0
}

unsafe extern "C" fn pl320_txfinish(chan: *mut mbox_chan_s) -> c_int {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if !c.is_tx() {
        return -EINVAL;
    }
    let _cs = Critical::enter();
    if c.owned() {
        c.wr(regs::SEND, regs::SEND_IDLE);
    }
    0
}

unsafe extern "C" fn pl320_setcallback(_chan: *mut mbox_chan_s, _cb: mbox_callback_t, _arg: *mut c_void) -> c_int {
    // Nothing to program: the upper half keeps the callback, and an RX
    // message without one is still acknowledged (no NULL call, §2 item 12).
    0
}

unsafe extern "C" fn pl320_rxavailable(chan: *mut mbox_chan_s) -> bool {
    // SAFETY: one of our channels (upper-half contract).
    match unsafe { Ctx::of(chan) } {
        Some(c) if c.is_rx() => c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DSTATUS) & c.cfg.dst_bit() != 0,
        _ => false,
    }
}

unsafe extern "C" fn pl320_txready(chan: *mut mbox_chan_s) -> bool {
    // SAFETY: one of our channels (upper-half contract).
    match unsafe { Ctx::of(chan) } {
        Some(c) if c.is_tx() => c.rd(regs::SEND) == regs::SEND_IDLE && c.owned(),
        _ => false,
    }
}

/// True only for an ACK word that echoes the token of the message in
/// flight (`chan->txtoken`, the message last sent: one mailbox holds one
/// message). The upper half asks this on every completion path that has
/// no token (`mbox_chan_tx_done()`, the POLL TX-done method,
/// `mbox_send_poll()`), so a late or duplicated ACK of an earlier message
/// is refused there exactly as on the interrupt path; it is also cleared
/// (SEND = 0, so the level interrupt drops) and counted as stale, as the
/// interrupt handler does.
unsafe extern "C" fn pl320_txacked(chan: *mut mbox_chan_s) -> bool {
    // SAFETY: one of our channels (upper-half contract).
    match unsafe { Ctx::of(chan) } {
        Some(c) if c.is_tx() => {
            let _cs = Critical::enter();
            c.rd(regs::SEND) == regs::SEND_ACK && take_ack(&c, |token| token == c.txtoken())
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Interrupt handler
// ---------------------------------------------------------------------------

/// The token an ACK word in DR0 echoes, or None when DR0 holds no ACK
/// word. Only an ACK word (ACK_MARK set, written by the receiver just
/// before its SEND = 2) carries an echoed token. A SEND = 2 over a message
/// header is the tail of an ACK whose DR0 write went to an earlier message
/// (split around a timeout and the next send): the token there is our own
/// message's, which the remote never read, so it must complete nothing.
/// The echoed low 16 bits are widened to `txtoken` (the token of the
/// message in flight) when they match it.
fn echoed_token(dr0: u32, txtoken: u32) -> Option<u32> {
    if dr0 & ACK_MARK == 0 {
        return None;
    }
    let echoed = dr0 >> 16;
    Some(if echoed == txtoken & 0xFFFF { txtoken } else { echoed })
}

/// Takes the ACK pending on TX mailbox `c` (SEND = 2): offers the token it
/// echoes to `complete`, which returns true when that completed the
/// message in flight. An ACK that completes nothing (late, duplicated,
/// split over a message header, or on a dead channel) is cleared so that
/// its level interrupt drops, and counted as stale. Returns whether
/// `complete` accepted it. Shared by the interrupt handler and `txacked`,
/// so that every completion path decodes an ACK the same way.
/// The caller holds the critical section.
fn take_ack(c: &Ctx, mut complete: impl FnMut(u32) -> bool) -> bool {
    let mut dr0 = c.rd(regs::DR0);
    // Two rounds at most: if the remote's real ACK overwrote a stale one
    // while we looked at it, serve the real one instead of wiping it.
    for _ in 0..2 {
        if let Some(token) = echoed_token(dr0, c.txtoken()) {
            if complete(token) {
                return true;
            }
        }
        let again = c.rd(regs::DR0);
        if again == dr0 || c.rd(regs::SEND) != regs::SEND_ACK {
            break;
        }
        dr0 = again;
    }
    if c.rd(regs::SEND) == regs::SEND_ACK {
        c.wr(regs::SEND, regs::SEND_IDLE);
    }
    c.dev.count(|s| s.stale_ack += 1);
    false
}

/// Serve an ACK on TX mailbox `c`: complete the message whose token it
/// echoes, or clear a stale one.
fn serve_tx(c: &Ctx) {
    let _cs = Critical::enter();
    if c.rd(regs::SEND) != regs::SEND_ACK {
        c.dev.count(|s| s.spurious += 1);
        return;
    }
    take_ack(c, |token| {
        // SAFETY: the channel was initialised by pl320_initialize(); the
        // critical section nests (port contract). On success txfinish
        // (SEND = 0) ran, and maybe the next send.
        unsafe { mbox_chan_tx_done_token(c.chan(), token) == 0 }
    });
}

/// Serve a message on RX mailbox `c`.
fn serve_rx(c: &Ctx) {
    if !(c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DSTATUS) & c.cfg.dst_bit() != 0) {
        c.dev.count(|s| s.spurious += 1);
        return;
    }
    // SAFETY: the channel was initialised by pl320_initialize(); no lock
    // is held (rx_data runs the client callback).
    let r = unsafe { mbox_chan_rx_data(c.chan()) };
    if r == 0 || r == -EAGAIN || r == -EBUSY {
        // Delivered and acknowledged; or torn (the line stays asserted
        // and brings us back to a whole message); or another CPU is
        // receiving on this channel right now and will ACK.
        return;
    }
    // The message cannot be received (corrupt length, dead channel, ...):
    // ACK it anyway with its own token, so that the sender is not left
    // waiting and our line drops.
    let _cs = Critical::enter();
    if c.rd(regs::SEND) == regs::SEND_MSG {
        let token = c.rd(regs::DR0) >> 16;
        ack(c, token);
    }
}

/// The device's interrupt handler; `arg` is the device.
unsafe extern "C" fn pl320_isr(_irq: c_int, _context: *mut c_void, arg: *mut c_void) -> c_int {
    if arg.is_null() {
        return 0;
    }
    // SAFETY: arg is the slot pl320_initialize() attached this handler
    // with; slots live forever.
    let dev: &'static Pl320Dev = unsafe { &*(arg as *const Pl320Dev) };
    let line = dev.ipcmint as usize;
    // One read, then every set bit is served (§2 item 8).
    let mis = dev.regs.read(regs::ipcmmis(line));
    if mis == 0 {
        dev.count(|s| s.spurious += 1);
        return 0;
    }
    let mut pending = mis;
    while pending != 0 {
        let m = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        let Some(pc) = dev.chan_of_mbox(m) else {
            // Not ours: mask it for this line so it cannot storm.
            let _cs = Critical::enter();
            dev.regs.mbox_write(m, regs::MCLEAR, 1 << line);
            dev.count(|s| s.unknown_mbox += 1);
            continue;
        };
        // SAFETY: pc is an element of the board's channel array.
        let cfg = unsafe { ChanCfg::read(pc) };
        let c = Ctx { dev, pc, cfg };
        if c.is_tx() {
            serve_tx(&c);
        } else {
            serve_rx(&c);
        }
    }
    0
}

// ---------------------------------------------------------------------------
// Initialisation
// ---------------------------------------------------------------------------

/// Claims a free slot, or None.
fn claim_slot() -> Option<*mut Pl320Dev> {
    let _cs = Critical::enter();
    for s in SLOTS.0.iter() {
        let p = s.get();
        // SAFETY: `used` is read and written only under the critical
        // section, which is held; no reference to the slot is formed.
        unsafe {
            if !addr_of!((*p).used).read() {
                addr_of_mut!((*p).used).write(true);
                return Some(p);
            }
        }
    }
    None
}

/// Undoes a failed initialisation: de-initialises channels `0..ninit`,
/// releases the mailboxes this device claimed and frees the slot.
///
/// # Safety
/// `p` is a slot claimed by the caller, whose handler is not attached.
unsafe fn abandon(p: *mut Pl320Dev, ninit: usize) {
    // SAFETY: the slot is ours (contract) and fully written.
    let dev: &Pl320Dev = unsafe { &*p };
    for i in 0..ninit {
        let pc = dev.chan_at(i);
        // SAFETY: channel i was initialised by mbox_chan_init() above.
        unsafe { mbox_chan_deinit(addr_of_mut!((*pc).base)) };
    }
    let claimed = dev.with_mut(|d| core::mem::replace(&mut d.claimed, 0));
    for m in 0..regs::MAX_MBOX {
        if claimed & (1 << m) != 0 {
            // Releasing clears DEST, MODE, MASK and SEND too.
            dev.regs.mbox_write(m, regs::SOURCE, 0);
        }
    }
    let _cs = Critical::enter();
    // SAFETY: `used` is written under the critical section; after this
    // the slot may be claimed again, and we no longer touch it.
    unsafe { addr_of_mut!((*p).used).write(false) };
}

/// Checks the board's description against the hardware. Returns the
/// mailbox -> channel index table, or None.
///
/// # Safety
/// `chans` points to `n` `pl320_chan_s` (or n == 0).
unsafe fn validate(
    chans: *mut pl320_chan_s,
    n: usize,
    ipcmint: u32,
    hw: &regs::CfgStat,
) -> Option<[u8; regs::MAX_MBOX]> {
    let mut lookup = [NO_CHAN; regs::MAX_MBOX];
    for i in 0..n {
        // SAFETY: i < n (contract).
        let cfg = unsafe { ChanCfg::read(chans.add(i)) };
        let m = cfg.mbox;
        if m >= regs::MAX_MBOX || m >= hw.mboxnum || lookup[m] != NO_CHAN {
            return None;
        }
        let (src, dst) = (cfg.src as usize, cfg.dst as usize);
        if src == dst || src >= regs::MAX_INT || dst >= regs::MAX_INT || src >= hw.intnum || dst >= hw.intnum {
            return None;
        }
        let tx = cfg.src == ipcmint;
        // A mailbox whose interrupts never reach this core is no channel.
        if !tx && cfg.dst != ipcmint {
            return None;
        }
        if tx && (cfg.txbuf.is_null() || cfg.bufsize == 0) {
            return None;
        }
        lookup[m] = i as u8;
    }
    Some(lookup)
}

/// Initialise the PL320 IPCM at `base` for this core and return its mailbox
/// device, or NULL.
///
/// Every entry of `config->chans` becomes a channel (id = mailbox number):
/// TX when `src == config->ipcmint`, RX when `dst == config->ipcmint`.
/// Channels with `ctrl` set program their mailbox (SOURCE, DSET, MSET).
/// The handler of `config->irq_num` is attached and enabled last. Messages
/// carry up to `4 * (DATANUM - 1)` bytes (`PL320_MTU`, 24, on a full
/// PL320): DR0 holds the length and the message token, which the receiver
/// echoes in its ACK so that a late ACK never completes a newer message.
/// `config` and the channel array must stay valid for the life of the
/// device. At most `CONFIG_MBOX_PL320_MAX_DEVICES` (Kconfig, default 4)
/// devices exist.
///
/// Context: task.
/// Returns NULL, with nothing left initialised, claimed or attached, when:
/// `config` is NULL; `base` is 0 or not 4-byte aligned; `chans` is NULL
/// with `num_chans > 0`; `num_chans > 32`; `ipcmint` is not a line of the
/// IPCM (< 0, >= 32 or >= INTNUM); `irq_num < 0`; the hardware at `base` is
/// not a PL320 (PeriphID part 0x320, designer 0x41) or has fewer than 2
/// data registers; a channel has a mailbox >= 32 or >= MBOXNUM, the same
/// mailbox as another channel, `src == dst`, `src` or `dst` >= 32 or >=
/// INTNUM, or neither `src` nor `dst` equal to `ipcmint`; a TX channel has
/// no `txbuf`/`bufsize`; a channel is already initialised; a `ctrl` mailbox
/// is owned by another sender; no device slot is free; the interrupt cannot
/// be attached.
// The contract on the pointers is in the doc above (it becomes the C
// header's comment, which has no "# Safety" section).
#[allow(clippy::missing_safety_doc)]
#[no_mangle]
pub unsafe extern "C" fn pl320_initialize(config: *const pl320_config_s, base: usize) -> *mut mbox_dev_s {
    if config.is_null() || base == 0 || base & 3 != 0 {
        return ptr::null_mut();
    }
    // SAFETY: config is non-NULL and valid by the API contract.
    let (chans, num_chans, ipcmint, irq_num) = unsafe {
        (
            (*config).chans,
            (*config).num_chans,
            (*config).ipcmint,
            (*config).irq_num,
        )
    };
    if (chans.is_null() && num_chans > 0) || num_chans > regs::MAX_MBOX {
        return ptr::null_mut();
    }
    if ipcmint < 0 || ipcmint as usize >= regs::MAX_INT || irq_num < 0 {
        return ptr::null_mut();
    }
    let ipcmint = ipcmint as u32;

    let hw = Pl320Regs::new(base);
    if hw.periph_id() != (regs::PART_NUMBER, regs::DESIGNER) {
        return ptr::null_mut();
    }
    let cfg = hw.cfgstat();
    if cfg.datanum < 2 || ipcmint as usize >= cfg.intnum {
        return ptr::null_mut();
    }
    let mtu = 4 * (cfg.datanum - 1);
    // SAFETY: chans holds num_chans elements (API contract, checked
    // non-NULL above when num_chans > 0).
    let Some(lookup) = (unsafe { validate(chans, num_chans, ipcmint, &cfg) }) else {
        return ptr::null_mut();
    };

    let Some(p) = claim_slot() else {
        return ptr::null_mut();
    };
    // SAFETY: the slot is ours until released; nobody else references it
    // (its handler is not attached, and it was never handed out since it
    // was last released).
    unsafe {
        addr_of_mut!((*p).base).write(mbox_dev_s {
            ops: &OPS,
            mtu,
            nchans: num_chans,
            // One mailbox holds one message: no FIFO.
            txdepth: 1,
        });
        addr_of_mut!((*p).regs).write(hw);
        addr_of_mut!((*p).ipcmint).write(ipcmint);
        addr_of_mut!((*p).chans).write(chans);
        addr_of_mut!((*p).num_chans).write(num_chans);
        addr_of_mut!((*p).mtu).write(mtu);
        addr_of_mut!((*p).lookup).write(lookup);
        (*p).mutable.get().write(DevMut {
            claimed: 0,
            stats: Pl320Stats::default(),
        });
    }
    let devp: *mut mbox_dev_s = p.cast();

    for i in 0..num_chans {
        // SAFETY: i < num_chans.
        let pc = unsafe { chans.add(i) };
        // SAFETY: pc is valid.
        let cc = unsafe { ChanCfg::read(pc) };
        let (dir, buf, size) = if cc.src == ipcmint {
            (mbox_direction_e::MBOX_TX, cc.txbuf, cc.bufsize)
        } else if !cc.txbuf.is_null() && cc.bufsize >= mtu {
            (mbox_direction_e::MBOX_RX, cc.txbuf, cc.bufsize)
        } else {
            (mbox_direction_e::MBOX_RX, ptr::null_mut(), 0)
        };
        // SAFETY: pc is valid; the id is set before the channel is live,
        // and rxtoken is driver-private.
        unsafe {
            addr_of_mut!((*pc).base.id).write(cc.mbox as c_int);
            addr_of_mut!((*pc).rxtoken).write(0);
        }
        // SAFETY: the channel, the device and the buffer stay valid for
        // the life of the device (API contract).
        let r = unsafe { mbox_chan_init(addr_of_mut!((*pc).base), devp, dir as c_int, buf, size) };
        if r < 0 {
            // SAFETY: our slot; channels 0..i are initialised.
            unsafe { abandon(p, i) };
            return ptr::null_mut();
        }
    }

    // SAFETY: the handler and its argument (the slot) live forever.
    let r = unsafe { sys::mbox_os_irq_attach(irq_num, Some(pl320_isr), p.cast()) };
    if r < 0 {
        // SAFETY: our slot; every channel is initialised.
        unsafe { abandon(p, num_chans) };
        return ptr::null_mut();
    }
    // SAFETY: attached just above.
    unsafe { sys::mbox_os_irq_enable(irq_num) };
    // The device is complete: drop the record of claims (they are kept).
    // SAFETY: p is our slot, now fully initialised.
    unsafe { &*p }.with_mut(|d| d.claimed = 0);
    devp
}

/// The driver counters of a device returned by pl320_initialize().
///
/// # Safety
/// `dev` is NULL or a device returned by pl320_initialize().
#[cfg_attr(not(all(test, feature = "host-port")), allow(dead_code))]
pub(crate) unsafe fn pl320_stats(dev: *mut mbox_dev_s) -> Option<Pl320Stats> {
    if dev.is_null() {
        return None;
    }
    // SAFETY: dev is a slot (contract).
    let d: &Pl320Dev = unsafe { &*(dev as *const Pl320Dev) };
    Some(d.with_mut(|m| m.stats))
}
