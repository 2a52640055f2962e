#include "net/write_ring.h"

#include <utility>

namespace tern::detail {
namespace {

// Enough for the connections one loop turn finishes writing and starts again; more would only
// pin memory.
constexpr size_t kMaxSpares = 16;
// A spare keeps its requests' copy buffers (so the next writer does not allocate them again),
// at most this much in all; more is given back to the allocator. A thread's spares hold at
// most about kMaxSpares x this.
constexpr size_t kMaxKeptCopyBytes = 64 * 1024;

// Keeps the copy buffers while they fit in kMaxKeptCopyBytes, frees the rest.
void trim_copies(WriteRing& ring) noexcept {
  size_t kept = 0;
  for (WriteRequest& request : ring.requests) {
    if (kept + request.owned.capacity() > kMaxKeptCopyBytes) {
      std::vector<std::byte>().swap(request.owned);
    } else {
      kept += request.owned.capacity();
    }
  }
}

struct Spares {
  std::vector<std::unique_ptr<WriteRing>> rings;
  ~Spares();
};

// Set once this thread's spares are destroyed (thread exit): a connection destroyed after that
// (one owned by a static or thread_local object) frees its ring instead of keeping it. A plain
// bool: it needs no destructor of its own, so it outlives `spares`.
thread_local bool spares_gone = false;
thread_local Spares spares;

Spares::~Spares() { spares_gone = true; }

}  // namespace

WriteRingPtr take_write_ring() {
  if (spares_gone || spares.rings.empty()) return WriteRingPtr(new WriteRing);
  WriteRingPtr ring(spares.rings.back().release());
  spares.rings.pop_back();
  return ring;
}

void WriteRingRecycler::operator()(WriteRing* ring) const noexcept {
  std::unique_ptr<WriteRing> owned(ring);
  if (spares_gone || spares.rings.size() >= kMaxSpares) return;
  trim_copies(*owned);
  spares.rings.push_back(std::move(owned));
}

}  // namespace tern::detail
