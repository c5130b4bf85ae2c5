// Model.generate: the prompt through the model, then token by token through
// the decode head, as `logitkit generate` does (step = position, the history
// the penalties count = prompt + output). Stops at an end-of-generation token
// (unless ignore_eos), a stop string, or max_tokens. Runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logitkit/head.h"
#include "model.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

struct Generation {
  std::string text;            // the continuation, cut before a stop string
  std::vector<int32_t> tokens;  // generated ids (with the one that completed a stop string)
  std::vector<float> raw_logprob, logprob;  // per token: model distribution; sampling distribution
  std::vector<std::vector<TokenLogprob>> top;  // per token: top_logprobs alternatives (raw distribution)
  std::string finish_reason;   // "eos", "stop" or "max_tokens"
  size_t prompt_tokens = 0;
};

struct GenerateArgs {
  SamplerParams params;
  uint64_t seed = 0;
  size_t max_tokens = 128;
  std::vector<std::string> stops;
  bool ignore_eos = false;
};

// REQUIRES: the GIL is released.
Generation Run(const PyModel& m, const std::vector<int32_t>& prompt, const GenerateArgs& args) {
  Generation g;
  g.prompt_tokens = prompt.size();
  const size_t context_length = m.config().context_length;
  if (prompt.size() >= context_length) {
    ThrowIfError(OutOfRangeError("the prompt has " + std::to_string(prompt.size()) +
                                 " tokens; the model's context holds " + std::to_string(context_length)));
  }
  Context context(m.model(), std::min(context_length, prompt.size() + args.max_tokens), m.pool());
  std::vector<float> logits;
  ThrowIfError(context.Eval(prompt, Logits::kLast, &logits));
  DecodeHead head(m.pool());
  tokenizer::StreamDecoder decoder(m.tok());
  std::vector<int32_t> history = prompt;
  size_t longest_stop = 0;
  for (const std::string& s : args.stops) longest_stop = std::max(longest_stop, s.size());
  g.finish_reason = "max_tokens";
  while (g.tokens.size() < args.max_tokens) {
    RowState state;
    state.history = history;
    state.n_generated = int64_t(g.tokens.size());
    state.seed = args.seed;
    state.step = history.size();
    DecodeResult r = head.Decode(logits, args.params, state);
    ThrowIfError(r.status);
    if (!args.ignore_eos && m.tok().IsEndOfGeneration(r.token)) {
      g.finish_reason = "eos";
      break;
    }
    g.tokens.push_back(r.token);
    g.raw_logprob.push_back(r.raw_logprob);
    g.logprob.push_back(r.logprob);
    g.top.push_back(std::move(r.top));
    history.push_back(r.token);
    const size_t before = g.text.size();
    g.text += ValueOrThrow(decoder.Push(r.token));
    // A stop string can only end in the new text: search from where it could start.
    size_t cut = std::string::npos;
    const size_t from = before >= longest_stop ? before - longest_stop + 1 : 0;
    for (const std::string& s : args.stops) cut = std::min(cut, g.text.find(s, from));
    if (cut != std::string::npos) {
      g.text.resize(cut);
      g.finish_reason = "stop";
      return g;
    }
    if (g.tokens.size() == args.max_tokens) break;
    ThrowIfError(context.Eval(std::span<const int32_t>(&r.token, 1), Logits::kLast, &logits));
  }
  g.text += decoder.Flush();
  return g;
}

}  // namespace

void BindGenerate(py::class_<PyModel>& model) {
  py::class_<Generation>(model, "Generation", "The result of Model.generate.")
      .def_readonly("text", &Generation::text)
      .def_readonly("tokens", &Generation::tokens)
      .def_property_readonly("raw_logprob",
                             [](const Generation& g) {
                               return ToArray(g.raw_logprob);
                             },
                             "[n] float32: each token's logprob under the model's distribution (T = 1)")
      .def_property_readonly("logprob",
                             [](const Generation& g) {
                               return ToArray(g.logprob);
                             },
                             "[n] float32: under the distribution it was drawn from")
      .def_readonly("top", &Generation::top, "per token, the top_logprobs most likely alternatives")
      .def_readonly("finish_reason", &Generation::finish_reason, "'eos', 'stop' or 'max_tokens'")
      .def_readonly("prompt_tokens", &Generation::prompt_tokens)
      .def("__str__", [](const Generation& g) { return g.text; })
      .def("__repr__", [](const Generation& g) {
        return "Generation(text=" + py::repr(py::str(g.text)).cast<std::string>() + ", tokens=" +
               std::to_string(g.tokens.size()) + ", finish_reason='" + g.finish_reason + "')";
      });

  model.def(
      "generate",
      [](const PyModel& m, const py::object& prompt, size_t max_tokens, float temperature, int32_t top_k, float top_p,
         float min_p, float typical_p, float top_n_sigma, float repetition_penalty, float frequency_penalty,
         float presence_penalty, int32_t penalty_window, uint64_t seed, const py::object& stop, bool ignore_eos,
         int32_t top_logprobs) {
        GenerateArgs a;
        SamplerParams& p = a.params;
        p.temperature = temperature;
        p.top_k = top_k;
        p.top_p = top_p;
        p.min_p = min_p;
        p.typical_p = typical_p;
        p.top_n_sigma = top_n_sigma;
        p.repetition_penalty = repetition_penalty;
        p.frequency_penalty = frequency_penalty;
        p.presence_penalty = presence_penalty;
        p.penalty_window = penalty_window;
        p.outputs = kOutputRawLogprob | kOutputLogprob;
        p.top_logprobs = top_logprobs;
        a.seed = seed;
        if (max_tokens < 1 || max_tokens > 1000000) {
          ThrowIfError(InvalidArgumentError("max_tokens = " + std::to_string(max_tokens) +
                                            " is outside [1, 1000000]"));
        }
        a.max_tokens = max_tokens;
        a.ignore_eos = ignore_eos;
        if (py::isinstance<py::str>(stop)) {
          a.stops.push_back(stop.cast<std::string>());
        } else if (!stop.is_none()) {
          a.stops = stop.cast<std::vector<std::string>>();
        }
        for (const std::string& s : a.stops) {
          if (s.empty()) ThrowIfError(InvalidArgumentError("stop: an empty stop string"));
        }
        const std::vector<int32_t> ids = m.Tokens(prompt, "prompt");
        py::gil_scoped_release release;
        return Run(m, ids, a);
      },
      py::arg("prompt"), py::kw_only(), py::arg("max_tokens") = 128, py::arg("temperature") = 1.0f,
      py::arg("top_k") = 0, py::arg("top_p") = 1.0f, py::arg("min_p") = 0.0f, py::arg("typical_p") = 1.0f,
      py::arg("top_n_sigma") = 0.0f, py::arg("repetition_penalty") = 1.0f, py::arg("frequency_penalty") = 0.0f,
      py::arg("presence_penalty") = 0.0f, py::arg("penalty_window") = 0, py::arg("seed") = 0,
      py::arg("stop") = py::none(), py::arg("ignore_eos") = false, py::arg("top_logprobs") = 0,
      "Continues prompt (a str, or token ids) and returns a Generation: text, tokens, logprobs,\n"
      "finish_reason. temperature=0 is greedy; the same seed gives the same text. stop: a str or\n"
      "a list of them (the text is cut before the first one).");
}

}  // namespace logitkit::python
