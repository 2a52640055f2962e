// LoopRegistry: the process-wide table behind LoopHandle. Private to tern.
//
// A fixed array of slots, never freed, so a stale handle can always be checked. Each slot has
// a mutex that orders a post against the loop's deregistration: a post either reaches a live
// loop's task queue or finds the generation changed. The owning thread is kept in an atomic so
// runs_here() needs no lock: a thread id compares equal only while that loop is registered
// (deregistration clears it before the loop thread can end and its id be reused).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#include "tern/loop/loop_handle.h"

namespace tern {

class EventLoop;

class LoopRegistry {
 public:
  static constexpr uint32_t kSlots = 4096;

  static LoopRegistry& instance();

  // On the loop's thread, when the loop is created. Aborts when every slot is taken (4096
  // live loops in one process).
  LoopHandle add(EventLoop& loop);
  // On the loop's thread, before the loop is destroyed: later posts and runs_here() fail.
  void remove(LoopHandle handle) noexcept;

  bool post(LoopHandle handle, UniqueFunction<void()> task);
  bool runs_here(LoopHandle handle) const noexcept;

 private:
  struct Slot {
    std::mutex mutex;
    EventLoop* loop = nullptr;                 // under mutex
    std::atomic<uint32_t> generation{0};
    std::atomic<std::thread::id> thread{};
  };
  std::mutex free_mutex_;
  uint32_t next_unused_ = 0;   // slots below this were used once; free ones are in free_
  uint32_t free_[kSlots];
  uint32_t free_count_ = 0;
  Slot slots_[kSlots];
};

}  // namespace tern
