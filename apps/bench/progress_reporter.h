// ProgressReporter: the live line on stderr. On a terminal (--progress auto or always) one
// line rewritten in place; not on a terminal, with --progress always, one plain line a second;
// otherwise nothing. Thread rule: the main thread.
#pragma once

#include <cstdint>

#include "options.h"

namespace tern::bench {

class ProgressReporter {
 public:
  explicit ProgressReporter(ProgressMode mode);
  // phase: a short word ("warmup", "measure", "drain", "hold"); rate: replies/s over the
  // last second.
  void update(const char* phase, double elapsed_s, double rate, uint64_t errors, uint64_t open);
  // Ends the live line (before the summary is printed).
  void finish();
  bool enabled() const noexcept { return enabled_; }

 private:
  bool enabled_ = false;
  bool terminal_ = false;
  bool line_open_ = false;
};

}  // namespace tern::bench
