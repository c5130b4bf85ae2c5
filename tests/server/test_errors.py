"""Bad requests get an OpenAI error object naming the field, and the server
keeps serving: malformed JSON, wrong types, values out of range, token ids
beyond the vocabulary, limits, an oversized body, a client gone mid-stream."""
import json
import socket
import time
import urllib.error
import urllib.request

import openai
import pytest


def health(server):
    with urllib.request.urlopen(server.url + "/health", timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("body, param, words", [
    (b'{"model": "m", "prompt": ', None, "not valid JSON"),
    (b'[1, 2]', None, "must be a JSON object"),
    (b'{"model": "m", "prompt": "\xff\xfe"}', None, "the body is not UTF-8 (byte 26 is 0xFF)"),
    (b'{"model": "m", "prompt": "\xc0\xaf"}', None, "the body is not UTF-8 (byte 26 is 0xC0)"),  # overlong
    (b'{"model": "m", "prompt": "\xed\xa0\x80"}', None, "the body is not UTF-8 (byte 26 is 0xED)"),  # surrogate
    (b'{"model": "m", "prompt": "x", "stop": ' + b"[" * 30000 + b"]" * 30000 + b"}", None,
     "nests arrays and objects 30001 deep; at most 32"),
    (b'{"model": "m", "prompt": "x", "temperature": 1e999}', None, "cannot read"),
])
def test_malformed_bodies(server, body, param, words):
    status, err = server.post("/v1/completions", body)
    assert status == 400
    assert words in err["error"]["message"] and err["error"]["param"] == param
    assert err["error"]["type"] == "invalid_request_error"


def bad(server, client, words, param, endpoint="completions", **kw):
    args = dict(model=server.model_id, max_tokens=4)
    if endpoint == "completions":
        args["prompt"] = "Hello"
        call = client.completions.create
    else:
        args["messages"] = [{"role": "user", "content": "Hello"}]
        call = client.chat.completions.create
    args.update(kw)
    with pytest.raises(openai.BadRequestError) as e:
        call(**args)
    body = e.value.body
    assert words in body["message"], body
    assert body["param"] == param, body


def test_wrong_types(server, client):
    bad(server, client, "temperature must be a number, not a string", "temperature", temperature="hot")
    bad(server, client, "max_tokens must be an integer", "max_tokens", max_tokens=2.5)
    bad(server, client, "stream must be a boolean", "stream", extra_body={"stream": "yes"})
    bad(server, client, "prompt must be a string, token ids, or a list of either", "prompt", prompt={"a": 1})
    bad(server, client, "prompt is an empty list", "prompt", prompt=[])
    bad(server, client, "prompt[1] must be a string or a non-empty list of token ids, not an empty list", "prompt",
        prompt=["a", []])
    bad(server, client, "prompt[1][0] = 60000 is not a token id in [0, 49152)", "prompt", prompt=[[1], [60000]])
    bad(server, client, "3 prompts x n = 6 need 18 sequences; at most 16 run at once", "n", prompt=["a", "b", "c"],
        n=6)
    bad(server, client, "messages[0] must be an object with a string role", "messages[0]", endpoint="chat",
        messages=["hi"])
    bad(server, client, "messages[0].content[0] must be", "messages[0].content[0]", endpoint="chat",
        messages=[{"role": "user", "content": [{"type": 5, "text": "hi"}]}])


def test_out_of_range(server, client):
    bad(server, client, "temperature = 3 is outside [0, 2]", "temperature", temperature=3)
    bad(server, client, "top_p = 0 is outside (0, 1]", "top_p", top_p=0)
    bad(server, client, "n = 0 is outside [1, 16]", "n", n=0)
    bad(server, client, "n = 17 is outside [1, 16]", "n", n=17)
    bad(server, client, "presence_penalty = -3 is outside [-2, 2]", "presence_penalty", presence_penalty=-3)
    bad(server, client, "logprobs = 21 is outside [0, 20]", "logprobs", logprobs=21)
    bad(server, client, "top_logprobs = 21 is outside [0, 20]", "top_logprobs", endpoint="chat", logprobs=True,
        top_logprobs=21)
    bad(server, client, "min_p = 1.5 is outside [0, 1]", "min_p", extra_body={"min_p": 1.5})
    bad(server, client, "logprobs_mode = 'odd'", "logprobs_mode", extra_body={"logprobs_mode": "odd"})
    bad(server, client, "stop has 5 strings; at most 4", "stop", stop=["a", "b", "c", "d", "e"])
    bad(server, client, "role = 'robot' is not system, developer, user or assistant", "messages[0]",
        endpoint="chat", messages=[{"role": "robot", "content": "hi"}])
    bad(server, client, "role = 'tool': tool messages are not supported", "messages[0]",
        endpoint="chat", messages=[{"role": "tool", "content": "42"}])


def test_token_ids_beyond_the_vocabulary(server, client):
    bad(server, client, "logit_bias key '49152' is not a token id in [0, 49152)", "logit_bias",
        logit_bias={"49152": 5})
    bad(server, client, "logit_bias key 'x' is not a token id", "logit_bias", logit_bias={"x": 5})
    bad(server, client, "logit_bias key '+5' is not a token id", "logit_bias", logit_bias={"+5": 5})
    bad(server, client, "logit_bias['3'] = 200 is not a number in [-100, 100]", "logit_bias", logit_bias={"3": 200})
    bad(server, client, "prompt[1] = 60000 is not a token id in [0, 49152)", "prompt", prompt=[1, 60000])


def test_max_tokens_beyond_the_context(server, client):
    bad(server, client, "max_tokens = 9000: the prompt's 1 tokens + 9000 exceed the context of 8192 tokens",
        "max_tokens", max_tokens=9000)


def test_unknown_model_and_route(server, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gpt-4", prompt="x", max_tokens=1)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("gpt-4")
    assert e.value.body["code"] == "model_not_found"
    status, err = server.post("/v1/embeddings", b"{}")
    assert status == 404 and "no route POST /v1/embeddings" in err["error"]["message"]


def test_a_json_body_is_read_whatever_the_content_type(server):
    # 9 KB, beyond httplib's 8 KB limit for form-encoded bodies, under --max-body (an unknown
    # field, which is ignored, carries the bytes).
    body = json.dumps({"model": server.model_id, "prompt": "Hi", "max_tokens": 1, "padding": "a" * 9000}).encode()
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/octet-stream"):
        req = urllib.request.Request(server.url + "/v1/completions", data=body, method="POST",
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=120) as r:
            assert r.status == 200 and json.loads(r.read())["usage"]["completion_tokens"] == 1, content_type


def test_body_over_the_limit(server):
    body = json.dumps({"model": server.model_id, "prompt": "x" * 70000}).encode()
    status, err = server.post("/v1/completions", body)
    assert status == 413 and "larger than the limit of 65536 bytes" in err["error"]["message"]


def test_a_head_error_is_an_error_object(server, client):
    # Banning every... is impractical; a bias of -100 on all tokens is capped at
    # 1024 entries, so use the head's own check: top_k with n beyond? Use a
    # temperature that overflows: logits / 1e-40 is inf in float.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=server.model_id, prompt="Hi", max_tokens=2, temperature=1e-40)
    assert "temperature" in e.value.body["message"]


def test_disconnect_mid_stream_frees_the_slot(server, client):
    body = json.dumps({"model": server.model_id, "prompt": "Once upon a time", "max_tokens": 4000,
                       "stream": True, "ignore_eos": True}).encode()
    s = socket.create_connection((server.host, server.port))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    received = b""
    while received.count(b"data: ") < 3:
        more = s.recv(4096)
        assert more, "the server closed the stream: " + received.decode(errors="replace")
        received += more
    assert health(server)["active_sequences"] >= 1
    s.close()
    deadline = time.time() + 20
    while health(server)["active_sequences"] != 0:
        assert time.time() < deadline, "the disconnected stream still holds its sequence"
        time.sleep(0.1)
    r = client.completions.create(model=server.model_id, prompt="Hello", max_tokens=2)
    assert r.choices[0].finish_reason in ("length", "stop")


def test_disconnect_before_a_full_response_frees_the_slot(server, client):
    body = json.dumps({"model": server.model_id, "prompt": "Once upon a time", "max_tokens": 4000,
                       "ignore_eos": True}).encode()
    s = socket.create_connection((server.host, server.port))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    deadline = time.time() + 20
    while health(server)["active_sequences"] == 0:
        assert time.time() < deadline
        time.sleep(0.05)
    s.close()
    deadline = time.time() + 20
    while health(server)["active_sequences"] != 0:
        assert time.time() < deadline, "the client that left still holds its sequence"
        time.sleep(0.1)


def test_harmless_nulls_are_accepted(server, client):
    r = client.completions.create(model=server.model_id, prompt="Hi", max_tokens=2, temperature=0,
                                  extra_body={"stream_options": {"include_usage": None}, "top_k": None})
    assert r.usage.completion_tokens == 2
