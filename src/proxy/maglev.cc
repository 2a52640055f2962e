// Maglev table construction and lookup.
#include "maglev.h"

#include <algorithm>
#include <numeric>

#include "tern/proxy/hash_key.h"

namespace tern::proxy {
namespace {

constexpr uint32_t kFree = UINT32_MAX;

struct Permutation {
  uint32_t next;    // the position this name claims next, if still free
  uint32_t skip;    // 1..kSize-1
  uint32_t weight;  // turns per round
};

Permutation permutation_of(const Candidate& candidate) noexcept {
  uint64_t first = hash_bytes(candidate.name);
  // A second, independent hash: the first one's bytes hashed again.
  uint64_t second = hash_bytes({reinterpret_cast<const char*>(&first), sizeof first});
  return {static_cast<uint32_t>(first % MaglevTable::kSize),
          static_cast<uint32_t>(second % (MaglevTable::kSize - 1)) + 1,
          std::max<uint32_t>(candidate.weight, 1)};
}

}  // namespace

void MaglevTable::build(std::span<const Candidate> candidates) {
  entries_.assign(candidates.empty() ? 0 : kSize, kFree);
  if (candidates.empty()) return;
  // Fill in name order, so the table does not depend on the order of the list.
  std::vector<uint32_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return candidates[a].name < candidates[b].name;
  });
  std::vector<Permutation> permutations;
  permutations.reserve(order.size());
  for (uint32_t index : order) permutations.push_back(permutation_of(candidates[index]));

  uint32_t filled = 0;
  while (filled < kSize) {
    for (size_t i = 0; i < order.size() && filled < kSize; ++i) {
      Permutation& permutation = permutations[i];
      for (uint32_t turn = 0; turn < permutation.weight && filled < kSize; ++turn) {
        while (entries_[permutation.next] != kFree) {
          permutation.next = static_cast<uint32_t>(
              (uint64_t{permutation.next} + permutation.skip) % kSize);
        }
        entries_[permutation.next] = order[i];
        ++filled;
      }
    }
  }
}

std::optional<size_t> MaglevTable::lookup(std::span<const Candidate> candidates,
                                          uint64_t key) const noexcept {
  if (entries_.empty()) return std::nullopt;
  auto start = static_cast<uint32_t>(key % kSize);
  for (uint32_t step = 0; step < kSize; ++step) {
    uint32_t position = start + step < kSize ? start + step : start + step - kSize;
    uint32_t index = entries_[position];
    if (index < candidates.size() && candidates[index].eligible()) return index;
  }
  return std::nullopt;
}

}  // namespace tern::proxy
