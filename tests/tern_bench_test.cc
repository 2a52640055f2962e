// tern-bench as a black box: the real binary runs as a child process against servers whose own
// counters the test reads (an in-process tern HTTP server, tern-echo and tern-httpd children),
// and its --json document is parsed and checked against them: exact counts of requests and
// bytes, percentiles of a known latency distribution, the queueing an open-loop run must show
// behind a stalled server, and its answers to bad usage and unreachable targets.
//
// Timing: no assertion measures the machine. Latency bounds follow from delays the server
// imposes (a request answered after D cannot be measured below D), or from a gap of orders of
// magnitude (a request answered at once against a delay of 100+ ms). Every wait is bounded and
// every child is reaped (tests/child_process.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.h"
#include "counting_http_server.h"
#include "json_value.h"
#include "redis_server.h"
#include "test_support.h"

#ifndef TERN_BENCH_PATH
#error "TERN_BENCH_PATH must name the tern-bench binary"
#endif
#ifndef TERN_ECHO_PATH
#error "TERN_ECHO_PATH must name the tern-echo binary"
#endif
#ifndef TERN_HTTPD_PATH
#error "TERN_HTTPD_PATH must name the tern-httpd binary"
#endif

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kRunLimit = 90s;       // one tern-bench run (liveness bound, not a measurement)
constexpr auto kStartTimeout = 15s;   // until a server child prints its "listening on" line
constexpr auto kExitTimeout = 15s;    // until a signalled server child has exited

// The binaries under test: the build's, or $TERN_BENCH_UNDER_TEST when set (to run these tests
// against another build of tern-bench).
const char* bench_path() {
  const char* override_path = std::getenv("TERN_BENCH_UNDER_TEST");
  return override_path && *override_path ? override_path : TERN_BENCH_PATH;
}

// ---------------------------------------------------------------------------------------------
// Running tern-bench

struct BenchRun {
  ExitStatus status;
  std::string out;
  std::string err;
  std::optional<JsonValue> json;  // when stdout is exactly one JSON document
  std::string json_error;

  std::string describe() const {
    return status.describe() + "\n--- stderr ---\n" + err + "--- stdout ---\n" + out +
           (json_error.empty() ? "" : "--- json ---\n" + json_error + "\n");
  }
};

// Runs tern-bench with `args` to completion (SIGKILLed and failed after kRunLimit).
BenchRun run_bench(const std::vector<std::string>& args) {
  BenchRun run;
  ChildProcess child;
  std::string error;
  if (!child.spawn(bench_path(), args, error)) {
    ADD_FAILURE() << "cannot start " << bench_path() << ": " << error;
    return run;
  }
  run.status = child.wait(kRunLimit);
  if (run.status.timed_out) ADD_FAILURE() << "tern-bench did not finish within its bound";
  run.out = child.stdout_text();
  run.err = child.stderr_text();
  run.json = parse_json(run.out, run.json_error);
  return run;
}

// The number at `path` ("totals.replies") of a run's JSON document; NaN (and a failure naming
// the key) when the document or the key is missing or not a number.
double number(const BenchRun& run, std::string_view path) {
  const JsonValue* value = run.json ? run.json->at(path) : nullptr;
  if (value == nullptr || !value->is_number()) {
    ADD_FAILURE() << "no number at '" << path << "' in the JSON document\n" << run.describe();
    return std::nan("");
  }
  return value->number;
}

// Nanoseconds, as latency_ns reports them.
double ns(Duration d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// A loopback port with nothing listening on it: bound, then closed. (Nothing else here binds
// ports by number, and the kernel hands out ephemeral ports in sequence, so it stays free for
// the few seconds a test needs it.)
uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// ---------------------------------------------------------------------------------------------
// Server children (tern-echo, tern-httpd) on an ephemeral port

class ServerChild {
 public:
  // Starts `path` with `args` and reads its first line, "NAME: listening on 127.0.0.1:PORT ...".
  ::testing::AssertionResult start(const char* path, const std::vector<std::string>& args) {
    std::string error;
    SpawnOptions options;
    options.stderr_mode = StderrMode::inherited;
    if (!child_.spawn(path, args, error, options)) {
      return ::testing::AssertionFailure() << "cannot start " << path << ": " << error;
    }
    auto line = child_.read_stdout_line(kStartTimeout);
    const std::string marker = "listening on 127.0.0.1:";
    size_t at = line ? line->find(marker) : std::string::npos;
    if (at == std::string::npos) {
      return ::testing::AssertionFailure()
             << path << ": no 'listening on' line; stdout: '" << child_.stdout_text() << "'";
    }
    port_ = static_cast<uint16_t>(std::atoi(line->c_str() + at + marker.size()));
    if (port_ == 0) return ::testing::AssertionFailure() << "no port in '" << *line << "'";
    return ::testing::AssertionSuccess();
  }
  // Every server child ends as its program should: SIGTERM, then exit 0.
  ~ServerChild() {
    if (port_ == 0) return;
    child_.send_signal(SIGTERM);
    ExitStatus status = child_.wait(kExitTimeout);
    EXPECT_TRUE(status.exited_with(0)) << "server child " << status.describe();
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return child_.pid(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  ChildProcess child_;
  uint16_t port_ = 0;
};

::testing::AssertionResult start_echo(ServerChild& server, const std::string& codec) {
  return server.start(TERN_ECHO_PATH, {"--host", "127.0.0.1", "--port", "0", "--codec", codec});
}

// ---------------------------------------------------------------------------------------------
// 1. Exact counts: HTTP against an in-process server whose handler counts

struct HttpCountRow {
  const char* name;
  std::vector<std::string> flags;
  int server_threads;
};
void PrintTo(const HttpCountRow& row, std::ostream* out) { *out << row.name; }

class BenchHttpCounts : public testing::TestWithParam<HttpCountRow> {};

TEST_P(BenchHttpCounts, CountsEveryRequestAndByteTheServerSaw) {
  constexpr int kRequests = 2000;
  CountingHttpServer server({.threads = GetParam().server_threads});
  ASSERT_EQ(server.start_error(), "");
  size_t response_size = server.response_size();  // /probe: not counted
  ASSERT_GT(response_size, CountingHttpServer::kBody.size());

  std::vector<std::string> args = {"http", "--requests", std::to_string(kRequests), "--json"};
  args.insert(args.end(), GetParam().flags.begin(), GetParam().flags.end());
  args.push_back(server.url());
  BenchRun run = run_bench(args);
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  ASSERT_TRUE(run.json) << run.describe();

  EXPECT_EQ(number(run, "totals.requests_sent"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests);
  EXPECT_EQ(number(run, "requests"), kRequests);  // no warm-up: the whole run is measured
  EXPECT_EQ(number(run, "latency_ns.count"), kRequests);
  EXPECT_EQ(number(run, "status.2xx"), kRequests);
  EXPECT_EQ(server.requests(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(number(run, "totals.bytes_received"), static_cast<double>(kRequests * response_size));
  EXPECT_GT(number(run, "totals.bytes_sent"), 0);
  for (const char* error : {"connect", "read", "write", "timeout", "closed", "mismatch", "parse"}) {
    EXPECT_EQ(number(run, std::string("errors.") + error), 0) << error;
  }
  EXPECT_EQ(run.json->at("tool")->text, "tern-bench");
  EXPECT_EQ(run.json->at("mode")->text, "http");
  EXPECT_EQ(run.json->at("target")->text, server.url());
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BenchHttpCounts,
    testing::Values(HttpCountRow{"closed_loop", {}, 1},
                    HttpCountRow{"count_only", {"--duration", "0"}, 1},
                    HttpCountRow{"pipeline_8", {"-d", "0", "--pipeline", "8"}, 1},
                    HttpCountRow{"threads_2", {"-d", "0", "-t", "2", "-c", "4"}, 2},
                    HttpCountRow{"threads_2_pipeline_8", {"-d", "0", "-t", "2", "-p", "8"}, 2}),
    [](const testing::TestParamInfo<HttpCountRow>& row) { return std::string(row.param.name); });

// A server that closes every connection after one response: each request needs a connection
// of its own, and the run still completes exactly --requests.
TEST(BenchHttp, ReopensConnectionsTheServerCloses) {
  constexpr int kRequests = 60;
  CountingHttpServer server({.close_each = true});
  ASSERT_EQ(server.start_error(), "");
  uint64_t accepted_before = server.accepted();
  BenchRun run = run_bench({"http", "-c", "3", "--requests", std::to_string(kRequests), "-d", "0",
                            "--json", server.url()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.requests_sent"), kRequests);
  EXPECT_EQ(number(run, "status.2xx"), kRequests);
  EXPECT_EQ(server.requests(), static_cast<uint64_t>(kRequests));
  EXPECT_GE(number(run, "totals.connects"), kRequests);
  EXPECT_EQ(number(run, "errors.parse"), 0);
  // The server's own count of connections: every request came on a connection of its own.
  auto accepted = [&] { return server.accepted() - accepted_before; };
  EXPECT_TRUE(wait_until([&] { return accepted() >= uint64_t{kRequests}; }, 10s))
      << "accepted " << accepted();
}

// No reply in the measured interval is a failed run, not a report of zeros: here the whole
// --requests budget (one request) is spent in the 2 s warm-up, and tern-bench says so.
TEST(BenchHttp, NoReplyInTheMeasuredIntervalFailsTheRun) {
  CountingHttpServer server;
  ASSERT_EQ(server.start_error(), "");
  BenchRun run = run_bench({"http", "-c", "1", "--requests", "1", "-d", "0", "-w", "2", "--json",
                            server.url()});
  EXPECT_TRUE(run.status.exited_with(1)) << run.describe();
  EXPECT_NE(run.err.find("measured interval"), std::string::npos) << run.describe();
  EXPECT_EQ(server.requests(), 1u);
}

// ---------------------------------------------------------------------------------------------
// 1b. Exact counts: echo and rr against a tern-echo child

TEST(BenchEcho, SendsAndReceivesExactlyRequestsTimesSize) {
  constexpr int kRequests = 1000;
  constexpr int kSize = 512;
  ServerChild echo;
  ASSERT_TRUE(start_echo(echo, "raw"));
  BenchRun run = run_bench({"echo", "--requests", std::to_string(kRequests), "-s",
                            std::to_string(kSize), "-d", "0", "-c", "4", "--json",
                            echo.address()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.requests_sent"), kRequests);
  EXPECT_EQ(number(run, "totals.bytes_sent"), kRequests * kSize);
  EXPECT_EQ(number(run, "totals.bytes_received"), kRequests * kSize);
  EXPECT_EQ(number(run, "latency_ns.count"), kRequests);
  EXPECT_EQ(number(run, "errors.mismatch"), 0);
  EXPECT_EQ(run.json->at("mode")->text, "echo");
}

TEST(BenchEcho, PipelinedBlocksAreCountedExactly) {
  constexpr int kRequests = 1000;
  constexpr int kSize = 1000;
  ServerChild echo;
  ASSERT_TRUE(start_echo(echo, "raw"));
  BenchRun run = run_bench({"echo", "-n", std::to_string(kRequests), "-s", std::to_string(kSize),
                            "-d", "0", "-c", "2", "-p", "4", "-t", "2", "--json", echo.address()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.bytes_sent"), kRequests * kSize);
  EXPECT_EQ(number(run, "totals.bytes_received"), kRequests * kSize);
  EXPECT_EQ(number(run, "errors.mismatch"), 0);
}

// ---------------------------------------------------------------------------------------------
// 1c. redis: RESP commands against a redis-server child, every one counted by the server

// The server's count of `command` calls ("cmdstat_set:calls=N,..." in INFO commandstats).
long command_calls(RedisServer& redis, const std::string& command) {
  std::string stats = redis.cli({"INFO", "commandstats"});
  std::string marker = "cmdstat_" + command + ":calls=";
  size_t at = stats.find(marker);
  return at == std::string::npos ? 0 : std::atol(stats.c_str() + at + marker.size());
}

TEST(BenchRedis, SetThenGetAreCountedByTheServerOneForOne) {
  constexpr int kCommands = 2000;
  auto redis = RedisServer::start();
  if (!redis) return;
  std::string target = "127.0.0.1:" + std::to_string(redis->port());
  BenchRun set = run_bench({"redis", "-n", std::to_string(kCommands), "-d", "0", "-c", "4", "-p",
                            "8", "--value-size", "100", "--key", "bench:k", "--json", target});
  ASSERT_TRUE(set.status.exited_with(0)) << set.describe();
  EXPECT_EQ(number(set, "totals.replies"), kCommands) << set.describe();
  EXPECT_EQ(number(set, "errors.mismatch"), 0);
  EXPECT_EQ(set.json->at("mode")->text, "redis");
  EXPECT_EQ(command_calls(*redis, "set"), kCommands);
  EXPECT_EQ(redis->cli({"STRLEN", "bench:k"}), "100\n");

  BenchRun get = run_bench({"redis", "-n", std::to_string(kCommands), "-d", "0", "-c", "2",
                            "--command", "get", "--key", "bench:k", "--json", target});
  ASSERT_TRUE(get.status.exited_with(0)) << get.describe();
  EXPECT_EQ(number(get, "totals.replies"), kCommands) << get.describe();
  // *2 $3 GET $7 bench:k: 26 bytes a command; "$100" CRLF, the value, CRLF: 108 bytes a reply.
  EXPECT_EQ(number(get, "totals.bytes_sent"), kCommands * 26.0);
  EXPECT_EQ(number(get, "totals.bytes_received"), kCommands * 108.0);
  EXPECT_EQ(command_calls(*redis, "get"), kCommands);
}

// An error reply (GET of a key that holds a list: WRONGTYPE) is a mismatch, never a success.
TEST(BenchRedis, AnErrorReplyIsAMismatch) {
  auto redis = RedisServer::start();
  if (!redis) return;
  ASSERT_EQ(redis->cli({"RPUSH", "bench:list", "a"}), "1\n");
  BenchRun run = run_bench({"redis", "-n", "20", "-d", "0", "-c", "1", "--command", "get",
                            "--key", "bench:list", "--timeout", "2", "--json",
                            "127.0.0.1:" + std::to_string(redis->port())});
  EXPECT_FALSE(run.status.exited_with(0)) << run.describe();
  EXPECT_GT(number(run, "errors.mismatch"), 0) << run.describe();
  const JsonValue* first_error = run.json ? run.json->at("first_error") : nullptr;
  ASSERT_NE(first_error, nullptr) << run.describe();
  EXPECT_NE(first_error->text.find("WRONGTYPE"), std::string::npos) << run.describe();
}

struct RrRow {
  const char* framing;  // tern-bench --framing
  const char* codec;    // tern-echo --codec
  int framing_bytes;    // bytes each message carries on the wire besides its --size bytes
};
void PrintTo(const RrRow& row, std::ostream* out) { *out << row.framing; }

class BenchRr : public testing::TestWithParam<RrRow> {};

TEST_P(BenchRr, RequestsAndRepliesMatchByteForByte) {
  constexpr int kRequests = 1000;
  constexpr int kSize = 64;
  ServerChild echo;
  ASSERT_TRUE(start_echo(echo, GetParam().codec));
  BenchRun run = run_bench({"rr", "--requests", std::to_string(kRequests), "--framing",
                            GetParam().framing, "-s", std::to_string(kSize), "-d", "0", "-c", "3",
                            "--json", echo.address()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.requests_sent"), kRequests);
  // --size counts the message: for line framing its size-1 bytes and '\n' (as the old
  // rr_client did), for length framing what follows the 4-byte length prefix (tern-echo's
  // --codec length).
  const int wire = kSize + GetParam().framing_bytes;
  EXPECT_EQ(number(run, "totals.bytes_sent"), kRequests * wire);
  EXPECT_EQ(number(run, "totals.bytes_received"), kRequests * wire);
  EXPECT_EQ(number(run, "errors.mismatch"), 0);
  EXPECT_EQ(run.json->at("mode")->text, "rr");
}

INSTANTIATE_TEST_SUITE_P(Framings, BenchRr,
                         testing::Values(RrRow{"line", "line", 0}, RrRow{"length", "length", 4}),
                         [](const testing::TestParamInfo<RrRow>& row) {
                           return std::string(row.param.framing);
                         });

// ---------------------------------------------------------------------------------------------
// 2. Percentiles of a known distribution

// Every 10th request is answered after D, the rest at once. One connection, closed loop, so
// requests never queue behind a delayed one: exactly 10% of the latencies are >= D, and the
// other 90% are as fast as a loopback round trip (orders of magnitude below D).
TEST(BenchLatency, PercentilesOfAKnownDistribution) {
  constexpr int kRequests = 100;
  constexpr Duration kDelay = 200ms;
  CountingHttpServer server({.delay_every = 10, .delay = kDelay});
  ASSERT_EQ(server.start_error(), "");
  BenchRun run = run_bench({"http", "-c", "1", "--requests", std::to_string(kRequests), "-d", "0",
                            "--json", server.url()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  ASSERT_EQ(number(run, "latency_ns.count"), kRequests) << run.describe();
  double d = ns(kDelay);
  EXPECT_LT(number(run, "latency_ns.p50"), d) << run.describe();
  // 90 of 100 are fast: the 90th percentile is the slowest fast one.
  EXPECT_LT(number(run, "latency_ns.p90"), d);
  // 10 of 100 took at least D: p99 and max cannot be below it.
  EXPECT_GE(number(run, "latency_ns.p99"), d);
  EXPECT_GE(number(run, "latency_ns.max"), d);
  // ... and so cannot the mean be below 10 x D / 100.
  EXPECT_GE(number(run, "latency_ns.mean"), d * 10 / kRequests);
  EXPECT_LE(number(run, "latency_ns.min"), number(run, "latency_ns.p50"));
  EXPECT_EQ(server.requests(), static_cast<uint64_t>(kRequests));
}

// ---------------------------------------------------------------------------------------------
// 3. Open loop shows the stall that closed loop hides (coordinated omission)

// Request number 10 is answered after S; one connection, one request at a time, so everything
// behind it waits. Open loop at R requests/s: request 10+i was due i/R after request 10 but
// cannot be sent before request 10's answer, so its latency (from its due time) is at least
// S - i/R. Hence at least floor((S - L) * R) requests have latency >= L, and when that is more
// than 10% of the run, p90 >= L. Closed loop, the same server shows one slow request in 400.
constexpr int kStallRequests = 400;
constexpr int kStallRate = 200;  // requests per second: the run lasts 2 s
constexpr Duration kStall = 400ms;

TEST(BenchOpenLoop, ReportsTheQueueBehindAStalledServer) {
  CountingHttpServer server({.stall_at = 10, .stall = kStall});
  ASSERT_EQ(server.start_error(), "");
  BenchRun run = run_bench({"http", "-c", "1", "--rate", std::to_string(kStallRate),
                            "--requests", std::to_string(kStallRequests), "-d", "0", "--json",
                            server.url()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  ASSERT_EQ(number(run, "latency_ns.count"), kStallRequests) << run.describe();
  EXPECT_EQ(number(run, "rate"), kStallRate);
  // The 10% + 1 requests right after the stalled one each waited at least L.
  double waiting = kStallRequests / 10.0 + 1;
  double bound = ns(kStall) - waiting / kStallRate * 1e9;  // L = S - 41/200 s = 195 ms
  ASSERT_GT(bound, 0);
  EXPECT_GE(number(run, "latency_ns.p90"), bound) << run.describe();
  EXPECT_GE(number(run, "latency_ns.max"), ns(kStall));
  EXPECT_EQ(server.requests(), static_cast<uint64_t>(kStallRequests));
}

TEST(BenchOpenLoop, ClosedLoopShowsOnlyTheOneSlowRequest) {
  CountingHttpServer server({.stall_at = 10, .stall = kStall});
  ASSERT_EQ(server.start_error(), "");
  BenchRun run = run_bench({"http", "-c", "1", "--requests", std::to_string(kStallRequests), "-d",
                            "0", "--json", server.url()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  ASSERT_EQ(number(run, "latency_ns.count"), kStallRequests) << run.describe();
  EXPECT_GE(number(run, "latency_ns.max"), ns(kStall));
  // One request in 400 was slow; the client waited for it instead of sending more, so no
  // other request saw the stall: p90 is a loopback round trip, far below S / 4.
  EXPECT_LT(number(run, "latency_ns.p90"), ns(kStall) / 4) << run.describe();
  EXPECT_EQ(number(run, "rate"), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Errors: bad usage (exit 2), an unreachable target (exit 1), never a hang

struct UsageRow {
  const char* name;
  std::vector<std::string> args;
  const char* named;  // what the one-line message must name
};
void PrintTo(const UsageRow& row, std::ostream* out) { *out << row.name; }

class BenchUsage : public testing::TestWithParam<UsageRow> {};

TEST_P(BenchUsage, RefusedWithExitTwoAndOneLineNamingTheProblem) {
  BenchRun run = run_bench(GetParam().args);
  EXPECT_TRUE(run.status.exited_with(2)) << run.describe();
  std::string message = run.err;
  while (!message.empty() && message.back() == '\n') message.pop_back();
  EXPECT_FALSE(message.empty()) << run.describe();
  EXPECT_EQ(message.find('\n'), std::string::npos) << "more than one line:\n" << run.err;
  EXPECT_NE(message.find(GetParam().named), std::string::npos)
      << "the message does not name '" << GetParam().named << "': " << run.err;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, BenchUsage,
    testing::Values(
        UsageRow{"unknown_flag", {"http", "--no-such-flag", "http://127.0.0.1:1/"},
                 "--no-such-flag"},
        UsageRow{"unknown_mode", {"frobnicate", "127.0.0.1:1"}, "frobnicate"},
        UsageRow{"url_without_host", {"http", "http://"}, "http://"},
        UsageRow{"port_not_a_number", {"echo", "host:notaport"}, "notaport"},
        UsageRow{"https", {"http", "https://x"}, "https"},
        UsageRow{"bad_number", {"http", "-c", "many", "http://127.0.0.1:1/"}, "many"},
        UsageRow{"redis_http_target", {"redis", "http://127.0.0.1:1/"}, "HOST:PORT"},
        UsageRow{"redis_bad_command", {"redis", "--command", "del", "127.0.0.1:1"}, "del"}),
    [](const testing::TestParamInfo<UsageRow>& row) { return std::string(row.param.name); });

class BenchUnreachable : public testing::TestWithParam<const char*> {};

TEST_P(BenchUnreachable, FailsWithExitOneAndAClearMessage) {
  uint16_t port = unused_port();
  ASSERT_NE(port, 0);
  std::string address = "127.0.0.1:" + std::to_string(port);
  std::string mode = GetParam();
  std::string target = mode == "http" ? "http://" + address + "/" : address;
  // Bounded by kRunLimit: a hang fails the test (the child is killed), it does not stall it.
  BenchRun run = run_bench({mode, "--requests", "10", "-d", "0", "--timeout", "2", target});
  EXPECT_TRUE(run.status.exited_with(1)) << run.describe();
  EXPECT_NE(run.err.find(address), std::string::npos)
      << "the message does not name " << address << ": " << run.err;
}

INSTANTIATE_TEST_SUITE_P(Modes, BenchUnreachable,
                         testing::Values("http", "echo", "rr", "connrate", "redis"),
                         [](const testing::TestParamInfo<const char*>& row) {
                           return std::string(row.param);
                         });

// ---------------------------------------------------------------------------------------------
// 5. idle: connections held open, the server's memory read from /proc

TEST(BenchIdle, HoldsEveryConnectionAndReadsTheServersRss) {
  constexpr int kConnections = 200;
  ServerChild httpd;
  ASSERT_TRUE(httpd.start(TERN_HTTPD_PATH,
                          {"--host", "127.0.0.1", "--port", "0", "--root",
                           std::filesystem::temp_directory_path().string()}));
  BenchRun run = run_bench({"idle", "-c", std::to_string(kConnections), "--request", "--hold",
                            "1", "--json", "--pid", std::to_string(httpd.pid()),
                            "http://" + httpd.address() + "/plaintext"});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "idle.open"), kConnections) << run.describe();
  EXPECT_EQ(number(run, "idle.closed_by_server"), 0);
  EXPECT_GT(number(run, "idle.rss_before_kib"), 0);
  EXPECT_GT(number(run, "idle.rss_after_kib"), 0);
  const JsonValue* per_connection = run.json ? run.json->at("idle.bytes_per_connection") : nullptr;
  EXPECT_TRUE(per_connection && per_connection->is_number()) << run.describe();
}

// ---------------------------------------------------------------------------------------------
// 6. connrate: a connection per request

TEST(BenchConnrate, OneConnectionPerRequest) {
  constexpr int kRequests = 100;
  CountingHttpServer server;
  ASSERT_EQ(server.start_error(), "");
  BenchRun run = run_bench({"connrate", "--requests", std::to_string(kRequests), "-d", "0",
                            "--json", server.url()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  EXPECT_EQ(number(run, "totals.connects"), kRequests) << run.describe();
  EXPECT_EQ(number(run, "totals.replies"), kRequests);
  EXPECT_EQ(server.requests(), static_cast<uint64_t>(kRequests));
  // The server's own count: tern-bench has exited, so every connection it made is in the
  // server's accept queue or accepted; the count reaches exactly 100 and stays there.
  EXPECT_TRUE(wait_until([&] { return server.accepted() >= uint64_t{kRequests}; }, 10s));
  EXPECT_EQ(server.accepted(), static_cast<uint64_t>(kRequests));
}

// ---------------------------------------------------------------------------------------------
// --mark: the measured interval's edges on stderr, in order

TEST(BenchMark, MarksTheMeasuredIntervalOnStderr) {
  ServerChild echo;
  ASSERT_TRUE(start_echo(echo, "raw"));
  BenchRun run = run_bench({"echo", "-n", "100", "-d", "0", "-c", "1", "--mark", "--progress",
                            "never", echo.address()});
  ASSERT_TRUE(run.status.exited_with(0)) << run.describe();
  size_t start = run.err.find("MARK measure-start\n");
  size_t end = run.err.find("MARK measure-end\n");
  ASSERT_NE(start, std::string::npos) << run.err;
  ASSERT_NE(end, std::string::npos) << run.err;
  EXPECT_LT(start, end);
  EXPECT_FALSE(run.out.empty());  // the text summary
}

}  // namespace
}  // namespace tern::test
