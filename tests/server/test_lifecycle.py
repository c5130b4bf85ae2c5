"""Servers of their own: the queue limit (429) and shutdown with requests in
flight (each ends with an error object; the process exits 0 at once)."""
import concurrent.futures as cf
import json
import signal
import time
import urllib.error
import urllib.request

from conftest import Server


def wait_active(s, n):
    deadline = time.time() + 30
    while True:
        with urllib.request.urlopen(s.url + "/health", timeout=30) as r:
            if json.loads(r.read())["active_sequences"] >= n:
                return
        assert time.time() < deadline
        time.sleep(0.05)


def test_queue_limit_and_shutdown(binary, model_path):
    s = Server(binary, model_path, "--parallel", "1", "--queue", "0")
    long = {"model": s.model_id, "prompt": "Once upon a time", "max_tokens": 4000, "ignore_eos": True}
    try:
        # An idle server with --queue 0 still runs a request.
        status, r = s.post("/v1/completions", {"model": s.model_id, "prompt": "Hi", "max_tokens": 2}, timeout=120)
        assert status == 200 and r["usage"]["completion_tokens"] == 2
        with cf.ThreadPoolExecutor(2) as pool:
            running = pool.submit(s.post, "/v1/completions", long, 120)
            wait_active(s, 1)
            # The one sequence is busy and nothing may wait: 429.
            status, err = s.post("/v1/completions", {"model": s.model_id, "prompt": "Hi", "max_tokens": 2}, timeout=120)
            assert status == 429 and "busy" in err["error"]["message"], err
            # SIGTERM: the request in flight ends at once with an error object
            # (in its 200 body: its response began with its first token), and
            # the process exits 0.
            t0 = time.time()
            s.proc.send_signal(signal.SIGTERM)
            status, err = running.result(timeout=30)
            assert status == 200 and err["error"]["message"] == "the server is shutting down", (status, err)
            assert s.proc.wait(timeout=30) == 0
            assert time.time() - t0 < 15
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_an_api_key_guards_every_route_but_health(binary, model_path):
    import openai
    s = Server(binary, model_path, "--parallel", "2", "--api-key", "sekrit")
    try:
        good = s.client(api_key="sekrit")
        r = good.completions.create(model=s.model_id, prompt="Hi", max_tokens=2, temperature=0)
        assert r.usage.completion_tokens == 2
        assert good.models.retrieve(s.model_id).id == s.model_id
        for key in ("wrong", "sekri", "sekrit-and-more"):
            try:
                s.client(api_key=key).models.list()
                raise AssertionError(f"the key {key!r} was accepted")
            except openai.AuthenticationError as e:
                assert e.status_code == 401 and e.body["code"] == "invalid_api_key", e.body
        status, err = s.post("/v1/completions", {"prompt": "Hi", "max_tokens": 1}, timeout=120)  # no Authorization header
        assert status == 401 and "Authorization: Bearer" in err["error"]["message"]
        with urllib.request.urlopen(s.url + "/health", timeout=30) as h:  # health needs no key
            assert json.loads(h.read())["status"] == "ok"
    finally:
        assert s.stop() == 0
