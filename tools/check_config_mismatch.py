#!/usr/bin/env python3
"""A C unit compiled with another setting of an option that changes the
layout of a public struct (CONFIG_MBOX_TRACE, CONFIG_MBOX_TXDONE_METHODS,
CONFIG_MBOX_TXDONE_CALLBACK, CONFIG_MBOX_TXFIFO, CONFIG_MBOX_MULTI_RX) than the library must fail to link (``make check-config-mismatch``).

    tools/check_config_mismatch.py --lib LIB --libs "EXTRA LIBS" --trace y|n
                                   --txdone-methods y|n --txdone-callback y|n
                                   --txfifo y|n --multi-rx y|n
                                   [--cc CC ...] [--cflags FLAGS] [--out DIR]

``struct mbox_chan_s`` has its statistics only with CONFIG_MBOX_TRACE and
its poll period only with CONFIG_MBOX_TXDONE_METHODS, and ``mbox.h`` makes
every unit refer, for each option X, to ``mbox_config_with_CONFIG_MBOX_X``
or ``mbox_config_without_CONFIG_MBOX_X``, of which the library defines
the one of its own setting. For each compiler (gcc and clang when present,
``-Wall -Wextra -Werror``) and each link mode (plain, and with
``-ffunction-sections -fdata-sections -Wl,--gc-sections`` as firmware
links), ctest/link/config_unit.c

1. compiled with the library's setting must compile without a warning,
   link, and run (exit 0);
2. compiled with the other setting of any one option must compile without
   a warning and fail to link, the linker's error naming the symbol of
   that setting.

Prints one "ok"/"FAILED" line per check and ends with
"check-config-mismatch: N passed, M failed"; exit status 1 if any failed.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
UNIT = os.path.join(ROOT, "ctest", "link", "config_unit.c")
MODES = {
    "plain": [],
    "gc-sections": ["-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"],
}


# The options that change the layout of a public struct: (name, argument).
OPTIONS = [
    ("TRACE", "trace"),
    ("TXDONE_METHODS", "txdone_methods"),
    ("TXDONE_CALLBACK", "txdone_callback"),
    ("TXFIFO", "txfifo"),
    ("MULTI_RX", "multi_rx"),
]


def symbol(option, on):
    return "mbox_config_%s_CONFIG_MBOX_%s" % ("with" if on else "without", option)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--libs", default="")
    ap.add_argument("--trace", choices=["y", "n"], required=True)
    ap.add_argument("--txdone-methods", choices=["y", "n"], required=True)
    ap.add_argument("--txdone-callback", choices=["y", "n"], required=True)
    ap.add_argument("--txfifo", choices=["y", "n"], required=True)
    ap.add_argument("--multi-rx", choices=["y", "n"], required=True)
    ap.add_argument("--cc", action="append")
    ap.add_argument("--cflags", default="-std=gnu11 -Wall -Wextra -Werror -O2 -Iinclude")
    ap.add_argument("--out", default="build/config-mismatch")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    compilers = args.cc or [c for c in ("gcc", "clang") if shutil.which(c)]
    lib = {opt: getattr(args, arg) == "y" for opt, arg in OPTIONS}
    passed = failed = 0

    def verdict(ok, what, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("check-config-mismatch: %s ok" % what)
        else:
            failed += 1
            print("check-config-mismatch: %s FAILED%s" % (what, ": " + detail if detail else ""))

    for cc in compilers:
        for mode, mflags in MODES.items():
            # The library's own settings, then each option flipped alone.
            for flipped in [None] + [opt for opt, _ in OPTIONS]:
                unit = {o: (not v if o == flipped else v) for o, v in lib.items()}
                tdef = ["-DCONFIG_MBOX_%s=1" % o for o, on in unit.items() if on]
                shown = flipped or OPTIONS[0][0]
                tag = "%s, %s, unit %s CONFIG_MBOX_%s, library %s" % (
                    os.path.basename(cc),
                    mode,
                    "with" if unit[shown] else "without",
                    shown,
                    "with" if lib[shown] else "without",
                )
                name = "%s-%s-%s" % (os.path.basename(cc), mode, flipped.lower() if flipped else "same")
                obj = os.path.join(args.out, name + ".o")
                exe = os.path.join(args.out, name)
                cflags = shlex.split(args.cflags) + mflags[:2] + tdef
                comp = subprocess.run(
                    [cc] + cflags + ["-c", UNIT, "-o", obj], cwd=ROOT, capture_output=True, text=True
                )
                if comp.returncode != 0 or comp.stderr.strip():
                    verdict(False, tag + ": compiles without a warning", comp.stderr.strip())
                    continue
                link = subprocess.run(
                    [cc] + mflags[2:] + [obj, args.lib] + shlex.split(args.libs) + ["-o", exe],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if flipped is None:
                    if link.returncode != 0:
                        verdict(False, tag + ": links", link.stderr.strip())
                        continue
                    run = subprocess.run([os.path.join(ROOT, exe) if not os.path.isabs(exe) else exe],
                                         capture_output=True, text=True, timeout=30)
                    verdict(run.returncode == 0, tag + ": links and runs", run.stdout.strip())
                else:
                    want = symbol(flipped, unit[flipped])
                    err = link.stderr
                    lines = [l for l in err.splitlines() if want in l]
                    if link.returncode == 0:
                        verdict(False, tag + ": link fails", "it linked")
                    elif not lines:
                        verdict(False, tag + ": link fails naming %s" % want, err.strip())
                    else:
                        print("  " + lines[0].strip())
                        verdict(True, tag + ": link fails naming %s" % want)

    print("check-config-mismatch: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
