"""Servers of their own: the limits a user sets on connections and time
(--max-connections: 429; --idle-timeout: closed, or 400 mid-request;
--request-timeout: 408, or an error object once the response began)."""
import http.client
import json
import socket
import time

from conftest import Server


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def health(s):
    conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
    try:
        return get(conn, "/health")[1]
    finally:
        conn.close()


def wait_idle(s):
    """Waits until no sequence runs or waits (cancelled ones leave at the engine's next step)."""
    deadline = time.time() + 120
    while True:
        h = health(s)
        if h["active_sequences"] == 0 and h["queued_requests"] == 0:
            return h
        assert time.time() < deadline, h
        time.sleep(0.1)


def test_max_connections(binary, model_path):
    s = Server(binary, model_path, "--max-connections", "2")
    try:
        conns = [http.client.HTTPConnection(s.host, s.port, timeout=30) for _ in range(3)]
        for c in conns[:2]:
            assert get(c, "/v1/models")[0] == 200
        # Two connections are open (kept alive): the third one's requests get
        # 429 naming the flag, but /health is answered and counts them.
        status, err = get(conns[2], "/v1/models")
        assert status == 429, err
        assert err["error"]["code"] == "too_many_connections" and "--max-connections" in err["error"]["message"]
        status, h = get(conns[2], "/health")
        assert status == 200 and h["open_connections"] == 2, h
        # Once one closes, the waiting connection's next request is served.
        conns[0].close()
        deadline = time.time() + 30
        while (status := get(conns[2], "/v1/models")[0]) == 429 and time.time() < deadline:
            time.sleep(0.05)
        assert status == 200
        for c in conns[1:]:
            c.close()
    finally:
        assert s.stop() == 0


def test_idle_timeout(binary, model_path):
    s = Server(binary, model_path, "--idle-timeout", "1")
    try:
        # Silent in the middle of its headers: 400, naming the flag.
        with socket.create_connection((s.host, s.port), timeout=60) as sock:
            t0 = time.time()
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            waited = time.time() - t0
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"--idle-timeout" in answer and 0.8 <= waited < 30, (answer, waited)
        # Idle between requests: the server closes the kept-alive connection.
        with socket.create_connection((s.host, s.port), timeout=60) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            t0 = time.time()
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            waited = time.time() - t0
        assert answer.startswith(b"HTTP/1.1 200") and 0.8 <= waited < 30, (answer[:100], waited)
    finally:
        assert s.stop() == 0


def test_request_timeout(binary, model_path):
    s = Server(binary, model_path, "--request-timeout", "2", "--parallel", "1")
    long = {"model": s.model_id, "prompt": "Once upon a time", "max_tokens": 4000, "ignore_eos": True}
    try:
        # A stream that began: tokens, then the error object, then [DONE].
        conn = http.client.HTTPConnection(s.host, s.port, timeout=120)
        t0 = time.time()
        conn.request("POST", "/v1/completions", json.dumps({**long, "stream": True}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200
        events = [line[6:] for line in r.read().decode().split("\n") if line.startswith("data: ")]
        waited = time.time() - t0
        conn.close()
        assert events[-1] == "[DONE]" and len(events) >= 3, events[-3:]
        err = json.loads(events[-2])["error"]
        assert err["code"] == "request_timeout" and "--request-timeout" in err["message"], err
        assert any("choices" in json.loads(e) for e in events[:-2])
        assert 1.9 <= waited < 30, waited
        wait_idle(s)
        # A JSON response that began: the error object is its body.
        status, body = s.post("/v1/completions", long, timeout=120)
        assert status == 200 and body["error"]["code"] == "request_timeout", body
        wait_idle(s)
        # Still reading its prompt at the limit: 408, which the openai client
        # (2 retries by default) is told not to retry.
        import openai
        try:
            import httpx2 as httpx  # what openai 3 builds on
        except ImportError:
            import httpx
        attempts = []
        http_client = httpx.Client(event_hooks={"request": [attempts.append]})
        t0 = time.time()
        try:
            s.client(max_retries=2, http_client=http_client).completions.create(
                model=s.model_id, prompt="word " * 7000, max_tokens=4)
            assert False, "no 408"
        except openai.APIStatusError as e:
            assert e.status_code == 408 and e.body["code"] == "request_timeout", e.body
            assert e.response.headers["x-should-retry"] == "false"
        assert len(attempts) == 1  # not retried
        assert 1.9 <= time.time() - t0 < 30
        # Every sequence is freed, and the server still answers.
        wait_idle(s)
        status, body = s.post("/v1/completions", {"model": s.model_id, "prompt": "Hi", "max_tokens": 2}, timeout=120)
        assert status == 200 and body["usage"]["completion_tokens"] == 2
    finally:
        assert s.stop() == 0


def read_response(sock):
    """(status line, headers, body) of one response on a raw socket (Content-Length bodies)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(rest) < int(headers.get("content-length", 0)):
        rest += sock.recv(4096)
    return lines[0], headers, rest


def test_refused_requests_keep_their_connection_usable_and_hold_no_slot(binary, model_path):
    s = Server(binary, model_path, "--max-connections", "1", "--api-key", "sekrit", "--idle-timeout", "60")
    body = json.dumps({"model": s.model_id, "prompt": "Hi", "max_tokens": 1}).encode()

    def post(key):
        auth = b"Authorization: Bearer " + key + b"\r\n" if key else b""
        return (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth +
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    try:
        with socket.create_connection((s.host, s.port), timeout=60) as sock:
            # Without the key: 401, its body read, so the same connection's
            # next request (with the key) is served.
            sock.sendall(post(None))
            status, _, answer = read_response(sock)
            assert status.startswith("HTTP/1.1 401") and b"invalid_api_key" in answer, (status, answer)
            sock.sendall(post(b"sekrit"))
            status, _, answer = read_response(sock)
            assert status.startswith("HTTP/1.1 200"), (status, answer)
        # A connection refused its key holds none of the slots: a second
        # connection is served while the first stays open.
        with socket.create_connection((s.host, s.port), timeout=60) as sock:
            sock.sendall(post(b"wrong"))
            assert read_response(sock)[0].startswith("HTTP/1.1 401")
            deadline = time.time() + 10  # 429 while the first connection closes on the server's side
            while True:
                conn = http.client.HTTPConnection(s.host, s.port, timeout=60)
                conn.request("POST", "/v1/completions", body,
                             {"Content-Type": "application/json", "Authorization": "Bearer sekrit"})
                r = conn.getresponse()
                answer = r.read()
                if r.status != 429 or time.time() > deadline:
                    break
                conn.close()
                time.sleep(0.05)
            assert r.status == 200, answer
            # The one slot is taken now: a third connection gets 429, and its
            # connection, too, serves its next request.
            with socket.create_connection((s.host, s.port), timeout=60) as third:
                third.sendall(post(b"sekrit"))
                status, _, answer = read_response(third)
                assert status.startswith("HTTP/1.1 429") and b"too_many_connections" in answer, (status, answer)
                conn.close()
                deadline = time.time() + 10
                while True:
                    third.sendall(post(b"sekrit"))
                    status, _, answer = read_response(third)
                    if not status.startswith("HTTP/1.1 429") or time.time() > deadline:
                        break
                    time.sleep(0.05)
                assert status.startswith("HTTP/1.1 200"), (status, answer)
    finally:
        assert s.stop() == 0
