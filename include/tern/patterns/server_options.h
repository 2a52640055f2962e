// ServerOptions: which concurrency model serves the handler, on which backend, with how many
// threads. Every tern program takes the same choices as flags (--model --pattern --threads
// --workers --balance --codec --queue), so one handler can be compared under each model.
//
// The models (docs/patterns.md maps each to its code and says when it wins):
//   single  one loop accepts, does the I/O and runs the handlers
//   loops   `threads` loops, one per thread; connections spread round-robin by one acceptor,
//           or by one SO_REUSEPORT listener per loop (the kernel hashes the 4-tuple)
//   hsha    half-sync/half-async: `threads` I/O loops, a bounded queue, `workers` threads that
//           run the handler; a full queue stops reading (backpressure)
//   lf      leader/followers: `threads` threads take turns waiting on one epoll set
//
// The event handling pattern says who does the reads and writes:
//   emulated  the loop, on readiness (a readiness backend under the stream API)
//   proactor  the kernel (io_uring) or the AIO machinery; handlers get completed reads
//   reactor   the thread that handles the readiness event (the loop itself, a worker, or the
//             lf thread), with one-shot registration
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tern/backend/backend_kind.h"
#include "tern/backend/backend_options.h"
#include "tern/codec/codec.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/protocol.h"

namespace tern {

class EventLoop;
namespace metrics {
class Registry;
}

enum class Model { single, loops, hsha, lf };
enum class Pattern { emulated, proactor, reactor };
enum class Balancing { round_robin, reuse_port };

struct ServerOptions {
  InetAddress address = InetAddress::loopback_v4(0);
  BackendKind backend = BackendKind::epoll;
  BackendOptions backend_options;
  Model model = Model::single;
  std::optional<Pattern> pattern;  // unset: the backend's own (proactor where its traits say
                                   // it performs the I/O: uring, aio; reactor for lf; emulated
                                   // otherwise)
  int threads = 1;                 // loops (single: 1), I/O loops under hsha, lf threads
  int workers = 0;                 // hsha only: threads that run the handler
  Balancing balancing = Balancing::round_robin;
  Codec codec{Framing::line};
  size_t queue_capacity = 4096;    // hsha: requests (or ready events) waiting for a worker
  size_t max_pipeline = 64;        // requests of one connection being handled at once; at the
                                   // limit that connection is not read (responses stay bounded)
  size_t high_water = 1 << 20;     // unsent response bytes of one connection that stop reading
  Deadlines deadlines;             // the built-in framings' per-connection deadlines (idle, a
                                   // whole message's read, write progress); zero: none
  size_t max_connections = 0;      // 0: no limit. Connections open at once, across all the
                                   // server's loops and threads. At the limit the server stops
                                   // accepting (the listener stays open: new clients wait in the
                                   // kernel's backlog, up to its size) and resumes as soon as one
                                   // closes. Costs one atomic per accept and per close.
  // Per-loop state of the program (a proxy's upstream pools): on_loop_start runs on each
  // loop's thread before the loop serves (an error stops start()); on_loop_stop runs on that
  // thread once the loop has stopped, before its connections and sessions are torn down (a
  // reply dropped there still finds its route: a no-op) and the loop is destroyed. Models
  // with loops only (single, loops, hsha): lf has none and refuses them.
  std::function<std::error_code(size_t index, EventLoop& loop)> on_loop_start;
  std::function<void(size_t index, EventLoop& loop)> on_loop_stop;
  // Per-thread state under lf (a protocol's metrics shard, http::record_metrics), whose threads
  // are not loops: on_lf_thread_start(i) runs on lf thread i before it first takes a turn
  // (before it can accept or serve), on_lf_thread_stop(i) on that thread after its last turn,
  // once it handles nothing more (other threads may still be serving, and during shutdown a
  // connection may still be closed from another thread). lf only: the other models refuse them.
  std::function<void(size_t index)> on_lf_thread_start;
  std::function<void(size_t index)> on_lf_thread_stop;
  // Where the server registers its metrics (not owned; must outlive the Server); null: none.
  // Each loop's counters and its backend's stats as a loop source (added on the loop's thread
  // at start, removed there at stop), and the model's counters (connections, accepts, the hsha
  // queue; under lf each thread's turns as loop figures) as a plain source.
  metrics::Registry* metrics = nullptr;
};

// The pattern in force: options.pattern, or the default for the model and backend.
Pattern effective_pattern(const ServerOptions& options) noexcept;
// Empty when the combination is served; otherwise why not, and the valid combinations. The
// pattern/backend part is decided by the backend's traits (traits_of), not by its name.
std::string check_options(const ServerOptions& options);
// The valid combinations, as lines of a table (for --help and for error messages).
std::string valid_combinations();

std::optional<Model> parse_model(std::string_view name) noexcept;
std::optional<Pattern> parse_pattern(std::string_view name) noexcept;
std::optional<Balancing> parse_balancing(std::string_view name) noexcept;  // round-robin, reuse-port
const char* model_name(Model model) noexcept;
const char* pattern_name(Pattern pattern) noexcept;
const char* balancing_name(Balancing balancing) noexcept;

}  // namespace tern
