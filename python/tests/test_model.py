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
    assert s.finish_reason == "stop" and "." not in s.text and " is" not in s.text and s.stop_string in (" is", ".")


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


def test_a_batch_of_prompts_gives_what_each_gives_alone(model):
    prompts = ["Once upon a time", model.tokenize("The capital of France is")]
    kw = dict(max_tokens=8, temperature=0.9, top_k=50, seed=21, top_logprobs=2)
    together = model.generate(prompts, **kw)
    assert isinstance(together, list) and len(together) == 2
    for prompt, g in zip(prompts, together):
        alone = model.generate(prompt, **kw)
        assert g.tokens == alone.tokens and g.text == alone.text
        np.testing.assert_array_equal(g.logprob, alone.logprob)
        np.testing.assert_array_equal(g.raw_logprob, alone.raw_logprob)


def test_n_choices_are_streams_and_choice_zero_is_the_single_run(model):
    kw = dict(max_tokens=8, temperature=1.0, seed=5)
    choices = model.generate(PROMPT, n=3, **kw)
    assert len(choices) == 3
    assert choices[0].tokens == model.generate(PROMPT, **kw).tokens
    assert len({tuple(c.tokens) for c in choices}) > 1  # other streams, other draws


def test_chat_wraps_the_prompt_in_the_chat_format(model):
    a = model.generate("Name a color.", chat=True, temperature=0, max_tokens=12)
    b = model.generate([{"role": "user", "content": "Name a color."}], chat=True, temperature=0, max_tokens=12)
    assert a.text == b.text and a.tokens == b.tokens
    assert not a.text.startswith(" ")  # a reply drops a leading space
    assert a.prompt_tokens > len(model.tokenize("Name a color."))  # the format's markers


def test_generate_names_bad_arguments(model):
    with pytest.raises(TypeError, match="unexpected keyword argument 'tempreature'"):
        model.generate(PROMPT, tempreature=0.5)
    with pytest.raises(ValueError, match="top_k = 2.5 is not an integer"):
        model.generate(PROMPT, top_k=2.5)
    with pytest.raises(TypeError, match="top_k must be an integer, not str"):
        model.generate(PROMPT, top_k="40")
    with pytest.raises(ValueError, match=r"top_k = 1e\+400 is outside \[0, 2147483647\]|top_k = inf"):
        model.generate(PROMPT, top_k=10**400)
    with pytest.raises(ValueError, match="prompt 1, choice 0: the prompt has 8192 tokens; the model's context holds 8192"):
        model.generate(["a", [1] * 8192], max_tokens=2)
    with pytest.raises(ValueError, match="prompt 0, choice 0: no token left to choose"):
        model.generate("a", n=2, max_tokens=2, allowed_tokens=[5], banned_tokens=[5])
    assert model.generate(PROMPT, max_tokens=2, top_k=40.0, top_p=None).tokens == \
        model.generate(PROMPT, max_tokens=2, top_k=40).tokens  # 40.0 is 40; None is the default
    assert model.generate(PROMPT, max_tokens=3, seed=-1).tokens == model.generate(PROMPT, max_tokens=3, seed=2**64 - 1).tokens
    with pytest.raises(ValueError, match=r"seed = 18446744073709551616 is outside"):
        model.generate(PROMPT, seed=2**64)
    with pytest.raises(ValueError, match=r"banned_tokens\[0\] = 49152 is outside \[0, n_vocab = 49152\)"):
        model.generate(PROMPT, banned_tokens=[49152])
    with pytest.raises(ValueError, match="order: unknown stage 'warmth'"):
        model.generate(PROMPT, order=["warmth"])
    with pytest.raises(ValueError, match=r"stop\[0\] is empty"):
        model.generate(PROMPT, stop="")
    with pytest.raises(ValueError, match=r"max_tokens = 0 is outside \[1, 1000000\]"):
        model.generate(PROMPT, max_tokens=0)


def test_the_parameter_table_is_exported():
    table = {p["name"]: p for p in logitkit.sampler_parameters()}
    assert table["top_p"]["default"] == 1.0 and table["top_p"]["min_open"] and table["top_p"]["max"] == 1.0
    assert table["top_k"]["type"] == "int" and table["top_k"]["flag"] == "--top-k"
    assert table["order"]["default"] == ["temperature", "top_k", "top_p", "min_p", "typical_p", "top_n_sigma"]
    for name in table:
        assert name in logitkit.Model.generate.__doc__ and name in logitkit.DecodeHead.decode.__doc__


def test_a_session_loop_gives_what_generate_gives(model):
    # The seed convention, by hand: draw i is keyed by (seed, stream, step = position).
    kw = dict(temperature=0.9, top_p=0.95, penalty_window=4, frequency_penalty=0.3, min_tokens=3)
    g = model.generate(PROMPT, max_tokens=10, seed=7, top_logprobs=2, **kw)
    s = model.session(PROMPT)
    assert s.n_prompt == len(s) == len(model.tokenize(PROMPT))
    tokens, raw, final = [], [], []
    while len(tokens) < 10:
        token, raw_logprob, logprob, top = s.sample(seed=7, top_logprobs=2, **kw)
        if model.is_end_of_generation(token):
            break
        tokens.append(token), raw.append(raw_logprob), final.append(logprob)
        s.append([token])
    assert tokens == g.tokens
    np.testing.assert_array_equal(np.float32(raw), g.raw_logprob)
    np.testing.assert_array_equal(np.float32(final), g.logprob)
    # The session's logits are the model's, and rewinding gives them back.
    logits = model.logits(s.tokens)
    np.testing.assert_array_equal(s.logits, logits[-1])
    s.rewind(s.n_prompt + 2)
    assert len(s) == s.n_prompt + 2
    np.testing.assert_array_equal(s.logits, logits[s.n_prompt + 1])
    with pytest.raises(ValueError, match="rewind"):
        s.rewind(100)


class _ArrayLike:  # an array type without the buffer protocol (as a torch CPU tensor)
    def __init__(self, x, dlpack=False, device=(1, 0)):
        self.x, self.device = x, device
        if dlpack:
            self.__dlpack__ = lambda stream=None: x.__dlpack__()
            self.__dlpack_device__ = lambda: self.device
        else:
            self.__array__ = lambda dtype=None, copy=None: x


def test_arrays_without_the_buffer_protocol_are_read_through_dlpack_or_array():
    x = np.random.default_rng(3).standard_normal((2, 50)).astype(np.float32)
    want = logitkit.decode(x, temperature=0).token
    for wrapped in (_ArrayLike(x), _ArrayLike(x, dlpack=True)):
        np.testing.assert_array_equal(logitkit.decode(wrapped, temperature=0).token, want)
        np.testing.assert_array_equal(logitkit.softmax(wrapped), logitkit.softmax(x))
    with pytest.raises(TypeError, match=r"logits is on device \(2, 0\), not the CPU: .*tensor.cpu\(\).numpy\(\)"):
        logitkit.decode(_ArrayLike(x, dlpack=True, device=(2, 0)))  # a CUDA device


def test_special_tokens_in_a_prompt_are_plain_text_unless_asked(model):
    text = "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n"
    special = model.tokenize(text, parse_special=True)
    assert len(special) < len(model.tokenize(text))
    g = model.generate(text, special=True, temperature=0, max_tokens=4)
    assert g.prompt_tokens == len(special)
    assert g.tokens == model.generate(special, temperature=0, max_tokens=4).tokens
    s = model.score(text, special=True)
    assert s.tokens == special
