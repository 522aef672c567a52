#!/usr/bin/env python3
"""Run the C test programs given on the command line, show their output,
and close with one summary line "ctest: N passed, M failed" that sums
their own "N passed, M failed" lines. Exit 1 if any program failed."""

import re
import subprocess
import sys
import time

total_p = total_f = 0
bad = []
for prog in sys.argv[1:]:
    t0 = time.time()
    proc = subprocess.run([prog], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    out = proc.stdout
    sys.stdout.write(out)
    m = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
    if m:
        p, f = map(int, m[-1])
    else:
        p, f = 0, 1
    total_p += p
    total_f += f
    if proc.returncode != 0 or f or not m:
        bad.append(f"{prog} (exit {proc.returncode})")
    print(f"# {prog}: {p} passed, {f} failed in {time.time() - t0:.1f}s", flush=True)
if bad:
    print("# failed programs: " + ", ".join(bad))
print(f"ctest: {total_p} passed, {total_f + (len(bad) if not total_f else 0)} failed")
sys.exit(1 if bad else 0)
