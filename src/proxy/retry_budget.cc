// The retry budget: retries in flight bounded by a share of the requests in flight.
#include "tern/proxy/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace tern::proxy {

RetryBudget::RetryBudget(RetryOptions options) : options_(options) {}

void RetryBudget::request_started() noexcept { ++active_requests_; }

void RetryBudget::request_finished() noexcept {
  if (active_requests_ > 0) --active_requests_;
}

bool RetryBudget::try_start_retry() noexcept {
  // floor: a ratio of 0.2 over 9 requests allows 1 retry, never a rounded-up 2.
  double share = std::floor(options_.budget_ratio * static_cast<double>(active_requests_));
  uint64_t limit = std::max<uint64_t>(options_.min_retries, static_cast<uint64_t>(share));
  if (options_.max_attempts <= 1 || active_retries_ >= limit) {
    ++refused_;
    return false;
  }
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

}  // namespace tern::proxy
