#include "tern/net/acceptor.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "backend/backend.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"
#include "tern/loop/loop_handle.h"

namespace tern {
namespace {

constexpr auto kPause = std::chrono::milliseconds(100);
constexpr int kMaxShedPerEvent = 256;
constexpr int kMaxAcceptsPerEvent = 64;  // bounded: accepts before the loop's other work

}  // namespace

Socket open_spare_fd() { return Socket(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

bool shed_backlog(int listen_fd, Socket& spare) {
  spare.reset();
  bool backlog_empty = false;
  for (int i = 0; i < kMaxShedPerEvent; ++i) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      backlog_empty = errno == EAGAIN;
      if (errno != EINTR && errno != ECONNABORTED) break;
      continue;
    }
    ::close(fd);
  }
  spare = open_spare_fd();
  return backlog_empty && spare.valid();
}

Result<Socket> Acceptor::listen(const InetAddress& address, const ListenOptions& options) {
  auto socket = Socket::tcp(address.family());
  if (!socket) return socket.error();
  if (auto error = socket->set_reuse_address(true)) return error;
  if (options.reuse_port) {
    if (auto error = socket->set_reuse_port(true)) return error;
  }
  if (address.family() == AF_INET6) {
    int on = 1;
    ::setsockopt(socket->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (auto error = socket->bind(address)) return error;
  if (auto error = socket->listen(options.backlog)) return error;
  return std::move(socket.value());
}

Acceptor::Acceptor(EventLoop& loop, Socket listen_socket, ConnectionLimit* limit)
    : loop_(loop),
      socket_(std::move(listen_socket)),
      spare_(open_spare_fd()),
      limit_(limit),
      token_(std::make_shared<ResumeToken>(ResumeToken{this})) {
  accept_op_.fd = socket_.fd();
  accept_op_.try_first = false;  // a fresh listener has no one waiting yet
  accept_op_.handler = this;
  if (limit_ != nullptr && limit_->bounded()) {
    accept_op_.code = OpCode::poll;
    accept_op_.interest = ready::readable;
    accept_op_.multishot = false;
    // Runs on the thread that freed a slot: the resumption itself belongs to this loop.
    waiter_.wake = [handle = loop.handle(), token = token_] {
      post_to(handle, [token] {
        if (token->acceptor != nullptr) token->acceptor->resume_from_limit();
      });
    };
  } else {
    accept_op_.code = OpCode::accept;
    accept_op_.multishot = true;
  }
}

Acceptor::~Acceptor() {
  // No wake after unpark(); a resumption already posted finds the token cleared.
  if (limit_ != nullptr) limit_->unpark(waiter_);
  token_->acceptor = nullptr;
  loop_.backend().abandon(accept_op_);
  loop_.cancel(resume_timer_);
  loop_.backend().forget(socket_.fd());
}

std::error_code Acceptor::start(AcceptCallback on_accept) {
  loop_.assert_in_loop_thread("Acceptor::start");
  on_accept_ = std::move(on_accept);
  accepting_ = true;
  return submit();
}

std::error_code Acceptor::submit() {
  if (accept_op_.in_flight) return {};
  return loop_.backend().submit(accept_op_);
}

void Acceptor::stop() noexcept {
  accepting_ = false;
  if (parked_) {
    limit_->unpark(waiter_);
    parked_ = false;
  }
  loop_.cancel(resume_timer_);
  loop_.backend().cancel(accept_op_);
}

InetAddress Acceptor::local_address() const {
  auto address = socket_.local_address();
  return address ? address.value() : InetAddress{};
}

void Acceptor::on_complete(Op&, const Completion& completion) {
  if (accept_op_.code == OpCode::poll) {
    on_listener_ready(completion);
    return;
  }
  int result = completion.result;
  if (result >= 0) {
    Socket accepted(result);
    if (accepting_) {
      if (limit_ != nullptr) limit_->add();
      on_accept_(std::move(accepted));
    }
    return;  // not accepting: the socket closes here
  }
  handle_accept_error(-result, completion.more);
  bool paused = resume_timer_.valid();
  if (!completion.more && accepting_ && !paused) {
    if (auto error = submit()) {
      log(LogLevel::error, "accept cannot restart: %s", error.message().c_str());
    }
  }
}

void Acceptor::handle_accept_error(int error, bool still_armed) {
  if (error == EMFILE || error == ENFILE) {
    ++fd_exhaustions_;
    if (spare_.valid()) shed_waiting_connections();
    // An accept that ended on exhaustion (io_uring) would fail again at once, waiting or not:
    // the kernel wants a free fd before it looks at the backlog. Re-arm after a pause.
    if (!spare_.valid() || !still_armed) pause_then_resume();
  } else if (error != ECANCELED) {
    // ENOBUFS, ENOMEM, EPERM...: pause rather than retry in a tight loop.
    log(LogLevel::warn, "accept on %s: %s", local_address().to_string().c_str(),
        system_error(error).message().c_str());
    pause_then_resume();
  }
}

// Bounded: the listener is readable (or a cancelled wait came back).
void Acceptor::on_listener_ready(const Completion& completion) {
  if (completion.result < 0) handle_accept_error(-completion.result, /*still_armed=*/false);
  resume_accepting();
}

// Accepts until the backlog is empty, the limit is reached (parks) or the budget is spent.
// Called from a completion or a task, never with the wait in flight: nothing else accepts.
void Acceptor::accept_within_limit() {
  for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
    if (!claim_slot()) return;  // parked: resume_from_limit() comes back here
    int fd = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      limit_->release_unused();
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error != EAGAIN) handle_accept_error(error, /*still_armed=*/false);
      if (accepting_ && !resume_timer_.valid()) rearm();
      return;
    }
    on_accept_(Socket(fd));
    if (!accepting_) return;
  }
  // More may wait, and an edge-triggered backend would not report them again: go on from a
  // task, after the loop's other work.
  loop_.post([token = token_] {
    if (token->acceptor != nullptr) token->acceptor->resume_accepting();
  });
}

bool Acceptor::claim_slot() {
  if (limit_->try_claim()) return true;
  parked_ = true;
  if (!limit_->claim_or_park(waiter_)) return false;
  parked_ = false;
  return true;
}

void Acceptor::resume_from_limit() {
  if (!parked_) return;  // stopped meanwhile
  parked_ = false;
  resume_accepting();
}

// Accepts now rather than waiting for readiness: clients may have queued while accepting was
// paused, with no new edge to announce them.
void Acceptor::resume_accepting() {
  if (!accepting_ || parked_ || resume_timer_.valid()) return;
  if (accept_op_.in_flight) return;  // a wait (or its cancellation) will come back here
  accept_within_limit();
}

void Acceptor::rearm() {
  if (auto error = submit()) {
    log(LogLevel::error, "accept cannot restart: %s", error.message().c_str());
  }
}

// Out of fds: spend the spare fd on the waiting connections, accepting and closing each, so
// clients hear "closed" now instead of hanging in the backlog, and the listener is not left
// readable (level-triggered: a spin) or with connections no new edge will announce (edge).
void Acceptor::shed_waiting_connections() {
  bool backlog_empty = shed_backlog(socket_.fd(), spare_);
  // No spare (another thread took the fd) or more waiting than one round sheds: come back soon.
  if (!backlog_empty) pause_then_resume();
  if (fd_exhaustions_ % 1000 == 1) {  // the first time, then once in a thousand
    log(LogLevel::warn, "out of file descriptors (%llu times): shedding connections on %s",
        static_cast<unsigned long long>(fd_exhaustions_), local_address().to_string().c_str());
  }
}

void Acceptor::pause_then_resume() {
  if (!accepting_ || resume_timer_.valid()) return;
  loop_.backend().cancel(accept_op_);
  resume_timer_ = loop_.run_after(kPause, [this] {
    resume_timer_ = TimerId{};
    if (!spare_.valid()) spare_ = open_spare_fd();
    accept_op_.try_first = true;  // connections may be waiting with no new edge to announce them
    if (accept_op_.code == OpCode::poll) {
      resume_accepting();
    } else if (accepting_) {
      submit();
    }
  });
}

}  // namespace tern
