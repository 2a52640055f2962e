// RedisServer: a redis-server child on 127.0.0.1, for the tests of the Redis client, the Redis
// storage and tern-kv on Redis. Each one has its own config file and data directory (a TempDir):
// appendonly yes (what was acknowledged survives a kill and a restart), save "" (no RDB
// snapshots), protected-mode no, logs on its stdout (read by the test: the "Ready to accept
// connections" line is the readiness condition, then one PING must answer).
//
//   auto redis = tern::test::RedisServer::start({"requirepass secret"});
//   if (!redis) return;  // skipped (no redis-server here) or failed: gtest recorded which
//   client.connect(redis->address());
//   redis->pause();      // SIGSTOP: connections stay open, nothing answers
//   redis->resume();     // SIGCONT
//   redis->kill();       // SIGKILL and reap
//   ASSERT_TRUE(redis->restart());  // the same port, config and data directory
//
// start() returns null after GTEST_SKIP (no /usr/bin/redis-server: the test shows as skipped
// with the reason) or after ADD_FAILURE (it would not start): the caller just returns.
// The port is a free one found by binding port 0 and closing; if redis-server loses the race
// for it (bind: Address already in use) another is tried, a bounded number of times.
// The destructor stops the server (SIGCONT in case it is paused, SIGTERM, SIGKILL after a
// bounded wait) and reaps it, so no test leaves one behind even when an assertion fails.
//
// Thread rule: the test thread.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "temp_dir.h"
#include "tern/net/inet_address.h"

namespace tern::test {

class RedisServer {
 public:
  static constexpr const char* kServerPath = "/usr/bin/redis-server";
  static constexpr auto kStartTimeout = std::chrono::seconds(15);
  static constexpr auto kStopTimeout = std::chrono::seconds(10);

  // A started server, or null (the test was marked skipped, or a failure was recorded).
  static std::unique_ptr<RedisServer> start(std::vector<std::string> config_lines = {}) {
    if (::access(kServerPath, X_OK) != 0) {
      [] { GTEST_SKIP() << kServerPath << " is missing (apt-get install redis-server)"; }();
      return nullptr;
    }
    std::unique_ptr<RedisServer> server(new RedisServer(std::move(config_lines)));
    if (server->dir_.path().empty()) {
      ADD_FAILURE() << "RedisServer: no temporary directory";
      return nullptr;
    }
    std::string why;
    for (int attempt = 0; attempt < 8; ++attempt) {
      uint16_t port = free_port();
      if (port == 0) {
        why = "no free port";
        continue;
      }
      switch (server->launch(port, why)) {
        case Launch::ready: return server;
        case Launch::port_taken: continue;
        case Launch::failed: ADD_FAILURE() << "redis-server did not start: " << why; return nullptr;
      }
    }
    ADD_FAILURE() << "redis-server did not start: " << why;
    return nullptr;
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() { stop(); }

  uint16_t port() const { return port_; }
  InetAddress address() const { return InetAddress::loopback_v4(port_); }
  const std::string& dir() const { return dir_text_; }
  // What redis-server logged so far (for failure messages).
  std::string log() {
    if (child_) child_->read_available();
    return child_ ? child_->stdout_text() + child_->stderr_text() : std::string();
  }

  // SIGSTOP, and back once the kernel reports the child stopped, so that a command sent after
  // pause() returns is never answered before resume(): the signal alone may still be on its
  // way while the server answers. waitid blocks until the stop (or the child's end, a failure);
  // WNOWAIT leaves both to be reaped by the Child as usual.
  void pause() {
    signal(SIGSTOP);
    if (!child_) return;
    siginfo_t info{};
    if (::waitid(P_PID, child_->pid(), &info, WSTOPPED | WEXITED | WNOWAIT) != 0 ||
        info.si_code != CLD_STOPPED) {
      ADD_FAILURE() << "redis-server was not reported stopped after SIGSTOP (si_code "
                    << info.si_code << ")";
    }
  }
  void resume() { signal(SIGCONT); }

  // SIGKILL and reap: connections break at once, nothing is flushed.
  void kill() {
    if (!child_) return;
    child_->send_signal(SIGKILL);
    child_->wait(kStopTimeout);
    child_.reset();
  }

  // Starts the server again after kill() on the same port, with the same config and data
  // directory (the append-only file brings back what was acknowledged). False (with a failure
  // recorded) when it would not start.
  bool restart() {
    stop();
    std::string why;
    if (launch(port_, why) == Launch::ready) return true;
    ADD_FAILURE() << "redis-server did not restart on port " << port_ << ": " << why;
    return false;
  }

  // Runs `redis-cli -h 127.0.0.1 -p PORT args...` (bounded) and returns its stdout (raw
  // replies: redis-cli's stdout is not a terminal). Options go first: {"-a", "pw", "GET", "k"}.
  std::string cli(const std::vector<std::string>& args) {
    std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(port_)};
    all.insert(all.end(), args.begin(), args.end());
    if (child_) child_->read_available();  // its log pipe must never fill up
    return run_command("redis-cli", all, kStopTimeout).out;
  }

  // A port nothing listens on right now (0 when none could be had).
  static uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    InetAddress any = InetAddress::loopback_v4(0);
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    uint16_t port = 0;
    if (::bind(fd, any.sockaddr_ptr(), any.length()) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
      port = ntohs(bound.sin_port);
    }
    ::close(fd);
    return port;
  }

 private:
  enum class Launch { ready, port_taken, failed };

  explicit RedisServer(std::vector<std::string> config_lines)
      : config_lines_(std::move(config_lines)), dir_("tern-redis-") {
    dir_text_ = dir_.path().string();
  }


  std::string config_text(uint16_t port) const {
    std::string text = "bind 127.0.0.1\nport " + std::to_string(port) + "\ndir " + dir_text_ +
                       "\nappendonly yes\nsave \"\"\nprotected-mode no\ndaemonize no\n"
                       "logfile \"\"\nloglevel notice\n";
    for (const auto& line : config_lines_) text += line + "\n";
    return text;
  }

  Launch launch(uint16_t port, std::string& why) {
    std::string config = dir_ / "redis.conf";
    write_file(config, config_text(port));
    child_ = std::make_unique<ChildProcess>();
    if (!child_->spawn(kServerPath, {config}, why)) return Launch::failed;
    // Readiness: the line redis-server logs once it listens (a condition on bytes read).
    for (;;) {
      auto line = child_->read_stdout_line(kStartTimeout);
      if (!line) break;
      if (line->find("Ready to accept connections") != std::string::npos) {
        port_ = port;
        if (answers_ping(why)) return Launch::ready;
        return Launch::failed;
      }
    }
    auto status = child_->wait(kStopTimeout);
    std::string output = child_->stdout_text() + child_->stderr_text();
    child_.reset();
    if (output.find("Address already in use") != std::string::npos) {
      why = "port " + std::to_string(port) + " taken";
      return Launch::port_taken;
    }
    why = status.describe() + ": " + output;
    return Launch::failed;
  }

  // One PING on a fresh connection gets a reply line (+PONG, or -NOAUTH with requirepass: an
  // answer all the same).
  bool answers_ping(std::string& why) const {
    InetAddress server = address();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    std::string reply;
    if (::connect(fd, server.sockaddr_ptr(), server.length()) == 0 &&
        ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
      char buffer[256];
      while (reply.find("\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        reply.append(buffer, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    if (reply.find("\r\n") != std::string::npos) return true;
    why = "PING got no answer on port " + std::to_string(port_);
    return false;
  }

  void signal(int signo) {
    if (child_) child_->send_signal(signo);
  }

  void stop() {
    if (!child_) return;
    child_->send_signal(SIGCONT);  // a stopped process would not act on SIGTERM
    child_->send_signal(SIGTERM);
    child_->wait(kStopTimeout);   // SIGKILLs and reaps when it takes longer
    child_.reset();
  }

  std::vector<std::string> config_lines_;
  TempDir dir_;
  std::string dir_text_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> child_;
};

}  // namespace tern::test
