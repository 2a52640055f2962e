// The shared rows of the configurable programs' option tables (tern-httpd, tern-proxy,
// tern-kv): the flags of server_flags.h (where and how to serve, the connection timeouts, the
// log) as ConfigOptions, written once. A program's Config keeps them in `server` (a
// ServerFlags) and its log level in `log_level`; ServerRows says which rows the program offers
// and how its TOML file names them, so that a program differs by a parameter, not by a copy.
//
//   const ServerRows kRows{.uring_tuning = false};   // tern-kv
//   ... the program's own rows, then:
//   add_server_rows(table, kRows);                   // appended after them
//   add_server_flags(app, flags.server, kRows);      // the command line: the same rows' flags
//
// Included by the programs' config .cc files only (config_options.h brings in toml++). Thread
// rule: main thread only (start-up and SIGHUP), like the configs.
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "config_options.h"
#include "server_flags.h"

namespace tern::apps {

// How a program's TOML file names the shared rows.
enum class KeyLayout {
  // tern-httpd, tern-kv: snake_case; [server] where and how to serve ("server.high_water"),
  // the connection timeouts under [http] ("http.idle_timeout_ms"), the log under [log]
  // ("log.error" for the file, "log.level").
  by_topic,
  // tern-proxy: every row under [server], words joined by '-' ("server.high-water",
  // "server.idle-timeout-ms", "server.log-file", "server.log-level"). The program reads
  // "high_water" as "high-water" itself.
  server_section,
};

// Which shared rows a program offers, how it names them, and the bounds of their values. The
// built-in framings' flags (--codec, --max-message, --read-timeout-ms) are never offered: the
// programs with a table speak HTTP (or relay bytes), which replaces them.
struct ServerRows {
  KeyLayout layout = KeyLayout::by_topic;
  // host, port and balance (round-robin|reuse-port). Without them the program names its
  // listener and its --balance itself (tern-proxy: --listen, the upstreams' balance), and its
  // file says whether loops share clients through SO_REUSEPORT with reuse-port (true|false).
  bool listen_address = true;
  // The admin listener, --admin HOST:PORT and "server.admin" (admin_server.h). Without it the
  // program names it itself (tern-proxy: [proxy] admin, from before the shared row).
  bool admin = true;
  // The uring tuning: send_zc_threshold, fixed_files, recv_buffers.
  bool uring_tuning = true;
  // The models the program serves (the file's value; the flag's is checked by CLI11 and by the
  // program when it resolves the whole config).
  Check<std::string> model = one_of(parse_model, "single|loops|hsha|lf");
  // Upper bounds of threads and workers, and of the times in ms (drain, idle and write
  // timeouts); the type's largest means none ("must be at least N").
  int max_threads = std::numeric_limits<int>::max();
  int max_ms = std::numeric_limits<int>::max();
};

// The TOML key of the shared row `name` (snake_case) of the topic `section` ("server", "http",
// "log"), as `layout` spells it; `log_name`: its name in [log] under by_topic ("error").
std::string server_row_key(KeyLayout layout, std::string_view section, std::string_view name,
                           std::string_view log_name = {});

// Adds the shared flags `rows` offers to `app`, storing into `flags` (server_flags.h's
// add_server_flags less the flags the program does not take).
void add_server_flags(CLI::App& app, ServerFlags& flags, const ServerRows& rows);

// A check of at least `minimum`, and at most `maximum` unless that is T's largest.
template <class T>
Check<T> bounded(T minimum, T maximum) {
  if (maximum == std::numeric_limits<T>::max()) return at_least(minimum);
  return in_range(minimum, maximum);
}

// Appends the shared rows `rows` offers to `table` (after the program's own rows: --help lists
// the own flags in table order, and the log level stays last). Every row but the log level
// needs a restart.
template <class Config>
void add_server_rows(std::vector<ConfigOption<Config>>& table, const ServerRows& rows) {
  using R = Reload;
  auto key = [&rows](std::string_view section, std::string_view name,
                     std::string_view log_name = {}) {
    return server_row_key(rows.layout, section, name, log_name);
  };
  // add(key, flag, shared or own flag, reload rule, help, field, check): make_option's.
  auto add = [&](auto&&... option) {
    table.push_back(make_option<Config>(std::forward<decltype(option)>(option)...));
  };
  if (rows.listen_address) {
    add(key("server", "host"), "--host", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.host; },
        Check<std::string>([](const std::string& host) -> std::string {
          if (InetAddress::parse(host, 0)) return {};
          return "'" + host + "' is not an IPv4 or IPv6 address";
        }));
    add(key("server", "port"), "--port", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.port; });
  }
  add(key("server", "backend"), "--backend", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.backend; },
      one_of(parse_backend_kind, std::string(backend_kind_names())));
  add(key("server", "model"), "--model", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.model; }, rows.model);
  add(key("server", "pattern"), "--pattern", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.pattern; },
      one_of(parse_pattern, "reactor|proactor|emulated", /*empty_ok=*/true));
  add(key("server", "threads"), "--threads", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.threads; }, bounded(1, rows.max_threads));
  add(key("server", "workers"), "--workers", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.workers; }, bounded(0, rows.max_threads));
  if (rows.listen_address) {
    add(key("server", "balance"), "--balance", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.balance; },
        one_of(parse_balancing, "round-robin|reuse-port"));
  } else {
    add(key("server", "reuse_port"), "--reuse-port", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.reuse_port; });
  }
  if (rows.admin) {
    add(key("server", "admin"), "--admin", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.admin; },
        Check<std::string>(admin_address_problem));
  }
  constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
  add(key("server", "queue"), "--queue", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.queue; }, bounded<size_t>(1, kNoLimit));
  add(key("server", "high_water"), "--high-water", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.high_water; }, bounded<size_t>(1, kNoLimit));
  add(key("server", "max_connections"), "--max-connections", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.max_connections; });
  add(key("http", "idle_timeout_ms"), "--idle-timeout-ms", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.idle_timeout_ms; }, bounded(0, rows.max_ms));
  add(key("http", "write_timeout_ms"), "--write-timeout-ms", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.write_timeout_ms; }, bounded(0, rows.max_ms));
  add(key("server", "drain_ms"), "--drain-ms", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.drain_ms; }, bounded(0, rows.max_ms));
  add(key("server", "strict"), "--strict", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.strict; });
  if (rows.uring_tuning) {
    add(key("server", "send_zc_threshold"), "--send-zc-threshold", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.send_zc_threshold; });
    add(key("server", "fixed_files"), "--fixed-files", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.fixed_files; });
    add(key("server", "recv_buffers"), "--recv-buffers", kSharedFlag, R::restart, "",
        [](auto& c) -> auto& { return c.server.recv_buffers; },
        Check<uint32_t>([](const uint32_t& n) { return recv_buffers_problem(n); }));
  }
  add(key("log", "log_file", "error"), "--log-file", kSharedFlag, R::restart, "",
      [](auto& c) -> auto& { return c.server.log_file; });
  add(key("log", "log_level", "level"), "--log-level", kOwnFlag, R::live,
      "level of the log (stderr, or --log-file): debug|info|warn|error|off",
      [](auto& c) -> auto& { return c.log_level; },
      one_of(parse_log_level, "debug|info|warn|error|off"));
}

}  // namespace tern::apps
