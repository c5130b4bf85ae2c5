#!/usr/bin/env python3
"""A/B two Google Benchmark binaries (e.g. a kernel benchmark before and after a change), interleaved.

    bench/ab_gbench.py OLD_BENCH NEW_BENCH [--filter REGEX] [--rounds 5] [--out FILE.md]

Each round runs both binaries (alternating which goes first) with the same
--benchmark_filter; the report gives, per benchmark present in both, the
median real time over the rounds of each and OLD/NEW as a ratio of speeds
(> 1: the new binary is faster). Names are matched with their min_time
suffix dropped, so a renamed binary compares as long as its benchmark names
stay. As with bench/ab.py, only interleaved medians of one run mean much on a
shared machine.
"""
import argparse
import json
import platform
import re
import statistics
import subprocess
import sys


def run(binary, flt):
    out = subprocess.run([binary, f"--benchmark_filter={flt}", "--benchmark_format=json"],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    times = {re.sub(r"/min_time:[0-9.]+", "", b["name"]): b["real_time"] for b in data["benchmarks"]}
    return times, data["context"]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--filter", default=".", help="--benchmark_filter for both (default: all)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="write the markdown report here (default: stdout)")
    a = ap.parse_args()
    runs = {"old": [], "new": []}
    context = None
    for r in range(a.rounds):
        for which in (["old", "new"] if r % 2 == 0 else ["new", "old"]):
            times, context = run(a.old if which == "old" else a.new, a.filter)
            runs[which].append(times)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    names = [n for n in runs["old"][0] if all(n in t for t in runs["new"])]
    rows, ratios = [], []
    for name in names:
        old = statistics.median(t[name] for t in runs["old"])
        new = statistics.median(t[name] for t in runs["new"])
        ratios.append(old / new)
        rows.append(f"| {name} | {old:,.3f} | {new:,.3f} | {old / new:.3f} |")
    lines = [
        f"Machine: {cpu_name()}, {context.get('num_cpus')} CPUs at "
        f"{context.get('mhz_per_cpu')} MHz; {a.rounds} interleaved rounds, medians of real time "
        f"(the benchmark's own unit).",
        "",
        f"old: `{a.old}`  new: `{a.new}`  filter: `{a.filter}`",
        "",
        "| benchmark | old time | new time | speed new / old |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        f"speed new / old over the {len(ratios)} benchmarks: median {statistics.median(ratios):.3f}, "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}.",
    ]
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
