#!/usr/bin/env python3
"""Throughput and time to first token of `logitkit serve` with the openai client.

  bench/serve.py [--tool build/release/logitkit] [--model M.gguf] [--tokens 64]
                 [--requests-per-client 4] [--rounds 3] [--out bench/RESULTS-serve.md]

Starts the server, then for concurrency 1, 4 and 16 runs that many clients,
each sending --requests-per-client streamed completions of exactly --tokens
tokens (ignore_eos), and reports generated tokens/s over the wall time, the
median and 90th percentile time to first token (request sent -> first text
chunk), and the median inter-token time: --rounds rounds of the three levels,
interleaved, medians over rounds (the range beside). Also `logitkit generate`
alone as the single-stream baseline. Writes a Markdown table (machine named)
to --out.
"""
import argparse
import concurrent.futures as cf
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from conftest import Server, default_model  # noqa: E402

PROMPTS = ["The history of the printing press", "Once upon a time in a quiet village",
           "The three most important ideas in physics are", "A recipe for bread begins with"]


def one_request(client, model_id, i, tokens):
    t0 = time.perf_counter()
    first, stamps = None, []
    stream = client.completions.create(model=model_id, prompt=PROMPTS[i % len(PROMPTS)], max_tokens=tokens,
                                       temperature=0.8, seed=i, stream=True, extra_body={"ignore_eos": True})
    n = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            now = time.perf_counter()
            first = first or now
            stamps.append(now)
            n += 1
    return first - t0, stamps, time.perf_counter() - t0


def run_level(server, concurrency, per_client, tokens):
    client = server.client()
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one_request, client, server.model_id, i, tokens)
                   for i in range(concurrency * per_client)]
        results = [f.result() for f in futures]
    wall = time.perf_counter() - start
    ttft = sorted(r[0] for r in results)
    gaps = [b - a for r in results for a, b in zip(r[1], r[1][1:])]
    generated = concurrency * per_client * tokens
    return {"concurrency": concurrency, "requests": len(results), "tokens": generated, "wall_s": wall,
            "tokens_per_s": generated / wall, "ttft_median_ms": 1e3 * statistics.median(ttft),
            "ttft_p90_ms": 1e3 * ttft[int(0.9 * (len(ttft) - 1))],
            "inter_token_median_ms": 1e3 * statistics.median(gaps)}


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", default=os.path.join(ROOT, "build", "release", "logitkit"))
    p.add_argument("--model", default=default_model())
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--requests-per-client", type=int, default=4)
    p.add_argument("--levels", default="1,4,16")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS-serve.md"))
    a = p.parse_args()
    server = Server(a.tool, a.model, "--parallel", "16")
    try:
        one_request(server.client(), server.model_id, 0, 8)  # warm-up
        levels = [int(x) for x in a.levels.split(",")]
        runs = {level: [] for level in levels}
        for k in range(a.rounds):
            for level in levels:
                r = run_level(server, level, a.requests_per_client, a.tokens)
                runs[level].append(r)
                print(f"round {k + 1}, concurrency {level:2d}: {r['tokens_per_s']:7.1f} tokens/s, TTFT median "
                      f"{r['ttft_median_ms']:.0f} ms (p90 {r['ttft_p90_ms']:.0f}), inter-token "
                      f"{r['inter_token_median_ms']:.1f} ms", flush=True)
        rows = []
        for level in levels:
            med = {key: statistics.median(r[key] for r in runs[level]) for key in runs[level][0]}
            med["tps_range"] = (min(r["tokens_per_s"] for r in runs[level]), max(r["tokens_per_s"] for r in runs[level]))
            rows.append(med)
    finally:
        server.stop()
    gen = subprocess.run([a.tool, "generate", "--model", a.model, PROMPTS[0], "--max-tokens", str(a.tokens),
                          "--ignore-eos", "--seed", "1"], capture_output=True, text=True, check=True).stderr
    baseline = gen.strip().splitlines()[-1]
    print("generate alone:", baseline)
    with open(a.out, "w") as f:
        f.write("# `logitkit serve` throughput (bench/serve.py)\n\n")
        f.write(f"Machine: {machine()}. Model: {os.path.basename(a.model)}. "
                f"`bench/serve.py --tokens {a.tokens} --requests-per-client {a.requests_per_client} "
                f"--rounds {a.rounds}`: medians over {a.rounds} interleaved rounds (range in brackets); "
                "streamed completions of exactly that many tokens (ignore_eos), T = 0.8, "
                "the official `openai` client, one thread per client.\n\n")
        f.write("| clients | requests per round | generated tokens/s | TTFT median (ms) | TTFT p90 (ms) | inter-token median (ms) |\n")
        f.write("| ---: | ---: | ---: | ---: | ---: | ---: |\n")
        for r in rows:
            lo, hi = r["tps_range"]
            f.write(f"| {r['concurrency']:.0f} | {r['requests']:.0f} | {r['tokens_per_s']:.1f} [{lo:.0f}–{hi:.0f}] | "
                    f"{r['ttft_median_ms']:.0f} | "
                    f"{r['ttft_p90_ms']:.0f} | {r['inter_token_median_ms']:.1f} |\n")
        base = rows[0]["tokens_per_s"]
        f.write("\nRatio to one client (medians): " + ", ".join(f"{r['concurrency']:.0f} clients {r['tokens_per_s'] / base:.2f}x"
                                                       for r in rows) + ".\n\n")
        f.write(f"`logitkit generate` alone, same model: `{baseline}`\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
