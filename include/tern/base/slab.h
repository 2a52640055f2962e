// Slab<T>: objects in stable slots, named by {slot, generation}. Erasing a slot bumps its
// generation, so a stale key finds nothing instead of the slot's next occupant. Slots are
// reused LIFO (warm in cache). Not thread-safe: one owner thread (a loop).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace tern {

template <class T>
class Slab {
 public:
  struct Key {
    uint32_t slot = UINT32_MAX;
    uint32_t generation = 0;

    // The key in 64 bits (generation high, slot low): the tag a backend's event carries back.
    uint64_t tag() const noexcept { return (uint64_t{generation} << 32) | slot; }
    static Key from_tag(uint64_t tag) noexcept {
      return Key{static_cast<uint32_t>(tag), static_cast<uint32_t>(tag >> 32)};
    }
  };

  Key insert(std::unique_ptr<T> object) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[slot].object = std::move(object);
    ++live_;
    return Key{slot, slots_[slot].generation};
  }

  T* find(uint32_t slot, uint32_t generation) const noexcept {
    if (slot >= slots_.size()) return nullptr;
    const Entry& entry = slots_[slot];
    return entry.generation == generation ? entry.object.get() : nullptr;
  }
  T* find(Key key) const noexcept { return find(key.slot, key.generation); }

  // Takes the object out (the caller destroys it when it is safe to); nullptr for a stale key.
  std::unique_ptr<T> erase(uint32_t slot, uint32_t generation) noexcept {
    if (find(slot, generation) == nullptr) return nullptr;
    Entry& entry = slots_[slot];
    ++entry.generation;
    free_.push_back(slot);
    --live_;
    return std::move(entry.object);
  }
  std::unique_ptr<T> erase(Key key) noexcept { return erase(key.slot, key.generation); }

  // Visits every live object; `visit` may not insert or erase.
  template <class F>
  void for_each(F&& visit) const {
    for (const Entry& entry : slots_) {
      if (entry.object) visit(*entry.object);
    }
  }

  size_t size() const noexcept { return live_; }

 private:
  struct Entry {
    std::unique_ptr<T> object;
    uint32_t generation = 0;
  };
  std::vector<Entry> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace tern
