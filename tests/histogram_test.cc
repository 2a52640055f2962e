// metrics::Histogram: every value from 1 ns to 1 h (log-spaced and random) comes back within
// the relative error bound, percentiles of known distributions, merge = recording into one,
// clamping, the empty histogram, misuse, and no allocation after construction.
#include "tern/metrics/histogram.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <tuple>
#include <vector>

// Counts heap allocations, so a test can assert that record() and merge() make none.
#include "counting_new.h"

namespace tern::metrics {
namespace {

constexpr uint64_t kHour = 3'600'000'000'000ull;  // ns

// What the histogram reports for `value` alone: recorded next to a larger value (past value's
// bucket), the median is value's bucket, not clamped by max().
uint64_t reported(Histogram& h, uint64_t value) {
  h.reset();
  h.record(value);
  h.record(value < h.highest() / 2 ? 2 * value + 2 : h.highest());
  return h.percentile(50);
}

// The bound of the class comment: reported >= value (a bucket reports its highest
// equivalent value) and reported - value <= value * 10^-digits.
void expect_within_bound(Histogram& h, uint64_t value) {
  const uint64_t got = reported(h, value);
  const double bound = std::pow(10.0, -h.significant_digits());
  EXPECT_GE(got, value) << "value " << value;
  EXPECT_LE(double(got - value), double(value) * bound) << "value " << value << " got " << got;
}

// 1.001^k from 1 to 1 h: ~29,000 values, a few in every sub-bucket range of every bucket.
std::vector<uint64_t> log_spaced(uint64_t highest, double step = 1.001) {
  std::vector<uint64_t> values;
  for (double v = 1; v <= double(highest); v *= step) values.push_back(uint64_t(v));
  values.push_back(highest);
  return values;
}

TEST(HistogramTest, LogSpacedValuesFromOneNanosecondToOneHourRoundTripWithinTheBound) {
  Histogram h;  // 1 h, 3 digits
  for (uint64_t value : log_spaced(kHour)) expect_within_bound(h, value);
  // Small values are exact: bucket 0 counts them one by one.
  for (uint64_t value = 0; value < 2048; ++value) EXPECT_EQ(reported(h, value), value);
}

TEST(HistogramTest, RandomValuesRoundTripWithinTheBound) {
  Histogram h;
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> exponent(0.0, std::log2(double(kHour)));
  for (int i = 0; i < 20000; ++i) {
    expect_within_bound(h, uint64_t(std::exp2(exponent(random))));
  }
  std::uniform_int_distribution<uint64_t> any(1, kHour);
  for (int i = 0; i < 5000; ++i) expect_within_bound(h, any(random));
}

TEST(HistogramTest, EverySignificantDigitsSettingKeepsItsBound) {
  for (int digits = 1; digits <= 5; ++digits) {
    Histogram h(kHour, digits);
    EXPECT_EQ(h.significant_digits(), digits);
    for (uint64_t value : log_spaced(kHour, 1.01)) expect_within_bound(h, value);
  }
}

TEST(HistogramTest, TheWholeUint64RangeCanBeTracked) {
  Histogram h(UINT64_MAX, 3);
  for (uint64_t value : {uint64_t{1}, uint64_t{1} << 40, UINT64_MAX / 3, UINT64_MAX - 1}) {
    expect_within_bound(h, value);
  }
  h.reset();
  h.record(UINT64_MAX);
  EXPECT_EQ(h.max(), UINT64_MAX);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
  EXPECT_EQ(h.saturated(), 0u);
}

TEST(HistogramTest, PercentilesOfAUniformDistribution) {
  constexpr uint64_t kN = 100000;
  Histogram h;
  for (uint64_t v = 1; v <= kN; ++v) h.record(v);
  EXPECT_EQ(h.count(), kN);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), kN);
  EXPECT_DOUBLE_EQ(h.mean(), (kN + 1) / 2.0);
  for (double p : {0.001, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
    // The exact answer: the ceil(p% * N)-th value.
    const double expected = std::ceil(p / 100.0 * kN - 1e-9);
    const uint64_t got = h.percentile(p);
    EXPECT_GE(double(got), expected) << "p" << p;
    EXPECT_LE(double(got), expected * 1.001) << "p" << p;
  }
  EXPECT_EQ(h.percentile(100), kN);
  EXPECT_EQ(h.percentile(0), 1u);
}

TEST(HistogramTest, PercentilesOfTwoPeaksNinetyPercentAtAAndTenAtB) {
  constexpr uint64_t kA = 1'000'000;   // 1 ms
  constexpr uint64_t kB = 50'000'000;  // 50 ms
  Histogram h;
  h.record(kA, 900);
  for (int i = 0; i < 100; ++i) h.record(kB);
  auto near = [](uint64_t got, uint64_t want) {
    return got >= want && double(got - want) <= double(want) * 1e-3;
  };
  EXPECT_TRUE(near(h.percentile(50), kA)) << h.percentile(50);
  // The boundary: exactly 90 % are <= A, so p90 is still A, and anything above is B.
  EXPECT_TRUE(near(h.percentile(90), kA)) << h.percentile(90);
  EXPECT_EQ(h.percentile(90.1), kB);  // B's bucket, clamped to the exact max
  EXPECT_EQ(h.percentile(99), kB);
  EXPECT_EQ(h.percentile(100), kB);
  EXPECT_EQ(h.min(), kA);
  EXPECT_EQ(h.max(), kB);
  EXPECT_DOUBLE_EQ(h.mean(), (900.0 * kA + 100.0 * kB) / 1000.0);
}

TEST(HistogramTest, PercentileRankIsNotRoundedUpByFloatingPointNoise) {
  // 99.9 % of 1000 is the 999th value: 99.9 * 1000 / 100 is 999.0000000000001 in doubles.
  Histogram h;
  h.record(10, 999);
  h.record(1'000'000);
  EXPECT_EQ(h.percentile(99.9), 10u);
  EXPECT_EQ(h.percentile(99.95), 1'000'000u);
}

std::vector<std::tuple<uint64_t, uint64_t, double>> buckets_of(const Histogram& h) {
  std::vector<std::tuple<uint64_t, uint64_t, double>> out;
  h.for_each_bucket([&](uint64_t value, uint64_t count, double cumulative) {
    out.emplace_back(value, count, cumulative);
  });
  return out;
}

TEST(HistogramTest, MergeEqualsRecordingIntoOne) {
  Histogram all, parts[3];
  std::mt19937_64 random(7);
  std::lognormal_distribution<double> latency(12.0, 2.0);  // median ~160 us, a long tail
  for (int i = 0; i < 60000; ++i) {
    const uint64_t v = uint64_t(latency(random));
    all.record(v);
    parts[i % 3].record(v);
  }
  parts[0].record(kHour * 2);  // a saturated one travels too
  all.record(kHour * 2);
  Histogram merged;
  for (const Histogram& part : parts) merged.merge(part);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.saturated(), 1u);
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p = 0; p <= 100; p += 0.5) EXPECT_EQ(merged.percentile(p), all.percentile(p)) << p;
  EXPECT_EQ(buckets_of(merged), buckets_of(all));
}

TEST(HistogramTest, MergingAnEmptyHistogramChangesNothing) {
  Histogram h, empty;
  h.record(5);
  h.record(500);
  h.merge(empty);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 5u);
  EXPECT_EQ(h.max(), 500u);
  empty.merge(h);
  EXPECT_EQ(empty.min(), 5u);
}

TEST(HistogramTest, ValuesAboveHighestAreClampedAndCountedAsSaturated) {
  Histogram h(1'000'000, 3);
  h.record(999'999);
  h.record(1'000'000);  // highest itself is tracked, not saturated
  EXPECT_EQ(h.saturated(), 0u);
  h.record(5'000'000);
  h.record(UINT64_MAX, 3);
  EXPECT_EQ(h.saturated(), 4u);
  EXPECT_EQ(h.count(), 6u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.percentile(100), 1'000'000u);
  EXPECT_DOUBLE_EQ(h.mean(), (999'999.0 + 5 * 1'000'000.0) / 6);
}

TEST(HistogramTest, AnEmptyHistogramReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.saturated(), 0u);
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(h.percentile(p), 0u);
  EXPECT_TRUE(buckets_of(h).empty());
  h.record(123);
  h.reset();  // and after a reset
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_TRUE(buckets_of(h).empty());
}

TEST(HistogramTest, NothingRecordedBeforeAResetIsLeftAfterIt) {
  Histogram h;
  for (uint64_t v : {10u, 100u, 5'000u, 70'000u}) h.record(v);
  h.reset();
  h.record(1);
  h.record(1'000'000);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.percentile(50), 1u);
  EXPECT_EQ(h.percentile(100), 1'000'000u);
  EXPECT_EQ(buckets_of(h).size(), 2u);
  h.reset();
  h.record(1000);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 1000u);
}

TEST(HistogramTest, ZeroIsARecordableValue) {
  Histogram h;
  h.record(0);
  h.record(0);
  h.record(7);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), 7u);
}

TEST(HistogramTest, ForEachBucketWalksNonEmptyBucketsInOrderToACumulativeOne) {
  Histogram h;
  h.record(3, 2);
  h.record(1'000'000);
  h.record(2'000);
  h.record(1'000'000);
  const auto buckets = buckets_of(h);
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0], std::make_tuple(uint64_t{3}, uint64_t{2}, 0.4));
  EXPECT_EQ(std::get<0>(buckets[1]), 2'000u);
  EXPECT_EQ(std::get<2>(buckets[1]), 0.6);
  EXPECT_EQ(std::get<0>(buckets[2]), 1'000'000u);  // clamped to max
  EXPECT_EQ(std::get<1>(buckets[2]), 2u);
  EXPECT_EQ(std::get<2>(buckets[2]), 1.0);
}

TEST(HistogramTest, RecordAndMergeAllocateNothingAndMemoryIsFixed) {
  const uint64_t before_construction = tern::test::heap_allocations.load();
  Histogram h, other;
  ASSERT_GT(tern::test::heap_allocations.load(), before_construction);  // the counter does count
  const size_t memory = h.memory_bytes();
  // 1 h at 3 digits: 32 buckets of 1,024 counters plus the first; ~270 KB.
  EXPECT_LT(memory, 300'000u);
  std::mt19937_64 random(1);
  const uint64_t before = tern::test::heap_allocations.load();
  for (int i = 0; i < 200000; ++i) h.record(random() >> (random() % 64));
  h.record(kHour * 10, 5);
  other.merge(h);
  h.reset();
  EXPECT_EQ(tern::test::heap_allocations.load() - before, 0u);
  EXPECT_EQ(h.memory_bytes(), memory);
  EXPECT_EQ(other.count(), 200005u);
}

TEST(HistogramDeathTest, MisuseAborts) {
  EXPECT_DEATH(Histogram(kHour, 0), "significant_digits 0");
  EXPECT_DEATH(Histogram(kHour, 6), "significant_digits 6");
  EXPECT_DEATH(Histogram(1, 3), "highest 1");
  Histogram a(kHour, 3), b(kHour, 2);
  EXPECT_DEATH(a.merge(b), "layouts differ");
}

}  // namespace
}  // namespace tern::metrics
