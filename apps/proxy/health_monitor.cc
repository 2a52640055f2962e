#include "health_monitor.h"

#include <algorithm>
#include <set>
#include <utility>

namespace tern::apps {
namespace {

bool same_options(const proxy::HealthCheckOptions& a, const proxy::HealthCheckOptions& b) {
  return a.kind == b.kind && a.path == b.path && a.host == b.host && a.interval == b.interval &&
         a.timeout == b.timeout && a.rise == b.rise && a.fall == b.fall;
}

}  // namespace

HealthMonitor::HealthMonitor(EventLoop& loop, OnChange on_change)
    : loop_(loop), on_change_(std::move(on_change)) {}

HealthMonitor::~HealthMonitor() = default;

void HealthMonitor::stop_checker(const std::string& name, Checked& checked, bool still_listed) {
  bool was_down = checked.checker && !checked.checker->healthy();
  checked.checker.reset();
  if (was_down && still_listed) on_change_(name, true);
}

void HealthMonitor::reconcile(std::span<const proxy::UpstreamConfig> upstreams,
                              const std::optional<proxy::HealthCheckOptions>& options) {
  std::set<std::string> listed;
  for (const auto& upstream : upstreams) listed.insert(upstream.name);
  bool options_changed = options.has_value() != options_.has_value() ||
                         (options && !same_options(*options, *options_));
  for (auto it = checkers_.begin(); it != checkers_.end();) {
    auto found = std::find_if(upstreams.begin(), upstreams.end(),
                              [&](const auto& u) { return u.name == it->first; });
    bool keep = !options_changed && found != upstreams.end() &&
                found->address == it->second.address;
    if (keep) {
      ++it;
      continue;
    }
    stop_checker(it->first, it->second, listed.count(it->first) > 0);
    it = checkers_.erase(it);
  }
  options_ = options;
  if (!options_) return;
  for (const auto& upstream : upstreams) {
    if (checkers_.count(upstream.name) > 0) continue;
    Checked& checked = checkers_[upstream.name];
    checked.address = upstream.address;
    checked.checker = std::make_unique<proxy::HealthChecker>(
        loop_, upstream.address, *options_,
        [this, name = upstream.name](bool healthy) { on_change_(name, healthy); });
  }
}

}  // namespace tern::apps
