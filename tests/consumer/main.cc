// A program built against an installed tern (find_package(tern), tern::tern): an echo server on
// 127.0.0.1 at an ephemeral port, and a plain blocking socket on a second thread that sends a
// few bytes through it. Exits 0 only when the same bytes came back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

#include "tern/tern.h"

namespace {

constexpr std::string_view kMessage = "hello through an installed tern";

// Sends kMessage to 127.0.0.1:`port` and reads until as many bytes came back, the peer closed,
// or 10 s passed without progress (the socket timeouts bound the test; they do not synchronise).
std::string echo_through(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0 &&
      ::send(fd, kMessage.data(), kMessage.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(kMessage.size())) {
    char buffer[256];
    while (received.size() < kMessage.size()) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return received;
}

}  // namespace

int main() {
  tern::EventLoop loop;
  tern::TcpServer server(loop, tern::InetAddress::loopback_v4(0));
  server.on_connection([](tern::TcpConnection& conn) {
    conn.read_start([](tern::TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) return c.close();
      c.write(tern::ConstBuffer(data));
    });
  });
  if (auto error = server.start()) {
    std::fprintf(stderr, "consumer: listen: %s\n", error.message().c_str());
    return 1;
  }
  const uint16_t port = server.local_address().port();

  std::string received;
  std::thread client([&] {
    received = echo_through(port);
    loop.stop();  // any thread
  });
  loop.run();
  client.join();

  if (received != kMessage) {
    std::fprintf(stderr, "consumer: sent \"%.*s\" to port %u, got back \"%s\"\n",
                 static_cast<int>(kMessage.size()), kMessage.data(), port, received.c_str());
    return 1;
  }
  std::printf("consumer: %zu bytes echoed through tern %s on 127.0.0.1:%u\n", received.size(),
              TERN_FOUND_VERSION, port);
  return 0;
}
