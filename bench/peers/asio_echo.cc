// asio-echo: the standalone Asio peer of `make bench`'s echo section, written
// as Asio's own examples write an echo server
// (asio/src/examples/cpp11/echo/async_tcp_echo_server.cpp): one io_context run
// by one thread; an acceptor that accepts again after each connection; a
// session kept alive by the shared_ptr its pending handler holds, that reads
// with async_read_some into its own buffer and writes it back whole with
// async_write before it reads again. One operation in flight per connection is
// the backpressure: nothing is read while the echo of the last read is
// unwritten.
//
// The examples' buffer is 1,024 bytes; this one is 64 KiB (what libuv suggests,
// what libuv-echo and tern read into), so that the streaming case measures Asio
// and not the size of one read.
//
//   asio-echo --host 127.0.0.1 --port 9000      SIGTERM or SIGINT: exit 0
#include <array>
#include <asio.hpp>
#include <cstdio>
#include <memory>
#include <system_error>
#include <utility>

#include "peer_options.h"

namespace {

constexpr const char *kName = "asio-echo";
using asio::ip::tcp;

// One connection. Thread rule: the io_context's thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
  void start() { read(); }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(data_),
                            [this, self = shared_from_this()](std::error_code error, size_t n) {
                              if (!error) write(n);
                            });
  }
  void write(size_t length) {
    asio::async_write(socket_, asio::buffer(data_, length),
                      [this, self = shared_from_this()](std::error_code error, size_t) {
                        if (!error) read();
                      });
  }

  tcp::socket socket_;
  std::array<char, 64 * 1024> data_;
};

// Accepts forever; each connection becomes a Session. Thread rule: the
// io_context's thread.
class Server {
 public:
  explicit Server(asio::io_context &io) : acceptor_(io) {}

  std::error_code listen(const tcp::endpoint &endpoint) {
    std::error_code error;
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    return error;
  }
  int port() const {
    std::error_code error;
    auto endpoint = acceptor_.local_endpoint(error);
    return error ? -1 : endpoint.port();
  }
  void accept() {
    acceptor_.async_accept([this](std::error_code error, tcp::socket socket) {
      if (!error) {
        std::error_code ignored;
        socket.set_option(tcp::no_delay(true),
                          ignored);  // as tern's TcpServer does
        std::make_shared<Session>(std::move(socket))->start();
      }
      if (error != asio::error::operation_aborted) accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char **argv) {
  auto options = tern::bench::parse_peer_options(argc, argv, kName, false);
  if (!options) return 2;
  if (options->help) return 0;
  tern::bench::keep_heap();

  std::error_code error;
  auto address = asio::ip::make_address_v4(options->host, error);
  if (error) {
    std::fprintf(stderr, "%s: bad --host '%s' (an IPv4 address)\n", kName, options->host.c_str());
    return 2;
  }
  // One io_context, run by this thread only: the hint lets Asio drop its
  // locking.
  asio::io_context io(1);
  Server server(io);
  if (auto listen_error =
          server.listen(tcp::endpoint(address, static_cast<unsigned short>(options->port)))) {
    std::fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", kName, options->host.c_str(),
                 options->port, listen_error.message().c_str());
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](std::error_code, int) { io.stop(); });
  server.accept();
  tern::bench::announce_listening(kName, options->host, server.port());
  io.run();
  return 0;
}
