#!/usr/bin/env python3
"""A/B two logitkit binaries on `bench head` and `bench model`, interleaved.

    bench/ab.py OLD_BINARY NEW_BINARY [--rounds 5] [--out bench/ab.md]

Each round runs both binaries (alternating which goes first) on the same
commands; the report gives, per case, the median over the rounds of each
binary's speed and NEW/OLD as a ratio of speeds (> 1: the new binary is
faster). On a shared, noisy machine only interleaved medians of one run are
worth comparing. To get the old binary: build a worktree of the old commit
(`git worktree add /tmp/old COMMIT && cmake --preset release -S /tmp/old`).
"""
import argparse
import json
import platform
import statistics
import subprocess
import sys

HEAD_ARGS = ["bench", "head", "--vocab", "32000", "--vocab", "128256", "--batch", "1", "--batch", "16", "--json"]
MODEL_ARGS = ["bench", "model", "--json"]


def run(binary, args):
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def speeds(head, model):
    """{case: speed}, larger is faster: rows/s for the head, tokens/s for the model."""
    s = {}
    for c in head["cases"]:
        key = f"head V={c['vocab']} batch {c['batch']}x{c['threads']}t {c['dist']} {c['setting']}"
        s[key] = 1e6 / c["us_per_row"]
    for r in model["results"]:
        s[f"model prompt {r['threads']}t (tokens/s)"] = r["prompt_tokens_per_s"]
        s[f"model generation {r['threads']}t (tokens/s)"] = r["gen_tokens_per_s"]
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="write the markdown report here (default: stdout)")
    ap.add_argument("--only", choices=["head", "model"], help="run one of the two benchmarks")
    a = ap.parse_args()
    runs = {"old": [], "new": []}
    for r in range(a.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for which in order:
            binary = a.old if which == "old" else a.new
            head = run(binary, HEAD_ARGS) if a.only != "model" else {"cases": []}
            model = run(binary, MODEL_ARGS) if a.only != "head" else {"results": []}
            runs[which].append(speeds(head, model))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    cases = list(runs["old"][0])
    rows, ratios = [], []
    for case in cases:
        old = statistics.median(run[case] for run in runs["old"])
        new = statistics.median(run[case] for run in runs["new"])
        ratios.append(new / old)
        rows.append(f"| {case} | {old:,.1f} | {new:,.1f} | {new / old:.3f} |")
    cpu = run(a.new, ["bench", "head", "--vocab", "1000", "--batch", "1", "--reps", "1", "--min-time-ms", "1",
                      "--json"])["machine"]
    lines = [
        f"Machine: {cpu['cpu']} ({cpu['simd_target']}), {platform.machine()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
        f"{a.rounds} interleaved rounds, medians.",
        "",
        f"old: `{a.old}`  new: `{a.new}`",
        "",
        "| case | old (per s) | new (per s) | new / old |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        f"new / old over the {len(ratios)} cases: median {statistics.median(ratios):.3f}, "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}.",
    ]
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
