#!/usr/bin/env python3
"""`make bench-arm`: Thumb instructions per message of libmbox's fast paths on
a Cortex-M3, under QEMU (mps2-an385) with -icount, and the .text of
libmbox's share of the linked image.

Runs the bench image (tests-arm/bench_arm.c) --runs times (default 2) with
`-icount shift=S,sleep=off`: QEMU's virtual clock then advances 2^S ns per
executed instruction, whatever the host does, so every run must print the
same counts; the script fails when two runs differ. The image reads the
board's 25 MHz timer around each measured region and first calibrates the
timer counts per instruction on an assembler loop of a known length; the
counts are divided by that measured ratio, then by the messages of the
region, and the harness (the same loop with an empty body, measured the
same way) is subtracted.

Sizes: the GNU ld map of the image, summed over the input sections kept
from libmbox.a (libmbox's own object apart from the compiler_builtins
members the archive carries), and `size` of the whole ELF.

Prints a table and writes the numbers as JSON (--out), which bench/run.py
puts into results.json and bench/report.py into BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

# (key, title), in the order of the x86-64 callgrind table
ROWS = [
    ("blocking", "blocking send + its ACK"),
    ("nb_idle", "non-blocking send on an idle channel + its ACK"),
    ("nb_queue", "non-blocking send that queues"),
    ("drain", "draining the queue on ACK"),
    ("rx", "RX delivery to a callback"),
]
BATCHED = ("nb_queue", "drain")
CAL_INSNS = 2 * 1000000 + 2   # tests-arm/bench_arm.c: CAL_LOOPS


def run_image(args):
    cmd = shlex.split(args.qemu) + ["-icount", f"shift={args.shift},sleep=off", "-kernel", args.elf]
    t = time.time()
    try:
        r = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"bench-arm: the image did not finish within {args.timeout} s: {' '.join(cmd)}")
    except OSError as e:
        raise SystemExit(f"bench-arm: cannot run {cmd[0]}: {e}")
    secs = time.time() - t
    if r.returncode != 0:
        sys.stderr.write(r.stdout)
        raise SystemExit(f"bench-arm: the image exited with status {r.returncode}: {' '.join(cmd)}")
    return cmd, r.stdout, secs


def parse(out):
    regions = {}
    for m in re.finditer(r"^bench-arm: region (\S+) (\d+) (\d+)$", out, re.M):
        regions[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    info = dict(re.findall(r"^bench-arm: (msg_size|errors|cb_sum) (\d+)$", out, re.M))
    m = re.search(r"^bench-arm: dwt ctrl (0x[0-9a-f]+) cyccnt (\d+) (\d+)$", out, re.M)
    dwt = {"ctrl": m.group(1), "cyccnt": [int(m.group(2)), int(m.group(3))]} if m else None
    return regions, info, dwt


def parse_map(path):
    """Bytes of the input sections kept in the image, by origin and kind."""
    sizes = {}
    funcs = []
    with open(path) as f:
        text = f.read()
    i = text.find("Linker script and memory map")
    lines = text[i:].splitlines() if i >= 0 else []
    out_sec = None
    pending = None
    for ln in lines:
        m = re.match(r"^(\.\S+)\s", ln) or re.match(r"^(\.\S+)$", ln)
        if m:
            out_sec = m.group(1)
            pending = None
            continue
        m = re.match(r"^ (\.\S+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", ln)
        if not m:
            m2 = re.match(r"^ (\.\S+|COMMON)$", ln)
            if m2:
                pending = m2.group(1)
                continue
            m3 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", ln)
            if not (m3 and pending):
                pending = None
                continue
            sec, size, origin = pending, int(m3.group(2), 16), m3.group(3)
        else:
            sec, size, origin = m.group(1), int(m.group(3), 16), m.group(4)
        pending = None
        if size == 0 or out_sec in (None, ".ARM.attributes", ".comment") or out_sec.startswith(".debug"):
            continue
        if "libmbox.a(" in origin:
            who = "builtins" if "compiler_builtins" in origin else "libmbox"
        else:
            who = "other"
        kind = ("rodata" if sec.startswith(".rodata") else
                "text" if sec.startswith(".text") else
                "data" if sec.startswith(".data") else
                "bss" if sec.startswith((".bss", "COMMON")) else sec)
        sizes.setdefault(who, {}).setdefault(kind, 0)
        sizes[who][kind] += size
        if who != "other" and kind == "text":
            funcs.append((who, sec[len(".text."):] if sec.startswith(".text.") else sec, size))
    return sizes, funcs


def demangle(names):
    try:
        r = subprocess.run(["arm-none-eabi-c++filt"], input="\n".join(names), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = r.stdout.splitlines()
        if r.returncode == 0 and len(out) == len(names):
            return [re.sub(r"::h[0-9a-f]{16}$", "", n) for n in out]
    except OSError:
        pass
    return names


def elf_size(size_tool, elf):
    r = subprocess.run([size_tool, elf], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"bench-arm: {size_tool} failed: {r.stderr.strip()}")
    f = r.stdout.splitlines()[1].split()
    return {"text": int(f[0]), "data": int(f[1]), "bss": int(f[2])}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--qemu", required=True, help="QEMU command line without -icount and -kernel")
    ap.add_argument("--shift", type=int, default=6)
    ap.add_argument("--size", default="arm-none-eabi-size")
    ap.add_argument("--lib", default="", help="the libmbox.a linked in (recorded)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    t_all = time.time()
    runs = []
    for _ in range(max(1, args.runs)):
        cmd, out, secs = run_image(args)
        regions, info, dwt = parse(out)
        if int(info.get("errors", "1")) != 0 or not regions:
            sys.stderr.write(out)
            raise SystemExit("bench-arm: the image reported errors")
        runs.append((regions, secs))
    regions = runs[0][0]
    identical = all(r == regions for r, _ in runs[1:])
    if not identical:
        for name in sorted(regions):
            vals = [r.get(name, (None,))[0] for r, _ in runs]
            if len(set(vals)) > 1:
                print(f"bench-arm: region {name} differs between runs: {vals}")
        raise SystemExit(f"bench-arm: {len(runs)} runs of the image did not count the same instructions")

    # Timer counts per instruction: the calibration loop, less the empty
    # interval (the two timer reads).
    cal, _ = regions["calibrate"]
    reads, _ = regions["reads"]
    ratio = (cal - reads) / CAL_INSNS

    def per_msg(name):
        c, n = regions[name]
        return c / ratio / n

    loop = per_msg("harness/loop")
    batch = per_msg("harness/batch")
    rows = {}
    for key, _ in ROWS:
        h = batch if key in BATCHED else loop
        t, fl = per_msg(key + "/total"), per_msg(key + "/floor")
        rows[key] = {"total": t - h, "floor": fl - h, "total_raw": t, "floor_raw": fl,
                     "harness": h, "messages": regions[key + "/total"][1]}
    irq = per_msg("irq_roundtrip/total") - loop
    memclr = per_msg("memclr128/total") - loop

    sizes, funcs = parse_map(os.path.splitext(args.elf)[0] + ".map")
    names = demangle([f for _, f, _ in funcs])
    top = sorted(((who, n, s) for (who, _, s), n in zip(funcs, names)), key=lambda x: -x[2])
    whole = elf_size(args.size, args.elf)
    res = {
        "command": " ".join(shlex.quote(c) for c in cmd),
        "qemu_version": subprocess.run([shlex.split(args.qemu)[0], "--version"], text=True,
                                       stdout=subprocess.PIPE).stdout.splitlines()[0],
        "shift": args.shift, "ratio": ratio, "ns_per_insn": 2 ** args.shift,
        "calibration": {"counts": cal, "reads_counts": reads, "insns": CAL_INSNS},
        "dwt": dwt, "loop_overhead": loop, "batch_overhead": batch, "rows": rows,
        "irq_roundtrip": irq, "memclr128": memclr, "regions": {k: list(v) for k, v in regions.items()},
        "runs": len(runs), "identical": identical, "run_seconds": [round(s, 2) for _, s in runs],
        "sizes": sizes, "whole": whole,
        "top_functions": [{"origin": w, "name": n, "bytes": s} for w, n, s in top[:16]],
        "elf": args.elf, "lib": args.lib, "json": args.out,
    }
    res["seconds"] = round(time.time() - t_all, 1)
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    g = subprocess.run(["git", "rev-parse", "--short", "HEAD"], text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    res["git"] = g.stdout.strip() if g.returncode == 0 else "unknown"
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)

    print(f"bench-arm: {res['qemu_version']}, {cmd[-3]} {cmd[-2]}: "
          f"{ratio:.6f} timer counts per instruction (calibrated; 25 MHz timer at {2 ** args.shift} ns "
          f"per instruction gives {2 ** args.shift / 40:.6f})")
    if dwt:
        counts = dwt["cyccnt"][1] != dwt["cyccnt"][0]
        print(f"bench-arm: DWT_CTRL reads {dwt['ctrl']}, CYCCNT {dwt['cyccnt'][0]} -> {dwt['cyccnt'][1]} "
              f"over 4 NOPs: {'counts' if counts else 'not modelled (does not count)'}")
    print(f"bench-arm: harness {loop:.2f} instructions per iteration (empty loop), {batch:.2f} per message "
          f"in the batched regions (loop and timer reads), subtracted below")
    print(f"bench-arm: {'%-48s' % 'path'} {'total':>8} {'floor':>8} {'added':>8} {'ratio':>6}")
    for key, title in ROWS:
        r = rows[key]
        print(f"bench-arm: {title:48s} {r['total']:8.1f} {r['floor']:8.1f} {r['total'] - r['floor']:8.1f} "
              f"{r['total'] / r['floor']:5.2f}x")
    print(f"bench-arm: {'interrupt round trip (pend, dispatch, return)':48s} {irq:8.1f}")
    print(f"bench-arm: {'port libc: __aeabi_memclr8 of 128 B (byte loop)':48s} {memclr:8.1f}")
    lm = sizes.get("libmbox", {})
    bi = sizes.get("builtins", {})
    print(f"bench-arm: .text of libmbox's own code in the image: {lm.get('text', 0):,} B "
          f"(+{lm.get('rodata', 0):,} B .rodata, {lm.get('data', 0):,} B .data, {lm.get('bss', 0):,} B .bss); "
          f"compiler_builtins from libmbox.a: {bi.get('text', 0):,} B .text")
    print(f"bench-arm: whole image ({os.path.basename(args.elf)}): text {whole['text']:,} B (code + rodata "
          f"+ vectors), data {whole['data']:,} B, bss {whole['bss']:,} B")
    print(f"bench-arm: {len(runs)} runs, identical counts: {'yes' if identical else 'NO'}; "
          f"QEMU {', '.join(f'{s:.2f}' for _, s in runs)} s")


if __name__ == "__main__":
    main()
