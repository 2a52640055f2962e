// Redirection: a Redis Cluster node's "this slot is elsewhere" error reply, parsed.
//   "MOVED 3999 127.0.0.1:6381"  the slot now lives at that node (update the slot map)
//   "ASK 3999 127.0.0.1:6381"    the slot is migrating: ask that node, this once, after ASKING
// The address is "host:port", split at the last ':' (redis writes IPv6 hosts without
// brackets; bracketed ones are accepted too). A node that does not know its peer's endpoint
// sends an empty host (":6381"): the address is then 0.0.0.0 with the port, and the caller
// uses the host of the node that answered (is_unspecified_host).
//
// Thread rule: pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tern/net/inet_address.h"

namespace tern::redis {

struct Redirection {
  enum class Kind { moved, ask } kind;
  uint16_t slot;
  InetAddress address;
};

// The redirection an error reply's text carries, or nullopt when it is another error (or a
// malformed redirection: a slot beyond 16383, a port beyond 65535, a host that is no address).
std::optional<Redirection> parse_redirection(std::string_view error_text);

// True when a redirection named no host (the empty host of ":port").
bool is_unspecified_host(const InetAddress& address) noexcept;

}  // namespace tern::redis
