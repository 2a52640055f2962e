#include "tern/http/loop_metrics.h"

#include <algorithm>
#include <memory>
#include <mutex>
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

LoopMetrics::LoopMetrics(Sharing sharing, LoopMetrics* elsewhere)
    : sharing_(sharing), elsewhere_(elsewhere) {
  routes_.reserve(16);
}

void LoopMetrics::count_response(int status, RouteLabel route, Duration elapsed) noexcept {
  Hold hold(*this);
  ++responses_[class_of(status)];
  if (elapsed < Duration::zero()) return;
  // The route's histogram by index, inline; a call only the first time it answers here.
  metrics::Histogram& histogram =
      route < routes_.size() && routes_[route] ? *routes_[route] : durations(route);
  histogram.record(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
}

void LoopMetrics::count_parse_error(std::error_code error) noexcept {
  Hold hold(*this);
  ++parse_errors_[parse_error_index(error)];
}

void LoopMetrics::count_deadline_close() noexcept {
  Hold hold(*this);
  ++deadline_closes_;
}

metrics::Histogram& LoopMetrics::durations(RouteLabel route) {
  if (route < routes_.size() && routes_[route]) return *routes_[route];
  // Once per route and loop: the histogram's memory (make_histogram's, ~16 KiB).
  if (route >= routes_.size()) routes_.resize(size_t(route) + 1);
  routes_[route] = metrics::make_histogram();
  return *routes_[route];
}

void LoopMetrics::fill(metrics::Snapshot& snapshot) const {
  Hold hold(*this);
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

namespace {

// One server's HTTP shards: shard i is loop i's (lf thread i's), made, set as the thread's and
// registered when that thread starts, removed and destroyed there when it stops; `elsewhere_`
// is registered while any of them runs. Shared by the hooks record_metrics installs, which
// keep it alive as long as the options that carry them (the Server's and its engine's), so
// `elsewhere_` outlives every connection that may count into it.
class ServerShards {
 public:
  ServerShards(metrics::Registry& registry, size_t threads)
      : registry_(registry), shards_(threads) {}

  // On thread `index`, as it starts. `loop`: a loop's shard, read on that loop; null: an lf
  // thread's, read by the collecting thread under the shard's lock.
  std::error_code start(size_t index, const EventLoop* loop) {
    if (index >= shards_.size()) return make_error_code(std::errc::invalid_argument);
    Shard& shard = shards_[index];
    const auto sharing =
        loop != nullptr ? LoopMetrics::Sharing::owner_thread : LoopMetrics::Sharing::locked;
    shard.counters = std::make_unique<LoopMetrics>(sharing, &elsewhere_);
    LoopMetrics* counters = shard.counters.get();
    set_loop_metrics(counters);
    auto fill = [counters](metrics::Snapshot& snapshot) { counters->fill(snapshot); };
    shard.source = loop != nullptr ? registry_.add_loop_source(loop->handle(), fill)
                                   : registry_.add_source(fill);
    std::lock_guard lock(mutex_);
    if (running_++ == 0) {
      elsewhere_source_ =
          registry_.add_source([this](metrics::Snapshot& snapshot) { elsewhere_.fill(snapshot); });
    }
    return {};
  }

  // On thread `index`, after its last request: no fill of its source runs once this returns.
  void stop(size_t index) {
    if (index >= shards_.size()) return;
    Shard& shard = shards_[index];
    registry_.remove(shard.source);
    set_loop_metrics(nullptr);
    shard.counters.reset();
    std::lock_guard lock(mutex_);
    if (--running_ == 0) registry_.remove(elsewhere_source_);
  }

 private:
  struct Shard {
    std::unique_ptr<LoopMetrics> counters;
    metrics::SourceId source = 0;
  };
  metrics::Registry& registry_;
  std::vector<Shard> shards_;  // element i: touched only by thread i
  LoopMetrics elsewhere_{LoopMetrics::Sharing::locked};
  std::mutex mutex_;  // guards the two below
  size_t running_ = 0;
  metrics::SourceId elsewhere_source_ = 0;
};

}  // namespace

void record_metrics(ServerOptions& options, metrics::Registry& registry) {
  size_t threads =
      options.model == Model::single ? 1 : static_cast<size_t>(std::max(options.threads, 1));
  auto shards = std::make_shared<ServerShards>(registry, threads);
  if (options.model == Model::lf) {
    options.on_lf_thread_start = [shards, start = std::move(options.on_lf_thread_start)](
                                     size_t index) {
      shards->start(index, nullptr);
      if (start) start(index);
    };
    options.on_lf_thread_stop = [shards, stop = std::move(options.on_lf_thread_stop)](
                                    size_t index) {
      if (stop) stop(index);
      shards->stop(index);
    };
    return;
  }
  options.on_loop_start = [shards, start = std::move(options.on_loop_start)](
                              size_t index, EventLoop& loop) -> std::error_code {
    if (auto error = shards->start(index, &loop)) return error;
    return start ? start(index, loop) : std::error_code();
  };
  options.on_loop_stop = [shards, stop = std::move(options.on_loop_stop)](size_t index,
                                                                        EventLoop& loop) {
    if (stop) stop(index, loop);
    shards->stop(index);
  };
}

}  // namespace tern::http
