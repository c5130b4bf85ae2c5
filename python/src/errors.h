// Status -> Python exception. The library never throws; the binding turns a
// non-OK Status into a C++ StatusError, and a translator registered with the
// module raises it in Python as:
//
//   kInvalidArgument, kOutOfRange, kFailedPrecondition  ValueError
//   kNotFound                                           FileNotFoundError
//   kDataLoss (a truncated or corrupt file)             OSError
//   kResourceExhausted                                  MemoryError
//   kUnimplemented                                      NotImplementedError
//   kInternal, kCancelled and anything else             RuntimeError
//
// str(exception) is the library's message verbatim; exception.status_code is
// the code's name ("INVALID_ARGUMENT", ...).
#ifndef LOGITKIT_PYTHON_ERRORS_H_
#define LOGITKIT_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <utility>

#include "bindings.h"
#include "logitkit/status.h"

namespace logitkit::python {

class StatusError : public std::runtime_error {
 public:
  explicit StatusError(Status status)
      : std::runtime_error(status.message()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws StatusError when !status.ok().
inline void ThrowIfError(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

template <typename T>
T ValueOrThrow(StatusOr<T>&& value) {
  ThrowIfError(value.status());
  return std::move(*value);
}

// A ValueError / TypeError for the binding's own argument checks (dtype,
// shape, layout), with a message that names the parameter.
[[noreturn]] inline void ThrowValueError(const std::string& message) {
  throw pybind11::value_error(message);
}
[[noreturn]] inline void ThrowTypeError(const std::string& message) {
  throw pybind11::type_error(message);
}

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_ERRORS_H_
