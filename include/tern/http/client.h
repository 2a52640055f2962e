// http::Client: HTTP/1.1 requests to one upstream (host:port) from one loop, over persistent
// connections. One client per loop per upstream; it keeps its connections in a ConnectionPool
// (tern/net/connection_pool.h) and runs a Pipeline<ClientProtocol> on each one it has lent.
// The link logic is PooledClient's (tern/protocol/pooled_client.h, shared with redis::Client);
// this class adds what is HTTP's: the request's validation, the Host default, keep-alive and
// "Connection: close" as the policy, and its error codes.
//
//   http::Client client(loop, upstream, {.response_timeout = 5s});
//   client.request(http::ClientRequest::get("/plaintext"),
//                  [](std::error_code error, const http::ParsedResponse* response) {
//                    if (error) return log(error.message());
//                    use(response->status, response->body);  // views: valid during the call
//                  });
//
// Connections: a request goes on a connection already lent that has room (fewer than
// `pipelining` requests outstanding on it and keep-alive so far), else waits, in order, for a
// checkout from the pool (an idle connection first, else a new one; one checkout per
// `pipelining` waiting requests). A connection with nothing outstanding whose last response
// allowed keep-alive stays lent, its pipeline reading, for the next request (a checkout and a
// new pipeline per request cost a proxy a quarter of its instructions); before it carries
// another request after a quiet spell it is checked for a FIN or stray bytes (one peek, as the
// pool does). It goes back to the pool once it has been idle for a sweep period (half the
// pool's idle timeout, at most a second), or when the client closes. It is closed instead
// after "Connection: close" (either side), an HTTP/1.0 response without keep-alive, a
// close-delimited body, any error, or bytes it received that no request asked for.
//
// With pipelining > 1 the requests on one connection share its fate: a response that closes
// the connection, or a failure, fails the requests sent after it (closed_before_response or
// the failure's error).
//
// Retries are not this layer's job: a failed request is reported, never repeated. Whether
// repeating it is safe (idempotent, or provably never seen by the upstream: the errors listed
// "before anything was sent" in tern/http/client_error.h) is for the caller (the proxy) to
// decide, and where to send it.
//
// Thread rule: loop thread only, like the pool and the connections under it; construct,
// use and destroy it on its loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/http/client_error.h"
#include "tern/http/client_protocol.h"
#include "tern/http/client_request.h"
#include "tern/http/parser.h"
#include "tern/net/connection_pool.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/pipeline.h"
#include "tern/protocol/pooled_client.h"

namespace tern {
class EventLoop;
}

namespace tern::http {

struct ClientOptions {
  // The connections: pool.max_connections is the pool size, pool.connect.timeout the timeout
  // of one connect, pool.wait_timeout the total a request may wait for a connection (connecting
  // included: pool_errc::wait_timeout when it passes first), pool.max_waiters how many may wait
  // at max_connections, pool.idle_timeout how long an unused keep-alive connection is kept.
  ConnectionPoolOptions pool{};
  // From a request's send (or the answer before it on its connection) to its whole response;
  // zero: none.
  Duration response_timeout = std::chrono::seconds(30);
  // Requests outstanding on one connection at a time; 1: no pipelining.
  size_t pipelining = 1;
  // Requests that may wait for a connection; more are refused with queue_full.
  size_t max_queued = 1024;
  // Of a response: status line, header block, body (max_body is the largest body accepted).
  Limits limits{};
  // The Host field of requests that carry none; empty: the upstream's "address:port".
  std::string host;
};

// What HTTP's messages mean to PooledClient (the hooks are listed in pooled_client.h).
// Thread rule: const, any thread.
struct ClientPolicy {
  bool keeps_connection(const ParsedResponse& response) const noexcept {
    return response.keep_alive;
  }
  bool asks_close(const ClientRequest& request) const noexcept { return request.asks_close(); }
  std::error_code answer_error(const ParsedResponse&) const noexcept { return {}; }
  std::error_code checkout_error(std::error_code error) const noexcept;
  std::error_code transport_error(std::error_code error) const noexcept;
  std::error_code closed_error() const noexcept { return make_error_code(client_errc::closed); }
  std::error_code queue_full_error() const noexcept {
    return make_error_code(client_errc::queue_full);
  }
  std::vector<ClientRequest> greeting() const { return {}; }
  std::error_code greeting_answer(size_t, std::error_code, const ParsedResponse*) const noexcept {
    return {};
  }
};

class Client {
 public:
  // `response` is null when `error` is set; its views are valid during the call only.
  using Callback = UniqueFunction<void(std::error_code error, const ParsedResponse* response)>;

  // Loop thread only. Connects nothing until the first request.
  Client(EventLoop& loop, InetAddress upstream, ClientOptions options = {});
  // Loop thread only. Requests not yet answered fail with client_errc::closed (their callbacks
  // run here and must not use the client); connections close.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request`; `on_response` runs exactly once, with the response or with the error
  // (tern/http/client_error.h lists them). It runs before request() returns when the request is
  // refused at once (invalid_request, queue_full, closed, or a checkout the pool refuses at
  // once, such as upstream_down), otherwise later on the loop. It may call request() and
  // close(), not destroy the client. Loop thread only.
  void request(ClientRequest request, Callback on_response);

  // Refuses new requests and fails those still waiting for a connection (closed); those
  // already sent finish, then their connections close. `on_closed` runs on the loop once every
  // connection is gone (the client may be destroyed from it). Loop thread only.
  void close(std::function<void()> on_closed = {});
  bool closed() const noexcept { return links_.closed(); }

  // --- about (loop thread only)
  const InetAddress& upstream() const noexcept { return links_.upstream(); }
  const ClientOptions& options() const noexcept { return options_; }
  size_t outstanding() const noexcept { return links_.outstanding(); }  // sent, not answered
  size_t queued() const noexcept { return links_.queued(); }  // waiting for a connection
  size_t connections_in_use() const noexcept { return links_.connections_in_use(); }
  // The pool's counters (connects, waits, ...), with `reuses` counting both the checkouts of a
  // used connection and the requests sent on a connection the client kept from an earlier
  // one: reuse_ratio() is the share of requests that needed no new connection. A proxy
  // reports it and balances on the health.
  PoolCounters counters() const noexcept { return links_.counters(); }
  const PoolHealth& health() const noexcept { return links_.health(); }
  ConnectionPool& pool() noexcept { return links_.pool(); }

 private:
  EventLoop& loop_;
  ClientOptions options_;
  PooledClient<ClientProtocol, ClientPolicy> links_;
};

}  // namespace tern::http
