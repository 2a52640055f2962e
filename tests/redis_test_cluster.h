// RedisTestCluster: a real 3-master Redis Cluster on loopback for the tests of the cluster
// client and of the Redis storage: three RedisServer children (tests/redis_server.h) made into a
// cluster by `redis-cli --cluster create`, the way an operator makes one, ready once every node
// reports cluster_state:ok; and the steps of a slot migration by hand. The nodes are reaped with
// it.
//
// Thread rule: the test thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "redis_server.h"
#include "test_support.h"

namespace tern::test {

// Three masters, slots split by redis-cli, every node seeing cluster_state:ok.
class RedisTestCluster {
 public:
  static constexpr size_t kNodes = 3;

  // Null when it could not be made (the test was marked skipped, or a failure was recorded).
  static std::unique_ptr<RedisTestCluster> create() {
    auto cluster = std::make_unique<RedisTestCluster>();
    std::vector<std::string> create_args{"--cluster", "create"};
    std::vector<uint16_t> bus_ports;
    // Their own cluster bus ports: redis would use port + 10000, beyond 65535 for half the
    // ephemeral ports a RedisServer may get. Distinct: two nodes cannot share one.
    while (bus_ports.size() < kNodes) {
      uint16_t port = RedisServer::free_port();
      if (port != 0 && std::find(bus_ports.begin(), bus_ports.end(), port) == bus_ports.end()) {
        bus_ports.push_back(port);
      }
    }
    for (size_t i = 0; i < kNodes; ++i) {
      auto node = RedisServer::start({"cluster-enabled yes", "cluster-config-file nodes.conf",
                                      "cluster-port " + std::to_string(bus_ports[i]),
                                      "cluster-node-timeout 5000"});
      if (!node) return nullptr;
      create_args.push_back(node->address().to_string());
      cluster->nodes_.push_back(std::move(node));
    }
    create_args.insert(create_args.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    auto made = run_command("redis-cli", create_args, std::chrono::seconds(60));
    if (!made.status.exited_with(0)) {
      ADD_FAILURE() << "redis-cli --cluster create: " << made.error << made.status.describe()
                    << "\n" << made.out << made.err;
      return nullptr;
    }
    for (size_t i = 0; i < kNodes; ++i) cluster->ids_.push_back(without_newline(cluster->cli(i, {"CLUSTER", "MYID"})));
    // The nodes learn of each other's slots over the cluster bus: each must say ok.
    bool ok = wait_until([&] {
      for (size_t i = 0; i < kNodes; ++i) {
        if (cluster->cli(i, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
          return false;
        }
      }
      return true;
    }, std::chrono::seconds(30));
    if (!ok) {
      ADD_FAILURE() << "the cluster never reached cluster_state:ok:\n" << cluster->cli(0, {"CLUSTER", "INFO"});
      return nullptr;
    }
    return cluster;
  }

  // A redis-cluster:// URL naming the first two nodes (the third is learnt from the map).
  std::string url() const {
    return "redis-cluster://" + address(0).to_string() + "," + address(1).to_string();
  }
  // GET through node 0 with redirections followed (redis-cli -c): the cluster's own answer.
  std::string value(const std::string& key) { return cli(0, {"-c", "GET", key}); }

  std::vector<InetAddress> seeds() const {
    std::vector<InetAddress> out;
    for (const auto& node : nodes_) out.push_back(node->address());
    return out;
  }
  InetAddress address(size_t i) const { return nodes_[i]->address(); }
  std::string cli(size_t i, const std::vector<std::string>& args) { return nodes_[i]->cli(args); }

  // The node that owns `slot`, as node 0's CLUSTER NODES says ("<id> <ip:port@bus> <flags>
  // <master> <ping> <pong> <epoch> <link> <slots>...").
  size_t owner_of(uint16_t slot) {
    std::istringstream lines(cli(0, {"CLUSTER", "NODES"}));
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string field; fields >> field;) f.push_back(field);
      for (size_t k = 8; k < f.size(); ++k) {
        if (f[k].front() == '[') continue;  // a migration in progress, not an owner
        size_t dash = f[k].find('-');
        unsigned first = std::stoul(f[k].substr(0, dash));
        unsigned last = dash == std::string::npos ? first : std::stoul(f[k].substr(dash + 1));
        if (slot >= first && slot <= last) return index_of_id(f[0]);
      }
    }
    ADD_FAILURE() << "no owner of slot " << slot;
    return 0;
  }

  // The steps of a slot migration by hand, as redis-cli --cluster reshard takes them.
  void begin_migration(uint16_t slot, size_t from, size_t to) {
    EXPECT_EQ(cli(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", ids_[from]}), "OK\n");
    EXPECT_EQ(cli(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", ids_[to]}), "OK\n");
  }
  void migrate_key(const std::string& key, size_t from, size_t to) {
    std::string answer = cli(from, {"MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()),
                                    key, "0", "5000"});
    EXPECT_TRUE(answer == "OK\n" || answer == "NOKEY\n") << key << ": " << answer;
  }
  void end_migration(uint16_t slot, size_t to) {
    EXPECT_EQ(cli(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", ids_[to]}), "OK\n");
    for (size_t i = 0; i < kNodes; ++i) {
      if (i == to) continue;
      EXPECT_EQ(cli(i, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", ids_[to]}), "OK\n");
    }
  }

 private:
  static std::string without_newline(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  size_t index_of_id(const std::string& id) const {
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == id) return i;
    }
    ADD_FAILURE() << "unknown node id " << id;
    return 0;
  }

  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
};

}  // namespace tern::test
