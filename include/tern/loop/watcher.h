// Watcher: the Reactor API. Tells when an fd is readable or writable; the callback does the
// I/O itself. Does not own the fd. Loop thread only.
//
//   tern::Watcher watcher(loop, fd);
//   watcher.start(tern::ready::readable, /*one_shot=*/false, [&](uint32_t ready) { ... });
//
// One-shot: after one report the watcher is inactive until start() is called again (the
// EPOLLONESHOT discipline: no two reports race for one event).
// A watch the poller refuses later (epoll and a regular file) ends with ready::error.
// The callback must do its I/O until EAGAIN: on the edge-triggered backend a readiness that was
// reported and not used up is not reported again (level-triggered backends would repeat it). The callback is never called
// after stop() returns, and a Watcher may be stopped or destroyed at any time on the loop
// thread, from inside its own callback too. The fd must stay open while the watcher is active,
// and whoever closes it calls forget_fd() first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "tern/backend/op.h"

namespace tern {

class EventLoop;

class Watcher {
 public:
  using Callback = std::function<void(uint32_t ready_bits)>;

  Watcher(EventLoop& loop, int fd);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts (or changes) watching for `interest` (ready::readable and/or ready::writable).
  // Errors: errc::fd_too_large (select), errc::already_in_use (another op owns that direction).
  std::error_code start(uint32_t interest, bool one_shot, Callback callback);
  void stop() noexcept;
  // The fd is about to be closed: stops, and has the loop's backend drop everything it keeps
  // about the fd number, so a connection that is given the same number next starts clean (a
  // poller that still thinks it watches that number would skip registering the new fd).
  // Call it right before the close. Loop thread only.
  void forget_fd() noexcept;
  bool active() const noexcept;
  int fd() const noexcept { return fd_; }

 private:
  class PollOp;
  EventLoop& loop_;
  int fd_;
  std::unique_ptr<PollOp> op_;
};

}  // namespace tern
