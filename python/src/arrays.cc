#include "arrays.h"

#include <string>

#include "errors.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

// The buffer format's element type: 'f' (float32), 'e' (float16), or 0.
char ElementKind(const py::buffer_info& b) {
  std::string f = b.format;
  if (!f.empty() && (f[0] == '@' || f[0] == '=' || f[0] == '<')) f.erase(0, 1);  // native (little) endian
  if (f == "f" && b.itemsize == 4) return 'f';
  if (f == "e" && b.itemsize == 2) return 'e';
  return 0;
}

std::string Describe(py::handle obj) {
  if (py::hasattr(obj, "dtype")) return "an array of " + py::str(obj.attr("dtype")).cast<std::string>();
  return "a " + py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

// An array object without the buffer protocol (a torch CPU tensor, JAX,
// anything with __dlpack__ or __array__) as a numpy array over the same
// memory where its producer allows; null if it is none of these.
py::object ViaNumpy(py::handle obj, const std::string& name) {
  const bool dlpack = py::hasattr(obj, "__dlpack__"), array = py::hasattr(obj, "__array__");
  if (!dlpack && !array) return py::object();
  const std::string hint = ": for a GPU tensor, pass tensor.cpu().numpy() (logitkit's head runs on the CPU)";
  if (dlpack && py::hasattr(obj, "__dlpack_device__")) {
    const py::tuple device = obj.attr("__dlpack_device__")();
    if (device.size() < 1 || py::cast<int>(device[0]) != 1) {  // 1: kDLCPU
      ThrowTypeError(name + " is on device " + py::repr(device).cast<std::string>() + ", not the CPU" + hint);
    }
  }
  py::module_ np = py::module_::import("numpy");
  try {
    return dlpack ? np.attr("from_dlpack")(obj) : np.attr("asarray")(obj);
  } catch (py::error_already_set& e) {
    ThrowTypeError(name + " cannot be read on the CPU (" + std::string(e.what()) + ")" + hint);
  }
}

}  // namespace

LogitsBatch LogitsArg::Batch() const {
  LogitsBatch b;
  b.data = data;
  b.size = n_rows * n_vocab;
  b.type = type;
  b.n_rows = n_rows;
  b.n_vocab = n_vocab;
  b.row_stride = n_vocab;
  return b;
}

LogitsArg GetLogits(py::handle obj, const char* name, bool allow_f16) {
  const std::string wanted = allow_f16 ? "float32 or float16" : "float32";
  const std::string how = "; pass np.ascontiguousarray(" + std::string(name) + ", dtype=np.float32)";
  py::object converted;
  if (!PyObject_CheckBuffer(obj.ptr())) {
    converted = ViaNumpy(obj, name);
    if (!converted) {
      ThrowTypeError(std::string(name) + " must be a numpy array of " + wanted + ", got " + Describe(obj) + how);
    }
    obj = converted;  // the buffer below keeps it alive
  }
  LogitsArg a;
  a.buffer = py::reinterpret_borrow<py::buffer>(obj).request();
  const py::buffer_info& b = a.buffer;
  const char kind = ElementKind(b);
  if (kind == 0 || (kind == 'e' && !allow_f16)) {
    ThrowTypeError(std::string(name) + " must be " + wanted + ", got " + Describe(obj) +
                   " (buffer format '" + b.format + "')" + how + " (no conversion is made)");
  }
  a.type = kind == 'f' ? FloatType::kF32 : FloatType::kF16;
  if (b.ndim != 1 && b.ndim != 2) {
    ThrowValueError(std::string(name) + " must be 1-D [n_vocab] or 2-D [n_rows, n_vocab], got " +
                    std::to_string(b.ndim) + "-D");
  }
  a.batched = b.ndim == 2;
  a.n_rows = a.batched ? size_t(b.shape[0]) : 1;
  a.n_vocab = size_t(b.shape[b.ndim - 1]);
  // C-contiguous: unit stride along the vocabulary, rows back to back (a
  // dimension of size 1 may have any stride).
  const bool contiguous = (a.n_vocab <= 1 || b.strides[b.ndim - 1] == b.itemsize) &&
                          (!a.batched || a.n_rows <= 1 || b.strides[0] == b.itemsize * ssize_t(a.n_vocab));
  if (!contiguous) {
    ThrowValueError(std::string(name) + " must be C-contiguous (it is read in place, without a copy)" + how);
  }
  if (a.n_vocab == 0) ThrowValueError(std::string(name) + " has n_vocab = 0: a row needs at least one logit");
  if (a.n_vocab > kMaxVocab) {  // before any function copies the rows
    ThrowValueError(std::string(name) + " has n_vocab = " + std::to_string(a.n_vocab) +
                    ", more than the supported maximum " + std::to_string(kMaxVocab));
  }
  a.data = b.ptr;
  return a;
}

std::vector<int32_t> GetTokenIds(py::handle obj, const char* name, size_t n_vocab) {
  py::array any = py::array::ensure(obj);
  if (!any) {
    PyErr_Clear();
    ThrowTypeError(std::string(name) + " must be a sequence of token ids, got " + Describe(obj));
  }
  if (any.ndim() > 1) ThrowValueError(std::string(name) + " must be 1-D, got " + std::to_string(any.ndim()) + "-D");
  std::vector<int32_t> ids;
  if (any.size() == 0) return ids;
  const char kind = any.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    ThrowTypeError(std::string(name) + " must hold integer token ids, got " + Describe(any));
  }
  auto values = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(any);
  if (!values) throw py::error_already_set();
  ids.reserve(size_t(values.size()));
  for (ssize_t i = 0; i < values.size(); ++i) {
    const int64_t v = values.data()[i];
    const int64_t limit = n_vocab > 0 ? int64_t(n_vocab) : int64_t(INT32_MAX) + 1;
    if (v < 0 || v >= limit) {
      ThrowIfError(OutOfRangeError(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(v) +
                                   " is outside [0, " + (n_vocab > 0 ? "n_vocab = " : "") + std::to_string(limit) +
                                   ")"));
    }
    ids.push_back(int32_t(v));
  }
  return ids;
}

py::array_t<float> NewFloatArray(bool batched, size_t rows, size_t cols) {
  if (batched) return NewArray<float>({py::ssize_t(rows), py::ssize_t(cols)});
  return NewArray<float>({py::ssize_t(cols)});
}

py::array_t<float> VectorToArray(std::vector<float>&& values, std::vector<size_t> shape) {
  auto* owned = new std::vector<float>(std::move(values));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()), owned->data(), base);
}

}  // namespace logitkit::python
