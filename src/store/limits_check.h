// The checks every Store makes before an operation reaches its backend, so that bad_key and
// too_large mean the same thing on every backend. Pure functions; any thread.
#pragma once

#include <string_view>
#include <system_error>
#include <vector>

#include "tern/store/store.h"

namespace tern::store {

inline std::error_code check_key(std::string_view key, const Limits& limits) noexcept {
  if (key.empty() || key.size() > limits.max_key) return errc::bad_key;
  return {};
}

inline std::error_code check_value(std::string_view value, const Limits& limits) noexcept {
  if (value.size() > limits.max_value) return errc::too_large;
  return {};
}

// A scan's prefix may be empty (every key), never longer than a key can be.
inline std::error_code check_prefix(std::string_view prefix, const Limits& limits) noexcept {
  if (prefix.size() > limits.max_key) return errc::bad_key;
  return {};
}

// Every write of the batch; the first bad one decides (nothing of the batch is applied).
inline std::error_code check_batch(const std::vector<Write>& writes,
                                   const Limits& limits) noexcept {
  for (const Write& write : writes) {
    if (auto error = check_key(write.key, limits)) return error;
    if (write.kind == Write::Kind::put) {
      if (auto error = check_value(write.value, limits)) return error;
    }
  }
  return {};
}

}  // namespace tern::store
