// RetryBudget: how many retries may be in flight at once (Envoy's retry budget): at most
// budget_ratio of the requests in flight, but always at least min_retries. A budget rather
// than a retry count keeps a failing upstream from doubling the load on the others.
//
//   budget.request_started();
//   ... first attempt failed, retrying is safe ...
//   if (budget.try_start_retry()) { ... retry ...; budget.retry_finished(); }
//   budget.request_finished();
#pragma once

#include <cstdint>

namespace tern::proxy {

struct RetryOptions {
  int max_attempts = 2;        // tries of one request in all, the first included; 1: no retry
  double budget_ratio = 0.2;   // retries in flight at most this share of requests in flight,
  uint32_t min_retries = 3;    //   but always at least this many (Envoy's retry budget)
};

// Thread rule: one per loop, loop thread only, every method.
class RetryBudget {
 public:
  explicit RetryBudget(RetryOptions options = {});

  void request_started() noexcept;
  void request_finished() noexcept;
  // True (and counted as in flight until retry_finished) when a retry fits the budget now;
  // false is counted in refused(). Always false when max_attempts <= 1.
  bool try_start_retry() noexcept;
  void retry_finished() noexcept;

  const RetryOptions& options() const noexcept;
  uint64_t active_requests() const noexcept;
  uint64_t active_retries() const noexcept;
  uint64_t retries() const noexcept;   // started, in total
  uint64_t refused() const noexcept;   // refused by the budget, in total

 private:
  RetryOptions options_;
  uint64_t active_requests_ = 0;
  uint64_t active_retries_ = 0;
  uint64_t retries_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace tern::proxy
