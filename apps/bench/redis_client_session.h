// The redis workload: one command (SET key value, or GET key) built once as a redis::Command
// and issued through tern::redis::Client, the client users get (pipelined and pooled on tern's
// loop), one Client per benchmark connection: its pool holds one connection
// (max_connections 1) carrying up to --pipeline commands (pipelining), so --connections and
// --pipeline mean what they mean in the other modes. Latency runs from issuing a command to
// its completion callback.
//
// A session opens with a PING answered (the client connected: the connect phase of the other
// modes). A reply of the wrong kind (an error reply, SET not answered +OK, GET not answered
// with a bulk string or nil) is a mismatch; the client's errors are reported as the other
// modes report theirs: connection_lost as closed, command_timeout as timeout, protocol_error
// as parse, a connect error as connect; in every case the connection is reopened (PING again
// on the same client, whose pool reconnects). GET is not resent after a lost connection
// (read_retries 0): every command issued is counted once.
//
// Thread rule: RedisClientWorkload is immutable once built (one per thread); a session lives
// on its connection's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "exchange.h"
#include "options.h"
#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"
#include "tern/net/inet_address.h"
#include "tern/redis/client.h"
#include "tern/redis/command.h"

namespace tern::bench {

// The command for these options: SET or GET of options.key, the value options.value_size
// bytes long.
redis::Command make_redis_command(const BenchOptions& options);

// The wire size of `reply` as RESP2 encodes it (bytes received for it).
size_t resp2_size(const redis::Value& reply) noexcept;

class RedisClientWorkload final : public Workload {
 public:
  // depth: commands in flight per connection; timeout: the connect timeout and the longest
  // wait for one reply (--timeout).
  RedisClientWorkload(redis::Command command, bool is_get, InetAddress server, size_t depth,
                      Duration timeout);
  std::unique_ptr<ClientSession> make_session(uint32_t connection_id, EventLoop& loop) override;

  const redis::Command& command() const noexcept { return command_; }
  size_t command_size() const noexcept { return command_size_; }
  bool is_get() const noexcept { return is_get_; }
  const InetAddress& server() const noexcept { return server_; }
  const redis::ClientOptions& client_options() const noexcept { return client_options_; }

 private:
  redis::Command command_;
  size_t command_size_;
  bool is_get_;
  InetAddress server_;
  redis::ClientOptions client_options_;
};

class RedisClientSession final : public ClientSession {
 public:
  RedisClientSession(const RedisClientWorkload& workload, EventLoop& loop);
  ~RedisClientSession() override;

  void open(SessionSink& sink) override;
  void issue(size_t count, size_t& bytes) override;
  void abandon() noexcept override;
  void stop() noexcept override;

 private:
  // What a completion means to the sink: a failure of `kind` (or of the open), said by `why`.
  struct Verdict {
    std::error_code error;
    ReplySink::Failure kind = ReplySink::Failure::mismatch;
    std::string why;
    bool open = false;  // the PING of open(): for sink.opened()
  };

  void on_ping(uint64_t generation, std::error_code error, const redis::Value* reply);
  void on_reply(uint64_t generation, std::error_code error, const redis::Value* reply);
  bool expected(const redis::Value& reply) const noexcept;
  // A failed command (an error, or a reply of the wrong kind) as the report names it.
  Verdict judge(std::error_code error, const redis::Value* reply) const;
  // A completion that ran inside open() or issue() (the client refused at once) reaches the
  // sink from a zero-delay timer: the connection is not re-entered mid-send.
  void defer(Verdict verdict);
  void cancel_deferred() noexcept;

  const RedisClientWorkload& workload_;
  EventLoop& loop_;
  std::unique_ptr<redis::Client> client_;
  SessionSink* sink_ = nullptr;
  // Completions of an older generation were counted lost by the connection: dropped.
  uint64_t generation_ = 0;
  bool in_call_ = false;  // inside open() or issue()
  std::optional<Verdict> deferred_;
  TimerId deferred_timer_;
};

}  // namespace tern::bench
