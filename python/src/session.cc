// Model.session: incremental evaluation on one KV cache, for hand-written
// decoding loops. append() evaluates new tokens and returns the next row of
// logits; sample() draws from it with the decode head by the generator's
// convention (logitkit::DrawState), so a loop of sample + append gives
// Model.generate's tokens and logprobs, bit for bit.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logitkit/generate.h"
#include "model.h"
#include "sampler_kwargs.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

class PySession {
 public:
  // The prompt is evaluated at once (its tokens are the session's first).
  PySession(const PyModel& m, const py::object& prompt) : m_(m), context_(m.model(), 0, m.pool()) {
    if (!prompt.is_none()) {
      Append(prompt);
      n_prompt_ = tokens_.size();
    }
  }

  // Evaluates `ids` after the tokens so far; returns the logits of the last
  // one, float32 [n_vocab] (a copy: the next append does not change it).
  py::array_t<float> Append(const py::object& text_or_ids) {
    const std::vector<int32_t> ids = m_.Tokens(text_or_ids, "tokens");
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);  // one call at a time (the GIL is released)
      ThrowIfError(context_.Eval(ids, Logits::kLast, &row_));
    }
    tokens_.insert(tokens_.end(), ids.begin(), ids.end());
    return logits();
  }

  // Forgets every token from position n on (the prompt included, if n is
  // below its length).
  void Rewind(size_t n) {
    if (n > tokens_.size()) {
      ThrowValueError("rewind(" + std::to_string(n) + "): the session holds " + std::to_string(tokens_.size()) +
                      " tokens");
    }
    if (n < tokens_.size()) {
      if (n == 0) ThrowValueError("rewind(0) leaves no logits: start a new session instead");
      // The logits after position n - 1 come from evaluating that token again.
      const int32_t last = tokens_[n - 1];
      context_.Rewind(n - 1);
      tokens_.resize(n - 1);
      Append(py::cast(std::vector<int32_t>{last}));
    }
    n_prompt_ = std::min(n_prompt_, tokens_.size());
  }

  // Draws the next token from logits() with the decode head, keyed as the
  // generator keys draw i: (seed, stream, step = position), the penalties
  // over every token so far, min_tokens over those after the prompt.
  py::object Sample(const py::kwargs& kwargs) {
    if (tokens_.empty()) ThrowValueError("the session holds no tokens: append some first");
    SamplerParams p;
    ReadSamplerKwargs(kwargs, m_.config().n_vocab, &p, "sample", {"seed", "stream", "top_logprobs"});
    p.eos_tokens = EndOfGenerationTokens(m_.tok());
    p.outputs = kOutputRawLogprob | kOutputLogprob;
    auto integer = [&](const char* name) {
      return kwargs.contains(name) ? py::cast<uint64_t>(kwargs[name]) : uint64_t{0};
    };
    p.top_logprobs = int32_t(integer("top_logprobs"));
    const RowState state = DrawState(tokens_, n_prompt_, integer("seed"), integer("stream"));
    DecodeResult r;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      r = head_.Decode(row_, p, state);
    }
    ThrowIfError(r.status);
    return py::make_tuple(r.token, r.raw_logprob, r.logprob, r.top);
  }

  py::array_t<float> logits() const { return ToArray(row_); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  size_t n_prompt() const { return n_prompt_; }

 private:
  const PyModel& m_;
  Context context_;
  DecodeHead head_;
  std::vector<int32_t> tokens_;
  size_t n_prompt_ = 0;
  std::vector<float> row_;  // [n_vocab]: the logits after the last token
  std::mutex mutex_;
};

}  // namespace

void BindSession(py::class_<PyModel>& model) {
  py::class_<PySession>(model, "Session",
                        "Incremental evaluation on one KV cache (Model.session(prompt)): append tokens, read the\n"
                        "next row of logits, sample by the generator's convention, rewind.")
      .def("append", &PySession::Append, py::arg("tokens"),
           "Evaluates tokens (a str or ids) after those so far; returns the last one's logits,\n"
           "float32 [n_vocab].")
      .def("rewind", &PySession::Rewind, py::arg("n"), "Keeps the first n tokens (n >= 1) and their logits.")
      .def("sample", &PySession::Sample,
           ("sample(*, seed=0, stream=0, top_logprobs=0, **sampling) -> (token, raw_logprob, logprob, top)\n"
            "Draws from logits() as Model.generate draws token i: keyed by (seed, stream, step = the\n"
            "position, len(tokens)), the penalties over tokens, min_tokens over those after the prompt.\n"
            "A loop of sample + append([token]) gives generate's tokens and logprobs exactly.\n"
            "Sampling parameters:\n" +
            SamplerKwargsDoc())
               .c_str())
      .def_property_readonly("logits", &PySession::logits, "the logits after the last token, float32 [n_vocab]")
      .def_property_readonly("tokens", &PySession::tokens, "every token so far, the prompt first")
      .def_property_readonly("n_prompt", &PySession::n_prompt, "how many of tokens are the prompt")
      .def("__len__", [](const PySession& s) { return s.tokens().size(); });
  model.def(
      "session", [](const PyModel& m, const py::object& prompt) { return new PySession(m, prompt); },
      py::arg("prompt") = py::none(), py::keep_alive<0, 1>(),
      "A Session over this model, its prompt (a str or ids) evaluated. The session keeps the model alive.");
}

}  // namespace logitkit::python
