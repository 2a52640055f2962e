// Heap allocations of a router's async route against a sync one (issue 13): the route label of
// an async answer must not cost allocations of its own beyond the one RouteLabelRelay makes
// (the label reaches the protocol through that relay; a label carried by the Reply itself would
// remove it, see router.cc). Counted with a replacement operator new over a run of requests on
// one loopback keep-alive connection to an in-process server, the client's allocations included
// (the same for both routes: same path length, same body), after a warm-up that grows every
// buffer and ring to its size.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "counting_new.h"
#include "proxy_process.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/router.h"
#include "tern/metrics/registry.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using test::proxy::HttpConnection;

constexpr int kWarmUp = 50;
constexpr int kRequests = 200;

http::Router router() {
  http::Router router;
  router.get("/s", [](const http::Request&) { return http::Response::text(200, "same\n"); });
  // Answered at once, on the thread that routes: the user's own code allocates nothing.
  router.get_async("/a", [](const http::Request&, http::Reply reply) {
    reply.send(http::Response::text(200, "same\n"));
  });
  return router;
}

// Allocations per request of GET `path` on `client`'s connection (-1: a request failed).
double allocations_per_request(HttpConnection& client, const std::string& path) {
  for (int i = 0; i < kWarmUp; ++i) {
    if (client.get(path).status != 200) return -1;
  }
  uint64_t before = test::heap_allocations.load();
  for (int i = 0; i < kRequests; ++i) {
    if (client.get(path).status != 200) return -1;
  }
  return double(test::heap_allocations.load() - before) / kRequests;
}

TEST(RouterAsyncAllocations, AnAsyncRouteAllocatesAtMostTheRelayMoreThanASyncOne) {
  metrics::Registry registry;
  ServerOptions options;
  options.address = InetAddress::loopback_v4(0);
  options.backend = BackendKind::epoll;
  options.model = Model::single;
  http::record_metrics(options, registry);  // labels are counted: the path under test
  Server server(options, http::service(router()));
  ASSERT_FALSE(server.start());
  HttpConnection client(server.local_address().port());
  ASSERT_TRUE(client.connected());
  double sync = allocations_per_request(client, "/s");
  double async = allocations_per_request(client, "/a");
  ASSERT_GE(sync, 0);
  ASSERT_GE(async, 0);
  // One: RouteLabelRelay, freed when the answer passes through it.
  EXPECT_LE(async, sync + 1.0) << "sync " << sync << ", async " << async;
  server.shutdown(1s);
}

}  // namespace
}  // namespace tern
