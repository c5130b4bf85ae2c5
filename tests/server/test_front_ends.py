"""The three front ends share one generator and one parameter table: the CLI
(`logitkit generate`), the server (`logitkit serve`, through the openai
client) and Python (`logitkit.Model.generate`).

1. The same seeded settings give the same text and tokens, and logprobs that
   are bitwise the same float32 values, through all three. The settings cover
   greedy, top-k/top-p, typical-p, top-nσ, min_tokens, the penalties over a
   window, logit_bias, banned tokens and a custom stage order.
2. Every parameter of the table (logitkit.sampler_parameters()) is a CLI
   flag, a JSON field and a keyword argument: a valid value is taken by each,
   and a value out of its range is refused by each with the same words.
"""
import json
import math
import subprocess

import numpy as np
import pytest

import logitkit
import openai

PROMPT = "Once upon a time"
# Parameters whose range the server narrows to OpenAI's (or whose JSON form
# has its own checks): their 400s use the protocol's words.
PROTOCOL_OWN = {"temperature", "presence_penalty", "frequency_penalty", "logit_bias"}

SETTINGS = [
    dict(temperature=0.0),
    dict(temperature=0.9, top_k=40, top_p=0.95, seed=1234),
    dict(temperature=1.1, typical_p=0.9, seed=5),
    dict(temperature=1.3, top_n_sigma=1.5, seed=7),
    dict(temperature=0.8, min_tokens=20, penalty_window=4, frequency_penalty=0.5, presence_penalty=0.3,
         repetition_penalty=1.2, seed=9),
    dict(temperature=0.7, top_k=20, top_p=0.8, min_p=0.05, seed=11,
         order=["top_k", "top_p", "temperature", "min_p", "typical_p", "top_n_sigma"]),
    dict(temperature=1.0, logit_bias={11: 2.0, 30: -100.0}, banned_tokens=[28, 29], seed=13),
    dict(temperature=0.8, seed=17, stop=[" easy", " an"]),  # ", I had an easy time ..."
]
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def model(model_path):
    return logitkit.Model(model_path)


def cli_flag_args(params):
    """The CLI's spelling of params: --top-p 0.9, --order a,b, --logit-bias 11:2,30:-100."""
    args = []
    for name, value in params.items():
        if name == "seed":
            args += ["--seed", str(value)]
            continue
        if name == "stop":
            for text in value:
                args += ["--stop", text]
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, dict):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        args += [flag, str(value)]
    return args


def run_cli(server, *args):
    return subprocess.run([server.binary, "generate", "--model", server.model, *args],
                          capture_output=True, text=True)


def server_body(params):
    """The server's JSON fields: the table's names; logit_bias keys are strings (OpenAI's form)."""
    body = dict(params)
    if "logit_bias" in body:
        body["logit_bias"] = {str(k): v for k, v in body["logit_bias"].items()}
    return body


def f32(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(sorted(p)))
def test_the_three_front_ends_give_the_same_tokens_and_logprobs(server, client, model, params):
    cli = run_cli(server, PROMPT, "--json", "--logprobs", "2", "--max-tokens", str(MAX_TOKENS),
                  *cli_flag_args(params))
    assert cli.returncode == 0, cli.stderr
    cli = json.loads(cli.stdout)

    body = server_body(params)
    seed = body.pop("seed", 0)
    raw = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=MAX_TOKENS, seed=seed,
                                    logprobs=2, extra_body=body)
    processed = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=MAX_TOKENS, seed=seed,
                                          logprobs=2, extra_body=dict(body, logprobs_mode="processed_logprobs"))

    py = model.generate(PROMPT, max_tokens=MAX_TOKENS, top_logprobs=2, **params)

    # Text, tokens and why they stopped (and at which stop string).
    ids = [t["id"] for t in cli["tokens"]]
    assert py.tokens == ids
    assert py.text == cli["text"] == raw.choices[0].text == processed.choices[0].text
    assert py.finish_reason == cli["finish_reason"] == raw.choices[0].finish_reason
    assert (py.stop_string or None) == cli["stop_string"] == raw.choices[0].model_extra["stop_reason"]
    if "stop" in params:
        assert py.stop_string in params["stop"]
    assert raw.choices[0].logprobs.tokens == [model.token_text(i) for i in ids]
    # Logprobs: the same float32 values, bit for bit.
    want_raw = f32([t["logprob"] for t in cli["tokens"]])
    want_final = f32([t["sampling_logprob"] for t in cli["tokens"]])
    np.testing.assert_array_equal(py.raw_logprob, want_raw)
    np.testing.assert_array_equal(py.logprob, want_final)
    np.testing.assert_array_equal(f32(raw.choices[0].logprobs.token_logprobs), want_raw)
    np.testing.assert_array_equal(f32(processed.choices[0].logprobs.token_logprobs),
                                  np.where(np.isneginf(want_final), np.float32(-9999.0), want_final))
    # The alternatives (raw distribution): the same tokens with the same values.
    for i, t in enumerate(cli["tokens"]):
        assert [a.token for a in py.top[i]] == [a["id"] for a in t["top"]]
        np.testing.assert_array_equal(f32([a.raw_logprob for a in py.top[i]]), f32([a["logprob"] for a in t["top"]]))
        served = dict(raw.choices[0].logprobs.top_logprobs[i])  # OpenAI's: the top 2 and the chosen token
        chosen = raw.choices[0].logprobs.tokens[i]
        want_top = {model.token_text(a["id"]): a["logprob"] for a in t["top"]}
        want_top.setdefault(chosen, t["logprob"])
        assert sorted(f32(list(served.values()))) == sorted(f32(list(want_top.values())))


def test_choices_are_the_same_streams_in_the_three_front_ends(server, client, model):
    kw = dict(temperature=1.0, top_p=0.9, typical_p=0.95)
    served = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=MAX_TOKENS, seed=23, n=3,
                                       logprobs=0, extra_body=kw)
    py = model.generate(PROMPT, max_tokens=MAX_TOKENS, seed=23, n=3, **kw)
    cli = run_cli(server, PROMPT, "--json", "--samples", "3", "--seed", "23", "--max-tokens", str(MAX_TOKENS),
                  *cli_flag_args(kw))
    assert cli.returncode == 0, cli.stderr
    samples = json.loads(cli.stdout)["samples"]
    assert [(s["seed"], s["stream"]) for s in samples] == [(23, 0), (23, 1), (23, 2)]
    assert len({g.text for g in py}) > 1  # the streams differ ...
    for choice in served.choices:  # ... and agree across the three front ends
        g, s = py[choice.index], samples[choice.index]
        assert choice.text == g.text == s["text"] and choice.finish_reason == g.finish_reason == s["finish_reason"]
        np.testing.assert_array_equal(f32(choice.logprobs.token_logprobs), g.raw_logprob)
        np.testing.assert_array_equal(f32([t["logprob"] for t in s["tokens"]]), g.raw_logprob)
    # The text form: one header per sample, then its text.
    text = run_cli(server, PROMPT, "--samples", "3", "--seed", "23", "--max-tokens", str(MAX_TOKENS),
                   *cli_flag_args(kw))
    assert text.returncode == 0, text.stderr
    want = "".join(f"{chr(10) if i else ''}[sample {i + 1} of 3: seed 23, stream {i}]\n{g.text}"
                   + ("" if g.text.endswith(chr(10)) or not g.text else "\n") for i, g in enumerate(py))
    assert text.stdout == want
    assert text.stderr.startswith("[3 samples; prompt:"), text.stderr


def test_cli_logprobs_show_rank_entropy_and_sampling_logprob_as_numpy_computes_them(server, model):
    # top-p 0.8 at T = 0.8: the sampling logprob differs from the raw one.
    args = [PROMPT, "--seed", "3", "--temperature", "0.8", "--top-p", "0.8", "--max-tokens", "12", "--logprobs", "2"]
    got = json.loads(run_cli(server, *args, "--json").stdout)
    ids = model.tokenize(PROMPT) + [t["id"] for t in got["tokens"]]
    z = model.logits(ids).astype(np.float64)[len(ids) - len(got["tokens"]) - 1:-1]  # row i predicts token i
    for i, t in enumerate(got["tokens"]):
        row = z[i] - z[i].max()
        logp = row - np.log(np.exp(row).sum())
        assert abs(t["logprob"] - logp[t["id"]]) < 1e-5
        assert abs(t["entropy"] + (np.exp(logp) * logp).sum()) < 1e-5
        assert t["rank"] == 1 + int((row > row[t["id"]]).sum() + (row[:t["id"]] == row[t["id"]]).sum())
        # The sampling distribution: T = 0.8, then the smallest prefix reaching 0.8, renormalised.
        x = row / 0.8
        q = np.exp(x - x.max())
        q /= q.sum()
        order = np.lexsort((np.arange(len(q)), -q))
        n = int(np.searchsorted(np.cumsum(q[order]), np.float32(0.8))) + 1
        kept = order[:n]
        assert t["id"] in kept
        assert abs(t["sampling_logprob"] - np.log(q[t["id"]] / q[kept].sum())) < 1e-5
    # The text form shows the same values, one line per token under a header.
    lines = run_cli(server, *args).stdout.splitlines()
    assert lines[0].split("\t")[1:5] == [f"{h:>{w}}" for h, w in
                                          (("logprob", 9), ("sampling", 9), ("rank", 6), ("entropy", 8))]
    assert len(lines) == 1 + len(got["tokens"])
    shown = lambda v: round(float(np.float32(v)), 4)  # printf's %.4f of the float32 value
    for line, t in zip(lines[1:], got["tokens"]):
        fields = line.split("\t")
        assert [float(fields[1]), float(fields[2]), int(fields[3]), float(fields[4])] == [
            shown(t["logprob"]), shown(t["sampling_logprob"]), t["rank"], shown(t["entropy"])]


def test_min_tokens_holds_back_the_end_through_every_front_end(server, client, model):
    # Greedy ends this chat reply early; min_tokens keeps it going in all three.
    q = "Say hi."
    short = model.generate(q, chat=True, temperature=0, max_tokens=64)
    assert short.finish_reason == "stop" and len(short.tokens) < 50
    n = len(short.tokens) + 5
    py = model.generate(q, chat=True, temperature=0, max_tokens=64, min_tokens=n)
    cli = json.loads(run_cli(server, q, "--chat", "--greedy", "--json", "--max-tokens", "64",
                             "--min-tokens", str(n)).stdout)
    served = client.chat.completions.create(model=server.model_id, temperature=0, max_tokens=64,
                                            messages=[{"role": "user", "content": q}], extra_body={"min_tokens": n})
    assert len(py.tokens) >= n
    assert py.text == cli["text"] == served.choices[0].message.content


def valid_value(p):
    """A value inside the parameter's range that is not its default (and within OpenAI's limits)."""
    if p["type"] == "float":
        if p["default"] == 1.0 and p["max"] <= 1.0:
            return 0.5
        return p["default"] + 0.5
    if p["type"] == "int":
        return 3
    if p["type"] == "token ids":
        return [5, 6]
    if p["type"] == "{token id: bias}":
        return {5: 1.5}
    return list(reversed(p["default"]))


def bad_value(p, n_vocab):
    """A value outside the range: below the minimum, or too large for float32 where there is none."""
    if p["type"] == "int":
        return int(p["min"]) - 2  # (the server reads top_k = -1 as off, as vLLM does)
    if p["type"] == "float":
        return p["min"] - 1 if math.isfinite(p["min"]) else 1e39
    if p["type"] == "token ids":
        return [n_vocab]
    if p["type"] == "{token id: bias}":
        return {n_vocab: 1.0}
    return ["temperature", "warmth"]


def test_every_parameter_of_the_table_reaches_every_front_end(server, client, model):
    table = logitkit.sampler_parameters()
    assert {p["name"] for p in table} >= {"temperature", "top_k", "top_p", "min_p", "typical_p", "top_n_sigma",
                                           "min_tokens", "penalty_window", "order", "logit_bias"}
    cli_help = run_cli(server, "--help").stdout
    serve_help = subprocess.run([server.binary, "serve", "--help"], capture_output=True, text=True).stdout
    for p in table:
        name, flag = p["name"], p["flag"]
        assert flag in cli_help, flag
        assert name in serve_help, name
        assert name in logitkit.DecodeHead.decode.__doc__ and name in logitkit.Model.generate.__doc__, name
        good, bad = valid_value(p), bad_value(p, model.n_vocab)
        extra = {"temperature": 0.5} if name == "order" else {}  # any order is valid; make a filter act
        # Taken by each ...
        r = run_cli(server, PROMPT, "--max-tokens", "2", *cli_flag_args({name: good, **extra}))
        assert r.returncode == 0, (name, r.stderr)
        r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=2,
                                      extra_body=server_body({name: good, **extra}))
        assert r.choices[0].finish_reason in ("stop", "length"), name
        model.generate(PROMPT, max_tokens=2, **{name: good, **extra})
        logitkit.decode(np.zeros(model.n_vocab, np.float32), **{name: good})
        # ... and refused by each, naming the parameter, with the table's words
        # (the server's OpenAI limits and logit_bias's key form are its own).
        with pytest.raises(ValueError, match=name) as python_error:
            model.generate(PROMPT, max_tokens=2, **{name: bad})
        words = str(python_error.value)
        with pytest.raises(ValueError) as e:
            logitkit.decode(np.zeros(model.n_vocab, np.float32), **{name: bad})
        assert str(e.value) == words
        r = run_cli(server, PROMPT, "--max-tokens", "2", *cli_flag_args({name: bad}))
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.strip() in ("logitkit generate: " + words,
                                    "logitkit generate: " + words.replace(name, flag, 1)), (r.stderr, words)
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=2,
                                      extra_body=server_body({name: bad}))
        assert e.value.body["param"] == name, (name, e.value.body)
        if name not in PROTOCOL_OWN:
            assert e.value.body["message"] == words
