#include "tern/metrics/histogram.h"

#include <algorithm>
#include <cmath>

#include "tern/base/logging.h"

namespace tern::metrics {
namespace {

// log2 of the sub-buckets per bucket: the smallest power of two that holds every integer up
// to 2 * 10^digits one by one. Half of them (>= 10^digits) then cover each later bucket, so a
// step there is at most 1/10^digits of the values it holds: the relative error bound.
int sub_bucket_magnitude(int significant_digits) {
  uint64_t single_unit_limit = 2;
  for (int i = 0; i < significant_digits; ++i) single_unit_limit *= 10;
  int magnitude = 0;
  while ((uint64_t{1} << magnitude) < single_unit_limit) ++magnitude;
  return magnitude;
}

}  // namespace

Histogram::Histogram(uint64_t highest, int significant_digits)
    : highest_(highest), significant_digits_(significant_digits) {
  TERN_CHECK(significant_digits >= 1 && significant_digits <= 5,
             "Histogram: significant_digits %d is not in 1..5", significant_digits);
  TERN_CHECK(highest >= 2, "Histogram: highest %llu is below 2",
             static_cast<unsigned long long>(highest));
  const int magnitude = sub_bucket_magnitude(significant_digits);
  half_magnitude_ = magnitude - 1;
  bucket_base_ = 63 - half_magnitude_;
  sub_bucket_mask_ = (uint64_t{1} << magnitude) - 1;
  // Counters up to highest's own: index_of() grows with the value, so none is ever past it.
  counts_.assign(index_of(highest_) + 1, 0);
}

void Histogram::merge(const Histogram& other) noexcept {
  TERN_CHECK(other.highest_ == highest_ && other.significant_digits_ == significant_digits_,
             "Histogram::merge: layouts differ (highest %llu/%llu, digits %d/%d)",
             static_cast<unsigned long long>(highest_),
             static_cast<unsigned long long>(other.highest_), significant_digits_,
             other.significant_digits_);
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  saturated_ += other.saturated_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept {
  // Only the counters between min's and max's can be non-zero: a histogram reset once per
  // interval (issue 13) clears a few cache lines, not the whole table.
  if (total_ != 0) {
    std::fill(counts_.begin() + ptrdiff_t(index_of(min_)),
              counts_.begin() + ptrdiff_t(index_of(max_)) + 1, 0);
  }
  total_ = sum_ = saturated_ = max_ = 0;
  min_ = UINT64_MAX;
}

double Histogram::mean() const noexcept {
  return total_ == 0 ? 0.0 : double(sum_) / double(total_);
}

uint64_t Histogram::percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the wanted value (1-based). The product is shrunk by a relative 1e-12 first so
  // that binary noise (99.9 * 1000 / 100 = 999.0000000000001) does not round a whole rank up.
  const double exact = percentile / 100.0 * double(total_);
  const uint64_t rank =
      std::clamp<uint64_t>(uint64_t(std::ceil(exact * (1.0 - 1e-12))), 1, total_);
  uint64_t cumulative = 0;
  for (size_t i = index_of(min_); i < counts_.size(); ++i) {  // none below min's counter
    cumulative += counts_[i];
    if (cumulative >= rank) return reported_value(i);
  }
  return max_;
}

// Inverse of index_of(): index = (bucket << half_magnitude) + sub_bucket. Read the index as
// rows of `half` counters: bucket 0 fills rows 0 and 1 one value per counter; bucket b >= 1
// (sub_bucket in [half, 2 * half)) fills row b + 1 in steps of 2^b.
uint64_t Histogram::lowest_at(size_t index) const noexcept {
  const size_t half = size_t{1} << half_magnitude_;
  const size_t row = index >> half_magnitude_;
  if (row == 0) return index;
  return uint64_t((index & (half - 1)) + half) << (row - 1);
}

uint64_t Histogram::width_at(size_t index) const noexcept {
  const size_t row = index >> half_magnitude_;
  return row == 0 ? 1 : uint64_t{1} << (row - 1);
}

uint64_t Histogram::reported_value(size_t index) const noexcept {
  return std::min(lowest_at(index) + (width_at(index) - 1), max_);
}

}  // namespace tern::metrics
