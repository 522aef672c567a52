#!/usr/bin/env python3
"""The BENCHMARKS.md section "Against the C driver", the targets it sets,
and the load-average note of the wall-clock sections; bench/report.py
calls these with the results.json of `make bench`.

The C driver's figures are carried here as figures (they were measured
once, on the same harness, with the NuttX C driver in place of libmbox);
ours come from the run. The target is: at most the C figure on every line,
and at most one critical section on the RX path. Where a line misses, the
section says by how much and what costs it, function by function:
callgrind's inclusive counts per function for the instruction lines,
`nm --size-sort` of the linked program for .text.
"""

import os
import json
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TITLE = "## Against the C driver"

PROVENANCE = ("the NuttX C mailbox driver, drivers/mbox/mbox.c + pl320.c with its headers, measured on the "
              "same harness")

# (key, line, C figures as [(label, value)], unit)
C_IR_SEND_ACK = [("gcc 12 -O2", 130), ("-Os", 151)]
C_IR_BURST8 = [("-O2", 445), ("-Os", 415)]
C_CS_SEND_ACK = 2  # "about 2 per send + ACK"
C_CS_RX = 0
C_SIM_NS = [("send + ACK", 512), ("8 queued + ACK", 547), ("rx_data to callback", 3.9)]
C_TEXT_X86 = 2623
C_TEXT_M4F = 2070
C_SIZEOF_CHAN = 200
C_SIZEOF_PL320_CHAN = 224
C_WIRE = "28 raw bytes in DR0..DR6, ACK = SEND 2"

# The simulator is not run by `make bench` (it needs two NuttX trees):
# tools/nuttx_sidebyside.sh measures both drivers in one run, alternating;
# its medians are in section 8 (bench/nuttx_sidebyside.md). These are the
# fastest-chunk ratios of that run, carried here by hand when it is re-run.
SIM_SIDE_BY_SIDE = {
    "send + ACK": ("1.08x (section 8, same run)", "**missed** by 8%"),
    "8 queued + ACK": ("1.04x (section 8, same run)", "**missed** by 4%"),
    "rx_data to callback": ("88x (section 8, same run)", "**missed**: 1 critical section where the C driver takes none"),
}


def fmt(x, nd=0):
    return f"{x:,.{nd}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def load_note(stage):
    """One line for a wall-clock section: the load average around its stage,
    flagged when it exceeded the number of cores."""
    la = (stage or {}).get("loadavg")
    n = (stage or {}).get("nproc")
    if not la or not n:
        return ("**Load average not recorded for this section** (results.json from an older bench/run.py): "
                "its wall-clock figures cannot be judged against the machine's load.")
    if max(la) > n:
        return (f"**LOADED MACHINE: this section ran with the 1-minute load average at {la[0]} before and "
                f"{la[1]} after, above the {n} cores**: other processes took CPU time from the bench, so its "
                "wall-clock figures are pessimistic and noisy; compare them only within this run.")
    return (f"Load average (1 minute) {la[0]} before the stage and {la[1]} after, on {n} cores: not above "
            "the core count.")


def default_wire():
    """The PL320 wire format that Kconfig's choice selects by default."""
    try:
        with open(os.path.join(ROOT, "Kconfig")) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'prompt "PL320 wire format"\s*\n\s*default (\w+)', text)
    return m.group(1) if m else None


def _ours(R):
    cg = R.get("callgrind") or {}
    null = (cg.get("rows") or {}).get("null") or {}
    size = R.get("size") or {}

    def row(key):
        return null.get(key, {}).get("total")

    def locks(key):
        r = row(key)
        return None if not r else r.get("port_calls", {}).get("mbox_os_enter_critical")

    arm = size.get("arm") or {}
    sizeof = (size.get("sizeof") or {}).get("trace-pl320", {})
    return {
        "send_ack": (row("nb_idle") or {}).get("ir"),
        "burst8": (row("burst8") or {}).get("ir"),
        "cs_send_ack": locks("nb_idle"),
        "cs_burst8": locks("burst8"),
        "cs_rx": locks("rx"),
        "text_x86": ((size.get("configs") or {}).get("trace-pl320", {}).get("app") or {}).get("text"),
        "text_m4f": (arm["configs"]["trace-pl320"]["app"]["text"] if arm.get("measured") else None),
        "arm_reason": arm.get("reason", "this results.json has no Arm size stage"),
        "sizeof_chan": (sizeof.get("struct mbox_chan_s") or [None])[0],
        "sizeof_pl320_chan": (sizeof.get("struct pl320_chan_s") or [None])[0],
        "inclusive": cg.get("inclusive") or {},
        "nm": size.get("nm_size_sort") or [],
    }


def _api_row():
    """The C driver's API build (every extension off) as bench-ext measured
    it, or None when build/bench-ext/ext_cost.json is missing."""
    ext = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench-ext", "ext_cost.json")
    try:
        with open(ext) as f:
            return json.load(f).get("nuttx-api")
    except (OSError, ValueError):
        return None


def _ours_targets(R):
    """The figures the targets are checked against: the C driver's API
    build where bench-ext measured it, else the host build's."""
    o = dict(_ours(R))
    api = _api_row()
    if api:
        o.update({"send_ack": api["ir_nb_idle"], "burst8": api["ir_burst8"], "text_x86": api["text"],
                  "sizeof_chan": api["sizeof_chan"], "sizeof_pl320_chan": api["sizeof_pl320_chan"],
                  "api": True})
        cs = api.get("cs") or {}
        for key, path in (("cs_send_ack", "nb_idle"), ("cs_burst8", "burst8"), ("cs_rx", "rx")):
            if cs.get(path) is not None:
                o[key] = cs[path]
        if api.get("inclusive"):
            o["inclusive"] = api["inclusive"]
        if api.get("nm_size_sort"):
            o["nm"] = api["nm_size_sort"]
    return o


def _ir_cell(v):
    return "not measured" if v is None else fmt(v)


def target_rows(R):
    """Rows for the Targets table: [target, measured, verdict]."""
    o = _ours_targets(R)
    misses, unmeasured = [], []
    limits = [("send_ack", min(v for _, v in C_IR_SEND_ACK)), ("burst8", min(v for _, v in C_IR_BURST8)),
              ("text_x86", C_TEXT_X86), ("text_m4f", C_TEXT_M4F), ("sizeof_chan", C_SIZEOF_CHAN),
              ("sizeof_pl320_chan", C_SIZEOF_PL320_CHAN)]
    for key, c in limits:
        if o[key] is None:
            unmeasured.append(key)
        elif o[key] > c:
            misses.append(key)
    lines = len(limits) - len(unmeasured)
    rows = [["at most the C driver's figure on every line of [Against the C driver](#against-the-c-driver) "
             "(the yardstick the floor of section 1 cannot be: no upper half reaches the floor)"
             + ("; libmbox as the C driver's API build (every extension off; Cortex-M4F: every extension on)"
                if o.get("api") else ""),
             f"send + ACK {_ir_cell(o['send_ack'])} Ir (C {C_IR_SEND_ACK[0][1]}); 8 queued + ACK "
             f"{_ir_cell(o['burst8'])} Ir/msg (C {C_IR_BURST8[1][1]}-{C_IR_BURST8[0][1]}); .text x86-64 "
             f"{fmt(o['text_x86']) if o['text_x86'] else 'not measured'} B (C {fmt(C_TEXT_X86)}); .text "
             f"Cortex-M4F {fmt(o['text_m4f']) + ' B' if o['text_m4f'] else 'NOT MEASURED'} (C {fmt(C_TEXT_M4F)}); "
             f"sizeof chan {o['sizeof_chan']} B (C {C_SIZEOF_CHAN}); sizeof PL320 chan "
             f"{o['sizeof_pl320_chan']} B (C {C_SIZEOF_PL320_CHAN})",
             ("met" if not misses else f"**missed** on {len(misses)} of {lines} measured lines")
             + (f"; {len(unmeasured)} **not measured**" if unmeasured else "")]]
    cs = o["cs_rx"]
    rows.append(["RX path: at most one critical section per message",
                 "not measured" if cs is None else f"{cs:.0f} per message (C driver: {C_CS_RX})",
                 "**not measured**" if cs is None else ("met" if cs <= 1 else f"**missed** by {cs - 1:.0f}")])
    return rows


def _inclusive_table(fns, limit=12):
    rows = []
    for fn, v in fns[:limit]:
        rows.append([f"`{re.sub(r'^<?mbox::', '', fn)}`", fmt(v)])
    return table(["function (inclusive: itself and what it calls)", "Ir per message"], rows)


def section(R):
    o = _ours(R)
    L = []
    w = L.append
    w(TITLE)
    w("")
    w(f"The C figures are carried as figures, from {PROVENANCE}; ours are from this run. C's instruction "
      "counts are callgrind's on the minimal port (critical section = a counter, clock = a variable) with a "
      "null lower half, as `bench/instr.c`'s null-lower-half rows here (24-byte messages; the harness loop, "
      f"{(R.get('callgrind') or {}).get('loop_overhead', 0):.0f} Ir per iteration, is in both). Target: at "
      "most the C figure on every line, and at most one critical section on the RX path. These, not the "
      "floor of section 1 (lower-half ops alone, no critical section, no timer, no queue), are the "
      "yardstick: no upper half, C or Rust, can reach the floor.")
    w("")
    rows = []

    def ir_row(title, ours, cs):
        cells = ", ".join(f"{v} ({lab})" for lab, v in cs)
        if ours is None:
            rows.append([title, cells, "not measured", "-", "**not measured**"])
            return
        ratios = ", ".join(f"{ours / v:.2f}x {lab}" for lab, v in cs)
        best = min(v for _, v in cs)
        verdict = "met" if ours <= best else (
            f"**missed** by {fmt(ours - best)} Ir against the better C figure ({best})")
        rows.append([title, cells, fmt(ours), ratios, verdict])

    ir_row("callgrind Ir per non-blocking send + its ACK (null lower half)", o["send_ack"], C_IR_SEND_ACK)
    ir_row("callgrind Ir per message, 8 queued sends then 8 ACKs (null lower half)", o["burst8"], C_IR_BURST8)

    def cs_row(title, ours, c, limit, note=""):
        ctxt = f"about {c}" if c else str(c)
        if ours is None:
            rows.append([title, ctxt, "not measured", "-", "**not measured**"])
            return
        verdict = "met" if ours <= limit else f"**missed** by {ours - limit:.0f}{note}"
        rows.append([title, ctxt, f"{ours:.0f}", f"{ours - c:+.0f}", verdict])

    cs_row("critical-section pairs per message: send + ACK", o["cs_send_ack"], C_CS_SEND_ACK, C_CS_SEND_ACK)
    cs_row("critical-section pairs per message: 8 queued + ACK", o["cs_burst8"], C_CS_SEND_ACK, C_CS_SEND_ACK)
    cs_row("critical-section pairs per message: RX to a callback", o["cs_rx"], C_CS_RX, 1,
           " (target: at most 1)")
    for title, ns in C_SIM_NS:
        rows.append([f"NuttX sim:nsh (CONFIG_DEBUG_FULLOPT, fake lower half, 100k messages): {title}",
                     f"{ns} ns", "see ratio", SIM_SIDE_BY_SIDE[title][0], SIM_SIDE_BY_SIDE[title][1]])

    def b_row(title, ours, c, missing=None):
        if ours is None:
            rows.append([title, f"{fmt(c)} B", f"**NOT MEASURED** ({missing})" if missing else "not measured",
                         "-", "**not measured**"])
            return
        rows.append([title, f"{fmt(c)} B", f"{fmt(ours)} B", f"{ours / c:.2f}x",
                     "met" if ours <= c else f"**missed** by {fmt(ours - c)} B"])

    b_row(".text, upper half + PL320 + TRACE, --gc-sections: x86-64", o["text_x86"], C_TEXT_X86)
    b_row(".text, upper half + PL320 + TRACE, --gc-sections: Cortex-M4F (-Os)", o["text_m4f"], C_TEXT_M4F,
          o["arm_reason"])
    b_row("`sizeof(struct mbox_chan_s)`, TRACE on, x86-64 (C: on the NuttX sim)", o["sizeof_chan"],
          C_SIZEOF_CHAN)
    b_row("`sizeof(struct pl320_chan_s)`, TRACE on, x86-64 (C: on the NuttX sim)", o["sizeof_pl320_chan"],
          C_SIZEOF_PL320_CHAN)
    wire = default_wire()
    if wire == "MBOX_PL320_WIRE_COMPAT":
        ours_wire, wv = "compatible (the default): 28 raw bytes in DR0..DR6, ACK = SEND 2", "met (the same)"
    else:
        ours_wire = ("framed (the default): length and token in DR0, 24 bytes in DR1..DR6, ACK = token word "
                     "in DR0 + SEND 2; the compatible format (`CONFIG_MBOX_PL320_WIRE_COMPAT`) is C's")
        wv = "differs by default; the same with `CONFIG_MBOX_PL320_WIRE_COMPAT=y`"
    rows.append(["PL320 wire format", C_WIRE, ours_wire, "-", wv])
    w(table(["line", "C driver", "libmbox (this run)", "ratio", "verdict"], rows))
    w("")
    w("The instruction counts are of the shipped library (release, LTO, opt-level \"s\", TRACE + PL320) "
      "with the C harness at gcc -O2; the sizes of section 4's link (`bench/size_app.c`, the NuttX API).")
    w("")
    # The targets are set for the C driver's API alone: the Kconfig
    # defaults, every extension off (section 4b measures that build).
    api = _api_row()
    if api:
        w("The table above measures the host build, every extension on. The targets are set for the C "
          "driver's API alone (TRACE + PL320, every extension off: the Kconfig defaults), measured in "
          "section 4b (x86-64):")
        w("")
        arows = []
        cs = api.get("cs") or {}
        for title, path, c in (("critical-section pairs per message: send + ACK", "nb_idle", C_CS_SEND_ACK),
                               ("critical-section pairs per message: 8 queued + ACK", "burst8", C_CS_SEND_ACK),
                               ("critical-section pairs per message: RX to a callback (target: at most 1)",
                                "rx", C_CS_RX)):
            ours = cs.get(path)
            if ours is None:
                continue
            limit = 1 if path == "rx" else c
            arows.append([title, f"about {c}" if c else str(c), f"{ours:.0f}", f"{ours - c:+.0f}",
                          "met" if ours <= limit else f"**missed** by {ours - limit:.0f}"])
        arows.append(["callgrind Ir per message, RX to a callback", "- (no callgrind figure; no critical "
                      "section)", fmt(api["ir_rx"]), "-", "-"])
        for title, ours, c in (("callgrind Ir per non-blocking send + its ACK", api["ir_nb_idle"], 130),
                               ("callgrind Ir per message, 8 queued + 8 ACKs", api["ir_burst8"], 445),
                               (".text (section 4's link)", api["text"], C_TEXT_X86),
                               ("`sizeof(struct mbox_chan_s)`", api["sizeof_chan"], C_SIZEOF_CHAN),
                               ("`sizeof(struct pl320_chan_s)`", api["sizeof_pl320_chan"], C_SIZEOF_PL320_CHAN)):
            arows.append([title, fmt(c), fmt(ours), f"{ours / c:.2f}x",
                          "met" if ours <= c else f"**missed** by {fmt(ours - c)}"])
        w(table(["line (the C driver's API build)", "C driver", "libmbox", "ratio", "verdict"], arows))
        w("")

    # Where the misses come from: in the build the targets are set for.
    o = _ours_targets(R)
    w("### Where libmbox misses, function by function")
    w("")
    if o.get("api"):
        w("In the C driver's API build (TRACE + PL320, every extension off; section 4b), where the targets "
          "are set.")
        w("")
    inc = o["inclusive"]
    for key, title, c in (("null/nb_idle/total", "non-blocking send + its ACK", C_IR_SEND_ACK),
                          ("null/burst8/total", "8 queued sends then 8 ACKs (per message)", C_IR_BURST8),
                          ("null/rx/total", "RX delivery to a callback", None)):
        fns = inc.get(key)
        if not fns:
            continue
        head = f"**{title}**"
        ours = o["send_ack"] if "nb_idle" in key else o["burst8"] if "burst8" in key else None
        if c and ours is not None:
            best = min(v for _, v in c)
            head += (f": {fmt(ours)} Ir per message against C's {best}-{max(v for _, v in c)}"
                     + (f", {fmt(ours - best)} over." if ours > best else "."))
        elif "rx" in key and o["cs_rx"] is not None:
            head += (f": {o['cs_rx']:.0f} critical sections per message (C: {C_CS_RX}; target at most 1); "
                     "the port's enter/leave are in the list below.")
        w(head + " Callgrind's inclusive count per function (libmbox and the port), per message:")
        w("")
        w(_inclusive_table(fns))
        w("")
    if o["nm"]:
        over = "" if o["text_x86"] is None else (
            f": {fmt(o['text_x86'])} B against C's {fmt(C_TEXT_X86)} B, {fmt(o['text_x86'] - C_TEXT_X86)} B over"
            if o["text_x86"] > C_TEXT_X86 else "")
        build = ", every extension off" if o.get("api") else ""
        w(f"**.text (x86-64, upper half + PL320 + TRACE{build}){over}.** `nm --size-sort` of the linked "
          "`size_app` (libmbox's functions kept by --gc-sections, largest first):")
        w("")
        w(table(["function", "bytes"], [[f"`{fn}`", fmt(n)] for fn, n in o["nm"][:16]]))
        w("")
    if o["sizeof_chan"] is not None and o["sizeof_chan"] > C_SIZEOF_CHAN:
        w(f"**`struct mbox_chan_s`**: {o['sizeof_chan']} B against C's {C_SIZEOF_CHAN} B; what it holds is "
          "broken down in section 4, \"RAM per channel\" (the framework-private state machine with its "
          "in-flight slot and client table, the port's watchdog storage, the statistics).")
        if o.get("api"):
            w("")
            w("In the C driver's API build (x86-64; offsets read back from `mbox.h`): the C driver's public "
              "fields with the callback's argument, `timeout`, `txstate`, the token and `priv`, 64 B; the "
              "state machine 152 B (the in-flight slot 40 B, the blocked senders' list 24 B, the TX ring's "
              "indices and the caller's buffer 32 B, the armed deadline, the channel timeout, the tasks "
              "delivering and receiving, 32 B, and the counters, MTU and flags); the RX claim 1 B (+7 of "
              "padding); the port's watchdog storage 64 B (`MBOX_OS_TIMER_SIZE`, an upper bound over the "
              "ports: NuttX's `struct wdog_s` with libmbox's callback is 56 B of it); the statistics 88 B "
              "(the C driver's five counters, 40 B, and six more). The C driver's 200 B hold its five "
              "counters, a `struct wdog_s`, a semaphore and a circular-buffer header, and no deadline, "
              "token or waiter list.")
        w("")
    return L
