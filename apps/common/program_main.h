// run_program: the life of a tern server program's process, one copy for tern-httpd, tern-proxy
// and tern-kv: the signal policy first (before any thread starts: docs/signals.md), the heap
// kept (see apps/echo/main.cc: page faults per burst otherwise), the command line and the
// configuration (a bad one: one line and exit 2), the program made and started (exit 2 for a
// configuration only the program can refuse, 1 when it cannot start), its start-up lines on
// stdout ("NAME: listening on ..." first: the tests and scripts read it), then signals until
// one asks it to stop: SIGHUP reloads, SIGUSR1 reopens the logs where the program has logs,
// SIGTERM and SIGINT drain, exit 0; SIGQUIT exits at once.
//
//   int main(int argc, char** argv) {
//     return tern::apps::run_program<KvApp, KvCommandLine>("tern-kv", argc, argv);
//   }
//
// What App offers: static std::unique_ptr<App> create(Config, std::string& why);
// std::error_code start(std::string& why); std::string describe() const;
// std::error_code reload(const CommandLine&); void shutdown(); optionally
// std::error_code reopen_logs() and std::string describe_admin() const (a second start-up
// line when not empty). CommandLine: std::optional<int> parse(argc, argv) (an exit status when
// the program ends there: --help, a bad flag) and std::optional<Config> load(std::string& why).
//
// Thread rule: the main thread, as main().
#pragma once

#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "signal_policy.h"
#include "tern/base/logging.h"

namespace tern::apps {

template <class App, class CommandLine>
int run_program(const char* name, int argc, char** argv) {
  // The callbacks run only inside wait(), once the app exists.
  std::unique_ptr<App> app;
  CommandLine command_line;
  SignalPolicy::Callbacks callbacks{.reload = [&] { return app->reload(command_line); }};
  if constexpr (requires(App& a) { a.reopen_logs(); }) {
    callbacks.reopen_logs = [&] { return app->reopen_logs(); };
  }
  SignalPolicy signals(std::move(callbacks));
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);

  if (auto status = command_line.parse(argc, argv)) return *status;
  std::string why;
  auto config = command_line.load(why);
  if (config) app = App::create(std::move(*config), why);
  if (!app) {
    std::fprintf(stderr, "%s: %s\n", name, why.c_str());
    return 2;
  }
  if (app->start(why)) {
    std::fprintf(stderr, "%s: %s\n", name, why.c_str());
    return 1;
  }
  std::printf("%s: %s\n", name, app->describe().c_str());
  if constexpr (requires(const App& a) { a.describe_admin(); }) {
    if (std::string admin = app->describe_admin(); !admin.empty()) {
      std::printf("%s: %s\n", name, admin.c_str());
    }
  }
  std::fflush(stdout);

  StopRequest stop = signals.wait();
  if (stop.kind == StopKind::fast_exit) SignalPolicy::fast_exit(stop.signo);
  log(LogLevel::info, "SIG%s: draining", sigabbrev_np(stop.signo));
  app->shutdown();
  return 0;
}

}  // namespace tern::apps
