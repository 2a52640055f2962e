// ReadinessBackend: the completion verb emulated over a readiness Poller, as Asio's reactive
// ops do on Linux. An op waits for its fd to be ready, then the backend performs the system call
// and completes the op. Shared by select, poll and epoll; the Poller is the only difference.
//
// Per fd at most one op per direction: a reader (poll for readable, accept, recv) and a writer
// (poll for writable, send, connect); a poll op for both takes both slots.
//
// Level-triggered pollers: interest follows the ops attached to an fd and is written to the
// poller once per wait (lazily), so an op that completes and is re-submitted in the same
// iteration costs no system call.
// Edge-triggered: the fd is registered once for both directions and never modified; the
// backend remembers readiness it was told of until a system call reports EAGAIN.
//
// A spurious readiness report (a stale event for an fd number that was closed and reused in the
// same iteration) is harmless: every op retries its system call and waits again on EAGAIN.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/poller.h"

namespace tern {

class ReadinessBackend final : public Backend {
 public:
  ReadinessBackend(BackendKind kind, std::unique_ptr<Poller> poller);

  BackendKind kind() const noexcept override { return kind_; }
  const BackendStats& stats() const noexcept override { return stats_; }
  BackendTraits traits() const noexcept override { return traits_of(kind_); }
  std::error_code submit(Op& op) noexcept override;
  void cancel(Op& op) noexcept override;
  void abandon(Op& op) noexcept override;
  void forget(int fd) noexcept override;
  size_t wait(bool block) override;
  int try_send(int fd, const iovec* iov, int iov_count) noexcept override;
  // This backend stands in for one that could not start (io_uring): counted in stats().
  void note_fallback() noexcept { ++stats_.fallbacks; }

 private:
  struct FdState {
    Op* reader = nullptr;
    Op* writer = nullptr;
    uint32_t registered = 0;  // interest the poller holds
    uint32_t ready = 0;       // edge-triggered: readiness reported and not yet used up
    uint32_t try_now = 0;     // directions to attempt in this wait without a readiness report
    bool peer_closed = false; // edge-triggered: the peer's FIN is queued behind the data
    bool dirty = false;       // level-triggered: interest may differ from `registered`
  };

  FdState& state(int fd);
  static uint32_t interest_of(const Op* op) noexcept;
  void run_attempts();
  void deliver_cancellations();
  void attach(Op& op) noexcept;
  void detach(Op& op) noexcept;
  void mark_dirty(int fd);
  void queue_try(int fd, uint32_t directions);
  void clear_ready(int fd, uint32_t directions) noexcept;
  void flush_interest();

  void perform(int fd, uint32_t events);
  void run(Op& op, uint32_t events);
  void run_poll(Op& op, uint32_t events);
  void run_accept(Op& op);
  void run_recv(Op& op);
  void run_send(Op& op);
  void run_connect(Op& op);
  bool still_attached(int fd, const Op* op) const noexcept;
  void complete(Op& op, int32_t result, bool more, std::span<std::byte> data = {});
  void fail_ops(int fd, int error);

  BackendKind kind_;
  std::unique_ptr<Poller> poller_;
  bool edge_triggered_;
  std::vector<FdState> fds_;          // indexed by fd; may move when it grows
  std::vector<int> dirty_;
  std::vector<int> flushing_;         // the batch of dirty_ being written to the poller
  std::vector<int> runnable_;         // fds with try_now bits
  std::vector<int> running_;          // the batch of runnable_ being performed
  std::vector<Op*> cancelled_;
  std::vector<Op*> cancelling_;       // the batch of cancelled_ being delivered
  std::vector<ReadyEvent> events_;
  std::unique_ptr<std::byte[]> scratch_;  // lent to recv ops without a BufferProvider
  size_t delivered_ = 0;
  BackendStats stats_;
};

}  // namespace tern
