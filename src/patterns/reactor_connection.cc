#include "patterns/reactor_connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "tern/backend/op.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"

namespace tern {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadBudget = 4 * kReadChunk;  // per event, so one busy peer cannot hog a thread

// Per thread, so concurrent handlers never share it; the bytes are appended to in_ at once.
thread_local char read_buffer[kReadChunk];

}  // namespace

ReactorConnection::ReactorConnection(ReactorOwner& owner, Socket socket, uint64_t tag)
    : owner_(owner), fd_(socket.fd()), tag_(tag), socket_(std::move(socket)),
      order_(owner.options().max_pipeline) {}

void ReactorConnection::start() {
  std::lock_guard lock(mutex_);
  settle();
}

void ReactorConnection::handle(uint32_t ready) {
  Lock lock(mutex_);
  armed_ = 0;
  if (closed_) return;
  if (busy_) {
    pending_ |= ready;
    return;
  }
  busy_ = true;
  for (;;) {
    if (ready & ready::writable) write_some();
    if (!closed_ && (ready & (ready::readable | ready::error | ready::hangup))) {
      if (lingering_) {
        discard_input();
      } else if (wants_read()) {
        read_some();
      }
    }
    if (!closed_) dispatch_all(lock);
    if (!closed_) write_some();
    if (closed_ || pending_ == 0) break;
    ready = std::exchange(pending_, 0);
  }
  busy_ = false;
  if (!closed_) settle();
}

void ReactorConnection::read_some() {
  if (peer_closed_) return;
  size_t total = 0;
  while (total < kReadBudget) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n > 0) {
      in_.append(read_buffer, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) close_locked();
    return;
  }
}

// Lingering close: our FIN is out; read and drop what the peer still sends until it closes.
void ReactorConnection::discard_input() {
  for (;;) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close_locked();
    return;
  }
}

void ReactorConnection::dispatch_all(Lock& lock) {
  const Codec& codec = owner_.options().codec;
  while (!closed_ && !failed_ && !lingering_ && !order_.full() && !owner_.draining()) {
    auto frame = codec.decode(std::string_view(in_).substr(consumed_));
    if (!frame) {
      log(LogLevel::warn, "closing fd %d: %s", fd_, frame.error().message().c_str());
      failed_ = true;
      break;
    }
    if (!frame.value()) break;
    std::string_view message = frame.value()->message;
    consumed_ += frame.value()->consumed;
    uint64_t sequence = order_.begin_request();
    // Without the mutex: the handler may block, and its Reply may complete on this thread.
    // in_ stays put (only the owner changes it), so the view is safe.
    lock.unlock();
    owner_.handler()(message, Reply(shared_from_this(), sequence));
    lock.lock();
  }
  if (consumed_ == in_.size()) {
    in_.clear();
    consumed_ = 0;
  } else if (consumed_ > 0) {
    in_.erase(0, consumed_);
    consumed_ = 0;
  }
}

void ReactorConnection::write_some() {
  while (unsent()) {
    ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_locked();
    return;
  }
  out_.clear();
  out_sent_ = 0;
}

void ReactorConnection::complete(uint64_t sequence, std::optional<Response> response) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  const Codec& codec = owner_.options().codec;
  bool in_order =
      order_.put(sequence, std::move(response), [&](Response& r) { codec.encode(r, out_); });
  if (!in_order && !failed_) {
    log(LogLevel::error, "closing fd %d: %s", fd_,
        make_error_code(errc::unanswered).message().c_str());
    failed_ = true;
  }
  if (busy_) return;  // the owner writes and re-arms when it lets go
  write_some();
  if (!closed_) settle();
}

void ReactorConnection::drain() {
  std::lock_guard lock(mutex_);
  if (!closed_ && !busy_) settle();
}

void ReactorConnection::close() {
  std::lock_guard lock(mutex_);
  if (!closed_) close_locked();
}

// Not busy: decides what comes next (close, lingering close, or which interest to arm).
void ReactorConnection::settle() {
  const bool draining = owner_.draining();
  const bool answered = order_.in_flight() == 0 || failed_;
  if (!lingering_ && answered && !unsent() && (peer_closed_ || draining || failed_)) {
    if (peer_closed_) {
      close_locked();
      return;
    }
    // Draining and answered, or failed: send our FIN, then wait for the peer's (a lingering
    // close: closing with unread input would reset, destroying answers not yet read).
    ::shutdown(fd_, SHUT_WR);
    lingering_ = true;
  }
  uint32_t interest = 0;
  if (lingering_) {
    interest = ready::readable;
  } else {
    if (wants_read()) interest |= ready::readable;
    if (unsent()) interest |= ready::writable;
  }
  // Nothing to wait for: a reply in flight will settle again.
  if (interest == 0 || interest == armed_) return;
  armed_ = interest;
  owner_.arm(*this, interest);
}

// At a limit (requests in flight, unsent bytes, draining) the connection is not read, so
// what one peer can make the server hold stays bounded.
bool ReactorConnection::wants_read() const noexcept {
  return !peer_closed_ && !failed_ && !owner_.draining() && !order_.full() &&
         out_.size() - out_sent_ < owner_.options().high_water;
}

void ReactorConnection::close_locked() {
  closed_ = true;
  owner_.closed(*this, std::move(socket_));
}

}  // namespace tern
