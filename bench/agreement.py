"""Agreement of logitkit with llama.cpp on real text (`bench/compare agree`).

Reads llama.cpp's token ids and logits (bench/lcpp_logits.cc) and logitkit's
(`logitkit tokenize`, src/model/model_logits with and without --int8) and
prints / writes as JSON, per logitkit activation mode:
  - whether the two tokenizations of the whole text are identical;
  - per-token KL(llama.cpp || logitkit) in nats, computed in float64 from the
    log-softmax of each row: mean, 99th percentile, max;
  - top-1 agreement: the share of positions whose argmax is the same;
  - the largest |logit difference| relative to the row's largest |logit|.
"""
import argparse
import json
import sys

import numpy as np


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def compare(ref, test):
    lp, lq = log_softmax(ref), log_softmax(test)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=1)
    top1 = (ref.argmax(axis=1) == test.argmax(axis=1)).mean()
    rel = (np.abs(ref - test).max(axis=1) / np.abs(ref).max(axis=1)).max()
    return {
        "kl_mean": float(kl.mean()),
        "kl_p99": float(np.percentile(kl, 99)),
        "kl_max": float(kl.max()),
        "top1_agreement": float(top1),
        "max_rel_logit_diff": float(rel),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lcpp-ids", required=True, help="the ids evaluated (first line); .all beside it: the whole text")
    ap.add_argument("--logitkit-ids", required=True, help="`logitkit tokenize --no-bos` of the whole text")
    ap.add_argument("--lcpp", required=True)
    ap.add_argument("--logitkit", required=True)
    ap.add_argument("--logitkit-int8")
    ap.add_argument("--control", action="append", default=[],
                    help="NAME=REF.f32,TEST.f32: one more pair of logits of the same ids (e.g. both tools on the "
                         "model dequantized to float32)")
    ap.add_argument("--json")
    args = ap.parse_args()

    ids = [int(t) for t in open(args.lcpp_ids).read().split()]
    lcpp_all = open(args.lcpp_ids + ".all").read().split()
    logitkit_all = open(args.logitkit_ids).read().split()
    same = lcpp_all == logitkit_all
    first_diff = None
    if not same:
        first_diff = next((i for i, (a, b) in enumerate(zip(lcpp_all, logitkit_all)) if a != b),
                          min(len(lcpp_all), len(logitkit_all)))
    n = len(ids)
    ref = np.fromfile(args.lcpp, dtype=np.float32)
    n_vocab = ref.size // n
    ref = ref.reshape(n, n_vocab)
    out = {
        "tokens_in_text": len(lcpp_all),
        "tokenization_identical": same,
        "first_token_difference": first_diff,
        "tokens_evaluated": n,
        "n_vocab": n_vocab,
        "modes": {},
    }
    for mode, path in (("float32", args.logitkit), ("int8", args.logitkit_int8)):
        if not path:
            continue
        test = np.fromfile(path, dtype=np.float32).reshape(n, n_vocab)
        out["modes"][mode] = compare(ref, test)

    out["controls"] = {}
    for control in args.control:
        name, files = control.split("=", 1)
        a, b = files.split(",")
        out["controls"][name] = compare(np.fromfile(a, dtype=np.float32).reshape(n, n_vocab),
                                        np.fromfile(b, dtype=np.float32).reshape(n, n_vocab))

    print(f"tokenization of the text ({len(lcpp_all)} tokens): "
          f"{'identical' if same else f'DIFFERS at token {first_diff}'}")
    for mode, m in out["modes"].items():
        print(f"logitkit {mode:7s} vs llama.cpp over {n} tokens: KL mean {m['kl_mean']:.3g}, "
              f"p99 {m['kl_p99']:.3g}, max {m['kl_max']:.3g} nats; top-1 agreement "
              f"{100 * m['top1_agreement']:.2f}%; max |dlogit|/max|logit| {m['max_rel_logit_diff']:.3g}")
    for name, m in out["controls"].items():
        print(f"control {name}: KL mean {m['kl_mean']:.3g}, p99 {m['kl_p99']:.3g}, max {m['kl_max']:.3g} nats; "
              f"top-1 agreement {100 * m['top1_agreement']:.2f}%; max |dlogit|/max|logit| "
              f"{m['max_rel_logit_diff']:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
