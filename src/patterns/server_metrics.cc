#include "patterns/server_metrics.h"

#include <string>
#include <utility>

#include "tern/loop/event_loop.h"

namespace tern {

using metrics::Labels;
using metrics::Snapshot;

ServerMetrics::ServerMetrics(metrics::Registry& registry, size_t loops)
    : registry_(registry), loop_sources_(loops, 0) {}

ServerMetrics::~ServerMetrics() {
  remove_server_source();
  // A loop whose start failed after its source was added never ran its stop hook; its loop
  // (and thread) is gone by now, so its fill can no longer run: drop the entry.
  for (metrics::SourceId id : loop_sources_) {
    if (id != 0) registry_.remove(id);
  }
}

void ServerMetrics::install(ServerOptions& options,
                            std::function<size_t(size_t index)> connections) {
  if (options.model == Model::lf) return;  // no loops (and lf refuses loop hooks)
  connections_ = std::move(connections);
  options.on_loop_start = [this, program_start = std::move(options.on_loop_start)](
                              size_t i, EventLoop& loop) -> std::error_code {
    if (program_start) {
      if (auto error = program_start(i, loop)) return error;
    }
    if (i >= loop_sources_.size()) return {};  // more loops than options.threads said
    loop_sources_[i] = registry_.add_loop_source(loop.handle(), [this, i, &loop](Snapshot& s) {
      fill_loop(s, i, loop, connections_(i));
    });
    return {};
  };
  options.on_loop_stop = [this, program_stop = std::move(options.on_loop_stop)](
                             size_t i, EventLoop& loop) {
    // On the loop's thread: no fill of this source is running, and none starts after this.
    if (i < loop_sources_.size()) {
      registry_.remove(loop_sources_[i]);
      loop_sources_[i] = 0;
    }
    if (program_stop) program_stop(i, loop);
  };
}

void ServerMetrics::add_server_source(Model model, std::function<ServerStats()> stats,
                                      std::function<ModelFigures()> figures) {
  remove_server_source();
  server_source_ = registry_.add_source(
      [model, stats = std::move(stats), figures = std::move(figures)](Snapshot& s) {
        fill_server(s, model, stats());
        fill_model(s, figures());
      });
}

void ServerMetrics::remove_server_source() noexcept {
  if (server_source_ == 0) return;
  registry_.remove(server_source_);
  server_source_ = 0;
}

namespace {

Labels loop_labels(size_t index, BackendKind backend) {
  return {{"loop", std::to_string(index)}, {"backend", std::string(to_string(backend))}};
}

}  // namespace

void ServerMetrics::fill_loop(Snapshot& out, size_t index, const EventLoop& loop,
                              size_t connections) {
  const LoopCounters c = loop.counters();
  const BackendStats& b = loop.stats();
  const Labels labels = loop_labels(index, loop.backend_kind());
  fill_turns(out, labels, c);
  out.add_histogram("tern_loop_events_per_wait", "Completions delivered per wait.", labels,
                    c.events_per_wait, metrics::Unit::plain);
  out.add_counter("tern_loop_tasks_total", "Posted tasks run.", labels, double(c.tasks));
  out.add_gauge("tern_loop_connections", "Connections the loop serves now.", labels,
                double(connections));
  out.add_counter("tern_backend_submissions_total", "Operations started.", labels,
                  double(b.submitted));
  out.add_counter("tern_backend_wait_calls_total",
                  "System calls that waited for or collected events.", labels,
                  double(b.wait_calls));
  out.add_counter("tern_backend_cq_overflows_total",
                  "io_uring: completions the kernel had to hold back.", labels,
                  double(b.cq_overflows));
  out.add_counter("tern_backend_enobufs_total",
                  "io_uring: receives that found the buffer ring empty.", labels,
                  double(b.enobufs));
  out.add_counter("tern_backend_rearms_total",
                  "io_uring: requests the kernel ended early that were armed again.", labels,
                  double(b.rearms));
  out.add_counter("tern_backend_fallbacks_total",
                  "Features (or the whole backend) replaced by a slower path.", labels,
                  double(b.fallbacks));
}

// What a loop and an lf thread both have: iterations (an lf thread's turns), busy and waiting
// time, events, timers. Not events per wait: an lf leader takes one event per wait by design.
void ServerMetrics::fill_turns(Snapshot& out, const Labels& labels, const LoopCounters& c) {
  out.add_counter("tern_loop_iterations_total",
                  "Event loop iterations (an lf thread's turns: each wait it led).", labels,
                  double(c.iterations));
  out.add_counter("tern_loop_busy_seconds_total",
                  "Time the loop spent outside a blocking wait (handlers, I/O, timers, tasks).",
                  labels, double(c.busy_ns) * 1e-9);
  out.add_counter("tern_loop_wait_seconds_total",
                  "Time the loop spent blocked in the backend's wait system call (an lf "
                  "thread: waiting for the lead, then for an event).",
                  labels, double(c.wait_ns) * 1e-9);
  out.add_counter("tern_loop_events_total", "Completions delivered by the backend's waits.",
                  labels, double(c.events));
  out.add_counter("tern_loop_timers_total", "Timer callbacks run (an lf thread: deadlines).",
                  labels, double(c.timers));
}

void ServerMetrics::fill_server(Snapshot& out, Model model, const ServerStats& stats) {
  out.add_gauge("tern_server_connections", "Connections open now, across the server.", {},
                double(stats.open_connections));
  out.add_counter("tern_server_accepted_total", "Connections accepted since the start.", {},
                  double(stats.accepted));
  if (model != Model::hsha) return;
  out.add_counter("tern_hsha_pushbacks_total",
                  "Times the request queue was full, so a connection was not read meanwhile.",
                  {}, double(stats.pushbacks));
  out.add_gauge("tern_hsha_queue_depth", "Requests (or ready events) waiting for a worker.",
                {}, double(stats.queue_depth));
}

void ServerMetrics::fill_model(Snapshot& out, const ModelFigures& figures) {
  if (figures.queue_wait) {
    out.add_histogram("tern_hsha_queue_wait_seconds",
                      "Time a request (or ready event) waited in the queue for a worker.", {},
                      *figures.queue_wait);
  }
  for (size_t i = 0; i < figures.worker_busy_ns.size(); ++i) {
    out.add_counter("tern_hsha_worker_busy_seconds_total", "Time the worker spent running tasks.",
                    {{"worker", std::to_string(i)}}, double(figures.worker_busy_ns[i]) * 1e-9);
  }
  for (size_t i = 0; i < figures.lf_threads.size(); ++i) {
    fill_turns(out, loop_labels(i, figures.lf_backend), figures.lf_threads[i]);
  }
  if (figures.handovers) {
    out.add_counter("tern_lf_handovers_total",
                    "Times another thread took the lead (leader/followers).", {},
                    double(*figures.handovers));
  }
}

}  // namespace tern
