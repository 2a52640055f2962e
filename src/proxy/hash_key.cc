// The request keys Maglev places requests by, and the fixed hash behind them.
#include "tern/proxy/hash_key.h"

#include "tern/http/message.h"
#include "tern/http/request.h"

namespace tern::proxy {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

// splitmix64's finaliser: FNV-1a alone leaves the high bits weak for short keys that differ
// in their last byte (IP addresses), and Maglev takes the key modulo the table size.
uint64_t avalanche(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The value of cookie `name` in one Cookie field ("a=1; b=2"), or nullopt. Names are
// case-sensitive (RFC 6265).
std::optional<std::string_view> find_cookie(std::string_view field, std::string_view name) {
  while (!field.empty()) {
    size_t end = field.find(';');
    std::string_view pair = trim(field.substr(0, end));
    field = end == std::string_view::npos ? std::string_view{} : field.substr(end + 1);
    size_t equals = pair.find('=');
    if (equals != std::string_view::npos && trim(pair.substr(0, equals)) == name) {
      return trim(pair.substr(equals + 1));
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> request_cookie(const http::Request& request,
                                               std::string_view name) {
  for (const http::Header& field : request.headers) {
    if (!http::iequals(field.name, "cookie")) continue;
    if (auto value = find_cookie(field.value, name)) return value;
  }
  return std::nullopt;
}

// The path without the query (from the target when a hand-built request left `path` empty).
std::string_view request_path(const http::Request& request) noexcept {
  if (!request.path.empty()) return request.path;
  return request.target.substr(0, request.target.find('?'));
}

}  // namespace

std::optional<HashKey> parse_hash_key(std::string_view text) noexcept {
  if (text == "client") return HashKey{HashKey::Kind::client, {}};
  if (text == "path") return HashKey{HashKey::Kind::path, {}};
  for (auto [prefix, kind] : {std::pair{std::string_view("header:"), HashKey::Kind::header},
                              std::pair{std::string_view("cookie:"), HashKey::Kind::cookie}}) {
    if (text.starts_with(prefix) && text.size() > prefix.size()) {
      return HashKey{kind, std::string(text.substr(prefix.size()))};
    }
  }
  return std::nullopt;
}

std::string hash_key_name(const HashKey& key) {
  switch (key.kind) {
    case HashKey::Kind::client: return "client";
    case HashKey::Kind::path: return "path";
    case HashKey::Kind::header: return "header:" + key.name;
    case HashKey::Kind::cookie: return "cookie:" + key.name;
  }
  return "client";
}

uint64_t hash_bytes(std::string_view bytes) noexcept {
  uint64_t hash = kFnvOffset;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= kFnvPrime;
  }
  return avalanche(hash);
}

uint64_t hash_client(const InetAddress& client) noexcept {
  const sockaddr* address = client.sockaddr_ptr();
  if (client.family() == AF_INET6) {
    const auto& ip = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
    return hash_bytes({reinterpret_cast<const char*>(&ip), sizeof ip});
  }
  const auto& ip = reinterpret_cast<const sockaddr_in*>(address)->sin_addr;
  return hash_bytes({reinterpret_cast<const char*>(&ip), sizeof ip});
}

uint64_t hash_request(const HashKey& key, const http::Request& request) noexcept {
  std::optional<std::string_view> value;
  switch (key.kind) {
    case HashKey::Kind::client: break;
    case HashKey::Kind::path: return hash_bytes(request_path(request));
    case HashKey::Kind::header: value = request.header(key.name); break;
    case HashKey::Kind::cookie: value = request_cookie(request, key.name); break;
  }
  return value ? hash_bytes(*value) : hash_client(request.remote);
}

}  // namespace tern::proxy
