//! Build script: Rust bindings for the port contract (bindgen), the host
//! port (cc, only with the `host-port` feature), and Kconfig-derived
//! constants.

use std::env;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=ffi/mbox_os.h");
    println!("cargo:rerun-if-env-changed=MBOX_PORT_CFLAGS");

    // Extra flags for the port header (a NuttX build passes the board's
    // include paths and defines here).
    let port_cflags: Vec<String> = env::var("MBOX_PORT_CFLAGS")
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();

    let bindings = bindgen::Builder::default()
        .header("ffi/mbox_os.h")
        .clang_args(&port_cflags)
        .use_core()
        .allowlist_function("mbox_os_.*")
        .allowlist_type("mbox_os_.*")
        .allowlist_var("MBOX_OS_.*")
        .derive_default(false)
        .layout_tests(false)
        .generate()
        .expect("bindgen failed on ffi/mbox_os.h (is libclang-dev installed?)");
    bindings
        .write_to_file(out.join("mbox_os_bindings.rs"))
        .expect("cannot write bindings");

    // Kconfig values that are not features (see Kconfig and the Makefile).
    let default_timeout: u64 = env::var("CONFIG_MBOX_DEFAULT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let pl320_max_devices: usize = env::var("CONFIG_MBOX_PL320_MAX_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| (1..=32).contains(&n))
        .unwrap_or(4);
    println!("cargo:rerun-if-env-changed=CONFIG_MBOX_DEFAULT_TIMEOUT");
    println!("cargo:rerun-if-env-changed=CONFIG_MBOX_PL320_MAX_DEVICES");
    std::fs::write(
        out.join("kconfig.rs"),
        format!(
            "/// CONFIG_MBOX_DEFAULT_TIMEOUT: ticks used when a channel's timeout is 0.\n\
             pub const DEFAULT_TIMEOUT_TICKS: u64 = {default_timeout};\n\
             /// CONFIG_MBOX_PL320_MAX_DEVICES: static PL320 device slots.\n\
             #[allow(dead_code)]\n\
             pub const PL320_MAX_DEVICES: usize = {pl320_max_devices};\n"
        ),
    )
    .unwrap();

    if env::var_os("CARGO_FEATURE_HOST_PORT").is_some() {
        for f in ["ffi/host/host_port.c", "ffi/host/pl320_model.c", "ffi/host/host.h", "ffi/host/pl320_model.h"] {
            println!("cargo:rerun-if-changed={f}");
        }
        // The host port's tick rate (Kconfig HOST_TICK_HZ, as the Makefile
        // passes it to the C tests).
        println!("cargo:rerun-if-env-changed=CONFIG_HOST_TICK_HZ");
        let hz = env::var("CONFIG_HOST_TICK_HZ").unwrap_or_else(|_| "1000".into());
        cc::Build::new()
            .define("CONFIG_HOST_TICK_HZ", hz.as_str())
            .file("ffi/host/host_port.c")
            .file("ffi/host/pl320_model.c")
            .include("ffi")
            .include("ffi/host")
            .flag("-pthread")
            .warnings(true)
            .compile("mbox_host");
        println!("cargo:rustc-link-lib=pthread");
    }
}
