"""The draw, statistically: 20,000 tokens per setting from a small
distribution, each token's count within an exact Chernoff bound, so that a
correct sampler fails this file with probability < 1e-6 in all (Bonferroni
over every bin of every setting)."""

import math

import numpy as np
import pytest

import logitkit
from conftest import reference_log_softmax

N = 20_000
LOGITS = np.log(np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.07, 0.04, 0.02], np.float64)).astype(np.float32)
SETTINGS = [  # (decode parameters, the kept set's probabilities from numpy)
    dict(),
    dict(temperature=0.5),
    dict(temperature=2.0),
    dict(top_k=3),
    dict(top_p=0.6),  # 0.30 + 0.20 = 0.50 < 0.6: the third token crosses and is kept
    dict(min_p=0.3),  # p >= 0.09: the first five
]
N_TESTS = (len(SETTINGS) + 1) * LOGITS.size  # + the sample() function
DELTA = 1e-6 / N_TESTS


def expected(params):
    p = np.exp(reference_log_softmax(LOGITS, params.get("temperature", 1.0)))
    keep = np.ones(p.size, bool)
    if "top_k" in params:
        keep[params["top_k"]:] = False
    if "top_p" in params:
        keep[np.searchsorted(np.cumsum(p), params["top_p"]) + 1:] = False
    if "min_p" in params:
        keep = p >= params["min_p"] * p.max()
    p = np.where(keep, p, 0.0)
    return p / p.sum()


def kl(a, b):
    """KL(Bernoulli(a) || Bernoulli(b))."""
    out = 0.0
    if a > 0:
        out += a * math.log(a / b)
    if a < 1:
        out += (1 - a) * math.log((1 - a) / (1 - b))
    return out


def check_counts(counts, p):
    """Each count of n = counts.sum() draws: P(|k/n - p| this far) <= 2 exp(-n KL) (Chernoff)."""
    n = counts.sum()
    for token, (k, q) in enumerate(zip(counts, p)):
        if q == 0:
            assert k == 0, f"token {token} was filtered out but drawn {k} times"
            continue
        bound = 2 * math.exp(-n * kl(k / n, q))
        assert bound >= DELTA, f"token {token}: {k} of {n} draws, expected {q * n:.1f} (tail bound {bound:.2e})"


@pytest.mark.parametrize("params", SETTINGS)
def test_decode_draws_follow_the_final_distribution(params):
    rows = np.ascontiguousarray(np.broadcast_to(LOGITS, (N, LOGITS.size)))
    b = logitkit.decode(rows, seed=2024, stream=7, step=np.arange(N), **params)
    check_counts(np.bincount(b.token, minlength=LOGITS.size), expected(params))


def test_sample_draws_follow_softmax():
    tokens = [logitkit.sample(LOGITS, 99, 0, step) for step in range(N)]
    check_counts(np.bincount(tokens, minlength=LOGITS.size), expected({}))
    assert logitkit.sample(LOGITS, 99, 0, 123) == tokens[123]  # same key, same token


def test_sample_never_draws_minus_inf():
    x = LOGITS.copy()
    x[[0, 2]] = -np.inf
    drawn = {logitkit.sample(x, 1, 0, step) for step in range(2000)}
    assert drawn.isdisjoint({0, 2}) and len(drawn) == 6


def test_the_check_has_power():
    # A sampler off by 0.02 in the top token's probability fails the bound.
    p = expected({})
    counts = np.round(N * (p + np.array([0.02, -0.02, 0, 0, 0, 0, 0, 0]))).astype(int)
    with pytest.raises(AssertionError):
        check_counts(counts, p)
