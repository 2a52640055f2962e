// ResponseOrder<Response, Chunk>: the responses of one connection, put in any order (handlers
// on several workers finish when they finish) and taken in request order. A ring indexed by
// sequence number that grows to the connection's pipeline depth (at most its limit) and then
// stays, so nothing is allocated per request in steady state. Not thread-safe: the owner serialises (the connection's loop, or its mutex).
//
// A response may also be streamed: a head, chunks, an end. The stream first in line is
// emitted as its pieces arrive; a stream behind it keeps its pieces until it is first in line
// (its producer is told to wait: Session holds its when_writable callbacks until then).
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace tern {

template <class Response, class Chunk = Response>
class ResponseOrder {
  // A protocol without streaming has Chunk = void: chunk storage is then a dummy.
  using StoredChunk = std::conditional_t<std::is_void_v<Chunk>, char, Chunk>;

 public:
  // The ring starts with one entry and doubles when a connection pipelines deeper, up to the
  // limit: an idle connection (most of them, on a busy server) keeps one entry, not the limit.
  explicit ResponseOrder(size_t max_in_flight) : ring_(1), limit_(max_in_flight) {}

  // The sequence number the next request will get, and taking it. Call only when !full().
  uint64_t next_sequence() const noexcept { return next_; }
  uint64_t begin_request() {
    if (in_flight() == ring_.size()) grow();
    return next_++;
  }
  size_t in_flight() const noexcept { return static_cast<size_t>(next_ - written_); }
  bool full() const noexcept { return in_flight() >= limit_; }
  // True when `sequence` is first in line (its pieces go out as they come).
  bool first(uint64_t sequence) const noexcept { return sequence == written_; }
  bool in_flight(uint64_t sequence) const noexcept {
    return sequence >= written_ && sequence < next_;
  }

  // Emitters: emit.response(Response&) a whole response, emit.head(Response&) a stream's head,
  // emit.chunk(StoredChunk&), emit.end() a stream's end.
  // Each put returns false when the first in line went unanswered (nullopt): the connection
  // cannot answer in order any more and must close. A sequence not in flight is ignored.

  // For an owner that never streams: on_response(Response&) is the only emitter.
  template <class F>
    requires std::is_invocable_v<F&, Response&>
  bool put(uint64_t sequence, std::optional<Response>&& response, F&& on_response) {
    struct OnlyResponses {
      F& f;
      void response(Response& r) { f(r); }
      void head(Response&) {}
      void chunk(StoredChunk&) {}
      void end() {}
    } emit{on_response};
    return put(sequence, std::move(response), emit);
  }

  template <class Emit>
  bool put(uint64_t sequence, std::optional<Response>&& response, Emit& emit) {
    if (!in_flight(sequence)) return true;
    Entry& entry = at(sequence);
    entry.state = response ? State::answered : State::unanswered;
    if (response) entry.response = std::move(*response);
    return release(emit);
  }

  template <class Emit>
  bool begin_stream(uint64_t sequence, Response&& head, Emit& emit) {
    if (!in_flight(sequence)) return true;
    Entry& entry = at(sequence);
    entry.state = State::streaming;
    entry.response = std::move(head);
    return release(emit);
  }

  template <class Emit>
  void chunk(uint64_t sequence, StoredChunk&& chunk, Emit& emit) {
    if (!in_flight(sequence) || at(sequence).state != State::streaming) return;
    if (first(sequence)) {
      emit.chunk(chunk);
    } else {
      at(sequence).chunks.push_back(std::move(chunk));
    }
  }

  template <class Emit>
  bool end_stream(uint64_t sequence, Emit& emit) {
    if (!in_flight(sequence) || at(sequence).state != State::streaming) return true;
    at(sequence).ended = true;
    return release(emit);
  }

  // A stream dropped before its end: what it sent stays sent, and the connection must close
  // once it is first in line (false then), like an unanswered request.
  template <class Emit>
  bool abort_stream(uint64_t sequence, Emit& emit) {
    if (!in_flight(sequence) || at(sequence).state != State::streaming) return true;
    Entry& entry = at(sequence);
    entry.state = State::unanswered;
    if (!entry.emitted) entry.chunks.clear();
    entry.emitted = entry.ended = false;
    return release(emit);
  }

 private:
  enum class State : uint8_t { waiting, answered, unanswered, streaming };
  struct Entry {
    Response response{};
    std::vector<StoredChunk> chunks;  // a stream's pieces that came before it was first
    State state = State::waiting;
    bool emitted = false;  // a stream's head is out
    bool ended = false;
  };

  Entry& at(uint64_t sequence) noexcept { return ring_[sequence & (ring_.size() - 1)]; }

  // Emits what is now first in line, in order, as far as it can.
  template <class Emit>
  bool release(Emit& emit) {
    while (written_ != next_) {
      Entry& first = at(written_);
      if (first.state == State::waiting) break;
      if (first.state == State::unanswered) return false;
      if (first.state == State::streaming) {
        if (!first.emitted) {
          first.emitted = true;
          emit.head(first.response);
        }
        for (StoredChunk& c : first.chunks) emit.chunk(c);
        first.chunks.clear();
        if (!first.ended) break;  // its later pieces go out as they come
        first.emitted = first.ended = false;
        first.state = State::waiting;
        ++written_;
        emit.end();
        continue;
      }
      first.state = State::waiting;
      ++written_;
      emit.response(first.response);
    }
    return true;
  }

  // Twice the entries; the ones in flight move to their places in the new ring (positions
  // are sequence numbers modulo the ring's size).
  void grow() {
    std::vector<Entry> grown(ring_.size() * 2);
    for (uint64_t sequence = written_; sequence != next_; ++sequence) {
      grown[sequence & (grown.size() - 1)] = std::move(at(sequence));
    }
    ring_ = std::move(grown);
  }

  std::vector<Entry> ring_;  // a power of two entries, at most the limit rounded up
  size_t limit_;
  uint64_t next_ = 0;
  uint64_t written_ = 0;
};

}  // namespace tern
