// The Redis commands behind each Store operation, and the reading of their replies: pure
// functions (bytes in, values or errors out), so RedisStore (redis_store.h) is only the flow
// and this part is testable without a server.
//
//   get      GET key                                  bulk string or nil
//   put      EVALSHA sha 1 key value (EVAL script     integer: 1 when the key existed before
//            before the SHA is known, or on NOSCRIPT)
//   remove   DEL key                                  integer: keys removed
//   scan     SCAN cursor MATCH escaped-prefix* COUNT n   [next cursor, [keys...]]
//   batch    MULTI, SET/DEL..., EXEC                  array (applied) or nil (aborted)
//
// Thread rule: pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/base/result.h"
#include "tern/redis/command.h"
#include "tern/redis/resp.h"
#include "tern/store/store.h"

namespace tern::store::redis_ops {

// Sets the key and says whether it existed, in one step on the server (a script runs alone).
inline constexpr std::string_view kPutScript =
    "local existed = redis.call('EXISTS', KEYS[1])\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "return existed\n";

// SCAN's COUNT hint: keys the server looks at per call (more: fewer round trips, longer
// single calls on the server).
inline constexpr int64_t kScanCount = 1000;

redis::Command get(std::string_view key);
redis::Command put_eval(std::string_view key, std::string_view value);
redis::Command put_evalsha(std::string_view sha, std::string_view key, std::string_view value);
redis::Command load_put_script();  // SCRIPT LOAD kPutScript: its reply is the SHA
redis::Command remove(std::string_view key);
redis::Command scan(std::string_view cursor, std::string_view pattern);
// MULTI, the writes in order, EXEC.
std::vector<redis::Command> batch(const std::vector<Write>& writes);

// The MATCH pattern of the keys starting with `prefix`: its glob characters (* ? [ ] \)
// escaped with a backslash, then "*".
std::string scan_pattern(std::string_view prefix);

// Replies. An error reply or a reply of another type is errc::unavailable (logged with what
// came, once per kind).
Result<std::optional<std::string>> read_get(const redis::Value& reply);
Result<bool> read_put(const redis::Value& reply);     // true: the key was new
Result<bool> read_remove(const redis::Value& reply);  // true: the key existed
std::optional<std::string> read_script_sha(const redis::Value& reply);

struct ScanPage {
  std::string cursor;              // "0": the iteration is complete
  std::vector<std::string> keys;   // as the server sent them (may repeat across pages)
};
Result<ScanPage> read_scan(const redis::Value& reply);
std::error_code read_exec(const redis::Value& reply);

// Whether an error reply says the script is not in the server's cache (a restart, SCRIPT
// FLUSH): the put is sent again with EVAL.
bool is_noscript(const redis::Value& reply);

// The store::errc a redis client error means: the client's or the pool's queue full →
// overloaded; command_timeout, or no pooled connection within the deadline (wait_timeout) →
// timeout; closed → closed; anything else (a connect refused or timed out, a lost connection,
// an error reply, a refused greeting, a protocol error, a cluster that cannot route) →
// unavailable.
std::error_code to_store_error(std::error_code redis_error);

}  // namespace tern::store::redis_ops
