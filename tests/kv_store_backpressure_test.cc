// tern-kv when its storage queue fills (issue 12: "logic servers stop reading from clients
// when their queues fill"), as a black box: the program run as a child with a small
// --store-queue and a slow disk (TERN_STORE_TEST_COMMIT_DELAY_MS: each commit waits first, in
// the child) or a stopped redis-server (SIGSTOP), driven over loopback by plain HTTP
// connections and scraped on its --admin port.
//
//   - more concurrent PUTs than the queue holds: every one is answered 2xx once the storage
//     catches up (none 503), the held requests are counted in tern_kv_read_pauses_total, and
//     /metrics shows the storage families with values that add up (operations per transaction
//     summing to the PUTs, never more per transaction than the queue holds);
//   - a request still waiting at the storage deadline is answered 503 with Retry-After (never
//     a hang);
//   - on Redis, stopped with more PUTs than its per-loop queue: the PUTs beyond it are held
//     (counted in tern_kv_read_pauses_total while the server is stopped, none answered 503),
//     and after SIGCONT every one is answered 201 and readable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kv_process_row.h"
#include "program_under_test.h"
#include "prometheus_text.h"
#include "proxy_process.h"
#include "redis_server.h"
#include "temp_dir.h"
#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using proxy::HttpConnection;
using proxy::HttpResponse;

constexpr auto kStartTimeout = 20s;
constexpr auto kExitTimeout = 60s;  // the storage thread finishes its queued (slow) commits
constexpr const char* kCommitDelayVariable = "TERN_STORE_TEST_COMMIT_DELAY_MS";

// The child's slow disk: set in this process's environment while the child is spawned.
class CommitDelay {
 public:
  explicit CommitDelay(int ms) { ::setenv(kCommitDelayVariable, std::to_string(ms).c_str(), 1); }
  ~CommitDelay() { ::unsetenv(kCommitDelayVariable); }
  CommitDelay(const CommitDelay&) = delete;
  CommitDelay& operator=(const CommitDelay&) = delete;
};

const KvRow kRows[] = {
    {"single_epoll", "single", "epoll", 1, 0},
    {"loops_uring", "loops", "uring", 2, 0},
    {"hsha_epoll", "hsha", "epoll", 1, 2},
};

// A running tern-kv and its admin port (the second start-up line, "admin on ...").
struct Kv {
  std::unique_ptr<ProgramUnderTest> program;
  uint16_t admin_port = 0;
};

class KvStoreBackpressureTest : public testing::TestWithParam<KvRow> {
 protected:
  void SetUp() override {
    if (auto why = backend_unavailable(*parse_backend_kind(GetParam().backend))) {
      GTEST_SKIP() << *why;
    }
  }

  Kv start(int commit_delay_ms, std::vector<std::string> extra) {
    return start_on("sqlite:" + (dir_.path() / "kv.db").string(), commit_delay_ms,
                    std::move(extra));
  }
  Kv start_on(const std::string& store, int commit_delay_ms, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--port", "0", "--store", store, "--admin", "127.0.0.1:0"};
    std::vector<std::string> flags = GetParam().flags();
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), extra.begin(), extra.end());
    Kv kv;
    {
      CommitDelay delay(commit_delay_ms);
      kv.program = std::make_unique<ProgramUnderTest>(TERN_KV_PATH, args, kStartTimeout,
                                                      kExitTimeout);
    }
    if (!kv.program->started()) return kv;
    auto line = kv.program->child().read_stdout_line(kStartTimeout);
    kv.admin_port = line ? port_after(*line, "admin on 127.0.0.1:") : 0;
    return kv;
  }

  // Sends one PUT on each of `count` new connections, answers not read yet.
  static std::vector<std::unique_ptr<HttpConnection>> send_puts(uint16_t port, int count,
                                                                const std::string& prefix) {
    std::vector<std::unique_ptr<HttpConnection>> connections;
    for (int i = 0; i < count; ++i) {
      connections.push_back(std::make_unique<HttpConnection>(port, 60s));
      EXPECT_TRUE(connections.back()->send_request("PUT", "/kv/" + prefix + std::to_string(i),
                                                   "", "value-" + std::to_string(i)));
    }
    return connections;
  }
  static std::vector<HttpResponse> read_answers(
      std::vector<std::unique_ptr<HttpConnection>>& connections) {
    std::vector<HttpResponse> answers;
    for (auto& connection : connections) answers.push_back(connection->read_response());
    return answers;
  }
  // Sends one PUT on each of `count` new connections before reading any answer, so they all
  // wait on the storage together; returns the answers in order.
  static std::vector<HttpResponse> concurrent_puts(uint16_t port, int count,
                                                   const std::string& prefix) {
    auto connections = send_puts(port, count, prefix);
    return read_answers(connections);
  }
  // Every PUT of `prefix` answered 201 and readable with its value.
  static void expect_all_stored(std::vector<HttpResponse>& answers, uint16_t port,
                                const std::string& prefix) {
    HttpConnection reader(port);
    for (size_t i = 0; i < answers.size(); ++i) {
      EXPECT_TRUE(answers[i].complete) << "PUT " << i << " got no answer";
      EXPECT_EQ(answers[i].status, 201) << "PUT " << i << ": " << answers[i].head
                                        << answers[i].body;
      HttpResponse got = reader.get("/kv/" + prefix + std::to_string(i));
      EXPECT_EQ(got.status, 200);
      EXPECT_EQ(got.body, "value-" + std::to_string(i));
    }
  }

  // /metrics, checked against the exposition format's rules; its samples.
  static std::vector<PromSample> scrape(uint16_t admin_port) {
    HttpConnection admin(admin_port);
    HttpResponse metrics = admin.get("/metrics");
    EXPECT_EQ(metrics.status, 200);
    std::vector<PromSample> samples;
    EXPECT_EQ(check_prometheus_text(metrics.body, &samples), "") << metrics.body;
    return samples;
  }

  TempDir dir_{"tern-kv-backpressure-"};
};

// 24 PUTs at once against a queue of 2 and a disk that takes 200 ms a commit: the 22 that do
// not fit wait (their connections paused) instead of getting 503, and all are stored.
TEST_P(KvStoreBackpressureTest, FullStoreQueueHoldsRequestsInsteadOfRefusing) {
  constexpr int kPuts = 24;
  constexpr int kQueue = 2;
  constexpr int kCommitDelayMs = 200;
  Kv kv = start(kCommitDelayMs, {"--store-queue", std::to_string(kQueue), "--store-deadline-ms",
                                 "60000", "--cache-mb", "1"});
  ASSERT_TRUE(kv.program->started()) << kv.program->failure();
  ASSERT_NE(kv.admin_port, 0) << kv.program->child().stdout_text();

  std::vector<HttpResponse> answers = concurrent_puts(kv.program->port(), kPuts, "k");
  // Every value is stored; each key read twice (the second read is the cache's).
  expect_all_stored(answers, kv.program->port(), "k");
  expect_all_stored(answers, kv.program->port(), "k");

  std::vector<PromSample> samples = scrape(kv.admin_port);
  auto value = [&](std::string_view name,
                   std::vector<std::pair<std::string, std::string>> labels = {}) {
    auto found = find_sample(samples, name, labels);
    EXPECT_TRUE(found.has_value()) << "no sample " << name;
    return found.value_or(-1);
  };
  EXPECT_GT(value("tern_kv_read_pauses_total"), 0) << "requests that met the full queue";
  EXPECT_EQ(value("tern_store_queue_capacity"), kQueue);
  EXPECT_EQ(value("tern_store_queue_depth"), 0) << "everything answered: nothing queued";
  // One sample per committed transaction: together they hold exactly the PUTs, and a
  // transaction never holds more than the queue did, so there were at least kPuts / kQueue.
  double transactions = value("tern_store_batch_size_count");
  EXPECT_EQ(value("tern_store_batch_size_sum"), kPuts);
  EXPECT_GE(transactions, kPuts / kQueue);
  EXPECT_EQ(value("tern_store_commit_duration_seconds_count"), transactions);
  // Each commit waited kCommitDelayMs first (the child's slow disk), in seconds here.
  EXPECT_GE(value("tern_store_commit_duration_seconds_sum"),
            transactions * kCommitDelayMs / 1000.0 * 0.99);
  double hits = value("tern_store_cache_hits_total");
  double misses = value("tern_store_cache_misses_total");
  EXPECT_EQ(hits + misses, 2 * kPuts) << "every GET is a hit or a miss";
  EXPECT_GE(hits, kPuts) << "a key's second read is the cache's";
  EXPECT_EQ(value("tern_redis_redirections_total", {{"kind", "moved"}}), 0);
  EXPECT_EQ(value("tern_redis_redirections_total", {{"kind", "ask"}}), 0);
}

// A disk slower than the deadline: every PUT, the one being committed and those waiting for
// room, is answered 503 with Retry-After at the deadline. Never a hang.
TEST_P(KvStoreBackpressureTest, RequestStillWaitingAtTheDeadlineGets503WithRetryAfter) {
  constexpr int kPuts = 6;
  Kv kv = start(/*commit_delay_ms=*/2000, {"--store-queue", "1", "--store-deadline-ms", "200"});
  ASSERT_TRUE(kv.program->started()) << kv.program->failure();
  ASSERT_NE(kv.admin_port, 0) << kv.program->child().stdout_text();

  std::vector<HttpResponse> answers = concurrent_puts(kv.program->port(), kPuts, "late");
  for (int i = 0; i < kPuts; ++i) {
    EXPECT_TRUE(answers[i].complete) << "PUT " << i << " got no answer";
    EXPECT_EQ(answers[i].status, 503) << "PUT " << i << ": " << answers[i].head;
    EXPECT_EQ(answers[i].field("retry-after").value_or(""), "1") << answers[i].head;
    EXPECT_NE(answers[i].body.find("deadline"), std::string::npos) << answers[i].body;
  }
  std::vector<PromSample> samples = scrape(kv.admin_port);
  EXPECT_GT(find_sample(samples, "tern_kv_read_pauses_total", {}).value_or(0), 0);
}

// Redis stopped (SIGSTOP) under 12 PUTs, with a queue of 2 per loop: at most 2 per loop are
// sent, the others are held (their connections paused, counted while the server is stopped:
// with the 503 of old they were answered at once and none was counted), and after SIGCONT all
// are answered 201 and readable.
TEST_P(KvStoreBackpressureTest, StoppedRedisWithAFullQueueHoldsRequestsUntilSigcont) {
  constexpr int kPuts = 12;
  constexpr int kQueue = 2;
  auto redis = RedisServer::start();
  if (!redis) return;
  Kv kv = start_on("redis://127.0.0.1:" + std::to_string(redis->port()), 0,
                   {"--store-queue", std::to_string(kQueue), "--store-deadline-ms", "60000"});
  ASSERT_TRUE(kv.program->started()) << kv.program->failure();
  ASSERT_NE(kv.admin_port, 0) << kv.program->child().stdout_text();

  redis->pause();
  auto connections = send_puts(kv.program->port(), kPuts, "r");
  // Each loop sends at most kQueue: the rest must be held while the server is stopped.
  const double least_held = kPuts - kQueue * GetParam().threads;
  double held = 0;
  bool all_held = wait_until(
      [&] {
        held = find_sample(scrape(kv.admin_port), "tern_kv_read_pauses_total", {}).value_or(0);
        return held >= least_held;
      },
      30s);
  EXPECT_TRUE(all_held) << "held " << held << " of at least " << least_held;
  redis->resume();

  std::vector<HttpResponse> answers = read_answers(connections);
  expect_all_stored(answers, kv.program->port(), "r");
}

INSTANTIATE_TEST_SUITE_P(Models, KvStoreBackpressureTest, testing::ValuesIn(kRows), kv_row_name);

}  // namespace
}  // namespace tern::test
