// TaskQueue: tasks posted to a loop from any thread, run in FIFO order in the loop's tasks
// phase. Woken through an eventfd, written only for the first task of a batch and only from
// other threads (the loop checks the queue before it blocks).
#pragma once

#include <mutex>
#include <vector>

#include "tern/base/result.h"
#include "tern/loop/event_loop.h"

namespace tern {

class TaskQueue {
 public:
  static Result<std::unique_ptr<TaskQueue>> create();
  ~TaskQueue();

  // Any thread. `wake` is false when called from the loop thread itself.
  void push(Task task, bool wake);
  // Any thread: makes the loop's wait return.
  void wake() noexcept;
  // Loop thread: runs the tasks queued before the call. Returns how many ran.
  size_t run_batch();
  // Loop thread: drains the eventfd after it became readable.
  void clear_wakeup() noexcept;
  bool empty() const;
  int fd() const noexcept { return event_fd_; }

 private:
  explicit TaskQueue(int event_fd) : event_fd_(event_fd) {}

  int event_fd_;
  mutable std::mutex mutex_;
  std::vector<Task> pending_;
  std::vector<Task> running_;
};

}  // namespace tern
