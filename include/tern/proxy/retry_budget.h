// RetryBudget: how many retries the requests have earned (a retry budget, after Finagle's and
// Envoy's). Every request started earns budget_ratio of a retry into a reserve; a retry spends
// one. So retries stay within budget_ratio of the requests over time, and a failing upstream
// cannot double the load on the others, while a burst is allowed: the reserve holds up to one
// retry per request of the most in flight at once. min_retries retries in flight are always
// allowed (a quiet proxy can retry too).
//
// Why a reserve and not a cap on retries in flight (budget_ratio of the requests in flight,
// as before): when an upstream dies, every request in flight on it fails in the same loop
// iteration, about 1/N of all requests in flight at once. A cap of 20 % of them refused most
// of those retries, and their clients got 502s (12-19 of them when one of two tern-kv was
// killed under 64 connections: tests/cluster_fault_test.cc), although the retries only moved
// the dead upstream's requests to the live one.
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
  double budget_ratio = 0.2;   // retries earned per request started (over time, retries stay
                               //   within this share of the requests)
  uint32_t min_retries = 3;    // retries in flight always allowed, earned or not
};

// Thread rule: one per loop, loop thread only, every method.
class RetryBudget {
 public:
  explicit RetryBudget(RetryOptions options = {});

  void request_started() noexcept;
  void request_finished() noexcept;
  // True (and counted as in flight until retry_finished) when a retry fits the budget now:
  // fewer than min_retries in flight, or an earned retry in the reserve (spent); false is
  // counted in refused(). Always false when max_attempts <= 1.
  bool try_start_retry() noexcept;
  void retry_finished() noexcept;

  const RetryOptions& options() const noexcept;
  uint64_t active_requests() const noexcept;
  uint64_t active_retries() const noexcept;
  uint64_t retries() const noexcept;   // started, in total
  uint64_t refused() const noexcept;   // refused by the budget, in total
  double reserve() const noexcept;     // retries earned and not spent
  // How many retries in a row try_start_retry() would allow now: the whole earned ones in the
  // reserve, or the room under min_retries, whichever is more (each retry spends an earned one
  // and takes a place in flight); 0 when max_attempts <= 1. At most
  // max(min_retries, the most requests ever in flight at once).
  uint64_t available() const noexcept;

 private:
  RetryOptions options_;
  uint64_t earned_per_request_;  // in millionths of a retry (retry_budget.cc)
  uint64_t active_requests_ = 0;
  uint64_t peak_requests_ = 0;   // the most requests in flight at once so far
  uint64_t active_retries_ = 0;
  uint64_t retries_ = 0;
  uint64_t refused_ = 0;
  uint64_t reserve_ = 0;  // millionths of a retry
};

}  // namespace tern::proxy
