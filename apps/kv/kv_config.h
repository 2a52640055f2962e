// KvConfig: everything tern-kv can be told, with its embedded defaults (127.0.0.1:9100, the
// SQLite file ./tern-kv.db, durability full), from three sources in rising precedence: the
// defaults, a TOML file (--config) and the command line. The option table (kv_config.cc, over
// config_options.h) names each option once: its TOML key, its flag, its help, its check, and
// whether SIGHUP changes it without a restart (only the log level does: the storage and the
// server are the program's shape).
//
//   KvCommandLine command_line;             // CLI11 app with every flag, --config among them
//   if (auto status = command_line.parse(argc, argv)) return *status;
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
#include "tern/store/store.h"

namespace tern::apps {

struct KvConfig {
  // [server]: where and how to serve (server_flags.h: --host, --port, --backend, --model, ...).
  ServerFlags server = default_server_flags();
  // [store]
  std::string store = "sqlite:tern-kv.db";  // sqlite:PATH | redis://H:P | redis-cluster://H:P,...
  std::string durability = "full";          // full|normal
  size_t cache_mb = 0;                      // LRU cache in front of the storage; 0: none
  size_t max_value = size_t{1} << 20;       // bytes; larger PUT bodies get 413
  int store_deadline_ms = 2000;             // per storage operation; past it: 503
  size_t store_queue = 4096;                // storage requests queued; more wait for room
  std::string redis_password;               // AUTH on every new connection (redis only)
  int redis_database = 0;                   // SELECT (redis:// only)
  // [http]
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 30'000;
  // (idle and write timeouts: server.idle_timeout_ms and server.write_timeout_ms)
  // [log]
  std::string log_level = "info";  // debug|info|warn|error|off
  // (the log's file: server.log_file, --log-file)

  // ServerFlags with tern-kv's defaults: port 9100, HTTP's keep-alive and write timeouts.
  static ServerFlags default_server_flags();
};

// What the program runs with, derived from a config (checked when it was read).
store::StorageConfig storage_config(const KvConfig& config);
http::ProtocolOptions protocol_options(const KvConfig& config);
LogLevel configured_log_level(const KvConfig& config);

// The TOML keys of the options only a restart changes whose values differ between `running`
// and `loaded`.
std::vector<std::string> restart_only_changes(const KvConfig& running, const KvConfig& loaded);
// `running` with the options SIGHUP applies live (the log level) taken from `loaded`.
KvConfig with_live_changes(const KvConfig& running, const KvConfig& loaded);

// The command line: every option's flag, --config, and --help listing them all
// (ConfigCommandLine: parse, load; config_command_line.h).
class KvCommandLine : public ConfigCommandLine<KvConfig> {
 public:
  KvCommandLine();
};

// Reads `path` (TOML) over `config`: every key known, every value checked. On failure returns
// "PATH:LINE:COLUMN: KEY: what is wrong" (or the parser's message at its position).
std::optional<std::string> read_config_file(const std::string& path, KvConfig& config);

}  // namespace tern::apps
