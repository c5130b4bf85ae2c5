// Structured output from Python: the constraint keywords of Model.generate
// and Model.matcher (json_object, json_schema, regex, choice, grammar), and
// the Matcher that gives the allowed-token mask of each step, for a loop of
// one's own over DecodeHead.decode(allowed_mask=...).
#include "constraint.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "arrays.h"
#include "errors.h"

namespace py = pybind11;

namespace logitkit::python {

std::shared_ptr<const CompiledConstraint> ConstraintKwargs(const PyModel& m, const py::kwargs& kwargs) {
  Constraint c;
  std::string given;
  for (const char* name : kConstraintKwargs) {
    if (!kwargs.contains(name) || kwargs[name].is_none()) continue;
    if (std::string(name) == "json_object" && !kwargs[name].cast<bool>()) continue;
    if (!given.empty()) ThrowValueError(given + " and " + name + " both constrain the text: give one");
    given = name;
  }
  if (given.empty()) return nullptr;
  const py::handle v = kwargs[given.c_str()];
  if (given == "json_object") {
    c.kind = Constraint::Kind::kJsonObject;
  } else if (given == "json_schema") {
    c.kind = Constraint::Kind::kJsonSchema;
    c.source = py::isinstance<py::str>(v) ? v.cast<std::string>()
                                          : py::module_::import("json").attr("dumps")(v).cast<std::string>();
  } else if (given == "regex" || given == "grammar") {
    if (!py::isinstance<py::str>(v)) ThrowTypeError(given + " must be a str");
    c.kind = given == "regex" ? Constraint::Kind::kRegex : Constraint::Kind::kGrammar;
    c.source = v.cast<std::string>();
  } else {
    if (py::isinstance<py::str>(v)) ThrowTypeError("choice must be a list of str, not a str");
    c.kind = Constraint::Kind::kChoice;
    for (py::handle item : v) {
      if (!py::isinstance<py::str>(item)) ThrowTypeError("choice must be a list of str");
      c.choices.push_back(item.cast<std::string>());
    }
  }
  StatusOr<std::shared_ptr<const CompiledConstraint>> compiled = [&] {
    py::gil_scoped_release release;
    return m.loaded().constraints->Compile(c);
  }();
  ThrowIfError(compiled.status());
  return *std::move(compiled);
}

namespace {

class PyMatcher {
 public:
  explicit PyMatcher(std::shared_ptr<const CompiledConstraint> compiled) : matcher_(std::move(compiled)) {}

  py::array_t<uint32_t> Mask() {
    py::array_t<uint32_t> mask = NewArray<uint32_t>({py::ssize_t(matcher_.mask_words())});
    ThrowIfError(matcher_.FillMask(std::span(mask.mutable_data(), matcher_.mask_words())));
    return mask;
  }
  void Accept(int64_t token) {
    if (token < 0 || size_t(token) >= matcher_.n_vocab()) {
      ThrowValueError("token = " + std::to_string(token) + " is outside [0, " + std::to_string(matcher_.n_vocab()) + ")");
    }
    ThrowIfError(matcher_.Accept(int32_t(token)));
  }
  bool complete() const { return matcher_.complete(); }
  bool terminated() const { return matcher_.terminated(); }

 private:
  ConstraintMatcher matcher_;
};

}  // namespace

void BindConstraint(py::module_& module, py::class_<PyModel>& model) {
  py::class_<PyMatcher>(module, "Matcher",
                        "A constraint's state over one sequence (Model.matcher): mask() gives the tokens\n"
                        "allowed next as [ceil(n_vocab / 32)] uint32 (bit t % 32 of word t / 32), for\n"
                        "DecodeHead.decode(allowed_mask=...); accept(token) advances past a token.")
      .def("mask", &PyMatcher::Mask)
      .def("accept", &PyMatcher::Accept, py::arg("token"))
      .def_property_readonly("complete", &PyMatcher::complete, "the text so far matches in full")
      .def_property_readonly("terminated", &PyMatcher::terminated, "an end token was accepted");
  model.def(
      "matcher",
      [](const PyModel& m, const py::kwargs& kwargs) {
        for (auto item : kwargs) {
          const std::string key = item.first.cast<std::string>();
          if (std::find(std::begin(kConstraintKwargs), std::end(kConstraintKwargs), key) == std::end(kConstraintKwargs)) {
            ThrowTypeError("matcher() got an unexpected keyword '" + key + "'");
          }
        }
        std::shared_ptr<const CompiledConstraint> compiled = ConstraintKwargs(m, kwargs);
        if (!compiled) ThrowValueError("matcher() needs one of json_object, json_schema, regex, choice, grammar");
        return PyMatcher(std::move(compiled));
      },
      "matcher(*, json_object=False | json_schema=... | regex=... | choice=[...] | grammar=...) -> Matcher\n"
      "The constraint compiled for this model's vocabulary (cached), at the start of a text.");
}

}  // namespace logitkit::python
