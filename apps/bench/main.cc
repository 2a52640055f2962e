// tern-bench: a load generator built on tern (one EventLoop per thread). Modes http, echo,
// rr, idle, connrate; flags, output and exit status as /work/notes/s16/spec.md section 2 and
// `tern-bench --help` describe them.
//
//   tern-bench http -c 64 -d 5 --pipeline 16 http://127.0.0.1:8080/plaintext
//   tern-bench echo -c 100 -s 16384 127.0.0.1:9000
//   tern-bench idle -c 10000 --pid $(pidof nginx) --hold 2 http://127.0.0.1:8080/
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "bench_run.h"
#include "options.h"
#include "process_sampler.h"
#include "report.h"

namespace {

// 10,000 connections need 10,000 fds: the soft limit goes up to the hard one.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  tern::bench::BenchOptions options;
  if (int status = tern::bench::parse_command_line(argc, argv, options); status != 0) {
    return status < 0 ? 0 : status;
  }
  if (options.pid > 0 && !tern::bench::ProcessSampler(options.pid).cpu_seconds()) {
    std::fprintf(stderr, "tern-bench: bad --pid %d: no such process\n", options.pid);
    return 2;
  }
  raise_fd_limit();
  ::signal(SIGPIPE, SIG_IGN);

  tern::bench::RunResult result;
  std::string why;
  {
    tern::bench::BenchRun run(options);
    if (!run.run(result, why)) {
      std::fprintf(stderr, "tern-bench: %s\n", why.c_str());
      return 1;
    }
  }
  if (result.unreachable) {
    if (result.stats.first_error.empty()) {
      result.stats.first_error = "no connection to " + options.target.address.to_string() +
                                 " opened within --timeout";
    }
    std::fprintf(stderr, "tern-bench: %s\n", result.stats.first_error.c_str());
  }
  const std::string report = options.json ? tern::bench::render_json(options, result)
                                          : tern::bench::render_text(options, result);
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  const int status = tern::bench::exit_status(options, result);
  if (status != 0 && !result.unreachable && options.mode != tern::bench::Mode::idle &&
      result.stats.measured_replies == 0) {
    // The run failed without a socket error to show for it: say what failed.
    std::fprintf(stderr, "tern-bench: no reply completed in the measured interval%s\n",
                 result.stats.totals.replies > 0 && options.requests > 0 && options.warmup_s > 0
                     ? " (the --requests budget was spent in the warm-up)"
                     : "");
  }
  return status;
}
