"""`logitkit serve` driven by the official `openai` client: completions,
chat, streaming, logprobs (against the numpy reference forward pass),
logprobs_mode, seeds, n, stop, logit_bias, and the CLI's `generate` as a
second reference for seeded sampling."""
import json
import math
import subprocess

import numpy as np
import pytest

PROMPT = "The capital of France is"


def generate_cli(server, *args):
    out = subprocess.run([server.binary, "generate", "--model", server.model, "--json", *args],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def token_ids(server, text, *flags):
    out = subprocess.run([server.binary, "tokenize", "--vocab", server.model, "--json", *flags, text],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["ids"]


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def reference_model(model_path):
    import reference
    return reference.load(model_path)


def test_models_lists_the_served_model(server, client):
    ids = [m.id for m in client.models.list().data]
    assert ids == [server.model_id]
    m = client.models.retrieve(server.model_id)
    assert m.id == server.model_id and m.object == "model" and m.model_extra["max_model_len"] == 8192


def test_the_model_may_be_left_out(server, client):
    # One model is served: a body without "model" (as lm-eval's gguf backend sends) gets it.
    import urllib.request
    body = json.dumps({"prompt": PROMPT, "max_tokens": 4, "temperature": 0}).encode()
    req = urllib.request.Request(server.url + "/v1/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        got = json.loads(r.read())
    want = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=4, temperature=0)
    assert got["model"] == server.model_id and got["choices"][0]["text"] == want.choices[0].text


def test_greedy_completion_is_paris_and_equals_the_cli(server, client):
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=12, temperature=0)
    cli = generate_cli(server, PROMPT, "--greedy", "--max-tokens", "12")
    assert r.choices[0].text.startswith(" Paris")
    assert r.choices[0].text == cli["text"]
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 12 and r.usage.total_tokens == 17


def test_seeded_sampling_equals_the_cli(server, client):
    # Same seed, same chain: the server's draws are keyed like `generate`'s.
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=24, temperature=0.9,
                                  top_p=0.95, seed=1234, extra_body={"top_k": 40}, logprobs=3)
    cli = generate_cli(server, PROMPT, "--temperature", "0.9", "--top-p", "0.95", "--top-k", "40",
                       "--seed", "1234", "--max-tokens", "24", "--logprobs", "3")
    assert r.choices[0].text == cli["text"]
    lp = r.choices[0].logprobs
    assert len(lp.token_logprobs) == len(cli["tokens"])
    for got, want in zip(lp.token_logprobs, cli["tokens"]):
        assert got == pytest.approx(want["logprob"], abs=1e-6)


def test_logprobs_match_the_numpy_reference(server, client, reference_model):
    import reference
    ids = token_ids(server, PROMPT)
    r = client.completions.create(model=server.model_id, prompt=ids, max_tokens=1, temperature=0,
                                  logprobs=5, echo=True)
    lp = r.choices[0].logprobs
    want = log_softmax(reference.logits(reference_model, ids))  # row t predicts ids[t + 1]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert len(lp.token_logprobs) == len(ids) + 1
    for t in range(1, len(ids)):
        assert abs(lp.token_logprobs[t] - want[t - 1, ids[t]]) <= 2e-3, t
    # The generated token: the reference's argmax, with its logprob and top 5.
    last = want[-1]
    assert lp.tokens[-1] == " Paris"
    assert abs(lp.token_logprobs[-1] - last.max()) <= 2e-3
    top = sorted(lp.top_logprobs[-1].values(), reverse=True)
    assert np.allclose(top, np.sort(last)[::-1][:5], atol=2e-3)
    assert r.choices[0].text.startswith(PROMPT) and r.choices[0].text.endswith(" Paris")


def test_echo_with_max_tokens_0_scores_the_prompt(server, client, reference_model):
    import reference
    ids = token_ids(server, PROMPT)
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=0, echo=True, logprobs=1)
    c = r.choices[0]
    assert c.text == PROMPT and c.finish_reason == "length" and r.usage.completion_tokens == 0
    want = log_softmax(reference.logits(reference_model, ids))
    got = c.logprobs.token_logprobs
    assert got[0] is None and len(got) == len(ids)
    assert max(abs(got[t] - want[t - 1, ids[t]]) for t in range(1, len(ids))) <= 2e-3


def test_logprobs_modes(server, client, reference_model):
    import reference
    ids = token_ids(server, PROMPT)
    raw = log_softmax(reference.logits(reference_model, ids))[-1]
    logits = reference.logits(reference_model, ids)[-1]
    common = dict(model=server.model_id, prompt=PROMPT, max_tokens=1, temperature=0.5, seed=3, logprobs=5,
                  top_p=1.0)
    r = {mode: client.completions.create(**common, extra_body={"top_k": 3, "logprobs_mode": mode}).choices[0]
         for mode in ("raw_logprobs", "processed_logprobs", "raw_logits", "processed_logits")}
    tokens = {m: c.logprobs.tokens[0] for m, c in r.items()}
    assert len(set(tokens.values())) == 1  # the same seeded draw in every mode
    raw_top = r["raw_logprobs"].logprobs.top_logprobs[0]
    assert np.allclose(sorted(raw_top.values(), reverse=True), np.sort(raw)[::-1][:5], atol=2e-3)
    # Raw logits: the reference's logits.
    raw_logits_top = sorted(r["raw_logits"].logprobs.top_logprobs[0].values(), reverse=True)
    assert np.allclose(raw_logits_top, np.sort(logits)[::-1][:5], atol=2e-2)
    # Processed: top-3 at T = 0.5, renormalised; the alternatives come from
    # that final distribution, so only its 3 tokens are listed.
    proc = sorted(r["processed_logprobs"].logprobs.top_logprobs[0].values(), reverse=True)
    assert len(proc) == 3
    kept = np.sort(logits)[::-1][:3] / 0.5
    assert np.allclose(proc[:3], kept - np.log(np.exp(kept - kept.max()).sum()) - kept.max(), atol=2e-3)
    proc_logits = sorted(r["processed_logits"].logprobs.top_logprobs[0].values(), reverse=True)
    assert len(proc_logits) == 3 and np.allclose(proc_logits, kept, atol=4e-2)


def test_chat_with_logprobs(server, client):
    r = client.chat.completions.create(model=server.model_id, max_tokens=24, temperature=0, logprobs=True,
                                       top_logprobs=3,
                                       messages=[{"role": "system", "content": "You answer in one word."},
                                                 {"role": "user", "content": "What is the capital of France?"}])
    c = r.choices[0]
    assert c.message.role == "assistant" and "Paris" in c.message.content
    assert c.finish_reason in ("stop", "length")
    content = c.logprobs.content
    assert "".join(t.token for t in content).startswith(c.message.content)
    for t in content:
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token
        assert len(t.top_logprobs) == 3
        values = [a.logprob for a in t.top_logprobs]
        assert values == sorted(values, reverse=True) and t.logprob == values[0]  # greedy: the top token
        assert sum(math.exp(v) for v in values) <= 1 + 1e-5


def test_chat_equals_the_cli_chat_format(server, client):
    q = "Name a color."
    r = client.chat.completions.create(model=server.model_id, max_tokens=16, temperature=0,
                                       messages=[{"role": "user", "content": q}])
    cli = generate_cli(server, q, "--chat", "--greedy", "--max-tokens", "16")
    assert r.choices[0].message.content == cli["text"]


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_streaming_equals_the_full_response(server, client, endpoint):
    args = dict(model=server.model_id, max_tokens=20, temperature=0.8, seed=99)
    if endpoint == "completions":
        full = client.completions.create(prompt=PROMPT, logprobs=2, **args)
        chunks = list(client.completions.create(prompt=PROMPT, logprobs=2, stream=True,
                                                stream_options={"include_usage": True}, **args))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        assert text == full.choices[0].text
        streamed = [v for c in chunks if c.choices and c.choices[0].logprobs for v in c.choices[0].logprobs.token_logprobs]
        assert streamed == full.choices[0].logprobs.token_logprobs
        offsets = [v for c in chunks if c.choices and c.choices[0].logprobs for v in c.choices[0].logprobs.text_offset]
        assert offsets == full.choices[0].logprobs.text_offset
    else:
        msgs = [{"role": "user", "content": "Tell me about Paris."}]
        full = client.chat.completions.create(messages=msgs, **args)
        chunks = list(client.chat.completions.create(messages=msgs, stream=True,
                                                     stream_options={"include_usage": True}, **args))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == full.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [full.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert all(c.id == chunks[0].id for c in chunks)


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_chunks_carry_usage_null_when_usage_is_asked_for(server, include_usage):
    # OpenAI: with include_usage every chunk has "usage": null but the last, which has the counts.
    import urllib.request
    # (ignore_eos: with the default temperature 1 and no seed, an end token
    # could come before the third.)
    body = json.dumps({"model": server.model_id, "prompt": PROMPT, "max_tokens": 3, "stream": True,
                       "ignore_eos": True, "stream_options": {"include_usage": include_usage}}).encode()
    req = urllib.request.Request(server.url + "/v1/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        events = [line[6:] for line in r.read().decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    if include_usage:
        assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    else:
        assert all("usage" not in c for c in chunks)


def test_a_list_of_prompts_gives_each_its_choices(server, client):
    # OpenAI numbers prompt p's choice c as p * n + c; each equals a request for that prompt alone.
    prompts = [PROMPT, "Once upon a time", token_ids(server, "1, 2, 3,")]
    args = dict(model=server.model_id, max_tokens=6, temperature=0.9, seed=31, n=2, logprobs=1)
    r = client.completions.create(prompt=prompts, **args)
    assert sorted(c.index for c in r.choices) == list(range(6))
    alone_tokens = 0
    for p, prompt in enumerate(prompts):
        alone = client.completions.create(prompt=prompt, **args)
        alone_tokens += alone.usage.prompt_tokens
        for c in alone.choices:
            got = next(x for x in r.choices if x.index == p * 2 + c.index)
            assert got.text == c.text and got.logprobs.token_logprobs == c.logprobs.token_logprobs
    assert r.usage.prompt_tokens == alone_tokens  # each prompt counted once
    ids = client.completions.create(prompt=[token_ids(server, PROMPT), token_ids(server, "Once upon a time")],
                                    **dict(args, n=1))
    assert [c.text for c in sorted(ids.choices, key=lambda c: c.index)] == \
        [next(x for x in r.choices if x.index == i).text for i in (0, 2)]
    # Streamed, echoed: each choice starts with its own prompt.
    chunks = list(client.completions.create(prompt=prompts[:2], stream=True, echo=True, **dict(args, n=1)))
    texts = {}
    for ch in chunks:
        for c in ch.choices:
            texts[c.index] = texts.get(c.index, "") + c.text
    assert texts[0].startswith(PROMPT) and texts[1].startswith("Once upon a time")


def test_special_tokens_in_completion_prompts_are_parsed_by_default(server, client):
    text = "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n"
    special = token_ids(server, text, "--special")
    plain = token_ids(server, text)
    assert len(special) < len(plain)
    r = client.completions.create(model=server.model_id, prompt=text, max_tokens=1, temperature=0)
    assert r.usage.prompt_tokens == len(special)
    r = client.completions.create(model=server.model_id, prompt=text, max_tokens=1, temperature=0,
                                  extra_body={"parse_special": False})
    assert r.usage.prompt_tokens == len(plain)
    # `logitkit score --special` scores the same tokens as the server's echo.
    echo = client.completions.create(model=server.model_id, prompt=text, max_tokens=0, echo=True, logprobs=0)
    out = subprocess.run([server.binary, "score", "--model", server.model, "--special", "--json", text],
                         capture_output=True, text=True, check=True).stdout
    scored = [t["logprob"] for t in json.loads(out)["tokens"]]
    served = echo.choices[0].logprobs.token_logprobs[1:]
    assert len(scored) == len(served)
    for a, b in zip(scored, served):
        assert abs(a - b) <= 1e-6


def test_seeds_repeat_and_differ(server, client):
    args = dict(model=server.model_id, prompt="Once upon a time", max_tokens=24, temperature=1.0)
    a = client.completions.create(seed=7, **args).choices[0].text
    b = client.completions.create(seed=7, **args).choices[0].text
    others = {client.completions.create(seed=s, **args).choices[0].text for s in (8, 9, 10)}
    assert a == b
    assert len(others | {a}) >= 3  # 24 tokens at T = 1: distinct seeds give distinct texts


def test_n_choices_are_seeded_streams(server, client):
    args = dict(model=server.model_id, prompt="Once upon a time", max_tokens=16, temperature=1.0, seed=5)
    r = client.completions.create(n=3, **args)
    assert [c.index for c in r.choices] == [0, 1, 2]
    again = client.completions.create(n=3, **args)
    assert [c.text for c in r.choices] == [c.text for c in again.choices]
    assert len({c.text for c in r.choices}) == 3
    # Choice 0 is the request with n = 1.
    assert r.choices[0].text == client.completions.create(n=1, **args).choices[0].text
    assert r.usage.completion_tokens == 48


def test_stop_strings(server, client):
    full = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=16, temperature=0).choices[0]
    assert "." in full.text
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=16, temperature=0,
                                  stop=["."]).choices[0]
    assert r.text == full.text[:full.text.index(".")]
    assert r.finish_reason == "stop"


def test_logit_bias_bans_and_forces(server, client):
    paris = token_ids(server, " Paris")
    assert len(paris) == 1
    banned = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=1, temperature=0,
                                       logit_bias={str(paris[0]): -100}).choices[0].text
    assert banned != " Paris"
    london = token_ids(server, " London")
    forced = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=3, temperature=0,
                                       logit_bias={str(london[0]): 100}).choices[0].text
    assert forced == " London London London"


def test_bias_and_penalties_in_processed_logits(server, client):
    # Greedy with " one" forced by a bias of +100: the processed logit of the
    # token is its raw logit + 100 - presence - frequency x (times in the text).
    prompt = "one one one one one one"
    one = token_ids(server, " one")[0]
    count = token_ids(server, prompt).count(one)
    assert count == 5

    def value(mode, **kw):
        r = client.completions.create(model=server.model_id, prompt=prompt, max_tokens=1, temperature=0,
                                      logprobs=0, logit_bias={str(one): 100},
                                      extra_body={"logprobs_mode": mode}, **kw).choices[0].logprobs
        assert r.tokens == [" one"]
        return r.token_logprobs[0]

    raw = value("raw_logits")
    assert value("processed_logits") - raw == pytest.approx(100, abs=1e-4)
    got = value("processed_logits", presence_penalty=2.0, frequency_penalty=1.0) - raw
    assert got == pytest.approx(100 - 2.0 - 1.0 * count, abs=1e-4)


def test_the_tokenizer_over_http(server):
    text = "<|im_start|>user\nThe capital of France is"
    status, r = server.post("/tokenize", {"prompt": text, "return_token_strs": True})  # vLLM's shape
    assert status == 200 and r["tokens"] == token_ids(server, text, "--special")
    assert r["count"] == len(r["tokens"]) and r["max_model_len"] == 8192 and r["token_strs"][0] == "<|im_start|>"
    status, plain = server.post("/tokenize", {"prompt": text, "parse_special": False})
    assert plain["tokens"] == token_ids(server, text)
    # The end-of-text marker is one token (lm-eval's rolling loglikelihoods start with it).
    status, eot = server.post("/tokenize", {"prompt": "<|endoftext|>"})
    assert eot["tokens"] == [0]
    status, r2 = server.post("/tokenize", {"content": text, "with_pieces": True})  # llama.cpp's shape
    assert [t["id"] for t in r2["tokens"]] == r["tokens"] and r2["tokens"][0]["piece"] == "<|im_start|>"
    status, back = server.post("/detokenize", {"tokens": r["tokens"]})
    assert status == 200 and back["prompt"] == back["content"] == text
    status, chat = server.post("/tokenize", {"messages": [{"role": "user", "content": "Hi"}]})
    assert status == 200 and chat["tokens"][-10:-6] == token_ids(server, "<|im_start|>user\nHi", "--special")
    status, err = server.post("/detokenize", {"tokens": [1, 49152]})
    assert status == 400 and "tokens[1] = 49152 is not a token id" in err["error"]["message"]
    status, err = server.post("/tokenize", {})
    assert status == 400 and err["error"]["param"] == "prompt"


def test_text_offset_counts_characters_and_text_offset_bytes_bytes(server, client):
    # As lm-eval reads it: the text from text_offset[i] on starts with token i (characters, as in
    # vLLM); text_offset_bytes does the same in the UTF-8 bytes.
    prompt = "Café au lait, naïve señor: Grüße aus Köln"
    r = client.completions.create(model=server.model_id, prompt=prompt, echo=True, logprobs=1, max_tokens=8,
                                  temperature=0, extra_body={"parse_special": False})
    lp = r.choices[0].logprobs
    text = r.choices[0].text
    raw = lp.model_extra["text_offset_bytes"]
    assert len(lp.text_offset) == len(raw) == len(lp.tokens) and lp.text_offset != raw  # non-ASCII: they differ
    checked = 0
    for token, chars, nbytes in zip(lp.tokens, lp.text_offset, raw):
        if "\ufffd" in token:
            continue  # part of a character
        assert text[chars:].startswith(token) and text.encode()[nbytes:].startswith(token.encode())
        checked += 1
    assert checked >= len(lp.tokens) - 2


def test_logprobs_0_still_shows_the_chosen_token(server, client):
    # OpenAI: up to logprobs + 1 entries, the chosen token always among them.
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=6, temperature=1.0, seed=4,
                                  logprobs=0)
    lp = r.choices[0].logprobs
    for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert top == {token: value}
    r = client.completions.create(model=server.model_id, prompt=PROMPT, max_tokens=6, temperature=1.5, seed=4,
                                  logprobs=1)
    lp = r.choices[0].logprobs
    for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert top[token] == value and 1 <= len(top) <= 2
