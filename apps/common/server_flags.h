// The flags every tern program shares: where to listen, the backend, and the concurrency model
// (docs/patterns.md). Adds them to a CLI11 app and turns them into ServerOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli_app.h"  // CLI11 declared, not included
#include "tern/patterns/server_options.h"

namespace tern::apps {

struct ServerFlags {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  std::string backend = "epoll";
  std::string model = "single";
  std::string pattern;  // empty: the backend's own
  int threads = 1;
  int workers = 0;
  std::string balance = "round-robin";
  std::string codec = "raw";
  size_t queue = ServerOptions{}.queue_capacity;
  size_t max_message = Codec::kDefaultMaxMessage;
  size_t high_water = 1 << 20;
  bool reuse_port = false;
  bool strict = false;
  uint32_t send_zc_threshold = 0;
  bool fixed_files = false;
  uint32_t recv_buffers = BackendOptions{}.recv_buffer_count;
  int drain_ms = 5000;
  std::string log_file;  // empty: log to stderr
  int idle_timeout_ms = 0;
  int read_timeout_ms = 0;
  int write_timeout_ms = 0;
  size_t max_connections = 0;  // 0: no limit
  std::string admin;  // the admin listener's "HOST:PORT" on loopback (admin_server.h); empty: off
};

// Adds the flags (with their checks) to `app`.
void add_server_flags(CLI::App& app, ServerFlags& flags);
// "" when `n` is a power of two in 1..32768 (--recv-buffers: the receive ring's buffers), else
// what is wrong. Any thread.
std::string recv_buffers_problem(uint64_t n);
// "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080", "localhost:8080") as an address, or nullopt
// with `why`. Any thread.
std::optional<InetAddress> parse_host_port(std::string_view text, std::string& why);
// parse_host_port on a loopback address, or nullopt with `why` saying what is wrong ("must be
// a loopback address"): --admin's value. Any thread.
std::optional<InetAddress> parse_admin_address(std::string_view text, std::string& why);
// "" when `text` is empty (no admin listener) or a valid admin address, else why not: the
// check of the --admin flag and of the admin key. Any thread.
std::string admin_address_problem(const std::string& text);
// The options, or a message (the combination checked, with the valid ones listed).
Result<ServerOptions> to_server_options(const ServerFlags& flags, std::string& why);
// The line a program prints once it accepts: address, backend in use, model, pattern.
std::string describe(const ServerOptions& options, const InetAddress& bound, BackendKind in_use);

}  // namespace tern::apps
