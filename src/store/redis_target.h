// RedisTarget: what a RedisStore sends its commands through, one Redis server (a
// redis::Client) or a Redis Cluster (a redis::ClusterClient), so that the store's flow (the
// operations, their bounds and errors) is written once for both.
//
// The differences it hides: where a command goes (the server; the master of its key's slot),
// which nodes hold data (a scan asks each master), and how a batch may be grouped (a cluster's
// MULTI/EXEC takes keys of one slot only: splits_by_slot()).
//
// Thread rule: loop thread only (the loop it was made on), like the clients under it.
// Destroying it fails what is outstanding (as ~Client says); those callbacks run during the
// destruction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/net/inet_address.h"
#include "tern/redis/client.h"
#include "tern/redis/command.h"
#include "tern/store/store.h"

namespace tern::store {

class RedisTarget {
 public:
  using Callback = redis::Client::Callback;
  using NodesCallback = UniqueFunction<void(std::error_code error, std::vector<InetAddress> nodes)>;

  virtual ~RedisTarget() = default;

  // A command's `deadline` is its reply's, besides the client's command timeout
  // (redis::Client::command; TimePoint::max(): none of its own).
  //
  // Routed by the command's key (redis::Command::first_key).
  virtual void command(redis::Command command, Callback done, TimePoint deadline) = 0;
  // Back to back on one connection of the node that owns the first key (MULTI ... EXEC).
  virtual void command_group(std::vector<redis::Command> commands, Callback done,
                             TimePoint deadline) = 0;
  // To `node`, whatever the key (SCAN of each master).
  virtual void command_to(const InetAddress& node, redis::Command command, Callback done,
                          TimePoint deadline) = 0;
  // The nodes that hold the data: the server; a cluster's masters (read from the cluster
  // first when no slot map is known yet, by a command with `deadline`). `done` runs once,
  // possibly before the call returns.
  virtual void masters(NodesCallback done, TimePoint deadline) = 0;
  // True when a batch must be split into one MULTI/EXEC per hash slot.
  virtual bool splits_by_slot() const noexcept = 0;
  // Redis Cluster redirections followed so far (a single server: none): adds them to `stats`.
  virtual void add_redirections(StoreStats& stats) const noexcept { (void)stats; }
};

std::unique_ptr<RedisTarget> make_server_target(EventLoop& loop, const InetAddress& server,
                                                const redis::ClientOptions& options);
std::unique_ptr<RedisTarget> make_cluster_target(EventLoop& loop, std::vector<InetAddress> seeds,
                                                 const redis::ClientOptions& options);

}  // namespace tern::store
