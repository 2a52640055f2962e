// Exposition: a Snapshot rendered for readers outside the process, in Prometheus' text format
// (GET /metrics) and as JSON (GET /metrics.json, which the status page reads).
//
// Histograms are exported on fixed bucket bounds (bucket_bounds), the same in both formats and
// in every scrape, so a reader can subtract two scrapes' cumulative counts to get what was
// recorded between them. Counts at a bound come from the histogram's own buckets, so they
// carry its 1 % relative error.
//
// Thread rule: pure functions; any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "tern/metrics/snapshot.h"

namespace tern::metrics {

// Prometheus text exposition format 0.0.4: "# HELP", "# TYPE", one line per sample; label
// values escaped (\\ \" \n); histograms as _bucket{le="..."} cumulative on the fixed bounds
// below plus le="+Inf", then _sum and _count. Content type: text/plain; version=0.0.4
std::string to_prometheus(const Snapshot& snapshot);
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// The fixed bucket bounds of the text format, in exported units: for nanoseconds_as_seconds
// 1-2.5-5 steps from 1e-6 s to 10 s (22 bounds); for plain 1-2-5 steps from 1 to 100000.
std::span<const double> bucket_bounds(Unit unit) noexcept;

// The JSON document of GET /metrics.json (the status page reads it):
// {"time": <unix seconds, double>, "program": "<name>", "families": [
//   {"name": "...", "type": "counter|gauge|histogram", "help": "...", "series": [
//      {"labels": {"loop": "0"}, "value": 12}                                 // counter, gauge
//      {"labels": {...}, "count": N, "sum": S, "p50": x, "p90": x, "p99": x, "max": x,
//       "buckets": [[upper_bound, cumulative_count], ...]}                   // histogram
//   ], "total": {same fields as a histogram series, over every series}}      // histograms only
// ]}
// Histogram values in exported units (seconds for nanoseconds_as_seconds). "buckets" are the
// same fixed bounds as the text format (so a reader can subtract two documents' buckets to get
// the values recorded between them), the last entry ["+Inf", count].
std::string to_json(const Snapshot& snapshot, std::string_view program, double unix_time);

}  // namespace tern::metrics
