#include "redis_client_session.h"

#include "tern/loop/event_loop.h"
#include "tern/redis/client_error.h"

namespace tern::bench {
namespace {

constexpr size_t kLargestReply = 64u << 20;  // a reply larger than this is a protocol error

size_t decimal_digits(uint64_t n) noexcept {
  size_t digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits;
}

size_t integer_size(int64_t n) noexcept {
  return n < 0 ? 1 + decimal_digits(uint64_t(0) - uint64_t(n)) : decimal_digits(uint64_t(n));
}

redis::ClientOptions client_options_of(size_t depth, Duration timeout) {
  redis::ClientOptions options;
  options.pool.max_connections = 1;  // one client per bench connection: one TCP connection
  options.pool.connect.timeout = timeout;
  options.pool.connect.max_attempts = 1;
  options.pool.wait_timeout = timeout;
  options.command_timeout = timeout;
  options.pipelining = depth;
  // A reopened session's PING and commands may wait behind the abandoned ones still on the
  // connection: room for both windows.
  options.max_queued = 2 * depth + 2;
  options.read_retries = 0;  // a lost GET is counted lost, not resent behind tern-bench's back
  options.limits.max_bulk = kLargestReply;
  return options;
}

}  // namespace

redis::Command make_redis_command(const BenchOptions& o) {
  if (o.redis_command == RedisCommand::get) return redis::Command::of("GET", o.key);
  return redis::Command::of("SET", o.key, std::string(o.value_size, 'x'));
}

// Only what a SET or GET (or a broken server) can answer in RESP2 is sized exactly; RESP3
// types (never asked for: the client speaks RESP2 here) count their text and a line end.
size_t resp2_size(const redis::Value& reply) noexcept {
  constexpr size_t kCrLf = 2;
  switch (reply.type) {
    case redis::Type::simple_string:
    case redis::Type::error: return 1 + reply.text.size() + kCrLf;
    case redis::Type::integer: return 1 + integer_size(reply.integer) + kCrLf;
    case redis::Type::null: return 5;  // "$-1\r\n"
    case redis::Type::bulk_string:
      return 1 + decimal_digits(reply.text.size()) + kCrLf + reply.text.size() + kCrLf;
    case redis::Type::array: {
      size_t size = 1 + decimal_digits(reply.elements.size()) + kCrLf;
      for (const redis::Value& element : reply.elements) size += resp2_size(element);
      return size;
    }
    default: return 1 + reply.text.size() + kCrLf;
  }
}

RedisClientWorkload::RedisClientWorkload(redis::Command command, bool is_get, InetAddress server,
                                         size_t depth, Duration timeout)
    : command_(std::move(command)),
      command_size_(command_.encoded().size()),
      is_get_(is_get),
      server_(server),
      client_options_(client_options_of(depth, timeout)) {}

std::unique_ptr<ClientSession> RedisClientWorkload::make_session(uint32_t, EventLoop& loop) {
  return std::make_unique<RedisClientSession>(*this, loop);
}

RedisClientSession::RedisClientSession(const RedisClientWorkload& workload, EventLoop& loop)
    : workload_(workload),
      loop_(loop),
      client_(std::make_unique<redis::Client>(loop, workload.server(), workload.client_options())) {}

RedisClientSession::~RedisClientSession() { stop(); }

void RedisClientSession::abandon() noexcept {
  ++generation_;
  cancel_deferred();
}

void RedisClientSession::stop() noexcept {
  ++generation_;
  cancel_deferred();
  client_.reset();  // what is outstanding fails into callbacks of an old generation: dropped
}

void RedisClientSession::open(SessionSink& sink) {
  sink_ = &sink;
  const uint64_t generation = generation_;
  in_call_ = true;
  client_->command(redis::Command("PING"),
                   [this, generation](std::error_code error, const redis::Value* reply) {
                     on_ping(generation, error, reply);
                   });
  in_call_ = false;
}

void RedisClientSession::issue(size_t count, size_t& bytes) {
  bytes = workload_.command_size() * count;
  const uint64_t generation = generation_;
  in_call_ = true;
  for (size_t i = 0; i < count; ++i) {
    client_->command(workload_.command(),
                     [this, generation](std::error_code error, const redis::Value* reply) {
                       on_reply(generation, error, reply);
                     });
  }
  in_call_ = false;
}

void RedisClientSession::on_ping(uint64_t generation, std::error_code error,
                                 const redis::Value* reply) {
  if (generation != generation_) return;
  Verdict verdict;
  if (error == redis::errc::error_reply || (!error && reply->type != redis::Type::simple_string)) {
    verdict.error = make_error_code(redis::errc::error_reply);
    verdict.why = "PING to " + workload_.server().to_string() + " answered " +
                  (reply != nullptr ? reply->to_string() : std::string("nothing"));
  } else if (error) {
    verdict.error = error;
    verdict.why = "cannot connect to " + workload_.server().to_string() + ": " + error.message();
  }
  verdict.open = true;
  if (in_call_) {
    defer(std::move(verdict));
    return;
  }
  sink_->opened(verdict.error, verdict.why);
}

void RedisClientSession::on_reply(uint64_t generation, std::error_code error,
                                  const redis::Value* reply) {
  if (generation != generation_) return;
  if (in_call_) {  // refused at once, inside issue(): reported once issue() has returned
    defer(judge(error, reply));
    return;
  }
  sink_->wake();
  if (reply != nullptr) sink_->received(resp2_size(*reply));
  if (!error && expected(*reply)) {
    sink_->reply(0);
  } else {
    Verdict verdict = judge(error, reply);
    sink_->broken(verdict.kind, verdict.why);
  }
  sink_->settle();
}

bool RedisClientSession::expected(const redis::Value& reply) const noexcept {
  if (workload_.is_get()) return reply.type == redis::Type::bulk_string || reply.is_null();
  return reply.type == redis::Type::simple_string && reply.text == "OK";
}

RedisClientSession::Verdict RedisClientSession::judge(std::error_code error,
                                                      const redis::Value* reply) const {
  Verdict verdict;
  verdict.error = error ? error : make_error_code(redis::errc::error_reply);
  if (!error || error == redis::errc::error_reply) {
    verdict.kind = ReplySink::Failure::mismatch;
    verdict.why = "unexpected reply: " + (reply != nullptr ? reply->to_string() : "none");
  } else if (error == redis::errc::connection_lost) {
    verdict.kind = ReplySink::Failure::closed;
    verdict.why = "redis::Client: " + error.message();
  } else if (error == redis::errc::command_timeout) {
    verdict.kind = ReplySink::Failure::timeout;
    verdict.why = "no reply within --timeout";
  } else if (error == redis::errc::protocol_error) {
    verdict.kind = ReplySink::Failure::parse;
    verdict.why = "bad reply: redis::Client: " + error.message();
  } else if (error == redis::errc::closed || error == redis::errc::queue_full) {
    verdict.kind = ReplySink::Failure::write;
    verdict.why = "redis::Client: " + error.message();
  } else {  // the pool's or the connect's errors: no connection for the command
    verdict.kind = ReplySink::Failure::connect;
    verdict.why = "cannot connect to " + workload_.server().to_string() + ": " + error.message();
  }
  return verdict;
}

// Only the first failure of a call matters: it closes the connection, which counts the rest
// of its window lost.
void RedisClientSession::defer(Verdict verdict) {
  if (deferred_) return;
  deferred_ = std::move(verdict);
  const uint64_t generation = generation_;
  deferred_timer_ = loop_.run_after(Duration{}, [this, generation] {
    deferred_timer_ = TimerId{};
    Verdict due = std::move(*deferred_);
    deferred_.reset();
    if (generation != generation_) return;
    if (due.open) {
      sink_->opened(due.error, due.why);
      return;
    }
    sink_->wake();
    sink_->broken(due.kind, due.why);
    sink_->settle();
  });
}

void RedisClientSession::cancel_deferred() noexcept {
  if (deferred_timer_.valid()) loop_.cancel(deferred_timer_);
  deferred_timer_ = TimerId{};
  deferred_.reset();
}

}  // namespace tern::bench
