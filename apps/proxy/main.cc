// tern-proxy: the access server: HTTP (requests re-framed and balanced one by one over
// persistent upstream pools) or TCP (bytes relayed) load balancing, with active and passive
// health checks, retries within a budget, draining and reload. docs/proxy.md lists the options,
// the admin API and the signals.
//
//   tern-proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081 --upstream 127.0.0.1:8082
//   tern-proxy --config tern-proxy.toml --model loops --threads 2 --admin 127.0.0.1:9901
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "proxy_app.h"
#include "proxy_config.h"
#include "signal_policy.h"

int main(int argc, char** argv) {
  using namespace tern::apps;
  // Before anything starts a thread (docs/signals.md). The callbacks run only inside wait(),
  // once the proxy exists.
  std::unique_ptr<ProxyApp> app;
  ProxyCommandLine command_line;
  SignalPolicy signals({.reload = [&] { return app->reload(command_line); }});
  // A server keeps its heap (see apps/echo/main.cc: page faults per burst otherwise).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);

  if (auto status = command_line.parse(argc, argv)) return *status;
  std::string why;
  auto config = command_line.load(why);
  if (!config) {
    std::fprintf(stderr, "tern-proxy: %s\n", why.c_str());
    return 2;
  }
  app = ProxyApp::create(std::move(*config), why);
  if (!app) {
    std::fprintf(stderr, "tern-proxy: %s\n", why.c_str());
    return 2;
  }
  if (app->start(why)) {
    std::fprintf(stderr, "tern-proxy: %s\n", why.c_str());
    return 1;
  }
  std::printf("tern-proxy: %s\n", app->describe().c_str());
  if (std::string admin = app->describe_admin(); !admin.empty()) {
    std::printf("tern-proxy: %s\n", admin.c_str());
  }
  std::fflush(stdout);

  StopRequest stop = signals.wait();
  if (stop.kind == StopKind::fast_exit) SignalPolicy::fast_exit(stop.signo);
  tern::log(tern::LogLevel::info, "SIG%s: draining", sigabbrev_np(stop.signo));
  app->shutdown();
  return 0;
}
