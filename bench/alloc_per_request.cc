// Heap allocations per request, counted by replacing operator new: a server in this process
// answers pipelined 16-byte lines from one client connection, and the allocations made during
// the measured requests (server and client alike; the client allocates nothing) are divided
// by their number. Deterministic, so it runs on a noisy machine and shows what a change to the
// request path costs. Uses only the API that tern::Server has had since the models landed, so
// the same file measures an older checkout.
//
//   alloc_per_request [requests]     one line per model and line size
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "tern/tern.h"

namespace {
std::atomic<uint64_t> allocations{0};
}  // namespace

void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

constexpr int kDepth = 16;  // requests in flight per round (within the pipeline limit)

bool round_trip(int fd, int rounds, size_t line_size) {
  std::string line(line_size - 1, 'x');
  line += '\n';
  std::string batch;
  for (int i = 0; i < kDepth; ++i) batch += line;
  char buffer[4096];
  for (int r = 0; r < rounds; ++r) {
    if (::send(fd, batch.data(), batch.size(), MSG_NOSIGNAL) != ssize_t(batch.size())) return false;
    size_t got = 0;
    while (got < batch.size()) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
  }
  return true;
}

double measure(tern::Model model, tern::BackendKind backend, int workers, int requests,
               size_t line_size) {
  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(0);
  options.backend = backend;
  options.model = model;
  options.workers = workers;
  options.codec = tern::Codec(tern::Framing::line);
  tern::Server server(options, tern::Handler::sync([](tern::Request r) {
    return tern::Response(r);  // up to 15 bytes fits the string's inline buffer
  }));
  if (server.start()) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = server.local_address();
  if (::connect(fd, address.sockaddr_ptr(), address.length()) != 0) return -1;
  int rounds = requests / kDepth;
  if (!round_trip(fd, 200, line_size)) return -1;  // warm-up: buffers, rings and vectors reach their size
  uint64_t before = allocations.load();
  if (!round_trip(fd, rounds, line_size)) return -1;
  uint64_t after = allocations.load();
  ::close(fd);
  server.shutdown(std::chrono::seconds(1));
  return double(after - before) / (rounds * kDepth);
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 64000;
  struct Row {
    const char* name;
    tern::Model model;
    tern::BackendKind backend;
    int workers;
  };
  const Row rows[] = {
      {"single-epoll", tern::Model::single, tern::BackendKind::epoll, 0},
      {"single-uring", tern::Model::single, tern::BackendKind::uring, 0},
      {"loops-epoll", tern::Model::loops, tern::BackendKind::epoll, 0},
      {"hsha-epoll", tern::Model::hsha, tern::BackendKind::epoll, 2},
      {"hsha-uring", tern::Model::hsha, tern::BackendKind::uring, 2},
  };
  // 16-byte lines: the response fits std::string's inline buffer, so whatever is allocated is
  // the request path's own; 128-byte lines: the handler's response (and under hsha the
  // request's copy for the worker) are allocations of their own.
  for (size_t line_size : {16, 128}) {
    for (const Row& row : rows) {
      std::printf("%-14s %3zu B lines  %.2f allocations/request\n", row.name, line_size,
                  measure(row.model, row.backend, row.workers, requests, line_size));
    }
  }
}
