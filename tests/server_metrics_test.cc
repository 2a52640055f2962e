// A real tern::Server with ServerOptions::metrics, under each model on epoll and io_uring:
// loopback clients open C connections and make N request/response exchanges each, then the
// registry's collect must agree with what the clients did (accepts, open connections, events
// at least one per request) and the loop counters with each other (one events-per-wait record
// per iteration, their sum the events). An io_uring row that cannot run here is skipped with
// the reason; lf rows check the server's series and each thread's turns as a loop's series.
// The models' own series are checked with handlers that block at a gate, so the state they
// count is certain, not likely: hsha workers held while requests queue behind them (the queue
// wait and busy time are bounded below by how long the test held the gate), and an lf thread
// held while another serves (a hand-over).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "collect_snapshot.h"
#include "loopback_client.h"
#include "proxy_process.h"
#include "test_support.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/router.h"
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
  return test::collect_snapshot(registry, kLimit);
}

// The sum of a counter or gauge over every series of its family (0 when absent).
double total(const Snapshot& s, std::string_view name) {
  double sum = 0;
  if (const metrics::Family* f = s.find(name)) {
    for (const metrics::Series& series : f->series) sum += series.value;
  }
  return sum;
}

// The histogram of the one series of family `name`, or null.
const metrics::Histogram* histogram_of(const Snapshot& s, std::string_view name) {
  const metrics::Family* f = s.find(name);
  if (f == nullptr || f->series.size() != 1 || !f->series[0].histogram) return nullptr;
  return &*f->series[0].histogram;
}

// Collects until `done(snapshot)` holds; the last snapshot (nullopt if a collect failed).
// Bounded in rounds and by kLimit: the caller checks the condition again.
template <class Done>
std::optional<Snapshot> collect_until(const metrics::Registry& registry, Done done) {
  const auto give_up = std::chrono::steady_clock::now() + kLimit;
  std::optional<Snapshot> s;
  for (int round = 0; round < 100000; ++round) {
    s = collect(registry);
    if (!s || done(*s) || std::chrono::steady_clock::now() > give_up) break;
    std::this_thread::yield();
  }
  return s;
}

// Where handlers wait until the test opens it; the test waits for them to have entered.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  // True once `count` handlers have entered (false past kLimit).
  bool wait_entered(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kLimit, [&] { return entered_ >= count; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  bool open_ = false;
};

// Opens the gate as it goes out of scope: declared after the Server, so a failed assertion
// does not leave the server's shutdown joining a thread held at the gate.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.open(); }
};

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
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
  const double exchanges = kConnections * kRequestsPerConnection;
  open = collect_until(registry_, [&](const Snapshot& s) {  // lf ends a turn after its answer
    return total(s, "tern_loop_events_total") >= exchanges;
  });
  ASSERT_TRUE(open) << "collect did not complete";
  {
    const metrics::Family* iterations = open->find("tern_loop_iterations_total");
    ASSERT_NE(iterations, nullptr);
    EXPECT_EQ(iterations->series.size(), size_t(GetParam().threads));
    const std::string backend(to_string(server.backend_in_use()));
    for (const metrics::Series& series : iterations->series) {
      const Labels& labels = series.labels;
      ASSERT_EQ(labels.size(), 2u);
      EXPECT_EQ(labels[1], (std::pair<std::string, std::string>{"backend", backend}));
      // An lf thread may never have ended a turn (the total, below), and keeps no events per
      if (!has_loops) continue;  // wait (it waits for one at a time)
      EXPECT_GT(series.value, 0);
      EXPECT_GT(*open->value("tern_loop_busy_seconds_total", labels) +
                    *open->value("tern_loop_wait_seconds_total", labels),
                0);
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
      EXPECT_GE(*open->value("tern_backend_wait_calls_total", labels), 1);
    }
    // Each request was read by at least one completion on its loop (lf: one event a turn).
    EXPECT_GE(total(*open, "tern_loop_events_total"), exchanges);
    EXPECT_GE(total(*open, "tern_loop_iterations_total"), exchanges);
    EXPECT_GT(total(*open, "tern_loop_busy_seconds_total"), 0);
  }
  if (!has_loops) {
    // lf's threads share one set and the server's connections: no per-loop ones of those.
    for (const char* name : {"tern_loop_connections", "tern_loop_tasks_total",
                             "tern_loop_events_per_wait", "tern_backend_submissions_total"}) {
      EXPECT_EQ(open->find(name), nullptr) << name;
    }
  } else {
    EXPECT_EQ(total(*open, "tern_loop_connections"), kConnections);
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
    // A worker records a task after running it, so after the client has its answer: polled.
    const uint64_t requests = kConnections * kRequestsPerConnection;
    auto ran = collect_until(registry_, [&](const Snapshot& s) {
      const metrics::Histogram* waits = histogram_of(s, "tern_hsha_queue_wait_seconds");
      return waits != nullptr && waits->count() >= requests;
    });
    ASSERT_TRUE(ran) << "collect did not complete";
    const metrics::Histogram* waits = histogram_of(*ran, "tern_hsha_queue_wait_seconds");
    ASSERT_NE(waits, nullptr);
    if (effective_pattern(options_) == Pattern::reactor) {
      EXPECT_GE(waits->count(), requests) << "a task is a ready event: one per request at least";
    } else {
      EXPECT_EQ(waits->count(), requests) << "a task is a request";
    }
    const metrics::Family* busy = ran->find("tern_hsha_worker_busy_seconds_total");
    ASSERT_NE(busy, nullptr);
    EXPECT_EQ(busy->series.size(), size_t(GetParam().workers));
    EXPECT_GT(total(*ran, "tern_hsha_worker_busy_seconds_total"), 0);
  } else {
    for (const char* name : {"tern_hsha_queue_depth", "tern_hsha_queue_wait_seconds",
                             "tern_hsha_worker_busy_seconds_total"}) {
      EXPECT_EQ(open->find(name), nullptr) << name;
    }
  }
  if (GetParam().model == Model::lf) {
    EXPECT_TRUE(open->value("tern_lf_handovers_total", {}));
  } else {
    EXPECT_EQ(open->find("tern_lf_handovers_total"), nullptr);
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

// hsha: two workers held at the gate by the first two of kQueued+2 requests (one per
// connection, so under the reactor pattern too each is one task), the rest queued behind
// them. The test notes the time t1 once both handlers have entered and the queue holds the
// rest, and t2 just before it opens the gate. Causality, not timing, bounds the figures: each
// queued task was pushed before t1 and popped after t2, and each held worker took its task
// before t1 and finished after t2 (lower bounds); no task was pushed before the test's first
// connect (t0), none popped after its answer came, and none finished after the collect that
// counted it (t3) (upper bounds: a wrong time stamp, not only a missing one, fails).
class HshaMetricsTest : public ServerMetricsTest {};

TEST_P(HshaMetricsTest, QueueWaitAndBusyTimeOfHeldWorkers) {
  constexpr int kQueued = 4;
  constexpr int kTasks = kQueued + 2;
  ASSERT_EQ(options_.workers, 2);
  Gate gate;
  Server server(options_, Handler::sync([&gate](Request r) {
    gate.pass();
    return Response(r);
  }));
  OpenOnExit open_on_exit{gate};
  ASSERT_FALSE(server.start()) << server.error_detail();

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<test::LoopbackClient> clients;
  for (int c = 0; c < kTasks; ++c) {
    clients.emplace_back(server.local_address().port(),
                         std::chrono::duration_cast<std::chrono::milliseconds>(kLimit));
    ASSERT_TRUE(clients.back().connected());
    ASSERT_TRUE(clients.back().send_all("task " + std::to_string(c) + "\n"));
  }
  ASSERT_TRUE(gate.wait_entered(2)) << "the workers did not take two tasks";
  auto held = collect_until(registry_, [&](const Snapshot& s) {
    return s.value("tern_hsha_queue_depth", {}) == kQueued;
  });
  ASSERT_TRUE(held) << "collect did not complete";
  ASSERT_EQ(held->value("tern_hsha_queue_depth", {}), kQueued);
  const auto t1 = std::chrono::steady_clock::now();
  // Nothing has finished: a worker records a task after running it.
  const metrics::Histogram* none = histogram_of(*held, "tern_hsha_queue_wait_seconds");
  ASSERT_NE(none, nullptr) << "no tern_hsha_queue_wait_seconds";
  EXPECT_EQ(none->count(), 0u);
  const auto t2 = std::chrono::steady_clock::now();
  gate.open();

  for (int c = 0; c < kTasks; ++c) {
    const std::string line = "task " + std::to_string(c) + "\n";
    EXPECT_EQ(clients[c].receive(line.size()), line);
  }
  const auto answered = std::chrono::steady_clock::now();
  auto ran = collect_until(registry_, [&](const Snapshot& s) {
    const metrics::Histogram* waits = histogram_of(s, "tern_hsha_queue_wait_seconds");
    return waits != nullptr && waits->count() >= uint64_t(kTasks);
  });
  const auto t3 = std::chrono::steady_clock::now();
  ASSERT_TRUE(ran) << "collect did not complete";
  const metrics::Histogram* waits = histogram_of(*ran, "tern_hsha_queue_wait_seconds");
  ASSERT_NE(waits, nullptr);
  EXPECT_EQ(waits->count(), uint64_t(kTasks)) << "one wait per task run";
  // max() is exact; 1.001 absorbs the double rounding.
  EXPECT_LE(double(waits->max()) * 1e-9, 1.001 * seconds_between(t0, answered));
  const double held_for = seconds_between(t1, t2);
  // The mean is exact (kept from the sum, not the buckets); 0.999 absorbs the double rounding.
  const double waited = waits->mean() * double(waits->count()) * 1e-9;
  EXPECT_GE(waited, 0.999 * kQueued * held_for) << "waited " << waited << " s in all";
  EXPECT_GT(waited, 0);
  for (const char* worker : {"0", "1"}) {
    auto busy = ran->value("tern_hsha_worker_busy_seconds_total", {{"worker", worker}});
    ASSERT_TRUE(busy) << "worker " << worker;
    EXPECT_GT(*busy, 0) << "worker " << worker;
    EXPECT_GE(*busy, 0.999 * held_for) << "worker " << worker;
    EXPECT_LE(*busy, 1.001 * seconds_between(t0, t3)) << "worker " << worker;
  }
  server.shutdown(5s);
}

// lf: one thread held at the gate by connection A's request; connection B's request is then
// answered by another thread, which had to take the lead after the held one: a hand-over.
class LfMetricsTest : public ServerMetricsTest {};

TEST_P(LfMetricsTest, AnotherThreadServingIsAHandOver) {
  ASSERT_EQ(options_.threads, 2);
  Gate gate;
  Server server(options_, Handler::sync([&gate](Request r) {
    if (r.starts_with("hold")) gate.pass();
    return Response(r);
  }));
  OpenOnExit open_on_exit{gate};
  ASSERT_FALSE(server.start()) << server.error_detail();
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kLimit);
  test::LoopbackClient a(server.local_address().port(), timeout);
  test::LoopbackClient b(server.local_address().port(), timeout);
  ASSERT_TRUE(a.connected() && b.connected());

  ASSERT_TRUE(a.send_all("hold\n"));
  ASSERT_TRUE(gate.wait_entered(1));
  ASSERT_TRUE(b.send_all("free\n"));
  EXPECT_EQ(b.receive(5), "free\n");
  auto s = collect(registry_);
  ASSERT_TRUE(s) << "collect did not complete";
  auto handovers = s->value("tern_lf_handovers_total", {});
  ASSERT_TRUE(handovers) << "no tern_lf_handovers_total";
  EXPECT_GE(*handovers, 1);

  gate.open();
  EXPECT_EQ(a.receive(5), "hold\n");
  server.shutdown(5s);
}

// lf with HTTP metrics: clients keep two lf threads counting (their shards, the "elsewhere" one
// of replies from another thread, their turns) while the test scrapes again and again. Under
// TSan a record and a scrape not sharing a lock race; each scrape's counts never go back.
TEST_P(LfMetricsTest, ScrapesWhileTheThreadsCount) {
  constexpr int kClients = 2, kRequests = 150;
  http::Router router;
  router.get("/now", [](const http::Request&) { return http::Response::text(200, "now\n"); });
  router.get_async("/later", [](const http::Request&, http::Reply reply) {
    std::thread([reply = std::move(reply)]() mutable {
      reply.send(http::Response::text(202, "later\n"));
    }).detach();
  });
  http::record_metrics(options_, registry_);
  Server server(options_, http::service(std::move(router)));
  ASSERT_FALSE(server.start()) << server.error_detail();
  std::atomic<int> running{kClients};
  std::vector<std::future<int>> clients;  // each: the responses it read
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::async(std::launch::async, [&, port = server.local_address().port()] {
      test::proxy::HttpConnection client(port);
      int read = 0;
      for (int i = 0; i < kRequests && client.connected(); ++i) {
        read += client.get(i % 3 == 0 ? "/later" : "/now").status == (i % 3 == 0 ? 202 : 200);
      }
      --running;
      return read;
    }));
  }
  double last = 0;
  for (int round = 0; round < 100000 && running > 0; ++round) {
    auto s = collect(registry_);
    ASSERT_TRUE(s) << "collect did not complete";
    const double now = total(*s, "tern_http_requests_total");
    ASSERT_GE(now, last) << "a count went back";
    last = now;
  }
  int read = 0;
  for (auto& client : clients) read += client.get();
  ASSERT_EQ(read, kClients * kRequests);
  auto s = collect(registry_);  // a response is counted before it is written
  ASSERT_TRUE(s);
  EXPECT_EQ(total(*s, "tern_http_requests_total"), kClients * kRequests);
  EXPECT_EQ(s->value("tern_http_requests_total", {{"class", "2xx"}}), kClients * kRequests);
  EXPECT_GE(total(*s, "tern_loop_events_total"), 1);
  server.shutdown(5s);
}

INSTANTIATE_TEST_SUITE_P(
    Hsha, HshaMetricsTest,
    testing::Values(Row{Model::hsha, BackendKind::epoll, 1, 2},
                    Row{Model::hsha, BackendKind::uring, 1, 2},
                    Row{Model::hsha, BackendKind::epoll, 1, 2, Pattern::reactor},
                    Row{Model::hsha, BackendKind::uring, 1, 2, Pattern::reactor}),
    row_name);

// lf shares one readiness set: epoll only.
INSTANTIATE_TEST_SUITE_P(Lf, LfMetricsTest, testing::Values(Row{Model::lf, BackendKind::epoll, 2, 0}),
                         row_name);

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
