// AdminApi: tern-proxy's admin listener (--admin, loopback only, off by default): a second
// tern::Server (one loop) with an http::Router.
//
//   GET  /upstreams                 200 application/json: every upstream, counters summed
//                                   over the serving loops (docs/proxy.md shows the shape)
//   POST /upstreams/{name}/drain    no new requests to it (in flight ones finish): 200 with
//   POST /upstreams/{name}/enable   its JSON object; 404 for a name not configured
//
// Each answer gathers from every serving loop asynchronously (ServingLoops::gather): the
// admin loop never touches a proxy, and never blocks on one.
//
// Thread rule: main thread (construct, start, shutdown); the handlers run on the admin loop
// and the answers are sent from the serving loops.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "serving_loops.h"
#include "tern/net/inet_address.h"
#include "tern/patterns/server.h"
#include "tern/proxy/balancer.h"
#include "tern/proxy/upstream_config.h"

namespace tern::apps {

// GET /upstreams' document from every loop's report.
std::string upstreams_json(proxy::Mode mode, proxy::Algorithm balance,
                           const std::vector<LoopReport>& reports);
// One upstream's object (the live entry named `name`, else a removed one), or nullopt when
// no loop has it.
std::optional<std::string> upstream_json(std::string_view name,
                                         const std::vector<LoopReport>& reports);

class AdminApi {
 public:
  AdminApi(InetAddress address, const ServingLoops& loops, proxy::Mode mode,
           proxy::Algorithm balance);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Binds and starts its loop. On failure returns the error with `why`.
  std::error_code start(std::string& why);
  InetAddress local_address() const;
  void shutdown();

 private:
  InetAddress address_;
  const ServingLoops& loops_;
  proxy::Mode mode_;
  proxy::Algorithm balance_;
  std::unique_ptr<Server> server_;
};

}  // namespace tern::apps
