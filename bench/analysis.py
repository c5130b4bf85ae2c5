#!/usr/bin/env python3
"""Throughput and memory of the analysis commands on the default model.

  bench/analysis.py [--tool build/release/logitkit] [--tokens 2000] [--out bench/analysis.json]

Runs, on the King James Bible (scripts/fetch-corpus) and the default model:
  score      a text of ~1,000 tokens: tokens/s (wall, loading included)
  calibrate  --max-tokens N and 10 N (windows of 512): positions/s and peak
             memory, which must not grow with the corpus
  compare    the model against its Q8_0 copy (logitkit convert), N tokens
  lens       a 16-token prompt: (layers x positions)/s (wall, loading included)
  bench model  the forward pass alone (prompt tokens/s), for scale
and writes the figures as JSON. Standard-library Python only.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench/analysis: {' '.join(cmd)} failed: {p.stderr.strip()}")
    return p.stdout, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.path.join(REPO, "build", "release", "logitkit"))
    ap.add_argument("--tokens", type=int, default=2000, help="corpus tokens of the small runs (default 2000)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "analysis.json"))
    a = ap.parse_args()
    corpus = subprocess.run([os.path.join(REPO, "scripts", "fetch-corpus")], capture_output=True, text=True,
                            check=True).stdout.split()[-1]
    model = subprocess.run([os.path.join(REPO, "scripts", "fetch-model")], capture_output=True, text=True,
                           check=True).stdout.split()[-1]
    lk = a.tool
    results = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t"),
               "model": os.path.basename(model), "corpus": os.path.basename(corpus)}
    with tempfile.TemporaryDirectory() as tmp:
        out, _ = run([lk, "bench", "model", "--json"])
        results["bench_model"] = json.loads(out)

        text = os.path.join(tmp, "score.txt")
        with open(corpus, encoding="utf-8") as f, open(text, "w", encoding="utf-8") as g:
            g.write("".join(f.readline() for _ in range(30)))
        out, dt = run([lk, "score", "--file", text, "--json"])
        n = json.loads(out)["scored"]
        results["score"] = {"tokens": n, "seconds": dt, "tokens_per_second": n / dt}
        print(f"score: {n} tokens in {dt:.1f} s: {n / dt:.1f} tokens/s", flush=True)

        for tokens in (a.tokens, 10 * a.tokens):
            out, dt = run([lk, "calibrate", "--corpus", corpus, "--max-tokens", str(tokens), "--json"])
            d = json.loads(out)
            results[f"calibrate_{tokens}"] = {"positions": d["top"]["positions"], "seconds": d["seconds"],
                                              "positions_per_second": d["positions_per_second"],
                                              "peak_rss_mib": d["peak_rss_mib"], "wall_seconds": dt}
            print(f"calibrate {tokens}: {d['positions_per_second']:.1f} positions/s, peak {d['peak_rss_mib']:.0f} MiB",
                  flush=True)

        q8 = os.path.join(tmp, "q8_0.gguf")
        run([lk, "convert", model, "--type", "q8_0", "-o", q8])
        out, dt = run([lk, "compare", model, q8, "--corpus", corpus, "--max-tokens", str(a.tokens), "--json"])
        d = json.loads(out)
        results["compare"] = {"positions": d["positions"], "seconds": d["seconds"],
                              "positions_per_second": d["positions"] / d["seconds"], "peak_rss_mib": d["peak_rss_mib"],
                              "kl_mean": d["kl_mean"], "top_agreement": d["top_agreement"]}
        print(f"compare: {d['positions'] / d['seconds']:.1f} positions/s, peak {d['peak_rss_mib']:.0f} MiB", flush=True)

        prompt = "In the beginning God created the heaven and the earth. And the earth was without form"
        out, dt = run([lk, "lens", prompt, "--json"])
        d = json.loads(out)
        cells = len(d["layers"]) * len(d["layers"][0]["positions"]) if "layers" in d else None
        results["lens"] = {"seconds": dt, "cells": cells, "cells_per_second": cells / dt if cells else None}
        print(f"lens: {cells} layer-positions in {dt:.2f} s", flush=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"bench/analysis: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
