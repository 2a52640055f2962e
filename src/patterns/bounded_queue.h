// BoundedQueue: the request queue between the asynchronous I/O side and the synchronous
// workers of half-sync/half-async. Multi-producer, multi-consumer, a fixed ring (no allocation
// per item). It never grows: try_push() fails when full, and the producer stops reading until
// when_space() calls it back, which happens on the consumer that brings the queue down to
// half its capacity (hysteresis, so a producer is not woken for one free slot at a time).
// A stamped queue also keeps each item's push time, which pop() hands out (the hsha queue-wait
// metric); an unstamped one reads no clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "tern/base/clock.h"

namespace tern {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity, bool stamped = false)
      : ring_(capacity), stamps_(stamped ? capacity : 0), stamped_(stamped) {}

  // False when full or closed; the item is left untouched then. Any thread.
  bool try_push(T& item) {
    // Read before the lock, so the clock is not read while other threads wait for it.
    const TimePoint now = stamped_ ? Clock::now() : TimePoint{};
    {
      std::lock_guard lock(mutex_);
      if (closed_ || size_ == ring_.size()) {
        ++rejected_;
        return false;
      }
      const size_t tail = (head_ + size_) % ring_.size();
      ring_[tail] = std::move(item);
      if (stamped_) stamps_[tail] = now;
      ++size_;
    }
    not_empty_.notify_one();
    return true;
  }

  // Runs `callback` once, when the queue has fallen to half its capacity (at once, on this
  // thread, if it already has), or when it is closed.
  void when_space(std::function<void()> callback) {
    {
      std::lock_guard lock(mutex_);
      if (!closed_ && size_ > ring_.size() / 2) {
        waiting_.push_back(std::move(callback));
        return;
      }
    }
    callback();
  }

  // Blocks until an item arrives; nullopt once the queue is closed. A stamped queue writes the
  // item's push time into *pushed_at (when given). Any thread.
  std::optional<T> pop(TimePoint* pushed_at = nullptr) {
    std::vector<std::function<void()>> wake;
    std::optional<T> item;
    {
      std::unique_lock lock(mutex_);
      not_empty_.wait(lock, [&] { return size_ > 0 || closed_; });
      if (closed_) return std::nullopt;
      item = std::move(ring_[head_]);
      if (stamped_ && pushed_at != nullptr) *pushed_at = stamps_[head_];
      head_ = (head_ + 1) % ring_.size();
      --size_;
      if (!waiting_.empty() && size_ <= ring_.size() / 2) wake.swap(waiting_);
    }
    for (auto& callback : wake) callback();
    return item;
  }

  // Drops what is queued (at shutdown its connections are gone), makes pop() return nullopt
  // and releases the producers waiting for space.
  void close() {
    std::vector<std::function<void()>> wake;
    std::vector<T> dropped;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      wake.swap(waiting_);
      dropped.swap(ring_);
      size_ = 0;
    }
    not_empty_.notify_all();
    for (auto& callback : wake) callback();
  }

  uint64_t rejected() const {
    std::lock_guard lock(mutex_);
    return rejected_;
  }
  // Items waiting now. Any thread.
  size_t size() const {
    std::lock_guard lock(mutex_);
    return size_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::vector<T> ring_;
  std::vector<TimePoint> stamps_;  // stamped: element i is ring_[i]'s push time
  const bool stamped_;
  size_t head_ = 0;
  size_t size_ = 0;
  bool closed_ = false;
  uint64_t rejected_ = 0;
  std::vector<std::function<void()>> waiting_;
};

}  // namespace tern
