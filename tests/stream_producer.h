// A producer that streams one response from a thread of its own, a chunk per when_writable
// callback (the backpressure a well-behaved producer uses), then ends it. Shared by the session
// tests and the aio stall tests, which both check that such a producer is held back by a slow
// reader and loses no byte.
//
// Thread rule: construct and destroy on the test thread (the destructor joins the producer's
// thread); produced() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "tern/tern.h"

namespace tern::test {

class StreamProducer {
 public:
  // Streams `chunks` x `chunk_size` bytes of `fill` after `head`. `on_chunk`, if given, runs
  // after each chunk is counted (on the thread that writes it).
  StreamProducer(Reply reply, std::string head, int chunks, size_t chunk_size, char fill,
                 std::function<void()> on_chunk = {})
      : stream_(std::move(reply).stream(std::move(head))), left_(chunks),
        chunk_(chunk_size, fill), on_chunk_(std::move(on_chunk)) {
    thread_ = std::thread([this] { next(true); });
  }
  ~StreamProducer() {
    if (thread_.joinable()) thread_.join();
  }
  StreamProducer(const StreamProducer&) = delete;
  StreamProducer& operator=(const StreamProducer&) = delete;

  uint64_t produced() const { return produced_.load(); }

 private:
  // On the producer's thread first, then on the connection's loop (the callback).
  void next(bool open) {
    if (!open) return;
    if (left_ == 0) {
      stream_.end();
      return;
    }
    --left_;
    produced_ += chunk_.size();
    if (on_chunk_) on_chunk_();
    stream_.write(chunk_);
    stream_.when_writable([this](bool still_open) { next(still_open); });
  }

  Reply::Stream stream_;
  int left_;
  std::string chunk_;
  std::function<void()> on_chunk_;
  std::atomic<uint64_t> produced_{0};
  std::thread thread_;
};

}  // namespace tern::test
