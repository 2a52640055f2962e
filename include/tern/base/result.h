// Result<T>: a value or the std::error_code that explains why there is none. An expected-like
// type for C++20 (std::expected arrives with C++23).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>
#include <variant>

namespace tern {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}                // NOLINT: implicit by design
  Result(std::error_code error) : state_(error) {}             // NOLINT: implicit by design

  bool ok() const noexcept { return std::holds_alternative<T>(state_); }
  explicit operator bool() const noexcept { return ok(); }

  std::error_code error() const noexcept {
    return ok() ? std::error_code{} : std::get<std::error_code>(state_);
  }

  // Misuse (reading the value of a failed result) aborts with the error's message.
  T& value() & { check(); return std::get<T>(state_); }
  const T& value() const& { check(); return std::get<T>(state_); }
  T&& value() && { check(); return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "tern: value() of a failed Result: %s\n", error().message().c_str());
      std::abort();
    }
  }
  std::variant<T, std::error_code> state_;
};

}  // namespace tern
