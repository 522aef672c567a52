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
//!
//! # Raw pointers
//!
//! Each C entry point turns its raw pointers into the driver's own types
//! once, at its top: the board's channel array becomes a slice of
//! `PlChan` (`pl320_chan_s` with the framework channel in cells, since
//! the upper half writes it meanwhile), an op's channel (a `&CChan`, the
//! upper half's reference) its `&PlChan` and its device a `Dev` (a slot
//! whose configuration is written and fixed; `dev_ref` keeps the slot's
//! life and is the one place that hands them out), `recv`'s buffer a
//! slice of the MTU, `send`'s message a slice once its size is checked.
//! The interrupt handler is attached with its device typed (`port`), so
//! it starts from a reference. The ops are safe code behind three shims,
//! one per C signature (the one for the ops that take the channel alone
//! is a safe function); registers are reached through `regs`.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicUsize, Ordering};

use self::chan_ref::PlChan;
use self::dev_ref::Dev;
use self::op_args::RxBuf;
use super::abi::pl320_config_s;
use super::port;
use super::regs::{self, Pl320Regs};
use super::wire::{self, Dr0};
use crate::os::{self, Critical};
use crate::shell::types::{mbox_callback_t, mbox_dev_s, mbox_direction_e, mbox_ops_s, CChan};
use crate::upper::errno::*;

/// The board's channel array of a device (`config->chans`), valid from
/// `pl320_initialize()` until `pl320_uninitialize()` (the board's
/// contract): the device uses it only while it exists.
type Board = &'static [PlChan];

/// Number of PL320 devices (one per core and IPCM) `pl320_initialize()`
/// can create.
pub(crate) const CONFIG_MBOX_PL320_MAX_DEVICES: usize = crate::kconfig::PL320_MAX_DEVICES;

/// Lookup-table entry of a mailbox that has no channel: 0 - 1, as
/// `validate` makes it.
const NO_CHAN: u8 = 0xFF;
const _: () = assert!(0u8.wrapping_sub(1) == NO_CHAN);

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

/// Device state that changes under the critical section, a word at a
/// time. The words are atomic, so that no access needs more than a
/// shared reference to be sound; the critical section, which every access
/// shows held (`_cs`), makes each read-modify-write whole and orders it
/// with the rest of the state it guards.
macro_rules! cs_word {
    ($name:ident, $atomic:ty, $t:ty) => {
        struct $name($atomic);

        impl $name {
            const fn new(v: $t) -> $name {
                $name(<$atomic>::new(v))
            }

            fn get(&self, _cs: &Critical) -> $t {
                self.0.load(Ordering::Relaxed)
            }

            fn set(&self, _cs: &Critical, v: $t) {
                self.0.store(v, Ordering::Relaxed)
            }

            /// Writes the word of a device that only its owner reaches
            /// (`_owner`: being initialised, or torn down), without the
            /// critical section: no other context reads or writes it.
            fn set_owned(&self, _owner: &dev_ref::Owned, v: $t) {
                self.0.store(v, Ordering::Relaxed)
            }
        }
    };
}

cs_word!(CsU32, AtomicU32, u32);
cs_word!(CsUsize, AtomicUsize, usize);

impl CsU32 {
    /// Reads the word of a device that only its owner reaches (see
    /// `set_owned`).
    fn get_owned(&self, _owner: &dev_ref::Owned) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The driver counters of a device, one word per field of `Pl320Stats`
/// (indexed by the constants below, so that they reset in one loop).
struct DevStats([CsUsize; 5]);

const UNKNOWN_MBOX: usize = 0;
const SPURIOUS: usize = 1;
const STALE_ACK: usize = 2;
const TORN_READ: usize = 3;
const RETRACTED: usize = 4;

/// State that changes after initialisation.
struct DevMut {
    /// Mailboxes whose SOURCE this device wrote (released again by a
    /// failed initialisation and by pl320_uninitialize()).
    claimed: CsU32,
    stats: DevStats,
    /// TX mailboxes whose interrupt the handler masked for this line to
    /// leave an ACK to the poller or the client (TX-done method POLL or
    /// ACK); the next send unmasks it.
    tx_masked: CsU32,
}

/// What pl320_initialize() writes into a slot before the device exists;
/// fixed from then until the slot is free again. `base` must stay first:
/// the `*mut mbox_dev_s` handed to the upper half and to board code is
/// the slot's address.
#[repr(C)]
struct DevCfg {
    base: mbox_dev_s,
    regs: Pl320Regs,
    /// This core's interrupt line.
    ipcmint: u32,
    /// The board's channel array.
    board: Board,
    /// Data registers per mailbox (DATANUM, 1..=7).
    datanum: usize,
    /// Mailbox number -> index into `board`, or NO_CHAN.
    lookup: [u8; regs::MAX_MBOX],
}

impl DevCfg {
    /// Payload bytes per message: 4 * (DATANUM - 1) framed, 4 * DATANUM
    /// compatible (kept once, where the upper half reads it).
    fn mtu(&self) -> usize {
        self.base.mtu
    }

    /// Data registers per mailbox, 1..=7 (pl320_initialize() checks it);
    /// masked, so that the optimiser sees that it bounds an array of
    /// MAX_DATA words (an AND instead of a compare and a panic).
    fn datanum(&self) -> usize {
        self.datanum % (MAX_DATA + 1)
    }

    /// The channel of mailbox `m`, if this device has one (NO_CHAN is
    /// above every index of the board, at most 32 channels).
    fn chan_of_mbox(&self, m: usize) -> Option<&'static PlChan> {
        self.board.get(*self.lookup.get(m)? as usize)
    }
}

/// One device slot. `cfg` (whose `base` comes first) must stay first:
/// see DevCfg.
#[repr(C)]
pub(super) struct Pl320Dev {
    /// Written only by the context that claimed the slot, while it is
    /// INIT and before anything else can reach it (its handler is
    /// attached and its address handed out later); only read afterwards,
    /// until pl320_uninitialize() frees the slot (see `dev_ref`). Not
    /// initialised until the slot's first device is configured, so that
    /// the slot table is all zeros (`.bss`: no initial copy in the image).
    cfg: UnsafeCell<MaybeUninit<DevCfg>>,
    /// Per mailbox: token of the message being received (echoed in the
    /// ACK so that the sender can match it; none in the compatible wire
    /// format, whose ACK carries no token). Only the RX path of that
    /// mailbox's channel touches it, one reception at a time.
    rxtoken: [AtomicU16; RXTOKENS],
    mutable: DevMut,
    life: dev_ref::Life,
}

// SAFETY: `cfg` is written only while no other context reads it (see
// the field and `dev_ref`); everything else is atomic.
unsafe impl Sync for Pl320Dev {}

/// Token slots per device: one per mailbox in the framed format, none in
/// the compatible one.
const RXTOKENS: usize = if COMPAT { 0 } else { regs::MAX_MBOX };

/// A zero token, to build the per-mailbox array in a const fn.
#[allow(clippy::declare_interior_mutable_const)]
const NO_TOKEN: AtomicU16 = AtomicU16::new(0);

impl Pl320Dev {
    const fn empty() -> Pl320Dev {
        Pl320Dev {
            cfg: UnsafeCell::new(MaybeUninit::uninit()),
            rxtoken: [NO_TOKEN; RXTOKENS],
            mutable: DevMut {
                claimed: CsU32::new(0),
                stats: DevStats([const { CsUsize::new(0) }; 5]),
                tx_masked: CsU32::new(0),
            },
            life: dev_ref::Life::new(),
        }
    }

    /// The device's address as the upper half and board code know it:
    /// the slot's (DevCfg and its `base` come first), derived from the
    /// whole slot so that the handler and the ops may reach all of it
    /// again from this pointer.
    fn devp(&self) -> *mut mbox_dev_s {
        (self as *const Pl320Dev).cast_mut().cast()
    }

    /// Runs `f` on the mutable state under the critical section.
    #[inline(always)]
    fn with_mut<R>(&self, f: impl FnOnce(&DevMut, &Critical) -> R) -> R {
        let cs = Critical::enter();
        f(&self.mutable, &cs)
    }

    /// Adds one to counter `i` (`STALE_ACK`, ...).
    fn count(&self, i: usize) {
        self.count_held(&Critical::enter(), i);
    }

    /// `count` where the critical section is held already (`cs`).
    fn count_held(&self, cs: &Critical, i: usize) {
        let c = &self.mutable.stats.0[i];
        c.set(cs, c.get(cs).wrapping_add(1));
    }
}

/// The device slots.
static SLOTS: [Pl320Dev; CONFIG_MBOX_PL320_MAX_DEVICES] = [const { Pl320Dev::empty() }; CONFIG_MBOX_PL320_MAX_DEVICES];

/// The slot whose device is `dev`. Only the address is compared: `dev`
/// may be anything.
fn slot_of(dev: *const mbox_dev_s) -> Option<&'static Pl320Dev> {
    SLOTS.iter().find(|s| ptr::eq(s.devp(), dev))
}

static OPS: mbox_ops_s = mbox_ops_s {
    getchan: Some(pl320_getchan),
    setup: Some(op1::<c_int, SetupOp>),
    shutdown: Some(op0::<ShutdownOp>),
    send: Some(op2::<SendOp>),
    recv: Some(op1::<c_int, RecvOp>),
    acknowledge: Some(op2::<AcknowledgeOp>),
    txfinish: Some(op0::<TxFinishOp>),
    setcallback: Some(pl320_setcallback),
    rxavailable: Some(op0::<RxAvailableOp>),
    txready: Some(op0::<TxReadyOp>),
    txacked: Some(op0::<TxAckedOp>),
};

/// The ops table, for the unit tests.
#[cfg(test)]
pub(super) fn ops() -> &'static mbox_ops_s {
    &OPS
}

/// The configuration of one channel, copied out of the board's
/// `pl320_chan_s` once per op or interrupt (the copy stays in registers
/// across the register accesses, which the channel's cells would not).
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
    fn src_bit(&self) -> u32 {
        1 << self.src
    }

    fn dst_bit(&self) -> u32 {
        1 << self.dst
    }
}

/// The board's channels as the driver reaches them: the one way it
/// touches the memory that board code and the upper half share with it.
mod chan_ref {
    use core::ffi::c_int;

    use super::super::abi::pl320_chan_s;
    use super::ChanCfg;
    use crate::os::Critical;
    use crate::shell::capi::{mbox_chan_deinit, mbox_chan_init, mbox_chan_rx_data, mbox_chan_tx_done_token};
    use crate::shell::types::{mbox_dev_s, CChan};

    /// One `pl320_chan_s` of the board's array, as the driver sees it: the
    /// framework channel as the upper half's cells (`CChan`), the board's
    /// configuration plain (board code sets it before `pl320_initialize()`
    /// and nobody writes it while the device exists).
    #[repr(C)]
    pub(super) struct PlChan {
        base: CChan,
        mbox: u8,
        src: u8,
        dst: u8,
        ctrl: bool,
        txbuf: *mut u8,
        bufsize: usize,
    }

    /// `PlChan` is `pl320_chan_s` with its base as `CChan` (whose layout is
    /// asserted equal to `mbox_chan_s`): same size, alignment and offsets,
    /// so a board channel can be reached as one.
    const _: () = {
        use core::mem::{align_of, offset_of, size_of};
        assert!(size_of::<PlChan>() == size_of::<pl320_chan_s>());
        assert!(align_of::<PlChan>() == align_of::<pl320_chan_s>());
        assert!(offset_of!(PlChan, base) == offset_of!(pl320_chan_s, base));
        assert!(offset_of!(PlChan, mbox) == offset_of!(pl320_chan_s, mbox));
        assert!(offset_of!(PlChan, src) == offset_of!(pl320_chan_s, src));
        assert!(offset_of!(PlChan, dst) == offset_of!(pl320_chan_s, dst));
        assert!(offset_of!(PlChan, ctrl) == offset_of!(pl320_chan_s, ctrl));
        assert!(offset_of!(PlChan, txbuf) == offset_of!(pl320_chan_s, txbuf));
        assert!(offset_of!(PlChan, bufsize) == offset_of!(pl320_chan_s, bufsize));
    };

    impl PlChan {
        /// The framework channel, `base`: the first field, so the same
        /// address as the board channel.
        pub(super) fn base(&self) -> &CChan {
            &self.base
        }

        /// The device the upper half recorded for the channel
        /// (`mbox_chan_init()`), NULL before that.
        pub(super) fn dev(&self) -> *mut mbox_dev_s {
            self.base.dev.get()
        }

        /// The board's configuration of the channel.
        pub(super) fn cfg(&self) -> ChanCfg {
            ChanCfg {
                mbox: self.mbox as usize,
                src: self.src as u32,
                dst: self.dst as u32,
                ctrl: self.ctrl,
                txbuf: self.txbuf,
                bufsize: self.bufsize,
            }
        }

        /// The token of the message last handed to `send`: the upper half
        /// writes it under the critical section, which `_cs` shows held.
        pub(super) fn txtoken(&self, _cs: &Critical) -> u32 {
            self.base.txtoken.get()
        }

        /// `mbox_chan_tx_done_token()`: the remote acknowledged the
        /// message with `token` (the critical section nests, port
        /// contract).
        pub(super) fn tx_done(&self, token: u32) -> c_int {
            mbox_chan_tx_done_token(Some(&self.base), token)
        }

        /// `mbox_chan_rx_data()`: receive the pending message. Not with
        /// the critical section held (it runs the client callbacks).
        pub(super) fn rx_data(&self) -> c_int {
            mbox_chan_rx_data(Some(&self.base))
        }

        /// Gives the channel the id `id` and initialises it for `dev`
        /// (`mbox_chan_init()`). Task context.
        pub(super) fn init(&self, id: c_int, dev: &mbox_dev_s, dir: c_int, buf: *mut u8, size: usize) -> c_int {
            // Written before the channel is live.
            self.base.id.set(id);
            // SAFETY: the device and the buffer stay valid for the life of
            // the device (pl320_initialize()'s contract).
            unsafe { mbox_chan_init(Some(&self.base), Some(dev), dir, buf.cast(), size) }
        }

        /// De-initialises the channel (`mbox_chan_deinit()`) if it is
        /// still initialised for `dev`: one that board code de-initialised
        /// itself and gave to another device is not `dev`'s to tear down.
        /// Task context. Returns what mbox_chan_deinit() returned, or
        /// -EINVAL for a channel that is not `dev`'s.
        pub(super) fn deinit_for(&self, dev: *mut mbox_dev_s) -> c_int {
            // `dev` is written by mbox_chan_init() under the critical
            // section, so it is read under it.
            let ours = {
                let _cs = Critical::enter();
                self.dev() == dev
            };
            if !ours {
                return -crate::upper::errno::EINVAL;
            }
            mbox_chan_deinit(Some(&self.base))
        }

        /// True when the channel belongs to `dev` and task `me` is inside
        /// one of its callbacks (so tearing it down would wait for `me`).
        pub(super) fn in_callback_of(&self, dev: *mut mbox_dev_s, me: usize, cs: &Critical) -> bool {
            self.dev() == dev && self.base.in_callback_of(me, cs)
        }
    }
}

/// The life of a device slot, and the handles through which code reads
/// its configuration.
///
/// A slot goes FREE -> INIT -> LIVE -> CLOSING -> FREE (module doc); only
/// this module changes that state. The configuration (`Pl320Dev::cfg`) is
/// written only by [`Claimed::configure`], while the slot is INIT and its
/// claimer holds it, and read only through a [`Dev`]. This module makes a
/// `Dev` only where the configuration is written and stays as it is for
/// the `Dev`'s lifetime:
/// - [`Owned::dev`]: the owner of a configured slot that no call of the
///   handler serves (INIT), which alone can free it, by consuming the
///   `Owned` (so after every `Dev` borrowed from it);
/// - [`serve`]: a call of the interrupt handler on a LIVE or CLOSING
///   slot, counted in `isr_active` until it returns; a CLOSING device
///   becomes an `Owned` only once its handler is detached and that count
///   is 0 ([`Closing::detach`]);
/// - [`close`]'s check: a LIVE slot, under the critical section;
/// - [`Dev::new`] (unsafe): an op of the upper half, on a device that
///   exists during the op (its caller's contract);
/// - [`if_live`]: the device op (`getchan`), on the same contract, with
///   a check that the device was not torn down before the call.
mod dev_ref {
    use core::ffi::c_int;
    use core::marker::PhantomData;
    use core::sync::atomic::Ordering;

    use super::{pl320_isr, port, CsU32, DevCfg, Pl320Dev, SLOTS};
    use crate::os::{self, Critical, OsWait, WaitObj};
    use crate::shell::types::mbox_dev_s;
    use crate::upper::errno::EINVAL;

    const FREE: u32 = 0;
    const INIT: u32 = 1;
    const LIVE: u32 = 2;
    const CLOSING: u32 = 3;

    /// The life state of a slot (under the critical section).
    pub(super) struct Life {
        /// FREE, INIT, LIVE or CLOSING.
        state: CsU32,
        /// The OS interrupt of the device (meaningful unless FREE), as
        /// the bits of a `c_int`.
        irq_num: CsU32,
        /// Calls of the interrupt handler running on this device.
        isr_active: CsU32,
    }

    impl Life {
        pub(super) const fn new() -> Life {
            Life { state: CsU32::new(FREE), irq_num: CsU32::new(0), isr_active: CsU32::new(0) }
        }

        fn irq_num(&self, cs: &Critical) -> c_int {
            self.irq_num.get(cs) as c_int
        }

        /// Runs `f` under the critical section.
        #[inline(always)]
        fn with<R>(&self, f: impl FnOnce(&Life, &Critical) -> R) -> R {
            let cs = Critical::enter();
            f(self, &cs)
        }
    }

    /// A slot whose configuration is written and does not change during
    /// `'a`.
    #[derive(Clone, Copy)]
    pub(super) struct Dev<'a> {
        slot: &'static Pl320Dev,
        _life: PhantomData<&'a ()>,
    }

    impl<'a> Dev<'a> {
        /// # Safety
        /// The slot's device exists during `'a`: it is LIVE, or INIT or
        /// CLOSING in the hands of a context that keeps it so during `'a`
        /// (the upper half calls the ops only on such a device).
        pub(super) const unsafe fn new(slot: &'static Pl320Dev) -> Dev<'a> {
            Dev { slot, _life: PhantomData }
        }

        /// For this module's handles, in the cases listed in the module
        /// doc.
        const fn made(slot: &'static Pl320Dev) -> Dev<'a> {
            Dev { slot, _life: PhantomData }
        }

        /// The device's configuration.
        pub(super) fn hw(self) -> &'a DevCfg {
            // SAFETY: written (initialised), and not rewritten during 'a:
            // a Dev is made only where that holds (module doc: every case
            // is a slot that Claimed::configure wrote).
            unsafe { &*self.slot.cfg.get().cast::<DevCfg>() }
        }
    }

    impl core::ops::Deref for Dev<'_> {
        type Target = Pl320Dev;

        fn deref(&self) -> &Pl320Dev {
            self.slot
        }
    }

    /// A FREE slot claimed for a new device (INIT), its configuration not
    /// written yet.
    pub(super) struct Claimed(&'static Pl320Dev);

    /// Claims a free slot for a device on interrupt `irq_num` (INIT).
    /// None when no slot is free, or when a device that is not FREE (being
    /// initialised, live, or being torn down) already uses that interrupt:
    /// attaching it again would take the interrupt away from that device.
    pub(super) fn claim(irq_num: c_int) -> Option<Claimed> {
        let cs = Critical::enter();
        let mut free = None;
        for s in SLOTS.iter() {
            let (state, irq) = (s.life.state.get(&cs), s.life.irq_num(&cs));
            if state != FREE && irq == irq_num {
                return None;
            }
            if state == FREE && free.is_none() {
                free = Some(s);
            }
        }
        let slot = free?;
        slot.life.state.set(&cs, INIT);
        slot.life.irq_num.set(&cs, irq_num as u32);
        Some(Claimed(slot))
    }

    impl Claimed {
        /// Writes the configuration; the slot becomes the caller's
        /// configured device (still INIT).
        pub(super) fn configure(self, cfg: DevCfg) -> Owned {
            // SAFETY: nothing else reads the configuration of this INIT
            // slot, which claim() gave to us alone: the handler serves
            // only LIVE and CLOSING slots, the slot's address has not been
            // handed out since it was last freed, and every Dev of its
            // previous device ended before it was freed (module doc).
            unsafe { self.0.cfg.get().cast::<DevCfg>().write(cfg) };
            Owned(self.0)
        }
    }

    /// A configured slot owned by the context that initialises it or
    /// tears it down, with no call of the handler serving it (INIT).
    pub(super) struct Owned(&'static Pl320Dev);

    impl Owned {
        pub(super) fn dev(&self) -> Dev<'_> {
            Dev::made(self.0)
        }

        /// Makes the device LIVE, then attaches and enables its
        /// interrupt: the handler may serve the device from its first call
        /// (an interrupt that is already pending, or enabled already, must
        /// not find it half-made and return with the line high). When the
        /// interrupt cannot be attached, the device is INIT again and
        /// still the caller's.
        #[inline(always)]
        pub(super) fn go_live(self) -> Result<*mut mbox_dev_s, Owned> {
            let slot = self.0;
            let irq_num = slot.life.with(|l, cs| {
                // Release: `if_live` reads LIVE without the critical
                // section, and must then see the configuration too.
                l.state.0.store(LIVE, Ordering::Release);
                l.irq_num(cs)
            });
            if port::mbox_os_irq_attach(irq_num, pl320_isr, slot) < 0 {
                slot.life.with(|l, cs| l.state.set(cs, INIT));
                return Err(self);
            }
            os::port::mbox_os_irq_enable(irq_num);
            Ok(slot.devp())
        }

        /// Frees the slot, once the caller has released what the device
        /// held. Nothing uses the device after this. No call of the
        /// handler runs on it: an `Owned` is a device that was never
        /// served (INIT) or one whose handler was detached and waited for
        /// ([`Closing::detach`]).
        pub(super) fn free(self) {
            self.0.life.with(|l, cs| {
                debug_assert_eq!(l.isr_active.get(cs), 0);
                l.state.set(cs, FREE);
            });
        }
    }

    /// A device being torn down (CLOSING), its handler maybe still
    /// attached and running.
    pub(super) struct Closing(&'static Pl320Dev);

    impl Closing {
        /// Detaches the interrupt, stops the handler from serving the
        /// device (INIT) and waits until no call of it runs: the device is
        /// then the caller's alone.
        pub(super) fn detach(self) -> Owned {
            let irq_num = self.0.life.with(|l, cs| l.irq_num(cs));
            os::port::mbox_os_irq_detach(irq_num);
            self.0.life.with(|l, cs| l.state.set(cs, INIT));
            wait_isr_idle(self.0);
            Owned(self.0)
        }
    }

    /// Begins the teardown of the LIVE device in `slot`: runs `check` on
    /// it under the critical section, and if that returns 0 the device is
    /// CLOSING and the caller's. -EINVAL when it is not LIVE; `check`'s
    /// error otherwise (nothing changes).
    pub(super) fn close(
        slot: &'static Pl320Dev,
        check: impl FnOnce(Dev<'_>, &Critical) -> c_int,
    ) -> Result<Closing, c_int> {
        let cs = Critical::enter();
        if slot.life.state.get(&cs) != LIVE {
            return Err(-EINVAL);
        }
        let r = check(Dev::made(slot), &cs);
        if r < 0 {
            return Err(r);
        }
        slot.life.state.set(&cs, CLOSING);
        Ok(Closing(slot))
    }

    /// Runs `f` on the device in `slot` if it is LIVE, for the device op
    /// (`getchan`), which the upper half calls, as every op, on a device
    /// that exists during the call (`Dev::new`). The state is read without
    /// the critical section: the check is there for a device torn down
    /// before the call, which the caller's order makes visible; one torn
    /// down during the call is the caller's race either way (whatever
    /// `f` returns ends with the device). Acquire, so that a LIVE read
    /// here also sees the configuration written before the device went
    /// live, whichever core made it (free on x86-64, one barrier on Arm).
    pub(super) fn if_live<R>(slot: &'static Pl320Dev, f: impl FnOnce(Dev<'_>) -> R) -> Option<R> {
        let live = slot.life.state.0.load(Ordering::Acquire) == LIVE;
        live.then(|| f(Dev::made(slot)))
    }

    /// Runs `f`, one call of the interrupt handler, on the device in
    /// `slot` if it is served: only a LIVE device (or one being torn down,
    /// until its interrupt is detached) is. The call is counted in
    /// `isr_active` meanwhile, so that the teardown can wait for it.
    pub(super) fn serve(slot: &'static Pl320Dev, f: impl FnOnce(Dev<'_>)) {
        let serving = slot.life.with(|l, cs| {
            let state = l.state.get(cs);
            let ok = state == LIVE || state == CLOSING;
            if ok {
                l.isr_active.set(cs, l.isr_active.get(cs) + 1);
            }
            ok
        });
        if !serving {
            return;
        }
        f(Dev::made(slot));
        slot.life.with(|l, cs| l.isr_active.set(cs, l.isr_active.get(cs) - 1));
    }

    /// Sleeps (one tick at a time, on a private wait object) until no call
    /// of the interrupt handler runs on `slot`. No new call starts (the
    /// handler was detached, or the slot is not served); one that had
    /// already started on another CPU is bounded by its client callbacks.
    /// Task context.
    fn wait_isr_idle(slot: &Pl320Dev) {
        let busy = || slot.life.with(|l, cs| l.isr_active.get(cs)) != 0;
        if !busy() {
            return;
        }
        // Initialised in place only when there is a wait; never posted, so
        // each wait is a one-tick sleep.
        let mut nap = WaitObj::uninit();
        nap.ready(|nap| {
            while busy() {
                match nap {
                    Ok(nap) => _ = nap.wait(1),
                    Err(_) => core::hint::spin_loop(),
                }
            }
        })
    }
}

/// The op arguments that point into the upper half's memory.
mod op_args {
    /// The buffer given to `recv` (or `setup`'s argument, NULL): None, or
    /// its MTU bytes.
    pub(super) struct RxBuf<'a>(pub(super) Option<&'a mut [u8]>);

    impl RxBuf<'_> {
        pub(super) fn is_null(&self) -> bool {
            self.0.is_none()
        }

        /// All of it (the MTU bytes); None when it is NULL.
        pub(super) fn whole(&mut self) -> Option<&mut [u8]> {
            self.0.as_deref_mut()
        }

        /// Its first `len` bytes; None when it is NULL or `len` is above
        /// the MTU.
        pub(super) fn first(&mut self, len: usize) -> Option<&mut [u8]> {
            self.0.as_deref_mut().and_then(|b| b.get_mut(..len))
        }
    }
}

/// Everything an op or the interrupt handler needs about a channel.
struct Ctx<'a> {
    dev: Dev<'a>,
    chan: &'a PlChan,
    /// Copied out once: the ops read it after every register access.
    cfg: ChanCfg,
    /// Copied out once too, for the same reason.
    regs: Pl320Regs,
}

impl<'a> Ctx<'a> {
    fn new(dev: Dev<'a>, chan: &'a PlChan) -> Ctx<'a> {
        Ctx { dev, chan, cfg: chan.cfg(), regs: dev.hw().regs }
    }

    /// The context of an op's channel: where the upper half's channel
    /// becomes the board channel and its device. None for a channel that
    /// was never initialised (no device recorded).
    ///
    /// The ops of a lower half are called with the channels initialised
    /// for one of its devices (the upper half's contract for the ops, and
    /// `mbox_chan_init()`'s: a lower half initialises only its own
    /// channels, with its own device, which outlives their use): for this
    /// driver, the `base` of a board channel that pl320_initialize()
    /// passed to `mbox_chan_init()` with a slot's device.
    fn of(chan: &'a CChan) -> Option<Ctx<'a>> {
        let dev = chan.dev.get();
        if dev.is_null() {
            return None;
        }
        // SAFETY: a board channel (above); `base` is the first field of
        // pl320_chan_s, so `chan` is also the pl320_chan_s, which PlChan
        // lays out with cells, valid as long as `chan`.
        let pl: &'a PlChan = unsafe { &*ptr::from_ref(chan).cast::<PlChan>() };
        // SAFETY: `dev`, set by mbox_chan_init() before any op of the
        // channel runs, is a slot's address (DevCfg comes first in it);
        // slots live forever and the configuration of a device does not
        // change while its channels are in use (above).
        let dev = unsafe { Dev::new(&*dev.cast::<Pl320Dev>()) };
        Some(Ctx::new(dev, pl))
    }

    fn is_tx(&self) -> bool {
        self.cfg.src == self.dev.hw().ipcmint
    }

    fn is_rx(&self) -> bool {
        self.cfg.dst == self.dev.hw().ipcmint
    }

    fn rd(&self, reg: usize) -> u32 {
        self.regs.mbox_read(self.cfg.mbox, reg)
    }

    fn wr(&self, reg: usize, v: u32) {
        self.regs.mbox_write(self.cfg.mbox, reg, v)
    }

    /// The mailbox is configured for this channel's sender.
    fn owned(&self) -> bool {
        self.rd(regs::SOURCE) == self.cfg.src_bit()
    }

    /// The mailbox's token slot (none in the compatible format). The
    /// mailbox number is below 32 (pl320_initialize() checks it); masked,
    /// so that the optimiser sees it in bounds of the framed format's
    /// table (an AND, no compare).
    fn rxtoken_slot(&self) -> Option<&AtomicU16> {
        self.dev.rxtoken.get(self.cfg.mbox % regs::MAX_MBOX)
    }

    /// The token is 16 bits on the wire (`wire::token`).
    fn set_rxtoken(&self, t: u32) {
        if let Some(slot) = self.rxtoken_slot() {
            slot.store(t as u16, Ordering::Relaxed);
        }
    }

    fn rxtoken(&self) -> u32 {
        self.rxtoken_slot().map_or(0, |slot| slot.load(Ordering::Relaxed) as u32)
    }
}

/// Claim (if free) and program mailbox `m` for a channel from the sender
/// bit `src_bit` to the receiver bit `dst_bit`: SOURCE, DSET and MSET as
/// DDI0306B describes, MODE 0. A claim is remembered in the device, so
/// that a failed initialisation and pl320_uninitialize() release it.
/// Returns 0 or -EBUSY when another sender owns the mailbox. Takes the
/// critical section (nested when the send op, which holds it, claims an
/// unconfigured mailbox). The channel's values come as scalars: a
/// reference to its configuration would keep the caller's whole context
/// in memory.
fn program_mailbox(dev: Dev<'_>, m: usize, src_bit: u32, dst_bit: u32) -> i32 {
    let r = &dev.hw().regs;
    let cs = &Critical::enter();
    let source = r.mbox_read(m, regs::SOURCE);
    if source == 0 {
        r.mbox_write(m, regs::SOURCE, src_bit);
        // The claim fails silently if the other core won the race.
        if r.mbox_read(m, regs::SOURCE) != src_bit {
            return -EBUSY;
        }
        let claimed = &dev.mutable.claimed;
        claimed.set(cs, claimed.get(cs) | 1 << m);
        r.mbox_write(m, regs::DSET, dst_bit);
        r.mbox_write(m, regs::MSET, src_bit | dst_bit);
        r.mbox_write(m, regs::MODE, 0);
        0
    } else if source == src_bit {
        // Configured already (by the other core): make sure our bits are.
        r.mbox_write(m, regs::DSET, dst_bit);
        r.mbox_write(m, regs::MSET, src_bit | dst_bit);
        0
    } else {
        -EBUSY
    }
}

// ---------------------------------------------------------------------------
// The ops
// ---------------------------------------------------------------------------

/// `arg` is the mailbox number. `dev` is only compared with the slots'
/// addresses, and the channel is looked up only on a LIVE device (NULL for
/// anything else, such as a device already torn down).
extern "C" fn pl320_getchan(dev: *mut mbox_dev_s, arg: *mut c_void) -> Option<&'static CChan> {
    slot_of(dev)
        .and_then(|slot| dev_ref::if_live(slot, |d| d.hw().chan_of_mbox(arg as usize).map(PlChan::base)))
        .flatten()
}

/// What an op returns for a pointer that is not a channel of this driver.
trait NotOurs {
    const NOT_OURS: Self;
}

impl NotOurs for c_int {
    const NOT_OURS: c_int = -EINVAL;
}

impl NotOurs for bool {
    const NOT_OURS: bool = false;
}

/// One op of `mbox_ops_s` on a channel, `A` its other arguments as the
/// upper half passes them. The ops table points at `op0`, `op1` or `op2`
/// instantiated with it: they turn the upper half's channel pointer into
/// the op's Ctx, so the ops themselves are safe code.
trait ChanOp<A> {
    type Ret: NotOurs;

    fn run(c: &Ctx<'_>, args: A) -> Self::Ret;
}

/// The ops that take the channel alone.
extern "C" fn op0<O: ChanOp<()>>(chan: Option<&CChan>) -> O::Ret {
    match chan.and_then(Ctx::of) {
        Some(c) => O::run(&c, ()),
        None => O::Ret::NOT_OURS,
    }
}

/// The ops that take one more pointer: `setup`'s argument (NULL) and
/// `recv`'s buffer.
unsafe extern "C" fn op1<R: NotOurs, O: for<'b> ChanOp<RxBuf<'b>, Ret = R>>(
    chan: Option<&CChan>,
    arg: *mut c_void,
) -> R {
    let Some(c) = chan.and_then(Ctx::of) else {
        return R::NOT_OURS;
    };
    let buf = if arg.is_null() {
        None
    } else {
        // SAFETY: `arg` is NULL (setup) or a buffer of at least the MTU
        // that only this op uses (recv).
        Some(unsafe { core::slice::from_raw_parts_mut(arg.cast::<u8>(), c.dev.hw().mtu()) })
    };
    O::run(&c, RxBuf(buf))
}

/// The ops that take a message (`send`, `acknowledge`).
unsafe extern "C" fn op2<O: ChanOp<(*const c_void, usize)>>(
    chan: Option<&CChan>,
    data: *const c_void,
    size: usize,
) -> O::Ret {
    match chan.and_then(Ctx::of) {
        Some(c) => O::run(&c, (data, size)),
        None => O::Ret::NOT_OURS,
    }
}

struct SetupOp;

impl ChanOp<RxBuf<'_>> for SetupOp {
    type Ret = c_int;

    fn run(c: &Ctx<'_>, _arg: RxBuf<'_>) -> c_int {
        if !c.cfg.ctrl {
            return 0;
        }
        program_mailbox(c.dev, c.cfg.mbox, c.cfg.src_bit(), c.cfg.dst_bit())
    }
}

struct ShutdownOp;

impl ChanOp<()> for ShutdownOp {
    type Ret = c_int;

    fn run(c: &Ctx<'_>, _: ()) -> c_int {
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
}

struct SendOp;

impl ChanOp<(*const c_void, usize)> for SendOp {
    type Ret = c_int;

    /// `data` holds `size` readable bytes (the upper half's contract).
    fn run(c: &Ctx<'_>, (data, size): (*const c_void, usize)) -> c_int {
        if !c.is_tx() {
            return -EINVAL;
        }
        if size > c.dev.hw().mtu() {
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
        let cs = Critical::enter();
        let source = c.rd(regs::SOURCE);
        if source == 0 {
            // Nobody configured the mailbox (a channel without `ctrl` whose
            // remote has not come up, or a released mailbox): claim it as the
            // TRM's sender does.
            let r = program_mailbox(c.dev, c.cfg.mbox, c.cfg.src_bit(), c.cfg.dst_bit());
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
                c.dev.count_held(&cs, STALE_ACK);
            }
            _ => return -EBUSY,
        }
        let bit = 1u32 << c.cfg.mbox;
        let masked = &c.dev.mutable.tx_masked;
        if masked.get(&cs) & bit != 0 {
            masked.set(&cs, masked.get(&cs) & !bit);
            // The handler masked our line to leave the last ACK to a poller:
            // this message's ACK may interrupt again.
            c.wr(regs::MSET, c.cfg.src_bit());
        }
        if COMPAT {
            // `msg` fits: size <= MTU = 4 * DATANUM (checked above).
            let n = c.dev.hw().datanum();
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
                for i in 0..n {
                    c.wr(regs::DR0 + 4 * i, wire::word(msg, i));
                }
                if c.rd(regs::SEND) != regs::SEND_ACK {
                    settled = true;
                    break;
                }
                c.wr(regs::SEND, regs::SEND_IDLE);
                c.dev.count_held(&cs, STALE_ACK);
            }
            if !settled {
                return -EBUSY;
            }
            c.wr(regs::SEND, regs::SEND_MSG);
            return 0;
        } else {
            for i in 0..size.div_ceil(4) {
                c.wr(regs::DR0 + 4 * (i + 1), wire::word(msg, i));
            }
            c.wr(regs::DR0, wire::header(size, c.chan.txtoken(&cs)));
        }
        // The destination bit may have been consumed (a lost ACK clears it).
        c.wr(regs::DSET, c.cfg.dst_bit());
        c.wr(regs::SEND, regs::SEND_MSG);
        0
    }
}

/// Rounds of "write the data registers, then find SEND still 0" a
/// compatible send makes before it gives up with -EBUSY (each failed round
/// is a late ACK landing during the writes).
const SETTLE_ROUNDS: usize = 3;

struct RecvOp;

impl ChanOp<RxBuf<'_>> for RecvOp {
    type Ret = c_int;

    fn run(c: &Ctx<'_>, mut buf: RxBuf<'_>) -> c_int {
        if !c.is_rx() || buf.is_null() {
            return -EINVAL;
        }
        if c.rd(regs::SEND) != regs::SEND_MSG {
            // Nothing pending any more: the sender withdrew it.
            c.dev.count(TORN_READ);
            return -EAGAIN;
        }
        if COMPAT {
            return recv_compat(c, buf);
        }
        let h1 = c.rd(regs::DR0);
        c.set_rxtoken(wire::token(h1));
        let len = match wire::decode(h1, c.dev.hw().mtu()) {
            Dr0::Message { len, .. } => len,
            Dr0::Ack { token } => {
                // Not a message but a late ACK word that overwrote the header
                // of the message being sent (see wire::ACK_MARK): that message
                // is lost, and its sender will see it time out. There is
                // nothing to deliver: hand the ACK word back (its token is
                // stale on the sending side, which clears it) so the line
                // drops, and report "nothing yet".
                let cs = Critical::enter();
                c.dev.count_held(&cs, TORN_READ);
                if c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DR0) == h1 {
                    ack(c, token);
                }
                return -EAGAIN;
            }
            Dr0::Bad { err, .. } => return -(err as c_int),
        };
        // len <= mtu (wire::decode).
        let Some(out) = buf.first(len) else {
            return -EMSGSIZE;
        };
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
            c.dev.count(TORN_READ);
            return -EAGAIN;
        }
        len as c_int
    }
}

/// `recv` in the compatible wire format: all DATANUM data registers, read
/// twice; the message is whole only if it is still pending and the same
/// after the first read (a sender that withdrew it and sent another one
/// meanwhile changed at least SEND or the data). Returns the MTU
/// (`4 * DATANUM`: the protocol carries no length) or -EAGAIN. The first
/// read goes straight into the buffer (as `wire::word` lays a word out),
/// which holds nothing for the upper half when this returns -EAGAIN.
fn recv_compat(c: &Ctx<'_>, mut buf: RxBuf<'_>) -> c_int {
    // The whole buffer: its MTU, 4 * DATANUM bytes (op1 makes it that
    // long), so one 4-byte chunk per data register.
    let Some(out) = buf.whole() else {
        return -EINVAL;
    };
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&c.rd(regs::DR0 + 4 * i).to_le_bytes());
    }
    let send = c.rd(regs::SEND);
    let mut same = true;
    for (i, chunk) in out.chunks_exact(4).enumerate() {
        same &= c.rd(regs::DR0 + 4 * i).to_le_bytes() == chunk;
    }
    if send != regs::SEND_MSG || !same {
        c.dev.count(TORN_READ);
        return -EAGAIN;
    }
    out.len() as c_int
}

/// ACK the message on the channel's mailbox: framed, DR0 = the ACK word
/// with `token`, then SEND = 2; compatible, SEND = 2 alone (DR0 is left as
/// the sender wrote it).
fn ack(c: &Ctx<'_>, token: u32) {
    if !COMPAT {
        c.wr(regs::DR0, wire::ack_word(token));
    }
    c.wr(regs::SEND, regs::SEND_ACK);
}

/// The reply data is ignored: the ACK carries only the message's token.
struct AcknowledgeOp;

impl ChanOp<(*const c_void, usize)> for AcknowledgeOp {
    type Ret = c_int;

    fn run(c: &Ctx<'_>, _: (*const c_void, usize)) -> c_int {
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
        ack(c, token);
        0
    }
}

struct TxFinishOp;

impl ChanOp<()> for TxFinishOp {
    type Ret = c_int;

    fn run(c: &Ctx<'_>, _: ()) -> c_int {
        if !c.is_tx() {
            return -EINVAL;
        }
        let cs = Critical::enter();
        if c.owned() {
            if c.rd(regs::SEND) == regs::SEND_MSG {
                // Withdrawn before its ACK (timeout or cancellation).
                c.dev.count_held(&cs, RETRACTED);
            }
            c.wr(regs::SEND, regs::SEND_IDLE);
        }
        0
    }
}

unsafe extern "C" fn pl320_setcallback(_chan: Option<&CChan>, _cb: mbox_callback_t, _arg: *mut c_void) -> c_int {
    // Nothing to program: the upper half keeps the callback, and an RX
    // message without one is still acknowledged (never a call through NULL).
    0
}

struct RxAvailableOp;

impl ChanOp<()> for RxAvailableOp {
    type Ret = bool;

    fn run(c: &Ctx<'_>, _: ()) -> bool {
        c.is_rx() && c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DSTATUS) & c.cfg.dst_bit() != 0
    }
}

struct TxReadyOp;

impl ChanOp<()> for TxReadyOp {
    type Ret = bool;

    fn run(c: &Ctx<'_>, _: ()) -> bool {
        c.is_tx() && c.rd(regs::SEND) == regs::SEND_IDLE && c.owned()
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
struct TxAckedOp;

impl ChanOp<()> for TxAckedOp {
    type Ret = bool;

    fn run(c: &Ctx<'_>, _: ()) -> bool {
        if !c.is_tx() {
            return false;
        }
        if COMPAT {
            return c.rd(regs::SEND) == regs::SEND_ACK;
        }
        let cs = Critical::enter();
        c.rd(regs::SEND) == regs::SEND_ACK && {
            let txtoken = c.chan.txtoken(&cs);
            take_ack(c, &cs, txtoken, |token| if token == txtoken { AckUse::Completed } else { AckUse::Refused })
                == AckUse::Completed
        }
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
/// same way. The caller holds the critical section, so `txtoken`, the
/// channel's token of the message last sent, stays what it is (a refused
/// completion changes nothing).
///
/// The compatible format's ACK carries no token: `complete` is offered
/// `txtoken` (the message in flight, if any), which the upper half refuses
/// when nothing is in flight.
fn take_ack(c: &Ctx<'_>, cs: &Critical, txtoken: u32, mut complete: impl FnMut(u32) -> AckUse) -> AckUse {
    if COMPAT {
        match complete(txtoken) {
            AckUse::Refused => {}
            done => return done,
        }
        c.wr(regs::SEND, regs::SEND_IDLE);
        c.dev.count_held(cs, STALE_ACK);
        return AckUse::Refused;
    }
    let mut dr0 = c.rd(regs::DR0);
    // Two rounds at most: if the remote's real ACK overwrote a stale one
    // while we looked at it, serve the real one instead of wiping it.
    for _ in 0..2 {
        if let Some(token) = wire::acked_token(dr0, txtoken) {
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
    c.dev.count_held(cs, STALE_ACK);
    AckUse::Refused
}

/// Serve an ACK on TX mailbox `c`: complete the message whose token it
/// echoes, or clear a stale one.
fn serve_tx(c: &Ctx<'_>) {
    let cs = Critical::enter();
    if c.rd(regs::SEND) != regs::SEND_ACK {
        c.dev.count_held(&cs, SPURIOUS);
        // A remote that (wrongly) sends to us on our own TX mailbox sets
        // our bit in DSTATUS, which holds our line up: clear it, or the
        // interrupt storms.
        if c.rd(regs::DSTATUS) & c.cfg.src_bit() != 0 {
            c.wr(regs::DCLEAR, c.cfg.src_bit());
        }
        return;
    }
    let used = take_ack(c, &cs, c.chan.txtoken(&cs), |token| {
        // On success txfinish (SEND = 0) ran, and maybe the next send.
        match c.chan.tx_done(token) {
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
        let masked = &c.dev.mutable.tx_masked;
        masked.set(&cs, masked.get(&cs) | 1 << c.cfg.mbox);
    }
}

/// Serve a message on RX mailbox `c`.
fn serve_rx(c: &Ctx<'_>) {
    if !(c.rd(regs::SEND) == regs::SEND_MSG && c.rd(regs::DSTATUS) & c.cfg.dst_bit() != 0) {
        c.dev.count(SPURIOUS);
        return;
    }
    // No lock is held (rx_data runs the client callbacks).
    let r = c.chan.rx_data();
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

/// The device's interrupt handler; `arg` is the device's slot, as
/// pl320_initialize() attached it (`port::mbox_os_irq_attach`).
pub(super) extern "C" fn pl320_isr(_irq: c_int, _context: *mut c_void, arg: Option<&'static Pl320Dev>) -> c_int {
    if let Some(slot) = arg {
        dev_ref::serve(slot, serve_device);
    }
    0
}

/// One pass of the interrupt handler over this core's line.
fn serve_device(dev: Dev<'_>) {
    let hw = dev.hw();
    let line = hw.ipcmint as usize;
    // One read, then every set bit is served (an unknown one is masked).
    let mis = hw.regs.read(regs::ipcmmis(line));
    if mis == 0 {
        dev.count(SPURIOUS);
        return;
    }
    let mut pending = mis;
    while pending != 0 {
        let m = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        let Some(chan) = hw.chan_of_mbox(m) else {
            // Not ours: mask it for this line so it cannot storm.
            let cs = Critical::enter();
            hw.regs.mbox_write(m, regs::MCLEAR, 1 << line);
            dev.count_held(&cs, UNKNOWN_MBOX);
            continue;
        };
        let c = Ctx::new(dev, chan);
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

/// Releases everything device `dev` holds: de-initialises the board's
/// channels that are still initialised for it (their blocked senders
/// return -ECANCELED; the channels a failed initialisation did not reach
/// are not), releases the mailboxes it claimed and frees the slot. Used by a failed initialisation and by pl320_uninitialize(),
/// which own the slot, with its handler not attached and not running;
/// task context. Nothing uses the device after this.
fn release(owned: dev_ref::Owned) {
    let dev = owned.dev();
    let (hw, devp) = (dev.hw(), dev.devp());
    for chan in hw.board {
        let r = chan.deinit_for(devp);
        // -EINVAL: de-initialised already by board code. The callers
        // ruled out -EPERM and -EDEADLK; pl320_shutdown() cannot fail.
        debug_assert!(r == 0 || r == -EINVAL);
    }
    let claimed = dev.mutable.claimed.get_owned(&owned);
    dev.mutable.claimed.set_owned(&owned, 0);
    for m in 0..regs::MAX_MBOX {
        if claimed & (1 << m) != 0 {
            // Releasing clears DEST, MODE, MASK and SEND too.
            hw.regs.mbox_write(m, regs::SOURCE, 0);
        }
    }
    // After this the slot may be claimed again, and we no longer touch it.
    owned.free();
}

/// Checks the board's description (`chans`, copied out of its array)
/// against the hardware. Returns the mailbox -> channel index table, or
/// None.
#[inline(always)]
fn validate(board: Board, ipcmint: u32, hw: &regs::CfgStat) -> Option<[u8; regs::MAX_MBOX]> {
    // Built with index + 1 (0: no channel yet), so that it starts as
    // zeros, and shifted to the table's encoding (NO_CHAN is 0 - 1) as it
    // is handed out: filling it with NO_CHAN would be a memset call, which
    // brings one more compiler_builtins function to the Cortex-M4F.
    let mut lookup = [0u8; regs::MAX_MBOX];
    for (i, chan) in board.iter().enumerate() {
        let cfg = chan.cfg();
        let m = cfg.mbox;
        if m >= regs::MAX_MBOX || m >= hw.mboxnum || lookup[m] != 0 {
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
        lookup[m] = i as u8 + 1;
    }
    Some(lookup.map(|e| e.wrapping_sub(1)))
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
pub unsafe extern "C" fn pl320_initialize(config: Option<&pl320_config_s>, base: usize) -> *mut mbox_dev_s {
    let Some(&pl320_config_s { chans, num_chans, ipcmint, irq_num }) = config else {
        return ptr::null_mut();
    };
    // An empty table would spend a device slot on a device with nothing
    // to do.
    if base == 0 || base & 3 != 0 || chans.is_null() || num_chans == 0 || num_chans > regs::MAX_MBOX {
        return ptr::null_mut();
    }
    // SAFETY: by the API contract the channel array holds `num_chans`
    // channels that stay valid while the device exists (and are used no
    // longer); PlChan lays pl320_chan_s out with cells for what others
    // change.
    let board: Board = unsafe { core::slice::from_raw_parts(chans.cast::<PlChan>(), num_chans) };
    if ipcmint < 0 || ipcmint as usize >= regs::MAX_INT || irq_num < 0 {
        return ptr::null_mut();
    }
    let ipcmint = ipcmint as u32;

    let hw = Pl320Regs::new(base);
    if !hw.is_pl320() {
        return ptr::null_mut();
    }
    let cfg = hw.cfgstat();
    // Framed needs DR0 for the header and at least one payload register.
    let min_datanum = if COMPAT { 1 } else { 2 };
    if cfg.datanum < min_datanum || cfg.datanum > MAX_DATA || ipcmint as usize >= cfg.intnum {
        return ptr::null_mut();
    }
    let mtu = if COMPAT { wire::compat::mtu(cfg.datanum) } else { 4 * (cfg.datanum - 1) };
    let Some(lookup) = validate(board, ipcmint, &cfg) else {
        return ptr::null_mut();
    };

    let Some(claimed) = dev_ref::claim(irq_num) else {
        return ptr::null_mut();
    };
    let owned = claimed.configure(DevCfg {
        base: mbox_dev_s {
            ops: Some(&OPS),
            // The board's channels (pl320_chan_s, not mbox_chan_s: a
            // pointer to the first channel's base, never indexed as an
            // array of mbox_chan_s).
            chans: board.as_ptr().cast_mut().cast(),
            num_chans: board.len(),
            mtu,
            // One mailbox holds one message: no FIFO.
            #[cfg(feature = "txfifo")]
            txdepth: 1,
        },
        regs: hw,
        ipcmint,
        board,
        datanum: cfg.datanum,
        lookup,
    });
    let dev = owned.dev();
    for t in &dev.rxtoken {
        t.store(0, Ordering::Relaxed);
    }
    let m = &dev.mutable;
    // `claimed` is 0 already: slots start so, and release() empties it
    // before it frees the slot.
    debug_assert_eq!(m.claimed.get_owned(&owned), 0);
    for c in &m.stats.0 {
        c.set_owned(&owned, 0);
    }
    m.tx_masked.set_owned(&owned, 0);

    for chan in board {
        let cc = chan.cfg();
        let (dir, buf, size) = if cc.src == ipcmint {
            (mbox_direction_e::MBOX_TX, cc.txbuf, cc.bufsize)
        } else if !cc.txbuf.is_null() && cc.bufsize >= mtu {
            (mbox_direction_e::MBOX_RX, cc.txbuf, cc.bufsize)
        } else {
            (mbox_direction_e::MBOX_RX, ptr::null_mut(), 0)
        };
        let r = chan.init(cc.mbox as c_int, &dev.hw().base, dir as c_int, buf, size);
        if r < 0 {
            // Our slot (INIT); the channels before this one are
            // initialised (this one is not, even if it records our
            // device); no handler attached; task context (contract).
            release(owned);
            return ptr::null_mut();
        }
    }

    // Every channel is initialised: the device goes live.
    match owned.go_live() {
        Ok(devp) => devp,
        Err(owned) => {
            // Our slot (INIT again; it was never handed out); every channel
            // is initialised; nothing attached.
            release(owned);
            ptr::null_mut()
        }
    }
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
// Safe: `dev` is only compared with the device slots' addresses, never
// dereferenced.
#[no_mangle]
pub extern "C" fn pl320_uninitialize(dev: *mut mbox_dev_s) -> c_int {
    if dev.is_null() {
        return -EINVAL;
    }
    if os::in_interrupt() {
        return -EPERM;
    }
    let Some(d) = slot_of(dev) else {
        return -EINVAL;
    };
    let me = os::current();
    let closing =
        dev_ref::close(
            d,
            |d, cs| {
                if d.hw().board.iter().any(|c| c.in_callback_of(dev, me, cs)) {
                    -EDEADLK
                } else {
                    0
                }
            },
        );
    let owned = match closing {
        Ok(closing) => closing.detach(),
        Err(e) => return e,
    };
    // CLOSING, set by this call; the handler is detached and no call of
    // it runs; task context (checked above).
    release(owned);
    0
}

/// The driver counters of a device returned by pl320_initialize() (None
/// for any other pointer).
#[cfg_attr(not(all(test, feature = "host-port")), allow(dead_code))]
pub(crate) fn pl320_stats(dev: *mut mbox_dev_s) -> Option<Pl320Stats> {
    slot_of(dev).map(|d| {
        d.with_mut(|m, cs| {
            let s = &m.stats.0;
            Pl320Stats {
                unknown_mbox: s[UNKNOWN_MBOX].get(cs),
                spurious: s[SPURIOUS].get(cs),
                stale_ack: s[STALE_ACK].get(cs),
                torn_read: s[TORN_READ].get(cs),
                retracted: s[RETRACTED].get(cs),
            }
        })
    })
}
