// The completion verb's vocabulary. Every backend (select, poll, epoll, and io_uring next)
// takes the same operations: readiness is itself an operation (`poll`, as IORING_OP_POLL_ADD),
// so a Reactor and a Proactor are written against one interface.
//
// Ownership (libuv's requests): an Op is owned by whoever submits it. From submit until its
// final completion (Completion::more == false) the backend may touch it, so its owner must keep
// it alive and leave its fields alone; cancel() hastens the final completion, never skips it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace tern {

// Readiness bits, reported by poll ops and used as their interest.
namespace ready {
inline constexpr uint32_t readable = 1u << 0;
inline constexpr uint32_t writable = 1u << 1;
inline constexpr uint32_t error = 1u << 2;    // reported only: an error is pending on the fd
inline constexpr uint32_t hangup = 1u << 3;   // reported only: the peer hung up
inline constexpr uint32_t read_closed = 1u << 4;  // reported only: the peer shut down writing
}  // namespace ready

enum class OpCode : uint8_t {
  poll,     // complete with the ready bits when the fd is ready for `interest`
  accept,   // complete with a new non-blocking, close-on-exec fd
  recv,     // complete with bytes received into a buffer from `buffers`; 0 bytes = end of stream
  send,     // complete with bytes sent from `iov` (maybe fewer than asked: a short send)
  connect,  // complete with 0 once `addr` is connected
  nop,      // complete with 0 on the next wait, in order with the fd's sends (IORING_OP_NOP):
            // a way to run a completion later without a system call
};

inline constexpr uint32_t kNoBuffer = UINT32_MAX;

struct Completion {
  int32_t result = 0;            // >= 0: bytes, fd or ready bits; < 0: -errno (-ECANCELED ...)
  bool more = false;             // a multishot op stays armed and will complete again
  std::span<std::byte> data;     // recv: the bytes received, a view into the provided buffer
  uint32_t buffer_id = kNoBuffer;  // recv: the backend's buffer holding `data`, if it lent one
                                   // that can be kept (Backend::hold_buffer)
};

struct Op;

// The completion target. Called on the loop thread, never from inside submit().
class OpHandler {
 public:
  virtual void on_complete(Op& op, const Completion& completion) = 0;

 protected:
  ~OpHandler() = default;
};

// Where a recv op puts what it receives (libuv's alloc callback). A readiness backend asks for
// a buffer only once data is there, so idle connections hold none.
class BufferProvider {
 public:
  // Returns memory for at most `suggested` bytes (less is fine); empty: no buffer (ENOBUFS).
  virtual std::span<std::byte> provide(size_t suggested) = 0;

 protected:
  ~BufferProvider() = default;
};

struct Op {
  OpCode code = OpCode::poll;
  int fd = -1;
  bool multishot = false;       // poll, accept, recv: keep completing until cancelled or failed
  bool try_first = true;        // readiness backends: attempt the syscall before waiting
  uint32_t interest = 0;        // poll: ready::readable and/or ready::writable
  const iovec* iov = nullptr;   // send: gathered buffers (kept valid until completion)
  uint32_t iov_count = 0;
  const sockaddr* addr = nullptr;  // connect: the peer
  socklen_t addr_len = 0;
  BufferProvider* buffers = nullptr;  // recv; nullptr: the backend lends a buffer (a scratch
                                      // buffer, or io_uring's kernel-chosen ring buffer) that
                                      // is valid until the handler returns
  // recv, multishot into lent buffers, on a backend whose traits say bounded_multishot_recv:
  // the most bytes this arming takes from the socket (0: no limit). The kernel ends the receive
  // once it has delivered them (the completion comes with more == false; the owner arms the
  // next with the room it has then), so what lands after the owner stops reading is bounded.
  // One completion fills at most one buffer, so the last may overshoot by less than a buffer.
  uint32_t max_bytes = 0;
  OpHandler* handler = nullptr;

  // Backend bookkeeping; read-only for the owner.
  bool in_flight = false;       // submitted and its final completion not yet delivered
  bool started = false;         // connect: the connect(2) call has been made
  bool cancelling = false;      // cancel() was called; a -ECANCELED completion is on its way
  uint64_t backend_slot = 0;    // the backend's own reference to the op (io_uring user_data)
  msghdr message{};             // send: the backend's message header (must outlive the op)
};

// The directions an op occupies on its fd (ready:: bits). Readiness-based backends allow one op
// per direction per fd: a reader (poll for readable, accept, recv) and a writer (poll for
// writable, send, connect, nop).
constexpr uint32_t directions_of(const Op& op) noexcept {
  switch (op.code) {
    case OpCode::poll: return op.interest & (ready::readable | ready::writable);
    case OpCode::accept:
    case OpCode::recv: return ready::readable;
    case OpCode::send:
    case OpCode::connect:
    case OpCode::nop: return ready::writable;
  }
  return 0;
}

}  // namespace tern
