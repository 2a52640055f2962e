// ConnId: names one connection from any thread: the loop it lives on, its slot in that loop's
// table and the slot's generation. An id kept after its connection closed finds nothing
// (another generation), never another connection; an id whose loop is gone finds no loop.
#pragma once

#include <cstdint>

#include "tern/loop/loop_handle.h"

namespace tern {

struct ConnId {
  LoopHandle loop;
  uint32_t slot = UINT32_MAX;
  uint32_t generation = 0;
  friend bool operator==(ConnId, ConnId) = default;
};

}  // namespace tern
