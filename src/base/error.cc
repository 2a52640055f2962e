#include "tern/base/error.h"

#include <string>

namespace tern {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tern"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::eof: return "end of stream";
      case errc::fd_too_large: return "file descriptor too large for select (>= FD_SETSIZE)";
      case errc::already_in_use: return "an operation of this kind is already in flight on this fd";
      case errc::not_connected: return "connection is closing or closed";
      case errc::invalid_argument: return "invalid argument";
      case errc::message_too_large: return "message longer than the codec's limit";
      case errc::unanswered: return "the handler dropped its reply without answering";
      case errc::answered_early: return "the peer answered before the request's body was all sent";
    }
    return "unknown tern error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace tern
