#!/usr/bin/env python3
"""`logitkit lens` against the numpy reference (reference.py).

  check_lens.py --tool build/release/logitkit [--model M.gguf]

Runs `logitkit lens --json` on a prompt, recomputes every layer's lens in
float64 from the reference's residual stream (reference.hidden with taps: the
embeddings, then the stream after each block; then reference.head: the final
norm from each vector's own statistics and the LM head), and requires the
layers in the order "embedding", 0, 1, ..., "final", and at every layer and
position: the same top token unless
the reference's top two are within 1e-3 in log-probability, |Δp| of the top
token, |Δ entropy| and |Δ KL(final || layer)| <= 2e-3, the same ranks of the
final top token and the next token (ties excepted); and that the last layer
equals the model's final row exactly.

Exit 0 / 1 mismatch / 2 setup / 77 no numpy or gguf (2 with
LOGITKIT_REQUIRE_PEERS=1).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = "The capital of France is"


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
        print(f"check_lens: {e}: run scripts/python-env", file=sys.stderr)
        return 2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    if not os.access(args.tool, os.X_OK):
        print(f"check_lens: {args.tool} is not an executable (build it first)", file=sys.stderr)
        return 2
    try:
        model_path = args.model or default_model()
    except SetupError as e:
        print(f"check_lens: {e}", file=sys.stderr)
        return 2
    run = subprocess.run([args.tool, "lens", "--json", "-k", "2", "--model", model_path, PROMPT],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"check_lens: logitkit lens failed: {run.stderr.strip()}", file=sys.stderr)
        return 2
    got = json.loads(run.stdout)
    ids = [t["id"] for t in got["tokens"]]
    m = reference.load(model_path)
    taps = []
    final = reference.head(m, reference.hidden(m, ids, taps))

    def logsoftmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    final_lp = logsoftmax(final)
    final_top = final_lp.argmax(axis=1)
    layers = got["layers"]
    if len(layers) != len(taps) + 1:
        print(f"check_lens: {len(layers)} layers from the tool, {len(taps) + 1} expected", file=sys.stderr)
        return 1
    failures, worst = 0, {"p": 0.0, "entropy": 0.0, "kl": 0.0}
    labels = [layer["layer"] for layer in layers]
    if labels != ["embedding", *range(len(taps) - 1), "final"]:
        print(f"check_lens: the layers are {labels}", file=sys.stderr)
        failures += 1
    for layer_index, layer in enumerate(layers):
        lp = final_lp if layer_index == len(taps) else logsoftmax(reference.head(m, taps[layer_index]))
        for t, cell in enumerate(layer["positions"]):
            ref_sorted = np.sort(lp[t])[::-1]
            top = int(lp[t].argmax())
            tie = ref_sorted[0] - ref_sorted[1] <= 1e-3
            if cell["top"][0]["id"] != top and not tie:
                print(f"  layer {layer['layer']} position {t}: top {cell['top'][0]['id']} vs {top}", file=sys.stderr)
                failures += 1
            p = np.exp(lp[t])
            worst["p"] = max(worst["p"], abs(cell["top"][0]["p"] - p[cell["top"][0]["id"]]))
            worst["entropy"] = max(worst["entropy"], abs(cell["entropy"] + (p * lp[t]).sum()))
            kl = (np.exp(final_lp[t]) * (final_lp[t] - lp[t])).sum()
            worst["kl"] = max(worst["kl"], abs(cell["kl_final_layer"] - kl))
            checks = [("final_top_rank", int(final_top[t]))]
            if t + 1 < len(ids):
                checks.append(("next_rank", ids[t + 1]))
            for key, token in checks:
                rank = 1 + int((lp[t] > lp[t, token]).sum())
                near = int((np.abs(lp[t] - lp[t, token]) <= 1e-3).sum()) - 1
                if abs(cell[key] - rank) > near:
                    print(f"  layer {layer['layer']} position {t}: {key} {cell[key]} vs {rank}", file=sys.stderr)
                    failures += 1
    if layers[-2]["positions"] != layers[-1]["positions"]:
        print("check_lens: the last layer does not reproduce the final output", file=sys.stderr)
        failures += 1
    bad = [k for k, v in worst.items() if v > 2e-3]
    failures += len(bad)
    print(f"check_lens: {len(layers)} layers x {len(ids)} positions; max |Δp(top)| {worst['p']:.2e}, "
          f"|Δentropy| {worst['entropy']:.2e}, |ΔKL| {worst['kl']:.2e}; last layer == final: "
          f"{layers[-2]['positions'] == layers[-1]['positions']}; {'0 failures' if failures == 0 else f'{failures} FAILURES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
