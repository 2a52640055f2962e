// The README's echo server: compiled with the project so the example cannot rot.
#include <csignal>
#include "tern/tern.h"

int main() {
  tern::EventLoop loop(tern::BackendKind::epoll);
  tern::TcpServer server(loop, tern::InetAddress::loopback_v4(9000));
  server.on_connection([](tern::TcpConnection& conn) {
    conn.read_start([](tern::TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) return c.close();          // errc::eof or a reset: done with this peer
      c.write(tern::ConstBuffer(data));     // copied only if the socket cannot take it now
    });
  });
  if (auto error = server.start()) {
    std::fprintf(stderr, "listen: %s\n", error.message().c_str());
    return 1;
  }
  loop.on_signal(SIGINT, [&](int) { loop.stop(); });
  loop.run();
}
