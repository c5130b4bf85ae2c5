#!/usr/bin/env python3
"""A stand-in for logitkit's model_logits tool, made of the numpy reference in
float32, to test check_logits.py without the C++ (harness-selftest):

  fake_model_logits.py MODEL.gguf OUT.f32 ID ...
  fake_model_logits.py --greedy N MODEL.gguf OUT.txt ID ...

FAKE_MODEL_LOGITS_BREAK=1 corrupts the output (one logit moved by 1% of the
largest, the last greedy id changed); FAKE_MODEL_LOGITS_FAIL=1 exits 3 with a
message, as a failing tool would.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402


def main(argv):
    if os.environ.get("FAKE_MODEL_LOGITS_FAIL") == "1":
        print("model_logits: error: failing on purpose (FAKE_MODEL_LOGITS_FAIL)", file=sys.stderr)
        return 3
    broken = os.environ.get("FAKE_MODEL_LOGITS_BREAK") == "1"
    n = None
    if argv[:1] == ["--greedy"]:
        n, argv = int(argv[1]), argv[2:]
    if len(argv) < 3:
        print("usage: fake_model_logits.py [--greedy N] MODEL OUT ID ...", file=sys.stderr)
        return 2
    m = ref.Model(argv[0], dtype=np.float32)
    ids = [int(a) for a in argv[2:]]
    if n is not None:
        out = ref.greedy(m, ids, n)
        if broken:
            out[-1] = (out[-1] + 1) % m.n_vocab
        with open(argv[1], "w") as f:
            f.write(" ".join(map(str, out)) + "\n")
        return 0
    lg = ref.logits(m, ids).astype("<f4")
    if broken:
        lg[len(ids) // 2, 7] += 0.01 * np.abs(lg).max()
    lg.tofile(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
