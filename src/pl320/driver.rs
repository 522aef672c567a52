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
//! Two formats, chosen at build time (Kconfig choice under
//! `CONFIG_MBOX_PL320`; both cores must use the same one).
//!
//! ## Framed (`CONFIG_MBOX_PL320_WIRE_FRAMED`, cargo feature `pl320-framed`)
//!
//! For systems where both cores run libmbox.
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
//! ## Compatible (`CONFIG_MBOX_PL320_WIRE_COMPAT`, the default)
//!
//! The legacy protocol of the NuttX C driver and Linux's pl320-ipc, the
//! one that interoperates with them ([`super::wire::compat`]):
//!
//! ```text
//!   DR0 .. DR(DATANUM-1)  payload, little-endian, zero-padded
//! ```
//!
//! The MTU is `4 * DATANUM` (28). There is no length: the receiver reads
//! every data register and delivers `4 * DATANUM` bytes, whatever size was
//! sent (a legacy sender that wrote only DR0 leaves the rest as they were;
//! this driver zero-pads). The ACK is SEND = 2 alone; no token travels, so
//! the interrupt handler completes the in-flight message with its own
//! token, and `txacked` is SEND == 2.
//!
//! What still protects against a late ACK: a timed-out message is
//! retracted (`txfinish`: SEND = 0), so a remote that had not read it
//! never will; an ACK that arrives while nothing is in flight (SEND = 2
//! with no message) completes nothing, is cleared and counted as stale
//! (`stale_ack`, and the upper half's `spurious_ack`); and the next send
//! checks that SEND is 0 both before and after writing the data
//! registers, clearing and counting an ACK that landed meanwhile and
//! writing the data again (a legacy remote may leave reply data in the
//! data registers with its ACK), so the next message goes out whole on an
//! idle mailbox. What cannot be caught: a remote that read the retracted
//! message before the retract and writes its ACK only after the next
//! message's SEND = 1 completes that next message (which the remote may
//! never read); and a late ACK with reply data that lands between the
//! last read of SEND and SEND = 1 leaves that reply data in the next
//! message. The retracted messages are counted (`retracted`) so that a
//! board can see the exposure.
//!
//! # Flow (DDI0306B)
//!
//! A channel with `ctrl` programs the mailbox at initialisation: SOURCE =
//! the sender's bit (if free), DSET = the receiver's bit, MSET = both, MODE
//! = 0 (no auto-ACK, no auto-link). The mailbox is never released while in
//! use, so either core may be the one that configures it (a board table
//! may set `ctrl` on both). Send: SEND must be 0, DR1.. then DR0, DSET,
//! SEND = 1 (compatible: DSET, DR0.., SEND still 0, SEND = 1). Receive:
//! DR0, payload, then SEND and DR0 again to detect a message that changed
//! under the reader (a "torn" read, when the sender aborted it after a
//! timeout and reused the mailbox): that returns -EAGAIN and the
//! still-asserted line brings the handler back.
//!
//! # Interrupt handler
//!
//! It reads `IPCMMIS(ipcmint)` once and serves every set bit in one pass
//! (never stopping at the first unknown one): an ACK on a TX mailbox, a
//! message on an RX mailbox, and, for a mailbox this core does not know,
//! it clears the
//! mailbox's mask bit for this line (MCLEAR), so one stray mailbox cannot
//! cause an interrupt storm. Nothing it served is left asserted. On a
//! channel whose TX-done method is POLL or ACK the upper half refuses the
//! handler's report (-EPERM): the handler then leaves the ACK to the
//! poller (`txacked`) or the client and masks the mailbox for this line
//! until the next send, which unmasks it.
//!
//! # Memory
//!
//! No allocation: devices live in a static array of
//! `CONFIG_MBOX_PL320_MAX_DEVICES` slots. A failed `pl320_initialize()`
//! releases its slot, de-initialises the channels it initialised and
//! releases the mailboxes it claimed, and attaches no interrupt;
//! `pl320_uninitialize()` does the same for a live device after detaching
//! its interrupt, so a slot is never lost. One OS interrupt belongs to
//! one live device at a time: a second device on an interrupt that a
//! device already uses is refused.
//!
//! A slot goes FREE -> INIT (claimed by `pl320_initialize()`) -> LIVE (all
//! channels initialised; set before the interrupt is attached) -> CLOSING
//! (`pl320_uninitialize()`) -> FREE. The interrupt handler serves only a
//! LIVE or CLOSING device, and counts its calls in progress so that
//! `pl320_uninitialize()` can wait for one that is still running on
//! another CPU after the detach, whatever the port's detach guarantees.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::ptr::{self, addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU16, Ordering};

use super::abi::{pl320_chan_s, pl320_config_s};
use super::regs::{self, Pl320Regs};
use super::wire::{self, Dr0};
use crate::capi::{mbox_chan_deinit, mbox_chan_init, mbox_chan_rx_data, mbox_chan_tx_done_token};
use crate::errno::*;
use crate::os::{self, sys, Critical, WaitObj};
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
    /// Messages withdrawn (SEND 1 -> 0) before their ACK, after a timeout
    /// or a cancellation.
    pub(crate) retracted: usize,
}

/// The compatible (legacy) wire format (`CONFIG_MBOX_PL320_WIRE_COMPAT`,
/// the default) unless the framed one (feature `pl320-framed`) is chosen.
const COMPAT: bool = !cfg!(feature = "pl320-framed");

/// Data registers of the largest PL320.
const MAX_DATA: usize = 7;

/// Slot states (`DevMut::state`).
const SLOT_FREE: u8 = 0;
const SLOT_INIT: u8 = 1;
const SLOT_LIVE: u8 = 2;
const SLOT_CLOSING: u8 = 3;

/// State that changes after initialisation; only touched with the
/// critical section held.
struct DevMut {
    /// Mailboxes whose SOURCE this device wrote (released again by a
    /// failed initialisation and by pl320_uninitialize()).
    claimed: u32,
    stats: Pl320Stats,
    /// SLOT_FREE, SLOT_INIT, SLOT_LIVE or SLOT_CLOSING.
    state: u8,
    /// The OS interrupt of the device (meaningful unless SLOT_FREE).
    irq_num: c_int,
    /// Calls of the interrupt handler running on this device.
    isr_active: u32,
    /// TX mailboxes whose interrupt the handler masked for this line to
    /// leave an ACK to the poller or the client (TX-done method POLL or
    /// ACK); the next send unmasks it.
    tx_masked: u32,
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
    /// Payload bytes per message: 4 * (DATANUM - 1) framed, 4 * DATANUM
    /// compatible.
    mtu: usize,
    /// Data registers per mailbox (DATANUM, 1..=7).
    datanum: usize,
    /// Mailbox number -> index into `chans`, or NO_CHAN.
    lookup: [u8; regs::MAX_MBOX],
    /// Per mailbox: token of the message being received (echoed in the
    /// ACK so that the sender can match it; unused by the compatible wire
    /// format, whose ACK carries no token). Only the RX path of that
    /// mailbox's channel touches it, one reception at a time.
    rxtoken: [AtomicU16; regs::MAX_MBOX],
    mutable: UnsafeCell<DevMut>,
}

/// A zero token, to build the per-mailbox array in a const fn.
#[allow(clippy::declare_interior_mutable_const)]
const NO_TOKEN: AtomicU16 = AtomicU16::new(0);

impl Pl320Dev {
    const fn empty() -> Pl320Dev {
        Pl320Dev {
            base: mbox_dev_s {
                ops: ptr::null(),
                chans: ptr::null_mut(),
                num_chans: 0,
                mtu: 0,
                #[cfg(feature = "txfifo")]
                txdepth: 0,
            },
            regs: Pl320Regs::new(0),
            ipcmint: 0,
            chans: ptr::null_mut(),
            num_chans: 0,
            mtu: 0,
            datanum: 0,
            lookup: [NO_CHAN; regs::MAX_MBOX],
            rxtoken: [NO_TOKEN; regs::MAX_MBOX],
            mutable: UnsafeCell::new(DevMut {
                claimed: 0,
                stats: Pl320Stats { unknown_mbox: 0, spurious: 0, stale_ack: 0, torn_read: 0, retracted: 0 },
                state: SLOT_FREE,
                irq_num: -1,
                isr_active: 0,
                tx_masked: 0,
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
    /// of `pl320_chan_s` (never as an array of `mbox_chan_s`, whose stride
    /// differs).
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
// (its `mutable.state`). A claimed slot's other fields are written only
// by the thread that claimed it, while it is SLOT_INIT (before anything
// can reach it: its handler is attached later); afterwards only its
// `mutable` part changes, and that part is accessed under the critical
// section only (Pl320Dev::with_mut, slot_mut).
unsafe impl Sync for Slots {}

/// The mutable state of slot `p`, without forming a reference to the
/// rest of the slot (which its owner may be writing).
///
/// # Safety
/// `p` is one of the SLOTS; the caller holds the critical section and
/// forms no other reference to the slot's `DevMut` meanwhile.
unsafe fn slot_mut<'a>(p: *mut Pl320Dev) -> &'a mut DevMut {
    // SAFETY: per the contract; `mutable` is an UnsafeCell, so the shared
    // borrow of that field alone allows the write access.
    unsafe { &mut *(*addr_of!((*p).mutable)).get() }
}

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

    /// The token is 16 bits on the wire (`wire::token`).
    fn set_rxtoken(&self, t: u32) {
        self.dev.rxtoken[self.cfg.mbox].store(t as u16, Ordering::Relaxed);
    }

    fn rxtoken(&self) -> u32 {
        self.dev.rxtoken[self.cfg.mbox].load(Ordering::Relaxed) as u32
    }
}

/// Claim (if free) and program mailbox `cfg.mbox` for the channel: SOURCE,
/// DSET and MSET as DDI0306B describes, MODE 0. A claim is remembered in
/// the device, so that a failed initialisation and pl320_uninitialize()
/// release it. Returns 0 or -EBUSY when another sender owns the mailbox.
fn program_mailbox(dev: &Pl320Dev, cfg: &ChanCfg) -> i32 {
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
        dev.with_mut(|d| d.claimed |= 1 << m);
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
    program_mailbox(c.dev, &c.cfg)
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
        let r = program_mailbox(c.dev, &c.cfg);
        if r < 0 {
            return r;
        }
    } else if source != c.cfg.src_bit() {
        return -EBUSY;
    }
    match c.rd(regs::SEND) {
        regs::SEND_IDLE => {}
        regs::SEND_ACK => {
            // An ACK nobody took (one that came after its message ended,
            // left by the handler for a poller or client that no longer
            // waits): the upper half sends only when no message of the
            // channel is in flight, so it is stale. Cleared and counted as
            // the handler would.
            c.wr(regs::SEND, regs::SEND_IDLE);
            c.dev.count(|s| s.stale_ack += 1);
        }
        _ => return -EBUSY,
    }
    let bit = 1u32 << c.cfg.mbox;
    let was_masked = c.dev.with_mut(|m| {
        let was = m.tx_masked & bit != 0;
        m.tx_masked &= !bit;
        was
    });
    if was_masked {
        // The handler masked our line to leave the last ACK to a poller:
        // this message's ACK may interrupt again.
        c.wr(regs::MSET, c.cfg.src_bit());
    }
    if COMPAT {
        let mut words = [0u32; MAX_DATA];
        let words = &mut words[..c.dev.datanum];
        if let Err(e) = wire::compat::encode(msg, words) {
            return -e;
        }
        // The destination bit may have been consumed (a lost ACK clears
        // it); set before the data so that the last look at SEND below is
        // followed directly by SEND = 1.
        c.wr(regs::DSET, c.cfg.dst_bit());
        // Settle check: SEND was 0 above. An ACK of a retracted message
        // that landed while the data registers were written must not be
        // left for this message (it would complete it at once), and a
        // legacy remote may have left reply data in the data registers
        // with it: clear it, count it, and write the data again. Each such
        // ACK belongs to one retracted message, so this ends; a remote that
        // keeps writing SEND = 2 gets -EBUSY, with nothing sent.
        let mut settled = false;
        for _ in 0..SETTLE_ROUNDS {
            for (i, &w) in words.iter().enumerate() {
                c.wr(regs::DR0 + 4 * i, w);
            }
            if c.rd(regs::SEND) != regs::SEND_ACK {
                settled = true;
                break;
            }
            c.wr(regs::SEND, regs::SEND_IDLE);
            c.dev.count(|s| s.stale_ack += 1);
        }
        if !settled {
            return -EBUSY;
        }
        c.wr(regs::SEND, regs::SEND_MSG);
        return 0;
    } else {
        for (i, chunk) in msg.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            c.wr(regs::DR0 + 4 * (i + 1), u32::from_le_bytes(w));
        }
        c.wr(regs::DR0, wire::header(size, c.txtoken()));
    }
    // The destination bit may have been consumed (a lost ACK clears it).
    c.wr(regs::DSET, c.cfg.dst_bit());
    c.wr(regs::SEND, regs::SEND_MSG);
    0
}

/// Rounds of "write the data registers, then find SEND still 0" a
/// compatible send makes before it gives up with -EBUSY (each failed round
/// is a late ACK landing during the writes).
const SETTLE_ROUNDS: usize = 3;

unsafe extern "C" fn pl320_recv(chan: *mut mbox_chan_s, data: *mut c_void) -> c_int {
    // SAFETY: one of our channels (upper-half contract).
    let Some(c) = (unsafe { Ctx::of(chan) }) else {
        return -EINVAL;
    };
    if !c.is_rx() || data.is_null() {
        return -EINVAL;
    }
    if c.rd(regs::SEND) != regs::SEND_MSG {
        // Nothing pending any more: the sender withdrew it.
        c.dev.count(|s| s.torn_read += 1);
        return -EAGAIN;
    }
    if COMPAT {
        return recv_compat(&c, data.cast::<u8>());
    }
    let h1 = c.rd(regs::DR0);
    c.set_rxtoken(wire::token(h1));
    let len = match wire::decode(h1, c.dev.mtu) {
        Dr0::Message { len, .. } => len,
        Dr0::Ack { token } => {
            // Not a message but a late ACK word that overwrote the header
            // of the message being sent (see wire::ACK_MARK): that message
            // is lost, and its sender will see it time out. There is
            // nothing to deliver: hand the ACK word back (its token is
            // stale on the sending side, which clears it) so the line
            // drops, and report "nothing yet".
            c.dev.count(|s| s.torn_read += 1);
            let _cs = Critical::enter();
            if c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DR0) == h1 {
                ack(&c, token);
            }
            return -EAGAIN;
        }
        Dr0::Bad { err, .. } => return -(err as c_int),
    };
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
        return -EAGAIN;
    }
    len as c_int
}

/// `recv` in the compatible wire format: all DATANUM data registers, read
/// twice; the message is whole only if it is still pending and the same
/// after the first read (a sender that withdrew it and sent another one
/// meanwhile changed at least SEND or the data). Returns the MTU
/// (`4 * DATANUM`: the protocol carries no length) or -EAGAIN.
fn recv_compat(c: &Ctx, data: *mut u8) -> c_int {
    let n = c.dev.datanum;
    let mut first = [0u32; MAX_DATA];
    let mut again = [0u32; MAX_DATA];
    for (i, w) in first[..n].iter_mut().enumerate() {
        *w = c.rd(regs::DR0 + 4 * i);
    }
    let send = c.rd(regs::SEND);
    for (i, w) in again[..n].iter_mut().enumerate() {
        *w = c.rd(regs::DR0 + 4 * i);
    }
    if send != regs::SEND_MSG || first[..n] != again[..n] {
        c.dev.count(|s| s.torn_read += 1);
        return -EAGAIN;
    }
    // SAFETY: the upper half passes a buffer of at least the MTU, which is
    // wire::compat::mtu(n) bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(data, c.dev.mtu) };
    wire::compat::decode(&first[..n], out) as c_int
}

/// ACK the message on the channel's mailbox: framed, DR0 = the ACK word
/// with `token`, then SEND = 2; compatible, SEND = 2 alone (DR0 is left as
/// the sender wrote it).
fn ack(c: &Ctx, token: u32) {
    if !COMPAT {
        c.wr(regs::DR0, wire::ack_word(token));
    }
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
    // would wipe the new one. Its still-asserted line brings us back. (The
    // compatible format has no token to compare: a message withdrawn and
    // replaced between recv and here would be ACKed unread.)
    if c.rd(regs::SEND) != regs::SEND_MSG || (!COMPAT && wire::token(c.rd(regs::DR0)) != token) {
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
        if c.rd(regs::SEND) == regs::SEND_MSG {
            // Withdrawn before its ACK (timeout or cancellation).
            c.dev.count(|s| s.retracted += 1);
        }
        c.wr(regs::SEND, regs::SEND_IDLE);
    }
    0
}

unsafe extern "C" fn pl320_setcallback(_chan: *mut mbox_chan_s, _cb: mbox_callback_t, _arg: *mut c_void) -> c_int {
    // Nothing to program: the upper half keeps the callback, and an RX
    // message without one is still acknowledged (never a call through NULL).
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

/// Compatible wire format: SEND == 2 (no token travels; a late ACK of a
/// retracted message cannot be told apart here, see the module doc).
///
/// Framed: true only for an ACK word that echoes the token of the message in
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
        Some(c) if c.is_tx() && COMPAT => c.rd(regs::SEND) == regs::SEND_ACK,
        Some(c) if c.is_tx() => {
            let _cs = Critical::enter();
            c.rd(regs::SEND) == regs::SEND_ACK
                && take_ack(&c, |token| if token == c.txtoken() { AckUse::Completed } else { AckUse::Refused })
                    == AckUse::Completed
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Interrupt handler
// ---------------------------------------------------------------------------

/// What became of an ACK offered to a completion path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AckUse {
    /// It completed the message in flight.
    Completed,
    /// Not the in-flight message's ACK.
    Refused,
    /// This path does not complete messages (the channel's TX-done method
    /// is POLL or ACK): the ACK is left where it is.
    Deferred,
}

/// Takes the ACK pending on TX mailbox `c` (SEND = 2): offers the token it
/// echoes to `complete`. An ACK that completes nothing (late, duplicated,
/// split over a message header, or on a dead channel) is cleared so that
/// its level interrupt drops, and counted as stale; a deferred one is left
/// alone. Returns what `complete` made of it. Shared by the interrupt
/// handler and `txacked`, so that every completion path decodes an ACK the
/// same way. The caller holds the critical section.
///
/// The compatible format's ACK carries no token: `complete` is offered the
/// token of the message last sent (the one in flight, if any), which the
/// upper half refuses when nothing is in flight.
fn take_ack(c: &Ctx, mut complete: impl FnMut(u32) -> AckUse) -> AckUse {
    if COMPAT {
        match complete(c.txtoken()) {
            AckUse::Refused => {}
            done => return done,
        }
        c.wr(regs::SEND, regs::SEND_IDLE);
        c.dev.count(|s| s.stale_ack += 1);
        return AckUse::Refused;
    }
    let mut dr0 = c.rd(regs::DR0);
    // Two rounds at most: if the remote's real ACK overwrote a stale one
    // while we looked at it, serve the real one instead of wiping it.
    for _ in 0..2 {
        if let Some(token) = wire::acked_token(dr0, c.txtoken()) {
            match complete(token) {
                AckUse::Refused => {}
                done => return done,
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
    AckUse::Refused
}

/// Serve an ACK on TX mailbox `c`: complete the message whose token it
/// echoes, or clear a stale one.
fn serve_tx(c: &Ctx) {
    let _cs = Critical::enter();
    if c.rd(regs::SEND) != regs::SEND_ACK {
        c.dev.count(|s| s.spurious += 1);
        // A remote that (wrongly) sends to us on our own TX mailbox sets
        // our bit in DSTATUS, which holds our line up: clear it, or the
        // interrupt storms.
        if c.rd(regs::DSTATUS) & c.cfg.src_bit() != 0 {
            c.wr(regs::DCLEAR, c.cfg.src_bit());
        }
        return;
    }
    let used = take_ack(c, |token| {
        // SAFETY: the channel was initialised by pl320_initialize(); the
        // critical section nests (port contract). On success txfinish
        // (SEND = 0) ran, and maybe the next send.
        match unsafe { mbox_chan_tx_done_token(c.chan(), token) } {
            0 => AckUse::Completed,
            r if r == -EPERM => AckUse::Deferred,
            _ => AckUse::Refused,
        }
    });
    if used == AckUse::Deferred {
        // The channel's TX-done method is POLL or ACK: the poller (through
        // txacked) or the client ends the message, and txfinish or the next
        // send clears the ACK. Until the next send, this line is masked
        // for the mailbox so that the level interrupt drops.
        c.wr(regs::MCLEAR, c.cfg.src_bit());
        let bit = 1u32 << c.cfg.mbox;
        c.dev.with_mut(|m| m.tx_masked |= bit);
    }
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
    if r >= 0 || r == -EAGAIN || r == -EBUSY {
        // Received (its size) and acknowledged; or torn (the line stays asserted
        // and brings us back to a whole message); or another CPU is
        // receiving on this channel right now and will ACK.
        return;
    }
    // The message cannot be received (corrupt length, dead channel, ...):
    // ACK it anyway with its own token, so that the sender is not left
    // waiting and our line drops.
    let _cs = Critical::enter();
    if c.rd(regs::SEND) == regs::SEND_MSG {
        let token = wire::token(c.rd(regs::DR0));
        ack(c, token);
    }
}

/// The device's interrupt handler; `arg` is the device.
unsafe extern "C" fn pl320_isr(_irq: c_int, _context: *mut c_void, arg: *mut c_void) -> c_int {
    if arg.is_null() {
        return 0;
    }
    let p = arg.cast::<Pl320Dev>();
    // Only a LIVE device (or one being torn down, until its interrupt is
    // detached) is served; the call is counted so that the teardown can
    // wait for it.
    let serving = {
        let _cs = Critical::enter();
        // SAFETY: arg is the slot pl320_initialize() attached this handler
        // with (slots live forever); the critical section is held.
        let m = unsafe { slot_mut(p) };
        let ok = m.state == SLOT_LIVE || m.state == SLOT_CLOSING;
        if ok {
            m.isr_active += 1;
        }
        ok
    };
    if !serving {
        return 0;
    }
    // SAFETY: the fields of a LIVE or CLOSING slot do not change until it
    // is FREE again, which pl320_uninitialize() makes it only after this
    // call has left (isr_active).
    let dev: &'static Pl320Dev = unsafe { &*p };
    serve_device(dev);
    dev.with_mut(|m| m.isr_active -= 1);
    0
}

/// One pass of the interrupt handler over this core's line.
fn serve_device(dev: &'static Pl320Dev) {
    let line = dev.ipcmint as usize;
    // One read, then every set bit is served (an unknown one is masked).
    let mis = dev.regs.read(regs::ipcmmis(line));
    if mis == 0 {
        dev.count(|s| s.spurious += 1);
        return;
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
}

// ---------------------------------------------------------------------------
// Initialisation
// ---------------------------------------------------------------------------

/// Claims a free slot for a device on interrupt `irq_num` (SLOT_INIT).
/// None when no slot is free, or when a device that is not FREE (being
/// initialised, live, or being torn down) already uses that interrupt:
/// attaching it again would take the interrupt away from that device.
fn claim_slot(irq_num: c_int) -> Option<*mut Pl320Dev> {
    let _cs = Critical::enter();
    let mut free = None;
    for s in SLOTS.0.iter() {
        let p = s.get();
        // SAFETY: p is a slot; the critical section is held, and this is
        // the only reference to its DevMut.
        let m = unsafe { slot_mut(p) };
        if m.state != SLOT_FREE && m.irq_num == irq_num {
            return None;
        }
        if m.state == SLOT_FREE && free.is_none() {
            free = Some(p);
        }
    }
    let p = free?;
    // SAFETY: as above.
    let m = unsafe { slot_mut(p) };
    m.state = SLOT_INIT;
    m.irq_num = irq_num;
    m.isr_active = 0;
    Some(p)
}

/// Releases everything device `p` holds: de-initialises its channels
/// `0..ninit` that are still initialised for it (their blocked senders
/// return -ECANCELED), releases the mailboxes it claimed and frees the
/// slot. Used by a failed initialisation and by pl320_uninitialize().
///
/// # Safety
/// `p` is a slot that the caller owns (SLOT_INIT or SLOT_CLOSING, set by
/// the caller), with its fields written, whose handler is not attached
/// and not running; task context.
unsafe fn release(p: *mut Pl320Dev, ninit: usize) {
    // SAFETY: the slot is ours (contract) and fully written.
    let dev: &Pl320Dev = unsafe { &*p };
    let devp = p.cast::<mbox_dev_s>();
    for i in 0..ninit {
        // SAFETY: i < ninit <= num_chans; only the field's address is
        // taken.
        let chan = unsafe { addr_of_mut!((*dev.chan_at(i)).base) };
        // A channel that board code de-initialised itself and gave to
        // another device is not ours to tear down.
        let ours = {
            let _cs = Critical::enter();
            // SAFETY: chan is valid; `dev` is written by mbox_chan_init()
            // under the critical section.
            let owner = unsafe { addr_of!((*chan).dev).read() };
            owner == devp
        };
        if ours {
            // SAFETY: channel of this device; task context (contract).
            let r = unsafe { mbox_chan_deinit(chan) };
            // -EINVAL: de-initialised already by board code. The callers
            // ruled out -EPERM and -EDEADLK; pl320_shutdown() cannot fail.
            debug_assert!(r == 0 || r == -EINVAL);
        }
    }
    let claimed = dev.with_mut(|d| core::mem::replace(&mut d.claimed, 0));
    for m in 0..regs::MAX_MBOX {
        if claimed & (1 << m) != 0 {
            // Releasing clears DEST, MODE, MASK and SEND too.
            dev.regs.mbox_write(m, regs::SOURCE, 0);
        }
    }
    // After this the slot may be claimed again, and we no longer touch it.
    dev.with_mut(|d| {
        debug_assert_eq!(d.isr_active, 0);
        d.state = SLOT_FREE;
        d.irq_num = -1;
    });
}

/// Sleeps (one tick at a time, on a private wait object) until no call of
/// the interrupt handler runs on `dev`. The handler was detached, so no
/// new call starts; one that had already started on another CPU is
/// bounded by its client callbacks. Task context.
fn wait_isr_idle(dev: &Pl320Dev) {
    // Initialised in place on first need; never posted, so each wait is a
    // one-tick sleep.
    let mut nap = WaitObj::uninit();
    let mut nap_ok: Option<bool> = None;
    while dev.with_mut(|m| m.isr_active) != 0 {
        if *nap_ok.get_or_insert_with(|| nap.init().is_ok()) {
            nap.wait(1);
        } else {
            core::hint::spin_loop();
        }
    }
    if nap_ok == Some(true) {
        nap.destroy();
    }
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
/// The handler of `config->irq_num` is attached and enabled last.
/// Compatible wire format (`CONFIG_MBOX_PL320_WIRE_COMPAT`, the default:
/// the legacy protocol of the NuttX C driver and Linux's pl320-ipc):
/// messages carry up to `4 * DATANUM` bytes (`PL320_MTU`, 28) in DR0
/// onwards, every message is received as `4 * DATANUM` bytes (no length
/// travels), and the ACK is SEND = 2 alone. Framed wire format
/// (`CONFIG_MBOX_PL320_WIRE_FRAMED`, both cores run libmbox): messages
/// carry up to `4 * (DATANUM - 1)` bytes (`PL320_MTU`, 24, on a full
/// PL320); DR0 holds the length and the message token, which the receiver
/// echoes in its ACK so that a late ACK never completes a newer message.
/// `config` and the channel array must stay valid for the life of the
/// device (until `pl320_uninitialize()`). At most
/// `CONFIG_MBOX_PL320_MAX_DEVICES` (Kconfig, default 4) devices exist at a
/// time. An OS interrupt belongs to one device: a device whose `irq_num`
/// another device (live, or still being initialised) already uses is
/// refused, since attaching the interrupt again would take it away from
/// that device.
///
/// Context: task.
/// Returns NULL, with nothing left initialised, claimed or attached, when:
/// `config` is NULL; `base` is 0 or not 4-byte aligned; `chans` is NULL or
/// `num_chans` is 0; `num_chans > 32`; `ipcmint` is not a line of the
/// IPCM (< 0, >= 32 or >= INTNUM); `irq_num < 0`; the hardware at `base` is
/// not a PL320 (PeriphID part 0x320, designer 0x41) or has fewer than 2
/// data registers (framed; compatible: fewer than 1) or more than 7; a
/// channel has a mailbox >= 32 or >= MBOXNUM, the same mailbox as another
/// channel, `src == dst`, `src` or `dst` >= 32 or >=
/// INTNUM, or neither `src` nor `dst` equal to `ipcmint`; a TX channel has
/// no `txbuf`/`bufsize`; a channel is already initialised; a `ctrl` mailbox
/// is owned by another sender; no device slot is free; another device uses
/// `irq_num`; the interrupt cannot be attached.
// The contract on the pointers is in the doc above (it becomes the C
// header's comment, which has no "# Safety" section).
#[allow(clippy::missing_safety_doc)]
#[no_mangle]
pub unsafe extern "C" fn pl320_initialize(config: *const pl320_config_s, base: usize) -> *mut mbox_dev_s {
    if config.is_null() || base == 0 || base & 3 != 0 {
        return ptr::null_mut();
    }
    let (chans, num_chans, ipcmint, irq_num) =
        // SAFETY: config is non-NULL and valid by the API contract.
        unsafe { ((*config).chans, (*config).num_chans, (*config).ipcmint, (*config).irq_num) };
    // An empty table would spend a device slot on a device with nothing
    // to do.
    if chans.is_null() || num_chans == 0 || num_chans > regs::MAX_MBOX {
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
    // Framed needs DR0 for the header and at least one payload register.
    let min_datanum = if COMPAT { 1 } else { 2 };
    if cfg.datanum < min_datanum || cfg.datanum > MAX_DATA || ipcmint as usize >= cfg.intnum {
        return ptr::null_mut();
    }
    let mtu = if COMPAT { wire::compat::mtu(cfg.datanum) } else { 4 * (cfg.datanum - 1) };
    // SAFETY: chans holds num_chans elements (API contract, checked
    // non-NULL above).
    let Some(lookup) = (unsafe { validate(chans, num_chans, ipcmint, &cfg) }) else {
        return ptr::null_mut();
    };

    let Some(p) = claim_slot(irq_num) else {
        return ptr::null_mut();
    };
    // SAFETY: the slot is ours until released; nobody else references it
    // (its handler is not attached, and it was never handed out since it
    // was last released).
    unsafe {
        addr_of_mut!((*p).base).write(mbox_dev_s {
            ops: &OPS,
            // The board's channels (pl320_chan_s, not mbox_chan_s: a
            // pointer to the first channel's base, never indexed as an
            // array of mbox_chan_s).
            chans: addr_of_mut!((*chans).base),
            num_chans,
            mtu,
            // One mailbox holds one message: no FIFO.
            #[cfg(feature = "txfifo")]
            txdepth: 1,
        });
        addr_of_mut!((*p).regs).write(hw);
        addr_of_mut!((*p).ipcmint).write(ipcmint);
        addr_of_mut!((*p).chans).write(chans);
        addr_of_mut!((*p).num_chans).write(num_chans);
        addr_of_mut!((*p).mtu).write(mtu);
        addr_of_mut!((*p).datanum).write(cfg.datanum);
        addr_of_mut!((*p).lookup).write(lookup);
        for t in &(*p).rxtoken {
            t.store(0, Ordering::Relaxed);
        }
    }
    {
        let _cs = Critical::enter();
        // SAFETY: our slot; the critical section is held.
        let m = unsafe { slot_mut(p) };
        m.claimed = 0;
        m.stats = Pl320Stats::default();
        m.tx_masked = 0;
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
        // SAFETY: pc is valid; the id is set before the channel is live.
        unsafe { addr_of_mut!((*pc).base.id).write(cc.mbox as c_int) };
        // SAFETY: the channel, the device and the buffer stay valid for
        // the life of the device (API contract).
        let r = unsafe { mbox_chan_init(addr_of_mut!((*pc).base), devp, dir as c_int, buf.cast(), size) };
        if r < 0 {
            // SAFETY: our slot (SLOT_INIT); channels 0..i are initialised;
            // no handler attached; task context (contract).
            unsafe { release(p, i) };
            return ptr::null_mut();
        }
    }

    // Every channel is initialised: the handler may serve the device from
    // its first call (an interrupt that is already pending, or enabled
    // already, must not find it half-made and return with the line high).
    // SAFETY: p is our slot, now fully written.
    let dev: &Pl320Dev = unsafe { &*p };
    dev.with_mut(|m| m.state = SLOT_LIVE);
    // SAFETY: the handler and its argument (the slot) live forever.
    let r = unsafe { sys::mbox_os_irq_attach(irq_num, Some(pl320_isr), p.cast()) };
    if r < 0 {
        dev.with_mut(|m| m.state = SLOT_INIT);
        // SAFETY: our slot (SLOT_INIT again; it was never handed out);
        // every channel is initialised; nothing attached.
        unsafe { release(p, num_chans) };
        return ptr::null_mut();
    }
    // SAFETY: attached just above.
    unsafe { sys::mbox_os_irq_enable(irq_num) };
    devp
}

/// Tear down a device returned by `pl320_initialize()`, so that its slot,
/// its mailboxes and its interrupt can be used again (for example to retry
/// a failed board bring-up).
///
/// In order: the device stops being a device (a second call returns
/// -EINVAL); its interrupt is disabled and detached, and a call of the
/// handler still running is waited for; every channel of the device is
/// de-initialised as `mbox_chan_deinit()` does it (its blocked senders
/// return -ECANCELED, queued messages end with -ECANCELED, no callback of
/// it runs after this returns); the mailboxes the device claimed are
/// released (SOURCE = 0, which also clears their destination, mask and
/// pending message); the device slot is freed. A channel that board code
/// de-initialised itself is skipped. Afterwards `dev`, its channels and
/// its senders and receivers must not be used; the configuration and the
/// channel array may be freed or passed to `pl320_initialize()` again.
///
/// Context: task.
/// Returns 0; -EINVAL when `dev` is NULL or not a live device of
/// `pl320_initialize()` (never returned, or already uninitialised);
/// -EPERM from interrupt context; -EDEADLK when called from a callback of
/// one of the device's channels (an RX callback of a reception run in
/// task context, or a TX-done callback), which the teardown would wait
/// for. On every error nothing changes.
// The contract on the pointer is in the doc above (it becomes the C
// header's comment, which has no "# Safety" section).
#[allow(clippy::missing_safety_doc)]
#[no_mangle]
pub unsafe extern "C" fn pl320_uninitialize(dev: *mut mbox_dev_s) -> c_int {
    if dev.is_null() {
        return -EINVAL;
    }
    if os::in_interrupt() {
        return -EPERM;
    }
    // Only the address is compared: `dev` may be anything.
    let Some(p) = SLOTS.0.iter().map(|s| s.get()).find(|&p| p.cast::<mbox_dev_s>() == dev) else {
        return -EINVAL;
    };
    {
        let _cs = Critical::enter();
        // SAFETY: p is a slot; the critical section is held, and no other
        // reference to its DevMut is formed while `m` lives.
        let m = unsafe { slot_mut(p) };
        if m.state != SLOT_LIVE {
            return -EINVAL;
        }
        // SAFETY: the fields of a LIVE slot do not change; its DevMut is
        // reached only through `m` here.
        let d: &Pl320Dev = unsafe { &*p };
        let me = os::current();
        for i in 0..d.num_chans {
            let pc = d.chan_at(i);
            // SAFETY: pc is one of the device's channels; its framework
            // state and RX claim are read under the critical section, as
            // mbox_chan_deinit() reads it for the same check.
            let busy_here = unsafe {
                addr_of!((*pc).base.dev).read() == dev && (*pc).base.state.owned_by(&(*pc).base.rx_claim, me)
            };
            if busy_here {
                return -EDEADLK;
            }
        }
        m.state = SLOT_CLOSING;
    }
    // SAFETY: a CLOSING slot's fields do not change until this call frees
    // it.
    let d: &Pl320Dev = unsafe { &*p };
    let irq_num = d.with_mut(|m| m.irq_num);
    // SAFETY: the interrupt this device attached at initialisation.
    unsafe { sys::mbox_os_irq_detach(irq_num) };
    wait_isr_idle(d);
    // SAFETY: CLOSING, set by this call; the handler is detached and no
    // call of it runs; task context (checked above).
    unsafe { release(p, d.num_chans) };
    0
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
