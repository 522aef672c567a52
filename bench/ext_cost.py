#!/usr/bin/env python3
"""What each extension beyond the NuttX C driver's API costs
(``make bench-ext``): libmbox.a built with TRACE + PL320 and every
extension off (the C driver's API only), with each extension alone on top,
and with all of them, measured as ``bench/run.py`` measures the shipped
library:

- ``.text`` and ``.rodata`` that a --gc-sections link of bench/size_app.c
  (the NuttX API calls) keeps from libmbox.a (x86-64);
- ``sizeof(struct mbox_chan_s)`` and ``sizeof(struct pl320_chan_s)``
  (bench/sizes.c);
- callgrind instructions per message of bench/instr.c's null-lower-half
  rows: a non-blocking send + its ACK, and 8 queued sends + their 8 ACKs.

Prints a Markdown table (the one in BENCHMARKS.md "Cost of each
extension") and writes it, with the raw numbers, to
build/bench-ext/ext_cost.{md,json}. Programs and libraries go to
build/bench-ext and target/bench (never the main target/).
"""

import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

BASE = ["trace", "pl320"]
# (name, cargo feature, Kconfig symbol) of each extension.
EXTENSIONS = [
    ("rr", "rr", "CONFIG_MBOX_RR"),
    ("txdone-methods", "txdone-methods", "CONFIG_MBOX_TXDONE_METHODS"),
    ("txdone-callback", "txdone-callback", "CONFIG_MBOX_TXDONE_CALLBACK"),
    ("txfifo", "txfifo", "CONFIG_MBOX_TXFIFO"),
    ("multi-rx", "multi-rx", "CONFIG_MBOX_MULTI_RX"),
]
CONFIGS = [("nuttx-api", BASE)] + [("+" + n, BASE + [f]) for n, f, _ in EXTENSIONS] + [
    ("all", BASE + [f for _, f, _ in EXTENSIONS])
]


RUN_CDEFS = bench.cdefs


def cdefs(features):
    # bench/run.py's flags know the extensions.
    return RUN_CDEFS(features)


def build_instr(args, name, feats, lib):
    """bench/instr.c (and its port-call counting build) against `lib`, as
    bench/run.py builds them."""
    cc = [args.cc] + bench.CFLAGS + cdefs(feats)
    progs = {}
    for prog, extra in (("instr", []), ("instr-count", ["-DBENCH_COUNT_CALLS=1"])):
        progs[prog] = os.path.join(bench.OUT, "%s-%s" % (prog, name))
        bench.run(cc + extra + ["-o", progs[prog], "bench/instr.c", "bench/port_min.c", "ctest/fake_lower.c",
                                lib, "-lpthread"])
    return progs


def main():
    class Args:
        cc = os.environ.get("CC", "gcc")
        cargo = os.environ.get("CARGO", "cargo")

    args = Args()
    bench.OUT = os.path.join(ROOT, "build", "bench-ext")
    os.makedirs(bench.OUT, exist_ok=True)
    bench.CONFIGS = CONFIGS
    bench.cdefs = cdefs
    # The Cortex-M4F link is section 4 of `make bench`; here only x86-64.
    bench.arm_size = lambda a: {"measured": False, "reason": "not part of bench-ext"}
    # The function list (nm --size-sort) of the build the targets are set
    # for: the C driver's API.
    bench.FULL = "nuttx-api"
    libs = bench.build_libs(args)
    size = bench.size_stage(args, libs)
    rows = {}
    for name, feats in CONFIGS:
        progs = build_instr(args, name, feats, libs[name])
        cg = bench.callgrind_stage(args, progs)
        null = cg["rows"]["null"]
        app = size["configs"][name]["app"]
        so = size["sizeof"][name]
        rows[name] = {
            "text": app["text"],
            "rodata": app["rodata"],
            "data": app["data"] + app["bss"],
            "sizeof_chan": so["struct mbox_chan_s"][0],
            "sizeof_pl320_chan": so["struct pl320_chan_s"][0],
            "ir_nb_idle": round(null["nb_idle"]["total"]["ir"]),
            "ir_burst8": round(null["burst8"]["total"]["ir"]),
            "ir_rx": round(null["rx"]["total"]["ir"]),
            # Critical sections per message, and where the instructions
            # go (BENCHMARKS.md compares the C driver's API build, path
            # by path and function by function).
            "cs": {p: null[p]["total"].get("port_calls", {}).get("mbox_os_enter_critical")
                   for p in ("nb_idle", "burst8", "rx")},
        }
        if name == "nuttx-api":
            rows[name]["inclusive"] = cg["inclusive"]
            rows[name]["nm_size_sort"] = size["nm_size_sort"]
        bench.log(f"bench-ext {name}: " + str({k: v for k, v in rows[name].items()
                                                if k not in ("inclusive", "nm_size_sort")}))
    base = rows["nuttx-api"]
    lines = [
        "| configuration | .text B | .rodata B | sizeof(struct mbox_chan_s) B | sizeof(struct pl320_chan_s) B "
        "| Ir send + ACK | Ir/msg 8 queued + ACKs | Ir RX to a callback |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def delta(v, b):
        return f"{v:,}" if v == b else f"{v:,} ({v - b:+,})"

    for name, _ in CONFIGS:
        r = rows[name]
        labels = {"nuttx-api": "every extension off (the C driver's API)", "all": "every extension on"}
        labels.update({"+" + n: "`%s` alone on" % k for n, _, k in EXTENSIONS})
        label = labels[name]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, delta(r["text"], base["text"]), delta(r["rodata"], base["rodata"]),
            delta(r["sizeof_chan"], base["sizeof_chan"]), delta(r["sizeof_pl320_chan"], base["sizeof_pl320_chan"]),
            delta(r["ir_nb_idle"], base["ir_nb_idle"]), delta(r["ir_burst8"], base["ir_burst8"]),
            delta(r["ir_rx"], base["ir_rx"])))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(bench.OUT, "ext_cost.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(bench.OUT, "ext_cost.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
