// The aio backend: POSIX AIO (aio_read/aio_write from glibc's librt) as a Proactor.
//
// What runs where. glibc has no kernel AIO for sockets: it emulates POSIX AIO in user space
// with a pool of helper threads that perform ordinary read(2)/write(2) calls (pread/pwrite
// first, which fail with ESPIPE on a socket, then read/write: two system calls per request) and
// then queue a real-time signal (SIGEV_SIGNAL) to the process. So this is the Proactor pattern
// emulated by threads: the loop posts a read or a write and is told when it is done, but the
// work is a thread hop away. Costs per request: a mutex and often a futex wake in aio_read,
// two system calls plus rt_sigqueueinfo on the helper, and on the loop an epoll_wait wake-up
// and a signalfd read (shared by a batch). glibc runs the requests of one fd number one after
// another on one helper thread (a read and a write of a connection are serialised).
//
// Completion notification. Each request carries SIGEV_SIGNAL with kSignalOffset + SIGRTMIN
// (41 with glibc) and, in sigev_value.sival_ptr, a 64-bit tag naming the request: the backend
// (16 bits: an index in a process-wide registry), the slot (24 bits) and the slot's request
// count (24 bits). The signal is blocked in the loop thread and read through a signalfd, which
// the backend watches with a multishot poll op on its inner ReadinessBackend: one epoll_wait
// serves both the signal and the readiness ops. For each siginfo the loop calls aio_error and
// aio_return and delivers the completion.
// glibc queues the signal to the process (rt_sigqueueinfo(getpid())), not to the loop thread,
// so a thread that has it unblocked would take it (default action: terminate). Hence:
//  - a static initialiser blocks the signal in the process's first thread before main(), so
//    every later thread (inheriting the mask) has it blocked too, and process-directed AIO
//    signals stay pending until some signalfd reads them;
//  - a process-wide SA_SIGINFO handler (installed by the first aio backend; an existing foreign
//    disposition of the signal makes the backend refuse with EBUSY) catches the signal in a
//    thread that unblocked it anyway and forwards it to the owning loop thread with
//    rt_tgsigqueueinfo (async-signal-safe);
//  - with several aio loops, a loop's signalfd may read another loop's signal (shared
//    pending): it forwards it the same way (to a loop on the same thread: parks it in a
//    thread-local list that loop drains).
// A lost signal would leave an op hanging: queued signals count against RLIMIT_SIGPENDING, and
// this backend never has more requests in flight than two per connection.
//
// Blocking and non-blocking (strategy (a)). tern's sockets stay non-blocking (O_NONBLOCK belongs
// to the open file description, so a dup() would not help). A helper's read or write never
// blocks: it returns data, or EAGAIN, after which the op waits for readiness through a one-shot
// poll op on the inner epoll backend and posts the request again. So a helper thread is never
// held by an idle connection, no dup()s are needed (the fd limit is what it is with epoll),
// aio_cancel + aio_suspend always end quickly, and cancel/abandon are simple. The cost: on an
// idle connection a read costs a helper round trip that ends in EAGAIN, then an epoll_ctl, then
// a second request; AIO mostly moves the copy to another thread.
//
// Ops. recv and send run on POSIX AIO; poll, accept, connect go to the inner ReadinessBackend
// through a backend-owned proxy op (so this backend always knows when they end); nop completes
// on the next wait from this backend's own queue. At most one op per direction per fd, as in
// the readiness backends. Every op gets a backend-owned Slot (stable address, reused), which
// holds the aiocb: a request's control block is never in the op's memory.
//  - recv: the first aio_read is posted at the start of the next wait (never from inside
//    submit, so provide() and glibc's locks are never called from there); after each data
//    completion of a multishot op the read is posted again at once. Without a BufferProvider it
//    reads into a 64 KiB backend buffer taken from a pool while the read is posted (an idle
//    connection waiting for readiness holds none); with one, provide() is called per request
//    and the read goes straight into that memory (a request that ends in EAGAIN wastes that
//    provide(): with this backend a provider may be asked again before any data came).
//    0 bytes is the end of the stream (final).
//  - send: POSIX AIO has no writev. One iovec (or a first iovec of 64 KiB or more) is written
//    in place, zero-copy; several are copied, up to 64 KiB, into a pooled backend buffer and
//    written with one aio_write (a memcpy per gathered send, for a helper round trip saved per
//    iovec). Either way the result may be short; TcpConnection resubmits the rest.
//    try_send always returns -EAGAIN: every byte goes through aio_write.
//  - SIGPIPE: write(2) on a reset socket raises SIGPIPE in the calling thread. glibc creates
//    its AIO helpers with every signal blocked (checked on glibc 2.36: SigBlk fffffffe7ffbfeff,
//    the SIGPIPE stays pending on the helper and the write returns EPIPE). As a second guard,
//    should a future glibc let helpers inherit their creator's mask, the loop thread (which
//    creates them, in aio_read) blocks SIGPIPE too: a write(2) by user code on that thread then
//    fails with EPIPE instead of raising the signal (tern itself always uses MSG_NOSIGNAL).
//
// cancel(op): once, from a later wait, exactly one final completion. A request still queued in
// glibc is cancelled (aio_cancel: final -ECANCELED) when that is safe (below); otherwise, or if
// it is already running, it ends naturally: a multishot recv then delivers its data
// (more = true) and a final -ECANCELED; EOF, errors and send results are delivered as the
// natural final result; EAGAIN becomes -ECANCELED. An op waiting for readiness drops its inner
// poll op and gets -ECANCELED on the next wait. Proxies: the inner backend's cancel.
// abandon(op): synchronous. A posted request is aio_cancel()ed when safe and, if a helper is
// running it (or it could not be cancelled), waited for with aio_suspend (bounded: the socket is
// non-blocking); aio_suspend takes glibc's AIO lock, so on return no helper touches the aiocb or
// the buffer any more. The slot stays reserved, without its op, until its signal is read and
// dropped; the op's memory may be freed right after abandon returns. The data such a request
// moved is lost (abandon is teardown).
// When aio_cancel is safe (glibc 2.36, sysdeps/pthread/aio_cancel.c and aio_misc.c): glibc
// chains the requests of one fd (the second waits behind the first, `queued`) and puts only the
// chain's head on its run list. aio_cancel of a head that is still waiting for a helper thread
// (on the run list, not yet running: a helper was signalled but has not woken, common under
// load) removes it with __aio_remove_request, which marks the request behind it runnable but
// never adds it to the run list (the helper's own completion path does that; aio_cancel does
// not). That request is orphaned: no helper ever runs it, aio_error says EINPROGRESS for good,
// no signal comes. Here that was a send queued behind a recv that read_stop() cancelled: the
// connection's output stopped for good (the "aio stall under load"; issue 8).
// So a request is aio_cancel()ed only while the other direction's request on its fd is not in
// glibc's hands (aio_error != EINPROGRESS): then it has no request chained behind it. Otherwise
// it is left to end naturally (soon: the socket is non-blocking).
// forget(fd): no dup()s to close; drops the fd from the inner backend.
//
// Also: try_first is ignored (a proactor posts the request at once); BackendOptions are not used
// (reads are 64 KiB); glibc gets 16 helper threads (aio_init, if no AIO ran before). Measured on
// 2 cores: the 16 MiB x 200 connections echo takes 2-3x as long as on epoll.
// Limits: the static block of the signal applies to every program linking tern and is
// inherited across fork/exec; a loop's backend must be destroyed on the loop's thread (its
// signalfd reads that thread's pending signals).
//
// Stats: submitted/completions count the caller's ops and the completions delivered to their
// handlers, whichever engine ran them (AIO, the inner backend, or this backend's queue); the
// internal ops (the signalfd watch, readiness waits after EAGAIN, proxies) are not counted
// again. wait_calls is the inner backend's (epoll_wait calls).
#include <aio.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/poller.h"
#include "backend/readiness_backend.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"

namespace tern {
namespace {

constexpr int kSignalOffset = 7;                    // the signal is SIGRTMIN + 7
constexpr size_t kBufferSize = 64 * 1024;           // reads; gathered sends are copied up to it
constexpr size_t kMaxPooledBuffers = 64;       // idle buffers kept: 4 MiB
constexpr size_t kSignalsPerRead = 64;
constexpr size_t kMaxSignalsPerWait = 1024;         // bound per wait; the signalfd stays readable
constexpr uint32_t kMaxBackends = 1024;             // registry size (ids 1..1023)
constexpr uint32_t kMaxSlots = 1u << 24;
constexpr uint32_t kRequestMask = (1u << 24) - 1;
constexpr uint32_t kBothDirections = ready::readable | ready::writable;

int aio_signal() noexcept { return SIGRTMIN + kSignalOffset; }

// --- The process-wide part: who owns which backend id, and the signal's disposition. --------

// The loop thread (its tid) of each live aio backend, by id; 0: free. Read by the signal
// handler: lock-free atomics only.
std::atomic<pid_t> g_owner[kMaxBackends];
static_assert(std::atomic<pid_t>::is_always_lock_free);

pid_t current_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

uint64_t make_tag(uint32_t id, uint32_t slot, uint32_t request) noexcept {
  return (uint64_t{id} << 48) | (uint64_t{slot} << 24) | (request & kRequestMask);
}
uint32_t tag_backend(uint64_t tag) noexcept { return static_cast<uint32_t>(tag >> 48); }
uint32_t tag_slot(uint64_t tag) noexcept { return static_cast<uint32_t>(tag >> 24) & kRequestMask; }
uint32_t tag_request(uint64_t tag) noexcept { return static_cast<uint32_t>(tag) & kRequestMask; }

// Queues the AIO completion signal `tag` to the thread of the backend it names (if it still
// exists). Async-signal-safe.
void requeue(int signo, uint64_t tag, pid_t sender, uid_t uid) noexcept {
  uint32_t id = tag_backend(tag);
  if (id == 0 || id >= kMaxBackends) return;
  pid_t tid = g_owner[id].load(std::memory_order_acquire);
  if (tid <= 0) return;
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = signo;
  info.si_code = SI_ASYNCIO;
  info.si_pid = sender;
  info.si_uid = uid;
  info.si_value.sival_ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(tag));
  ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, signo, &info);
}

// Runs only in a thread that unblocked the signal: hands it to the owning loop thread.
void on_stray_signal(int signo, siginfo_t* info, void* context) {
  int saved_errno = errno;
  if (info != nullptr && info->si_code == SI_ASYNCIO) {
    auto tag = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(info->si_value.sival_ptr));
    uint32_t id = tag_backend(tag);
    if (id > 0 && id < kMaxBackends &&
        g_owner[id].load(std::memory_order_acquire) == current_tid() && context != nullptr) {
      // The loop thread itself had it unblocked: block it again on return, so the re-queued
      // signal waits for the signalfd.
      sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signo);
    }
    requeue(signo, tag, info->si_pid, info->si_uid);
  }
  errno = saved_errno;
}

// Blocks the signal in the process's first thread before main(), so every thread created
// afterwards has it blocked too (see the header comment).
struct BlockAtStartup {
  BlockAtStartup() noexcept {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, aio_signal());
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
};
const BlockAtStartup g_block_at_startup;

std::error_code install_process_state() {
  static std::mutex mutex;
  static bool done = false;
  std::lock_guard lock(mutex);
  if (done) return {};
  struct sigaction old {};
  if (::sigaction(aio_signal(), nullptr, &old) < 0) return last_system_error();
  bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_stray_signal;
  if (!ours) {
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
      log(LogLevel::error, "aio backend: signal %d already has a disposition", aio_signal());
      return system_error(EBUSY);
    }
    struct sigaction action {};
    action.sa_sigaction = on_stray_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    if (::sigaction(aio_signal(), &action, nullptr) < 0) return last_system_error();
  }
  // Enough helpers for a few hundred connections' requests in flight; every request is a
  // non-blocking call, so they never wait for a peer. Effective only before the process's first
  // AIO request (glibc ignores it afterwards).
  aioinit init{};
  init.aio_threads = 16;
  init.aio_num = 256;
  init.aio_idle_time = 1;
  ::aio_init(&init);
  done = true;
  return {};
}

uint32_t register_owner(pid_t tid) noexcept {
  for (uint32_t id = 1; id < kMaxBackends; ++id) {
    pid_t expected = 0;
    if (g_owner[id].compare_exchange_strong(expected, tid, std::memory_order_acq_rel)) return id;
  }
  return 0;
}

// Completion signals read by a backend for another backend on the same thread.
thread_local std::vector<uint64_t> t_parked;

// --- The backend ------------------------------------------------------------------------------

class AioBackend final : public Backend, private OpHandler {
 public:
  AioBackend(std::unique_ptr<ReadinessBackend> inner, int signal_fd, uint32_t id);
  ~AioBackend() override;

  std::error_code start();

  BackendKind kind() const noexcept override { return BackendKind::aio; }
  const BackendStats& stats() const noexcept override { return stats_; }
  BackendTraits traits() const noexcept override { return aio_traits(); }
  std::error_code submit(Op& op) noexcept override;
  void cancel(Op& op) noexcept override;
  void abandon(Op& op) noexcept override;
  void forget(int fd) noexcept override;
  size_t wait(bool block) override;
  int try_send(int, const iovec*, int) noexcept override { return -EAGAIN; }

 private:
  enum class Kind : uint8_t { free, proxy, nop, recv, send };
  enum class Phase : uint8_t {
    idle,      // nothing outstanding (a completion is being delivered)
    to_post,   // the request is posted by the next wait
    posted,    // an AIO request is in glibc's hands or its signal is unread
    waiting,   // waiting for readiness after EAGAIN (inner poll op in flight)
    queued,    // a final completion (or a nop's) is in pending_
  };

  struct Slot {
    Op* op = nullptr;            // nullptr: free, or orphaned (abandoned, signal still due)
    uint32_t index = 0;
    uint32_t use = 0;            // changes when the slot is freed or orphaned: stale references
    uint32_t request = 0;        // count of requests posted from this slot (tag bits)
    Kind kind = Kind::free;
    Phase phase = Phase::idle;
    bool signal_due = false;     // an AIO request was posted and its signal not yet read
    int32_t queued_result = 0;   // Phase::queued
    std::byte* read_data = nullptr;  // recv: where the posted read puts its bytes
    std::unique_ptr<std::byte[]> buffer;  // pooled: recv scratch or gathered send
    Op inner{};                  // proxy op, or the readiness poll op of an AIO op
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // glibc's aiocb ends in a zero-size array (__pad)
    aiocb cb{};
#pragma GCC diagnostic pop
  };

  struct Ref {
    uint32_t index;
    uint32_t use;
  };

  struct FdState {
    Op* reader = nullptr;
    Op* writer = nullptr;
  };
  FdState& fd_state(int fd);
  Slot* allocate_slot() noexcept;
  void free_slot(Slot& s) noexcept;
  Slot* resolve(Ref ref) noexcept;
  Slot* slot_of(const Op& op) noexcept;
  std::unique_ptr<std::byte[]> take_buffer();
  void give_buffer(std::unique_ptr<std::byte[]> buffer) noexcept;
  void release_fd(Op& op) noexcept;

  int post(Slot& s) noexcept;
  int wait_ready(Slot& s, uint32_t direction) noexcept;
  void settle(Slot& s) noexcept;
  void cancel_if_alone(Slot& s) noexcept;
  void wait_done(Slot& s) noexcept;
  void queue_final(Slot& s, int32_t result);
  void finish(Slot& s, int32_t result, std::span<std::byte> data = {});
  void deliver_more(Slot& s, int32_t result, std::span<std::byte> data);

  void on_complete(Op& op, const Completion& completion) override;
  void forward_proxy(Slot& s, const Completion& completion);
  void route(const signalfd_siginfo& info, std::vector<uint64_t>* ours);
  void read_signals();
  void complete_request(uint64_t tag);
  void finish_recv(Slot& s, int32_t result);
  void finish_send(Slot& s, int32_t result);
  Op& retire(Slot& s);
  void deliver(Op& op, const Completion& completion);
  template <class Step>
  void continue_unless_cancelled(Slot& s, Step step);
  void deliver_pending();
  void post_queued();
  void take_parked();

  std::unique_ptr<ReadinessBackend> inner_;
  int signal_fd_;
  uint32_t id_;
  pid_t owner_tid_;
  int signo_;
  Op signal_op_{};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<FdState> fds_;
  std::vector<Ref> pending_;
  std::vector<Ref> pending_batch_;
  std::vector<Ref> to_post_;
  std::vector<Ref> to_post_batch_;
  std::vector<uint64_t> tags_;
  std::vector<std::unique_ptr<std::byte[]>> pool_;
  size_t delivered_ = 0;
  BackendStats stats_;
};

AioBackend::AioBackend(std::unique_ptr<ReadinessBackend> inner, int signal_fd, uint32_t id)
    : inner_(std::move(inner)),
      signal_fd_(signal_fd),
      id_(id),
      owner_tid_(current_tid()),
      signo_(aio_signal()) {
  tags_.reserve(kMaxSignalsPerWait);
}

std::error_code AioBackend::start() {
  signal_op_.code = OpCode::poll;
  signal_op_.fd = signal_fd_;
  signal_op_.interest = ready::readable;
  signal_op_.multishot = true;
  signal_op_.handler = this;
  return inner_->submit(signal_op_);
}

AioBackend::~AioBackend() {
  // No request may outlive the slots: cancel or wait for every one still with glibc.
  for (auto& slot : slots_) {
    if (slot->phase == Phase::posted && slot->signal_due) settle(*slot);
  }
  // A barrier: glibc's helpers finish with an aiocb inside their lock, which aio_suspend takes.
  aiocb done{};
  const aiocb* list[1] = {&done};
  timespec zero{};
  ::aio_suspend(list, 1, &zero);
  // Read what is pending now, to hand other backends' signals on; ours are dropped. Bounded:
  // what is handed on to another loop of this thread is parked, never re-read here.
  signalfd_siginfo infos[kSignalsPerRead];
  for (size_t total = 0; total < 64 * kMaxSignalsPerWait;) {
    ssize_t n = ::read(signal_fd_, infos, sizeof infos);
    if (n <= 0) break;
    size_t count = static_cast<size_t>(n) / sizeof infos[0];
    for (size_t i = 0; i < count; ++i) route(infos[i], nullptr);
    total += count;
  }
  std::erase_if(t_parked, [this](uint64_t tag) { return tag_backend(tag) == id_; });
  inner_->abandon(signal_op_);
  g_owner[id_].store(0, std::memory_order_release);
  ::close(signal_fd_);
}

AioBackend::FdState& AioBackend::fd_state(int fd) {
  if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(static_cast<size_t>(fd) + 64);
  return fds_[static_cast<size_t>(fd)];
}

AioBackend::Slot* AioBackend::allocate_slot() noexcept {
  if (!free_slots_.empty()) {
    Slot* s = slots_[free_slots_.back()].get();
    free_slots_.pop_back();
    return s;
  }
  if (slots_.size() >= kMaxSlots) return nullptr;
  try {
    auto slot = std::make_unique<Slot>();
    slot->index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(slot));
    if (free_slots_.capacity() < slots_.size()) free_slots_.reserve(2 * slots_.size());
  } catch (...) {
    return nullptr;
  }
  return slots_.back().get();
}

void AioBackend::free_slot(Slot& s) noexcept {
  s.op = nullptr;
  s.kind = Kind::free;
  s.phase = Phase::idle;
  s.signal_due = false;
  s.read_data = nullptr;
  ++s.use;
  if (s.buffer) give_buffer(std::move(s.buffer));
  free_slots_.push_back(s.index);  // reserved in allocate_slot: no allocation here
}

AioBackend::Slot* AioBackend::resolve(Ref ref) noexcept {
  Slot* s = slots_[ref.index].get();
  return s->use == ref.use && s->op != nullptr ? s : nullptr;
}

AioBackend::Slot* AioBackend::slot_of(const Op& op) noexcept {
  if (op.backend_slot >= slots_.size()) return nullptr;
  Slot* s = slots_[op.backend_slot].get();
  return s->op == &op ? s : nullptr;
}

std::unique_ptr<std::byte[]> AioBackend::take_buffer() {
  if (!pool_.empty()) {
    auto buffer = std::move(pool_.back());
    pool_.pop_back();
    return buffer;
  }
  return std::make_unique_for_overwrite<std::byte[]>(kBufferSize);
}

void AioBackend::give_buffer(std::unique_ptr<std::byte[]> buffer) noexcept {
  if (pool_.size() < kMaxPooledBuffers) {
    try {
      pool_.push_back(std::move(buffer));
    } catch (...) {
    }
  }
}

void AioBackend::release_fd(Op& op) noexcept {
  FdState& f = fds_[static_cast<size_t>(op.fd)];
  if (f.reader == &op) f.reader = nullptr;
  if (f.writer == &op) f.writer = nullptr;
}

// --- submit, cancel, abandon, forget ------------------------------------------------------------

std::error_code AioBackend::submit(Op& op) noexcept {
  TERN_CHECK(!op.in_flight, "tern: submit of an op that is already in flight (fd %d)", op.fd);
  TERN_CHECK(op.handler != nullptr, "tern: submit of an op without a handler (fd %d)", op.fd);
  if (op.fd < 0) return system_error(EBADF);
  uint32_t dirs = directions_of(op);
  if (dirs == 0) return make_error_code(errc::invalid_argument);
  FdState& f = fd_state(op.fd);
  if (((dirs & ready::readable) && f.reader) || ((dirs & ready::writable) && f.writer)) {
    return make_error_code(errc::already_in_use);
  }
  Slot* s = allocate_slot();
  if (s == nullptr) return system_error(ENOMEM);
  s->op = &op;
  s->phase = Phase::idle;
  switch (op.code) {
    case OpCode::recv: s->kind = Kind::recv; break;
    case OpCode::send: s->kind = Kind::send; break;
    case OpCode::nop: s->kind = Kind::nop; break;
    default: s->kind = Kind::proxy; break;
  }
  if (s->kind == Kind::proxy) {
    Op& proxy = s->inner;
    proxy = Op{};
    proxy.code = op.code;
    proxy.fd = op.fd;
    proxy.multishot = op.multishot;
    proxy.try_first = op.try_first;
    proxy.interest = op.interest;
    proxy.iov = op.iov;
    proxy.iov_count = op.iov_count;
    proxy.addr = op.addr;
    proxy.addr_len = op.addr_len;
    proxy.buffers = op.buffers;
    proxy.handler = this;
    proxy.backend_slot = s->index;
    if (auto error = inner_->submit(proxy)) {
      free_slot(*s);
      return error;
    }
  } else if (s->kind == Kind::nop) {
    s->phase = Phase::queued;
    s->queued_result = 0;
    pending_.push_back(Ref{s->index, s->use});
  } else {
    // Posted by the next wait: submit never calls provide() or takes glibc's AIO lock.
    s->phase = Phase::to_post;
    to_post_.push_back(Ref{s->index, s->use});
  }
  op.in_flight = true;
  op.started = false;
  op.cancelling = false;
  op.backend_slot = s->index;
  if (dirs & ready::readable) f.reader = &op;
  if (dirs & ready::writable) f.writer = &op;
  ++stats_.submitted;
  return {};
}

void AioBackend::cancel(Op& op) noexcept {
  if (!op.in_flight || op.cancelling) return;
  Slot* s = slot_of(op);
  if (s == nullptr) return;
  op.cancelling = true;
  switch (s->kind) {
    case Kind::proxy: inner_->cancel(s->inner); return;
    case Kind::nop: s->queued_result = -ECANCELED; return;
    case Kind::recv:
    case Kind::send: break;
    case Kind::free: return;
  }
  switch (s->phase) {
    case Phase::posted:
      // Still queued in glibc: removed, and its signal says ECANCELED. Running, or not safely
      // cancellable (see the header): it ends soon (the socket is non-blocking) and the
      // completion sees op.cancelling.
      cancel_if_alone(*s);
      break;
    case Phase::waiting:
      inner_->abandon(s->inner);
      queue_final(*s, -ECANCELED);
      break;
    case Phase::to_post:  // post_queued() finishes it
    case Phase::queued:   // a final completion is already on its way
    case Phase::idle:     // being delivered: the delivery ends it after the handler
      break;
  }
}

// Waits until the posted request of `s` is over: cancelled while still queued (if safe), or
// finished by its helper (a non-blocking call: soon). aio_suspend takes glibc's AIO lock, so on
// return no helper refers to the aiocb or its buffer.
void AioBackend::settle(Slot& s) noexcept {
  cancel_if_alone(s);
  wait_done(s);
}

// aio_cancel()s the posted request of `s` unless another request of ours on the same fd may be
// in glibc's hands: cancelling the head of an fd's chain orphans the request behind it (see the
// header). Only the loop thread posts, so the other request cannot appear meanwhile; if it ends
// meanwhile, the request of `s` just ends naturally.
void AioBackend::cancel_if_alone(Slot& s) noexcept {
  int fd = s.cb.aio_fildes;
  if (fd >= 0 && static_cast<size_t>(fd) < fds_.size()) {
    const FdState& f = fds_[static_cast<size_t>(fd)];
    for (Op* other : {f.reader, f.writer}) {
      if (other == nullptr || other == s.op) continue;
      Slot* mate = slot_of(*other);
      if (mate == nullptr || mate == &s) continue;
      if ((mate->kind == Kind::recv || mate->kind == Kind::send) &&
          mate->phase == Phase::posted && mate->signal_due &&
          ::aio_error(&mate->cb) == EINPROGRESS) {
        return;  // chained with ours in glibc: a cancel could orphan it
      }
    }
  }
  ::aio_cancel(fd, &s.cb);
}

void AioBackend::wait_done(Slot& s) noexcept {
  const aiocb* list[1] = {&s.cb};
  for (;;) {
    int r = ::aio_suspend(list, 1, nullptr);
    if (::aio_error(&s.cb) != EINPROGRESS) break;
    if (r < 0 && errno != EINTR && errno != EAGAIN) ::sched_yield();
  }
}

void AioBackend::abandon(Op& op) noexcept {
  if (!op.in_flight) return;
  Slot* s = slot_of(op);
  op.in_flight = false;
  op.cancelling = false;
  if (s == nullptr) return;
  release_fd(op);
  if (s->kind == Kind::proxy) {
    inner_->abandon(s->inner);
  } else if (s->phase == Phase::waiting) {
    inner_->abandon(s->inner);
  } else if (s->phase == Phase::posted && s->signal_due) {
    settle(*s);
    // Orphaned: the slot waits for its signal, then is freed; the op is no longer referred to.
    s->op = nullptr;
    s->read_data = nullptr;
    ++s->use;
    if (s->buffer) give_buffer(std::move(s->buffer));
    return;
  }
  free_slot(*s);
}

void AioBackend::forget(int fd) noexcept {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) < fds_.size()) {
    FdState& f = fds_[static_cast<size_t>(fd)];
    TERN_CHECK(f.reader == nullptr && f.writer == nullptr,
               "tern: fd %d closed while an operation is in flight on it", fd);
  }
  inner_->forget(fd);
}

// --- Posting requests -------------------------------------------------------------------------

// Starts the AIO request of a recv or send slot. Returns 0 or an errno value.
int AioBackend::post(Slot& s) noexcept {
  Op& op = *s.op;
  void* data = nullptr;
  size_t size = 0;
  try {
    if (s.kind == Kind::recv) {
      if (op.buffers != nullptr) {
        std::span<std::byte> provided = op.buffers->provide(kBufferSize);
        if (provided.empty()) return ENOBUFS;
        data = provided.data();
        size = provided.size();
      } else {
        if (!s.buffer) s.buffer = take_buffer();
        data = s.buffer.get();
        size = kBufferSize;
      }
      s.read_data = static_cast<std::byte*>(data);
    } else {
      if (op.iov_count == 0) return EINVAL;
      if (op.iov_count == 1 || op.iov[0].iov_len >= kBufferSize) {
        data = op.iov[0].iov_base;  // in place: the op keeps it valid until its completion
        size = op.iov[0].iov_len;
      } else {
        if (!s.buffer) s.buffer = take_buffer();
        for (uint32_t i = 0; i < op.iov_count && size < kBufferSize; ++i) {
          size_t n = std::min(op.iov[i].iov_len, kBufferSize - size);
          std::memcpy(s.buffer.get() + size, op.iov[i].iov_base, n);
          size += n;
        }
        data = s.buffer.get();
      }
    }
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  }
  std::memset(&s.cb, 0, sizeof s.cb);
  s.cb.aio_fildes = op.fd;
  s.cb.aio_buf = data;
  s.cb.aio_nbytes = size;
  s.cb.aio_offset = 0;
  s.cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  s.cb.aio_sigevent.sigev_signo = signo_;
  s.request = (s.request + 1) & kRequestMask;
  s.cb.aio_sigevent.sigev_value.sival_ptr =
      reinterpret_cast<void*>(static_cast<uintptr_t>(make_tag(id_, s.index, s.request)));
  int r = s.kind == Kind::recv ? ::aio_read(&s.cb) : ::aio_write(&s.cb);
  if (r < 0) return errno != 0 ? errno : EAGAIN;
  s.phase = Phase::posted;
  s.signal_due = true;
  return 0;
}

// EAGAIN: wait for readiness on the inner backend (one-shot poll), then post again. The
// pooled buffer goes back while waiting: an idle connection holds none.
int AioBackend::wait_ready(Slot& s, uint32_t direction) noexcept {
  if (s.buffer) give_buffer(std::move(s.buffer));
  s.read_data = nullptr;
  Op& poll = s.inner;
  poll = Op{};
  poll.code = OpCode::poll;
  poll.fd = s.op->fd;
  poll.interest = direction;
  poll.handler = this;
  poll.backend_slot = s.index;
  if (auto error = inner_->submit(poll)) return error.category() == std::system_category()
                                                    ? error.value()
                                                    : EINVAL;
  s.phase = Phase::waiting;
  return 0;
}

void AioBackend::queue_final(Slot& s, int32_t result) {
  s.phase = Phase::queued;
  s.queued_result = result;
  pending_.push_back(Ref{s.index, s.use});  // may allocate: rare (cancel of a waiting op)
}

// Delivers the final completion of s's op; the slot is free when the handler runs (the
// handler may submit the op again).
void AioBackend::finish(Slot& s, int32_t result, std::span<std::byte> data) {
  auto buffer = std::move(s.buffer);  // keeps `data` valid until the handler returns
  Op& op = retire(s);
  deliver(op, Completion{result, false, data});
  if (buffer) give_buffer(std::move(buffer));
}

// Ends s's op and frees the slot, so that its handler may submit the op again.
Op& AioBackend::retire(Slot& s) {
  Op& op = *s.op;
  release_fd(op);
  op.in_flight = false;
  op.cancelling = false;
  free_slot(s);
  return op;
}

void AioBackend::deliver(Op& op, const Completion& completion) {
  ++delivered_;
  ++stats_.completions;
  op.handler->on_complete(op, completion);
}

// Delivers a completion with more = true; the caller checks s afterwards (the handler may
// have cancelled or abandoned the op).
void AioBackend::deliver_more(Slot& s, int32_t result, std::span<std::byte> data) {
  Op* op = s.op;
  uint32_t use = s.use;
  auto buffer = std::move(s.buffer);
  deliver(*op, Completion{result, true, data});
  if (buffer) {
    if (s.use == use && !s.buffer) s.buffer = std::move(buffer);
    else give_buffer(std::move(buffer));
  }
}

// --- Completions ------------------------------------------------------------------------------

void AioBackend::on_complete(Op& op, const Completion& completion) {
  if (&op == &signal_op_) {
    if (completion.result < 0) {
      log(LogLevel::error, "aio backend: signalfd watch failed: %s",
          system_error(-completion.result).message().c_str());
      return;
    }
    read_signals();
    return;
  }
  Slot& s = *slots_[op.backend_slot];
  if (s.kind == Kind::proxy) {
    forward_proxy(s, completion);
    return;
  }
  // The readiness an AIO op waited for after EAGAIN (a one-shot poll op: final).
  if (s.op == nullptr || s.phase != Phase::waiting) return;
  s.phase = Phase::idle;
  if (completion.result < 0) {
    finish(s, completion.result);
  } else if (s.op->cancelling) {
    finish(s, -ECANCELED);
  } else if (int error = post(s)) {
    finish(s, -error);
  }
}

void AioBackend::forward_proxy(Slot& s, const Completion& completion) {
  if (s.op == nullptr) return;
  Op& op = completion.more ? *s.op : retire(s);
  deliver(op, completion);
}

// Sorts one siginfo read from the signalfd: this backend's go to `ours` (dropped if null); another
// aio loop's are handed to its thread, or parked if that is this thread (a re-queue to this
// thread would come straight back to this signalfd).
void AioBackend::route(const signalfd_siginfo& info, std::vector<uint64_t>* ours) {
  if (info.ssi_code != SI_ASYNCIO) return;  // not from glibc's AIO: not ours to read
  uint64_t tag = info.ssi_ptr;
  uint32_t owner = tag_backend(tag);
  if (owner == id_) {
    if (ours != nullptr) ours->push_back(tag);
  } else if (owner > 0 && owner < kMaxBackends &&
             g_owner[owner].load(std::memory_order_acquire) == owner_tid_) {
    t_parked.push_back(tag);  // another aio loop of this thread: its wait looks there
  } else {
    requeue(signo_, tag, static_cast<pid_t>(info.ssi_pid), info.ssi_uid);
  }
}

// The signalfd is readable: collect a bounded batch of siginfos, then complete each request.
void AioBackend::read_signals() {
  tags_.clear();
  signalfd_siginfo infos[kSignalsPerRead];
  while (tags_.size() < kMaxSignalsPerWait) {
    ssize_t n = ::read(signal_fd_, infos, sizeof infos);
    if (n <= 0) break;  // EAGAIN: none left
    size_t count = static_cast<size_t>(n) / sizeof infos[0];
    for (size_t i = 0; i < count; ++i) route(infos[i], &tags_);
    if (count < kSignalsPerRead) break;
  }
  // Index, not iterator: nothing below adds to tags_, but handlers run in between.
  for (size_t i = 0; i < tags_.size(); ++i) complete_request(tags_[i]);
}

void AioBackend::complete_request(uint64_t tag) {
  uint32_t index = tag_slot(tag);
  if (index >= slots_.size()) return;
  Slot& s = *slots_[index];
  if (!s.signal_due || s.request != tag_request(tag)) return;  // stale: already settled
  if (::aio_error(&s.cb) == EINPROGRESS) wait_done(s);  // not expected: glibc signals after
  s.signal_due = false;
  int error = ::aio_error(&s.cb);
  ssize_t value = ::aio_return(&s.cb);
  if (s.op == nullptr) {  // orphaned by abandon(): the signal was all it waited for
    free_slot(s);
    return;
  }
  s.phase = Phase::idle;
  int32_t result = error != 0 ? -error : static_cast<int32_t>(value);
  if (s.kind == Kind::recv) finish_recv(s, result);
  else finish_send(s, result);
}

// Takes an op's next step (`step` returns 0 or an errno) unless the op is being cancelled, and
// finishes the op with the step's error if it fails.
template <class Step>
void AioBackend::continue_unless_cancelled(Slot& s, Step step) {
  if (s.op->cancelling) {
    finish(s, -ECANCELED);
  } else if (int error = step()) {
    finish(s, -error);
  }
}

void AioBackend::finish_recv(Slot& s, int32_t result) {
  Op& op = *s.op;
  if (result > 0) {
    std::span<std::byte> data(s.read_data, static_cast<size_t>(result));
    if (!op.multishot) {
      finish(s, result, data);
      return;
    }
    uint32_t use = s.use;
    deliver_more(s, result, data);
    if (s.use != use) return;  // abandoned (and maybe reused) inside the handler
    continue_unless_cancelled(s, [&] { return post(s); });
    return;
  }
  if (result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR) {
    continue_unless_cancelled(s, [&] { return wait_ready(s, ready::readable); });
    return;
  }
  finish(s, result);  // 0: end of stream; -ECANCELED (aio_cancel); a socket error
}

void AioBackend::finish_send(Slot& s, int32_t result) {
  if (result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR) {
    continue_unless_cancelled(s, [&] { return wait_ready(s, ready::writable); });
    return;
  }
  finish(s, result);  // bytes written (maybe short), -ECANCELED, EPIPE, ECONNRESET...
}

// Final completions queued outside wait (nops, cancellations of waiting ops): the batch present
// at entry; handlers' additions wait for the next wait.
void AioBackend::deliver_pending() {
  pending_batch_.swap(pending_);
  for (size_t i = 0; i < pending_batch_.size(); ++i) {
    Slot* s = resolve(pending_batch_[i]);
    if (s == nullptr || s->phase != Phase::queued) continue;
    finish(*s, s->queued_result);
  }
  pending_batch_.clear();
}

void AioBackend::post_queued() {
  to_post_batch_.swap(to_post_);
  for (size_t i = 0; i < to_post_batch_.size(); ++i) {
    Slot* s = resolve(to_post_batch_[i]);
    if (s == nullptr || s->phase != Phase::to_post) continue;
    s->phase = Phase::idle;
    if (s->op->cancelling) {
      finish(*s, -ECANCELED);
    } else if (int error = post(*s)) {
      finish(*s, -error);
    }
  }
  to_post_batch_.clear();
}

// Signals another aio loop of this thread read for this one.
void AioBackend::take_parked() {
  if (t_parked.empty()) return;
  tags_.clear();
  std::erase_if(t_parked, [this](uint64_t tag) {
    if (tag_backend(tag) != id_) return false;
    tags_.push_back(tag);
    return true;
  });
  for (size_t i = 0; i < tags_.size(); ++i) complete_request(tags_[i]);
}

size_t AioBackend::wait(bool block) {
  delivered_ = 0;
  deliver_pending();
  take_parked();
  post_queued();
  // Handlers that ran above may have queued work the caller's `block` did not know of.
  bool busy = delivered_ > 0 || !pending_.empty() || !to_post_.empty();
  inner_->wait(block && !busy);
  stats_.wait_calls = inner_->stats().wait_calls;
  stats_.wait_ns = inner_->stats().wait_ns;
  return delivered_;
}

}  // namespace

// glibc's helper threads do the reads and writes. Readiness (poll, accept, connect, and the
// waits after EAGAIN) is the inner epoll backend's, lent, and not shared between threads.
BackendTraits aio_traits() noexcept {
  BackendTraits traits;
  traits.performs_io = true;
  traits.native_readiness = false;
  return traits;
}

std::unique_ptr<Backend> make_aio_backend(const BackendOptions& /*options*/,
                                          std::error_code& error) {
  if ((error = install_process_state())) return nullptr;
  // The loop thread keeps the completion signal pending for its signalfd, and SIGPIPE away
  // from any helper thread that would inherit its mask (see the header comment).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, aio_signal());
  sigaddset(&set, SIGPIPE);
  if (int e = ::pthread_sigmask(SIG_BLOCK, &set, nullptr)) {
    error = system_error(e);
    return nullptr;
  }
  auto poller = make_epoll_poller(/*edge_triggered=*/false, error);
  if (!poller) return nullptr;
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, aio_signal());
  int signal_fd = ::signalfd(-1, &only, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) {
    error = last_system_error();
    return nullptr;
  }
  uint32_t id = register_owner(current_tid());
  if (id == 0) {
    ::close(signal_fd);
    error = system_error(EAGAIN);
    return nullptr;
  }
  auto inner = std::make_unique<ReadinessBackend>(BackendKind::epoll, std::move(poller));
  auto backend = std::make_unique<AioBackend>(std::move(inner), signal_fd, id);
  if ((error = backend->start())) return nullptr;
  error.clear();
  return backend;
}

}  // namespace tern
