//! The ARM PL320 IPCM lower half (`CONFIG_MBOX_PL320`).
//!
//! - [`abi`]: the C-visible board description (`pl320_chan_s`,
//!   `pl320_config_s`), from which `include/nuttx/mbox/pl320.h` is
//!   generated;
//! - `regs`: the register map of DDI0306B;
//! - `port`: the port's interrupt attach, declared with typed arguments;
//! - [`driver`]: `pl320_initialize()`, the ops and the interrupt handler
//!   (wire format and MTU are documented there);
//! - `wire`: the DR0 words (message header, ACK word) as pure encode and
//!   decode functions, public so that the fuzz targets (`fuzz/`) reach them.

pub mod abi;
pub mod driver;
mod port;
mod regs;
#[doc(hidden)]
pub mod wire;

// Declared here, not in driver.rs: tools/headergen (cbindgen) parses
// driver.rs and would follow the module into the header.
#[cfg(all(test, feature = "host-port"))]
mod tests;
