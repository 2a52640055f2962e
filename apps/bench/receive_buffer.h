// ReceiveBuffer: the bytes one benchmark connection has read and its exchange has not consumed
// yet, in memory of the exchange's own (Exchange::reads_into_own_buffer), so that a parser
// (HTTP, RESP) reads replies in place. Reads land at the end (space, then commit); the parser
// consumes from the front; the unconsumed bytes move to the front only when more than half of
// the buffer is consumed, or when a read finds no room. Parsers that keep offsets from a
// message's first byte (tern's HTTP and RESP parsers do) stay valid across such a move.
//
// Thread rule: the loop thread of its connection.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace tern::bench {

class ReceiveBuffer {
 public:
  // largest_message: the buffer grows to hold a message up to this size, no further.
  explicit ReceiveBuffer(size_t largest_message) : largest_(largest_message) {}

  // Where the next read may write: at least one byte unless a message larger than
  // largest_message fills the whole buffer (the parser then reports it as too large).
  std::span<std::byte> space() {
    if (bytes_.empty()) bytes_.resize(kInitial);  // on the first read: an idle connection costs none
    if (end_ == bytes_.size()) {
      if (begin_ > 0) {
        compact();
      } else if (bytes_.size() < largest_ + kInitial) {
        bytes_.resize(bytes_.size() * 2);  // a message larger than the buffer: grow
      }
    }
    return {bytes_.data() + end_, bytes_.size() - end_};
  }
  // `n` bytes were read into space().
  void commit(size_t n) noexcept { end_ += n; }

  std::string_view pending() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()) + begin_, end_ - begin_};
  }
  bool empty() const noexcept { return end_ == begin_; }
  void consume(size_t n) noexcept { begin_ += n; }
  // After a round of consuming: rewinds an empty buffer, moves a mostly consumed one.
  void settle() noexcept {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ >= bytes_.size() / 2) {
      compact();
    }
  }
  void clear() noexcept { begin_ = end_ = 0; }

 private:
  static constexpr size_t kInitial = 4 * 1024;  // grows when a read fills it

  void compact() noexcept {
    std::memmove(bytes_.data(), bytes_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }

  size_t largest_;
  std::vector<std::byte> bytes_;  // [begin_, end_) received, not yet consumed
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tern::bench
