#!/usr/bin/env python3
"""The public headers compile cleanly as strict ISO C and C++, on a 64-bit
and a 32-bit target, in every configuration that changes them: each
option alone, none and all. Strict means -pedantic-errors -Wall -Wextra
-Werror, so an empty declaration left by a disabled field, a
non-standard construct or a failing layout check of the channel's private
storage (a negative array size) stops it. Each compiler that is present is
used: the host C compiler (always), a C++ compiler and arm-none-eabi-gcc
(32-bit pointers; `make test-arm` installs it). Prints one
"header-compile/<compiler>: N passed, M failed" line per compiler."""

import os
import shutil
import subprocess
import sys
import tempfile

OPTIONS = ["CONFIG_MBOX_TRACE", "CONFIG_MBOX_PL320", "CONFIG_MBOX_RR", "CONFIG_MBOX_TXDONE_METHODS",
           "CONFIG_MBOX_TXDONE_CALLBACK", "CONFIG_MBOX_TXFIFO", "CONFIG_MBOX_MULTI_RX"]
CONFIGS = [[]] + [[o] for o in OPTIONS] + [OPTIONS]
STRICT = ["-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-Iinclude"]
UNIT = """#include <nuttx/mbox/mbox.h>
#include <nuttx/mbox/pl320.h>
/* The unit uses what it includes, so that -Wall has something to see. */
struct mbox_chan_s check_chan;
"""

COMPILERS = [
    ("c99", [os.environ.get("CC", "gcc"), "-std=c99", "-x", "c"]),
    ("c11", [os.environ.get("CC", "gcc"), "-std=c11", "-x", "c"]),
    ("c++11", ["c++", "-std=c++11", "-x", "c++"]),
    # The bare-metal port's minimal libc headers (no newlib needed).
    ("arm-c99", ["arm-none-eabi-gcc", "-std=c99", "-mcpu=cortex-m4", "-mthumb", "-Iffi/cortexm/libc", "-x", "c"]),
]


def main():
    failed_any = False
    with tempfile.TemporaryDirectory() as d:
        unit = os.path.join(d, "unit.h.c")
        with open(unit, "w") as f:
            f.write(UNIT)
        for name, cc in COMPILERS:
            if shutil.which(cc[0]) is None:
                print(f"header-compile/{name}: skipped ({cc[0]} not installed)")
                continue
            passed = failed = 0
            for cfg in CONFIGS:
                cmd = cc + STRICT + [f"-D{o}" for o in cfg] + [unit]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode == 0:
                    passed += 1
                else:
                    failed += 1
                    print(f"FAIL {name} {' '.join(cfg) or '(no option)'}:\n{r.stderr.strip()[:2000]}")
            print(f"header-compile/{name}: {passed} passed, {failed} failed")
            failed_any |= failed > 0
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
