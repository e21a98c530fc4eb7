// Status and Result: errors as values.
//
// Every call that crosses the plugin boundary returns a Status (or a Result<T>) instead of
// throwing, so that a failure inside a plugin can never unwind through the host's frames and
// always reaches the run summary with the name of the stage that produced it.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lrpflow {

class Status {
 public:
  Status() = default;  // ok
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !message_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  // The message of a failed status; empty for ok.
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }
  // Returns a copy whose message is prefixed with `context: ` (for adding a file, stage or item name).
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// The message of a caught exception, for users: LibTorch's c10::Error without the C++ backtrace
// its what() carries (kilobytes of stack frames), any other exception's what().
std::string exception_message(const std::exception& e);

// A value or an error. Access to value() on an error is a programming error (checked by assert-like throw).
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}               // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {          // NOLINT: implicit by design
    if (std::get<Status>(state_).is_ok()) state_ = Status::error("internal: Result built from an ok Status");
  }
  bool is_ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return is_ok(); }
  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(state_); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace lrpflow

// Returns early from the enclosing function when `expr` yields a failed Status.
#define LRPFLOW_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::lrpflow::Status lrpflow_status_ = (expr);  \
    if (!lrpflow_status_.is_ok()) return lrpflow_status_; \
  } while (0)
