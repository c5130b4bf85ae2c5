#!/usr/bin/env python3
"""logitkit's encoding and file conversion against the `gguf` Python package.

1. Encode: rows of float32 (normal values over many scales, zeros, signed
   zeros, subnormals, float16 and bfloat16 ties, Q8_0 rounding ties, values
   that overflow float16, an all-zero block, a block too small for 1/d) are
   encoded by `tensor_types_dump --encode` to F32, F16, BF16 and Q8_0; the
   bytes must equal gguf.quants.quantize's.
2. Convert: a GGUF file written by gguf.GGUFWriter (metadata of many types,
   custom alignment, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/F16/BF16/F32 matrices, a 3-D
   tensor, a 1-D norm, an I32 matrix) is converted by
   `tensor_types_dump --convert` to each type and read by gguf.GGUFReader:
   the same metadata bytes key by key except general.file_type (the
   llama.cpp ftype of the target), the same tensor names, shapes and order,
   1-D / integer / already-target tensors byte for byte, and every other
   tensor's bytes equal to quantize(dequantize(source), target).

Exit 0: all equal; 1: a mismatch; 77: numpy or gguf missing (a skip for
CTest), unless LOGITKIT_REQUIRE_PEERS=1 makes that a failure.
"""
import argparse
import os
import subprocess
import sys
import tempfile

FILE_TYPE = {"F32": 0, "F16": 1, "Q8_0": 7, "BF16": 32}


def encode_rows(np):
    """Rows of 256 float32 for each target (Q8_0: finite, below 65520 * 127)."""
    rng = np.random.default_rng(20240607)
    cols = 256
    rows = [rng.standard_normal(cols).astype(np.float32) * np.float32(s)
            for s in (1e-9, 1e-6, 1e-3, 0.02, 1.0, 30.0, 1e3, 6e4)]
    # float16 ties: midpoints of neighbouring halves, normal and subnormal
    # (exact in float32), and the tie above the largest half.
    h = rng.integers(1, 0x7BFF, cols, dtype=np.uint16)
    h[:16] = np.arange(16, dtype=np.uint16)  # subnormals
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).view(np.float16).astype(np.float64)
    ties16 = ((lo + hi) / 2).astype(np.float32)
    ties16[-4:] = [65520.0, 65519.996, -65520.0, 2.0 ** -25]
    ties16 *= np.where(rng.integers(0, 2, cols) == 1, -1, 1).astype(np.float32)
    rows.append(ties16)
    # bfloat16 ties: low 16 bits exactly 0x8000.
    b = (rng.integers(0, 1 << 16, cols, dtype=np.uint32) << 16) | 0x8000
    b = b[np.abs(b.view(np.float32)) < 1e6]  # finite, and within Q8_0's range
    rows.append(np.resize(b, cols).astype(np.uint32).view(np.float32))
    # Q8_0 ties (amax 127: d = 1, x * id = x), an all-zero block, a block of
    # tiny values (1/d overflows: zeros), signed zeros and float32 subnormals.
    special = np.zeros(cols, np.float32)
    special[0:32] = np.concatenate([[127.0], np.arange(-15, 16) + 0.5]).astype(np.float32)
    special[32:64] = 0.0
    special[64:96] = np.float32(1e-38) * rng.standard_normal(32).astype(np.float32)
    special[96:128] = np.array([-0.0, 0.0, 1e-45, -1e-40, 2.0 ** -24, 1.5 * 2.0 ** -24] * 5 + [1e-30, -1e-30],
                               np.float32)
    special[128:160] = np.float32(8.3e6) * rng.uniform(-1, 1, 32).astype(np.float32)  # near the largest d
    special[160:] = rng.standard_normal(cols - 160).astype(np.float32)
    rows.append(special)
    finite = np.stack(rows)
    # F16 / BF16 only: overflow, infinities, NaN.
    wild = rng.standard_normal(cols).astype(np.float32) * np.float32(1e5)
    wild[:8] = [np.inf, -np.inf, np.nan, 3.4e38, -3.4e38, 1e5, 65504.0, -np.nan]
    return {"Q8_0": finite, "F32": np.vstack([finite, wild]), "F16": np.vstack([finite, wild]),
            "BF16": np.vstack([finite, wild])}


def check_encode(np, gguf, tool, tmp):
    from gguf import quants
    failures = 0
    for name, rows in encode_rows(np).items():
        qtype = gguf.GGMLQuantizationType[name]
        src, dst = os.path.join(tmp, f"rows-{name}.f32"), os.path.join(tmp, f"rows-{name}.bin")
        rows.astype("<f4").tofile(src)
        subprocess.run([tool, "--encode", name, src, str(rows.shape[1]), dst], check=True)
        ours = np.fromfile(dst, dtype=np.uint8)
        with np.errstate(all="ignore"):
            theirs = np.ascontiguousarray(quants.quantize(rows, qtype)).view(np.uint8).reshape(-1)
        if ours.shape != theirs.shape:
            print(f"encode {name}: {ours.size} bytes, gguf {theirs.size}", file=sys.stderr)
            failures += 1
            continue
        bad = np.flatnonzero(ours != theirs)
        if bad.size:
            i = int(bad[0])
            print(f"encode {name}: {bad.size} of {ours.size} bytes differ; first at byte {i}: "
                  f"logitkit {ours[i]:#04x}, gguf {theirs[i]:#04x}", file=sys.stderr)
            failures += 1
        else:
            print(f"encode {name:>4}: {rows.shape[0]} rows x {rows.shape[1]} -> {ours.size} bytes bit-equal")
    return failures


def write_source(np, gguf, path):
    """A model-like file written by the gguf package itself."""
    from gguf import quants
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_custom_alignment(64)
    w.add_name("check_convert")
    w.add_file_type(3)  # MOSTLY_Q4_1
    w.add_uint32("llama.context_length", 2048)
    w.add_int32("answer", -42)
    w.add_float32("eps", 1e-5)
    w.add_float64("third", 1.0 / 3)
    w.add_uint64("big", 1 << 40)
    w.add_int8("small", -10)
    w.add_bool("flag", True)
    w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", " world", ""])
    w.add_array("tokenizer.ggml.scores", [0.5, -1.0, 1e-30])
    w.add_array("tokenizer.ggml.token_type", [1, 2, 3])
    w.add_array("nested", [[1, 2], [3]])

    def matrix(rows, cols, scale=1.0):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    tensors = {}
    for i, qname in enumerate(["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16"]):
        qtype = gguf.GGMLQuantizationType[qname]
        tensors[f"blk.{i}.{qname}.weight"] = (quants.quantize(matrix(6, 64, 10.0 ** (i - 3)), qtype), qtype)
    tensors["blk.6.F16.weight"] = (matrix(4, 96).astype(np.float16), None)
    tensors["blk.6.F32.weight"] = (matrix(3, 32), None)
    tensors["blk.7.three_d.weight"] = (quants.quantize(matrix(6, 64).reshape(2, 3, 64),
                                                       gguf.GGMLQuantizationType.Q4_1),
                                       gguf.GGMLQuantizationType.Q4_1)
    tensors["blk.0.attn_norm.weight"] = (matrix(1, 64).reshape(64), None)
    tensors["positions"] = (rng.integers(-5, 5, (2, 4)).astype(np.int32), None)
    for name, (data, raw) in tensors.items():
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return list(tensors)


def field_bytes(f):
    return b"".join(p.tobytes() for p in f.parts)


def check_convert(np, gguf, tool, tmp):
    from gguf import quants
    src = os.path.join(tmp, "source.gguf")
    names = write_source(np, gguf, src)
    a = gguf.GGUFReader(src)
    failures = 0

    def fail(msg):
        nonlocal failures
        failures += 1
        print(msg, file=sys.stderr)

    for target in ("F32", "F16", "BF16", "Q8_0"):
        tq = gguf.GGMLQuantizationType[target]
        out = os.path.join(tmp, f"out-{target}.gguf")
        subprocess.run([tool, "--convert", target, src, out], check=True)
        b = gguf.GGUFReader(out)
        if b.alignment != a.alignment:
            fail(f"{target}: alignment {b.alignment} != {a.alignment}")
        fa = [k for k in a.fields if not k.startswith("GGUF.")]
        fb = [k for k in b.fields if not k.startswith("GGUF.")]
        if fa != fb:
            fail(f"{target}: keys {fb} != {fa}")
        for k in fa:
            if k == "general.file_type":
                got = int(b.fields[k].contents())
                if got != FILE_TYPE[target] or b.fields[k].types != a.fields[k].types:
                    fail(f"{target}: general.file_type {got} ({b.fields[k].types}), want {FILE_TYPE[target]}")
            elif k in b.fields and field_bytes(a.fields[k]) != field_bytes(b.fields[k]):
                fail(f"{target}: metadata {k!r} differs")
        ta, tb = a.tensors, b.tensors
        if [t.name for t in tb] != names or [t.name for t in ta] != names:
            fail(f"{target}: tensor names {[t.name for t in tb]} != {names}")
            continue
        converted = 0
        for x, y in zip(ta, tb):
            if list(x.shape) != list(y.shape):
                fail(f"{target} {x.name}: shape {list(y.shape)} != {list(x.shape)}")
                continue
            copy = len(x.shape) == 1 or x.tensor_type in (tq, gguf.GGMLQuantizationType.I32)
            if copy:
                want, want_type = np.asarray(x.data), x.tensor_type
            else:
                rows = quants.dequantize(x.data, x.tensor_type).astype(np.float32)
                want, want_type = quants.quantize(rows, tq), tq
                converted += 1
            if y.tensor_type != want_type:
                fail(f"{target} {x.name}: type {y.tensor_type.name} != {want_type.name}")
            elif np.ascontiguousarray(y.data).tobytes() != np.ascontiguousarray(want).tobytes():
                fail(f"{target} {x.name}: bytes differ from "
                     f"{'the source' if copy else f'quantize(dequantize(source), {target})'}")
        print(f"convert to {target:>4}: {len(tb)} tensors ({converted} converted), {len(fb)} keys: "
              f"bytes equal to the gguf package's")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, help="path of tensor_types_dump")
    args = parser.parse_args()
    try:
        import numpy as np
        import gguf
        from gguf import quants  # noqa: F401
    except ImportError as e:
        print(f"check_convert: {e}: run scripts/python-env", file=sys.stderr)
        return 1 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    with tempfile.TemporaryDirectory(prefix="check_convert.") as tmp:
        failures = check_encode(np, gguf, args.tool, tmp) + check_convert(np, gguf, args.tool, tmp)
    from importlib.metadata import version
    print(f"check_convert: {'FAILED' if failures else 'all bit-equal'} "
          f"(gguf {version('gguf')}, numpy {np.__version__})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
