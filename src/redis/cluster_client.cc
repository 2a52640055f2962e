// redis::ClusterClient: route by slot, follow MOVED and ASK, keep the slot map fresh.
#include "tern/redis/cluster_client.h"

#include <utility>

#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"
#include "tern/net/connection_pool.h"
#include "tern/redis/key_slot.h"
#include "tern/redis/redirection.h"

namespace tern::redis {
namespace {

// A cluster that is down would otherwise log once per command that asks for a map.
LogLimiter refresh_log_limiter;

// The node could not be reached at all (the command never left): its slots may have a new
// master, which a refresh finds.
bool unreachable(std::error_code error) noexcept {
  if (error == make_error_code(errc::connect_timeout)) return true;
  if (error == make_error_code(pool_errc::upstream_down) ||
      error == make_error_code(pool_errc::wait_timeout)) {
    return true;
  }
  return error == std::errc::connection_refused || error == std::errc::network_unreachable ||
         error == std::errc::host_unreachable || error == std::errc::address_not_available;
}

// Copies, so that the job keeps its commands for a redirection.
std::vector<Command> copies_of(const std::vector<Command>& commands, bool asking) {
  std::vector<Command> out;
  out.reserve(commands.size() + (asking ? 1 : 0));
  if (asking) out.push_back(Command("ASKING"));
  out.insert(out.end(), commands.begin(), commands.end());
  return out;
}

}  // namespace

ClusterClient::ClusterClient(EventLoop& loop, std::vector<InetAddress> seeds,
                             ClusterOptions options)
    : loop_(loop), seeds_(std::move(seeds)), options_(std::move(options)) {}

ClusterClient::~ClusterClient() {
  destroying_ = true;
  if (refresh_timer_.valid()) loop_.cancel(refresh_timer_);
  fail_waiting(make_error_code(errc::closed));
  // Their callbacks run during this (outstanding commands fail): on_reply and on_slots see
  // destroying_ and touch nothing but the callers' callbacks.
  auto clients = std::move(clients_);
  clients.clear();
}

void ClusterClient::command(Command command, Callback done, TimePoint deadline) {
  Job job;
  job.commands.push_back(std::move(command));
  job.done = std::move(done);
  job.deadline = deadline;
  dispatch(std::move(job));
}

void ClusterClient::command_group(std::vector<Command> commands, Callback done,
                                  TimePoint deadline) {
  if (commands.empty()) {
    done(make_error_code(tern::errc::invalid_argument), nullptr);
    return;
  }
  dispatch(Job{std::move(commands), std::move(done), 0, std::nullopt, deadline});
}

void ClusterClient::command_to(const InetAddress& node, Command command, Callback done,
                               TimePoint deadline) {
  Job job;
  job.commands.push_back(std::move(command));
  job.done = std::move(done);
  job.pinned = node;
  job.deadline = deadline;
  dispatch(std::move(job));
}

void ClusterClient::command_group_to(const InetAddress& node, std::vector<Command> commands,
                                     Callback done, TimePoint deadline) {
  if (commands.empty()) {
    done(make_error_code(tern::errc::invalid_argument), nullptr);
    return;
  }
  dispatch(Job{std::move(commands), std::move(done), 0, node, deadline});
}

void ClusterClient::dispatch(Job job) {
  loop_.assert_in_loop_thread("ClusterClient::command");
  if (closed_) {
    job.done(make_error_code(errc::closed), nullptr);
    return;
  }
  if (job.pinned) {
    InetAddress node = *job.pinned;
    send(node, std::move(job), false);
    return;
  }
  if (!have_map_) {
    if (waiting_.size() >= options_.node.max_queued) {
      job.done(make_error_code(errc::queue_full), nullptr);
      return;
    }
    waiting_.push_back(std::move(job));
    request_refresh();
    return;
  }
  std::optional<InetAddress> master = route(job);
  if (!master) {
    request_refresh();
    job.done(make_error_code(errc::cluster_down), nullptr);
    return;
  }
  send(*master, std::move(job), false);
}

std::optional<uint16_t> ClusterClient::slot_of(const Job& job) const {
  for (const Command& command : job.commands) {
    if (auto key = command.first_key()) return key_slot(*key);
  }
  return std::nullopt;
}

// The slot's master, or for a keyless command each master in turn.
std::optional<InetAddress> ClusterClient::route(const Job& job) {
  if (auto slot = slot_of(job)) {
    const InetAddress* master = map_.master_for(*slot);
    if (master == nullptr) return std::nullopt;
    return *master;
  }
  std::vector<InetAddress> masters = map_.masters();
  if (masters.empty()) return std::nullopt;
  return masters[next_keyless_++ % masters.size()];
}

Client& ClusterClient::client_for(const InetAddress& node) {
  for (const auto& client : clients_) {
    if (client->server() == node) return *client;
  }
  clients_.push_back(std::make_unique<Client>(loop_, node, options_.node));
  return *clients_.back();
}

void ClusterClient::send(const InetAddress& node, Job job, bool asking) {
  std::vector<Command> commands = copies_of(job.commands, asking);
  const TimePoint deadline = job.deadline;  // the job moves into its callback
  Client& client = client_for(node);
  Callback callback = [this, node, job = std::move(job)](std::error_code error,
                                                          const Value* reply) mutable {
    on_reply(node, std::move(job), error, reply);
  };
  if (commands.size() == 1) {
    client.command(std::move(commands.front()), std::move(callback), deadline);
  } else {
    client.command_group(std::move(commands), std::move(callback), deadline);
  }
}

void ClusterClient::on_reply(const InetAddress& node, Job job, std::error_code error,
                             const Value* reply) {
  if (destroying_) {
    job.done(error, reply);
    return;
  }
  std::optional<Redirection> redirection;
  if (error == make_error_code(errc::error_reply) && reply != nullptr && reply->is_error()) {
    redirection = parse_redirection(reply->text);
  }
  if (!redirection) {
    if (unreachable(error)) {
      request_refresh();
      job.done(make_error_code(errc::cluster_down), nullptr);
      return;
    }
    job.done(error, reply);
    return;
  }
  InetAddress target = redirection->address;
  if (is_unspecified_host(target)) {  // ":port": a node at the host of the one that answered
    target = InetAddress::parse(node.host(), target.port()).value();
  }
  bool moved = redirection->kind == Redirection::Kind::moved;
  ++(moved ? moved_ : asked_);
  if (moved) {  // news about the map, whatever becomes of this command
    map_.assign(redirection->slot, target);
    request_refresh();
  }
  if (job.redirects >= options_.max_redirects) {
    job.done(make_error_code(errc::too_many_redirects), nullptr);
    return;
  }
  if (closed_) {
    job.done(make_error_code(errc::closed), nullptr);
    return;
  }
  ++job.redirects;
  send(target, std::move(job), !moved);
}

// One refresh at a time, at most one per refresh_min_interval: a burst of MOVED after a
// resharding asks for the map once.
void ClusterClient::request_refresh() {
  if (closed_ || destroying_ || refreshing_ || refresh_timer_.valid()) return;
  Duration since = loop_.now() - last_refresh_;
  if (last_refresh_ != TimePoint{} && since < options_.refresh_min_interval) {
    refresh_timer_ = loop_.run_after(options_.refresh_min_interval - since, [this] {
      refresh_timer_ = TimerId{};
      start_refresh();
    });
    return;
  }
  start_refresh();
}

// The known masters first (they know the current map), then the seeds.
void ClusterClient::start_refresh() {
  if (closed_ || destroying_ || refreshing_) return;
  refreshing_ = true;
  last_refresh_ = loop_.now();
  candidates_ = map_.masters();
  for (const InetAddress& seed : seeds_) {
    bool known = false;
    for (const InetAddress& c : candidates_) known = known || c == seed;
    if (!known) candidates_.push_back(seed);
  }
  next_candidate_ = 0;
  ask_next_candidate();
}

void ClusterClient::ask_next_candidate() {
  if (next_candidate_ >= candidates_.size()) {
    refresh_failed();
    return;
  }
  InetAddress node = candidates_[next_candidate_++];
  client_for(node).command(Command::of("CLUSTER", "SLOTS"),
                           [this, node](std::error_code error, const Value* reply) {
                             on_slots(node, error, reply);
                           });
}

void ClusterClient::on_slots(const InetAddress& node, std::error_code error, const Value* reply) {
  if (destroying_) return;
  if (closed_) {
    refreshing_ = false;
    return;
  }
  if (error || reply == nullptr) {
    log(LogLevel::debug, "redis::ClusterClient: CLUSTER SLOTS from %s failed: %s",
        node.to_string().c_str(), error.message().c_str());
    ask_next_candidate();
    return;
  }
  Result<SlotMap> map = SlotMap::from_cluster_slots(*reply, node);
  if (!map.ok() || map->masters().empty()) {
    log(LogLevel::debug, "redis::ClusterClient: no slot map from %s: %s",
        node.to_string().c_str(), reply->to_string().substr(0, 200).c_str());
    ask_next_candidate();
    return;
  }
  map_ = std::move(map.value());
  have_map_ = true;
  refreshing_ = false;
  ++refreshes_;
  std::deque<Job> waiting = std::move(waiting_);
  waiting_.clear();
  for (Job& job : waiting) dispatch(std::move(job));
}

void ClusterClient::refresh_failed() {
  refreshing_ = false;
  log_limited(refresh_log_limiter, LogLevel::warn,
              "redis::ClusterClient: no slot map from any of %zu nodes", candidates_.size());
  if (!have_map_) fail_waiting(make_error_code(errc::cluster_down));
}

void ClusterClient::fail_waiting(std::error_code error) {
  std::deque<Job> waiting = std::move(waiting_);
  waiting_.clear();
  for (Job& job : waiting) job.done(error, nullptr);
}

void ClusterClient::close(std::function<void()> on_closed) {
  loop_.assert_in_loop_thread("ClusterClient::close");
  if (closed_) return;
  closed_ = true;
  if (refresh_timer_.valid()) loop_.cancel(refresh_timer_);
  refresh_timer_ = TimerId{};
  fail_waiting(make_error_code(errc::closed));
  auto remaining = std::make_shared<size_t>(clients_.size());
  auto finished = std::make_shared<std::function<void()>>(std::move(on_closed));
  if (clients_.empty()) {
    if (*finished) loop_.post([finished] { (*finished)(); });
    return;
  }
  for (const auto& client : clients_) {
    client->close([remaining, finished] {
      if (--*remaining == 0 && *finished) (*finished)();
    });
  }
}

}  // namespace tern::redis
