// WorkerPool: the synchronous half of half-sync/half-async: M threads that take items from one
// bounded queue and run them. The I/O side pushes with queue()->try_push() and is told about
// room again through queue()->when_space().
//
// A metered pool (the server has a metrics registry) stamps each item as it is queued and gives
// each worker a WorkerMeter: the wait in the queue and the time running the item, recorded by
// the worker after each item. An unmetered pool reads no clock.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/thread.h"
#include "patterns/bounded_queue.h"
#include "patterns/model_figures.h"
#include "patterns/worker_meter.h"
#include "tern/metrics/snapshot.h"

namespace tern {

template <class T>
class WorkerPool {
 public:
  WorkerPool() = default;
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts `workers` threads (tern-work-N) running `run` on each item; none for 0. Once, on
  // the thread that owns the pool.
  void start(int workers, size_t capacity, std::function<void(T&)> run, bool metered = false) {
    if (workers <= 0) return;
    queue_ = std::make_unique<BoundedQueue<T>>(capacity, metered);
    run_ = std::move(run);
    for (int i = 0; i < workers; ++i) {
      WorkerMeter* meter = nullptr;
      if (metered) meter = meters_.emplace_back(std::make_unique<WorkerMeter>()).get();
      threads_.push_back(start_thread("tern-work-" + std::to_string(i),
                                      [this, meter] { work(meter); }));
    }
  }
  // Null when the pool has no workers (handlers run on the loops).
  BoundedQueue<T>* queue() const noexcept { return queue_.get(); }
  uint64_t rejected() const { return queue_ ? queue_->rejected() : 0; }
  size_t queued() const { return queue_ ? queue_->size() : 0; }  // any thread
  // A metered pool's queue waits and per-worker busy times into `out`; nothing otherwise. Any
  // thread, after start(); the figures outlive stop() (a scrape during shutdown reads them).
  void read_figures(ModelFigures& out) const {
    if (meters_.empty()) return;
    out.queue_wait = metrics::make_histogram();
    out.worker_busy_ns.clear();
    for (const auto& meter : meters_) out.worker_busy_ns.push_back(meter->add_to(*out.queue_wait));
  }
  // Drops what is queued, lets each worker finish its item, and joins them. The owning thread.
  void stop() {
    if (queue_) queue_->close();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  void work(WorkerMeter* meter) {
    if (meter == nullptr) {
      while (auto item = queue_->pop()) run_(*item);
      return;
    }
    TimePoint pushed_at;
    while (auto item = queue_->pop(&pushed_at)) {
      const TimePoint taken = Clock::now();
      run_(*item);
      meter->record(taken - pushed_at, Clock::now() - taken);
    }
  }

  std::unique_ptr<BoundedQueue<T>> queue_;
  std::function<void(T&)> run_;
  std::vector<std::unique_ptr<WorkerMeter>> meters_;  // metered: element i is worker i's
  std::vector<std::thread> threads_;
};

}  // namespace tern
