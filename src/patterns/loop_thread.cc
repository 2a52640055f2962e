#include "patterns/loop_thread.h"

#include <future>

#include "patterns/thread.h"

namespace tern {

std::error_code LoopThread::start(std::string name, BackendKind kind, BackendOptions options,
                                  Setup setup, Teardown teardown) {
  std::promise<std::error_code> started;
  auto result = started.get_future();
  thread_ = start_thread(std::move(name), [&, setup = std::move(setup),
                                           teardown = std::move(teardown)]() mutable {
    auto created = EventLoop::create(kind, options);
    if (!created) {
      started.set_value(created.error());
      return;
    }
    std::unique_ptr<EventLoop> loop = std::move(created.value());
    if (auto error = setup(*loop)) {
      teardown();
      started.set_value(error);
      return;
    }
    loop_ = loop.get();
    started.set_value({});  // `started` and the captured references end here
    loop->run();
    teardown();
    // stop() may still be waking the loop (an eventfd write) from another thread.
    std::lock_guard lock(mutex_);
    loop_ = nullptr;
    loop.reset();
  });
  std::error_code error = result.get();
  if (error) {
    thread_.join();
    loop_ = nullptr;
  }
  return error;
}

void LoopThread::run_and_wait(Task task) {
  std::promise<void> done;
  auto finished = done.get_future();
  loop_->post([&] {
    task();
    done.set_value();
  });
  finished.wait();
}

void LoopThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    if (loop_) loop_->stop();
  }
  thread_.join();
}

}  // namespace tern
