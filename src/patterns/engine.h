// Engine: one concurrency model behind tern::Server. Each model's file says how it composes
// loops, queues and threads; docs/patterns.md draws them.
#pragma once

#include <memory>
#include <system_error>

#include "patterns/model_figures.h"
#include "tern/backend/backend_kind.h"
#include "tern/base/clock.h"
#include "tern/net/conn_id.h"
#include "tern/net/inet_address.h"
#include "tern/patterns/handler.h"
#include "tern/protocol/connection_ref.h"
#include "tern/protocol/service.h"
#include "tern/patterns/server.h"
#include "tern/patterns/server_options.h"

namespace tern {

class Engine {
 public:
  virtual ~Engine() = default;
  // Binds, then starts the threads; returns once the server accepts (or with the error).
  virtual std::error_code start() = 0;
  virtual InetAddress local_address() const = 0;
  // The backend the loops run on (epoll where io_uring fell back).
  virtual BackendKind backend_in_use() const = 0;
  virtual ServerStats stats() const { return {}; }  // any thread
  // The model's own figures (hsha queue waits and worker busy times, lf hand-overs); any
  // thread, until the engine is destroyed.
  virtual ModelFigures model_figures() const { return {}; }
  // Connections served by loop `index` now; on that loop's thread (lf has no loops: 0).
  virtual size_t loop_connections(size_t index) const {
    (void)index;
    return 0;
  }
  // Any thread, while the engine runs: `task` runs on connection `id` where this model touches
  // it (run_connection_task, connection_task.h), or nowhere if the id is stale. False when
  // `id` names no loop of this engine (or that loop is gone).
  virtual bool post_to(ConnId id, ConnectionTask task) = 0;
  // Stops accepting and reading, answers and writes the requests already read, closes, and
  // joins every thread; what is left at `deadline` is closed. Blocks; call once.
  virtual void shutdown(Duration deadline) = 0;
};

// single, loops and hsha with the emulated and proactor patterns: TcpConnection does the I/O,
// Session<P> the rest, for any protocol.
std::unique_ptr<Engine> make_stream_engine(const ServerOptions& options, Service service);
// single, loops and hsha with the reactor pattern: one-shot readiness, the handling thread
// does the I/O (ReadinessConnection) and drives the same Session<P>.
std::unique_ptr<Engine> make_reactor_engine(const ServerOptions& options, Service service);
// lf: threads take turns waiting on one shared readiness set.
std::unique_ptr<Engine> make_leader_followers(const ServerOptions& options, Service service);

}  // namespace tern
