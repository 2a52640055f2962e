// The messages of http::client_errc.
#include "tern/http/client_error.h"

#include <string>

namespace tern::http {
namespace {

class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tern.http.client"; }
  std::string message(int value) const override {
    switch (static_cast<client_errc>(value)) {
      case client_errc::invalid_request:
        return "the request cannot be sent as given (a bad method, target or header field)";
      case client_errc::queue_full:
        return "too many requests already wait for a connection";
      case client_errc::closed:
        return "the HTTP client is closed";
      case client_errc::connect_timeout:
        return "connect timed out";
      case client_errc::closed_before_response:
        return "the server closed the connection before the whole response";
      case client_errc::response_timeout:
        return "no response within the response timeout";
      case client_errc::unsolicited_response:
        return "the server sent a response nobody asked for";
    }
    return "unknown HTTP client error";
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}

}  // namespace tern::http
