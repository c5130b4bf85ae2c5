#!/usr/bin/env python3
"""An independent numpy reference for logitkit's transformer forward pass.

Reads a GGUF model with the PyPI `gguf` package (GGUFReader; weights
dequantized with gguf.quants.dequantize) and computes the logits of every
position of a token sequence, causally, with no KV cache: each call runs the
whole sequence, which is the obviously-correct way and checks the runtime's
cache independently. Written from the GGUF / llama.cpp conventions only, not
from logitkit's C++.

Precision: weights are dequantized to float32 exactly as gguf does, then the
whole computation (norms, matmuls, RoPE, softmax, head) runs in float64 by
default (Model(path, dtype=np.float32) for a faster float32 pass).

Architectures (general.architecture):
  llama, qwen2  RMSNorm, RoPE, grouped-query attention, SwiGLU FFN, optional
                attn_q/k/v biases, output.weight or tied to token_embd.
                llama: "normal" RoPE on adjacent pairs (2i, 2i+1), because
                llama.cpp's converter permutes Q/K rows into that layout;
                qwen2: NEOX RoPE on pairs (i, i + n_rot/2) (no permutation).
                Partial RoPE (qwen2; llama.cpp rejects it for llama): only
                the first n_rot = rope.dimension_count dims of each head
                rotate, theta_i = pos * freq_base^(-2i/n_rot); the rest pass. Optional rope_freqs.weight (Llama 3.1 factors,
                theta_i /= factor_i) and linear rope scaling.
  gpt2          LayerNorm with bias, learned position_embd, fused attn_qkv
                (Q, K, V concatenated along the output), biases everywhere,
                GELU (tanh approximation, as ggml_gelu), output.weight or tied.

API:
  m = Model(path)                      # or GGUFReader; loads lazily
  logits(m_or_path, ids) -> ndarray [T, n_vocab]   (every position)
  greedy(m_or_path, prompt_ids, n) -> list of n ids (argmax, recomputing)

CLI: reference.py MODEL.gguf ID ID ...   prints the top 5 after the last id.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before numpy loads its BLAS

import sys

import numpy as np
import gguf

LLAMA_FAMILY = {"llama": "normal", "qwen2": "neox"}  # arch -> RoPE pair layout


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


class Model:
    def __init__(self, src, dtype=np.float64):
        self.reader = src if isinstance(src, gguf.GGUFReader) else gguf.GGUFReader(os.fspath(src))
        self.path = None if isinstance(src, gguf.GGUFReader) else os.fspath(src)
        self.dtype = dtype
        r = self.reader
        self.arch = _field(r, "general.architecture")
        a = self.arch
        if a not in LLAMA_FAMILY and a != "gpt2":
            raise ValueError(f"reference: unsupported architecture {a!r}")
        self.tensors = {t.name: t for t in r.tensors}
        if "blk.0.ffn_gate_inp.weight" in self.tensors:
            raise ValueError("reference: mixture-of-experts models are not supported")
        self._cache: dict[str, np.ndarray] = {}

        def need(key):
            v = _field(r, f"{a}.{key}")
            if v is None:
                raise ValueError(f"reference: missing metadata {a}.{key}")
            return v

        self.n_layer = int(need("block_count"))
        self.d = int(need("embedding_length"))
        self.n_ff = int(need("feed_forward_length"))
        self.n_head = int(need("attention.head_count"))
        self.n_kv = int(_field(r, f"{a}.attention.head_count_kv", self.n_head))
        self.head_dim = int(_field(r, f"{a}.attention.key_length", self.d // self.n_head))
        self.n_ctx = int(need("context_length"))
        if a == "gpt2":
            self.eps = float(need("attention.layer_norm_epsilon"))
        else:
            self.eps = float(need("attention.layer_norm_rms_epsilon"))
            self.rope = LLAMA_FAMILY[a]
            self.n_rot = int(_field(r, f"{a}.rope.dimension_count", self.head_dim))
            if a == "llama" and self.n_rot != self.head_dim:  # as llama.cpp
                raise ValueError(f"reference: invalid n_rot {self.n_rot} for llama, expected {self.head_dim}")
            if self.n_rot % 2 or self.n_rot > self.head_dim:
                raise ValueError(f"reference: invalid rope.dimension_count {self.n_rot}")
            self.freq_base = float(_field(r, f"{a}.rope.freq_base", 10000.0))
            scaling = _field(r, f"{a}.rope.scaling.type", "none")
            factor = float(_field(r, f"{a}.rope.scaling.factor", 0.0) or 0.0)
            if scaling == "linear" and factor > 0:
                self.freq_scale = 1.0 / factor
            elif scaling in ("none", "linear"):
                self.freq_scale = 1.0
            else:
                raise ValueError(f"reference: unsupported rope scaling {scaling!r}")
        self.n_vocab = int(self.tensors["token_embd.weight"].shape[1])

    # Weights in numpy order: a GGUF tensor of ggml shape [ne0, ne1] is a
    # numpy array [ne1, ne0] (ne0 is the row length), so y = x @ W.T.
    def w(self, name, optional=False):
        if name in self._cache:
            return self._cache[name]
        t = self.tensors.get(name)
        if t is None:
            if optional:
                return None
            raise KeyError(f"reference: missing tensor {name}")
        shape = [int(n) for n in reversed(t.shape)]
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        x = x.reshape(shape).astype(self.dtype)
        self._cache[name] = x
        return x

    def has(self, name):
        return name in self.tensors


def load(m, dtype=np.float64) -> Model:
    return m if isinstance(m, Model) else Model(m, dtype)


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * x * (1.0 + 0.044715 * x * x)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear(m, x, name):
    y = x @ m.w(name + ".weight").T
    b = m.w(name + ".bias", optional=True)
    return y if b is None else y + b


def rope(m, x, pos):
    """x: [T, heads, head_dim]; rotates the first n_rot dims of each head."""
    n_rot = m.n_rot
    i = np.arange(n_rot // 2, dtype=np.float64)
    inv = m.freq_base ** (-2.0 * i / n_rot) * m.freq_scale
    ff = m.w("rope_freqs.weight", optional=True)
    if ff is not None:
        inv = inv / ff.astype(np.float64)
    ang = pos[:, None].astype(np.float64) * inv[None, :]          # [T, n_rot/2]
    cos = np.cos(ang)[:, None, :].astype(m.dtype)
    sin = np.sin(ang)[:, None, :].astype(m.dtype)
    out = x.copy()
    if m.rope == "normal":       # pairs (2i, 2i+1)
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    else:                        # neox: pairs (i, i + n_rot/2)
        h = n_rot // 2
        a, b = x[..., :h], x[..., h:n_rot]
        out[..., :h] = a * cos - b * sin
        out[..., h:n_rot] = a * sin + b * cos
    return out


def attention(m, q, k, v):
    """q: [T, n_head, hd], k/v: [T, n_kv, hd]; causal; query head h reads
    KV head h // (n_head / n_kv) (llama.cpp's broadcast, = HF repeat_kv)."""
    T = q.shape[0]
    group = m.n_head // m.n_kv
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    s = np.einsum("thd,shd->hts", q, k) / np.sqrt(m.head_dim)
    s = s + np.triu(np.full((T, T), -np.inf, dtype=m.dtype), 1)[None]
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    p = s / s.sum(axis=-1, keepdims=True)
    o = np.einsum("hts,shd->thd", p, v)
    return o.reshape(T, m.n_head * m.head_dim)


def hidden(m: Model, ids, taps=None):
    """The final residual stream [T, d] (before the output norm). taps, a list:
    gets the embeddings (the stream before block 0), then the stream after each block."""
    ids = np.asarray(ids, dtype=np.int64)
    T = len(ids)
    if T == 0:
        raise ValueError("reference: empty token sequence")
    if T > m.n_ctx:
        raise ValueError(f"reference: {T} tokens exceed the context length {m.n_ctx}")
    if ids.min() < 0 or ids.max() >= m.n_vocab:
        raise ValueError(f"reference: token id out of range [0, {m.n_vocab})")
    pos = np.arange(T)
    x = m.w("token_embd.weight")[ids]
    if m.arch == "gpt2":
        x = x + m.w("position_embd.weight")[pos]
    if taps is not None:
        taps.append(x.copy())
    for L in range(m.n_layer):
        p = f"blk.{L}."
        if m.arch == "gpt2":
            h = layer_norm(x, m.w(p + "attn_norm.weight"), m.w(p + "attn_norm.bias"), m.eps)
            qkv = linear(m, h, p + "attn_qkv")
            d = m.d
            q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
            q = q.reshape(T, m.n_head, m.head_dim)
            k = k.reshape(T, m.n_kv, m.head_dim)
            v = v.reshape(T, m.n_kv, m.head_dim)
            x = x + linear(m, attention(m, q, k, v), p + "attn_output")
            h = layer_norm(x, m.w(p + "ffn_norm.weight"), m.w(p + "ffn_norm.bias"), m.eps)
            x = x + linear(m, gelu_tanh(linear(m, h, p + "ffn_up")), p + "ffn_down")
        else:
            h = rms_norm(x, m.w(p + "attn_norm.weight"), m.eps)
            q = linear(m, h, p + "attn_q").reshape(T, m.n_head, m.head_dim)
            k = linear(m, h, p + "attn_k").reshape(T, m.n_kv, m.head_dim)
            v = linear(m, h, p + "attn_v").reshape(T, m.n_kv, m.head_dim)
            q, k = rope(m, q, pos), rope(m, k, pos)
            x = x + linear(m, attention(m, q, k, v), p + "attn_output")
            h = rms_norm(x, m.w(p + "ffn_norm.weight"), m.eps)
            g = silu(linear(m, h, p + "ffn_gate")) * linear(m, h, p + "ffn_up")
            x = x + linear(m, g, p + "ffn_down")
        if taps is not None:
            taps.append(x.copy())
    return x


def head(m: Model, x):
    if m.arch == "gpt2":
        x = layer_norm(x, m.w("output_norm.weight"), m.w("output_norm.bias"), m.eps)
    else:
        x = rms_norm(x, m.w("output_norm.weight"), m.eps)
    name = "output.weight" if m.has("output.weight") else "token_embd.weight"
    return x @ m.w(name).T


def logits(model, token_ids) -> np.ndarray:
    """Logits [T, n_vocab] for every position of token_ids (causal)."""
    m = load(model)
    return head(m, hidden(m, token_ids))


def greedy(model, prompt_ids, n) -> list[int]:
    """n argmax tokens after prompt_ids, recomputing the whole sequence each step."""
    m = load(model)
    ids = list(prompt_ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(head(m, hidden(m, ids)[-1:])[0]))
        out.append(nxt)
        ids.append(nxt)
    return out


def token_strings(model) -> list[str]:
    m = load(model)
    if not hasattr(m, "_tokens"):
        m._tokens = list(_field(m.reader, "tokenizer.ggml.tokens", []))
    return m._tokens


def main(argv):
    if len(argv) < 3:
        print(__doc__.split("API:")[0], file=sys.stderr)
        print("usage: reference.py MODEL.gguf ID ID ...", file=sys.stderr)
        return 2
    m = Model(argv[1])
    lg = logits(m, [int(a) for a in argv[2:]])[-1]
    toks = token_strings(m)
    for i in np.argsort(-lg)[:5]:
        print(f"{int(i):8d}  {lg[i]:10.4f}  {toks[i] if i < len(toks) else ''!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
