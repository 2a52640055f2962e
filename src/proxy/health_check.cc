// HealthChecker: one check at a time, each on a probe of its own (an http::Client whose pool
// holds one connection, or a Connector), a deadline over the whole check, then the verdict.
#include "tern/proxy/health_check.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>

#include "backend/backend.h"
#include "tern/http/client.h"
#include "tern/loop/event_loop.h"
#include "tern/net/connector.h"

namespace tern::proxy {
namespace {

// The probe's own deadlines are backstops: the checker's deadline covers the whole check and
// fires first or together with them; they all read the same ("timed out after N ms").
bool is_timeout(std::error_code error) noexcept {
  return error == std::errc::timed_out ||
         error == make_error_code(http::client_errc::connect_timeout) ||
         error == make_error_code(http::client_errc::response_timeout) ||
         error == make_error_code(pool_errc::wait_timeout);
}

// The client of one check: one connection, made for it and closed after it (never pooled:
// the check must see what a new connection sees).
http::ClientOptions client_options(const HealthCheckOptions& options) {
  http::ClientOptions client;
  client.pool.max_connections = 1;
  client.pool.max_idle = 0;
  client.pool.connect.timeout = options.timeout;
  client.pool.connect.max_attempts = 1;
  client.pool.wait_timeout = options.timeout;
  client.pool.max_waiters = 1;
  client.response_timeout = options.timeout;
  client.max_queued = 1;
  client.host = options.host;
  return client;
}

bool passes(int status) noexcept { return status >= 200 && status < 400; }

}  // namespace

HealthChecker::HealthChecker(EventLoop& loop, InetAddress upstream, HealthCheckOptions options,
                             Callback on_change)
    : loop_(loop),
      upstream_(upstream),
      options_(std::move(options)),
      on_change_(std::move(on_change)) {
  loop_.assert_in_loop_thread("HealthChecker::HealthChecker");
  options_.rise = std::max(options_.rise, 1);
  options_.fall = std::max(options_.fall, 1);
  next_timer_ = loop_.run_after(Duration::zero(), [this] {
    next_timer_ = TimerId{};
    start_check();
  });
}

HealthChecker::~HealthChecker() {
  loop_.assert_in_loop_thread("HealthChecker::~HealthChecker");
  ++check_;  // what the probe reports while it is torn down is stale
  in_flight_ = false;
  loop_.cancel(next_timer_);
  loop_.cancel(deadline_timer_);
  discard_probe();
}

void HealthChecker::start_check() {
  ++check_;
  in_flight_ = true;
  started_ = loop_.now();
  deadline_timer_ = loop_.run_after(options_.timeout, [this] { on_deadline(); });
  // The last check's probe goes here, outside its own callbacks (where it may not be destroyed).
  discard_probe();
  if (options_.kind == HealthCheckOptions::Kind::http) {
    start_http_check();
  } else {
    start_tcp_check();
  }
}

void HealthChecker::start_http_check() {
  client_ = std::make_unique<http::Client>(loop_, upstream_, client_options(options_));
  // The answer may come before request() returns (a request refused at once).
  client_->request(
      http::ClientRequest::get(options_.path).header("Connection", "close"),
      [this, check = check_](std::error_code error, const http::ParsedResponse* response) {
        on_http_answer(check, error, response);
      });
}

void HealthChecker::start_tcp_check() {
  ConnectOptions connect;
  connect.timeout = options_.timeout;
  connect.max_attempts = 1;
  connector_ = std::make_unique<Connector>(loop_, upstream_, connect);
  connector_->start([this, check = check_](std::error_code error, Socket socket) {
    if (socket.valid()) {
      // Connected: that is the whole check. The backend forgets the fd before it closes (the
      // poller knows fds by number, and the number will be reused).
      loop_.backend().forget(socket.fd());
      socket.reset();
    }
    on_connected(check, error);
  });
}

void HealthChecker::on_http_answer(uint64_t check, std::error_code error,
                                   const http::ParsedResponse* response) {
  if (check != check_ || !in_flight_) return;
  if (error) {
    complete(describe(error));
  } else if (!passes(response->status)) {
    complete("status " + std::to_string(response->status));
  } else {
    complete({});
  }
}

void HealthChecker::on_connected(uint64_t check, std::error_code error) {
  if (check != check_ || !in_flight_) return;
  complete(error ? describe(error) : std::string());
}

void HealthChecker::on_deadline() {
  deadline_timer_ = TimerId{};
  if (!in_flight_) return;
  ++check_;         // the probe's answer, if it comes while it is torn down, is stale
  discard_probe();  // closes the check's connection
  complete(describe(std::make_error_code(std::errc::timed_out)));
}

void HealthChecker::discard_probe() noexcept {
  client_.reset();     // fails its request (a stale answer) and closes its connection
  connector_.reset();  // stops a connect in flight; no callback
}

// The check in flight ended: `error` says why it failed, empty when it passed.
void HealthChecker::complete(std::string error) {
  in_flight_ = false;
  loop_.cancel(deadline_timer_);
  deadline_timer_ = TimerId{};
  bool passed = error.empty();
  ++stats_.checks;
  stats_.last_latency = loop_.now() - started_;
  if (passed) {
    ++stats_.consecutive_successes;
    stats_.consecutive_failures = 0;
    stats_.last_error.clear();
  } else {
    ++stats_.failures;
    ++stats_.consecutive_failures;
    stats_.consecutive_successes = 0;
    stats_.last_error = std::move(error);
  }
  next_timer_ = loop_.run_after(options_.interval, [this] {
    next_timer_ = TimerId{};
    start_check();
  });
  judge(passed);
}

// Last in complete(): the callback sees the stats of the check that changed the verdict.
void HealthChecker::judge(bool passed) {
  bool was = healthy_;
  if (healthy_ && !passed && stats_.consecutive_failures >= options_.fall) healthy_ = false;
  if (!healthy_ && passed && stats_.consecutive_successes >= options_.rise) healthy_ = true;
  if (healthy_ != was && on_change_) on_change_(healthy_);
}

std::string HealthChecker::describe(std::error_code error) const {
  if (is_timeout(error)) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count();
    return "timed out after " + std::to_string(ms) + " ms";
  }
  // strerror's "Connection refused" reads as "connection refused" like tern's own messages
  // (which keep their case: "Content-Length ...").
  std::string text = error.message();
  bool strerror_text =
      error.category() == std::system_category() || error.category() == std::generic_category();
  if (strerror_text && !text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

}  // namespace tern::proxy
