#include "backend/readiness_backend.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "tern/base/clock.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"

namespace tern {
namespace {

// How much one readiness report may do before other fds get their turn (libuv reads up to 32
// times, Asio once). Edge-triggered fds that hit the bound are retried on the next wait.
constexpr int kMaxReadsPerEvent = 16;
constexpr int kMaxAcceptsPerEvent = 64;
constexpr size_t kSuggestedReadSize = 64 * 1024;

constexpr uint32_t kBothDirections = ready::readable | ready::writable;

size_t total_length(const iovec* iov, uint32_t count) noexcept {
  size_t total = 0;
  for (uint32_t i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

}  // namespace

ReadinessBackend::ReadinessBackend(BackendKind kind, std::unique_ptr<Poller> poller)
    : kind_(kind),
      poller_(std::move(poller)),
      edge_triggered_(poller_->edge_triggered()),
      scratch_(std::make_unique<std::byte[]>(kSuggestedReadSize)) {
  events_.reserve(256);
}

ReadinessBackend::FdState& ReadinessBackend::state(int fd) {
  if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(static_cast<size_t>(fd) + 64);
  return fds_[static_cast<size_t>(fd)];
}

std::error_code ReadinessBackend::submit(Op& op) noexcept {
  TERN_CHECK(!op.in_flight, "tern: submit of an op that is already in flight (fd %d)", op.fd);
  TERN_CHECK(op.handler != nullptr, "tern: submit of an op without a handler (fd %d)", op.fd);
  if (op.fd < 0) return system_error(EBADF);
  if (auto error = poller_->check_fd(op.fd)) return error;
  uint32_t dirs = directions_of(op);
  if (dirs == 0) return make_error_code(errc::invalid_argument);
  FdState& s = state(op.fd);
  if (((dirs & ready::readable) && s.reader) || ((dirs & ready::writable) && s.writer)) {
    return make_error_code(errc::already_in_use);
  }
  if (edge_triggered_ && s.registered == 0) {
    if (auto error = poller_->set_interest(op.fd, 0, kBothDirections)) return error;
    s.registered = kBothDirections;
  }
  op.in_flight = true;
  op.started = false;
  op.cancelling = false;
  ++stats_.submitted;
  attach(op);

  uint32_t attempt = 0;
  if (op.code == OpCode::connect || op.code == OpCode::nop) {
    attempt = dirs;                        // connect(2) itself starts the operation; nop needs
                                           // no readiness at all
  } else if (op.code != OpCode::poll && op.try_first) {
    attempt = dirs;
  } else if (edge_triggered_) {
    attempt = s.ready & dirs;              // the edge already happened: do not wait for another
  }
  if (attempt != 0) queue_try(op.fd, attempt);
  return {};
}

// What an op needs the poller for: nothing for a nop, which completes without readiness.
uint32_t ReadinessBackend::interest_of(const Op* op) noexcept {
  if (op == nullptr || op->code == OpCode::nop) return 0;
  return directions_of(*op);
}

void ReadinessBackend::attach(Op& op) noexcept {
  uint32_t dirs = directions_of(op);
  FdState& s = fds_[static_cast<size_t>(op.fd)];
  if (dirs & ready::readable) s.reader = &op;
  if (dirs & ready::writable) s.writer = &op;
  mark_dirty(op.fd);
}

void ReadinessBackend::detach(Op& op) noexcept {
  FdState& s = fds_[static_cast<size_t>(op.fd)];
  if (s.reader == &op) s.reader = nullptr;
  if (s.writer == &op) s.writer = nullptr;
  mark_dirty(op.fd);
}

// Compares addresses only: a handler may have abandoned and freed the op, so it must not be
// read before this says it is still attached.
bool ReadinessBackend::still_attached(int fd, const Op* op) const noexcept {
  const FdState& s = fds_[static_cast<size_t>(fd)];
  return s.reader == op || s.writer == op;
}

void ReadinessBackend::mark_dirty(int fd) {
  if (edge_triggered_) return;
  FdState& s = fds_[static_cast<size_t>(fd)];
  if (!s.dirty) {
    s.dirty = true;
    dirty_.push_back(fd);
  }
}

void ReadinessBackend::queue_try(int fd, uint32_t dirs) {
  FdState& s = fds_[static_cast<size_t>(fd)];
  if (s.try_now == 0) runnable_.push_back(fd);
  s.try_now |= dirs;
}

void ReadinessBackend::clear_ready(int fd, uint32_t dirs) noexcept {
  fds_[static_cast<size_t>(fd)].ready &= ~dirs;
}

void ReadinessBackend::cancel(Op& op) noexcept {
  if (!op.in_flight || op.cancelling) return;
  detach(op);
  op.cancelling = true;
  cancelled_.push_back(&op);
}

void ReadinessBackend::abandon(Op& op) noexcept {
  if (!op.in_flight) return;
  if (op.cancelling) {
    std::erase(cancelled_, &op);
    std::erase(cancelling_, &op);
  } else {
    detach(op);
  }
  op.in_flight = false;
  op.cancelling = false;
}

void ReadinessBackend::forget(int fd) noexcept {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  FdState& s = fds_[static_cast<size_t>(fd)];
  TERN_CHECK(s.reader == nullptr && s.writer == nullptr,
             "tern: fd %d closed while an operation is in flight on it", fd);
  if (s.registered != 0) poller_->forget(fd);
  s = FdState{};
}

void ReadinessBackend::flush_interest() {
  // A batch, like the attempts: a failure's handlers may mark more fds dirty as we go; those
  // wait for the next flush instead of invalidating this loop.
  flushing_.swap(dirty_);
  for (int fd : flushing_) {
    FdState& s = fds_[static_cast<size_t>(fd)];
    if (!s.dirty) continue;
    s.dirty = false;
    uint32_t wanted = (interest_of(s.reader) & ready::readable) |
                      (interest_of(s.writer) & ready::writable);
    if (wanted == s.registered) continue;
    if (auto error = poller_->set_interest(fd, s.registered, wanted)) {
      s.registered = 0;
      fail_ops(fd, error.value());
      continue;
    }
    s.registered = wanted;
  }
  flushing_.clear();
}

void ReadinessBackend::fail_ops(int fd, int error) {
  // Index again after each handler: it may have submitted on a higher fd and grown fds_.
  if (Op* reader = fds_[static_cast<size_t>(fd)].reader) complete(*reader, -error, false);
  if (Op* writer = fds_[static_cast<size_t>(fd)].writer) complete(*writer, -error, false);
}

// One wait, in an order that saves system calls: attempts first (an op that completes at once
// never reaches the poller), then cancellations, then the interest of what still waits, then
// the poller. Work queued by handlers during this call waits for the next call.
size_t ReadinessBackend::wait(bool block) {
  delivered_ = 0;
  run_attempts();
  deliver_cancellations();
  flush_interest();
  // Handlers that ran above may have queued work for the loop (a task, a close, stop()) that
  // the caller's `block` did not know of: then only look, do not sleep.
  bool work_pending = delivered_ > 0 || !runnable_.empty() || !cancelled_.empty();
  events_.clear();
  ++stats_.wait_calls;
  // Two clock reads, only around a wait that may sleep: the loop's idle time.
  const bool may_block = block && !work_pending;
  const TimePoint wait_start = may_block ? Clock::now() : TimePoint{};
  if (auto error = poller_->wait(may_block, events_)) {
    log(LogLevel::error, "%s wait failed: %s", to_string(kind_).data(), error.message().c_str());
  }
  if (may_block) {
    stats_.wait_ns += uint64_t(std::chrono::nanoseconds(Clock::now() - wait_start).count());
  }
  for (const ReadyEvent& event : events_) {
    uint32_t events = event.events;
    if (events & (ready::error | ready::hangup)) events |= kBothDirections;
    if (edge_triggered_) {
      FdState& s = state(event.fd);
      s.ready |= events & kBothDirections;
      if (events & ready::read_closed) s.peer_closed = true;
    }
    perform(event.fd, events);
  }
  return delivered_;
}

void ReadinessBackend::run_attempts() {
  running_.swap(runnable_);
  for (int fd : running_) {
    FdState& s = fds_[static_cast<size_t>(fd)];
    uint32_t attempt = s.try_now;
    s.try_now = 0;
    if (attempt != 0) perform(fd, attempt);
  }
  running_.clear();
}

void ReadinessBackend::deliver_cancellations() {
  cancelling_.swap(cancelled_);
  // Index, not iterator: a handler may abandon() an op later in this batch.
  for (size_t i = 0; i < cancelling_.size(); ++i) {
    Op* op = cancelling_[i];
    op->in_flight = false;
    op->cancelling = false;
    ++delivered_;
    ++stats_.completions;
    op->handler->on_complete(*op, Completion{-ECANCELED, false, {}});
  }
  cancelling_.clear();
}

void ReadinessBackend::perform(int fd, uint32_t events) {
  if (static_cast<size_t>(fd) >= fds_.size()) return;
  Op* reader = fds_[static_cast<size_t>(fd)].reader;
  bool reader_ran = reader && (events & ready::readable);
  if (reader_ran) run(*reader, events);
  // Re-read the slot: the reader's completion may have closed or replaced the writer. A poll
  // op watching both directions sits in both slots: it runs here when only writable is
  // reported (regression: a one-shot read|write watch never saw writability alone).
  Op* writer = fds_[static_cast<size_t>(fd)].writer;
  if (writer && (events & ready::writable) && !(writer == reader && reader_ran)) {
    run(*writer, events);
  }
}

void ReadinessBackend::run(Op& op, uint32_t events) {
  switch (op.code) {
    case OpCode::poll: run_poll(op, events); break;
    case OpCode::accept: run_accept(op); break;
    case OpCode::recv: run_recv(op); break;
    case OpCode::send: run_send(op); break;
    case OpCode::connect: run_connect(op); break;
    case OpCode::nop: complete(op, 0, false); break;
  }
}

void ReadinessBackend::complete(Op& op, int32_t result, bool more, std::span<std::byte> data) {
  if (!more) {
    detach(op);
    op.in_flight = false;
  }
  ++delivered_;
  ++stats_.completions;
  op.handler->on_complete(op, Completion{result, more, data});
}

void ReadinessBackend::run_poll(Op& op, uint32_t events) {
  uint32_t hit = events & (op.interest | ready::error | ready::hangup);
  if ((hit & kBothDirections) == 0) return;
  clear_ready(op.fd, hit & kBothDirections);  // the edge is reported: it is used up
  complete(op, static_cast<int32_t>(hit), op.multishot);
}

void ReadinessBackend::run_accept(Op& op) {
  const int fd = op.fd;
  for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
    if (!still_attached(fd, &op)) return;
    int accepted = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (accepted >= 0) {
      complete(op, accepted, op.multishot);
      continue;
    }
    int error = errno;
    if (error == EINTR || error == ECONNABORTED) continue;
    if (error == EAGAIN) {
      clear_ready(fd, ready::readable);
      return;
    }
    // EMFILE, ENFILE, ENOBUFS...: the handler decides what to do (drain the backlog, pause).
    // No retry from here: with EMFILE the kernel fails even when no one is waiting, so a retry
    // would spin. The readiness is forgotten; a resubmit with try_first attempts again.
    clear_ready(fd, ready::readable);
    complete(op, -error, op.multishot);
    return;
  }
  if (edge_triggered_ && still_attached(fd, &op)) queue_try(fd, ready::readable);
}

void ReadinessBackend::run_recv(Op& op) {
  const int fd = op.fd;
  for (int i = 0; i < kMaxReadsPerEvent; ++i) {
    if (!still_attached(fd, &op)) return;
    std::span<std::byte> buffer = op.buffers ? op.buffers->provide(kSuggestedReadSize)
                                             : std::span(scratch_.get(), kSuggestedReadSize);
    if (buffer.empty()) {
      complete(op, -ENOBUFS, false);
      return;
    }
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      // A short read drained the socket: new data makes a new edge, so no EAGAIN probe is
      // needed. Unless the peer's FIN came with the same edge: no edge will announce it again,
      // so read on until recv says 0.
      bool drained = static_cast<size_t>(n) < buffer.size() && !fds_[fd].peer_closed;
      if (drained) clear_ready(fd, ready::readable);
      bool more = op.multishot;
      complete(op, static_cast<int32_t>(n), more, buffer.first(static_cast<size_t>(n)));
      if (!more || drained) return;
      continue;
    }
    if (n == 0) {
      complete(op, 0, false);
      return;
    }
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN) {
      clear_ready(fd, ready::readable);
      return;
    }
    complete(op, -error, false);
    return;
  }
  if (edge_triggered_ && still_attached(fd, &op)) queue_try(fd, ready::readable);
}

void ReadinessBackend::run_send(Op& op) {
  if (!still_attached(op.fd, &op)) return;
  for (;;) {
    int n = try_send(op.fd, op.iov, static_cast<int>(op.iov_count));
    if (n == -EINTR) continue;
    if (n == -EAGAIN) {
      clear_ready(op.fd, ready::writable);
      return;
    }
    if (n >= 0 && static_cast<size_t>(n) < total_length(op.iov, op.iov_count)) {
      clear_ready(op.fd, ready::writable);
    }
    complete(op, n, false);
    return;
  }
}

int ReadinessBackend::try_send(int fd, const iovec* iov, int iov_count) noexcept {
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(iov);
  message.msg_iovlen = static_cast<size_t>(iov_count);
  // MSG_NOSIGNAL: a peer that reset the connection gives EPIPE, never a process-killing SIGPIPE.
  ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
  return n >= 0 ? static_cast<int>(n) : -errno;
}

void ReadinessBackend::run_connect(Op& op) {
  if (!still_attached(op.fd, &op)) return;
  if (!op.started) {
    op.started = true;
    if (::connect(op.fd, op.addr, op.addr_len) == 0) {
      complete(op, 0, false);
    } else if (errno != EINPROGRESS && errno != EINTR) {
      complete(op, -errno, false);
    } else {
      clear_ready(op.fd, ready::writable);
    }
    return;
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
  if (error == 0) {
    // A stale writable report can arrive before the handshake ends: only a peer name proves it.
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    if (::getpeername(op.fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) < 0) {
      if (errno == ENOTCONN) {
        clear_ready(op.fd, ready::writable);
        return;
      }
      error = errno;
    }
  }
  complete(op, -error, false);
}

}  // namespace tern
