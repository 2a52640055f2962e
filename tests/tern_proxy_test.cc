// tern-proxy as a black box: the real binary runs as a child process in front of proxy-upstream
// children (tests/proxy_upstream.cc: each answer names its upstream in X-Upstream) or tern-echo
// (tcp mode), driven by raw keep-alive clients on loopback and by signals. The core cases run
// over epoll and io_uring, each under the single and loops (2 threads) models.
//
// Synchronisation: the lines the children print, bytes and EOF on sockets, and the state the
// proxy's admin JSON and the upstreams' /count report (re-read until it holds, bounded). Every
// child is reaped; every load stops by itself.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "chunked_body_check.h"
#include "process_memory.h"
#include "proxy_process.h"
#include "test_support.h"

#ifndef TERN_PROXY_PATH
#error "TERN_PROXY_PATH must name the tern-proxy binary"
#endif

namespace {

using namespace std::chrono_literals;
using tern::test::ChildProcess;
using tern::test::ExitStatus;
using tern::test::JsonValue;
using tern::test::wait_until;
using tern::test::proxy::HttpConnection;
using tern::test::proxy::HttpResponse;
using tern::test::proxy::LoadResult;
using tern::test::proxy::ProxyLoad;
using tern::test::proxy::ProxyProcess;
using tern::test::proxy::Upstream;
using tern::test::proxy::http_once;

constexpr auto kStateTimeout = 10s;  // until the admin JSON shows a change

std::string proxy_path() {
  const char* override_path = std::getenv("TERN_PROXY_UNDER_TEST");
  return override_path && *override_path ? override_path : TERN_PROXY_PATH;
}

// A file under $TMPDIR, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(std::string_view text) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tern-proxy-XXXXXX.toml").string();
    int fd = ::mkstemps(pattern.data(), 5);
    if (fd >= 0) ::close(fd);
    path_ = pattern;
    write(text);
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  // Replaced whole: written beside it and renamed, so a reader sees the old or the new file.
  void write(std::string_view text) const {
    std::string next = path_ + ".next";
    std::ofstream(next, std::ios::trunc) << text;
    std::filesystem::rename(next, path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// The matrix

struct Row {
  const char* name;
  const char* backend;
  const char* model;
  int threads;
};

const Row kRows[] = {
    {"epoll_single", "epoll", "single", 1},
    {"epoll_loops", "epoll", "loops", 2},
    {"uring_single", "uring", "single", 1},
    {"uring_loops", "uring", "loops", 2},
};
const Row kDefaultRow = kRows[1];

void PrintTo(const Row& row, std::ostream* out) { *out << row.name; }
std::string row_name(const testing::TestParamInfo<Row>& info) { return info.param.name; }

std::vector<std::string> model_args(const Row& row) {
  return {"--backend", row.backend, "--model", row.model, "--threads",
          std::to_string(row.threads), "--strict"};
}

// The [server] table of a config file for `row`.
std::string server_table(const Row& row) {
  return "[server]\nbackend = \"" + std::string(row.backend) + "\"\nmodel = \"" + row.model +
         "\"\nthreads = " + std::to_string(row.threads) + "\nstrict = true\n";
}

std::string upstream_tables(const std::vector<const Upstream*>& upstreams) {
  std::string text;
  for (const Upstream* u : upstreams) text += "[[upstream]]\naddress = \"" + u->address() + "\"\n";
  return text;
}

class ProxyTestBase {
 protected:
  static void skip_unless_available(const Row& row) {
    if (auto why = tern::test::backend_unavailable(*tern::parse_backend_kind(row.backend))) {
      GTEST_SKIP() << *why;
    }
  }

  // Starts proxy-upstreams named a, b, c... (their port: any).
  static std::vector<std::unique_ptr<Upstream>> start_upstreams(int count) {
    std::vector<std::unique_ptr<Upstream>> upstreams;
    for (int i = 0; i < count; ++i) {
      upstreams.push_back(std::make_unique<Upstream>(TERN_PROXY_UPSTREAM_PATH,
                                                     std::string(1, static_cast<char>('a' + i))));
      EXPECT_TRUE(upstreams.back()->started()) << upstreams.back()->failure();
    }
    return upstreams;
  }

  // Starts tern-proxy on `row` (an admin listener on any port) in front of `upstreams`
  // ("address[,weight=W]" each), with `extra` flags.
  static std::unique_ptr<ProxyProcess> start_proxy(const Row& row,
                                                   const std::vector<std::string>& upstreams,
                                                   const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"};
    for (const auto& u : upstreams) {
      args.push_back("--upstream");
      args.push_back(u);
    }
    for (const auto& a : model_args(row)) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    auto proxy = std::make_unique<ProxyProcess>(proxy_path(), args);
    EXPECT_TRUE(proxy->started()) << proxy->failure();
    return proxy;
  }

  // Waits until the admin JSON says upstream `name` is in `state`.
  static bool wait_for_state(const ProxyProcess& proxy, const std::string& name,
                             std::vector<std::string> states) {
    return wait_until(
        [&] {
          std::string now = proxy.upstream_state(name);
          return std::find(states.begin(), states.end(), now) != states.end();
        },
        kStateTimeout);
  }

  // Sends `count` GETs on one keep-alive connection; the X-Upstream of each 200.
  static std::map<std::string, int> spread(uint16_t port, int count,
                                           std::string_view target = "/") {
    std::map<std::string, int> seen;
    HttpConnection connection(port);
    for (int i = 0; i < count; ++i) {
      HttpResponse response = connection.get(target);
      if (!response.complete || response.status != 200) {
        ++seen["failed: " + std::to_string(response.status)];
        if (!response.complete) break;
        continue;
      }
      ++seen[response.upstream()];
    }
    return seen;
  }
};

class TernProxyTest : public testing::TestWithParam<Row>, protected ProxyTestBase {
 protected:
  void SetUp() override { skip_unless_available(GetParam()); }
};

// ---------------------------------------------------------------------------------------------
// Balancing

// One client connection is served by one loop, whose smooth round-robin cycles exactly.
TEST_P(TernProxyTest, RoundRobinSpreadsOneConnectionEvenly) {
  auto up = start_upstreams(3);
  auto proxy = start_proxy(GetParam(), {up[0]->address(), up[1]->address(), up[2]->address()});
  ASSERT_TRUE(proxy->started());
  EXPECT_NE(proxy->listening_line().find("backend " + std::string(GetParam().backend)),
            std::string::npos) << proxy->listening_line();

  auto seen = spread(proxy->port(), 30);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}}));
  for (const auto& u : up) EXPECT_EQ(u->count("GET"), 10) << u->name();

  auto doc = proxy->admin_json();
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->at("requests")->number, 30);
  EXPECT_EQ(doc->at("balance")->text, "round-robin");
  auto a = proxy->upstream_json(up[0]->address());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->get("requests")->number, 10);
  EXPECT_EQ(a->get("state")->text, "up");
}

TEST_P(TernProxyTest, WeightedRoundRobinFollowsTheWeights) {
  auto up = start_upstreams(2);
  auto proxy = start_proxy(GetParam(), {up[0]->address() + ",weight=3", up[1]->address()});
  ASSERT_TRUE(proxy->started());
  auto seen = spread(proxy->port(), 40);
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 30}, {"b", 10}}));
}

// Upstream a answers every request 30 ms late: least-outstanding keeps a request in flight
// there while b answers the others (round-robin would give it exactly half).
TEST_P(TernProxyTest, LeastOutstandingSendsLessToASlowUpstream) {
  auto up = start_upstreams(2);
  ASSERT_TRUE(up[0]->admin("delay?ms=30"));
  auto proxy = start_proxy(GetParam(), {up[0]->address(), up[1]->address()},
                           {"--balance", "least-outstanding"});
  ASSERT_TRUE(proxy->started());
  ProxyLoad load(proxy->port(), 4, 400);
  LoadResult result = load.stop_when_done();
  EXPECT_EQ(result.failures, 0u) << result.first_failure;
  EXPECT_EQ(result.requests, 400u);
  EXPECT_LT(result.by_upstream["a"] * 4, result.requests)
      << "slow a: " << result.by_upstream["a"] << ", fast b: " << result.by_upstream["b"];
}

// ---------------------------------------------------------------------------------------------
// Health and failures

TEST_P(TernProxyTest, ActiveHealthCheckTakesAnUpstreamOutAndBack) {
  auto up = start_upstreams(2);
  auto proxy = start_proxy(GetParam(), {up[0]->address(), up[1]->address()},
                           {"--health-path", "/health", "--health-interval-ms", "50",
                            "--health-timeout-ms", "1000", "--health-rise", "2",
                            "--health-fall", "2", "--slow-start-ms", "0"});
  ASSERT_TRUE(proxy->started());
  const std::string a = up[0]->address();
  const std::string b = up[1]->address();

  ASSERT_TRUE(up[0]->admin("unhealthy"));
  ASSERT_TRUE(wait_for_state(*proxy, a, {"down"})) << proxy->upstream_state(a);
  auto before = up[0]->count("GET");
  EXPECT_EQ(spread(proxy->port(), 20), (std::map<std::string, int>{{"b", 20}}));
  EXPECT_EQ(up[0]->count("GET"), before) << "a down upstream got traffic";

  // Both down: a clear 503, not a hang or a reset.
  ASSERT_TRUE(up[1]->admin("unhealthy"));
  ASSERT_TRUE(wait_for_state(*proxy, b, {"down"})) << proxy->upstream_state(b);
  HttpResponse none = http_once(proxy->port(), "GET", "/");
  EXPECT_EQ(none.status, 503) << none.head << none.body;
  EXPECT_FALSE(none.body.empty());

  ASSERT_TRUE(up[0]->admin("healthy"));
  ASSERT_TRUE(up[1]->admin("healthy"));
  ASSERT_TRUE(wait_for_state(*proxy, a, {"up"})) << proxy->upstream_state(a);
  ASSERT_TRUE(wait_for_state(*proxy, b, {"up"})) << proxy->upstream_state(b);
  auto seen = spread(proxy->port(), 20);
  EXPECT_EQ(seen["a"] + seen["b"], 20);
  EXPECT_GT(seen["a"], 0) << "a is up again but gets no traffic";
  auto doc = proxy->admin_json();
  ASSERT_TRUE(doc.has_value());
  EXPECT_GE(doc->at("status_503")->number, 1);
}

// kill -9 of an upstream under a GET load: every request is answered (retried on the other),
// the proxy marks it down or ejected, and once it runs again on its port it gets traffic.
TEST_P(TernProxyTest, KillNineUnderLoadLosesNoRequestAndTheUpstreamComesBack) {
  auto up = start_upstreams(2);
  auto proxy = start_proxy(GetParam(), {up[0]->address(), up[1]->address()},
                           {"--health-path", "/health", "--health-interval-ms", "50",
                            "--health-fall", "2", "--health-rise", "1", "--eject-after", "1",
                            "--eject-base-ms", "200", "--slow-start-ms", "0",
                            "--connect-timeout-ms", "500", "--max-attempts", "2"});
  ASSERT_TRUE(proxy->started());
  const std::string a = up[0]->address();
  // Three connections: the retry budget always admits three retries in flight.
  ProxyLoad load(proxy->port(), 3, 200000, 40s);
  ASSERT_TRUE(load.wait_for_progress(200));

  up[0]->kill9();
  EXPECT_TRUE(wait_for_state(*proxy, a, {"down", "ejected"})) << proxy->upstream_state(a);
  EXPECT_TRUE(load.wait_for_progress(200)) << "no progress with one upstream killed";

  ASSERT_TRUE(up[0]->restart()) << up[0]->failure();
  EXPECT_TRUE(wait_until([&] { return up[0]->count("GET") > 0; }, 15s))
      << "the restarted upstream gets no traffic; state " << proxy->upstream_state(a);
  LoadResult result = load.stop();
  EXPECT_EQ(result.failures, 0u) << result.first_failure;
  EXPECT_GT(result.by_upstream["a"], 0u);
  EXPECT_GT(result.by_upstream["b"], 0u);
}

// Which of `upstreams` has seen a request with `method` (by /count), waited for; -1 if none.
int holder_of(const std::vector<std::unique_ptr<Upstream>>& upstreams, const char* method) {
  int holder = -1;
  wait_until(
      [&] {
        for (size_t i = 0; i < upstreams.size(); ++i) {
          if (upstreams[i]->running() && upstreams[i]->count(method) > 0) holder = int(i);
        }
        return holder >= 0;
      },
      10s);
  return holder;
}

// Sends `method` / through the proxy while every upstream holds its answers back, lets the
// others answer at once again, kills the upstream that got it, and returns the proxy's answer.
HttpResponse kill_the_holder(const std::vector<std::unique_ptr<Upstream>>& up, uint16_t port,
                             const char* method) {
  for (const auto& u : up) {
    if (u->running() && !u->admin("delay?ms=20000")) return {};
  }
  HttpConnection client(port);
  if (!client.send_request(method, "/", "", "sent once")) return {};
  int holder = holder_of(up, method);
  if (holder < 0) return {};
  // The others answer at once from now on (the holder keeps the delay it gave its request).
  for (const auto& u : up) {
    if (u->running() && !u->admin("delay?ms=0")) return {};
  }
  up[size_t(holder)]->kill9();
  return client.read_response();
}

// An upstream killed while it holds a request: a GET is retried on another upstream (200), a
// POST is not (502), and no other upstream ever sees that POST. (The GET shows that a retry
// would be seen in the survivors' /count.)
TEST_P(TernProxyTest, KilledMidRequestGetIsRetriedButPostIsNeverSentTwice) {
  auto up = start_upstreams(3);
  auto proxy = start_proxy(GetParam(), {up[0]->address(), up[1]->address(), up[2]->address()},
                           {"--max-attempts", "3", "--eject-after", "0"});
  ASSERT_TRUE(proxy->started());

  HttpResponse retried = kill_the_holder(up, proxy->port(), "GET");
  EXPECT_EQ(retried.status, 200) << retried.head << retried.body;
  long gets = 0;
  for (const auto& u : up) gets += u->running() ? u->count("GET") : 0;
  EXPECT_EQ(gets, 1) << "the retried GET reached one survivor";

  HttpResponse failed = kill_the_holder(up, proxy->port(), "POST");
  EXPECT_EQ(failed.status, 502) << failed.head << failed.body;
  for (const auto& u : up) {
    if (u->running()) {
      EXPECT_EQ(u->count("POST"), 0) << "upstream " << u->name() << " got the POST again";
    }
  }
  auto doc = proxy->admin_json();
  ASSERT_TRUE(doc.has_value());
  EXPECT_GE(doc->at("status_502")->number, 1);
}

// A malformed response is a 502, and the connection it came on is never used again: the
// upstream holds it open and silent, so a reuse would hang behind it (a 504, or no answer).
TEST_P(TernProxyTest, UpstreamFramingAttacksGive502AndTheConnectionIsNotReused) {
  auto up = start_upstreams(1);
  auto proxy = start_proxy(GetParam(), {up[0]->address()},
                           {"--response-timeout-ms", "3000", "--eject-after", "0"});
  ASSERT_TRUE(proxy->started());
  auto client = std::make_unique<HttpConnection>(proxy->port());
  ASSERT_EQ(client->get("/").status, 200);  // a pooled connection to reuse
  for (const char* attack : {"cl-te", "two-cl", "bad-chunk"}) {
    SCOPED_TRACE(attack);
    long before = up[0]->count("connections");
    HttpResponse bad = client->get(std::string("/attack/") + attack);
    EXPECT_EQ(bad.status, 502) << bad.head << bad.body;
    if (!bad.complete) client = std::make_unique<HttpConnection>(proxy->port());
    HttpResponse good = client->get("/");
    EXPECT_EQ(good.status, 200) << good.head << good.body;
    // Two new connections: the proxy's fresh one for "/", and this count's own.
    EXPECT_GE(up[0]->count("connections"), before + 2) << "the attacked connection was reused";
  }
  auto doc = proxy->admin_json();
  ASSERT_TRUE(doc.has_value());
  EXPECT_GE(doc->at("status_502")->number, 3);
}

// ---------------------------------------------------------------------------------------------
// TCP mode

// Sends `payload` bytes through `port`, half-closes, and reads the echo to EOF.
std::string echo_through(uint16_t port, const std::string& payload) {
  HttpConnection connection(port);  // a plain socket with bounded waits
  if (!connection.connected()) return "not connected";
  int fd = connection.fd();
  std::string got;
  size_t sent = 0;
  bool shut = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  char buffer[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, short(POLLIN | (shut ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    if (!shut && (p.revents & POLLOUT)) {
      ssize_t n = ::send(fd, payload.data() + sent, std::min<size_t>(payload.size() - sent, 65536),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += size_t(n);
      if (sent == payload.size()) {
        ::shutdown(fd, SHUT_WR);  // half-close: the echo comes back, then EOF
        shut = true;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0) return got;
      if (n < 0 && errno != EAGAIN) return got + " (error " + std::to_string(errno) + ")";
      if (n > 0) got.append(buffer, size_t(n));
    }
  }
  return got + " (timed out)";
}

TEST_P(TernProxyTest, TcpModeRelaysBothWaysWithHalfClose) {
  ChildProcess echo;
  std::string error;
  ASSERT_TRUE(echo.spawn(TERN_ECHO_PATH, {"--port", "0"}, error)) << error;
  uint16_t echo_port = tern::test::read_listening_port(echo, 15s);
  ASSERT_NE(echo_port, 0) << echo.stderr_text();
  auto proxy = start_proxy(GetParam(), {"127.0.0.1:" + std::to_string(echo_port)},
                           {"--mode", "tcp"});
  ASSERT_TRUE(proxy->started());
  EXPECT_NE(proxy->listening_line().find("mode tcp"), std::string::npos);

  std::string payload(300 * 1024, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char(i * 7919 % 251);
  for (int round = 0; round < 3; ++round) {
    std::string got = echo_through(proxy->port(), payload);
    ASSERT_EQ(got.size(), payload.size()) << got.substr(payload.size() < got.size() ? payload.size() : 0);
    EXPECT_TRUE(got == payload) << "round " << round << ": wrong bytes";
  }
  auto doc = proxy->admin_json();
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->at("mode")->text, "tcp");
  EXPECT_GE(doc->at("connections")->number, 3);
  proxy.reset();
  echo.send_signal(SIGTERM);
  EXPECT_TRUE(echo.wait(20s).exited_with(0));
}

// ---------------------------------------------------------------------------------------------
// Streamed bodies

// A client connection with a small receive buffer (-1 if the connect failed).
int connect_small_receiver(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  auto address = tern::InetAddress::loopback_v4(port);
  if (::connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// GETs /big?bytes=`size` through the proxy on connection `fd`, reading 4 KiB at a time (slower
// than the upstream sends), checking every byte; samples the resident memory of process `pid`
// every MiB into `peak`.
tern::test::ChunkedBodyCheck read_big_slowly(int fd, uint64_t size, pid_t pid, long& peak) {
  tern::test::ChunkedBodyCheck check;
  std::string request =
      "GET /big?bytes=" + std::to_string(size) + " HTTP/1.1\r\nHost: proxied.test\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size())) {
    return check;
  }
  uint64_t next_sample = 0;
  auto give_up = std::chrono::steady_clock::now() + 120s;
  while (!check.done() && !check.failed() && std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) < 0) break;
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    if (n > 0) check.feed(std::string_view(buffer, static_cast<size_t>(n)));
    if (check.body_bytes() >= next_sample) {
      peak = std::max(peak, tern::test::resident_kib(pid));
      next_sample += 1 << 20;
    }
  }
  return check;
}

// A 64 MiB body through the proxy to a slow client: every byte arrives intact and in order,
// under the upstream's Content-Length (streamed, not re-chunked), and the proxy's resident
// memory, sampled every MiB, grows by far less than the body: it streams, paced by the client,
// instead of gathering the body. The base is taken after a
// first 24 MiB body, so that memory whose size does not depend on the body (io_uring's ring of
// provided receive buffers: 16 MiB per loop, resident once the data has gone round it) is
// already counted (on the same connection, so on the same loop).
TEST_P(TernProxyTest, A64MiBResponseToASlowClientStreamsWithBoundedMemory) {
  constexpr uint64_t kBody = 64u << 20;
  constexpr long kMaxGrowthKib = 8 * 1024;
  auto upstreams = start_upstreams(1);
  auto proxy = start_proxy(GetParam(), {upstreams[0]->address()});
  ASSERT_TRUE(proxy->started());
  pid_t pid = proxy->child().pid();
  int fd = connect_small_receiver(proxy->port());
  ASSERT_GE(fd, 0);
  long warm_peak = 0;
  ASSERT_TRUE(read_big_slowly(fd, 24u << 20, pid, warm_peak).done());
  long base = tern::test::resident_kib(pid);
  ASSERT_GT(base, 0);
  long peak = base;
  tern::test::ChunkedBodyCheck check = read_big_slowly(fd, kBody, pid, peak);
  ::close(fd);
  EXPECT_TRUE(check.done()) << check.body_bytes() << " of " << kBody << "\n" << check.head();
  EXPECT_FALSE(check.failed()) << check.head();
  EXPECT_EQ(check.body_bytes(), kBody);
  EXPECT_TRUE(check.sized()) << check.head();
  RecordProperty("resident_growth_kib", std::to_string(peak - base));
  if (tern::test::kSanitized) {
    std::printf("[ memory   ] bound not checked under a sanitizer: grew %ld KiB\n", peak - base);
  } else {
    EXPECT_LT(peak - base, kMaxGrowthKib) << "base " << base << " KiB, peak " << peak << " KiB";
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, TernProxyTest, testing::ValuesIn(kRows), row_name);

// ---------------------------------------------------------------------------------------------
// One row: the rest of the program (epoll, loops with 2 threads)

class TernProxyProgramTest : public testing::Test, protected ProxyTestBase {
 protected:
  void SetUp() override { skip_unless_available(kDefaultRow); }
};

// With two upstreams p2c compares both each time: it avoids the slow one as least-outstanding.
TEST_F(TernProxyProgramTest, PowerOfTwoChoicesSendsLessToASlowUpstream) {
  auto up = start_upstreams(2);
  ASSERT_TRUE(up[1]->admin("delay?ms=30"));
  auto proxy = start_proxy(kDefaultRow, {up[0]->address(), up[1]->address()},
                           {"--balance", "p2c"});
  ASSERT_TRUE(proxy->started());
  ProxyLoad load(proxy->port(), 4, 400);
  LoadResult result = load.stop_when_done();
  EXPECT_EQ(result.failures, 0u) << result.first_failure;
  EXPECT_LT(result.by_upstream["b"] * 4, result.requests)
      << "fast a: " << result.by_upstream["a"] << ", slow b: " << result.by_upstream["b"];
}

// The upstream of each of `keys` (X-Key header), asked on one connection starting at key
// `first` (another order each round: a balancer that ignores the key gives another map).
std::map<std::string, std::string> maglev_map(uint16_t port, int keys, int first = 0) {
  std::map<std::string, std::string> where;
  HttpConnection connection(port);
  for (int n = 0; n < keys; ++n) {
    std::string key = "key-" + std::to_string((first + n) % keys);
    HttpResponse response = connection.get("/", "X-Key: " + key + "\r\n");
    where[key] = response.status == 200 ? response.upstream() : "failed";
  }
  return where;
}

// Maglev: a key always lands on the same upstream (on every connection, so on every loop);
// after a reload that removes one of three, only that one's keys move.
TEST_F(TernProxyProgramTest, MaglevKeepsKeysInPlaceWhenAnUpstreamLeaves) {
  auto up = start_upstreams(3);
  std::string head = "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n"
                     "balance = \"maglev\"\nhash-key = \"header:X-Key\"\n" +
                     server_table(kDefaultRow);
  TempFile config(head + upstream_tables({up[0].get(), up[1].get(), up[2].get()}));
  auto proxy = std::make_unique<ProxyProcess>(proxy_path(), std::vector<std::string>{"--config", config.path()});
  ASSERT_TRUE(proxy->started()) << proxy->failure();
  ASSERT_NE(proxy->admin_port(), 0);

  constexpr int kKeys = 300;
  auto first = maglev_map(proxy->port(), kKeys);
  for (int round = 0; round < 3; ++round) {  // new connections: the loops agree
    EXPECT_EQ(maglev_map(proxy->port(), kKeys, 1 + round * 7), first) << "round " << round;
  }
  std::map<std::string, int> per_upstream;
  for (const auto& [key, name] : first) ++per_upstream[name];
  EXPECT_EQ(per_upstream.size(), 3u);
  for (const auto& [name, n] : per_upstream) EXPECT_GT(n, kKeys / 6) << name;

  config.write(head + upstream_tables({up[0].get(), up[1].get()}));
  ASSERT_TRUE(proxy->child().send_signal(SIGHUP));
  const std::string c = up[2]->address();
  ASSERT_TRUE(wait_until([&] {
    std::string state = proxy->upstream_state(c);
    return state.empty() || state == "removed";
  }, kStateTimeout)) << proxy->upstream_state(c);

  auto after = maglev_map(proxy->port(), kKeys, 5);
  int moved = 0, stayed = 0, others = 0;
  for (const auto& [key, name] : first) {
    EXPECT_NE(after[key], "c") << key;
    EXPECT_NE(after[key], "failed") << key;
    if (name == "c") {
      ++moved;
    } else {
      ++others;
      stayed += after[key] == name;
    }
  }
  EXPECT_GT(moved, kKeys / 5);
  EXPECT_LT(moved, kKeys / 2);
  EXPECT_GE(stayed * 100, others * 95) << stayed << " of " << others << " stayed";
  std::printf("maglev: %d of %d keys moved (the removed upstream's), %d of %d others stayed\n",
              moved, kKeys, stayed, others);
}

// SIGHUP changes the algorithm in place: round-robin sends a key wherever the rotation is, maglev
// (after the reload, on the connections and loops already there) always to the same upstream.
TEST_F(TernProxyProgramTest, ReloadSwitchesRoundRobinToMaglev) {
  auto up = start_upstreams(3);
  auto file = [&](const char* balance) {
    return "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nbalance = \"" +
           std::string(balance) + "\"\nhash-key = \"header:X-Key\"\n" +
           server_table(kDefaultRow) + upstream_tables({up[0].get(), up[1].get(), up[2].get()});
  };
  TempFile config(file("round-robin"));
  ProxyProcess proxy(proxy_path(), {"--config", config.path()});
  ASSERT_TRUE(proxy.started()) << proxy.failure();
  ASSERT_NE(proxy.admin_port(), 0);

  constexpr int kKeys = 90;  // a multiple of 3: round-robin gives each key another upstream
  EXPECT_NE(maglev_map(proxy.port(), kKeys), maglev_map(proxy.port(), kKeys, 1))
      << "round-robin placed every key the same way twice";

  config.write(file("maglev"));
  ASSERT_TRUE(proxy.child().send_signal(SIGHUP));
  ASSERT_TRUE(wait_until([&] {
    auto doc = proxy.admin_json();
    const JsonValue* balance = doc ? doc->get("balance") : nullptr;
    return balance != nullptr && balance->text == "maglev";
  }, kStateTimeout)) << proxy.child().stderr_text();
  EXPECT_FALSE(proxy.child().stderr_text().find("proxy.balance") != std::string::npos)
      << "the change was logged as needing a restart: " << proxy.child().stderr_text();

  auto first = maglev_map(proxy.port(), kKeys);
  EXPECT_EQ(maglev_map(proxy.port(), kKeys, 7), first);
  std::map<std::string, int> per_upstream;
  for (const auto& [key, name] : first) ++per_upstream[name];
  EXPECT_EQ(per_upstream.size(), 3u) << "the keys are not hashed: they all land on one upstream";
  EXPECT_EQ(per_upstream.count("failed"), 0u);
}

// SIGHUP adding an upstream under load: no client connection is dropped, no request fails, and
// the new upstream receives traffic.
TEST_F(TernProxyProgramTest, ReloadUnderLoadAddsAnUpstreamAndDropsNoConnection) {
  auto up = start_upstreams(2);
  std::string head = "[proxy]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n" +
                     server_table(kDefaultRow);
  TempFile config(head + upstream_tables({up[0].get()}));
  ProxyProcess proxy(proxy_path(), {"--config", config.path()});
  ASSERT_TRUE(proxy.started()) << proxy.failure();

  ProxyLoad load(proxy.port(), 4, 200000, 40s);
  ASSERT_TRUE(load.wait_for_progress(200));
  config.write(head + upstream_tables({up[0].get(), up[1].get()}));
  ASSERT_TRUE(proxy.child().send_signal(SIGHUP));
  EXPECT_TRUE(wait_until([&] { return up[1]->count("GET") > 0; }, 15s))
      << "the added upstream gets no traffic";
  ASSERT_TRUE(load.wait_for_progress(200));
  LoadResult result = load.stop();
  EXPECT_EQ(result.failures, 0u) << result.first_failure;
  EXPECT_GT(result.by_upstream["b"], 0u);

  // A bad file keeps the old configuration, with an error line.
  config.write(head + "[[upstream]]\naddress = \"not an address\"\n");
  ASSERT_TRUE(proxy.child().send_signal(SIGHUP));
  EXPECT_TRUE(proxy.child().wait_for_stderr(config.path(), 10s)) << proxy.child().stderr_text();
  auto seen = spread(proxy.port(), 10);
  EXPECT_EQ(seen["a"] + seen["b"], 10);
}

TEST_F(TernProxyProgramTest, AdminDrainsAndEnablesAnUpstream) {
  auto up = start_upstreams(2);
  auto proxy = start_proxy(kDefaultRow, {up[0]->address(), up[1]->address()});
  ASSERT_TRUE(proxy->started());
  const std::string a = up[0]->address();

  HttpResponse drained = http_once(proxy->admin_port(), "POST", "/upstreams/" + a + "/drain");
  ASSERT_EQ(drained.status, 200) << drained.head << drained.body;
  std::string error;
  auto object = tern::test::parse_json(drained.body, error);
  ASSERT_TRUE(object.has_value()) << error << drained.body;
  EXPECT_EQ(object->at("admin")->text, "drained");
  EXPECT_EQ(object->at("state")->text, "drained");
  EXPECT_EQ(proxy->upstream_state(a), "drained");
  EXPECT_EQ(spread(proxy->port(), 10), (std::map<std::string, int>{{"b", 10}}));

  HttpResponse enabled = http_once(proxy->admin_port(), "POST", "/upstreams/" + a + "/enable");
  ASSERT_EQ(enabled.status, 200) << enabled.head << enabled.body;
  EXPECT_EQ(proxy->upstream_state(a), "up");
  auto seen = spread(proxy->port(), 10);
  EXPECT_GE(seen["a"], 4) << "a enabled again but gets little traffic";

  EXPECT_EQ(http_once(proxy->admin_port(), "POST", "/upstreams/127.0.0.1:1/drain").status, 404);
  // The admin API is not on the public port.
  EXPECT_NE(http_once(proxy->port(), "GET", "/upstreams").upstream(), "");
}

// SIGTERM: the request in flight is answered, then exit 0.
TEST_F(TernProxyProgramTest, SigtermFinishesTheRequestInFlightAndExitsZero) {
  auto up = start_upstreams(1);
  auto proxy = start_proxy(kDefaultRow, {up[0]->address()});
  ASSERT_TRUE(proxy->started());
  HttpConnection client(proxy->port());
  ASSERT_TRUE(client.send_request("GET", "/slow?ms=300"));
  ASSERT_EQ(holder_of(up, "GET"), 0);
  proxy->child().send_signal(SIGTERM);
  HttpResponse response = client.read_response();
  EXPECT_EQ(response.status, 200) << response.head;
  ExitStatus status = proxy->terminate();
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << proxy->child().stderr_text();
}

TEST_F(TernProxyProgramTest, BadConfigFileExitsTwoNamingFileAndLine) {
  for (const char* bad : {"bogus-key = 1\n", "balance = \"fastest\"\n"}) {
    TempFile config(std::string("[proxy]\nlisten = \"127.0.0.1:0\"\n") + bad +
                    "[[upstream]]\naddress = \"127.0.0.1:1\"\n");
    auto result = tern::test::run_command(proxy_path(), {"--config", config.path()}, 20s);
    EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe() << result.err;
    EXPECT_NE(result.err.find(config.path() + ":3"), std::string::npos) << result.err;
  }
}

TEST_F(TernProxyProgramTest, ExampleConfigLoads) {
  auto up = start_upstreams(1);
  auto proxy = start_proxy(kDefaultRow, {up[0]->address()},
                           {"--config", TERN_PROXY_EXAMPLE_CONFIG});
  ASSERT_TRUE(proxy->started());
  EXPECT_EQ(http_once(proxy->port(), "GET", "/").upstream(), "a");
}

}  // namespace
