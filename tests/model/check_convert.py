#!/usr/bin/env python3
"""`logitkit convert` end to end on the default model (standard library only).

  check_convert.py --logitkit PATH --tool MODEL_LOGITS [--model M.gguf] [--types f32,q8_0,...]

1. Usage and input errors of `logitkit convert` give exit 2 (unknown --type,
   named with the accepted ones; no -o; -o equal to the model) or 1 (a
   missing model, a file that is not GGUF), and leave no output file.
2. For each type (default f32), the model is converted with --json; the
   summary must match the file written, and no .tmp may be left.
3. An F32 copy holds exactly the weights the quantized model computes with,
   so its logits (model_logits: a 1-token prompt, which takes the
   one-row-at-a-time dot products, and a 12-token prompt, which takes the
   batched ones) must equal the original's within float32 summation-order
   rounding, max |Δ| <= 1e-4 x max |logit|, with the same argmax at every
   position, and its 8 greedy tokens must be the same. For the other types
   the differences are reported, not judged (they round the weights again).

The model: --model, else $LOGITKIT_MODEL, else the default model in
${LOGITKIT_CACHE:-~/.cache/logitkit}. Exit 0 ok; 1 a failure; 77 the model
is missing (1 instead when LOGITKIT_REQUIRE_MODEL=1).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from array import array

TOL = 1e-4
PROMPTS = {"1 token": [504], "12 tokens": [1, 504, 375, 282, 649, 314, 5, 100, 200, 999, 17, 42]}


def default_model():
    if os.environ.get("LOGITKIT_MODEL"):
        return os.environ["LOGITKIT_MODEL"]
    cache = os.environ.get("LOGITKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "logitkit")
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


def run(cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)


def logits(tool, model, ids, tmp):
    out = os.path.join(tmp, "logits.f32")
    p = run([tool, model, out] + ids)
    if p.returncode != 0:
        raise RuntimeError(f"model_logits {model}: exit {p.returncode}: {p.stderr.strip()}")
    a = array("f")
    with open(out, "rb") as f:
        a.frombytes(f.read())
    n_vocab = len(a) // len(ids)
    return [a[t * n_vocab:(t + 1) * n_vocab] for t in range(len(ids))]


def greedy(tool, model, ids, tmp):
    out = os.path.join(tmp, "greedy.txt")
    p = run([tool, "--greedy", 8, model, out] + ids)
    if p.returncode != 0:
        raise RuntimeError(f"model_logits --greedy {model}: exit {p.returncode}: {p.stderr.strip()}")
    with open(out) as f:
        return f.read().split()


def argmax(row):
    return max(range(len(row)), key=row.__getitem__)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logitkit", required=True, help="the logitkit binary")
    ap.add_argument("--tool", required=True, help="the model_logits binary")
    ap.add_argument("--model", default=None)
    ap.add_argument("--types", default="f32", help="comma-separated: f32,f16,bf16,q8_0")
    args = ap.parse_args()
    model = args.model or default_model()
    if not os.path.isfile(model):
        strict = os.environ.get("LOGITKIT_REQUIRE_MODEL") == "1"
        print(f"check_convert: {'error' if strict else 'skipped'}: {model} is missing (scripts/fetch-model)",
              file=sys.stderr)
        return 1 if strict else 77
    failures = []

    def expect(ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    lk = args.logitkit
    with tempfile.TemporaryDirectory(prefix="check_convert.") as tmp:
        out = os.path.join(tmp, "out.gguf")
        print("usage and input errors:")
        for cmd, code, needles in [
            (["--type", "q4_0", "-o", out], 2, ["'q4_0'", "f32, f16, bf16, q8_0"]),
            (["--type", "f32"], 2, ["-o"]),
            (["--type", "f32", "-o", model], 2, ["overwrite the model"]),
            (["--type", "f32", "--out", out, "--bogus"], 2, ["--bogus"]),
        ]:
            p = run([lk, "convert", model] + cmd)
            expect(p.returncode == code and all(n in p.stderr for n in needles) and not os.path.exists(out),
                   f"convert {' '.join(cmd)} -> exit {p.returncode}: {p.stderr.strip()}")
        not_gguf = os.path.join(tmp, "notes.gguf")
        with open(not_gguf, "w") as f:
            f.write("not a model\n")
        for bad in (os.path.join(tmp, "missing.gguf"), not_gguf):
            p = run([lk, "convert", bad, "--type", "f32", "-o", out])
            expect(p.returncode == (2 if bad.endswith("missing.gguf") else 1) and bad in p.stderr and not os.path.exists(out),
                   f"convert {os.path.basename(bad)} -> exit {p.returncode}: {p.stderr.strip()}")

        base = {name: logits(args.tool, model, ids, tmp) for name, ids in PROMPTS.items()}
        base_greedy = greedy(args.tool, model, PROMPTS["12 tokens"], tmp)
        for t in args.types.split(","):
            path = os.path.join(tmp, f"model.{t}.gguf")
            start = time.perf_counter()
            p = run([lk, "convert", model, "--type", t, "-o", path, "--json"])
            seconds = time.perf_counter() - start
            if p.returncode != 0:
                expect(False, f"convert --type {t}: exit {p.returncode}: {p.stderr.strip()}")
                continue
            s = json.loads(p.stdout)
            print(f"{t}: {s['tensors']} tensors ({s['converted']} converted, {s['copied']} copied), "
                  f"{s['bytes_in']} -> {s['bytes_out']} bytes in {s['seconds']:.2f} s ({seconds:.2f} s with start-up)")
            expect(s["bytes_out"] == os.path.getsize(path) and s["tensors"] == s["converted"] + s["copied"]
                   and s["converted"] > 0 and not os.path.exists(path + ".tmp"),
                   f"{t}: the --json summary matches the file, no .tmp left")
            for name, ids in PROMPTS.items():
                want, got = base[name], logits(args.tool, path, ids, tmp)
                scale = max(max(abs(x) for x in row) for row in want)
                diff = max(max(abs(a - b) for a, b in zip(r, q)) for r, q in zip(want, got))
                same = sum(argmax(r) == argmax(q) for r, q in zip(want, got))
                what = (f"{t}, {name}: max |Δ logit| {diff:.3g} (max |logit| {scale:.3g}, ratio {diff / scale:.2e}), "
                        f"argmax {same}/{len(ids)}")
                if t == "f32":
                    expect(diff <= TOL * scale and same == len(ids), what + f" (tolerance {TOL:g})")
                else:
                    print(f"  info {what}")
            g = greedy(args.tool, path, PROMPTS["12 tokens"], tmp)
            if t == "f32":
                expect(g == base_greedy, f"{t}: greedy tokens {' '.join(g)} (original {' '.join(base_greedy)})")
            else:
                print(f"  info {t}: greedy tokens {' '.join(g)} (original {' '.join(base_greedy)})")
            os.remove(path)
    print(f"check_convert: {len(failures)} failed" if failures else "check_convert: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
