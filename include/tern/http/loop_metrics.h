// http::LoopMetrics: the HTTP server's counters of one loop (a shard). The protocol of every
// connection on that loop records into it through a thread_local pointer the loop sets when it
// starts, so a request costs a few plain increments, one clock read and one histogram record:
// no atomics, and no allocation (a route's histogram is made the first time the route
// answers on that loop, once). The registry reads the shard on its own loop at each scrape
// (a loop source), and shards of several loops with the same labels add up in the snapshot.
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
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/metrics/histogram.h"
#include "tern/metrics/registry.h"
#include "tern/patterns/server_options.h"

namespace tern::http {

// The route label of the router's own answers (no route for the path or the method), and of
// responses a handler made without a router.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";
inline constexpr std::string_view kUnroutedRoute = "unrouted";

class LoopMetrics {
 public:
  LoopMetrics();

  // Loop thread. A response of `status` queued after `elapsed` (from its request parsed;
  // negative: not timed, as for the answer to a malformed request) for `route`.
  void count_response(int status, std::string_view route, Duration elapsed) noexcept;
  // Loop thread. A malformed request (the parser's error).
  void count_parse_error(std::error_code error) noexcept;
  // Loop thread. A connection closed by one of its deadlines.
  void count_deadline_close() noexcept { ++deadline_closes_; }

  // Loop thread. Adds this shard's series to `snapshot`.
  void fill(metrics::Snapshot& snapshot) const;

 private:
  struct Route {
    std::string pattern;
    metrics::Histogram durations;
  };
  Route& route(std::string_view pattern);

  static constexpr size_t kClasses = 6;  // 1xx .. 5xx, then anything else
  static constexpr size_t kParseKinds = 32;  // ParseError values; 0: not the parser's
  std::array<uint64_t, kClasses> responses_{};
  std::array<uint64_t, kParseKinds> parse_errors_{};
  uint64_t deadline_closes_ = 0;
  std::vector<Route> routes_;  // tens at most: a scan, the last one hit first
  size_t last_route_ = 0;
};

// The calling thread's shard, or null when metrics are off there. Any thread (its own).
LoopMetrics* loop_metrics() noexcept;
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
