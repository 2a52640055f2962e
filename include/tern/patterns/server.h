// Server: a handler served under the concurrency model the options choose. Owns every thread
// it starts (with all signals blocked in them, so the program's own thread takes SIGINT and
// SIGTERM) and joins them in shutdown().
//
//   tern::ServerOptions options;
//   options.address = tern::InetAddress::loopback_v4(9000);
//   options.model = tern::Model::hsha;
//   options.workers = 4;
//   tern::Server server(options, tern::Handler::sync([](tern::Request r) {
//     return tern::Response(r);
//   }));
//   if (auto error = server.start()) { ... error.message(), server.error_detail() ... }
//   ... wait for a signal ...
//   server.shutdown(std::chrono::seconds(5));
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <system_error>

#include "tern/base/clock.h"
#include "tern/patterns/handler.h"
#include "tern/patterns/server_options.h"
#include "tern/protocol/connection_ref.h"
#include "tern/protocol/service.h"

namespace tern {

class Engine;
class ServerMetrics;

struct ServerStats {
  // hsha: times the request queue was full, so a connection (or a ready event) waited and
  // its connection was not read meanwhile (backpressure).
  uint64_t pushbacks = 0;
  // hsha: requests (or ready events) waiting in that queue now.
  size_t queue_depth = 0;
  // Connections open now, across every loop (ServerOptions::max_connections bounds it), and
  // accepted since the start.
  size_t open_connections = 0;
  uint64_t accepted = 0;
  // Times accepting stopped at max_connections (new clients then wait in the backlog).
  uint64_t accept_pauses = 0;
};

class Server {
 public:
  // The built-in framing options.codec chooses (raw, line, length-prefixed), and a handler of
  // byte strings.
  Server(ServerOptions options, Handler handler);
  // Any protocol: a Service made with Service::of<P>(protocol options, handler), under every
  // model and pattern.
  Server(ServerOptions options, Service service);
  // Shuts down (deadline zero) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Checks the combination (errc::invalid_argument, with error_detail() saying why and
  // listing the valid ones), binds, and starts the threads.
  std::error_code start();
  const std::string& error_detail() const noexcept { return detail_; }

  InetAddress local_address() const;
  BackendKind backend_in_use() const;
  const ServerOptions& options() const noexcept { return options_; }
  ServerStats stats() const;  // any thread

  // Any thread: runs `task` on connection `id` (a handler learns its connection's id from
  // reply.connection()), on that connection's own thread: its loop (the reactor pattern: the
  // loop, with the connection locked against its workers); under lf, which has no loops, at
  // once on this thread with the connection locked, so there a task must not post to its own
  // connection. True: handed on; it runs only if the connection is still open when it gets
  // there (a stale id, its connection closed and its slot perhaps reused, runs nothing, and
  // the task is destroyed unrun). False, the task destroyed unrun: the server is not running
  // (before start(), after shutdown()) or `id` names no loop of this server.
  bool post_to(ConnId id, ConnectionTask task);

  // Graceful stop: no new connections or requests; requests already read are answered and
  // written; then connections close (lingering, so no reset destroys a response). What is
  // still open at `deadline` is closed. Blocks until every thread is joined. Not from a
  // handler or a thread the server started.
  void shutdown(Duration deadline);

 private:
  ServerOptions options_;
  Service service_;
  // Before engine_: the loops' metric hooks point into it until the engine is destroyed.
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<Engine> engine_;
  std::string detail_;
  std::atomic<bool> running_{false};  // post_to reads it from any thread
};

}  // namespace tern
