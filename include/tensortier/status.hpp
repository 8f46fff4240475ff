// Status and Result: how every fallible call in tensortier reports failure.
// Recoverable input errors carry a message naming what was wrong and what is
// accepted; nothing in the library aborts on user input.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tensortier {

enum class Errc {
  ok = 0,
  invalid_argument,  // bad user input (config text, size, alignment, ...)
  not_supported,     // feature or library absent on this build or machine
  no_space,          // ENOSPC / ENOMEM / budget exhausted: a clean allocation failure
  io_error,          // open/map/fallocate failed for another reason
  not_found,         // a path or device does not exist
  internal,          // a broken invariant inside tensortier
};

const char* errc_name(Errc code) noexcept;

class Status {
 public:
  Status() = default;
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const noexcept { return code_ == Errc::ok; }
  explicit operator bool() const noexcept { return is_ok(); }
  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // Returns a copy whose message is "<prefix>: <message>".
  Status with_context(const std::string& prefix) const {
    return is_ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  Errc code_ = Errc::ok;
  std::string message_;
};

// A value or an error status (std::expected arrives only with C++23).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status error) : v_(std::move(error)) {}     // NOLINT: implicit by design
  Result(Errc code, std::string message) : v_(Status(code, std::move(message))) {}

  bool has_value() const noexcept { return std::holds_alternative<T>(v_); }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; Status::ok() when a value is held.
  Status status() const { return has_value() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tensortier
