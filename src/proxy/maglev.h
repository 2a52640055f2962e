// MaglevTable: the lookup table of Maglev consistent hashing (Eisenbud et al., NSDI 2016),
// written from the paper. Each name has a permutation of the table's positions, (offset +
// j * skip) mod size, both derived from a fixed hash of the name; names take turns claiming
// their next free position until the table is full, a name of weight w taking w turns a round.
// The table depends only on the set of (name, weight): the fill runs in name order, so every
// loop and every process builds the same one.
//
// Private to src/proxy (the Balancer's maglev algorithm). Thread rule: a value; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tern/proxy/balancer.h"

namespace tern::proxy {

class MaglevTable {
 public:
  static constexpr uint32_t kSize = 65537;  // prime: every skip in 1..kSize-1 is a permutation

  // Fills the table over every candidate (up or not: lookups probe past the ones that may
  // not take this request, so a candidate going down moves only its own keys).
  void build(std::span<const Candidate> candidates);
  bool empty() const noexcept { return entries_.empty(); }

  // The candidate index at the key's position, or at the first entry after it (wrapping)
  // whose candidate is eligible (up and not excluded); nullopt when none is.
  std::optional<size_t> lookup(std::span<const Candidate> candidates, uint64_t key) const noexcept;

  // The candidate index the table holds at `position` (tests: shares).
  uint32_t at(uint32_t position) const noexcept { return entries_[position]; }

 private:
  std::vector<uint32_t> entries_;  // candidate index per position
};

}  // namespace tern::proxy
