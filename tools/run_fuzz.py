#!/usr/bin/env python3
"""Fuzz every target under fuzz/ for a bounded time (``make test-fuzz``).

For each target in fuzz/fuzz_targets/ the script

1. replays the committed corpus fuzz/corpus/<target>/ (every input once);
2. fuzzes for --time seconds (libFuzzer's -max_total_time), starting from
   the committed corpus plus what earlier runs found, which stays in
   <build>/fuzz/corpus/<target>/ (the committed corpus is never written);

and prints one line per target. A target passes when both ran to the end
without a crash; a crash leaves its input in fuzz/artifacts/<target>/ and
the line says how to reproduce it. Then it runs the seeded property test of
the .config readers (tools/kconfig_props.py: Python and make, so no Rust
fuzz target), which counts as one more target. The last line is
"fuzz: N passed, M failed"; the exit status is 0 only when everything
passed.

cargo-fuzz is installed from crates.io when missing (cargo install, about
1.5 minutes on two cores). The targets are built on the stable toolchain
without a sanitizer (-s none): the code under test is safe Rust plus the C
register model, and a sanitizer needs a nightly toolchain.

  --time SECONDS   fuzzing time per target (default 25)
  --only LIST      only these targets, e.g. "queue_ops,pl320_wire"
                   (kconfig_props is one of them)
  --replay-only    replay the corpus, do not fuzz
  --features LIST  cargo features of the fuzz crate, e.g. "pl320-framed"
                   (the framed PL320 wire format; the default is the
                   compatible one)
  --build DIR      build directory (default build)
"""

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FUZZ = os.path.join(ROOT, "fuzz")
CARGO_FUZZ_VERSION = "0.13.2"
SAN = ["-s", "none"]


def sh(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, **kw)


def have_cargo_fuzz():
    return sh(["cargo", "fuzz", "--version"], capture_output=True).returncode == 0


def ensure_cargo_fuzz():
    if have_cargo_fuzz():
        return True
    print("fuzz: installing cargo-fuzz %s (cargo install)" % CARGO_FUZZ_VERSION, flush=True)
    t0 = time.monotonic()
    r = sh(["cargo", "install", "--locked", "--version", CARGO_FUZZ_VERSION, "cargo-fuzz"])
    print("fuzz: cargo install took %.0fs" % (time.monotonic() - t0), flush=True)
    return r.returncode == 0 and have_cargo_fuzz()


def targets():
    d = os.path.join(FUZZ, "fuzz_targets")
    return sorted(f[:-3] for f in os.listdir(d) if f.endswith(".rs"))


def tail(text, n=25):
    return "\n".join(text.rstrip().splitlines()[-n:])


def stat(out, key):
    """Last value of `key: N` / 'Done N runs' in libFuzzer's output."""
    if key == "runs":
        m = re.findall(r"Done (\d+) runs", out)
    else:
        m = re.findall(r"\b%s: (\d+)" % key, out)
    return int(m[-1]) if m else None


def run_target(name, seconds, replay_only, build):
    corpus = os.path.join(FUZZ, "corpus", name)
    os.makedirs(corpus, exist_ok=True)
    ninputs = len(os.listdir(corpus))
    t0 = time.monotonic()
    # 1. Replay: every committed input once (-runs=0 stops after loading).
    r = sh(
        ["cargo", "fuzz", "run"] + SAN + [name, corpus, "--", "-runs=0"],
        capture_output=True,
        text=True,
    )
    out = r.stdout + r.stderr
    if r.returncode != 0:
        print(out if len(out) < 20000 else tail(out, 200))
        print("fuzz: %-12s FAIL replaying %d corpus inputs (see above)" % (name, ninputs), flush=True)
        return False
    if replay_only:
        print("fuzz: %-12s ok: %d corpus inputs replayed (%.1fs)" % (name, ninputs, time.monotonic() - t0), flush=True)
        return True
    # 2. Fuzz for `seconds`, new inputs into the scratch corpus only (the
    #    first directory is the one libFuzzer writes to).
    scratch = os.path.join(build, "fuzz", "corpus", name)
    os.makedirs(scratch, exist_ok=True)
    t1 = time.monotonic()
    r = sh(
        ["cargo", "fuzz", "run"]
        + SAN
        + [name, scratch, corpus, "--", "-max_total_time=%d" % seconds, "-print_final_stats=1"],
        capture_output=True,
        text=True,
    )
    out = r.stdout + r.stderr
    dt = time.monotonic() - t1
    if r.returncode != 0:
        print(tail(out, 60))
        arts = os.path.join(FUZZ, "artifacts", name)
        print(
            "fuzz: %-12s FAIL after %.0fs: crash; input in %s; reproduce with "
            "'cargo fuzz run -s none %s <input>'" % (name, dt, os.path.relpath(arts, ROOT), name),
            flush=True,
        )
        return False
    runs = stat(out, "runs")
    cov = stat(out, "cov")
    print(
        "fuzz: %-12s ok: %d corpus inputs replayed, %.0fs fuzzing, %s runs, cov %s, no crash"
        % (name, ninputs, dt, runs if runs is not None else "?", cov if cov is not None else "?"),
        flush=True,
    )
    return True


def run_kconfig_props():
    t0 = time.monotonic()
    r = sh([sys.executable, os.path.join(ROOT, "tools", "kconfig_props.py")], capture_output=True, text=True)
    out = r.stdout + r.stderr
    m = re.findall(r"^kconfig-props: (\d+) passed, (\d+) failed$", out, re.M)
    if r.returncode != 0 or not m:
        print(tail(out, 60))
        print("fuzz: %-12s FAIL (see above; reproduce with python3 tools/kconfig_props.py)" % "kconfig_props", flush=True)
        return False
    print(
        "fuzz: %-12s ok: %s random .config files read alike by kconfiglib, kconfig_combos.py and make (%.0fs)"
        % ("kconfig_props", m[-1][0], time.monotonic() - t0),
        flush=True,
    )
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=int, default=25)
    ap.add_argument("--only", default="")
    ap.add_argument("--replay-only", action="store_true")
    ap.add_argument("--build", default="build")
    ap.add_argument("--features", default="")
    args = ap.parse_args()
    if args.features:
        SAN.extend(["--features", args.features])
    build = os.path.join(ROOT, args.build)

    t0 = time.monotonic()
    if not ensure_cargo_fuzz():
        print("fuzz: cargo-fuzz is not available and could not be installed")
        print("fuzz: 0 passed, 1 failed")
        return 1
    names = targets() + ["kconfig_props"]
    if args.only:
        want = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in want if n not in names]
        if unknown:
            raise SystemExit("unknown fuzz target(s): %s (have %s)" % (", ".join(unknown), ", ".join(names)))
        names = want
    fuzzed = [n for n in names if n != "kconfig_props"]
    if fuzzed:
        # Build everything first, so that the fuzzing time is fuzzing.
        t1 = time.monotonic()
        r = sh(["cargo", "fuzz", "build"] + SAN)
        if r.returncode != 0:
            print("fuzz: build failed")
            print("fuzz: 0 passed, %d failed" % len(names))
            return 1
        print("fuzz: built %d targets in %.0fs" % (len(fuzzed), time.monotonic() - t1), flush=True)

    passed = failed = 0
    for name in names:
        if name == "kconfig_props":
            ok = run_kconfig_props()
        else:
            ok = run_target(name, args.time, args.replay_only, build)
        passed += ok
        failed += not ok
    print("fuzz: total %.0fs" % (time.monotonic() - t0))
    print("fuzz: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
