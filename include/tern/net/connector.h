// Connector: makes one outgoing TCP connection, non-blocking (connect -> EINPROGRESS ->
// writable -> SO_ERROR), with a timeout per attempt and retries with exponential backoff and
// jitter. Loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <random>
#include <system_error>

#include "tern/backend/op.h"
#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"
#include "tern/net/inet_address.h"
#include "tern/net/socket.h"

namespace tern {

class EventLoop;

struct ConnectOptions {
  Duration timeout = std::chrono::seconds(5);    // per attempt
  int max_attempts = 1;                           // 1: no retry
  Duration initial_backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(10);
};

class Connector final : private OpHandler {
 public:
  // Runs once: with a connected socket, or with the error of the last attempt
  // (connection_refused, network_unreachable, timed_out, ...).
  using ConnectCallback = std::function<void(std::error_code, Socket)>;

  Connector(EventLoop& loop, InetAddress peer, ConnectOptions options = {});
  ~Connector();
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  void start(ConnectCallback on_done);
  // Gives up; the callback does not run.
  void stop() noexcept;
  int attempts() const noexcept { return attempts_; }
  const InetAddress& peer() const noexcept { return peer_; }

 private:
  void attempt();
  void on_complete(Op& op, const Completion& completion) override;
  void fail_or_retry(std::error_code error);
  Duration next_backoff();
  void finish(std::error_code error, Socket socket);

  EventLoop& loop_;
  InetAddress peer_;
  ConnectOptions options_;
  ConnectCallback on_done_;
  Socket socket_;
  Op connect_op_;
  TimerId timeout_timer_;
  TimerId retry_timer_;
  bool timed_out_ = false;
  bool running_ = false;
  int attempts_ = 0;
  std::minstd_rand random_;
};

}  // namespace tern
