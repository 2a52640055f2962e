// The HTTP metrics (tern/http/loop_metrics.h) of an in-process tern::Server under each model
// (hsha also under the reactor pattern, where a worker parses; lf, whose threads are not loops
// and where a reply from another thread is written on that thread): a loopback client sends
// requests of known routes and statuses, then a
// collect of the registry must count exactly what was sent (responses by status class, the
// durations by the router's pattern, "unmatched" for 404/405), a malformed request one parse
// error of its kind, and an idle connection closed by its deadline one deadline close.
// Every count is read after the client has read the response it checks (the protocol counts a
// response when it queues it, before writing it), so there is nothing to wait for.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collect_snapshot.h"
#include "proxy_process.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/router.h"
#include "tern/metrics/registry.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using test::proxy::HttpConnection;

struct ModelCase {
  const char* name;
  Model model;
  int threads;
  int workers;
  std::optional<Pattern> pattern = std::nullopt;  // unset: the model's and backend's default
};

// The options of a row, with HTTP metrics into `registry`.
ServerOptions options_of(const ModelCase& c, metrics::Registry& registry) {
  ServerOptions options;
  options.address = InetAddress::loopback_v4(0);
  options.backend = BackendKind::epoll;
  options.model = c.model;
  options.threads = c.threads;
  options.workers = c.workers;
  options.pattern = c.pattern;
  http::record_metrics(options, registry);
  return options;
}

http::Router test_router() {
  http::Router router;
  router.get("/plain", [](const http::Request&) { return http::Response::text(200, "ok\n"); });
  router.get("/items/{id}", [](const http::Request& request) {
    // A status of the client's choosing: /items/500 fails, anything else is created.
    int status = request.param("id") == "500" ? 500 : 201;
    return http::Response::text(status, "item\n");
  });
  router.get_async("/later", [](const http::Request&, http::Reply reply) {
    // Answered from another thread, as an async handler may: the label must still be the route.
    std::thread([reply = std::move(reply)]() mutable {
      reply.send(http::Response::text(202, "later\n"));
    }).detach();
  });
  router.get_async("/feed/{id}", [](const http::Request&, http::Reply reply) {
    // Streamed from another thread: the head's label is the route's.
    std::thread([reply = std::move(reply)]() mutable {
      http::Stream stream = std::move(reply).stream(http::Response(200));
      stream.write("one\n");
      stream.end();
    }).detach();
  });
  router.get("/own", [](const http::Request&) {
    // A handler's own label (by name) wins over the route's.
    return std::move(http::Response::text(200, "own\n").route("own-label"));
  });
  router.use([](const http::Request& request) -> std::optional<http::Response> {
    if (request.path == "/blocked") return http::Response::text(403, "no\n");
    return std::nullopt;
  });
  return router;
}

// A server with HTTP metrics into `registry` (the registry outlives it).
std::unique_ptr<Server> start_server(const ModelCase& c, metrics::Registry& registry,
                                     http::ProtocolOptions protocol = {}) {
  auto server = std::make_unique<Server>(options_of(c, registry),
                                         http::service(test_router(), protocol));
  if (server->start()) return nullptr;
  return server;
}

std::optional<metrics::Snapshot> collect(const metrics::Registry& registry) {
  return test::collect_snapshot(registry);
}

double counter(const metrics::Snapshot& snapshot, std::string_view name,
               const metrics::Labels& labels) {
  return snapshot.value(name, labels).value_or(-1);
}

// The number of durations recorded for `route` (-1: no such series).
int64_t route_count(const metrics::Snapshot& snapshot, const std::string& route) {
  const metrics::Family* family = snapshot.find("tern_http_request_duration_seconds");
  if (family == nullptr) return -1;
  for (const metrics::Series& series : family->series) {
    if (series.labels == metrics::Labels{{"route", route}} && series.histogram) {
      return static_cast<int64_t>(series.histogram->count());
    }
  }
  return -1;
}

class HttpMetricsTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(HttpMetricsTest, CountsWhatTheClientSent) {
  metrics::Registry registry;
  auto server = start_server(GetParam(), registry);
  ASSERT_NE(server, nullptr);
  uint16_t port = server->local_address().port();

  // Several connections, so that under loops and hsha more than one loop's shard counts.
  constexpr int kConnections = 4;
  constexpr int kPlain = 5, kCreated = 3, kFailed = 2, kLater = 2, kMissing = 3, kWrongMethod = 1;
  for (int c = 0; c < kConnections; ++c) {
    HttpConnection client(port);
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < kPlain; ++i) ASSERT_EQ(client.get("/plain").status, 200);
    for (int i = 0; i < kCreated; ++i) ASSERT_EQ(client.get("/items/" + std::to_string(i)).status, 201);
    for (int i = 0; i < kFailed; ++i) ASSERT_EQ(client.get("/items/500").status, 500);
    for (int i = 0; i < kLater; ++i) ASSERT_EQ(client.get("/later").status, 202);
    for (int i = 0; i < kMissing; ++i) ASSERT_EQ(client.get("/nowhere").status, 404);
    for (int i = 0; i < kWrongMethod; ++i) ASSERT_EQ(client.request("DELETE", "/plain").status, 405);
  }

  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "2xx"}}),
            kConnections * (kPlain + kCreated + kLater));
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "4xx"}}),
            kConnections * (kMissing + kWrongMethod));
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "5xx"}}),
            kConnections * kFailed);
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "1xx"}}), 0);
  EXPECT_EQ(route_count(*snapshot, "/plain"), kConnections * kPlain);
  EXPECT_EQ(route_count(*snapshot, "/items/{id}"), kConnections * (kCreated + kFailed));
  EXPECT_EQ(route_count(*snapshot, "/later"), kConnections * kLater);
  EXPECT_EQ(route_count(*snapshot, "unmatched"), kConnections * (kMissing + kWrongMethod));
  EXPECT_EQ(counter(*snapshot, "tern_http_deadline_closes_total", {}), 0);
  EXPECT_EQ(snapshot->find("tern_http_parse_errors_total"), nullptr);
  server->shutdown(1s);
}

TEST_P(HttpMetricsTest, CountsAMalformedRequestAsOneParseErrorOfItsKind) {
  metrics::Registry registry;
  auto server = start_server(GetParam(), registry);
  ASSERT_NE(server, nullptr);
  HttpConnection client(server->local_address().port());
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(client.get("/plain").status, 200);
  // A field name with a space before the colon: the parser's bad_field_name, answered 400.
  ASSERT_TRUE(client.send_all("GET /plain HTTP/1.1\r\nHost: a\r\nBad Name : x\r\n\r\n"));
  ASSERT_EQ(client.read_response().status, 400);

  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(counter(*snapshot, "tern_http_parse_errors_total", {{"kind", "bad_field_name"}}), 1);
  const metrics::Family* errors = snapshot->find("tern_http_parse_errors_total");
  ASSERT_NE(errors, nullptr);
  EXPECT_EQ(errors->series.size(), 1u);  // no other kind
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "4xx"}}), 1);
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "2xx"}}), 1);
  // The 400 answers no parsed request: no duration for it.
  EXPECT_EQ(route_count(*snapshot, "unmatched"), -1);
  EXPECT_EQ(route_count(*snapshot, "/plain"), 1);
  server->shutdown(1s);
}

// Expect: 100-continue refused (ProtocolOptions::accepts_body says no): the server answers 503
// without reading the body. The head was well formed: a 5xx, not a parse error.
TEST_P(HttpMetricsTest, CountsARefusedBodyAsItsStatusNotAsAParseError) {
  metrics::Registry registry;
  http::ProtocolOptions protocol;
  protocol.accepts_body = [] { return false; };
  auto server = start_server(GetParam(), registry, protocol);
  ASSERT_NE(server, nullptr);
  HttpConnection client(server->local_address().port());
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(client.get("/plain").status, 200);  // no body: nothing to refuse
  ASSERT_TRUE(client.send_all("POST /plain HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                              "Content-Length: 5\r\n\r\n"));
  ASSERT_EQ(client.read_response().status, 503);

  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->find("tern_http_parse_errors_total"), nullptr)
      << "kind " << snapshot->find("tern_http_parse_errors_total")->series[0].labels[0].second;
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "5xx"}}), 1);
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "2xx"}}), 1);
  EXPECT_EQ(counter(*snapshot, "tern_http_requests_total", {{"class", "4xx"}}), 0);
  server->shutdown(1s);
}

TEST_P(HttpMetricsTest, CountsAnIdleConnectionClosedByItsDeadline) {
  metrics::Registry registry;
  http::ProtocolOptions protocol;
  protocol.idle_timeout = 100ms;
  auto server = start_server(GetParam(), registry, protocol);
  ASSERT_NE(server, nullptr);
  HttpConnection client(server->local_address().port());
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(client.get("/plain").status, 200);
  // The server closes the idle connection: the client reads its end (bounded by the client's
  // receive timeout), and the protocol counted the close before closing.
  auto after = client.read_response();
  EXPECT_FALSE(after.complete);

  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(counter(*snapshot, "tern_http_deadline_closes_total", {}), 1);
  server->shutdown(1s);
}

// The labels other than a plain route's: a streamed async answer, a handler's own label, a
// middleware's answer.
TEST_P(HttpMetricsTest, LabelsStreamsMiddlewareAndHandlersOwnLabels) {
  metrics::Registry registry;
  auto server = start_server(GetParam(), registry);
  ASSERT_NE(server, nullptr);
  HttpConnection client(server->local_address().port());
  ASSERT_TRUE(client.connected());
  constexpr int kFeed = 3, kOwn = 2, kBlocked = 2;
  for (int i = 0; i < kFeed; ++i) {
    auto response = client.get("/feed/" + std::to_string(i));
    ASSERT_EQ(response.status, 200);
    ASSERT_EQ(response.body, "one\n");
  }
  for (int i = 0; i < kOwn; ++i) ASSERT_EQ(client.get("/own").status, 200);
  for (int i = 0; i < kBlocked; ++i) ASSERT_EQ(client.get("/blocked").status, 403);

  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(route_count(*snapshot, "/feed/{id}"), kFeed);
  EXPECT_EQ(route_count(*snapshot, "own-label"), kOwn);
  EXPECT_EQ(route_count(*snapshot, "/own"), -1);
  EXPECT_EQ(route_count(*snapshot, "middleware"), kBlocked);
  EXPECT_EQ(route_count(*snapshot, "unrouted"), -1);
  server->shutdown(1s);
}

// A handler without a router: its responses count as "unrouted".
TEST_P(HttpMetricsTest, LabelsAResponseWithoutARouterUnrouted) {
  metrics::Registry registry;
  Server server(options_of(GetParam(), registry), http::service(http::Handler::sync(
                             [](const http::Request&) { return http::Response(204); })));
  ASSERT_FALSE(server.start());
  HttpConnection client(server.local_address().port());
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(client.get("/anything").status, 204);
  ASSERT_EQ(client.get("/else").status, 204);
  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(route_count(*snapshot, "unrouted"), 2);
  server.shutdown(1s);
}

INSTANTIATE_TEST_SUITE_P(Models, HttpMetricsTest,
                         ::testing::Values(ModelCase{"single", Model::single, 1, 0},
                                           ModelCase{"loops", Model::loops, 2, 0},
                                           ModelCase{"hsha", Model::hsha, 2, 2},
                                           ModelCase{"hsha_reactor", Model::hsha, 2, 2,
                                                     Pattern::reactor},
                                           ModelCase{"lf", Model::lf, 2, 0}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// Without record_metrics nothing registers: the registry's collect is empty.
TEST(HttpMetricsOff, NothingIsRegisteredWithoutRecordMetrics) {
  metrics::Registry registry;
  ServerOptions options;
  options.address = InetAddress::loopback_v4(0);
  options.backend = BackendKind::epoll;
  Server server(options, http::service(test_router()));
  ASSERT_FALSE(server.start());
  HttpConnection client(server.local_address().port());
  ASSERT_EQ(client.get("/plain").status, 200);
  auto snapshot = collect(registry);
  ASSERT_TRUE(snapshot);
  EXPECT_TRUE(snapshot->families().empty());
  server.shutdown(1s);
}

// record_metrics counts lf threads through ServerOptions' lf thread hooks: a model without lf
// threads refuses them rather than never calling them.
TEST(HttpMetricsHooks, OnlyLfTakesLfThreadHooks) {
  ServerOptions options;
  options.on_lf_thread_start = [](size_t) {};
  EXPECT_NE(check_options(options).find("no leader/followers threads"), std::string::npos)
      << check_options(options);
  options.model = Model::lf;
  EXPECT_EQ(check_options(options), "");
}

TEST(HttpMetricsNames, ParseErrorNamesAreTheParsersShortNames) {
  EXPECT_EQ(http::parse_error_name(make_error_code(http::ParseError::bad_request_line)),
            "bad_request_line");
  EXPECT_EQ(http::parse_error_name(make_error_code(http::ParseError::truncated_message)),
            "truncated_message");
  EXPECT_EQ(http::parse_error_name(std::make_error_code(std::errc::io_error)), "other");
}

}  // namespace
}  // namespace tern
