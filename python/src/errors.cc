#include "errors.h"

#include <string>

namespace py = pybind11;

namespace logitkit::python {
namespace {

PyObject* ExceptionTypeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      return PyExc_ValueError;
    case StatusCode::kNotFound:
      return PyExc_FileNotFoundError;
    case StatusCode::kDataLoss:
      return PyExc_OSError;
    case StatusCode::kResourceExhausted:
      return PyExc_MemoryError;
    case StatusCode::kUnimplemented:
      return PyExc_NotImplementedError;
    default:
      return PyExc_RuntimeError;
  }
}

// Raises the exception with the message as its only argument (so str(e) is the
// message, even for OSError) and the code's name as e.status_code.
void Raise(const Status& status) {
  py::handle type(ExceptionTypeFor(status.code()));
  py::object error = type(py::str(status.message()));
  error.attr("status_code") = py::str(std::string(StatusCodeName(status.code())));
  PyErr_SetObject(type.ptr(), error.ptr());
}

}  // namespace

void BindErrors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      Raise(e.status());
    }
  });
  // For tests and callers that want to see the mapping: raises the exception
  // a Status with this code and message becomes.
  m.def(
      "_raise_status",
      [](const std::string& code, const std::string& message) {
        for (int c = 1; c <= int(StatusCode::kInternal); ++c) {
          if (StatusCodeName(StatusCode(c)) == code) throw StatusError(Status(StatusCode(c), message));
        }
        ThrowValueError("unknown status code '" + code + "'");
      },
      py::arg("code"), py::arg("message"));
}

}  // namespace logitkit::python
