// tern-echo: answers every message with itself. Flags to ServerOptions, the handler, a signal
// wait; the concurrency model is a flag (tern-echo --help lists the valid combinations).
//
//   tern-echo                                   raw bytes echoed by one loop
//   tern-echo --codec line --model hsha --workers 4 --work-us 100
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "server_flags.h"
#include "signal_policy.h"
#include "tern/tern.h"

namespace {

// Spends `micros` of CPU, as a handler that computes would (not a sleep: a sleeping handler
// costs no CPU and would flatter the models that run many of them at once).
void spin(int micros) {
  if (micros <= 0) return;
  auto until = tern::Clock::now() + std::chrono::microseconds(micros);
  while (tern::Clock::now() < until) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything starts a thread (docs/signals.md). tern-echo has no configuration, so
  // SIGHUP drains as SIGTERM does.
  tern::apps::SignalPolicy signals;
  // Every response is a fresh std::string (the handler's Response). With glibc's defaults a
  // burst of them grows the heap and the next lull gives it back (trim at 128 KiB), so the
  // next burst pays page faults again: measured, 724 against 487 CPU-us/MiB for io_uring at
  // 100 x 16 KiB (docs/benchmarks.md). A server keeps its heap.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
  tern::apps::ServerFlags flags;
  int work_us = 0;
  CLI::App app{"tern-echo: a TCP echo server built on tern"};
  tern::apps::add_server_flags(app, flags);
  app.add_option("--work-us", work_us, "CPU time each request costs the handler (microseconds)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10'000'000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "tern-echo: %s\nRun 'tern-echo --help' for the options.\n",
                 error.what());
    return 2;
  }
  std::string why;
  auto options = tern::apps::to_server_options(flags, why);
  if (!options) {
    std::fprintf(stderr, "tern-echo: %s\n", why.c_str());
    return 2;
  }
  if (!flags.log_file.empty()) {
    if (auto error = tern::set_log_file(flags.log_file.c_str())) {
      std::fprintf(stderr, "tern-echo: cannot open the log file %s: %s\n",
                   flags.log_file.c_str(), error.message().c_str());
      return 1;
    }
  }

  tern::Server server(options.value(), tern::Handler::sync([work_us](tern::Request request) {
                        spin(work_us);
                        return tern::Response(request);
                      }));
  if (auto error = server.start()) {
    std::fprintf(stderr, "tern-echo: cannot listen on %s (backend %s): %s\n",
                 options->address.to_string().c_str(), flags.backend.c_str(),
                 error.message().c_str());
    return 1;
  }
  std::printf("tern-echo: %s\n",
              tern::apps::describe(server.options(), server.local_address(),
                                   server.backend_in_use()).c_str());
  std::fflush(stdout);

  tern::apps::StopRequest stop = signals.wait();
  if (stop.kind == tern::apps::StopKind::fast_exit) tern::apps::SignalPolicy::fast_exit(stop.signo);
  tern::log(tern::LogLevel::info, "SIG%s: draining (up to %d ms)", sigabbrev_np(stop.signo),
            flags.drain_ms);
  server.shutdown(std::chrono::milliseconds(flags.drain_ms));
  return 0;
}
