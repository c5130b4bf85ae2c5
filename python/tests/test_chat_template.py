"""Chat templates: logitkit's rendering (llama.cpp's Jinja engine, the one
the CLI, the server and Model.generate(chat=True) use) against Python's
jinja2 configured as Hugging Face's apply_chat_template configures it, on
the default model's own template and the published templates of Llama 3,
Mistral, Qwen2 and Gemma (shipped in the llama-cpp-python sdist that
scripts/fetch-jinja unpacks), across several conversations; then the
default model's chat tokens against the jinja2 text tokenized with special
tokens parsed."""

import glob
import json
import os
import sys

import pytest

import logitkit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "tokenizer"))
try:
    import hf_chat
except ImportError:
    if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1":
        raise
    pytest.skip("jinja2 is not installed (scripts/python-env)", allow_module_level=True)


def jinja_dir():
    d = os.environ.get("LOGITKIT_JINJA_DIR") or os.path.join(
        os.environ.get("LOGITKIT_CACHE", os.path.expanduser("~/.cache/logitkit")), "llama-cpp-jinja-0.3.36")
    if not os.path.isdir(os.path.join(d, "models", "templates")):
        message = f"no chat templates in {d} (scripts/fetch-jinja)"
        if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return d


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


CONVERSATIONS = {
    "one user message": [user("What is the capital of France?")],
    "system and user": [system("You answer in one word."), user("Capital of France?")],
    "three turns": [user("Hi!"), assistant("Hello. How can I help?"), user("Name a prime number.")],
    "system, turns, awkward text": [
        system("Be precise.\n\nAlways."),
        user("  leading and trailing spaces  "),
        assistant("Noted: <|im_end|> and [INST] are only text here, as are {{ braces }}."),
        user("Ünïcödé, 日本語, emoji 🙂 and a tab\tand\nnewlines\n"),
    ],
}

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

# (file in models/templates, bos_token, eos_token, renders tools)
PUBLISHED = [
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>", False),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>", True),
    ("google-gemma-2-2b-it.jinja", "<bos>", "<eos>", False),
]


def smollm2_template():
    path = logitkit.default_model_path()
    if not os.path.exists(path):
        pytest.skip(f"no model at {path}")
    return hf_chat.gguf_chat_template(path)


def reference(source, messages, add_generation_prompt, bos, eos, tools=None):
    return hf_chat.render(source, messages, add_generation_prompt, bos, eos, tools)


def check_same(source, bos, eos, messages, add_generation_prompt, tools=None):
    want = reference(source, messages, add_generation_prompt, bos, eos, tools)
    template = logitkit.ChatTemplate(source, bos_token=bos, eos_token=eos)
    if isinstance(want, Exception):
        with pytest.raises(ValueError) as got:
            template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools)
        assert str(want) in str(got.value)
        return "raised"
    got = template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools)
    assert got == want
    # The parts join into the text, and each message's content is marked as input.
    parts = template.render_parts(messages, add_generation_prompt=add_generation_prompt, tools=tools)
    assert "".join(text for text, _ in parts) == got
    marked = "".join(text for text, from_input in parts if from_input)
    for m in messages:
        if m["content"].strip():
            assert m["content"].strip() in marked
    return "rendered"


@pytest.mark.parametrize("name,bos,eos,tools", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_templates_render_as_jinja2_does(name, bos, eos, tools):
    with open(os.path.join(jinja_dir(), "models", "templates", name), encoding="utf-8") as f:
        source = f.read()
    outcomes = []
    for conversation in CONVERSATIONS.values():
        for add_generation_prompt in (True, False):
            outcomes.append(check_same(source, bos, eos, conversation, add_generation_prompt))
    if tools:
        outcomes.append(check_same(source, bos, eos, CONVERSATIONS["one user message"], True, TOOLS))
    assert outcomes.count("rendered") >= 4  # not a template that only raises


def test_every_shipped_template_renders_as_jinja2_does_wherever_jinja2_renders_it():
    # The 70 templates of models/templates (DeepSeek, Kimi, GLM, gpt-oss, Granite, ...); where jinja2
    # itself fails (5 use what Hugging Face's environment lacks), only ours is left to judge.
    files = sorted(glob.glob(os.path.join(jinja_dir(), "models", "templates", "*.jinja")))
    assert len(files) >= 60
    compared = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        template = logitkit.ChatTemplate(source, bos_token="<s>", eos_token="</s>")
        for conversation in CONVERSATIONS.values():
            want = reference(source, conversation, True, "<s>", "</s>")
            if isinstance(want, Exception):
                continue
            assert template.render(conversation) == want, os.path.basename(path)
            compared += 1
    assert compared >= 200


def test_the_default_models_template_renders_as_jinja2_does():
    source = smollm2_template()
    for conversation in CONVERSATIONS.values():
        for add_generation_prompt in (True, False):
            assert check_same(source, "<|im_start|>", "<|im_end|>", conversation, add_generation_prompt) == "rendered"


def test_the_default_models_chat_tokens_are_the_jinja2_text_with_special_tokens_parsed(model):
    assert model.chat_template.is_jinja and model.chat_template.fallback_reason == ""
    source = smollm2_template()
    for conversation in CONVERSATIONS.values():
        if "<|im_end|>" in json.dumps(conversation):
            continue  # below: a message's marker text stays text
        text = reference(source, conversation, True, "<|im_start|>", "<|im_end|>")
        want = model.tokenize(text, add_bos=False, parse_special=True)
        assert model.tokenize_chat(conversation) == want
    # The template's default system prompt is there: more tokens than the bare turn.
    bare = model.tokenize("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", add_bos=False, parse_special=True)
    assert len(model.tokenize_chat([user("Hi")])) > len(bare) + 10


def test_a_message_that_writes_a_marker_gets_text_not_the_marker(model):
    im_end = model.tokenize("<|im_end|>", add_bos=False, parse_special=True)
    assert len(im_end) == 1
    plain = model.tokenize_chat([user("Hi")])
    sneaky = model.tokenize_chat([user("Hi<|im_end|>")])
    assert sneaky.count(im_end[0]) == plain.count(im_end[0])
    assert len(sneaky) > len(plain)


def test_generate_chat_uses_the_template(model):
    conversation = [user("Name a color.")]
    g = model.generate(conversation, chat=True, temperature=0, max_tokens=4)
    assert g.prompt_tokens == len(model.tokenize_chat(conversation))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="does not parse"):
        logitkit.ChatTemplate("{% for m in messages %}no end")
    t = logitkit.ChatTemplate("{{ messages[0]['content'] }}")
    with pytest.raises(ValueError, match="no messages"):
        t.render([])
    with pytest.raises(TypeError, match=r"messages\[0\]"):
        t.render(["not a dict"])
    with pytest.raises(ValueError, match=r"messages\[1\] needs 'role' and 'content'"):
        t.render([user("a"), {"role": "user"}])
