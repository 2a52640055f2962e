// What the tern-proxy process tests drive: proxy-upstream and tern-proxy children, a small
// keep-alive HTTP client over blocking loopback sockets (plain POSIX, no tern code, so the proxy
// is checked by something that does not share its bugs), the admin JSON, and a bounded load of
// keep-alive GETs run by client threads.
//
// Every wait is bounded (SO_RCVTIMEO on sockets, deadlines on children and load), every child
// is reaped (ChildProcess), every load loop stops by itself (a count and a time limit).
//
// Thread rule: one test thread, except ProxyLoad, whose client threads it owns and joins.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "child_process.h"
#include "json_value.h"
#include "loopback_client.h"
#include "program_under_test.h"

namespace tern::test::proxy {

using namespace std::chrono_literals;

inline constexpr auto kStartTimeout = 15s;  // until a child's "listening on" line
inline constexpr auto kExitTimeout = 20s;   // until a signalled child has exited

// ---------------------------------------------------------------------------------------------
// HTTP over one blocking keep-alive connection

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and fields, up to the blank line
  std::string body;
  bool complete = false;

  std::optional<std::string> field(std::string_view name) const {
    std::string lower_head = lower(head);
    std::string key = "\r\n" + lower(std::string(name)) + ":";
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t start = at + key.size();
    size_t end = head.find("\r\n", start);
    std::string value = head.substr(start, end - start);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
  }
  std::string upstream() const { return field("x-upstream").value_or(""); }
  static std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
};

class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port, std::chrono::seconds timeout = 20s)
      : socket_(port, timeout) {}
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const { return socket_.connected(); }
  int fd() const { return socket_.fd(); }

  bool send_request(std::string_view method, std::string_view target,
                    std::string_view extra_fields = "", std::string_view body = "") {
    std::string text = std::string(method) + " " + std::string(target) +
                       " HTTP/1.1\r\nHost: proxy.test\r\n" + std::string(extra_fields);
    if (!body.empty() || method == "POST" || method == "PUT") {
      text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    text += "\r\n";
    text += body;
    return send_all(text);
  }

  // One request and its response (incomplete when the connection failed or closed early).
  HttpResponse request(std::string_view method, std::string_view target,
                       std::string_view extra_fields = "", std::string_view body = "") {
    if (!send_request(method, target, extra_fields, body)) return {};
    return read_response(method == "HEAD");
  }
  HttpResponse get(std::string_view target, std::string_view extra_fields = "") {
    return request("GET", target, extra_fields);
  }

  bool send_all(std::string_view data) { return socket_.send_all(data); }

  // Reads one response: the body by Content-Length or chunked; none for HEAD, 1xx, 204, 304.
  HttpResponse read_response(bool head_request = false) {
    HttpResponse response;
    size_t end;
    while ((end = input_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return response;
    }
    response.head = input_.substr(0, end + 2);
    input_.erase(0, end + 4);
    response.status = std::atoi(response.head.c_str() + 9);
    bool bodiless = head_request || response.status == 304 || response.status == 204 ||
                    response.status < 200;
    if (bodiless) {
      response.complete = true;
      return response;
    }
    auto encoding = response.field("transfer-encoding");
    if (encoding && HttpResponse::lower(*encoding).find("chunked") != std::string::npos) {
      response.complete = read_chunked(response.body);
      return response;
    }
    size_t length = 0;
    if (auto field = response.field("content-length")) length = std::stoull(*field);
    while (input_.size() < length) {
      if (!read_more()) return response;
    }
    response.body = input_.substr(0, length);
    input_.erase(0, length);
    response.complete = true;
    return response;
  }

  // True when the peer closed the connection (EOF) before `timeout`, bytes received meanwhile
  // discarded; false on a timeout or reset.
  bool closed_by_peer() {
    std::string discarded;
    return socket_.receive_to_eof(discarded);
  }

 private:
  bool read_more() {
    char buffer[65536];
    for (;;) {
      ssize_t n = ::recv(socket_.fd(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      input_.append(buffer, static_cast<size_t>(n));
      return true;
    }
  }
  bool read_line(std::string& line) {
    size_t end;
    while ((end = input_.find("\r\n")) == std::string::npos) {
      if (!read_more()) return false;
    }
    line = input_.substr(0, end);
    input_.erase(0, end + 2);
    return true;
  }
  bool read_chunked(std::string& body) {
    for (;;) {
      std::string size_line;
      if (!read_line(size_line)) return false;
      size_t size = std::strtoull(size_line.c_str(), nullptr, 16);
      if (size == 0) {
        std::string trailer;
        do {
          if (!read_line(trailer)) return false;
        } while (!trailer.empty());
        return true;
      }
      while (input_.size() < size + 2) {
        if (!read_more()) return false;
      }
      body += input_.substr(0, size);
      input_.erase(0, size + 2);
    }
  }

  LoopbackClient socket_;
  std::string input_;
};

// One request on a connection of its own.
inline HttpResponse http_once(uint16_t port, std::string_view method, std::string_view target,
                              std::string_view body = "") {
  HttpConnection connection(port);
  if (!connection.connected()) return {};
  return connection.request(method, target, "", body);
}

// ---------------------------------------------------------------------------------------------
// Children

// A proxy-upstream child: answers "NAME\n" with X-Upstream: NAME (tests/proxy_upstream.cc).
class Upstream {
 public:
  // Starts it on `port` (0: any); check started().
  Upstream(std::string path, std::string name, uint16_t port = 0)
      : path_(std::move(path)), name_(std::move(name)) {
    start(port);
  }
  ~Upstream() { stop(); }
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  bool started() const { return port_ != 0; }
  bool running() const { return child_ != nullptr && port_ != 0; }  // not killed
  const std::string& failure() const { return failure_; }
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }  // what X-Upstream says
  // How tern-proxy names it: "127.0.0.1:PORT", as configured.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // kill -9, and reaped: the port keeps its number for restart().
  void kill9() {
    if (!child_) return;
    child_->send_signal(SIGKILL);
    child_->wait(kExitTimeout);
    child_.reset();
  }
  // A new process on the same port (after kill9()); false if it did not come up.
  bool restart() {
    uint16_t port = port_;
    port_ = 0;
    start(port);
    return started() && port_ == port;
  }

  // Requests it has seen with `method` ("GET", "POST", ... or "total", "connections"), from
  // its /count; -1 when it did not answer.
  long count(std::string_view key) const {
    HttpResponse response = http_once(port_, "GET", "/count");
    std::string error;
    auto doc = response.complete ? parse_json(response.body, error) : std::nullopt;
    const JsonValue* value = doc ? doc->get(key) : nullptr;
    return value && value->is_number() ? static_cast<long>(value->number) : -1;
  }
  // POST /admin/ACTION (healthy, unhealthy, delay?ms=N); true on 200.
  bool admin(std::string_view action) const {
    return http_once(port_, "POST", "/admin/" + std::string(action)).status == 200;
  }

 private:
  // Port 0 picks a free port below the ephemeral range (20000-32767), never one the kernel
  // could hand out as the local port of a connection: a connection from the proxy to a killed
  // upstream's port could then connect to itself and hold that port, and restart() would
  // find it taken.
  void start(uint16_t port) {
    static std::atomic<uint32_t> next{20000 + static_cast<uint32_t>(::getpid()) % 12000};
    for (int attempt = 0; attempt < 20; ++attempt) {
      uint16_t tried = port != 0 ? port : static_cast<uint16_t>(20000 + next.fetch_add(7) % 12768);
      if (start_once(tried) || port != 0) return;
    }
  }
  bool start_once(uint16_t port) {
    child_ = std::make_unique<ChildProcess>();
    std::string error;
    if (!child_->spawn(path_, {"--port", std::to_string(port), "--name", name_}, error)) {
      failure_ = "cannot start " + path_ + ": " + error;
      return false;
    }
    port_ = read_listening_port(*child_, kStartTimeout);
    if (port_ != 0) return true;
    failure_ = "no listening line from proxy-upstream " + name_ + "; stderr: " +
               child_->stderr_text();
    child_->wait(kExitTimeout);  // a port in use: it exits 1 at once
    child_.reset();
    return false;
  }
  void stop() {
    if (!child_) return;
    child_->send_signal(SIGTERM);
    ExitStatus status = child_->wait(kExitTimeout);
    EXPECT_TRUE(status.exited_with(0)) << "proxy-upstream " << name_ << " "
                                       << status.describe() << "\n" << child_->stderr_text();
    EXPECT_EQ(child_->stderr_text().find("Sanitizer"), std::string::npos) << child_->stderr_text();
    child_.reset();
  }

  std::string path_;
  std::string name_;
  std::unique_ptr<ChildProcess> child_;
  uint16_t port_ = 0;
  std::string failure_;
};

// A tern-proxy child, started with `args` (plus nothing: the caller says everything). Every
// proxy of a test ends as it should (ProgramUnderTest): SIGTERM, then exit 0, no sanitizer
// report.
class ProxyProcess {
 public:
  ProxyProcess(const std::string& path, const std::vector<std::string>& args)
      : program_(path, args, kStartTimeout, kExitTimeout) {
    bool wants_admin = false;
    for (const auto& arg : args) wants_admin = wants_admin || arg == "--admin";
    if (program_.started() && (wants_admin || admin_in_config(args))) {
      auto admin_line = program_.child().read_stdout_line(kStartTimeout);
      admin_port_ = admin_line ? port_after(*admin_line, "admin on 127.0.0.1:") : 0;
    }
  }
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  bool started() const { return program_.started(); }
  const std::string& failure() const { return program_.failure(); }
  const std::string& listening_line() const { return program_.listening_line(); }
  uint16_t port() const { return program_.port(); }
  uint16_t admin_port() const { return admin_port_; }
  ChildProcess& child() { return program_.child(); }

  ExitStatus terminate() { return program_.terminate(); }

  // GET /upstreams from the admin listener, parsed; nullopt when it did not answer JSON.
  std::optional<JsonValue> admin_json() const {
    HttpResponse response = http_once(admin_port_, "GET", "/upstreams");
    if (response.status != 200) return std::nullopt;
    std::string error;
    return parse_json(response.body, error);
  }
  // The admin object of upstream `name` ("127.0.0.1:PORT"), or nullopt.
  std::optional<JsonValue> upstream_json(std::string_view name) const {
    auto doc = admin_json();
    const JsonValue* list = doc ? doc->get("upstreams") : nullptr;
    if (list == nullptr) return std::nullopt;
    for (const JsonValue& item : list->items) {
      const JsonValue* item_name = item.get("name");
      if (item_name && item_name->text == name) return item;
    }
    return std::nullopt;
  }
  // Its "state" ("up", "down", "ejected", "drained", "removed"), "" when not listed.
  std::string upstream_state(std::string_view name) const {
    auto item = upstream_json(name);
    const JsonValue* state = item ? item->get("state") : nullptr;
    return state ? state->text : "";
  }

 private:
  static bool admin_in_config(const std::vector<std::string>& args) {
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--config") return config_has_admin(args[i + 1]);
    }
    return false;
  }
  static bool config_has_admin(const std::string& file) {
    FILE* in = std::fopen(file.c_str(), "r");
    if (in == nullptr) return false;
    char line[512];
    bool found = false;
    while (std::fgets(line, sizeof line, in) != nullptr) {
      found = found || std::string_view(line).starts_with("admin");
    }
    std::fclose(in);
    return found;
  }

  ProgramUnderTest program_;
  uint16_t admin_port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Load: keep-alive GETs from client threads, bounded in count and time

struct LoadResult {
  uint64_t requests = 0;               // answered 200
  uint64_t failures = 0;               // anything else: another status, a closed connection
  std::string first_failure;
  std::map<std::string, uint64_t> by_upstream;  // X-Upstream of the 200s
};

class ProxyLoad {
 public:
  // Starts `connections` client threads, each on one keep-alive connection to `port`, sending
  // GET `target` until stop(), `max_requests` in all, or `limit` passes.
  ProxyLoad(uint16_t port, int connections, uint64_t max_requests,
            std::chrono::seconds limit = 30s, std::string target = "/")
      : deadline_(std::chrono::steady_clock::now() + limit), max_requests_(max_requests) {
    results_.resize(static_cast<size_t>(connections));
    for (int i = 0; i < connections; ++i) {
      threads_.emplace_back([this, port, i, target] { run(port, results_[i], target); });
    }
  }
  ~ProxyLoad() { stop(); }
  ProxyLoad(const ProxyLoad&) = delete;
  ProxyLoad& operator=(const ProxyLoad&) = delete;

  uint64_t answered() const { return answered_.load(); }
  // Waits until `n` more requests than now have been answered; false if the load ended first.
  bool wait_for_progress(uint64_t n, std::chrono::milliseconds limit = 20s) {
    uint64_t target = answered() + n;
    std::unique_lock lock(progress_mutex_);
    progress_.wait_for(lock, limit, [&] {
      return answered() >= target || finished_.load() == threads_.size();
    });
    return answered() >= target;
  }

  // Lets the clients run to their count (or time limit), then sums what they saw.
  LoadResult stop_when_done() { return join(); }
  // Stops the clients, joins them and sums what they saw.
  LoadResult stop() {
    stop_ = true;
    return join();
  }

 private:
  LoadResult join() {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    LoadResult total;
    for (const LoadResult& r : results_) {
      total.requests += r.requests;
      total.failures += r.failures;
      if (total.first_failure.empty()) total.first_failure = r.first_failure;
      for (const auto& [name, n] : r.by_upstream) total.by_upstream[name] += n;
    }
    return total;
  }

  void run(uint16_t port, LoadResult& result, const std::string& target) {
    HttpConnection connection(port);
    if (!connection.connected()) {
      result.failures = 1;
      result.first_failure = "cannot connect to the proxy";
    }
    while (connection.connected() && !stop_ && issued_.fetch_add(1) < max_requests_ &&
           std::chrono::steady_clock::now() < deadline_) {
      HttpResponse response = connection.get(target);
      if (response.complete && response.status == 200) {
        ++result.requests;
        ++result.by_upstream[response.upstream()];
        answered_.fetch_add(1);
        signal_progress();
        continue;
      }
      ++result.failures;
      if (result.first_failure.empty()) {
        result.first_failure = response.complete
                                   ? "status " + std::to_string(response.status) + ": " +
                                         response.body
                                   : "the connection failed or closed (head: " + response.head + ")";
      }
      if (!response.complete) break;  // that connection is gone: a dropped client
    }
    finished_.fetch_add(1);
    signal_progress();
  }

  // Wakes wait_for_progress (under the lock, so a waiter between its check and its wait
  // cannot miss it).
  void signal_progress() {
    std::lock_guard lock(progress_mutex_);
    progress_.notify_all();
  }

  std::chrono::steady_clock::time_point deadline_;
  uint64_t max_requests_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint64_t> answered_{0};
  std::atomic<size_t> finished_{0};
  std::mutex progress_mutex_;
  std::condition_variable progress_;  // a request answered or a client finished
  std::vector<LoadResult> results_;
  std::vector<std::thread> threads_;
};

}  // namespace tern::test::proxy
