// logitkit.ChatTemplate (a Jinja chat template rendered as Hugging Face does,
// by the library's engine) and Model.chat_template / Model.tokenize_chat:
// the one rendering the CLI, the server and Model.generate(chat=True) use.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "errors.h"
#include "logitkit/chat.h"
#include "model.h"

namespace py = pybind11;

namespace logitkit::python {

std::vector<tokenizer::ChatMessage> ChatMessagesOf(py::handle messages) {
  if (!py::isinstance<py::list>(messages) && !py::isinstance<py::tuple>(messages)) {
    ThrowTypeError("messages must be a list of {'role': str, 'content': str} dicts");
  }
  std::vector<tokenizer::ChatMessage> out;
  size_t i = 0;
  for (py::handle h : messages) {
    const std::string where = "messages[" + std::to_string(i++) + "]";
    if (!py::isinstance<py::dict>(h)) ThrowTypeError(where + " must be a dict with 'role' and 'content'");
    const py::dict d = h.cast<py::dict>();
    if (!d.contains("role") || !d.contains("content")) ThrowValueError(where + " needs 'role' and 'content'");
    if (!py::isinstance<py::str>(d["role"]) || !py::isinstance<py::str>(d["content"])) {
      ThrowTypeError(where + ": 'role' and 'content' must be str");
    }
    out.push_back({d["role"].cast<std::string>(), d["content"].cast<std::string>()});
  }
  return out;
}

namespace {

tokenizer::ChatOptions OptionsOf(bool add_generation_prompt, const py::object& tools) {
  tokenizer::ChatOptions o;
  o.add_generation_prompt = add_generation_prompt;
  if (!tools.is_none()) o.tools_json = py::module_::import("json").attr("dumps")(tools).cast<std::string>();
  return o;
}

std::vector<tokenizer::ChatPart> Parts(const tokenizer::ChatTemplate& t, const py::object& messages,
                                       bool add_generation_prompt, const py::object& tools) {
  const std::vector<tokenizer::ChatMessage> m = ChatMessagesOf(messages);
  const tokenizer::ChatOptions o = OptionsOf(add_generation_prompt, tools);
  py::gil_scoped_release release;
  return ValueOrThrow(t.Render(m, o));
}

}  // namespace

void BindChat(py::module_& m, py::class_<PyModel>& model) {
  py::class_<tokenizer::ChatTemplate>(m, "ChatTemplate",
                                      "A chat template: Jinja rendered as Hugging Face's apply_chat_template "
                                      "does (trim_blocks, lstrip_blocks, raise_exception, strftime_now), or a "
                                      "built-in format. Text a message brought is marked, so its special tokens "
                                      "are never parsed.")
      .def(py::init([](const std::string& source, const std::string& bos_token, const std::string& eos_token) {
             return ValueOrThrow(tokenizer::ChatTemplate::Parse(source, bos_token, eos_token));
           }),
           py::arg("source"), py::arg("bos_token") = "", py::arg("eos_token") = "",
           "Parses a Jinja chat template (ValueError naming the place if it does not parse).")
      .def(
          "render",
          [](const tokenizer::ChatTemplate& t, const py::object& messages, bool add_generation_prompt,
             const py::object& tools) {
            std::string text;
            for (const tokenizer::ChatPart& p : Parts(t, messages, add_generation_prompt, tools)) text += p.text;
            return text;
          },
          py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true, py::arg("tools") = py::none(),
          "The conversation as text. messages: [{'role', 'content'}, ...]; tools: a list of tool definitions "
          "for templates that render them.")
      .def(
          "render_parts",
          [](const tokenizer::ChatTemplate& t, const py::object& messages, bool add_generation_prompt,
             const py::object& tools) {
            std::vector<std::pair<std::string, bool>> out;
            for (tokenizer::ChatPart& p : Parts(t, messages, add_generation_prompt, tools)) {
              out.emplace_back(std::move(p.text), p.from_input);
            }
            return out;
          },
          py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true, py::arg("tools") = py::none(),
          "The rendered text as [(text, from_input), ...]: from_input marks text a message brought.")
      .def_property_readonly("is_jinja", &tokenizer::ChatTemplate::is_jinja,
                             "True for a Jinja template, False for a built-in format.")
      .def_property_readonly("fallback_reason", &tokenizer::ChatTemplate::fallback_reason,
                             "Why the model's template is not used ('' if it is).")
      .def("__repr__", [](const tokenizer::ChatTemplate& t) { return "ChatTemplate(" + t.Describe() + ")"; });

  model.def_property_readonly(
      "chat_template", [](const PyModel& self) { return self.loaded().chat_template; },
      "The model's chat template (its tokenizer.chat_template, or a built-in format with fallback_reason).");
  model.def(
      "tokenize_chat",
      [](const PyModel& self, const py::object& messages, bool add_generation_prompt, const py::object& tools) {
        const std::vector<tokenizer::ChatMessage> m = ChatMessagesOf(messages);
        const tokenizer::ChatOptions o = OptionsOf(add_generation_prompt, tools);
        py::gil_scoped_release release;
        return ValueOrThrow(self.loaded().chat_template.Encode(self.tok(), m, o));
      },
      py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true, py::arg("tools") = py::none(),
      "The tokens of a conversation in the model's chat template: special tokens parsed in the template's "
      "text, never in the messages'; no BOS beyond what the template writes.");
}

}  // namespace logitkit::python
