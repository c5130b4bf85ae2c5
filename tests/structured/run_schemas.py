#!/usr/bin/env python3
"""The JSON Schema suite of structured output: generate from each schema in
tests/structured/schemas/ with the default model and check every output with
the reference validator (the PyPI `jsonschema` package).

For each schema, two generations (chat, max_tokens 256): seeded sampling at
T = 0.7 (seed = the schema's number) and greedy. Pass:
  - every output that finishes "stop" parses as JSON and validates (100%);
  - at least 90% of outputs finish "stop" (the others hit max_tokens: they
    are counted and listed, and must be a prefix the grammar allowed).

  run_schemas.py              all 40 schemas (about a minute on 2 cores)
  run_schemas.py --ci         the 10 that CI runs (every 4th from the 2nd: 02, 06, ..., 38)
  run_schemas.py --json FILE  also write the per-generation results as JSON

Needs the Python module on PYTHONPATH (build/release/python) and the venv's
jsonschema (scripts/python-env). Exit 1 on a failure, 2 on bad usage.
"""
import argparse
import glob
import json
import os
import sys
import time

import jsonschema

import logitkit

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_TOKENS = 256
MIN_STOP_FRACTION = 0.9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ci", action="store_true", help="the 10 schemas CI runs")
    ap.add_argument("--json", metavar="FILE", help="write per-generation results here")
    ap.add_argument("--model", default=None, help="GGUF model (default: the default model)")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(HERE, "schemas", "*.json")))
    if len(files) != 40:
        print(f"run_schemas: expected 40 schemas in {HERE}/schemas, found {len(files)}", file=sys.stderr)
        return 2
    if args.ci:
        files = files[1::4]
    model = logitkit.Model(args.model)
    results, failures = [], []
    start = time.time()
    for path in files:
        name = os.path.basename(path)[:-len(".json")]
        number = int(name.split("-")[0])
        case = json.load(open(path))
        schema = case["schema"]
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        for mode, settings in (("T=0.7", {"temperature": 0.7, "seed": number}), ("greedy", {"temperature": 0.0})):
            t0 = time.time()
            g = model.generate(case["prompt"], chat=True, json_schema=schema, max_tokens=MAX_TOKENS, **settings)
            r = {"schema": name, "mode": mode, "finish_reason": g.finish_reason, "tokens": len(g.tokens),
                 "seconds": round(time.time() - t0, 3), "text": g.text, "valid": None, "error": ""}
            if g.finish_reason == "stop":
                try:
                    validator.validate(json.loads(g.text))
                    r["valid"] = True
                except (json.JSONDecodeError, jsonschema.ValidationError) as e:
                    r["valid"] = False
                    r["error"] = str(e).split("\n")[0]
                    failures.append(f"{name} {mode}: {r['error']}\n    text: {g.text!r}")
            results.append(r)
            mark = {True: "valid", False: "INVALID", None: "length"}[r["valid"]]
            print(f"{name:28} {mode:7} {g.finish_reason:6} {len(g.tokens):4} tokens  {mark}", flush=True)

    n = len(results)
    stopped = [r for r in results if r["finish_reason"] == "stop"]
    valid = [r for r in stopped if r["valid"]]
    at_length = [r for r in results if r["finish_reason"] == "length"]
    print(f"\n{len(files)} schemas, {n} generations in {time.time() - start:.1f} s: "
          f"{len(stopped)} finished 'stop' ({100 * len(stopped) / n:.1f}%), "
          f"{len(valid)} of them valid ({100 * len(valid) / max(1, len(stopped)):.1f}%); "
          f"{len(at_length)} hit max_tokens = {MAX_TOKENS}"
          + (": " + ", ".join(f"{r['schema']} {r['mode']}" for r in at_length) if at_length else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if len(stopped) < MIN_STOP_FRACTION * n:
        failures.append(f"only {len(stopped)} of {n} generations finished 'stop' (need {MIN_STOP_FRACTION:.0%})")
    for f in failures:
        print("FAILED:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
