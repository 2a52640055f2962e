// The TARGET argument: http://HOST:PORT[/path[?query]] or HOST:PORT, resolved to an address.
#pragma once

#include <cstdint>
#include <string>

#include "tern/net/inet_address.h"

namespace tern::bench {

struct Target {
  bool is_http = false;
  std::string host;       // as written (an IPv6 literal without brackets)
  uint16_t port = 0;
  std::string path = "/";  // http only: path and query, as written
  InetAddress address;
  // The Host header value: host[:port] as written.
  std::string authority;
};

// Parses `text`. On failure returns false and sets `why` to a one-line reason naming the text.
// Numeric hosts and "localhost" only (no DNS: a benchmark should not measure a resolver).
bool parse_target(const std::string& text, Target& out, std::string& why);

}  // namespace tern::bench
