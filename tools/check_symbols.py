#!/usr/bin/env python3
"""Check the undefined symbols of the crate's own objects in libmbox.a:
only port symbols (mbox_os_*) and libc/compiler intrinsics may remain.
Objects of Rust's core/compiler_builtins are not the crate's and are
skipped."""

import re
import subprocess
import sys

ALLOWED = re.compile(r"^(mbox_os_\w+|memcpy|memmove|memset|memcmp|bcmp|strlen|__\w+|_Unwind_\w+)$")

lib = sys.argv[1]
out = subprocess.run(["nm", "-u", "-A", lib], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
crate_objs = set()
bad = []
for line in out.splitlines():
    # "lib.a:member.o:                 U symbol"
    parts = line.rsplit(None, 2)
    if len(parts) < 3:
        continue
    where, kind, sym = parts
    member = where.split(":")[1] if ":" in where else where
    if not member.startswith("mbox-"):
        continue
    crate_objs.add(member)
    if not ALLOWED.match(sym):
        bad.append(f"{member}: {sym}")
members = subprocess.run(["ar", "t", lib], check=True, stdout=subprocess.PIPE, text=True).stdout.split()
own = [m for m in members if m.startswith("mbox-")]
if not own:
    print(f"check_symbols: no crate objects (mbox-*.o) found in {lib}")
    sys.exit(1)
if bad:
    print("check_symbols: unexpected undefined symbols in the crate's objects:")
    print("\n".join("  " + b for b in bad))
    sys.exit(1)
undef = sorted({l.rsplit(None, 1)[-1] for l in out.splitlines() if ":mbox-" in l})
print(f"check_symbols: {len(own)} crate object(s); undefined: {' '.join(undef)}")
