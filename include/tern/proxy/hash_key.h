// What Maglev hashes: the key a request is placed by, and a fixed 64-bit hash.
//
//   auto key = proxy::parse_hash_key("cookie:session");
//   uint64_t hash = proxy::hash_request(*key, request);  // the session cookie's value
//
// Thread rule: values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tern/net/inet_address.h"

namespace tern::http {
struct Request;
}

namespace tern::proxy {

struct HashKey {
  enum class Kind { client, header, cookie, path } kind = Kind::client;
  std::string name;  // header or cookie name (header: case-insensitive)
};

// "client", "header:NAME", "cookie:NAME", "path"; nullopt for anything else (or an empty NAME).
std::optional<HashKey> parse_hash_key(std::string_view text) noexcept;
std::string hash_key_name(const HashKey& key);  // back to the text form

// A fixed 64-bit hash, the same in every process and run, so Maglev tables agree across loops
// and restarts: FNV-1a 64 with a final avalanche mix (splitmix64's finaliser).
uint64_t hash_bytes(std::string_view bytes) noexcept;
uint64_t hash_client(const InetAddress& client) noexcept;  // the IP only, not the port

// The request's key: the client address; a header's value; a cookie's value (from every
// Cookie field); the path (no query). A missing header or cookie falls back to the client
// address.
uint64_t hash_request(const HashKey& key, const http::Request& request) noexcept;

}  // namespace tern::proxy
