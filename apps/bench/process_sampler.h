// ProcessSampler: the CPU time and resident memory of the server under test (--pid), read
// from /proc: the process and its descendants (nginx's workers are children of its master;
// a child's time counts while it runs, not only once it has been waited for).
// Thread rule: any one thread; no state beyond the pid.
#pragma once

#include <cstdint>
#include <optional>

namespace tern::bench {

class ProcessSampler {
 public:
  explicit ProcessSampler(int pid) noexcept : pid_(pid) {}
  // utime + stime of the process tree, seconds; nullopt when the process is gone.
  std::optional<double> cpu_seconds() const;
  // VmRSS of the process tree, KiB; nullopt when the process is gone.
  std::optional<uint64_t> rss_kib() const;
  int pid() const noexcept { return pid_; }

 private:
  int pid_;
};

}  // namespace tern::bench
