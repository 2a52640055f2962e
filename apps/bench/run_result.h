// RunResult: everything one run measured, merged over the threads: what the report prints.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "run_stats.h"

namespace tern::bench {

struct SeriesPoint {
  double t = 0;        // seconds since the measured interval started (end of this slice)
  uint64_t requests = 0;
  uint64_t errors = 0;
};

struct ServerUsage {
  int pid = 0;
  double cpu_s = 0;  // over the measured interval
  bool gone = false; // the process was not there to sample
};

struct IdleResult {
  uint64_t rss_before_kib = 0;
  uint64_t rss_after_kib = 0;  // once every connection is open (and answered)
  uint64_t open_at_sample = 0; // connections open when rss_after_kib was read
};

struct RunResult {
  ThreadStats stats;
  double duration_s = 0;
  std::vector<SeriesPoint> series;
  std::optional<ServerUsage> server;
  std::optional<IdleResult> idle;
  bool unreachable = false;   // no connection could be opened
  bool interrupted = false;   // SIGINT/SIGTERM stopped the run early
  bool stalled = false;       // --duration 0: replies stopped coming
};

}  // namespace tern::bench
