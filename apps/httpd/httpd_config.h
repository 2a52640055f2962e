// HttpdConfig: everything tern-httpd can be told, with its embedded defaults (127.0.0.1:8080,
// ./www), from three sources in rising precedence: the defaults, a TOML file (--config) and
// the command line. The option table (httpd_config.cc, over config_options.h) names each option
// once: its TOML key, its flag, its help text, its check, and whether SIGHUP can change it
// without a restart.
//
//   HttpdCommandLine command_line;          // CLI11 app with every flag, --config among them
//   command_line.parse(argc, argv) ...
//   auto config = command_line.load(why);   // defaults + file + flags; nullopt: why
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
#include "tern/http/protocol.h"
#include "tern/http/static_files.h"

namespace tern::apps {

struct HttpdConfig {
  // [server]: where and how to serve (server_flags.h: --host, --port, --backend, --model, ...).
  ServerFlags server = default_server_flags();
  // [site]
  std::string root = "www";
  std::string index = "index.html";
  bool gzip_siblings = true;
  size_t file_cache = 1024;  // open-file cache entries; 0: off
  bool endpoints = true;     // /plaintext and /json
  // [http]
  std::string server_name = "tern";
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 30'000;
  // (idle and write timeouts: server.idle_timeout_ms and server.write_timeout_ms)
  size_t max_request_line = http::Limits{}.max_request_line;
  size_t max_header_bytes = http::Limits{}.max_header_bytes;
  size_t max_headers = http::Limits{}.max_headers;
  uint64_t max_body = http::Limits{}.max_body;
  size_t max_requests = 0;  // per connection; 0: no limit
  // [log]
  std::string access_log;        // path; empty: off
  std::string log_level = "info";  // debug|info|warn|error|off
  // (the error log's file: server.log_file, --log-file)

  // ServerFlags with tern-httpd's defaults: port 8080, HTTP's keep-alive and write timeouts.
  static ServerFlags default_server_flags();
};

// The level named "debug", "info", "warn", "error" or "off" (defined with the option table's
// checks, config_options.cc; tern-proxy names levels the same way).
std::optional<LogLevel> parse_log_level(std::string_view name);

// What the server runs with, derived from a config.
http::ProtocolOptions protocol_options(const HttpdConfig& config, http::AccessLog* access_log);
http::StaticFilesOptions static_files_options(const HttpdConfig& config);

// The options whose values differ between `running` and `loaded` and that only a restart can
// change (address, model, timeouts, limits, ...): their TOML keys.
std::vector<std::string> restart_only_changes(const HttpdConfig& running,
                                              const HttpdConfig& loaded);

// `running` with the options SIGHUP applies live (the site, the access log's path, the log
// level) taken from `loaded`.
HttpdConfig with_live_changes(const HttpdConfig& running, const HttpdConfig& loaded);

// The command line: every option's flag, --config, and --help listing them all
// (ConfigCommandLine: parse, load, config_path; config_command_line.h).
class HttpdCommandLine : public ConfigCommandLine<HttpdConfig> {
 public:
  HttpdCommandLine();
};

// Reads `path` (TOML) over `config`: every key known, every value checked. On failure returns
// "PATH:LINE:COLUMN: KEY: what is wrong" (or the parser's message at its position).
std::optional<std::string> read_config_file(const std::string& path, HttpdConfig& config);

}  // namespace tern::apps
