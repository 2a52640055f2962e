// ProxyApp: the running tern-proxy: the serving loops with one proxy each (http: a tern::Server
// whose on_loop_start builds an HttpProxy per loop; tcp: a LoopGroup with a TcpServer and a
// TcpProxy per loop), the health loop ("tern-health", one HealthChecker per upstream), the
// admin listener, and what SIGHUP and SIGTERM do to them. main() parses the command line,
// makes one, and waits for signals.
//
// What SIGHUP (reload) changes without a restart: the upstream list and weights (every loop's
// UpstreamTable::apply: new ones take traffic, removed ones drain), the balancing algorithm
// (every table's set_algorithm), the [health] options (the checkers are reconciled) and the log
// level. Everything else (listen, mode, hash key,
// pools, retries, ejection, backend, model, threads, admin) is the proxy's shape: a changed
// value is logged as ignored until a restart. A file that does not load changes nothing and
// logs why, with its line.
//
// Thread rule: main thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "proxy_config.h"
#include "serving_loops.h"
#include "tern/loop/loop_group.h"
#include "tern/metrics/registry.h"
#include "tern/patterns/server.h"
#include "tern/proxy/http_proxy.h"
#include "tern/proxy/tcp_proxy.h"

namespace tern::apps {

class AdminServer;
class HealthMonitor;

class ProxyApp {
 public:
  // Checks `config` (resolve()); does not listen yet. On failure returns nullptr with `why`.
  static std::unique_ptr<ProxyApp> create(ProxyConfig config, std::string& why);
  ~ProxyApp();
  ProxyApp(const ProxyApp&) = delete;
  ProxyApp& operator=(const ProxyApp&) = delete;

  // Binds and starts the threads (serving loops, health loop, admin listener). On failure
  // returns the error with `why`; what started is stopped again.
  std::error_code start(std::string& why);
  // The lines printed once serving: "listening on ..." and, with an admin listener,
  // "admin on ..." (empty without one).
  std::string describe() const;
  std::string describe_admin() const;

  // SIGHUP: loads the configuration again (file, then the same flags) and applies what can
  // change live. A failure is logged with its reason and returned; nothing changed then.
  std::error_code reload(const ProxyCommandLine& command_line);
  // SIGTERM, SIGINT: stops accepting, lets requests and relays in flight finish for up to
  // server.drain-ms, then stops every thread.
  void shutdown();

 private:
  ProxyApp(ProxyConfig config, ProxySettings settings);

  std::error_code start_http(std::string& why);
  std::error_code start_tcp(std::string& why);
  std::error_code start_health(std::string& why);
  void drain_tcp();
  // Runs on the health loop: tells every serving loop an upstream's new verdict.
  void on_verdict(const std::string& name, bool healthy);
  // Posts the algorithm, the upstream list and the health options to every loop concerned.
  void apply_balancing(const ProxySettings& settings);
  // With --admin: serving loop `index` (on its thread) adds or removes its metrics source.
  void add_metrics_source(size_t index, EventLoop& loop);
  void remove_metrics_source(size_t index);
  std::error_code start_admin(std::string& why);

  struct TcpLoop;

  ProxyConfig config_;
  ProxySettings settings_;
  // With --admin: the metrics (serving loops, HTTP, upstreams); outlives every server.
  metrics::Registry registry_;
  ServingLoops loops_;
  std::vector<metrics::SourceId> metrics_sources_;  // by loop index, each touched by its loop
  // http mode
  std::vector<std::unique_ptr<proxy::HttpProxy>> http_proxies_;  // by loop index
  std::unique_ptr<Server> server_;
  // tcp mode
  std::vector<std::unique_ptr<TcpLoop>> tcp_loops_;  // by loop index
  std::unique_ptr<LoopGroup> tcp_group_;
  InetAddress tcp_bound_;
  // the health loop and its checkers (made and destroyed on that loop)
  std::unique_ptr<LoopGroup> health_group_;
  std::unique_ptr<HealthMonitor> monitor_;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace tern::apps
