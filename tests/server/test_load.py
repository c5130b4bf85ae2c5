"""Load and determinism, with the official client from many threads.

- 16 concurrent clients x 50 requests each (completions and chat, streamed
  and not, with and without logprobs): zero failures, every response valid,
  and a seeded canary among them equals the same request run alone.
  $LOGITKIT_LOAD_REQUESTS sets the 50: scripts/test's ASan pass sends 10
  each, as the 800 took 19 minutes there.
- 100 identical seeded requests at concurrency 8: one distinct output (text
  and logprobs).
"""
import concurrent.futures as cf
import json
import os

import pytest

CLIENTS, REQUESTS = 16, int(os.environ.get("LOGITKIT_LOAD_REQUESTS", "50"))


def run_one(server, client, i):
    kind = i % 4
    seed = 1000 + i
    if kind == 0:
        r = client.completions.create(model=server.model_id, prompt=f"Item {i}: the", max_tokens=6, seed=seed,
                                      temperature=0.7, logprobs=2)
        c = r.choices[0]
        assert len(c.logprobs.tokens) == r.usage.completion_tokens <= 6
        assert c.finish_reason in ("length", "stop")
        return c.text
    if kind == 1:
        r = client.chat.completions.create(model=server.model_id, max_tokens=6, seed=seed,
                                           messages=[{"role": "user", "content": f"Say {i}."}])
        assert r.choices[0].finish_reason in ("length", "stop") and r.usage.completion_tokens <= 6
        return r.choices[0].message.content
    if kind == 2:
        chunks = list(client.completions.create(model=server.model_id, prompt=f"Count {i}", max_tokens=6,
                                                seed=seed, stream=True))
        assert chunks[-1].choices[0].finish_reason in ("length", "stop")
        return "".join(c.choices[0].text for c in chunks)
    chunks = list(client.chat.completions.create(model=server.model_id, max_tokens=6, seed=seed, stream=True,
                                                 messages=[{"role": "user", "content": f"Hi {i}"}]))
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


CANARY = dict(prompt="The old lighthouse keeper", max_tokens=20, temperature=1.0, seed=424242, logprobs=1)


def canary(server, client):
    r = client.completions.create(model=server.model_id, **CANARY)
    return r.choices[0].text, r.choices[0].logprobs.token_logprobs


def test_16_concurrent_clients(server, client):
    alone = canary(server, client)
    failures, canaries = [], []

    def worker(w):
        texts = []
        for k in range(REQUESTS):
            i = w * REQUESTS + k
            try:
                if k == REQUESTS // 2:
                    canaries.append(canary(server, client))
                else:
                    texts.append(run_one(server, client, i))
            except Exception as e:  # counted, reported below
                failures.append(f"request {i}: {type(e).__name__}: {e}")
        return texts

    with cf.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(worker, range(CLIENTS)))
    assert failures == [], failures[:5]
    assert sum(len(r) for r in results) == CLIENTS * (REQUESTS - 1)
    # Seeded requests give the same tokens whatever runs beside them.
    assert len(canaries) == CLIENTS and all(c == alone for c in canaries)


def test_100_identical_seeded_requests_at_concurrency_8(server, client):
    def one(_):
        r = client.completions.create(model=server.model_id, prompt="In a distant galaxy", max_tokens=16,
                                      temperature=1.0, top_p=0.9, seed=31337, logprobs=3)
        c = r.choices[0]
        return json.dumps([c.text, c.logprobs.token_logprobs, c.logprobs.top_logprobs])

    with cf.ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(one, range(100)))
    assert len(outputs) == 100 and len(set(outputs)) == 1
