#!/usr/bin/env bash
#
# tools/nuttx_run.sh: build libmbox into a NuttX tree and run its test app
# (ffi/nuttx/app/mboxtest) and benchmark app (ffi/nuttx/app/mboxbench) on an
# emulated board under QEMU, or on the NuttX simulator (BOARD=sim:nsh).
#
#   NUTTX_DIR=/path/to/nuttx APPS_DIR=/path/to/nuttx-apps \
#     [BOARD=mps2-an500:nsh] [JOBS=2] [TIMEOUT=300] tools/nuttx_run.sh
#   NUTTX_DIR=... APPS_DIR=... tools/nuttx_run.sh --unwire
#
# Wiring (all reversible with --unwire, which needs no BOARD; re-running
# changes nothing twice, and re-points a tree wired to another checkout):
#   - include/nuttx/mbox becomes a symlink to our include/nuttx/mbox (the
#     tree's own directory is kept as include/nuttx/mbox.libmbox-orig);
#   - drivers/Kconfig gets `source "<repo>/Kconfig"`, and the board's
#     scripts/Make.defs gets `include <repo>/ffi/nuttx/Make.defs`, each in
#     a block between marker comments;
#   - a drivers/mbox of the tree that defines its own `config MBOX` is
#     left out of drivers/Kconfig and drivers/Makefile (lines commented
#     out with a marker), so the symbols are not defined twice;
#   - the apps are copied to $APPS_DIR/testing/mboxtest and
#     $APPS_DIR/testing/mboxbench (copies, so that build products stay out
#     of this repository).
# Then the board is configured (only when it is not already), CONFIG_MBOX,
# CONFIG_MBOX_TRACE, CONFIG_MBOX_PL320, CONFIG_TESTING_MBOXTEST and
# CONFIG_TESTING_MBOXBENCH are enabled (and CONFIG_DEBUG_FULLOPT on the
# simulator), NuttX is built, and QEMU (or the simulator, ./nuttx) boots
# it; `mboxtest` and `mboxbench` are typed at the nsh prompt and the apps'
# output is printed. Exit status 0 only when mboxtest reports
# "N passed, 0 failed" with N > 0 and mboxbench timed every path.
#
# Environment: NUTTX_DIR, APPS_DIR (required); BOARD (default
# mps2-an500:nsh); JOBS (make -j, default 2); TIMEOUT (seconds QEMU may
# run, default 300); QEMU_CMD (overrides the QEMU command line chosen
# from the board; the simulator runs ./nuttx); NUTTX_MAKE_ARGS (extra make
# arguments, e.g. LIBMBOX_RUST_TARGET=...); MBOXBENCH_ARGS (arguments of
# mboxbench, default none: 100000 messages per path).

set -euo pipefail

LIBMBOX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BOARD=${BOARD:-mps2-an500:nsh}
JOBS=${JOBS:-2}
TIMEOUT=${TIMEOUT:-300}
MARK_BEGIN="# >>> libmbox (tools/nuttx_run.sh) >>>"
MARK_END="# <<< libmbox (tools/nuttx_run.sh) <<<"
MARK_LINE="# libmbox (tools/nuttx_run.sh): "

die() { echo "nuttx_run.sh: $*" >&2; exit 1; }

[ -n "${NUTTX_DIR:-}" ] || die "set NUTTX_DIR to a NuttX source tree"
[ -n "${APPS_DIR:-}" ] || die "set APPS_DIR to a nuttx-apps source tree"
NUTTX_DIR=$(cd "$NUTTX_DIR" && pwd)
APPS_DIR=$(cd "$APPS_DIR" && pwd)
[ -f "$NUTTX_DIR/tools/configure.sh" ] || die "$NUTTX_DIR is not a NuttX tree"
[ -f "$APPS_DIR/Application.mk" ] || die "$APPS_DIR is not a nuttx-apps tree"

BOARD_NAME=${BOARD%%:*}
BOARD_MAKEDEFS=$(find "$NUTTX_DIR/boards" -path "*/$BOARD_NAME/scripts/Make.defs" | head -n 1)
[ -n "$BOARD_MAKEDEFS" ] || die "no boards/*/*/$BOARD_NAME/scripts/Make.defs in $NUTTX_DIR"

HDR="$NUTTX_DIR/include/nuttx/mbox"
HDR_ORIG="$NUTTX_DIR/include/nuttx/mbox.libmbox-orig"
APPS=(mboxtest mboxbench)

# Remove the block between the markers from a file.
unappend() {
  if grep -qF "$MARK_BEGIN" "$1"; then
    sed -i "\\|^$MARK_BEGIN\$|,\\|^$MARK_END\$|d" "$1"
  fi
}

# Append a block between markers to a file, unless it is there as it is;
# a block with other lines (a tree wired to another checkout) is replaced.
append() {
  local file=$1 block
  shift
  block=$(echo "$MARK_BEGIN"; printf '%s\n' "$@"; echo "$MARK_END")
  if grep -qF "$MARK_BEGIN" "$file"; then
    [ "$(sed -n "\\|^$MARK_BEGIN\$|,\\|^$MARK_END\$|p" "$file")" = "$block" ] && return 0
    unappend "$file"
  fi
  printf '%s\n' "$block" >> "$file"
}

# config_wants: shared with the other NuttX script.
# shellcheck source=tools/nuttx_common.sh
. "$LIBMBOX_DIR/tools/nuttx_common.sh"

# The tree's own mailbox driver, if it defines config MBOX.
tree_has_mbox() {
  [ -f "$NUTTX_DIR/drivers/mbox/Kconfig" ] &&
    grep -q '^[[:space:]]*\(menu\)\?config[[:space:]]\+MBOX[[:space:]]*$' "$NUTTX_DIR/drivers/mbox/Kconfig"
}

unwire() {
  if [ -L "$HDR" ]; then
    rm "$HDR"
    if [ -d "$HDR_ORIG" ]; then mv "$HDR_ORIG" "$HDR"; fi
  fi
  unappend "$NUTTX_DIR/drivers/Kconfig"
  # Every board's Make.defs that was wired, not only BOARD's.
  local defs
  grep -rlF --include=Make.defs "$MARK_BEGIN" "$NUTTX_DIR/boards" | while read -r defs; do
    unappend "$defs"
  done
  sed -i "s|^$MARK_LINE||" "$NUTTX_DIR/drivers/Kconfig" "$NUTTX_DIR/drivers/Makefile"
  local app
  for app in "${APPS[@]}"; do
    if [ -f "$APPS_DIR/testing/$app/.libmbox" ]; then rm -rf "$APPS_DIR/testing/$app"; fi
  done
  rm -f "$APPS_DIR/Kconfig" "$APPS_DIR/testing/Kconfig"   # generated
}

wire() {
  if [ ! -L "$HDR" ]; then
    if [ -e "$HDR" ]; then mv "$HDR" "$HDR_ORIG"; fi
    ln -s "$LIBMBOX_DIR/include/nuttx/mbox" "$HDR"
  elif [ "$(readlink "$HDR")" != "$LIBMBOX_DIR/include/nuttx/mbox" ]; then
    ln -sfn "$LIBMBOX_DIR/include/nuttx/mbox" "$HDR"   # wired to another checkout
  fi
  append "$NUTTX_DIR/drivers/Kconfig" "source \"$LIBMBOX_DIR/Kconfig\""
  append "$BOARD_MAKEDEFS" "LIBMBOX_DIR = $LIBMBOX_DIR" \
    "include \$(LIBMBOX_DIR)/ffi/nuttx/Make.defs"
  if tree_has_mbox; then
    sed -i "s|^\\([[:space:]]*source[[:space:]]*\"drivers/mbox/Kconfig\"\\)|$MARK_LINE\\1|" \
      "$NUTTX_DIR/drivers/Kconfig"
    sed -i "s|^\\([[:space:]]*include[[:space:]]*mbox/Make.defs\\)|$MARK_LINE\\1|" \
      "$NUTTX_DIR/drivers/Makefile"
  fi
  local app dst
  for app in "${APPS[@]}"; do
    dst="$APPS_DIR/testing/$app"
    if [ -e "$dst" ] && [ ! -f "$dst/.libmbox" ]; then
      die "$dst exists and is not ours"
    fi
    mkdir -p "$dst"
    cp "$LIBMBOX_DIR/ffi/nuttx/app/$app"/* "$dst/"
    : > "$dst/.libmbox"
  done
  rm -f "$APPS_DIR/Kconfig" "$APPS_DIR/testing/Kconfig"   # regenerated
}

if [ "${1:-}" = "--unwire" ]; then
  unwire
  echo "nuttx_run.sh: libmbox unwired from $NUTTX_DIR and $APPS_DIR"
  exit 0
elif [ $# -gt 0 ]; then
  die "usage: NUTTX_DIR=... APPS_DIR=... [BOARD=...] $0 [--unwire]"
fi

wire

cd "$NUTTX_DIR"

# Configure the board unless the tree already is, for this board.
if [ ! -f .config ] || [ "$(cat .libmbox-board 2>/dev/null)" != "$BOARD" ]; then
  if [ -f .config ]; then make distclean > /dev/null; fi
  # configure.sh takes the apps directory relative to the NuttX tree.
  ./tools/configure.sh -l -a "$(realpath --relative-to="$NUTTX_DIR" "$APPS_DIR")" "$BOARD"
  echo "$BOARD" > .libmbox-board
fi

# mboxtest tests TX-done callbacks and mbox_send_poll() too: its Kconfig
# selects their options, enabled here as well so that a tree configured
# before they existed gets them without a fresh configure.
tweaks=(--enable MBOX --enable MBOX_TRACE --enable MBOX_PL320
        --enable MBOX_TXDONE_METHODS --enable MBOX_TXDONE_CALLBACK
        --enable TESTING_MBOXTEST --enable TESTING_MBOXBENCH
        --disable DEBUG_SCHED_INFO)

# The simulator's defconfigs build without optimisation (DEBUG_SYMBOLS)
# and, sim:nsh, with gcov instrumentation and -fno-inline on every C file
# (COVERAGE_ALL); the benchmark wants the code of a product build.
if [ "$BOARD_NAME" = "sim" ]; then
  tweaks+=(--disable DEBUG_NOOPT --disable DEBUG_CUSTOMOPT --enable DEBUG_FULLOPT
           --disable COVERAGE_ALL --disable COVERAGE_TOOLCHAIN --disable COVERAGE_MINI
           --enable COVERAGE_NONE --disable SYSTEM_GCOV)
fi

# NuttX's libc takes <math.h> from the toolchain unless CONFIG_LIBM; a
# bare arm-none-eabi-gcc without newlib has none, so use NuttX's libm.
CROSS_CC=$(sed -n 's/^CONFIG_ARCH="\(.*\)"/\1/p' .config)
if [ "$CROSS_CC" = "arm" ] &&
   ! echo '#include <math.h>' | arm-none-eabi-gcc -E -x c - > /dev/null 2>&1; then
  tweaks+=(--enable LIBM --disable LIBM_TOOLCHAIN)
fi
if config_wants "${tweaks[@]}"; then
  kconfig-tweak --file .config "${tweaks[@]}"
  make olddefconfig > /dev/null
fi

for sym in MBOX MBOX_TRACE MBOX_PL320 MBOX_TXDONE_METHODS MBOX_TXDONE_CALLBACK TESTING_MBOXTEST TESTING_MBOXBENCH; do
  grep -q "^CONFIG_$sym=y" .config || die "CONFIG_$sym is not enabled after olddefconfig (dependencies?)"
done

echo "nuttx_run.sh: building $BOARD in $NUTTX_DIR (log: $NUTTX_DIR/libmbox-build.log)"
# shellcheck disable=SC2086 # NUTTX_MAKE_ARGS is a list of words
if ! make -j"$JOBS" ${NUTTX_MAKE_ARGS:-} > libmbox-build.log 2>&1; then
  tr '\r' '\n' < libmbox-build.log | grep -v '^\s*$' | tail -n 30
  die "build failed"
fi
grep -a "CARGO: libmbox" libmbox-build.log | tr '\r\033' '\n\n' | grep "CARGO: libmbox" | head -n 1 || true

# The console: Enter is CR on a QEMU serial line, LF on the simulator's
# stdin; QEMU quits on Ctrl-A x, the simulator on nsh's poweroff.
ENTER=$'\r'
QUIT=$'\001x'
if [ -z "${QEMU_CMD:-}" ]; then
  case "$BOARD_NAME" in
    mps2-an*|mps3-an*) QEMU_CMD="qemu-system-arm -M $BOARD_NAME -nographic -kernel nuttx" ;;
    qemu-armv7a)       QEMU_CMD="qemu-system-arm -M virt -cpu cortex-a7 -nographic -kernel nuttx" ;;
    sim)               QEMU_CMD="./nuttx" ;;
    *) die "no QEMU command known for $BOARD_NAME; set QEMU_CMD" ;;
  esac
fi
if [ "$BOARD_NAME" = "sim" ]; then
  ENTER=$'\n'
  QUIT="poweroff"$'\n'
fi

LOG="$NUTTX_DIR/libmbox-run.log"
: > "$LOG"
echo "nuttx_run.sh: $QEMU_CMD (log: $LOG)"

# Wait (at most TIMEOUT seconds) until the log has a line matching $1.
await() {
  local i
  for ((i = 0; i < TIMEOUT; i++)); do
    grep -aq "$1" "$LOG" && return 0
    sleep 1
  done
}

# Type mboxtest at the first prompt, wait for its result line, then
# mboxbench and its last line, then quit. TIMEOUT bounds the whole run.
feed() {
  await 'nsh>'
  printf 'mboxtest%s' "$ENTER"
  await '[0-9]\+ passed, [0-9]\+ failed'
  sleep 1
  printf 'mboxbench %s%s' "${MBOXBENCH_ARGS:-}" "$ENTER"
  await '^mboxbench: \(done\|FAILED\)'
  sleep 1
  printf '%s' "$QUIT"
}
# shellcheck disable=SC2086 # QEMU_CMD is a command line
feed | timeout "$TIMEOUT" $QEMU_CMD > "$LOG" 2>&1 || true

tr -d '\r' < "$LOG" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
  sed -n -e '/^mboxtest:/,/passed, [0-9]* failed/p' -e '/^mboxbench:/,/^mboxbench: \(done\|FAILED\)/p'

result=$(tr -d '\r' < "$LOG" | grep -ao '[0-9]\+ passed, [0-9]\+ failed' | tail -n 1 || true)
[ -n "$result" ] || die "no result line from mboxtest (see $LOG)"
passed=${result%% passed*}
failed=${result#*, }
failed=${failed%% failed}
grep -aq '^mboxbench: done' "$LOG" || die "mboxbench did not finish (see $LOG)"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ] || exit 1
