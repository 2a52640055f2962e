// ResponseOrder: the responses of one connection, put in any order (handlers on several
// workers finish when they finish) and taken in request order. A ring indexed by sequence
// number, sized to the connection's pipeline limit, so nothing is allocated per request.
// Not thread-safe: the owner serialises (the connection's loop, or its mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tern/patterns/handler.h"

namespace tern {

class ResponseOrder {
 public:
  explicit ResponseOrder(size_t max_in_flight) : ring_(round_up(max_in_flight)),
                                                 limit_(max_in_flight) {}

  // The sequence number the next request will get, and taking it. Call only when !full().
  uint64_t next_sequence() const noexcept { return next_; }
  uint64_t begin_request() noexcept { return next_++; }
  size_t in_flight() const noexcept { return static_cast<size_t>(next_ - written_); }
  bool full() const noexcept { return in_flight() >= limit_; }

  // Stores the response to `sequence`, then calls emit(Response&) for each response that is
  // now first in line. Returns false when the first in line went unanswered (nullopt): the
  // connection cannot answer in order any more and must close.
  template <class Emit>
  bool put(uint64_t sequence, std::optional<Response> response, Emit&& emit) {
    Entry& entry = ring_[sequence & (ring_.size() - 1)];
    entry.state = response ? State::answered : State::unanswered;
    if (response) entry.response = std::move(*response);
    while (written_ != next_) {
      Entry& first = ring_[written_ & (ring_.size() - 1)];
      if (first.state == State::waiting) break;
      if (first.state == State::unanswered) return false;
      emit(first.response);
      first.state = State::waiting;
      ++written_;
    }
    return true;
  }

 private:
  enum class State : uint8_t { waiting, answered, unanswered };
  struct Entry {
    Response response;
    State state = State::waiting;
  };
  static size_t round_up(size_t n) {
    size_t size = 1;
    while (size < n) size <<= 1;
    return size;
  }
  std::vector<Entry> ring_;
  size_t limit_;
  uint64_t next_ = 0;
  uint64_t written_ = 0;
};

}  // namespace tern
