// The admin listener (apps/common/admin_server.h) of every tern program, as a user meets it:
// tern-httpd, tern-kv and tern-proxy started as child processes with --admin 127.0.0.1:0,
// scraped with curl. /metrics answers in the Prometheus text format (checked line by line by
// tests/prometheus_text.h) with the HTTP counters of what the test sent to the public port,
// /metrics.json parses, /status is the HTML page, / redirects to it, and the public port never
// answers /metrics or /status. A non-loopback --admin is refused: exit 2 and a message.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "json_value.h"
#include "program_under_test.h"
#include "prometheus_text.h"
#include "proxy_process.h"
#include "temp_dir.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using namespace tern::test::proxy;

constexpr auto kStart = 20s;
constexpr auto kExit = 20s;

// One answer as curl printed it with -i: the head (status line and fields) and the body.
struct CurlAnswer {
  int status = 0;
  std::string head;
  std::string body;
  std::string error;  // curl could not run, or failed

  std::optional<std::string> field(std::string_view name) const {
    HttpResponse response;
    response.head = head;
    return response.field(name);
  }
};

CurlAnswer curl(uint16_t port, std::string_view path) {
  CurlAnswer answer;
  std::string url = "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  CommandResult result = run_command("curl", {"-s", "-i", "--max-time", "10", url}, 15s);
  if (!result.error.empty() || !result.status.exited_with(0)) {
    answer.error = result.error + " " + result.status.describe() + " " + result.err;
    return answer;
  }
  size_t end = result.out.find("\r\n\r\n");
  if (end == std::string::npos) {
    answer.error = "no head in: " + result.out;
    return answer;
  }
  answer.head = result.out.substr(0, end + 2);
  answer.body = result.out.substr(end + 4);
  answer.status = std::atoi(answer.head.c_str() + 9);
  return answer;
}

// A program under test with its admin port (its second start-up line, "admin on ...").
struct Running {
  std::unique_ptr<ProgramUnderTest> program;
  uint16_t admin_port = 0;
};

struct ProgramCase {
  const char* name;     // as the program names itself (the JSON's "program")
  std::string path;
  // The arguments, given a temporary directory and the address of an upstream (tern-proxy).
  std::function<std::vector<std::string>(const TempDir&, const std::string&)> args;
  const char* served_path;  // a public path the program answers 200
  bool forwards;            // tern-proxy: the public port forwards every path upstream
};

std::vector<ProgramCase> program_cases() {
  return {
      {"tern-httpd", TERN_HTTPD_PATH,
       [](const TempDir& dir, const std::string&) {
         return std::vector<std::string>{"--port", "0", "--root", dir.path().string()};
       },
       "/plaintext", false},
      {"tern-kv", TERN_KV_PATH,
       [](const TempDir& dir, const std::string&) {
         return std::vector<std::string>{"--port", "0", "--store",
                                         "sqlite:" + (dir.path() / "kv.db").string()};
       },
       "/healthz", false},
      {"tern-proxy", TERN_PROXY_PATH,
       [](const TempDir&, const std::string& upstream) {
         return std::vector<std::string>{"--listen", "127.0.0.1:0", "--upstream", upstream};
       },
       "/", true},
  };
}

class AdminServerTest : public ::testing::TestWithParam<ProgramCase> {
 protected:
  void SetUp() override {
    if (!find_program("curl")) GTEST_SKIP() << "curl is not installed (scripts/install-deps.sh)";
    upstream_ = std::make_unique<Upstream>(TERN_PROXY_UPSTREAM_PATH, "u1");
    ASSERT_TRUE(upstream_->started()) << upstream_->failure();
  }

  Running start(std::vector<std::string> extra) {
    Running running;
    auto args = GetParam().args(dir_, upstream_->address());
    args.insert(args.end(), extra.begin(), extra.end());
    running.program = std::make_unique<ProgramUnderTest>(GetParam().path, args, kStart, kExit);
    if (!running.program->started()) return running;
    auto line = running.program->child().read_stdout_line(kStart);
    running.admin_port = line ? port_after(*line, "admin on 127.0.0.1:") : 0;
    return running;
  }

  TempDir dir_;
  std::unique_ptr<Upstream> upstream_;
};

TEST_P(AdminServerTest, MetricsCountWhatThePublicPortServed) {
  Running running = start({"--admin", "127.0.0.1:0"});
  ASSERT_TRUE(running.program->started()) << running.program->failure();
  ASSERT_NE(running.admin_port, 0) << running.program->child().stdout_text();
  uint16_t port = running.program->port();

  constexpr int kServed = 3;
  for (int i = 0; i < kServed; ++i) {
    ASSERT_EQ(http_once(port, "GET", GetParam().served_path).status, 200);
  }
  // The public port never answers the admin paths (tern-proxy passes them to its upstream).
  for (const char* path : {"/metrics", "/status", "/metrics.json"}) {
    HttpResponse response = http_once(port, "GET", path);
    if (GetParam().forwards) {
      EXPECT_EQ(response.upstream(), "u1") << path;
    } else {
      EXPECT_EQ(response.status, 404) << path;
    }
    EXPECT_EQ(response.body.find("# TYPE"), std::string::npos) << path;
    EXPECT_EQ(response.body.find("<canvas"), std::string::npos) << path;
  }

  CurlAnswer metrics = curl(running.admin_port, "/metrics");
  ASSERT_TRUE(metrics.error.empty()) << metrics.error;
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.field("content-type").value_or("").rfind("text/plain; version=0.0.4", 0), 0u)
      << metrics.head;
  std::vector<PromSample> samples;
  EXPECT_EQ(check_prometheus_text(metrics.body, &samples), "") << metrics.body;
  // What the client sent, exactly: the admin listener's own requests are not counted.
  int forwarded = GetParam().forwards ? 3 : 0;  // the three admin paths, answered upstream
  EXPECT_EQ(find_sample(samples, "tern_http_requests_total", {{"class", "2xx"}}),
            kServed + forwarded)
      << metrics.body;
  EXPECT_EQ(find_sample(samples, "tern_http_requests_total", {{"class", "4xx"}}), 3 - forwarded)
      << metrics.body;
  EXPECT_TRUE(find_sample(samples, "tern_loop_iterations_total", {{"loop", "0"}}) ||
              metrics.body.find("tern_loop_iterations_total{") != std::string::npos)
      << metrics.body;
  if (GetParam().forwards) {
    EXPECT_EQ(find_sample(samples, "tern_proxy_upstream_requests_total",
                          {{"upstream", upstream_->address()}}),
              kServed + forwarded)
        << metrics.body;
    EXPECT_EQ(find_sample(samples, "tern_proxy_upstream_up", {{"upstream", upstream_->address()}}),
              1)
        << metrics.body;
    // Every request above was answered by the upstream: one duration (written -> head) each.
    EXPECT_EQ(find_sample(samples, "tern_proxy_upstream_duration_seconds_count",
                          {{"upstream", upstream_->address()}}),
              kServed + forwarded)
        << metrics.body;
    // One loop, requests one at a time: the budget holds at most max(min_retries 3, 1 in
    // flight) retries.
    std::optional<double> budget = find_sample(samples, "tern_proxy_retry_budget_available", {});
    ASSERT_TRUE(budget.has_value()) << metrics.body;
    EXPECT_GE(*budget, 0) << metrics.body;
    EXPECT_LE(*budget, 3) << metrics.body;
  }
}

TEST_P(AdminServerTest, ServesMetricsJsonStatusAndARedirect) {
  Running running = start({"--admin", "127.0.0.1:0"});
  ASSERT_TRUE(running.program->started()) << running.program->failure();
  ASSERT_NE(running.admin_port, 0) << running.program->child().stdout_text();

  CurlAnswer json = curl(running.admin_port, "/metrics.json");
  ASSERT_TRUE(json.error.empty()) << json.error;
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.field("content-type"), "application/json");
  std::string error;
  auto document = parse_json(json.body, error);
  ASSERT_TRUE(document) << error << "\n" << json.body;
  ASSERT_NE(document->get("program"), nullptr);
  EXPECT_EQ(document->get("program")->text, GetParam().name);
  ASSERT_NE(document->get("time"), nullptr);
  EXPECT_TRUE(document->get("time")->is_number());
  const JsonValue* families = document->get("families");
  ASSERT_NE(families, nullptr);
  bool has_requests = false;
  for (const JsonValue& family : families->items) {
    const JsonValue* name = family.get("name");
    has_requests = has_requests || (name && name->text == "tern_http_requests_total");
  }
  EXPECT_TRUE(has_requests) << json.body;

  CurlAnswer status = curl(running.admin_port, "/status");
  ASSERT_TRUE(status.error.empty()) << status.error;
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.field("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(status.body.find("<html"), std::string::npos);

  CurlAnswer root = curl(running.admin_port, "/");
  ASSERT_TRUE(root.error.empty()) << root.error;
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.field("location"), "/status");
}

TEST_P(AdminServerTest, RefusesANonLoopbackAdminAddress) {
  auto args = GetParam().args(dir_, upstream_->address());
  args.insert(args.end(), {"--admin", "0.0.0.0:0"});
  CommandResult result = run_command(GetParam().path, args, kExit);
  ASSERT_TRUE(result.error.empty()) << result.error;
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe() << "\n" << result.err;
  EXPECT_NE(result.err.find("'0.0.0.0:0' must be a loopback address"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.out.find("listening on"), std::string::npos) << result.out;
}

INSTANTIATE_TEST_SUITE_P(Programs, AdminServerTest, ::testing::ValuesIn(program_cases()),
                         [](const auto& param_info) {
                           std::string name = param_info.param.name;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// Without --admin there is no second line and no listener: the program runs as before.
TEST(AdminServerOff, NoAdminLineWithoutTheFlag) {
  TempDir dir;
  ProgramUnderTest httpd(TERN_HTTPD_PATH, {"--port", "0", "--root", dir.path().string()}, kStart,
                         kExit);
  ASSERT_TRUE(httpd.started()) << httpd.failure();
  EXPECT_EQ(http_once(httpd.port(), "GET", "/metrics").status, 404);
  // Everything it printed, read to its exit.
  EXPECT_TRUE(httpd.terminate().exited_with(0));
  EXPECT_EQ(httpd.child().stdout_text().find("admin on"), std::string::npos)
      << httpd.child().stdout_text();
}

}  // namespace
}  // namespace tern::test
