// Model.generate: the library's generator (logitkit/generate.h), as the CLI
// and the server run it. One prompt, or several stepped together (and n
// choices each); every sampling parameter of the table is a keyword. Runs
// without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "constraint.h"
#include "errors.h"
#include "logitkit/generate.h"
#include "logitkit/next_token.h"
#include "model.h"
#include "sampler_kwargs.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

// One sequence's result.
struct Generation {
  std::string text;            // the continuation, cut before a stop string
  std::vector<int32_t> tokens;  // generated ids (with the one that completed a stop string)
  std::vector<float> raw_logprob, logprob;  // per token: model distribution; sampling distribution
  std::vector<std::vector<TokenLogprob>> top;  // per token: top_logprobs alternatives (raw distribution)
  std::string finish_reason;   // "stop" or "length"
  std::string stop_string;     // the stop string that ended the text ("" if none)
  size_t prompt_tokens = 0;
};

Generation ResultOf(const Sequence& seq) {
  Generation g;
  g.text = seq.text();
  g.tokens.assign(seq.generated().begin(), seq.generated().end());
  for (const DecodeResult& r : seq.records()) {
    g.raw_logprob.push_back(r.raw_logprob);
    g.logprob.push_back(r.logprob);
    g.top.push_back(r.top);
  }
  g.finish_reason = FinishReasonName(seq.finish_reason());
  g.stop_string = seq.stop_string();
  g.prompt_tokens = seq.prompt().size();
  return g;
}

// The prompts of `prompt`: a str, token ids, or a list of either; with chat,
// a str is the user's message and a list of {"role", "content"} dicts is a
// conversation. batched: a list of prompts was given.
std::vector<std::vector<int32_t>> Prompts(const PyModel& m, const py::object& prompt, bool chat, bool special,
                                          bool* batched) {
  auto one = [&](py::handle p) -> std::vector<int32_t> {
    if (chat && py::isinstance<py::str>(p)) {
      return ValueOrThrow(m.loaded().EncodePrompt(p.cast<std::string>(), /*chat=*/true));
    }
    if (chat && py::isinstance<py::list>(p) && py::len(p) > 0 && py::isinstance<py::dict>(p.cast<py::list>()[0])) {
      return ValueOrThrow(m.loaded().chat_template.Encode(m.tok(), ChatMessagesOf(p)));
    }
    return m.Tokens(p, "prompt", special);
  };
  // A list whose items are themselves prompts: strs, sequences of ids, conversations.
  *batched = false;
  if (py::isinstance<py::list>(prompt) && py::len(prompt) > 0) {
    const py::object first = prompt.cast<py::list>()[0];
    *batched = py::isinstance<py::str>(first) || (py::hasattr(first, "__len__") && !py::isinstance<py::dict>(first));
  }
  if (!*batched) return {one(prompt)};
  std::vector<std::vector<int32_t>> prompts;
  for (py::handle p : prompt) prompts.push_back(one(p));
  return prompts;
}

template <typename T>
T Kw(const py::kwargs& kwargs, const char* name, T fallback) {
  if (!kwargs.contains(name)) return fallback;
  try {
    return py::cast<T>(kwargs[name]);
  } catch (const py::cast_error&) {
    ThrowTypeError(std::string(name) + " = " + py::repr(kwargs[name]).cast<std::string>() + " has the wrong type");
  }
}

// The seed: an integer in [-2^63, 2^64); a negative seed is taken modulo 2^64,
// as the CLI and the server take it.
uint64_t SeedOf(const py::kwargs& kwargs) {
  if (!kwargs.contains("seed") || kwargs["seed"].is_none()) return 0;
  const py::handle seed = kwargs["seed"];
  if (py::isinstance<py::bool_>(seed) || !py::hasattr(seed, "__index__")) {
    ThrowTypeError("seed must be an integer, not " + py::str(py::type::of(seed).attr("__name__")).cast<std::string>());
  }
  const py::int_ value = py::reinterpret_steal<py::int_>(PyNumber_Index(seed.ptr()));
  if (value >= py::int_(0)) {
    const unsigned long long u = PyLong_AsUnsignedLongLong(value.ptr());
    if (!PyErr_Occurred()) return u;
  } else {
    const long long s = PyLong_AsLongLong(value.ptr());
    if (!PyErr_Occurred()) return uint64_t(s);
  }
  PyErr_Clear();
  ThrowValueError("seed = " + py::repr(value).cast<std::string>() + " is outside [-2^63, 2^64)");
}

py::object Generate(const PyModel& m, const py::object& prompt, const py::kwargs& kwargs) {
  GenerateOptions options;
  ReadSamplerKwargs(kwargs, m.config().n_vocab, &options.sampler, "generate",
                    {"max_tokens", "seed", "stop", "ignore_eos", "top_logprobs", "chat", "n", "special",
                     "json_object", "json_schema", "regex", "choice", "grammar"});
  const long long max_tokens = Kw<long long>(kwargs, "max_tokens", 128);
  if (max_tokens < 1 || max_tokens > 1000000) {
    ThrowValueError("max_tokens = " + std::to_string(max_tokens) + " is outside [1, 1000000]");
  }
  const long long n = Kw<long long>(kwargs, "n", 1);
  if (n < 1 || n > 256) ThrowValueError("n = " + std::to_string(n) + " is outside [1, 256]");
  const long long top_logprobs = Kw<long long>(kwargs, "top_logprobs", 0);
  if (top_logprobs < 0 || top_logprobs > 100) {
    ThrowValueError("top_logprobs = " + std::to_string(top_logprobs) + " is outside [0, 100]");
  }
  options.max_tokens = size_t(max_tokens);
  options.seed = SeedOf(kwargs);
  options.ignore_eos = Kw<bool>(kwargs, "ignore_eos", false);
  options.sampler.top_logprobs = int32_t(top_logprobs);
  const bool chat = Kw<bool>(kwargs, "chat", false);
  options.strip_space_prefix = chat;  // a continuation keeps its leading space; a reply does not
  if (kwargs.contains("stop") && !kwargs["stop"].is_none()) {
    options.stop = py::isinstance<py::str>(kwargs["stop"]) ? std::vector<std::string>{kwargs["stop"].cast<std::string>()}
                                                           : Kw<std::vector<std::string>>(kwargs, "stop", {});
  }
  options.constraint = ConstraintKwargs(m, kwargs);
  bool batched = false;
  const std::vector<std::vector<int32_t>> prompts = Prompts(m, prompt, chat, Kw<bool>(kwargs, "special", false), &batched);
  std::vector<Sequence> seqs;
  for (const std::vector<int32_t>& ids : prompts) {
    for (long long choice = 0; choice < n; ++choice) {
      GenerateOptions o = options;
      o.stream = uint64_t(choice);  // as the server numbers a request's choices
      seqs.emplace_back(m.tok(), ids, std::move(o));
    }
  }
  std::vector<Generation> results;
  {
    py::gil_scoped_release release;
    // An error ends the whole call, naming the prompt and choice it came from.
    auto where = [&](size_t i) {
      return seqs.size() == 1 ? std::string() : "prompt " + std::to_string(i / size_t(n)) + ", choice " +
                                                    std::to_string(i % size_t(n)) + ": ";
    };
    std::vector<Sequence*> live;
    for (size_t i = 0; i < seqs.size(); ++i) {
      ThrowIfError(seqs[i].Start(m.model(), m.pool()).WithContext(where(i)));
      live.push_back(&seqs[i]);
    }
    Stepper stepper(m.pool());
    std::vector<StepOutput> outputs;
    for (bool running = true; running;) {
      stepper.Step(live, &outputs);
      running = false;
      for (size_t i = 0; i < live.size(); ++i) {
        ThrowIfError(live[i]->status().WithContext(where(i)));
        running |= !live[i]->done();
      }
    }
    for (const Sequence& seq : seqs) results.push_back(ResultOf(seq));
  }
  if (!batched && n == 1) return py::cast(std::move(results[0]));
  return py::cast(std::move(results));
}

}  // namespace

// Model.next_token: `logitkit top` and the server's /next_token for Python,
// through the same analysis::ViewNextToken. One dict per temperature.
py::list NextToken(const PyModel& m, const py::object& prompt, const py::kwargs& kwargs) {
  SamplerParams filters;
  ReadSamplerKwargs(kwargs, m.config().n_vocab, &filters, "next_token", {"temperatures", "top", "chat", "special"});
  const long long top = Kw<long long>(kwargs, "top", 10);
  if (top < 1 || size_t(top) > m.config().n_vocab) {
    ThrowValueError("top = " + std::to_string(top) + " is outside [1, " + std::to_string(m.config().n_vocab) + "]");
  }
  std::vector<double> temperatures = {kwargs.contains("temperature") ? kwargs["temperature"].cast<double>() : 1.0};
  if (kwargs.contains("temperatures")) temperatures = kwargs["temperatures"].cast<std::vector<double>>();
  if (temperatures.empty()) ThrowValueError("temperatures is empty");
  bool batched = false;
  const std::vector<std::vector<int32_t>> prompts =
      Prompts(m, prompt, Kw<bool>(kwargs, "chat", false), Kw<bool>(kwargs, "special", false), &batched);
  if (batched) ThrowValueError("prompt: next_token takes one prompt, not a list of them");
  filters.eos_tokens = EndOfGenerationTokens(m.tok());
  std::vector<analysis::NextTokenView> views;
  {
    py::gil_scoped_release release;
    Context context(m.model(), prompts[0].size(), m.pool());
    std::vector<float> logits;
    ThrowIfError(context.Eval(prompts[0], Logits::kLast, &logits));
    DecodeHead head(m.pool());
    RowState state;  // a generation's first draw: the prompt is the penalties' history
    state.history = prompts[0];
    for (double t : temperatures) {
      views.push_back(ValueOrThrow(analysis::ViewNextToken(head, logits, filters, state, t, size_t(top))));
    }
  }
  py::list out;
  for (const analysis::NextTokenView& v : views) {
    py::list rows;
    for (size_t r = 0; r < v.top.size(); ++r) {
      const analysis::NextTokenRow& row = v.top[r];
      py::dict d;
      d["rank"] = r + 1;
      d["id"] = row.token;
      d["token"] = m.Piece(row.token);
      d["logit"] = row.logit;
      d["logprob"] = row.logprob;
      d["p"] = row.p;
      d["cumulative_p"] = row.cumulative_p;
      d["kept"] = row.kept;
      d["kept_p"] = row.kept_p();
      d["kept_logprob"] = row.kept_logprob;
      rows.append(d);
    }
    py::dict d;
    d["temperature"] = v.temperature;
    d["entropy"] = v.entropy;
    d["n_kept"] = v.n_kept;
    d["kept_mass"] = v.kept_mass;
    d["kept_entropy"] = v.kept_entropy;
    d["top"] = rows;
    out.append(d);
  }
  return out;
}

void BindGenerate(py::class_<PyModel>& model) {
  py::class_<Generation>(model, "Generation", "The result of Model.generate.")
      .def_readonly("text", &Generation::text)
      .def_readonly("tokens", &Generation::tokens)
      .def_property_readonly("raw_logprob", [](const Generation& g) { return ToArray(g.raw_logprob); },
                             "[n] float32: each token's logprob under the model's distribution (T = 1)")
      .def_property_readonly("logprob", [](const Generation& g) { return ToArray(g.logprob); },
                             "[n] float32: under the distribution it was drawn from")
      .def_readonly("top", &Generation::top, "per token, the top_logprobs most likely alternatives")
      .def_readonly("finish_reason", &Generation::finish_reason,
                    "'stop' (an end-of-generation token or a stop string) or 'length'")
      .def_readonly("stop_string", &Generation::stop_string, "the stop string that ended the text, or ''")
      .def_readonly("prompt_tokens", &Generation::prompt_tokens)
      .def("__str__", [](const Generation& g) { return g.text; })
      .def("__repr__", [](const Generation& g) {
        return "Generation(text=" + py::repr(py::str(g.text)).cast<std::string>() + ", tokens=" +
               std::to_string(g.tokens.size()) + ", finish_reason='" + g.finish_reason + "')";
      });

  static const std::string doc =
      "generate(prompt, *, max_tokens=128, seed=0, stop=None, ignore_eos=False, top_logprobs=0,\n"
      "         chat=False, n=1, special=False, json_object=False | json_schema=... | regex=... |\n"
      "         choice=[...] | grammar=..., **sampling) -> Generation, or a list of them\n"
      "Continues prompt (a str, or token ids) and returns a Generation: text, tokens, logprobs,\n"
      "finish_reason ('stop' or 'length'), stop_string. A list of prompts (or n > 1 choices, drawn\n"
      "with stream = the choice's index, as the server numbers them) runs together, batched, and\n"
      "returns a list, prompt by prompt; an error in any of them raises, naming its prompt and\n"
      "choice. chat: a str is the user's message in the model's chat\n"
      "format, or pass a list of {'role', 'content'} dicts. special: special tokens written in a str\n"
      "prompt are those tokens, as the server reads them. stop: a str or a list of them (the text\n"
      "ends before the first). The same seed and parameters give the same tokens and logprobs as\n"
      "`logitkit generate` and `logitkit serve`. Structured output (at most one): json_object=True\n"
      "(any JSON object), json_schema (a dict or a JSON str), regex (str), choice (list of str),\n"
      "grammar (EBNF str, rule `root`): every draw is masked so the text matches, and finish 'stop'\n"
      "comes with a complete match. Sampling parameters:\n" +
      SamplerKwargsDoc();
  model.def("generate", &Generate, py::arg("prompt"), doc.c_str());
  static const std::string next_doc =
      "next_token(prompt, *, temperatures=[temperature], top=10, chat=False, special=False, **sampling)\n"
      "The next-token view of `logitkit top` and the server's /next_token: per temperature a dict\n"
      "{temperature, entropy, n_kept, kept_mass, kept_entropy, top}, top holding the `top` most likely\n"
      "tokens {rank, id, token, logit, logprob (T = 1), p (at T), cumulative_p, kept, kept_p\n"
      "(renormalised over the kept set), kept_logprob (-inf if cut)}. The sampling keywords\n"
      "(top_k, top_p, min_p, ...) are the filters the decode head applies at each temperature:\n" +
      SamplerKwargsDoc();
  model.def("next_token", &NextToken, py::arg("prompt"), next_doc.c_str());
}

}  // namespace logitkit::python
