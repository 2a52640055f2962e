// The io_uring backend: the kernel performs the I/O and reports completion (the Proactor).
//
// Every op maps to one native request: multishot accept; multishot recv drawing from a
// provided-buffer ring (the kernel picks the buffer, the handler gets a view, the buffer goes
// back to the ring when the handler returns); sendmsg for gathered writes; connect; multishot
// POLL_ADD for readiness (so the Reactor runs here too); nop. One io_uring_enter per wait
// submits everything queued and collects completions together.
//
// user_data is a slot index and a generation, not a pointer: a completion for an op that was
// abandoned (its memory may be gone) finds a newer generation and is dropped, and any ring
// buffer it carries is recycled. abandon() uses a synchronous cancel, so the kernel never reads
// a send buffer after its owner freed it.
//
// The kernel may end a multishot request on its own (the buffer ring ran dry: -ENOBUFS; or a
// completion without IORING_CQE_F_MORE). The op is still armed as far as its owner knows, so the
// backend re-arms it (after the buffers come back, for -ENOBUFS) and counts it.
//
// A multishot receive with a byte limit (Op::max_bytes) is the exception: the kernel ends it once
// it has delivered that many bytes, and that end is the op's final completion, so its owner arms
// the next one with the room it has then. The limit rides in the SQE field after the buffer
// index (optlen; liburing 2.3 names it file_index). Whether the kernel honours it is probed
// once, when the ring starts (probe_recv_limit); where it does not, such an op is received one
// buffer at a time and the fallback is counted: never an unbounded multishot.
//
// Unavailable io_uring (kernel too old, kernel.io_uring_disabled, seccomp, TERN_URING_UNAVAILABLE
// set for tests): falls back to epoll with one log line, or refuses with options.strict.
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "backend/readiness_backend.h"
#include "backend/ready_bits.h"
#include "tern/base/clock.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"

namespace tern {
namespace {

constexpr unsigned kSqEntries = 1024;
constexpr unsigned kCqEntries = 16384;
constexpr uint16_t kBufferGroup = 1;
constexpr size_t kMaxCqesPerWait = 512;
constexpr uint64_t kIgnore = 0;  // user_data of requests whose completion nobody needs
constexpr uint64_t kProbe = UINT64_MAX;  // user_data of the receive-limit probe (no op's: slot
                                         // and generation never both reach 2^32 - 1)

size_t total_length(const Op& op) {
  size_t total = 0;
  for (uint32_t i = 0; i < op.iov_count; ++i) total += op.iov[i].iov_len;
  return total;
}

uint32_t poll_mask(uint32_t interest) { return ready_bits::to_poll(interest); }

// A POLL_ADD completion's result (a poll(2) mask, never negative here) as ready:: bits.
int32_t ready_result(int32_t mask) {
  return static_cast<int32_t>(ready_bits::from_poll(static_cast<uint32_t>(mask)));
}

// The provided-buffer ring: `count` buffers of `size` bytes in one mapping, registered as a
// buffer group; receives draw from it, handlers return to it.
class BufferRing {
 public:
  ~BufferRing() {
    if (memory_ != MAP_FAILED) ::munmap(memory_, mapping_size_);
  }

  std::error_code setup(io_uring& ring, uint32_t count, uint32_t size) {
    count_ = count;
    size_ = size;
    size_t ring_bytes = count * sizeof(io_uring_buf);
    mapping_size_ = ring_bytes + static_cast<size_t>(count) * size;
    memory_ = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory_ == MAP_FAILED) return last_system_error();
    ring_ = static_cast<io_uring_buf_ring*>(memory_);
    base_ = static_cast<std::byte*>(memory_) + ring_bytes;
    io_uring_buf_ring_init(ring_);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<uint64_t>(ring_);
    registration.ring_entries = count;
    registration.bgid = kBufferGroup;
    if (int error = io_uring_register_buf_ring(&ring, &registration, 0); error < 0) {
      return system_error(-error);
    }
    for (uint32_t id = 0; id < count; ++id) give_back(static_cast<uint16_t>(id));
    publish();
    return {};
  }

  std::span<std::byte> buffer(uint16_t id) const noexcept {
    return {base_ + static_cast<size_t>(id) * size_, size_};
  }
  void give_back(uint16_t id) noexcept {
    io_uring_buf_ring_add(ring_, base_ + static_cast<size_t>(id) * size_, size_, id,
                          io_uring_buf_ring_mask(count_), pending_++);
  }
  // Makes the buffers given back visible to the kernel: one store for the whole batch.
  void publish() noexcept {
    if (pending_ == 0) return;
    io_uring_buf_ring_advance(ring_, pending_);
    pending_ = 0;
  }
  bool has_pending() const noexcept { return pending_ > 0; }
  uint32_t size() const noexcept { return size_; }

 private:
  void* memory_ = MAP_FAILED;
  size_t mapping_size_ = 0;
  io_uring_buf_ring* ring_ = nullptr;
  std::byte* base_ = nullptr;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  int pending_ = 0;
};

class UringBackend final : public Backend {
 public:
  UringBackend() = default;
  ~UringBackend() override {
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  std::error_code init(const BackendOptions& options);

  BackendKind kind() const noexcept override { return BackendKind::uring; }
  const BackendStats& stats() const noexcept override { return stats_; }
  BackendTraits traits() const noexcept override {
    BackendTraits traits = uring_traits();
    traits.bounded_multishot_recv = recv_limit_;
    return traits;
  }
  std::error_code submit(Op& op) noexcept override;
  void cancel(Op& op) noexcept override;
  void abandon(Op& op) noexcept override;
  void forget(int fd) noexcept override;
  size_t wait(bool block) override;
  // The kernel sends (Proactor): nothing is written synchronously, so writes are queued.
  int try_send(int, const iovec*, int) noexcept override { return -EAGAIN; }
  bool hold_buffer(uint32_t id) noexcept override;
  void release_buffer(uint32_t id) noexcept override;

 private:
  struct Slot {
    Op* op = nullptr;
    uint32_t generation = 1;
    std::span<std::byte> buffer;  // recv into a caller-provided buffer
    bool zero_copy = false;       // send: SEND_ZC, finished by its notification
    int32_t zero_copy_result = 0; // send: the result, held until the notification
    uint32_t recv_left = 0;       // recv with a byte limit: what this arming may still take
  };
  struct Cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
  };

  io_uring_sqe* next_sqe() noexcept;
  bool probe_recv_limit();
  std::error_code arm(Op& op) noexcept;
  void prep_lent_recv(io_uring_sqe* sqe, const Op& op, const Slot& slot) noexcept;
  void enable_fixed_files();
  bool use_fixed_file(int fd) noexcept;
  uint32_t take_slot(Op& op);
  void release_slot(Op& op) noexcept;
  static uint64_t user_data(uint32_t slot, uint32_t generation) noexcept {
    return (static_cast<uint64_t>(generation) << 32) | slot;
  }
  void dispatch(const Cqe& cqe);
  void dispatch_recv(Op& op, const Cqe& cqe, Slot& slot);
  void rearm_or_finish(Op& op);
  void finish(Op& op, int32_t result, std::span<std::byte> data = {});
  void deliver(Op& op, int32_t result, bool more, std::span<std::byte> data,
               uint32_t buffer_id = kNoBuffer);
  void run_local_completions();
  void retry_starved();
  void note_overflow() noexcept;

  io_uring ring_{};
  bool ring_ready_ = false;
  BufferRing buffers_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<Op*> starved_;           // multishot receives ended by -ENOBUFS
  std::vector<Op*> local_cancels_;     // ops cancelled while not in the kernel
  std::vector<Op*> local_running_;
  std::vector<uint16_t> holds_;        // per ring buffer: how many holders keep it
  uint32_t held_buffers_ = 0;
  uint32_t dispatching_buffer_ = kNoBuffer;  // the buffer whose handler is running
  std::vector<Cqe> batch_;
  std::vector<io_uring_cqe*> peeked_;
  uint32_t last_overflow_ = 0;
  uint32_t send_zc_threshold_ = 0;
  bool recv_limit_ = false;            // the kernel ends a multishot receive at its byte limit
  std::vector<bool> registered_;       // fixed-file table: fd -> registered at index fd
  size_t delivered_ = 0;
  BackendStats stats_;
};

// A connected AF_UNIX stream pair, closed with it.
struct SocketPair {
  int fds[2] = {-1, -1};
  bool open() noexcept {
    return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0;
  }
  ~SocketPair() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
};

// A receive whose owner bounded what one arming may take (Op::max_bytes).
bool limited_recv(const Op& op) noexcept {
  return op.code == OpCode::recv && op.multishot && op.buffers == nullptr && op.max_bytes != 0;
}

bool kernel_at_least(int major, int minor) {
  utsname name{};
  if (::uname(&name) != 0) return false;
  int have_major = 0, have_minor = 0;
  std::sscanf(name.release, "%d.%d", &have_major, &have_minor);
  return have_major > major || (have_major == major && have_minor >= minor);
}

std::error_code UringBackend::init(const BackendOptions& options) {
  if (std::getenv("TERN_URING_UNAVAILABLE")) return std::make_error_code(std::errc::function_not_supported);
  // Multishot receive with provided buffers: 6.0.
  if (!kernel_at_least(6, 0)) return std::make_error_code(std::errc::function_not_supported);
  if (options.recv_buffer_count == 0 || (options.recv_buffer_count & (options.recv_buffer_count - 1)) ||
      options.recv_buffer_count > 32768) {
    return make_error_code(errc::invalid_argument);
  }
  // Newest flags first; older kernels reject them with EINVAL.
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int result = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = kCqEntries;
    result = io_uring_queue_init_params(kSqEntries, &ring_, &params);
    if (result != -EINVAL) break;
    ++stats_.fallbacks;
  }
  if (result < 0) return system_error(-result);
  ring_ready_ = true;
  io_uring_register_ring_fd(&ring_);  // saves an fd lookup per enter; optional
  if (auto error = buffers_.setup(ring_, options.recv_buffer_count, options.recv_buffer_size)) {
    return error;
  }
  holds_.assign(options.recv_buffer_count, 0);
  recv_limit_ = probe_recv_limit();
  if (!recv_limit_) ++stats_.fallbacks;  // limited receives go one buffer at a time
  send_zc_threshold_ = options.send_zc_threshold;
  if (options.fixed_files) enable_fixed_files();
  batch_.reserve(kMaxCqesPerWait);
  peeked_.resize(kMaxCqesPerWait);
  return {};
}

// Whether this kernel ends a multishot receive once it has delivered the bytes of its limit.
// 64 bytes wait in a socket pair; a multishot receive limited to 16 must end with its first
// completion (a kernel without the limit rejects the field with EINVAL, or would ignore it and
// stay armed: IORING_CQE_F_MORE). Runs before any op, on the thread that owns the ring.
bool UringBackend::probe_recv_limit() {
  if (std::getenv("TERN_URING_NO_RECV_LIMIT")) return false;  // tests: the fallback path
  SocketPair pair;
  if (!pair.open()) return false;
  const std::array<char, 64> bytes{};
  if (::send(pair.fds[1], bytes.data(), bytes.size(), MSG_NOSIGNAL) != ssize_t(bytes.size())) {
    return false;
  }
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return false;
  io_uring_prep_recv_multishot(sqe, pair.fds[0], nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->file_index = 16;  // the byte limit (optlen in newer headers)
  io_uring_sqe_set_data64(sqe, kProbe);
  io_uring_submit_and_wait(&ring_, 1);
  bool honoured = false;
  bool ended = false;
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe->user_data == kProbe) {
    ended = !(cqe->flags & IORING_CQE_F_MORE);
    honoured = cqe->res > 0 && ended;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      buffers_.give_back(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    }
    io_uring_cqe_seen(&ring_, cqe);
  }
  if (!ended) {
    // The limit was ignored (or the wait was interrupted): withdraw the receive; its last
    // completions are dropped below.
    io_uring_sync_cancel_reg cancel{};
    cancel.addr = kProbe;
    cancel.timeout.tv_sec = -1;
    cancel.timeout.tv_nsec = -1;
    io_uring_register_sync_cancel(&ring_, &cancel);
  }
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      buffers_.give_back(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    }
    io_uring_cqe_seen(&ring_, cqe);
  }
  buffers_.publish();
  return honoured;
}

io_uring_sqe* UringBackend::next_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe) return sqe;
  io_uring_submit(&ring_);  // the SQ is full: hand it to the kernel and take a fresh entry
  return io_uring_get_sqe(&ring_);
}

uint32_t UringBackend::take_slot(Op& op) {
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[index].op = &op;
  slots_[index].buffer = {};
  slots_[index].zero_copy = false;
  slots_[index].recv_left = op.max_bytes;
  op.backend_slot = index;
  return index;
}

void UringBackend::release_slot(Op& op) noexcept {
  Slot& slot = slots_[op.backend_slot];
  slot.op = nullptr;
  ++slot.generation;  // completions still in flight for the old generation are dropped
  free_slots_.push_back(static_cast<uint32_t>(op.backend_slot));
}

std::error_code UringBackend::submit(Op& op) noexcept {
  TERN_CHECK(!op.in_flight, "tern: submit of an op that is already in flight (fd %d)", op.fd);
  TERN_CHECK(op.handler != nullptr, "tern: submit of an op without a handler (fd %d)", op.fd);
  if (op.fd < 0) return system_error(EBADF);
  take_slot(op);
  if (auto error = arm(op)) {
    release_slot(op);
    return error;
  }
  op.in_flight = true;
  op.cancelling = false;
  ++stats_.submitted;
  return {};
}

// Queues the native request for `op` (a first submit, or a re-arm of a multishot op).
std::error_code UringBackend::arm(Op& op) noexcept {
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return std::make_error_code(std::errc::device_or_resource_busy);
  Slot& slot = slots_[op.backend_slot];
  switch (op.code) {
    case OpCode::poll:
      if (op.multishot) io_uring_prep_poll_multishot(sqe, op.fd, poll_mask(op.interest));
      else io_uring_prep_poll_add(sqe, op.fd, poll_mask(op.interest));
      break;
    case OpCode::accept:
      if (op.multishot) {
        io_uring_prep_multishot_accept(sqe, op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      } else {
        io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      }
      break;
    case OpCode::recv:
      if (op.buffers == nullptr) {
        prep_lent_recv(sqe, op, slot);
      } else {
        // The caller's own buffer (libuv's alloc_cb): one receive at a time, re-armed.
        slot.buffer = op.buffers->provide(buffers_.size());
        if (slot.buffer.empty()) {
          io_uring_prep_nop(sqe);  // completes as -ENOBUFS below (see dispatch_recv)
          slot.buffer = {};
          break;
        }
        io_uring_prep_recv(sqe, op.fd, slot.buffer.data(), slot.buffer.size(), 0);
      }
      break;
    case OpCode::send:
      op.message = msghdr{};
      op.message.msg_iov = const_cast<iovec*>(op.iov);
      op.message.msg_iovlen = op.iov_count;
      slot.zero_copy = send_zc_threshold_ != 0 && total_length(op) >= send_zc_threshold_;
      // MSG_NOSIGNAL: a reset peer gives EPIPE, never SIGPIPE. One buffer: plain SEND spares
      // the kernel importing a msghdr and an iovec array.
      if (op.iov_count == 1) {
        if (slot.zero_copy) {
          io_uring_prep_send_zc(sqe, op.fd, op.iov[0].iov_base, op.iov[0].iov_len, MSG_NOSIGNAL, 0);
        } else {
          io_uring_prep_send(sqe, op.fd, op.iov[0].iov_base, op.iov[0].iov_len, MSG_NOSIGNAL);
        }
      } else if (slot.zero_copy) {
        io_uring_prep_sendmsg_zc(sqe, op.fd, &op.message, MSG_NOSIGNAL);
      } else {
        io_uring_prep_sendmsg(sqe, op.fd, &op.message, MSG_NOSIGNAL);
      }
      break;
    case OpCode::connect:
      io_uring_prep_connect(sqe, op.fd, op.addr, op.addr_len);
      break;
    case OpCode::nop:
      io_uring_prep_nop(sqe);
      break;
  }
  if (use_fixed_file(op.fd)) {
    sqe->fd = op.fd;  // the table index: fds are registered at their own number
    sqe->flags |= IOSQE_FIXED_FILE;
  }
  io_uring_sqe_set_data64(sqe, user_data(static_cast<uint32_t>(op.backend_slot), slot.generation));
  return {};
}

// A receive into a buffer the kernel picks from the ring: multishot (limited to what the
// arming may still take, where the kernel honours a limit) or one buffer.
void UringBackend::prep_lent_recv(io_uring_sqe* sqe, const Op& op, const Slot& slot) noexcept {
  const bool limited = limited_recv(op);
  if (op.multishot && (!limited || recv_limit_)) {
    io_uring_prep_recv_multishot(sqe, op.fd, nullptr, 0, 0);
    if (limited) sqe->file_index = slot.recv_left;  // the byte limit (optlen in newer headers)
  } else {
    io_uring_prep_recv(sqe, op.fd, nullptr, buffers_.size(), 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
}

// A sparse table as large as the fd limit, so an fd can sit at its own number.
void UringBackend::enable_fixed_files() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  unsigned size = static_cast<unsigned>(std::min<rlim_t>(limit.rlim_cur, 1u << 20));
  if (io_uring_register_files_sparse(&ring_, size) < 0) {
    ++stats_.fallbacks;  // the slower path: plain fds
    return;
  }
  registered_.assign(size, false);
}

// Registers `fd` on its first op; false (use the plain fd) when there is no table or no room.
bool UringBackend::use_fixed_file(int fd) noexcept {
  if (static_cast<size_t>(fd) >= registered_.size()) return false;
  if (registered_[static_cast<size_t>(fd)]) return true;
  if (io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &fd, 1) != 1) {
    return false;
  }
  registered_[static_cast<size_t>(fd)] = true;
  return true;
}

void UringBackend::forget(int fd) noexcept {
  if (static_cast<size_t>(fd) >= registered_.size() || !registered_[static_cast<size_t>(fd)]) {
    return;
  }
  int none = -1;
  io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &none, 1);
  registered_[static_cast<size_t>(fd)] = false;
}

void UringBackend::cancel(Op& op) noexcept {
  if (!op.in_flight || op.cancelling) return;
  op.cancelling = true;
  auto starved = std::find(starved_.begin(), starved_.end(), &op);
  if (starved != starved_.end()) {
    // Not in the kernel: nothing there to cancel; complete it from here.
    starved_.erase(starved);
    local_cancels_.push_back(&op);
    return;
  }
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return;  // the op still completes by itself; cancelling stays set
  io_uring_prep_cancel64(sqe, user_data(static_cast<uint32_t>(op.backend_slot),
                                        slots_[op.backend_slot].generation), 0);
  io_uring_sqe_set_data64(sqe, kIgnore);
}

void UringBackend::abandon(Op& op) noexcept {
  if (!op.in_flight) return;
  std::erase(starved_, &op);
  std::erase(local_cancels_, &op);
  std::erase(local_running_, &op);
  // The request may still sit in the SQ: hand it to the kernel, then cancel it synchronously
  // so that nothing the kernel does later can touch the op or its buffers.
  io_uring_submit(&ring_);
  io_uring_sync_cancel_reg cancel{};
  cancel.addr = user_data(static_cast<uint32_t>(op.backend_slot),
                          slots_[op.backend_slot].generation);
  cancel.timeout.tv_sec = -1;
  cancel.timeout.tv_nsec = -1;
  io_uring_register_sync_cancel(&ring_, &cancel);
  release_slot(op);
  op.in_flight = false;
  op.cancelling = false;
}

size_t UringBackend::wait(bool block) {
  delivered_ = 0;
  buffers_.publish();  // buffers released since the last wait (sends that completed elsewhere)
  retry_starved();
  run_local_completions();
  bool pending = delivered_ > 0 || !local_cancels_.empty() || io_uring_cq_ready(&ring_) > 0;
  ++stats_.wait_calls;
  // One io_uring_enter: submits what is queued and collects (or waits for) completions.
  // Two clock reads, only around an enter that may sleep: the loop's idle time.
  const bool may_block = block && !pending;
  const TimePoint wait_start = may_block ? Clock::now() : TimePoint{};
  int result = may_block ? io_uring_submit_and_wait(&ring_, 1)
                         : io_uring_submit_and_get_events(&ring_);
  if (may_block) {
    stats_.wait_ns += uint64_t(std::chrono::nanoseconds(Clock::now() - wait_start).count());
  }
  if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY &&
      result != -ETIME) {
    log(LogLevel::error, "io_uring_enter: %s", system_error(-result).message().c_str());
  }
  note_overflow();
  // Copy a bounded batch out and advance the CQ before running handlers, so handlers may
  // submit, cancel and abandon freely.
  unsigned n = io_uring_peek_batch_cqe(&ring_, peeked_.data(), kMaxCqesPerWait);
  batch_.clear();
  for (unsigned i = 0; i < n; ++i) {
    batch_.push_back({peeked_[i]->user_data, peeked_[i]->res, peeked_[i]->flags});
  }
  io_uring_cq_advance(&ring_, n);
  for (const Cqe& cqe : batch_) dispatch(cqe);
  buffers_.publish();
  return delivered_;
}

void UringBackend::note_overflow() noexcept {
  uint32_t overflow = *ring_.cq.koverflow;
  if (overflow != last_overflow_) {
    stats_.cq_overflows += overflow - last_overflow_;
    last_overflow_ = overflow;
  }
}

void UringBackend::dispatch(const Cqe& cqe) {
  if (cqe.user_data == kIgnore) return;
  uint32_t index = static_cast<uint32_t>(cqe.user_data);
  uint32_t generation = static_cast<uint32_t>(cqe.user_data >> 32);
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  Slot* slot = index < slots_.size() ? &slots_[index] : nullptr;
  if (!slot || slot->generation != generation || !slot->op) {
    // The op was abandoned: drop the completion, keep the buffer.
    if (has_buffer) buffers_.give_back(static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  Op& op = *slot->op;
  bool kernel_more = cqe.flags & IORING_CQE_F_MORE;
  switch (op.code) {
    case OpCode::recv:
      dispatch_recv(op, cqe, *slot);
      return;
    case OpCode::poll:
      if (cqe.res >= 0 && op.multishot && !kernel_more && !op.cancelling) {
        deliver(op, ready_result(cqe.res), true, {});
        rearm_or_finish(op);
        return;
      }
      if (kernel_more) deliver(op, ready_result(cqe.res), true, {});
      else finish(op, cqe.res >= 0 ? ready_result(cqe.res) : cqe.res);
      return;
    case OpCode::accept:
      // Faithful to the kernel: when a multishot accept ends, the owner (Acceptor) re-arms it
      // or pauses, as it judges (EMFILE).
      if (kernel_more) deliver(op, cqe.res, true, {});
      else finish(op, cqe.res);
      return;
    case OpCode::send:
      if (slot->zero_copy && !(cqe.flags & IORING_CQE_F_NOTIF) && kernel_more) {
        // SEND_ZC's result: the pages may still be in use; finish at the notification.
        slot->zero_copy_result = cqe.res;
        return;
      }
      finish(op, slot->zero_copy && (cqe.flags & IORING_CQE_F_NOTIF) ? slot->zero_copy_result
                                                                     : cqe.res);
      return;
    case OpCode::connect:
    case OpCode::nop:
      finish(op, cqe.res);
      return;
  }
}

void UringBackend::dispatch_recv(Op& op, const Cqe& cqe, Slot& slot) {
  bool kernel_more = cqe.flags & IORING_CQE_F_MORE;
  std::span<std::byte> data;
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  uint16_t buffer_id = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buffer) data = buffers_.buffer(buffer_id);
  else data = slot.buffer;
  int32_t res = cqe.res;
  if (op.buffers != nullptr && slot.buffer.empty() && res >= 0) res = -ENOBUFS;  // alloc said no

  if (res == -ENOBUFS && op.buffers == nullptr) {
    // The ring ran dry; buffers come back as handlers return. Re-arm then, quietly.
    ++stats_.enobufs;
    if (!kernel_more) {
      if (op.cancelling) finish(op, -ECANCELED);
      else starved_.push_back(&op);
    }
    return;
  }
  if (res > 0) {
    bool armed = op.multishot && !op.cancelling;
    // A single-shot receive ends with its bytes (its handler may submit the next one), and so
    // does a limited one the kernel ended (its limit reached: the owner arms the next with the
    // room it has now). Another multishot one the kernel ended is re-armed, or, being
    // cancelled, ends after them.
    const bool limited = limited_recv(op);
    bool ends_here = (!op.multishot || limited) && !kernel_more;
    if (limited) slot.recv_left -= std::min<uint32_t>(slot.recv_left, static_cast<uint32_t>(res));
    if (ends_here) {
      release_slot(op);
      op.in_flight = false;
      op.cancelling = false;
    }
    dispatching_buffer_ = has_buffer ? buffer_id : kNoBuffer;
    deliver(op, res, !ends_here, data.first(static_cast<size_t>(res)), dispatching_buffer_);
    dispatching_buffer_ = kNoBuffer;
    // The handler has returned: the buffer goes back unless someone keeps it (a queued send).
    if (has_buffer && holds_[buffer_id] == 0) buffers_.give_back(buffer_id);
    if (!ends_here && !kernel_more) {
      if (armed) rearm_or_finish(op);
      else finish(op, -ECANCELED, {});
    }
    return;
  }
  if (has_buffer) buffers_.give_back(buffer_id);
  if (kernel_more) return;  // a zero-length completion inside a live multishot: nothing to say
  finish(op, res);          // 0: end of stream; < 0: the error (-ECANCELED included)
}

// A multishot op the kernel ended while its owner still wants it: arm it again.
void UringBackend::rearm_or_finish(Op& op) {
  if (!op.in_flight) return;  // the handler abandoned it
  if (op.cancelling) {
    finish(op, -ECANCELED);
    return;
  }
  ++stats_.rearms;
  if (arm(op)) finish(op, -ENOMEM);
}

void UringBackend::finish(Op& op, int32_t result, std::span<std::byte> data) {
  release_slot(op);
  op.in_flight = false;
  op.cancelling = false;
  deliver(op, result, false, data);
}

void UringBackend::deliver(Op& op, int32_t result, bool more, std::span<std::byte> data,
                           uint32_t buffer_id) {
  ++delivered_;
  ++stats_.completions;
  op.handler->on_complete(op, Completion{result, more, data, buffer_id});
}

// Holding is refused once half the ring is held: connections whose peers read slowly must not
// starve every other connection of receive buffers.
bool UringBackend::hold_buffer(uint32_t id) noexcept {
  if (id >= holds_.size() || held_buffers_ * 2 >= holds_.size()) return false;
  if (holds_[id]++ == 0) ++held_buffers_;
  return true;
}

void UringBackend::release_buffer(uint32_t id) noexcept {
  if (id >= holds_.size() || holds_[id] == 0) return;
  if (--holds_[id] != 0) return;
  --held_buffers_;
  // Released inside its own handler: dispatch_recv gives it back when the handler returns.
  if (id != dispatching_buffer_) buffers_.give_back(static_cast<uint16_t>(id));
}

void UringBackend::retry_starved() {
  if (starved_.empty()) return;
  std::vector<Op*> waiting;
  waiting.swap(starved_);
  for (Op* op : waiting) {
    ++stats_.rearms;
    if (arm(*op)) finish(*op, -ENOMEM);
  }
}

void UringBackend::run_local_completions() {
  local_running_.swap(local_cancels_);
  for (size_t i = 0; i < local_running_.size(); ++i) finish(*local_running_[i], -ECANCELED);
  local_running_.clear();
}

}  // namespace

// The kernel does the I/O; multishot receives take buffers from the provided ring; SEND_ZC is
// there (used from BackendOptions::send_zc_threshold). Readiness (one-shot POLL_ADD) is level:
// armed, it reports the state the fd is in (multishot POLL_ADD is edge-triggered, but no pattern
// leans on it). Not shared between threads: the submission and
// completion queues are single-producer, single-consumer rings (src/backend/readiness_set.h).
BackendTraits uring_traits() noexcept {
  BackendTraits traits;
  traits.performs_io = true;
  traits.provided_buffers = true;
  traits.zero_copy_send = true;
  return traits;
}

std::unique_ptr<Backend> make_uring_backend(const BackendOptions& options, std::error_code& error) {
  auto backend = std::make_unique<UringBackend>();
  std::error_code failure = backend->init(options);
  if (!failure) return backend;
  if (options.strict) {
    error = failure;
    return nullptr;
  }
  log(LogLevel::warn, "io_uring unavailable (%s): falling back to epoll",
      failure.message().c_str());
  auto fallback = make_backend(BackendKind::epoll, options, error);
  if (fallback) static_cast<ReadinessBackend&>(*fallback).note_fallback();
  return fallback;
}

}  // namespace tern
