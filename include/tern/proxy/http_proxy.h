// HttpProxy: HTTP/1.1 reverse proxying on one loop. Each client request is re-framed (never
// forwarded as raw bytes) into an http::ClientRequest, sent over a persistent upstream pool
// (one http::Client per upstream per loop) to the upstream the loop's UpstreamTable picks, and
// the upstream's response is rebuilt as an http::Response for the client.
//
//   std::vector<std::unique_ptr<proxy::HttpProxy>> proxies(threads);   // one slot per loop
//   options.on_loop_start = [&](size_t index, EventLoop& loop) {       // on that loop's thread
//     proxies[index] = std::make_unique<proxy::HttpProxy>(loop, proxy_options, upstreams);
//     proxy::set_loop_proxy(proxies[index].get());
//     return std::error_code();
//   };
//   options.on_loop_stop = [&](size_t index, EventLoop&) {
//     proxy::set_loop_proxy(nullptr);
//     proxies[index].reset();
//   };
//   tern::Server server(options, http::service(proxy::proxy_handler()));
//
// What it does to the messages (forwarding.h): hop-by-hop fields removed both ways (Connection
// and the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade), Host kept, X-Forwarded-For appended with the client's IP, X-Forwarded-Proto: http,
// Via: 1.1 <via> appended on the request and on the response.
//
// Errors it answers itself, each a short text/plain body: 503 (no upstream available, the
// pool's queue full or its wait timed out), 502 (connect failure, reset, malformed response
// framing: that connection is not reused), 504 (no whole response within response_timeout,
// or no connection within pool.connect.timeout). A HEAD is answered with the upstream's
// fields (its Content-Length included) and no body.
//
// Streaming: a response body larger than max_response_body, or of unknown length, goes to the
// client as it arrives (with the upstream's Content-Length when it had one, else chunked on
// HTTP/1.1 and until the close on 1.0; never more or fewer bytes than the length announced:
// an upstream that closes early cuts the client's response short): each piece read from the
// upstream is written to the client at once, and when the client's connection is above its
// high-water mark the proxy stops reading that upstream connection until it drains, so a slow
// client holds about its high-water mark plus two reads in the proxy, and the upstream's send
// blocks. The response timeout stops while the reading is paused for the client and starts
// afresh at each resume: a long body to a slow client is not cut for its length, while an
// upstream that sends nothing for response_timeout is. A failure midway cuts the client's
// response short (its connection closes): no retry, no 502 once the head is sent. A client
// that goes away closes the upstream connection (it is mid-body).
//
// Request bodies: a body that comes with its head, or is small (by its Content-Length, up to
// kGatheredRequestBody), is read whole and sent with the head. A larger one, or a chunked one,
// is relayed as it arrives (the server's ProtocolOptions::stream_body, set to
// relays_request_body): the client's body is asked for once the request's head is on an
// upstream connection, each piece is written there at once (with the client's Content-Length,
// or chunked), and reading from the client pauses while that connection's unsent bytes are
// above its mark, so a slow upstream holds the proxy to about one mark plus one read per
// upload, and the client's send blocks. An upstream that answers before the whole body gets
// its answer passed on, and the client's connection closes after it; a client that breaks off
// its body aborts the upstream request (that connection closes) and counts against neither.
// Such a request is retried only while its body has not been asked for (a connect failure).
//
// Retries: at most retry.max_attempts tries of one request, each to an upstream not tried yet,
// only when safe (an idempotent method, or an error that proves the upstream never saw the
// request: tern/http/client_error.h) and only within the RetryBudget.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tern/base/clock.h"
#include "tern/http/request.h"
#include "tern/http/router.h"
#include "tern/net/connection_pool.h"
#include "tern/proxy/balancer.h"
#include "tern/proxy/ejection.h"
#include "tern/proxy/hash_key.h"
#include "tern/proxy/retry_budget.h"
#include "tern/proxy/upstream_config.h"
#include "tern/proxy/upstream_table.h"

namespace tern {
class EventLoop;
}

namespace tern::proxy {

struct HttpProxyOptions {
  Algorithm balance = Algorithm::round_robin;
  HashKey hash_key;                     // maglev only
  EjectionOptions ejection;
  RetryOptions retry;
  // Per upstream per loop: pool.max_connections (default 64), pool.idle_timeout,
  // pool.connect.timeout, pool.max_waiters and pool.wait_timeout (the bounded queue when every
  // connection is busy: past it, 503), pool.down_after_failures.
  ConnectionPoolOptions pool;
  Duration response_timeout = std::chrono::seconds(30);   // whole response; 504 past it
  // Response bodies up to this size (by their Content-Length) are gathered whole and sent in
  // one write with the head; larger ones, and those of unknown length (chunked, until close),
  // are streamed to the client as they arrive, with bounded memory (see "Streaming" above).
  // What it still bounds: the memory a request in flight may hold for its response's body
  // (requests in flight x this, at most). 64 KiB: most API answers fit (one write, no relay),
  // and a thousand requests in flight hold at most 64 MiB of bodies. It was 8 MiB while
  // streaming re-chunked the body; a streamed body now keeps its Content-Length.
  size_t max_response_body = 64 << 10;
  std::string via = "tern-proxy";       // Via: 1.1 tern-proxy (on requests and responses)
  bool forwarded_headers = true;        // X-Forwarded-For (appended), X-Forwarded-Proto: http
  bool eject_on_5xx = true;             // a 5xx from the upstream counts as a failure
};

struct HttpProxyStats {                 // per loop
  uint64_t requests = 0;                // handled
  uint64_t retries = 0;                 // attempts after the first
  uint64_t retry_budget_refused = 0;
  uint64_t status_502 = 0, status_503 = 0, status_504 = 0;  // answered by the proxy itself
                                        // (503: an Expect: 100-continue refused included)
};

// One per loop. Thread rule: loop thread only (construct, use and destroy it on its loop's
// thread).
class HttpProxy {
 public:
  HttpProxy(EventLoop& loop, HttpProxyOptions options, std::span<const UpstreamConfig> upstreams);
  ~HttpProxy();   // requests in flight fail (their replies dropped or 502)
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  // Forwards `request` (its views are copied before return) and answers `reply` later.
  // Loop thread only.
  void handle(const http::Request& request, http::Reply reply);
  // Loop thread only.
  UpstreamTable& upstreams() noexcept;
  const HttpProxyStats& stats() const noexcept;
  const HttpProxyOptions& options() const noexcept;
  const RetryBudget& retry_budget() const noexcept;
  // Whether a request arriving now could be sent or queued (some upstream available whose
  // pool would not refuse it); false: it would be answered 503. Loop thread only.
  bool can_take_request() const noexcept;
  // can_take_request() for a request that expects 100-continue; false counts its 503 (which
  // the HTTP protocol answers) in stats().status_503. Loop thread only.
  bool accepts_body() noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Request bodies up to this size (by their Content-Length) are gathered whole before forwarding
// (and a retry can send them again); larger and chunked ones are relayed as they arrive.
inline constexpr uint64_t kGatheredRequestBody = 64 << 10;
// For http::ProtocolOptions::stream_body: whether the proxy relays this request's body as it
// arrives (chunked, or a Content-Length over kGatheredRequestBody). Any thread.
bool relays_request_body(const http::Request& head) noexcept;

// The Handler a tern::Server serves: hands each request to the HttpProxy of the loop it runs
// on (a thread_local set with set_loop_proxy in on_loop_start/on_loop_stop), or, when the
// handler runs on a worker (hsha), copies the request (http::OwnedRequest) and posts it to
// the connection's loop (reply.connection().loop). A loop without a proxy answers 503. Any
// thread.
http::Handler proxy_handler();
void set_loop_proxy(HttpProxy* proxy) noexcept;   // on the loop's thread
HttpProxy* loop_proxy() noexcept;                 // the calling thread's, or null
// For http::ProtocolOptions::accepts_body: the calling loop's proxy can take a request now
// (false without one), so a request with "Expect: 100-continue" that would get a 503 gets it
// before its body is sent. The connection's loop thread (where the protocol runs).
bool loop_accepts_body() noexcept;

}  // namespace tern::proxy
