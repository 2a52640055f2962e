// LoopThread: a thread that owns one EventLoop from its creation to its destruction, so the
// loop and everything registered with it are touched only on that thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "tern/backend/backend_kind.h"
#include "tern/backend/backend_options.h"
#include "tern/loop/event_loop.h"

namespace tern {

class LoopThread {
 public:
  using Setup = std::function<std::error_code(EventLoop&)>;
  using Teardown = std::function<void()>;

  LoopThread() = default;
  ~LoopThread() { stop(); }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Starts the thread, creates the loop there and runs `setup` on it; returns setup's (or the
  // loop's creation) error once known. `teardown` runs on the thread after the loop stops and
  // before it is destroyed: the place to destroy what lives on the loop.
  std::error_code start(std::string name, BackendKind kind, BackendOptions options,
                        Setup setup, Teardown teardown);
  EventLoop& loop() noexcept { return *loop_; }
  // Runs `task` on the loop thread and waits until it has run.
  void run_and_wait(Task task);
  // Stops the loop, runs teardown and joins. Idempotent.
  void stop();

 private:
  std::thread thread_;
  std::mutex mutex_;  // between stop()'s wake-up and the loop's destruction
  EventLoop* loop_ = nullptr;
};

}  // namespace tern
