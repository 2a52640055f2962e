// PooledLink<C, Callback>: one connection a PooledClient (pooled_client.h) holds: the pool's
// lease, the Pipeline<C> on it, the answers awaited there in the order their requests went, and
// what it may still carry (greeted, reusable, clean). Its state and the questions the client
// asks of it; the client decides what to do with the answers.
//
// Thread rule: loop thread only, like the client that owns it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>

#include "tern/base/clock.h"
#include "tern/base/ring_queue.h"
#include "tern/base/slab.h"
#include "tern/net/connection_pool.h"
#include "tern/protocol/pipeline.h"

namespace tern {

// An answer a link awaits, one per request sent on it. A group's callback sits on the entry of
// its next answer; `answers` counts that answer and the group's ones after it. An entry without
// a callback belongs to a group that already failed: its answer is dropped.
template <class Callback>
struct AwaitedAnswer {
  Callback callback;
  size_t answers = 1;
};

template <ClientProtocol C, class Callback>
struct PooledLink {
  typename Slab<PooledLink>::Key key;
  PooledConnection lease;  // before the pipeline: outlives it
  std::unique_ptr<Pipeline<C>> pipeline;
  RingQueue<AwaitedAnswer<Callback>> entries;  // in the order sent
  size_t greeting_left = 0;  // greeting answers still to come: carries nothing until 0
  bool reusable = true;      // may carry more requests and go back to the pool
  bool carried = false;      // has carried a request
  TimePoint idle_since{};    // when its last answer came (meaningful while nothing is out)

  // Whether `needed` more requests (one, or a group's) fit with at most `pipelining`
  // outstanding. A group larger than `pipelining` fits on a link with nothing outstanding.
  bool has_room(size_t needed, size_t pipelining) const noexcept {
    size_t out = entries.size();
    return out + needed <= pipelining || (out == 0 && needed > pipelining);
  }

  // Whether it may carry another request: greeted, reusable so far and not failed. A kept link
  // with nothing outstanding is first peeked at, as the pool does before it lends one, so that
  // a FIN or stray bytes the loop has not read yet are never answered with a new request. One
  // that fails the peek is marked not reusable (the client's next sweep gives it back).
  bool usable() noexcept {
    if (greeting_left > 0 || !reusable || pipeline->failed()) return false;
    if (!carried || !entries.empty()) return true;
    TcpConnection* connection = lease.get();
    if (connection == nullptr || connection->closing() || connection->input_pending()) {
      reusable = false;
      return false;
    }
    return true;
  }

  // Whether the pool may lend it again: reusable, not failed, nothing buffered after the last
  // answer.
  bool clean() const noexcept {
    return reusable && !pipeline->failed() && pipeline->buffered() == 0;
  }

  // Nothing outstanding and greeted: kept for the next request (or given back when quiet).
  bool idle() const noexcept { return entries.empty() && greeting_left == 0; }
};

// How often a client looks for links kept idle: half the pool's idle timeout, at most a second
// (at least a millisecond), so that a kept link is back in the pool (which times it out) well
// within the idle timeout the caller asked for.
inline Duration kept_link_sweep_period(Duration pool_idle_timeout) noexcept {
  constexpr Duration kMost = std::chrono::seconds(1);
  Duration half = pool_idle_timeout / 2;
  if (half <= Duration::zero() || half > kMost) return kMost;
  return std::max<Duration>(half, std::chrono::milliseconds(1));
}

}  // namespace tern
