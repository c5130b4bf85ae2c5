"""EleutherAI's lm-evaluation-harness (0.4.13, the wheel scripts/fetch-lm-eval
pins) against `logitkit serve`, through lm-eval's own client classes:
LocalCompletionsAPI and LocalChatCompletion, given only base_url and model,
as `lm_eval --model local-completions --model_args base_url=...,model=...`
builds them. The tokenizer comes from the server (/tokenizer_info,
/tokenize), never the Hugging Face Hub. The loglikelihoods of a
multiple-choice set and the rolling loglikelihoods of a few texts equal
`logitkit score --special` within 1e-5 (the requests are lm-eval's own:
token-id prompts, echo, logprobs). The whole harness on local task files is
tests/clients/lm-eval (a 1 GB environment, not run by CI)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WHEEL = os.path.join(os.environ.get("LOGITKIT_CACHE", os.path.expanduser("~/.cache/logitkit")),
                     "lm_eval-0.4.13-py3-none-any.whl")
sys.path.insert(0, os.path.join(ROOT, "tests", "tokenizer"))


@pytest.fixture(scope="module")
def lm_eval_models():
    if not os.path.exists(WHEEL):
        message = f"no {WHEEL} (scripts/fetch-lm-eval)"
        if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    sys.path.insert(0, WHEEL)
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI
    return Instance, JsonChatStr, LocalCompletionsAPI, LocalChatCompletion


def score(server, text):
    """logitkit score --special: (token ids, per-token logprobs and ranks for tokens 1..)."""
    out = subprocess.run([server.binary, "score", "--model", server.model, "--json", "--special", "--threads", "1",
                          text], capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    return [d["first_id"]] + [t["id"] for t in d["tokens"]], d["tokens"]


def token_ids(server, text):
    out = subprocess.run([server.binary, "tokenize", "--vocab", server.model, "--json", "--special", text],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["ids"]


def test_lm_eval_takes_the_tokenizer_from_the_server(server, lm_eval_models):
    _, _, LocalCompletionsAPI, _ = lm_eval_models
    import hf_chat
    lm = LocalCompletionsAPI(base_url=server.url + "/v1/completions", model=server.model_id)
    assert lm.tokenizer_backend == "remote" and type(lm.tokenizer).__name__ == "RemoteTokenizer"
    assert lm.tokenizer.eos_token_id == token_ids(server, lm.tokenizer.eos_token)[0]
    assert lm.tokenizer.bos_token_id == token_ids(server, lm.tokenizer.bos_token)[0]
    assert lm.tokenizer.tokenizer_info["chat_template"] == hf_chat.gguf_chat_template(server.model)
    text = "Hello <|im_end|> world"
    assert lm.tok_encode(text) == token_ids(server, text)
    assert lm.tokenizer.decode(lm.tok_encode(text)) == text


QUESTIONS = [
    ("Question: What is the capital of France?\nAnswer:", [" Paris", " London", " Berlin", " Madrid"]),
    ("The opposite of hot is", [" cold", " warm", " blue"]),
    ("2 + 2 =", [" 4", " 5", " 22"]),
]


def test_loglikelihoods_equal_logitkit_score(server, lm_eval_models):
    Instance, _, LocalCompletionsAPI, _ = lm_eval_models
    lm = LocalCompletionsAPI(base_url=server.url + "/v1/completions", model=server.model_id)
    requests = [Instance(request_type="loglikelihood", doc={}, arguments=(context, choice), idx=i)
                for i, (context, choice) in enumerate((c, x) for c, xs in QUESTIONS for x in xs)]
    results = lm.loglikelihood(requests)
    assert len(results) == len(requests)
    for request, (ll, greedy) in zip(requests, results):
        context, choice = request.arguments
        n_context = len(token_ids(server, context))
        ids, tokens = score(server, context + choice)
        # lm-eval encodes context and continuation apart; the comparison holds where that is the whole text's.
        assert ids == token_ids(server, context) + token_ids(server, choice)
        continuation = tokens[n_context - 1:]
        want = sum(t["logprob"] for t in continuation)
        assert ll == pytest.approx(want, abs=1e-5 * max(1.0, abs(want))), (context, choice)
        assert greedy == all(t["rank"] == 1 for t in continuation)
    # The answers lm-eval would pick are the model's: Paris first.
    assert max(range(4), key=lambda i: results[i][0]) == 0


TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "Ünïcödé, 日本語 and an emoji 🙂 are text too.",
]


def test_rolling_loglikelihoods_equal_logitkit_score(server, lm_eval_models):
    Instance, _, LocalCompletionsAPI, _ = lm_eval_models
    lm = LocalCompletionsAPI(base_url=server.url + "/v1/completions", model=server.model_id)
    requests = [Instance(request_type="loglikelihood_rolling", doc={}, arguments=(t,), idx=i)
                for i, t in enumerate(TEXTS)]
    results = lm.loglikelihood_rolling(requests)
    # lm-eval puts the prefix token (the remote tokenizer's BOS text) before the text.
    prefix = lm.tokenizer.bos_token
    for text, got in zip(TEXTS, results):
        ids, tokens = score(server, prefix + text)
        assert ids[0] == lm.prefix_token_id
        want = sum(t["logprob"] for t in tokens)
        assert got == pytest.approx(want, abs=1e-5 * max(1.0, abs(want))), text


def test_chat_completions_with_the_chat_template(server, client, lm_eval_models):
    # --apply_chat_template: lm-eval sends the messages; the server renders the model's template.
    Instance, JsonChatStr, _, LocalChatCompletion = lm_eval_models
    lm = LocalChatCompletion(base_url=server.url + "/v1/chat/completions", model=server.model_id)
    messages = [{"role": "user", "content": "Name a primary color."}]
    request = Instance(request_type="generate_until", doc={}, idx=0,
                       arguments=(JsonChatStr(json.dumps(messages)), {"until": ["\n\n"], "max_gen_toks": 16}))
    got = lm.generate_until([request])
    want = client.chat.completions.create(model=server.model_id, messages=messages, max_tokens=16, temperature=0,
                                          seed=1234, stop=["\n\n"]).choices[0].message.content
    assert got == [want] and want
