// ProxyConfig: everything tern-proxy can be told, from three sources in rising precedence:
// the defaults, a TOML file (--config) and the command line. The option table
// (proxy_options.cc, over apps/common/config_options.h) names each option once: its TOML key,
// its flag, its help text, its check, and whether SIGHUP applies it live. ProxySettings is a config turned into the library's
// option structs (the resolved, checked form the program runs with).
//
//   ProxyCommandLine command_line;          // CLI11 app with every flag, --config among them
//   if (auto status = command_line.parse(argc, argv)) return *status;
//   auto config = command_line.load(why);   // defaults + file + flags, resolved; nullopt: why
//
// TOML layout (docs/proxy.md): [proxy] (listen, mode, balance, hash-key, admin, pools,
// retries, ejection), [[upstream]] (address, weight), [health] (path, interval-ms, timeout-ms,
// rise, fall), [server] (backend, model, threads, ...). Keys are the long flags without their
// dashes ("hash-key"); "hash_key" is accepted too.
//
// Thread rule: main thread only (start-up and SIGHUP).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config_command_line.h"
#include "server_flags.h"
#include "tern/base/logging.h"
#include "tern/patterns/server_options.h"
#include "tern/proxy/health_check.h"
#include "tern/proxy/http_proxy.h"
#include "tern/proxy/tcp_proxy.h"
#include "tern/proxy/upstream_config.h"

namespace tern::apps {

struct ProxyConfig {
  // [server]: how to serve (server_flags.h: --backend, --model, --threads, ...). Its host and
  // port are not used: [proxy] listen replaces them.
  ServerFlags server = default_server_flags();
  std::string log_level = "info";  // debug|info|warn|error|off
  // [proxy]
  std::string listen;              // "HOST:PORT"; required
  std::string mode = "http";       // http|tcp
  std::string balance = "round-robin";
  std::string hash_key = "client";
  std::string admin;               // "HOST:PORT" on loopback; empty: no admin listener
  size_t upstream_max_connections = 64;
  int upstream_idle_timeout_ms = 60'000;
  int connect_timeout_ms = 1'000;
  int queue_timeout_ms = 1'000;
  size_t max_queued = 128;
  int response_timeout_ms = 30'000;
  int max_attempts = 2;
  double retry_budget = 0.2;
  int eject_after = 5;
  int eject_base_ms = 1'000;
  int eject_max_ms = 30'000;
  int slow_start_ms = 10'000;
  size_t max_response_body = 64 << 10;
  uint64_t max_request_body = 8 << 20;  // 413 beyond
  // [[upstream]]: "HOST:PORT" or "HOST:PORT,weight=W" (the --upstream flag's syntax)
  std::vector<std::string> upstreams;
  // [health]
  std::string health_path;         // http mode: GET this; empty: passive checks only
  int health_interval_ms = 2'000;
  int health_timeout_ms = 1'000;
  int health_rise = 2;
  int health_fall = 3;

  // ServerFlags with tern-proxy's defaults (HTTP's keep-alive and write timeouts).
  static ServerFlags default_server_flags();
};

// A config resolved into what the program and the library take.
struct ProxySettings {
  proxy::Mode mode = proxy::Mode::http;
  InetAddress listen;
  std::optional<InetAddress> admin;
  std::vector<proxy::UpstreamConfig> upstreams;
  ServerOptions server;                          // address = listen, on_loop_* unset
  proxy::HttpProxyOptions http;
  proxy::TcpProxyOptions tcp;
  std::optional<proxy::HealthCheckOptions> health;  // nullopt: no active checks
  int drain_ms = 5000;
};

// `config` checked as a whole (addresses, upstreams, model and mode) and resolved; nullopt
// with `why` (one line) when something is wrong.
std::optional<ProxySettings> resolve(const ProxyConfig& config, std::string& why);

// The log level `config` names (checked when it was read).
LogLevel configured_log_level(const ProxyConfig& config);

// The TOML keys of the options whose values differ between `running` and `loaded` and that
// only a restart can change (listen, mode, balance, model, threads, backend, ...).
std::vector<std::string> restart_only_changes(const ProxyConfig& running,
                                              const ProxyConfig& loaded);
// `running` with the options SIGHUP applies live (the upstreams, [health], log level) taken
// from `loaded`.
ProxyConfig with_live_changes(const ProxyConfig& running, const ProxyConfig& loaded);

// Reads `path` (TOML) over `config`: every key known, every value checked. On failure returns
// "PATH:LINE:COLUMN: KEY: what is wrong" (or the parser's message at its position).
std::optional<std::string> read_config_file(const std::string& path, ProxyConfig& config);

// The command line: every option's flag, --config, --upstream, and --help listing them all.
// ConfigCommandLine's (config_command_line.h) with the upstream list and resolve() added to
// load(): privately, so that no caller reaches the base's load(), which does not resolve.
class ProxyCommandLine : private ConfigCommandLine<ProxyConfig> {
 public:
  ProxyCommandLine();

  using ConfigCommandLine::config_path;
  using ConfigCommandLine::help;
  using ConfigCommandLine::parse;  // (argc, argv), and (args) for tests

  // The defaults, then the config file if one was given, then every flag given on the command
  // line (--upstream replacing the file's list), checked whole (resolve()). On failure returns
  // nullopt with `why` naming the file, line, key and problem (or the flag). Called at start
  // and again on SIGHUP (the file reread, the flags still winning). Main thread only.
  std::optional<ProxyConfig> load(std::string& why) const;
};

}  // namespace tern::apps
