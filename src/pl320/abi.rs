//! The C-visible types of `include/nuttx/mbox/pl320.h` (cbindgen input).
//!
//! Board code describes its PL320 mailboxes with an array of
//! `struct pl320_chan_s` and passes it to `pl320_initialize()` in a
//! `struct pl320_config_s`, as NuttX board code does.

#![allow(non_camel_case_types)]
#![deny(unsafe_code)]

use core::ffi::c_int;

use crate::shell::types::mbox_chan_s;

/// Mailboxes in one PL320 (the hardware maximum).
pub const PL320_MAX_MBOX_NUM: usize = 32;
/// Channels (interrupt lines / cores) in one PL320.
pub const PL320_MAX_CHAN_NUM: usize = 32;
/// Bytes in the data registers of one mailbox (DR0..DR6).
pub const PL320_MSG_SIZE: usize = 28;
/// Suggested number of queued messages per TX buffer (board code sizes
/// `txbuf` as `PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE`).
pub const PL320_MAX_DATA_BUF_SIZE: usize = 16;
/// Largest message payload with all seven data registers, framed wire
/// format (`CONFIG_MBOX_PL320_WIRE_FRAMED`): DR0 carries the length and the
/// message token, DR1..DR6 the payload.
#[cfg(feature = "pl320-framed")]
pub const PL320_MTU: usize = 24;
/// Largest message payload with all seven data registers, compatible wire
/// format (`CONFIG_MBOX_PL320_WIRE_COMPAT`, the default): DR0..DR6 carry
/// the payload, and every message is received as 28 bytes.
#[cfg(not(feature = "pl320-framed"))]
pub const PL320_MTU: usize = 28;

/// One PL320 mailbox used as a mailbox channel. The channel is TX on the
/// core whose `ipcmint` equals `src` and RX on the core whose `ipcmint`
/// equals `dst`. The fields, their types and their order are those of the
/// NuttX C driver's `pl320.h`.
#[repr(C)]
pub struct pl320_chan_s {
    /// The framework channel (must stay first). Board code may set
    /// `base.id` and `base.timeout`.
    pub base: mbox_chan_s,
    /// Mailbox number, 0..31; also the channel's lookup key.
    pub mbox: u8,
    /// Interrupt line (channel id) of the sending core, 0..31.
    pub src: u8,
    /// Interrupt line (channel id) of the receiving core, 0..31.
    pub dst: u8,
    /// True: this side programs SOURCE, DSET and MSET at initialisation.
    pub ctrl: bool,
    /// Queue memory of the TX side (required on the core that sends), or
    /// RX scratch (optional) on the receiving core.
    pub txbuf: *mut u8,
    pub bufsize: usize,
}

/// The board's PL320 description for one core.
#[repr(C)]
pub struct pl320_config_s {
    /// Mailboxes used by this core (TX and RX).
    pub chans: *mut pl320_chan_s,
    pub num_chans: usize,
    /// This core's PL320 interrupt line (channel id), 0..31.
    pub ipcmint: c_int,
    /// The OS interrupt number of that line.
    pub irq_num: c_int,
}
