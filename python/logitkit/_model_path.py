"""Where logitkit.Model() finds its model, as the CLI does (apps/cli/model_path.cc).

$LOGITKIT_MODEL, else the default model that scripts/fetch-model puts in the
cache: ${LOGITKIT_CACHE:-$HOME/.cache/logitkit}/SmolLM2-135M-Instruct.Q4_1.gguf.
"""

import os

DEFAULT_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> str:
    """The cache folder (no trailing slash)."""
    cache = os.environ.get("LOGITKIT_CACHE")
    if cache:
        return cache
    return os.path.join(os.environ.get("HOME") or ".", ".cache", "logitkit")


def default_model_path() -> str:
    """$LOGITKIT_MODEL, else the default model's path in the cache (which may not exist)."""
    return os.environ.get("LOGITKIT_MODEL") or os.path.join(cache_dir(), DEFAULT_MODEL)
