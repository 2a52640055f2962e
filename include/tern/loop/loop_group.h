// LoopGroup: N event loops on N threads, one loop per thread, each created, run and destroyed
// on its own thread, so a loop and everything registered with it are touched only there.
// The concurrency models are built on it (docs/patterns.md); a program can use it directly.
//
//   tern::LoopGroup group;
//   group.start({.backend = tern::BackendKind::uring, .threads = 2},
//               [&](size_t i, tern::EventLoop& loop) { /* build loop i's objects */ return std::error_code{}; },
//               [&](size_t i, tern::EventLoop& loop) { /* destroy them */ });
//   group.post(1, [] { /* runs on loop 1's thread */ });
//   tern::post_to(conn_id.loop, task);   // any thread: a no-op once that loop is gone
//   group.stop();
//
// Threads are named `name-i` and block every signal (signals go to the program's own thread,
// or to a loop's signalfd).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "tern/backend/backend_kind.h"
#include "tern/backend/backend_options.h"
#include "tern/loop/event_loop.h"
#include "tern/loop/loop_handle.h"

namespace tern {

struct LoopGroupOptions {
  BackendKind backend = BackendKind::epoll;
  BackendOptions backend_options;
  int threads = 1;
  std::string name = "tern-io";
};

class LoopGroup {
 public:
  // On loop i's thread, before it runs: builds what lives on the loop. An error stops start().
  using Setup = std::function<std::error_code(size_t index, EventLoop& loop)>;
  // On loop i's thread, after it stopped and before it is destroyed: destroys what lives on it.
  using Teardown = std::function<void(size_t index, EventLoop& loop)>;

  LoopGroup();
  ~LoopGroup();  // stop()
  LoopGroup(const LoopGroup&) = delete;
  LoopGroup& operator=(const LoopGroup&) = delete;

  // Starts the threads one after the other, each once its loop is set up; on an error, stops
  // the ones started and returns it (a loop the kernel refuses, a setup that failed).
  // Not thread-safe; call once.
  std::error_code start(const LoopGroupOptions& options, Setup setup = {},
                        Teardown teardown = {});
  size_t size() const noexcept;
  // Loop i. Its methods keep their own thread rules (most are loop thread only).
  EventLoop& loop(size_t index) noexcept;
  // Any thread.
  LoopHandle handle(size_t index) const noexcept;
  // Any thread: runs `task` on loop i's thread.
  void post(size_t index, Task task);
  // Any thread but loop i's own: runs `task` there and waits until it has run.
  void run_and_wait(size_t index, Task task);
  // Stops every loop, runs each teardown on its thread, joins. Idempotent. Not from a loop of
  // the group.
  void stop();

 private:
  class Member;
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace tern
