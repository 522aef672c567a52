//! Build script: Rust bindings for the port contract (bindgen), the host
//! port (cc, only with the `host-port` feature), and Kconfig-derived
//! constants.

use std::env;
use std::path::PathBuf;

fn main() {
    // Kconfig's int values, checked before anything else. The ranges are
    // Kconfig's; an absent variable takes the Kconfig default, a bad one
    // stops the build (never a silent fallback).
    let default_timeout = kconfig_int("CONFIG_MBOX_DEFAULT_TIMEOUT", 1, 2_147_483_647, 100);
    let pl320_max_devices = kconfig_int("CONFIG_MBOX_PL320_MAX_DEVICES", 1, 32, 4);
    let host_port = env::var_os("CARGO_FEATURE_HOST_PORT").is_some();
    // The host port's tick rate (Kconfig HOST_TICK_HZ, as the Makefile
    // passes it to the C tests); only the host port reads it.
    let host_tick_hz = host_port.then(|| kconfig_int("CONFIG_HOST_TICK_HZ", 1, 1_000_000, 1000));

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=ffi/mbox_os.h");
    println!("cargo:rerun-if-env-changed=MBOX_PORT_CFLAGS");

    // Extra flags for the port header (a NuttX build passes the board's
    // include paths and defines here).
    let port_cflags: Vec<String> =
        env::var("MBOX_PORT_CFLAGS").map(|s| s.split_whitespace().map(String::from).collect()).unwrap_or_default();

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
    bindings.write_to_file(out.join("mbox_os_bindings.rs")).expect("cannot write bindings");

    // Kconfig values that are not features (see Kconfig and the Makefile).
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

    if let Some(hz) = host_tick_hz {
        for f in ["ffi/host/host_port.c", "ffi/host/pl320_model.c", "ffi/host/host.h", "ffi/host/pl320_model.h"] {
            println!("cargo:rerun-if-changed={f}");
        }
        let hz = hz.to_string();
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

/// The Kconfig int `name` from the environment: `default` when the
/// variable is absent, otherwise a decimal number in `min..=max` (the
/// symbol's `range` in Kconfig) without a leading zero (C would read it as
/// octal), as the Makefile checks it. Anything else (empty, not a number,
/// out of range) panics with a message naming the symbol and its range,
/// which fails the build.
fn kconfig_int(name: &str, min: u64, max: u64, default: u64) -> u64 {
    println!("cargo:rerun-if-env-changed={name}");
    let bad = |v: &dyn std::fmt::Debug| -> ! {
        panic!(
            "{name}={v:?} is not valid: it must be a decimal integer from {min} to {max} \
             (Kconfig: range {min} {max})"
        )
    };
    let raw = match env::var(name) {
        Ok(v) => v,
        Err(env::VarError::NotPresent) => return default,
        Err(env::VarError::NotUnicode(v)) => bad(&v),
    };
    let v = raw.trim();
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<u64>() {
        Ok(n) if digits && (v == "0" || !v.starts_with('0')) && (min..=max).contains(&n) => n,
        _ => bad(&raw),
    }
}
