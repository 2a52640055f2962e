// HttpProxy: one client request's way through one loop: pick an upstream from the table, send
// the re-framed request on that upstream's http::Client, and answer the client with the
// rebuilt response, or retry elsewhere when that is safe, or answer the failure (502/503/504).
#include "tern/proxy/http_proxy.h"

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "body_relay.h"
#include "forwarding.h"
#include "http_upstream.h"
#include "request_body_relay.h"
#include "tern/http/client_error.h"
#include "tern/http/response_sink.h"
#include "tern/http/parser.h"
#include "tern/loop/event_loop.h"
#include "tern/loop/loop_handle.h"

namespace tern::proxy {
namespace {

thread_local HttpProxy* t_loop_proxy = nullptr;

// The connect's own errors: the request never left this host, so any upstream may have it.
bool is_connect_failure(std::error_code error) noexcept {
  return error == std::errc::connection_refused || error == std::errc::network_unreachable ||
         error == std::errc::host_unreachable || error == std::errc::address_not_available ||
         error == make_error_code(http::client_errc::connect_timeout);
}

// Errors that prove the upstream never saw the request (tern/http/client_error.h, "before
// anything was sent"), so even a non-idempotent request may go to another upstream.
// client_errc::closed is left out: it also fails requests already sent.
bool never_sent(std::error_code error) noexcept {
  if (error.category() == pool_error_category()) return true;
  return error == make_error_code(http::client_errc::queue_full) || is_connect_failure(error);
}

// Refusals on this side (a full queue, a closing client): they say nothing about the upstream's
// health. Everything else that fails an attempt (connect failure, reset, timeout, a malformed
// response, the pool marking it down) counts against it.
bool is_local_refusal(std::error_code error) noexcept {
  return error == pool_errc::queue_full || error == pool_errc::wait_timeout ||
         error == pool_errc::closed || error == http::client_errc::queue_full ||
         error == http::client_errc::closed || error == http::client_errc::invalid_request;
}

// The proxy's own answer to an attempt that failed with `error`.
http::Response failure_response(std::error_code error) {
  using http::client_errc;
  if (error == pool_errc::queue_full || error == client_errc::queue_full) {
    return http::Response::text(503, "upstream queue full\n");
  }
  if (error == pool_errc::wait_timeout) {
    return http::Response::text(503, "timed out waiting for an upstream connection\n");
  }
  if (error == pool_errc::closed || error == client_errc::closed) {
    return http::Response::text(503, "upstream closing\n");
  }
  if (error == client_errc::response_timeout) {
    return http::Response::text(504, "upstream response timed out\n");
  }
  if (error == client_errc::connect_timeout) {
    return http::Response::text(504, "upstream connect timed out\n");
  }
  if (error == pool_errc::upstream_down) {
    return http::Response::text(502, "upstream down (connect failures)\n");
  }
  if (error == client_errc::invalid_request) {
    return http::Response::text(502, "request cannot be forwarded\n");
  }
  if (error == http::ParseError::body_too_large) {
    return http::Response::text(502, "response from upstream too large\n");
  }
  if (error.category() == http::parse_category()) {
    return http::Response::text(502, "malformed response from upstream: " + error.message() + "\n");
  }
  if (error == client_errc::closed_before_response) {
    return http::Response::text(502, "upstream closed the connection before responding\n");
  }
  return http::Response::text(502, "upstream connection failed: " + error.message() + "\n");
}

http::Response no_upstream_response() {
  return http::Response::text(503, "no upstream available\n");
}

// One client request while it is forwarded: owned by the callback of its current attempt.
// It is also the sink of its response's body (the request names it): a body larger than
// max_response_body, or of unknown length, is relayed to the client as it arrives (BodyRelay)
// instead of being gathered.
struct Exchange final : http::ResponseSink {
  http::ClientRequest request;  // the re-framed request; copied per attempt, moved on the last
  http::Reply reply;
  uint64_t key = 0;
  bool head = false;
  bool idempotent = false;
  bool retry_in_flight = false;  // the current attempt holds a place in the retry budget
  int attempts = 0;
  std::vector<UpstreamId> tried;  // its capacity survives recycling: no allocation per request
  const ForwardingOptions* forwarding = nullptr;
  uint64_t buffered_up_to = 0;
  std::shared_ptr<BodyRelay> relay;  // the response is being streamed: no retry, no own answer
  // The request's body is relayed in pieces (it came with body_follows): once opened, no retry.
  std::shared_ptr<RequestBodyRelay> request_body;
  // The current attempt's upstream and when its request was written there: the time to the
  // response's head goes to that upstream's histogram (tern_proxy_upstream_duration_seconds).
  UpstreamTable* table = nullptr;
  UpstreamId upstream;
  TimePoint written_at{};

  // Back to the state of a new exchange, capacity kept.
  void reset() noexcept {
    request.clear();
    reply = http::Reply();
    key = 0;
    head = idempotent = retry_in_flight = false;
    attempts = 0;
    tried.clear();
    relay.reset();
    request_body.reset();
    written_at = TimePoint{};
  }

  // ResponseSink (the upstream connection's loop, which is this one).
  uint64_t stream_above() const noexcept override { return buffered_up_to; }
  void on_head(const http::ParsedResponse& head_fields, std::optional<uint64_t> length,
               ReadControl& control) override {
    LoopHandle loop = reply.connection().loop;
    http::Response response = forward_response(head_fields, *forwarding);
    // The upstream's length goes on (not re-chunked); the body decoder takes exactly that
    // many bytes from the upstream, and an upstream that closes short of it cuts the client's
    // response (abandon: its connection closes), so the client never gets a short body that
    // looks whole.
    if (length) response.stream_length(*length);
    relay = std::make_shared<BodyRelay>(std::move(reply).stream(std::move(response)), control, loop);
  }
  bool on_body(std::string_view piece) override { return relay->write(piece); }
  void on_request_written() noexcept override { written_at = Clock::now(); }
  void on_response_head() noexcept override {
    if (written_at == TimePoint{}) return;
    table->record_response_time(upstream, Clock::now() - written_at);
    written_at = TimePoint{};
  }
};

// Finished exchanges kept for the next requests: an exchange (and its list of upstreams tried)
// allocated per request was two of a proxied request's allocations, and a kept exchange's
// request keeps its buffers (ClientRequest::clear, at most kKeptCapacity each). Bounded: a
// burst of concurrent requests leaves at most kKept exchanges behind.
class ExchangePool {
 public:
  std::unique_ptr<Exchange> take() {
    if (spare_.empty()) return std::make_unique<Exchange>();
    std::unique_ptr<Exchange> exchange = std::move(spare_.back());
    spare_.pop_back();
    return exchange;
  }
  void give_back(std::unique_ptr<Exchange> exchange) {
    if (spare_.size() >= kKept) return;
    exchange->reset();
    spare_.push_back(std::move(exchange));
  }

 private:
  static constexpr size_t kKept = 256;
  std::vector<std::unique_ptr<Exchange>> spare_;
};

}  // namespace

class HttpProxy::Impl {
 public:
  Impl(EventLoop& loop, HttpProxyOptions options, std::span<const UpstreamConfig> upstreams)
      : loop_(loop),
        options_(std::move(options)),
        forwarding_{options_.via, options_.forwarded_headers},
        budget_(options_.retry) {
    table_.emplace(loop_, options_.balance, options_.ejection,
                   [this](const UpstreamConfig& upstream) -> std::unique_ptr<UpstreamTransport> {
                     return std::make_unique<HttpUpstream>(loop_, upstream, client_options());
                   });
    table_->apply(upstreams);
  }

  ~Impl() {
    // Destroying the transports fails what they carry (client_errc::closed), from inside this
    // destructor: those callbacks see destroying_ and only drop their replies.
    destroying_ = true;
    table_.reset();
  }

  void handle(const http::Request& request, http::Reply reply) {
    ++stats_.requests;
    std::unique_ptr<Exchange> exchange = exchanges_.take();
    forward_request(request, forwarding_, exchange->request);
    exchange->request.sink = exchange.get();
    exchange->forwarding = &forwarding_;
    exchange->table = &*table_;
    exchange->buffered_up_to = options_.max_response_body;
    exchange->reply = std::move(reply);
    exchange->head = request.method == http::Method::head;
    exchange->idempotent = is_idempotent(request.method);
    if (request.body_follows) {
      // Relayed as it arrives, once an upstream connection carries the head.
      exchange->request_body =
          std::make_shared<RequestBodyRelay>(exchange->reply, exchange->reply.connection().loop);
      exchange->request.body_source = exchange->request_body.get();
      exchange->request.body_length = content_length(request.headers);
    }
    if (table_->balancer().algorithm() == Algorithm::maglev) {  // SIGHUP may change it
      exchange->key = hash_request(options_.hash_key, request);
    }
    budget_.request_started();
    std::optional<UpstreamId> id = table_->pick(exchange->key);
    if (!id) {
      ++stats_.status_503;
      finish(std::move(exchange), no_upstream_response());
      return;
    }
    attempt(std::move(exchange), *id);
  }

  UpstreamTable& table() noexcept { return *table_; }
  const HttpProxyStats& stats() const noexcept { return stats_; }
  const HttpProxyOptions& options() const noexcept { return options_; }
  const RetryBudget& retry_budget() const noexcept { return budget_; }
  bool can_take_request() const noexcept { return table_->can_take_request(); }
  bool accepts_body() noexcept {
    if (can_take_request()) return true;
    ++stats_.status_503;  // the protocol answers it, for this proxy
    return false;
  }

 private:
  http::ClientOptions client_options() const {
    http::ClientOptions client;
    client.pool = options_.pool;
    client.response_timeout = options_.response_timeout;
    // Larger bodies are streamed (Exchange, the request's sink): the client never gathers one.
    client.limits.max_body = std::numeric_limits<uint64_t>::max();
    return client;
  }

  void attempt(std::unique_ptr<Exchange> exchange, UpstreamId id) {
    exchange->tried.push_back(id);
    ++exchange->attempts;
    exchange->upstream = id;
    exchange->written_at = TimePoint{};
    table_->begin(id, /*retry=*/exchange->attempts > 1);
    // The table made this transport: an HttpUpstream.
    auto* upstream = static_cast<HttpUpstream*>(table_->transport(id));
    bool last = exchange->attempts >= options_.retry.max_attempts;
    http::ClientRequest request = last ? std::move(exchange->request) : exchange->request;
    // The callback may run before request() returns (a refusal at once): it owns the exchange.
    upstream->client().request(
        std::move(request),
        [this, id, exchange = std::move(exchange)](
            std::error_code error, const http::ParsedResponse* response) mutable {
          if (exchange->relay) {  // streamed: the upstream's ReadControl goes with this answer
            finish_relay(std::move(exchange), id, error, response);
            return;
          }
          // The proxy is going (on_loop_stop, or its owner): the reply is dropped with the
          // exchange, and its connection closes.
          if (destroying_) return;
          if (error) {
            // A client that broke off its body failed this attempt, not the upstream.
            bool neutral = is_local_refusal(error) ||
                           (exchange->request_body && exchange->request_body->client_failed());
            table_->end(id, neutral ? Outcome::neutral : Outcome::failure);
            retry_or_fail(std::move(exchange), error);
            return;
          }
          table_->end(id, outcome_of(response->status));
          http::Response answer = forward_response(*response, forwarding_);
          if (exchange->head) {  // the GET's length, as the upstream said it
            if (std::optional<uint64_t> length = content_length(*response)) {
              answer.stream_length(*length);
            }
          }
          finish(std::move(exchange), std::move(answer));
        });
  }

  // A streamed response ended: complete, or cut short (the upstream failed midway, or the
  // client went away): too late for a retry or an answer of our own.
  void finish_relay(std::unique_ptr<Exchange> exchange, UpstreamId id, std::error_code error,
                    const http::ParsedResponse* response) {
    BodyRelay& relay = *exchange->relay;
    if (error) {
      relay.abandon();
    } else {
      relay.end();
    }
    if (destroying_) return;
    if (error) {
      table_->end(id, relay.client_gone() ? Outcome::neutral : Outcome::failure);
    } else {
      table_->end(id, outcome_of(response->status));
    }
    end_retry(*exchange);
    budget_.request_finished();
    exchanges_.give_back(std::move(exchange));
  }

  Outcome outcome_of(int status) const noexcept {
    if (status >= 500) return options_.eject_on_5xx ? Outcome::failure : Outcome::neutral;
    if (status >= 400) return Outcome::neutral;
    return Outcome::success;
  }

  // A retry goes to an upstream not tried yet, only when it is safe (an idempotent method, or
  // an error proving the upstream never saw the request) and the budget has room.
  void retry_or_fail(std::unique_ptr<Exchange> exchange, std::error_code error) {
    end_retry(*exchange);
    // A body relayed in pieces cannot be sent again once its first piece was asked for.
    bool replayable = !exchange->request_body || !exchange->request_body->opened();
    bool safe = replayable && (exchange->idempotent || never_sent(error));
    if (safe && exchange->attempts < options_.retry.max_attempts) {
      if (std::optional<UpstreamId> next = table_->pick(exchange->key, exchange->tried)) {
        if (budget_.try_start_retry()) {
          exchange->retry_in_flight = true;
          ++stats_.retries;
          attempt(std::move(exchange), *next);
          return;
        }
        ++stats_.retry_budget_refused;
      }
    }
    http::Response response = failure_response(error);
    count_own_answer(response.status_code());
    finish(std::move(exchange), std::move(response));
  }

  void count_own_answer(int status) noexcept {
    if (status == 502) ++stats_.status_502;
    if (status == 503) ++stats_.status_503;
    if (status == 504) ++stats_.status_504;
  }

  void end_retry(Exchange& exchange) noexcept {
    if (!exchange.retry_in_flight) return;
    exchange.retry_in_flight = false;
    budget_.retry_finished();
  }

  void finish(std::unique_ptr<Exchange> exchange, http::Response response) {
    end_retry(*exchange);
    budget_.request_finished();
    if (exchange->head) {
      // A HEAD answer has the GET's fields and no body. Sent as a stream head so the server
      // writes no Content-Length of its own (it would say 0, which the GET would not), only the
      // upstream's, when it gave one (stream_length).
      std::move(exchange->reply).stream(std::move(response)).end();
    } else {
      exchange->reply.send(std::move(response));
    }
    exchanges_.give_back(std::move(exchange));
  }

  EventLoop& loop_;
  HttpProxyOptions options_;
  ForwardingOptions forwarding_;  // views options_.via
  RetryBudget budget_;
  HttpProxyStats stats_;
  ExchangePool exchanges_;  // before table_: the callbacks the table's transports run give back
  std::optional<UpstreamTable> table_;  // last: its transports call back into the members above
  bool destroying_ = false;
};

HttpProxy::HttpProxy(EventLoop& loop, HttpProxyOptions options,
                     std::span<const UpstreamConfig> upstreams)
    : impl_(std::make_unique<Impl>(loop, std::move(options), upstreams)) {}

HttpProxy::~HttpProxy() = default;

void HttpProxy::handle(const http::Request& request, http::Reply reply) {
  impl_->handle(request, std::move(reply));
}

UpstreamTable& HttpProxy::upstreams() noexcept { return impl_->table(); }
const HttpProxyStats& HttpProxy::stats() const noexcept { return impl_->stats(); }
const HttpProxyOptions& HttpProxy::options() const noexcept { return impl_->options(); }
const RetryBudget& HttpProxy::retry_budget() const noexcept { return impl_->retry_budget(); }
bool HttpProxy::can_take_request() const noexcept { return impl_->can_take_request(); }
bool HttpProxy::accepts_body() noexcept { return impl_->accepts_body(); }

http::Handler proxy_handler() {
  return http::Handler::async([](const http::Request& request, http::Reply reply) {
    if (HttpProxy* proxy = loop_proxy()) {
      // On a loop with a proxy: the connection's loop (the loop models run handlers there).
      proxy->handle(request, std::move(reply));
      return;
    }
    LoopHandle loop = reply.connection().loop;
    if (!loop.valid() || runs_here(loop)) {
      reply.send(http::Response::text(503, "no proxy on this loop\n"));
      return;
    }
    // A worker (hsha): the upstream pools belong to the connection's loop; the request's views
    // die with this call, so a copy travels there.
    post_to(loop, [owned = http::OwnedRequest(request), reply = std::move(reply)]() mutable {
      if (HttpProxy* proxy = loop_proxy()) {
        proxy->handle(owned.view(), std::move(reply));
        return;
      }
      reply.send(http::Response::text(503, "no proxy on this loop\n"));
    });
  });
}

bool relays_request_body(const http::Request& head) noexcept {
  std::optional<uint64_t> length = content_length(head.headers);
  return !length || *length > kGatheredRequestBody;  // none: chunked (the parser saw a body)
}

void set_loop_proxy(HttpProxy* proxy) noexcept { t_loop_proxy = proxy; }
HttpProxy* loop_proxy() noexcept { return t_loop_proxy; }

bool loop_accepts_body() noexcept {
  return t_loop_proxy != nullptr && t_loop_proxy->accepts_body();
}

}  // namespace tern::proxy
