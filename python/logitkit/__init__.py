"""logitkit: the decode head of a language model (logits -> token, with logprobs)
and a GGUF model runtime, from Python.

Arrays: logits are float32 (the decode head also takes float16) numpy arrays,
1-D [n_vocab] or 2-D [n_rows, n_vocab], C-contiguous. They are read in place,
never copied or converted: any other dtype or layout raises TypeError /
ValueError saying what to pass. The GIL is released while rows are computed.

Errors: a library Status becomes ValueError (invalid argument, out of range,
failed precondition), FileNotFoundError (not found), OSError (corrupt file),
MemoryError, NotImplementedError or RuntimeError, with the library's message
verbatim as str(e) and its code as e.status_code.

The semantics (order of stages, ties, what each logprob means) are those of
include/logitkit/head.h; python/README.md has examples.
"""

import os as _os
import warnings as _warnings

from ._logitkit import (
    ChatTemplate,
    DecodeHead,
    Decoded,
    DecodedBatch,
    Matcher,
    Score,
    TokenLogprob,
    __version__,
    cache_dir,
    calibrate,
    default_model_path,
    log_softmax,
    min_p,
    sample,
    sampler_parameters,
    simd_target,
    softmax,
    top_k,
    top_n_sigma,
    top_p,
    typical_p,
)
from ._logitkit import Model as _Model

__all__ = [
    "ChatTemplate", "DecodeHead", "Decoded", "DecodedBatch", "Generation", "Matcher", "Model", "Score", "TokenLogprob",
    "cache_dir", "calibrate", "decode", "default_model_path", "log_softmax", "min_p", "sample",
    "sampler_parameters", "simd_target", "softmax", "top_k", "top_n_sigma", "top_p", "typical_p",
]


class Model(_Model):
    """A GGUF model and its tokenizer: Model(path=None, threads=0).

    path None: $LOGITKIT_MODEL, else the default model fetched by
    scripts/fetch-model (see default_model_path()). threads 0: one per core.
    Methods: tokenize, tokenize_chat, detokenize, token_text, logits, score,
    lens, generate, session, matcher (structured output); chat_template.
    A model whose chat template cannot be used warns (a built-in format is
    used instead).
    """

    def __init__(self, path=None, threads=0):
        if path is not None and not _os.fspath(path):
            raise ValueError("path is empty: pass None (or nothing) for the default model")
        super().__init__("" if path is None else _os.fspath(path), threads)
        if self.chat_template.fallback_reason:
            _warnings.warn(f"{self.chat_template.fallback_reason}; chat prompts use {self.chat_template!r}",
                           stacklevel=2)

    def __repr__(self):
        return f"Model({self.path!r}, n_vocab={self.n_vocab}, n_layers={self.n_layers})"


Generation = _Model.Generation

_default_head = None


def decode(logits, **params):
    """DecodeHead().decode(logits, **params) on a module-wide head (one thread).

    logits [n_vocab] -> Decoded; [n_rows, n_vocab] -> DecodedBatch. See DecodeHead.decode.
    """
    global _default_head
    if _default_head is None:
        _default_head = DecodeHead()
    return _default_head.decode(logits, **params)


# pybind11 answers a wrong argument with every overload's signature and a
# dump of the call ("incompatible function arguments ... Invoked with: ...").
# Every method and function of the module says it in one line instead, as
# Python does: "tokenize() got an unexpected keyword argument 'foo'".
def _short_type_errors(name, function):
    import functools
    import re

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except TypeError as e:
            text = str(e)
            if "incompatible function arguments" not in text and "incompatible constructor arguments" not in text:
                raise
            signature = re.search(r"^\s*1\. [\w.]*\((.*)\)(?: -> .*)?$", text, re.M)
            params = signature.group(1) if signature else ""
            known = set(re.findall(r"(\w+):", params))
            unknown = [k for k in kwargs if k not in known]
            shown = re.sub(r"^self: [^,]*(, )?", "", params)
            if unknown:
                message = f"{name}() got an unexpected keyword argument '{unknown[0]}'"
            else:
                message = f"{name}() got arguments of the wrong types or number"
            raise TypeError(f"{message}; it takes ({shown})") from None
    return call


def _wrap_methods(cls):
    for attr, value in list(vars(cls).items()):
        if attr.startswith("__") and attr != "__init__":
            continue
        if callable(value) and type(value).__name__ == "instancemethod":
            setattr(cls, attr, _short_type_errors(attr if attr != "__init__" else cls.__name__, value))


for _cls in (_Model, _Model.Session, DecodeHead, ChatTemplate, Matcher):
    _wrap_methods(_cls)
for _name in ("calibrate", "log_softmax", "min_p", "sample", "softmax", "top_k", "top_n_sigma", "top_p", "typical_p"):
    globals()[_name] = _short_type_errors(_name, globals()[_name])
