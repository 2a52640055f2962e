// SmallBytes<N>: an append-only byte string that keeps up to N bytes inside itself and moves to
// the heap only beyond that. redis::Command keeps its encoded arguments in one: a command is
// copied per call by callers that build it once (Client::command takes it by value), and most
// commands ("GET key", "SET key small-value") are 30-60 bytes, past std::string's 15-byte small
// buffer: the copy was a malloc and a free per command sent. Its inline bytes are copied whole
// (a fixed size the compiler turns into a few moves): a std::string member instead cost a
// memcpy call per move, more than the allocation saved, as a command is moved about six times
// on its way to the socket.
//
// Thread rule: a value type; one thread at a time, const methods from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace tern {

template <size_t N>
class SmallBytes {
 public:
  SmallBytes() noexcept = default;
  SmallBytes(const SmallBytes& other) : size_(other.size_) {
    if (other.heap_) {
      heap_ = std::make_unique_for_overwrite<char[]>(size_);
      capacity_ = size_;
      std::memcpy(heap_.get(), other.heap_.get(), size_);
    } else {
      std::memcpy(inline_, other.inline_, N);
    }
  }
  SmallBytes(SmallBytes&& other) noexcept
      : heap_(std::move(other.heap_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {
    if (!heap_) std::memcpy(inline_, other.inline_, N);
  }
  SmallBytes& operator=(const SmallBytes& other) {
    if (this != &other) *this = SmallBytes(other);
    return *this;
  }
  SmallBytes& operator=(SmallBytes&& other) noexcept {
    if (this != &other) {
      heap_ = std::move(other.heap_);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
      if (!heap_) std::memcpy(inline_, other.inline_, N);
    }
    return *this;
  }
  ~SmallBytes() = default;

  void append(std::string_view bytes) {
    if (bytes.empty()) return;  // memcpy from a null data() is undefined
    size_t needed = size_ + bytes.size();
    if (needed > (heap_ ? capacity_ : N)) grow(needed);
    std::memcpy(data() + size_, bytes.data(), bytes.size());
    size_ = needed;
  }
  void append(char byte) { append(std::string_view(&byte, 1)); }

  std::string_view view() const noexcept { return std::string_view(data(), size_); }
  size_t size() const noexcept { return size_; }
  bool spilled() const noexcept { return heap_ != nullptr; }  // beyond N bytes: on the heap

 private:
  char* data() noexcept { return heap_ ? heap_.get() : inline_; }
  const char* data() const noexcept { return heap_ ? heap_.get() : inline_; }

  void grow(size_t needed) {
    size_t capacity = std::max(needed, 2 * (heap_ ? capacity_ : N));
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    std::memcpy(bigger.get(), data(), size_);
    heap_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> heap_;  // the bytes once past N; empty until then
  size_t size_ = 0;
  size_t capacity_ = 0;  // of heap_
  char inline_[N] = {};  // initialised: copies and moves take all N bytes
};

}  // namespace tern
