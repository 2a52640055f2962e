// ServingLoops: the loops that serve clients, as other threads reach them. A loop's proxy (and
// its UpstreamTable) is touched only on that loop's thread, so the admin API, the health loop
// and SIGHUP never call it directly: they post a task to every loop, and the task finds the
// proxy of the loop it runs on (loop_upstream_table()). gather() posts to every loop and hands
// the merged answers to a callback once the last loop has answered.
//
// Thread rule: attach/detach on the loop's own thread (on_loop_start/on_loop_stop); the rest
// any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "tern/loop/loop_handle.h"
#include "tern/proxy/http_proxy.h"
#include "tern/proxy/tcp_proxy.h"
#include "tern/proxy/upstream_table.h"

namespace tern::apps {

// What one serving loop reports (GET /upstreams and the admin POSTs).
struct LoopReport {
  std::vector<proxy::UpstreamSnapshot> upstreams;
  proxy::HttpProxyStats http;
  proxy::TcpProxyStats tcp;
  bool http_mode = false;               // the loop serves an HttpProxy (else tcp, or none)
  uint64_t retry_budget_available = 0;  // its RetryBudget::available()
  bool found = false;  // an admin POST named an upstream this loop has
  std::optional<proxy::Algorithm> balance;  // the loop's table's (a reload may change it)
};

// The calling loop's TcpProxy (tcp mode; http mode uses proxy::set_loop_proxy). Loop thread.
void set_loop_tcp_proxy(proxy::TcpProxy* proxy) noexcept;
// The calling loop's upstream table, http or tcp; null on a thread that serves no proxy.
proxy::UpstreamTable* loop_upstream_table() noexcept;
// The calling loop's upstreams and counters (empty on a thread without a proxy).
LoopReport loop_report();

class ServingLoops {
 public:
  // What runs on each loop: its report (an admin POST changes the table first).
  using Collect = std::function<LoopReport()>;
  // Runs once, with one report per loop that answered, on the thread of the last one to
  // answer (or the caller's, when no loop is attached).
  using Done = std::function<void(std::vector<LoopReport>)>;

  explicit ServingLoops(size_t capacity);
  void attach(size_t index, LoopHandle loop);
  void detach(size_t index);
  size_t attached() const;

  // Posts `task` (copied for each) to every attached loop.
  void post_all(const std::function<void()>& task) const;
  void gather(Collect collect, Done done) const;

 private:
  std::vector<LoopHandle> snapshot() const;

  mutable std::mutex mutex_;
  std::vector<LoopHandle> loops_;  // by index; invalid: not attached
};

}  // namespace tern::apps
