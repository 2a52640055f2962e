// How a loop's backend is set up, and what it counts.
#pragma once

#include <cstdint>

namespace tern {

struct BackendOptions {
  // Refuse to start rather than fall back (io_uring unavailable: kernel too old, disabled by
  // kernel.io_uring_disabled, blocked by seccomp) or take a slower path for a missing feature.
  bool strict = false;
  // io_uring: the provided-buffer ring that multishot receives draw from (count: power of two).
  uint32_t recv_buffer_count = 1024;
  uint32_t recv_buffer_size = 16 * 1024;
  // io_uring: sends of at least this many bytes use SEND_ZC (zero-copy; the completion waits
  // for the kernel's notification that the pages are free). 0: never. Off by default because
  // on loopback the kernel copies anyway and zero-copy only adds the notification (measured:
  // docs/benchmarks.md); worth trying with a real NIC and large writes.
  uint32_t send_zc_threshold = 0;
  // io_uring: register each fd in the ring's fixed-file table on its first op (and unregister
  // it before close), so requests skip the per-op fd lookup. Two system calls per fd.
  bool fixed_files = false;
};

// Per-loop counters, read on the loop thread (EventLoop::stats()).
struct BackendStats {
  uint64_t submitted = 0;        // ops started
  uint64_t completions = 0;      // completions delivered to handlers
  uint64_t enobufs = 0;          // io_uring: receives that found the buffer ring empty
  uint64_t cq_overflows = 0;     // io_uring: completions the kernel had to hold back
  uint64_t fallbacks = 0;        // features (or the whole backend) replaced by a slower path
  uint64_t rearms = 0;           // io_uring: requests the kernel ended early (a multishot one,
                                 // or a receive that found the ring dry) that tern armed again
  uint64_t wait_calls = 0;       // system calls that waited or collected events
  uint64_t wait_ns = 0;          // time inside the wait system calls that could block (the
                                 // loop's idle time; the metrics' tern_loop_wait_seconds_total)
};

}  // namespace tern
