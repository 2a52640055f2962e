#include "progress_reporter.h"

#include <unistd.h>

#include <cstdio>

namespace tern::bench {

ProgressReporter::ProgressReporter(ProgressMode mode) {
  terminal_ = ::isatty(STDERR_FILENO) == 1;
  enabled_ = mode == ProgressMode::always || (mode == ProgressMode::auto_ && terminal_);
}

void ProgressReporter::update(const char* phase, double elapsed_s, double rate,
                              uint64_t errors, uint64_t open) {
  if (!enabled_) return;
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%-7s %7.1f s  %12.1f req/s  errors %llu  open %llu", phase,
                 elapsed_s, rate, static_cast<unsigned long long>(errors),
                 static_cast<unsigned long long>(open));
    line_open_ = true;
  } else {
    std::fprintf(stderr, "progress %s t=%.1f rate=%.1f errors=%llu open=%llu\n", phase,
                 elapsed_s, rate, static_cast<unsigned long long>(errors),
                 static_cast<unsigned long long>(open));
  }
  std::fflush(stderr);
}

void ProgressReporter::finish() {
  if (line_open_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    line_open_ = false;
  }
}

}  // namespace tern::bench
