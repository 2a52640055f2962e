#include "tern/net/socket.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include "tern/base/error.h"

namespace tern {
namespace {

std::error_code set_option(int fd, int level, int name, bool on) noexcept {
  int value = on ? 1 : 0;
  if (::setsockopt(fd, level, name, &value, sizeof value) < 0) return last_system_error();
  return {};
}

}  // namespace

Result<Socket> Socket::tcp(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return last_system_error();
  return Socket(fd);
}

void Socket::reset() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

std::error_code Socket::bind(const InetAddress& address) noexcept {
  if (::bind(fd_, address.sockaddr_ptr(), address.length()) < 0) return last_system_error();
  return {};
}

std::error_code Socket::listen(int backlog) noexcept {
  if (::listen(fd_, backlog) < 0) return last_system_error();
  return {};
}

std::error_code Socket::shutdown_write() noexcept {
  if (::shutdown(fd_, SHUT_WR) < 0) return last_system_error();
  return {};
}

std::error_code Socket::set_reuse_address(bool on) noexcept {
  return set_option(fd_, SOL_SOCKET, SO_REUSEADDR, on);
}
std::error_code Socket::set_reuse_port(bool on) noexcept {
  return set_option(fd_, SOL_SOCKET, SO_REUSEPORT, on);
}
std::error_code Socket::set_no_delay(bool on) noexcept {
  return set_option(fd_, IPPROTO_TCP, TCP_NODELAY, on);
}
std::error_code Socket::set_keep_alive(bool on) noexcept {
  return set_option(fd_, SOL_SOCKET, SO_KEEPALIVE, on);
}

namespace {

using NameCall = int (*)(int, sockaddr*, socklen_t*);

Result<InetAddress> socket_name(int fd, NameCall call) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (call(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0) return last_system_error();
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length);
}

}  // namespace

Result<InetAddress> Socket::local_address() const { return socket_name(fd_, ::getsockname); }
Result<InetAddress> Socket::peer_address() const { return socket_name(fd_, ::getpeername); }

}  // namespace tern
