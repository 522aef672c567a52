//! The ARM PL320 IPCM lower half (`CONFIG_MBOX_PL320`).

pub mod abi;
