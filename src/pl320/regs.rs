//! Register map of the ARM PL320 IPCM (ARM DDI0306B) and a thin accessor.
//!
//! Every mailbox `m` (0..31) has a block of 0x40 bytes at `m * 0x40`; the
//! global registers start at 0x800. Bits of SOURCE, DSET/DSTATUS,
//! MSET/MSTATUS are one per IPCM channel (interrupt line); bits of
//! `IPCMMIS(i)`/`IPCMRIS(i)` are one per mailbox.

// The map is complete (every register and field of the TRM) even where the
// driver does not use an entry yet: it doubles as documentation.
#![allow(dead_code)]

use crate::os::sys;

/// Distance between two mailbox register blocks.
pub(crate) const MBOX_STRIDE: usize = 0x40;

/// Per-mailbox registers, as offsets inside one mailbox block.
pub(crate) const SOURCE: usize = 0x00;
pub(crate) const DSET: usize = 0x04;
pub(crate) const DCLEAR: usize = 0x08;
pub(crate) const DSTATUS: usize = 0x0C;
pub(crate) const MODE: usize = 0x10;
pub(crate) const MSET: usize = 0x14;
pub(crate) const MCLEAR: usize = 0x18;
pub(crate) const MSTATUS: usize = 0x1C;
pub(crate) const SEND: usize = 0x20;
/// DR0; data register `d` is at `DR0 + 4 * d`.
pub(crate) const DR0: usize = 0x24;

/// Global registers.
pub(crate) const IPCMMIS_BASE: usize = 0x800;
pub(crate) const IPCMRIS_BASE: usize = 0x804;
pub(crate) const IPCM_INT_STRIDE: usize = 0x08;
pub(crate) const IPCMCFGSTAT: usize = 0x900;
pub(crate) const PERIPHID0: usize = 0xFE0;
pub(crate) const PERIPHID1: usize = 0xFE4;
pub(crate) const PERIPHID2: usize = 0xFE8;
pub(crate) const PERIPHID3: usize = 0xFEC;

/// MODE bits.
pub(crate) const MODE_AUTOACK: u32 = 1 << 0;
pub(crate) const MODE_AUTOLINK: u32 = 1 << 1;

/// SEND values.
pub(crate) const SEND_IDLE: u32 = 0b00;
pub(crate) const SEND_MSG: u32 = 0b01;
pub(crate) const SEND_ACK: u32 = 0b10;

/// IPCMCFGSTAT fields.
pub(crate) const CFG_MBOXNUM_SHIFT: u32 = 16;
pub(crate) const CFG_MBOXNUM_MASK: u32 = 0x3F;
pub(crate) const CFG_INTNUM_SHIFT: u32 = 8;
pub(crate) const CFG_INTNUM_MASK: u32 = 0x3F;
pub(crate) const CFG_DATANUM_MASK: u32 = 0x7;

/// Identification: part number 0x320, designer 0x41 (ARM).
pub(crate) const PART_NUMBER: u32 = 0x320;
pub(crate) const DESIGNER: u32 = 0x41;

/// Hardware limits.
pub(crate) const MAX_MBOX: usize = 32;
pub(crate) const MAX_INT: usize = 32;
pub(crate) const MAX_DATA: usize = 7;

/// Offset of a register of mailbox `m`.
#[inline]
pub(crate) const fn mbox_reg(m: usize, reg: usize) -> usize {
    m * MBOX_STRIDE + reg
}

/// Offset of data register `d` of mailbox `m`.
#[inline]
pub(crate) const fn dr(m: usize, d: usize) -> usize {
    m * MBOX_STRIDE + DR0 + 4 * d
}

/// Offset of `IPCMMIS(i)`: mailboxes whose interrupt line `i` is active
/// and unmasked.
#[inline]
pub(crate) const fn ipcmmis(i: usize) -> usize {
    IPCMMIS_BASE + IPCM_INT_STRIDE * i
}

/// Offset of `IPCMRIS(i)`: as `IPCMMIS(i)`, ignoring the masks.
#[inline]
pub(crate) const fn ipcmris(i: usize) -> usize {
    IPCMRIS_BASE + IPCM_INT_STRIDE * i
}

/// The decoded IPCMCFGSTAT register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CfgStat {
    /// Mailboxes implemented.
    pub(crate) mboxnum: usize,
    /// Interrupt lines (channels) implemented.
    pub(crate) intnum: usize,
    /// Data registers per mailbox.
    pub(crate) datanum: usize,
}

impl CfgStat {
    pub(crate) const fn decode(v: u32) -> CfgStat {
        CfgStat {
            mboxnum: ((v >> CFG_MBOXNUM_SHIFT) & CFG_MBOXNUM_MASK) as usize,
            intnum: ((v >> CFG_INTNUM_SHIFT) & CFG_INTNUM_MASK) as usize,
            datanum: (v & CFG_DATANUM_MASK) as usize,
        }
    }
}

/// Register accessor for one IPCM at `base`. All accesses go through the
/// port (`mbox_os_getreg32`/`mbox_os_putreg32`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pl320Regs {
    pub(crate) base: usize,
}

impl Pl320Regs {
    pub(crate) const fn new(base: usize) -> Pl320Regs {
        Pl320Regs { base }
    }

    #[inline]
    pub(crate) fn read(&self, off: usize) -> u32 {
        // `base` is the address board code gave pl320_initialize() and
        // `off` one of the offsets above: the access stays inside the
        // device's 4 KiB window; the port allows it from any context.
        // SAFETY: an aligned register inside the window (see above).
        unsafe { sys::mbox_os_getreg32(self.base.wrapping_add(off)) }
    }

    #[inline]
    pub(crate) fn write(&self, off: usize, value: u32) {
        // SAFETY: as in read(): an aligned register inside the window.
        unsafe { sys::mbox_os_putreg32(self.base.wrapping_add(off), value) }
    }

    /// Reads register `reg` of mailbox `m`.
    #[inline]
    pub(crate) fn mbox_read(&self, m: usize, reg: usize) -> u32 {
        self.read(mbox_reg(m, reg))
    }

    /// Writes register `reg` of mailbox `m`.
    #[inline]
    pub(crate) fn mbox_write(&self, m: usize, reg: usize, value: u32) {
        self.write(mbox_reg(m, reg), value)
    }

    /// The configuration of the implemented IPCM.
    pub(crate) fn cfgstat(&self) -> CfgStat {
        CfgStat::decode(self.read(IPCMCFGSTAT))
    }

    /// True when PeriphID0..2 give part number `PART_NUMBER` and designer
    /// `DESIGNER`: PeriphID0 holds the part's low byte, PeriphID1 its top
    /// 4 bits and the designer's low 4, PeriphID2[3:0] the designer's top
    /// 4. Compared a register at a time, in their byte layout.
    pub(crate) fn is_pl320(&self) -> bool {
        self.read(PERIPHID0) & 0xFF == PART_NUMBER & 0xFF
            && self.read(PERIPHID1) & 0xFF == (PART_NUMBER >> 8) | (DESIGNER & 0xF) << 4
            && self.read(PERIPHID2) & 0xF == DESIGNER >> 4
    }
}
