#include "tern/net/inet_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "tern/base/error.h"

namespace tern {

InetAddress::InetAddress() noexcept { storage_.sin6_family = AF_INET; }

Result<InetAddress> InetAddress::parse(std::string_view host, uint16_t port) {
  if (host == "localhost") return loopback_v4(port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string text(host);
  InetAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return address;
  }
  address.storage_ = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return address;
  }
  return make_error_code(errc::invalid_argument);
}

InetAddress InetAddress::loopback_v4(uint16_t port) noexcept {
  InetAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(port);
  v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

InetAddress InetAddress::loopback_v6(uint16_t port) noexcept {
  InetAddress address;
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  v6->sin6_addr = in6addr_loopback;
  return address;
}

InetAddress InetAddress::from_sockaddr(const sockaddr* address, socklen_t length) noexcept {
  InetAddress result;
  std::memcpy(&result.storage_, address,
              std::min(static_cast<size_t>(length), sizeof result.storage_));
  return result;
}

uint16_t InetAddress::port() const noexcept {
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

socklen_t InetAddress::length() const noexcept {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string InetAddress::host() const {
  if (family() == AF_INET6) {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
                sizeof text);
    return text;
  }
  // By hand: glibc's inet_ntop formats IPv4 through sprintf, and a proxy writes the client's
  // address into every request it forwards (X-Forwarded-For).
  const auto* bytes =
      reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr);
  char text[16];
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    unsigned value = bytes[i];
    if (value >= 100) text[n++] = char('0' + value / 100);
    if (value >= 10) text[n++] = char('0' + value / 10 % 10);
    text[n++] = char('0' + value % 10);
    if (i < 3) text[n++] = '.';
  }
  return std::string(text, n);
}

std::string InetAddress::to_string() const {
  if (family() == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
  return host() + ":" + std::to_string(port());
}

bool operator==(const InetAddress& a, const InetAddress& b) noexcept {
  return a.length() == b.length() && a.family() == b.family() &&
         std::memcmp(a.sockaddr_ptr(), b.sockaddr_ptr(), a.length()) == 0;
}

}  // namespace tern
