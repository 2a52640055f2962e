// RingQueue<T>: a FIFO (push at the back, pop at either end; push_front puts an element taken
// from the front back where it was) in one circular array that doubles when full and never
// shrinks. It replaces std::deque on the client's per-request paths
// (Pipeline's callbacks, a pooled link's awaited answers, the requests waiting for a link):
// libstdc++'s deque allocates and frees a 512-byte node every few elements as a queue slides
// forward, which at pipeline depth 16 was an allocation every few commands; a ring that has
// reached its working size allocates nothing.
//
// Thread rule: a value type; one thread at a time. Move-only.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

namespace tern {

template <class T>
class RingQueue {
 public:
  RingQueue() noexcept = default;
  RingQueue(RingQueue&& other) noexcept
      : slots_(std::move(other.slots_)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  RingQueue& operator=(RingQueue&& other) noexcept {
    if (this != &other) {
      clear();
      slots_ = std::move(other.slots_);
      capacity_ = std::exchange(other.capacity_, 0);
      head_ = std::exchange(other.head_, 0);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  ~RingQueue() { clear(); }

  bool empty() const noexcept { return size_ == 0; }
  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }

  // Not empty (else abort, like a deque's undefined behaviour made loud).
  T& front() noexcept { return at(0); }
  const T& front() const noexcept { return at(0); }
  T& back() noexcept { return at(size_ - 1); }
  const T& back() const noexcept { return at(size_ - 1); }
  // The element `index` places behind the front (0: the front); index < size().
  T& operator[](size_t index) noexcept { return at(index); }
  const T& operator[](size_t index) const noexcept { return at(index); }

  // Allocates only when full (the array doubles; elements are moved, in order).
  void push_back(T value) {
    if (size_ == capacity_) grow();
    ::new (static_cast<void*>(slot(size_))) T(std::move(value));
    ++size_;
  }
  // Before the current front: for an element popped and then found not ready to go (a held
  // operation that still has no room), which keeps its place. Allocates only when full.
  void push_front(T value) {
    if (size_ == capacity_) grow();
    // Built in the slot before the head first, so a throwing move leaves the queue as it was.
    size_t index = (head_ + capacity_ - 1) & (capacity_ - 1);
    ::new (static_cast<void*>(slots_[index].bytes)) T(std::move(value));
    head_ = index;
    ++size_;
  }
  void pop_front() noexcept {
    at(0).~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }
  void pop_back() noexcept {
    at(size_ - 1).~T();
    --size_;
  }
  // Destroys the elements, oldest first; keeps the array.
  void clear() noexcept {
    while (size_ > 0) pop_front();
    head_ = 0;
  }

  // Oldest first. An iterator is invalidated by any push or pop.
  template <class Q, class V>
  class Iterator {
   public:
    Iterator(Q* queue, size_t index) noexcept : queue_(queue), index_(index) {}
    V& operator*() const noexcept { return queue_->at(index_); }
    V* operator->() const noexcept { return &queue_->at(index_); }
    Iterator& operator++() noexcept {
      ++index_;
      return *this;
    }
    bool operator==(const Iterator& other) const noexcept { return index_ == other.index_; }

   private:
    Q* queue_;
    size_t index_;
  };
  using iterator = Iterator<RingQueue, T>;
  using const_iterator = Iterator<const RingQueue, const T>;
  iterator begin() noexcept { return iterator(this, 0); }
  iterator end() noexcept { return iterator(this, size_); }
  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  const_iterator end() const noexcept { return const_iterator(this, size_); }

 private:
  struct alignas(T) Slot {
    unsigned char bytes[sizeof(T)];
  };
  static constexpr size_t kFirstCapacity = 8;  // a power of two, as every capacity is

  T* slot(size_t index) const noexcept {
    return std::launder(reinterpret_cast<T*>(slots_[(head_ + index) & (capacity_ - 1)].bytes));
  }
  T& at(size_t index) const noexcept {
    if (index >= size_) std::abort();  // front()/back()/pop on an empty queue: a bug
    return *slot(index);
  }

  void grow() {
    size_t capacity = capacity_ == 0 ? kFirstCapacity : capacity_ * 2;
    auto slots = std::make_unique<Slot[]>(capacity);
    for (size_t i = 0; i < size_; ++i) {
      T* from = slot(i);
      ::new (static_cast<void*>(slots[i].bytes)) T(std::move(*from));
      from->~T();
    }
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<Slot[]> slots_;
  size_t capacity_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace tern
