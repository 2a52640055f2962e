// http::LoopMetrics: the HTTP server's counters of one loop (a shard). The protocol of every
// connection on that loop records into it through a thread_local pointer the loop sets when it
// starts, so a request costs a few plain increments, two clock reads and one histogram record:
// no atomics, and no allocation (a route's histogram is made the first time the route
// answers on that loop, once, and found by its label's number: route_label.h). With metrics
// off the protocol pays one thread-local load per request and reads no clock. The registry
// reads the shard on its own loop at each scrape (a loop source), and shards of several loops
// with the same labels add up in the snapshot.
//
//   ServerOptions options = ...;
//   metrics::Registry registry;
//   http::record_metrics(options, registry);    // before Server(options, ...)
//
// What is counted (families in docs/httpd.md):
//   tern_http_requests_total{class}             every response queued, by status class
//   tern_http_parse_errors_total{kind}          malformed requests, by the parser's error
//   tern_http_deadline_closes_total             connections closed by a deadline (read,
//                                               idle or write)
//   tern_http_request_duration_seconds{route}   from the request parsed to its response
//                                               queued for writing; route: the router's
//                                               pattern, "unmatched" for its 404/405, and
//                                               "unrouted" for a handler without a router
//
// Thread rule: a shard is touched only by its loop's thread (created, recorded, filled,
// destroyed there).
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
#include "tern/patterns/server_options.h"

namespace tern::http {

class LoopMetrics {
 public:
  LoopMetrics();

  // Loop thread. A response of `status` queued after `elapsed` (from its request parsed;
  // negative: not timed, as for the answer to a malformed request) for `route`. Allocates
  // (once per route and loop) the first time `route` answers on this loop.
  void count_response(int status, RouteLabel route, Duration elapsed) noexcept;
  // Loop thread. A malformed request (the parser's error).
  void count_parse_error(std::error_code error) noexcept;
  // Loop thread. A connection closed by one of its deadlines.
  void count_deadline_close() noexcept { ++deadline_closes_; }

  // Loop thread. Adds this shard's series to `snapshot`.
  void fill(metrics::Snapshot& snapshot) const;

 private:
  // The histogram of `route`, made the first time (kept out of line: the rare path).
  [[gnu::noinline]] metrics::Histogram& durations(RouteLabel route);

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

// The calling thread's shard, or null when metrics are off there. Any thread (its own).
inline LoopMetrics* loop_metrics() noexcept { return detail::t_loop_metrics; }
// Sets the calling thread's shard (null: off). The loop's thread, at its start and stop.
void set_loop_metrics(LoopMetrics* shard) noexcept;

// The short name of a parse error ("bad_request_line", ...), "other" for an error of another
// category. Any thread.
std::string_view parse_error_name(std::error_code error) noexcept;

// Makes `options`' loops record HTTP metrics into `registry`: wraps on_loop_start and
// on_loop_stop (the program's own hooks still run, after the shard is set and before it is
// removed) so that each loop creates its shard, sets it as the thread's and registers it as a
// loop source, and at loop stop removes the source and destroys the shard on that thread.
// `registry` must outlive the server. Main thread, before the Server is made.
void record_metrics(ServerOptions& options, metrics::Registry& registry);

}  // namespace tern::http
