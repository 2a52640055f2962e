#include "store/redis_target.h"

#include "tern/redis/cluster_client.h"

namespace tern::store {
namespace {

class ServerTarget final : public RedisTarget {
 public:
  ServerTarget(EventLoop& loop, const InetAddress& server, const redis::ClientOptions& options)
      : client_(loop, server, options) {}

  void command(redis::Command command, Callback done, TimePoint deadline) override {
    client_.command(std::move(command), std::move(done), deadline);
  }
  void command_group(std::vector<redis::Command> commands, Callback done,
                     TimePoint deadline) override {
    client_.command_group(std::move(commands), std::move(done), deadline);
  }
  void command_to(const InetAddress&, redis::Command command, Callback done,
                  TimePoint deadline) override {
    client_.command(std::move(command), std::move(done), deadline);
  }
  void masters(NodesCallback done, TimePoint) override { done({}, {client_.server()}); }
  bool splits_by_slot() const noexcept override { return false; }

 private:
  redis::Client client_;
};

class ClusterTarget final : public RedisTarget {
 public:
  ClusterTarget(EventLoop& loop, std::vector<InetAddress> seeds,
                const redis::ClientOptions& options)
      : cluster_(loop, std::move(seeds), redis::ClusterOptions{.node = options}) {}

  void command(redis::Command command, Callback done, TimePoint deadline) override {
    cluster_.command(std::move(command), std::move(done), deadline);
  }
  void command_group(std::vector<redis::Command> commands, Callback done,
                     TimePoint deadline) override {
    cluster_.command_group(std::move(commands), std::move(done), deadline);
  }
  void command_to(const InetAddress& node, redis::Command command, Callback done,
                  TimePoint deadline) override {
    cluster_.command_to(node, std::move(command), std::move(done), deadline);
  }
  // Before the first slot map, a keyless PING waits for it (the cluster client reads it
  // first); its answer means the map is there, or could not be had.
  void masters(NodesCallback done, TimePoint deadline) override {
    if (cluster_.has_map()) return done({}, cluster_.masters());
    cluster_.command(
        redis::Command("PING"),
        [this, done = std::move(done)](std::error_code error, const redis::Value*) mutable {
          if (error) return done(error, {});
          done({}, cluster_.masters());
        },
        deadline);
  }
  bool splits_by_slot() const noexcept override { return true; }
  void add_redirections(StoreStats& stats) const noexcept override {
    stats.redirections_moved += cluster_.moved_redirections();
    stats.redirections_ask += cluster_.ask_redirections();
  }

 private:
  redis::ClusterClient cluster_;
};

}  // namespace

std::unique_ptr<RedisTarget> make_server_target(EventLoop& loop, const InetAddress& server,
                                                const redis::ClientOptions& options) {
  return std::make_unique<ServerTarget>(loop, server, options);
}

std::unique_ptr<RedisTarget> make_cluster_target(EventLoop& loop, std::vector<InetAddress> seeds,
                                                 const redis::ClientOptions& options) {
  return std::make_unique<ClusterTarget>(loop, std::move(seeds), options);
}

}  // namespace tern::store
