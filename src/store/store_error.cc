// The messages of store::errc, and the small vocabulary functions of tern/store/store.h.
#include <string>

#include "tern/store/store.h"

namespace tern::store {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tern.store"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::unavailable:
        return "the storage is unavailable";
      case errc::timeout:
        return "the storage did not complete the operation within its deadline";
      case errc::overloaded:
        return "the storage's request queue is full";
      case errc::bad_key:
        return "the key is empty or too long";
      case errc::too_large:
        return "the value is too large";
      case errc::closed:
        return "the storage is shutting down";
    }
    return "unknown storage error";
  }
};

}  // namespace

const std::error_category& store_error_category() noexcept {
  static const StoreCategory category;
  return category;
}

bool storage_side(std::error_code error) noexcept {
  if (error.category() != store_error_category()) return false;
  switch (static_cast<errc>(error.value())) {
    case errc::unavailable:
    case errc::timeout:
    case errc::overloaded:
    case errc::closed:
      return true;
    case errc::bad_key:
    case errc::too_large:
      return false;
  }
  return false;
}

std::optional<Durability> parse_durability(std::string_view text) noexcept {
  if (text == "full") return Durability::full;
  if (text == "normal") return Durability::normal;
  return std::nullopt;
}

const char* durability_name(Durability durability) noexcept {
  return durability == Durability::full ? "full" : "normal";
}

}  // namespace tern::store
