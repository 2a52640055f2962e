// AdminServer: a tern program's admin listener (--admin HOST:PORT, or admin = "..." in the
// file; loopback only, off by default). Its own tern::Server (one loop, epoll: a few requests
// from an operator or a scraper) with an http::Router, apart from the public port, which never
// answers these paths:
//
//   GET /metrics        the process's metrics, Prometheus text format 0.0.4
//   GET /metrics.json   the same as JSON (the status page reads it; exposition.h)
//   GET /status         the status page (status_page.h), text/html
//   GET /               302 to /status
//
// A program adds its own routes before start() (tern-proxy: /upstreams). Each scrape collects
// the registry (every loop fills its own series on its own thread) and answers from the thread
// of the last loop to answer: the admin loop never waits for a serving loop.
//
//   metrics::Registry registry;        // the program's; ServerOptions::metrics points to it
//   AdminServer admin(address, "tern-httpd", registry);
//   admin.router().get("/extra", ...);
//   if (auto error = admin.start(why)) ...
//
//   // or, with no routes to add:
//   auto admin = AdminServer::start_from(config.admin, "tern-kv", registry, why);
//
// Thread rule: main thread (construct, router, start, shutdown); the handlers run on the admin
// loop and the answers go out from the collecting threads. The registry outlives the server.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tern/base/result.h"
#include "tern/http/router.h"
#include "tern/metrics/registry.h"
#include "tern/net/inet_address.h"
#include "tern/patterns/server.h"

namespace tern::apps {

// (The address's parsing and check: parse_admin_address in server_flags.h.)

class AdminServer {
 public:
  AdminServer(InetAddress address, std::string program, const metrics::Registry& registry);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Main thread, before start(): where a program adds its own routes.
  http::Router& router() noexcept { return router_; }
  // Main thread. Binds and starts the admin loop; on failure returns the error with `why`.
  std::error_code start(std::string& why);
  // Main thread. The admin listener of a program without routes of its own (tern-httpd,
  // tern-kv): `address` is the --admin flag's or the admin key's text (checked when the config
  // was read; checked again here, so a bad one is an error, never a crash), made and started.
  // On failure the error, with `why` saying what failed (the address, or the bind).
  static Result<std::unique_ptr<AdminServer>> start_from(std::string_view address,
                                                         std::string program,
                                                         const metrics::Registry& registry,
                                                         std::string& why);
  // Main thread. The bound address (the real port when 0 was asked for).
  InetAddress local_address() const;
  // Main thread. Closes the listener (scrapes in flight get up to a second); idempotent.
  void shutdown();

 private:
  void add_routes();

  InetAddress address_;
  std::string program_;
  const metrics::Registry& registry_;
  http::Router router_;
  std::unique_ptr<Server> server_;
};

}  // namespace tern::apps
