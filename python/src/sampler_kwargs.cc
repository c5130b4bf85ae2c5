#include "sampler_kwargs.h"

#include <pybind11/stl.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string_view>
#include <vector>

#include "arrays.h"
#include "errors.h"
#include "logitkit/sampler_table.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

const char* TypeName(ParamType type) {
  switch (type) {
    case ParamType::kFloat: return "float";
    case ParamType::kInt: return "int";
    case ParamType::kTokens: return "token ids";
    case ParamType::kTokenBias: return "{token id: bias}";
    case ParamType::kStages: return "stage names";
  }
  return "?";
}

std::string PyType(py::handle h) { return py::str(py::type::of(h).attr("__name__")).cast<std::string>(); }

// A Python number as a double: ints of any size (a huge one becomes ±inf,
// which the range check names), floats, numpy scalars. Not bool.
double NumberOf(py::handle value, const std::string& name, const char* kind) {
  if (py::isinstance<py::bool_>(value) || !(py::hasattr(value, "__float__") || py::hasattr(value, "__index__"))) {
    ThrowTypeError(name + " must be " + kind + ", not " + PyType(value));
  }
  const double v = py::hasattr(value, "__index__")
                       ? PyLong_AsDouble(py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr())).ptr())
                       : PyFloat_AsDouble(value.ptr());
  if (PyErr_Occurred()) {  // an int beyond a double
    PyErr_Clear();
    return py::int_(py::reinterpret_borrow<py::object>(value)) > py::int_(0) ? INFINITY : -INFINITY;
  }
  return v;
}

Status Set(const SamplerParam& e, py::handle value, size_t n_vocab, SamplerParams* p) {
  const std::string name = e.name;
  switch (e.type) {
    case ParamType::kFloat: return e.SetNumber(NumberOf(value, name, "a number"), p);
    case ParamType::kInt: return e.SetNumber(NumberOf(value, name, "an integer"), p);  // 40.0 is 40, as in JSON
    case ParamType::kTokens:
      return e.SetTokens(GetTokenIds(value, e.name, n_vocab), p);
    case ParamType::kTokenBias: {
      if (!py::isinstance<py::dict>(value)) ThrowTypeError(name + " must be a dict {token id: bias}, not " + PyType(value));
      std::vector<TokenBias> bias;
      for (auto [k, b] : py::reinterpret_borrow<py::dict>(value)) {
        if (py::isinstance<py::bool_>(k) || !py::hasattr(k, "__index__")) {
          ThrowTypeError(name + " keys must be token ids, not " + PyType(k));
        }
        const double id = NumberOf(k, name + " key", "a token id");
        if (!(id >= 0 && id < double(n_vocab))) {
          return OutOfRangeError(name + ": token " + py::str(k).cast<std::string>() + " is outside [0, n_vocab = " +
                                 std::to_string(n_vocab) + ")");
        }
        bias.push_back({int32_t(id), float(NumberOf(b, name + "[" + std::to_string(int32_t(id)) + "]", "a number"))});
      }
      return e.SetBias(std::move(bias), p);
    }
    case ParamType::kStages: {
      if (py::isinstance<py::str>(value)) return e.SetText(value.cast<std::string>(), p);  // "top_k,temperature"
      std::vector<Stage> stages;
      for (py::handle h : py::reinterpret_borrow<py::iterable>(value)) {
        if (!py::isinstance<py::str>(h)) ThrowTypeError(name + " must hold stage names, not " + PyType(h));
        stages.push_back(ValueOrThrow(ParseStage(h.cast<std::string>())));
      }
      return e.SetStages(std::move(stages), p);
    }
  }
  return OkStatus();
}

py::object DefaultValue(const SamplerParam& e) {
  const SamplerParams defaults;
  switch (e.type) {
    case ParamType::kFloat: return py::float_(e.Number(defaults));
    case ParamType::kInt: return py::int_(static_cast<long long>(e.Number(defaults)));
    case ParamType::kTokens: return py::list();
    case ParamType::kTokenBias: return py::dict();
    case ParamType::kStages: {
      py::list stages;
      for (Stage s : defaults.order) stages.append(StageName(s));
      return stages;
    }
  }
  return py::none();
}

}  // namespace

void ReadSamplerKwargs(const py::kwargs& kwargs, size_t n_vocab, SamplerParams* params, const char* function,
                       std::initializer_list<const char*> own) {
  for (auto [key, value] : kwargs) {
    const std::string name = py::str(key).cast<std::string>();
    if (const SamplerParam* e = FindSamplerParam(name)) {
      if (!value.is_none()) ThrowIfError(Set(*e, value, n_vocab, params));  // None: the default, as JSON's null
      continue;
    }
    bool known = false;
    for (const char* o : own) known |= name == o;
    if (!known) ThrowTypeError(std::string(function) + "() got an unexpected keyword argument '" + name + "'");
  }
  ThrowIfError(CheckSamplerParams(*params, n_vocab));  // what only the whole set tells (order)
}

std::string SamplerKwargsDoc() {
  std::string doc;
  for (const SamplerParam& e : SamplerParamTable()) {
    std::string def = e.DefaultText();
    doc += std::string("  ") + e.name + " (" + TypeName(e.type) + (def.empty() ? "" : ", default " + def) +
           "): " + e.doc + "\n";
  }
  return doc;
}

void BindSamplerTable(py::module_& m) {
  m.def(
      "sampler_parameters",
      [] {
        py::list out;
        for (const SamplerParam& e : SamplerParamTable()) {
          py::dict d;
          d["name"] = e.name;
          d["type"] = TypeName(e.type);
          d["default"] = DefaultValue(e);
          const bool numeric = e.type == ParamType::kFloat || e.type == ParamType::kInt;
          const double hi = e.type == ParamType::kInt ? std::min(e.hi, double(INT32_MAX)) : e.hi;
          d["min"] = numeric ? py::object(py::float_(e.lo)) : py::object(py::none());
          d["max"] = numeric ? py::object(py::float_(hi)) : py::object(py::none());
          d["min_open"] = e.lo_open;
          d["max_open"] = e.hi_open;
          d["doc"] = e.doc;
          d["flag"] = e.Flag();
          out.append(d);
        }
        return out;
      },
      "The sampling parameters (one table for the CLI's flags, the server's JSON fields and\n"
      "these keyword arguments): a list of dicts with name, type, default, min, max, doc, flag.");
}

}  // namespace logitkit::python
