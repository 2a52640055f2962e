// A real tern::Server with ServerOptions::metrics, under each model on epoll and io_uring:
// loopback clients open C connections and make N request/response exchanges each, then the
// registry's collect must agree with what the clients did (accepts, open connections, events
// at least one per request) and the loop counters with each other (one events-per-wait record
// per iteration, their sum the events). An io_uring row that cannot run here is skipped with
// the reason; lf rows check the server's series and that lf reports no loops.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "loopback_client.h"
#include "test_support.h"
#include "tern/metrics/registry.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using metrics::Labels;
using metrics::Snapshot;

constexpr auto kLimit = 60s;  // liveness bound of every wait (a failure, not a measurement)
constexpr int kConnections = 3;
constexpr int kRequestsPerConnection = 20;

struct Row {
  Model model;
  BackendKind backend;
  int threads;
  int workers;
  std::optional<Pattern> pattern = std::nullopt;  // unset: the backend's own
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << model_name(row.model) << " on " << to_string(row.backend) << ", " << row.threads
      << " threads, " << row.workers << " workers";
  if (row.pattern) *os << ", " << pattern_name(*row.pattern);
}

std::string row_name(const testing::TestParamInfo<Row>& info) {
  std::string name = std::string(model_name(info.param.model)) + "_" +
                     std::string(to_string(info.param.backend));
  if (info.param.pattern) name += std::string("_") + pattern_name(*info.param.pattern);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

std::optional<Snapshot> collect(const metrics::Registry& registry) {
  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto future = promise->get_future();
  registry.collect([promise](Snapshot s) { promise->set_value(std::move(s)); });
  if (future.wait_for(kLimit) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// The sum of a counter or gauge over every series of its family (0 when absent).
double total(const Snapshot& s, std::string_view name) {
  double sum = 0;
  if (const metrics::Family* f = s.find(name)) {
    for (const metrics::Series& series : f->series) sum += series.value;
  }
  return sum;
}

class ServerMetricsTest : public testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
    options_.backend = GetParam().backend;
    options_.backend_options.strict = true;  // a fallback would test epoll twice
    options_.model = GetParam().model;
    options_.threads = GetParam().threads;
    options_.workers = GetParam().workers;
    options_.pattern = GetParam().pattern;
    options_.codec = Codec(Framing::line, 1 << 16);
    options_.metrics = &registry_;
    if (std::string why = check_options(options_); !why.empty()) {
      GTEST_SKIP() << "not a valid combination: " << why.substr(0, why.find('\n'));
    }
  }

  metrics::Registry registry_;
  ServerOptions options_;
};

TEST_P(ServerMetricsTest, CountersAgreeWithWhatTheClientsDid) {
  Server server(options_, Handler::sync([](Request r) { return Response(r); }));
  ASSERT_FALSE(server.start()) << server.error_detail();
  const uint16_t port = server.local_address().port();

  std::vector<test::LoopbackClient> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back(port, std::chrono::duration_cast<std::chrono::milliseconds>(kLimit));
    ASSERT_TRUE(clients.back().connected());
  }
  for (int i = 0; i < kRequestsPerConnection; ++i) {
    for (int c = 0; c < kConnections; ++c) {
      const std::string line = "request " + std::to_string(c) + "." + std::to_string(i) + "\n";
      ASSERT_TRUE(clients[c].send_all(line));
      ASSERT_EQ(clients[c].receive(line.size()), line);  // one exchange at a time
    }
  }

  // Every client has had all its answers: each connection is open and was accepted.
  auto open = collect(registry_);
  ASSERT_TRUE(open) << "collect did not complete";
  EXPECT_EQ(open->value("tern_server_accepted_total", {}), kConnections);
  EXPECT_EQ(open->value("tern_server_connections", {}), kConnections);
  const bool has_loops = GetParam().model != Model::lf;
  if (!has_loops) {
    EXPECT_EQ(open->find("tern_loop_iterations_total"), nullptr) << "lf has no loops";
  } else {
    EXPECT_EQ(total(*open, "tern_loop_connections"), kConnections);
    const metrics::Family* iterations = open->find("tern_loop_iterations_total");
    ASSERT_NE(iterations, nullptr);
    EXPECT_EQ(iterations->series.size(), size_t(GetParam().threads));
    const std::string backend(to_string(server.backend_in_use()));
    for (const metrics::Series& series : iterations->series) {
      const Labels& labels = series.labels;
      ASSERT_EQ(labels.size(), 2u);
      EXPECT_EQ(labels[1], (std::pair<std::string, std::string>{"backend", backend}));
      EXPECT_GT(series.value, 0);
      // Read in one fill on the loop: one events-per-wait record per iteration, and the
      // records add up to the events.
      const metrics::Series* per_wait = nullptr;
      for (const auto& s : open->find("tern_loop_events_per_wait")->series) {
        if (s.labels == labels) per_wait = &s;
      }
      ASSERT_NE(per_wait, nullptr);
      EXPECT_EQ(double(per_wait->histogram->count()), series.value);
      EXPECT_NEAR(per_wait->histogram->mean() * double(per_wait->histogram->count()),
                  *open->value("tern_loop_events_total", labels), 0.5);
      EXPECT_GT(*open->value("tern_loop_busy_seconds_total", labels) +
                    *open->value("tern_loop_wait_seconds_total", labels),
                0);
      EXPECT_GE(*open->value("tern_backend_wait_calls_total", labels), 1);
    }
    // Each request was read by at least one completion on its loop.
    EXPECT_GE(total(*open, "tern_loop_events_total"), kConnections * kRequestsPerConnection);
    EXPECT_GT(total(*open, "tern_backend_submissions_total"), 0);
    for (const char* name : {"tern_loop_tasks_total", "tern_loop_timers_total",
                             "tern_backend_cq_overflows_total", "tern_backend_enobufs_total",
                             "tern_backend_rearms_total", "tern_backend_fallbacks_total"}) {
      EXPECT_NE(open->find(name), nullptr) << name;
    }
    EXPECT_EQ(total(*open, "tern_backend_fallbacks_total"), 0) << "a strict row never falls back";
  }
  if (GetParam().model == Model::hsha) {
    // The workers answered through the loop: each reply is a posted task.
    EXPECT_GT(total(*open, "tern_loop_tasks_total"), 0);
    EXPECT_EQ(open->value("tern_hsha_queue_depth", {}), 0);
    EXPECT_TRUE(open->value("tern_hsha_pushbacks_total", {}));
  } else {
    EXPECT_EQ(open->find("tern_hsha_queue_depth"), nullptr);
  }

  // The clients close: the server's count comes down to zero (polled, bounded in count),
  // while the accepts stay.
  clients.clear();
  std::optional<Snapshot> closed;
  for (int round = 0; round < 10000; ++round) {
    closed = collect(registry_);
    ASSERT_TRUE(closed) << "collect did not complete";
    // Both counts reach zero, not at the same moment: the server's slot is released as the
    // socket closes, the loop's entry in its closing phase.
    if (closed->value("tern_server_connections", {}) == 0 &&
        total(*closed, "tern_loop_connections") == 0) {
      break;
    }
    std::this_thread::yield();
  }
  EXPECT_EQ(closed->value("tern_server_connections", {}), 0);
  EXPECT_EQ(closed->value("tern_server_accepted_total", {}), kConnections);
  if (has_loops) {
    EXPECT_EQ(total(*closed, "tern_loop_connections"), 0);
  }

  // After shutdown the server's sources are gone: a collect finds nothing.
  server.shutdown(5s);
  auto after = collect(registry_);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->families().empty());
}

// Without a registry, nothing is registered and the server runs as before.
TEST(ServerMetricsOffTest, NoRegistryNoSources) {
  metrics::Registry unused;
  ServerOptions options;
  options.codec = Codec(Framing::line, 1 << 16);
  Server server(options, Handler::sync([](Request r) { return Response(r); }));
  ASSERT_FALSE(server.start());
  test::LoopbackClient client(server.local_address().port(), 60000ms);
  ASSERT_TRUE(client.send_all("x\n"));
  EXPECT_EQ(client.receive(2), "x\n");
  auto s = collect(unused);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->families().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Models, ServerMetricsTest,
    testing::Values(Row{Model::single, BackendKind::epoll, 1, 0},
                    Row{Model::single, BackendKind::uring, 1, 0},
                    Row{Model::loops, BackendKind::epoll, 2, 0},
                    Row{Model::loops, BackendKind::uring, 2, 0},
                    Row{Model::hsha, BackendKind::epoll, 1, 2},
                    Row{Model::hsha, BackendKind::uring, 1, 2},
                    // The reactor engine counts its loops' connections apart.
                    Row{Model::loops, BackendKind::epoll, 2, 0, Pattern::reactor},
                    Row{Model::hsha, BackendKind::uring, 1, 2, Pattern::reactor},
                    Row{Model::lf, BackendKind::epoll, 2, 0},
                    Row{Model::lf, BackendKind::uring, 2, 0}),
    row_name);

}  // namespace
}  // namespace tern
