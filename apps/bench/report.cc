#include "report.h"

#include <cstdio>

#include "json_writer.h"

namespace tern::bench {
namespace {

std::string format(const char* fmt, auto... args) {
  char text[256];
  std::snprintf(text, sizeof text, fmt, args...);
  return text;
}

std::string duration_text(uint64_t ns) {
  if (ns < 1'000) return format("%llu ns", static_cast<unsigned long long>(ns));
  if (ns < 1'000'000) return format("%.2f us", double(ns) / 1e3);
  if (ns < 1'000'000'000) return format("%.2f ms", double(ns) / 1e6);
  return format("%.3f s", double(ns) / 1e9);
}

double per_second(uint64_t count, double seconds) {
  return seconds > 0 ? double(count) / seconds : 0.0;
}

bool has_status(Mode mode) { return mode == Mode::http; }

bool is_http_target(const BenchOptions& o) { return o.target.is_http; }

std::string mode_line(const BenchOptions& o) {
  std::string line = format("tern-bench %s %s: %d thread%s, %d connection%s", to_string(o.mode),
                            o.target_text.c_str(), o.threads, o.threads == 1 ? "" : "s",
                            o.connections, o.connections == 1 ? "" : "s");
  if (o.mode == Mode::http || o.mode == Mode::echo || o.mode == Mode::rr ||
      o.mode == Mode::redis) {
    line += format(", pipeline %d", o.pipeline);
  }
  if (o.mode != Mode::idle) {
    line += o.rate > 0 ? format(", open loop %.0f req/s", o.rate) : std::string(", closed loop");
  }
  line += ", backend " + o.backend;
  return line + "\n";
}

void latency_json(JsonWriter& json, const char* key, const metrics::Histogram& h) {
  json.begin_object(key)
      .value("count", h.count())
      .value("min", h.min())
      .value("mean", h.mean())
      .value("p50", h.percentile(50))
      .value("p90", h.percentile(90))
      .value("p99", h.percentile(99))
      .value("p99_9", h.percentile(99.9))
      .value("max", h.max())
      .end_object();
}

double bytes_per_connection(const IdleResult& idle) {
  if (idle.open_at_sample == 0 || idle.rss_after_kib <= idle.rss_before_kib) return 0.0;
  return double(idle.rss_after_kib - idle.rss_before_kib) * 1024.0 / double(idle.open_at_sample);
}

// [[ns, cumulative fraction], ...] for plots: a point per 0.1% of the values, finer in the
// tail (per 0.01% above p99), and the last bucket; bounded, whatever the spread.
void latency_cdf_json(JsonWriter& json, const metrics::Histogram& h) {
  json.begin_array("latency_cdf");
  double last = -1;
  h.for_each_bucket([&](uint64_t value, uint64_t, double fraction) {
    const double step = fraction > 0.99 ? 0.0001 : 0.001;
    if (fraction - last >= step || fraction >= 1.0) {
      json.begin_array().value({}, value).value({}, fraction).end_array();
      last = fraction;
    }
  });
  json.end_array();
}

}  // namespace

std::string render_text(const BenchOptions& o, const RunResult& r) {
  const auto& s = r.stats;
  std::string out = mode_line(o);
  if (r.unreachable) {
    out += "  no connection could be opened: " + s.first_error + "\n";
    return out;
  }
  if (o.mode == Mode::idle) {
    out += format("  open %llu of %d, closed by the server %llu, connect errors %llu\n",
                  static_cast<unsigned long long>(s.open), o.connections,
                  static_cast<unsigned long long>(s.closed_by_server),
                  static_cast<unsigned long long>(s.errors.connect));
    if (r.idle) {
      const double per = bytes_per_connection(*r.idle);
      out += format("  server pid %d: RSS %llu KiB before, %llu KiB after, %.0f bytes/connection\n",
                    o.pid, static_cast<unsigned long long>(r.idle->rss_before_kib),
                    static_cast<unsigned long long>(r.idle->rss_after_kib), per);
    }
    if (r.server) {
      out += format("  server   pid %d: %.2f s CPU over the %.3f s hold, busy %.2f%s\n",
                    r.server->pid, r.server->cpu_s, r.duration_s,
                    r.duration_s > 0 ? r.server->cpu_s / r.duration_s : 0.0,
                    r.server->gone ? " (the process was gone)" : "");
    }
  } else {
    const char* unit = o.mode == Mode::connrate ? "connections" : "requests";
    out += format("  %.3f s measured: %llu %s, %.1f %s/s, %.2f MiB/s received\n", r.duration_s,
                  static_cast<unsigned long long>(s.measured_replies), unit,
                  per_second(s.measured_replies, r.duration_s), unit,
                  per_second(s.measured_bytes_received, r.duration_s) / (1 << 20));
    const auto& h = s.latency;
    out += format("  latency  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
                  duration_text(h.percentile(50)).c_str(), duration_text(h.percentile(90)).c_str(),
                  duration_text(h.percentile(99)).c_str(),
                  duration_text(h.percentile(99.9)).c_str(), duration_text(h.max()).c_str(),
                  duration_text(uint64_t(h.mean())).c_str());
    if (o.mode == Mode::connrate) {
      const auto& c = s.connect_latency;
      out += format("  connect  p50 %s  p90 %s  p99 %s  max %s\n",
                    duration_text(c.percentile(50)).c_str(), duration_text(c.percentile(90)).c_str(),
                    duration_text(c.percentile(99)).c_str(), duration_text(c.max()).c_str());
    }
    if (has_status(o.mode) || (o.mode == Mode::connrate && is_http_target(o))) {
      out += format("  status   1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu\n",
                    static_cast<unsigned long long>(s.status[0]),
                    static_cast<unsigned long long>(s.status[1]),
                    static_cast<unsigned long long>(s.status[2]),
                    static_cast<unsigned long long>(s.status[3]),
                    static_cast<unsigned long long>(s.status[4]));
    }
  }
  const auto& e = s.errors;
  out += format("  errors   connect %llu  read %llu  write %llu  timeout %llu  closed %llu  "
                "mismatch %llu  parse %llu\n",
                static_cast<unsigned long long>(e.connect), static_cast<unsigned long long>(e.read),
                static_cast<unsigned long long>(e.write),
                static_cast<unsigned long long>(e.timeout),
                static_cast<unsigned long long>(e.closed),
                static_cast<unsigned long long>(e.mismatch),
                static_cast<unsigned long long>(e.parse));
  const auto& t = s.totals;
  out += format("  totals   sent %llu  replies %llu  bytes sent %llu  received %llu  connects %llu\n",
                static_cast<unsigned long long>(t.requests_sent),
                static_cast<unsigned long long>(t.replies),
                static_cast<unsigned long long>(t.bytes_sent),
                static_cast<unsigned long long>(t.bytes_received),
                static_cast<unsigned long long>(t.connects));
  if (r.server && o.mode != Mode::idle) {
    out += format("  server   pid %d: %.2f s CPU, %.2f us/request, busy %.2f%s\n", r.server->pid,
                  r.server->cpu_s,
                  s.measured_replies ? r.server->cpu_s * 1e6 / double(s.measured_replies) : 0.0,
                  r.duration_s > 0 ? r.server->cpu_s / r.duration_s : 0.0,
                  r.server->gone ? " (the process was gone)" : "");
  }
  if (!s.first_error.empty() && e.total() > 0) out += "  first error: " + s.first_error + "\n";
  if (r.interrupted) out += "  (stopped early by a signal)\n";
  if (r.stalled) out += "  (stopped: no reply for twice --timeout)\n";
  return out;
}

std::string render_json(const BenchOptions& o, const RunResult& r) {
  const auto& s = r.stats;
  JsonWriter json;
  json.begin_object()
      .value("tool", "tern-bench")
      .value("mode", to_string(o.mode))
      .value("target", o.target_text)
      .value("threads", o.threads)
      .value("connections", o.connections)
      .value("pipeline", o.pipeline)
      .value("rate", o.rate)
      .value("backend", o.backend)
      .value("duration_s", r.duration_s)
      .value("requests", s.measured_replies)
      .value("requests_per_s", per_second(s.measured_replies, r.duration_s))
      .value("bytes_per_s", per_second(s.measured_bytes_received, r.duration_s));
  latency_json(json, "latency_ns", s.latency);
  latency_cdf_json(json, s.latency);
  if (o.mode == Mode::connrate) latency_json(json, "connect_latency_ns", s.connect_latency);
  if (o.target.is_http) {
    json.begin_object("status")
        .value("1xx", s.status[0])
        .value("2xx", s.status[1])
        .value("3xx", s.status[2])
        .value("4xx", s.status[3])
        .value("5xx", s.status[4])
        .end_object();
  }
  const auto& e = s.errors;
  json.begin_object("errors")
      .value("connect", e.connect)
      .value("read", e.read)
      .value("write", e.write)
      .value("timeout", e.timeout)
      .value("closed", e.closed)
      .value("mismatch", e.mismatch)
      .value("parse", e.parse)
      .end_object();
  const auto& t = s.totals;
  json.begin_object("totals")
      .value("requests_sent", t.requests_sent)
      .value("replies", t.replies)
      .value("bytes_sent", t.bytes_sent)
      .value("bytes_received", t.bytes_received)
      .value("connects", t.connects)
      .end_object();
  json.begin_array("series");
  for (const auto& point : r.series) {
    json.begin_object()
        .value("t", point.t)
        .value("requests", point.requests)
        .value("errors", point.errors)
        .end_object();
  }
  json.end_array();
  if (r.server) {
    json.begin_object("server")
        .value("pid", r.server->pid)
        .value("cpu_s", r.server->cpu_s)
        .value("cpu_us_per_request",
               s.measured_replies ? r.server->cpu_s * 1e6 / double(s.measured_replies) : 0.0)
        .value("busy", r.duration_s > 0 ? r.server->cpu_s / r.duration_s : 0.0)
        .end_object();
  }
  if (o.mode == Mode::idle) {
    const uint64_t before = r.idle ? r.idle->rss_before_kib : 0;
    const uint64_t after = r.idle ? r.idle->rss_after_kib : 0;
    const double per = r.idle ? bytes_per_connection(*r.idle) : 0.0;
    json.begin_object("idle")
        .value("open", s.open)
        .value("closed_by_server", s.closed_by_server)
        .value("rss_before_kib", before)
        .value("rss_after_kib", after)
        .value("bytes_per_connection", per)
        .end_object();
  }
  json.value("interrupted", r.interrupted);
  if (!s.first_error.empty()) json.value("first_error", s.first_error);
  json.end_object();
  return json.text() + "\n";
}

int exit_status(const BenchOptions& o, const RunResult& r) {
  const auto& s = r.stats;
  if (r.unreachable) return 1;
  if (s.errors.mismatch > 0 || s.errors.parse > 0) return 1;
  if (o.mode == Mode::idle) return s.open > 0 ? 0 : 1;
  // The figures are those of the measured interval: none there is a failed run, whatever the
  // warm-up did (a signal that cut the run short is not a failure).
  if (s.measured_replies == 0 && !r.interrupted) return 1;
  return 0;
}

}  // namespace tern::bench
