// A line server that remembers who talked to it and, on SIGUSR1, closes those connections from
// the main thread: a handler learns its connection's ConnId from its Reply, and
// Server::post_to runs a task on that connection's own thread. A client already gone is a
// stale id: its task runs nothing, so the list needs no cleaning for correctness.
//
//   ./example-kick-server &
//   nc 127.0.0.1 9002          (type a line: "ok: ..." comes back)
//   kill -USR1 %1              (every client gets the answers it is owed, then EOF)
//   kill -INT %1
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <utility>
#include <vector>

#include "tern/tern.h"

// The ids of the connections that sent something. Any thread.
class Clients {
 public:
  void remember(tern::ConnId id) {
    std::lock_guard lock(mutex_);
    if (std::find(ids_.begin(), ids_.end(), id) == ids_.end()) ids_.push_back(id);
  }
  std::vector<tern::ConnId> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(ids_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<tern::ConnId> ids_;
};

int main() {
  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(9002);
  options.codec = tern::Codec(tern::Framing::line);
  options.model = tern::Model::loops;
  options.threads = 2;

  Clients clients;
  tern::Server server(options, tern::Handler::async([&](tern::Request request, tern::Reply reply) {
    clients.remember(reply.connection());
    reply.send("ok: " + tern::Response(request));
  }));

  sigset_t signals;  // blocked before start(), so the server's threads never take them
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (auto error = server.start()) {
    std::fprintf(stderr, "start: %s %s\n", error.message().c_str(), server.error_detail().c_str());
    return 1;
  }
  for (int signo = 0; sigwait(&signals, &signo) == 0 && signo == SIGUSR1;) {
    for (tern::ConnId id : clients.take()) {
      // Runs on the connection's loop thread, or not at all if the client has left.
      server.post_to(id, [](tern::ConnectionRef connection) {
        std::printf("kicking connection %u (%zu answers owed first)\n", connection.id().slot,
                    connection.in_flight());
        std::fflush(stdout);
        connection.close();
      });
    }
  }
  server.shutdown(std::chrono::seconds(5));
}
