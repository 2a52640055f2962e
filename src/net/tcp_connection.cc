// TcpConnection: its life, its reading half and its closing. The writing half (the write
// queue, files, water marks) is in tcp_connection_write.cc.
#include "tern/net/tcp_connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backend/backend.h"
#include "net/write_ring.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {
namespace {

// Bytes kept after a read_stop are handed back in pieces of at most this (as one read would).
constexpr size_t kStashPiece = 64 * 1024;

std::error_code canceled() { return std::make_error_code(std::errc::operation_canceled); }

}  // namespace

TcpConnection::TcpConnection(EventLoop& loop, Socket socket)
    : loop_(loop), socket_(std::move(socket)) {
  recv_op_.code = OpCode::recv;
  recv_op_.fd = socket_.fd();
  recv_op_.multishot = true;
  recv_op_.handler = this;
  send_op_.fd = socket_.fd();
  send_op_.handler = this;
  BackendTraits traits = loop.traits();
  reads_files_ = traits.performs_io;
  edge_triggered_ = traits.edge_triggered;
  provided_buffers_ = traits.provided_buffers;
  bounded_recv_ = traits.bounded_multishot_recv;
}

TcpConnection::~TcpConnection() {
  loop_.cancel(linger_timer_);
  if (!socket_.valid()) return;
  Backend& backend = loop_.backend();
  backend.abandon(recv_op_);
  backend.abandon(send_op_);
  backend.forget(socket_.fd());
  while (count_ > 0) pop_request();  // gives back kept buffers
  ring_.reset();                     // nothing can use its iovecs now
}

// ---------------------------------------------------------------------------------------------
// Reading

std::error_code TcpConnection::read_start(ReadCallback on_read) {
  return read_start(AllocCallback{}, std::move(on_read));
}

std::error_code TcpConnection::read_start(AllocCallback alloc, ReadCallback on_read) {
  loop_.assert_in_loop_thread("TcpConnection::read_start");
  if (closing_) return make_error_code(errc::not_connected);
  alloc_ = std::move(alloc);
  on_read_ = std::move(on_read);
  want_read_ = true;
  if (!stash_.empty() || stashed_end_) {
    kick(true);  // delivered from the loop, not from inside read_start: a nop completes soon
    return {};
  }
  submit_recv();
  return {};
}

void TcpConnection::submit_recv() {
  if (recv_op_.in_flight || closing_ || stashed_end_) return;
  // Without an alloc callback the backend lends the buffer (io_uring: from its ring).
  const bool lent = !alloc_;
  recv_op_.buffers = lent ? nullptr : static_cast<BufferProvider*>(this);
  recv_op_.max_bytes = 0;
  // A backend that receives into buffers it picks itself (io_uring's multishot recv over its
  // provided ring) goes on receiving after read_stop until the cancel lands: unlimited, it
  // drains the whole socket buffer in one go (megabytes from a fast sender), all of it kept in
  // stash_, beyond the reader's limits (issue 8, fault 4). So there a multishot receive is
  // armed only with a byte limit the kernel keeps (the room the reader has left, re-armed when
  // the kernel ends it), and where the kernel keeps none, one receive per buffer.
  recv_op_.multishot = !provided_buffers_ || (lent && bounded_recv_);
  if (provided_buffers_ && recv_op_.multishot) {
    const size_t room = receive_room();
    if (room == 0) return;  // on_send (deliver_stash) arms it once sent bytes make room
    recv_op_.max_bytes = static_cast<uint32_t>(std::min<size_t>(room, UINT32_MAX));
  }
  if (auto error = loop_.backend().submit(recv_op_)) {
    stashed_end_ = error;  // reported through the read callback, from the loop
    kick(true);
  }
}

bool TcpConnection::input_pending() const noexcept {
  std::byte probe;
  ssize_t n = ::recv(socket_.fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

void TcpConnection::set_receive_window(size_t high_water) noexcept {
  receive_window_ = std::max<size_t>(high_water, 1);  // a mark of 0 still lets one receive in
}

// What the next receive may take: up to the owner's mark, less what the connection holds for
// it (queued writes: an echo's or a session's replies; bytes kept after a read_stop).
size_t TcpConnection::receive_room() const noexcept {
  const size_t kept = kept_bytes();
  const size_t window = receive_window_ != 0 ? receive_window_ : kDefaultReceiveAhead;
  const size_t held = kept + (receive_window_ != 0 ? queued_bytes_ : 0);
  return window > held ? window - held : 0;
}

void TcpConnection::read_stop() noexcept {
  want_read_ = false;
  loop_.backend().cancel(recv_op_);
}

std::span<std::byte> TcpConnection::provide(size_t suggested) {
  return alloc_(*this, suggested);
}

void TcpConnection::on_recv(const Completion& completion) {
  if (completion.result > 0) {
    deliver({}, completion.data, completion.buffer_id);
    // A single-shot receive ended with its bytes: the next one, unless the reader stopped (or
    // kept bytes wait: deliver_stash submits after them).
    if (want_read_ && !completion.more && stash_.empty()) submit_recv();
  } else if (completion.result == 0) {
    deliver(make_error_code(errc::eof), {});
  } else if (completion.result == -ECANCELED) {
    if (want_read_ && !closing_) submit_recv();  // read_stop then read_start in one iteration
  } else {
    deliver(system_error(-completion.result), {});
  }
}

// Hands bytes or the end of the stream to the reader, or keeps them for the next read_start if
// reading was stopped while they were on their way.
void TcpConnection::deliver(std::error_code error, std::span<std::byte> data, uint32_t buffer_id) {
  if (closing_) return;
  // While kept bytes wait, newer ones queue behind them: order is never broken.
  if (!want_read_ || stash_offset_ < stash_.size()) {
    if (error) stashed_end_ = error;
    else stash_.insert(stash_.end(), data.begin(), data.end());
    return;
  }
  if (error) {
    want_read_ = false;
    loop_.backend().cancel(recv_op_);
  }
  ReadCallback callback = on_read_;  // the callback may replace on_read_ or close
  reading_ = data;
  reading_buffer_ = buffer_id;
  callback(*this, error, data);
  reading_ = {};
  reading_buffer_ = kNoBuffer;
}

// Hands kept bytes to the reader in pieces no larger than one read, so a reader that stops
// again (backpressure) is not handed more than it would get from the socket.
void TcpConnection::deliver_stash() {
  while (want_read_ && !closing_ && stash_offset_ < stash_.size()) {
    size_t n = std::min(kStashPiece, stash_.size() - stash_offset_);
    std::span<std::byte> piece(stash_.data() + stash_offset_, n);
    stash_offset_ += n;
    ReadCallback callback = on_read_;
    callback(*this, {}, piece);
  }
  if (stash_offset_ == stash_.size()) {
    // Given back when it grew past one piece, so a burst does not pin memory for good.
    if (stash_.capacity() > kStashPiece) std::vector<std::byte>().swap(stash_);
    else stash_.clear();
    stash_offset_ = 0;
  }
  if (!want_read_ || closing_ || stash_offset_ < stash_.size()) return;
  if (stashed_end_) {
    std::error_code end = *stashed_end_;
    stashed_end_.reset();
    deliver(end, {});
    return;
  }
  submit_recv();
}

// The connection ends itself: its owner learns why from close_reason() in on_close (a reader
// may never hear of it: a receive that completes once closing has begun is not delivered).
void TcpConnection::close_on_error(std::error_code error) {
  if (!closing_ && !close_reason_) close_reason_ = error;
  fail_writes(error);
  close();
}

// ---------------------------------------------------------------------------------------------
// Completions and closing

void TcpConnection::on_complete(Op& op, const Completion& completion) {
  if (&op == &recv_op_) on_recv(completion);
  else on_send(completion);
  if (closing_) maybe_finish_close();
}

void TcpConnection::close() noexcept {
  if (closing_) return;
  loop_.assert_in_loop_thread("TcpConnection::close");
  closing_ = true;
  want_read_ = false;
  loop_.backend().cancel(recv_op_);
  loop_.backend().cancel(send_op_);
  maybe_finish_close();
}

// The connection's memory may go only when no op can complete any more (libuv's close_cb rule).
void TcpConnection::maybe_finish_close() {
  if (finish_queued_ || recv_op_.in_flight || send_op_.in_flight) return;
  finish_queued_ = true;
  // The lifeline guards against an owner that destroys the connection before the closing phase
  // (a TcpServer destroyed with connections in it).
  loop_.defer_close([this, alive = std::weak_ptr<char>(lifeline_)] {
    if (alive.lock()) finish_close();
  });
}

void TcpConnection::close_gracefully(Duration linger) noexcept {
  if (closing_) return;
  read_stop();
  auto linger_until_peer_closes = [this, linger](TcpConnection& conn, std::error_code error) {
    if (error || conn.unread_bytes() == 0) {
      conn.close();
      return;
    }
    auto discard = [](TcpConnection& c, std::error_code read_error, std::span<std::byte>) {
      if (read_error) c.close();
    };
    if (conn.read_start(discard)) {
      conn.close();
      return;
    }
    linger_timer_ = loop_.run_after(linger, [this] {
      linger_timer_ = TimerId{};
      close();
    });
  };
  if (shutdown(linger_until_peer_closes)) close();
}

void TcpConnection::finish_close() {
  loop_.cancel(linger_timer_);
  fail_writes(canceled());
  maybe_give_back_ring();  // a send cancelled in flight kept it past fail_writes
  loop_.backend().forget(socket_.fd());
  socket_.reset();
  if (on_close_) {
    ConnectionCallback on_close = std::move(on_close_);  // it may set or clear on_close
    on_close(*this);
  }
  if (release_) {
    ConnectionCallback release = std::move(release_);
    release(*this);  // may destroy *this: nothing may follow
  }
}

// ---------------------------------------------------------------------------------------------
// About

size_t TcpConnection::unread_bytes() const noexcept {
  int in_kernel = 0;
  if (!socket_.valid() || ::ioctl(socket_.fd(), FIONREAD, &in_kernel) < 0) in_kernel = 0;
  return static_cast<size_t>(in_kernel) + stash_.size();
}

const InetAddress& TcpConnection::local_address() const {
  if (!local_) {
    auto address = socket_.local_address();
    local_ = address ? address.value() : InetAddress{};
  }
  return *local_;
}

const InetAddress& TcpConnection::peer_address() const {
  if (!peer_) {
    auto address = socket_.peer_address();
    peer_ = address ? address.value() : InetAddress{};
  }
  return *peer_;
}

}  // namespace tern
