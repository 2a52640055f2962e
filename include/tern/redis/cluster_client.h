// redis::ClusterClient: commands to a Redis Cluster from one loop. It keeps the cluster's slot
// map (CLUSTER SLOTS, asked of the seeds or of a known master) and one redis::Client per node,
// and routes each command to the master of its key's slot (tern/redis/key_slot.h).
//
//   redis::ClusterClient cluster(loop, {seed1, seed2});
//   cluster.command(redis::Command::of("SET", key, value),
//                   [](std::error_code error, const redis::Value* reply) { ... });
//
// Redirections are followed without the caller seeing them:
//   MOVED slot host:port  the slot has a new owner: the map takes it at once, a refresh of the
//                         whole map is scheduled, and the command is sent to the new owner;
//   ASK slot host:port    the slot is migrating and this key has moved already: ASKING and the
//                         command go back to back on one connection of the target
//                         (Client::command_group); the map is not changed.
// At most max_redirects per command; one more fails it with errc::too_many_redirects.
// Refreshes are one at a time and at most one per refresh_min_interval.
//
// Before the first map, commands wait for it (at most node.max_queued; more: queue_full). A
// map that cannot be had from any seed or known master fails them with errc::cluster_down, and
// the next command tries again. A slot no master covers, or a master that cannot be reached
// (the connect's errors, which Client reports as never_sent()), fails the command with
// cluster_down and schedules a refresh (a failover gives the slot a new master). Other errors
// are the node's Client's (tern/redis/client.h), error replies such as TRYAGAIN and CLUSTERDOWN
// included.
//
// Thread rule: loop thread only (one per loop), like redis::Client: construct, use and destroy
// it there. A callback may call command() and close(), not destroy the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"
#include "tern/net/inet_address.h"
#include "tern/redis/client.h"
#include "tern/redis/command.h"
#include "tern/redis/slot_map.h"

namespace tern::redis {

struct ClusterOptions {
  ClientOptions node;   // every node's Client
  int max_redirects = 5;
  Duration refresh_min_interval = std::chrono::milliseconds(100);
};

class ClusterClient {
 public:
  using Callback = Client::Callback;

  // Loop thread only. Connects nothing until the first command.
  ClusterClient(EventLoop& loop, std::vector<InetAddress> seeds, ClusterOptions options = {});
  // Loop thread only. Commands waiting for the map fail with closed; the nodes' Clients are
  // destroyed (what they have outstanding fails as ~Client says); callbacks run here and must
  // not use this client.
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // Routed by first_key()'s slot to its master (keyless: any master, in turn); `done` runs
  // exactly once. `deadline`: the reply's, as Client::command's, for the command and its
  // redirections (not for a wait for the first map). Loop thread only.
  void command(Command command, Callback done, TimePoint deadline = TimePoint::max());
  // Several commands back to back on one connection of one node (MULTI ... EXEC), routed by
  // the first command that has a key (their keys must share a slot, as Redis Cluster requires);
  // `done` as Client::command_group. A redirection sends the whole group again (an ASK with
  // ASKING first). Loop thread only.
  void command_group(std::vector<Command> commands, Callback done,
                     TimePoint deadline = TimePoint::max());
  // To `node` whatever the key (SCAN of each master, per-node batches); redirections are still
  // followed. Loop thread only.
  void command_to(const InetAddress& node, Command command, Callback done,
                  TimePoint deadline = TimePoint::max());
  void command_group_to(const InetAddress& node, std::vector<Command> commands, Callback done,
                        TimePoint deadline = TimePoint::max());

  // Refuses new commands, fails those waiting for the map (closed), closes every node's
  // Client (commands sent finish); `on_closed` runs on the loop when all are closed (this
  // client may be destroyed from it). Loop thread only.
  void close(std::function<void()> on_closed = {});

  // --- about (loop thread only)
  size_t nodes() const noexcept { return clients_.size(); }   // redis::Clients open
  uint64_t redirections() const noexcept { return moved_ + asked_; }  // MOVED and ASK followed
  uint64_t moved_redirections() const noexcept { return moved_; }     // MOVED followed
  uint64_t ask_redirections() const noexcept { return asked_; }       // ASK followed
  uint64_t refreshes() const noexcept { return refreshes_; }        // maps read
  bool has_map() const noexcept { return have_map_; }
  const SlotMap& slot_map() const noexcept { return map_; }
  std::vector<InetAddress> masters() const { return map_.masters(); }  // empty before a map
  size_t waiting() const noexcept { return waiting_.size(); }  // commands waiting for the map

 private:
  // A command (or a group) on its way, with the redirections it took.
  struct Job {
    std::vector<Command> commands;
    Callback done;
    int redirects = 0;
    std::optional<InetAddress> pinned;  // command_to: the node, whatever the map says
    TimePoint deadline = TimePoint::max();  // the reply's (Client::command)
  };

  void dispatch(Job job);
  std::optional<uint16_t> slot_of(const Job& job) const;
  std::optional<InetAddress> route(const Job& job);
  void send(const InetAddress& node, Job job, bool asking);
  void on_reply(const InetAddress& node, Job job, std::error_code error, const Value* reply);
  Client& client_for(const InetAddress& node);

  void request_refresh();
  void start_refresh();
  void ask_next_candidate();
  void on_slots(const InetAddress& node, std::error_code error, const Value* reply);
  void refresh_failed();
  void fail_waiting(std::error_code error);

  EventLoop& loop_;
  std::vector<InetAddress> seeds_;
  ClusterOptions options_;
  std::vector<std::unique_ptr<Client>> clients_;  // one per node, made on first use
  SlotMap map_;
  bool have_map_ = false;
  std::deque<Job> waiting_;           // for the first map
  bool refreshing_ = false;
  std::vector<InetAddress> candidates_;   // nodes a refresh asks, in turn
  size_t next_candidate_ = 0;
  TimePoint last_refresh_{};
  TimerId refresh_timer_{};
  size_t next_keyless_ = 0;
  uint64_t moved_ = 0;  // redirections followed, by kind
  uint64_t asked_ = 0;
  uint64_t refreshes_ = 0;
  bool closed_ = false;
  bool destroying_ = false;
};

}  // namespace tern::redis
