// tern-bench redis drives tern::redis::Client, the client users get: when the server goes away
// mid-run, the report names the client's own error (connection_lost: "the connection broke
// with the command sent"), counted as the server closing the connection, before any failed
// reconnect. A hand-written exchange on tern-bench's own socket reports its socket's errors
// instead ("read: Connection reset by peer", an unnamed EOF, then "cannot connect"): this test
// fails against it.
//
// Synchronised on tern-bench's progress lines (--progress always: one a second on stderr,
// with the replies' rate and the error count) and on the server's death (SIGKILL, reaped);
// every wait is bounded, tern-bench stops on SIGINT and is reaped (tests/child_process.h).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.h"
#include "json_value.h"
#include "redis_server.h"

#ifndef TERN_BENCH_PATH
#error "TERN_BENCH_PATH must name the tern-bench binary"
#endif

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kProgressTimeout = 30s;  // until a progress line shows what is waited for
constexpr auto kExitTimeout = 30s;      // until tern-bench, signalled, has exited

// The build's tern-bench, or $TERN_BENCH_UNDER_TEST (to run this test against another build).
const char* bench_path() {
  const char* override_path = std::getenv("TERN_BENCH_UNDER_TEST");
  return override_path && *override_path ? override_path : TERN_BENCH_PATH;
}

// The number after `key` ("errors=") in a progress line, or nullopt.
std::optional<double> field(std::string_view line, std::string_view key) {
  size_t at = line.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  return std::strtod(std::string(line.substr(at + key.size())).c_str(), nullptr);
}

// tern-bench's "progress measure ..." lines on stderr, one after the other.
class ProgressLines {
 public:
  explicit ProgressLines(ChildProcess& bench) : bench_(bench) {}

  // The next line, or nullopt when none comes within kProgressTimeout.
  std::optional<std::string> next() {
    const auto deadline = Clock::now() + kProgressTimeout;
    for (;;) {
      const std::string& text = bench_.stderr_text();
      size_t at = text.find("progress measure", seen_);
      size_t end = at == std::string::npos ? at : text.find('\n', at);
      if (end != std::string::npos) {
        seen_ = end + 1;
        return text.substr(at, end - at);
      }
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero() || !bench_.wait_for_stderr("\n", left)) {
        return std::nullopt;
      }
    }
  }

  // Waits for a line whose `key` value satisfies `wanted`: that line, else the last one seen
  // (nullopt when the lines stopped coming).
  template <class Wanted>
  std::optional<std::string> wait_for(std::string_view key, Wanted wanted) {
    const auto deadline = Clock::now() + kProgressTimeout;
    std::optional<std::string> line;
    while (Clock::now() < deadline) {
      line = next();
      if (!line) return line;
      if (auto value = field(*line, key); value && wanted(*value)) return line;
    }
    return line;
  }

 private:
  ChildProcess& bench_;
  size_t seen_ = 0;  // stderr bytes already looked at
};

TEST(BenchRedisClient, AServerGoneMidRunIsReportedWithTheClientsError) {
  auto redis = RedisServer::start();
  if (!redis) return;
  ChildProcess bench;
  std::string error;
  // -d 600: ended by SIGINT below, long before (and bounded by kExitTimeout if it hangs).
  ASSERT_TRUE(bench.spawn(bench_path(),
                          {"redis", "-c", "2", "-p", "4", "-d", "600", "--timeout", "1",
                           "--progress", "always", "--json",
                           "127.0.0.1:" + std::to_string(redis->port())},
                          error))
      << error;

  // Replies flow: a measured second with a rate above zero.
  ProgressLines progress(bench);
  auto flowing = progress.wait_for("rate=", [](double rate) { return rate > 0; });
  ASSERT_TRUE(flowing && field(*flowing, "rate=").value_or(0) > 0)
      << "no replies in the measured interval: " << bench.stderr_text();

  redis->kill();  // SIGKILL and reaped: the connections break with commands in flight

  auto failing = progress.wait_for("errors=", [](double errors) { return errors > 0; });
  EXPECT_TRUE(failing && field(*failing, "errors=").value_or(0) > 0)
      << "no error counted after the server died: " << bench.stderr_text();

  ASSERT_TRUE(bench.send_signal(SIGINT));
  ExitStatus status = bench.wait(kExitTimeout);
  ASSERT_FALSE(status.timed_out) << "tern-bench did not stop on SIGINT";
  std::string json_error;
  auto report = parse_json(bench.stdout_text(), json_error);
  ASSERT_TRUE(report) << json_error << "\n" << bench.stdout_text() << bench.stderr_text();

  const JsonValue* closed = report->at("errors.closed");
  ASSERT_TRUE(closed && closed->is_number()) << bench.stdout_text();
  EXPECT_GT(closed->number, 0) << bench.stdout_text();
  const JsonValue* first_error = report->at("first_error");
  ASSERT_NE(first_error, nullptr) << bench.stdout_text();
  EXPECT_NE(first_error->text.find("redis::Client: the connection broke with the command sent"),
            std::string::npos)
      << "first_error: " << first_error->text;
}

}  // namespace
}  // namespace tern::test
