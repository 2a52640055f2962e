#include "store/redis_storage.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "store/redis_store.h"
#include "store/redis_target.h"
#include "store/redis_url.h"

namespace tern::store {
namespace {

redis::ClientOptions client_options(const StorageConfig& config) {
  redis::ClientOptions options;
  options.command_timeout = config.deadline;
  // The store sends at most queue_capacity operations, each one command (or one group) at a
  // time, and besides them the put script's SCRIPT LOAD: all of them wait in this queue while
  // the connection is made, so it must take one more than the capacity, or a fresh store's
  // last put is refused (store_full_queue_test). A cluster batch sends one group per slot at
  // once: those may still find it full (overloaded).
  options.max_queued = config.queue_capacity + 1;
  // A checkout waits no longer than an operation may take; a connect neither.
  options.pool.wait_timeout = config.deadline;
  options.pool.connect.timeout = std::min<Duration>(config.deadline, options.pool.connect.timeout);
  options.password = config.redis_password;
  options.database = config.redis_database;
  return options;
}

std::string join(const std::vector<InetAddress>& servers) {
  std::string text;
  for (const auto& server : servers) text += (text.empty() ? "" : ",") + server.to_string();
  return text;
}

class RedisStorage final : public Storage {
 public:
  RedisStorage(RedisUrl url, const StorageConfig& config)
      : url_(std::move(url)), config_(config) {}

  std::unique_ptr<Store> attach(EventLoop& loop) override {
    auto target = url_.cluster ? make_cluster_target(loop, url_.servers, client_options(config_))
                               : make_server_target(loop, url_.servers.front(),
                                                    client_options(config_));
    return std::make_unique<RedisStore>(loop, std::move(target), config_);
  }

  std::string describe() const override {
    std::string text = (url_.cluster ? "redis-cluster " : "redis ") + join(url_.servers);
    if (config_.redis_database != 0) text += "/" + std::to_string(config_.redis_database);
    text += " (deadline " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.deadline).count()) +
            " ms, queue " + std::to_string(config_.queue_capacity) + " per loop";
    if (!config_.redis_password.empty()) text += ", AUTH";
    return text + ")";
  }

 private:
  const RedisUrl url_;
  const StorageConfig config_;
};

}  // namespace

std::unique_ptr<Storage> make_redis_storage(const StorageConfig& config, std::string& why) {
  auto url = parse_redis_url(config.url, why);
  if (!url) return nullptr;
  if (url->cluster && config.redis_database != 0) {
    why = "'" + config.url + "': a Redis Cluster has database 0 only (no SELECT)";
    return nullptr;
  }
  if (config.deadline <= Duration::zero()) {
    why = "the storage deadline must be positive";
    return nullptr;
  }
  if (config.queue_capacity == 0) {
    why = "the storage queue capacity must be at least 1";
    return nullptr;
  }
  return std::make_unique<RedisStorage>(std::move(*url), config);
}

}  // namespace tern::store
