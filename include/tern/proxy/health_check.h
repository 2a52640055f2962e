// HealthChecker: the active health check of one upstream, run from one loop. It asks the
// upstream itself, on a schedule, whether it can serve, so that a proxy stops sending it traffic
// before clients find out (and starts again once it answers), whatever traffic there is.
//
//   HealthChecker checker(loop, upstream, {.path = "/health", .rise = 2, .fall = 3},
//                         [&](bool healthy) { table.set_healthy(name, healthy); });
//
// A check:
//   http  a fresh connection, "GET <path> HTTP/1.1" with Host (options.host, else the
//         upstream's "address:port") and "Connection: close"; a 2xx or 3xx status passes,
//         anything else fails ("status 503"), as does a connect error ("connection refused"),
//         a malformed response or one that ends early.
//   tcp   a fresh connection, closed as soon as it is made: passes when the connect succeeds.
// Both fail with "timed out after N ms" when the whole check (connect included) takes longer
// than options.timeout; the connection is closed then.
//
// Fresh means never pooled: a check must see what a new client connection would see (a pooled
// connection can stay open to a server that no longer accepts). One check is in flight at a
// time; the first starts at once (on the loop's next turn), each next one `interval` after the
// previous one ENDED, so a slow upstream is never asked twice at once and the checks never
// come closer together than `interval`.
//
// The verdict starts healthy (traffic flows from the start): `fall` failures in a row take it
// down, `rise` successes in a row bring it back up. The callback runs on each change of
// verdict only, on the loop.
//
// Thread rule: loop thread only, every method, the constructor and the destructor included;
// destroying the checker cancels the check in flight (its connection is closed, no callback
// runs). The callback must not destroy the checker (post a task that does).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"
#include "tern/net/inet_address.h"

namespace tern {
class Connector;
class EventLoop;
namespace http {
class Client;
struct ParsedResponse;
}  // namespace http
}  // namespace tern

namespace tern::proxy {

struct HealthCheckOptions {
  enum class Kind { http, tcp } kind = Kind::http;
  std::string path = "/health";   // http: GET this; 2xx and 3xx are healthy
  std::string host;               // Host field; empty: the upstream's "address:port"
  Duration interval = std::chrono::seconds(2);  // from the end of a check to the next
  Duration timeout = std::chrono::seconds(1);   // connect + whole response
  int rise = 2;                   // successes in a row that bring a down upstream up
  int fall = 3;                   // failures in a row that take an up upstream down
};

struct HealthCheckStats {
  uint64_t checks = 0;            // completed (passed or failed)
  uint64_t failures = 0;
  int consecutive_successes = 0;
  int consecutive_failures = 0;
  std::string last_error;         // empty after a success
  Duration last_latency{};        // of the last completed check, from its start
};

class HealthChecker {
 public:
  using Callback = std::function<void(bool healthy)>;  // on a change of verdict only

  // Loop thread only. Schedules the first check on the loop's next turn (so the callback never
  // runs inside the constructor). rise and fall below 1 count as 1.
  HealthChecker(EventLoop& loop, InetAddress upstream, HealthCheckOptions options,
                Callback on_change);
  // Loop thread only. Cancels the check in flight: its connection closes, no callback runs.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // --- about (loop thread only)
  bool healthy() const noexcept { return healthy_; }
  const HealthCheckStats& stats() const noexcept { return stats_; }
  const InetAddress& upstream() const noexcept { return upstream_; }
  const HealthCheckOptions& options() const noexcept { return options_; }
  bool checking() const noexcept { return in_flight_; }  // a check is in flight

 private:
  void start_check();
  void start_http_check();
  void start_tcp_check();
  void on_http_answer(uint64_t check, std::error_code error, const http::ParsedResponse* response);
  void on_connected(uint64_t check, std::error_code error);
  void on_deadline();
  void discard_probe() noexcept;
  void complete(std::string error);
  void judge(bool passed);
  std::string describe(std::error_code error) const;

  EventLoop& loop_;
  InetAddress upstream_;
  HealthCheckOptions options_;
  Callback on_change_;
  HealthCheckStats stats_;
  bool healthy_ = true;
  bool in_flight_ = false;
  uint64_t check_ = 0;  // numbers the checks: an answer for an older one is stale
  TimePoint started_{};
  TimerId next_timer_;
  TimerId deadline_timer_;
  // The probe of the current (or last) check; replaced by the next check, never reused.
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<Connector> connector_;
};

}  // namespace tern::proxy
