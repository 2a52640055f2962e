#include "bench_run.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "http_exchange.h"
#include "process_sampler.h"
#include "progress_reporter.h"
#include "redis_client_session.h"
#include "run_control.h"
#include "stamped_exchange.h"
#include "thread_driver.h"
#include "tern/loop/loop_group.h"

namespace tern::bench {
namespace {

using Seconds = std::chrono::duration<double>;

Duration to_duration(double seconds) {
  return std::chrono::duration_cast<Duration>(Seconds(seconds));
}

double seconds_between(TimePoint a, TimePoint b) { return Seconds(b - a).count(); }

Role role_of(Mode mode) {
  switch (mode) {
    case Mode::connrate: return Role::connrate;
    case Mode::idle: return Role::idle;
    default: return Role::load;
  }
}

std::unique_ptr<Workload> make_workload(const BenchOptions& o) {
  const size_t depth = role_of(o.mode) == Role::load ? size_t(o.pipeline) : 1;
  if (o.target.is_http) return std::make_unique<HttpWorkload>(render_http_request(o), depth);
  if (o.mode == Mode::redis) {
    return std::make_unique<RedisClientWorkload>(make_redis_command(o),
                                                 o.redis_command == RedisCommand::get,
                                                 o.target.address, depth, to_duration(o.timeout_s));
  }
  auto format = StampedWorkload::Format::echo_block;
  if (o.mode == Mode::rr) {
    format = o.framing == Framing::line ? StampedWorkload::Format::line
                                        : StampedWorkload::Format::length_prefixed;
  }
  return std::make_unique<StampedWorkload>(format, o.size, depth);
}

std::vector<ThreadPlan> make_plans(const BenchOptions& o) {
  std::vector<ThreadPlan> plans;
  const auto threads = size_t(o.threads);
  const auto connections = size_t(o.connections);
  for (size_t i = 0; i < threads; ++i) {
    ThreadPlan plan;
    plan.index = i;
    plan.role = role_of(o.mode);
    plan.connections = connections / threads + (i < connections % threads ? 1 : 0);
    plan.depth = plan.role == Role::load ? size_t(o.pipeline) : 1;
    plan.limited = o.requests > 0 && o.mode != Mode::idle;
    plan.budget = o.requests / threads + (i < o.requests % threads ? 1 : 0);
    plan.rate = o.rate * double(plan.connections) / double(connections);
    plan.timeout = to_duration(o.timeout_s);
    plan.peer = o.target.address;
    plan.idle_request = o.mode == Mode::idle && o.send_request;
    plans.push_back(plan);
  }
  return plans;
}

std::error_code pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); rc != 0) {
    return {rc, std::system_category()};
  }
  return {};
}

void mark(const char* what) {
  std::fprintf(stderr, "MARK %s\n", what);
  std::fflush(stderr);
}

enum class Woken { deadline, report, signal };

// The server's CPU time between two samples (either missing: the process was gone).
ServerUsage server_usage(int pid, std::optional<double> cpu0, std::optional<double> cpu1) {
  ServerUsage usage;
  usage.pid = pid;
  usage.gone = !cpu0 || !cpu1;
  usage.cpu_s = cpu0 && cpu1 ? *cpu1 - *cpu0 : 0.0;
  return usage;
}

}  // namespace

struct BenchRun::State {
  explicit State(const BenchOptions& o)
      : control(size_t(o.threads)), progress(o.progress), plans(make_plans(o)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    for (int i = 0; i < o.threads; ++i) workloads.push_back(make_workload(o));
    drivers.resize(size_t(o.threads));
    results.resize(size_t(o.threads));
  }
  ~State() {
    group.stop();
    if (signal_fd >= 0) ::close(signal_fd);
  }

  // Waits for a thread's report, a signal or `deadline`, whichever comes first.
  Woken wait(TimePoint deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {control.wake_fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, int(std::clamp<int64_t>(left.count(), 0, 1000)));
    if (n > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info;
      [[maybe_unused]] auto got = ::read(signal_fd, &info, sizeof info);
      return Woken::signal;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      control.drain_wakeups();
      return Woken::report;
    }
    return Woken::deadline;
  }

  template <class F>
  void on_each_loop(F f) {
    for (size_t i = 0; i < drivers.size(); ++i) {
      group.post(i, [this, i, f] { f(*drivers[i]); });
    }
  }

  uint64_t sum(std::atomic<uint64_t> LiveCounters::*field) {
    uint64_t total = 0;
    for (size_t i = 0; i < control.threads(); ++i) {
      total += (control.live(i).*field).load(std::memory_order_relaxed);
    }
    return total;
  }

  RunControl control;
  ProgressReporter progress;
  std::vector<ThreadPlan> plans;
  std::vector<std::unique_ptr<Workload>> workloads;
  std::vector<std::unique_ptr<ThreadDriver>> drivers;  // drivers[i] lives on loop i
  std::vector<ThreadStats> results;                    // filled by the teardown
  LoopGroup group;  // declared last: stopped (and its teardowns run) first
  int signal_fd = -1;
};

BenchRun::BenchRun(const BenchOptions& options)
    : options_(options), state_(std::make_unique<State>(options)) {}

BenchRun::~BenchRun() = default;

bool BenchRun::run(RunResult& result, std::string& why) {
  const BenchOptions& o = options_;
  State& s = *state_;
  std::optional<ProcessSampler> server;
  if (o.pid > 0) server.emplace(o.pid);
  if (server && o.mode == Mode::idle) {
    result.idle.emplace();
    result.idle->rss_before_kib = server->rss_kib().value_or(0);
  }

  LoopGroupOptions group_options;
  group_options.backend = *parse_backend_kind(o.backend);
  group_options.backend_options.strict = true;  // uring unavailable: an error, not epoll
  group_options.threads = o.threads;
  group_options.name = "tern-bench";
  std::error_code started = s.group.start(
      group_options,
      [&](size_t i, EventLoop& loop) -> std::error_code {
        if (!o.cpus.empty()) {
          if (auto error = pin_to(o.cpus[i % o.cpus.size()])) return error;
        }
        s.drivers[i] = std::make_unique<ThreadDriver>(loop, s.plans[i], *s.workloads[i], s.control);
        s.drivers[i]->start();
        return {};
      },
      [&](size_t i, EventLoop&) {
        if (!s.drivers[i]) return;
        s.drivers[i]->finish();
        s.results[i] = std::move(s.drivers[i]->stats());
        s.drivers[i].reset();
      });
  if (started) {
    why = group_options.backend == BackendKind::uring
              ? "--backend uring: io_uring is unavailable here (" + started.message() +
                    "); try --backend epoll"
              : "cannot start " + std::to_string(o.threads) + " loop(s) on the " + o.backend +
                    " backend: " + started.message();
    return false;
  }
  if (!o.cpus.empty()) {
    // The main thread wakes once a second: keep it off the server's core too.
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : o.cpus) CPU_SET(cpu, &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
  }

  // 1. Connect: every connection tries once (idle: and is answered), at most kMaxConnecting
  //    at a time per thread, each attempt bounded by --timeout.
  const size_t waves = (s.plans[0].connections + ThreadDriver::kMaxConnecting - 1) /
                       ThreadDriver::kMaxConnecting;
  const TimePoint connect_deadline =
      Clock::now() + to_duration(o.timeout_s * double(waves + (o.send_request ? 1 : 0))) +
      std::chrono::seconds(1);
  const TimePoint run_start = Clock::now();
  TimePoint next_progress = run_start + std::chrono::seconds(1);
  while (!s.control.all_ready() && Clock::now() < connect_deadline) {
    if (s.wait(std::min(connect_deadline, next_progress)) == Woken::signal) {
      result.interrupted = true;
      break;
    }
    if (Clock::now() >= next_progress) {
      next_progress += std::chrono::seconds(1);
      s.progress.update("connect", seconds_between(run_start, Clock::now()), 0,
                        s.sum(&LiveCounters::errors), s.sum(&LiveCounters::open));
    }
  }
  // Every thread published its connects before its ready report (acquire in all_ready()), so
  // this sum is not older than the reports; after the deadline it is what is known by then.
  if (s.sum(&LiveCounters::connects) == 0 && !result.interrupted) {
    result.unreachable = true;
  } else if (!result.interrupted && o.mode == Mode::idle) {
    // 2 (idle). Hold the connections.
    if (server) {
      result.idle->rss_after_kib = server->rss_kib().value_or(0);
      result.idle->open_at_sample = s.sum(&LiveCounters::open);
    }
    s.control.set_phase(Phase::holding);
    const TimePoint hold_start = Clock::now();
    const std::optional<double> cpu0 = server ? server->cpu_seconds() : std::nullopt;
    const TimePoint hold_end =
        o.hold_s > 0 ? hold_start + to_duration(o.hold_s) : TimePoint::max();
    TimePoint next_tick = hold_start + std::chrono::seconds(1);
    while (Clock::now() < hold_end) {
      Woken woken = s.wait(std::min(hold_end, next_tick));
      if (woken == Woken::signal) {
        result.interrupted = true;
        break;
      }
      if (Clock::now() >= next_tick) {
        next_tick += std::chrono::seconds(1);
        s.progress.update("hold", seconds_between(hold_start, Clock::now()), 0,
                          s.sum(&LiveCounters::errors), s.sum(&LiveCounters::open));
      }
    }
    result.duration_s = seconds_between(hold_start, Clock::now());
    if (server) result.server = server_usage(o.pid, cpu0, server->cpu_seconds());
  } else if (!result.interrupted) {
    // 2. Warm-up, 3. the measured interval, 4. drain.
    const bool warm = o.warmup_s > 0;
    s.control.set_phase(warm ? Phase::warmup : Phase::measuring);
    TimePoint t0 = Clock::now();
    if (!warm && o.mark) mark("measure-start");
    std::optional<double> cpu0 = server && !warm ? server->cpu_seconds() : std::nullopt;
    s.on_each_loop([](ThreadDriver& d) { d.go(); });
    uint64_t last_replies = 0;
    TimePoint last_progress = t0;
    bool finished = false;  // the --requests budget is done
    if (warm) {
      const TimePoint warm_end = t0 + to_duration(o.warmup_s);
      TimePoint next_tick = t0 + std::chrono::seconds(1);
      while (Clock::now() < warm_end) {
        Woken woken = s.wait(std::min(warm_end, next_tick));
        if (woken == Woken::signal) {
          result.interrupted = true;
          break;
        }
        if (s.control.all_quiet()) {
          finished = true;
          break;
        }
        if (Clock::now() >= next_tick) {
          next_tick += std::chrono::seconds(1);
          const uint64_t replies = s.sum(&LiveCounters::replies);
          const TimePoint now = Clock::now();
          s.progress.update("warmup", seconds_between(t0, now),
                            double(replies - last_replies) / seconds_between(last_progress, now),
                            s.sum(&LiveCounters::errors), s.sum(&LiveCounters::open));
          last_replies = replies;
          last_progress = now;
        }
      }
      s.control.set_phase(Phase::measuring);
      t0 = Clock::now();
      if (o.mark) mark("measure-start");
      if (server) cpu0 = server->cpu_seconds();
    }
    const TimePoint measure_end =
        o.duration_s > 0 ? t0 + to_duration(o.duration_s) : TimePoint::max();
    TimePoint next_tick = t0 + std::chrono::seconds(1);
    uint64_t series_replies = 0, series_errors = s.sum(&LiveCounters::errors);
    uint64_t stall_replies = s.sum(&LiveCounters::replies);
    TimePoint stall_since = t0;
    const Duration stall_limit = to_duration(2 * o.timeout_s);
    int tick = 0;
    while (!result.interrupted && !finished && Clock::now() < measure_end) {
      Woken woken = s.wait(std::min(measure_end, next_tick));
      if (woken == Woken::signal) {
        result.interrupted = true;
        break;
      }
      if (s.control.all_quiet()) break;
      const TimePoint now = Clock::now();
      if (now < next_tick) continue;
      next_tick += std::chrono::seconds(1);
      const uint64_t measured = s.sum(&LiveCounters::measured_replies);
      const uint64_t errors = s.sum(&LiveCounters::errors);
      const uint64_t replies = s.sum(&LiveCounters::replies);
      result.series.push_back({double(++tick), measured - series_replies, errors - series_errors});
      series_replies = measured;
      series_errors = errors;
      s.progress.update("measure", seconds_between(t0, now),
                        double(replies - last_replies) / seconds_between(last_progress, now),
                        errors, s.sum(&LiveCounters::open));
      last_replies = replies;
      last_progress = now;
      if (replies != stall_replies) {
        stall_replies = replies;
        stall_since = now;
      } else if (o.duration_s == 0 && now - stall_since >= stall_limit) {
        result.stalled = true;
        break;
      }
    }
    const TimePoint t1 = Clock::now();
    s.control.set_phase(Phase::draining);
    if (o.mark) mark("measure-end");
    if (server) result.server = server_usage(o.pid, cpu0, server->cpu_seconds());
    result.duration_s = seconds_between(t0, t1);
    const double last_t = double(tick);
    if (result.duration_s - last_t > 0.001) {
      // Its request count is filled in from the threads' own stats once they have stopped.
      result.series.push_back({result.duration_s, 0, s.sum(&LiveCounters::errors) - series_errors});
    }
    // Replies still outstanding: at most --timeout more, then the connections close.
    s.on_each_loop([](ThreadDriver& d) { d.drain(); });
    const TimePoint drain_end = Clock::now() + to_duration(o.timeout_s);
    while (!s.control.all_quiet() && Clock::now() < drain_end) {
      if (s.wait(drain_end) == Woken::signal) break;
    }
  }
  s.progress.finish();
  s.group.stop();  // each teardown moves its thread's stats into results
  for (auto& stats : s.results) result.stats.merge(stats);
  if (!result.series.empty()) {
    // The last point takes what the live figures had not published yet: the series adds up
    // to the measured count.
    uint64_t before = 0;
    for (size_t i = 0; i + 1 < result.series.size(); ++i) before += result.series[i].requests;
    const uint64_t total = result.stats.measured_replies;
    result.series.back().requests = total > before ? total - before : 0;
  }
  return true;
}

}  // namespace tern::bench
