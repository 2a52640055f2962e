// Httpd: the running tern-httpd: the server, its live site, its logs, and what SIGHUP and
// SIGUSR1 do to them. main() parses the command line, makes one, and waits for signals.
//
// What SIGHUP (reload) changes without a restart: the site (root, index, gzip siblings, the
// open-file cache, the /plaintext and /json endpoints), the access log's path (or turning it
// off), the error log's file and level. Everything else (address, backend, model, threads,
// timeouts, limits, the Server name, max connections, turning the access log on) is the
// server's shape: a changed value is logged as ignored until a restart. A file that does not
// load (syntax, unknown key, bad value, a root that does not open) changes nothing and logs
// why, with its line.
//
// Thread rule: main thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "access_log_writer.h"
#include "httpd_config.h"
#include "admin_server.h"
#include "live_site.h"
#include "tern/tern.h"

namespace tern::apps {

class Httpd {
 public:
  // Applies `config` (logs, site); does not listen yet. On failure returns nullptr with `why`.
  static std::unique_ptr<Httpd> create(HttpdConfig config, std::string& why);
  ~Httpd();
  Httpd(const Httpd&) = delete;
  Httpd& operator=(const Httpd&) = delete;

  // Binds and starts the threads. On failure returns the error with `why`.
  std::error_code start(std::string& why);
  // The line printed once the server accepts (address, backend in use, model, ...).
  std::string describe() const;
  // "admin on ADDRESS" with --admin, else empty (the second start-up line).
  std::string describe_admin() const;

  // SIGHUP: loads the configuration again (file, then the same flags) and applies what can
  // change live. A failure is logged with its reason and returned; nothing changed then.
  std::error_code reload(const HttpdCommandLine& command_line);
  // SIGUSR1: reopens the error log file and the access log at their paths.
  std::error_code reopen_logs();
  // SIGTERM, SIGINT: drains for up to server.drain_ms, then stops.
  void shutdown();

 private:
  Httpd(HttpdConfig config, ServerOptions options, std::shared_ptr<const Site> site);

  // The site `config` describes, or nullptr with `why`.
  static std::shared_ptr<const Site> open_site(const HttpdConfig& config, std::string& why);
  // The logs as `config` says; an error with `why`, the logs as they were.
  std::error_code apply_logs(const HttpdConfig& config, std::string& why);

  HttpdConfig config_;
  ServerOptions options_;
  // Both outlive the server, which calls them from its threads.
  AccessLogWriter access_log_;
  LiveSite site_;
  // With --admin: the metrics (the server's loops and HTTP) and their listener. The registry
  // outlives both servers.
  metrics::Registry registry_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace tern::apps
