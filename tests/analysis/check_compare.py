#!/usr/bin/env python3
"""`logitkit compare` against metrics computed here with numpy (float64).

  check_compare.py --tool build/release/logitkit --logits-tool build/release/src/model/model_logits

1. Synthetic rows (.npy, 4000 rows x 300 tokens; B = A + noise, and some rows
   equal): KL(A || B) per row from its definition, its mean (plus the
   rounding of the float32 probabilities that weigh its terms) and standard
   error, NLLs and the perplexity ratio must agree to 1e-9 (relative), Δp's
   mean and RMS to 1e-8, top agreement exactly; every percentile must lie
   between the two order statistics numpy's "linear" rule interpolates,
   widened by the histogram's resolution (KL: one log bin, 10^0.01; Δp:
   2 / 65536); the min and max to 1e-8. A set compared with itself: KL exactly 0.
2. The default model against its Q8_0 copy (`logitkit convert`) on the first
   tokens of a corpus (--ctx 33, 64 positions in 2 windows): the windows'
   logits come from model_logits for each model; KL mean, top agreement and
   the perplexities must agree; the model against itself gives KL 0; against
   a model with other tokens (tests/model/make_tiny_models.py), a clear error.
3. --worst N (both cases): the N rows of largest KL as numpy finds them, each
   with its KL, next token, both models' top tokens and their p, and (models)
   the 16 tokens before it in its window; percentiles within the resolution of
   0 are flagged below_resolution (the min and max never).

Exit 0: all agree; 1: a mismatch; 2: setup error; 77: numpy missing (2 when
LOGITKIT_REQUIRE_PEERS=1).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PERCENTS = [100, 99.9, 99, 95, 90, 50, 10, 5, 1, 0.1, 0]
failures = []


def check(what, got, want, tol):
    if not abs(got - want) <= tol:
        failures.append(f"{what}: {got!r} vs reference {want!r} (tolerance {tol})")


def reference(np, a, b, y):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    la = a - a.max(axis=1, keepdims=True)
    la -= np.log(np.exp(la).sum(axis=1, keepdims=True))
    lb = b - b.max(axis=1, keepdims=True)
    lb -= np.log(np.exp(lb).sum(axis=1, keepdims=True))
    kl = np.maximum(0.0, (np.exp(la) * (la - lb)).sum(axis=1))
    # logitkit weighs each term by P_j from the SIMD exp, within 2 ulp of
    # float32 (relative 2^-22): a row's KL may be off by 2^-22 Σ P_j |log P_j - log Q_j|.
    kl_rounding = 2.0 ** -22 * (np.exp(la) * np.abs(la - lb)).sum(axis=1)
    rows = np.arange(len(y))
    dp = np.exp(lb[rows, y]) - np.exp(la[rows, y])
    return {"kl": kl, "kl_rounding": kl_rounding, "dp": dp, "agree": (a.argmax(axis=1) == b.argmax(axis=1)).mean(),
            "nll_a": -la[rows, y].mean(), "nll_b": -lb[rows, y].mean(),
            "top_a": a.argmax(axis=1), "top_b": b.argmax(axis=1),
            "p_top_a": np.exp(la.max(axis=1)), "p_top_b": np.exp(lb.max(axis=1))}


def check_worst(np, what, worst, ref, n):
    """--worst n: the n rows of largest KL (ties: the earlier row), each with its measures."""
    kl = ref["kl"]
    want = sorted(range(len(kl)), key=lambda r: (-kl[r], r))[:n]
    got = [w["position"] for w in worst]
    if len(got) != len(want):
        failures.append(f"{what}: --worst {n} gave {len(got)} rows, want {len(want)}")
        return
    if got != want:
        # Rows whose KLs are within rounding of each other may swap.
        close = all(abs(kl[g] - kl[w]) <= 2 * (ref["kl_rounding"][g] + ref["kl_rounding"][w]) + 1e-15
                    for g, w in zip(got, want))
        if not close:
            failures.append(f"{what}: --worst {n} rows {got}, reference {want}")
            return
    for w in worst:
        r = w["position"]
        check(f"{what}: worst row {r} KL", w["kl"], kl[r], 1e-9 * kl[r] + ref["kl_rounding"][r] + 1e-15)
        check(f"{what}: worst row {r} A's top", w["a_top"]["id"], ref["top_a"][r], 0)
        check(f"{what}: worst row {r} B's top", w["b_top"]["id"], ref["top_b"][r], 0)
        check(f"{what}: worst row {r} A's top p", w["a_top"]["p"], ref["p_top_a"][r], 1e-6)
        check(f"{what}: worst row {r} B's top p", w["b_top"]["p"], ref["p_top_b"][r], 1e-6)


def compare_json(np, got, ref, exact=True):
    kl, dp = ref["kl"], ref["dp"]
    n = len(kl)
    check("positions", got["positions"], n, 0)
    rel = 1e-9 if exact else 1e-5
    check("kl_mean", got["kl_mean"], kl.mean(), rel * kl.mean() + ref["kl_rounding"].mean() + 1e-15)
    check("kl_standard_error", got["kl_standard_error"], kl.std(ddof=1) / math.sqrt(n),
          1e-6 * kl.std() / math.sqrt(n) + 1e-15)
    check("top_agreement", got["top_agreement"], ref["agree"], 1e-12 if exact else 1.5 / n)
    check("dp_mean", got["dp_mean"], dp.mean(), 1e-8 if exact else 1e-6)
    check("dp_rms", got["dp_rms"], math.sqrt((dp * dp).mean()), 1e-8 if exact else 1e-6)
    check("nll_a", got["nll_a"], ref["nll_a"], rel * ref["nll_a"])
    check("nll_b", got["nll_b"], ref["nll_b"], rel * ref["nll_b"])
    check("perplexity_ratio", got["perplexity_ratio"], math.exp(ref["nll_b"] - ref["nll_a"]), 1e-8 if exact else 1e-5)
    if not exact:
        return
    # A percentile may fall between two order statistics in different bins: the
    # histogram's value must lie between them, widened by its resolution.
    def between(name, values, p, log):
        rank = p["percent"] / 100 * (len(values) - 1)
        lo, hi = values[int(math.floor(rank))], values[int(math.ceil(rank))]
        v = p["value"]
        if p["percent"] in (0, 100):
            check(f"{name} {p['percent']}%", v, lo, 1e-9 * abs(lo) + 1e-8)
        elif log:
            ok = (lo < 1e-12 and v == 0) or (lo / 10**0.0101 <= v <= hi * 10**0.0101)
            check(f"{name} {p['percent']}% in [{lo:.6g}, {hi:.6g}]", float(ok), 1.0, 0)
        else:
            w = 2.0 / 65536 * 1.01
            check(f"{name} {p['percent']}% in [{lo:.6g}, {hi:.6g}]", float(lo - w <= v <= hi + w), 1.0, 0)
    skl, sdp = np.sort(kl), np.sort(dp)
    for p in got["kl_percentiles"]:
        between("KL", skl, p, True)
    for p in got["dp_percentiles"]:
        between("Δp", sdp, p, False)


def run_json(cmd, what):
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        failures.append(f"{what} failed: {run.stderr.strip()}")
        return None
    return json.loads(run.stdout)


def synthetic(np, tool, tmp):
    rng = np.random.default_rng(1127)
    N, V = 4000, 300
    a = (rng.standard_normal((N, V)) * 3).astype(np.float32)
    b = a + (rng.standard_normal((N, V)) * 0.4).astype(np.float32)
    b[::10] = a[::10]  # KL exactly 0 on a tenth of the rows
    pa = np.exp(a.astype(np.float64) - a.max(axis=1, keepdims=True))
    pa /= pa.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(V, p=row) for row in pa])
    for name, arr in (("a", a), ("b", b), ("y", y.astype(np.int32))):
        np.save(os.path.join(tmp, name + ".npy"), arr)
    npy = lambda n: os.path.join(tmp, n + ".npy")
    got = run_json([tool, "compare", "--logits-a", npy("a"), "--logits-b", npy("b"), "--targets", npy("y"), "--json",
                    "--worst", "8"], "logitkit compare (synthetic)")
    if got:
        ref = reference(np, a, b, y)
        compare_json(np, got, ref)
        check_worst(np, "synthetic", got["worst"], ref, 8)
        for w in got["worst"]:
            check(f"synthetic: worst row {w['position']} next token", w["next"]["id"], y[w["position"]], 0)
        print(f"synthetic: {N} rows x {V}: KL mean {got['kl_mean']:.6g} ± {got['kl_standard_error']:.2g} "
              f"vs {ref['kl'].mean():.6g}; median {got['kl_percentiles'][5]['value']:.4g} vs "
              f"{np.percentile(ref['kl'], 50):.4g}; agreement {got['top_agreement']:.4f}")
    self_got = run_json([tool, "compare", "--logits-a", npy("a"), "--logits-b", npy("a"), "--targets", npy("y"),
                         "--json"], "logitkit compare (self)")
    if self_got:
        # Every percentile but the exact min and max lies within the resolution of 0, and says so.
        for key in ("kl_percentiles", "dp_percentiles"):
            flags = [p["below_resolution"] for p in self_got[key]]
            check(f"self: {key} below_resolution {flags}", float(flags == [p not in (0, 100) for p in PERCENTS]), 1.0, 0)
        check("self: KL mean", self_got["kl_mean"], 0.0, 0)
        check("self: KL max", self_got["kl_percentiles"][0]["value"], 0.0, 0)
        check("self: perplexity ratio", self_got["perplexity_ratio"], 1.0, 0)


def real_model(np, tool, logits_tool, model_path, corpus, tmp):
    q8 = os.path.join(tmp, "q8_0.gguf")
    conv = subprocess.run([tool, "convert", model_path, "--type", "q8_0", "-o", q8], capture_output=True, text=True)
    if conv.returncode != 0:
        failures.append(f"logitkit convert failed: {conv.stderr.strip()}")
        return
    with open(corpus, encoding="utf-8") as f:
        text = "".join(f.readline() for _ in range(8))
    path = os.path.join(tmp, "corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    ctx, max_tokens = 33, 65
    got = run_json([tool, "compare", model_path, q8, "--corpus", path, "--ctx", str(ctx), "--max-tokens",
                    str(max_tokens), "--json", "--worst", "3"], "logitkit compare (models)")
    same = run_json([tool, "compare", model_path, model_path, "--corpus", path, "--ctx", str(ctx), "--max-tokens",
                     str(max_tokens), "--json"], "logitkit compare (model with itself)")
    if not got or not same:
        return
    # Different vocabularies: a clear error, exit 2.
    import make_tiny_models
    for name, want in (("llama-v49152-q4_1", "token 0 is"), ("llama-v32000-f32", "49152 tokens in")):
        other = make_tiny_models.make(tmp, only=[name])[0]
        run = subprocess.run([tool, "compare", model_path, other, "--corpus", path], capture_output=True, text=True)
        ok = run.returncode == 2 and "different vocabularies" in run.stderr and want in run.stderr
        check(f"different vocabularies ({name}): exit {run.returncode}, {run.stderr.strip()!r}", float(ok), 1.0, 0)
    check("model with itself: KL mean", same["kl_mean"], 0.0, 0)
    check("model with itself: top agreement", same["top_agreement"], 1.0, 0)
    tok = subprocess.run([tool, "tokenize", "--vocab", model_path, "--no-bos"], input=text, capture_output=True,
                         text=True)
    ids = [int(v) for v in tok.stdout.split()][:max_tokens]
    za, zb, y, start = [], [], [], 0
    while start + 1 < len(ids):
        window = ids[start:start + ctx]
        for model, rows in ((model_path, za), (q8, zb)):
            out = os.path.join(tmp, "logits.f32")
            subprocess.run([logits_tool, model, out] + [str(i) for i in window[:-1]], check=True, capture_output=True)
            rows.append(np.fromfile(out, dtype="<f4").reshape(len(window) - 1, -1))
        y += window[1:]
        start += ctx - 1
    ref = reference(np, np.concatenate(za), np.concatenate(zb), np.array(y))
    compare_json(np, got, ref, exact=False)
    check_worst(np, "models", got["worst"], ref, 3)
    for w in got["worst"]:  # the context: up to 16 tokens of its window before the next token
        r = w["position"]
        window, at = divmod(r, ctx - 1)
        first = window * (ctx - 1)
        want = ids[max(first, first + at + 1 - 16):first + at + 1]
        check(f"models: worst row {r} next token", w["next"]["id"], y[r], 0)
        check(f"models: worst row {r} context {w['context_ids']} vs {want}", float(w["context_ids"] == want), 1.0, 0)
    print(f"model vs its Q8_0 copy: {got['positions']} positions: KL mean {got['kl_mean']:.6g} vs "
          f"{ref['kl'].mean():.6g}, agreement {got['top_agreement']:.4f} vs {ref['agree']:.4f}, "
          f"perplexity ratio {got['perplexity_ratio']:.6f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="the logitkit binary")
    parser.add_argument("--logits-tool", required=True, help="the model_logits binary")
    parser.add_argument("--model", help="GGUF model (default: the default model)")
    parser.add_argument("--corpus", help="a text corpus (default: scripts/fetch-corpus's, when present)")
    args = parser.parse_args()
    try:
        import numpy as np
        sys.path.insert(0, os.path.join(HERE, "..", "model"))
        from check_logits import SetupError, default_model
    except ImportError as e:
        print(f"check_compare: {e}: run scripts/python-env", file=sys.stderr)
        return 2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    for t in (args.tool, args.logits_tool):
        if not os.access(t, os.X_OK):
            print(f"check_compare: {t} is not an executable (build it first)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        synthetic(np, args.tool, tmp)
        corpus = args.corpus or os.path.join(os.environ.get("LOGITKIT_CACHE", os.path.expanduser("~/.cache/logitkit")),
                                             "corpus", "kjv.txt")
        try:
            model_path = args.model or default_model()
        except SetupError as e:
            print(f"check_compare: {e}", file=sys.stderr)
            return 2
        if os.path.exists(corpus):
            real_model(np, args.tool, args.logits_tool, model_path, corpus, tmp)
        elif os.environ.get("LOGITKIT_REQUIRE_MODEL") == "1":
            print(f"check_compare: no corpus at {corpus}: run scripts/fetch-corpus", file=sys.stderr)
            return 2
        else:
            print("check_compare: no corpus: the model part is skipped (scripts/fetch-corpus)")
    for f in failures:
        print("  MISMATCH " + f, file=sys.stderr)
    print(f"check_compare: {'0 failures' if not failures else f'{len(failures)} FAILURES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
