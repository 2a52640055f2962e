// LoopHandle: names an EventLoop from any thread, and stays safe after the loop is gone.
//
// Loops register in a process-wide table of fixed slots that are never freed; a slot's
// generation changes when its loop is destroyed. A handle is {slot, generation}, so posting to
// a loop that no longer exists finds another generation and does nothing, instead of touching
// freed memory: no reference count, no shared_ptr (a Reply from a worker that outlives the
// server is the case this exists for).
#pragma once

#include <cstdint>
#include "tern/base/unique_function.h"

namespace tern {

struct LoopHandle {
  uint32_t slot = UINT32_MAX;
  uint32_t generation = 0;

  bool valid() const noexcept { return slot != UINT32_MAX; }
  friend bool operator==(LoopHandle, LoopHandle) = default;
};

// Any thread. Runs `task` on the loop `loop` names (after the tasks posted before it); false,
// and `task` is destroyed unrun, when that loop is gone or stopping.
bool post_to(LoopHandle loop, UniqueFunction<void()> task);

// Any thread. True when the calling thread is the live loop `loop` names.
bool runs_here(LoopHandle loop) noexcept;

}  // namespace tern
