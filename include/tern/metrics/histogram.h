// Histogram: counts of non-negative integer values (tern-bench records nanoseconds) with a
// bounded relative error, in HdrHistogram's layout. Values are grouped by power of two
// ("buckets"); each bucket is split into linear sub-buckets, enough of them that any value
// in [1, highest] is reported within 10^-significant_digits relative error. Bucket 0 covers
// 0 .. sub_bucket_count-1 one by one; bucket b >= 1 covers [half << b, half << (b + 1)) in
// steps of 2^b, and only its upper half of sub-buckets is stored (the lower half would repeat
// bucket b-1), so the whole table is (buckets + 1) * half counters.
//
// Memory is allocated once, in the constructor; record() is O(1) (one count-leading-zeros,
// a shift, no loop), allocates nothing and has no data-dependent branch. The exact min and
// max are kept apart from the buckets.
//
// Thread rule: not thread-safe; one writer, no locking. To aggregate, each thread records in
// its own histogram and a reader merge()s copies of them (issue 13: one per loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern::metrics {

class Histogram {
 public:
  // highest: the largest value tracked within the error bound (at least 2); larger values are
  // clamped to it and counted in saturated(). significant_digits: 1..5. Misuse aborts.
  explicit Histogram(uint64_t highest = 3'600'000'000'000ull, int significant_digits = 3);

  // Owner thread. Counts `value` once (or `count` times). Never allocates.
  void record(uint64_t value) noexcept { record(value, 1); }
  void record(uint64_t value, uint64_t count) noexcept {
    // Branch-free clamp: a saturated value lands in the highest value's bucket.
    const bool over = value > highest_;
    saturated_ += over ? count : 0;
    value = over ? highest_ : value;
    counts_[index_of(value)] += count;
    total_ += count;
    sum_ += value * count;
    min_ = value < min_ ? value : min_;
    max_ = value > max_ ? value : max_;
  }

  // Owner thread of *this; `other` must not be written meanwhile (pass a copy). Adds other's
  // counts. other must have the same highest() and significant_digits() (aborts otherwise).
  void merge(const Histogram& other) noexcept;
  // Owner thread. Forgets every value; keeps the memory.
  void reset() noexcept;

  // The readers below: owner thread, or any thread on a copy nobody writes.
  uint64_t count() const noexcept { return total_; }
  uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }  // exact; 0 when empty
  uint64_t max() const noexcept { return max_; }                    // exact; 0 when empty
  // Exact (from the sum of the recorded values, saturated ones counted as highest()); 0 when
  // empty. The sum wraps after 2^64 (584 years of nanoseconds).
  double mean() const noexcept;
  // The smallest value v such that at least `percentile` % of the recorded values are <= v,
  // reported as the highest value equivalent to v's bucket, clamped to max(); 0 when empty.
  // percentile is clamped to [0, 100].
  uint64_t percentile(double percentile) const noexcept;
  // How many recorded values were above highest() (they count as highest()).
  uint64_t saturated() const noexcept { return saturated_; }

  // For CDFs: calls f(uint64_t value, uint64_t count_in_bucket, double cumulative_fraction)
  // once per non-empty bucket in increasing order of value; value is reported as percentile()
  // reports it (the bucket's highest equivalent value, clamped to max()); the last call has
  // cumulative_fraction 1.
  template <class F>
  void for_each_bucket(F&& f) const {
    if (total_ == 0) return;
    uint64_t cumulative = 0;
    for (size_t i = index_of(min_); i < counts_.size() && cumulative < total_; ++i) {
      if (counts_[i] == 0) continue;
      cumulative += counts_[i];
      f(reported_value(i), counts_[i], double(cumulative) / double(total_));
    }
  }

  // Bytes this histogram holds (the object and its counters).
  size_t memory_bytes() const noexcept { return sizeof(*this) + counts_.size() * sizeof(uint64_t); }
  uint64_t highest() const noexcept { return highest_; }
  int significant_digits() const noexcept { return significant_digits_; }

 private:
  // The counter of `value` (value <= highest_). Bucket: how far the value's top bit lies above
  // bucket 0's range (OR-ing the mask makes every value of bucket 0 look like its top).
  size_t index_of(uint64_t value) const noexcept {
    const int bucket = bucket_base_ - __builtin_clzll(value | sub_bucket_mask_);
    const uint64_t sub_bucket = value >> bucket;
    return (size_t(bucket) << half_magnitude_) + size_t(sub_bucket);
  }
  // The smallest value counted at `index`, and the width of its bucket.
  uint64_t lowest_at(size_t index) const noexcept;
  uint64_t width_at(size_t index) const noexcept;
  // What percentile() and for_each_bucket() report for `index`.
  uint64_t reported_value(size_t index) const noexcept;

  uint64_t highest_;
  int significant_digits_;
  int half_magnitude_;       // log2 of the sub-buckets stored per bucket (half of them)
  int bucket_base_;          // 63 - half_magnitude_: clz of bucket 0's top value
  uint64_t sub_bucket_mask_;  // sub_bucket_count - 1
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t saturated_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace tern::metrics
