#include "proxy_metrics.h"

namespace tern::apps {

void fill_proxy_metrics(const LoopReport& report, bool with_up, metrics::Snapshot& snapshot) {
  for (const proxy::UpstreamSnapshot& upstream : report.upstreams) {
    // A removed upstream drains under the same name as its successor: its counters add to it.
    metrics::Labels labels{{"upstream", upstream.name}};
    if (with_up && !upstream.removed) {
      bool up = upstream.healthy && !upstream.ejected &&
                upstream.admin == proxy::AdminState::enabled;
      snapshot.add_gauge("tern_proxy_upstream_up",
                         "1 when the upstream takes traffic (healthy, not ejected, not drained)",
                         labels, up ? 1 : 0);
    }
    snapshot.add_gauge("tern_proxy_upstream_outstanding", "requests in flight to the upstream",
                       labels, static_cast<double>(upstream.outstanding));
    snapshot.add_counter("tern_proxy_upstream_requests_total",
                         "requests sent to the upstream (retries included)", labels,
                         static_cast<double>(upstream.stats.requests));
    snapshot.add_counter("tern_proxy_upstream_failures_total",
                         "failed requests to the upstream (connect, reset, timeout, 5xx)", labels,
                         static_cast<double>(upstream.stats.failures));
    snapshot.add_counter("tern_proxy_pool_connects_total", "upstream connections made", labels,
                         static_cast<double>(upstream.pool.connects));
    snapshot.add_counter("tern_proxy_pool_reuses_total",
                         "checkouts served by a kept upstream connection", labels,
                         static_cast<double>(upstream.pool.reuses));
    if (report.http_mode) {
      // Present before the first answer (empty), so a dashboard sees the series from the start.
      snapshot.add_histogram(
          "tern_proxy_upstream_duration_seconds",
          "from a request written to the upstream to its response head parsed", labels,
          upstream.response_times ? *upstream.response_times : metrics::make_histogram());
    }
  }
  snapshot.add_gauge("tern_proxy_retry_budget_available",
                     "retries the retry budget would allow now (summed over the loops)", {},
                     static_cast<double>(report.retry_budget_available));
  snapshot.add_counter("tern_proxy_retries_total", "requests (tcp: connects) tried again", {},
                       static_cast<double>(report.http.retries + report.tcp.retries));
}

}  // namespace tern::apps
