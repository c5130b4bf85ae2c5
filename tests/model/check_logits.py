#!/usr/bin/env python3
"""Compares logitkit's forward pass with the numpy reference (reference.py).

  check_logits.py --tool PATH [--model M.gguf ...] [--tiny] [--json]
  check_logits.py --reference-only [--model M.gguf ...] [--tiny] [--json]

The tool (C++, apps/) has this interface:
  model_logits MODEL.gguf OUT.f32 ID ID ...          T x n_vocab float32 logits
                                                     (every position, raw
                                                     little-endian, row-major)
  model_logits --greedy N MODEL.gguf OUT.txt ID ...  N greedy ids, space-separated
and exits non-zero with a message on error.

Models: every --model, plus the tiny synthetic models of make_tiny_models.py
with --tiny (written to a temporary folder, or --tiny-dir). With neither, the
default model (LOGITKIT_MODEL, else what scripts/fetch-model prints) and the
tiny models.

For each model and fixed prompt (real models: "The capital of France is" and
a second sentence, looked up by token string in tokenizer.ggml.tokens, BOS
first when the model adds one, and 24 seeded ids; tiny models: 2 seeded id
sequences, the vocabulary's first and last ids included) it requires
max |Δ| <= 1e-3 x max |reference logit| over all positions and vocabulary,
and the same argmax at every position except ties: positions where the
reference's top two logits are closer than 2e-3 x max |logit|, so that an
error within the tolerance may swap them (counted in the "ties" column; the
natural-text prompts of the default model have none, random ids have some). On every model it also requires
the tool's 32 greedy tokens after the first prompt to equal the reference's
(--greedy-n; the tool's KV-cache decode path against full recomputation;
on a tiny model a divergence at a step whose reference top-2 margin is a tie,
as above, passes as "tie").
On real models it reports the reference's top tokens after "The capital of
France is"; for a vocabulary with the token " Paris" the reference's top token
must be " Paris" (else the reference itself is suspect: exit 1).

--reference-only needs no tool: it checks the reference against itself (the
logits of every prefix equal the first rows of the longer sequence; greedy is
deterministic and agrees with the argmax of the full pass; the float32 pass
agrees with the float64 one within the tolerance) and reports the same table.

Exit status: 0 all agree; 1 a mismatch; 2 setup error and no mismatch (no
tool, a missing model, the tool failed or wrote a wrong-sized file; the other
models are still checked); 77 numpy or gguf missing
(2 instead when LOGITKIT_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOL = 1e-3

try:
    import numpy as np
    import gguf  # noqa: F401
except ImportError as e:  # pragma: no cover
    strict = os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1"
    print(f"check_logits: {'error' if strict else 'skipped'}: numpy/gguf missing ({e}); "
          "run with scripts/python-env --print-python", file=sys.stderr)
    sys.exit(2 if strict else 77)

sys.path.insert(0, HERE)
import reference as ref  # noqa: E402
import make_tiny_models  # noqa: E402


class SetupError(Exception):
    pass


# ---------------------------------------------------------------- prompts

SENTENCES = [
    ("capital", ["The", " capital", " of", " France", " is"]),
    ("story", ["Once", " upon", " a", " time", ",", " there", " was", " a", " little"]),
]


def lookup(tokens: list[str], word: str):
    """Id of `word` as one token: BPE byte-level ('Ġ' for a space) or SPM ('▁')."""
    for form in (word.replace(" ", "Ġ"), word.replace(" ", "▁")):
        if form in tokens:
            return tokens.index(form)
    return None


def prompts_for(m: ref.Model, tiny: bool):
    rng = np.random.default_rng(4242 + m.n_vocab)
    if tiny:
        a = [0, m.n_vocab - 1] + rng.integers(0, m.n_vocab, 10).tolist()
        b = rng.integers(0, m.n_vocab, 30).tolist() + [m.n_vocab - 1]
        return [("ids12", a), ("ids31", b)]
    tokens = ref.token_strings(m)
    bos = ref._field(m.reader, "tokenizer.ggml.bos_token_id")
    add_bos = ref._field(m.reader, "tokenizer.ggml.add_bos_token", True)
    pre = [int(bos)] if bos is not None and add_bos else []
    out = []
    for name, words in SENTENCES:
        ids = [lookup(tokens, w) for w in words]
        if all(i is not None for i in ids):
            out.append((name, pre + ids))
    out.append(("ids24", pre + rng.integers(0, m.n_vocab, 24 - len(pre)).tolist()))
    return out


# ---------------------------------------------------------------- the tool

def run_tool(tool, args, what):
    t = time.perf_counter()
    try:
        p = subprocess.run([tool] + [str(a) for a in args], capture_output=True, text=True, timeout=600)
    except OSError as e:
        raise SetupError(f"cannot run {tool}: {e}")
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: the tool ran past 600 s")
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SetupError(f"{what}: model_logits failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    return dt


def tool_logits(tool, model_path, ids, n_vocab, tmp):
    out = os.path.join(tmp, "logits.f32")
    if os.path.exists(out):
        os.remove(out)
    dt = run_tool(tool, [model_path, out] + list(ids), f"{os.path.basename(model_path)} logits")
    size = os.path.getsize(out) if os.path.exists(out) else -1
    want = len(ids) * n_vocab * 4
    if size != want:
        raise SetupError(f"{os.path.basename(model_path)}: the tool wrote {size} bytes, want "
                         f"{len(ids)} x {n_vocab} x 4 = {want}")
    return np.fromfile(out, dtype="<f4").reshape(len(ids), n_vocab).astype(np.float64), dt


def tool_greedy(tool, model_path, ids, n, tmp):
    out = os.path.join(tmp, "greedy.txt")
    if os.path.exists(out):
        os.remove(out)
    dt = run_tool(tool, ["--greedy", n, model_path, out] + list(ids), f"{os.path.basename(model_path)} greedy")
    try:
        got = [int(x) for x in open(out).read().split()]
    except (OSError, ValueError) as e:
        raise SetupError(f"{os.path.basename(model_path)}: unreadable greedy output: {e}")
    return got, dt


# ---------------------------------------------------------------- comparing

def compare(want: np.ndarray, got: np.ndarray) -> dict:
    """max |Δ| <= TOL x max |want|, and the same argmax at every decisive
    position: one whose reference top-2 margin exceeds 2 x TOL x max |want|
    (closer than that, an error within the tolerance may flip it: a tie)."""
    diff = float(np.max(np.abs(want - got)))
    scale = float(np.max(np.abs(want)))
    am_w, am_g = want.argmax(axis=1), got.argmax(axis=1)
    srt = np.sort(want, axis=1)
    margins = srt[:, -1] - srt[:, -2]
    decisive = margins > 2 * TOL * scale
    ratio = diff / scale if scale > 0 else float("inf")
    same = am_w == am_g
    bad = np.flatnonzero(decisive & ~same)
    return dict(positions=int(want.shape[0]), max_abs_diff=diff, max_abs_logit=scale, ratio=ratio,
                argmax_agree=int(np.sum(same)), ties=int(np.sum(~decisive)),
                min_top2_margin=float(margins.min()),
                argmax_mismatch_positions=bad.tolist(),
                ok=bool(ratio <= TOL and len(bad) == 0))


def top_tokens(m, row, k=5):
    toks = ref.token_strings(m)
    return [dict(id=int(i), token=toks[i] if i < len(toks) else "", logit=float(row[i]))
            for i in np.argsort(-row)[:k]]


def check_model(path, tiny, args, tmp, report):
    name = os.path.basename(path)
    t0 = time.perf_counter()
    m = ref.Model(path)
    tiny = tiny or str(ref._field(m.reader, "general.name", "")).startswith("logitkit tiny")
    m32 = ref.Model(m.reader, dtype=np.float32) if args.reference_only else None
    prompts = prompts_for(m, tiny)
    load_s = time.perf_counter() - t0
    first_ref = None
    for pname, ids in prompts:
        t = time.perf_counter()
        want = ref.logits(m, ids)
        ref_s = time.perf_counter() - t + (load_s if first_ref is None else 0.0)
        if first_ref is None:
            first_ref = (pname, ids, want)
        if args.reference_only:
            t = time.perf_counter()
            # prefixes: the logits of ids[:k] are the first k rows of ids'.
            worst = 0.0
            for k in sorted({1, 2, len(ids) // 2, len(ids) - 1} - {0}):
                worst = max(worst, float(np.max(np.abs(ref.logits(m, ids[:k]) - want[:k]))))
            got = ref.logits(m32, ids)
            row = compare(want, got)
            row["prefix_max_abs_diff"] = worst
            row["ok"] = row["ok"] and worst <= 1e-9 * row["max_abs_logit"]
            other, other_s = "float32", time.perf_counter() - t
        else:
            got, other_s = tool_logits(args.tool, path, ids, m.n_vocab, tmp)
            row = compare(want, got)
            other = "tool"
        row.update(model=name, prompt=pname, ids=list(map(int, ids)), ref_s=ref_s, other_s=other_s, against=other)
        report["rows"].append(row)
        print_row(args, row)

    pname, ids, want = first_ref
    toks = ref.token_strings(m)
    if not tiny:
        top = top_tokens(m, want[-1])
        entry = dict(model=name, prompt=pname, ids=list(map(int, ids)), top=top)
        paris = lookup(toks, " Paris") if pname == "capital" else None
        if paris is not None:
            entry["paris_id"] = paris
            entry["ok"] = top[0]["id"] == paris
            if not entry["ok"]:
                entry["error"] = f"the reference's top token is {top[0]['token']!r}, not ' Paris'"
        report["top"].append(entry)
        if not args.json:
            print(f"  reference top after {pname} {ids}: " +
                  ", ".join(f"{t['token']!r} {t['logit']:.4f}" for t in top) +
                  ("" if entry.get("ok", True) else "   <-- NOT ' Paris'"))
    if args.greedy_n > 0:
        t = time.perf_counter()
        want_g = ref.greedy(m, ids, args.greedy_n)
        ref_s = time.perf_counter() - t
        # teacher-forced: one full pass over prompt + greedy ids has the
        # same argmax at each generated position; its margins say how
        # decisive each greedy step is.
        t = time.perf_counter()
        tf = ref.logits(m, list(ids) + want_g[:-1])[len(ids) - 1:]
        srt = np.sort(tf, axis=1)
        margins = srt[:, -1] - srt[:, -2]
        margin = float(margins.min())
        tie_band = 2 * TOL * float(np.max(np.abs(tf)))
        if args.reference_only:
            got_g, other_s = tf.argmax(axis=1).tolist(), time.perf_counter() - t
        else:
            got_g, other_s = tool_greedy(args.tool, path, ids, args.greedy_n, tmp)
        same = next((i for i, (a, b) in enumerate(zip(want_g, got_g)) if a != b),
                    None if len(got_g) == len(want_g) else min(len(got_g), len(want_g)))
        # A tiny model's greedy path may pass a near-tie (random weights): a
        # divergence exactly there is a tie, not a failure. Real models: strict.
        tie = same is not None and tiny and same < len(margins) and margins[same] <= tie_band
        g = dict(model=name, prompt=pname, n=args.greedy_n, reference=want_g, other=got_g,
                 first_difference=same, tie=bool(tie), ok=same is None or bool(tie), ref_s=ref_s, other_s=other_s, min_top2_margin=margin,
                 text="".join(toks[i] for i in want_g if i < len(toks)).replace("Ġ", " ").replace("Ċ", "\n"))
        report["greedy"].append(g)
        if not args.json:
            print(f"  greedy {args.greedy_n}: {'equal' if same is None else ('tie' if tie else 'DIFFERS') + ' at token ' + str(same)}"
                  f"  (reference {ref_s:.2f} s, {'self' if args.reference_only else 'tool'} {other_s:.2f} s,"
                  f" min top-2 margin {margin:.4f})"
                  f"  {g['text']!r}")


def print_row(args, r):
    if args.json:
        return
    if not getattr(print_row, "header", False):
        print_row.header = True
        print(f"{'model':38} {'prompt':8} {'pos':>4} {'max|Δ|':>10} {'max|logit|':>10} {'ratio':>9} "
              f"{'argmax':>7} {'ties':>4} {'margin':>8} {'ref s':>7} {r['against'] + ' s':>9}  result")
    extra = f" prefix {r['prefix_max_abs_diff']:.1e}" if "prefix_max_abs_diff" in r else ""
    print(f"{r['model'][:38]:38} {r['prompt']:8} {r['positions']:>4} {r['max_abs_diff']:10.3e} "
          f"{r['max_abs_logit']:10.3f} {r['ratio']:9.2e} {r['argmax_agree']:>3}/{r['positions']:<3} {r['ties']:>4} "
          f"{r['min_top2_margin']:8.4f} {r['ref_s']:7.2f} {r['other_s']:9.2f}  "
          f"{'ok' if r['ok'] else 'MISMATCH'}{extra}")


def default_model():
    p = os.environ.get("LOGITKIT_MODEL")
    if p:
        return p
    try:
        out = subprocess.run([os.path.join(REPO, "scripts", "fetch-model")], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()
    except (OSError, subprocess.CalledProcessError) as e:
        raise SetupError(f"scripts/fetch-model failed: {e}")
    if not out:
        raise SetupError("scripts/fetch-model printed no path")
    return out[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", help="the model_logits binary")
    ap.add_argument("--reference-only", action="store_true", help="no tool: check the reference against itself")
    ap.add_argument("--model", action="append", default=[], help="a GGUF model (repeatable)")
    ap.add_argument("--tiny", action="store_true", help="also the tiny synthetic models")
    ap.add_argument("--tiny-dir", help="where to write the tiny models (default: a temporary folder)")
    ap.add_argument("--greedy-n", type=int, default=32, help="greedy tokens compared on real models (0: none)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = dict(ok=False, tolerance=TOL, rows=[], top=[], greedy=[],
                  reference="numpy float64 forward pass, weights dequantized by the gguf package")
    try:
        if not args.reference_only:
            if not args.tool:
                raise SetupError("--tool PATH (the model_logits binary) or --reference-only is required")
            if not (os.path.isfile(args.tool) and os.access(args.tool, os.X_OK)):
                raise SetupError(f"tool binary not found or not executable: {args.tool}")
            args.tool = os.path.abspath(args.tool)
        models = [(p, False) for p in args.model]
        if not args.model and not args.tiny:
            models = [(default_model(), False)]
            args.tiny = True
        for p, _ in models:
            if not os.path.isfile(p):
                raise SetupError(f"model not found: {p}")
        with tempfile.TemporaryDirectory(prefix="check_logits.") as tmp:
            if args.tiny:
                tdir = args.tiny_dir or os.path.join(tmp, "tiny")
                t = time.perf_counter()
                models += [(p, True) for p in make_tiny_models.make(tdir)]
                if not args.json:
                    print(f"tiny models written to {tdir} in {time.perf_counter() - t:.1f} s")
            for p, tiny in models:
                try:
                    check_model(p, tiny, args, tmp, report)
                except (SetupError, ValueError, KeyError) as e:
                    # one model's failure does not hide the others' results
                    report.setdefault("errors", []).append(dict(model=os.path.basename(p), error=str(e)))
                    print(f"check_logits: {os.path.basename(p)}: ERROR: {e}", file=sys.stderr)
    except SetupError as e:
        report["error"] = str(e)
        if args.json:
            print(json.dumps(report, indent=1))
        print(f"check_logits: setup error: {e}", file=sys.stderr)
        return 2
    bad = [r for r in report["rows"] + report["top"] + report["greedy"] if not r.get("ok", True)]
    errors = report.get("errors", [])
    report["ok"] = not bad and not errors
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        n = len(report["rows"]) + len(report["greedy"]) + sum(1 for t in report["top"] if "ok" in t)
        print(f"check_logits: {n - len(bad)} passed, {len(bad)} failed" +
              (f" ({len(errors)} model(s) could not be checked: see ERROR above)" if errors else ""))
    return 1 if bad else 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
