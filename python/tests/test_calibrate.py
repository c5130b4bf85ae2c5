"""logitkit.calibrate on synthetic logits and targets against numpy: NLL,
accuracy, Brier, ECE, the sampling sets and the fitted temperature."""

import numpy as np
import pytest

import logitkit
from conftest import reference_log_softmax

N, V = 600, 1000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal((N, V)) * rng.uniform(0.5, 4.0, (N, 1))).astype(np.float32)
    # Targets drawn at T = 2: the logits are overconfident, the best T is about 2.
    p = np.exp(reference_log_softmax(logits, 2.0))
    targets = np.array([rng.choice(V, p=row / row.sum()) for row in p], np.int32)
    return logits, targets


def test_top_label_statistics_match_numpy(data):
    logits, targets = data
    r = logitkit.calibrate(logits, targets, bins=10)
    lp = reference_log_softmax(logits)
    p = np.exp(lp)
    rows = np.arange(N)
    assert r["positions"] == N and r["n_vocab"] == V and len(r["bins"]) == 10
    assert abs(r["nll"] - (-lp[rows, targets].mean())) < 1e-6
    assert r["accuracy"] == np.mean(np.argmax(logits, axis=1) == targets)
    onehot = np.zeros_like(p)
    onehot[rows, targets] = 1
    assert abs(r["brier"] - ((p - onehot) ** 2).sum(axis=1).mean()) < 1e-6
    conf = p.max(axis=1)
    correct = np.argmax(logits, axis=1) == targets
    b = np.minimum((conf * 10).astype(int), 9)
    ece = sum(np.mean(b == i) * abs(correct[b == i].mean() - conf[b == i].mean()) for i in range(10) if (b == i).any())
    assert abs(r["ece"] - ece) < 1e-6
    assert [x["count"] for x in r["bins"]] == np.bincount(b, minlength=10).tolist()


def test_sampling_sets_match_numpy(data):
    logits, targets = data
    r = logitkit.calibrate(logits, targets, sampling=["top_k=10", {"top_p": 0.9}])
    top10, top_p = r["sampling"]
    order = np.argsort(-logits, axis=1, kind="stable")
    p = np.exp(reference_log_softmax(logits))
    assert top10["label"] == "top_k=10"
    assert abs(top10["coverage"] - np.mean([targets[i] in order[i, :10] for i in range(N)])) < 1e-12
    assert abs(top10["mean_mass"] - np.mean([p[i, order[i, :10]].sum() for i in range(N)])) < 1e-6
    assert top10["mean_kept"] == 10
    kept = [np.searchsorted(np.cumsum(p[i, order[i]]), 0.9) + 1 for i in range(N)]
    assert abs(top_p["mean_kept"] - np.mean(kept)) < 0.01  # a boundary within float error may move a token
    assert abs(top_p["coverage"] - np.mean([targets[i] in order[i, :kept[i]] for i in range(N)])) < 0.01


def test_fitted_temperature_matches_a_numpy_minimisation(data):
    logits, targets = data
    fit = np.arange(N) % 2 == 0
    r = logitkit.calibrate(logits, targets, fit=fit)
    z = logits[fit].astype(np.float64)
    y = targets[fit]

    def nll(beta):
        s = beta * z
        m = s.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(s - m).sum(axis=1)) + m[:, 0] - s[np.arange(len(y)), y])

    lo, hi = 0.1, 4.0  # golden-section search: the NLL is convex in beta = 1 / T
    g = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        lo, hi = (lo, b) if nll(a) < nll(b) else (a, hi)
    t = r["temperature"]
    assert t["fit_positions"] == fit.sum() and not t["at_grid_edge"]
    assert abs(t["temperature"] - 2 / (lo + hi)) < 1e-4 * t["temperature"]
    assert 1.5 < t["temperature"] < 2.7  # the targets were drawn at T = 2
    assert abs(t["fit_nll_at_1"] - nll(1.0)) < 1e-6
    assert t["after"]["positions"] == N - fit.sum() and t["after"]["nll"] < t["before"]["nll"]


def test_calibrate_errors(data):
    logits, targets = data
    bad = targets.copy()
    bad[7] = V
    with pytest.raises(ValueError, match=f"row 7: next token {V} outside"):
        logitkit.calibrate(logits, bad)
    with pytest.raises(ValueError, match="targets has 5 tokens for 600 rows"):
        logitkit.calibrate(logits, targets[:5])
    with pytest.raises(ValueError, match="must be 2-D"):
        logitkit.calibrate(logits[0], targets[:1])
    with pytest.raises(ValueError, match="bins"):
        logitkit.calibrate(logits, targets, bins=0)
