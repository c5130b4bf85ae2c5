"""The reference chat-template renderer for the tests: Python's jinja2 set up
as Hugging Face's transformers sets it up for apply_chat_template
(a sandboxed environment with trim_blocks, lstrip_blocks and loop controls;
raise_exception, strftime_now and a tojson that keeps non-ASCII text), and
the chat template of a GGUF file read with the gguf package."""
import datetime
import json

import jinja2
import jinja2.ext
import jinja2.sandbox


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(source, messages, add_generation_prompt=True, bos_token="", eos_token="", tools=None):
    """The template's text, or the jinja2.exceptions.TemplateError it raised."""
    context = dict(messages=messages, add_generation_prompt=add_generation_prompt,
                   bos_token=bos_token, eos_token=eos_token)
    if tools is not None:
        context["tools"] = tools
    try:
        return environment().from_string(source).render(**context)
    except jinja2.exceptions.TemplateError as e:
        return e


def gguf_chat_template(path):
    """tokenizer.chat_template of a GGUF file (the gguf package reads it)."""
    import gguf
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")
