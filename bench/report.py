#!/usr/bin/env python3
"""Write BENCHMARKS.md from the results.json of bench/run.py.

Every number in the file comes from that one run. The prose around the
tables is a template written by hand; its numbers are filled in here, and
the verdict on each target (met / missed by how much) is computed here.
Source references (file:line) are looked up in the current sources.

usage: report.py build/bench/results.json BENCHMARKS.md
"""

import json
import os
import re
import sys

import report_arm
import report_c

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ROWS = [
    ("blocking", "blocking send + its ACK",
     "`mbox_send()` (blocking, 24 bytes) on an idle channel. The minimal port's wait delivers the remote's "
     "ACK synchronously: the blocked sender's `mbox_os_wait_timed()` runs the lower half's \"interrupt\" "
     "(mark the ACK, `mbox_chan_tx_done()` / `_token()`), which completes the message and posts the waiter; "
     "the sender then returns 0. Everything from the call to its return, ACK included.",
     "`ops->send()`, then the ACK as the lower half sees it (fake: mark ACK, `ops->txacked()`, "
     "`ops->txfinish()`; null: `ops->txfinish()`)."),
    ("nb_idle", "non-blocking send on an idle channel + its ACK",
     "`mbox_ticksend(.., 0)` on an idle channel (sent at once), then the ACK through `mbox_chan_tx_done()` "
     "(fake) / `mbox_chan_tx_done_token()` (null).",
     "as for the blocking send."),
    ("nb_queue", "non-blocking send that queues",
     "`mbox_ticksend(.., 0)` while a message is in flight: the message is copied into the channel's ring "
     "(48 per batch, queue depth 1..48; the batches are drained unmeasured).",
     "the lower half does nothing when a message queues; the floor is the copy a queue cannot avoid: "
     "`memcpy()` of the 24-byte payload into a slot (a non-inlined function)."),
    ("drain", "draining the queue on ACK",
     "one ACK (`mbox_chan_tx_done[_token]()`) with messages queued: it ends the message in flight and starts "
     "the oldest queued one from the ring (48 per batch).",
     "the ACK as the lower half sees it plus `ops->send()` of the next message."),
    ("burst8", "8 non-blocking sends, then their 8 ACKs (per message)",
     "8 `mbox_ticksend(.., 0)` on an idle channel (the first goes out at once, 7 queue), then the 8 ACKs "
     "(`mbox_chan_tx_done[_token]()`, each starting the next queued message); the C driver's figure "
     "\"8 queued sends then 8 ACKs\" is the same sequence.",
     "8 times `ops->send()` and the ACK as the lower half sees it."),
    ("rx", "RX delivery to a callback",
     "`mbox_chan_rx_data()` on an RX channel with a registered callback: `ops->recv()` into the channel's "
     "buffer, `ops->acknowledge()`, then the client callback.",
     "`ops->recv()`, `ops->acknowledge()` and the same callback, called directly."),
]

TARGETS = [
    ("fake", "fake lower half (ctest/fake_lower.c)",
     "the scriptable fake of the C tests: every op takes its pthread mutex (uncontended), `send` logs the "
     "message; ACKs are confirmed through `txacked` (`mbox_chan_tx_done()`)"),
    ("null", "null lower half (bench/instr.c)",
     "the cheapest possible lower half: ops that only record; ACKs carry the token "
     "(`mbox_chan_tx_done_token()`, as PL320 does), so there is no `txacked`"),
]


def locate(rel, needle):
    """`rel:line` of the first line of `rel` containing `needle`."""
    try:
        with open(os.path.join(ROOT, rel)) as f:
            for i, line in enumerate(f, 1):
                if needle in line:
                    return f"{rel}:{i}"
    except OSError:
        pass
    return rel


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    return f"{x:,.{nd}f}"


def pct(a, b):
    return 100.0 * (a - b) / b if b else 0.0


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        R = json.load(f)
    out_path = sys.argv[2]
    m = R["machine"]
    cg = R["callgrind"]
    rows = cg["rows"]
    size = R["size"]
    heap = R["heap"]
    tc = R["twocore"]
    rust = R["rust"]
    L = []
    w = L.append

    # ------------------------------------------------------------------
    # Derived numbers and verdicts
    # ------------------------------------------------------------------
    ratios = {t: {r: rows[t][r]["total"]["ir"] / rows[t][r]["floor"]["ir"] for r in rows.get(t, {})
                  if "total" in rows[t][r] and "floor" in rows[t][r]} for t, _, _ in TARGETS}
    fake_ratios = ratios.get("fake", {})
    worst_fake = max(fake_ratios.items(), key=lambda kv: kv[1]) if fake_ratios else ("-", 0)
    ops_rows = [r for r in ("blocking", "nb_idle", "drain", "rx") if r in fake_ratios]
    ops_over = [r for r in ops_rows if fake_ratios[r] > 2.0]

    def cs_vals(tgt, what):
        d = cg["cs"].get(tgt, {}).get(what, {})
        return {int(k): v["ir_per_call"] for k, v in d.items()}

    cs_flat = True
    cs_notes = []
    for tgt, _, _ in TARGETS:
        for what in ("cs_send", "cs_txdone"):
            v = cs_vals(tgt, what)
            deep = [v[k] for k in sorted(v) if k >= 1]
            if deep:
                spread = max(deep) - min(deep)
                if spread > 0.05 * max(deep) + 2:
                    cs_flat = False
                cs_notes.append((tgt, what, min(deep), max(deep)))

    full = size["configs"]["trace-pl320"]["app"]
    upper = size["configs"]["trace"]["app"]
    upper_nt = size["configs"]["none"]["app"]
    pl_only = size["configs"]["pl320"]["app"]
    text_full = full["text"]
    limit = 8192
    text_ok = text_full <= limit
    arm = size.get("arm") or {"measured": False, "reason": "this results.json has no Arm size stage"}
    arm_ok = bool(arm.get("measured"))
    if arm_ok:
        arm_full = arm["configs"]["trace-pl320"]["app"]
        arm_full_b = arm["configs"]["trace-pl320"]["app_builtins"]
        arm_text = arm_full["text"]
        arm_text_ok = arm_text <= limit
        arm_total_ok = arm_text + arm_full_b["text"] <= limit
    alloc_libmbox = heap["twocore_callgraph"]["alloc_calls_from_libmbox"]
    mc = heap["memcheck_instr"]
    alloc_syms = sorted({s for cfg in size["undefined"].values() for s in cfg
                         if re.match(r"^(malloc|calloc|realloc|free|posix_memalign|aligned_alloc|__rust_alloc|"
                                     r"__rust_dealloc|__rust_realloc)", s)})
    heap_ok = alloc_libmbox == 0 and mc.get("allocs") == 0 and not alloc_syms

    # ------------------------------------------------------------------
    # Header
    # ------------------------------------------------------------------
    w("# libmbox benchmarks")
    w("")
    w("<!-- Generated by `make bench` (bench/run.py, then bench/report.py). Do not edit: run `make bench` "
      "again. -->")
    w("")
    w(f"Every number below comes from one run of `{R['command']}` on {m['date']} (git `{m['git']}`), which "
      f"took {R['elapsed_s']:.0f} s. The machine is shared and noisy: instruction counts (callgrind) repeat "
      "exactly from run to run, wall-clock numbers (two-core, Rust micro-benchmark) do not, so compare "
      "wall-clock numbers only within one run.")
    w("")
    missing = []
    if not arm_ok:
        missing.append(f"the Arm (Cortex-M4F) size section could not run: {arm.get('reason', '?')}")
    if (R.get("arm_icount") or {}).get("error"):
        missing.append(f"the Cortex-M3 section (`make bench-arm`) could not run: {R['arm_icount']['error']}")
    if rust.get("error"):
        missing.append(f"the Rust micro-benchmark could not run: {rust['error']}")
    for what in missing:
        w(f"**NOT MEASURED IN THIS RUN: {what}.**")
        w("")
    loaded = [name for name, st in (("3. Two cores", tc), ("3b. FIFO depth", R.get("fifo") or {}),
                                    ("6. Rust micro-benchmark", rust))
              if st.get("loadavg") and max(st["loadavg"]) > st.get("nproc", 1)]
    if loaded:
        w(f"**Wall-clock sections run on a loaded machine (load average above the core count): "
          f"{', '.join(loaded)}.** Each says so with its load average.")
        w("")
    w("## Reproduce")
    w("")
    w("```sh")
    w(R["command"])
    w("```")
    w("")
    w("It builds libmbox.a in four configurations into `target/bench/` (never the main `target/`), builds "
      "the C programs of `bench/`, runs them (under valgrind where stated), runs the Rust micro-benchmark, "
      "draws the plots with `bench/plot.py` (matplotlib, installed with pip if missing) and writes this file "
      "with `bench/report.py`. Raw results: `build/bench/results.json`. Stage times: " +
      ", ".join(f"{k} {v:.0f} s" for k, v in R["stages"].items()) + ".")
    w("")
    w("## Machine")
    w("")
    w(table(["", ""], [
        ["CPUs (nproc)", m["nproc"]], ["CPU model", m["cpu"]], ["memory", m["memory"]],
        ["kernel", m["kernel"]], ["rustc", m["rustc"]], ["cargo", m["cargo"]], ["gcc", m["gcc"]],
        ["valgrind", m["valgrind"]], ["python", m["python"]],
        ["Arm size link", (f"{arm['tools']['clang']}, {arm['tools']['lld']}" if arm_ok
                           else f"not measured: {arm.get('reason', '?')}")],
    ]))
    w("")

    # ------------------------------------------------------------------
    # Targets
    # ------------------------------------------------------------------
    w("## Targets")
    w("")
    w("Reported, not asserted (speed targets live in benchmarks, never in tests).")
    w("")
    trows = []
    rtxt = ", ".join(f"{r} {fake_ratios[r]:.2f}x" for r in ops_rows)
    loose_over = [r for r in ops_rows if fake_ratios[r] > 3.0]
    if ops_over:
        worst = max(fake_ratios[r] for r in ops_rows)
        verdict = (f"**missed**: {len(ops_over)} of {len(ops_rows)} paths above 2x, worst "
                   f"{worst:.2f}x ({pct(worst, 2.0):.0f}% over). Read as \"instructions added at most 2x the "
                   f"floor\" (total at most 3x): " +
                   ("met" if not loose_over else f"missed on {', '.join(loose_over)}"))
    else:
        verdict = "met"
    trows.append(["upper half + lower half at most 2x the direct lower-half floor (instructions, fake lower half; "
                  "the floor has no critical section, timer or queue, so no upper half reaches it: the C driver "
                  "is the yardstick, next row)",
                  rtxt + f"; queued send vs a bare memcpy {fake_ratios.get('nb_queue', 0):.1f}x", verdict])
    def rng(lo, hi):
        return f"{lo:.0f} Ir" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f} Ir"

    cs_txt = "; ".join(f"{'queued send' if w_ == 'cs_send' else 'ACK draining one'} ({t}): {rng(lo, hi)}"
                       for t, w_, lo, hi in cs_notes)
    trows.append(["O(1) critical sections (lock-held instructions vs 0..64 queued)",
                  cs_txt + " (depths 1..64)", "met" if cs_flat else "**missed**"])
    trows.append([f"at most 8 KiB (8,192 B) .text for upper half + PL320 + TRACE (x86-64, --gc-sections)",
                  f"{text_full:,} B .text (+{full['rodata']:,} B .rodata)",
                  "met" if text_ok else f"**missed** by {text_full - limit:,} B ({pct(text_full, limit):.1f}%)"])
    if arm_ok:
        tot = arm_text + arm_full_b["text"]
        trows.append(["at most 8 KiB (8,192 B) .text for upper half + PL320 + TRACE (Cortex-M4F, thumbv7em, "
                      "--gc-sections)",
                      f"{arm_text:,} B .text of libmbox's own code (+{arm_full['rodata']:,} B .rodata); "
                      f"{tot:,} B with the {arm_full_b['text']:,} B of memcpy/memmove/memset that the Arm "
                      "libmbox.a brings along (compiler_builtins)",
                      ("met" if arm_text_ok else f"**missed** by {arm_text - limit:,} B ({pct(arm_text, limit):.1f}%)")
                      + ("" if arm_text_ok == arm_total_ok else
                         ("; with compiler_builtins: met" if arm_total_ok else
                          f"; with compiler_builtins: **missed** by {tot - limit:,} B"))])
    else:
        trows.append(["at most 8 KiB (8,192 B) .text for upper half + PL320 + TRACE (Cortex-M4F, thumbv7em)",
                      f"**NOT MEASURED**: {arm.get('reason', '?')}", "**not measured**"])
    trows.extend(report_c.target_rows(R))
    trows.append(["no heap use, ever",
                  f"{mc.get('allocs')} allocations in a libmbox program (memcheck); {alloc_libmbox} allocator "
                  f"calls from libmbox in the two-core run (callgrind call graph); allocator symbols referenced "
                  f"by libmbox.a: {', '.join(alloc_syms) if alloc_syms else 'none'}",
                  "met" if heap_ok else "**missed**"])
    w(table(["target", "measured", "verdict"], trows))
    w("")
    w("Why the misses, and what in the upper half costs: see [Against the C driver](#against-the-c-driver) "
      "and [Analysis](#analysis).")
    w("")
    L.extend(report_c.section(R))

    # ------------------------------------------------------------------
    # 1. Instructions
    # ------------------------------------------------------------------
    w("## 1. Instructions per message (callgrind)")
    w("")
    w("`bench/instr.c` runs single-threaded on a minimal port (`bench/port_min.c`: the critical section is "
      "a nesting counter, the clock a variable, the watchdog records its arming; no thread, no system call), "
      "under `valgrind --tool=callgrind --collect-atstart=no`. Each region is collected between "
      "`CALLGRIND_TOGGLE_COLLECT` pairs and dumped with `CALLGRIND_DUMP_STATS_AT`; the count is divided by "
      f"the number of messages ({cg['iters']:,} per single-message region, {cg['per_batch']:,} for the "
      "queue/drain regions). Messages are 24 bytes (the framed PL320 format's MTU). The library is the shipped build "
      "(release, LTO, opt-level \"s\", trace + pl320); the C code is gcc -O2.")
    w("")
    w("**total** = through the upper half (what a client pays, lower half and port included). **floor** = "
      "the same lower-half work called directly through the `mbox_ops_s` table, no upper half. Both include "
      f"the same harness loop ({cg['loop_overhead']:.0f} Ir per iteration for an empty loop). "
      "**added** = total - floor; **ratio** = total / floor. **libmbox** = instructions executed in "
      "libmbox's own code, **port** = in the port functions; the last column counts the port calls per "
      "message: critical sections entered, clock reads, watchdog starts + cancels.")
    w("")
    w("The floor is a lower bound that no upper half, C or Rust, can reach: it has no critical section, no "
      "timer, no queue and no argument check. The real yardstick is the C driver measured on the same "
      "harness: its figures are in the last column of the null-lower-half table and in "
      "[Against the C driver](#against-the-c-driver).")
    w("")
    w("What each row measures:")
    w("")
    for key, title, what, floor in ROWS:
        w(f"- **{title}** (`{key}`): {what} Floor: {floor}")
    w("")
    for tgt, tname, tdesc in TARGETS:
        if tgt not in rows:
            continue
        w(f"### {tname}")
        w("")
        w(f"{tdesc[0].upper() + tdesc[1:]}.")
        w("")
        trs = []
        for key, title, _, _ in ROWS:
            d = rows[tgt].get(key)
            if not d or "total" not in d or "floor" not in d:
                continue
            t, fl = d["total"], d["floor"]
            cat = t["by_category"]
            pcs = t.get("port_calls", {})

            def g(k):
                v = pcs.get("mbox_os_" + k, 0)
                return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.2f}"

            cref = {"nb_idle": report_c.C_IR_SEND_ACK, "burst8": report_c.C_IR_BURST8}.get(key)
            ctxt = (" / ".join(f"{v} ({lab})" for lab, v in cref) if cref and tgt == "null" else "-")
            trs.append([title, fmt(t["ir"]), fmt(fl["ir"]), ctxt, fmt(t["ir"] - fl["ir"]),
                        f"{t['ir'] / fl['ir']:.2f}x",
                        fmt(cat.get("libmbox", 0)), fmt(cat.get("port", 0)),
                        f"{g('enter_critical')} / {g('ticks')} / {g('timer_start')}+{g('timer_cancel')}"])
        w(table(["path", "total Ir/msg", "floor Ir/msg", "C driver Ir/msg", "added", "ratio", "libmbox",
                 "port", "lock / clock / timer start+cancel"], trs))
        w("")
    if "null" in rows:
        w("Where the instructions go (null lower half, instructions per message executed in each function "
          "itself, top entries):")
        w("")
        trs = []
        for key, title, _, _ in ROWS:
            d = rows["null"].get(key, {}).get("total")
            if not d:
                continue
            top = [f"{re.sub(r'^<?mbox::', '', fn)} {c:.0f}" for fn, c in d["top"]
                   if not fn.startswith(("main", "run_target", "(below", "0x", "__libc_start"))][:7]
            trs.append([title, "; ".join(top)])
        w(table(["path", "self Ir per message"], trs))
        w("")

    # ------------------------------------------------------------------
    # 2. Critical sections
    # ------------------------------------------------------------------
    w("## 2. Critical-section length against queue depth")
    w("")
    w("Instructions executed with the critical section held, counted by callgrind: the minimal port's "
      "outermost `mbox_os_enter_critical()` / `mbox_os_leave_critical()` toggle collection while the bench "
      f"sets `bench_cs_measure` around one call ({cg['cs_reps']} calls per depth, averaged). Depth = messages "
      "already queued in the ring behind the one in flight. *send* = a non-blocking send that queues "
      "(depth -> depth+1); *tx_done* = the ACK of the message in flight, which starts the next queued one "
      "(depth -> depth-1; at depth 0 it only ends the message and the channel goes idle, a shorter path). "
      "Each call takes the critical section once. The lower half's ops run inside it (the fake's mutex "
      "operations are in the fake column).")
    w("")
    depths = sorted({int(k) for t in cg["cs"].values() for wv in t.values() for k in wv})
    hdr = ["queued messages"]
    cols = []
    for tgt, _, _ in TARGETS:
        for what, lab in (("cs_send", "send (queues)"), ("cs_txdone", "tx_done (drains one)")):
            if tgt in cg["cs"]:
                hdr.append(f"{tgt}: {lab}")
                cols.append(cs_vals(tgt, what))
    trs = []
    for dpt in depths:
        trs.append([dpt] + [fmt(c.get(dpt), 0) for c in cols])
    w(table(hdr, trs))
    w("")
    w("Flat from 1 to 64 queued messages: " + ("yes" if cs_flat else "**no**") +
      ". The ring (`src/upper/queue.rs`) and the waiter list are O(1) per operation; nothing in the send or ACK "
      "path walks the queue.")
    w("")

    # ------------------------------------------------------------------
    # 3. Two cores
    # ------------------------------------------------------------------
    cfgt = tc.get("config") or {}
    w("## 3. Two cores over the PL320 model")
    w("")
    w(report_c.load_note(tc))
    w("")
    w("`bench/twocore.c`: two simulated cores, A and B, each with its own PL320 lower half "
      "(`pl320_initialize()`, its own IPCM interrupt line and host IRQ), sharing the register-accurate "
      "IPCM model (`ffi/host/pl320_model.c`) on the host port (pthreads; every interrupt is delivered by "
      "a thread). Mailbox 0 carries A -> B, mailbox 1 B -> A. S sender threads on core A send PL320_MTU-byte (28 in the default compatible format) "
      "messages on the one A -> B channel:")
    w("")
    w("- **blocking**: each sender loops `mbox_send()`. Latency = one `mbox_send()` call: message to B, "
      "B's interrupt handler receives and ACKs it, A's interrupt handler completes it and wakes the sender "
      "(send -> ACK round trip). Throughput = completed `mbox_send()` calls per second.")
    w("- **window D** (queue depth D): each sender keeps at most D non-blocking messages "
      "(`mbox_ticksend(.., 0)`) outstanding: it takes a credit per send, B's RX callback echoes every message "
      "back on mailbox 1 (non-blocking, from its interrupt handler) and A's RX callback returns the credit. "
      "Latency = that echo round trip, from just before `mbox_ticksend()` to A's callback, including the "
      "time spent queued in both rings. Throughput = messages A -> B per second (each one echoed). "
      f"The rings hold {cfgt.get('ring_msgs', '?')} messages, so no send is ever refused (`queue_full` "
      "must stay 0).")
    w("")
    w(f"Each configuration runs {cfgt.get('rounds', 1)} rounds of {cfgt.get('warmup_s', 0):.1f} s warm-up + "
      f"{cfgt.get('seconds', 0):.1f} s measured; rounds go over all configurations in turn. Throughput = "
      "median of the rounds (min - max in brackets); latency percentiles over all samples of all rounds.")
    w("")
    trs = []
    for r in sorted(tc["results"], key=lambda r: (r["senders"], r["depth"])):
        rr = r.get("msgs_per_s_rounds", [r["msgs_per_s"]])
        trs.append([r["senders"], "blocking" if r["depth"] == 0 else r["depth"],
                    f"{fmt(r['msgs_per_s'])} ({fmt(min(rr))} - {fmt(max(rr))})",
                    fmt(r["p50_us"], 1), fmt(r["p99_us"], 1), fmt(r["p999_us"], 1), fmt(r["max_us"], 1),
                    f"{r['messages']:,}",
                    f"{r['queue_full']}/{r['timeouts']}/{r['errors'] + r['lost']}"])
    w(table(["senders", "depth", "msgs/s median (min - max)", "p50 us", "p99 us", "p99.9 us", "max us",
             "messages", "queue_full/timeouts/errors"], trs))
    w("")
    model = tc.get("model") or {}
    w(f"PL320 model after the run: {model.get('register_writes', 0):,} register writes, "
      f"{model.get('protocol_errors', '?')} protocol errors.")
    w("")
    if R.get("plots"):
        for p in R["plots"]:
            rel = os.path.relpath(os.path.join(ROOT, p), os.path.dirname(os.path.abspath(out_path)))
            w(f"![{os.path.basename(p)}]({rel})")
            w("")
    else:
        w("*(No plots: matplotlib could not be installed in this run.)*")
        w("")
    bl = {r["senders"]: r for r in tc["results"] if r["depth"] == 0}
    spreads = [max(r["msgs_per_s_rounds"]) / max(min(r["msgs_per_s_rounds"]), 1) for r in tc["results"]
               if r.get("msgs_per_s_rounds")]
    spread = max(spreads) if spreads else 1.0
    best = max(tc["results"], key=lambda r: r["msgs_per_s"])
    b1 = bl.get(1, {})
    deep = max((r for r in tc["results"] if r["depth"] > 0), key=lambda r: r["senders"] * r["depth"])
    little = deep["senders"] * deep["depth"] / max(deep["msgs_per_s"], 1) * 1e6
    w(f"Reading it: one blocking sender completes {fmt(b1.get('msgs_per_s'))} send -> ACK round trips per "
      f"second (p50 {fmt(b1.get('p50_us'), 1)} us per `mbox_send()`). A channel carries one message at a "
      "time (a PL320 mailbox has no FIFO; the next message goes when the ACK of the previous one is in), so "
      "its throughput is about 1 / (send -> ACK time) whatever the number of senders or the depth: "
      f"{fmt(min(r['msgs_per_s'] for r in tc['results']))} - {fmt(max(r['msgs_per_s'] for r in tc['results']))} "
      "msgs/s over all configurations here. More senders and deeper windows only add queueing delay, as "
      f"Little's law says: with {deep['senders']} x {deep['depth']} = {deep['senders'] * deep['depth']} messages "
      f"outstanding at {fmt(deep['msgs_per_s'])} msgs/s a message waits about {little / 1000:.1f} ms; the "
      f"measured p50 is {deep['p50_us'] / 1000:.1f} ms.")
    w("")
    w("These are numbers of the simulation, not of silicon: every interrupt is a thread of the host port "
      "that has to be woken on the other CPU, and every register access goes through the model's lock. "
      + ("Core A's threads (senders and its interrupt thread) are pinned to CPU 0 and core B's interrupt "
         "thread to CPU 1, as on two real cores, so each message costs cross-CPU wake-ups of tens of "
         "microseconds, against hundreds of instructions in the upper half (section 1). "
         if cfgt.get("pinned") else "Threads are not pinned. ") +
      f"The rounds of one configuration differ by up to {spread:.1f}x in this run (min - max column): "
      "the machine is shared, so compare medians, and only within one run.")
    w("")

    # ------------------------------------------------------------------
    # 3b. FIFO depth
    # ------------------------------------------------------------------
    ff = R.get("fifo")
    if ff:
        fc = ff.get("config") or {}
        wire_us = fc.get("wire_ns", 0) / 1000
        serv_us = fc.get("service_ns", 0) / 1000
        w("## 3b. Throughput against the hardware FIFO depth (several messages in flight)")
        w("")
        w("`bench/fifo.c`: one TX channel on the host port with a FIFO-capable fake lower half: "
          "`mbox_dev_s.txdepth` = D, its `send` pushes the message (with `chan->txtoken`) into a hardware-FIFO "
          "model, and a \"remote core\" thread pops it in order, sees it "
          f"{wire_us:.0f} us after it was sent (the interrupt round trip between cores), works on it for "
          f"{serv_us:.0f} us (busy wait), then ACKs it with `mbox_chan_tx_done_token(chan, token)`. One sender "
          f"thread pushes {fc.get('messages', 0):,} non-blocking {fc.get('msg_size', '?')}-byte messages "
          f"through a {fc.get('queue_msgs', '?')}-message ring (pausing briefly on -ENOBUFS), with a TX-done "
          "callback registered. Every run checks that each message was ACKed exactly once (no ACK refused), "
          "that every TX-done callback reported 0, that the statistics balance (sent = acked = messages, no "
          "timeout or spurious ACK) and that the lower half never had more than D messages in flight; the "
          "bench fails otherwise. Depths run interleaved in one process, "
          f"{(ff['results'][0]['rounds'] if ff.get('results') else '?')} rounds; msgs/s is the median "
          "(min - max in brackets), the speed-up is against the median of depth 1 of the same run.")
        w("")
        base = next((r["median_msgs_per_s"] for r in ff["results"] if r["depth"] == 1), None)
        frs = []
        for r in sorted(ff["results"], key=lambda r: r["depth"]):
            bound = min(r["depth"] / ((wire_us + serv_us) * 1e-6), 1 / (serv_us * 1e-6)) if serv_us else 0
            frs.append([r["depth"],
                        f"{fmt(r['median_msgs_per_s'])} ({fmt(r['min_msgs_per_s'])} - {fmt(r['max_msgs_per_s'])})",
                        f"{r['median_msgs_per_s'] / base:.2f}x" if base else "-",
                        fmt(bound)])
        w(table(["depth", "msgs/s median (min - max)", "speed-up vs depth 1", "model bound msgs/s"], frs))
        w("")
        top = max(ff["results"], key=lambda r: r["depth"])
        per_us = 1e6 / max(top["median_msgs_per_s"], 1)
        bound_us = max((wire_us + serv_us) / top["depth"], serv_us)
        la = ff.get("loadavg") or ["?", "?"]
        w(f"What limits it: at depth 1 every message pays the whole {wire_us + serv_us:.0f} us round trip plus "
          "the framework's ACK path before the next one can go; a deeper FIFO overlaps the round trips, so "
          "throughput grows with D until the remote's serial per-message work dominates: its "
          f"{serv_us:.0f} us of service plus the upper half's ACK path in its context "
          "(`mbox_chan_tx_done_token`, starting the next queued message from the ring, handing out the "
          "TX-done callback: four critical sections of the one global lock, which the sender also takes). "
          f"At depth {top['depth']} a message took {per_us:.1f} us here against a model bound of "
          f"{bound_us:.1f} us; the rest is that ACK path and, on this shared {ff.get('nproc', '?')}-CPU "
          f"machine (load average {la[0]} before the stage, {la[1]} after), the time the two spinning "
          "threads of the bench (sender and remote core) lose to other processes: compare the min - max "
          "spread, and only ratios within one run.")
        w("")
        w(report_c.load_note(ff))
        w("")

    # ------------------------------------------------------------------
    # 4. Size
    # ------------------------------------------------------------------
    w("## 4. Code and data size")
    w("")
    left = size.get("size_app_left_out")
    if left is None:
        left_txt = ("(this results.json does not list the public functions it leaves out; see the header "
                    "comment of `bench/size_app.c`)")
    elif left:
        left_txt = ("and leaves out, because the C driver has none of them and --gc-sections drops what a "
                    "firmware does not call: " + ", ".join(f"`{f}()`" for f in left))
    else:
        left_txt = "which is every public function"
    w("`bench/size_app.c` calls the NuttX mailbox API (plus `pl320_initialize()` with PL320, "
      f"`mbox_chan_get_stats()` with TRACE) {left_txt}. It is linked with `-ffunction-sections -fdata-sections "
      "-Wl,--gc-sections` against each configuration of libmbox.a, and the linker map is summed over the "
      "input sections kept from libmbox.a (the port, `bench/port_min.c`, is not counted). The same "
      "program without the calls keeps from libmbox.a only the symbol that `mbox.h`'s link-time "
      "configuration check refers to, one byte of .rodata (baseline column). x86-64, the library built "
      "as shipped (opt-level \"s\", LTO, panic = abort). `.rodata` includes `.data.rel.ro`; unwind tables "
      "(`.eh_frame`, which a firmware build usually drops) are listed apart.")
    w("")
    trs = []
    for name, lab in (("none", "upper half"), ("trace", "upper half + TRACE"), ("pl320", "upper half + PL320"),
                      ("trace-pl320", "upper half + PL320 + TRACE")):
        e = size["configs"][name]
        a = e["app"]
        b = e["baseline"]
        trs.append([lab, f"{a['text']:,}", f"{a['rodata']:,}", f"{a['text'] + a['rodata']:,}", f"{a['data']:,}",
                    f"{a['bss']:,}", f"{a['eh']:,}", f"{b['text'] + b['rodata']:,}"])
    w(table(["configuration", ".text", ".rodata", ".text + .rodata", ".data", ".bss", ".eh_frame",
             "baseline (no calls)"], trs))
    w("")
    w(f"The PL320 lower half adds {pl_only['text'] - upper_nt['text']:,} B of .text "
      f"({full['text'] - upper['text']:,} B with TRACE); TRACE adds {upper['text'] - upper_nt['text']:,} B. "
      f"The .data of the PL320 builds ({full['data']:,} B) is the static table of device slots "
      "(`CONFIG_MBOX_PL320_MAX_DEVICES` of them), the only static RAM of the library.")
    w("")
    funcs = size["configs"]["trace-pl320"].get("functions", [])
    w("Largest functions kept (upper half + PL320 + TRACE):")
    w("")
    w(table(["function", ".text bytes"], [[f"`{fn}`", f"{n:,}"] for fn, n in funcs[:16]]))
    w("")
    w("### Arm Cortex-M4F (thumbv7em-none-eabihf)")
    w("")
    if not arm_ok:
        w(f"**NOT MEASURED: the Arm (Cortex-M4F) size section could not run in this run: "
          f"{arm.get('reason', '?')}.** The sizes above are x86-64 only; `make bench` prints the same warning "
          "at its end.")
        w("")
    else:
        w(f"The same link for a Cortex-M4F: libmbox.a cross-built as shipped (`cargo rustc --release "
          f"--crate-type staticlib --target {arm['target']}`, into `build/bench/arm/target/`), "
          "`bench/size_app.c` and a do-nothing port (`bench/port_stub.c`, every `mbox_os_*` as a stub, not "
          f"counted) compiled with {arm['tools']['clang'].split(' (')[0]} (`--target={arm['target']} "
          "-mcpu=cortex-m4 -mfloat-abi=hard -mthumb -ffreestanding -fshort-enums -Os -ffunction-sections "
          "-fdata-sections`; `-fshort-enums` because rustc gives a `repr(C)` enum one byte on this target, "
          "as arm-none-eabi-gcc does), linked freestanding by "
          f"{arm['tools']['lld']} with `--gc-sections -e main`, and the lld map summed over the input "
          "sections kept from libmbox.a. There is no Arm sysroot here: bindgen and the C side get "
          "`clock_t` (`long`, 32 bits) from a stub `time.h` written under `build/bench/arm/`. Unlike "
          "x86-64, where they come from libc and are not counted, the Arm libmbox.a carries its own "
          "`memcpy`/`memmove`/`memset` and their `__aeabi_*` forms (Rust's compiler_builtins): they are "
          "counted apart, and they are weak symbols, so a firmware whose libc defines them (NuttX's does) "
          "links its own instead. Thumb-2 has no unwind tables to speak of "
          "(`.ARM.exidx` entries: listed apart).")
        w("")
        trs = []
        for name, lab in (("none", "upper half"), ("trace", "upper half + TRACE"),
                          ("pl320", "upper half + PL320"), ("trace-pl320", "upper half + PL320 + TRACE")):
            e = arm["configs"][name]
            a = e["app"]
            bi = e["app_builtins"]
            b = e["baseline"]
            bb = e["baseline_builtins"]
            x86 = size["configs"][name]["app"]["text"]
            trs.append([lab, f"{a['text']:,}", f"{a['rodata']:,}", f"{a['text'] + a['rodata']:,}", f"{a['data']:,}",
                        f"{a['bss']:,}", f"{a['eh']:,}", f"{bi['text'] + bi['rodata']:,}",
                        f"{b['text'] + b['rodata'] + bb['text'] + bb['rodata']:,}",
                        f"{x86:,}", f"{a['text'] / x86:.2f}" if x86 else "-"])
        w(table(["configuration", ".text", ".rodata", ".text + .rodata", ".data", ".bss", ".ARM.exidx",
                 "compiler_builtins .text", "baseline (no calls)", "x86-64 .text (above)", "Arm / x86-64"], trs))
        w("")
        an = arm["configs"]["none"]["app"]
        at = arm["configs"]["trace"]["app"]
        ap = arm["configs"]["pl320"]["app"]
        w(f"On the Cortex-M4F the PL320 lower half adds {ap['text'] - an['text']:,} B of .text "
          f"({arm_text - at['text']:,} B with TRACE); TRACE adds {at['text'] - an['text']:,} B. The PL320 "
          f"device table is {arm_full['data']:,} B of .data here (32-bit pointers). compiler_builtins: "
          + ", ".join(f"`{fn}` {n:,} B" for fn, n in arm["configs"]["trace-pl320"].get("builtin_functions", []))
          + ".")
        w("")
        w("Largest functions kept on the Cortex-M4F (upper half + PL320 + TRACE):")
        w("")
        w(table(["function", ".text bytes (Arm)", ".text bytes (x86-64)"],
                [[f"`{fn}`", f"{n:,}", f"{dict(funcs).get(fn, 0):,}" if fn in dict(funcs) else "-"]
                 for fn, n in arm["configs"]["trace-pl320"].get("functions", [])[:16]]))
        w("")
    w("### sizeof of the public structs (bytes, x86-64)")
    w("")
    names = []
    for cfgv in size["sizeof"].values():
        for k in cfgv:
            if k not in names:
                names.append(k)
    cfgs = ["none", "trace", "pl320", "trace-pl320"]
    trs = []
    for n in names:
        trs.append([f"`{n}`"] + [str(size["sizeof"][c].get(n, ["-"])[0]) for c in cfgs])
    w(table(["struct", "no TRACE, no PL320", "TRACE", "PL320", "TRACE + PL320"], trs))
    w("")
    if arm_ok and arm.get("sizeof"):
        w("The same structs on the Cortex-M4F (bytes, `sizeof` read back from an object compiled as above, "
          "`bench/sizeof_arm.c`):")
        w("")
        trs = []
        for n in names:
            trs.append([f"`{n}`"] + [str(arm["sizeof"].get(c, {}).get(n, "-")) for c in cfgs])
        w(table(["struct", "no TRACE, no PL320", "TRACE", "PL320", "TRACE + PL320"], trs))
        w("")
    rs = rust.get("sizes", {})
    ch = size["sizeof"]["trace-pl320"]
    pl = ch.get("struct pl320_chan_s", [0])[0]
    mc_ = ch.get("struct mbox_chan_s", [0])[0]
    mc_nt = size["sizeof"]["none"].get("struct mbox_chan_s", [0])[0]
    hdr = {}
    try:
        with open(os.path.join(ROOT, "include/nuttx/mbox/pl320.h")) as f:
            hdr = dict(re.findall(r"^#define (PL320_\w+) (\d+)$", f.read(), re.M))
    except OSError:
        pass
    ring = int(hdr.get("PL320_MAX_DATA_BUF_SIZE", 16)) * int(hdr.get("PL320_MSG_SIZE", 28))
    mtu = int(hdr.get("PL320_MTU", 24))
    w("### RAM per channel")
    w("")
    w(f"- The channel itself: `struct mbox_chan_s` is {mc_} B with TRACE ({mc_nt} B without): "
      f"the framework-private state machine (`ChanState`, {rs.get('ChanState', '?')} B), the port's watchdog "
      "storage (64 B, `MBOX_OS_TIMER_SIZE`), the statistics (88 B, TRACE only) and the public fields. "
      f"A PL320 channel (`struct pl320_chan_s`) is {pl} B in all, `mbox_chan_s` included.")
    w(f"- The TX ring is memory the board gives to `mbox_chan_init()` / `pl320_chan_s::txbuf`: 6 bytes of "
      f"header plus the payload per queued message. The README's example "
      f"(`PL320_MAX_DATA_BUF_SIZE * PL320_MSG_SIZE` = {ring} B) holds {ring // (6 + mtu)} queued "
      f"{mtu}-byte messages. "
      "An RX channel needs no buffer when its MTU is at most 32 bytes (it receives on the stack).")
    w(f"- A blocked sender keeps its message in its own buffer and parks a `Waiter` of "
      f"{rs.get('Waiter', '?')} B on its own stack (the port's wait object is 128 B of it, "
      "`MBOX_OS_WAIT_SIZE`): no per-channel RAM.")
    w(f"- Static: {full['data'] + full['bss']:,} B for the PL320 device table (all devices), nothing for the "
      "upper half.")
    ndev = 4
    try:
        with open(os.path.join(ROOT, "src/pl320/driver.rs")) as f:
            mm = re.search(r"CONFIG_MBOX_PL320_MAX_DEVICES: usize = (\d+)", f.read())
            ndev = int(mm.group(1)) if mm else ndev
    except OSError:
        pass
    w(f"- Total for one PL320 TX channel with that ring: {pl + ring:,} B, plus "
      f"{(full['data'] + full['bss']) // ndev:,} B of the static device table per device "
      f"({ndev} slots).")
    w("")

    # ------------------------------------------------------------------
    # 4b. Cost of each extension (bench/ext_cost.py, `make bench-ext`)
    # ------------------------------------------------------------------
    ext = os.path.join(ROOT, "build", "bench-ext", "ext_cost.md")
    w("## 4b. Cost of each extension")
    w("")
    if os.path.exists(ext):
        w("libmbox.a with TRACE + PL320 and every extension beyond the NuttX C driver's API off (the Kconfig "
          "defaults), with each extension alone on, and with all on (`make bench-ext`, bench/ext_cost.py): the "
          ".text and .rodata of section 4's link (bench/size_app.c, the NuttX API calls: an extension's own "
          "functions are not called, so this is what it adds to the shared paths), the public struct sizes "
          "(x86-64), and section 1's callgrind rows with the null lower half. In parentheses: the difference "
          "to every extension off.")
        w("")
        with open(ext) as f:
            L.extend(f.read().rstrip("\n").split("\n"))
    else:
        w("Not measured in this run: `make bench-ext` writes build/bench-ext/ext_cost.md.")
    w("")

    # ------------------------------------------------------------------
    # 5. Heap
    # ------------------------------------------------------------------
    g = heap["twocore_callgraph"]
    w("## 5. Heap use")
    w("")
    w("libmbox is `no_std` without an allocator, so it cannot allocate; three measurements show it:")
    w("")
    w(f"1. `valgrind --tool=memcheck build/bench/instr` (libmbox + the fake lower half + the minimal port, "
      f"one thread, stdout on a static buffer; every fast path above, tens of thousands of messages): "
      f"**{mc.get('allocs')} allocs, {mc.get('frees')} frees, {mc.get('bytes')} bytes allocated**, "
      f"{mc.get('errors')} memcheck errors.")
    w(f"2. The callgrind call graph of a two-core run (`twocore --only 4 4`, PL320 model, host port, "
      f"{g.get('messages')} messages; {g.get('libmbox_functions_run')} libmbox functions executed): "
      f"**{alloc_libmbox} calls** to malloc/calloc/realloc/free from libmbox functions. The allocator calls "
      "that do happen come from the harness, the model and glibc:")
    w("")
    w(table(["allocator function", "caller", "calls"], [[f"`{a}`", f"`{c}`", n] for a, c, n in g["alloc_calls"]]))
    w("")
    w("3. Undefined symbols of the crate's objects in each libmbox.a (what the library can call): " +
      ("no allocator symbol. " if not alloc_syms else f"**{', '.join(alloc_syms)}**. ") +
      "Full list (TRACE + PL320): " + ", ".join(f"`{s}`" for s in size["undefined"]["trace-pl320"]) + ".")
    w("")

    # ------------------------------------------------------------------
    # 6. Rust
    # ------------------------------------------------------------------
    w("## 6. Rust micro-benchmark of the state machine")
    w("")
    w("`cargo bench --bench state_machine --features host-port` (`benches/state_machine.rs`, plain harness: "
      "`std::time::Instant` and `std::hint::black_box`). It drives `mbox::chan::ChanState` directly with a "
      "trivial `ChanEnv` (a clock that stands still, a lower half that accepts everything, counters in an "
      "array), as `src/upper/chan/tests.rs` does: no C, no lock, no port call. Median of 15 samples of about 20 ms "
      "(fastest sample in brackets). Wall-clock on a shared machine: compare within this run only.")
    w("")
    w(report_c.load_note(rust))
    w("")
    desc = {
        "submit_nb+tx_done": "non-blocking send on an idle channel + its ACK (per message)",
        "queue+drain": "16 messages queued behind one in flight, then 16 ACKs (per message: its queueing "
                       "submit_nb + the tx_done that drains it)",
        "submit_nb_queues": "the queueing submit_nb alone (split of the line above)",
        "tx_done_drains_one": "the draining tx_done alone (split of the line above)",
        "submit_blocking+tx_done": "blocking submit (waiter on the stack) on an idle channel + its ACK",
    }
    if rust.get("error"):
        w(f"**Not measured in this run**: {rust['error']}")
    else:
        w(table(["case", "what one op is", "ns/op (fastest)"],
                [[f"`{c['case']}`", desc.get(c["case"], ""), f"{c['ns_per_op']:.1f} ({c['min_ns']:.1f})"]
                 for c in rust["cases"]]))
    w("")

    # ------------------------------------------------------------------
    # Analysis
    # ------------------------------------------------------------------
    nb = rows.get("null", {})
    fk = rows.get("fake", {})

    def self_of(tgt, row, prefix):
        d = rows.get(tgt, {}).get(row, {}).get("total", {})
        return sum(c for fn, c in d.get("top", []) if prefix in fn)

    def cat(tgt, row, k):
        return rows.get(tgt, {}).get(row, {}).get("total", {}).get("by_category", {}).get(k, 0)

    # ------------------------------------------------------------------
    # 7. Cortex-M3 under QEMU (bench/report_arm.py)
    # ------------------------------------------------------------------
    L.extend(report_arm.section(R.get("arm_icount") or {"error": "the bench-arm stage did not run"},
                                report_arm.x86_from_results(R)))

    # ------------------------------------------------------------------
    # 8. NuttX simulator, side by side (measured by
    # tools/nuttx_sidebyside.sh, which needs NuttX trees: kept as written
    # in bench/nuttx_sidebyside.md, not re-measured here)
    # ------------------------------------------------------------------
    side = os.path.join(ROOT, "bench", "nuttx_sidebyside.md")
    if os.path.exists(side):
        with open(side) as f:
            L.extend(f.read().rstrip("\n").split("\n"))
        w("")

    w("## Analysis")
    w("")
    w("### Upper-half overhead against the 2x target")
    w("")
    if ops_rows:
        w(f"Against the fake lower half (every op takes a pthread mutex, so each op costs tens of "
          f"instructions) the ratios are {rtxt}. " +
          (f"{len(ops_over)} of {len(ops_rows)} paths miss the 2x target, the worst by "
           f"{pct(max(fake_ratios[r] for r in ops_rows), 2.0):.0f}%. " if ops_over else "All are within 2x. ") +
          "Against the null lower half, whose ops are a few stores, the floor is almost nothing and the ratio "
          "only restates the upper half's absolute cost: "
          + ", ".join(f"{k} {nb[k]['total']['ir'] - nb[k]['floor']['ir']:.0f}" for k, *_ in ROWS if k in nb)
          + " instructions added per message.")
    w("")
    def pc(row, fn):
        return rows.get("null", {}).get(row, {}).get("total", {}).get("port_calls", {}).get(fn, 0)

    w("The added instructions are fixed per message, not per byte, and come from what the upper half "
      "guarantees: argument and liveness checks on every call; the critical section; a per-channel "
      "sequence number used as the message token (so a late ACK can never complete a newer message); a "
      "watchdog that covers every message in flight (it stays armed across messages: armed only when a message "
      "needs an earlier expiry than the armed one, cancelled only at teardown); the statistics (TRACE); "
      "and for the queued paths the ring's 6-byte record header and bounds-checked copies. With the minimal "
      "port the port itself is cheap "
      f"(blocking send: {cat('null', 'blocking', 'port'):.0f} Ir in port functions for "
      f"{pc('blocking', 'mbox_os_enter_critical'):.0f} critical sections, "
      f"{pc('blocking', 'mbox_os_ticks'):.0f} clock reads, {pc('blocking', 'mbox_os_timer_start'):.0f} "
      f"timer start and {pc('blocking', 'mbox_os_timer_cancel'):.0f} cancel, and the wait object's "
      "init/wait/post/destroy); on a real RTOS those calls cost more, on the host port (pthreads) far more.")
    w("")
    w(f"A queued non-blocking send costs {fmt(fk.get('nb_queue', {}).get('total', {}).get('ir'))} instructions "
      f"against {fmt(fk.get('nb_queue', {}).get('floor', {}).get('ir'))} for a bare memcpy of the payload "
      f"({fake_ratios.get('nb_queue', 0):.1f}x): the copy is the small part; the call's checks, the "
      "critical section and the ring bookkeeping are the rest. There is no lower-half work to compare it "
      "with, so this row cannot meet a 2x target by construction.")
    w("")
    w("### Critical sections")
    w("")
    ns = cs_vals("null", "cs_send")
    nt = cs_vals("null", "cs_txdone")
    w(f"A queued send holds the lock for {fmt(ns.get(1))} instructions and an ACK that starts the next message "
      f"for {fmt(nt.get(1))} (null lower half), the same at 1, 4, 16 and 64 queued messages"
      + (" (O(1): met)." if cs_flat else " (**not flat**).") +
      " The ACK's section is the longer one because it runs the lower half's `txfinish` and `send` of the "
      "next message inside it (the fake's mutexes make it longer still); that is by design (the next "
      "message must start before anyone else can send), and it is bounded by one message, not by the queue.")
    w("")
    w("### Code size against 8 KiB")
    w("")
    top_pl = [f for f in funcs if "pl320" in f[0]][:3]
    w(f"Upper half + PL320 + TRACE keep {text_full:,} B of .text on x86-64 "
      + (f"(met, {limit - text_full:,} B to spare)." if text_ok else
         f"({text_full - limit:,} B, {pct(text_full, limit):.1f}%, over 8 KiB).") +
      f" The upper half alone is {upper['text']:,} B ({upper_nt['text']:,} B without TRACE); the PL320 lower "
      f"half adds {full['text'] - upper['text']:,} B, most of it in "
      + ", ".join(f"`{fn}` ({n:,} B)" for fn, n in top_pl) +
      f". The biggest single function is `{funcs[0][0] if funcs else '?'}` "
      f"({funcs[0][1] if funcs else 0:,} B).")
    w("")
    if arm_ok:
        tot = arm_text + arm_full_b["text"]
        af = arm["configs"]["trace-pl320"].get("functions", [])
        w(f"On a Cortex-M4F (Thumb-2) the same configuration keeps {arm_text:,} B of libmbox's own .text, "
          f"{arm_text / text_full:.2f}x the x86-64 size: "
          + (f"the 8 KiB target is met ({limit - arm_text:,} B to spare)" if arm_text_ok else
             f"the 8 KiB target is **missed** by {arm_text - limit:,} B ({pct(arm_text, limit):.1f}%)")
          + f", and with the {arm_full_b['text']:,} B of memcpy/memmove/memset from compiler_builtins the "
          f"image pays {tot:,} B for the library ("
          + ("within 8 KiB" if arm_total_ok else f"{tot - limit:,} B over") + "). "
          f"The upper half alone is {arm['configs']['trace']['app']['text']:,} B "
          f"({arm['configs']['none']['app']['text']:,} B without TRACE)"
          + (f"; the biggest function is again `{af[0][0]}` ({af[0][1]:,} B)" if af else "") + ".")
    else:
        w(f"**NOT MEASURED (Arm)**: {arm.get('reason', '?')}.")
    w("")
    w("### Hot-path waste in the upper half")
    w("")
    w("From the per-function profile above (null lower half, instructions per message), in order of cost:")
    w("")
    rx_loc = locate("src/shell/capi.rs", 'extern "C" fn mbox_chan_rx_data')
    w("Already done after the first profile: the ring head is decoded once per drained "
      "message (`TxQueue::head` / `pop_head`); the watchdog stays armed across messages (armed only when a "
      "message needs an earlier expiry than the armed one, never cancelled when a message ends; an early "
      "expiry times out only messages whose own deadline passed and re-arms for the rest); the clock is read once "
      "per pass of `start_next`; a blocking send validates and submits in one critical section (its wait "
      "object is initialised first); the RX stack scratch is no longer zeroed. What remains, in order of "
      "cost:")
    w("")
    items = [
        f"**Blocking send: {pc('blocking', 'mbox_os_enter_critical'):.0f} critical sections, "
        f"{pc('blocking', 'mbox_os_ticks'):.0f} clock reads and the waiter.** Submit, the ACK's own "
        "section, and the re-check after the wait; the clock is read for the deadline, for the watchdog, "
        f"and around the wait. `Waiter::new` builds a {rs.get('Waiter', 184)}-byte waiter (128 B of OS "
        "storage) on the sender's stack; that costs stack, not much time.",
        f"**RX takes the critical section {pc('rx', 'mbox_os_enter_critical'):.0f} time(s) per message** "
        f"(`recv`, `acknowledge`, the count and the copy of the callbacks under it; {rx_loc}): "
        f"{cat('null', 'rx', 'port'):.0f} of its {nb.get('rx', {}).get('total', {}).get('ir', 0):.0f} "
        "instructions are port calls. The callbacks run after it, without the lock; the channel's RX claim, "
        "an atomic beside its state, keeps a second reception or a teardown out meanwhile. The C driver "
        "takes none, and has no such claim.",
        f"**The queued send's ring push** (inlined into `ticksend`) costs "
        f"{self_of('null', 'nb_queue', 'ticksend'):.0f} instructions of its own per message, mostly slice "
        "bounds checks and the header encoding, for a 24-byte copy.",
        f"**Starting the next message** (`ChanState::advance_busy`) costs "
        f"{max(self_of('null', 'drain', 'advance_busy'), self_of('null', 'drain', 'start_next')):.0f} "
        "instructions of its own per drained message: merging the ring head with the waiter list by "
        "sequence number, the record decode, and the deadline arithmetic.",
    ]
    for i, it in enumerate(items, 1):
        w(f"{i}. {it}")
    w("")
    w("None of these changes the complexity (everything is O(1)). The blocking path's extra cost is mostly "
      "fixed work that has no counterpart in the floor (the waiter, the wait object, the lock round trips), "
      "so it stays above 2x of a cheap lower half.")
    w("")

    with open(out_path, "w") as f:
        f.write("\n".join(L))
    print(f"report: wrote {out_path}")


if __name__ == "__main__":
    main()
