// Structured-output keywords shared by Model.generate and Model.matcher.
#ifndef LOGITKIT_PYTHON_CONSTRAINT_H_
#define LOGITKIT_PYTHON_CONSTRAINT_H_

#include <pybind11/pybind11.h>

#include <memory>

#include "logitkit/structured.h"
#include "model.h"

namespace logitkit::python {

inline constexpr const char* kConstraintKwargs[] = {"json_object", "json_schema", "regex", "choice", "grammar"};

// The one constraint keyword given (json_object=True; json_schema: a dict or
// a JSON str; regex, grammar: str; choice: list of str), compiled for m's
// vocabulary, or null if none is. Raises ValueError or TypeError naming it.
std::shared_ptr<const CompiledConstraint> ConstraintKwargs(const PyModel& m, const pybind11::kwargs& kwargs);

void BindConstraint(pybind11::module_& module, pybind11::class_<PyModel>& model);

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_CONSTRAINT_H_
