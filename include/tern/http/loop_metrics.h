// http::LoopMetrics: the HTTP server's counters of one loop or lf thread (a shard). The
// protocol of every connection records into the shard of the thread it runs on, through a
// thread_local pointer the loop (or lf thread) sets when it starts, so a request costs a few
// plain increments, two clock reads and one histogram record: no shared atomics, and no
// allocation (a route's histogram is made the first time the route answers on that shard,
// once, and found by its label's number: route_label.h). With metrics off the protocol pays
// one thread-local load per request and reads no clock. Shards with the same labels add up in
// the snapshot.
//
//   ServerOptions options = ...;
//   metrics::Registry registry;
//   http::record_metrics(options, registry);    // before Server(options, ...)
//
// Which shard counts:
//   - a loop's (single, loops, hsha): read by the registry on its own loop at each scrape (a
//     loop source), so it takes no lock (Sharing::owner_thread);
//   - an lf thread's: lf threads are not loops, so a scrape reads the shard from the collecting
//     thread; the owner and the scrape take the shard's metrics::ShardLock (Sharing::locked),
//     which only they share;
//   - "elsewhere", one per server (locked): what is counted on a thread that has no shard of
//     its own, for a connection made where metrics are on. Under lf an async handler's reply
//     sent from a timer or pool thread writes its response on that thread; under hsha's
//     reactor pattern a worker parses, so a malformed request fails there.
//
// What is counted (families in docs/httpd.md):
//   tern_http_requests_total{class}             every response queued, by status class
//   tern_http_parse_errors_total{kind}          malformed requests, by the parser's error (a
//                                               body refused before 100 Continue is not one:
//                                               only its 503 counts, as a status class)
//   tern_http_deadline_closes_total             connections closed by a deadline (read,
//                                               idle or write)
//   tern_http_request_duration_seconds{route}   from the request parsed to its response
//                                               queued for writing; route: the router's
//                                               pattern, "unmatched" for its 404/405, and
//                                               "unrouted" for a handler without a router
//
// Thread rule: an owner_thread shard is touched only by its thread (created, recorded, filled,
// destroyed there); a locked shard is recorded and filled by any thread, and destroyed once
// its source is removed and no thread can record into it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/http/route_label.h"
#include "tern/metrics/histogram.h"
#include "tern/metrics/registry.h"
#include "tern/metrics/shard_lock.h"
#include "tern/patterns/server_options.h"

namespace tern::http {

class LoopMetrics {
 public:
  enum class Sharing {
    owner_thread,  // a loop's: recorded and filled on its thread only, no lock
    locked,        // recorded and filled under the shard's lock, from any thread
  };
  // `elsewhere`: the server's shard for counts made on threads without one (a locked one, it
  // outlives every connection made while this shard was its thread's); null: none.
  explicit LoopMetrics(Sharing sharing = Sharing::owner_thread, LoopMetrics* elsewhere = nullptr);

  // A response of `status` queued after `elapsed` (from its request parsed; negative: not
  // timed, as for the answer to a malformed request) for `route`. Allocates (once per route
  // and shard) the first time `route` answers into this shard. The shard's thread (a locked
  // shard: any thread).
  void count_response(int status, RouteLabel route, Duration elapsed) noexcept;
  // A malformed request (the parser's error). As count_response.
  void count_parse_error(std::error_code error) noexcept;
  // A connection closed by one of its deadlines. As count_response.
  void count_deadline_close() noexcept;

  // Adds this shard's series to `snapshot`. As count_response.
  void fill(metrics::Snapshot& snapshot) const;

  // Where the connections made on this shard's thread count what other threads do for them.
  // Any thread.
  LoopMetrics* elsewhere() const noexcept { return elsewhere_; }

 private:
  // Holds the shard's lock for one record or fill when the shard is locked.
  class Hold {
   public:
    explicit Hold(const LoopMetrics& shard) noexcept
        : lock_(shard.sharing_ == Sharing::locked ? &shard.lock_ : nullptr) {
      if (lock_ != nullptr) lock_->lock();
    }
    ~Hold() {
      if (lock_ != nullptr) lock_->unlock();
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    metrics::ShardLock* lock_;
  };

  // The histogram of `route`, made the first time (kept out of line: the rare path).
  [[gnu::noinline]] metrics::Histogram& durations(RouteLabel route);

  const Sharing sharing_;
  LoopMetrics* const elsewhere_;
  mutable metrics::ShardLock lock_;  // taken only by a locked shard

  static constexpr size_t kClasses = 6;  // 1xx .. 5xx, then anything else
  static constexpr size_t kParseKinds = 32;  // ParseError values; 0: not the parser's
  std::array<uint64_t, kClasses> responses_{};
  std::array<uint64_t, kParseKinds> parse_errors_{};
  uint64_t deadline_closes_ = 0;
  // By route label; empty for the labels that have not answered on this loop.
  std::vector<std::optional<metrics::Histogram>> routes_;
};

namespace detail {
// Set by set_loop_metrics(); constinit so that reading it is one load (no TLS wrapper call).
extern constinit thread_local LoopMetrics* t_loop_metrics;
}  // namespace detail

// The calling thread's shard, or null when it has none. Any thread (its own).
inline LoopMetrics* loop_metrics() noexcept { return detail::t_loop_metrics; }
// Sets the calling thread's shard (null: none). The loop's (or lf thread's) own thread, at its
// start and stop.
void set_loop_metrics(LoopMetrics* shard) noexcept;

// The short name of a parse error ("bad_request_line", ...), "other" for an error of another
// category. Any thread.
std::string_view parse_error_name(std::error_code error) noexcept;

// Makes `options`' server record HTTP metrics into `registry`: wraps on_loop_start and
// on_loop_stop (under lf: on_lf_thread_start and on_lf_thread_stop; the program's own hooks
// still run, after the shard is set and before it is removed) so that each loop (lf thread)
// creates its shard, sets it as the thread's and registers it (a loop source; an lf thread's:
// a plain source), and at its stop removes the source and destroys the shard on that thread.
// The server's "elsewhere" shard is registered while any of its loops or threads runs.
// `registry` must outlive the server. Main thread, before the Server is made.
void record_metrics(ServerOptions& options, metrics::Registry& registry);

}  // namespace tern::http
