// DecodeHead: the whole chain (processors, temperature, filters, draw) on a
// 1-D row or a 2-D batch of float32 / float16 logits, read in place. Sampler
// parameters are keyword arguments shared by every row; seed, stream, step and
// n_generated are a scalar (every row) or one value per row, and history one
// sequence (every row) or one per row. A bad row raises (the first in row
// order, its message prefixed "row R: ").
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logitkit/head.h"
#include "sampler_kwargs.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

class PyDecodeHead {
 public:
  // threads: 1 = the calling thread only; 0 = one per core.
  explicit PyDecodeHead(size_t threads) {
    if (threads != 1) pool_ = std::make_unique<ThreadPool>(threads);
    head_ = std::make_unique<DecodeHead>(pool_.get());
  }
  size_t threads() const { return pool_ ? pool_->num_threads() : 1; }

  // REQUIRES: the GIL is released (DecodeHead is not thread-safe: one call at a time).
  Status Run(const LogitsBatch& logits, const SamplerParams& params, std::span<const RowState> states,
             std::vector<DecodeResult>& results) {
    std::lock_guard<std::mutex> lock(mutex_);
    return head_->DecodeBatch(logits, std::span<const SamplerParams>(&params, 1), states, results);
  }

 private:
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<DecodeHead> head_;
  std::mutex mutex_;
};

// One row's result, as Python sees it.
struct Decoded {
  DecodeResult r;
};

// A batch's results as arrays: [n_rows], and [n_rows, top_logprobs] for the
// alternatives (token -1 and NaN where a row has fewer).
struct DecodedBatch {
  py::array_t<int32_t> token, rank, n_kept, top_token;
  py::array_t<float> raw_logprob, logprob, raw_entropy, entropy, top_raw_logprob, top_logprob;
  size_t n_rows = 0;
};

uint32_t ParseOutputs(py::handle obj) {
  static const std::pair<const char*, uint32_t> kNames[] = {
      {"raw_logprob", kOutputRawLogprob}, {"logprob", kOutputLogprob},  {"rank", kOutputRank},
      {"raw_entropy", kOutputRawEntropy}, {"entropy", kOutputEntropy}, {"n_kept", kOutputKept},
      {"all", kOutputAll},                {"none", kOutputNone}};
  std::vector<std::string> names;
  if (py::isinstance<py::str>(obj)) {
    names.push_back(obj.cast<std::string>());
  } else {
    for (py::handle h : py::reinterpret_borrow<py::iterable>(obj)) names.push_back(py::str(h).cast<std::string>());
  }
  uint32_t flags = kOutputNone;
  for (const std::string& n : names) {
    bool found = false;
    for (const auto& [name, flag] : kNames) {
      if (n == name) flags |= flag, found = true;
    }
    if (!found) {
      ThrowValueError("outputs: unknown output '" + n +
                      "' (expected raw_logprob, logprob, rank, raw_entropy, entropy, n_kept, all, none)");
    }
  }
  return flags;
}

// An integer argument; out of T's range (e.g. a negative seed) is a ValueError.
template <typename T>
T IntArg(py::handle h, const std::string& name) {
  try {
    return py::cast<T>(py::reinterpret_borrow<py::object>(h));
  } catch (const py::cast_error&) {
    ThrowValueError(name + " = " + py::repr(h).cast<std::string>() + " is not an integer in [" +
                    std::to_string(std::numeric_limits<T>::min()) + ", " +
                    std::to_string(std::numeric_limits<T>::max()) + "]");
  }
}

// A scalar for every row, or a 1-D sequence of n_rows values.
template <typename T>
std::vector<T> PerRow(py::handle obj, const char* name, size_t n_rows) {
  if (!py::hasattr(obj, "__len__")) return std::vector<T>(n_rows, IntArg<T>(obj, name));
  std::vector<T> values;
  for (py::handle h : py::reinterpret_borrow<py::iterable>(obj)) {
    values.push_back(IntArg<T>(h, std::string(name) + "[" + std::to_string(values.size()) + "]"));
  }
  if (values.size() != n_rows) {
    ThrowValueError(std::string(name) + " has " + std::to_string(values.size()) + " values for " +
                    std::to_string(n_rows) + " rows (pass one integer, or one per row)");
  }
  return values;
}

// One sequence for every row, or (for a batch) one per row: a list of
// sequences or a 2-D integer array.
std::vector<std::vector<int32_t>> Histories(py::handle obj, size_t n_rows, bool batched, size_t n_vocab) {
  if (obj.is_none()) return {std::vector<int32_t>()};
  bool per_row = false;
  if (batched) {
    if (py::hasattr(obj, "ndim")) {
      per_row = obj.attr("ndim").cast<int>() == 2;
    } else if (py::isinstance<py::sequence>(obj) && py::len(obj) > 0) {
      py::object first = py::reinterpret_borrow<py::sequence>(obj)[0];
      per_row = !py::isinstance<py::int_>(first) && py::hasattr(first, "__len__");
    }
  }
  if (!per_row) return {GetTokenIds(obj, "history", n_vocab)};
  std::vector<std::vector<int32_t>> rows;
  for (py::handle h : py::reinterpret_borrow<py::iterable>(obj)) {
    rows.push_back(GetTokenIds(h, ("history[" + std::to_string(rows.size()) + "]").c_str(), n_vocab));
  }
  if (rows.size() != n_rows) {
    ThrowValueError("history has " + std::to_string(rows.size()) + " sequences for " + std::to_string(n_rows) +
                    " rows (pass one sequence for every row, or one per row)");
  }
  return rows;
}

// A row's error: "row R: ..." in a batch; verbatim for a single row.
Status RowStatus(const DecodeResult& r, bool batched) {
  constexpr std::string_view kPrefix = "row 0: ";
  const std::string& message = r.status.message();
  if (batched || r.status.ok() || !message.starts_with(kPrefix)) return r.status;
  return Status(r.status.code(), message.substr(kPrefix.size()));
}

DecodedBatch ToBatch(std::vector<DecodeResult>& results, size_t n_top) {
  const size_t n = results.size();
  DecodedBatch b;
  b.n_rows = n;
  b.token = NewArray<int32_t>({py::ssize_t(n)});
  b.rank = NewArray<int32_t>({py::ssize_t(n)});
  b.n_kept = NewArray<int32_t>({py::ssize_t(n)});
  b.raw_logprob = NewArray<float>({py::ssize_t(n)});
  b.logprob = NewArray<float>({py::ssize_t(n)});
  b.raw_entropy = NewArray<float>({py::ssize_t(n)});
  b.entropy = NewArray<float>({py::ssize_t(n)});
  b.top_token = NewArray<int32_t>({py::ssize_t(n), py::ssize_t(n_top)});
  b.top_raw_logprob = NewArray<float>({py::ssize_t(n), py::ssize_t(n_top)});
  b.top_logprob = NewArray<float>({py::ssize_t(n), py::ssize_t(n_top)});
  int32_t* top_token = b.top_token.mutable_data();
  float* top_raw = b.top_raw_logprob.mutable_data();
  float* top_final = b.top_logprob.mutable_data();
  for (size_t i = 0; i < n; ++i) {
    const DecodeResult& r = results[i];
    b.token.mutable_at(i) = r.token;
    b.rank.mutable_at(i) = r.rank;
    b.n_kept.mutable_at(i) = r.n_kept;
    b.raw_logprob.mutable_at(i) = r.raw_logprob;
    b.logprob.mutable_at(i) = r.logprob;
    b.raw_entropy.mutable_at(i) = r.raw_entropy;
    b.entropy.mutable_at(i) = r.entropy;
    for (size_t k = 0; k < n_top; ++k) {
      const bool has = k < r.top.size();
      top_token[i * n_top + k] = has ? r.top[k].token : -1;
      top_raw[i * n_top + k] = has ? r.top[k].raw_logprob : std::numeric_limits<float>::quiet_NaN();
      top_final[i * n_top + k] = has ? r.top[k].logprob : std::numeric_limits<float>::quiet_NaN();
    }
  }
  return b;
}

// A keyword argument, or its default.
py::object Kw(const py::kwargs& kwargs, const char* name, py::object fallback) {
  return kwargs.contains(name) ? py::reinterpret_borrow<py::object>(kwargs[name]) : std::move(fallback);
}

py::object Decode(PyDecodeHead& self, const py::object& logits, const py::kwargs& kwargs) {
  LogitsArg a = GetLogits(logits, "logits", /*allow_f16=*/true);
  SamplerParams p;
  ReadSamplerKwargs(kwargs, a.n_vocab, &p, "decode",
                    {"history", "eos_tokens", "n_generated", "seed", "stream", "step", "top_logprobs",
                     "alternatives", "outputs", "allowed_mask"});
  const py::object eos_tokens = Kw(kwargs, "eos_tokens", py::none());
  if (!eos_tokens.is_none()) p.eos_tokens = GetTokenIds(eos_tokens, "eos_tokens", a.n_vocab);
  const int32_t top_logprobs = IntArg<int32_t>(Kw(kwargs, "top_logprobs", py::int_(0)), "top_logprobs");
  p.top_logprobs = top_logprobs;
  const std::string alternatives = py::str(Kw(kwargs, "alternatives", py::str("raw"))).cast<std::string>();
  if (alternatives == "raw") {
    p.alternatives_from = Alternatives::kRaw;
  } else if (alternatives == "final") {
    p.alternatives_from = Alternatives::kFinal;
  } else {
    ThrowValueError("alternatives = '" + alternatives + "' is not 'raw' or 'final'");
  }
  p.outputs = ParseOutputs(Kw(kwargs, "outputs", py::make_tuple("raw_logprob", "logprob")));
  const py::object history = Kw(kwargs, "history", py::none()), seed = Kw(kwargs, "seed", py::int_(0)),
                   stream = Kw(kwargs, "stream", py::int_(0)), step = Kw(kwargs, "step", py::int_(0)),
                   n_generated = Kw(kwargs, "n_generated", py::int_(0));

  const size_t n = a.n_rows;
  const std::vector<std::vector<int32_t>> histories = Histories(history, n, a.batched, a.n_vocab);
  const std::vector<uint64_t> seeds = PerRow<uint64_t>(seed, "seed", n);
  const std::vector<uint64_t> streams = PerRow<uint64_t>(stream, "stream", n);
  const std::vector<uint64_t> steps = PerRow<uint64_t>(step, "step", n);
  const std::vector<int64_t> generated = PerRow<int64_t>(n_generated, "n_generated", n);
  // allowed_mask: [words] for every row or [n_rows, words], uint32 or int32
  // (XGrammar's and Model.matcher's layout), held while the rows run.
  const py::object mask_arg = Kw(kwargs, "allowed_mask", py::none());
  py::array mask;  // C-contiguous, 4-byte integers
  size_t mask_words = 0;
  if (!mask_arg.is_none()) {
    // The dtype and layout through Python (pybind11 2.10's descriptor fields
    // predate numpy 2's layout; see arrays.h).
    mask = py::module_::import("numpy").attr("ascontiguousarray")(mask_arg);
    const std::string dtype = py::str(mask.dtype().attr("str")).cast<std::string>();
    if (dtype != "<u4" && dtype != "<i4") {
      ThrowTypeError("allowed_mask must be a uint32 or int32 array (32 tokens per word), not " + dtype);
    }
    if (mask.ndim() != 1 && !(mask.ndim() == 2 && size_t(mask.shape(0)) == n)) {
      ThrowValueError("allowed_mask must be [words] or [n_rows = " + std::to_string(n) + ", words]");
    }
    mask_words = size_t(mask.shape(mask.ndim() - 1));
  }
  std::vector<RowState> states(n);
  for (size_t r = 0; r < n; ++r) {
    if (mask_words > 0) {
      const uint32_t* words = static_cast<const uint32_t*>(mask.data());
      states[r].allowed_mask = std::span(words + (mask.ndim() == 2 ? r * mask_words : 0), mask_words);
    }
    states[r].history = histories[histories.size() == 1 ? 0 : r];
    states[r].n_generated = generated[r];
    states[r].seed = seeds[r];
    states[r].stream = streams[r];
    states[r].step = steps[r];
  }
  std::vector<DecodeResult> results;
  Status status;
  {
    py::gil_scoped_release release;
    status = self.Run(a.Batch(), p, states, results);
    for (size_t r = 0; r < results.size() && status.ok(); ++r) status = RowStatus(results[r], a.batched);
  }
  ThrowIfError(status);
  if (!a.batched) return py::cast(Decoded{std::move(results[0])});
  return py::cast(ToBatch(results, size_t(std::max(top_logprobs, 0))));
}

std::string Repr(const DecodeResult& r) {
  return "Decoded(token=" + std::to_string(r.token) + ", raw_logprob=" + std::to_string(r.raw_logprob) +
         ", logprob=" + std::to_string(r.logprob) + ", top=" + std::to_string(r.top.size()) + " alternatives)";
}

}  // namespace

void BindDecode(py::module_& m) {
  py::class_<TokenLogprob>(m, "TokenLogprob", "One alternative: a token and its two logprobs.")
      .def_readonly("token", &TokenLogprob::token)
      .def_readonly("raw_logprob", &TokenLogprob::raw_logprob, "under the raw model distribution (T = 1)")
      .def_readonly("logprob", &TokenLogprob::logprob, "under the final distribution (-inf if filtered out)")
      .def("__iter__", [](const TokenLogprob& t) { return py::iter(py::make_tuple(t.token, t.raw_logprob, t.logprob)); })
      .def("__repr__", [](const TokenLogprob& t) {
        return "TokenLogprob(token=" + std::to_string(t.token) + ", raw_logprob=" + std::to_string(t.raw_logprob) +
               ", logprob=" + std::to_string(t.logprob) + ")";
      });

  py::class_<Decoded>(m, "Decoded", "The decode head's result for one row (values not asked for are NaN / 0).")
      .def_property_readonly("token", [](const Decoded& d) { return d.r.token; })
      .def_property_readonly("raw_logprob", [](const Decoded& d) { return d.r.raw_logprob; })
      .def_property_readonly("logprob", [](const Decoded& d) { return d.r.logprob; })
      .def_property_readonly("rank", [](const Decoded& d) { return d.r.rank; })
      .def_property_readonly("raw_entropy", [](const Decoded& d) { return d.r.raw_entropy; })
      .def_property_readonly("entropy", [](const Decoded& d) { return d.r.entropy; })
      .def_property_readonly("n_kept", [](const Decoded& d) { return d.r.n_kept; })
      .def_property_readonly("top", [](const Decoded& d) { return d.r.top; })
      .def("__repr__", [](const Decoded& d) { return Repr(d.r); });

  py::class_<DecodedBatch>(m, "DecodedBatch",
                           "The decode head's results for a batch, as numpy arrays: [n_rows] per value,\n"
                           "[n_rows, top_logprobs] for the alternatives.")
      .def_readonly("token", &DecodedBatch::token)
      .def_readonly("raw_logprob", &DecodedBatch::raw_logprob)
      .def_readonly("logprob", &DecodedBatch::logprob)
      .def_readonly("rank", &DecodedBatch::rank)
      .def_readonly("raw_entropy", &DecodedBatch::raw_entropy)
      .def_readonly("entropy", &DecodedBatch::entropy)
      .def_readonly("n_kept", &DecodedBatch::n_kept)
      .def_readonly("top_token", &DecodedBatch::top_token)
      .def_readonly("top_raw_logprob", &DecodedBatch::top_raw_logprob)
      .def_readonly("top_logprob", &DecodedBatch::top_logprob)
      .def("__len__", [](const DecodedBatch& b) { return b.n_rows; })
      .def("__repr__", [](const DecodedBatch& b) { return "DecodedBatch(n_rows=" + std::to_string(b.n_rows) + ")"; });

  py::class_<PyDecodeHead>(m, "DecodeHead",
                           "The decode head: processors, temperature, filters and a seeded draw, with logprobs.\n"
                           "DecodeHead(threads=1): batches spread over `threads` threads (0 = one per core).\n"
                           "The token depends only on the row, the parameters and (seed, stream, step).")
      .def(py::init<size_t>(), py::arg("threads") = 1)
      .def_property_readonly("threads", &PyDecodeHead::threads)
      .def("decode", &Decode, py::arg("logits"),
           ("decode(logits, **parameters)\n"
            "logits: [n_vocab] -> Decoded; [n_rows, n_vocab] -> DecodedBatch. float32 or float16,\n"
            "C-contiguous, read in place. Per call: seed, stream, step, n_generated (an int or one\n"
            "per row); history (token ids for every row, or one sequence per row); eos_tokens (for\n"
            "min_tokens); top_logprobs alternatives per row, from alternatives='raw' or 'final';\n"
            "outputs: names among raw_logprob, logprob, rank, raw_entropy, entropy, n_kept (or 'all').\n"
            "allowed_mask: [ceil(n_vocab / 32)] or [n_rows, ceil(n_vocab / 32)] uint32 (or int32, as\n"
            "XGrammar fills it), bit t % 32 of word t / 32 set = token t allowed (Model.matcher().mask()).\n"
            "Sampling parameters (logitkit.sampler_parameters()):\n" +
            SamplerKwargsDoc())
               .c_str());
}

}  // namespace logitkit::python
