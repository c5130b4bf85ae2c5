"""logitkit.Model on the default model (SmolLM2-135M-Instruct, scripts/fetch-model):
skipped without it, unless LOGITKIT_REQUIRE_MODEL=1. References: numpy on the
model's own logits."""

import numpy as np
import pytest

import logitkit
from conftest import reference_log_softmax

PROMPT = "The capital of France is"


def test_the_capital_of_france(model):
    logits = model.logits(PROMPT)
    ids = model.tokenize(PROMPT)
    assert logits.shape == (len(ids), model.n_vocab) and logits.dtype == np.float32
    assert logits.flags.c_contiguous
    assert model.token_text(int(np.argmax(logits[-1]))) == " Paris"
    np.testing.assert_array_equal(model.logits(ids), logits)  # ids or text: the same pass


def test_tokenize_round_trip(model):
    text = "Hello, world! Ünïcödé and 123 tokens."
    ids = model.tokenize(text)
    assert all(isinstance(i, int) for i in ids)
    assert model.detokenize(ids) == text
    assert model.detokenize(np.array(ids, np.int64)) == text
    with pytest.raises(ValueError, match=r"ids\[0\] = 999999 is outside"):
        model.detokenize([999999])


def test_greedy_generation_follows_the_logits(model):
    g = model.generate(PROMPT, max_tokens=12, temperature=0, top_logprobs=3)
    assert "Paris" in g.text and g.prompt_tokens == len(model.tokenize(PROMPT))
    assert g.finish_reason in ("length", "stop") and len(g.tokens) <= 12
    # Each greedy token is the argmax of the logits of everything before it.
    logits = model.logits(model.tokenize(PROMPT) + g.tokens)
    ref = reference_log_softmax(logits)
    for i, token in enumerate(g.tokens):
        row = logits[g.prompt_tokens - 1 + i]
        assert token == int(np.argmax(row))
        assert abs(g.raw_logprob[i] - ref[g.prompt_tokens - 1 + i, token]) < 1e-4
        assert g.logprob[i] == 0.0  # greedy: one-hot
        assert [t.token for t in g.top[i]][0] == token
    assert model.detokenize(g.tokens).startswith(g.text)


def test_sampled_generation_is_reproducible_and_stops(model):
    a = model.generate(PROMPT, max_tokens=10, temperature=0.8, top_p=0.95, seed=7)
    b = model.generate(PROMPT, max_tokens=10, temperature=0.8, top_p=0.95, seed=7)
    assert a.text == b.text and a.tokens == b.tokens
    s = model.generate(PROMPT, max_tokens=20, temperature=0, stop=[" is", "."])
    assert s.finish_reason == "stop" and "." not in s.text and " is" not in s.text


def test_score_matches_numpy(model):
    text = "The capital of France is Paris. It is a large city."
    s = model.score(text)
    ids = model.tokenize(text)
    assert s.tokens == ids
    logits = model.logits(ids)
    ref = reference_log_softmax(logits[:-1])
    nxt = np.array(ids[1:])
    want = ref[np.arange(len(nxt)), nxt]
    np.testing.assert_allclose(s.logprob, want, rtol=1e-6, atol=2e-6)
    row = logits[np.arange(len(nxt)), nxt]
    np.testing.assert_array_equal(s.rank, 1 + (logits[:-1] > row[:, None]).sum(axis=1))
    p = np.exp(ref)
    np.testing.assert_allclose(s.entropy, -(p * np.where(p > 0, ref, 0)).sum(axis=1), rtol=1e-4, atol=1e-5)
    assert abs(s.nll - (-want.mean())) < 1e-6 and abs(s.perplexity - np.exp(-want.mean())) < 1e-4


def test_lens_last_layer_is_the_models_logits(model):
    ids = model.tokenize(PROMPT)
    lens = model.lens(ids)
    assert lens.shape == (model.n_layers, len(ids), model.n_vocab)
    np.testing.assert_array_equal(lens[-1], model.logits(ids))
    last = model.lens(ids, positions="last")
    assert last.shape == (model.n_layers, 1, model.n_vocab)
    np.testing.assert_allclose(last[:, 0], lens[:, -1], rtol=1e-5, atol=1e-4)
    # An early layer does not yet say " Paris"; the last one does.
    assert model.token_text(int(np.argmax(lens[-1, -1]))) == " Paris"


def test_model_errors(model):
    with pytest.raises(ValueError, match="text_or_tokens is empty"):
        model.logits("")
    with pytest.raises(ValueError, match=r"text_or_tokens\[1\] = 49152 is outside \[0, n_vocab = 49152\)"):
        model.logits([1, model.n_vocab])
    with pytest.raises(ValueError, match="fewer than 2 tokens"):
        model.score("Hi")
    with pytest.raises(ValueError, match=r"top_p = 1.5 is outside \(0, 1\]"):
        model.generate(PROMPT, top_p=1.5)
    with pytest.raises(ValueError, match="positions = 'some'"):
        model.lens(PROMPT, positions="some")
