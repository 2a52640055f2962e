// Socket: owns one fd (RAII; move-only) and wraps the socket calls tern needs.
#pragma once

#include <system_error>
#include <utility>

#include "tern/base/result.h"
#include "tern/net/inet_address.h"

namespace tern {

class Socket {
 public:
  Socket() noexcept = default;
  explicit Socket(int fd) noexcept : fd_(fd) {}
  ~Socket() { reset(); }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  // A non-blocking, close-on-exec TCP socket of the address's family.
  static Result<Socket> tcp(int family);

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept;

  std::error_code bind(const InetAddress& address) noexcept;
  std::error_code listen(int backlog = 4096) noexcept;
  std::error_code shutdown_write() noexcept;
  std::error_code set_reuse_address(bool on) noexcept;
  std::error_code set_reuse_port(bool on) noexcept;
  std::error_code set_no_delay(bool on) noexcept;
  std::error_code set_keep_alive(bool on) noexcept;

  Result<InetAddress> local_address() const;
  Result<InetAddress> peer_address() const;

 private:
  int fd_ = -1;
};

}  // namespace tern
