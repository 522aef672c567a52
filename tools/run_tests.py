#!/usr/bin/env python3
"""Run the stages of ``make test`` and end with one verdict line.

    tools/run_tests.py [--make MAKE] [--log-dir DIR] [--timeout S] STAGE...

Each STAGE is a target of the Makefile, run as ``make STAGE`` in the order
given; a stage that fails does not stop the later ones. The stage's output
is echoed as it comes (and kept in DIR/STAGE.log) and its results are
counted:

- every cargo ``test result: ... N passed; M failed`` line (unit tests,
  doc tests, loom);
- every ``name: N passed, M failed`` line (the C harness's ``ctest:``
  line, ``kconfig:``, ``test-race:``, and the ``check-*`` stages, which
  print ``check-x: 1 passed, 0 failed``);
- if the stage printed neither, its bare ``N passed, M failed`` lines (a
  single C test program);
- if it printed none of these, the stage itself counts as one check.

A stage that exits non-zero without a counted failure (a build error, a
crash, a timeout) adds one failure. After the last stage come a table
(stage, passed, failed, time) and, as the very last line of the output,
``N passed, M failed`` over everything. The exit status is 0 only when
every stage exited 0 and nothing failed.
"""

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CARGO_RE = re.compile(r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed;")
NAMED_RE = re.compile(r"^([A-Za-z][\w.-]*): (\d+) passed, (\d+) failed$")
BARE_RE = re.compile(r"^(\d+) passed, (\d+) failed$")


def count(lines, rc):
    """(passed, failed, how) of one stage's output lines and exit status."""
    cargo = [0, 0]
    named = [0, 0]
    bare = [0, 0]
    seen = {"cargo": False, "named": False, "bare": False}
    for raw in lines:
        line = ANSI_RE.sub("", raw).rstrip()
        m = CARGO_RE.match(line)
        if m:
            cargo[0] += int(m.group(1))
            cargo[1] += int(m.group(2))
            seen["cargo"] = True
            continue
        m = NAMED_RE.match(line)
        if m:
            named[0] += int(m.group(2))
            named[1] += int(m.group(3))
            seen["named"] = True
            continue
        m = BARE_RE.match(line)
        if m:
            bare[0] += int(m.group(1))
            bare[1] += int(m.group(2))
            seen["bare"] = True
    if seen["cargo"] or seen["named"]:
        passed, failed = cargo[0] + named[0], cargo[1] + named[1]
    elif seen["bare"]:
        passed, failed = bare
    else:
        passed, failed = (1, 0) if rc == 0 else (0, 1)
        return passed, failed
    if rc != 0 and failed == 0:
        failed = 1  # failed outside of what it counts (build error, crash)
    return passed, failed


def run_stage(make, stage, log_path, timeout):
    """Run `make stage`, echo and log its output. Returns (rc, lines)."""
    cmd = shlex.split(make) + ["--no-print-directory", stage]
    lines = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def pump():
            for chunk in iter(proc.stdout.readline, b""):
                text = chunk.decode("utf-8", "replace")
                if not text.endswith("\n"):
                    text += "\n"
                lines.append(text)
                sys.stdout.write(text)
                sys.stdout.flush()
                log.write(text)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -signal.SIGKILL
            note = "run_tests: %s killed after %d s (--timeout)\n" % (stage, timeout)
            lines.append(note)
            sys.stdout.write(note)
            log.write(note)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        reader.join(timeout=10)
    return rc, lines


def fmt_time(seconds):
    seconds = int(round(seconds))
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make", default=os.environ.get("MAKE", "make"), help="the make command (default: $MAKE or make)")
    ap.add_argument("--log-dir", default="build/test-logs", help="where each stage's output is kept")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds before a stage is killed (default 3600)")
    ap.add_argument("stages", nargs="+")
    args = ap.parse_args()

    log_dir = os.path.join(ROOT, args.log_dir)
    os.makedirs(log_dir, exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    results = []
    interrupted = False
    t_all = time.monotonic()
    for stage in args.stages:
        print("==== %s" % stage, flush=True)
        t0 = time.monotonic()
        try:
            rc, lines = run_stage(args.make, stage, os.path.join(log_dir, stage + ".log"), args.timeout)
        except KeyboardInterrupt:
            # Stop here, but still say what ran.
            interrupted = True
            rc, lines = -signal.SIGINT, []
            print("\nrun_tests: interrupted in %s" % stage, flush=True)
        dt = time.monotonic() - t0
        passed, failed = count(lines, rc)
        results.append((stage, passed, failed, dt, rc))
        print(
            "==== %s: %d passed, %d failed, exit %d (%s)" % (stage, passed, failed, rc, fmt_time(dt)),
            flush=True,
        )
        if interrupted:
            break

    total_p = sum(r[1] for r in results)
    total_f = sum(r[2] for r in results)
    width = max(len("stage"), max(len(r[0]) for r in results))
    print()
    print("%-*s %8s %8s %9s  %s" % (width, "stage", "passed", "failed", "time", "result"))
    for stage, passed, failed, dt, rc in results:
        ok = rc == 0 and failed == 0
        print("%-*s %8d %8d %9s  %s" % (width, stage, passed, failed, fmt_time(dt), "ok" if ok else "FAILED"))
    print("%-*s %8d %8d %9s" % (width, "total", total_p, total_f, fmt_time(time.monotonic() - t_all)))
    print("logs: %s" % os.path.relpath(log_dir, ROOT))
    print("%d passed, %d failed" % (total_p, total_f), flush=True)
    if interrupted:
        return 130
    bad = any(rc != 0 for _, _, _, _, rc in results) or total_f
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
