// _logitkit: the compiled half of `import logitkit` (python/logitkit/__init__.py
// re-exports it).
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "logitkit/head.h"
#include "sampler_kwargs.h"

PYBIND11_MODULE(_logitkit, m) {
  m.doc() = "logitkit: the decode head (logits -> token, with logprobs) and the GGUF model runtime";
  m.attr("__version__") = "0.1.0";
  m.def("simd_target", [] { return std::string(logitkit::SimdTargetName()); },
        "The SIMD target the decode head dispatched to, e.g. 'AVX2'.");
  logitkit::python::BindErrors(m);
  logitkit::python::BindHead(m);
  logitkit::python::BindSamplerTable(m);
  logitkit::python::BindDecode(m);
  logitkit::python::BindModel(m);
  logitkit::python::BindAnalysis(m);
}
