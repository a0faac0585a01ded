// Result<T> and Status: how tether code reports errors without exceptions.
// Thread ownership: plain values, no shared state; safe to move anywhere.
#pragma once
#include <optional>
#include <string>
#include <utility>

namespace tether {

// Status is either ok() or carries a human-readable error message.
class [[nodiscard]] Status {
 public:
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }
  bool is_ok() const { return !message_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const {
    static const std::string empty;
    return message_ ? *message_ : empty;
  }

 private:
  Status() = default;
  explicit Status(std::string m) : message_(std::move(m)) {}
  std::optional<std::string> message_;
};

// Result<T> holds a T or an error message.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : error_(std::move(error)) {}  // NOLINT: must be an error
  static Result error(std::string message) { return Result(Status::error(std::move(message))); }
  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const std::string& message() const { return error_.message(); }
  Status status() const { return value_ ? Status::ok() : error_; }

 private:
  std::optional<T> value_;
  Status error_ = Status::ok();
};

}  // namespace tether
