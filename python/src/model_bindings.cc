// logitkit.Model: tokenize / detokenize, logits at every position, score,
// the logit lens. The forward passes run with the GIL released; results come
// back as numpy arrays without a copy (the library's vector is handed over).
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
#include "logitkit/head.h"
#include "model.h"

namespace py = pybind11;

namespace logitkit::python {

PyModel::PyModel(const std::string& path, size_t threads) {
  py::gil_scoped_release release;  // loading maps the file and checks every tensor
  loaded_ = ValueOrThrow(LoadModel(path, threads));
}

std::vector<int32_t> PyModel::Tokens(py::handle text_or_ids, const char* name, bool parse_special) const {
  std::vector<int32_t> ids;
  if (py::isinstance<py::str>(text_or_ids)) {
    ids = ValueOrThrow(loaded_.EncodePrompt(text_or_ids.cast<std::string>(), /*chat=*/false, parse_special));
  } else {
    ids = GetTokenIds(text_or_ids, name, config().n_vocab);
  }
  if (ids.empty()) ThrowIfError(InvalidArgumentError(std::string(name) + " is empty (no tokens)"));
  if (ids.size() > config().context_length) {
    ThrowIfError(OutOfRangeError(std::string(name) + " has " + std::to_string(ids.size()) +
                                 " tokens; the model's context holds " + std::to_string(config().context_length)));
  }
  return ids;
}

std::string PyModel::Piece(int32_t id) const {
  return tokenizer::SanitizeUtf8(ValueOrThrow(tok().TokenToPiece(id, /*render_special=*/true)));
}

namespace {

// Per-token scores of a text (Model.score).
struct Score {
  std::vector<int32_t> tokens;                   // the whole text's ids
  py::array_t<float> logprob, entropy;           // [T - 1]: token t + 1 given tokens <= t
  py::array_t<int64_t> rank;                     // [T - 1]; 1 = the model's top choice
  double nll = 0, perplexity = 0, bits_per_byte = 0;
};

// Logits at every position, [T, V] (the model runs its passes of kMaxBatch).
py::array_t<float> LogitsOf(const PyModel& m, const py::object& text_or_ids) {
  const std::vector<int32_t> ids = m.Tokens(text_or_ids, "text_or_tokens");
  std::vector<float> logits;
  {
    py::gil_scoped_release release;
    Context context(m.model(), ids.size(), m.pool());
    ThrowIfError(context.Eval(ids, Logits::kAll, &logits));
  }
  return VectorToArray(std::move(logits), {ids.size(), size_t(m.config().n_vocab)});
}

// As `logitkit score`: position t scores token t + 1 with the head's
// LogSoftmax of the model's logits (T = 1); rank counts the tokens with a
// larger logit (ties in the token's favour); entropy in nats.
Score ScoreOf(const PyModel& m, const py::object& text_or_ids, bool special) {
  Score s;
  s.tokens = m.Tokens(text_or_ids, "text_or_tokens", special);
  const size_t T = s.tokens.size(), V = m.config().n_vocab;
  if (T < 2) ThrowIfError(InvalidArgumentError("the text has fewer than 2 tokens: nothing to score"));
  std::vector<float> logprob(T - 1), entropy(T - 1);
  std::vector<int64_t> rank(T - 1);
  double sum_nll = 0;
  size_t n_bytes = 0;
  for (size_t t = 1; t < T; ++t) n_bytes += ValueOrThrow(m.tok().TokenToPiece(s.tokens[t], true)).size();
  {
    // One pass of logits at a time (Context::EvalEach): memory stays that of
    // one pass however long the text.
    py::gil_scoped_release release;
    Context context(m.model(), T, m.pool());
    std::vector<float> lp(V);
    const std::span<const int32_t> inputs(s.tokens.data(), T - 1);  // the last token predicts nothing
    ThrowIfError(context.EvalEach(inputs, [&](size_t first, std::span<const float> logits) -> Status {
      for (size_t k = 0; k < logits.size() / V; ++k) {
        const size_t t = first + k;
        const std::span<const float> row = logits.subspan(k * V, V);
        LOGITKIT_RETURN_IF_ERROR(LogSoftmax(row, 1.0f, lp).WithContext("position " + std::to_string(t) + ": "));
        const int32_t next = s.tokens[t + 1];
        double h = 0;
        int64_t above = 0;
        for (size_t v = 0; v < V; ++v) {
          if (lp[v] > -INFINITY) h -= std::exp(double(lp[v])) * lp[v];
          above += row[v] > row[next];
        }
        logprob[t] = lp[next];
        entropy[t] = float(h);
        rank[t] = above + 1;
        sum_nll -= lp[next];
      }
      return OkStatus();
    }));
  }
  s.nll = sum_nll / double(T - 1);
  s.perplexity = std::exp(s.nll);
  s.bits_per_byte = n_bytes ? sum_nll / std::log(2.0) / double(n_bytes) : 0.0;
  s.logprob = ToArray(logprob);
  s.entropy = ToArray(entropy);
  s.rank = ToArray(rank);
  return s;
}

// The logit lens, as `logitkit lens` computes it: layer l's logits are
// Context::Unembed of the residual stream after block l, [n_layers, T', V]
// (T' = T for "all", 1 for "last"); layer n_layers - 1 is the model's own.
py::array_t<float> LensOf(const PyModel& m, const py::object& text_or_ids, const std::string& positions) {
  if (positions != "all" && positions != "last") {
    ThrowValueError("positions = '" + positions + "' is not 'all' or 'last'");
  }
  const std::vector<int32_t> ids = m.Tokens(text_or_ids, "text_or_tokens");
  const size_t L = m.config().n_layers, V = m.config().n_vocab;
  const size_t T = positions == "all" ? ids.size() : 1;
  std::vector<float> out;
  {
    py::gil_scoped_release release;
    Context context(m.model(), ids.size(), m.pool());
    std::vector<float> logits, layer;
    ResidualTap tap;
    ThrowIfError(context.Eval(ids, positions == "all" ? Logits::kAll : Logits::kLast, &logits, &tap));
    out.reserve(L * T * V);
    for (size_t l = 0; l < L; ++l) {
      ThrowIfError(context.Unembed(tap.residual[l], &layer));
      out.insert(out.end(), layer.begin(), layer.end());
    }
  }
  return VectorToArray(std::move(out), {L, T, V});
}

}  // namespace

void BindModel(py::module_& m) {
  py::class_<Score>(m, "Score", "Per-token scores of a text under the model (natural log, T = 1).")
      .def_readonly("tokens", &Score::tokens, "the text's token ids (the first is context only)")
      .def_readonly("logprob", &Score::logprob, "[T - 1] float32: log p(token t + 1 | tokens <= t)")
      .def_readonly("rank", &Score::rank, "[T - 1] int64: 1 + tokens with a larger logit")
      .def_readonly("entropy", &Score::entropy, "[T - 1] float32: the model's entropy there (nats)")
      .def_readonly("nll", &Score::nll, "mean -logprob (nats per token)")
      .def_readonly("perplexity", &Score::perplexity, "exp(nll)")
      .def_readonly("bits_per_byte", &Score::bits_per_byte, "sum -logprob / ln 2 over the scored tokens' bytes")
      .def("__repr__", [](const Score& s) {
        return "Score(tokens=" + std::to_string(s.tokens.size()) + ", nll=" + std::to_string(s.nll) +
               ", perplexity=" + std::to_string(s.perplexity) + ")";
      });

  py::class_<PyModel> model(m, "Model",
                            "Model(path, threads=0): a GGUF model and its tokenizer (threads 0 = one per core).\n"
                            "logitkit.Model() with no path loads the default model (see default_model_path()).");
  m.def("default_model_path", [] { return DefaultModelPath(); },
        "The model Model() loads: $LOGITKIT_MODEL, else the default model that scripts/fetch-model\n"
        "puts in the cache (cache_dir()).");
  m.def("cache_dir", [] { return CacheDir(); }, "$LOGITKIT_CACHE, else ~/.cache/logitkit.");
  model.def(py::init<const std::string&, size_t>(), py::arg("path"), py::arg("threads") = 0)
      .def_property_readonly("path", &PyModel::path)
      .def_property_readonly("n_vocab", [](const PyModel& p) { return p.config().n_vocab; })
      .def_property_readonly("n_layers", [](const PyModel& p) { return p.config().n_layers; })
      .def_property_readonly("d_model", [](const PyModel& p) { return p.config().d_model; })
      .def_property_readonly("context_length", [](const PyModel& p) { return p.config().context_length; })
      .def_property_readonly("architecture", [](const PyModel& p) { return p.config().architecture; })
      .def_property_readonly("name", [](const PyModel& p) { return p.config().name; })
      .def_property_readonly("threads", [](const PyModel& p) { return p.pool()->num_threads(); })
      .def_property_readonly("bos", [](const PyModel& p) { return p.tok().bos(); }, "BOS id (-1: none)")
      .def_property_readonly("eos", [](const PyModel& p) { return p.tok().eos(); }, "EOS id (-1: none)")
      .def(
          "tokenize",
          [](const PyModel& p, const std::string& text, std::optional<bool> add_bos, bool parse_special) {
            tokenizer::EncodeOptions options;
            options.add_bos = add_bos;
            options.parse_special = parse_special;
            return ValueOrThrow(p.tok().Encode(text, options));
          },
          py::arg("text"), py::arg("add_bos") = py::none(), py::arg("parse_special") = false,
          "Token ids of text (add_bos None: as the vocabulary says; parse_special: match\n"
          "control tokens written in the text).")
      .def(
          "detokenize",
          [](const PyModel& p, const py::object& ids, bool render_special) {
            tokenizer::DecodeOptions options;
            options.render_special = render_special;
            const std::vector<int32_t> tokens = GetTokenIds(ids, "ids", p.config().n_vocab);
            return tokenizer::SanitizeUtf8(ValueOrThrow(p.tok().Decode(tokens, options)));
          },
          py::arg("ids"), py::arg("render_special") = false,
          "The text of token ids (bytes that are not valid UTF-8 become U+FFFD).")
      .def("token_text", &PyModel::Piece, py::arg("id"), "One token's text (special tokens rendered).")
      .def("is_end_of_generation", [](const PyModel& p, int32_t id) { return p.tok().IsEndOfGeneration(id); },
           py::arg("id"))
      .def("logits", &LogitsOf, py::arg("text_or_tokens"),
           "The model's logits at every position: float32 [T, n_vocab] (row t predicts token t + 1).\n"
           "A str is tokenized; a sequence of ints is used as is.")
      .def("score", &ScoreOf, py::arg("text_or_tokens"), py::kw_only(), py::arg("special") = false,
           "Per-token logprob, rank and entropy of a text, with its NLL and perplexity (a Score).\n"
           "special: special tokens written in the text (<|im_start|>) are those tokens, as the\n"
           "server reads completion prompts and `logitkit score --special` does.")
      .def("lens", &LensOf, py::arg("text_or_tokens"), py::arg("positions") = "all",
           "The logit lens: float32 [n_layers, T, n_vocab], layer l's residual stream through the\n"
           "final norm and the LM head; the last layer is the model's own logits. positions='last':\n"
           "only the last position, [n_layers, 1, n_vocab].");
  BindGenerate(model);
  BindConstraint(m, model);
  BindSession(model);
  BindChat(m, model);
}

}  // namespace logitkit::python
