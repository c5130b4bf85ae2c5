"""POST /next_token (the explorer's next-token view) is `logitkit top --json`
over HTTP, and Python's Model.next_token: the same rows, probabilities, kept
sets and masses, bit for bit, for text, token-id and chat prompts; bad fields
are 400s naming the field."""
import json
import math
import subprocess

import pytest

import logitkit

PROMPT = "The capital of France is"


def top_json(server, *args):
    run = subprocess.run([server.binary, "top", "--model", server.model, "--json", *args],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def assert_same(view, cli, c):
    """The server's view against column c of `top --json`."""
    col = cli["columns"][c]
    assert view["temperature"] == col["temperature"]
    for key in ("entropy", "n_kept", "kept_mass", "kept_entropy"):
        assert view[key] == col[key], key
    assert len(view["top"]) == len(cli["top"])
    for got, want in zip(view["top"], cli["top"]):
        assert (got["rank"], got["id"], got["token"], got["logit"], got["logprob"]) == (
            want["rank"], want["id"], want["token"], want["logit"], want["logprob"])
        assert got["p"] == want["p"][c] and got["cumulative_p"] == want["cumulative_p"][c]
        assert got["kept"] == want["kept"][c] and got["kept_p"] == want["kept_p"][c]
        assert got["kept_logprob"] == want["kept_logprob"][c]


@pytest.mark.parametrize("filters", [{}, {"top_k": 5, "top_p": 0.9}, {"min_p": 0.05, "top_k": 40},
                                     {"repetition_penalty": 1.5, "presence_penalty": 0.5, "top_p": 0.95}])
def test_views_are_tops_columns(server, filters):
    temps = [0, 0.5, 1, 1.7]
    status, got = server.post("/next_token", {"prompt": PROMPT, "top": 12, "temperatures": temps, **filters})
    assert status == 200, got
    args = ["-n", "12"] + [a for t in temps for a in ("--temperature", str(t))]
    for name, value in filters.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    cli = top_json(server, PROMPT, *args)
    assert [t["token"] for t in got["prompt_tokens"]] == ["The", " capital", " of", " France", " is"]
    assert got["views"][2]["top"][0]["token"] == " Paris"
    for c in range(len(temps)):
        assert_same(got["views"][c], cli, c)


def test_token_ids_and_chat_prompts(server):
    status, text = server.post("/next_token", {"prompt": PROMPT})
    ids = [t["id"] for t in text["prompt_tokens"]]
    status, by_ids = server.post("/next_token", {"prompt": ids})
    assert status == 200 and by_ids["views"] == text["views"]
    assert len(text["views"]) == 1 and text["views"][0]["temperature"] == 1 and len(text["views"][0]["top"]) == 10
    status, chat = server.post("/next_token", {"messages": [{"role": "user", "content": "Say hi."}],
                                               "temperature": 0.8})
    assert status == 200, chat
    assert_same(chat["views"][0], top_json(server, "Say hi.", "--chat", "--temperature", "0.8"), 0)


@pytest.mark.parametrize("body, param", [
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": ["x"]}, "prompt"),
    ({"prompt": PROMPT, "top": 0}, "top"),
    ({"prompt": PROMPT, "top": 1001}, "top"),
    ({"prompt": PROMPT, "temperatues": [0.5]}, "temperatues"),  # a misspelt field is not ignored
    ({"prompt": PROMPT, "max_tokens": 5}, "max_tokens"),
    ({"prompt": PROMPT, "temperatures": [0.5, 3]}, "temperatures"),
    ({"prompt": PROMPT, "temperatures": "hot"}, "temperatures"),
    ({"prompt": PROMPT, "top_p": 2}, "top_p"),
    ({"prompt": PROMPT, "top_k": 3, "order": ["temperature"]}, "order"),
])
def test_bad_fields_are_named(server, body, param):
    status, err = server.post("/next_token", body)
    assert status == 400, err
    assert err["error"]["param"] == param, err


def test_python_gives_the_servers_views(server, model_path):
    model = logitkit.Model(model_path)
    body = {"prompt": PROMPT, "top": 8, "temperatures": [0, 0.7, 1.3], "top_k": 20, "top_p": 0.95, "min_p": 0.01}
    status, got = server.post("/next_token", body)
    assert status == 200, got
    py = model.next_token(PROMPT, temperatures=[0, 0.7, 1.3], top=8, top_k=20, top_p=0.95, min_p=0.01)
    assert len(py) == 3
    for view, mine in zip(got["views"], py):
        for key in ("temperature", "entropy", "n_kept", "kept_mass", "kept_entropy"):
            assert mine[key] == view[key], key
        for row, want in zip(mine["top"], view["top"]):
            assert row["kept_logprob"] == (-math.inf if want["kept_logprob"] is None else want["kept_logprob"])
            assert {k: v for k, v in row.items() if k != "kept_logprob"} == \
                {k: v for k, v in want.items() if k != "kept_logprob"}
    with pytest.raises(ValueError, match="top_p"):
        model.next_token(PROMPT, top_p=2)
    with pytest.raises(ValueError, match="top = 0"):
        model.next_token(PROMPT, top=0)


def test_a_view_is_the_distribution_of_generates_first_draw(server):
    # The penalties count the prompt, as they do for the first draw.
    params = {"temperature": 0.9, "top_p": 0.95, "repetition_penalty": 1.5, "frequency_penalty": 0.4}
    status, got = server.post("/next_token", {"prompt": PROMPT, "top": 1000, **params})
    assert status == 200, got
    assert got["views"][0]["n_kept"] <= 1000  # every token a draw may pick is a row
    view = {row["id"]: row for row in got["views"][0]["top"]}
    args = [a for k, v in params.items() for a in ("--" + k.replace("_", "-"), str(v))]
    for seed in range(4):
        run = subprocess.run([server.binary, "generate", "--model", server.model, PROMPT, "--json", "--max-tokens", "1",
                              "--seed", str(seed), *args], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        first = json.loads(run.stdout)["tokens"][0]
        row = view[first["id"]]
        assert row["kept"] and row["kept_logprob"] == first["sampling_logprob"] and row["logprob"] == first["logprob"]
