//! The link-time configuration check.
//!
//! Every option that changes the layout of a public struct has a pair of
//! symbols here: `struct mbox_chan_s` has its statistics only when the
//! library is built with `CONFIG_MBOX_TRACE` (cargo feature `trace`), and
//! the poll period in its state only with `CONFIG_MBOX_TXDONE_METHODS`
//! (`txdone-methods`), the TX-done callback in each entry of its client
//! table only with `CONFIG_MBOX_TXDONE_CALLBACK` (`txdone-callback`), and
//! its state the external in-flight slots (and `struct mbox_dev_s` its
//! `txdepth`) only with `CONFIG_MBOX_TXFIFO` (`txfifo`), and its client
//! table the RX callbacks only with `CONFIG_MBOX_MULTI_RX` (`multi-rx`;
//! without it the callback's argument lies beside the callback), so C
//! code compiled with another setting than
//! `libmbox.a` would silently disagree with it on the layout of every
//! channel. The library therefore defines exactly one symbol of each pair,
//! and `mbox.h` makes every unit that includes it reference the one that
//! matches the unit's own setting: a mismatch is an undefined reference at
//! link time, and the symbol's name says which setting the unit was
//! compiled with. The symbols are never read.

/// Defined only by a library built with `CONFIG_MBOX_TRACE` (cargo feature
/// `trace`); referenced by every C unit compiled with it.
#[cfg(feature = "trace")]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_with_CONFIG_MBOX_TRACE: u8 = 0;

/// Defined only by a library built without `CONFIG_MBOX_TRACE`; referenced
/// by every C unit compiled without it.
#[cfg(not(feature = "trace"))]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_without_CONFIG_MBOX_TRACE: u8 = 0;

/// Defined only by a library built with `CONFIG_MBOX_TXDONE_METHODS`
/// (cargo feature `txdone-methods`); referenced by every C unit compiled
/// with it.
#[cfg(feature = "txdone-methods")]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_with_CONFIG_MBOX_TXDONE_METHODS: u8 = 0;

/// Defined only by a library built without `CONFIG_MBOX_TXDONE_METHODS`;
/// referenced by every C unit compiled without it.
#[cfg(not(feature = "txdone-methods"))]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_without_CONFIG_MBOX_TXDONE_METHODS: u8 = 0;

/// Defined only by a library built with `CONFIG_MBOX_TXDONE_CALLBACK`
/// (cargo feature `txdone-callback`); referenced by every C unit compiled
/// with it.
#[cfg(feature = "txdone-callback")]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_with_CONFIG_MBOX_TXDONE_CALLBACK: u8 = 0;

/// Defined only by a library built without `CONFIG_MBOX_TXDONE_CALLBACK`;
/// referenced by every C unit compiled without it.
#[cfg(not(feature = "txdone-callback"))]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_without_CONFIG_MBOX_TXDONE_CALLBACK: u8 = 0;

/// Defined only by a library built with `CONFIG_MBOX_TXFIFO` (cargo
/// feature `txfifo`); referenced by every C unit compiled with it.
#[cfg(feature = "txfifo")]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_with_CONFIG_MBOX_TXFIFO: u8 = 0;

/// Defined only by a library built without `CONFIG_MBOX_TXFIFO`; referenced
/// by every C unit compiled without it.
#[cfg(not(feature = "txfifo"))]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_without_CONFIG_MBOX_TXFIFO: u8 = 0;

/// Defined only by a library built with `CONFIG_MBOX_MULTI_RX` (cargo
/// feature `multi-rx`); referenced by every C unit compiled with it.
#[cfg(feature = "multi-rx")]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_with_CONFIG_MBOX_MULTI_RX: u8 = 0;

/// Defined only by a library built without `CONFIG_MBOX_MULTI_RX`;
/// referenced by every C unit compiled without it.
#[cfg(not(feature = "multi-rx"))]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mbox_config_without_CONFIG_MBOX_MULTI_RX: u8 = 0;
