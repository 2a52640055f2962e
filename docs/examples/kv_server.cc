// A memcached-text key-value server in one page: a custom protocol (memcache_protocol.h) on
// tern's seam, served under any concurrency model. Try it:
//   build/example-kv-server 11311 &
//   exec 3<>/dev/tcp/127.0.0.1/11311
//   printf 'set greeting 0 0 5\r\nhello\r\nget greeting\r\nquit\r\n' >&3; cat <&3
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "memcache_protocol.h"
#include "tern/tern.h"

namespace {

// Handlers may run on several threads at once (hsha workers, several loops): one lock.
class Store {
 public:
  memcache::Response handle(const memcache::Request& request) {
    using Command = memcache::Request::Command;
    std::lock_guard lock(mutex_);
    switch (request.command) {
      case Command::set:
        map_[std::string(request.key)] = std::string(request.value);
        return {"STORED\r\n"};
      case Command::get: {
        auto it = map_.find(std::string(request.key));
        if (it == map_.end()) return {"END\r\n"};
        return {"VALUE " + it->first + " 0 " + std::to_string(it->second.size()) + "\r\n" +
                it->second + "\r\nEND\r\n"};
      }
      case Command::remove:
        return {map_.erase(std::string(request.key)) ? "DELETED\r\n" : "NOT_FOUND\r\n"};
      case Command::quit:
        return {"", true};
    }
    return {"ERROR\r\n"};
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> map_;
};

}  // namespace

int main(int argc, char** argv) {
  uint16_t port = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 11311;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  Store store;
  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(port);
  options.model = tern::Model::hsha;  // or single, loops: the protocol does not change
  options.workers = 2;
  // Pipelined commands of one connection run one at a time, in order (a set, then a get of the
  // same key), as memcached does; without this, hsha's workers would run them at once.
  options.max_pipeline = 1;
  memcache::Protocol::Options protocol;
  protocol.deadlines.read = std::chrono::seconds(10);  // a command must arrive whole in 10 s
  auto service = tern::Service::of<memcache::Protocol>(
      protocol, tern::BasicHandler<memcache::Request, memcache::Response>::sync(
                    [&store](const memcache::Request& r) { return store.handle(r); }));
  tern::Server server(options, service);
  if (auto error = server.start()) {
    std::fprintf(stderr, "kv-server: %s %s\n", error.message().c_str(),
                 server.error_detail().c_str());
    return 1;
  }
  std::printf("kv-server: memcached text protocol on %s\n",
              server.local_address().to_string().c_str());
  std::fflush(stdout);
  int signo = 0;
  sigwait(&stop, &signo);
  server.shutdown(std::chrono::seconds(5));
}
