// PooledClient<C, Policy>: the link logic of a client of one upstream from one loop, generic
// over the client protocol C (a Pipeline<C> protocol: HTTP, RESP) and a Policy that says what
// the protocol's messages mean. http::Client and redis::Client are thin classes over it, so
// there is one copy of it.
//
// Requests wait in order in a bounded queue; they go on a connection already lent that has
// room (fewer than `pipelining` outstanding and reusable so far), else wait for a checkout from
// the ConnectionPool (one checkout per `pipelining` waiting requests: an idle connection first,
// else a new one). A lent connection with nothing outstanding is kept, its pipeline reading,
// for the next request (a checkout and a new pipeline per request cost a proxy a quarter of its
// instructions); before it carries another request after a quiet spell it is peeked at for a
// FIN or stray bytes, as the pool does. It goes back to the pool once idle for a sweep period
// (half the pool's idle timeout, at most a second), or on close(). It is closed instead after
// an answer or a request that ends it (the policy says), any error, or bytes it received that
// no request asked for.
//
// The Policy is a member object (it may hold state, such as the greeting's commands). It has:
//
//   struct Policy {
//     // False: this answer ends the connection (HTTP: no keep-alive; Redis: never).
//     bool keeps_connection(const Response& answer) const;
//     // True: the connection carries nothing after this request (HTTP: Connection: close).
//     bool asks_close(const Request& request) const;
//     // An answer that is a failure in the protocol's terms (a Redis error reply): its error,
//     // which the callback gets together with the answer. None: a success.
//     std::error_code answer_error(const Response& answer) const;
//     // The errors callers see: of a checkout (pool_errc, the connect's errors), of the
//     // pipeline (tern::errc::eof, timed_out, operation_canceled: the connection was dropped
//     // under a sent request, a reset, a parse error), closed, queue_full.
//     std::error_code checkout_error(std::error_code error) const;
//     std::error_code transport_error(std::error_code error) const;
//     std::error_code closed_error() const;
//     std::error_code queue_full_error() const;
//     // Requests sent first on every new connection (Redis: HELLO, AUTH, SELECT); empty:
//     // none. A connection the pool lends again (PooledConnection::reused) was greeted.
//     std::vector<Request> greeting() const;
//     // Judges greeting answer `index` (or the error that ended the connection meanwhile,
//     // `answer` null). An error fails the greeting: the connection closes and the requests
//     // waiting for it fail with that error. Requests go on a connection only once every
//     // greeting answer passed.
//     std::error_code greeting_answer(size_t index, std::error_code error,
//                                     const Response* answer) const;
//   };
//
// request_group() places several requests back to back on ONE connection (Redis ASKING +
// command, MULTI ... EXEC) with one callback: the last answer's, or the first failure's (an
// error answer or a transport error, given at once; the later answers are dropped).
//
// A request may carry a deadline of its own (an absolute time, for a caller that spent part of
// its budget before it asked: a Redis store operation held for room): its answer must come by
// then as well as within response_timeout (Pipeline::send), or it fails with
// transport_error(timed_out) and, as a missed response_timeout does, fails its connection. A
// request whose deadline passed while it waited for a connection fails the same way, alone and
// without being sent. The time it waits for a connection is the pool's (wait_timeout).
//
// A callback runs exactly once: before request() returns when the request is refused at once
// (queue_full, closed, a checkout refused at once), otherwise later on the loop. It may call
// request() and close(), not destroy the client. With pipelining > 1 the requests on one
// connection share its fate: a failure fails every request sent on it.
//
// The parts, one file each: PooledClientOptions (pooled_client_options.h), a connection held
// with its pipeline and awaited answers (PooledLink, pooled_link.h), the requests and groups
// waiting for a connection (WaitingRequests, waiting_requests.h). This header includes them
// all: users include it alone.
//
// Thread rule: loop thread only, like the pool and the connections under it; construct, use
// and destroy it on its loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/slab.h"
#include "tern/base/unique_function.h"
#include "tern/loop/event_loop.h"
#include "tern/net/connection_pool.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/pipeline.h"
#include "tern/protocol/pooled_client_options.h"
#include "tern/protocol/pooled_link.h"
#include "tern/protocol/waiting_requests.h"

namespace tern {

template <ClientProtocol C, class Policy>
class PooledClient {
 public:
  using Request = typename C::Request;
  using Response = typename C::Response;
  // `answer` is null when the request failed without one; with the policy's answer_error it is
  // given. Views in it are valid during the call only.
  using Callback = UniqueFunction<void(std::error_code error, const Response* answer)>;

  // Loop thread only. Connects nothing until the first request.
  PooledClient(EventLoop& loop, InetAddress upstream, PooledClientOptions options,
               typename C::Options protocol_options, Policy policy = {})
      : loop_(loop),
        options_(std::move(options)),
        protocol_options_(std::move(protocol_options)),
        policy_(std::move(policy)),
        pool_(loop, upstream, options_.pool) {
    if (options_.pipelining == 0) options_.pipelining = 1;
  }

  // Loop thread only. Requests waiting fail with closed_error(), those sent with
  // transport_error(operation_canceled) (their callbacks run here and must not use the
  // client); connections close.
  ~PooledClient() {
    destroying_ = true;
    closed_ = true;
    if (sweep_timer_.valid()) loop_.cancel(sweep_timer_);
    queue_.fail_beyond(0, policy_.closed_error());
    // Each pipeline fails what waits on it while its link is still there to find the
    // callbacks; the link, and with it the lease, goes after.
    std::vector<typename Slab<Link>::Key> keys;
    links_.for_each([&](Link& link) { keys.push_back(link.key); });
    for (auto key : keys) {
      if (Link* link = links_.find(key.slot, key.generation)) link->pipeline.reset();
      auto link = links_.erase(key.slot, key.generation);
      if (link) link->lease.mark_broken();  // its state is unknown: never lent again
    }
  }
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;

  // Why a request would be refused now (closed, queue_full), or none. Loop thread only.
  std::error_code refusal() const noexcept {
    if (closed_) return policy_.closed_error();
    if (queue_.size() >= options_.max_queued) return policy_.queue_full_error();
    return {};
  }

  // Sends `request`; `done` runs exactly once with its answer or its error. `deadline`: its
  // answer's, besides response_timeout (TimePoint::max(): none of its own). Loop thread only.
  void request(Request request, Callback done, TimePoint deadline = TimePoint::max()) {
    loop_.assert_in_loop_thread("PooledClient::request");
    if (auto refused = refusal()) {
      done(refused, nullptr);
      return;
    }
    queue_.push(Queued{std::move(request), {}, std::move(done), deadline});
    dispatch();
  }

  // Sends `requests` back to back on one connection; `done` runs exactly once, with the last
  // answer or the first failure. `deadline`: as request()'s, for each answer. An empty group is
  // refused with invalid_argument. Loop thread only.
  void request_group(std::vector<Request> requests, Callback done,
                     TimePoint deadline = TimePoint::max()) {
    loop_.assert_in_loop_thread("PooledClient::request_group");
    std::error_code refused = refusal();
    if (!refused && requests.empty()) refused = make_error_code(errc::invalid_argument);
    if (refused) {
      done(refused, nullptr);
      return;
    }
    Request first = std::move(requests.front());
    requests.erase(requests.begin());
    queue_.push(Queued{std::move(first), std::move(requests), std::move(done), deadline});
    dispatch();
  }

  // Refuses new requests and fails those still waiting for a connection (closed_error());
  // those already sent finish, then their connections close. `on_closed` runs on the loop
  // once every connection is gone (the client may be destroyed from it). Loop thread only.
  void close(std::function<void()> on_closed = {}) {
    loop_.assert_in_loop_thread("PooledClient::close");
    closed_ = true;
    queue_.fail_beyond(0, policy_.closed_error());
    release_idle(TimePoint::max());  // kept and greeting links go back now: the pool closes them
    if (sweep_timer_.valid()) loop_.cancel(sweep_timer_);
    sweep_timer_ = TimerId{};
    pool_.close(std::move(on_closed));
  }
  bool closed() const noexcept { return closed_; }

  // --- about (loop thread only)
  const InetAddress& upstream() const noexcept { return pool_.upstream(); }
  const PooledClientOptions& options() const noexcept { return options_; }
  size_t outstanding() const noexcept { return outstanding_; }  // sent, callback not run yet
  size_t queued() const noexcept { return queue_.size(); }      // waiting for a connection
  size_t connections_in_use() const noexcept { return links_.size(); }
  // The pool's counters, with `reuses` counting both the checkouts of a used connection and
  // the requests sent on a connection kept from an earlier one: reuse_ratio() is the share of
  // requests that needed no new connection.
  PoolCounters counters() const noexcept {
    PoolCounters counters = pool_.counters();
    counters.reuses += kept_reuses_;
    return counters;
  }
  const PoolHealth& health() const noexcept { return pool_.health(); }
  ConnectionPool& pool() noexcept { return pool_; }
  const Policy& policy() const noexcept { return policy_; }

 private:
  using Entry = AwaitedAnswer<Callback>;
  using Link = PooledLink<C, Callback>;
  using Queued = WaitingRequest<Request, Callback>;

  // Places waiting requests, oldest first, on connections with room, then asks the pool for as
  // many connections as the rest need. Callbacks it runs (a failed send, a checkout answered
  // at once) may call back into it: the nested call only asks this one to look again.
  void dispatch() {
    if (destroying_) return;
    if (dispatching_) {
      redispatch_ = true;
      return;
    }
    dispatching_ = true;
    do {
      redispatch_ = false;
      while (!queue_.empty()) {
        auto key = link_with_room(queue_.front().count());
        if (!key) break;
        send_on(*key, queue_.pop());
      }
      start_checkouts();
    } while (redispatch_);
    dispatching_ = false;
  }

  // A linear scan: a client holds at most pool.max_connections links.
  std::optional<typename Slab<Link>::Key> link_with_room(size_t needed) {
    std::optional<typename Slab<Link>::Key> found;
    links_.for_each([&](Link& link) {
      if (found) return;
      if (link.has_room(needed, options_.pipelining) && link.usable()) found = link.key;
    });
    return found;
  }

  void send_on(typename Slab<Link>::Key key, Queued queued) {
    if (queued.deadline != TimePoint::max() && queued.deadline <= loop_.now()) {
      // Too late to be answered in time: fails alone, and the connection stays.
      queued.callback(policy_.transport_error(std::make_error_code(std::errc::timed_out)),
                      nullptr);
      return;
    }
    Link* link = links_.find(key.slot, key.generation);
    if (link->carried) ++kept_reuses_;
    link->carried = true;
    ++outstanding_;
    link->entries.push_back(Entry{std::move(queued.callback), queued.count()});
    if (!send_one(key, std::move(queued.request), queued.deadline)) return;
    for (Request& next : queued.rest) {
      if (links_.find(key.slot, key.generation) == nullptr) return;  // failed and released
      links_.find(key.slot, key.generation)->entries.push_back(Entry{});
      if (!send_one(key, std::move(next), queued.deadline)) return;
    }
  }

  // Sends the request whose entry is the link's last; false when the link can carry no more
  // (its callbacks have run with the failure, or run now with the refusal).
  bool send_one(typename Slab<Link>::Key key, Request request, TimePoint deadline) {
    Link* link = links_.find(key.slot, key.generation);
    if (policy_.asks_close(request)) link->reusable = false;
    // The link has room (enforced above; the pipeline's own bound is out of the way) and did
    // not fail. The send may fail the connection at once and run the callbacks, this one
    // included.
    auto refused = link->pipeline->send(
        std::move(request),
        [this, key](std::error_code error, const Response* answer) {
          on_answer(key, error, answer);
        },
        deadline);
    if (!refused) return !link_failed(key);
    Entry entry = std::move(link->entries.back());  // not expected; the callback still runs
    link->entries.pop_back();
    if (entry.callback) {
      --outstanding_;
      entry.callback(policy_.transport_error(refused), nullptr);
    }
    return false;
  }

  bool link_failed(typename Slab<Link>::Key key) const noexcept {
    Link* link = links_.find(key.slot, key.generation);
    return link == nullptr || link->pipeline->failed();
  }

  // One checkout per `pipelining` waiting requests not yet covered by a checkout in flight or a
  // connection being greeted.
  void start_checkouts() {
    while (!closed_ && pending_ * options_.pipelining < queue_.size()) {
      ++pending_;
      pool_.checkout([this](Result<PooledConnection> lease) { on_checkout(std::move(lease)); });
      if (redispatch_) return;  // answered at once with a connection: place requests on it first
    }
  }

  void on_checkout(Result<PooledConnection> lease) {
    if (!lease) {
      --pending_;
      // The requests this checkout was for fail; those the other checkouts cover wait on.
      queue_.fail_beyond(pending_ * options_.pipelining, policy_.checkout_error(lease.error()));
      return;
    }
    if (queue_.empty() || closed_ || destroying_) {  // the lease goes back unused
      --pending_;
      return;
    }
    bool greeted = lease.value().reused();
    auto link = std::make_unique<Link>();
    link->lease = std::move(lease.value());
    link->pipeline = std::make_unique<Pipeline<C>>(
        *link->lease, protocol_options_,
        PipelineOptions{std::numeric_limits<size_t>::max(), options_.response_timeout});
    Link& placed = *link;
    auto key = links_.insert(std::move(link));
    placed.key = key;
    placed.lease->on_close([this, key](TcpConnection&) { on_link_closed(key); });
    std::vector<Request> greeting;
    if (!greeted) greeting = policy_.greeting();
    if (greeting.empty()) {
      --pending_;
      dispatch();
      return;
    }
    placed.greeting_left = greeting.size();  // pending_ still counts it until it is greeted
    for (size_t index = 0; index < greeting.size(); ++index) {
      Link* current = links_.find(key.slot, key.generation);
      if (current == nullptr || current->pipeline->failed()) return;  // failed: handled there
      auto refused = current->pipeline->send(
          std::move(greeting[index]),
          [this, key, index](std::error_code error, const Response* answer) {
            on_greeting_answer(key, index, error, answer);
          });
      if (refused) {
        on_greeting_answer(key, index, refused, nullptr);
        return;
      }
    }
  }

  void on_greeting_answer(typename Slab<Link>::Key key, size_t index, std::error_code error,
                          const Response* answer) {
    if (destroying_) return;
    Link* link = links_.find(key.slot, key.generation);
    if (link == nullptr || link->greeting_left == 0) return;  // failed before, or released
    if (auto failure = policy_.greeting_answer(index, error, answer)) {
      link->reusable = false;
      release(key);  // counts it out of pending_
      // The requests this connection was for fail; those the other checkouts cover wait on.
      queue_.fail_beyond(pending_ * options_.pipelining, failure);
      return;
    }
    if (--link->greeting_left > 0) return;
    --pending_;
    dispatch();
  }

  void on_answer(typename Slab<Link>::Key key, std::error_code error, const Response* answer) {
    Link* link = links_.find(key.slot, key.generation);
    if (link == nullptr || link->entries.empty()) return;  // cannot happen: one answer per send
    Entry entry = std::move(link->entries.front());
    link->entries.pop_front();
    if (error || !policy_.keeps_connection(*answer)) link->reusable = false;
    // Bytes after the last answer that no request asked for: a request sent now would be
    // matched to them. (No pipeline while it is being destroyed: it fails what waits from its
    // destructor.)
    if (link->entries.empty() && link->pipeline && link->pipeline->buffered() > 0) {
      link->reusable = false;
    }
    if (entry.callback) {
      std::error_code failure = error ? policy_.transport_error(error)
                                      : policy_.answer_error(*answer);
      if (entry.answers > 1 && !failure && !link->entries.empty()) {
        // A group's answer before its last: the callback moves on to the next one.
        link->entries.front().callback = std::move(entry.callback);
        link->entries.front().answers = entry.answers - 1;
        return;
      }
      --outstanding_;
      entry.callback(failure, error ? nullptr : answer);
    }
    if (destroying_) return;
    dispatch();  // the answer may have made room here
    settle(key);
  }

  // The connection closed under the link (a write error closes it without its reader hearing):
  // what waits on it fails now, while the connection is still there, and never later from the
  // pipeline's response deadline on a connection the pool has freed.
  void on_link_closed(typename Slab<Link>::Key key) {
    Link* link = links_.find(key.slot, key.generation);
    if (link == nullptr || !link->pipeline || link->pipeline->failed()) return;
    link->pipeline->connection_closed();  // its callbacks may release the link
  }

  // A link with nothing outstanding stays, its pipeline reading, for the next request while it
  // is clean and the client open (the sweep gives it back to the pool once it has been quiet);
  // otherwise it goes back now, to be closed.
  void settle(typename Slab<Link>::Key key) {
    Link* link = links_.find(key.slot, key.generation);
    if (link == nullptr || !link->idle()) return;
    if (!link->clean() || closed_) {
      release(key);
      return;
    }
    link->idle_since = loop_.now();
    arm_sweep();
  }

  // Gives the link back to the pool: to its idle list when clean, closed otherwise. A link
  // still greeting is counted out of pending_.
  void release(typename Slab<Link>::Key key) {
    auto owned = links_.erase(key.slot, key.generation);
    if (!owned) return;
    if (owned->greeting_left > 0) {
      owned->greeting_left = 0;
      owned->reusable = false;  // greeted halfway: never lent as greeted
      --pending_;
    }
    bool is_clean = owned->clean();
    owned->pipeline.reset();  // stops reading: the pool reads an idle connection itself
    if (!is_clean) owned->lease.mark_broken();
  }

  // Gives back every link with nothing outstanding that went quiet before `idle_before`, and
  // every one that can carry nothing more; links being greeted only when closing
  // (`idle_before` is the end of time).
  void release_idle(TimePoint idle_before) {
    std::vector<typename Slab<Link>::Key> quiet;
    bool closing = idle_before == TimePoint::max();
    links_.for_each([&](Link& link) {
      if (!link.entries.empty()) return;
      if (link.greeting_left > 0) {
        if (closing) quiet.push_back(link.key);
        return;
      }
      bool spent = !link.reusable || link.pipeline->failed();
      if (spent || link.idle_since < idle_before) quiet.push_back(link.key);
    });
    for (auto key : quiet) release(key);
  }

  void arm_sweep() {
    if (sweep_timer_.valid()) return;
    sweep_timer_ = loop_.run_after(sweep_period(), [this] {
      sweep_timer_ = TimerId{};
      release_idle(loop_.now() - sweep_period());
      bool kept = false;
      links_.for_each([&](Link& link) { kept = kept || link.idle(); });
      if (kept) arm_sweep();
    });
  }

  Duration sweep_period() const noexcept {
    return kept_link_sweep_period(options_.pool.idle_timeout);
  }

  EventLoop& loop_;
  PooledClientOptions options_;
  typename C::Options protocol_options_;
  Policy policy_;
  ConnectionPool pool_;  // before links_: outlives the leases
  Slab<Link> links_;
  WaitingRequests<Request, Callback> queue_;  // waiting for a connection, oldest first
  size_t pending_ = 0;        // checkouts not answered yet, plus links still being greeted
  size_t outstanding_ = 0;
  uint64_t kept_reuses_ = 0;  // requests sent on a link kept from an earlier request
  TimerId sweep_timer_;       // gives links idle for a sweep period back to the pool
  bool dispatching_ = false;  // dispatch() is running: a nested call asks it to look again
  bool redispatch_ = false;
  bool closed_ = false;
  bool destroying_ = false;
};

}  // namespace tern
