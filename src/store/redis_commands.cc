#include "store/redis_commands.h"

#include "tern/base/logging.h"
#include "tern/net/connection_pool.h"
#include "tern/redis/client_error.h"

namespace tern::store::redis_ops {
namespace {

// An answer this code cannot use: the server is not the Redis it expects (a proxy in the way,
// another protocol, a module that changed a command). Logged, rate-limited.
std::error_code unexpected(const char* what, const redis::Value& reply) {
  static LogLimiter limiter;
  log_limited(limiter, LogLevel::warn, "redis storage: unexpected reply to %s: %s", what,
              reply.to_string().c_str());
  return make_error_code(errc::unavailable);
}

bool is_text(const redis::Value& value) {
  return value.type == redis::Type::bulk_string || value.type == redis::Type::simple_string ||
         value.type == redis::Type::verbatim_string;
}

}  // namespace

redis::Command get(std::string_view key) { return redis::Command("GET").arg(key); }

redis::Command put_eval(std::string_view key, std::string_view value) {
  return redis::Command("EVAL").arg(kPutScript).arg(int64_t{1}).arg(key).arg(value);
}

redis::Command put_evalsha(std::string_view sha, std::string_view key, std::string_view value) {
  return redis::Command("EVALSHA").arg(sha).arg(int64_t{1}).arg(key).arg(value);
}

redis::Command load_put_script() { return redis::Command("SCRIPT").arg("LOAD").arg(kPutScript); }

redis::Command remove(std::string_view key) { return redis::Command("DEL").arg(key); }

redis::Command scan(std::string_view cursor, std::string_view pattern) {
  return redis::Command("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(kScanCount);
}

std::vector<redis::Command> batch(const std::vector<Write>& writes) {
  std::vector<redis::Command> commands;
  commands.reserve(writes.size() + 2);
  commands.push_back(redis::Command("MULTI"));
  for (const Write& write : writes) {
    if (write.kind == Write::Kind::put) {
      commands.push_back(redis::Command("SET").arg(write.key).arg(write.value));
    } else {
      commands.push_back(redis::Command("DEL").arg(write.key));
    }
  }
  commands.push_back(redis::Command("EXEC"));
  return commands;
}

std::string scan_pattern(std::string_view prefix) {
  std::string pattern;
  pattern.reserve(prefix.size() + 8);
  for (char c : prefix) {
    // Redis's glob (stringmatchlen) gives these a meaning; a backslash makes any byte literal.
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  return pattern;
}

Result<std::optional<std::string>> read_get(const redis::Value& reply) {
  if (reply.is_null()) return std::optional<std::string>();
  if (!is_text(reply)) return unexpected("GET", reply);
  return std::optional<std::string>(std::string(reply.text));
}

Result<bool> read_put(const redis::Value& reply) {
  if (reply.type != redis::Type::integer) return unexpected("the put script", reply);
  return reply.integer == 0;
}

Result<bool> read_remove(const redis::Value& reply) {
  if (reply.type != redis::Type::integer) return unexpected("DEL", reply);
  return reply.integer > 0;
}

std::optional<std::string> read_script_sha(const redis::Value& reply) {
  if (!is_text(reply) || reply.text.empty()) return std::nullopt;
  return std::string(reply.text);
}

Result<ScanPage> read_scan(const redis::Value& reply) {
  if (reply.type != redis::Type::array || reply.elements.size() != 2 ||
      !is_text(reply.elements[0]) || reply.elements[1].type != redis::Type::array) {
    return unexpected("SCAN", reply);
  }
  ScanPage page;
  page.cursor = std::string(reply.elements[0].text);
  page.keys.reserve(reply.elements[1].elements.size());
  for (const redis::Value& key : reply.elements[1].elements) {
    if (!is_text(key)) return unexpected("SCAN", reply);
    page.keys.emplace_back(key.text);
  }
  return page;
}

std::error_code read_exec(const redis::Value& reply) {
  // nil: the transaction was aborted (a WATCHed key changed; this code watches none).
  if (reply.type == redis::Type::array) {
    for (const redis::Value& result : reply.elements) {
      if (result.is_error()) return unexpected("EXEC", result);
    }
    return {};
  }
  return unexpected("EXEC", reply);
}

bool is_noscript(const redis::Value& reply) {
  return reply.is_error() && reply.text.starts_with("NOSCRIPT");
}

std::error_code to_store_error(std::error_code redis_error) {
  if (redis_error == redis::errc::queue_full ||
      redis_error == make_error_code(pool_errc::queue_full)) {
    return make_error_code(errc::overloaded);
  }
  if (redis_error == redis::errc::command_timeout ||
      redis_error == make_error_code(pool_errc::wait_timeout)) {
    return make_error_code(errc::timeout);
  }
  if (redis_error == redis::errc::closed) return make_error_code(errc::closed);
  return make_error_code(errc::unavailable);
}

}  // namespace tern::store::redis_ops
