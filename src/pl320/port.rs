//! The port function the driver declares itself: `mbox_os_irq_attach()`
//! with the handler's argument typed, so that attaching is safe and the
//! handler gets its device as a reference.
//!
//! Kept out of driver.rs, which tools/headergen (cbindgen) parses.

use core::ffi::{c_int, c_void};

use super::driver::Pl320Dev;

unsafe extern "C" {
    /// `mbox_os_irq_attach()` (task context): the port calls `isr(irq,
    /// context, arg)` from then on. The types make every call sound: `isr`
    /// is a safe function and `arg` a reference to a `Sync` device slot
    /// that lives forever, which is exactly what `isr` takes. The same
    /// ABI as the port's declaration (`sys::mbox_os_irq_attach`): a
    /// non-NULL function pointer, and `Option<&T>` / `&T` are pointers.
    /// The device is opaque to the port, which only hands the pointer
    /// back (hence `improper_ctypes` allowed).
    #[allow(clashing_extern_declarations, improper_ctypes)]
    pub(super) safe fn mbox_os_irq_attach(
        irq: c_int,
        isr: extern "C" fn(irq: c_int, context: *mut c_void, arg: Option<&'static Pl320Dev>) -> c_int,
        arg: &'static Pl320Dev,
    ) -> c_int;
}
