// `make cluster` as a user runs it: scripts/cluster.sh started as a child process, with the
// ports and the directory chosen by the test through the script's environment variables
// (free loopback ports, a temporary directory), and the programs of this build. Checked: the
// four processes it reports run the programs they should; PUT and GET through tern-proxy land
// in the redis-server (read back with redis-cli) and each tern-kv sees what the other wrote;
// SIGINT stops everything (exit 0, every reported pid gone from /proc); a logic server that
// dies makes the script stop the rest and exit 1.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "child_process.h"
#include "temp_dir.h"
#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kStartBound = 120s;  // four processes, sanitizer builds included
constexpr auto kStopBound = 90s;

// `count` distinct loopback ports nothing listens on right now: bound together (so they
// differ), then closed for the script's programs to take.
std::vector<uint16_t> free_ports(size_t count) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    InetAddress any = InetAddress::loopback_v4(0);
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    if (fd < 0 || ::bind(fd, any.sockaddr_ptr(), any.length()) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      ADD_FAILURE() << "no free port";
    }
    fds.push_back(fd);
    ports.push_back(ntohs(bound.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

// One HTTP/1.1 exchange on a fresh connection (Connection: close): the whole response.
std::string http_exchange(uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = "") {
  int fd = connect_blocking(InetAddress::loopback_v4(port));
  if (fd < 0) return "connect failed: " + std::string(std::strerror(errno));
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Content-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body;
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response = read_string_until_eof(fd);
  ::close(fd);
  return response;
}

// The status code of a response ("" when there is no status line).
std::string status_of(const std::string& response) {
  return response.starts_with("HTTP/1.1 ") ? response.substr(9, 3) : "";
}
std::string body_of(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// The command line of process `pid` (arguments joined by spaces), "" when it is gone.
std::string cmdline_of(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

// The script run as a child, and what it reported: "cluster: NAME pid N on ...".
class ClusterScript {
 public:
  ClusterScript() : ports_(free_ports(4)) {}
  // A script that failed to stop its processes must not leave them running after the test
  // (the test has failed already): SIGKILL each one still there under its reported name.
  ~ClusterScript() {
    script_.send_signal(SIGKILL);
    script_.wait(10s);
    for (const auto& [name, pid] : pids_) {
      if (cmdline_of(pid).find(name) != std::string::npos) ::kill(pid, SIGKILL);
    }
  }
  ClusterScript(const ClusterScript&) = delete;
  ClusterScript& operator=(const ClusterScript&) = delete;

  // Starts the script and reads its report until "running"; false (with a failure recorded)
  // when it did not get there.
  bool start() {
    setenv("CLUSTER_DIR", dir_.path().c_str(), 1);
    setenv("CLUSTER_REDIS_PORT", std::to_string(redis_port()).c_str(), 1);
    setenv("CLUSTER_KV_PORTS", (std::to_string(kv_port(0)) + " " + std::to_string(kv_port(1))).c_str(), 1);
    setenv("CLUSTER_PROXY_PORT", std::to_string(proxy_port()).c_str(), 1);
    setenv("TERN_KV", TERN_KV_PATH, 1);
    setenv("TERN_PROXY", TERN_PROXY_PATH, 1);
    std::string error;
    if (!script_.spawn("/bin/bash", {TERN_CLUSTER_SCRIPT}, error)) {
      ADD_FAILURE() << "cannot start " << TERN_CLUSTER_SCRIPT << ": " << error;
      return false;
    }
    for (;;) {
      auto line = script_.read_stdout_line(kStartBound);
      if (!line) break;
      if (size_t at = line->find(" pid "); at != std::string::npos) {
        std::string name = line->substr(std::string("cluster: ").size(),
                                        at - std::string("cluster: ").size());
        pids_.push_back({name, static_cast<pid_t>(std::atoi(line->c_str() + at + 5))});
      }
      if (line->find("cluster: running") != std::string::npos) return true;
    }
    ADD_FAILURE() << "the script did not report running; stdout:\n"
                  << script_.stdout_text() << "\nstderr:\n" << script_.stderr_text()
                  << "\nlogs:\n" << logs();
    return false;
  }

  uint16_t redis_port() const { return ports_[0]; }
  uint16_t kv_port(size_t i) const { return ports_[1 + i]; }
  uint16_t proxy_port() const { return ports_[3]; }
  const std::vector<std::pair<std::string, pid_t>>& pids() const { return pids_; }
  pid_t pid_of(const std::string& name, int nth = 0) const {
    for (const auto& [n, pid] : pids_) {
      if (n == name && nth-- == 0) return pid;
    }
    return 0;
  }
  ChildProcess& child() { return script_; }
  const TempDir& dir() const { return dir_; }

  std::string redis_cli(const std::vector<std::string>& args) {
    std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(redis_port())};
    all.insert(all.end(), args.begin(), args.end());
    return run_command("redis-cli", all, 10s).out;
  }

  // Every log the script's programs wrote, for failure messages.
  std::string logs() const {
    std::string text;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path(), ignored)) {
      if (entry.path().extension() == ".log") {
        text += "--- " + entry.path().filename().string() + "\n" + read_file(entry.path());
      }
    }
    return text;
  }

 private:
  std::vector<uint16_t> ports_;
  TempDir dir_{"tern-cluster-"};
  ChildProcess script_;
  std::vector<std::pair<std::string, pid_t>> pids_;
};

bool redis_server_missing() { return ::access("/usr/bin/redis-server", X_OK) != 0; }

TEST(ClusterTest, PutAndGetThroughTheProxyReachRedisAndSigintStopsEverything) {
  if (redis_server_missing()) GTEST_SKIP() << "redis-server is missing (scripts/install-deps.sh)";
  ClusterScript cluster;
  ASSERT_TRUE(cluster.start());

  // The four processes it reported run the programs they should.
  ASSERT_EQ(cluster.pids().size(), 4u) << cluster.child().stdout_text();
  EXPECT_NE(cmdline_of(cluster.pid_of("redis-server")).find("redis-server"), std::string::npos);
  for (int i = 0; i < 2; ++i) {
    std::string kv = cmdline_of(cluster.pid_of("tern-kv", i));
    EXPECT_NE(kv.find(TERN_KV_PATH), std::string::npos) << kv;
    EXPECT_NE(kv.find("redis://127.0.0.1:" + std::to_string(cluster.redis_port())),
              std::string::npos) << kv;
  }
  std::string proxy = cmdline_of(cluster.pid_of("tern-proxy"));
  EXPECT_NE(proxy.find("--health-path /healthz"), std::string::npos) << proxy;

  // Through the access server, as the printed curl line does.
  std::string put = http_exchange(cluster.proxy_port(), "PUT", "/kv/greeting", "hello");
  EXPECT_EQ(status_of(put), "201") << put << cluster.logs();
  std::string get = http_exchange(cluster.proxy_port(), "GET", "/kv/greeting");
  EXPECT_EQ(status_of(get), "200") << get;
  EXPECT_EQ(body_of(get), "hello");
  EXPECT_EQ(cluster.redis_cli({"GET", "greeting"}), "hello\n") << "the value is in redis";

  // Both logic servers share the database server: what one wrote the other reads.
  std::string direct = http_exchange(cluster.kv_port(0), "PUT", "/kv/shared", "from-kv-0");
  EXPECT_EQ(status_of(direct), "201") << direct;
  std::string other = http_exchange(cluster.kv_port(1), "GET", "/kv/shared");
  EXPECT_EQ(body_of(other), "from-kv-0") << other;

  // Ctrl-C: everything stops cleanly, and nothing is left behind.
  ASSERT_TRUE(cluster.child().send_signal(SIGINT));
  ExitStatus status = cluster.child().wait(kStopBound);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n"
                                     << cluster.child().stdout_text()
                                     << cluster.child().stderr_text() << cluster.logs();
  EXPECT_NE(cluster.child().stdout_text().find("cluster: stopped"), std::string::npos);
  for (const auto& [name, pid] : cluster.pids()) {
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)))
        << name << " (pid " << pid << ") is still there: " << cmdline_of(pid);
  }
  // redis-server kept the data in the directory the test gave (appendonly).
  EXPECT_TRUE(std::filesystem::exists(cluster.dir().path() / "redis" / "appendonlydir"));
}

TEST(ClusterTest, ALogicServerThatDiesStopsTheRestAndTheScriptFails) {
  if (redis_server_missing()) GTEST_SKIP() << "redis-server is missing (scripts/install-deps.sh)";
  ClusterScript cluster;
  ASSERT_TRUE(cluster.start());
  pid_t victim = cluster.pid_of("tern-kv", 1);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  ExitStatus status = cluster.child().wait(kStopBound);
  EXPECT_TRUE(status.exited_with(1)) << status.describe() << "\n" << cluster.child().stderr_text();
  EXPECT_NE(cluster.child().stderr_text().find("tern-kv (pid " + std::to_string(victim) +
                                               ") exited by itself"),
            std::string::npos)
      << cluster.child().stderr_text();
  for (const auto& [name, pid] : cluster.pids()) {
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)))
        << name << " (pid " << pid << ") is still there: " << cmdline_of(pid);
  }
}

}  // namespace
}  // namespace tern::test
