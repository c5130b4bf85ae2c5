"""Shared fixtures: the module (built by CMake; PYTHONPATH=build/<preset>/python)
and the default model, skipped when absent unless LOGITKIT_REQUIRE_MODEL=1."""

import os

import numpy as np
import pytest

try:
    import logitkit
except ImportError as e:  # a clear message instead of a collection error per file
    raise ImportError(
        "cannot import logitkit: build it (ninja -C build/<preset> _logitkit) and set "
        f"PYTHONPATH=build/<preset>/python ({e})") from e


def reference_log_softmax(logits, temperature=1.0):
    """float64 log_softmax of the float32 logits / T (the division in float32, as the head does)."""
    z = (np.asarray(logits, np.float32) / np.float32(temperature)).astype(np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def rank_order(values):
    """Token ids by value, highest first, ties by lower id (the head's order)."""
    values = np.asarray(values, np.float64)
    return np.lexsort((np.arange(values.size), -values))


@pytest.fixture(scope="session")
def model():
    path = logitkit.default_model_path()
    if not os.path.exists(path):
        message = f"no model at {path} (scripts/fetch-model, or set LOGITKIT_MODEL)"
        if os.environ.get("LOGITKIT_REQUIRE_MODEL") == "1":
            pytest.fail(message + " and LOGITKIT_REQUIRE_MODEL=1")
        pytest.skip(message)
    return logitkit.Model(path, threads=1)
