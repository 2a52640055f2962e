// An HTTP/1.1 service in a few lines: two routes, a path parameter, a handler that answers
// later from another thread, and a middleware. The same router runs under every model: change
// options.model (tern-httpd --help lists the valid combinations).
//
//   curl -i http://127.0.0.1:8081/hello/world
#include <csignal>
#include <cstdio>
#include <thread>

#include "tern/http.h"

namespace http = tern::http;

int main() {
  http::Router router;
  router.get("/hello/{name}", [](const http::Request& request) {
    return http::Response::text(200, "hello, " + std::string(*request.param("name")) + "\n");
  });
  router.get_async("/later", [](const http::Request&, http::Reply reply) {
    std::thread([reply = std::move(reply)]() mutable {  // any thread may answer
      reply.send(http::Response::text(200, "done\n"));
    }).detach();
  });
  router.use([](const http::Request& request) -> std::optional<http::Response> {
    if (request.path.starts_with("/admin")) return http::Response::text(403, "no\n");
    return std::nullopt;  // on to the route
  });

  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(8081);
  options.model = tern::Model::loops;
  options.threads = 2;
  tern::Server server(options, http::service(router));

  sigset_t stop;  // blocked before start(), so the server's threads never take it
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (auto error = server.start()) {
    std::fprintf(stderr, "start: %s %s\n", error.message().c_str(), server.error_detail().c_str());
    return 1;
  }
  int signo;
  sigwait(&stop, &signo);
  server.shutdown(std::chrono::seconds(5));  // answers what was read, with Connection: close
}
