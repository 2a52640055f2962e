// tern-httpd: an HTTP/1.1 server: static files from a root, /plaintext and /json, under every
// concurrency model and backend. Embedded defaults (127.0.0.1:8080, ./www): no config file
// needed. docs/httpd.md lists the options and the signals.
//
//   tern-httpd                                      ./www on 127.0.0.1:8080
//   tern-httpd --config httpd.toml --model loops --threads 2
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "httpd.h"
#include "httpd_config.h"
#include "signal_policy.h"

int main(int argc, char** argv) {
  using namespace tern::apps;
  // Before anything starts a thread (docs/signals.md). The callbacks run only inside wait(),
  // once the server exists.
  std::unique_ptr<Httpd> httpd;
  HttpdCommandLine command_line;
  SignalPolicy signals({
      .reload = [&] { return httpd->reload(command_line); },
      .reopen_logs = [&] { return httpd->reopen_logs(); },
  });
  // A server keeps its heap (see apps/echo/main.cc: page faults per burst otherwise).
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);

  if (auto status = command_line.parse(argc, argv)) return *status;
  std::string why;
  auto config = command_line.load(why);
  if (!config) {
    std::fprintf(stderr, "tern-httpd: %s\n", why.c_str());
    return 2;
  }
  httpd = Httpd::create(std::move(*config), why);
  if (!httpd) {
    std::fprintf(stderr, "tern-httpd: %s\n", why.c_str());
    return 2;
  }
  if (httpd->start(why)) {
    std::fprintf(stderr, "tern-httpd: %s\n", why.c_str());
    return 1;
  }
  std::printf("tern-httpd: %s\n", httpd->describe().c_str());
  std::fflush(stdout);

  StopRequest stop = signals.wait();
  if (stop.kind == StopKind::fast_exit) SignalPolicy::fast_exit(stop.signo);
  tern::log(tern::LogLevel::info, "SIG%s: draining", sigabbrev_np(stop.signo));
  httpd->shutdown();
  return 0;
}
