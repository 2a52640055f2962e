// BoundedQueue: the request queue between the asynchronous I/O side and the synchronous
// workers of half-sync/half-async. Multi-producer, multi-consumer, a fixed ring (no allocation
// per item). It never grows: try_push() fails when full, and the producer stops reading until
// when_space() calls it back, which happens on the consumer that brings the queue down to
// half its capacity (hysteresis, so a producer is not woken for one free slot at a time).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace tern {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : ring_(capacity) {}

  // False when full or closed; the item is left untouched then.
  bool try_push(T& item) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || size_ == ring_.size()) {
        ++rejected_;
        return false;
      }
      ring_[(head_ + size_) % ring_.size()] = std::move(item);
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

  // Blocks until an item arrives; nullopt once the queue is closed.
  std::optional<T> pop() {
    std::vector<std::function<void()>> wake;
    std::optional<T> item;
    {
      std::unique_lock lock(mutex_);
      not_empty_.wait(lock, [&] { return size_ > 0 || closed_; });
      if (closed_) return std::nullopt;
      item = std::move(ring_[head_]);
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
  size_t head_ = 0;
  size_t size_ = 0;
  bool closed_ = false;
  uint64_t rejected_ = 0;
  std::vector<std::function<void()>> waiting_;
};

}  // namespace tern
