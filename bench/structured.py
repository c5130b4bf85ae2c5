#!/usr/bin/env python3
"""Structured output's cost, measured in one run (this machine is shared and
noisy: medians, and ratios of figures taken side by side).

  1. The mask per token, from build/release/src/structured/structured_bench
     (Google Benchmark, --benchmark_repetitions): XGrammar's fill + accept
     walking every schema of tests/structured/schemas (and a regex and a
     choice) at V = 49,152 (the default model) and V = 128,256 (Llama 3, from
     $LOGITKIT_LLAMA3_TOKENIZER); the load pass with and without the mask;
     one SIMD exp pass.
  2. A decode step of the default model on one thread (Model(threads=1):
     free generation, T = 0.7, per token), and the same with each of the
     CI's 10 schemas: the mask's cost in place.
  3. The first token with a schema: compile + prefill + one draw, cold (a
     schema not seen before) and cached (the same schema again), against the
     first token without a constraint.

Targets (issue 14): fill + apply <= 10% of a decode step on one thread; the
apply adds <= 25% of one SIMD exp pass at V = 128,256.

  PYTHONPATH=build/release/python ~/.cache/logitkit/venv/bin/python bench/structured.py [--rounds 5]
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

import logitkit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_bench(binary, repetitions):
    out = subprocess.run([binary, f"--benchmark_repetitions={repetitions}", "--benchmark_format=json",
                          "--benchmark_report_aggregates_only=true"],
                         check=True, capture_output=True, text=True).stdout
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        medians[b["run_name"].split("/min_time")[0]] = b
    return medians


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "release", "src", "structured", "structured_bench"))
    args = ap.parse_args()

    print(f"machine: {os.uname().nodename}, {os.cpu_count()} CPUs, SIMD {logitkit.simd_target()}")
    m = run_bench(args.bench, args.rounds)
    print("\n## 1. Per token, in isolation (medians of", args.rounds, "repetitions)\n")
    print("| V | fill + accept (µs) | load (µs) | load + mask (µs) | apply (µs) | exp pass (µs) | apply / exp |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    fills = {}
    for which, v in ((0, 49152), (1, 128256)):
        fill = m.get(f"BM_Fill/{which}", {}).get("per_token_us")
        fills[v] = fill
        a = m[f"BM_MaskApply/{v}"]
        load, masked, exp = a["load_ns"] / 1e3, a["masked_ns"] / 1e3, a["exp_ns"] / 1e3
        fill_text = f"{fill:.1f}" if fill is not None else "n/a (no LOGITKIT_LLAMA3_TOKENIZER)"
        print(f"| {v:,} | {fill_text} | {load:.2f} | {masked:.2f} | {masked - load:.2f} | {exp:.2f} | "
              f"{a['apply_over_exp']:.3f} |")

    model = logitkit.Model(threads=1)
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "structured", "schemas", "*.json")))[1::4]
    cases = [json.load(open(f)) for f in files]
    free_rate, cons_rate = [], []
    for r in range(args.rounds):  # interleaved: free, then constrained, each round
        t0 = time.perf_counter()
        g = model.generate("Tell me about cats.", chat=True, temperature=0.7, seed=r, max_tokens=64, ignore_eos=True)
        free_rate.append((time.perf_counter() - t0) / len(g.tokens))
        spent = tokens = 0
        for c in cases:
            model.matcher(json_schema=c["schema"])  # compiled before timing (cached)
            t0 = time.perf_counter()
            g = model.generate(c["prompt"], chat=True, temperature=0.7, seed=r, max_tokens=64, json_schema=c["schema"])
            spent += time.perf_counter() - t0
            tokens += len(g.tokens)
        cons_rate.append(spent / tokens)
    step = statistics.median(free_rate) * 1e6
    cons = statistics.median(cons_rate) * 1e6
    print("\n## 2. In a decode step of the default model, one thread (medians of", args.rounds, "rounds)\n")
    print("| free: µs per token | constrained (10 schemas): µs per token | difference | fill at V=49,152 / step |")
    print("| ---: | ---: | ---: | ---: |")
    print(f"| {step:.0f} | {cons:.0f} | {cons - step:+.0f} ({(cons - step) / step:+.1%}) | "
          f"{fills[49152] / step:.1%} |")
    print("(the free and constrained runs prefill different prompts; the per-token figures include each\n"
          "prompt's prefill spread over its tokens, so the difference bounds the mask's cost loosely)")

    print("\n## 3. First token with a JSON Schema (compile + prefill + one draw), medians over the 40 schemas\n")
    all_cases = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(ROOT, "tests", "structured", "schemas", "*.json")))]
    fresh = logitkit.Model(threads=0)
    none, cold, cached = [], [], []
    for c in all_cases:
        for bucket, kw in ((none, {}), (cold, {"json_schema": c["schema"]}), (cached, {"json_schema": c["schema"]})):
            t0 = time.perf_counter()
            fresh.generate(c["prompt"], chat=True, max_tokens=1, temperature=0, **kw)
            bucket.append((time.perf_counter() - t0) * 1e3)
    print("| no constraint (ms) | cold: compile (ms) | cached (ms) |")
    print("| ---: | ---: | ---: |")
    print(f"| {statistics.median(none):.1f} | {statistics.median(cold):.1f} (max {max(cold):.0f}) | "
          f"{statistics.median(cached):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
