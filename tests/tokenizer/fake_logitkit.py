#!/usr/bin/env python3
"""A stand-in for the logitkit CLI's tokenizer commands, built on the peers
themselves, to test compare_peers.py before (or apart from) the C++ CLI:

  fake_logitkit.py vocab convert (--tiktoken F | --sentencepiece F) --out OUT
  fake_logitkit.py tokenize --vocab OUT --lines --no-bos  < lines

OUT is a small JSON file naming the source, not a GGUF file. Set
FAKE_LOGITKIT_BREAK=N to corrupt every Nth output line (the harness must then
report mismatches), FAKE_LOGITKIT_FAIL=1 to make tokenize exit 1.
Run it through the venv's python (it imports compare_peers' peers).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_peers  # noqa: E402


def main(argv):
    if argv[:2] == ["vocab", "convert"] and len(argv) == 6 and argv[4] == "--out":
        kind = {"--tiktoken": "tiktoken", "--sentencepiece": "sentencepiece"}[argv[2]]
        with open(argv[5], "w") as f:
            json.dump({"kind": kind, "path": os.path.abspath(argv[3])}, f)
        return 0
    if argv[:1] == ["tokenize"] and argv[1] == "--vocab" and argv[3:] == ["--lines", "--no-bos"]:
        with open(argv[2]) as f:
            spec = json.load(f)
        if os.environ.get("FAKE_LOGITKIT_FAIL"):
            print("fake_logitkit: asked to fail", file=sys.stderr)
            return 1
        peer = (compare_peers.TiktokenPeer if spec["kind"] == "tiktoken" else compare_peers.SentencePiecePeer)(spec["path"])
        data = sys.stdin.buffer.read().decode("utf-8")
        lines = data.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        every = int(os.environ.get("FAKE_LOGITKIT_BREAK", "0"))
        out = []
        for k, ids in enumerate(peer.encode(lines)):
            if every and k % every == every - 1:
                ids = ids[:len(ids) // 2] + [7] + ids[len(ids) // 2 + 1:]
            out.append(" ".join(map(str, ids)) + "\n")
        sys.stdout.write("".join(out))
        return 0
    print(f"fake_logitkit: unsupported arguments {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
