// Values every part of the proxy shares: the proxy's mode and one configured upstream.
//
//   auto upstream = proxy::parse_upstream("127.0.0.1:8081,weight=3", why);
//   // upstream->name == "127.0.0.1:8081", weight 3
//
// Thread rule: values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tern/base/result.h"
#include "tern/net/inet_address.h"

namespace tern::proxy {

enum class Mode { http, tcp };

// "http" or "tcp"; nullopt for anything else.
std::optional<Mode> parse_mode(std::string_view text) noexcept;
const char* mode_name(Mode mode) noexcept;  // "http", "tcp"

inline constexpr uint32_t kMinWeight = 1;
inline constexpr uint32_t kMaxWeight = 1000;

struct UpstreamConfig {
  // "host:port" exactly as configured: the key for reload, the admin API and Maglev (the same
  // name gives the same place in every loop's table, in every process).
  std::string name;
  InetAddress address;
  uint32_t weight = 1;  // kMinWeight..kMaxWeight
  friend bool operator==(const UpstreamConfig&, const UpstreamConfig&) = default;
};

// "127.0.0.1:8081" or "127.0.0.1:8081,weight=3" (the --upstream flag's syntax; an IPv4 or
// IPv6 literal, "[::1]:8081", or "localhost"): the value, or an error
// (std::errc::invalid_argument) with `why` set to a message naming what is wrong.
Result<UpstreamConfig> parse_upstream(std::string_view text, std::string& why);

}  // namespace tern::proxy
