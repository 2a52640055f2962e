// tern-echo: echoes every byte back. Flags to options, options to a TcpServer, nothing else.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tern/tern.h"

namespace {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  std::string backend = "epoll";
  int drain_ms = 5000;
  size_t high_water = 1 << 20;
  bool reuse_port = false;
  bool strict = false;
  uint32_t send_zc_threshold = 0;
  bool fixed_files = false;
  uint32_t recv_buffers = tern::BackendOptions{}.recv_buffer_count;
};

// Echo with backpressure: stop reading while the peer is not taking our writes.
void serve(tern::TcpConnection& conn, const Options& options) {
  auto on_read = [](tern::TcpConnection& c, std::error_code error, std::span<std::byte> data) {
    if (!error) {
      c.write_received(tern::ConstBuffer(data));  // io_uring: sent from the receive buffer
    } else if (error == tern::errc::eof) {
      c.shutdown([](tern::TcpConnection& done, std::error_code) { done.close(); });
    } else {
      c.close();
    }
  };
  conn.set_water_marks(
      options.high_water, options.high_water / 4,
      [](tern::TcpConnection& c, size_t) { c.read_stop(); },
      [on_read](tern::TcpConnection& c, size_t) { c.read_start(on_read); });
  conn.read_start(on_read);
}

int parse(int argc, char** argv, Options& options) {
  CLI::App app{"tern-echo: a TCP echo server built on tern"};
  app.add_option("--host", options.host, "address to listen on (IPv4 or IPv6 literal)")
      ->capture_default_str();
  app.add_option("--port", options.port, "port to listen on (0: any free port)")
      ->capture_default_str();
  app.add_option("--backend", options.backend,
                 std::string("event backend: ") + std::string(tern::backend_kind_names()))
      ->capture_default_str()
      ->check([](const std::string& name) -> std::string {
        if (tern::parse_backend_kind(name)) return {};
        return "unknown backend '" + name + "' (choose " +
               std::string(tern::backend_kind_names()) + ")";
      });
  app.add_option("--drain-ms", options.drain_ms,
                 "on SIGINT/SIGTERM, how long queued writes may take before connections close")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--high-water", options.high_water,
                 "per-connection bytes queued before reading pauses")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--reuse-port", options.reuse_port, "set SO_REUSEPORT on the listener");
  app.add_option("--send-zc-threshold", options.send_zc_threshold,
                 "uring: writes of at least this many bytes use zero-copy SEND_ZC (0: never)")
      ->capture_default_str();
  app.add_option("--recv-buffers", options.recv_buffers,
                 "uring: buffers in the receive ring (a power of two; 16 KiB each)")
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        unsigned long n = std::strtoul(text.c_str(), nullptr, 10);
        if (n == 0 || n > 32768 || (n & (n - 1)) != 0) return "must be a power of two, 1..32768";
        return {};
      });
  app.add_flag("--fixed-files", options.fixed_files,
               "uring: register fds in the ring's fixed-file table (two syscalls per connection)");
  app.add_flag("--strict", options.strict,
               "refuse to start if the backend is unavailable (uring) instead of falling back");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "tern-echo: %s\nRun 'tern-echo --help' for the options.\n",
                 error.what());
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int code = parse(argc, argv, options); code >= 0) return code;

  auto address = tern::InetAddress::parse(options.host, options.port);
  if (!address) {
    std::fprintf(stderr, "tern-echo: '%s' is not an IPv4 or IPv6 address\n", options.host.c_str());
    return 2;
  }
  tern::BackendOptions backend_options;
  backend_options.strict = options.strict;
  backend_options.send_zc_threshold = options.send_zc_threshold;
  backend_options.recv_buffer_count = options.recv_buffers;
  backend_options.fixed_files = options.fixed_files;
  auto loop = tern::EventLoop::create(*tern::parse_backend_kind(options.backend), backend_options);
  if (!loop) {
    std::fprintf(stderr, "tern-echo: cannot start the %s backend: %s\n", options.backend.c_str(),
                 loop.error().message().c_str());
    return 1;
  }
  tern::EventLoop& l = **loop;

  tern::TcpServerOptions server_options;
  server_options.listen.reuse_port = options.reuse_port;
  tern::TcpServer server(l, address.value(), server_options);
  server.on_connection([&options](tern::TcpConnection& conn) { serve(conn, options); });
  if (auto error = server.start()) {
    std::fprintf(stderr, "tern-echo: cannot listen on %s: %s\n",
                 address->to_string().c_str(), error.message().c_str());
    return 1;
  }

  bool draining = false;
  auto drain = [&](int signo) {
    if (draining) return;
    draining = true;
    tern::log(tern::LogLevel::info, "%s: draining %zu connections", strsignal(signo),
              server.connection_count());
    server.drain(std::chrono::milliseconds(options.drain_ms), [&l] { l.stop(); });
  };
  l.on_signal(SIGINT, drain);
  l.on_signal(SIGTERM, drain);

  // The backend in use: epoll where io_uring was asked for and fell back.
  std::printf("tern-echo: listening on %s (backend %s)\n",
              server.local_address().to_string().c_str(),
              std::string(tern::to_string(l.backend_kind())).c_str());
  std::fflush(stdout);
  l.run();
  return 0;
}
