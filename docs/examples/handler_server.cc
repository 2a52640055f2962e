// A line-protocol server whose handler may block: it runs on 4 worker threads
// (half-sync/half-async), and the same handler runs under any other model by changing
// options.model (tern-echo --help lists the valid combinations).
#include <csignal>
#include <cstdio>

#include "tern/tern.h"

int main() {
  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(9001);
  options.codec = tern::Codec(tern::Framing::line);
  options.model = tern::Model::hsha;
  options.workers = 4;

  tern::Server server(options, tern::Handler::sync([](tern::Request request) {
    return "you said: " + tern::Response(request);  // may block: only this worker waits
  }));

  sigset_t stop;  // blocked before start(), so the server's threads never take it
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (auto error = server.start()) {
    std::fprintf(stderr, "start: %s %s\n", error.message().c_str(), server.error_detail().c_str());
    return 1;
  }
  int signo;
  sigwait(&stop, &signo);
  server.shutdown(std::chrono::seconds(5));  // answers what was read, then closes
}
