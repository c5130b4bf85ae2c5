"""Starts one real `logitkit serve` process for the session (tests/server).

Environment: LOGITKIT_BIN (default build/release/logitkit), LOGITKIT_MODEL
(default: the default model from scripts/fetch-model). Without the model the
tests skip, unless LOGITKIT_REQUIRE_MODEL=1, when they fail.
"""
import os
import re
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "model"))


def default_model():
    if os.environ.get("LOGITKIT_MODEL"):
        return os.environ["LOGITKIT_MODEL"]
    cache = os.environ.get("LOGITKIT_CACHE", os.path.expanduser("~/.cache/logitkit"))
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


class Server:
    def __init__(self, binary, model, *extra):
        self.binary, self.model = binary, model
        self.proc = subprocess.Popen([binary, "serve", "--model", model, "--port", "0", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("logitkit serve exited: " + "".join(self.log))
            self.log.append(line)
            m = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
        else:
            raise RuntimeError("logitkit serve did not start in 60 s")
        self.url = f"http://{self.host}:{self.port}"
        self.model_id = os.path.splitext(os.path.basename(model))[0]

    def post(self, path, body, timeout=60):
        """POSTs body (bytes, or an object sent as JSON) to path: (HTTP status, the JSON answer)."""
        import json
        import urllib.error
        import urllib.request
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def client(self, **kw):
        import openai
        kw.setdefault("api_key", "unused")
        kw.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.url + "/v1", timeout=300, **kw)

    def stop(self):
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture(scope="session")
def binary():
    b = os.environ.get("LOGITKIT_BIN", os.path.join(ROOT, "build", "release", "logitkit"))
    if not os.access(b, os.X_OK):
        pytest.fail(f"{b} is not an executable: build it first (or set LOGITKIT_BIN)")
    return b


@pytest.fixture(scope="session")
def model_path():
    m = default_model()
    if not os.path.exists(m):
        if os.environ.get("LOGITKIT_REQUIRE_MODEL") == "1":
            pytest.fail(f"the default model {m} is missing: run scripts/fetch-model")
        pytest.skip(f"the default model {m} is missing: run scripts/fetch-model")
    return m


@pytest.fixture(scope="session")
def server(binary, model_path):
    s = Server(binary, model_path, "--parallel", "16", "--max-body", "65536")
    yield s
    rc = s.stop()
    assert rc == 0, "logitkit serve did not stop cleanly on SIGTERM: " + "".join(s.log) + s.proc.stderr.read()


@pytest.fixture(scope="session")
def client(server):
    return server.client()
