#!/usr/bin/env python3
"""Turns `logitkit bench head --json` output into the markdown of bench/RESULTS.md.

usage: build/release/logitkit bench head --json > bench/head.json
       python3 bench/report_head.py bench/head.json > bench/RESULTS.md
"""
import json
import os
import sys


def main(path):
    with open(path) as f:
        d = json.load(f)
    m, y = d["machine"], d["yardsticks"]
    cases = d["cases"]
    out = []
    w = out.append
    w("# Decode head benchmark results\n")
    w("Measured by `logitkit bench head` in one run (`bench/head.json` holds the raw figures; "
      "`python3 bench/report_head.py bench/head.json` rebuilds this page).\n")
    w(f"- machine: {m['cpu']} (2 cores, shared virtual machine), SIMD target **{m['simd_target']}**")
    w(f"- compiler: g++ {m['compiler']}, release preset (`-O3`), Highway 1.0.3 (Debian 12)")
    w("- method: synthetic rows (peaked like a real model, normal σ = 1, σ = 5); each case runs "
      "for ≥ 20 ms per repetition, median of 5 repetitions; batch rows are distinct rows; the row "
      "is in cache for batch 1 (the same row every call).\n")
    w("## Physical yardsticks (V = 128256, one thread)\n")
    w("| yardstick | figure |\n| --- | --- |")
    w(f"| one SIMD exp pass over the row (read, exp, write) | {y['exp_pass_us']:.1f} µs "
      f"({128256 / y['exp_pass_us'] / 1e3:.2f} G exp/s) |")
    w(f"| softmax (check + max, exp with compensated shift and double sum, scale) | {y['softmax_us']:.1f} µs |")
    w(f"| memory read bandwidth (256 MiB, one thread) | {y['bandwidth_gb_s']:.1f} GB/s |")
    w(f"| one 128256-float row from DRAM at that bandwidth | {y['row_from_dram_us']:.1f} µs |\n")
    w("## Targets (measured in the same run, cases interleaved)\n")
    w("| ratio | measured | target | |\n| --- | --- | --- | --- |")
    for r in d["ratios"]:
        w(f"| {r['name']} | {r['value']:.2f} | {r['target']} | {'met' if r['met'] else '**missed**'} |")
    w("")

    def table(title, rows, cols, key):
        w(f"### {title}\n")
        w("| " + " | ".join(["setting"] + [c[0] for c in cols]) + " |")
        w("| --- " * (len(cols) + 1) + "|")
        for s in rows:
            cells = []
            for _, pred in cols:
                hit = [c for c in cases if c["setting"] == s and pred(c)]
                cells.append(f"{hit[0][key]:.1f}" if hit else "")
            w(f"| {s} | " + " | ".join(cells) + " |")
        w("")

    settings = []
    for c in cases:
        if c["setting"] not in settings:
            settings.append(c["setting"])
    vocabs = sorted({c["vocab"] for c in cases})
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes_head.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read())
    w("## Time per row (µs), batch 1, one thread\n")
    for dist in ("peaked", "normal1", "normal5"):
        table(f"{dist} rows", settings,
              [(str(v), lambda c, v=v, dist=dist: c["vocab"] == v and c["batch"] == 1 and c["dist"] == dist)
               for v in vocabs], "us_per_row")
    w("## Time per row (µs), V = 128256, by batch and threads\n")
    batches = sorted({(c["batch"], c["threads"]) for c in cases})
    for dist in ("peaked", "normal1"):
        table(f"{dist} rows", settings,
              [(f"batch {b}, {t} thr", lambda c, b=b, t=t, dist=dist: c["vocab"] == 128256 and c["batch"] == b
                and c["threads"] == t and c["dist"] == dist) for b, t in batches], "us_per_row")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
