// One loop's upstreams: entries in a Slab (generation-counted ids), the balancer's candidates
// built from them per pick, accounting feeding passive ejection, and removal that waits for
// the transport to close.
#include "tern/proxy/upstream_table.h"

#include <algorithm>
#include <chrono>

#include "tern/loop/event_loop.h"
#include "tern/metrics/snapshot.h"

namespace tern::proxy {

struct UpstreamTable::Entry {
  Entry(const UpstreamConfig& upstream, EjectionOptions options)
      : config(upstream), ejection(options) {}
  UpstreamConfig config;
  std::unique_ptr<UpstreamTransport> transport;
  Ejection ejection;
  bool healthy = true;  // the active checker's verdict
  AdminState admin = AdminState::enabled;
  bool removed = false;
  size_t outstanding = 0;
  UpstreamStats stats;
  std::unique_ptr<metrics::Histogram> response_times;  // http, from the first answer on
};

const char* admin_state_name(AdminState state) noexcept {
  return state == AdminState::drained ? "drained" : "enabled";
}

UpstreamTable::UpstreamTable(EventLoop& loop, Algorithm algorithm, EjectionOptions ejection,
                             TransportFactory factory)
    : loop_(loop),
      ejection_options_(ejection),
      factory_(std::move(factory)),
      balancer_(algorithm),
      self_(std::make_shared<UpstreamTable*>(this)) {}

UpstreamTable::~UpstreamTable() {
  self_.reset();  // a close callback still queued finds no table
  // Transports first, while the entries still exist: failing their outstanding work may call
  // end() on this table.
  for (UpstreamId id : order_) {
    auto transport = std::move(find(id)->transport);
    transport.reset();
  }
}

void UpstreamTable::apply(std::span<const UpstreamConfig> upstreams) {
  loop_.assert_in_loop_thread("UpstreamTable::apply");
  std::vector<UpstreamId> order;
  order.reserve(upstreams.size() + order_.size());
  for (const UpstreamConfig& upstream : upstreams) {
    std::optional<UpstreamId> id = find_live(upstream.name);
    if (id) {
      find(*id)->config = upstream;  // a new weight
    } else {
      id = add(upstream);
    }
    if (std::find(order.begin(), order.end(), *id) == order.end()) order.push_back(*id);
  }
  std::vector<UpstreamId> dropped;
  for (UpstreamId id : order_) {
    if (std::find(order.begin(), order.end(), id) != order.end()) continue;
    order.push_back(id);  // removed ones stay listed (last) until their transport closed
    if (!find(id)->removed) dropped.push_back(id);
  }
  order_ = std::move(order);
  for (UpstreamId id : dropped) remove(id);
}

UpstreamId UpstreamTable::add(const UpstreamConfig& upstream) {
  auto entry = std::make_unique<Entry>(upstream, ejection_options_);
  if (factory_) entry->transport = factory_(upstream);
  auto key = entries_.insert(std::move(entry));
  UpstreamId id{key.slot, key.generation};
  order_.push_back(id);  // apply() finds it here
  return id;
}

void UpstreamTable::remove(UpstreamId id) {
  Entry& entry = *find(id);
  entry.removed = true;
  if (!entry.transport) {
    erase(id);
    return;
  }
  std::weak_ptr<UpstreamTable*> table = self_;
  entry.transport->close([table, id] {
    if (auto self = table.lock()) (*self)->erase(id);
  });
}

void UpstreamTable::erase(UpstreamId id) {
  std::unique_ptr<Entry> entry = entries_.erase(id.slot, id.generation);  // ids go stale
  if (!entry) return;
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
  // on_closed may run inside the transport's own code: destroy it after this callback.
  if (entry->transport) {
    loop_.defer_close([transport = std::move(entry->transport)]() mutable { transport.reset(); });
  }
}

std::optional<UpstreamId> UpstreamTable::pick(uint64_t key, std::span<const UpstreamId> tried) {
  TimePoint now = this->now();
  candidates_.clear();  // capacities kept: no allocation once they reached the table's size
  candidate_ids_.clear();
  for (UpstreamId id : order_) {
    const Entry& entry = *find(id);
    if (entry.removed) continue;  // gone from the balancer's list, not merely down
    bool excluded = std::find(tried.begin(), tried.end(), id) != tried.end();
    candidates_.push_back({entry.config.name, entry.config.weight,
                           entry.ejection.weight_factor(now),
                           static_cast<uint32_t>(std::min<size_t>(entry.outstanding, UINT32_MAX)),
                           pickable(entry, now), excluded});
    candidate_ids_.push_back(id);
  }
  auto index = balancer_.pick(candidates_, key);
  if (!index) return std::nullopt;
  return candidate_ids_[*index];
}

UpstreamTransport* UpstreamTable::transport(UpstreamId id) noexcept {
  Entry* entry = find(id);
  return entry ? entry->transport.get() : nullptr;
}

const UpstreamConfig* UpstreamTable::config(UpstreamId id) const noexcept {
  const Entry* entry = find(id);
  return entry ? &entry->config : nullptr;
}

void UpstreamTable::begin(UpstreamId id, bool retry) noexcept {
  Entry* entry = find(id);
  if (!entry) return;
  ++entry->outstanding;
  ++entry->stats.requests;
  if (retry) ++entry->stats.retries;
}

void UpstreamTable::record_response_time(UpstreamId id, Duration elapsed) {
  Entry* entry = find(id);
  if (!entry) return;
  if (!entry->response_times) {
    entry->response_times = std::make_unique<metrics::Histogram>(metrics::make_histogram());
  }
  auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  entry->response_times->record(nanoseconds < 0 ? 0 : static_cast<uint64_t>(nanoseconds));
}

void UpstreamTable::end(UpstreamId id, Outcome outcome) noexcept {
  Entry* entry = find(id);
  if (!entry) return;
  if (entry->outstanding > 0) --entry->outstanding;
  switch (outcome) {
    case Outcome::success:
      ++entry->stats.successes;
      entry->ejection.on_success(now());
      break;
    case Outcome::failure:
      ++entry->stats.failures;
      if (entry->ejection.on_failure(now())) ++entry->stats.ejections;
      break;
    case Outcome::neutral: break;
  }
}

bool UpstreamTable::set_healthy(std::string_view name, bool healthy) {
  loop_.assert_in_loop_thread("UpstreamTable::set_healthy");
  auto id = find_live(name);
  if (!id) return false;
  Entry& entry = *find(*id);
  if (healthy && !entry.healthy) entry.ejection.begin_slow_start(now());
  entry.healthy = healthy;
  return true;
}

bool UpstreamTable::set_admin(std::string_view name, AdminState state) {
  loop_.assert_in_loop_thread("UpstreamTable::set_admin");
  auto id = find_live(name);
  if (!id) return false;
  find(*id)->admin = state;
  return true;
}

size_t UpstreamTable::available() const noexcept {
  TimePoint now = this->now();
  size_t count = 0;
  for (UpstreamId id : order_) count += pickable(*find(id), now) ? 1 : 0;
  return count;
}

bool UpstreamTable::can_take_request() const noexcept {
  TimePoint now = this->now();
  for (UpstreamId id : order_) {
    const Entry& entry = *find(id);
    if (pickable(entry, now) && entry.transport && entry.transport->can_take_request()) {
      return true;
    }
  }
  return false;
}

size_t UpstreamTable::size() const noexcept { return order_.size(); }

std::vector<UpstreamSnapshot> UpstreamTable::snapshot() const {
  TimePoint now = this->now();
  std::vector<UpstreamSnapshot> result;
  result.reserve(order_.size());
  for (UpstreamId id : order_) {
    const Entry& entry = *find(id);
    UpstreamSnapshot view;
    view.name = entry.config.name;
    view.weight = entry.config.weight;
    view.healthy = entry.healthy;
    view.ejected = entry.ejection.ejected(now);
    view.admin = entry.admin;
    view.removed = entry.removed;
    view.weight_factor = entry.ejection.weight_factor(now);
    view.outstanding = entry.outstanding;
    view.stats = entry.stats;
    if (entry.transport) {
      view.pool = entry.transport->counters();
      view.open_connections = entry.transport->open_connections();
      view.idle_connections = entry.transport->idle_connections();
    }
    if (entry.response_times) view.response_times = *entry.response_times;
    result.push_back(std::move(view));
  }
  return result;
}

void UpstreamTable::set_algorithm(Algorithm algorithm) {
  if (algorithm != balancer_.algorithm()) balancer_ = Balancer(algorithm);
}

const Balancer& UpstreamTable::balancer() const noexcept { return balancer_; }

void UpstreamTable::set_clock(ClockFunction clock) { clock_ = std::move(clock); }

UpstreamTable::Entry* UpstreamTable::find(UpstreamId id) const noexcept {
  return entries_.find(id.slot, id.generation);
}

std::optional<UpstreamId> UpstreamTable::find_live(std::string_view name) const noexcept {
  for (UpstreamId id : order_) {
    const Entry& entry = *find(id);
    if (!entry.removed && entry.config.name == name) return id;
  }
  return std::nullopt;
}

bool UpstreamTable::pickable(const Entry& entry, TimePoint now) const noexcept {
  return entry.healthy && !entry.removed && entry.admin == AdminState::enabled &&
         !entry.ejection.ejected(now);
}

TimePoint UpstreamTable::now() const { return clock_ ? clock_() : loop_.now(); }

}  // namespace tern::proxy
