#include "run_stats.h"

namespace tern::bench {

void ErrorCounts::add(const ErrorCounts& o) noexcept {
  connect += o.connect;
  read += o.read;
  write += o.write;
  timeout += o.timeout;
  closed += o.closed;
  mismatch += o.mismatch;
  parse += o.parse;
}

void Totals::add(const Totals& o) noexcept {
  requests_sent += o.requests_sent;
  replies += o.replies;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  connects += o.connects;
}

void ThreadStats::merge(const ThreadStats& o) {
  latency.merge(o.latency);
  connect_latency.merge(o.connect_latency);
  measured_replies += o.measured_replies;
  measured_bytes_received += o.measured_bytes_received;
  for (size_t i = 0; i < status.size(); ++i) status[i] += o.status[i];
  errors.add(o.errors);
  totals.add(o.totals);
  if (first_error.empty()) first_error = o.first_error;
  open += o.open;
  closed_by_server += o.closed_by_server;
}

}  // namespace tern::bench
