"""Structured output over HTTP, driven by the official openai client: OpenAI's
response_format (json_object, json_schema), the extension fields clients of
vLLM and llama.cpp send (structured_outputs, guided_*, regex, choice,
grammar), streaming, and a 400 naming the field for each bad constraint.
Outputs are checked with the jsonschema package and Python's re."""
import json
import re

import jsonschema
import pytest

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20},
                   "age": {"type": "integer", "minimum": 0, "maximum": 120},
                   "city": {"type": "string", "enum": ["Paris", "Oslo", "Lima"]}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def chat(client, server, content, **kw):
    kw.setdefault("max_tokens", 120)
    return client.chat.completions.create(model=server.model_id, messages=[{"role": "user", "content": content}],
                                          **kw)


def test_response_format_json_schema_gives_valid_json(server, client):
    for seed in range(3):
        r = chat(client, server, "Describe a person as JSON.", seed=seed, temperature=0.7,
                 response_format={"type": "json_schema",
                                  "json_schema": {"name": "person", "schema": PERSON, "strict": True}})
        c = r.choices[0]
        assert c.finish_reason == "stop", c.message.content
        jsonschema.validate(json.loads(c.message.content), PERSON)


def test_response_format_json_object_and_text(server, client):
    r = chat(client, server, "Give me a JSON object about a cat.", seed=2, max_tokens=200,
             response_format={"type": "json_object"})
    text = r.choices[0].message.content
    assert text.startswith("{")
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)
    # "text" constrains nothing: the same seed gives what no response_format gives.
    a = chat(client, server, "Say hi.", seed=5, max_tokens=12, response_format={"type": "text"})
    b = chat(client, server, "Say hi.", seed=5, max_tokens=12)
    assert a.choices[0].message.content == b.choices[0].message.content


@pytest.mark.parametrize("extra, check", [
    ({"regex": "[A-Z]{3}-[0-9]{3}"}, lambda t: re.fullmatch("[A-Z]{3}-[0-9]{3}", t)),
    ({"guided_regex": "(yes|no)!"}, lambda t: t in ("yes!", "no!")),
    ({"choice": ["red", "green", "blue"]}, lambda t: t in ("red", "green", "blue")),
    ({"guided_choice": ["up", "down"]}, lambda t: t in ("up", "down")),
    ({"structured_outputs": {"choice": ["alpha", "beta"]}}, lambda t: t in ("alpha", "beta")),
    ({"structured_outputs": {"regex": "[0-9]{4}"}}, lambda t: re.fullmatch("[0-9]{4}", t)),
    ({"grammar": 'root ::= "The answer is " [0-9] "."'}, lambda t: re.fullmatch(r"The answer is [0-9]\.", t)),
    ({"guided_grammar": 'root ::= ("a" | "b") ("a" | "b")? "!"'}, lambda t: re.fullmatch(r"[ab]{1,2}!", t)),
    ({"guided_json": PERSON}, lambda t: jsonschema.validate(json.loads(t), PERSON) is None),
    ({"json_schema": PERSON}, lambda t: jsonschema.validate(json.loads(t), PERSON) is None),
])
def test_extension_fields_on_both_endpoints(server, client, extra, check):
    for seed in range(2):
        r = client.completions.create(model=server.model_id, prompt="Answer:", max_tokens=60, seed=seed,
                                      extra_body=extra)
        assert r.choices[0].finish_reason == "stop", r.choices[0].text
        assert check(r.choices[0].text), r.choices[0].text
        r = chat(client, server, "Answer.", seed=seed, max_tokens=60, extra_body=extra)
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        assert check(r.choices[0].message.content), r.choices[0].message.content


def test_streaming_gives_the_same_constrained_text(server, client):
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}}
    full = chat(client, server, "A person as JSON.", seed=9, temperature=0.8, response_format=fmt)
    stream = chat(client, server, "A person as JSON.", seed=9, temperature=0.8, response_format=fmt, stream=True)
    text, finish = "", None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == full.choices[0].message.content and finish == "stop"
    jsonschema.validate(json.loads(text), PERSON)
    # Completions stream with a regex.
    parts = client.completions.create(model=server.model_id, prompt="Code:", max_tokens=20, seed=1, stream=True,
                                      extra_body={"regex": "[a-z]{2}[0-9]{2}"})
    text = "".join(c.choices[0].text for c in parts if c.choices)
    assert re.fullmatch("[a-z]{2}[0-9]{2}", text), text


def test_logprobs_under_a_constraint_are_the_masked_distributions(server, client):
    r = client.completions.create(model=server.model_id, prompt="Pick:", max_tokens=5, seed=0, logprobs=3,
                                  extra_body={"choice": ["left", "right"], "logprobs_mode": "processed_logprobs"})
    lp = r.choices[0].logprobs
    assert r.choices[0].text in ("left", "right")
    assert all(v <= 0 for v in lp.token_logprobs)


@pytest.mark.parametrize("body, param, words", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}}}},
     "response_format", "keyword 'uniqueItems' at /properties/tags is not supported"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
     "response_format", "response_format.json_schema.schema is required"),
    ({"response_format": {"type": "yaml"}}, "response_format", "is not one of \"text\", \"json_object\""),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "strin"}}}},
     "response_format", "json_schema: "),
    ({"grammar": "root ::= \"a\" |"}, "grammar", "EBNF parser error at line 1"),
    ({"regex": "a(?=b)"}, "regex", "Lookahead is not supported"),
    ({"regex": "[^\\s\\S]"}, "regex", "no token of the vocabulary can start a matching text"),
    ({"choice": []}, "choice", "choice: the list is empty"),
    ({"choice": ["a", 3]}, "choice", "choice[1] must be a string"),
    ({"guided_json": "{\"type\": "}, "guided_json", "json_schema is not valid JSON: byte"),
    ({"regex": "a", "choice": ["a"]}, "choice", "regex and choice both constrain the output"),
    ({"response_format": {"type": "json_object"}, "grammar": "root ::= \"a\""}, "grammar",
     "response_format and grammar both constrain the output"),
    ({"structured_outputs": {"regex": 5}}, "structured_outputs.regex", "must be a string"),
])
def test_bad_constraints_are_400s_naming_the_field(server, body, param, words):
    for path, base in (("/v1/completions", {"prompt": "x"}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]})):
        status, err = server.post(path, {"model": server.model_id, "max_tokens": 4, **base, **body})
        assert status == 400, err
        assert words in err["error"]["message"], err
        assert err["error"]["param"] == param
