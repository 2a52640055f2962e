// ShardLock: the lock of one thread's shard of metrics (an hsha worker's WorkerMeter, an lf
// thread's HTTP counters and loop figures), for shards that a scrape reads from another thread.
//
// The owner takes it once per record; a scrape takes it once per read of the shard. Nobody
// else shares it, so the owner almost never finds it taken: then lock() is one exchange and
// unlock() one release store, on a line that no other thread writes between scrapes (where
// one counter shared by every thread would move its line between their cores on every record).
// When it is taken (a scrape is adding this shard up, for microseconds), the waiter spins
// briefly, then yields its core to the holder. Measured as the lock of an lf thread's HTTP
// shard and turn figures (bench/instructions.sh, tern-httpd --model lf --admin, /plaintext):
// 8,790 instructions per request, against 8,909 with a std::mutex (whose lock and unlock are
// calls into libc that check for sleepers), and 8,572 with metrics off.
//
// Not for long critical sections, nor for locks many threads contend: a waiter burns a little
// CPU before it yields, and never sleeps on a futex.
//
// Thread rule: any thread; BasicLockable (std::lock_guard works).
#pragma once

#include <atomic>
#include <thread>

namespace tern::metrics {

class ShardLock {
 public:
  void lock() noexcept {
    if (held_.exchange(true, std::memory_order_acquire)) wait();
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  // The rare path, out of the owner's way: spin on a plain load (no line bouncing while it is
  // held), then yield between tries.
  [[gnu::noinline, gnu::cold]] void wait() noexcept {
    for (int tries = 0;; ++tries) {
      if (!held_.load(std::memory_order_relaxed) &&
          !held_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      if (tries < kSpins) {
        pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  static constexpr int kSpins = 100;
  std::atomic<bool> held_{false};
};

}  // namespace tern::metrics
