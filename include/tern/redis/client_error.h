// The errors of redis::Client and redis::ClusterClient that no lower layer names. A command
// fails with one of these, or with a connect's own error (connection_refused, ...) or a
// pool_errc (upstream_down, wait_timeout, queue_full) while it waited for a connection.
//
// never_sent() tells the errors after which the command was certainly not executed: the
// connect errors, the pool's refusals, queue_full, closed (refused, or failed while it waited
// for a connection), greeting_failed. Such a command may be sent again anywhere. After the
// others (connection_lost, command_timeout, protocol_error) it may have run: only the caller
// knows whether sending it again is safe (redis::Client does it for read_only() commands).
//
// Thread rule: pure functions and constants; any thread.
#pragma once

#include <system_error>

namespace tern::redis {

enum class errc {
  error_reply = 1,     // the server answered with an error (the reply is given: its text)
  closed,              // the client is closed (the command was not sent)
  queue_full,          // max_queued commands already wait for a connection
  connect_timeout,     // no connection within the connect timeout
  command_timeout,     // no reply within command_timeout (the connection is closed)
  connection_lost,     // the connection broke with the command sent (it may have run)
  greeting_failed,     // HELLO, AUTH or SELECT on a new connection was refused
  protocol_error,      // the server sent bytes that are not RESP (the connection is closed)
  too_many_redirects,  // cluster: more MOVED/ASK than ClusterOptions::max_redirects
  cluster_down,        // cluster: no slot map, or the slot's master cannot be reached
};

const std::error_category& redis_error_category() noexcept;
std::error_code make_error_code(errc error) noexcept;

// True when the command that failed with `error` was certainly not executed by the server.
bool never_sent(std::error_code error) noexcept;

}  // namespace tern::redis

template <>
struct std::is_error_code_enum<tern::redis::errc> : std::true_type {};
