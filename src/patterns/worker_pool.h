// WorkerPool: the synchronous half of half-sync/half-async: M threads that take items from one
// bounded queue and run them. The I/O side pushes with queue()->try_push() and is told about
// room again through queue()->when_space().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "patterns/bounded_queue.h"
#include "base/thread.h"

namespace tern {

template <class T>
class WorkerPool {
 public:
  WorkerPool() = default;
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts `workers` threads (tern-work-N) running `run` on each item; none for 0.
  void start(int workers, size_t capacity, std::function<void(T&)> run) {
    if (workers <= 0) return;
    queue_ = std::make_unique<BoundedQueue<T>>(capacity);
    run_ = std::move(run);
    for (int i = 0; i < workers; ++i) {
      threads_.push_back(start_thread("tern-work-" + std::to_string(i), [this] {
        while (auto item = queue_->pop()) run_(*item);
      }));
    }
  }
  // Null when the pool has no workers (handlers run on the loops).
  BoundedQueue<T>* queue() const noexcept { return queue_.get(); }
  uint64_t rejected() const { return queue_ ? queue_->rejected() : 0; }
  size_t queued() const { return queue_ ? queue_->size() : 0; }  // any thread
  // Drops what is queued, lets each worker finish its item, and joins them.
  void stop() {
    if (queue_) queue_->close();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  std::unique_ptr<BoundedQueue<T>> queue_;
  std::function<void(T&)> run_;
  std::vector<std::thread> threads_;
};

}  // namespace tern
