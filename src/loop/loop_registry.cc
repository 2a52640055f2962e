#include "loop/loop_registry.h"

#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {

LoopRegistry& LoopRegistry::instance() {
  // Never destroyed: replies and posts from threads that outlive main's statics stay safe.
  static LoopRegistry* registry = new LoopRegistry();
  return *registry;
}

LoopHandle LoopRegistry::add(EventLoop& loop) {
  uint32_t index;
  {
    std::lock_guard lock(free_mutex_);
    if (free_count_ > 0) {
      index = free_[--free_count_];
    } else if (next_unused_ < kSlots) {
      index = next_unused_++;
    } else {
      fatal("more than %u event loops alive at once", kSlots);
    }
  }
  Slot& slot = slots_[index];
  std::lock_guard lock(slot.mutex);
  slot.loop = &loop;
  slot.thread.store(std::this_thread::get_id(), std::memory_order_release);
  return LoopHandle{index, slot.generation.load(std::memory_order_relaxed)};
}

void LoopRegistry::remove(LoopHandle handle) noexcept {
  if (!handle.valid()) return;
  Slot& slot = slots_[handle.slot];
  {
    std::lock_guard lock(slot.mutex);
    if (slot.generation.load(std::memory_order_relaxed) != handle.generation) return;
    slot.loop = nullptr;
    slot.thread.store(std::thread::id{}, std::memory_order_release);
    slot.generation.fetch_add(1, std::memory_order_release);
  }
  std::lock_guard lock(free_mutex_);
  free_[free_count_++] = handle.slot;
}

bool LoopRegistry::post(LoopHandle handle, UniqueFunction<void()> task) {
  if (!handle.valid() || handle.slot >= kSlots) return false;
  Slot& slot = slots_[handle.slot];
  std::lock_guard lock(slot.mutex);
  if (slot.loop == nullptr || slot.generation.load(std::memory_order_relaxed) != handle.generation) {
    return false;
  }
  slot.loop->post(std::move(task));
  return true;
}

bool LoopRegistry::runs_here(LoopHandle handle) const noexcept {
  if (!handle.valid() || handle.slot >= kSlots) return false;
  const Slot& slot = slots_[handle.slot];
  // Thread first: while it equals ours, our loop is registered, so the generation read after
  // it is the live one (deregistration clears the thread before bumping the generation).
  if (slot.thread.load(std::memory_order_acquire) != std::this_thread::get_id()) return false;
  return slot.generation.load(std::memory_order_acquire) == handle.generation;
}

bool post_to(LoopHandle loop, UniqueFunction<void()> task) {
  return LoopRegistry::instance().post(loop, std::move(task));
}

bool runs_here(LoopHandle loop) noexcept { return LoopRegistry::instance().runs_here(loop); }

}  // namespace tern
