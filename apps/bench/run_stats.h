// What one thread counts during a run, in plain fields (one writer: its loop thread), merged
// by the main thread once the threads have stopped. Nothing here is atomic: the live figures
// the main thread reads while the run goes on are in LiveCounters.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "tern/metrics/histogram.h"

namespace tern::bench {

struct ErrorCounts {
  uint64_t connect = 0;   // a connect attempt failed (refused, timed out, ...)
  uint64_t read = 0;      // a read failed (reset, ...)
  uint64_t write = 0;     // a write failed
  uint64_t timeout = 0;   // a reply took longer than --timeout
  uint64_t closed = 0;    // the server closed a connection (EOF, Connection: close)
  uint64_t mismatch = 0;  // an echoed byte differs from the one sent
  uint64_t parse = 0;     // an HTTP response tern's parser rejects
  uint64_t total() const noexcept {
    return connect + read + write + timeout + closed + mismatch + parse;
  }
  void add(const ErrorCounts& o) noexcept;
};

struct Totals {  // the whole run, warm-up included
  uint64_t requests_sent = 0;
  uint64_t replies = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t connects = 0;
  void add(const Totals& o) noexcept;
};

struct ThreadStats {
  metrics::Histogram latency;          // ns, replies completed in the measured interval
  metrics::Histogram connect_latency;  // ns, connrate and idle
  uint64_t measured_replies = 0;
  uint64_t measured_bytes_received = 0;
  std::array<uint64_t, 5> status{};    // 1xx..5xx, measured interval
  ErrorCounts errors;
  Totals totals;
  std::string first_error;             // the first failure's message, for the report
  // Idle mode.
  uint64_t open = 0;
  uint64_t closed_by_server = 0;

  void merge(const ThreadStats& o);
};

// Figures the main thread samples while the run goes on (progress line, series, whether any
// connection opened). The owner publishes them with relaxed stores once per callback, not per
// request (a plain store on x86), and always right before it reports ready or quiet: the
// report's release store (RunControl) then carries them, so a main thread that has seen the
// report (acquire) reads figures at least as new as the report.
struct LiveCounters {
  std::atomic<uint64_t> measured_replies{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> connects{0};  // connections ever opened (the target is reachable)
};

}  // namespace tern::bench
