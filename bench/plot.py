#!/usr/bin/env python3
"""Plots of the two-core benchmark (bench/twocore.c), from the
results.json that bench/run.py writes:

  throughput.png   messages per second against the number of senders, one
                   line per depth (blocking mbox_send, or a window of D
                   non-blocking messages per sender)
  latency_cdf.png  CDF of the round-trip latency, one panel per number of
                   senders, one curve per depth (log-scale time axis)

usage: plot.py build/bench/results.json bench/plots
"""

import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(depth):
    return "blocking mbox_send" if depth == 0 else f"window {depth}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        res = json.load(f)
    outdir = sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    tc = res["twocore"]
    rows = tc["results"]
    senders = sorted({r["senders"] for r in rows})
    depths = sorted({r["depth"] for r in rows})
    m = res["machine"]
    cfg = tc.get("config") or {}
    subtitle = (f"{m['cpu']}, {m['nproc']} CPUs, host port + PL320 model, {cfg.get('rounds', 1)} rounds x "
                f"{cfg.get('seconds', 0):.1f} s per point")

    # Throughput against senders.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, d in enumerate(depths):
        pts = sorted((r["senders"], r["msgs_per_s"], min(r.get("msgs_per_s_rounds", [r["msgs_per_s"]])),
                      max(r.get("msgs_per_s_rounds", [r["msgs_per_s"]]))) for r in rows if r["depth"] == d)
        # Spread the points of one x a little so that the error bars stay readable.
        xs = [p[0] * (1.0 + 0.04 * (i - (len(depths) - 1) / 2)) for p in pts]
        ax.errorbar(xs, [p[1] for p in pts], yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]],
                    marker="o", capsize=3, label=label(d))
    ax.set_xscale("log", base=2)
    ax.set_xticks(senders)
    ax.set_xticklabels([str(s) for s in senders])
    ax.set_xlabel("concurrent senders on core A (one TX channel)")
    ax.set_ylabel("messages A \u2192 B per second\n(median of rounds, bars: min - max)")
    ax.set_ylim(bottom=0)
    ax.set_title("libmbox two-core throughput over the PL320 model\n" + subtitle, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = os.path.join(outdir, "throughput.png")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    print(f"wrote {p}")

    # Latency CDF, one panel per number of senders.
    fig, axes = plt.subplots(1, len(senders), figsize=(4.2 * len(senders), 4.2), sharey=True)
    if len(senders) == 1:
        axes = [axes]
    for ax, s in zip(axes, senders):
        for d in depths:
            path = os.path.join(tc["cdf_dir"], f"cdf_s{s}_d{d}.csv")
            if not os.path.exists(path):
                continue
            q, lat = [], []
            with open(path) as f:
                for row in csv.DictReader(f):
                    q.append(float(row["quantile"]))
                    lat.append(max(float(row["latency_us"]), 0.1))
            ax.plot(lat, q, label=label(d))
        ax.set_xscale("log")
        ax.set_xlabel("round-trip latency (\u00b5s)")
        ax.set_title(f"{s} sender{'s' if s > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("fraction of messages")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("libmbox round-trip latency CDF (blocking: send \u2192 ACK; window: echo round trip)\n"
                 + subtitle, fontsize=9)
    fig.tight_layout()
    p = os.path.join(outdir, "latency_cdf.png")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    print(f"wrote {p}")


if __name__ == "__main__":
    main()
