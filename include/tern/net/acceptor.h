// Acceptor: a listening socket and its multishot accept. Loop thread only.
//
// Running out of fds (EMFILE/ENFILE) must neither crash nor spin the listener: a spare fd is
// kept open; on exhaustion it is closed, the waiting connections are accepted and closed at
// once (clients see a clean close instead of waiting in the backlog), and the spare reopened.
// When even the spare cannot be had, or another accept error occurs, accepting pauses for
// 100 ms and then resumes.
#pragma once

#include <cstdint>
#include <functional>
#include <system_error>

#include "tern/backend/op.h"
#include "tern/base/result.h"
#include "tern/loop/timer_id.h"
#include "tern/net/inet_address.h"
#include "tern/net/socket.h"

namespace tern {

class EventLoop;

struct ListenOptions {
  int backlog = 4096;
  bool reuse_port = false;  // SO_REUSEPORT: several listeners (one per loop) share the port
};

// An fd kept in reserve for running out of fds: /dev/null, opened close-on-exec.
Socket open_spare_fd();
// Out of fds: spends `spare` on the waiting connections, accepting and closing each (clients
// see a clean close instead of waiting in the backlog), then reopens it. True when the
// backlog is empty and the spare is back.
bool shed_backlog(int listen_fd, Socket& spare);

class Acceptor final : private OpHandler {
 public:
  using AcceptCallback = std::function<void(Socket)>;

  // Binds and listens (SO_REUSEADDR always; IPv6 addresses accept IPv6 only).
  static Result<Socket> listen(const InetAddress& address, const ListenOptions& options);

  Acceptor(EventLoop& loop, Socket listen_socket);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  std::error_code start(AcceptCallback on_accept);
  void stop() noexcept;
  bool accepting() const noexcept { return accepting_; }
  InetAddress local_address() const;
  // How many times the process ran out of fds while accepting.
  uint64_t fd_exhaustions() const noexcept { return fd_exhaustions_; }

 private:
  void on_complete(Op& op, const Completion& completion) override;
  void shed_waiting_connections();
  void pause_then_resume();
  std::error_code submit();

  EventLoop& loop_;
  Socket socket_;
  Socket spare_;
  Op accept_op_;
  AcceptCallback on_accept_;
  bool accepting_ = false;
  TimerId resume_timer_;
  uint64_t fd_exhaustions_ = 0;
};

}  // namespace tern
