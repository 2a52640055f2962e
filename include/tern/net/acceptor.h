// Acceptor: a listening socket and its multishot accept. Loop thread only.
//
// Running out of fds (EMFILE/ENFILE) must neither crash nor spin the listener: a spare fd is
// kept open; on exhaustion it is closed, the waiting connections are accepted and closed at
// once (clients see a clean close instead of waiting in the backlog), and the spare reopened.
// When even the spare cannot be had, or another accept error occurs, accepting pauses for
// 100 ms and then resumes.
//
// With a bounded ConnectionLimit the Acceptor claims a slot before each accept(2): it waits for
// the listener's readiness (a one-shot poll op) and accepts itself, since a multishot accept
// (io_uring's, or a readiness backend's loop of accepts) would take connections past the limit
// before it could be cancelled. At the limit it parks, with nothing in flight: the listener
// stays open, new clients wait in the kernel's backlog, and the release of a slot (on any
// thread) posts the resumption to this loop. Unbounded, it keeps the multishot accept and only
// counts what it accepts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "tern/backend/op.h"
#include "tern/base/result.h"
#include "tern/loop/timer_id.h"
#include "tern/net/connection_limit.h"
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

  // `limit` (not owned; nullptr: not counted) must outlive the Acceptor. Each socket handed to
  // the callback holds one of its slots, which the socket's owner gives back with release().
  Acceptor(EventLoop& loop, Socket listen_socket, ConnectionLimit* limit = nullptr);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  std::error_code start(AcceptCallback on_accept);
  void stop() noexcept;
  bool accepting() const noexcept { return accepting_; }
  // Stopped at the connection limit, waiting for a slot to free.
  bool parked() const noexcept { return parked_; }
  InetAddress local_address() const;
  // How many times the process ran out of fds while accepting.
  uint64_t fd_exhaustions() const noexcept { return fd_exhaustions_; }

 private:
  // Shared by the resumption posted from the thread that freed a slot, and the destructor
  // (which clears `acceptor`): both on the loop thread.
  struct ResumeToken {
    Acceptor* acceptor;
  };

  void on_complete(Op& op, const Completion& completion) override;
  void on_listener_ready(const Completion& completion);
  void accept_within_limit();
  bool claim_slot();
  void resume_from_limit();
  void resume_accepting();
  void handle_accept_error(int error, bool still_armed);
  void rearm();
  void shed_waiting_connections();
  void pause_then_resume();
  std::error_code submit();

  EventLoop& loop_;
  Socket socket_;
  Socket spare_;
  ConnectionLimit* limit_;
  Op accept_op_;  // a multishot accept, or (bounded limit) a one-shot poll for readable
  AcceptCallback on_accept_;
  bool accepting_ = false;
  bool parked_ = false;
  ConnectionLimit::Waiter waiter_;
  std::shared_ptr<ResumeToken> token_;
  TimerId resume_timer_;
  uint64_t fd_exhaustions_ = 0;
};

}  // namespace tern
