#!/usr/bin/env python3
"""`make bench`: build and run every libmbox benchmark, then write
BENCHMARKS.md (bench/report.py) and the plots (bench/plot.py).

Stages (each prints its progress and how long it took):

  1. libraries   libmbox.a in four configurations (no features, trace,
                 pl320, trace+pl320; every extension on in each: their
                 cost is bench/ext_cost.py's, `make bench-ext`), built as the Makefile builds the
                 shipped archive (`cargo rustc --release --crate-type
                 staticlib`, LTO, opt-level "s") into target/bench, so the
                 main target/ is never touched
  2. programs    the C benchmarks of bench/ (gcc -O2)
  3. size        code and data that a --gc-sections link keeps from
                 libmbox.a (linker map), sizeof of the public structs,
                 undefined symbols of the crate's objects (no allocator);
                 the same link for a Cortex-M4F (thumbv7em-none-eabihf:
                 clang, rust-lld, libmbox.a cross-built into
                 build/bench/arm/target), or the reason it could not be made
  4. callgrind   instructions per message and lock-held instructions
                 (bench/instr.c on the minimal port), and the inclusive
                 per-function counts of the paths compared with the C
                 driver (callgrind_annotate --inclusive=yes)
  5. heap        memcheck on bench/instr (heap usage of the whole program),
                 callgrind call graph of the two-core bench (who calls
                 malloc/free: never libmbox)
  6. twocore     throughput and latency over the PL320 model
  7. fifo        throughput against the hardware FIFO depth (txdepth 1, 4
                 and 8) over a FIFO-capable fake lower half (bench/fifo.c)
  8. rust        `cargo bench --bench state_machine --features host-port`
  8b. arm        `make bench-arm`: Thumb instructions per message on a
                 Cortex-M3 under QEMU -icount (bench/arm_icount.py); when
                 it cannot run (no QEMU or Arm toolchain), BENCHMARKS.md
                 says so and why, and this script prints it at the end
  9. report      results.json, plots, BENCHMARKS.md

The wall-clock stages (twocore, fifo, rust) record the load average before
and after; BENCHMARKS.md flags a section whose load exceeded the core
count, and this script warns at the end, as it does when the Arm size
section could not run.

Everything lands in build/bench/ (results.json holds all numbers); the
plots in bench/plots/; BENCHMARKS.md at the top of the repository.
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "bench")
TARGET_DIR = os.path.join("target", "bench")

# The extensions beyond the NuttX C driver's API (cargo feature, -D flag):
# on in every configuration here, as in the host build (bench/fifo.c and
# the TX-done paths need them); bench/ext_cost.py (`make bench-ext`)
# measures what each costs.
EXTENSIONS = [
    ("rr", "CONFIG_MBOX_RR"),
    ("txdone-methods", "CONFIG_MBOX_TXDONE_METHODS"),
    ("txdone-callback", "CONFIG_MBOX_TXDONE_CALLBACK"),
    ("txfifo", "CONFIG_MBOX_TXFIFO"),
    ("multi-rx", "CONFIG_MBOX_MULTI_RX"),
]
EXT = [f for f, _ in EXTENSIONS]

# (name, cargo features)
CONFIGS = [
    ("none", EXT),
    ("trace", ["trace"] + EXT),
    ("pl320", ["pl320"] + EXT),
    ("trace-pl320", ["trace", "pl320"] + EXT),
]
FULL = "trace-pl320"

T0 = time.time()


def log(msg):
    print(f"[bench {time.time() - T0:6.1f}s] {msg}", flush=True)


def run(cmd, quiet=False, check=True, env=None, **kw):
    if not quiet:
        print("  $ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and r.returncode != 0:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        raise SystemExit(f"bench: command failed ({r.returncode}): {' '.join(cmd)}")
    return r


def cdefs(features):
    d = ["-DCONFIG_HOST_TICK_HZ=1000"]
    if "trace" in features:
        d.append("-DCONFIG_MBOX_TRACE=1")
    if "pl320" in features:
        d.append("-DCONFIG_MBOX_PL320=1")
    d += ["-D%s=1" % k for f, k in EXTENSIONS if f in features]
    return d


def first_line(cmd):
    try:
        r = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            return "?"
        return r.stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


# ---------------------------------------------------------------------------
# 0. The machine
# ---------------------------------------------------------------------------


def machine(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rev = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "rustc": first_line(["rustc", "--version"]),
        "cargo": first_line([args.cargo, "--version"]),
        "gcc": first_line([args.cc, "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
        "python": platform.python_version(),
        "git": rev,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ---------------------------------------------------------------------------
# 1. Libraries
# ---------------------------------------------------------------------------


def build_libs(args):
    libs = {}
    for name, feats in CONFIGS:
        cmd = [args.cargo, "rustc", "-q", "--release", "--lib", "--crate-type", "staticlib",
               "--no-default-features"]
        if feats:
            cmd += ["--features", ",".join(feats)]
        cmd += ["--target-dir", TARGET_DIR]
        log(f"library {name}: features [{', '.join(feats)}]")
        run(cmd)
        dst = os.path.join(OUT, f"libmbox-{name}.a")
        shutil.copyfile(os.path.join(ROOT, TARGET_DIR, "release", "libmbox.a"), dst)
        libs[name] = dst
    return libs


# ---------------------------------------------------------------------------
# 2. Programs
# ---------------------------------------------------------------------------

CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-O2", "-pthread",
          "-Iinclude", "-Iffi", "-Iffi/host", "-Ictest", "-Ibench"]


def build_programs(args, libs):
    full = dict(CONFIGS)[FULL]
    cc = [args.cc] + CFLAGS + cdefs(full)
    hostobjs = []
    os.makedirs(os.path.join(OUT, "host"), exist_ok=True)
    for src in ["ffi/host/host_port.c", "ffi/host/pl320_model.c"]:
        obj = os.path.join(OUT, "host", os.path.basename(src)[:-2] + ".o")
        run(cc + ["-c", src, "-o", obj])
        hostobjs.append(obj)
    progs = {}
    progs["instr"] = os.path.join(OUT, "instr")
    run(cc + ["-o", progs["instr"], "bench/instr.c", "bench/port_min.c", "ctest/fake_lower.c",
              libs[FULL], "-lpthread"])
    progs["instr-count"] = os.path.join(OUT, "instr-count")
    run(cc + ["-DBENCH_COUNT_CALLS=1", "-o", progs["instr-count"], "bench/instr.c", "bench/port_min.c",
              "ctest/fake_lower.c", libs[FULL], "-lpthread"])
    progs["twocore"] = os.path.join(OUT, "twocore")
    run(cc + ["-o", progs["twocore"], "bench/twocore.c", "ctest/simcore.c"] + hostobjs +
        [libs[FULL], "-lpthread", "-lm"])
    progs["fifo"] = os.path.join(OUT, "fifo")
    run(cc + ["-o", progs["fifo"], "bench/fifo.c", hostobjs[0], libs[FULL], "-lpthread"])
    return progs


# ---------------------------------------------------------------------------
# 3. Size
# ---------------------------------------------------------------------------

OUT_CLASS = [
    (re.compile(r"^\.text"), "text"),
    (re.compile(r"^\.(rodata|data\.rel\.ro)"), "rodata"),
    (re.compile(r"^\.(eh_frame|gcc_except_table)"), "eh"),
    (re.compile(r"^\.(tdata|data)"), "data"),
    (re.compile(r"^\.(tbss|bss)"), "bss"),
]


def parse_map(path, libname):
    """Input sections kept from `libname`, by output section class:
    {class: bytes}, plus [(class, input section, bytes, member)]."""
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "eh": 0}
    items = []
    in_map = False
    out_cls = None
    pending = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("Linker script and memory map"):
                in_map = True
                continue
            if not in_map:
                continue
            m = re.match(r"^(\.[^\s]+)", line)
            if m:
                out_cls = None
                for rx, cls in OUT_CLASS:
                    if rx.match(m.group(1)):
                        out_cls = cls
                        break
                pending = None
                continue
            m = re.match(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
            if m:
                name, size, where = m.group(1), int(m.group(3), 16), m.group(4)
            else:
                m = re.match(r"^ (\S+)$", line)
                if m and not line.startswith("  "):
                    pending = m.group(1)
                    continue
                m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
                if not m or pending is None:
                    continue
                name, size, where = pending, int(m.group(2), 16), m.group(3)
            pending = None
            if out_cls is None or libname not in where or size == 0:
                continue
            member = where.split("(", 1)[1].rstrip(")") if "(" in where else where
            totals[out_cls] += size
            items.append((out_cls, name, size, member))
    return totals, items


def demangle(names):
    if not names:
        return []
    try:
        r = subprocess.run(["c++filt"], input="\n".join(names), text=True, stdout=subprocess.PIPE)
        out = r.stdout.splitlines()
        if len(out) == len(names):
            return [re.sub(r"::h[0-9a-f]{16}$", "", o) for o in out]
    except OSError:
        pass
    return names


def section_symbol(sec):
    for p in (".text.", ".rodata.", ".data.rel.ro.", ".data.", ".bss."):
        if sec.startswith(p):
            return sec[len(p):]
    return sec


# ---------------------------------------------------------------------------
# 3b. Size on Arm (Cortex-M4F, thumbv7em-none-eabihf)
# ---------------------------------------------------------------------------

ARM_TARGET = "thumbv7em-none-eabihf"
ARM_CFLAGS = ["--target=" + ARM_TARGET, "-mthumb", "-mcpu=cortex-m4", "-mfloat-abi=hard", "-ffreestanding",
              "-fshort-enums", "-Os", "-ffunction-sections", "-fdata-sections", "-std=gnu11", "-Wall", "-Wextra",
              "-Werror"]
# -fshort-enums: rustc lays out a repr(C) enum in one byte on this target, as
# arm-none-eabi-gcc does by default (AAPCS bare metal); clang's default for
# --target=thumbv7em-none-eabihf is int-sized enums, which would give the C
# side another layout of struct mbox_chan_s than the library's.


def arm_tools(args):
    """(tools, None) or (None, why not): clang for the C objects, rust-lld,
    the thumbv7em target's standard library."""
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE).stdout.strip()
        vv = subprocess.run(["rustc", "-vV"], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    except OSError:
        return None, "rustc not found"
    m = re.search(r"^host: (\S+)$", vv, re.M)
    if not sysroot or not m:
        return None, "rustc did not tell its sysroot and host"
    if not os.path.isdir(os.path.join(sysroot, "lib", "rustlib", ARM_TARGET, "lib")):
        return None, f"the Rust target {ARM_TARGET} is not installed (rustup target add {ARM_TARGET})"
    lld = os.path.join(sysroot, "lib", "rustlib", m.group(1), "bin", "rust-lld")
    if not os.path.exists(lld):
        lld = shutil.which("ld.lld")
        if not lld:
            return None, "no rust-lld in the Rust toolchain and no ld.lld (rustup component add llvm-tools)"
    names = [os.environ["ARM_CLANG"]] if os.environ.get("ARM_CLANG") else \
        ["clang"] + [f"clang-{v}" for v in range(21, 12, -1)]
    clang = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if not clang:
        return None, "no clang to compile the C side for Arm (apt-get install clang)"
    r = subprocess.run([clang, "-print-resource-dir"], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res_inc = os.path.join(r.stdout.strip(), "include")
    if r.returncode != 0 or not os.path.exists(os.path.join(res_inc, "stdint.h")):
        return None, f"{clang} has no builtin headers (stdint.h) for bindgen"
    return {"clang": clang, "clang_version": first_line([clang, "--version"]), "lld": lld,
            "resource_include": res_inc}, None


def parse_lld_map(path, libname):
    """lld's map (VMA LMA Size Align Out In Symbol): the input sections kept
    from `libname`, [(class, input section, bytes, member)]."""
    items = []
    out_cls = None
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$", line.rstrip("\n"))
            if not m:
                continue
            size, indent, rest = int(m.group(1), 16), len(m.group(2)), m.group(3)
            if indent == 0:
                out_cls = None
                if rest.startswith(".ARM.ex"):
                    out_cls = "eh"
                else:
                    for rx, cls in OUT_CLASS:
                        if rx.match(rest):
                            out_cls = cls
                            break
                continue
            if indent != 8 or out_cls is None or size == 0:
                continue
            mm = re.match(r"^(.*)\((.*)\):\((.*)\)$", rest)
            if not mm or os.path.basename(mm.group(1)) != libname:
                continue
            items.append((out_cls, mm.group(3), size, mm.group(2)))
    return items


def arm_size(args):
    """Code size on a Cortex-M4F: libmbox.a built for thumbv7em-none-eabihf in
    every configuration, bench/size_app.c and a do-nothing port
    (bench/port_stub.c) compiled with clang for the same core, linked
    freestanding with rust-lld --gc-sections -e main; the lld map is summed
    over the input sections kept from libmbox.a, split into the crate's own
    code and compiler_builtins (memcpy/memmove/memset and friends, which
    the Arm target's core library brings along; on x86-64 they come from
    libc and are not counted)."""
    tools, why = arm_tools(args)
    if tools is None:
        log(f"size arm: NOT MEASURED (BENCHMARKS.md says so): {why}")
        return {"measured": False, "reason": why}
    d = os.path.join(OUT, "arm")
    inc = os.path.join(d, "include")
    os.makedirs(inc, exist_ok=True)
    # There is no Arm sysroot: the port header wants only clock_t from <time.h>.
    with open(os.path.join(inc, "time.h"), "w") as f:
        f.write("/* Written by bench/run.py: the only thing ffi/mbox_os.h needs from <time.h>. */\n"
                "#ifndef BENCH_STUB_TIME_H\n#define BENCH_STUB_TIME_H\ntypedef long clock_t;\n#endif\n")
    env = dict(os.environ, MBOX_PORT_CFLAGS=f"-I{tools['resource_include']} -I{inc}")
    tdir = os.path.join(d, "target")
    cc = [tools["clang"]] + ARM_CFLAGS + ["-Iinclude", "-Iffi", f"-I{inc}"]
    res = {"measured": True, "target": ARM_TARGET, "cpu": "cortex-m4", "tools": {
        "clang": tools["clang_version"], "lld": os.path.basename(tools["lld"])}, "configs": {}}
    for name, feats in CONFIGS:
        cmd = [args.cargo, "rustc", "-q", "--release", "--lib", "--crate-type", "staticlib",
               "--target", ARM_TARGET, "--no-default-features"]
        if feats:
            cmd += ["--features", ",".join(feats)]
        cmd += ["--target-dir", tdir]
        log(f"size arm: library {name} for {ARM_TARGET}")
        r = run(cmd, env=env, check=False)
        if r.returncode != 0:
            tail = [ln for ln in r.stderr.splitlines() if ln.strip()][-3:]
            why = f"cargo build for {ARM_TARGET} failed ({'; '.join(tail)[:300]})"
            log(f"size arm: NOT MEASURED (BENCHMARKS.md says so): {why}")
            return {"measured": False, "reason": why}
        lib = os.path.join(d, f"libmbox-{name}.a")
        shutil.copyfile(os.path.join(tdir, ARM_TARGET, "release", "libmbox.a"), lib)
        objs = []
        for src, extra in (("bench/port_stub.c", []), ("bench/size_app.c", []),
                           ("bench/size_app.c", ["-DSIZE_NO_CALLS=1"])):
            obj = os.path.join(d, f"{os.path.basename(src)[:-2]}{'-nocalls' if extra else ''}-{name}.o")
            r = run(cc + cdefs(feats) + extra + ["-c", src, "-o", obj], quiet=True, check=False)
            if r.returncode != 0:
                why = f"clang failed on {src} ({r.stderr.strip().splitlines()[-1][:300] if r.stderr.strip() else '?'})"
                log(f"size arm: NOT MEASURED (BENCHMARKS.md says so): {why}")
                return {"measured": False, "reason": why}
            objs.append(obj)
        obj = os.path.join(d, f"sizeof-{name}.o")
        r = run(cc + cdefs(feats) + ["-c", "bench/sizeof_arm.c", "-o", obj], quiet=True, check=False)
        nm = shutil.which("llvm-nm") or shutil.which("nm")
        sizeof = {}
        if r.returncode == 0 and nm:
            out = run([nm, "-S", "-t", "d", obj], quiet=True, check=False).stdout
            sizeof = {"struct " + m.group(2): int(m.group(1))
                      for m in re.finditer(r"^\d+ (\d+) \w sizeof_struct_(\w+)$", out, re.M)}
        res.setdefault("sizeof", {})[name] = sizeof
        entry = {}
        for variant, app in (("app", objs[1]), ("baseline", objs[2])):
            exe = os.path.join(d, f"size_{variant}-{name}.elf")
            mp = exe[:-4] + ".map"
            r = run([tools["lld"], "-flavor", "gnu", "--gc-sections", "-e", "main", f"-Map={mp}", "-o", exe,
                     app, objs[0], lib], quiet=True, check=False)
            if r.returncode != 0:
                why = f"rust-lld failed ({r.stderr.strip().splitlines()[-1][:300] if r.stderr.strip() else '?'})"
                log(f"size arm: NOT MEASURED (BENCHMARKS.md says so): {why}")
                return {"measured": False, "reason": why}
            items = parse_lld_map(mp, os.path.basename(lib))
            tot = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "eh": 0}
            builtins = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "eh": 0}
            for cls, sec, size, member in items:
                if member.startswith("compiler_builtins-"):
                    builtins[cls] += size
                else:
                    tot[cls] += size
            entry[variant] = tot
            entry[variant + "_builtins"] = builtins
            if variant == "app":
                dem = demangle([section_symbol(i[1]) for i in items])
                funcs, bfuncs = {}, {}
                for (cls, sec, size, member), dn in zip(items, dem):
                    if cls != "text":
                        continue
                    dn = re.sub(r"\[[0-9a-f]{16}\]", "", dn)
                    tgt = bfuncs if member.startswith("compiler_builtins-") else funcs
                    tgt[dn] = tgt.get(dn, 0) + size
                entry["functions"] = sorted(funcs.items(), key=lambda kv: -kv[1])
                entry["builtin_functions"] = sorted(bfuncs.items(), key=lambda kv: -kv[1])
        res["configs"][name] = entry
        t, b = entry["app"], entry["app_builtins"]
        log(f"size arm {name}: .text {t['text']} B (+{b['text']} B compiler_builtins), .rodata {t['rodata']} B, "
            f".data {t['data']} B, .bss {t['bss']} B (baseline without calls: "
            f"{sum(entry['baseline'][k] + entry['baseline_builtins'][k] for k in ('text', 'rodata'))} B)")
    return res


def size_stage(args, libs):
    res = {"configs": {}, "sizeof": {}, "undefined": {}}
    port = [args.cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Os", "-ffunction-sections",
            "-fdata-sections", "-Iinclude", "-Iffi", "-Ibench"]
    for name, feats in CONFIGS:
        lib = libs[name]
        entry = {}
        for variant, extra in (("app", []), ("baseline", ["-DSIZE_NO_CALLS=1"])):
            exe = os.path.join(OUT, f"size_{variant}-{name}")
            mp = exe + ".map"
            run(port + cdefs(feats) + extra + ["-Wl,--gc-sections", f"-Wl,-Map={mp}", "-o", exe,
                                               "bench/size_app.c", "bench/port_min.c", lib], quiet=True)
            totals, items = parse_map(mp, os.path.basename(lib))
            entry[variant] = totals
            if variant == "app":
                syms = [section_symbol(i[1]) for i in items]
                dem = demangle(syms)
                funcs = {}
                for (cls, sec, size, member), d in zip(items, dem):
                    if cls != "text":
                        continue
                    funcs[d] = funcs.get(d, 0) + size
                entry["functions"] = sorted(funcs.items(), key=lambda kv: -kv[1])
                members = {}
                for cls, sec, size, member in items:
                    if cls in ("text", "rodata"):
                        key = member.split("-", 1)[0]
                        members[key] = members.get(key, 0) + size
                entry["by_member"] = members
        res["configs"][name] = entry
        t = entry["app"]
        log(f"size {name}: .text {t['text']} B, .rodata {t['rodata']} B, .data {t['data']} B, "
            f".bss {t['bss']} B (baseline without calls: {entry['baseline']['text'] + entry['baseline']['rodata']} B)")

        exe = os.path.join(OUT, f"sizes-{name}")
        # Linked with the library (and a port) like any unit that includes
        # mbox.h: the header's configuration check refers to the library.
        run([args.cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Iinclude", "-Iffi", "-Ibench"] + cdefs(feats) +
            ["-Wl,--gc-sections", "-o", exe, "bench/sizes.c", "bench/port_min.c", lib], quiet=True)
        out = run([exe], quiet=True).stdout
        res["sizeof"][name] = {m.group(1): [int(m.group(2)), int(m.group(3))]
                               for m in re.finditer(r"^sizeof (.+?) (\d+) (\d+)$", out, re.M)}

        # Undefined symbols of the crate's own objects: an allocator would
        # show up here (malloc, free, __rust_alloc, ...).
        nm = run(["nm", "-u", "-A", lib], quiet=True, check=False).stdout
        undef = sorted({ln.rsplit(None, 1)[-1] for ln in nm.splitlines() if ":mbox-" in ln})
        res["undefined"][name] = undef
    # What the full configuration's link keeps, function by function, as
    # `nm --size-sort` sees it in the linked program (libmbox's functions;
    # the port's mbox_os_* are not libmbox).
    exe = os.path.join(OUT, f"size_app-{FULL}")
    nm = run(["nm", "-S", "--size-sort", "-C", "-t", "d", exe], quiet=True, check=False).stdout
    kept = []
    for ln in nm.splitlines():
        parts = ln.split(None, 3)
        if len(parts) == 4 and parts[2] in "tT" and re.match(r"^<?(mbox|pl320)", parts[3]) \
                and not parts[3].startswith("mbox_os_"):
            kept.append((re.sub(r"::h[0-9a-f]{16}$", "", parts[3]), int(parts[1])))
    res["nm_size_sort"] = sorted(kept, key=lambda kv: -kv[1])
    res["size_app_left_out"] = size_app_left_out()
    if res["size_app_left_out"]:
        log("size: bench/size_app.c leaves out " + ", ".join(res["size_app_left_out"]))
    res["arm"] = arm_size(args)
    return res


def public_functions():
    """Every function the public headers declare, in order."""
    names = []
    for h in ("include/nuttx/mbox/mbox.h", "include/nuttx/mbox/pl320.h"):
        with open(os.path.join(ROOT, h)) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        names += re.findall(r"^(?!typedef|#|static)(?:const\s+)?(?:struct\s+|enum\s+)?\w+[\s*]+(\w+)\(", text, re.M)
    return names


def size_app_left_out():
    """The public functions that bench/size_app.c does not call (it says
    which and why in its header comment)."""
    with open(os.path.join(ROOT, "bench", "size_app.c")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return [fn for fn in public_functions() if not re.search(r"\b%s\s*\(" % fn, text)]


# ---------------------------------------------------------------------------
# 4. Callgrind
# ---------------------------------------------------------------------------


def parse_callgrind(path):
    """(trigger name, total Ir, {function: self Ir}) of one dump written
    with --compress-strings=no --compress-pos=no."""
    name = None
    total = None
    selfc = {}
    calls = {}
    fn = None
    cfn = None
    skip_next = False
    with open(path) as f:
        for line in f:
            if skip_next:
                skip_next = False
                continue
            if line.startswith("cfn="):
                cfn = line[4:].strip()
                continue
            if line.startswith("desc: Trigger:"):
                m = re.search(r"Client Request: (.*)$", line.strip())
                name = m.group(1) if m else line.split(":", 2)[2].strip()
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                skip_next = True  # the next line is the call's inclusive cost
                if cfn is not None:
                    calls[cfn] = calls.get(cfn, 0) + int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and fn is not None:
                    try:
                        selfc[fn] = selfc.get(fn, 0) + int(parts[1])
                    except ValueError:
                        pass
    return name, total, selfc, calls


def category(fn):
    if fn.startswith("mbox_os_") or fn.startswith("bench_run_as_interrupt") or fn == "min_fatal":
        return "port"
    if fn.startswith("pl320_model") or fn.startswith("host_"):
        return "model/host"
    if (fn.startswith("mbox::") or fn.startswith("<mbox::") or fn.startswith("mbox_")
            or fn.startswith("pl320_") or fn.startswith("core::") or fn.startswith("<core::")):
        return "libmbox"
    if fn.startswith("fake_") or fn.startswith("null_") or fn in ("chan_index", "dev_of"):
        return "lower half"
    if fn.startswith("pthread_") or fn.startswith("__pthread") or "mem" in fn or fn.startswith("__lll"):
        return "libc"
    return "harness"


def callgrind_stage(args, progs):
    d = os.path.join(OUT, "callgrind")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = os.path.join(d, "instr.out")
    log("callgrind: bench/instr (fast paths, floors, critical sections)")
    r = run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--compress-strings=no",
             "--compress-pos=no", f"--callgrind-out-file={out}", progs["instr"]])
    info = dict(re.findall(r"^(\w+) (\d+)$", r.stdout, re.M))
    iters = int(info["iter"])
    per_batch = int(info["batch"]) * int(info["nbatch"])
    cs_reps = int(info["cs_reps"])
    cs_enters = {m.group(1): int(m.group(2)) for m in re.finditer(r"^cs_enters (\S+) (\d+)$", r.stdout, re.M)}
    # The port-call counts come from the counting build, run natively.
    rc = run([progs["instr-count"]], quiet=True)
    port_calls = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                  for m in re.finditer(r"^calls (\S+) (.*)$", rc.stdout, re.M)}
    if int(info.get("errors", "1")) != 0:
        raise SystemExit("bench: bench/instr reported errors:\n" + r.stdout)
    regions = {}
    dumps = {}
    for p in glob.glob(out + ".*"):
        name, total, selfc, calls = parse_callgrind(p)
        if name is None or total is None:
            continue
        regions[name] = (total, selfc, calls)
        dumps[name] = p
    rows = {}
    for name, (total, selfc, calls) in regions.items():
        parts = name.split("/")
        if len(parts) != 3:
            continue
        tgt, row, kind = parts
        if row.startswith("cs_"):
            continue
        n = per_batch if row in ("nb_queue", "drain") else iters
        cats = {}
        for fn, c in selfc.items():
            k = category(fn)
            cats[k] = cats.get(k, 0) + c
        top = sorted(((fn, c / n) for fn, c in selfc.items()), key=lambda kv: -kv[1])[:12]
        rows.setdefault(tgt, {}).setdefault(row, {})[kind] = {
            "ir": total / n, "by_category": {k: v / n for k, v in cats.items()}, "top": top,
            "port_calls": {"mbox_os_" + k: v / n for k, v in port_calls.get(name, {}).items()},
        }
    cs = {}
    for name, (total, _, _) in regions.items():
        m = re.match(r"^(\w+)/(cs_send|cs_txdone)/(\d+)$", name)
        if not m:
            continue
        tgt, what, depth = m.group(1), m.group(2), int(m.group(3))
        cs.setdefault(tgt, {}).setdefault(what, {})[depth] = {
            "ir_per_call": total / cs_reps, "sections_per_call": cs_enters.get(name, 0) / cs_reps,
        }
    # Inclusive per-function counts (callgrind_annotate --inclusive=yes) of
    # the paths that BENCHMARKS.md compares with the C driver: where a path
    # misses the C figure, these say which function costs what.
    inclusive = {}
    for name in INCLUSIVE_REGIONS:
        if name not in dumps:
            continue
        n = per_batch if name.split("/")[1] in ("nb_queue", "drain") else iters
        inclusive[name] = inclusive_counts(dumps[name], n)
    loop = regions.get("harness/loop/total", (0, {}))[0] / iters
    for tgt in rows:
        if tgt == "harness":
            continue
        b = rows[tgt]
        summary = ", ".join(f"{row} {b[row]['total']['ir']:.0f}/{b[row]['floor']['ir']:.0f}" for row in b
                            if "total" in b[row] and "floor" in b[row])
        log(f"callgrind {tgt}: Ir per message total/floor: {summary}")
    return {"rows": rows, "cs": cs, "loop_overhead": loop, "iters": iters, "per_batch": per_batch,
            "cs_reps": cs_reps, "inclusive": inclusive}


INCLUSIVE_REGIONS = ["null/nb_idle/total", "null/burst8/total", "null/rx/total", "null/blocking/total"]
ANNOTATE_RE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*?) \[(.*)\]\s*$")


def inclusive_counts(path, n):
    """[(function, inclusive Ir per message)] of one callgrind dump, the
    libmbox and port functions only, largest first."""
    r = run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path], quiet=True, check=False)
    out = []
    for line in r.stdout.splitlines():
        m = ANNOTATE_RE.match(line)
        if not m:
            continue
        fn = m.group(2).split(":", 1)[1] if ":" in m.group(2) else m.group(2)
        if category(fn) not in ("libmbox", "port"):
            continue
        out.append((fn, int(m.group(1).replace(",", "")) / n))
    return out


# ---------------------------------------------------------------------------
# 5. Heap
# ---------------------------------------------------------------------------

ALLOC_FNS = re.compile(r"^(malloc|calloc|realloc|free|posix_memalign|aligned_alloc|memalign|valloc|"
                       r"__rust_alloc\w*|__rust_dealloc|__rust_realloc)\b")


def is_libmbox_fn(fn):
    if fn.startswith("mbox_os_") or fn.startswith("pl320_model"):
        return False
    return (fn.startswith("mbox::") or fn.startswith("<mbox::") or fn.startswith("mbox_")
            or fn.startswith("pl320_"))


def heap_stage(args, progs):
    res = {}
    log("heap: memcheck on bench/instr (libmbox + fake lower half + minimal port, one thread)")
    r = run(["valgrind", "--tool=memcheck", "--error-exitcode=3", progs["instr"]], check=False)
    m = re.search(r"total heap usage: ([\d,]+) allocs, ([\d,]+) frees, ([\d,]+) bytes allocated", r.stderr)
    e = re.search(r"ERROR SUMMARY: (\d+) errors", r.stderr)
    res["memcheck_instr"] = {
        "allocs": int(m.group(1).replace(",", "")) if m else None,
        "frees": int(m.group(2).replace(",", "")) if m else None,
        "bytes": int(m.group(3).replace(",", "")) if m else None,
        "errors": int(e.group(1)) if e else None,
        "exit": r.returncode,
    }
    log(f"heap: bench/instr under memcheck: {res['memcheck_instr']}")

    log("heap: callgrind call graph of the two-core bench (who calls the allocator)")
    d = os.path.join(OUT, "callgrind")
    out = os.path.join(d, "twocore.out")
    tdir = os.path.join(OUT, "twocore-valgrind")
    os.makedirs(tdir, exist_ok=True)
    r = run(["valgrind", "--tool=callgrind", "--compress-strings=no", "--compress-pos=no",
             f"--callgrind-out-file={out}", progs["twocore"], "--outdir", tdir, "--only", "4", "4",
             "--seconds", "0.5", "--warmup", "0.1"], check=False)
    callers = {}
    lib_fns = set()
    fn = None
    calls_pending = None
    with open(out) as f:
        for line in f:
            if line.startswith("fn="):
                fn = line[3:].strip()
                if is_libmbox_fn(fn):
                    lib_fns.add(fn)
            elif line.startswith("cfn="):
                calls_pending = line[4:].strip()
            elif line.startswith("calls=") and calls_pending is not None:
                if ALLOC_FNS.match(calls_pending):
                    n = int(line.split("=", 1)[1].split()[0])
                    key = (calls_pending.split()[0], fn)
                    callers[key] = callers.get(key, 0) + n
                calls_pending = None
    msgs = re.search(r'"messages": (\d+)', r.stdout)
    res["twocore_callgraph"] = {
        "messages": int(msgs.group(1)) if msgs else None,
        "libmbox_functions_run": len(lib_fns),
        "alloc_calls": sorted([[a, c, n] for (a, c), n in callers.items()], key=lambda x: -x[2]),
        "alloc_calls_from_libmbox": sum(n for (a, c), n in callers.items() if is_libmbox_fn(c)),
    }
    g = res["twocore_callgraph"]
    log(f"heap: two-core run under callgrind: {g['messages']} messages, {g['libmbox_functions_run']} libmbox "
        f"functions executed, allocator calls from libmbox: {g['alloc_calls_from_libmbox']}, "
        f"from elsewhere: {sum(x[2] for x in g['alloc_calls'])}")
    return res


# ---------------------------------------------------------------------------
# 6. Two cores
# ---------------------------------------------------------------------------


def load_now():
    """The 1-minute load average, rounded."""
    return round(os.getloadavg()[0], 2)


def twocore_stage(args, progs):
    load_before = load_now()
    d = os.path.join(OUT, "twocore-cdf")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    log(f"twocore: PL320 model, senders 1/4/16 x depth blocking/1/4/16/64, {args.rounds} rounds of "
        f"{args.warmup} s warm-up + {args.seconds} s measured each")
    cmd = [progs["twocore"], "--outdir", d, "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           "--rounds", str(args.rounds)]
    print("  $ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=None)
    out, _ = p.communicate()
    results = []
    config = model = None
    for line in out.splitlines():
        if line.startswith("result "):
            results.append(json.loads(line[7:]))
        elif line.startswith("config "):
            config = json.loads(line[7:])
        elif line.startswith("model "):
            model = json.loads(line[6:])
    if not results:
        raise SystemExit("bench: twocore produced no result:\n" + out)
    return {"results": results, "config": config, "model": model, "exit": p.returncode, "cdf_dir": d,
            "loadavg": [load_before, load_now()], "nproc": os.cpu_count()}


# ---------------------------------------------------------------------------
# 7. FIFO depth
# ---------------------------------------------------------------------------


def fifo_stage(args, progs):
    log(f"fifo: txdepth 1/4/8, {args.fifo_rounds} interleaved rounds of {args.fifo_messages} messages")
    load_before = load_now()
    cmd = [progs["fifo"], "--rounds", str(args.fifo_rounds), "--messages", str(args.fifo_messages)]
    print("  $ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=None)
    runs, results, config = [], [], None
    for line in p.stdout.splitlines():
        if line.startswith("run "):
            runs.append(json.loads(line[4:]))
        elif line.startswith("result "):
            results.append(json.loads(line[7:]))
        elif line.startswith("config "):
            config = json.loads(line[7:])
    # Every message ACKed exactly once, every TX-done callback 0, the
    # statistics balanced, never more than txdepth in flight: otherwise
    # the numbers mean nothing.
    if p.returncode != 0 or not results or not all(r["ok"] for r in runs):
        raise SystemExit(f"bench: fifo failed (exit {p.returncode}):\n" + p.stdout)
    for r in results:
        print(f"  depth {r['depth']}: {r['median_msgs_per_s']:.0f} msgs/s (median of {r['rounds']})", flush=True)
    # The bench spins two threads (sender, remote core): on a shared
    # machine the load says how much CPU they had to share.
    return {"config": config, "runs": runs, "results": results,
            "loadavg": [load_before, load_now()], "nproc": os.cpu_count()}


# ---------------------------------------------------------------------------
# 8. Rust micro-benchmark
# ---------------------------------------------------------------------------


def rust_stage(args):
    log("rust: cargo bench --bench state_machine --features host-port")
    load_before = load_now()
    r = run([args.cargo, "bench", "-q", "--bench", "state_machine", "--features", "host-port",
             "--target-dir", TARGET_DIR], check=False)
    if r.returncode != 0:
        # Not fatal: the other stages' numbers still make the report, which
        # says why this section is missing.
        errs = [ln.strip() for ln in r.stderr.splitlines() if ln.startswith("error")]
        why = (f"`cargo bench` exited {r.returncode}: " + (errs[0] if errs else "see its output"))
        sys.stderr.write(r.stderr[-3000:])
        log(f"rust: not run: {why}")
        return {"cases": [], "sizes": {}, "error": why, "loadavg": [load_before, load_now()],
                "nproc": os.cpu_count()}
    cases = []
    sizes = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^bench: (\S+) ns_per_op=([\d.]+) min=([\d.]+) ops=(\d+)$", line)
        if m:
            cases.append({"case": m.group(1), "ns_per_op": float(m.group(2)), "min_ns": float(m.group(3)),
                          "ops": int(m.group(4))})
            print("  " + line, flush=True)
        m = re.match(r"^size: (\S+) (\d+)$", line)
        if m:
            sizes[m.group(1)] = int(m.group(2))
    return {"cases": cases, "sizes": sizes, "loadavg": [load_before, load_now()], "nproc": os.cpu_count()}


def arm_stage(args):
    """`make bench-arm` (Cortex-M3 under QEMU -icount). Not fatal: the
    report says why the section is missing, and main() repeats it last."""
    path = os.path.join(OUT, "arm_icount.json")
    log("arm: make bench-arm (Thumb instructions per message, QEMU -icount)")
    if os.path.exists(path):
        os.remove(path)
    r = run(["make", "--no-print-directory", "bench-arm", f"ARM_BENCH_JSON={path}"], check=False)
    for line in r.stdout.splitlines():
        if line.startswith("bench-arm:"):
            print("  " + line, flush=True)
    if r.returncode != 0 or not os.path.exists(path):
        tail = [ln.strip() for ln in (r.stdout + r.stderr).splitlines()
                if ln.strip() and not ln.startswith(("make:", "make[", "  "))]
        why = f"`make bench-arm` exited {r.returncode}" + (f": {tail[-1]}" if tail else "")
        sys.stderr.write(r.stdout[-2000:] + r.stderr[-3000:])
        log(f"arm: NOT RUN: {why}")
        return {"error": why}
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def ensure_matplotlib(args):
    r = subprocess.run([args.python, "-c", "import matplotlib"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        return True
    log("plots: installing matplotlib (python3 -m pip install --quiet matplotlib)")
    r = subprocess.run([args.python, "-m", "pip", "install", "--quiet", "matplotlib"])
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--cargo", default=os.environ.get("CARGO", "cargo"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--seconds", type=float, default=1.0, help="measured window of each two-core run")
    ap.add_argument("--warmup", type=float, default=0.2, help="warm-up of each two-core run")
    ap.add_argument("--rounds", type=int, default=5, help="two-core rounds over all configurations")
    ap.add_argument("--fifo-rounds", type=int, default=7, help="interleaved rounds of the FIFO-depth bench")
    ap.add_argument("--fifo-messages", type=int, default=20000, help="messages per FIFO-depth run")
    ap.add_argument("--command", default="make bench", help="the command recorded in BENCHMARKS.md")
    ap.add_argument("--out", default=os.path.join("build", "bench"), help="programs and raw results")
    args = ap.parse_args()

    global OUT
    OUT = os.path.join(ROOT, args.out)
    need_valgrind = shutil.which("valgrind") is None or not os.path.exists("/usr/include/valgrind/callgrind.h")
    if need_valgrind and os.geteuid() == 0 and shutil.which("apt-get"):
        log("valgrind (and valgrind/callgrind.h) missing: apt-get install -y valgrind")
        subprocess.run(["apt-get", "update", "-qq"])
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if shutil.which("valgrind") is None:
        raise SystemExit("bench: valgrind not found (apt-get install -y valgrind)")
    if not os.path.exists("/usr/include/valgrind/callgrind.h"):
        raise SystemExit("bench: /usr/include/valgrind/callgrind.h not found (apt-get install -y valgrind)")
    os.makedirs(OUT, exist_ok=True)

    results = {"machine": machine(args), "command": args.command}
    stages = {}

    def stage(name, fn, *a):
        t = time.time()
        v = fn(*a)
        stages[name] = round(time.time() - t, 1)
        return v

    log("machine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items()))
    libs = stage("libraries", build_libs, args)
    log("programs: bench/instr, bench/twocore, bench/fifo")
    progs = stage("programs", build_programs, args, libs)
    results["size"] = stage("size", size_stage, args, libs)
    results["callgrind"] = stage("callgrind", callgrind_stage, args, progs)
    results["heap"] = stage("heap", heap_stage, args, progs)
    results["twocore"] = stage("twocore", twocore_stage, args, progs)
    results["fifo"] = stage("fifo", fifo_stage, args, progs)
    results["rust"] = stage("rust", rust_stage, args)
    results["arm_icount"] = stage("arm", arm_stage, args)

    have_mpl = stage("matplotlib", ensure_matplotlib, args)
    results["stages"] = stages
    results["elapsed_s"] = round(time.time() - T0, 1)
    path = os.path.join(OUT, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    log(f"results: {os.path.relpath(path, ROOT)}")

    plots = []
    if have_mpl:
        log("plots: bench/plot.py")
        r = run([args.python, "bench/plot.py", path, "bench/plots"], check=False)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
        else:
            plots = [ln.split(" ", 1)[1] for ln in r.stdout.splitlines() if ln.startswith("wrote ")]
    else:
        log("plots: matplotlib unavailable, BENCHMARKS.md will say so")
    results["plots"] = plots
    results["elapsed_s"] = round(time.time() - T0, 1)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)

    log("report: bench/report.py -> BENCHMARKS.md")
    run([args.python, "bench/report.py", path, "BENCHMARKS.md"])
    log(f"done in {time.time() - T0:.0f} s: BENCHMARKS.md")
    if results["arm_icount"].get("error"):
        log("WARNING: the Cortex-M3 section (make bench-arm) is NOT in BENCHMARKS.md: "
            + results["arm_icount"]["error"])
    if not results["size"]["arm"].get("measured"):
        log("WARNING: the Arm size section (Cortex-M4F) could NOT run; BENCHMARKS.md says so: "
            + results["size"]["arm"].get("reason", "?"))
    for name in ("twocore", "fifo", "rust"):
        la = results[name].get("loadavg")
        if la and max(la) > results[name].get("nproc", 1):
            log(f"WARNING: the {name} stage (wall-clock) ran with the load average {la[0]} -> {la[1]} above "
                f"the {results[name]['nproc']} cores; BENCHMARKS.md flags it")


if __name__ == "__main__":
    main()
