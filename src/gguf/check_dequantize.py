#!/usr/bin/env python3
"""logitkit's dequantization against the `gguf` Python package's (numpy).

Runs tensor_types_dump (random rows of every type, plus logitkit's float32
dequantization of each), reads the file with gguf.GGUFReader, dequantizes
each quantized tensor with gguf.quants.dequantize and requires bit equality.

Exit 0: all equal; 1: a mismatch; 77: numpy or gguf missing (a skip for
CTest), unless LOGITKIT_REQUIRE_PEERS=1 makes that a failure.
"""
import argparse
import os
import subprocess
import sys
import tempfile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", required=True, help="path of tensor_types_dump")
    parser.add_argument("--seeds", type=int, default=3, help="files to write and check")
    args = parser.parse_args()
    try:
        import numpy as np
        import gguf
        from gguf import quants
    except ImportError as e:
        print(f"check_dequantize: {e}: run scripts/python-env", file=sys.stderr)
        return 1 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77

    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            path = os.path.join(tmp, f"types-{seed}.gguf")
            subprocess.run([args.tool, path, str(seed)], check=True)
            reader = gguf.GGUFReader(path)
            tensors = {t.name: t for t in reader.tensors}
            for name, t in tensors.items():
                if name.endswith(".dequantized"):
                    continue
                ours = np.asarray(tensors[name + ".dequantized"].data, dtype=np.float32).reshape(-1)
                theirs = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
                if ours.shape != theirs.shape:
                    print(f"{name}: shape {ours.shape} != {theirs.shape}", file=sys.stderr)
                    return 1
                same = (ours.view(np.uint32) == theirs.view(np.uint32))
                if not same.all():
                    i = int(np.argmin(same))
                    print(f"seed {seed} {name}: {int((~same).sum())} of {ours.size} differ; "
                          f"first at {i}: logitkit {ours[i]!r}, gguf {theirs[i]!r}", file=sys.stderr)
                    return 1
                checked += ours.size
                if seed == 1:
                    print(f"{name:>5}: {ours.size} elements bit-equal")
    from importlib.metadata import version
    print(f"check_dequantize: {checked} elements over {args.seeds} files bit-equal "
          f"(gguf {version('gguf')}, numpy {np.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
