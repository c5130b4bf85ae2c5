#!/usr/bin/env python3
"""`logitkit serve` under hostile load (issue 19; docs/reliability.md).

Starts its own server and, for --duration seconds (300 in the long form, 60
in scripts/test), runs --clients concurrent clients (64). Each request a
client sends is, at random (seeded):
  - 20% malformed or out of range: broken JSON, wrong types, values out of
    range, token ids outside the vocabulary, a prompt past the context, a
    body exactly at --max-body and one over it; each must get its 4xx with
    an error object;
  - 10% a stream the client leaves after its first event (the socket closed
    mid-response);
  - 70% valid: completions and chat, streamed or not, greedy or seeded, with
    and without logprobs; each must get a complete, well-formed answer.
Beside them: slowloris connections (headers sent a byte a second, each
holding one of the server's connections and threads), a canary thread
sending one seeded request every few seconds, a /health probe every second
(each answer within 1 s) and a sampler of the server's resident memory.

It fails (exit 1), printing what broke, unless: the server never dies; every
valid request is answered (the limits are set so that none is refused); every
malformed one gets its 4xx; every canary equals the same request sent alone
before the load; /health always answers within 1 s; once the load stops no
sequence runs or waits and no connection holds a slot; resident memory stays
at most 1.25x its value after warm-up and is flat over the last part of the
run (the last 2 minutes: the median of its last 30 s at most 5% above that
of its first 30 s; a run under 3 minutes, still warming up, reports its
second half's growth without bounding it; with --sanitizer, against an ASan
build, memory is only reported); each kind of request was
answered at least once; the server exits 0 on SIGTERM (an ASan build: no
leak). --json writes the figures.

  tests/server/hostile_load.py --bin build/release/logitkit --duration 300
"""
import argparse
import http.client
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import Server, default_model  # noqa: E402

MAX_BODY = 65536
CANARY = {"prompt": "The old lighthouse keeper", "max_tokens": 16, "temperature": 0.9, "seed": 424242,
          "logprobs": 2}


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def fail(self, what):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(what)


def request(host, port, method, path, body=None, timeout=300):
    """(status, headers, JSON or None, raw bytes) of one request on its own connection."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, data, {"Content-Type": "application/json"} if data is not None else {})
        r = conn.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return r.status, dict(r.getheaders()), parsed, raw
    finally:
        conn.close()


def malformed(rng, model, n_ctx):
    """(description, body bytes, accepted statuses) of a request that must be refused."""
    cases = [
        ("broken JSON", b'{"model": "m", "prompt": "x", ', {400}),
        ("not an object", b"[1, 2, 3]", {400}),
        ("prompt of the wrong type", {"model": model, "prompt": {"text": 1}}, {400}),
        ("max_tokens -1", {"model": model, "prompt": "Hi", "max_tokens": -1}, {400}),
        ("temperature as a string", {"model": model, "prompt": "Hi", "temperature": "hot"}, {400}),
        ("top_p 2", {"model": model, "prompt": "Hi", "top_p": 2}, {400}),
        ("a token id outside the vocabulary", {"model": model, "prompt": [1, 2, 10 ** 9]}, {400}),
        ("logit_bias on an id outside the vocabulary", {"model": model, "prompt": "Hi",
                                                        "logit_bias": {"99999999": 5}}, {400}),
        ("n = 10000", {"model": model, "prompt": "Hi", "n": 10000}, {400}),
        ("past the context", {"model": model, "prompt": "Hi", "max_tokens": n_ctx + 1}, {400}),
        ("chat without messages", {"model": model, "messages": []}, {400}),
        ("a body at the limit", None, {400}),
        ("a body over the limit", None, {413}),
    ]
    what, body, ok = cases[rng.randrange(len(cases))]
    if what == "a body at the limit":  # valid JSON of MAX_BODY bytes: a prompt of ~32K tokens, past the context
        head = json.dumps({"model": model, "prompt": ""})[:-2]
        words = " x" * ((MAX_BODY - len(head) - 2) // 2)
        body = (head + words + "x" * (MAX_BODY - len(head) - 2 - len(words)) + '"}').encode()
        assert len(body) == MAX_BODY
    elif what == "a body over the limit":
        body = b'{"prompt": "' + b"x" * MAX_BODY + b'"}'
    path = "/v1/chat/completions" if what == "chat without messages" else "/v1/completions"
    return what, path, body, ok


def valid(rng, model, i):
    chat = rng.random() < 0.5
    body = {"model": model, "max_tokens": rng.randint(1, 12), "stream": rng.random() < 0.5}
    if rng.random() < 0.5:
        body.update(temperature=0.8, seed=rng.randrange(1 << 30))
    else:
        body.update(temperature=0)
    if chat:
        body["messages"] = [{"role": "user", "content": f"Tell me about item {i}."}]
        if rng.random() < 0.3:
            body.update(logprobs=True, top_logprobs=2)
        return "/v1/chat/completions", body
    body["prompt"] = f"Item {i}: the"
    if rng.random() < 0.3:
        body["logprobs"] = 2
    return "/v1/completions", body


def check_valid(status, raw, body):
    """What is wrong with a valid request's answer, or None."""
    if status != 200:
        return f"status {status}: {raw[:200]!r}"
    if body["stream"]:
        text = raw.decode()
        events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
        if not events or events[-1] != "[DONE]":
            return f"a stream without [DONE]: {text[-200:]!r}"
        for e in events[:-1]:
            if "error" in json.loads(e):
                return f"an error in the stream: {e[:200]}"
        finishes = [c.get("finish_reason") for e in events[:-1] for c in json.loads(e).get("choices", [])]
        if not any(f in ("length", "stop") for f in finishes):
            return "a stream without a finish_reason"
        return None
    answer = json.loads(raw)
    if "error" in answer or answer["choices"][0]["finish_reason"] not in ("length", "stop"):
        return f"an unfinished answer: {raw[:200]!r}"
    if answer["usage"]["completion_tokens"] > body["max_tokens"]:
        return "more tokens than max_tokens"
    return None


def leave_mid_stream(host, port, model, i):
    """Starts a stream and closes the socket after its first event."""
    body = json.dumps({"model": model, "prompt": f"A long story {i}:", "max_tokens": 64,
                       "stream": True, "ignore_eos": True}).encode()
    with socket.create_connection((host, port), timeout=300) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"data: " not in got:
            chunk = s.recv(4096)
            if not chunk:
                return "the server closed the stream before its first event"
            got += chunk
        if not got.startswith(b"HTTP/1.1 200"):
            return f"status line {got[:40]!r}"
    return None


def client(args, srv, n_ctx, index, stop, tally):
    rng = random.Random(args.seed * 1000 + index)
    i = 0
    while not stop.is_set():
        i += 1
        r = rng.random()
        try:
            if r < 0.2:
                what, path, body, ok = malformed(rng, srv.model_id, n_ctx)
                status, _, parsed, raw = request(srv.host, srv.port, "POST", path, body)
                if status not in ok or not (parsed and "error" in parsed):
                    tally.fail(f"{what}: status {status} (expected {sorted(ok)}): {raw[:200]!r}")
                tally.add("malformed")
            elif r < 0.3:
                problem = leave_mid_stream(srv.host, srv.port, srv.model_id, index * 100000 + i)
                if problem:
                    tally.fail(f"leaving mid-stream: {problem}")
                tally.add("left mid-stream")
            else:
                path, body = valid(rng, srv.model_id, index * 100000 + i)
                status, _, _, raw = request(srv.host, srv.port, "POST", path, body)
                problem = check_valid(status, raw, body)
                if problem:
                    tally.fail(f"valid {path}: {problem}")
                tally.add("valid")
        except Exception as e:  # a malformed answer too: counted, and the client goes on
            tally.fail(f"client {index}: {type(e).__name__}: {e}")
            time.sleep(0.5)


def slowloris(srv, stop, tally):
    """Headers a byte a second, for ever; again when the server closes the connection."""
    line = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000
    while not stop.is_set():
        try:
            with socket.create_connection((srv.host, srv.port), timeout=5) as s:
                for byte in line:
                    if stop.is_set():
                        return
                    s.sendall(bytes([byte]))
                    stop.wait(1.0)
        except OSError:
            tally.add("slowloris reconnects")
            stop.wait(1.0)


def canary(srv):
    status, _, answer, raw = request(srv.host, srv.port, "POST", "/v1/completions", {"model": srv.model_id, **CANARY})
    if status != 200:
        raise RuntimeError(f"canary: status {status}: {raw[:200]!r}")
    c = answer["choices"][0]
    return c["text"], c["logprobs"]["tokens"], c["logprobs"]["token_logprobs"]


def canaries(srv, alone, stop, tally):
    while not stop.wait(3.0):
        try:
            if canary(srv) != alone:
                tally.fail("a canary differs from the same request alone")
            tally.add("canaries")
        except Exception as e:
            tally.fail(f"canary: {type(e).__name__}: {e}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def monitor(srv, stop, samples, tally):
    """/health every second (timeout 1 s), and the server's resident memory."""
    t0 = time.time()
    while not stop.is_set():
        started = time.time()
        try:
            status, _, h, _ = request(srv.host, srv.port, "GET", "/health", timeout=1.0)
            latency = time.time() - started
            if status != 200:
                tally.fail(f"/health: status {status}")
            elif latency > 1.0:
                tally.fail(f"/health answered in {latency:.2f} s")
        except (OSError, http.client.HTTPException) as e:
            latency = time.time() - started
            tally.fail(f"/health did not answer within 1 s ({type(e).__name__} after {latency:.2f} s)")
        samples.append((time.time() - t0, rss_kib(srv.proc.pid), latency))
        stop.wait(max(0.0, 1.0 - (time.time() - started)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("LOGITKIT_BIN", "build/release/logitkit"))
    p.add_argument("--model", default=default_model())
    p.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--slowloris", type=int, default=16, help="slowloris connections (default 16)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--sanitizer", action="store_true",
                   help="the server is an ASan build: resident memory is reported, not bounded "
                        "(ASan's quarantine keeps freed memory)")
    args = p.parse_args()

    # Limits under which no valid request is refused: every client's request
    # fits --parallel + --queue, and every connection --max-connections.
    srv = Server(args.bin, args.model, "--parallel", "16", "--queue", "256", "--max-body", str(MAX_BODY),
                 "--max-connections", str(args.clients * 2 + args.slowloris + 16))
    tally = Tally()
    try:
        status, _, info, _ = request(srv.host, srv.port, "GET", "/v1/models")
        n_ctx = 8192
        for m in (info or {}).get("data", []):
            n_ctx = m.get("max_model_len", n_ctx)
        alone = canary(srv)
        stop = threading.Event()
        samples = []
        threads = [threading.Thread(target=monitor, args=(srv, stop, samples, tally))]
        threads += [threading.Thread(target=slowloris, args=(srv, stop, tally)) for _ in range(args.slowloris)]
        threads += [threading.Thread(target=canaries, args=(srv, alone, stop, tally))]
        threads += [threading.Thread(target=client, args=(args, srv, n_ctx, k, stop, tally))
                    for k in range(args.clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        last_report = t0
        while time.time() - t0 < args.duration:
            time.sleep(1.0)
            if srv.proc.poll() is not None:
                tally.fail(f"the server died (exit {srv.proc.returncode})")
                break
            if time.time() - last_report >= 30:
                last_report = time.time()
                with tally.lock:
                    print(f"hostile_load: {time.time() - t0:.0f} s: {tally.counts}", flush=True)
        stop.set()
        for t in threads:
            t.join(timeout=330)
        elapsed = time.time() - t0

        # Once the load stops, no sequence runs or waits, and no connection
        # holds a slot but the probe's own.
        deadline = time.time() + 60
        while srv.proc.poll() is None:
            _, _, h, _ = request(srv.host, srv.port, "GET", "/health", timeout=5)
            if h["active_sequences"] == 0 and h["queued_requests"] == 0 and h["open_connections"] <= 1:
                break
            if time.time() > deadline:
                tally.fail(f"60 s after the load: {h}")
                break
            time.sleep(0.2)

        # Memory: warm-up is the first 20% of the run (at most 60 s); the
        # flat part is the last 2 minutes, or the second half of a shorter run.
        warm_t = min(60.0, 0.2 * args.duration)
        rss = [(t, kib) for t, kib, _ in samples if kib > 0]
        warm = next((kib for t, kib in rss if t >= warm_t), rss[0][1])
        peak = max(kib for _, kib in rss)
        # Flat: the median of the tail's last w seconds over that of its
        # first w seconds (medians, as requests in flight come and go).
        end = rss[-1][0]  # the last sample: the load's end
        tail_t = end - min(120.0, end / 2)
        w = min(30.0, (end - tail_t) / 4)
        first = sorted(kib for t, kib in rss if tail_t <= t < tail_t + w)
        last = sorted(kib for t, kib in rss if t >= end - w)
        tail_growth = last[len(last) // 2] / first[len(first) // 2] - 1 if first and last else 0.0
        if peak > 1.25 * warm and not args.sanitizer:
            tally.fail(f"resident memory {peak} KiB > 1.25 x {warm} KiB after warm-up")
        if tail_growth > 0.05 and not args.sanitizer and args.duration >= 180:
            tally.fail(f"resident memory grew {100 * tail_growth:.1f}% over the last {elapsed - tail_t:.0f} s")
        health_max = max(latency for _, _, latency in samples)
    finally:
        code = srv.stop()
    if code != 0:
        tally.fail(f"the server exited {code} on SIGTERM")
    for kind in ("valid", "malformed", "left mid-stream", "canaries"):
        if not tally.counts.get(kind):
            tally.fail(f"no {kind} request was answered in the run")
    figures = {
        "duration_s": round(elapsed, 1), "clients": args.clients, "slowloris": args.slowloris,
        "counts": tally.counts, "rss_after_warmup_kib": warm, "rss_peak_kib": peak,
        "rss_peak_over_warmup": round(peak / warm, 3), "rss_growth_tail": round(tail_growth, 4),
        "health_latency_max_s": round(health_max, 3), "failures": tally.failures,
        "rss_kib_every_10_s": [kib for t, kib in rss[::10]],
    }
    print("hostile_load: " + json.dumps(figures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    if tally.failures:
        print("hostile_load: FAILED:\n  " + "\n  ".join(tally.failures), file=sys.stderr)
        return 1
    print(f"hostile_load: passed: {sum(v for k, v in tally.counts.items() if k != 'slowloris reconnects')} "
          f"requests in {elapsed:.0f} s, /health within {health_max:.2f} s, "
          f"resident memory {warm // 1024} MiB after warm-up, peak {peak // 1024} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
