#!/usr/bin/env python3
"""lm-evaluation-harness, the whole of it, against `logitkit serve`, as a
user runs it: `lm_eval --model local-completions --model_args
base_url=...,model=...` (nothing else: the tokenizer comes from the server's
/tokenizer_info and /tokenize, and the Hugging Face Hub is switched off),
on three local tasks in tasks/:
  logitkit_capitals  multiple choice (loglikelihoods of each choice),
  logitkit_kjv       rolling loglikelihoods (perplexity) of five KJV verses,
  logitkit_chat      generation with local-chat-completions and
                     --apply_chat_template (the server renders the model's
                     own template).
Every loglikelihood lm-eval logs must equal `logitkit score --special` on
the same text within 1e-5 (relative above 1), and every chat reply the
server's greedy chat completion of the same messages.

Run by tests/clients/lm-eval/run (which makes the 1 GB environment lm-eval
needs); exit 0 when everything agrees.
  run.py --lm-eval VENV/bin/lm_eval --logitkit build/release/logitkit [--model FILE.gguf]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Server:
    def __init__(self, binary, model):
        args = [binary, "serve", "--port", "0"] + (["--model", model] if model else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            m = re.search(r"listening on (http://[\d.]+:\d+)", line)
            if m:
                self.url = m.group(1)
                break
        else:
            raise RuntimeError("logitkit serve did not start")
        self.model_id = json.load(urllib.request.urlopen(self.url + "/v1/models"))["data"][0]["id"]

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def score(binary, model, text):
    """logitkit score --special: token ids and per-token logprobs and ranks (tokens 1..)."""
    args = [binary, "score", "--json", "--special", "--threads", "1", text] + (["--model", model] if model else [])
    d = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    return [d["first_id"]] + [t["id"] for t in d["tokens"]], d["tokens"]


def close(a, b):
    return abs(a - b) <= 1e-5 * max(1.0, abs(b))


def samples(out_dir, task):
    files = glob.glob(os.path.join(out_dir, "**", f"samples_{task}_*.jsonl"), recursive=True)
    if not files:
        raise RuntimeError(f"lm-eval wrote no samples for {task} under {out_dir}")
    with open(files[0], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def requests_of(sample):
    """[(arguments tuple, response)] of one logged sample."""
    args = sample["arguments"]
    if isinstance(args, dict):  # {"gen_args_0": {"arg_0": ..., "arg_1": ...}, ...}
        args = [tuple(v[k] for k in sorted(v)) for _, v in sorted(args.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[1]))]
    return list(zip(args, [r[0] for r in sample["resps"]]))


def lm_eval(exe, model_type, model_args, tasks, out_dir, *extra):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [exe, "--model", model_type, "--model_args", model_args, "--tasks", tasks, "--include_path", ".",
           "--log_samples", "--output_path", out_dir, *extra]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=os.path.join(HERE, "tasks"), env=env, check=True)  # data_files are relative


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm-eval", required=True, help="the lm_eval executable")
    ap.add_argument("--logitkit", required=True, help="the logitkit binary")
    ap.add_argument("--model", default="", help="a GGUF model (default: logitkit's default model)")
    args = ap.parse_args()
    server = Server(args.logitkit, args.model)
    failures = []
    try:
        with tempfile.TemporaryDirectory() as out:
            base = server.url + "/v1/completions"
            lm_eval(args.lm_eval, "local-completions", f"base_url={base},model={server.model_id}",
                    "logitkit_capitals,logitkit_kjv", out)
            # lm-eval's rolling windows start with the remote tokenizer's BOS (else EOS) token.
            info = json.load(urllib.request.urlopen(server.url + "/tokenizer_info"))
            prefix = info["bos_token"] or info["eos_token"]
            compared, worst = 0, 0.0
            for s in samples(out, "logitkit_capitals"):
                for (context, continuation), (ll, greedy) in requests_of(s):
                    ll = float(ll)
                    ids, tokens = score(args.logitkit, args.model, context + continuation)
                    n_context = len(server.post("/tokenize", {"prompt": context, "add_special_tokens": False})["tokens"])
                    want = sum(t["logprob"] for t in tokens[n_context - 1:])
                    worst = max(worst, abs(ll - want))
                    compared += 1
                    if not close(ll, want):
                        failures.append(f"capitals {context!r} + {continuation!r}: lm-eval {ll} vs score {want}")
            for s in samples(out, "logitkit_kjv"):
                for (text, *_), response in requests_of(s):
                    ll = float(response[0] if isinstance(response, (list, tuple)) else response)
                    ids, tokens = score(args.logitkit, args.model, prefix + text)
                    want = sum(t["logprob"] for t in tokens)
                    worst = max(worst, abs(ll - want))
                    compared += 1
                    if not close(ll, want):
                        failures.append(f"kjv {text[:40]!r}: lm-eval {ll} vs score {want}")
            print(f"loglikelihoods: {compared} compared with logitkit score --special, max |Δ| = {worst:.3g}")

            chat = server.url + "/v1/chat/completions"
            lm_eval(args.lm_eval, "local-chat-completions", f"base_url={chat},model={server.model_id}",
                    "logitkit_chat", out, "--apply_chat_template")
            replies = 0
            for s in samples(out, "logitkit_chat"):
                for (_, gen_kwargs), reply in requests_of(s):
                    messages = [{"role": "user", "content": s["doc"]["question"]}]
                    want = server.post("/v1/chat/completions", {
                        "model": server.model_id, "messages": messages, "max_tokens": 24, "temperature": 0,
                        "seed": 1234, "stop": ["\n\n"]})["choices"][0]["message"]["content"]
                    replies += 1
                    if reply != want:
                        failures.append(f"chat {messages[0]['content']!r}: lm-eval {reply!r} vs server {want!r}")
            print(f"chat replies: {replies} compared with the server's own greedy chat completions")
    finally:
        server.stop()
    for f in failures:
        print("FAILED:", f)
    print("lm-eval against logitkit:", "ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
