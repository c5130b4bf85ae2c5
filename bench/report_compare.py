"""Writes bench/RESULTS-compare.md and bench/compare-ratios.svg from the JSON
that `bench/compare` leaves in $LOGITKIT_CACHE/peers/results/ (the report
step). Every figure is a median; every ratio is peer / logitkit (above 1:
logitkit is faster, or for tokens/s logitkit / llama.cpp).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def fmt_ratio(x):
    if x is None:
        return "—"
    return f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def fmt_us(x):
    if x is None:
        return "—"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


# ---------------------------------------------------------------------------


def agreement_section(a):
    out = ["## Agreement on real text (default model)", ""]
    if a is None:
        return out + ["Not measured in this run (the agree step).", ""]
    out += [
        f"The first {a['tokens_evaluated']} tokens of the King James Bible (scripts/fetch-corpus), evaluated as "
        f"one sequence by both; logitkit's logits for llama.cpp's token ids. KL(llama.cpp ‖ logitkit) per "
        f"position in nats, from the log-softmax of each row in float64 (bench/agreement.py).",
        "",
        f"- tokenization of the whole excerpt ({a['tokens_in_text']} tokens, no BOS): "
        + ("**identical**" if a["tokenization_identical"] else
           f"**differs** from token {a['first_token_difference']} on"),
        "",
        "| logitkit activations | KL mean | KL p99 | KL max | top-1 agreement | max abs logit diff / max abs logit |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, m in a["modes"].items():
        out.append(f"| {mode} | {m['kl_mean']:.2e} | {m['kl_p99']:.2e} | {m['kl_max']:.2e} | "
                   f"{100 * m['top1_agreement']:.2f}% | {m['max_rel_logit_diff']:.2g} |")
    for name, m in a.get("controls", {}).items():
        out.append(f"| control: {name} | {m['kl_mean']:.2e} | {m['kl_p99']:.2e} | {m['kl_max']:.2e} | "
                   f"{100 * m['top1_agreement']:.2f}% | {m['max_rel_logit_diff']:.2g} |")
    out.append("")
    return out


def model_section(results):
    out = ["## Forward pass: `logitkit bench model` beside `llama-bench`", ""]
    rounds = sorted({int(m.group(1)) for p in glob.glob(os.path.join(results, "model-lcpp-*.json"))
                     if (m := re.search(r"model-lcpp-(\d+)\.json$", p))})
    if not rounds:
        return out + ["Not measured in this run (the model step).", ""], {}
    rows = []
    for r in rounds:
        lc = load(os.path.join(results, f"model-lcpp-{r}.json")) or []
        lk = load(os.path.join(results, f"model-logitkit-{r}.json"))
        lk8 = load(os.path.join(results, f"model-logitkit-int8-{r}.json"))
        for t in (1, 2):
            pp = next((e["avg_ts"] for e in lc if e.get("n_threads") == t and e.get("n_prompt", 0) > 0
                       and e.get("n_gen", 0) == 0), None)
            tg = next((e["avg_ts"] for e in lc if e.get("n_threads") == t and e.get("n_gen", 0) > 0
                       and e.get("n_prompt", 0) == 0), None)
            k = next((e for e in (lk or {}).get("results", []) if e["threads"] == t), None)
            k8 = next((e for e in (lk8 or {}).get("results", []) if e["threads"] == t), None)
            if None in (pp, tg, k):
                continue
            rows.append({"round": r, "threads": t, "lcpp_pp": pp, "lcpp_tg": tg,
                         "lk_pp": k["prompt_tokens_per_s"], "lk_tg": k["gen_tokens_per_s"],
                         "lk8_pp": k8["prompt_tokens_per_s"] if k8 else None,
                         "lk8_tg": k8["gen_tokens_per_s"] if k8 else None})
    out += [
        "Prompt 128 tokens (one batch), generation 128 tokens; `llama-bench -p 128 -n 128 -t 1,2 -r 3`, "
        "`logitkit bench model --prompt-tokens 128 --gen-tokens 128 --reps 3` (float32 activations, its default, "
        "and `--int8`). Rounds interleaved: llama-bench, logitkit, logitkit --int8, then again. Ratios: "
        "logitkit / llama.cpp tokens/s.",
        "",
        "| round | threads | llama.cpp pp128 | logitkit prompt | ratio | --int8 | ratio | llama.cpp tg128 | "
        "logitkit gen | ratio | --int8 | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    def r2(a, b):
        return f"{a / b:.2f}" if a and b else "—"
    def v(x):
        return f"{x:.1f}" if x else "—"
    for e in rows:
        out.append(f"| {e['round']} | {e['threads']} | {v(e['lcpp_pp'])} | {v(e['lk_pp'])} | "
                   f"{r2(e['lk_pp'], e['lcpp_pp'])} | {v(e['lk8_pp'])} | {r2(e['lk8_pp'], e['lcpp_pp'])} | "
                   f"{v(e['lcpp_tg'])} | {v(e['lk_tg'])} | {r2(e['lk_tg'], e['lcpp_tg'])} | {v(e['lk8_tg'])} | "
                   f"{r2(e['lk8_tg'], e['lcpp_tg'])} |")
    # A round whose 2-thread llama.cpp figure is below its own 1-thread figure
    # ran while something else held a core: llama.cpp's threads spin at every
    # barrier, so one descheduled thread stalls the token. Such rounds are
    # shown but left out of the medians.
    one = {e["round"]: e for e in rows if e["threads"] == 1}
    for e in rows:
        base = one.get(e["round"])
        e["contended"] = e["threads"] > 1 and base is not None and e["lcpp_tg"] < base["lcpp_tg"]
    if any(e["contended"] for e in rows):
        out += ["", "Rounds marked * had llama.cpp slower on 2 threads than on 1: a core was busy with other "
                "work (llama.cpp's threads spin at every barrier, so one descheduled thread stalls each token). "
                "They are left out of the medians below."]
        for i, line in enumerate(out):
            for e in rows:
                if e["contended"] and line.startswith(f"| {e['round']} | {e['threads']} |"):
                    out[i] = line.replace(f"| {e['round']} |", f"| {e['round']}* |", 1)
    med = {}
    for t in (1, 2):
        sel = [e for e in rows if e["threads"] == t and not e["contended"]]
        if sel:
            med[t] = {k: statistics.median([e[k] / e[b] for e in sel if e[k] and e[b]])
                      for k, b in (("lk_tg", "lcpp_tg"), ("lk_pp", "lcpp_pp"), ("lk8_tg", "lcpp_tg"),
                                   ("lk8_pp", "lcpp_pp")) if any(e[k] for e in sel)}
    out.append("")
    for t in (1, 2):
        if t not in med:
            out.append(f"- {t} threads: no uncontended round; no ratio is given.")
    for t, m in med.items():
        out.append(f"- {t} thread{'s' if t > 1 else ''}, median over rounds: generation "
                   f"{m.get('lk_tg', 0):.2f}× llama.cpp (float32), {m.get('lk8_tg', 0):.2f}× (--int8); prompt "
                   f"{m.get('lk_pp', 0):.2f}× (float32), {m.get('lk8_pp', 0):.2f}× (--int8). Target: generation "
                   f"≥ 0.5×: **{'met' if m.get('lk_tg', 0) >= 0.5 else 'missed'}**.")
    out.append("")
    return out, med


SETTINGS = ["greedy", "T=1", "top-k 50", "top-p 0.9", "llama.cpp chain", "min-p 0.1", "top-p 0.99",
            "top-20 logprobs"]


def head_cases(results):
    lc = load(os.path.join(results, "head-lcpp.json"))
    py = load(os.path.join(results, "head-py.json"))
    if lc is None:
        return None, py
    cases = {}
    for c in lc["cases"]:
        cases[(c["vocab"], c["dist"], c["setting"], c["batch"])] = dict(c)
    for c in (py or {}).get("cases", []):
        key = (c["vocab"], c["dist"], c["setting"], c["batch"])
        if key in cases:
            cases[key]["numpy_us"] = c.get("numpy_us")
            cases[key]["torch_us"] = c.get("torch_us")
    return cases, py


def ratio(c, peer):
    if peer == "lcpp":
        return c.get("lcpp_ratio")
    t = c.get(f"{peer}_us")
    return t / c["logitkit_us"] if t else None


def head_section(cases, py):
    out = ["## Decode head: logitkit beside llama.cpp's samplers, PyTorch and NumPy", ""]
    if not cases:
        return out + ["Not measured in this run (the head step).", ""], []
    out += [
        "Same rows for everyone: bench/head_compare.cc makes them with logitkit's generator (peaked like a real "
        "model, normal σ = 1, σ = 5; 64 distinct rows per shape) and takes 64 rows of the default model's logits "
        "at V = 49152 (`model`); it times logitkit's `DecodeHead` (one thread) and llama.cpp's `llama_sampler` "
        "chain with the same settings, interleaved (llama.cpp's time includes filling its "
        "`llama_token_data` array from the row, as `llama_sampler_sample` does); bench/head_peers.py times a "
        "plain NumPy implementation and PyTorch (Hugging Face's TopK/TopP/MinP warpers, softmax, "
        "`torch.multinomial`, one thread) on the same rows, afterwards in its own process (so those ratios are not interleaved and carry this machine's ±30%). Batch 64: logitkit's `DecodeBatch` on one thread, "
        "llama.cpp's chain 64 times, NumPy and PyTorch on the [64, V] array. "
        f"NumPy {(py or {}).get('numpy', '?')}, PyTorch {(py or {}).get('torch') or 'not run (see below)'}. "
        "llama.cpp has no logprobs sampler: `top-20 logprobs` is logitkit beside NumPy / PyTorch only.",
        "",
    ]
    # Targets at V = 128256, batch 1.
    tgt = []
    def get(dist, setting, b=1, v=128256):
        return cases.get((v, dist, setting, b))
    out += ["### Targets (V = 128256, batch 1)", "",
            "| target | shape | measured | target | |", "| --- | --- | --- | --- | --- |"]
    for dist in ("peaked", "normal1", "normal5"):
        c = get(dist, "llama.cpp chain")
        if c:
            r = ratio(c, "lcpp")
            out.append(f"| llama.cpp chain, llama.cpp / logitkit | {dist} | {fmt_ratio(r)} | ≥ 3× | "
                       f"{'met' if r and r >= 3 else '**missed**'} |")
    for dist in ("peaked", "normal1", "normal5"):
        for setting in ("top-p 0.9", "top-p 0.99"):
            c = get(dist, setting)
            r = ratio(c, "torch") if c else None
            out.append(f"| PyTorch sort path ({setting}), PyTorch / logitkit | {dist} | {fmt_ratio(r)} | ≥ 20× | "
                       + ("not run" if r is None else ("met" if r >= 20 else "**missed**")) + " |")
    for dist in ("peaked", "normal1", "normal5"):
        c = get(dist, "top-p 0.99")
        if c:
            r = ratio(c, "lcpp")
            out.append(f"| top-p 0.99, top-k off, llama.cpp / logitkit | {dist} | {fmt_ratio(r)} | ≥ 50× | "
                       f"{'met' if r and r >= 50 else '**missed**'} |")
    out.append("")
    # Main table: V = 128256.
    for b in (1, 64):
        keys = [k for k in cases if k[0] == 128256 and k[3] == b]
        if not keys:
            continue
        out += [f"### V = 128256, batch {b}: µs per row (logitkit) and peer / logitkit", "",
                "| shape | setting | logitkit µs | llama.cpp µs | llama.cpp / lk | NumPy / lk | PyTorch / lk |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for dist in ("peaked", "normal1", "normal5"):
            for s in SETTINGS:
                c = cases.get((128256, dist, s, b))
                if c:
                    out.append(f"| {dist} | {s} | {fmt_us(c['logitkit_us'])} | {fmt_us(c.get('lcpp_us'))} | "
                               f"{fmt_ratio(ratio(c, 'lcpp'))} | {fmt_ratio(ratio(c, 'numpy'))} | "
                               f"{fmt_ratio(ratio(c, 'torch'))} |")
        out.append("")
    # Every case.
    out += ["### Every case", "", "<details><summary>all vocabulary sizes, shapes, settings and batches</summary>",
            "", "| V | shape | setting | batch | logitkit µs/row | llama.cpp / lk | NumPy / lk | PyTorch / lk |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k in sorted(cases, key=lambda k: (k[0], k[3], k[1], SETTINGS.index(k[2]))):
        c = cases[k]
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {fmt_us(c['logitkit_us'])} | "
                   f"{fmt_ratio(ratio(c, 'lcpp'))} | {fmt_ratio(ratio(c, 'numpy'))} | "
                   f"{fmt_ratio(ratio(c, 'torch'))} |")
    out += ["", "</details>", ""]
    return out, tgt


def svg_chart(cases, path):
    """Peer / logitkit at V = 128256, batch 1, median over the three synthetic shapes, log scale."""
    peers = [("lcpp", "llama.cpp", "#d95f02"), ("numpy", "NumPy", "#1b9e77"), ("torch", "PyTorch", "#7570b3")]
    data = []
    for s in SETTINGS:
        row = []
        for p, _, _ in peers:
            rs = [ratio(cases[k], p) for k in cases if k[0] == 128256 and k[3] == 1 and k[2] == s
                  and k[1] in ("peaked", "normal1", "normal5")]
            rs = [r for r in rs if r]
            row.append(statistics.median(rs) if rs else None)
        data.append(row)
    import math
    W, H, left, top, bottom = 860, 380, 60, 40, 90
    ymax = max([r for row in data for r in row if r] + [10])
    lmax = math.ceil(math.log10(ymax))
    lmin = -1
    def y(v):
        return top + (H - top - bottom) * (1 - (math.log10(v) - lmin) / (lmax - lmin))
    gw = (W - left - 20) / len(SETTINGS)
    bw = gw / (len(peers) + 1)
    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{left}" y="18" font-size="13">Decode head, V = 128256, batch 1: peer time / logitkit time '
         f'(median of 3 row shapes; log scale; above 1: logitkit faster)</text>']
    for d in range(lmin, lmax + 1):
        v = 10 ** d
        e.append(f'<line x1="{left}" x2="{W - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ccc"/>')
        e.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}×</text>')
    e.append(f'<line x1="{left}" x2="{W - 20}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="black"/>')
    for i, (s, row) in enumerate(zip(SETTINGS, data)):
        x0 = left + i * gw + bw / 2
        for j, ((p, name, color), r) in enumerate(zip(peers, row)):
            if r is None:
                continue
            x = x0 + j * bw
            y0, y1 = sorted((y(1), y(r)))
            e.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{bw - 2:.1f}" height="{max(y1 - y0, 1):.1f}" '
                     f'fill="{color}"><title>{name} {s}: {r:.2f}×</title></rect>')
            e.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{min(y0, y1) - 3:.1f}" text-anchor="middle" '
                     f'font-size="9">{r:.1f}</text>')
        e.append(f'<text x="{left + i * gw + gw / 2:.1f}" y="{H - bottom + 16}" text-anchor="middle">{s}</text>')
    for j, (p, name, color) in enumerate(peers):
        e.append(f'<rect x="{left + j * 110}" y="{H - 30}" width="12" height="12" fill="{color}"/>')
        e.append(f'<text x="{left + j * 110 + 16}" y="{H - 20}">{name}</text>')
    e.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--lcpp-build", required=True)
    ap.add_argument("--logitkit", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    args = ap.parse_args()

    lc0 = load(os.path.join(args.results, "model-lcpp-1.json")) or [{}]
    lk0 = load(os.path.join(args.results, "model-logitkit-1.json")) or {}
    cases, py = head_cases(args.results)
    gxx = cmd(["g++", "--version"]).splitlines()
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    simd = [f for f in ("avx512f", "avx2", "fma", "f16c") if re.search(rf"\b{f}\b", flags)]
    md = [
        "# logitkit beside llama.cpp, PyTorch and NumPy",
        "",
        "Written by `bench/compare` (`bench/report_compare.py`); the raw JSON stays in "
        "`$LOGITKIT_CACHE/peers/results/`. One machine, one run; medians; ratios peer / logitkit.",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {cpu_name()}, {os.cpu_count()} vCPUs of a shared virtual machine "
        f"(flags: {', '.join(simd)}); timings move by ±30% here, hence interleaved rounds and medians",
        f"- compiler: {gxx[0] if gxx else '?'}; logitkit release preset, kernel target "
        f"{lk0.get('kernel_target', '?')}",
        f"- llama.cpp: the source vendored in the PyPI sdist llama-cpp-python 0.3.36 "
        f"(build {lc0[0].get('build_number', '?')}, commit {lc0[0].get('build_commit', '?')}), CMake Release, "
        f"GGML_NATIVE=ON, CPU backend ({lc0[0].get('cpu_info', '?')})",
        f"- Python peers (Debian's Python {platform.python_version()} in a venv in the cache): NumPy "
        f"{(py or {}).get('numpy', '?')}, PyTorch {(py or {}).get('torch') or 'not installed'}"
        + (" (PyPI's Linux wheel is the CUDA build: run on the CPU, one thread)" if (py or {}).get("torch") else ""),
        "- model: SmolLM2-135M-Instruct Q4_1 (scripts/fetch-model)",
        "",
    ]
    md += agreement_section(load(os.path.join(args.results, "agree.json")))
    sec, _ = model_section(args.results)
    md += sec
    hs, _ = head_section(cases, py)
    md += hs
    if cases:
        svg_chart(cases, args.svg)
        md += [f"![ratios](./{os.path.basename(args.svg)})", ""]
    notes = os.path.join(os.path.dirname(args.md), "compare-notes.md")
    if os.path.exists(notes):
        md += [open(notes).read().rstrip(), ""]
    with open(args.md, "w") as f:
        f.write("\n".join(md))
    print(f"report_compare: wrote {args.md}" + (f" and {args.svg}" if cases else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
