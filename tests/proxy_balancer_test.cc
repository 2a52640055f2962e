// The four balancing algorithms as pure functions of their candidates: smooth weighted
// round-robin's sequence and shares, least-outstanding, power of two choices, and Maglev's
// shares and key movement when an upstream leaves or joins.
#include <array>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/maglev.h"
#include "tern/proxy/balancer.h"
#include "tern/proxy/hash_key.h"

namespace tern::proxy {
namespace {

std::string pick_names(Balancer& balancer, std::span<const Candidate> candidates, int picks) {
  std::string names;
  for (int i = 0; i < picks; ++i) {
    auto index = balancer.pick(candidates);
    names += index ? std::string(candidates[*index].name) : "-";
  }
  return names;
}

std::vector<int> pick_counts(Balancer& balancer, std::span<const Candidate> candidates,
                             int picks) {
  std::vector<int> counts(candidates.size());
  for (int i = 0; i < picks; ++i) {
    auto index = balancer.pick(candidates);
    if (!index) {
      ADD_FAILURE() << "no pick";
      break;
    }
    ++counts[*index];
  }
  return counts;
}

TEST(Balancer, AlgorithmNamesRoundTrip) {
  for (Algorithm algorithm : {Algorithm::round_robin, Algorithm::least_outstanding,
                              Algorithm::p2c, Algorithm::maglev}) {
    EXPECT_EQ(parse_algorithm(algorithm_name(algorithm)), algorithm);
  }
  EXPECT_EQ(parse_algorithm("round-robin"), Algorithm::round_robin);
  EXPECT_FALSE(parse_algorithm("roundrobin"));
  EXPECT_FALSE(parse_algorithm(""));
}

TEST(RoundRobin, SmoothSequenceOfNginx) {
  // nginx's documented example: weights 5, 1, 1 give a a b a c a a, not a a a a a b c.
  Balancer balancer(Algorithm::round_robin);
  std::array<Candidate, 3> candidates{{{"a", 5}, {"b", 1}, {"c", 1}}};
  EXPECT_EQ(pick_names(balancer, candidates, 14), "aabacaaaabacaa");
}

TEST(RoundRobin, ExactSharesOverManyPicks) {
  Balancer balancer(Algorithm::round_robin);
  std::array<Candidate, 3> candidates{{{"a", 3}, {"b", 2}, {"c", 5}}};
  EXPECT_EQ(pick_counts(balancer, candidates, 10000), (std::vector<int>{3000, 2000, 5000}));
}

TEST(RoundRobin, SlowStartFactorLowersTheShare) {
  Balancer balancer(Algorithm::round_robin);
  // Effective weights in hundredths: 10 and 100, so a gets 10 of every 110 picks.
  std::array<Candidate, 2> candidates{{{"a", 1, 0.1}, {"b", 1}}};
  EXPECT_EQ(pick_counts(balancer, candidates, 1100), (std::vector<int>{100, 1000}));
}

TEST(RoundRobin, NeverPicksExcludedOrDownAndNulloptWhenNoneEligible) {
  Balancer balancer(Algorithm::round_robin);
  std::array<Candidate, 4> candidates{{{"a", 5}, {"b", 1}, {"c", 1}, {"d", 1}}};
  candidates[0].up = false;
  candidates[2].excluded = true;
  EXPECT_EQ(pick_counts(balancer, candidates, 1000), (std::vector<int>{0, 500, 0, 500}));
  candidates[1].up = false;
  candidates[3].excluded = true;
  EXPECT_FALSE(balancer.pick(candidates));
  EXPECT_FALSE(balancer.pick({}));
}

TEST(RoundRobin, ANewListStartsAfresh) {
  Balancer balancer(Algorithm::round_robin);
  std::array<Candidate, 2> two{{{"a", 1}, {"b", 1}}};
  EXPECT_EQ(pick_names(balancer, two, 3), "aba");
  std::array<Candidate, 3> three{{{"a", 1}, {"b", 1}, {"c", 2}}};
  EXPECT_EQ(pick_names(balancer, three, 4), "cabc");
}

TEST(LeastOutstanding, PicksTheLeastLoadedWeighted) {
  Balancer balancer(Algorithm::least_outstanding);
  std::array<Candidate, 3> candidates{{{"a", 1}, {"b", 1}, {"c", 1}}};
  candidates[0].outstanding = 3;
  candidates[1].outstanding = 1;
  candidates[2].outstanding = 2;
  EXPECT_EQ(balancer.pick(candidates), 1u);
  // Weight 4 with 3 in flight: (3+1)/4 = 1 beats (1+1)/1 = 2.
  candidates[0].weight = 4;
  EXPECT_EQ(balancer.pick(candidates), 0u);
  candidates[0].up = false;
  EXPECT_EQ(balancer.pick(candidates), 1u);
  candidates[1].excluded = true;
  EXPECT_EQ(balancer.pick(candidates), 2u);
}

TEST(LeastOutstanding, TiesRotate) {
  Balancer balancer(Algorithm::least_outstanding);
  std::array<Candidate, 3> candidates{{{"a", 1}, {"b", 1}, {"c", 1}}};
  EXPECT_EQ(pick_names(balancer, candidates, 6), "abcabc");
}

TEST(PowerOfTwoChoices, AvoidsTheLoadedOneAndNeverPicksIneligible) {
  Balancer balancer(Algorithm::p2c, /*seed=*/42);
  std::array<Candidate, 5> candidates{{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}}};
  candidates[0].outstanding = 50;  // heavily loaded
  candidates[1].outstanding = 1;
  candidates[4].up = false;
  std::vector<int> counts = pick_counts(balancer, candidates, 10000);
  EXPECT_EQ(counts[4], 0);
  // a only wins a pair against nobody: two distinct choices always include a lighter one.
  EXPECT_EQ(counts[0], 0);
  // b (1 in flight) loses to c and d, wins against a: picked about 1/6 of the time.
  EXPECT_GT(counts[1], 1000);
  EXPECT_LT(counts[1], 2500);
  EXPECT_GT(counts[2], 3500);
  EXPECT_GT(counts[3], 3500);
}

TEST(PowerOfTwoChoices, ModerateLoadGetsFewerPicks) {
  Balancer balancer(Algorithm::p2c, /*seed=*/7);
  std::array<Candidate, 4> candidates{{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}};
  candidates[0].outstanding = 10;
  std::vector<int> counts = pick_counts(balancer, candidates, 10000);
  // Uniform would be 2500 each; a loses every pair it is in.
  EXPECT_EQ(counts[0], 0);
  // With a single eligible candidate there is no second choice.
  candidates[1].up = candidates[2].up = candidates[3].up = false;
  EXPECT_EQ(balancer.pick(candidates), 0u);
  candidates[0].excluded = true;
  EXPECT_FALSE(balancer.pick(candidates));
}

TEST(PowerOfTwoChoices, TheSameSeedGivesTheSamePicks) {
  std::array<Candidate, 4> candidates{{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}};
  Balancer first(Algorithm::p2c, 99), second(Algorithm::p2c, 99);
  EXPECT_EQ(pick_names(first, candidates, 50), pick_names(second, candidates, 50));
}

// --- Maglev ---

std::vector<Candidate> named(const std::vector<std::string>& names) {
  std::vector<Candidate> candidates;
  for (const std::string& name : names) candidates.push_back({name, 1});
  return candidates;
}

// Kept for the whole run: candidates hold views of the names.
const std::vector<std::string>& upstream_names(int count) {
  static std::map<int, std::vector<std::string>> lists;
  std::vector<std::string>& names = lists[count];
  for (int i = static_cast<int>(names.size()); i < count; ++i) {
    names.push_back("10.0.0." + std::to_string(i + 1) + ":8080");
  }
  return names;
}

constexpr int kKeys = 100000;

// The name each of kKeys keys goes to.
std::vector<std::string> place_keys(Balancer& balancer, std::span<const Candidate> candidates) {
  std::vector<std::string> placed(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    auto index = balancer.pick(candidates, hash_bytes("key-" + std::to_string(i)));
    placed[i] = index ? std::string(candidates[*index].name) : "";
  }
  return placed;
}

std::vector<double> table_shares(std::span<const Candidate> candidates) {
  MaglevTable table;
  table.build(candidates);
  std::vector<double> shares(candidates.size());
  for (uint32_t position = 0; position < MaglevTable::kSize; ++position) {
    shares[table.at(position)] += 1.0 / MaglevTable::kSize;
  }
  return shares;
}

TEST(Maglev, TableSharesFollowWeights) {
  std::vector<Candidate> equal = named(upstream_names(7));
  for (double share : table_shares(equal)) EXPECT_NEAR(share, 1.0 / 7, 0.01);

  std::vector<Candidate> weighted = named(upstream_names(3));
  weighted[0].weight = 1;
  weighted[1].weight = 2;
  weighted[2].weight = 5;
  std::vector<double> shares = table_shares(weighted);
  EXPECT_NEAR(shares[0], 1.0 / 8, 0.01);
  EXPECT_NEAR(shares[1], 2.0 / 8, 0.01);
  EXPECT_NEAR(shares[2], 5.0 / 8, 0.01);
}

TEST(Maglev, KeysSpreadByTheTable) {
  Balancer balancer(Algorithm::maglev);
  std::vector<Candidate> candidates = named(upstream_names(5));
  std::map<std::string, int> counts;
  for (const std::string& name : place_keys(balancer, candidates)) ++counts[name];
  ASSERT_EQ(counts.size(), 5u);
  for (auto& [name, count] : counts) EXPECT_NEAR(count, kKeys / 5, kKeys * 0.03) << name;
}

TEST(Maglev, OneUpstreamGoingDownMovesOnlyItsOwnKeys) {
  constexpr int kUpstreams = 10;
  Balancer balancer(Algorithm::maglev);
  std::vector<Candidate> candidates = named(upstream_names(kUpstreams));
  std::vector<std::string> before = place_keys(balancer, candidates);
  const std::string leaving(candidates[3].name);
  candidates[3].up = false;
  std::vector<std::string> after = place_keys(balancer, candidates);

  int moved = 0;
  std::map<std::string, int> receivers;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_NE(after[i], leaving);
    if (before[i] != leaving) {
      ASSERT_EQ(after[i], before[i]) << "key " << i << " moved though its upstream stayed";
    } else {
      ++moved;
      ++receivers[after[i]];
    }
  }
  EXPECT_NEAR(static_cast<double>(moved) / kKeys, 1.0 / kUpstreams, 0.02);
  // Its keys spread over the others rather than piling onto one neighbour.
  EXPECT_EQ(receivers.size(), kUpstreams - 1u);
  for (auto& [name, count] : receivers) EXPECT_LT(count, moved / 3) << name;

  // Back up: every key returns to where it was.
  candidates[3].up = true;
  EXPECT_EQ(place_keys(balancer, candidates), before);
}

TEST(Maglev, AddingOneUpstreamMovesAboutItsShare) {
  constexpr int kUpstreams = 10;
  const std::vector<std::string>& names = upstream_names(kUpstreams + 1);
  std::vector<Candidate> eleven = named(names);
  std::vector<Candidate> ten(eleven.begin(), eleven.end() - 1);
  Balancer balancer(Algorithm::maglev);
  std::vector<std::string> before = place_keys(balancer, ten);
  std::vector<std::string> after = place_keys(balancer, eleven);
  int moved = 0, to_new = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (after[i] == before[i]) continue;
    ++moved;
    to_new += after[i] == names.back() ? 1 : 0;
  }
  EXPECT_NEAR(static_cast<double>(to_new) / kKeys, 1.0 / (kUpstreams + 1), 0.02);
  // Maglev trades a little extra movement between the old ones for its even shares.
  EXPECT_LT(static_cast<double>(moved) / kKeys, 1.0 / (kUpstreams + 1) + 0.05);
}

TEST(Maglev, TheSameNamesGiveTheSameTableInEveryBalancer) {
  std::vector<Candidate> candidates = named(upstream_names(6));
  std::vector<Candidate> reversed(candidates.rbegin(), candidates.rend());
  Balancer first(Algorithm::maglev), second(Algorithm::maglev);
  EXPECT_EQ(place_keys(first, candidates), place_keys(second, reversed));
}

TEST(Maglev, AnExcludedPickProbesOnward) {
  Balancer balancer(Algorithm::maglev);
  std::vector<Candidate> candidates = named(upstream_names(4));
  for (uint64_t key : {uint64_t{1}, uint64_t{12345}, hash_bytes("session-7")}) {
    auto first = balancer.pick(candidates, key);
    ASSERT_TRUE(first);
    candidates[*first].excluded = true;
    auto retry = balancer.pick(candidates, key);
    ASSERT_TRUE(retry);
    EXPECT_NE(*retry, *first);
    // The same place a down upstream's keys go to: the next table entries.
    candidates[*first].excluded = false;
    candidates[*first].up = false;
    EXPECT_EQ(balancer.pick(candidates, key), retry);
    candidates[*first].up = true;
  }
  for (Candidate& candidate : candidates) candidate.up = false;
  EXPECT_FALSE(balancer.pick(candidates, 1));
}

}  // namespace
}  // namespace tern::proxy
