// InetAddress: an IPv4 or IPv6 socket address (a value type).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tern/base/result.h"

namespace tern {

class InetAddress {
 public:
  InetAddress() noexcept;  // 0.0.0.0:0

  // Parses a numeric IPv4 or IPv6 host ("127.0.0.1", "::1", "[::1]") or "localhost".
  // No DNS lookups: a server's listen address should not depend on a resolver.
  static Result<InetAddress> parse(std::string_view host, uint16_t port);
  static InetAddress loopback_v4(uint16_t port) noexcept;
  static InetAddress loopback_v6(uint16_t port) noexcept;
  static InetAddress from_sockaddr(const sockaddr* address, socklen_t length) noexcept;

  int family() const noexcept { return storage_.sin6_family; }
  uint16_t port() const noexcept;
  const sockaddr* sockaddr_ptr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t length() const noexcept;

  std::string host() const;
  std::string to_string() const;  // "127.0.0.1:9000", "[::1]:9000"

  friend bool operator==(const InetAddress& a, const InetAddress& b) noexcept;

 private:
  // IPv4 or IPv6, the largest (28 bytes): not sockaddr_storage's 128, since every connection
  // keeps a few addresses (its peer's and its own) for as long as it is open.
  sockaddr_in6 storage_{};
};

}  // namespace tern
