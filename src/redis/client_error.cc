// redis::errc: the category, its messages, and which errors mean "never sent".
#include "tern/redis/client_error.h"

#include <string>

#include "tern/net/connection_pool.h"

namespace tern::redis {
namespace {

class RedisErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::error_reply: return "the server answered with an error";
      case errc::closed: return "the client is closed";
      case errc::queue_full: return "too many commands wait for a connection";
      case errc::connect_timeout: return "no connection within the connect timeout";
      case errc::command_timeout: return "no reply within the command timeout";
      case errc::connection_lost: return "the connection broke with the command sent";
      case errc::greeting_failed: return "HELLO, AUTH or SELECT was refused";
      case errc::protocol_error: return "the server sent bytes that are not RESP";
      case errc::too_many_redirects: return "too many cluster redirections";
      case errc::cluster_down: return "the cluster is down";
    }
    return "unknown redis error";
  }
};

}  // namespace

const std::error_category& redis_error_category() noexcept {
  static const RedisErrorCategory category;
  return category;
}

std::error_code make_error_code(errc error) noexcept {
  return {static_cast<int>(error), redis_error_category()};
}

bool never_sent(std::error_code error) noexcept {
  if (error.category() == redis_error_category()) {
    switch (static_cast<errc>(error.value())) {
      case errc::closed:
      case errc::queue_full:
      case errc::connect_timeout:
      case errc::greeting_failed: return true;
      default: return false;
    }
  }
  // The pool's refusals (upstream_down, wait_timeout, queue_full, closed): no connection.
  if (error.category() == pool_error_category()) return true;
  // A connect's own errors: the connection was never made.
  return error == std::errc::connection_refused || error == std::errc::network_unreachable ||
         error == std::errc::host_unreachable || error == std::errc::address_not_available ||
         error == std::errc::timed_out;
}

}  // namespace tern::redis
