// redis::Client: commands to one Redis server from one loop, over a few persistent connections
// with pipelining. The link logic is PooledClient's (tern/protocol/pooled_client.h, shared with
// http::Client): commands wait in order for a connection with room (fewer than `pipelining`
// outstanding), connections come from a ConnectionPool (reconnect with backoff while the
// server is down: commands then fail fast with the connect's error, which never_sent()
// accepts), replies are matched in order by a Pipeline<RespProtocol>.
//
//   redis::Client client(loop, InetAddress::loopback_v4(6379), {.password = "secret"});
//   client.command(redis::Command::of("INCRBY", "hits", 5),
//                  [](std::error_code error, const redis::Value* reply) {
//                    if (error) return log(error.message());   // reply: the error reply for
//                    use(reply->integer);                      // errc::error_reply, else null
//                  });
//
// Every new connection is greeted first: HELLO 3 (protocol = 3; with AUTH when a password is
// set), else AUTH [username] password when a password is set, then SELECT database when it is
// not 0. Commands go on it only once each greeting reply passed; a refusal fails the commands
// waiting for it with greeting_failed (the server's message is logged) and closes it.
//
// Errors (tern/redis/client_error.h): an error reply is errc::error_reply with the reply.
// command_timeout: no reply within command_timeout of the command's send (or of the reply
// before it on its connection), or by the command's own deadline when it was given one (a
// caller's budget partly spent before the send: what is left of it, not a whole
// command_timeout again); the connection is closed, and every command on it fails. A command
// whose deadline passed while it waited for a connection fails so too, without being sent.
// Commands sent on a connection that breaks fail with connection_lost, those waiting for a
// connection with closed when the client closes. A read_only() command failed by
// connection_lost is sent again, on another connection, up to read_retries times.
//
// Thread rule: loop thread only (construct, use and destroy it there); one per loop per Redis
// node. A callback may call command() and close(), not destroy the client.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/net/connection_pool.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/pooled_client.h"
#include "tern/redis/client_error.h"
#include "tern/redis/command.h"
#include "tern/redis/resp.h"
#include "tern/redis/resp_protocol.h"

namespace tern {
class EventLoop;
}

namespace tern::redis {

struct ClientOptions {
  // max_connections: a small number is right (each connection pipelines).
  ConnectionPoolOptions pool{.max_connections = 4};
  Duration command_timeout = std::chrono::seconds(1);  // per command, from its send; 0: none
  size_t pipelining = 256;        // commands outstanding per connection
  size_t max_queued = 4096;       // waiting for a connection; more: queue_full
  int protocol = 2;               // 3: HELLO 3 on every new connection (RESP3 replies)
  std::string username;           // AUTH [username] password when password is set
  std::string password;
  int database = 0;               // SELECT when not 0
  int read_retries = 1;           // a read_only() command failed by connection_lost is sent
                                  // again, on another connection, this many times
  RespLimits limits;
};

// What RESP's messages mean to PooledClient (the hooks are listed in pooled_client.h): a
// connection is always kept (but after QUIT), an error reply is errc::error_reply, the
// greeting is HELLO/AUTH/SELECT as the options say. Thread rule: const, any thread.
class ClientPolicy {
 public:
  ClientPolicy() = default;
  ClientPolicy(const ClientOptions& options, const InetAddress& server);

  bool keeps_connection(const Value&) const noexcept { return true; }
  bool asks_close(const Command& command) const noexcept;
  std::error_code answer_error(const Value& reply) const noexcept;
  std::error_code checkout_error(std::error_code error) const noexcept;
  std::error_code transport_error(std::error_code error) const noexcept;
  std::error_code closed_error() const noexcept { return make_error_code(errc::closed); }
  std::error_code queue_full_error() const noexcept { return make_error_code(errc::queue_full); }
  std::vector<Command> greeting() const { return greeting_; }
  std::error_code greeting_answer(size_t index, std::error_code error, const Value* reply) const;

 private:
  std::vector<Command> greeting_;
  std::string server_;  // for the log line of a refused greeting
};

class Client {
 public:
  // `reply` is null when `error` is set, except errc::error_reply (the error reply, whose text
  // says what the server refused). Views valid during the call only.
  using Callback = UniqueFunction<void(std::error_code error, const Value* reply)>;

  // Loop thread only. Connects nothing until the first command.
  Client(EventLoop& loop, InetAddress server, ClientOptions options = {});
  // Loop thread only. What is outstanding fails: commands waiting for a connection with
  // closed, commands sent with connection_lost (they may have run); their callbacks run here
  // and must not use the client.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `command`; `done` runs exactly once, with the reply or the error: before command()
  // returns when refused at once (closed, queue_full, a connect refused at once such as
  // upstream_down while the server is down), otherwise later on the loop. `deadline`: the
  // reply's, besides command_timeout (TimePoint::max(): none of its own); a resend after a
  // lost connection keeps it. Loop thread only.
  void command(Command command, Callback done, TimePoint deadline = TimePoint::max());
  // Sends `commands` back to back on one connection, in order (MULTI ... EXEC, ASKING +
  // command); `done` runs exactly once, with the last reply, or with the first error (an error
  // reply, errc::error_reply with that reply, or the connection's). `deadline` as command()'s,
  // for each reply. Loop thread only.
  void command_group(std::vector<Command> commands, Callback done,
                     TimePoint deadline = TimePoint::max());

  // Refuses new commands and fails those waiting for a connection (closed); those sent finish,
  // then the connections close. `on_closed` runs on the loop once every connection is gone
  // (the client may be destroyed from it). Loop thread only.
  void close(std::function<void()> on_closed = {});
  bool closed() const noexcept { return links_.closed(); }

  // --- about (loop thread only)
  const InetAddress& server() const noexcept { return links_.upstream(); }
  const ClientOptions& options() const noexcept { return options_; }
  size_t outstanding() const noexcept { return links_.outstanding(); }  // sent, not answered
  size_t queued() const noexcept { return links_.queued(); }  // waiting for a connection
  size_t connections_in_use() const noexcept { return links_.connections_in_use(); }
  // The pool's counters, `reuses` counting the commands sent on kept connections too.
  PoolCounters counters() const noexcept { return links_.counters(); }
  const PoolHealth& health() const noexcept { return links_.health(); }
  // The pool under the client: for its on_health_change callback (a cluster client, a test).
  ConnectionPool& pool() noexcept { return links_.pool(); }

 private:
  void send(Command command, Callback done, int retries_left, TimePoint deadline);

  EventLoop& loop_;
  ClientOptions options_;
  PooledClient<RespProtocol, ClientPolicy> links_;
};

}  // namespace tern::redis
