// Balancer: picks one upstream out of a list of candidates, by one of four algorithms. Pure
// (no I/O, no clock): the UpstreamTable builds the candidates for each pick.
//
//   Balancer balancer(Algorithm::round_robin);
//   Candidate candidates[] = {{"a", 5}, {"b", 1}, {"c", 1}};
//   auto index = balancer.pick(candidates);   // a a b a c a a, a a b a c a a, ...
//
// Thread rule: one per loop, loop thread only; parse_algorithm and algorithm_name: any thread.
// pick() allocates nothing in steady state (only when the list of names or weights changed
// since the last call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::proxy {

class MaglevTable;  // private: src/proxy/maglev.h

enum class Algorithm { round_robin, least_outstanding, p2c, maglev };

// "round-robin", "least-outstanding", "p2c", "maglev"; nullopt for anything else.
std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept;
const char* algorithm_name(Algorithm algorithm) noexcept;

// What a balancer sees of one upstream, built by the UpstreamTable for each pick.
struct Candidate {
  std::string_view name;       // stable identity; Maglev's permutation is derived from it
  uint32_t weight = 1;         // configured
  double weight_factor = 1.0;  // (0, 1]: slow start scales the weight after a re-admission
  uint32_t outstanding = 0;    // requests (tcp: connections) in flight to it from this loop
  bool up = true;              // may take traffic (healthy, not ejected, enabled, not removed)
  bool excluded = false;       // not for this request (a retry avoids what it tried)

  // May be picked for this request: up and not excluded.
  bool eligible() const noexcept { return up && !excluded; }
};

class Balancer {
 public:
  // seed: p2c's random stream; 0 draws a random seed. Any thread (then used on one loop).
  explicit Balancer(Algorithm algorithm, uint64_t seed = 0);
  ~Balancer();
  Balancer(Balancer&&) noexcept;
  Balancer& operator=(Balancer&&) noexcept;

  Algorithm algorithm() const noexcept;  // loop thread only

  // An index into `candidates` whose up && !excluded, or nullopt when none is. Loop thread only.
  // round_robin: smooth weighted round-robin (nginx's algorithm: each pick adds every
  //   eligible candidate's effective weight to its current weight, picks the largest, subtracts
  //   the total); the effective weight is weight * weight_factor in hundredths, at least 1;
  // least_outstanding: the smallest (outstanding + 1) / effective weight; ties rotate;
  // p2c: two distinct random eligible candidates, the one with the smaller
  //   (outstanding + 1) / effective weight;
  // maglev: Maglev lookup table (size 65537, prime) over every candidate's name, built from
  //   each name's (offset, skip) permutation; a candidate with weight w gets w turns per round
  //   of the fill; key = the request's hash; a position whose candidate is not up, or is
  //   excluded, probes the next table entries. The table depends on the names and weights
  //   only (not their order, not the up set), so a candidate going down moves exactly its own
  //   keys (about 1/N) and every other key stays; a name added or dropped from the list
  //   rebuilds it (Maglev's small extra movement: about 1/(N+1) of keys for one added).
  // The balancer keeps its state per position and rebuilds it when the list of names or their
  //   weights differ from the last call (a cheap O(N) comparison).
  std::optional<size_t> pick(std::span<const Candidate> candidates, uint64_t key = 0);

 private:
  struct Slot {                 // state per position, valid while the list is unchanged
    std::string name;
    uint32_t weight = 0;
    int64_t current = 0;        // smooth round-robin's current weight
  };
  bool same_list(std::span<const Candidate> candidates) const noexcept;
  void rebuild(std::span<const Candidate> candidates);
  std::optional<size_t> pick_round_robin(std::span<const Candidate> candidates) noexcept;
  std::optional<size_t> pick_least_outstanding(std::span<const Candidate> candidates) noexcept;
  std::optional<size_t> pick_p2c(std::span<const Candidate> candidates) noexcept;
  std::optional<size_t> pick_maglev(std::span<const Candidate> candidates, uint64_t key) noexcept;
  uint64_t next_random() noexcept;

  Algorithm algorithm_;
  uint64_t random_state_;
  size_t rotation_ = 0;         // least_outstanding's tie breaker
  std::vector<Slot> slots_;
  std::vector<size_t> eligible_;  // scratch for p2c, reserved on rebuild
  std::unique_ptr<MaglevTable> maglev_;
};

}  // namespace tern::proxy
