// ServerMetrics: what a tern::Server registers with ServerOptions::metrics.
//
//   per loop (a loop source, filled on the loop's thread; labels loop, backend):
//     tern_loop_iterations_total, tern_loop_busy_seconds_total, tern_loop_wait_seconds_total,
//     tern_loop_events_total, tern_loop_tasks_total, tern_loop_timers_total,
//     tern_loop_connections (gauge), tern_loop_events_per_wait (histogram, plain), and the
//     backend's stats: tern_backend_{submissions,wait_calls,cq_overflows,enobufs,rearms,
//     fallbacks}_total
//   per server (a plain source, read from the engine's atomics on the collecting thread):
//     tern_server_connections (gauge), tern_server_accepted_total, and under hsha
//     tern_hsha_pushbacks_total, tern_hsha_queue_depth (gauge)
//   per model (the same source, from Engine::model_figures):
//     hsha: tern_hsha_queue_wait_seconds (histogram: a task's push to a worker's pop; a task
//     is a request, or a ready event under the reactor pattern), and
//     tern_hsha_worker_busy_seconds_total{worker} (time running tasks); each worker keeps its
//     own (WorkerMeter), merged here
//     lf: tern_lf_handovers_total (the lead taken by another thread than the one that held it),
//     and with each thread's turns as a loop's (ThreadMeter, labels loop, backend):
//     tern_loop_{iterations,busy_seconds,wait_seconds,events,timers}_total; no events per wait
//     (a leader waits for one event at a time), connections, tasks or backend stats (the
//     threads share one set and the server's connections)
//
// Lifetime: a loop's source is added on its thread as the loop starts and removed there as it
// stops (wrapped around ServerOptions::on_loop_start/on_loop_stop), so no fill of it runs once
// the loop is gone; the server source is removed when the server shuts down.
//
// Thread rule: construct, install, add_server_source and remove_server_source on the
// thread that owns the Server; the hooks install() makes run on the loops' threads.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "patterns/model_figures.h"
#include "tern/metrics/registry.h"
#include "tern/patterns/server.h"
#include "tern/patterns/server_options.h"

namespace tern {

class ServerMetrics {
 public:
  // `loops`: how many loops the server will start (options.threads).
  ServerMetrics(metrics::Registry& registry, size_t loops);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Wraps options.on_loop_start/on_loop_stop (not under lf, which has no loops): after the
  // program's start hook, loop i's source is added; before its stop hook, removed.
  // `connections(i)` answers on loop i's thread how many connections it serves. *this must
  // outlive the loops.
  void install(ServerOptions& options, std::function<size_t(size_t index)> connections);
  // `stats` and `figures` are called on collecting threads (ServerStats are atomics; figures
  // are read under the model's own locks): they must stay valid until remove_server_source().
  void add_server_source(Model model, std::function<ServerStats()> stats,
                         std::function<ModelFigures()> figures);
  void remove_server_source() noexcept;

  // The series of one loop, and of a server's stats. Exposed for tests.
  static void fill_loop(metrics::Snapshot& out, size_t index, const EventLoop& loop,
                        size_t connections);
  static void fill_server(metrics::Snapshot& out, Model model, const ServerStats& stats);
  static void fill_model(metrics::Snapshot& out, const ModelFigures& figures);
  // The series of a loop's (or lf thread's) LoopCounters with `labels`.
  static void fill_turns(metrics::Snapshot& out, const metrics::Labels& labels,
                         const LoopCounters& counters);

 private:
  metrics::Registry& registry_;
  std::vector<metrics::SourceId> loop_sources_;  // element i: written on loop i's thread only
  metrics::SourceId server_source_ = 0;          // 0: none
  std::function<size_t(size_t)> connections_;
};

}  // namespace tern
