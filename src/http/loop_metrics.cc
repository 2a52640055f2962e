#include "tern/http/loop_metrics.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "tern/http/parser.h"
#include "tern/loop/event_loop.h"

namespace tern::http {

constinit thread_local LoopMetrics* detail::t_loop_metrics = nullptr;

namespace {

constexpr std::string_view kClassNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

// By ParseError value (1-based); kept next to the enum's order in parser.h.
constexpr std::string_view kParseErrorNames[] = {
    "other",
    "bad_request_line",
    "bad_method",
    "bad_target",
    "target_too_long",
    "unsupported_version",
    "bad_version",
    "bare_lf",
    "bad_field_name",
    "bad_field_value",
    "obsolete_line_folding",
    "headers_too_large",
    "missing_host",
    "duplicate_host",
    "bad_content_length",
    "content_length_with_transfer_encoding",
    "unsupported_transfer_coding",
    "transfer_encoding_on_http10",
    "body_too_large",
    "bad_chunk",
    "chunk_line_too_long",
    "trailers_too_large",
    "bad_status_line",
    "bad_host",
    "truncated_message",
};
static_assert(std::size(kParseErrorNames) ==
              static_cast<size_t>(ParseError::truncated_message) + 1);

size_t parse_error_index(std::error_code error) noexcept {
  if (error.category() != parse_category()) return 0;
  auto value = static_cast<size_t>(error.value());
  return value < std::size(kParseErrorNames) ? value : 0;
}

size_t class_of(int status) noexcept {
  return status >= 100 && status < 600 ? static_cast<size_t>(status / 100 - 1) : 5;
}

}  // namespace

LoopMetrics::LoopMetrics() { routes_.reserve(16); }

void LoopMetrics::count_response(int status, RouteLabel route, Duration elapsed) noexcept {
  ++responses_[class_of(status)];
  if (elapsed < Duration::zero()) return;
  // The route's histogram by index, inline; a call only the first time it answers here.
  metrics::Histogram& histogram =
      route < routes_.size() && routes_[route] ? *routes_[route] : durations(route);
  histogram.record(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
}

void LoopMetrics::count_parse_error(std::error_code error) noexcept {
  ++parse_errors_[parse_error_index(error)];
}

metrics::Histogram& LoopMetrics::durations(RouteLabel route) {
  if (route < routes_.size() && routes_[route]) return *routes_[route];
  // Once per route and loop: the histogram's memory (make_histogram's, ~16 KiB).
  if (route >= routes_.size()) routes_.resize(size_t(route) + 1);
  routes_[route] = metrics::make_histogram();
  return *routes_[route];
}

void LoopMetrics::fill(metrics::Snapshot& snapshot) const {
  for (size_t i = 0; i < kClasses; ++i) {
    // The classes a client sees are always listed (a rate of 0 is a fact too); "other" only
    // when it happened.
    if (i == kClasses - 1 && responses_[i] == 0) continue;
    snapshot.add_counter("tern_http_requests_total", "HTTP responses queued, by status class",
                         {{"class", std::string(kClassNames[i])}},
                         static_cast<double>(responses_[i]));
  }
  for (size_t i = 0; i < std::size(kParseErrorNames); ++i) {
    if (parse_errors_[i] == 0) continue;
    snapshot.add_counter("tern_http_parse_errors_total",
                         "malformed HTTP requests, by the parser's error",
                         {{"kind", std::string(kParseErrorNames[i])}},
                         static_cast<double>(parse_errors_[i]));
  }
  snapshot.add_counter("tern_http_deadline_closes_total",
                       "HTTP connections closed by a deadline (read, idle or write)", {},
                       static_cast<double>(deadline_closes_));
  for (size_t label = 0; label < routes_.size(); ++label) {
    if (!routes_[label]) continue;
    snapshot.add_histogram("tern_http_request_duration_seconds",
                           "from a request parsed to its response queued for writing",
                           {{"route", route_label_name(static_cast<RouteLabel>(label))}},
                           *routes_[label]);
  }
}

void set_loop_metrics(LoopMetrics* shard) noexcept { detail::t_loop_metrics = shard; }

std::string_view parse_error_name(std::error_code error) noexcept {
  return kParseErrorNames[parse_error_index(error)];
}

void record_metrics(ServerOptions& options, metrics::Registry& registry) {
  // lf has no loops to keep a shard on (it refuses loop hooks): its requests go uncounted.
  if (options.model == Model::lf) return;
  // One slot per loop index, each touched only by its loop's thread.
  struct Shard {
    std::unique_ptr<LoopMetrics> counters;
    metrics::SourceId source = 0;
  };
  size_t loops =
      options.model == Model::single ? 1 : static_cast<size_t>(std::max(options.threads, 1));
  auto shards = std::make_shared<std::vector<Shard>>(loops);
  auto start = std::move(options.on_loop_start);
  auto stop = std::move(options.on_loop_stop);
  options.on_loop_start = [shards, start, &registry](size_t index,
                                                     EventLoop& loop) -> std::error_code {
    if (index >= shards->size()) return make_error_code(std::errc::invalid_argument);
    Shard& shard = (*shards)[index];
    shard.counters = std::make_unique<LoopMetrics>();
    LoopMetrics* counters = shard.counters.get();
    set_loop_metrics(counters);
    shard.source = registry.add_loop_source(
        loop.handle(), [counters](metrics::Snapshot& snapshot) { counters->fill(snapshot); });
    return start ? start(index, loop) : std::error_code();
  };
  options.on_loop_stop = [shards, stop, &registry](size_t index, EventLoop& loop) {
    if (stop) stop(index, loop);
    if (index >= shards->size()) return;
    Shard& shard = (*shards)[index];
    registry.remove(shard.source);
    set_loop_metrics(nullptr);
    shard.counters.reset();
  };
}

}  // namespace tern::http
