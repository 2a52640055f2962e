// metrics::Histogram::record(), the cost tern-bench pays per reply: nanoseconds per record of
// latency-like values (log-normal, median ~100 us, long tail; precomputed so the benchmark
// measures record(), not the random generator), of one repeated value (the best case: one hot
// counter), and of percentile() and merge() on a filled histogram for scale.
//
//   build/bench/histogram_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "tern/metrics/histogram.h"

namespace {

using tern::metrics::Histogram;

std::vector<uint64_t> latency_like_values(size_t n) {
  std::mt19937_64 random(1);
  std::lognormal_distribution<double> latency(11.5, 1.5);
  std::vector<uint64_t> values(n);
  for (uint64_t& v : values) v = uint64_t(latency(random));
  return values;
}

void BM_RecordLatencyLike(benchmark::State& state) {
  const std::vector<uint64_t> values = latency_like_values(4096);  // a power of two: cheap wrap
  Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & 4095]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordLatencyLike);

void BM_RecordSameValue(benchmark::State& state) {
  Histogram h;
  uint64_t value = 123'456;
  for (auto _ : state) {
    benchmark::DoNotOptimize(value);
    h.record(value);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordSameValue);

void BM_Percentile(benchmark::State& state) {
  Histogram h;
  for (uint64_t v : latency_like_values(100'000)) h.record(v);
  for (auto _ : state) benchmark::DoNotOptimize(h.percentile(99.9));
}
BENCHMARK(BM_Percentile);

void BM_Merge(benchmark::State& state) {
  Histogram a, b;
  for (uint64_t v : latency_like_values(100'000)) b.record(v);
  for (auto _ : state) {
    a.merge(b);
    benchmark::DoNotOptimize(a.count());
  }
}
BENCHMARK(BM_Merge);

}  // namespace

BENCHMARK_MAIN();
