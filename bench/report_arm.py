#!/usr/bin/env python3
"""The BENCHMARKS.md section "Cortex-M3 under QEMU: Thumb instructions per
message", from the JSON of bench/arm_icount.py (`make bench-arm`), next to
the x86-64 callgrind figures of the same paths.

bench/report.py calls section(R) with the results.json of `make bench`
(R["arm_icount"] from the bench-arm stage, R["callgrind"] for x86-64).

Standalone, to print the section from a `make bench-arm` run alone, the
x86-64 figures read from the null-lower-half table of an existing
BENCHMARKS.md:

  report_arm.py build/arm/bench_arm.json BENCHMARKS.md
"""

import json
import re
import sys

TITLE = "## 7. Cortex-M3 under QEMU: Thumb instructions per message"

ROWS = [
    ("blocking", "blocking send + its ACK",
     "`mbox_send()` (blocking, 24 bytes) on an idle channel. The fake's `send` pends its ACK interrupt "
     "(NVIC ISPR); the interrupt is taken when the upper half leaves its critical section, and its handler "
     "reports the ACK with `mbox_chan_tx_done_token()`, which completes the message and posts the waiter; "
     "the sender's `mbox_os_wait_timed()` then finds the post and returns without a WFI. Everything from the "
     "call to its return: the interrupt's pend, the port's dispatch and the handler are in the count "
     "(exception entry and return are not instructions and cost nothing here; a real core spends about 12 "
     "cycles on each)."),
    ("nb_idle", "non-blocking send on an idle channel + its ACK",
     "`mbox_ticksend(.., 0)` on an idle channel, then the ACK called directly by the bench, "
     "`mbox_chan_tx_done_token()`, as `bench/instr.c` does."),
    ("nb_queue", "non-blocking send that queues",
     "`mbox_ticksend(.., 0)` behind a message in flight (48 per batch, drained unmeasured)."),
    ("drain", "draining the queue on ACK",
     "one `mbox_chan_tx_done_token()` with messages queued: ends the message in flight and starts the oldest "
     "queued one (48 per batch, queued unmeasured)."),
    ("rx", "RX delivery to a callback",
     "`mbox_chan_rx_data()` (called by the bench) to a registered callback."),
]


def _fmt(x):
    return f"{x:,.1f}" if abs(x - round(x)) >= 0.05 else f"{x:,.0f}"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def x86_from_results(R):
    """{row: (total, floor)} of the null lower half, less the harness loop,
    and the loop, from results.json; None when callgrind did not run."""
    cg = R.get("callgrind") or {}
    rows = (cg.get("rows") or {}).get("null")
    if not rows:
        return None
    loop = cg.get("loop_overhead", 0.0)
    return {k: (v["total"]["ir"] - loop, v["floor"]["ir"] - loop) for k, v in rows.items()
            if "total" in v and "floor" in v}, loop


def x86_from_markdown(path):
    """The same figures, read back from the null-lower-half table of a
    BENCHMARKS.md (its harness loop from the text of section 1)."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"the same harness loop \(([\d.]+) Ir per iteration", text)
    loop = float(m.group(1)) if m else 0.0
    i = text.find("### null lower half")
    rows = {}
    titles = {t: k for k, t, _ in ROWS}
    for ln in text[i:].splitlines()[1:] if i >= 0 else []:
        if ln.startswith("#"):
            break
        c = [x.strip() for x in ln.strip("|").split("|")]
        if len(c) > 2 and c[0] in titles:
            rows[titles[c[0]]] = (float(c[1].replace(",", "")) - loop, float(c[2].replace(",", "")) - loop)
    return (rows, loop) if rows else None


def section(A, x86, x86_note=""):
    """Lines of the section. A: bench/arm_icount.py's JSON, or {"error": why}.
    x86: ({row: (total, floor)}, loop) or None; x86_note: where the x86-64
    figures come from, when not from the same run."""
    L = []
    w = L.append
    w(TITLE)
    w("")
    if not A or A.get("error"):
        w("**Not measured in this run**: " + (A or {}).get("error", "the bench-arm stage did not run") +
          ". `make bench-arm` needs qemu-system-arm, arm-none-eabi-gcc and the Rust target thumbv7m-none-eabi "
          "(`tools/ensure_deps.sh --with-arm` installs them).")
        w("")
        return L
    rows = A["rows"]
    when = f" on {A['date']}, git `{A['git']}`" if A.get("date") else ""
    w(f"The paths of section 1, executed on a Cortex-M3: QEMU {A['qemu_version'].split('version ')[-1]} "
      f"emulating `mps2-an385`, measured by `make bench-arm`{when}; the measuring script took {A['seconds']:.0f} s "
      f"({A['runs']} runs of the image, {', '.join(f'{s:.1f}' for s in A['run_seconds'])} s each). "
      f"The counts are deterministic: the {A['runs']} runs gave identical counts"
      + (" (checked on every run: `make bench-arm` fails when they differ)." if A["identical"] else
         " **NO: they differed**."))
    w("")
    w("How they are counted:")
    w("")
    w(f"- QEMU runs the image with `-icount shift={A['shift']},sleep=off`: its virtual clock advances "
      f"2^{A['shift']} = {A['ns_per_insn']} ns per executed instruction, independently of the host, and "
      "`sleep=off` makes an idle CPU jump to the next timer event instead of following the host's clock. "
      "The image (`tests-arm/bench_arm.c`) reads the board's CMSDK APB timer 0 (25 MHz, a free-running "
      "32-bit down counter, no interrupt) before and after each region.")
    w(f"- Calibration, not assumption: an assembler loop of {A['calibration']['insns']:,} instructions "
      f"(`subs` + `bne`, 10^6 iterations) read {A['calibration']['counts']:,} timer counts, less "
      f"{A['calibration']['reads_counts']} for the two reads alone: **{A['ratio']:.6f} counts per "
      f"instruction** (25 MHz x {A['ns_per_insn']} ns = {A['ns_per_insn'] / 40:.6f}). With "
      "`shift=0` (1 ns per instruction) the same loop read 50,000 counts (checked once by hand, 1 per 40 instructions): each "
      "interval would be known to about 40 instructions, too coarse for the 210 intervals of a batched "
      f"region; at shift {A['shift']} an interval is exact to about one instruction.")
    dwt = A.get("dwt") or {}
    if dwt:
        counts = dwt["cyccnt"][0] != dwt["cyccnt"][1]
        w(f"- The DWT cycle counter: with DEMCR.TRCENA set, DWT_CTRL reads {dwt['ctrl']} and DWT_CYCCNT "
          f"reads {dwt['cyccnt'][0]} then {dwt['cyccnt'][1]} across 4 NOPs: "
          + ("it counts." if counts else "QEMU does not model it on this machine, so the timer is used."))
    w(f"- {rows['blocking']['messages']:,} messages per single-message region, "
      f"{rows['nb_queue']['messages']:,} (210 batches of 48) per queue/drain region; 24-byte messages. "
      f"The harness is subtracted: an empty loop costs {A['loop_overhead']:.2f} instructions per iteration, "
      f"an empty batch {A['batch_overhead']:.2f} per message (its loop and its share of the timer reads); the "
      "raw figures are in `" + A.get("json", "build/arm/bench_arm.json") + "`. The SysTick interrupt is off inside a measured region "
      "(the clock stands still, as on the host's minimal port), so no tick handler is counted.")
    w("- The library is libmbox.a as `make test-arm` builds it (release, LTO, opt-level \"s\", trace + pl320, "
      "`thumbv7m-none-eabi`); the port (`ffi/cortexm/`), the fake lower half (`tests-arm/arm_fake.c`) and "
      "the bench are arm-none-eabi-gcc -O2 for `-mcpu=cortex-m3 -mthumb`. memcpy/memset/`__aeabi_memclr8` "
      "come from the port's minimal C library (`ffi/cortexm/libc/string.c`: byte loops, about 3 "
      "instructions per byte), not from compiler_builtins.")
    w("")
    w("Exact commands:")
    w("")
    w("```sh")
    w("make bench-arm")
    w("# which runs, twice:")
    w(A["command"])
    w("```")
    w("")
    w("**total** = through the upper half; **floor** = the same lower-half work through the `mbox_ops_s` "
      "table (the Arm fake's `send` logs the token and first word, its `txfinish` counts: a little more work "
      "than the x86-64 null lower half, so compare the **added** columns); both without the harness. The "
      "x86-64 figures are the null-lower-half table of section 1 less its harness loop "
      + (f"({x86[1]:.0f} Ir)" if x86 else "") + "." + (f" {x86_note}" if x86_note else ""))
    w("")
    for key, title, what in ROWS:
        w(f"- **{title}**: {what}")
    w("")
    trs = []
    for key, title, _ in ROWS:
        r = rows[key]
        xt = x86[0].get(key) if x86 else None
        trs.append([title, _fmt(r["total"]), _fmt(r["floor"]), _fmt(r["total"] - r["floor"]),
                    _fmt(xt[0]) if xt else "n/a", _fmt(xt[1]) if xt else "n/a",
                    _fmt(xt[0] - xt[1]) if xt else "n/a",
                    f"{(r['total'] - r['floor']) / (xt[0] - xt[1]):.2f}" if xt and xt[0] > xt[1] else "n/a"])
    w(_table(["path", "Thumb total", "Thumb floor", "Thumb added", "x86-64 total", "x86-64 floor",
              "x86-64 added", "added Thumb / x86-64"], trs))
    w("")
    w("Instructions per message. To read the blocking row:")
    w("")
    w(f"- An interrupt round trip (pend from the task, exception entry, the port's dispatch, an empty "
      f"handler, return) costs {_fmt(A['irq_roundtrip'])} instructions on its own; the blocking row pays one, "
      "the x86-64 blocking row (the ACK run synchronously by the minimal port's wait) none.")
    w(f"- A blocking send clears the port's 128-byte wait storage (`MBOX_OS_WAIT_SIZE`) with "
      f"`__aeabi_memclr8`; with this port's byte-loop C library that alone costs {_fmt(A['memclr128'])} "
      "instructions, over a third of the row (a word-at-a-time memset would take a fraction of that).")
    w("- No WFI is executed: the ACK interrupt runs as the upper half leaves its critical section, before "
      "the sender reaches its wait. A WFI under `sleep=off` would warp the clock to the next timer event and "
      "show as thousands of instructions.")
    w("")
    sz = A["sizes"]
    lm, bi, wh = sz.get("libmbox", {}), sz.get("builtins", {}), A["whole"]
    w("Code size in the bench image (`build/arm/bench_arm.elf`, `--gc-sections`; GNU ld map summed over the "
      "input sections kept from libmbox.a, and `arm-none-eabi-size` of the ELF):")
    w("")
    w(_table(["", ".text", ".rodata", ".data", ".bss"], [
        ["libmbox's own code (the upper half with TRACE, what the bench calls)", f"{lm.get('text', 0):,}",
         f"{lm.get('rodata', 0):,}", f"{lm.get('data', 0):,}", f"{lm.get('bss', 0):,}"],
        ["compiler_builtins members of libmbox.a (64-bit division, pulled in by the port's printf)",
         f"{bi.get('text', 0):,}", f"{bi.get('rodata', 0):,}", "0", "0"],
        ["whole image (`size`: text = code + .rodata + vectors)", f"{wh['text']:,}", "(in text)",
         f"{wh['data']:,}", f"{wh['bss']:,}"],
    ]))
    w("")
    w("The PL320 driver is not linked here (the bench does not call `pl320_initialize()`, and `--gc-sections` "
      "drops it): this is what the upper half's C API costs a firmware that calls these functions; section 4 has the whole library per configuration "
      "(Cortex-M4F). Largest libmbox functions in the image: " +
      ", ".join([f"`{f['name']}` {f['bytes']:,} B" for f in A["top_functions"]
                 if f["origin"] == "libmbox"][:8]) + ".")
    w("")
    return L


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        A = json.load(f)
    with open(sys.argv[2]) as f:
        m = re.search(r"one run of `make bench` on ([^(]+?) \(git `(\w+)`\)", f.read())
    note = (f"The x86-64 figures are copied from section 1, from the `make bench` run of {m.group(1)} "
            f"(git `{m.group(2)}`); the Thumb figures are from the `make bench-arm` run above." if m else "")
    print("\n".join(section(A, x86_from_markdown(sys.argv[2]), note)))


if __name__ == "__main__":
    main()
