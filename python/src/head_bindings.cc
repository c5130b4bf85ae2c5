// The decode head's stages on their own, row by row over a 1-D [n_vocab] or
// 2-D [n_rows, n_vocab] float32 array read in place (see arrays.h). Each
// returns a new array; the filters may instead work in place (inplace=True,
// as the C++ functions do). The GIL is released while rows are computed.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <functional>
#include <string>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logitkit/head.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

// A batch error names its row ("row 3: ..."); a single row's is verbatim.
Status InRow(const LogitsArg& a, size_t r, Status s) {
  return a.batched ? s.WithContext("row " + std::to_string(r) + ": ") : s;
}

py::array_t<float> SoftmaxRows(const py::object& logits, float temperature, bool log) {
  const LogitsArg a = GetLogits(logits, "logits", /*allow_f16=*/false);
  py::array_t<float> out = NewFloatArray(a.batched, a.n_rows, a.n_vocab);
  float* o = out.mutable_data();
  Status status;
  {
    py::gil_scoped_release release;
    for (size_t r = 0; r < a.n_rows && status.ok(); ++r) {
      const std::span<float> row(o + r * a.n_vocab, a.n_vocab);
      status = InRow(a, r, log ? LogSoftmax(a.Row(r), temperature, row) : Softmax(a.Row(r), temperature, row));
    }
  }
  ThrowIfError(status);
  return out;
}

using FilterFn = StatusOr<size_t> (*)(std::span<float>, float);

// Copies the logits (or, in place, takes them writable) and filters each row.
py::object FilterRows(const py::object& logits, bool inplace, const std::function<StatusOr<size_t>(std::span<float>)>& fn) {
  const LogitsArg a = GetLogits(logits, "logits", /*allow_f16=*/false);
  py::object result;
  float* values;
  if (inplace) {
    if (a.buffer.readonly) ThrowValueError("logits is read-only: inplace=True needs a writable array");
    result = py::reinterpret_borrow<py::object>(logits);
    values = static_cast<float*>(const_cast<void*>(a.data));
  } else {
    py::array_t<float> out = NewFloatArray(a.batched, a.n_rows, a.n_vocab);
    values = out.mutable_data();
    std::memcpy(values, a.data, a.n_rows * a.n_vocab * sizeof(float));
    result = std::move(out);
  }
  Status status;
  {
    py::gil_scoped_release release;
    for (size_t r = 0; r < a.n_rows && status.ok(); ++r) {
      status = InRow(a, r, fn(std::span<float>(values + r * a.n_vocab, a.n_vocab)).status());
    }
  }
  ThrowIfError(status);
  return result;
}

void BindFilter(py::module_& m, const char* name, FilterFn fn, const char* arg, const char* doc) {
  m.def(
      name,
      [fn](const py::object& logits, float value, bool inplace) {
        return FilterRows(logits, inplace, [&](std::span<float> row) { return fn(row, value); });
      },
      py::arg("logits"), py::arg(arg), py::kw_only(), py::arg("inplace") = false, doc);
}

}  // namespace

void BindHead(py::module_& m) {
  m.def("softmax", [](const py::object& logits, float t) { return SoftmaxRows(logits, t, false); },
        py::arg("logits"), py::arg("temperature") = 1.0f,
        "softmax(logits / temperature) per row, as a new float32 array of the same shape.\n"
        "logits: float32 [n_vocab] or [n_rows, n_vocab], C-contiguous (read in place); -inf allowed.\n"
        "Accuracy: relative error <= 1e-6 for every probability >= 1e-30.");
  m.def("log_softmax", [](const py::object& logits, float t) { return SoftmaxRows(logits, t, true); },
        py::arg("logits"), py::arg("temperature") = 1.0f,
        "log_softmax(logits / temperature) per row, as a new float32 array; -inf where the logit is -inf.");

  const char* kFilterDoc =
      "on each row of float32 logits (temperature-scaled if you want it applied first):\n"
      "returns a copy with the removed tokens set to -inf (inplace=True: edits logits, which\n"
      "must be writable, and returns it). Ties at the boundary keep the lower token ids.";
  static const std::string top_k = std::string("top_k(logits, k): the k highest logits, ") + kFilterDoc;
  static const std::string top_p =
      std::string("top_p(logits, p): the smallest prefix in rank order whose mass reaches p, ") + kFilterDoc;
  static const std::string min_p = std::string("min_p(logits, min_p): tokens with p >= min_p * max p, ") + kFilterDoc;
  static const std::string typical_p = std::string("typical_p(logits, p): locally typical sampling, ") + kFilterDoc;
  static const std::string top_n_sigma =
      std::string("top_n_sigma(logits, n): logits >= max - n * std, ") + kFilterDoc;
  m.def(
      "top_k",
      [](const py::object& logits, int32_t k, bool inplace) {
        return FilterRows(logits, inplace, [&](std::span<float> row) { return TopK(row, k); });
      },
      py::arg("logits"), py::arg("k"), py::kw_only(), py::arg("inplace") = false, top_k.c_str());
  BindFilter(m, "top_p", &TopP, "p", top_p.c_str());
  BindFilter(m, "min_p", &MinP, "min_p", min_p.c_str());
  BindFilter(m, "typical_p", &TypicalP, "p", typical_p.c_str());
  BindFilter(m, "top_n_sigma", &TopNSigma, "n", top_n_sigma.c_str());

  m.def(
      "sample",
      [](const py::object& logits, uint64_t seed, uint64_t stream, uint64_t step) -> py::object {
        const LogitsArg a = GetLogits(logits, "logits", /*allow_f16=*/false);
        std::vector<int32_t> tokens(a.n_rows);
        Status status;
        {
          py::gil_scoped_release release;
          for (size_t r = 0; r < a.n_rows && status.ok(); ++r) {
            StatusOr<int32_t> token = Sample(a.Row(r), seed, stream, step);
            status = InRow(a, r, token.status());
            if (token.ok()) tokens[r] = *token;
          }
        }
        ThrowIfError(status);
        if (!a.batched) return py::int_(tokens[0]);
        return ToArray(tokens);
      },
      py::arg("logits"), py::arg("seed"), py::arg("stream") = 0, py::arg("step") = 0,
      "A token drawn from softmax(logits) (-inf entries never drawn) with Philox4x32-10 keyed by\n"
      "(seed, stream, step): the same key and row give the same token. A 2-D array gives an int32\n"
      "array, every row drawn with the same key.");
}

}  // namespace logitkit::python
