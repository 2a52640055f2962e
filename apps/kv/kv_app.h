// KvApp: the running tern-kv: the storage (opened once for the process), one Store per serving
// loop (attached on the loop's own thread by on_loop_start, destroyed there by on_loop_stop),
// the HTTP server with the kv routes, and what SIGHUP and SIGTERM do to them. main() parses the
// command line, makes one, and waits for signals.
//
// What SIGHUP (reload) changes without a restart: the log level. Everything else (address,
// model, storage, limits, timeouts) is the program's shape: a changed value is logged as
// ignored until a restart. A file that does not load changes nothing and logs why, with its
// line.
//
// Thread rule: main thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "admin_server.h"
#include "kv_config.h"
#include "tern/patterns/server.h"
#include "tern/store/store.h"

namespace tern::apps {

class KvApp {
 public:
  // Applies the logs and opens the storage `config` names; does not listen yet. On failure
  // returns nullptr with `why`.
  static std::unique_ptr<KvApp> create(KvConfig config, std::string& why);
  ~KvApp();
  KvApp(const KvApp&) = delete;
  KvApp& operator=(const KvApp&) = delete;

  // Binds and starts the loops, each with its Store. On failure returns the error with `why`.
  std::error_code start(std::string& why);
  // The line printed once serving: "listening on ADDRESS (store ..., backend ..., ...)".
  std::string describe() const;
  // "admin on ADDRESS" with --admin, else empty (the second start-up line).
  std::string describe_admin() const;

  // SIGHUP: loads the configuration again (file, then the same flags) and applies the log
  // level. A failure is logged with its reason and returned; nothing changed then.
  std::error_code reload(const KvCommandLine& command_line);
  // SIGTERM, SIGINT: drains the server for up to server.drain_ms (requests in flight get their
  // answers, so every acknowledged write is stored), then closes the storage.
  void shutdown();

 private:
  KvApp(KvConfig config, ServerOptions options, std::unique_ptr<store::Storage> storage);
  // With --admin: the storage's figures (any thread) and one loop's Store (on that loop).
  void add_storage_metrics();
  void add_store_metrics(size_t index, EventLoop& loop);
  void remove_store_metrics(size_t index);

  KvConfig config_;
  ServerOptions options_;
  std::unique_ptr<store::Storage> storage_;            // outlives every Store and the server
  std::vector<std::unique_ptr<store::Store>> stores_;  // by loop index, each touched by its loop
  // With --admin: the metrics (the server's loops and HTTP, the storage, each loop's Store) and
  // their listener. The registry outlives both servers; the storage's and the Stores' sources
  // are removed before what they read goes.
  metrics::Registry registry_;
  std::optional<metrics::SourceId> storage_source_;
  std::vector<std::optional<metrics::SourceId>> store_sources_;  // by loop index, as stores_
  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace tern::apps
