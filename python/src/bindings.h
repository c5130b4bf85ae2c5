// The parts of the module, one per file; module.cc calls each in turn.
#ifndef LOGITKIT_PYTHON_BINDINGS_H_
#define LOGITKIT_PYTHON_BINDINGS_H_

#include <pybind11/pybind11.h>

namespace logitkit::python {

class PyModel;  // model.h

void BindErrors(pybind11::module_& m);    // errors.cc: Status -> exceptions
void BindHead(pybind11::module_& m);      // head_bindings.cc: softmax, filters, sample
void BindDecode(pybind11::module_& m);    // decode_bindings.cc: DecodeHead
void BindModel(pybind11::module_& m);     // model_bindings.cc: Model
void BindGenerate(pybind11::class_<PyModel>& model);    // generate.cc: Model.generate
void BindSession(pybind11::class_<PyModel>& model);     // session.cc: Model.session
void BindAnalysis(pybind11::module_& m);  // analysis_bindings.cc: calibrate
// chat_bindings.cc: ChatTemplate, Model.chat_template, Model.tokenize_chat
void BindChat(pybind11::module_& m, pybind11::class_<PyModel>& model);

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_BINDINGS_H_
