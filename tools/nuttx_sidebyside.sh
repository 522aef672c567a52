#!/usr/bin/env bash
#
# tools/nuttx_sidebyside.sh: libmbox and the NuttX C driver, side by side on
# the NuttX simulator (sim:nsh), timed by the same benchmark app
# (ffi/nuttx/app/mboxbench, which uses only the API both share).
#
#   NUTTX_DIR=/path/to/nuttx APPS_DIR=/path/to/nuttx-apps \
#   [C_NUTTX_DIR=/path/to/nuttx-with-c-driver C_APPS_DIR=/path/to/apps2] \
#   [RUNS=7] [NMSG=100000] [JOBS=2] [STRACE=1] tools/nuttx_sidebyside.sh
#
# 1. libmbox: tools/nuttx_run.sh with BOARD=sim:nsh wires libmbox into
#    NUTTX_DIR/APPS_DIR (a drivers/mbox of the tree that defines its own
#    `config MBOX`, i.e. the C driver, is left out of drivers/Kconfig and
#    drivers/Makefile), builds the simulator with CONFIG_DEBUG_FULLOPT,
#    without gcov, with CONFIG_MBOX, CONFIG_MBOX_TRACE, CONFIG_MBOX_PL320,
#    the test app and the benchmark app, runs both and prints mboxtest's
#    "N passed, M failed" and mboxbench's table. Then (API_ONLY=1, the
#    default) it builds that tree again with the C driver's API only (every
#    libmbox extension off, no mboxtest, which selects two of them): what
#    the comparison below measures.
# 2. The C driver (only when C_NUTTX_DIR and C_APPS_DIR are set): a second
#    pair of trees whose NuttX has the C driver in drivers/mbox, left as it
#    is; the benchmark app is copied into C_APPS_DIR/testing/mboxbench and
#    the simulator is built with the same options (CONFIG_MBOX,
#    CONFIG_MBOX_TRACE, CONFIG_MBOX_PL320, CONFIG_DEBUG_FULLOPT, no gcov).
# 3. RUNS runs of `mboxbench NMSG` in each simulator, alternating (C
#    driver, libmbox, C driver, ...), then the median ns per message of
#    each path and the ratio libmbox / C driver.
# 4. With STRACE=1 (and strace installed): the host rt_sigprocmask calls
#    per message of each path (a NuttX critical section in the simulator is
#    one pair of them): strace -c of one run with 1000 and one with 11000
#    messages of that path, difference divided by 10000.
#
# Each tree is configured only when it is not already (for sim:nsh) and
# built incrementally, so a second call only runs the benchmark again.
# Undo: tools/nuttx_run.sh --unwire for NUTTX_DIR/APPS_DIR, and remove
# C_APPS_DIR/testing/mboxbench (the C driver's tree itself is not changed).
# The make build only: the CMake build of a tree with the C driver would
# still add drivers/mbox.
# Exit status 0 when mboxtest passed and every run timed every path.
# Environment: TEST_TIMEOUT (seconds for the mboxtest/mboxbench boot of
# step 1, default 180), TIMEOUT (seconds for each benchmark boot, default
# 600).

set -euo pipefail

LIBMBOX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-7}
NMSG=${NMSG:-100000}
JOBS=${JOBS:-2}
TIMEOUT=${TIMEOUT:-600}
BOARD=sim:nsh
PATHS=(send queued rx)

die() { echo "nuttx_sidebyside.sh: $*" >&2; exit 1; }

[ -n "${NUTTX_DIR:-}" ] || die "set NUTTX_DIR to a NuttX source tree"
[ -n "${APPS_DIR:-}" ] || die "set APPS_DIR to a nuttx-apps source tree"
NUTTX_DIR=$(cd "$NUTTX_DIR" && pwd)
APPS_DIR=$(cd "$APPS_DIR" && pwd)
SIDE=0
if [ -n "${C_NUTTX_DIR:-}" ] || [ -n "${C_APPS_DIR:-}" ]; then
  [ -n "${C_NUTTX_DIR:-}" ] && [ -n "${C_APPS_DIR:-}" ] ||
    die "set both C_NUTTX_DIR and C_APPS_DIR (the trees with the C driver)"
  C_NUTTX_DIR=$(cd "$C_NUTTX_DIR" && pwd)
  C_APPS_DIR=$(cd "$C_APPS_DIR" && pwd)
  [ "$C_NUTTX_DIR" != "$NUTTX_DIR" ] || die "C_NUTTX_DIR must be a second tree"
  [ "$C_APPS_DIR" != "$APPS_DIR" ] || die "C_APPS_DIR must be a second tree"
  SIDE=1
fi

echo "nuttx_sidebyside.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. libmbox: wire, build, mboxtest and one mboxbench run (bounded by
# TEST_TIMEOUT seconds). A failed or hung mboxtest is reported and the
# comparison still runs (the exit status is then 1).
status=0
NUTTX_DIR=$NUTTX_DIR APPS_DIR=$APPS_DIR BOARD=$BOARD JOBS=$JOBS TIMEOUT=${TEST_TIMEOUT:-180} \
  MBOXBENCH_ARGS=$NMSG "$LIBMBOX_DIR/tools/nuttx_run.sh" || {
  status=1
  echo "nuttx_sidebyside.sh: mboxtest/mboxbench on the libmbox simulator failed (see $NUTTX_DIR/libmbox-run.log)"
}
[ -x "$NUTTX_DIR/nuttx" ] || die "no $NUTTX_DIR/nuttx"

[ "$SIDE" = 1 ] || exit "$status"

# config_wants: shared with the other NuttX script.
# shellcheck source=tools/nuttx_common.sh
. "$LIBMBOX_DIR/tools/nuttx_common.sh"

# 1b. The benchmark measures what a board switching from the C driver
# builds: libmbox with the C driver's API only (every extension off, the
# Kconfig defaults). mboxtest selects two extensions it tests, so it is
# left out of this build; tools/nuttx_run.sh turns it on again next time.
# API_ONLY=0 keeps the build of step 1 (the extensions mboxtest selects).
if [ "${API_ONLY:-1}" = 1 ]; then
  (
    cd "$NUTTX_DIR"
    tweaks=(--disable TESTING_MBOXTEST --disable MBOX_TXDONE_METHODS
            --disable MBOX_TXDONE_CALLBACK --disable MBOX_RR --disable MBOX_TXFIFO
            --disable MBOX_MULTI_RX)
    if config_wants "${tweaks[@]}"; then
      kconfig-tweak --file .config "${tweaks[@]}"
      make olddefconfig > /dev/null
    fi
    for sym in TESTING_MBOXTEST MBOX_TXDONE_METHODS MBOX_TXDONE_CALLBACK MBOX_RR MBOX_TXFIFO MBOX_MULTI_RX; do
      ! grep -q "^CONFIG_$sym=y" .config || die "CONFIG_$sym is still enabled in $NUTTX_DIR"
    done
    echo "nuttx_sidebyside.sh: building $BOARD with libmbox, the C driver's API only, in $NUTTX_DIR (log: $NUTTX_DIR/libmbox-build.log)"
    if ! make -j"$JOBS" > libmbox-build.log 2>&1; then
      tr '\r' '\n' < libmbox-build.log | grep -v '^\s*$' | tail -n 30
      die "build failed"
    fi
  )
fi

# 2. The C driver's tree.
grep -q '^[[:space:]]*menuconfig[[:space:]]\+MBOX[[:space:]]*$' "$C_NUTTX_DIR/drivers/mbox/Kconfig" 2>/dev/null ||
  die "$C_NUTTX_DIR has no mailbox driver in drivers/mbox"
[ ! -L "$C_NUTTX_DIR/include/nuttx/mbox" ] ||
  die "$C_NUTTX_DIR is wired to libmbox (tools/nuttx_run.sh --unwire it first)"
dst="$C_APPS_DIR/testing/mboxbench"
if [ -e "$dst" ] && [ ! -f "$dst/.libmbox" ]; then
  die "$dst exists and is not ours"
fi
mkdir -p "$dst"
cp "$LIBMBOX_DIR"/ffi/nuttx/app/mboxbench/* "$dst/"
: > "$dst/.libmbox"

(
  cd "$C_NUTTX_DIR"
  if [ ! -f .config ] || [ "$(cat .libmbox-board 2>/dev/null)" != "$BOARD" ]; then
    if [ -f .config ]; then make distclean > /dev/null; fi
    rm -f "$C_APPS_DIR/Kconfig" "$C_APPS_DIR/testing/Kconfig"   # regenerated
    ./tools/configure.sh -l -a "$(realpath --relative-to="$C_NUTTX_DIR" "$C_APPS_DIR")" "$BOARD"
    echo "$BOARD" > .libmbox-board
  fi
  # The same options as tools/nuttx_run.sh gives the libmbox tree.
  tweaks=(--enable MBOX --enable MBOX_TRACE --enable MBOX_PL320
          --enable TESTING_MBOXBENCH --disable DEBUG_SCHED_INFO
          --disable DEBUG_NOOPT --disable DEBUG_CUSTOMOPT --enable DEBUG_FULLOPT
          --disable COVERAGE_ALL --disable COVERAGE_TOOLCHAIN --disable COVERAGE_MINI
          --enable COVERAGE_NONE --disable SYSTEM_GCOV)
  if config_wants "${tweaks[@]}"; then
    kconfig-tweak --file .config "${tweaks[@]}"
    make olddefconfig > /dev/null
  fi
  for sym in MBOX MBOX_TRACE MBOX_PL320 TESTING_MBOXBENCH DEBUG_FULLOPT; do
    grep -q "^CONFIG_$sym=y" .config || die "CONFIG_$sym is not enabled in $C_NUTTX_DIR"
  done
  echo "nuttx_sidebyside.sh: building $BOARD with the C driver in $C_NUTTX_DIR (log: $C_NUTTX_DIR/libmbox-build.log)"
  if ! make -j"$JOBS" > libmbox-build.log 2>&1; then
    tr '\r' '\n' < libmbox-build.log | grep -v '^\s*$' | tail -n 30
    die "build failed"
  fi
)

# 3. Alternating runs. run_bench DIR ARGS...: boot the simulator in DIR,
# type `mboxbench ARGS`, wait for its last line, power off; the output
# goes to stdout.
run_bench() {
  local dir=$1 log i
  shift
  log="$dir/libmbox-bench.log"
  : > "$log"
  {
    for ((i = 0; i < 600; i++)); do grep -aq 'nsh>' "$log" && break; sleep 0.1; done
    printf 'mboxbench %s\n' "$*"
    for ((i = 0; i < TIMEOUT * 10; i++)); do
      grep -aq '^mboxbench: \(done\|FAILED\)' "$log" && break
      sleep 0.1
    done
    printf 'poweroff\n'
  } | (cd "$dir" && timeout "$TIMEOUT" ${BENCH_WRAPPER:-} ./nuttx > "$log" 2>&1) || true
  tr -d '\r' < "$log"
}

# The ns per message of one path in a mboxbench output on stdin: over all
# messages ($2 = all) or in the fastest chunk ($2 = best).
ns_of() {
  if [ "$2" = all ]; then
    sed -n "s/^$1 .* \\([0-9][0-9]*\\) ns per message.*/\\1/p" | head -n 1
  else
    sed -n "s/^$1 .* best chunk *\\([0-9][0-9]*\\) .*/\\1/p" | head -n 1
  fi
}

median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

declare -A RES BEST
for ((r = 1; r <= RUNS; r++)); do
  for impl in c lib; do
    if [ "$impl" = c ]; then dir=$C_NUTTX_DIR; else dir=$NUTTX_DIR; fi
    out=$(run_bench "$dir" "$NMSG")
    grep -q '^mboxbench: done' <<< "$out" || { echo "$out" | tail -n 20; die "mboxbench failed in $dir (run $r)"; }
    line="run $r $impl:"
    for p in "${PATHS[@]}"; do
      v=$(ns_of "$p" all <<< "$out")
      b=$(ns_of "$p" best <<< "$out")
      [ -n "$v" ] && [ -n "$b" ] || die "no '$p' line in run $r of $dir"
      RES[$impl,$p]+="$v "
      BEST[$impl,$p]+="$b "
      line+=" $p $v/$b"
    done
    echo "$line"
  done
done

med() { tr ' ' '\n' <<< "$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo
echo "nuttx_sidebyside.sh: $RUNS runs each, alternating, $NMSG messages per path;"
echo "median ns per message over all messages, and of the fastest 1000-message chunk of each run"
printf '%-28s %9s %9s %8s   %9s %9s %8s\n' path "C (all)" "lib (all)" "lib/C" "C (best)" "lib(best)" "lib/C"
for p in "${PATHS[@]}"; do
  mc=$(med "${RES[c,$p]}"); ml=$(med "${RES[lib,$p]}")
  bc=$(med "${BEST[c,$p]}"); bl=$(med "${BEST[lib,$p]}")
  case $p in
    send) name="send + ACK" ;;
    queued) name="queued (8 sends + 8 ACKs)" ;;
    rx) name="rx (mbox_chan_rx_data)" ;;
  esac
  printf '%-28s %9s %9s %8s   %9s %9s %8s\n' "$name" "$mc" "$ml" "$(ratio "$ml" "$mc")" "$bc" "$bl" "$(ratio "$bl" "$bc")"
done
echo "nuttx_sidebyside.sh: load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 4. Host signal-mask calls per message.
if [ "${STRACE:-0}" = 1 ]; then
  command -v strace > /dev/null || die "STRACE=1 needs strace"
  sigcalls() {
    BENCH_WRAPPER="strace -f -c -e trace=rt_sigprocmask -o $1/libmbox-strace.txt" \
      run_bench "$1" "$2" "$3" > /dev/null
    # % time, seconds, usecs/call, calls, [errors,] syscall
    awk '$NF == "rt_sigprocmask" { print $4 }' "$1/libmbox-strace.txt" | head -n 1
  }
  echo
  echo "nuttx_sidebyside.sh: host rt_sigprocmask calls per message (strace -c, 11000 minus 1000 messages)"
  printf '%-34s %10s %10s\n' path "C driver" libmbox
  for p in "${PATHS[@]}"; do
    row=()
    for dir in "$C_NUTTX_DIR" "$NUTTX_DIR"; do
      a=$(sigcalls "$dir" 1000 "$p")
      b=$(sigcalls "$dir" 11000 "$p")
      row+=("$(awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { printf "%.2f", (b - a) / 10000 }')")
    done
    printf '%-34s %10s %10s\n' "$p" "${row[0]}" "${row[1]}"
  done
fi

exit "$status"
