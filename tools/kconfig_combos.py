#!/usr/bin/env python3
"""Build and test libmbox in every CONFIG_MBOX_TRACE x CONFIG_MBOX_PL320
combination with the extensions off (the NuttX defaults: the C driver's
API only), with TRACE, PL320 and every extension on (what host.defconfig
selects), and in a pairwise set: rows chosen so that every two options
(TRACE, PL320 and each extension) are seen together in all four on/off
combinations (``make test-kconfig``). Testing every one of the 2^N
combinations would take hours; a fault that needs two options in a given
state shows up in the pairwise set.

For each combination the script

1. writes ``.config`` with kconfiglib from the Kconfig defaults (through
   ``Kconfig.host``, so the host port's options are written too) plus
   CONFIG_MBOX and the options under test (what ``make olddefconfig``
   would produce) and rewrites "is not set" lines as ``=n`` (see ``--normalize``);
2. builds ``libmbox.a`` into its own build directory ``build/cfg-<combo>``
   and checks with nm that the archive has the features asked for:
   ``mbox_chan_get_stats`` exactly when TRACE=y, ``pl320_initialize``
   exactly when PL320=y (once the PL320 driver exports it), each
   extension's functions exactly when the extensions are on;
3. runs the Rust unit tests with the same cargo features;
4. runs ``make test-unit BUILD=build/cfg-<combo>`` (the Makefile leaves the
   PL320 C tests out when PL320=n).

The original ``.config`` (or its absence) is restored at the end, also after
a failure or Ctrl-C. The last line is "kconfig: N passed, M failed"; the
exit status is 0 only when every combination passed. Logs of every step are
in ``build/cfg-<combo>/kconfig.log``.

Other modes:
  --normalize FILE   rewrite "# CONFIG_X is not set" as "CONFIG_X=n" in FILE
                     (make reads the former as a comment)
  --combos LIST      only these combinations, e.g. "yy,nn" (TRACE,PL320),
                     a third letter for every extension (default n): "yyy",
                     or one letter per extension in EXTENSIONS order:
                     "yynyn"
  --no-make-test     skip step 4 (library, nm and Rust tests only)
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CONFIG = os.path.join(ROOT, ".config")
STEP_TIMEOUT = 300  # seconds; a hung test must not hang the whole run

UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def normalize(path):
    """Rewrite kconfig's "# CONFIG_X is not set" lines as "CONFIG_X=n".

    kconfiglib reads both forms; make sees only the second one.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    out = [UNSET_RE.sub(r"\1=n", line) for line in lines]
    if out != lines:
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")


def kconfiglib_module():
    import importlib

    try:
        return importlib.import_module("kconfiglib")
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "kconfiglib"])
        return importlib.import_module("kconfiglib")


# The extensions beyond the NuttX C driver's API: Kconfig symbol, cargo
# feature, a function that only the extension defines.
EXTENSIONS = [
    ("MBOX_RR", "rr", "mbox_rr_init"),
    ("MBOX_TXDONE_METHODS", "txdone-methods", "mbox_send_poll"),
    ("MBOX_TXDONE_CALLBACK", "txdone-callback", "mbox_register_txdone"),
    ("MBOX_TXFIFO", "txfifo", "mbox_chan_txdepth"),
    ("MBOX_MULTI_RX", "multi-rx", "mbox_config_with_CONFIG_MBOX_MULTI_RX"),
]


# Every 2-way combination of (TRACE, PL320, each extension in EXTENSIONS
# order) appears in at least one row of DEFAULT_COMBOS; check_pairwise()
# verifies it before anything runs.
DEFAULT_COMBOS = "yyy,yy,yn,ny,nn,yynnnyy,nnynyny,nnyynyn,ynnyynn"


def write_config(trace, pl320, ext):
    """Kconfig defaults plus the options, as olddefconfig would write."""
    kconfiglib = kconfiglib_module()
    kconf = kconfiglib.Kconfig(os.path.join(ROOT, "Kconfig.host"), warn_to_stderr=True)
    opts = [("MBOX", True), ("MBOX_TRACE", trace), ("MBOX_PL320", pl320)] + [(e[0], on) for e, on in zip(EXTENSIONS, ext)]
    for name, val in opts:
        sym = kconf.syms[name]
        if not sym.set_value("y" if val else "n"):
            raise RuntimeError("kconfiglib refused %s" % name)
        if sym.str_value != ("y" if val else "n"):
            raise RuntimeError("%s is %s, not the value asked for" % (name, sym.str_value))
    kconf.write_config(CONFIG, header="# Written by tools/kconfig_combos.py\n")
    normalize(CONFIG)


def config_values():
    vals = {}
    with open(CONFIG) as f:
        for line in f:
            m = re.match(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$", line.strip())
            if m:
                vals[m.group(1)] = m.group(2).strip('"')
    return vals


class Step:
    def __init__(self, log):
        self.log = log

    def run(self, title, cmd, env=None):
        """Run cmd (in its own process group), append its output to the log.
        Returns (ok, tail of output)."""
        with open(self.log, "a") as log:
            log.write("\n==== %s\n$ %s\n" % (title, " ".join(cmd)))
            log.flush()
            t0 = time.monotonic()
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                log.write("\n**** TIMEOUT after %ds\n" % STEP_TIMEOUT)
                rc = -1
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            log.write("==== %s: rc=%d (%.1fs)\n" % (title, rc, time.monotonic() - t0))
        return rc == 0


def nm_defined(archive):
    """Global symbols defined in an archive."""
    out = subprocess.run(["nm", "-g", "--defined-only", archive], capture_output=True, text=True)
    syms = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.add(parts[2])
    return syms


def header_declares(name):
    path = os.path.join(ROOT, "include", "nuttx", "mbox", "pl320.h")
    try:
        with open(path) as f:
            return re.search(r"\b%s\s*\(" % re.escape(name), f.read()) is not None
    except OSError:
        return False


def combo_name(trace, pl320, ext):
    parts = [n for n, on in (("trace", trace), ("pl320", pl320)) if on]
    if all(ext):
        parts.append("ext")
    else:
        parts += [f for (_, f, _), on in zip(EXTENSIONS, ext) if on]
    return "cfg-" + ("-".join(parts) if parts else "none")


def run_combo(trace, pl320, ext, make_test):
    yn = lambda b: "y" if b else "n"  # noqa: E731
    label = "TRACE=%s PL320=%s EXT=%s" % (yn(trace), yn(pl320), "".join(yn(e) for e in ext))
    build = os.path.join("build", combo_name(trace, pl320, ext))
    shutil.rmtree(os.path.join(ROOT, build), ignore_errors=True)
    os.makedirs(os.path.join(ROOT, build))
    log = os.path.join(ROOT, build, "kconfig.log")
    step = Step(log)
    t0 = time.monotonic()
    problems = []

    write_config(trace, pl320, ext)
    vals = config_values()
    with open(log, "a") as f:
        f.write("==== .config\n")
        with open(CONFIG) as c:
            f.write(c.read())
    if vals.get("CONFIG_MBOX_TRACE") != yn(trace) or vals.get("CONFIG_MBOX_PL320") != yn(pl320):
        problems.append(".config does not say %s" % label)

    # 1. The shipped library, with the features of this .config.
    make = os.environ.get("MAKE", "make")
    if not step.run("make lib", [make, "--no-print-directory", "lib", "BUILD=" + build]):
        problems.append("make lib failed")
    else:
        syms = nm_defined(os.path.join(ROOT, build, "libmbox.a"))
        if ("mbox_chan_get_stats" in syms) != trace:
            problems.append("mbox_chan_get_stats %s in libmbox.a" % ("missing" if trace else "present"))
        for (name, _, func), on in zip(EXTENSIONS, ext):
            if func is not None and (func in syms) != on:
                problems.append("%s %s in libmbox.a (CONFIG_%s)" % (func, "missing" if on else "present", name))
        if "mbox_ticksend" not in syms:
            problems.append("mbox_ticksend missing from libmbox.a")
        if header_declares("pl320_initialize"):
            if ("pl320_initialize" in syms) != pl320:
                problems.append("pl320_initialize %s in libmbox.a" % ("missing" if pl320 else "present"))
        else:
            with open(log, "a") as f:
                f.write("note: pl320.h declares no pl320_initialize yet; PL320 nm check skipped\n")
        leaked = sorted(s for s in syms if s.startswith("pl320_")) if not pl320 else []
        if leaked:
            problems.append("PL320 symbols with PL320=n: %s" % ", ".join(leaked))

    # 2. The Rust unit tests with the same features (the Makefile's
    #    test-rust always uses the default features).
    feats = ["host-port"] + [f for f, on in (("trace", trace), ("pl320", pl320)) if on]
    feats += [f for (_, f, _), on in zip(EXTENSIONS, ext) if on]
    # The PL320 wire format as the Makefile maps it: framed is a feature,
    # the compatible format (the Kconfig default) its absence.
    if pl320 and vals.get("CONFIG_MBOX_PL320_WIRE_FRAMED") == "y":
        feats.append("pl320-framed")
    env = dict(os.environ)
    env["CONFIG_MBOX_DEFAULT_TIMEOUT"] = vals.get("CONFIG_MBOX_DEFAULT_TIMEOUT", "100")
    if not step.run(
        "cargo test",
        ["cargo", "test", "-q", "--no-default-features", "--features", ",".join(feats)],
        env=env,
    ):
        problems.append("cargo test --features %s failed" % ",".join(feats))

    # 3. The repository's own test target in this configuration.
    if make_test:
        if not step.run("make test-unit", [make, "--no-print-directory", "test-unit", "BUILD=" + build]):
            problems.append("make test-unit failed")

    dt = time.monotonic() - t0
    if problems:
        print("kconfig: %-20s FAIL (%.0fs): %s; see %s" % (label, dt, "; ".join(problems), os.path.relpath(log, ROOT)))
    else:
        print("kconfig: %-20s ok (%.0fs)" % (label, dt))
    sys.stdout.flush()
    return not problems


def parse_combos(text):
    """TRACE, PL320, then nothing (extensions off), one letter for every
    extension, or one letter per extension in EXTENSIONS order."""
    combos = []
    for item in text.split(","):
        item = item.strip().lower()
        if len(item) not in (2, 3, 2 + len(EXTENSIONS)) or any(c not in "yn" for c in item):
            raise SystemExit("bad combination %r (want e.g. yyy,yy,yn,ny,nn or %s)" % (item, "y" * (2 + len(EXTENSIONS))))
        exts = item[2:]
        if len(exts) <= 1:
            ext = tuple([exts == "y"] * len(EXTENSIONS))
        else:
            ext = tuple(c == "y" for c in exts)
        combos.append((item[0] == "y", item[1] == "y", ext))
    return combos


def check_pairwise(combos):
    """The options' pairs that no combination covers, as text (empty: all)."""
    names = ["TRACE", "PL320"] + [e[0] for e in EXTENSIONS]
    rows = [(t, p) + tuple(ext) for t, p, ext in combos]
    gaps = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            for a in (False, True):
                for b in (False, True):
                    if not any(r[i] == a and r[j] == b for r in rows):
                        gaps.append("%s=%s with %s=%s" % (names[i], "yn"[not a], names[j], "yn"[not b]))
    return gaps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--normalize", metavar="FILE")
    ap.add_argument("--combos", default=DEFAULT_COMBOS)
    ap.add_argument("--check-pairwise", action="store_true", help="only check that the combinations cover every pair")
    ap.add_argument("--no-make-test", action="store_true")
    args = ap.parse_args()

    if args.normalize:
        if os.path.exists(args.normalize):
            normalize(args.normalize)
        return 0

    combos = parse_combos(args.combos)
    if args.check_pairwise or args.combos == DEFAULT_COMBOS:
        gaps = check_pairwise(combos)
        if gaps:
            print("kconfig: the combinations leave pairs untested: %s" % "; ".join(gaps))
            print("kconfig: 0 passed, 1 failed")
            return 1
        if args.check_pairwise:
            print("kconfig: %d combinations cover every pair of %d options" % (len(combos), 2 + len(EXTENSIONS)))
            return 0
    saved = None
    if os.path.exists(CONFIG):
        with open(CONFIG, "rb") as f:
            saved = f.read()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    passed = failed = 0
    t0 = time.monotonic()
    try:
        for trace, pl320, ext in combos:
            try:
                ok = run_combo(trace, pl320, ext, not args.no_make_test)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                print("kconfig: TRACE=%s PL320=%s EXT=%s FAIL: %s" % ("yn"[not trace], "yn"[not pl320], "".join("yn"[not x] for x in ext), e))
                ok = False
            passed += ok
            failed += not ok
    finally:
        if saved is None:
            if os.path.exists(CONFIG):
                os.remove(CONFIG)
        else:
            with open(CONFIG, "wb") as f:
                f.write(saved)
        # The default build directory is untouched, but target/release/
        # libmbox.a now has the last combination's features; the Makefile
        # runs cargo again before every copy, so nothing picks it up stale.
    print("kconfig: total %.0fs" % (time.monotonic() - t0))
    print("kconfig: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
