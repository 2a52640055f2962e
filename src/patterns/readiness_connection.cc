#include "patterns/readiness_connection.h"

#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "tern/backend/op.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/net/inet_address.h"

namespace tern {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadBudget = 4 * kReadChunk;  // per event, so one busy peer cannot hog a thread
constexpr size_t kCompactAt = 64 * 1024;  // sent bytes kept at most before the output is compacted
constexpr auto kLinger = std::chrono::seconds(5);
constexpr size_t kMaxSendfile = 0x7ffff000;  // sendfile(2)'s most per call (MAX_RW_COUNT)

// Per thread, so concurrent handlers never share it; the session copies what it keeps.
thread_local char read_buffer[kReadChunk];

}  // namespace

ReadinessConnection::ReadinessConnection(ReadinessOwner& owner, Socket socket, uint64_t tag)
    : owner_(owner), fd_(socket.fd()), tag_(tag), socket_(std::move(socket)) {}

// The session goes first: its destructor may call its producers back, never this transport.
ReadinessConnection::~ReadinessConnection() { session_.reset(); }

void ReadinessConnection::start() {
  auto self = shared_from_this();  // a callback run below may close it
  Lock lock(mutex_);
  session_->start();
  settle();
  run_deferred(lock);
}

void ReadinessConnection::handle(uint32_t ready) {
  auto self = shared_from_this();  // a callback run below may close it
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
      } else {
        read_some();
      }
    }
    if (!closed_ && std::exchange(drain_pending_, false)) session_->drain();
    if (!closed_ && std::exchange(deadline_pending_, false)) session_->on_deadline();
    if (!closed_) write_some();
    if (closed_ || (pending_ == 0 && !drain_pending_ && !deadline_pending_)) break;
    ready = std::exchange(pending_, 0);
  }
  busy_ = false;
  if (!closed_) settle();
  run_deferred(lock);
}

// Reads while the session wants bytes, within a budget per event.
void ReadinessConnection::read_some() {
  size_t total = 0;
  while (want_read_ && !closed_ && total < kReadBudget) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
      session_->on_read(std::string_view(read_buffer, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) {
      want_read_ = false;
      session_->on_peer_closed();
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) close_locked();  // a reset
    return;
  }
}

// Lingering close: our FIN is out; read and drop what the peer still sends until it closes.
void ReadinessConnection::discard_input() {
  for (;;) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) close_locked();
    return;
  }
}

void ReadinessConnection::write(Output& out) {
  for (size_t i = 0; i < out.piece_count(); ++i) {
    if (out.kind(i) == Output::Kind::memory) {
      out_.append(out.piece(i));
      continue;
    }
    file_bytes_ += out.file(i).length;
    files_.push_back(PendingFile{out_base_ + out_.size(), out.take_file(i)});
  }
  output_pending_ = output_pending_ || !out.empty();
  out.clear();
}

// Sends what it can, in order: bytes up to the next file, the file, and on. The bytes already
// sent are dropped as it goes, so the memory a peer that does not read can pin is the unsent
// output (bounded by the session's high-water mark) plus kCompactAt.
void ReadinessConnection::write_some() {
  for (;;) {
    // Bytes of out_ that may go now: up to the next file.
    size_t end = files_head_ < files_.size()
                     ? static_cast<size_t>(files_[files_head_].at - out_base_)
                     : out_.size();
    if (out_sent_ < end) {
      ssize_t n = ::send(fd_, out_.data() + out_sent_, end - out_sent_, MSG_NOSIGNAL);
      if (n > 0) {
        out_sent_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_locked();
      return;
    }
    if (files_head_ == files_.size() || !send_front_file()) break;
  }
  if (closed_) return;
  drop_sent_output();
}

bool ReadinessConnection::send_front_file() {
  PendingFile& file = files_[files_head_];
  for (;;) {
    auto offset = static_cast<off_t>(file.range.offset);
    size_t want = static_cast<size_t>(std::min<uint64_t>(file.range.length, kMaxSendfile));
    ssize_t n = ::sendfile(fd_, file.range.file->fd(), &offset, want);
    if (n > 0) {
      file.range.offset += static_cast<uint64_t>(n);
      file.range.length -= static_cast<uint64_t>(n);
      file_bytes_ -= static_cast<uint64_t>(n);
      if (file.range.length > 0) continue;
      file.range = FileRange{};  // lets the File go
      if (++files_head_ == files_.size()) {
        files_.clear();
        files_head_ = 0;
      }
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    // The file ended before the range (truncated while sending) or could not be read: the
    // response cannot be completed; the peer sees a short body, then the close. A reset peer
    // (EPIPE, ECONNRESET) is no news worth a line.
    if (n == 0 || (errno != EPIPE && errno != ECONNRESET)) {
      log(LogLevel::warn, "fd %d: sending a file failed (%s); closing", fd_,
          n == 0 ? "the file ends before the range" : last_system_error().message().c_str());
    }
    close_locked();
    return false;
  }
}

void ReadinessConnection::drop_sent_output() {
  if (out_sent_ == out_.size() && files_head_ == files_.size()) {
    out_base_ += out_.size();
    out_.clear();
    out_sent_ = 0;
    if (std::exchange(output_pending_, false)) session_->on_output_drained();
  } else if (out_sent_ >= kCompactAt) {
    out_.erase(0, out_sent_);
    out_base_ += out_sent_;
    out_sent_ = 0;
  }
}

void ReadinessConnection::visit(FunctionRef<void(SessionBase&)> visit) {
  auto self = shared_from_this();  // a callback run below may close it
  Lock lock(mutex_);
  if (closed_) return;
  visit(*session_);
  if (!busy_) {  // else the owner writes and re-arms when it lets go
    write_some();
    if (!closed_) settle();
  }
  run_deferred(lock);
}

void ReadinessConnection::deadline_reached() {
  auto self = shared_from_this();  // a callback run below may close it
  Lock lock(mutex_);
  if (closed_) return;
  if (lingering_) {
    close_locked();  // the peer never closed its side
    return;
  }
  if (busy_) {
    deadline_pending_ = true;
    return;
  }
  session_->on_deadline();
  write_some();
  if (!closed_) settle();
  run_deferred(lock);
}

void ReadinessConnection::drain() {
  auto self = shared_from_this();  // a callback run below may close it
  Lock lock(mutex_);
  if (closed_) return;
  if (busy_) {
    drain_pending_ = true;
    return;
  }
  session_->drain();
  write_some();
  if (!closed_) settle();
  run_deferred(lock);
}

ReadinessConnection::Wanted ReadinessConnection::wanted() {
  std::lock_guard lock(mutex_);
  if (closed_) return {0, TimePoint{}};
  return {armed_, deadline_};
}

void ReadinessConnection::close() {
  std::lock_guard lock(mutex_);
  if (!closed_) close_locked();
}

// Not busy: decides what comes next (close, lingering close, or which interest to arm).
void ReadinessConnection::settle() {
  bool unsent = unsent_bytes() > 0;
  if (finishing_ && !unsent) {
    ::shutdown(fd_, SHUT_WR);
    close_locked();
    return;
  }
  if (linger_requested_ && !lingering_ && !unsent) {
    // Our FIN, then wait for the peer's (closing with unread input would reset, destroying
    // answers the peer has not read yet), for at most kLinger.
    ::shutdown(fd_, SHUT_WR);
    // Nothing unread (an idle keep-alive client at drain): closing now resets nothing, as in
    // TcpConnection::close_gracefully; and lf has no timer to cut a linger short.
    if (int unread = 0; ::ioctl(fd_, FIONREAD, &unread) == 0 && unread == 0) {
      close_locked();
      return;
    }
    lingering_ = true;
    set_deadline(Clock::now() + kLinger);
  }
  uint32_t interest = 0;
  if (lingering_) {
    interest = ready::readable;
  } else {
    if (want_read_) interest |= ready::readable;
    if (unsent) interest |= ready::writable;
  }
  // Nothing to wait for: a reply in flight will settle again.
  if (interest == 0 || interest == armed_) return;
  armed_ = interest;
  owner_.arm(*this, interest);
}

void ReadinessConnection::run_deferred(Lock& lock) {
  while (!deferred_.empty()) {
    std::vector<Deferred> calls = std::move(deferred_);
    deferred_.clear();
    lock.unlock();
    for (Deferred& call : calls) call.callback(call.open);
    lock.lock();
  }
}

void ReadinessConnection::close_locked() {
  if (closed_) return;
  closed_ = true;
  files_.clear();  // lets the Files go
  files_head_ = 0;
  file_bytes_ = 0;
  set_deadline(TimePoint{});
  owner_.closed(*this, std::move(socket_));
}

InetAddress ReadinessConnection::peer_address() const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  return InetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), length);
}

}  // namespace tern
