// The status page (apps/common/status_page.html, served at /status by every program's --admin
// listener) in a real browser: headless chromium loads it from a running server under load,
// runs its script, and the test reads what the script wrote into the DOM (--dump-dom):
//   <body data-samples="N" data-error="...">  documents drawn; the first script error
//   <canvas id="chart-..." data-points="P" data-lines="L">  samples with a value; lines drawn
// It also saves screenshots at a desktop and a phone size (status.png, status-phone.png in
// the test's output directory: $TERN_STATUS_SCREENSHOTS, or the build directory's
// status_page_screenshots/), which docs/status.md shows.
//
// The clock: --virtual-time-budget runs the page on a virtual clock that jumps ahead whenever
// the page is idle, and stops while a fetch is in flight. So a budget of 5.5 s gives exactly six
// fetches of metrics.json (at 0, 1, ..., 5 virtual seconds: a fixed count, not a timing), but
// they happen within a few real milliseconds of each other. The server's counters grow in real
// time, so the load runs in threads of their own for the whole browser run (flowing before
// chromium starts, stopped after it has exited, bounded in count and time): the intervals
// between fetches then hold requests (the check asks for two of the five), and the page's rates
// are computed on the documents' own "time" (the server's clock), not the page's virtual one.
// Repeated runs with real time (--timeout) would take a real second per sample and make the
// count of samples a matter of timing; virtual time makes it a fixed six.
//
// Skipped, with the reason, when no chromium is installed (scripts/install-deps.sh installs it).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "headless_chromium.h"
#include "json_value.h"
#include "program_under_test.h"
#include "proxy_process.h"
#include "status_page.h"
#include "temp_dir.h"
#include "tern/http/router.h"
#include "tern/tern.h"

namespace {

using namespace std::chrono_literals;
using tern::test::BrowserRun;
using tern::test::HeadlessChromium;
using tern::test::JsonValue;

constexpr auto kBrowserTimeout = 25s;  // one chromium run, start to exit
constexpr auto kStartTimeout = 15s;    // until tern-httpd's start-up lines
constexpr auto kExitTimeout = 20s;     // until tern-httpd has exited after SIGTERM
constexpr auto kLoadLimit = 60s;       // the load thread stops by itself past this
constexpr uint64_t kLoadRequests = 5'000'000;  // ... or past this many requests
constexpr uint64_t kFlowing = 100;  // requests answered before the browser starts

// ---------------------------------------------------------------------------------------------
// Reading the dumped DOM

// Where the document's body starts: past the head, whose comments and styles name the same
// tags.
size_t body_start(const std::string& dom) {
  size_t head_end = dom.find("</head>");
  return head_end == std::string::npos ? 0 : head_end;
}

// The value of attribute `name` in the first tag that starts with `tag_start` (e.g. "<body" or
// "<canvas id=\"chart-rps\""), or nullopt.
std::optional<std::string> attribute(const std::string& dom, const std::string& tag_start,
                                     const std::string& name) {
  size_t tag = dom.find(tag_start, body_start(dom));
  if (tag == std::string::npos) return std::nullopt;
  size_t end = dom.find('>', tag);
  std::string key = " " + name + "=\"";
  size_t at = dom.find(key, tag);
  if (at == std::string::npos || at > end) return std::nullopt;
  size_t value = at + key.size();
  return dom.substr(value, dom.find('"', value) - value);
}

int int_attribute(const std::string& dom, const std::string& tag_start, const std::string& name) {
  auto text = attribute(dom, tag_start, name);
  return text ? std::atoi(text->c_str()) : -1;
}

std::string canvas(const std::string& id) { return "<canvas id=\"" + id + "\""; }

// ---------------------------------------------------------------------------------------------
// Load: one keep-alive connection, GET after GET, until told to stop

class Load {
 public:
  Load(uint16_t port, std::string target) {
    thread_ = std::thread([this, port, target = std::move(target)] { run(port, target); });
  }
  ~Load() { stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Stops it and returns the count of requests answered with 200.
  uint64_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return ok_;
  }
  uint64_t failures() const { return failures_; }

  // Waits until kFlowing requests have been answered (the load is flowing) or the thread has
  // ended; true in the first case. Bounded by the thread's own limits.
  bool wait_until_flowing() {
    std::unique_lock lock(mutex_);
    served_.wait(lock, [&] { return ok_ >= kFlowing || ended_; });
    return ok_ >= kFlowing;
  }

 private:
  void run(uint16_t port, const std::string& target) {
    auto give_up = std::chrono::steady_clock::now() + kLoadLimit;
    tern::test::proxy::HttpConnection connection(port, 10s);
    for (uint64_t n = 0; n < kLoadRequests && !stop_; ++n) {
      if (std::chrono::steady_clock::now() > give_up) break;
      auto response = connection.get(target);
      if (!response.complete || response.status != 200) {
        ++failures_;
        break;
      }
      if (ok_ < kFlowing) {
        std::lock_guard lock(mutex_);  // so a waiter cannot miss the count between check and wait
        ++ok_;
        served_.notify_all();
      } else {
        ++ok_;
      }
    }
    std::lock_guard lock(mutex_);
    ended_ = true;
    served_.notify_all();
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> failures_{0};
  std::mutex mutex_;  // with served_: wait_until_served
  std::condition_variable served_;
  bool ended_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The browser side

std::filesystem::path screenshot_dir() {
  if (const char* dir = std::getenv("TERN_STATUS_SCREENSHOTS"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return std::filesystem::path(TERN_TEST_OUTPUT_DIR) / "status_page_screenshots";
}

class StatusPageTest : public testing::Test {
 protected:
  void SetUp() override {
    browser_ = HeadlessChromium::find();
    if (!browser_) {
      GTEST_SKIP() << "no chromium ($TERN_CHROMIUM, or chromium, chromium-browser or "
                      "google-chrome on $PATH): the status page's browser test needs it; "
                      "scripts/install-deps.sh installs the Debian package chromium";
    }
    ASSERT_FALSE(scratch_.path().empty());
  }

  // The page's DOM after `budget_ms` of virtual time (six fetches for 5500).
  BrowserRun dump_dom(const std::string& url, int budget_ms, const std::string& name) {
    return browser_->run(url,
                         {"--dump-dom", "--virtual-time-budget=" + std::to_string(budget_ms),
                          "--window-size=1280,900"},
                         scratch_.path(), name, kBrowserTimeout);
  }

  // A screenshot of the page after `budget_ms` of virtual time at `size` ("W,H") into `file`.
  BrowserRun screenshot(const std::string& url, int budget_ms, const std::string& size,
                        const std::filesystem::path& file, const std::string& name) {
    return browser_->run(url,
                         {"--screenshot=" + file.string(), "--window-size=" + size,
                          "--hide-scrollbars",
                          "--virtual-time-budget=" + std::to_string(budget_ms)},
                         scratch_.path(), name, kBrowserTimeout);
  }

  // Runs the browser three times on `admin_port`'s /status while load runs on the public
  // port: the DOM (checked), then the desktop and phone screenshots. `loops` is how many loops
  // the program's metrics.json names.
  void check_status_page(uint16_t admin_port, size_t loops);

  std::optional<HeadlessChromium> browser_;
  tern::test::TempDir scratch_{"tern-status-page-"};
};

// How a browser run went, for a failure message: its exit, the tags the page writes to (body,
// canvases, the state line) and the tail of its log.
std::string describe(const BrowserRun& run) {
  std::string text = run.error + " chromium " + run.status.describe() + "\n";
  size_t body = body_start(run.out);
  for (const char* tag : {"<body ", "<canvas ", "<span id=\"state\""}) {
    for (size_t at = run.out.find(tag, body); at != std::string::npos;
         at = run.out.find(tag, at + 1)) {
      size_t end = run.out.find('>', at);
      if (end == std::string::npos) break;
      text += run.out.substr(at, end + 1 - at) + "\n";
      if (std::string_view(tag).starts_with("<span")) {  // and the state line's text
        text += run.out.substr(end + 1, run.out.find('<', end) - end - 1) + "\n";
      }
    }
  }
  if (run.out.find("<body") == std::string::npos) text += "DOM: " + run.out.substr(0, 2000) + "\n";
  return text + "--- log (tail) ---\n" +
         run.log.substr(run.log.size() > 2000 ? run.log.size() - 2000 : 0);
}

// The distinct values of label `label` among the series of family `name` in a metrics.json.
std::set<std::string> label_values(const JsonValue& doc, const std::string& name,
                                   const std::string& label) {
  std::set<std::string> values;
  const JsonValue* families = doc.get("families");
  if (families == nullptr) return values;
  for (const JsonValue& family : families->items) {
    const JsonValue* family_name = family.get("name");
    const JsonValue* series_list = family.get("series");
    if (family_name == nullptr || family_name->text != name || series_list == nullptr) continue;
    for (const JsonValue& series : series_list->items) {
      if (const JsonValue* value = series.at("labels." + label)) values.insert(value->text);
    }
  }
  return values;
}

// What the page drew, read from its DOM, checked against the program's own metrics.json:
// documents drawn, no script error, every chart with data, one busy line per loop.
void expect_page_drawn(const BrowserRun& run, size_t loops) {
  const std::string& dom = run.out;
  ASSERT_TRUE(run.error.empty() && run.status.exited_with(0)) << describe(run);
  ASSERT_NE(dom.find("<body"), std::string::npos) << describe(run);
  EXPECT_EQ(attribute(dom, "<body", "data-error"), std::nullopt) << describe(run);
  // 5500 ms of virtual time: fetches at 0, 1, ..., 5 s; at least three must have been drawn.
  EXPECT_GE(int_attribute(dom, "<body", "data-samples"), 3) << describe(run);
  for (const char* chart : {"chart-rps", "chart-latency", "chart-busy"}) {
    EXPECT_GE(int_attribute(dom, canvas(chart), "data-points"), 2) << chart << "\n"
                                                                    << describe(run);
  }
  EXPECT_EQ(int_attribute(dom, canvas("chart-latency"), "data-lines"), 2) << describe(run);
  EXPECT_EQ(int_attribute(dom, canvas("chart-busy"), "data-lines"), static_cast<int>(loops))
      << describe(run);
}

// ---------------------------------------------------------------------------------------------
// A canned admin listener inside the test (tern::Server with an http::Router): the real page,
// and metrics.json documents the test writes: the n-th fetch (from 1) gets document(n).

class CannedAdmin {
 public:
  explicit CannedAdmin(std::function<std::string(int n)> document) {
    tern::ServerOptions options;
    options.address = tern::InetAddress::loopback_v4(0);
    tern::http::Router router;
    router.get("/status", [](const tern::http::Request&) {
      return tern::http::Response(200)
          .content_type("text/html; charset=utf-8")
          .body_constant(tern::apps::kStatusPage);
    });
    // On the server's one loop thread: the count needs no lock.
    router.get("/metrics.json", [document = std::move(document), fetches = 0](
                                    const tern::http::Request&) mutable {
      return tern::http::Response(200).content_type("application/json").body(document(++fetches));
    });
    server_ = std::make_unique<tern::Server>(options, tern::http::service(router));
    if (auto error = server_->start()) start_error_ = error.message();
  }
  ~CannedAdmin() { server_->shutdown(std::chrono::seconds(5)); }
  CannedAdmin(const CannedAdmin&) = delete;
  CannedAdmin& operator=(const CannedAdmin&) = delete;

  const std::string& start_error() const { return start_error_; }
  uint16_t port() const { return server_->local_address().port(); }

 private:
  std::unique_ptr<tern::Server> server_;
  std::string start_error_;
};

// A metrics.json of the right syntax but the wrong shape, which the script cannot read:
// "families" is not a list, so the script's doc.families.find(...) throws a TypeError.
std::string broken_document(int) { return R"({"time": 1, "program": "broken", "families": 7})"; }

// tern-proxy's upstream series as the n-th document has them: two upstreams, up. The first
// answered 1000 slow requests before the first document (5 to 10 ms), then 100 per interval, all
// alike (10 under 1 ms, 80 more under 2.5 ms, the last 10 under 5 ms): every interval's p50 is
// 1.75 ms and its p99 4.75 ms (interpolated in their buckets), while the cumulative buckets
// would give 5 ms and more. The second never answered: it has no latency series. And an hsha
// queue: 1000 waits of 25 to 100 us before, then per interval 50 under 10 us and 50 more under
// 25 us (p99 of an interval: 25 us).
std::string upstream_document(int n) {
  const std::string a = std::to_string(10 * n);
  const std::string b = std::to_string(90 * n);
  const std::string all = std::to_string(100 * n);
  const std::string with_before = std::to_string(100 * n + 1000);
  const std::string waits = R"("buckets": [[1e-05, )" + std::to_string(50 * n) +
                            "], [2.5e-05, " + all + "], [0.0001, " + with_before +
                            R"(], ["+Inf", )" + with_before + "]]";
  return R"({"time": )" + std::to_string(1000 + n) + R"(, "program": "canned-proxy", "families": [
    {"name": "tern_proxy_upstream_up", "type": "gauge", "help": "", "series": [
      {"labels": {"upstream": "10.0.0.1:80"}, "value": 1},
      {"labels": {"upstream": "10.0.0.2:80"}, "value": 1}]},
    {"name": "tern_proxy_upstream_requests_total", "type": "counter", "help": "", "series": [
      {"labels": {"upstream": "10.0.0.1:80"}, "value": )" + all + R"(}]},
    {"name": "tern_proxy_upstream_duration_seconds", "type": "histogram", "help": "", "series": [
      {"labels": {"upstream": "10.0.0.1:80"}, "count": )" + with_before + R"(, "sum": 0,
       "buckets": [[0.001, )" + a + "], [0.0025, " + b + "], [0.005, " + all + "], [0.01, " +
         with_before + R"(], ["+Inf", )" + with_before + R"(]]}]},
    {"name": "tern_hsha_queue_wait_seconds", "type": "histogram", "help": "", "series": [
      {"labels": {}, "count": )" + with_before + ", " + waits + R"(}],
     "total": {"count": )" + with_before + ", " + waits + R"(}}]})";
}

// The row of the upstreams table whose first cell is `name`, as the DOM has it (empty if none).
std::string upstream_row(const std::string& dom, const std::string& name) {
  size_t start = dom.find("<tr><td>" + name + "</td>", body_start(dom));
  if (start == std::string::npos) return "";
  size_t end = dom.find("</tr>", start);
  return end == std::string::npos ? "" : dom.substr(start, end + 5 - start);
}

// A metrics.json of the server on `port`, parsed; nullopt (and a failure) when it is not.
std::optional<JsonValue> fetch_metrics(uint16_t port) {
  auto response = tern::test::proxy::http_once(port, "GET", "/metrics.json");
  EXPECT_EQ(response.status, 200) << response.head;
  std::string error;
  auto doc = tern::test::parse_json(response.body, error);
  EXPECT_TRUE(doc.has_value()) << error << "\n" << response.body.substr(0, 2000);
  return doc;
}

}  // namespace

void StatusPageTest::check_status_page(uint16_t admin_port, size_t loops) {
  std::string url = "http://127.0.0.1:" + std::to_string(admin_port) + "/status";
  BrowserRun dom = dump_dom(url, 5500, "dom");
  expect_page_drawn(dom, loops);

  std::filesystem::path dir = screenshot_dir();
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  // Longer budgets, so the screenshots show a stretch of history (still a few real seconds:
  // virtual time does not wait).
  for (auto [size, file] : {std::pair{"1280,900", "status.png"},
                            std::pair{"390,844", "status-phone.png"}}) {
    std::filesystem::remove(dir / file, ignored);
    BrowserRun shot = screenshot(url, 30500, size, dir / file, file);
    ASSERT_TRUE(shot.error.empty() && shot.status.exited_with(0)) << describe(shot);
    EXPECT_GT(std::filesystem::file_size(dir / file, ignored), 10'000u)
        << file << " was not written or is blank\n"
        << describe(shot);
  }
}

// tern-httpd with two loops and --admin, under load on its public port: every chart drawn,
// one busy line per loop of its metrics.json.
TEST_F(StatusPageTest, DrawsTheMetricsOfTernHttpdUnderLoad) {
  tern::test::TempDir site("tern-status-site-");
  tern::test::ProgramUnderTest httpd(
      TERN_HTTPD_PATH,
      {"--host", "127.0.0.1", "--port", "0", "--root", site.path().string(), "--model", "loops",
       "--threads", "2", "--admin", "127.0.0.1:0"},
      kStartTimeout, kExitTimeout);
  ASSERT_TRUE(httpd.started()) << httpd.failure();
  auto line = httpd.child().read_stdout_line(kStartTimeout);  // its second line: the admin port
  uint16_t admin = line ? tern::test::port_after(*line, "admin on 127.0.0.1:") : 0;
  ASSERT_NE(admin, 0) << httpd.child().stdout_text();

  auto doc = fetch_metrics(admin);
  ASSERT_TRUE(doc.has_value());
  size_t loops = label_values(*doc, "tern_loop_busy_seconds_total", "loop").size();
  ASSERT_EQ(loops, 2u);  // --threads 2; the admin listener's own loop is not a serving loop

  // Two connections, so both loops serve some of the load (the acceptor deals them round-robin).
  Load load_a(httpd.port(), "/plaintext");
  Load load_b(httpd.port(), "/plaintext");
  ASSERT_TRUE(load_a.wait_until_flowing() && load_b.wait_until_flowing());
  check_status_page(admin, loops);
  uint64_t served = load_a.stop() + load_b.stop();
  EXPECT_EQ(load_a.failures() + load_b.failures(), 0u);
  EXPECT_GT(served, 0u);
}

// tern-proxy's page has the upstreams table: one row for its one upstream, up, while requests
// flow through it.
TEST_F(StatusPageTest, ShowsTheUpstreamsOfTernProxy) {
  tern::test::proxy::Upstream upstream(TERN_PROXY_UPSTREAM_PATH, "u1");
  ASSERT_TRUE(upstream.started()) << upstream.failure();
  tern::test::ProgramUnderTest proxy(
      TERN_PROXY_PATH,
      {"--listen", "127.0.0.1:0", "--upstream", upstream.address(), "--admin", "127.0.0.1:0"},
      kStartTimeout, kExitTimeout);
  ASSERT_TRUE(proxy.started()) << proxy.failure();
  auto line = proxy.child().read_stdout_line(kStartTimeout);
  uint16_t admin = line ? tern::test::port_after(*line, "admin on 127.0.0.1:") : 0;
  ASSERT_NE(admin, 0) << proxy.child().stdout_text();

  Load load(proxy.port(), "/");
  ASSERT_TRUE(load.wait_until_flowing());
  std::string url = "http://127.0.0.1:" + std::to_string(admin) + "/status";
  BrowserRun run = dump_dom(url, 3500, "proxy");
  load.stop();
  EXPECT_EQ(load.failures(), 0u);

  ASSERT_TRUE(run.error.empty() && run.status.exited_with(0)) << describe(run);
  EXPECT_EQ(attribute(run.out, "<body", "data-error"), std::nullopt) << describe(run);
  EXPECT_GE(int_attribute(run.out, "<body", "data-samples"), 3) << describe(run);
  EXPECT_EQ(attribute(run.out, "<section id=\"upstreams-section\"", "hidden"), std::nullopt)
      << "the upstreams table is hidden\n" << describe(run);
  std::string row = "<tr><td>" + upstream.address() + "</td><td class=\"up\">up</td>";
  EXPECT_NE(run.out.find(row), std::string::npos) << row << "\n" << run.out.substr(
      std::min(run.out.size(), run.out.find("<table id=\"upstreams\"")), 800);
  // Seven cells: the last two the latency of the last interval (a number, or "–" for an
  // interval without answers; ShowsUpstreamLatencyOfTheLastInterval checks the numbers).
  const std::string cells = upstream_row(run.out, upstream.address());
  size_t count = 0;
  for (size_t at = cells.find("<td"); at != std::string::npos; at = cells.find("<td", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 7u) << cells;
}

// The upstreams' latency columns: p50 and p99 of the last interval, per upstream, from the
// difference of two documents' per-series buckets; "–" for an upstream without the series. The
// queue wait's p99 is a line on the latency chart.
TEST_F(StatusPageTest, ShowsUpstreamLatencyOfTheLastInterval) {
  CannedAdmin admin(upstream_document);
  ASSERT_EQ(admin.start_error(), "");
  std::string url = "http://127.0.0.1:" + std::to_string(admin.port()) + "/status";
  BrowserRun run = dump_dom(url, 3500, "canned-proxy");
  ASSERT_TRUE(run.error.empty() && run.status.exited_with(0)) << describe(run);
  EXPECT_EQ(attribute(run.out, "<body", "data-error"), std::nullopt) << describe(run);
  EXPECT_GE(int_attribute(run.out, "<body", "data-samples"), 3) << describe(run);
  EXPECT_EQ(attribute(run.out, "<section id=\"upstreams-section\"", "hidden"), std::nullopt)
      << describe(run);
  const std::string answered = upstream_row(run.out, "10.0.0.1:80");
  EXPECT_TRUE(answered.ends_with("<td>1.75 ms</td><td>4.75 ms</td></tr>")) << answered;
  const std::string silent = upstream_row(run.out, "10.0.0.2:80");
  EXPECT_TRUE(silent.ends_with("<td>–</td><td>–</td></tr>")) << silent;
  // No HTTP latency in these documents: the queue wait is the chart's one line.
  EXPECT_EQ(int_attribute(run.out, canvas("chart-latency"), "data-lines"), 1) << describe(run);
  EXPECT_GE(int_attribute(run.out, canvas("chart-latency"), "data-points"), 2) << describe(run);
  EXPECT_NE(run.out.find("queue wait p99 25 µs"), std::string::npos) << describe(run);
}

// The checks above are only as good as the page's error reporting: a document the script
// cannot read makes it throw, and the DOM must say so (and count no sample).
TEST_F(StatusPageTest, AScriptErrorShowsInDataError) {
  CannedAdmin admin(broken_document);
  ASSERT_EQ(admin.start_error(), "");
  std::string url = "http://127.0.0.1:" + std::to_string(admin.port()) + "/status";
  BrowserRun run = dump_dom(url, 2500, "broken");
  ASSERT_TRUE(run.error.empty() && run.status.exited_with(0)) << describe(run);
  auto error = attribute(run.out, "<body", "data-error");
  ASSERT_TRUE(error.has_value()) << describe(run);
  EXPECT_NE(error->find("find"), std::string::npos) << *error;  // doc.families.find is not a function
  EXPECT_EQ(int_attribute(run.out, "<body", "data-samples"), 0) << describe(run);
}
