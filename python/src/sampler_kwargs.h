// The sampling parameters as Python keyword arguments, one per entry of the
// parameter table (logitkit/sampler_table.h): top_p=0.9, banned_tokens=[...],
// logit_bias={id: bias}, order=["top_k", "temperature"]. DecodeHead.decode
// and Model.generate both read them here, so a parameter added to the table
// is a keyword argument of both with no edit.
#ifndef LOGITKIT_PYTHON_SAMPLER_KWARGS_H_
#define LOGITKIT_PYTHON_SAMPLER_KWARGS_H_

#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>

#include "logitkit/head.h"

namespace logitkit::python {

// Sets every table parameter present in kwargs, checking its type and range
// (token ids against n_vocab): TypeError / ValueError naming the parameter.
// Any other key must be in `own` (the function's own keywords), else a
// TypeError like Python's "f() got an unexpected keyword argument 'x'".
// REQUIRES: the GIL.
void ReadSamplerKwargs(const pybind11::kwargs& kwargs, size_t n_vocab, SamplerParams* params,
                       const char* function, std::initializer_list<const char*> own);

// One docstring line per parameter: "  top_p (float, default 1): keep ...".
std::string SamplerKwargsDoc();

// logitkit.sampler_parameters(): the table as a list of dicts (name, type,
// default, min, max, min_open, max_open, doc, flag).
void BindSamplerTable(pybind11::module_& m);

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_SAMPLER_KWARGS_H_
