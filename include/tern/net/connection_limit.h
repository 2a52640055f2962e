// ConnectionLimit: how many connections a server holds open at once, counted across all of its
// loops and threads, and the acceptors parked until a slot frees. Any thread.
//
// Every socket an acceptor hands on holds one slot until its connection closes, when its owner
// calls release(). With a bound, an acceptor claims the slot *before* it calls accept(2): at the
// limit it parks instead of accepting, so the listener stays open and new clients wait in the
// kernel's backlog (accepted later, not accepted-and-closed). The release that frees a slot
// wakes every parked acceptor: each is on its own loop (or is lf's shared listener), and only
// the one whose backlog holds a client will claim the slot; waking just one could wake a
// listener with an empty backlog while another's clients wait.
//
// Cost: one atomic read-modify-write per accept and one per close; the mutex is taken only
// while some acceptor is parked. Nothing here runs per request.
//
//   bounded:    if (limit.try_claim() || limit.claim_or_park(waiter)) fd = accept4(...);
//               on EAGAIN: limit.release_unused();  on close: limit.release();
//   unbounded:  fd = accept4(...); limit.add();     on close: limit.release();
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace tern {

class ConnectionLimit {
 public:
  // An acceptor waiting for a slot. `wake` runs once per park, on the thread that freed the
  // slot, under the limit's lock: it must only hand the resumption to the acceptor's own
  // thread (a post, an epoll re-arm), never call back into the limit.
  struct Waiter {
    std::function<void()> wake;
    bool parked = false;  // guarded by the limit's lock
  };

  // 0: no limit (connections are still counted, for the stats).
  explicit ConnectionLimit(size_t max = 0) noexcept : max_(max) {}
  ConnectionLimit(const ConnectionLimit&) = delete;
  ConnectionLimit& operator=(const ConnectionLimit&) = delete;

  bool bounded() const noexcept { return max_ != 0; }
  size_t max() const noexcept { return max_; }

  // Any thread. Takes a slot for the connection about to be accepted; false at the limit.
  bool try_claim() noexcept;
  // Any thread, after try_claim() failed. Takes a slot if one freed meanwhile (true: accept);
  // otherwise parks `waiter` (false: stop accepting; `waiter.wake` runs once a slot frees).
  bool claim_or_park(Waiter& waiter);
  // Any thread: `waiter` is never woken after this returns (an acceptor that stops).
  void unpark(Waiter& waiter) noexcept;
  // Any thread. Counts a connection accepted without a claim (no bound).
  void add() noexcept;
  // Any thread. A connection closed: frees its slot and wakes the parked acceptors.
  void release() noexcept;
  // Any thread. A claim that found nobody to accept (EAGAIN, an error): frees the slot.
  void release_unused() noexcept;

  size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
  // Connections accepted since the start.
  uint64_t accepted() const noexcept {
    return claims_.load(std::memory_order_relaxed) - unused_.load(std::memory_order_relaxed);
  }
  // Times an acceptor parked at the limit.
  uint64_t pauses() const noexcept { return pauses_.load(std::memory_order_relaxed); }

 private:
  void wake_parked() noexcept;

  const size_t max_;
  // Sequentially consistent, with parked_count_: a parker stores the count then reads open_;
  // a releaser lowers open_ then reads the count. One of them sees the other, so a slot never
  // frees unseen by an acceptor that parks at the same moment.
  std::atomic<size_t> open_{0};
  std::atomic<size_t> parked_count_{0};
  std::atomic<uint64_t> claims_{0};
  std::atomic<uint64_t> unused_{0};
  std::atomic<uint64_t> pauses_{0};
  std::mutex mutex_;
  std::vector<Waiter*> parked_;  // under mutex_
};

}  // namespace tern
