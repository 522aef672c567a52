#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building libmbox: libclang
# (bindgen needs it). Does nothing when it is present.
# Called by the Makefile before the first cargo build and by .ci/run.
# --with-valgrind: valgrind too; --with-cxx: a C++ compiler too (the fuzz
# targets' libFuzzer is C++); --with-arm: QEMU for Arm, the Arm bare-metal
# gcc and the Rust target thumbv7m-none-eabi (make test-arm, bench-arm).
set -euo pipefail
have_libclang() {
  ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* /usr/lib/*/libclang-*.so* >/dev/null 2>&1
}
need=()
have_libclang || need+=(libclang-dev)
if [ "${1:-}" = "--with-valgrind" ]; then
  command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
fi
if [ "${1:-}" = "--with-cxx" ]; then
  command -v c++ >/dev/null 2>&1 || need+=(g++)
fi
if [ "${1:-}" = "--with-arm" ]; then
  command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
  command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
  if ! rustup target list --installed 2>/dev/null | grep -qx thumbv7m-none-eabi; then
    echo "installing the Rust target thumbv7m-none-eabi (rustup)" >&2
    rustup target add thumbv7m-none-eabi >/dev/null
  fi
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
  echo "libmbox needs: ${need[*]} (apt-get install -y ${need[*]})" >&2; exit 1
fi
echo "installing ${need[*]} (apt-get)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
