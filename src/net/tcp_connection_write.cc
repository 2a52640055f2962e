// TcpConnection's writing half: write requests queued in order in a WriteRing
// (src/net/write_ring.h) and gathered into one send, write-through when nothing is queued,
// files (sendfile(2) on readiness backends, a bounce buffer where the backend performs the
// I/O), shutdown markers, and the water marks. Its life, reading and closing are in
// tcp_connection.cc.
#include "tern/net/tcp_connection.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "backend/backend.h"
#include "net/write_ring.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {
namespace {

// A request's copy is given back to the allocator when it grew past this, so one large write
// does not pin memory for the life of the connection.
constexpr size_t kKeptCopyCapacity = 64 * 1024;
// sendfile(2) moves at most this much per call (MAX_RW_COUNT).
constexpr size_t kMaxSendfile = 0x7ffff000;
// A connection sends at most about this much of a file per turn of the loop (a fast reader
// must not keep the loop from its other connections); the rest goes on the next turn.
constexpr uint64_t kFileBudget = 1 << 20;

size_t total_size(std::span<const ConstBuffer> buffers) {
  size_t total = 0;
  for (ConstBuffer b : buffers) total += b.size();
  return total;
}

// The file ended before the range did: it was truncated while being sent (ENODATA).
std::error_code file_too_short() {
  return std::make_error_code(std::errc::no_message_available);
}

// Errors of the socket (the peer went away), as opposed to the file's: not worth a log line.
bool socket_error(std::error_code error) {
  return error == std::errc::broken_pipe || error == std::errc::connection_reset ||
         error == std::errc::not_connected;
}

struct FilePart {
  size_t sent = 0;
  bool full = false;  // the socket said EAGAIN
};

// Sends up to `length` bytes of `file` from `offset` (never moving the file's own offset),
// until the socket is full or kFileBudget is spent. A short sendfile means full to a
// level-triggered backend (were it the end of the file, the wait for writability ends at
// once and the next sendfile says so). An edge-triggered one reports writability again only
// after EAGAIN (`until_eagain`): there only EAGAIN counts as full.
Result<FilePart> send_file_part(int socket, const File& file, uint64_t offset, uint64_t length,
                                bool until_eagain) {
  auto position = static_cast<off_t>(offset);
  const auto end = static_cast<off_t>(offset + length);
  const auto budget_end = static_cast<off_t>(offset + kFileBudget);
  FilePart part;
  while (position < end && position < budget_end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(end - position, kMaxSendfile));
    ssize_t n = ::sendfile(socket, file.fd(), &position, want);
    if (n > 0 && (until_eagain || static_cast<size_t>(n) == want)) continue;  // moved `position`
    if (n > 0) {
      part.full = true;
      break;
    }
    if (n == 0) return file_too_short();
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return last_system_error();
    part.full = true;
    break;
  }
  part.sent = static_cast<size_t>(static_cast<uint64_t>(position) - offset);
  return part;
}

// Reads up to `length` bytes of `file` at `offset` into `into`: the bytes read (at least 1).
Result<size_t> read_file_part(const File& file, uint64_t offset, std::span<std::byte> into) {
  for (;;) {
    ssize_t n = ::pread(file.fd(), into.data(), into.size(), static_cast<off_t>(offset));
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return file_too_short();
    if (errno != EINTR) return last_system_error();
  }
}

}  // namespace

std::error_code TcpConnection::write(ConstBuffer data, WriteCallback on_done) {
  return write(std::span<const ConstBuffer>(&data, 1), std::move(on_done));
}

std::error_code TcpConnection::write(std::string_view text, WriteCallback on_done) {
  return write(std::as_bytes(std::span<const char>(text.data(), text.size())),
               std::move(on_done));
}

std::error_code TcpConnection::write(std::span<const ConstBuffer> buffers, WriteCallback on_done) {
  loop_.assert_in_loop_thread("TcpConnection::write");
  if (closing_ || write_closed_) return make_error_code(errc::not_connected);
  size_t sent = 0;
  if (count_ == 0 && !send_op_.in_flight) {
    // Nothing is queued: write through, and copy only what the socket would not take.
    auto through = write_through(buffers);
    if (!through) return through.error();
    sent = through.value();
    if (sent == total_size(buffers) && !on_done) return {};
  }
  return enqueue(buffers, sent, std::move(on_done));
}

Result<size_t> TcpConnection::write_through(std::span<const ConstBuffer> buffers) {
  // A synchronous send: its iovecs live on the stack (the ring's are for sends in flight).
  std::array<iovec, detail::WriteRing::kMaxIov> iov;
  size_t n = std::min(buffers.size(), iov.size());
  for (size_t i = 0; i < n; ++i) {
    iov[i] = iovec{const_cast<std::byte*>(buffers[i].data()), buffers[i].size()};
  }
  int result = loop_.backend().try_send(socket_.fd(), iov.data(), static_cast<int>(n));
  if (result >= 0) return static_cast<size_t>(result);
  if (result == -EAGAIN || result == -EINTR) return size_t{0};
  close_on_error(system_error(-result));
  return system_error(-result);
}

void TcpConnection::queue_request(WriteRequest& request, const std::byte* data, size_t size,
                                  WriteCallback on_done, bool try_first) {
  request.data = data;
  request.size = size;
  request.on_done = std::move(on_done);
  queued_bytes_ += size;
  check_high_water();
  kick(try_first);
}

std::error_code TcpConnection::write_received(ConstBuffer data, WriteCallback on_done) {
  bool inside_reading = !data.empty() && data.data() >= reading_.data() &&
                        data.data() + data.size() <= reading_.data() + reading_.size();
  // Keep the buffer only where a write would copy: a backend that lends kept buffers and
  // cannot write through. Otherwise write() is as good (it writes through or copies).
  if (!inside_reading || reading_buffer_ == kNoBuffer || closing_ || write_closed_ ||
      !loop_.backend().hold_buffer(reading_buffer_)) {
    return write(data, std::move(on_done));
  }
  WriteRequest& request = push_request();
  request.held_buffer = reading_buffer_;
  queue_request(request, data.data(), data.size(), std::move(on_done), /*try_first=*/true);
  return {};
}

std::error_code TcpConnection::write_ref(ConstBuffer data, WriteCallback on_done) {
  loop_.assert_in_loop_thread("TcpConnection::write_ref");
  if (closing_ || write_closed_) return make_error_code(errc::not_connected);
  queue_request(push_request(), data.data(), data.size(), std::move(on_done), /*try_first=*/true);
  return {};
}

std::error_code TcpConnection::write_file(FileRange range, WriteCallback on_done) {
  loop_.assert_in_loop_thread("TcpConnection::write_file");
  if (closing_ || write_closed_) return make_error_code(errc::not_connected);
  if (!range.file) range.length = 0;
  if (range.length == 0) {
    if (!on_done) return {};
    queue_request(push_request(), nullptr, 0, std::move(on_done), /*try_first=*/true);
    return {};
  }
  // Where tern performs the I/O and nothing is queued: sendfile now (write-through).
  const bool wrote_through = !reads_files_ && count_ == 0 && !send_op_.in_flight;
  bool full = false;
  if (wrote_through) {
    auto through = send_file_part(socket_.fd(), *range.file, range.offset, range.length,
                                  edge_triggered_);
    if (!through) {
      fail_file(through.error(), !socket_error(through.error()));
      return through.error();
    }
    range.offset += through.value().sent;
    range.length -= through.value().sent;
    full = through.value().full;
    if (range.length == 0 && !on_done) return {};
  }
  WriteRequest& request = push_request();
  auto left = static_cast<size_t>(range.length);
  request.file = std::move(range);
  // A socket that said EAGAIN is waited for; otherwise the rest goes on the next turn.
  queue_request(request, nullptr, left, std::move(on_done), !full);
  return {};
}

std::error_code TcpConnection::write(std::string&& bytes, WriteCallback on_done) {
  // A short string lives inside the object (SSO) and would move when the request ring grows;
  // copying it costs nothing anyway.
  constexpr size_t kTakeAtLeast = 256;
  if (bytes.size() < kTakeAtLeast) return write(std::string_view(bytes), std::move(on_done));
  loop_.assert_in_loop_thread("TcpConnection::write");
  if (closing_ || write_closed_) return make_error_code(errc::not_connected);
  size_t sent = 0;
  const bool wrote_through = count_ == 0 && !send_op_.in_flight;
  if (wrote_through) {
    ConstBuffer whole = std::as_bytes(std::span(bytes.data(), bytes.size()));
    auto through = write_through(std::span(&whole, 1));
    if (!through) return through.error();
    sent = through.value();
    if (sent == bytes.size() && !on_done) return {};
  }
  WriteRequest& request = push_request();
  request.taken = std::move(bytes);
  const auto* data = reinterpret_cast<const std::byte*>(request.taken.data());
  size_t left = request.taken.size() - sent;
  // After a write-through that left bytes over, the socket is full: wait for writability.
  queue_request(request, data + sent, left, std::move(on_done), !wrote_through || left == 0);
  return {};
}

// Queues the bytes of `buffers` after the first `skip` (already sent) as one request.
std::error_code TcpConnection::enqueue(std::span<const ConstBuffer> buffers, size_t skip,
                                       WriteCallback on_done) {
  bool wrote_through = count_ == 0 && !send_op_.in_flight;
  WriteRequest& request = push_request();
  size_t size = total_size(buffers) - skip;
  request.owned.resize(size);
  size_t offset = 0;
  for (ConstBuffer b : buffers) {
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    std::memcpy(request.owned.data() + offset, b.data() + skip, b.size() - skip);
    offset += b.size() - skip;
    skip = 0;
  }
  // After a write-through that left bytes over, the socket is full: wait for writability.
  queue_request(request, request.owned.data(), size, std::move(on_done),
                /*try_first=*/!wrote_through || size == 0);
  return {};
}

TcpConnection::WriteRequest& TcpConnection::front() noexcept {
  return ring_->requests[head_];
}

TcpConnection::WriteRequest& TcpConnection::queued(size_t i) noexcept {
  return ring_->requests[(head_ + i) & ring_->mask()];
}

TcpConnection::WriteRequest& TcpConnection::push_request() {
  if (!ring_) {
    ring_ = detail::take_write_ring();
    head_ = 0;
  } else if (count_ == ring_->requests.size()) {
    std::vector<WriteRequest> bigger(ring_->requests.size() * 2);
    for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(queued(i));
    ring_->requests = std::move(bigger);
    head_ = 0;
  }
  WriteRequest& request = queued(count_);
  ++count_;
  request.sent = 0;
  request.shutdown_marker = false;
  return request;
}

void TcpConnection::pop_request() {
  WriteRequest& request = front();
  request.on_done = nullptr;
  request.data = nullptr;
  if (request.is_file()) {
    request.file = FileRange{};  // lets the File go
    bounce_size_ = 0;            // it held this request's bytes (the first file queued)
  }
  if (request.held_buffer != kNoBuffer) {
    loop_.backend().release_buffer(request.held_buffer);
    request.held_buffer = kNoBuffer;
  }
  if (request.owned.capacity() > kKeptCopyCapacity) {
    std::vector<std::byte>().swap(request.owned);
  }
  std::string().swap(request.taken);
  head_ = (head_ + 1) & ring_->mask();
  --count_;
  if (count_ == 0 && bounce_) {
    bounce_.reset();
    bounce_capacity_ = 0;
  }
  maybe_give_back_ring();
}

void TcpConnection::maybe_give_back_ring() noexcept {
  if (count_ > 0 || send_op_.in_flight) return;
  ring_.reset();
  send_op_.iov = nullptr;
  send_op_.iov_count = 0;
}

// Starts a send of what is queued (up to kMaxIov requests), or a nop when what is queued needs
// no bytes sent (callbacks of requests written through, a shutdown marker).
void TcpConnection::kick(bool try_first) {
  if (send_op_.in_flight || closing_) return;
  bool stash_waiting = want_read_ && (!stash_.empty() || stashed_end_);
  if (count_ == 0 && !stash_waiting) return;
  size_t n = 0;
  send_asked_ = 0;
  bool file_next = false;  // sendfile at the front: wait to be writable, then send_front_files
  iovec* iov = ring_ ? ring_->iov.data() : nullptr;  // none: a nop (only the stash waits)
  for (size_t i = 0; i < count_ && n < detail::WriteRing::kMaxIov; ++i) {
    WriteRequest& request = queued(i);
    if (request.shutdown_marker) break;
    if (request.sent == request.size) continue;
    if (request.is_file()) {
      // Bytes before a file go first; the file's own bytes, from the bounce buffer, join them
      // in the same send where the backend performs the I/O.
      if (!reads_files_) {
        file_next = n == 0;
        break;
      }
      auto block = bounced(request);
      if (!block) {
        if (n > 0) break;  // send what comes before; the error is met again next time
        fail_file(block.error(), true);
        return;
      }
      iov[n++] = iovec{const_cast<std::byte*>(block.value().data()), block.value().size()};
      send_asked_ += block.value().size();
      break;
    }
    iov[n++] = iovec{const_cast<std::byte*>(request.data + request.sent),
                      request.size - request.sent};
    send_asked_ += request.size - request.sent;
  }
  if (file_next && !try_first) {
    send_op_.code = OpCode::poll;
    send_op_.interest = ready::writable;
    send_op_.multishot = false;
  } else {
    send_op_.code = n == 0 ? OpCode::nop : OpCode::send;
  }
  send_op_.iov = iov;
  send_op_.iov_count = static_cast<uint32_t>(n);
  send_op_.try_first = try_first;
  if (auto error = loop_.backend().submit(send_op_)) close_on_error(error);
}

void TcpConnection::on_send(const Completion& completion) {
  if (completion.result == -ECANCELED) return;
  if (completion.result < 0) {
    close_on_error(system_error(-completion.result));
    return;
  }
  // A poll (waiting to sendfile) completes with ready bits, a nop with 0: no bytes sent.
  const bool sent_bytes = send_op_.code == OpCode::send;
  size_t sent = sent_bytes ? static_cast<size_t>(completion.result) : 0;
  bool full = sent_bytes && sent < send_asked_;  // the socket is full: wait for it to drain
  advance(sent);
  deliver_stash();
  if (!reads_files_ && !full && !closing_) full = send_front_files();
  if (!closing_) kick(/*try_first=*/!full);
}

bool TcpConnection::send_front_files() {
  while (count_ > 0 && !closing_) {
    WriteRequest& request = front();
    if (!request.is_file() || request.shutdown_marker || request.sent == request.size) break;
    auto part = send_file_part(socket_.fd(), *request.file.file,
                               request.file.offset + request.sent, request.size - request.sent,
                               edge_triggered_);
    if (!part) {
      fail_file(part.error(), !socket_error(part.error()));
      return true;
    }
    const bool done = part.value().sent == request.size - request.sent;
    advance(part.value().sent);
    if (part.value().full) return true;
    if (!done) return false;  // the budget is spent: on with the rest on the next turn
  }
  return false;
}

Result<ConstBuffer> TcpConnection::bounced(WriteRequest& request) {
  if (request.sent >= bounce_from_ && request.sent < bounce_from_ + bounce_size_) {
    size_t at = static_cast<size_t>(request.sent - bounce_from_);
    return ConstBuffer(bounce_.get() + at, bounce_size_ - at);
  }
  size_t want = std::min(kBounceSize, request.size - request.sent);
  if (bounce_capacity_ < want) {
    bounce_ = std::make_unique_for_overwrite<std::byte[]>(want);
    bounce_capacity_ = want;
  }
  bounce_size_ = 0;
  auto read = read_file_part(*request.file.file, request.file.offset + request.sent,
                             std::span(bounce_.get(), want));
  if (!read) return read.error();
  bounce_from_ = request.sent;
  bounce_size_ = read.value();
  return ConstBuffer(bounce_.get(), bounce_size_);
}

// The response cannot be completed: the peer sees what was sent, then the close.
void TcpConnection::fail_file(std::error_code error, bool log_it) {
  if (log_it) {
    log(LogLevel::warn, "connection %s: sending a file failed (%s%s); closing",
        peer_address().to_string().c_str(), error.message().c_str(),
        error == file_too_short() ? ": the file ends before the range" : "");
  }
  close_on_error(error);
}

// Counts `bytes` as sent, completing the requests they finish, in order; performs a shutdown
// when its marker reaches the front.
void TcpConnection::advance(size_t bytes) {
  while (count_ > 0 && !closing_) {
    WriteRequest& request = front();
    if (request.shutdown_marker) {
      WriteCallback callback = std::move(request.on_done);
      pop_request();
      std::error_code error = socket_.shutdown_write();
      if (callback) callback(*this, error);
      continue;
    }
    size_t take = std::min(bytes, request.size - request.sent);
    request.sent += take;
    bytes -= take;
    queued_bytes_ -= take;
    if (request.sent < request.size) break;
    WriteCallback callback = std::move(request.on_done);
    pop_request();
    if (callback) callback(*this, {});
  }
  check_low_water();
  if (queued_bytes_ == 0 && on_drained_ && !closing_) {
    ConnectionCallback drained = std::move(on_drained_);
    on_drained_ = nullptr;
    drained(*this);
  }
}

std::error_code TcpConnection::shutdown(WriteCallback on_done) {
  loop_.assert_in_loop_thread("TcpConnection::shutdown");
  if (closing_ || write_closed_) return make_error_code(errc::not_connected);
  write_closed_ = true;
  WriteRequest& marker = push_request();
  marker.shutdown_marker = true;
  marker.data = nullptr;
  marker.size = 0;
  marker.on_done = std::move(on_done);
  kick(true);
  return {};
}

void TcpConnection::fail_writes(std::error_code error) {
  write_closed_ = true;
  while (count_ > 0) {
    WriteCallback callback = std::move(front().on_done);
    queued_bytes_ -= front().size - front().sent;
    pop_request();
    if (callback) callback(*this, error);
  }
}

void TcpConnection::set_water_marks(size_t high, size_t low, WaterMarkCallback on_high,
                                    WaterMarkCallback on_low) {
  TERN_CHECK(low <= high, "set_water_marks: low (%zu) must not exceed high (%zu)", low, high);
  high_water_ = high;
  low_water_ = low;
  on_high_ = std::move(on_high);
  on_low_ = std::move(on_low);
}

void TcpConnection::check_high_water() {
  if (above_high_water_ || queued_bytes_ < high_water_) return;
  above_high_water_ = true;
  if (on_high_) on_high_(*this, queued_bytes_);
}

void TcpConnection::check_low_water() {
  if (!above_high_water_ || queued_bytes_ > low_water_) return;
  above_high_water_ = false;
  if (on_low_) on_low_(*this, queued_bytes_);
}

}  // namespace tern
