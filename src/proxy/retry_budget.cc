// The retry budget: a reserve of retries earned by the requests, spent by the retries.
#include "tern/proxy/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace tern::proxy {

namespace {

// The reserve counts millionths of a retry: 0.2 earned five times is exactly one retry.
constexpr uint64_t kUnit = 1'000'000;

uint64_t units_of(double retries) noexcept {
  return retries <= 0 ? 0 : static_cast<uint64_t>(std::llround(retries * kUnit));
}

}  // namespace

RetryBudget::RetryBudget(RetryOptions options)
    : options_(options), earned_per_request_(units_of(options.budget_ratio)) {}

// The reserve holds at most one retry per request of the most ever in flight at once (at least
// min_retries): enough for every request in flight to fail at once and be retried, never a
// store of retries for a storm later. The peak, not the count now: within one loop iteration
// the requests in flight go down and up again (answers written, new requests read), and a
// reserve cut to the low point of each iteration could not hold a burst.
void RetryBudget::request_started() noexcept {
  ++active_requests_;
  peak_requests_ = std::max(peak_requests_, active_requests_);
  uint64_t cap = std::max<uint64_t>(options_.min_retries, peak_requests_) * kUnit;
  reserve_ = std::min(cap, reserve_ + earned_per_request_);
}

void RetryBudget::request_finished() noexcept {
  if (active_requests_ > 0) --active_requests_;
}

// A retry spends an earned one when there is one (also under the min_retries floor, so the
// floor's retries count against what the requests earned).
bool RetryBudget::try_start_retry() noexcept {
  bool earned = reserve_ >= kUnit;
  bool floor = active_retries_ < options_.min_retries;
  if (options_.max_attempts <= 1 || (!earned && !floor)) {
    ++refused_;
    return false;
  }
  if (earned) reserve_ -= kUnit;
  ++active_retries_;
  ++retries_;
  return true;
}

void RetryBudget::retry_finished() noexcept {
  if (active_retries_ > 0) --active_retries_;
}

const RetryOptions& RetryBudget::options() const noexcept { return options_; }
uint64_t RetryBudget::active_requests() const noexcept { return active_requests_; }
uint64_t RetryBudget::active_retries() const noexcept { return active_retries_; }
uint64_t RetryBudget::retries() const noexcept { return retries_; }
uint64_t RetryBudget::refused() const noexcept { return refused_; }
uint64_t RetryBudget::available() const noexcept {
  if (options_.max_attempts <= 1) return 0;
  uint64_t earned = reserve_ / kUnit;
  uint64_t floor_room =
      active_retries_ < options_.min_retries ? options_.min_retries - active_retries_ : 0;
  return std::max(earned, floor_room);
}

double RetryBudget::reserve() const noexcept {
  return static_cast<double>(reserve_) / static_cast<double>(kUnit);
}

}  // namespace tern::proxy
