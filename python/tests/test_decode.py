"""DecodeHead.decode on rows and batches: batch invariance, greedy = argmax
(lowest id on ties), logprobs and alternatives against numpy, float16 input,
processors, and determinism in (seed, stream, step)."""

import numpy as np
import pytest

import logitkit
from conftest import rank_order, reference_log_softmax

V = 50257


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((16, V)) * rng.uniform(1, 5, (16, 1))).astype(np.float32)
    x[3, 100:200] = x[3].max()  # a tie for the maximum (ids 100..199)
    x[5, rng.choice(V, 20000, replace=False)] = -np.inf
    return x


SETTINGS = [
    dict(),
    dict(temperature=0.0),
    dict(temperature=0.8, top_k=50, top_p=0.9),
    dict(temperature=1.3, min_p=0.05, typical_p=0.95),
    dict(temperature=0.7, top_n_sigma=1.5),
    dict(temperature=0.9, top_p=0.8, order=["top_k", "top_p", "min_p", "temperature"], top_k=100),
]


@pytest.mark.parametrize("params", SETTINGS)
def test_each_row_of_a_batch_decodes_as_alone(batch, params):
    n = batch.shape[0]
    seeds, streams, steps = np.arange(n) + 7, np.arange(n) % 3, np.arange(n) * 5
    head = logitkit.DecodeHead(threads=2)
    b = head.decode(batch, seed=seeds, stream=streams, step=steps, top_logprobs=4, outputs="all", **params)
    assert isinstance(b, logitkit.DecodedBatch) and len(b) == n
    assert b.token.dtype == np.int32 and b.top_token.shape == (n, 4)
    single = logitkit.DecodeHead()
    for r in range(n):
        d = single.decode(batch[r], seed=int(seeds[r]), stream=int(streams[r]), step=int(steps[r]),
                          top_logprobs=4, outputs="all", **params)
        assert d.token == b.token[r]
        assert d.logprob == b.logprob[r] and d.raw_logprob == b.raw_logprob[r]
        assert d.rank == b.rank[r] and d.n_kept == b.n_kept[r]
        assert [t.token for t in d.top] == list(b.top_token[r])
    # The token is a function of the row and its key only: permuting the rows permutes the tokens.
    perm = np.random.default_rng(0).permutation(n)
    b2 = head.decode(np.ascontiguousarray(batch[perm]), seed=seeds[perm], stream=streams[perm],
                     step=steps[perm], **params)
    np.testing.assert_array_equal(b2.token, b.token[perm])


def test_greedy_is_the_argmax_with_ties_to_the_lowest_id(batch):
    b = logitkit.decode(batch, temperature=0)
    np.testing.assert_array_equal(b.token, np.argmax(batch, axis=1))  # np.argmax: first maximum
    assert b.token[3] == 100
    np.testing.assert_array_equal(b.logprob, 0.0)  # one-hot final distribution


def test_raw_logprob_rank_and_alternatives_match_numpy(batch):
    n_top = 8
    b = logitkit.decode(batch, temperature=0.9, top_k=30, seed=3, stream=np.arange(16),
                        top_logprobs=n_top, outputs="all")
    ref = reference_log_softmax(batch)
    for r in range(batch.shape[0]):
        t = b.token[r]
        assert abs(b.raw_logprob[r] - ref[r, t]) <= 1e-6 * max(1.0, abs(ref[r, t]))
        order = rank_order(batch[r])
        assert b.rank[r] == 1 + np.flatnonzero(order == t)[0]
        np.testing.assert_array_equal(b.top_token[r], order[:n_top])
        np.testing.assert_allclose(b.top_raw_logprob[r], ref[r, order[:n_top]], rtol=1e-6, atol=1e-6)
        # The final distribution: softmax over the top 30 of z / 0.9.
        kept = order[:30]
        final = reference_log_softmax(batch[r, kept], 0.9)
        assert t in kept
        assert abs(b.logprob[r] - final[np.flatnonzero(kept == t)[0]]) <= 1e-5
        assert b.n_kept[r] == 30
        np.testing.assert_allclose(b.top_logprob[r], final[:n_top], rtol=1e-5, atol=1e-5)
        p = np.exp(ref[r])
        assert abs(b.raw_entropy[r] - (-(p[p > 0] * ref[r][p > 0]).sum())) <= 1e-4


def test_float16_rows_decode_as_their_float32_values(batch):
    x16 = batch.astype(np.float16)
    x32 = x16.astype(np.float32)
    for params in SETTINGS:
        a = logitkit.decode(x16, seed=5, stream=np.arange(16), top_logprobs=3, **params)
        b = logitkit.decode(x32, seed=5, stream=np.arange(16), top_logprobs=3, **params)
        np.testing.assert_array_equal(a.token, b.token)
        np.testing.assert_array_equal(a.logprob, b.logprob)
        np.testing.assert_array_equal(a.top_token, b.top_token)
    assert logitkit.decode(x16[0], seed=1).token == logitkit.decode(x32[0], seed=1).token


def test_same_key_same_token_and_keys_vary_the_draw():
    x = np.zeros(1000, np.float32)  # uniform: the token is a plain function of the key
    head = logitkit.DecodeHead()
    tokens = [head.decode(x, seed=42, stream=1, step=s).token for s in range(50)]
    assert tokens == [head.decode(x, seed=42, stream=1, step=s).token for s in range(50)]
    assert len(set(tokens)) > 40
    assert len({head.decode(x, seed=seed, stream=1, step=0).token for seed in range(50)}) > 40
    assert len({head.decode(x, seed=42, stream=stream, step=0).token for stream in range(50)}) > 40
    # A scalar key is every row's: equal rows give equal tokens.
    b = head.decode(np.zeros((4, 1000), np.float32), seed=9)
    assert len(set(b.token.tolist())) == 1


def test_processors():
    x = np.array([3.0, 2.0, 1.0, 0.0, -1.0], np.float32)
    greedy = dict(temperature=0)
    assert logitkit.decode(x, **greedy).token == 0
    assert logitkit.decode(x, history=[0], presence_penalty=2.5, **greedy).token == 1
    assert logitkit.decode(x, history=[0, 0, 0], frequency_penalty=0.5, **greedy).token == 1  # 3 - 1.5 < 2
    assert logitkit.decode(x, history=[0], repetition_penalty=2.0, **greedy).token == 1  # 3 / 2 < 2
    assert logitkit.decode(x, logit_bias={4: 10.0}, **greedy).token == 4
    assert logitkit.decode(x, banned_tokens=[0, 1], **greedy).token == 2
    assert logitkit.decode(x, allowed_tokens=[3, 4], **greedy).token == 3
    assert logitkit.decode(x, eos_tokens=[0], min_tokens=2, n_generated=1, **greedy).token == 1
    assert logitkit.decode(x, eos_tokens=[0], min_tokens=2, n_generated=2, **greedy).token == 0
    # Per-row histories in a batch.
    b = logitkit.decode(np.stack([x, x]), history=[[0], [1]], presence_penalty=5.0, **greedy)
    np.testing.assert_array_equal(b.token, [1, 0])
    # raw_logprob ignores the processors; logprob is under the processed distribution.
    d = logitkit.decode(x, logit_bias={4: 4.0}, seed=1)
    ref = reference_log_softmax(x)
    ref_final = reference_log_softmax(x + np.array([0, 0, 0, 0, 4], np.float32))
    assert abs(d.raw_logprob - ref[d.token]) < 1e-6
    assert abs(d.logprob - ref_final[d.token]) < 1e-6


def test_outputs_not_asked_for_are_nan():
    d = logitkit.decode(np.zeros(10, np.float32), outputs="none")
    assert np.isnan(d.raw_logprob) and np.isnan(d.logprob) and np.isnan(d.entropy)
    d = logitkit.decode(np.zeros(10, np.float32), outputs=["entropy"])
    assert np.isnan(d.logprob) and abs(d.entropy - np.log(10)) < 1e-6
    with pytest.raises(ValueError, match="unknown output 'bogus'"):
        logitkit.decode(np.zeros(10, np.float32), outputs=["bogus"])
