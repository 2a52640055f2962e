// LoopGate: how threads that are not a loop's own reach it (a worker's or a user thread's
// Reply). post() works while the loop runs and is a no-op once the gate is closed, so a reply
// that outlives the server is dropped instead of touching a destroyed loop.
#pragma once

#include <mutex>
#include <thread>

#include "tern/loop/event_loop.h"

namespace tern {

class LoopGate {
 public:
  explicit LoopGate(EventLoop& loop) : loop_(&loop), thread_(std::this_thread::get_id()) {}
  // Constructed on the loop thread, so this needs no lock.
  bool in_loop_thread() const noexcept { return std::this_thread::get_id() == thread_; }
  void post(Task task) {
    std::lock_guard lock(mutex_);
    if (loop_) loop_->post(std::move(task));
  }
  void close() {
    std::lock_guard lock(mutex_);
    loop_ = nullptr;
  }

 private:
  std::mutex mutex_;
  EventLoop* loop_;
  const std::thread::id thread_;
};

}  // namespace tern
