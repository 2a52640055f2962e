#include "loop/task_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "tern/base/error.h"

namespace tern {

Result<std::unique_ptr<TaskQueue>> TaskQueue::create() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return last_system_error();
  return std::unique_ptr<TaskQueue>(new TaskQueue(fd));
}

TaskQueue::~TaskQueue() { ::close(event_fd_); }

void TaskQueue::push(Task task, bool wake_loop) {
  bool first;
  {
    std::lock_guard lock(mutex_);
    first = pending_.empty();
    pending_.push_back(std::move(task));
  }
  if (first && wake_loop) wake();
}

void TaskQueue::wake() noexcept {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the loop is woken already.
  ssize_t ignored = ::write(event_fd_, &one, sizeof one);
  (void)ignored;
}

void TaskQueue::clear_wakeup() noexcept {
  uint64_t count;
  ssize_t ignored = ::read(event_fd_, &count, sizeof count);
  (void)ignored;
}

size_t TaskQueue::run_batch() {
  {
    std::lock_guard lock(mutex_);
    running_.swap(pending_);
  }
  for (Task& task : running_) task();
  size_t ran = running_.size();
  running_.clear();
  return ran;
}

bool TaskQueue::empty() const {
  std::lock_guard lock(mutex_);
  return pending_.empty();
}

}  // namespace tern
