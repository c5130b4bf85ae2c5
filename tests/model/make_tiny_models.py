#!/usr/bin/env python3
"""Writes tiny synthetic GGUF models (random weights, fixed seed) for the
forward-pass tests:

  make_tiny_models.py OUTDIR [--only NAME ...] [--list]

Every model has d_model 64, 2 blocks, 4 heads (llama family: 2 KV heads,
head_dim 16), feed-forward 128, context 128, and a minimal but complete
vocabulary: tokens "t0".."tN-1" (ids 0..2 are the control tokens
"<unk>"/"<s>"/"</s>" with token_type 3; BOS 1, EOS 2), scores, token_type, and
for the "gpt2" tokenizer a two-line merge list. Tensor names and shapes are
llama.cpp's (ggml order: dims[0] is the row length, e.g. blk.0.attn_q.weight is
[d_model, n_heads*head_dim]); 1-D tensors (norms, biases) are always F32 as in
llama.cpp's files; quantized types use gguf.quants.quantize.

The same seed gives byte-identical files. The list of models is SPECS below;
each name says arch, vocabulary size and matrix type.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import gguf

Q = gguf.GGMLQuantizationType

# name: arch, vocab, matrix type, token_embd type, output.weight type (None:
# tied to token_embd), tokenizer model, extra options.
SPECS = {
    "llama-v32000-f32":       dict(arch="llama", vocab=32000, mat=Q.F32, embd=Q.F32, out=None, tok="llama"),
    "llama-v32000-q4_0":      dict(arch="llama", vocab=32000, mat=Q.Q4_0, embd=Q.F16, out=Q.Q8_0, tok="llama"),
    "llama-v49152-q4_1":      dict(arch="llama", vocab=49152, mat=Q.Q4_1, embd=Q.Q8_0, out=None, tok="gpt2",
                                   freq_base=100000.0),
    "llama-v128256-q8_0":     dict(arch="llama", vocab=128256, mat=Q.Q8_0, embd=Q.Q8_0, out=Q.F16, tok="gpt2",
                                   freq_base=500000.0),
    "gpt2-v50257-f32":        dict(arch="gpt2", vocab=50257, mat=Q.F32, embd=Q.F32, out=None, tok="gpt2"),
    "gpt2-v50257-f16":        dict(arch="gpt2", vocab=50257, mat=Q.F16, embd=Q.F16, out=Q.F16, tok="gpt2"),
    "gpt2-v50257-q8_0":       dict(arch="gpt2", vocab=50257, mat=Q.Q8_0, embd=Q.Q8_0, out=None, tok="gpt2"),
    "qwen2-v128256-f16":      dict(arch="qwen2", vocab=128256, mat=Q.F16, embd=Q.F16, out=Q.F16, tok="gpt2",
                                   freq_base=1000000.0),
    # partial NEOX RoPE: only dims 0..7 of each 16-dim head rotate, in pairs
    # (i, i + 4), theta_i = pos * base^(-2i/8) (llama.cpp rejects partial
    # RoPE for the llama arch: n_rot must equal head_dim there).
    "qwen2-v32000-q4_1-rot8": dict(arch="qwen2", vocab=32000, mat=Q.Q4_1, embd=Q.Q8_0, out=None, tok="gpt2",
                                   n_rot=8),
}

D, N_LAYER, N_HEAD, N_KV, N_FF, N_CTX = 64, 2, 4, 2, 128, 128
HEAD_DIM = D // N_HEAD
SEED = 1234


def _seed(name: str) -> int:
    return SEED + sum((i + 1) * ord(c) for i, c in enumerate(name))


def _add(w: gguf.GGUFWriter, name: str, x: np.ndarray, qtype) -> None:
    """x in numpy order [ne1, ne0] (or 1-D); stored as qtype."""
    x = x.astype(np.float32)
    if x.ndim == 1 or qtype == Q.F32:
        w.add_tensor(name, x)
    elif qtype == Q.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)


def write_model(path: str, name: str, spec: dict) -> None:
    rng = np.random.default_rng(_seed(name))
    arch, vocab = spec["arch"], spec["vocab"]
    mat = spec["mat"]
    n_kv = N_HEAD if arch == "gpt2" else N_KV

    def mtx(rows, cols):  # [rows=ne1 (outputs), cols=ne0 (inputs)]
        return rng.standard_normal((rows, cols)) / np.sqrt(cols)

    def norm_w():
        return 1.0 + 0.1 * rng.standard_normal(D)

    def bias(n, s=0.1):
        return s * rng.standard_normal(n)

    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"logitkit tiny {name}")
    w.add_block_count(N_LAYER)
    w.add_context_length(N_CTX)
    w.add_embedding_length(D)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(n_kv)
    if arch == "gpt2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-6 if arch == "qwen2" else 1e-5)
        w.add_rope_freq_base(spec.get("freq_base", 10000.0))
        w.add_rope_dimension_count(spec.get("n_rot", HEAD_DIM))
    w.add_vocab_size(vocab)

    # Vocabulary.
    w.add_tokenizer_model(spec["tok"])
    if spec["tok"] == "gpt2":
        w.add_tokenizer_pre("gpt2")
    tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, vocab)]
    types = [int(gguf.TokenType.CONTROL)] * 3 + [int(gguf.TokenType.NORMAL)] * (vocab - 3)
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(vocab)])
    w.add_token_types(types)
    if spec["tok"] == "gpt2":
        w.add_token_merges(["t 3", "t 4"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    # Tensors, in llama.cpp's order: embeddings, blocks, output.
    _add(w, "token_embd.weight", rng.standard_normal((vocab, D)), spec["embd"])
    if arch == "gpt2":
        _add(w, "position_embd.weight", 0.3 * rng.standard_normal((N_CTX, D)), Q.F32)
    for L in range(N_LAYER):
        p = f"blk.{L}."
        _add(w, p + "attn_norm.weight", norm_w(), Q.F32)
        if arch == "gpt2":
            _add(w, p + "attn_norm.bias", bias(D), Q.F32)
            _add(w, p + "attn_qkv.weight", mtx(3 * D, D), mat)
            _add(w, p + "attn_qkv.bias", bias(3 * D), Q.F32)
            _add(w, p + "attn_output.weight", mtx(D, D), mat)
            _add(w, p + "attn_output.bias", bias(D), Q.F32)
            _add(w, p + "ffn_norm.weight", norm_w(), Q.F32)
            _add(w, p + "ffn_norm.bias", bias(D), Q.F32)
            _add(w, p + "ffn_up.weight", mtx(N_FF, D), mat)
            _add(w, p + "ffn_up.bias", bias(N_FF), Q.F32)
            _add(w, p + "ffn_down.weight", mtx(D, N_FF), mat)
            _add(w, p + "ffn_down.bias", bias(D), Q.F32)
        else:
            _add(w, p + "attn_q.weight", mtx(N_HEAD * HEAD_DIM, D), mat)
            _add(w, p + "attn_k.weight", mtx(n_kv * HEAD_DIM, D), mat)
            _add(w, p + "attn_v.weight", mtx(n_kv * HEAD_DIM, D), mat)
            if arch == "qwen2":
                _add(w, p + "attn_q.bias", bias(N_HEAD * HEAD_DIM, 0.5), Q.F32)
                _add(w, p + "attn_k.bias", bias(n_kv * HEAD_DIM, 0.5), Q.F32)
                _add(w, p + "attn_v.bias", bias(n_kv * HEAD_DIM, 0.5), Q.F32)
            _add(w, p + "attn_output.weight", mtx(D, N_HEAD * HEAD_DIM), mat)
            _add(w, p + "ffn_norm.weight", norm_w(), Q.F32)
            _add(w, p + "ffn_gate.weight", mtx(N_FF, D), mat)
            _add(w, p + "ffn_up.weight", mtx(N_FF, D), mat)
            _add(w, p + "ffn_down.weight", mtx(D, N_FF), mat)
    _add(w, "output_norm.weight", norm_w(), Q.F32)
    if arch == "gpt2":
        _add(w, "output_norm.bias", bias(D), Q.F32)
    if spec["out"] is not None:
        _add(w, "output.weight", rng.standard_normal((vocab, D)), spec["out"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make(outdir: str, only=None) -> list[str]:
    """Writes the models (all, or the names in `only`); returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for name, spec in SPECS.items():
        if only and name not in only:
            continue
        path = os.path.join(outdir, f"tiny-{name}.gguf")
        write_model(path, name, spec)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--only", nargs="+", choices=list(SPECS), help="write only these models")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    a = ap.parse_args(argv)
    if a.list:
        for n, s in SPECS.items():
            print(n)
        return 0
    if not a.outdir:
        ap.error("OUTDIR is required")
    for p in make(a.outdir, a.only):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
