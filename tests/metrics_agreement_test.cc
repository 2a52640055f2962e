// Issue 13: the server's metrics agree with what a client saw. An in-process tern::Server (every
// row of the model x pattern x backend matrix, lf included) serves one async route
// that answers after a timer of a known delay, chosen by the request's number: 2, 4 or 8 ms, a
// known distribution D. Loopback clients send N requests and record each one's latency, from
// before its first byte is sent to after its last byte is read, in the same histogram the
// server uses (metrics::make_histogram, 1 % relative error). Then:
//   - the server counted exactly N requests on the route, and by status class what it answered;
//   - for p50, p90 and p99: D's x (1 - e) <= the server's <= the client's x (1 + e).
// Both bounds are causal, so they hold on a machine of any speed or load, with no timing
// assertion: each request's server duration (from its request parsed to its response queued)
// contains its timer (armed after the parse, never fired early on the monotonic clock) and is
// contained in the client's latency of the same request (sent before the parse, read after the
// queueing). A request-by-request inequality carries over to every percentile, and the
// histogram's reported value (its bucket's top, clamped to the max) keeps the order; e is the
// slack of the error bound, not of the machine.
#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collect_snapshot.h"
#include "proxy_process.h"
#include "test_support.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/router.h"
#include "tern/metrics/exposition.h"
#include "tern/metrics/registry.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using test::proxy::HttpConnection;

constexpr int kConnections = 4;      // several, so that under loops more than one shard counts
constexpr int kRequests = 200;       // N, spread over the connections round-robin
constexpr double kRelativeError = 0.01;  // make_histogram's 2 significant digits
constexpr int kSyncPerConnection = 10;  // plus these, answered inline by a synchronous route
constexpr char kRoute[] = "/after/{ms}/{status}";
constexpr char kSyncRoute[] = "/now";

// D: request i waits 2 ms (60 % of them), 4 ms (35 %) or 8 ms (5 %), so that D's p50, p90 and
// p99 are 2, 4 and 8 ms: each percentile compared falls on another delay.
std::chrono::milliseconds delay_of(int request) {
  int slot = request % 100;
  if (slot < 60) return 2ms;
  if (slot < 95) return 4ms;
  return 8ms;
}
// One request in ten answers 503, so the counts by status class are checked apart.
int status_of(int request) { return request % 10 == 7 ? 503 : 200; }

std::string target_of(int request) {
  return "/after/" + std::to_string(delay_of(request).count()) + "/" +
         std::to_string(status_of(request));
}

uint64_t nanoseconds(Duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

// A numeric router param; 0 when missing or not a number (nothing throws on the loop).
int number_param(const http::Request& request, std::string_view name) {
  std::string_view text = request.param(name).value_or("");
  int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// The route: parse the delay and status from the path and answer after that delay, from the
// timer loop (any thread may send a reply). The timer is armed after the request was parsed.
// Under lf the reply writes its response on the timer loop's thread, which has no shard of its
// own: those responses count in the server's "elsewhere" shard (loop_metrics.h).
http::Router timer_router(EventLoop& timer_loop) {
  http::Router router;
  router.get_async(kRoute, [&timer_loop](const http::Request& request, http::Reply reply) {
    auto delay = std::chrono::milliseconds(number_param(request, "ms"));
    int status = number_param(request, "status");
    // The timer's callback is a copyable std::function; the move-only reply rides in a
    // shared_ptr.
    auto shared_reply = std::make_shared<http::Reply>(std::move(reply));
    timer_loop.post([&timer_loop, delay, status, shared_reply] {
      timer_loop.run_after(delay, [status, shared_reply] {
        shared_reply->send(http::Response::text(status, "waited\n"));
      });
    });
  });
  // Answered on the thread that parsed the request (under hsha: a worker).
  router.get(kSyncRoute, [](const http::Request&) { return http::Response::text(200, "now\n"); });
  return router;
}

// What one client thread saw.
struct ClientRecord {
  metrics::Histogram latencies = metrics::make_histogram();
  int answered = 0;        // complete timed responses of the expected status
  int answered_now = 0;    // complete responses of the synchronous route
  std::string problem;     // the first thing that went wrong, if any
};

// Connection `index` sends requests index, index + kConnections, ... one at a time.
ClientRecord run_client(uint16_t port, int index) {
  ClientRecord record;
  HttpConnection connection(port);
  if (!connection.connected()) {
    record.problem = "connection " + std::to_string(index) + " did not connect";
    return record;
  }
  for (int request = index; request < kRequests; request += kConnections) {
    auto sent = Clock::now();
    auto response = connection.get(target_of(request));
    auto read = Clock::now();
    if (!response.complete || response.status != status_of(request)) {
      record.problem = "request " + std::to_string(request) + ": status " +
                       std::to_string(response.status) +
                       (response.complete ? "" : " (incomplete)");
      return record;
    }
    record.latencies.record(nanoseconds(read - sent));
    ++record.answered;
  }
  for (int i = 0; i < kSyncPerConnection; ++i) {
    auto response = connection.get(kSyncRoute);
    if (!response.complete || response.status != 200) {
      record.problem = std::string(kSyncRoute) + ": status " + std::to_string(response.status);
      return record;
    }
    ++record.answered_now;
  }
  return record;
}

std::optional<metrics::Snapshot> collect(const metrics::Registry& registry) {
  return test::collect_snapshot(registry);
}

// The server's histogram of `route`, or null.
const metrics::Histogram* route_histogram(const metrics::Snapshot& snapshot,
                                          std::string_view route) {
  const metrics::Family* family = snapshot.find("tern_http_request_duration_seconds");
  if (family == nullptr) return nullptr;
  for (const metrics::Series& series : family->series) {
    if (series.labels == metrics::Labels{{"route", std::string(route)}} && series.histogram) {
      return &*series.histogram;
    }
  }
  return nullptr;
}

class MetricsAgreementTest : public testing::TestWithParam<test::ServerConfig> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
  }
};

TEST_P(MetricsAgreementTest, ServerCountsAndPercentilesAgreeWithTheClient) {
  metrics::Registry registry;  // outlives the server
  test::LoopThread timers(BackendKind::epoll, [](EventLoop&) {});
  EventLoop* timer_loop = timers.call([](EventLoop& loop) { return &loop; });
  ServerOptions options = test::server_options(GetParam());
  options.address = InetAddress::loopback_v4(0);
  http::record_metrics(options, registry);
  auto server = std::make_unique<Server>(options, http::service(timer_router(*timer_loop)));
  ASSERT_FALSE(server->start()) << server->error_detail();
  uint16_t port = server->local_address().port();

  std::vector<std::future<ClientRecord>> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.push_back(std::async(std::launch::async, run_client, port, c));
  }
  metrics::Histogram client = metrics::make_histogram();
  int answered = 0, answered_now = 0;
  for (auto& future : clients) {
    ClientRecord record = future.get();
    EXPECT_EQ(record.problem, "");
    client.merge(record.latencies);
    answered += record.answered;
    answered_now += record.answered_now;
  }
  ASSERT_EQ(answered, kRequests);
  ASSERT_EQ(answered_now, kConnections * kSyncPerConnection);

  // Every response was read, so every one was counted (the protocol counts when it queues).
  auto snapshot = collect(registry);
  server->shutdown(1s);
  ASSERT_TRUE(snapshot);
  int failed = 0;
  for (int i = 0; i < kRequests; ++i) failed += status_of(i) == 503 ? 1 : 0;
  auto count = [&](const char* status_class) {
    return snapshot->value("tern_http_requests_total", {{"class", status_class}}).value_or(-1);
  };
  EXPECT_EQ(count("2xx"), kRequests - failed + answered_now);
  EXPECT_EQ(count("5xx"), failed);
  EXPECT_EQ(count("1xx"), 0);
  EXPECT_EQ(count("3xx"), 0);
  EXPECT_EQ(count("4xx"), 0);
  const metrics::Histogram* inline_durations = route_histogram(*snapshot, kSyncRoute);
  EXPECT_EQ(inline_durations ? inline_durations->count() : 0, static_cast<uint64_t>(answered_now))
      << "durations of route " << kSyncRoute;
  const metrics::Histogram* durations = route_histogram(*snapshot, kRoute);
  ASSERT_NE(durations, nullptr) << "no duration series for route " << kRoute << "; "
                               << metrics::to_prometheus(*snapshot);
  ASSERT_EQ(durations->count(), static_cast<uint64_t>(kRequests));

  metrics::Histogram waited = metrics::make_histogram();
  for (int i = 0; i < kRequests; ++i) waited.record(nanoseconds(delay_of(i)));
  for (double p : {50.0, 90.0, 99.0}) {
    const double d = static_cast<double>(waited.percentile(p));
    const double s = static_cast<double>(durations->percentile(p));
    const double c = static_cast<double>(client.percentile(p));
    SCOPED_TRACE("p" + std::to_string(static_cast<int>(p)) + ": timers " + std::to_string(d) +
                 " ns, server " + std::to_string(s) + " ns, client " + std::to_string(c) + " ns");
    EXPECT_LE(d * (1 - kRelativeError), s) << "the server reports less than its timers waited";
    EXPECT_LE(s, c * (1 + kRelativeError)) << "the server reports more than the client saw";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, MetricsAgreementTest, testing::ValuesIn(test::server_matrix()),
                         test::server_config_name);

}  // namespace
}  // namespace tern
