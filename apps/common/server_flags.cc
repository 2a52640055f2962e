#include "server_flags.h"

#include <CLI/CLI.hpp>

#include <cstdlib>

#include "tern/base/error.h"

namespace tern::apps {
namespace {

template <class Parse>
std::function<std::string(const std::string&)> one_of(Parse parse, std::string names) {
  return [parse, names](const std::string& text) -> std::string {
    if (parse(text)) return {};
    return "'" + text + "' is not one of " + names;
  };
}

}  // namespace

std::string recv_buffers_problem(uint64_t n) {
  if (n == 0 || n > 32768 || (n & (n - 1)) != 0) return "must be a power of two, 1..32768";
  return {};
}

void add_server_flags(CLI::App& app, ServerFlags& flags) {
  app.add_option("--host", flags.host, "address to listen on (IPv4 or IPv6 literal)")
      ->capture_default_str();
  app.add_option("--port", flags.port, "port to listen on (0: any free port)")
      ->capture_default_str();
  app.add_option("--backend", flags.backend,
                 "event backend: " + std::string(backend_kind_names()))
      ->capture_default_str()
      ->check(one_of(parse_backend_kind, std::string(backend_kind_names())));
  app.add_option("--model", flags.model, "concurrency model: single|loops|hsha|lf")
      ->capture_default_str()
      ->check(one_of(parse_model, "single|loops|hsha|lf"));
  app.add_option("--pattern", flags.pattern,
                 "event handling pattern: reactor|proactor|emulated (default: the backend's own)")
      ->check(one_of(parse_pattern, "reactor|proactor|emulated"));
  app.add_option("--threads", flags.threads, "loops (loops, hsha) or threads (lf)")
      ->capture_default_str();
  app.add_option("--workers", flags.workers, "hsha: threads that run the handler")
      ->capture_default_str();
  app.add_option("--balance", flags.balance,
                 "how loops share new connections: round-robin (one acceptor) or reuse-port "
                 "(a SO_REUSEPORT listener per loop)")
      ->capture_default_str()
      ->check(one_of(parse_balancing, "round-robin|reuse-port"));
  app.add_flag("--reuse-port", flags.reuse_port, "the same as --balance reuse-port");
  app.add_option("--codec", flags.codec,
                 "framing of requests and responses: raw (each read is a message), line, length "
                 "(4-byte big-endian prefix)")
      ->capture_default_str()
      ->check(one_of(parse_framing, "raw|line|length"));
  app.add_option("--max-message", flags.max_message,
                 "longest message accepted; a longer one closes its connection")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--queue", flags.queue, "hsha: requests waiting for a worker before reading stops")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--high-water", flags.high_water,
                 "per-connection unsent bytes before reading pauses")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--idle-timeout-ms", flags.idle_timeout_ms,
                 "close a connection idle this long (no request in progress, nothing to send; "
                 "0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--read-timeout-ms", flags.read_timeout_ms,
                 "close a connection whose message takes longer than this to arrive, from its "
                 "first byte to its last: a total, not reset per byte (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--write-timeout-ms", flags.write_timeout_ms,
                 "close a connection whose unsent output does not drain for this long (a peer "
                 "that stopped reading; 0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-connections", flags.max_connections,
                 "connections open at once, across all threads (0: no limit); more wait in the "
                 "listen backlog and are accepted as connections close")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain-ms", flags.drain_ms,
                 "on SIGINT/SIGTERM, how long requests in flight may take before connections close")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-file", flags.log_file,
                 "append log lines to this file instead of stderr; SIGUSR1 reopens it (after a "
                 "rotation)");
  app.add_option("--send-zc-threshold", flags.send_zc_threshold,
                 "uring: writes of at least this many bytes use zero-copy SEND_ZC (0: never)")
      ->capture_default_str();
  app.add_option("--recv-buffers", flags.recv_buffers,
                 "uring: buffers in the receive ring (a power of two; 16 KiB each)")
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        return recv_buffers_problem(std::strtoull(text.c_str(), nullptr, 10));
      });
  app.add_flag("--fixed-files", flags.fixed_files,
               "uring: register fds in the ring's fixed-file table (two syscalls per connection)");
  app.add_flag("--strict", flags.strict,
               "refuse to start if the backend is unavailable (uring) instead of falling back");
  app.footer("Valid --model/--pattern/--backend combinations:\n" + valid_combinations());
}

namespace {

bool is_loopback(const InetAddress& address) {
  std::string text = address.to_string();
  return text.starts_with("127.") || text.starts_with("[::1]");
}

}  // namespace

std::optional<InetAddress> parse_host_port(std::string_view text, std::string& why) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    why = "'" + std::string(text) + "' is not HOST:PORT";
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      why = "'" + std::string(text) + "': the port must be a number 0..65535";
      return std::nullopt;
    }
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) {
    why = "'" + std::string(text) + "': the port must be a number 0..65535";
    return std::nullopt;
  }
  if (host == "localhost") host = "127.0.0.1";
  auto address = InetAddress::parse(host, static_cast<uint16_t>(port));
  if (!address) {
    why = "'" + std::string(text) + "': '" + std::string(host) +
          "' is not an IPv4 or IPv6 address (or localhost)";
    return std::nullopt;
  }
  return address.value();
}

std::optional<InetAddress> parse_admin_address(std::string_view text, std::string& why) {
  std::optional<InetAddress> address = parse_host_port(text, why);
  if (!address) return std::nullopt;
  // The admin paths show the process's insides and take no credentials: never off the host.
  if (!is_loopback(*address)) {
    why = "'" + std::string(text) + "' must be a loopback address (127.0.0.1, ::1 or localhost)";
    return std::nullopt;
  }
  return address;
}

std::string admin_address_problem(const std::string& text) {
  std::string why;
  if (text.empty() || parse_admin_address(text, why)) return {};
  return why;
}

Result<ServerOptions> to_server_options(const ServerFlags& flags, std::string& why) {
  ServerOptions options;
  auto address = InetAddress::parse(flags.host, flags.port);
  if (!address) {
    why = "'" + flags.host + "' is not an IPv4 or IPv6 address";
    return make_error_code(errc::invalid_argument);
  }
  options.address = address.value();
  options.backend = *parse_backend_kind(flags.backend);
  options.backend_options.strict = flags.strict;
  options.backend_options.send_zc_threshold = flags.send_zc_threshold;
  options.backend_options.recv_buffer_count = flags.recv_buffers;
  options.backend_options.fixed_files = flags.fixed_files;
  options.model = *parse_model(flags.model);
  if (!flags.pattern.empty()) options.pattern = parse_pattern(flags.pattern);
  options.threads = flags.threads;
  options.workers = flags.workers;
  options.balancing = flags.reuse_port ? Balancing::reuse_port : *parse_balancing(flags.balance);
  options.codec = Codec(*parse_framing(flags.codec), flags.max_message);
  options.queue_capacity = flags.queue;
  options.high_water = flags.high_water;
  options.deadlines.idle = std::chrono::milliseconds(flags.idle_timeout_ms);
  options.deadlines.read = std::chrono::milliseconds(flags.read_timeout_ms);
  options.deadlines.write = std::chrono::milliseconds(flags.write_timeout_ms);
  options.max_connections = flags.max_connections;
  why = check_options(options);
  if (!why.empty()) return make_error_code(errc::invalid_argument);
  return options;
}

std::string describe(const ServerOptions& options, const InetAddress& bound, BackendKind in_use) {
  std::string text = "listening on " + bound.to_string() + " (backend " +
                     std::string(to_string(in_use)) + ", model " + model_name(options.model) +
                     ", pattern " + pattern_name(effective_pattern(options)) + ", threads " +
                     std::to_string(options.threads) + ", workers " +
                     std::to_string(options.workers) + ", codec " +
                     framing_name(options.codec.framing()) + ")";
  return text;
}

}  // namespace tern::apps
