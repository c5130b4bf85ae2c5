#!/usr/bin/env python3
"""`logitkit score` against the numpy reference (reference.py).

  check_score.py --tool build/release/logitkit [--model M.gguf]

Scores a few texts with `logitkit score --json`, recomputes every position's
log-softmax in float64 from the reference's logits for the same token ids,
and requires, per scored token: |Δ logprob| and |Δ entropy| <= 2e-3 (nats);
the same rank, except where the next token's reference logit is within 1e-3
of another (a tie the tolerance may reorder); and for the totals: mean NLL
within 1e-3, perplexity = exp(NLL), bits per byte = NLL-sum / ln 2 / bytes.
`score --csv` must hold the same tokens and values, one line per token (a
newline token escaped, not breaking the row), read back with Python's csv.

Exit 0: all agree; 1: a mismatch; 2: setup error; 77: numpy or gguf missing
(2 when LOGITKIT_REQUIRE_PEERS=1).
"""
import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

TEXTS = [
    "The capital of France is Paris.",
    "Once upon a time, in a small village by the sea, there lived an old fisherman "
    "who had never seen a storm.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n",
    'She said "no",\tthen "yes" \\ twice.\r\n',  # what a CSV field must escape
]


def unescape_csv_token(text):
    """`score --csv`'s token field back to the token: \\\\ \\n \\r \\t \\xHH."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            nxt = text[i + 1]
            if nxt == "x":
                out.append(chr(int(text[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[nxt])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def check_csv(tool, model_path, text, got):
    """Failures of `score --csv` against the JSON `got` of the same text."""
    run = subprocess.run([tool, "score", "--csv", "--model", model_path, text], capture_output=True, text=True)
    if run.returncode != 0:
        return [f"score --csv failed: {run.stderr.strip()}"]
    lines = run.stdout.rstrip("\n").split("\n")  # (splitlines would also split at U+2028 and kin)
    if len(lines) != len(got["tokens"]) + 1:
        return [f"score --csv: {len(lines)} lines for {len(got['tokens'])} tokens (want one per token and a header)"]
    rows = list(csv.reader(io.StringIO(run.stdout)))
    if rows[0] != ["position", "id", "token", "logprob", "rank", "entropy"]:
        return [f"score --csv: header {rows[0]}"]
    bad = []
    for row, tok in zip(rows[1:], got["tokens"]):
        want = [tok["id"], tok["token"], tok["rank"]]
        have = [int(row[1]), unescape_csv_token(row[2]), int(row[4])]
        if have != want or abs(float(row[3]) - tok["logprob"]) > 1e-6 or abs(float(row[5]) - tok["entropy"]) > 1e-6:
            bad.append(f"score --csv row {row} vs JSON {tok}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="the logitkit binary")
    parser.add_argument("--model", help="GGUF model (default: the default model)")
    args = parser.parse_args()
    try:
        import numpy as np
        sys.path.insert(0, HERE)
        import reference
        from check_logits import SetupError, default_model  # one lookup of the default model
    except ImportError as e:
        print(f"check_score: {e}: run scripts/python-env", file=sys.stderr)
        return 2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    if not os.access(args.tool, os.X_OK):
        print(f"check_score: {args.tool} is not an executable (build it first)", file=sys.stderr)
        return 2
    try:
        model_path = args.model or default_model()
    except SetupError as e:
        print(f"check_score: {e}", file=sys.stderr)
        return 2
    model = reference.load(model_path)
    failures = 0
    for text in TEXTS:
        run = subprocess.run([args.tool, "score", "--json", "--model", model_path, text],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"check_score: logitkit score failed: {run.stderr.strip()}", file=sys.stderr)
            return 2
        got = json.loads(run.stdout)
        ids = [got["first_id"]] + [t["id"] for t in got["tokens"]]
        z = reference.logits(model, ids)[:-1]                    # position t predicts ids[t + 1]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # float64 log-softmax
        entropy = -(np.exp(logp) * logp).sum(axis=1)
        worst = {"logprob": 0.0, "entropy": 0.0}
        for t, tok in enumerate(got["tokens"]):
            nxt = ids[t + 1]
            worst["logprob"] = max(worst["logprob"], abs(tok["logprob"] - logp[t, nxt]))
            worst["entropy"] = max(worst["entropy"], abs(tok["entropy"] - entropy[t]))
            rank = 1 + int((z[t] > z[t, nxt]).sum())
            near = int((np.abs(z[t] - z[t, nxt]) <= 1e-3).sum()) - 1  # other tokens within a tie
            if abs(tok["rank"] - rank) > near:
                print(f"  position {t + 1}: rank {tok['rank']} vs reference {rank}", file=sys.stderr)
                failures += 1
        nll_sum = float(-sum(logp[t, ids[t + 1]] for t in range(len(got["tokens"]))))
        nll = nll_sum / len(got["tokens"])
        ok = (worst["logprob"] <= 2e-3 and worst["entropy"] <= 2e-3 and abs(got["nll"] - nll) <= 1e-3
              and math.isclose(got["perplexity"], math.exp(got["nll"]), rel_tol=1e-6)
              and math.isclose(got["bits_per_byte"], got["nll"] * len(got["tokens"]) / math.log(2) / got["bytes"],
                               rel_tol=1e-6))
        failures += 0 if ok else 1
        csv_failures = check_csv(args.tool, model_path, text, got)
        for f in csv_failures:
            print(f"  {f}", file=sys.stderr)
        failures += len(csv_failures)
        print(f"{len(got['tokens']):4d} tokens  max|Δlogprob| {worst['logprob']:.2e}  max|Δentropy| "
              f"{worst['entropy']:.2e}  NLL {got['nll']:.5f} vs {nll:.5f}  ppl {got['perplexity']:.4f}  "
              f"{'ok' if ok else 'MISMATCH'}  {text[:40]!r}")
    print(f"check_score: {len(TEXTS)} texts, {'0 failures' if failures == 0 else f'{failures} FAILURES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
