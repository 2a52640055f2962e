#include "tern/net/connector.h"

#include <algorithm>

#include "backend/backend.h"
#include "tern/base/error.h"
#include "tern/loop/event_loop.h"

namespace tern {
namespace {

// Failures worth another attempt: the peer may come up, the route may return.
bool retryable(std::error_code error) {
  return error == std::errc::connection_refused || error == std::errc::timed_out ||
         error == std::errc::network_unreachable || error == std::errc::host_unreachable ||
         error == std::errc::connection_reset || error == std::errc::connection_aborted;
}

}  // namespace

Connector::Connector(EventLoop& loop, InetAddress peer, ConnectOptions options)
    : loop_(loop), peer_(peer), options_(options), random_(std::random_device{}()) {
  connect_op_.code = OpCode::connect;
  connect_op_.addr = peer_.sockaddr_ptr();
  connect_op_.addr_len = peer_.length();
  connect_op_.handler = this;
}

Connector::~Connector() { stop(); }

void Connector::start(ConnectCallback on_done) {
  loop_.assert_in_loop_thread("Connector::start");
  on_done_ = std::move(on_done);
  running_ = true;
  attempts_ = 0;
  attempt();
}

void Connector::stop() noexcept {
  running_ = false;
  loop_.cancel(timeout_timer_);
  loop_.cancel(retry_timer_);
  if (connect_op_.in_flight) loop_.backend().abandon(connect_op_);
  if (socket_.valid()) {
    loop_.backend().forget(socket_.fd());
    socket_.reset();
  }
}

void Connector::attempt() {
  ++attempts_;
  auto socket = Socket::tcp(peer_.family());
  if (!socket) {
    fail_or_retry(socket.error());
    return;
  }
  socket_ = std::move(socket.value());
  connect_op_.fd = socket_.fd();
  timed_out_ = false;
  if (auto error = loop_.backend().submit(connect_op_)) {
    loop_.backend().forget(socket_.fd());
    socket_.reset();
    fail_or_retry(error);
    return;
  }
  timeout_timer_ = loop_.run_after(options_.timeout, [this] {
    timeout_timer_ = TimerId{};
    timed_out_ = true;
    loop_.backend().cancel(connect_op_);
  });
}

void Connector::on_complete(Op&, const Completion& completion) {
  loop_.cancel(timeout_timer_);
  timeout_timer_ = TimerId{};
  if (completion.result == 0) {
    finish({}, std::move(socket_));
    return;
  }
  std::error_code error = completion.result == -ECANCELED && timed_out_
                              ? std::make_error_code(std::errc::timed_out)
                              : system_error(-completion.result);
  loop_.backend().forget(socket_.fd());
  socket_.reset();
  fail_or_retry(error);
}

void Connector::fail_or_retry(std::error_code error) {
  if (!running_) return;
  if (attempts_ >= options_.max_attempts || !retryable(error)) {
    finish(error, Socket{});
    return;
  }
  retry_timer_ = loop_.run_after(next_backoff(), [this] {
    retry_timer_ = TimerId{};
    if (running_) attempt();
  });
}

// Exponential backoff with "equal jitter": half the step fixed, half random, so clients that
// failed together do not retry together.
Duration Connector::next_backoff() {
  Duration step = options_.initial_backoff;
  for (int i = 1; i < attempts_ && step < options_.max_backoff; ++i) step *= 2;
  step = std::min(step, options_.max_backoff);
  auto half = step / 2;
  std::uniform_int_distribution<Duration::rep> spread(0, half.count());
  return half + Duration(spread(random_));
}

void Connector::finish(std::error_code error, Socket socket) {
  running_ = false;
  if (!socket.valid() && !error) error = make_error_code(errc::not_connected);
  ConnectCallback done = std::move(on_done_);
  on_done_ = nullptr;
  if (done) done(error, std::move(socket));
}

}  // namespace tern
