// redis::Client: PooledClient's link logic with RESP's policy (connections always kept, error
// replies as errc::error_reply, the HELLO/AUTH/SELECT greeting), plus the resend of read-only
// commands after a lost connection.
#include "tern/redis/client.h"

#include <strings.h>

#include <utility>

#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern::redis {
namespace {

// A wrong password would otherwise log once per connection attempt.
LogLimiter greeting_log_limiter;

std::vector<Command> greeting_of(const ClientOptions& options) {
  std::vector<Command> greeting;
  if (options.protocol == 3) {
    Command hello = Command::of("HELLO", 3);
    if (!options.password.empty()) {
      hello.arg("AUTH")
          .arg(options.username.empty() ? std::string_view("default") : options.username)
          .arg(options.password);
    }
    greeting.push_back(std::move(hello));
  } else if (!options.password.empty()) {
    Command auth("AUTH");
    if (!options.username.empty()) auth.arg(options.username);
    greeting.push_back(std::move(auth.arg(options.password)));
  }
  if (options.database != 0) greeting.push_back(Command::of("SELECT", options.database));
  return greeting;
}

PooledClientOptions pooled_options_of(const ClientOptions& options) {
  return PooledClientOptions{options.pool, options.command_timeout, options.pipelining,
                             options.max_queued};
}

}  // namespace

ClientPolicy::ClientPolicy(const ClientOptions& options, const InetAddress& server)
    : greeting_(greeting_of(options)), server_(server.to_string()) {}

// QUIT: the server closes the connection after its +OK.
bool ClientPolicy::asks_close(const Command& command) const noexcept {
  std::string_view name = command.size() > 0 ? command.name() : std::string_view();
  return name.size() == 4 && ::strncasecmp(name.data(), "QUIT", 4) == 0;
}

std::error_code ClientPolicy::answer_error(const Value& reply) const noexcept {
  return reply.is_error() ? make_error_code(errc::error_reply) : std::error_code{};
}

// A connect that timed out is told apart from a command that did (both would be timed_out).
std::error_code ClientPolicy::checkout_error(std::error_code error) const noexcept {
  if (error == std::make_error_code(std::errc::timed_out)) {
    return make_error_code(errc::connect_timeout);
  }
  return error;
}

// The pipeline's errors, named for what they mean to a Redis caller: the command was sent, so
// it may have run, except that bytes that are not RESP are the server's fault.
std::error_code ClientPolicy::transport_error(std::error_code error) const noexcept {
  if (error == std::make_error_code(std::errc::timed_out)) {
    return make_error_code(errc::command_timeout);
  }
  if (error.category() == resp_error_category() ||
      error == make_error_code(tern::errc::invalid_argument)) {  // a reply nobody asked for
    return make_error_code(errc::protocol_error);
  }
  // The server closed (eof), a reset, a failed write, or the client dropped the connection
  // under the command (operation_canceled, when it is destroyed).
  return make_error_code(errc::connection_lost);
}

std::error_code ClientPolicy::greeting_answer(size_t index, std::error_code error,
                                              const Value* reply) const {
  if (!error && reply != nullptr && !reply->is_error()) return {};
  std::string command(index < greeting_.size() ? greeting_[index].name() : "greeting");
  std::string why = error ? error.message() : reply != nullptr ? reply->to_string() : "no reply";
  log_limited(greeting_log_limiter, LogLevel::warn, "redis::Client: %s to %s failed: %s",
              command.c_str(), server_.c_str(), why.c_str());
  return make_error_code(errc::greeting_failed);
}

Client::Client(EventLoop& loop, InetAddress server, ClientOptions options)
    : loop_(loop),
      options_(std::move(options)),
      links_(loop, server, pooled_options_of(options_), RespProtocolOptions{options_.limits, {}},
             ClientPolicy(options_, server)) {}

Client::~Client() = default;

void Client::command(Command command, Callback done, TimePoint deadline) {
  loop_.assert_in_loop_thread("redis::Client::command");
  // read_only() scans a table of names (about 1,000 instructions): only when a retry may follow.
  int retries = options_.read_retries > 0 && command.read_only() ? options_.read_retries : 0;
  send(std::move(command), std::move(done), retries, deadline);
}

// A command that may be resent keeps a copy of itself in its callback until it is answered.
void Client::send(Command command, Callback done, int retries_left, TimePoint deadline) {
  if (retries_left <= 0) {
    links_.request(std::move(command), std::move(done), deadline);
    return;
  }
  Command copy = command;
  links_.request(
      std::move(command),
      [this, copy = std::move(copy), done = std::move(done), retries_left, deadline](
          std::error_code error, const Value* reply) mutable {
        if (error == errc::connection_lost && !links_.closed()) {
          send(std::move(copy), std::move(done), retries_left - 1, deadline);
          return;
        }
        done(error, reply);
      },
      deadline);
}

void Client::command_group(std::vector<Command> commands, Callback done, TimePoint deadline) {
  loop_.assert_in_loop_thread("redis::Client::command_group");
  links_.request_group(std::move(commands), std::move(done), deadline);
}

void Client::close(std::function<void()> on_closed) {
  loop_.assert_in_loop_thread("redis::Client::close");
  links_.close(std::move(on_closed));
}

}  // namespace tern::redis
