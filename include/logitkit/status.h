// Status and StatusOr<T>: how every logitkit boundary that a file, a flag or a
// request can reach reports failure. Nothing in the library throws or aborts on
// user input; a failed internal check (a bug) aborts through one handler.
#ifndef LOGITKIT_STATUS_H_
#define LOGITKIT_STATUS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace logitkit {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // a parameter, flag or request field has a bad value
  kOutOfRange,         // an index or id past the end of what it indexes
  kFailedPrecondition, // the input is well-formed but cannot be processed
  kNotFound,
  kDataLoss,           // a file is truncated or corrupt
  kResourceExhausted,
  kUnimplemented,
  kInternal,
  kCancelled,          // the caller asked to stop (a progress callback said so)
};

std::string_view StatusCodeName(StatusCode code);

// A cheap value when OK; otherwise a code and a message that names the
// parameter, the value and the place (row, field, byte offset).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: row 3: top_p = 1.5 is outside (0, 1]".
  std::string ToString() const;

  // Prefixes the message with `context` ("row 3: "), keeping the code.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an OK Status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

#define LOGITKIT_RETURN_IF_ERROR(expr)           \
  do {                                           \
    ::logitkit::Status lk_status_ = (expr);      \
    if (!lk_status_.ok()) return lk_status_;     \
  } while (0)

}  // namespace logitkit

#endif  // LOGITKIT_STATUS_H_
