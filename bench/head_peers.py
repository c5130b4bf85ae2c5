"""The decode head's Python peers for `bench/compare head`: NumPy, and PyTorch
(CPU) when it imports, on the rows bench/head_compare.cc wrote
(DIR/rows-V-SHAPE.f32, [64, V] float32), with the settings of
`logitkit bench head`. Writes the median time per row of each to JSON.

NumPy: a plain implementation (argpartition for top-k, a full descending sort
for top-p, softmax in float32, inverse-CDF sampling). PyTorch: the Hugging Face
`transformers` warpers as they are written (TopKLogitsWarper: torch.topk and a
mask; TopPLogitsWarper: a full ascending sort, softmax, cumsum, scatter back;
MinPLogitsWarper: softmax, a threshold, a mask), then softmax and
torch.multinomial, on one thread (torch.set_num_threads(1)).

Each case: one warm-up call, then --reps repetitions of >= --min-time-ms each;
the median seconds per call divided by the batch size.
"""
import argparse
import glob
import json
import os
import re
import sys
import time

import numpy as np

try:
    import torch
    torch.set_num_threads(1)
    TORCH = torch.__version__
except Exception as e:  # noqa: BLE001: any import failure means "no torch here"
    torch = None
    TORCH = None
    TORCH_ERROR = str(e).splitlines()[0] if str(e) else type(e).__name__

SETTINGS = ["greedy", "T=1", "top-k 50", "top-p 0.9", "llama.cpp chain", "min-p 0.1", "top-p 0.99",
            "top-20 logprobs"]

# ---------------------------------------------------------------------------
# NumPy, rows of shape [B, V].


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_sample(p, rng):
    """One draw per row from the (possibly unnormalised) probabilities p."""
    c = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * c[:, -1:]
    return (c < u).sum(axis=1)


def np_top_p_sorted(z, p_top, rng):
    order = np.argsort(-z, axis=1, kind="stable")
    zs = np.take_along_axis(z, order, axis=1)
    ps = np_softmax(zs)
    c = np.cumsum(ps, axis=1)
    keep = (c - ps) < p_top  # keeps the token that crosses p
    ps = np.where(keep, ps, 0)
    i = np_sample(ps, rng)
    return order[np.arange(z.shape[0]), i]


def np_top_k(z, k, rng, temperature=1.0):
    idx = np.argpartition(-z, k - 1, axis=1)[:, :k]
    zk = np.take_along_axis(z, idx, axis=1) / temperature
    i = np_sample(np_softmax(zk), rng)
    return idx[np.arange(z.shape[0]), i]


def np_chain(z, rng):
    # top-k 40, top-p 0.95, min-p 0.05, then temperature 0.8 (llama.cpp's order).
    idx = np.argpartition(-z, 39, axis=1)[:, :40]
    zk = np.take_along_axis(z, idx, axis=1)
    o = np.argsort(-zk, axis=1, kind="stable")
    zk = np.take_along_axis(zk, o, axis=1)
    idx = np.take_along_axis(idx, o, axis=1)
    p = np_softmax(zk)
    c = np.cumsum(p, axis=1)
    keep = (c - p) < 0.95
    p = np.where(keep, p, 0)
    p = p / p.sum(axis=1, keepdims=True)
    keep &= p >= 0.05 * p[:, :1]
    zt = np.where(keep, zk / 0.8, -np.inf)
    i = np_sample(np_softmax(zt), rng)
    return idx[np.arange(z.shape[0]), i]


def np_min_p(z, m, rng):
    p = np_softmax(z)
    p = np.where(p >= m * p.max(axis=1, keepdims=True), p, 0)
    return np_sample(p, rng)


def np_top_logprobs(z, k, rng):
    zmax = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)) + zmax
    logprobs = z - lse
    idx = np.argpartition(-logprobs, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(logprobs, idx, axis=1)
    o = np.argsort(-top, axis=1)
    tok = np_sample(np.exp(logprobs), rng)
    return tok, np.take_along_axis(idx, o, axis=1), np.take_along_axis(top, o, axis=1)


def numpy_fn(setting):
    rng = np.random.default_rng(1234)
    return {
        "greedy": lambda z: z.argmax(axis=1),
        "T=1": lambda z: np_sample(np_softmax(z), rng),
        "top-k 50": lambda z: np_top_k(z, 50, rng),
        "top-p 0.9": lambda z: np_top_p_sorted(z, 0.9, rng),
        "llama.cpp chain": lambda z: np_chain(z, rng),
        "min-p 0.1": lambda z: np_min_p(z, 0.1, rng),
        "top-p 0.99": lambda z: np_top_p_sorted(z, 0.99, rng),
        "top-20 logprobs": lambda z: np_top_logprobs(z, 20, rng),
    }[setting]


# ---------------------------------------------------------------------------
# PyTorch with the Hugging Face warpers (transformers' generation/logits_process.py).


def hf_top_k(scores, k):
    k = min(k, scores.size(-1))
    remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(remove, -float("inf"))


def hf_top_p(scores, p):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_remove = cumulative <= (1 - p)
    sorted_remove[..., -1:] = 0  # min_tokens_to_keep = 1
    remove = sorted_remove.scatter(1, sorted_indices, sorted_remove)
    return scores.masked_fill(remove, -float("inf"))


def hf_min_p(scores, m):
    probs = torch.softmax(scores, dim=-1)
    top = probs.amax(dim=-1, keepdim=True)
    remove = probs < m * top
    return scores.masked_fill(remove, -float("inf"))


def torch_sample(scores, gen):
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=gen)


def torch_fn(setting):
    gen = torch.Generator().manual_seed(1234)

    def chain(s):
        s = hf_top_k(s, 40)
        s = hf_top_p(s, 0.95)
        s = hf_min_p(s, 0.05)
        return torch_sample(s / 0.8, gen)

    def top_logprobs(s):
        logprobs = torch.log_softmax(s, dim=-1)
        top = torch.topk(logprobs, 20)
        return torch.multinomial(logprobs.exp(), 1, generator=gen), top

    return {
        "greedy": lambda s: s.argmax(dim=-1),
        "T=1": lambda s: torch_sample(s, gen),
        "top-k 50": lambda s: torch_sample(hf_top_k(s, 50), gen),
        "top-p 0.9": lambda s: torch_sample(hf_top_p(s, 0.9), gen),
        "llama.cpp chain": chain,
        "min-p 0.1": lambda s: torch_sample(hf_min_p(s, 0.1), gen),
        "top-p 0.99": lambda s: torch_sample(hf_top_p(s, 0.99), gen),
        "top-20 logprobs": top_logprobs,
    }[setting]


def time_per_call(fn, x, reps, min_time):
    fn(x)
    per_call = []
    for _ in range(reps):
        calls, start = 0, time.perf_counter()
        while True:
            fn(x)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        per_call.append(elapsed / calls)
    return float(np.median(per_call))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-dir", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--vocab", type=int, action="append")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-time-ms", type=float, default=20)
    args = ap.parse_args()
    batches = args.batch or [1, 64]
    if torch is None:
        print(f"head_peers: PyTorch does not import here ({TORCH_ERROR}): timing NumPy only", file=sys.stderr)
    cases = []
    files = sorted(glob.glob(os.path.join(args.rows_dir, "rows-*-*.f32")))
    for path in files:
        m = re.match(r"rows-(\d+)-(\w+)\.f32$", os.path.basename(path))
        V, dist = int(m.group(1)), m.group(2)
        if args.vocab and V not in args.vocab:
            continue
        rows = np.fromfile(path, dtype=np.float32).reshape(-1, V)
        trows = torch.from_numpy(rows) if torch is not None else None
        for setting in SETTINGS:
            for B in batches:
                case = {"vocab": V, "dist": dist, "setting": setting, "batch": B}
                case["numpy_us"] = 1e6 * time_per_call(numpy_fn(setting), rows[:B], args.reps,
                                                       args.min_time_ms / 1e3) / B
                if torch is not None:
                    with torch.inference_mode():
                        case["torch_us"] = 1e6 * time_per_call(torch_fn(setting), trows[:B], args.reps,
                                                               args.min_time_ms / 1e3) / B
                cases.append(case)
                print(f"head_peers: V {V} {dist:7s} {setting:16s} batch {B:2d}: numpy {case['numpy_us']:9.1f} us/row"
                      + (f", torch {case['torch_us']:9.1f} us/row" if "torch_us" in case else ""), file=sys.stderr)
    with open(args.json, "w") as f:
        json.dump({"numpy": np.__version__, "torch": TORCH, "cases": cases}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
