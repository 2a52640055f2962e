// HealthMonitor: the active health checks of tern-proxy: one HealthChecker per upstream, all
// on one extra loop ("tern-health"), so checking costs the serving loops nothing. Each change
// of verdict is handed to `on_change`, which tells every serving loop's table.
//
// Thread rule: loop thread only (the health loop): made, reconciled and destroyed there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tern/proxy/health_check.h"
#include "tern/proxy/upstream_config.h"

namespace tern {
class EventLoop;
}

namespace tern::apps {

class HealthMonitor {
 public:
  using OnChange = std::function<void(const std::string& name, bool healthy)>;

  HealthMonitor(EventLoop& loop, OnChange on_change);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Makes the checkers match: one per upstream when `options` is set, none otherwise. A new
  // upstream's checker starts (healthy, as its table entry does); a removed one's stops; new
  // options restart every checker. An upstream left down by a checker that stops is reported
  // healthy again (nothing checks it any more: passive checks remain).
  void reconcile(std::span<const proxy::UpstreamConfig> upstreams,
                 const std::optional<proxy::HealthCheckOptions>& options);
  size_t size() const noexcept { return checkers_.size(); }

 private:
  struct Checked {
    InetAddress address;
    std::unique_ptr<proxy::HealthChecker> checker;
  };
  void stop_checker(const std::string& name, Checked& checked, bool still_listed);

  EventLoop& loop_;
  OnChange on_change_;
  std::optional<proxy::HealthCheckOptions> options_;
  std::map<std::string, Checked> checkers_;
};

}  // namespace tern::apps
