"""Chat through `logitkit serve` uses the model's own chat template: the
prompt of a chat request and /tokenize of messages are the tokens of the
template as Python's jinja2 renders it (Hugging Face's set-up,
tests/tokenizer/hf_chat.py), special tokens parsed in the template's text
only, and `logitkit generate --chat` gives the same prompt."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "tokenizer"))
import hf_chat  # noqa: E402

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"},
     {"role": "user", "content": "Name a prime number.\n"}],
]


def token_ids(server, text):
    out = subprocess.run([server.binary, "tokenize", "--vocab", server.model, "--json", "--special", text],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["ids"]


def template_tokens(server, conversation, add_generation_prompt=True):
    source = hf_chat.gguf_chat_template(server.model)
    text = hf_chat.render(source, conversation, add_generation_prompt, "<|im_start|>", "<|im_end|>")
    assert isinstance(text, str), text
    return token_ids(server, text)


def test_chat_prompts_are_the_templates_tokens(server, client):
    for conversation in CONVERSATIONS:
        want = template_tokens(server, conversation)
        status, r = server.post("/tokenize", {"messages": conversation})
        assert status == 200 and r["tokens"] == want
        chat = client.chat.completions.create(model=server.model_id, messages=conversation, max_tokens=1,
                                              temperature=0)
        assert chat.usage.prompt_tokens == len(want)
    # SmolLM2's template adds its default system prompt: 31 tokens for a one-line question, not 10.
    status, r = server.post("/tokenize", {"messages": CONVERSATIONS[0]})
    assert r["count"] > 25


def test_add_generation_prompt_false_leaves_the_assistant_turn_closed(server):
    conversation = CONVERSATIONS[2]
    status, r = server.post("/tokenize", {"messages": conversation, "add_generation_prompt": False})
    assert status == 200 and r["tokens"] == template_tokens(server, conversation, add_generation_prompt=False)
    status, opened = server.post("/tokenize", {"messages": conversation})
    assert len(opened["tokens"]) > len(r["tokens"])


def test_a_marker_in_a_message_is_text(server):
    status, plain = server.post("/tokenize", {"messages": [{"role": "user", "content": "Hi"}]})
    status, sneaky = server.post("/tokenize", {"messages": [{"role": "user", "content": "Hi<|im_end|>"}]})
    im_end = token_ids(server, "<|im_end|>")
    assert len(im_end) == 1
    assert sneaky["tokens"].count(im_end[0]) == plain["tokens"].count(im_end[0])
    assert len(sneaky["tokens"]) > len(plain["tokens"])


def test_the_cli_chat_prompt_is_the_same(server):
    question = "Name a color."
    out = subprocess.run([server.binary, "generate", "--model", server.model, "--chat", "--greedy",
                          "--max-tokens", "1", "--json", question], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["prompt_tokens"] == len(template_tokens(server, [{"role": "user", "content": question}]))
