// The metrics of tern-proxy's serving loops, from each loop's LoopReport (the same numbers
// GET /upstreams sums): a loop source per serving loop fills them on its own thread at each
// scrape, and the snapshot adds the loops up.
//
//   tern_proxy_upstream_up{upstream}                gauge: 1 when taking traffic (healthy,
//                                                   not ejected, not drained), else 0
//   tern_proxy_upstream_outstanding{upstream}       gauge: requests in flight to it
//   tern_proxy_upstream_requests_total{upstream}    requests sent to it (retries included)
//   tern_proxy_upstream_failures_total{upstream}    connect, reset, timeout or 5xx
//   tern_proxy_retries_total                        retries (http: requests, tcp: connects)
//   tern_proxy_pool_connects_total{upstream}        upstream connections made
//   tern_proxy_pool_reuses_total{upstream}          checkouts served by a kept connection
//   tern_proxy_upstream_duration_seconds{upstream}  histogram (http mode): from a request
//                                                   written to the upstream to its response
//                                                   head parsed (one per answer from it)
//   tern_proxy_retry_budget_available               gauge: retries the budgets would allow
//                                                   now (RetryBudget::available, summed)
//
// "up" is one loop's view (the first's): the health verdicts reach every loop alike, and a
// gauge summed over the loops would count loops, not upstreams. The durations are each loop's
// own histogram (UpstreamTable::record_response_time, plain counts on the loop's thread),
// merged at the scrape.
//
// Thread rule: the serving loop's thread (loop_report() reads its proxy).
#pragma once

#include "serving_loops.h"
#include "tern/metrics/snapshot.h"

namespace tern::apps {

// Adds `report`'s series to `snapshot`; `with_up`: add tern_proxy_upstream_up too. Any thread
// (pure).
void fill_proxy_metrics(const LoopReport& report, bool with_up, metrics::Snapshot& snapshot);

}  // namespace tern::apps
