"""softmax / log_softmax against a float64 numpy reference (head.h: relative
error <= 1e-6 for every probability >= 1e-30, absolute <= 1e-30 below)."""

import numpy as np
import pytest

import logitkit
from conftest import reference_log_softmax

V = 50257


def rows(seed):
    rng = np.random.default_rng(seed)
    out = []
    for scale in (1.0, 5.0, 20.0):  # 20: many probabilities far below 1e-30
        out.append((rng.standard_normal(V) * scale).astype(np.float32))
    with_inf = (rng.standard_normal(V) * 3).astype(np.float32)
    with_inf[rng.choice(V, 1000, replace=False)] = -np.inf
    out.append(with_inf)
    huge = rng.uniform(-1e30, 1e30, V).astype(np.float32)  # logits near +-1e30
    huge[7] = 1e30
    out.append(huge)
    return np.stack(out)


def check_probs(probs, ref_logprobs):
    ref = np.exp(ref_logprobs)
    big = ref >= 1e-30
    rel = np.abs(probs[big] - ref[big]) / ref[big]
    assert rel.max() <= 1e-6, rel.max()
    assert np.all(np.abs(probs[~big] - ref[~big]) <= 1e-30)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 2.5])
def test_softmax_matches_float64_reference(temperature):
    x = rows(1)
    probs = logitkit.softmax(x, temperature)
    assert probs.dtype == np.float32 and probs.shape == x.shape
    check_probs(probs.astype(np.float64), reference_log_softmax(x, temperature))
    for r in range(x.shape[0]):  # single rows give the same values as the batch
        np.testing.assert_array_equal(logitkit.softmax(x[r], temperature), probs[r])


@pytest.mark.parametrize("temperature", [1.0, 0.7, 2.5])
def test_log_softmax_matches_float64_reference(temperature):
    x = rows(2)
    lp = logitkit.log_softmax(x, temperature).astype(np.float64)
    ref = reference_log_softmax(x, temperature)
    assert np.array_equal(np.isneginf(lp), np.isneginf(ref))
    finite = np.isfinite(ref)
    # One float rounding of the result (2^-24 relative) plus the double sums.
    err = np.abs(lp[finite] - ref[finite])
    assert np.all(err <= 1.2e-7 * np.abs(ref[finite]) + 1e-9), err.max()
    for r in range(x.shape[0]):
        np.testing.assert_array_equal(logitkit.log_softmax(x[r], temperature), lp[r].astype(np.float32))


def test_neg_inf_logits_get_zero_probability():
    x = np.array([0.0, -np.inf, 1.0, -np.inf], np.float32)
    p = logitkit.softmax(x)
    assert p[1] == 0 and p[3] == 0
    np.testing.assert_allclose(p[[0, 2]], np.exp(reference_log_softmax(x[[0, 2]])), rtol=1e-6)
    assert np.isneginf(logitkit.log_softmax(x)[[1, 3]]).all()


def test_softmax_of_temperature_equals_softmax_of_divided_logits():
    x = (np.random.default_rng(3).standard_normal(1000) * 4).astype(np.float32)
    np.testing.assert_array_equal(logitkit.softmax(x, 0.7), logitkit.softmax(x / np.float32(0.7)))


def test_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    x = rows(4)[:3]
    t = torch.from_numpy(x.astype(np.float64))
    np.testing.assert_allclose(logitkit.softmax(x), torch.softmax(t, -1).numpy(), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(logitkit.log_softmax(x), torch.log_softmax(t, -1).numpy(), rtol=1.2e-7, atol=1e-6)
