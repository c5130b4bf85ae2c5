#!/usr/bin/env python3
"""`logitkit top` with temperatures and filters, against a sort-based float64 reference.

  check_top.py --tool build/release/logitkit [--model M.gguf]

Runs `logitkit top --json` on the whole vocabulary (-n V) at T = 0, 0.7 and
1.5, once with no filter and once with top-k, top-p and min-p, takes the
logits it printed (the forward pass is checked against numpy by
check_logits.py) and recomputes every column in float64 with numpy: sort the
row by (logit descending, id ascending), apply the filters in the head's
default order (top-k, then top-p on the renormalised kept set, the crossing
token kept, then min-p), renormalise. It requires:
  - the rows in rank order, logprob = log-softmax(z) within 1e-5;
  - per temperature: p within 2e-5 (relative, for p >= 1e-30: z / T is rounded
    to float32 first), the cumulative
    p within 1e-5, the entropy within 1e-5 nats, the kept set equal (unless a
    boundary is closer than 1e-6 in mass, reported), n_kept, the kept mass
    within 1e-5, the renormalised p within 1e-5 and its entropy within 1e-5;
  - T = 0: all mass on the top token, kept set of one, entropy 0;
  - the text table: one line per row shown, with a "kept p" column only when
    a filter is given.

Exit 0: all agree; 1: a mismatch; 2: setup error; 77: numpy missing (2 when
LOGITKIT_REQUIRE_PEERS=1).
"""
import argparse
import json
import os
import subprocess
import sys

PROMPT = "The capital of France is"
TEMPERATURES = [0.0, 0.7, 1.5]
FILTERS = {"top_k": 40, "top_p": 0.9, "min_p": 0.02}


def reference_column(np, z, t, filters):
    """p, entropy, kept mask, renormalised p and its entropy at temperature t > 0 (float64, by sorting)."""
    order = np.lexsort((np.arange(len(z)), -z))  # logit descending, id ascending
    x = z / t
    p = np.exp(x - x.max())
    p /= p.sum()
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    kept = np.zeros(len(z), dtype=bool)
    kept[order] = True
    margin = np.inf  # the smallest |cumulative mass - top_p| at the top-p boundary
    if filters.get("top_k", 0) > 0:
        kept[order[filters["top_k"]:]] = False
    if filters.get("top_p", 1.0) < 1.0:
        ranked = order[kept[order]]
        q = p[ranked] / p[ranked].sum()
        cum = np.cumsum(q)
        n = int(np.searchsorted(cum, np.float32(filters["top_p"]), side="left")) + 1  # the crossing token stays
        n = min(n, len(ranked))
        kept[ranked[n:]] = False
        margin = float(np.min(np.abs(cum[max(n - 2, 0):n + 1] - np.float32(filters["top_p"]))))
    if filters.get("min_p", 0.0) > 0:
        ranked = order[kept[order]]
        q = p[ranked] / p[ranked].sum()
        kept[ranked[q < np.float32(filters["min_p"]) * q.max()]] = False
    r = np.where(kept, p, 0.0)
    r /= r.sum()
    kept_entropy = float(-(r[r > 0] * np.log(r[r > 0])).sum())
    return p, entropy, kept, r, kept_entropy, margin


def run_top(tool, model, n, filters, text=False):
    args = [tool, "top", PROMPT, "--model", model, "-n", str(n)]
    for t in TEMPERATURES:
        args += ["--temperature", str(t)]
    for name, value in filters.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    if not text:
        args.append("--json")
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"logitkit top failed: {run.stderr.strip()}")
    return run.stdout if text else json.loads(run.stdout)


def check(np, got, filters):
    """The failures of one `top --json` output on the whole vocabulary."""
    bad = []
    rows = got["top"]
    V = got["n_vocab"]
    if len(rows) != V:
        return [f"{len(rows)} rows for -n {V}"]
    z = np.zeros(V)
    for row in rows:
        z[row["id"]] = row["logit"]
    order = np.lexsort((np.arange(V), -z))
    if [row["id"] for row in rows] != order.tolist():
        bad.append("rows are not in rank order (logit descending, id ascending)")
    logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
    worst = max(abs(row["logprob"] - logp[row["id"]]) for row in rows)
    if worst > 1e-5:
        bad.append(f"logprob off by {worst:.2e}")
    for c, t in enumerate(TEMPERATURES):
        col = got["columns"][c]
        p_got = np.array([row["p"][c] for row in rows])
        cum_got = np.array([row["cumulative_p"][c] for row in rows])
        kept_got = np.array([row["kept"][c] for row in rows])
        kept_p_got = np.array([row["kept_p"][c] for row in rows])
        where = f"T={t}" + (" with " + ",".join(f"{k}={v}" for k, v in filters.items()) if filters else "")
        if t == 0:
            want = np.zeros(V)
            want[0] = 1.0
            if not (np.array_equal(p_got, want) and col["n_kept"] == 1 and col["entropy"] == 0
                    and kept_got.tolist() == [True] + [False] * (V - 1) and kept_p_got[0] == 1.0):
                bad.append(f"{where}: greedy is not all mass on the top token: {col}")
            continue
        p, entropy, kept, r, kept_entropy, margin = reference_column(np, z[order], t, filters)
        big = p >= 1e-30
        rel = float(np.max(np.abs(p_got[big] - p[big]) / p[big]))
        if rel > 2e-5:
            bad.append(f"{where}: p off by {rel:.2e} (relative)")
        if np.max(np.abs(cum_got - np.cumsum(p))) > 1e-5:
            bad.append(f"{where}: cumulative p off by {np.max(np.abs(cum_got - np.cumsum(p))):.2e}")
        if abs(col["entropy"] - entropy) > 1e-5:
            bad.append(f"{where}: entropy {col['entropy']} vs {entropy}")
        if not np.array_equal(kept_got, kept):
            if margin < 1e-6:
                print(f"  {where}: the kept set differs at a boundary {margin:.1e} from top_p (a tie within rounding)")
                continue
            bad.append(f"{where}: kept {int(kept_got.sum())} tokens, the reference {int(kept.sum())}")
            continue
        if col["n_kept"] != int(kept.sum()):
            bad.append(f"{where}: n_kept {col['n_kept']} vs {int(kept.sum())}")
        if abs(col["kept_mass"] - float(p[kept].sum())) > 1e-5:
            bad.append(f"{where}: kept mass {col['kept_mass']} vs {float(p[kept].sum())}")
        if np.max(np.abs(kept_p_got - r)) > 1e-5:
            bad.append(f"{where}: renormalised p off by {np.max(np.abs(kept_p_got - r)):.2e}")
        if abs(col["kept_entropy"] - kept_entropy) > 1e-5:
            bad.append(f"{where}: entropy after filtering {col['kept_entropy']} vs {kept_entropy}")
        print(f"  {where}: kept {col['n_kept']:5d} of {V}, mass {col['kept_mass']:.6f}, "
              f"entropy {col['entropy']:.4f} -> {col['kept_entropy']:.4f} nats, max|Δp| rel {rel:.1e}")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="the logitkit binary")
    parser.add_argument("--model", help="GGUF model (default: the default model)")
    args = parser.parse_args()
    try:
        import numpy as np
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from check_logits import SetupError, default_model
    except ImportError as e:
        print(f"check_top: {e}: run scripts/python-env", file=sys.stderr)
        return 2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    try:
        model = args.model or default_model()
        first = run_top(args.tool, model, 1, {})
        V = first["n_vocab"]
        failures = []
        for filters in ({}, FILTERS):
            failures += check(np, run_top(args.tool, model, V, filters), filters)
            text = run_top(args.tool, model, 5, filters, text=True).splitlines()
            header = next((line for line in text if line.startswith("rank")), "")
            if ("kept p" in header) != bool(filters) or sum(1 for line in text if line[:4].strip().isdigit()) != 5:
                failures.append(f"the text table with filters {filters}:\n" + "\n".join(text))
    except (SetupError, RuntimeError) as e:
        print(f"check_top: {e}", file=sys.stderr)
        return 2
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    print(f"check_top: {'0 failures' if not failures else f'{len(failures)} FAILURES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
