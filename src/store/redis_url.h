// RedisUrl: the servers a "redis://" or "redis-cluster://" storage URL names.
//
//   redis://127.0.0.1:6390                      one server
//   redis://localhost                           port 6379
//   redis-cluster://127.0.0.1:7000,[::1]:7001   the seeds of a Redis Cluster
//
// HOST is an IP literal (IPv6 in brackets) or localhost: no DNS lookup, as for every tern
// address. The database and the password are not part of the URL (StorageConfig carries them).
//
// Thread rule: pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/net/inet_address.h"

namespace tern::store {

inline constexpr std::string_view kRedisScheme = "redis://";
inline constexpr std::string_view kRedisClusterScheme = "redis-cluster://";
inline constexpr uint16_t kRedisDefaultPort = 6379;

struct RedisUrl {
  bool cluster = false;
  std::vector<InetAddress> servers;  // redis://: one; redis-cluster://: the seeds, in order
};

// True when `url` starts with one of the two schemes (open_storage's dispatch).
bool is_redis_url(std::string_view url) noexcept;

// The servers of `url`, or nullopt with `why` naming the part that is wrong.
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& why);

}  // namespace tern::store
