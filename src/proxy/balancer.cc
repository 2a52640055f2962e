// The four balancing algorithms over one list of candidates.
#include "tern/proxy/balancer.h"

#include <cmath>
#include <random>

#include "maglev.h"

namespace tern::proxy {
namespace {

// The weight in hundredths, slow start applied, at least 1 (a ramping upstream still gets a
// trickle).
uint64_t effective_weight(const Candidate& candidate) noexcept {
  double scaled = static_cast<double>(candidate.weight) * candidate.weight_factor * 100.0;
  auto hundredths = static_cast<int64_t>(std::llround(scaled));
  return hundredths < 1 ? 1 : static_cast<uint64_t>(hundredths);
}

// (outstanding + 1) / effective weight of `a` is smaller than that of `b` (no division).
bool less_loaded(const Candidate& a, const Candidate& b) noexcept {
  return (uint64_t{a.outstanding} + 1) * effective_weight(b) <
         (uint64_t{b.outstanding} + 1) * effective_weight(a);
}

uint64_t random_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device() ^ 1;  // never 0
}

}  // namespace

std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept {
  if (text == "round-robin") return Algorithm::round_robin;
  if (text == "least-outstanding") return Algorithm::least_outstanding;
  if (text == "p2c") return Algorithm::p2c;
  if (text == "maglev") return Algorithm::maglev;
  return std::nullopt;
}

const char* algorithm_name(Algorithm algorithm) noexcept {
  switch (algorithm) {
    case Algorithm::round_robin: return "round-robin";
    case Algorithm::least_outstanding: return "least-outstanding";
    case Algorithm::p2c: return "p2c";
    case Algorithm::maglev: return "maglev";
  }
  return "round-robin";
}

Balancer::Balancer(Algorithm algorithm, uint64_t seed)
    : algorithm_(algorithm), random_state_(seed != 0 ? seed : random_seed()) {}

Balancer::~Balancer() = default;
Balancer::Balancer(Balancer&&) noexcept = default;
Balancer& Balancer::operator=(Balancer&&) noexcept = default;

Algorithm Balancer::algorithm() const noexcept { return algorithm_; }

std::optional<size_t> Balancer::pick(std::span<const Candidate> candidates, uint64_t key) {
  if (!same_list(candidates)) rebuild(candidates);
  switch (algorithm_) {
    case Algorithm::round_robin: return pick_round_robin(candidates);
    case Algorithm::least_outstanding: return pick_least_outstanding(candidates);
    case Algorithm::p2c: return pick_p2c(candidates);
    case Algorithm::maglev: return pick_maglev(candidates, key);
  }
  return std::nullopt;
}

bool Balancer::same_list(std::span<const Candidate> candidates) const noexcept {
  if (candidates.size() != slots_.size()) return false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].weight != slots_[i].weight || candidates[i].name != slots_[i].name) {
      return false;
    }
  }
  return true;
}

// The list changed (a reload): start the per-position state afresh. The up set is not part
// of it: a candidate going down or up keeps everyone's state, and Maglev's table (over every
// name, up or not) stays, so only the keys of the one that went down move.
void Balancer::rebuild(std::span<const Candidate> candidates) {
  slots_.clear();
  slots_.reserve(candidates.size());
  for (const Candidate& candidate : candidates) {
    slots_.push_back({std::string(candidate.name), candidate.weight, 0});
  }
  eligible_.clear();
  eligible_.reserve(candidates.size());
  rotation_ = 0;
  if (algorithm_ == Algorithm::maglev) {
    if (!maglev_) maglev_ = std::make_unique<MaglevTable>();
    maglev_->build(candidates);
  }
}

// nginx's smooth weighted round-robin: spreads a heavy candidate's turns between the others'
// (a a b a c a a for 5, 1, 1) instead of sending it its turns in a burst.
std::optional<size_t> Balancer::pick_round_robin(std::span<const Candidate> candidates) noexcept {
  std::optional<size_t> best;
  int64_t total = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!candidates[i].eligible()) continue;
    auto weight = static_cast<int64_t>(effective_weight(candidates[i]));
    slots_[i].current += weight;
    total += weight;
    if (!best || slots_[i].current > slots_[*best].current) best = i;
  }
  if (best) slots_[*best].current -= total;
  return best;
}

std::optional<size_t> Balancer::pick_least_outstanding(
    std::span<const Candidate> candidates) noexcept {
  std::optional<size_t> best;
  size_t count = candidates.size();
  for (size_t step = 0; step < count; ++step) {
    size_t i = (rotation_ + step) % count;  // ties go to the first after the last pick
    if (!candidates[i].eligible()) continue;
    if (!best || less_loaded(candidates[i], candidates[*best])) best = i;
  }
  if (best) rotation_ = *best + 1;
  return best;
}

std::optional<size_t> Balancer::pick_p2c(std::span<const Candidate> candidates) noexcept {
  eligible_.clear();  // capacity reserved by rebuild(): no allocation
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].eligible()) eligible_.push_back(i);
  }
  if (eligible_.empty()) return std::nullopt;
  if (eligible_.size() == 1) return eligible_[0];
  size_t first = next_random() % eligible_.size();
  size_t second = next_random() % (eligible_.size() - 1);
  if (second >= first) ++second;  // two distinct ones
  size_t a = eligible_[first], b = eligible_[second];
  return less_loaded(candidates[b], candidates[a]) ? b : a;
}

std::optional<size_t> Balancer::pick_maglev(std::span<const Candidate> candidates,
                                            uint64_t key) noexcept {
  if (!maglev_) return std::nullopt;
  bool any = false;
  for (const Candidate& candidate : candidates) any = any || candidate.eligible();
  if (!any) return std::nullopt;  // the probe would walk the whole table
  return maglev_->lookup(candidates, key);
}

// splitmix64: a small, fast generator with a fixed sequence per seed (tests pass one).
uint64_t Balancer::next_random() noexcept {
  uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace tern::proxy
