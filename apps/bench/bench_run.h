// BenchRun: one run, driven from the main thread. It starts one ThreadDriver per thread on a
// tern LoopGroup, waits (bounded by --timeout) until the connections are open, moves the
// phases (warm-up, measured interval, drain; idle: hold), samples the live counters once a
// second (progress line, series), the server's CPU and memory (--pid), and stops early on
// SIGINT/SIGTERM. Every wait is bounded.
// Thread rule: the main thread; construct it before any other thread exists (it blocks
// SIGINT and SIGTERM to read them from a signalfd).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "run_result.h"

namespace tern::bench {

class BenchRun {
 public:
  explicit BenchRun(const BenchOptions& options);
  ~BenchRun();
  BenchRun(const BenchRun&) = delete;
  BenchRun& operator=(const BenchRun&) = delete;

  // Runs to the end. Returns false with `why` when the run could not start at all (the
  // backend refused); everything else is in `result`.
  bool run(RunResult& result, std::string& why);

 private:
  struct State;
  const BenchOptions& options_;
  std::unique_ptr<State> state_;
};

}  // namespace tern::bench
