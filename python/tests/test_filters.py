"""top_k / top_p / min_p / top_n_sigma against sort-based numpy references
(ranked by value, ties by the lower id, as head.h specifies), with boundaries."""

import math

import numpy as np
import pytest

import logitkit
from conftest import rank_order

V = 50257


def random_rows(seed, n=4):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, V)) * rng.uniform(1, 4, (n, 1))).astype(np.float32)
    x[1, rng.choice(V, 5000, replace=False)] = -np.inf  # a row with a kept set already cut
    x[2, : V // 2] = np.round(x[2, : V // 2])  # many ties
    return x


def kept(row):
    return np.flatnonzero(np.isfinite(row))


def mask_from(ids, n):
    out = np.zeros(n, bool)
    out[ids] = True
    return out


def ref_top_k(row, k):
    n_finite = np.isfinite(row).sum()
    return mask_from(rank_order(row)[: min(k, n_finite)], row.size)


def ref_probs(row):
    z = row.astype(np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def ref_top_p(row, p):
    """The smallest prefix in rank order whose mass reaches p; None if p is
    within 1e-6 of a prefix mass (float and double sums may disagree there)."""
    order = rank_order(row)
    order = order[np.isfinite(row[order])]
    mass = np.cumsum(ref_probs(row)[order])
    n = int(np.searchsorted(mass, p)) + 1  # first prefix with mass >= p
    n = min(n, order.size)
    near = np.abs(mass[max(n - 2, 0) : n + 1] - p)
    if near.size and near.min() < 1e-6:
        return None
    return mask_from(order[:n], row.size)


def ref_min_p(row, m):
    threshold = float(np.max(row)) + math.log(m)
    return np.isfinite(row) & (row.astype(np.float64) >= threshold)


def ref_top_n_sigma(row, n):
    finite = row[np.isfinite(row)].astype(np.float64)
    threshold = finite.max() - n * finite.std()
    return np.isfinite(row) & (row.astype(np.float64) >= threshold)


def check_filtered(out, row, want):
    assert out.dtype == np.float32 and out.shape == row.shape
    np.testing.assert_array_equal(np.isfinite(out), want)
    np.testing.assert_array_equal(out[want], row[want])  # kept values are untouched


@pytest.mark.parametrize("k", [1, 2, 40, 1000, V - 1, V, V + 5])
def test_top_k_matches_sort(k):
    x = random_rows(1)
    out = logitkit.top_k(x, k)
    for r in range(x.shape[0]):
        check_filtered(out[r], x[r], ref_top_k(x[r], k))


def test_top_p_matches_sort():
    x = random_rows(2)
    checked = 0
    for p in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99):
        out = logitkit.top_p(x, p)
        for r in range(x.shape[0]):
            want = ref_top_p(x[r], p)
            if want is None:
                continue
            check_filtered(out[r], x[r], want)
            checked += 1
    assert checked >= 24  # of 32: the rest fall within 1e-6 of a prefix mass


@pytest.mark.parametrize("m", [1e-6, 0.01, 0.1, 0.5, 0.99])
def test_min_p_matches_threshold(m):
    x = random_rows(3)
    out = logitkit.min_p(x, m)
    for r in range(x.shape[0]):
        check_filtered(out[r], x[r], ref_min_p(x[r], m))


@pytest.mark.parametrize("n", [0.5, 1.0, 3.0])
def test_top_n_sigma_matches_threshold(n):
    x = random_rows(4)
    out = logitkit.top_n_sigma(x, n)
    for r in range(x.shape[0]):
        check_filtered(out[r], x[r], ref_top_n_sigma(x[r], n))


def test_ties_at_the_boundary_keep_lower_ids():
    x = np.array([0, 3, 3, 3, 1, 3], np.float32)
    np.testing.assert_array_equal(np.isfinite(logitkit.top_k(x, 2)), [0, 1, 1, 0, 0, 0])
    # Four equal values: each has mass exactly 1/4 (exps of 0 are exactly 1).
    z = np.zeros(4, np.float32)
    np.testing.assert_array_equal(np.isfinite(logitkit.top_p(z, 0.5)), [1, 1, 0, 0])  # reaches 0.5 exactly
    np.testing.assert_array_equal(np.isfinite(logitkit.top_p(z, 0.50001)), [1, 1, 1, 0])  # crosses: kept
    np.testing.assert_array_equal(np.isfinite(logitkit.top_p(z, 0.2)), [1, 0, 0, 0])
    # min_p = 1 keeps every token equal to the max (a threshold: equal values stay).
    np.testing.assert_array_equal(np.isfinite(logitkit.min_p(x, 1.0)), [0, 1, 1, 1, 0, 1])


def test_off_values_keep_everything():
    x = random_rows(5)[0]
    for out in (logitkit.top_k(x, 0), logitkit.top_p(x, 1.0), logitkit.min_p(x, 0.0),
                logitkit.typical_p(x, 1.0), logitkit.top_n_sigma(x, 0.0)):
        np.testing.assert_array_equal(out, x)


def test_typical_p_keeps_a_set_reaching_the_mass():
    x = random_rows(6)[0][:2000]
    p = 0.5
    out = logitkit.typical_p(x, p)
    q = ref_probs(x)
    keep = np.isfinite(out)
    assert q[keep].sum() >= p - 1e-6
    # The kept tokens are those closest to the entropy: every kept token's
    # |-log q - H| is at most every dropped token's.
    h = -(q * np.log(q)).sum()
    d = np.abs(-np.log(q) - h)
    assert d[keep].max() <= d[~keep].min() + 1e-6


def test_filters_return_a_copy_or_work_in_place():
    x = random_rows(7)
    before = x.copy()
    out = logitkit.top_k(x, 3)
    np.testing.assert_array_equal(x, before)  # default: the input is untouched
    view = x[1:3]  # two contiguous rows of a bigger array: edited in place, no copy
    same = logitkit.top_k(view, 3, inplace=True)
    assert same is view
    np.testing.assert_array_equal(x[1:3], out[1:3])
    np.testing.assert_array_equal(x[[0, 3]], before[[0, 3]])
    readonly = before.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        logitkit.top_p(readonly, 0.5, inplace=True)
    logitkit.top_p(readonly, 0.5)  # reading a read-only array is fine


def test_filter_errors_name_the_parameter():
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"top_p = 0 is outside \(0, 1\]"):
        logitkit.top_p(x, 0.0)
    with pytest.raises(ValueError, match="top_k = -1"):
        logitkit.top_k(x, -1)
    with pytest.raises(ValueError, match="min_p = 2"):
        logitkit.min_p(x, 2.0)
    with pytest.raises(ValueError, match=r"^row 1: logits\[2\] = nan"):
        bad = np.zeros((2, 4), np.float32)
        bad[1, 2] = np.nan
        logitkit.top_k(bad, 2)
