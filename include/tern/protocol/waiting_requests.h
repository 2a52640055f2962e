// WaitingRequests<Request, Callback>: the requests a PooledClient (pooled_client.h) holds until
// a connection has room, oldest first. Each entry is one request, or a group to be sent back to
// back on one connection (Redis ASKING + command, MULTI ... EXEC), with one callback. The client
// bounds it (PooledClientOptions::max_queued).
//
// Thread rule: loop thread only, like the client that owns it.
#pragma once

#include <cstddef>
#include <system_error>
#include <utility>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/ring_queue.h"

namespace tern {

template <class Request, class Callback>
struct WaitingRequest {
  Request request;
  std::vector<Request> rest;  // the other requests of a group, in order
  Callback callback;
  TimePoint deadline = TimePoint::max();  // its answer's (Pipeline::send); max: none of its own
  size_t count() const noexcept { return 1 + rest.size(); }
};

template <class Request, class Callback>
class WaitingRequests {
 public:
  using Entry = WaitingRequest<Request, Callback>;

  bool empty() const noexcept { return queue_.empty(); }
  size_t size() const noexcept { return queue_.size(); }
  const Entry& front() const noexcept { return queue_.front(); }

  void push(Entry entry) { queue_.push_back(std::move(entry)); }
  // Removes and returns the oldest. Not empty.
  Entry pop() {
    Entry oldest = std::move(queue_.front());
    queue_.pop_front();
    return oldest;
  }

  // Fails entries, oldest first, until `keep` are left (the oldest are those a failed checkout
  // or greeting was started for). A callback may push more: they are counted as they come.
  void fail_beyond(size_t keep, std::error_code error) {
    while (queue_.size() > keep) pop().callback(error, nullptr);
  }

 private:
  RingQueue<Entry> queue_;
};

}  // namespace tern
