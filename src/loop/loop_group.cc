#include "tern/loop/loop_group.h"

#include <future>
#include <mutex>
#include <thread>

#include "base/thread.h"

namespace tern {

// One thread and the loop it owns from creation to destruction.
class LoopGroup::Member {
 public:
  std::error_code start(std::string name, const LoopGroupOptions& options, size_t index,
                        const Setup& setup, const Teardown& teardown) {
    std::promise<std::error_code> started;
    auto result = started.get_future();
    thread_ = start_thread(std::move(name), [&, index] {
      auto created = EventLoop::create(options.backend, options.backend_options);
      if (!created) {
        started.set_value(created.error());
        return;
      }
      std::unique_ptr<EventLoop> loop = std::move(created.value());
      handle_ = loop->handle();
      Teardown finish = teardown;  // copied: the caller's references end with start()
      if (auto error = setup ? setup(index, *loop) : std::error_code{}) {
        if (finish) finish(index, *loop);
        started.set_value(error);
        return;
      }
      {
        std::lock_guard lock(mutex_);
        loop_ = loop.get();
      }
      started.set_value({});  // `started` and the captured references end here
      loop->run();
      if (finish) finish(index, *loop);
      // stop() may still be waking the loop (an eventfd write) from another thread.
      std::lock_guard lock(mutex_);
      loop_ = nullptr;
      loop.reset();
    });
    std::error_code error = result.get();
    if (error) thread_.join();
    return error;
  }

  EventLoop& loop() noexcept { return *loop_; }
  LoopHandle handle() const noexcept { return handle_; }

  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      if (loop_) loop_->stop();
    }
    thread_.join();
  }

 private:
  std::thread thread_;
  std::mutex mutex_;  // between stop()'s wake-up and the loop's destruction
  EventLoop* loop_ = nullptr;
  LoopHandle handle_;
};

LoopGroup::LoopGroup() = default;
LoopGroup::~LoopGroup() { stop(); }

std::error_code LoopGroup::start(const LoopGroupOptions& options, Setup setup, Teardown teardown) {
  for (int i = 0; i < options.threads; ++i) {
    auto member = std::make_unique<Member>();
    auto index = static_cast<size_t>(i);
    if (auto error = member->start(options.name + "-" + std::to_string(i), options, index, setup,
                                   teardown)) {
      stop();
      members_.clear();
      return error;
    }
    members_.push_back(std::move(member));
  }
  return {};
}

size_t LoopGroup::size() const noexcept { return members_.size(); }
EventLoop& LoopGroup::loop(size_t index) noexcept { return members_[index]->loop(); }
LoopHandle LoopGroup::handle(size_t index) const noexcept { return members_[index]->handle(); }

void LoopGroup::post(size_t index, Task task) { post_to(handle(index), std::move(task)); }

void LoopGroup::run_and_wait(size_t index, Task task) {
  std::promise<void> done;
  auto finished = done.get_future();
  bool posted = post_to(handle(index), [&] {
    task();
    done.set_value();
  });
  if (posted) finished.wait();
}

void LoopGroup::stop() {
  for (auto& member : members_) member->stop();
}

}  // namespace tern
