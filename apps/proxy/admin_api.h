// The admin API of tern-proxy: routes added to its admin listener (AdminServer: --admin,
// loopback only, off by default; GET /metrics, /metrics.json and /status come from there).
//
//   GET  /upstreams                 200 application/json: every upstream, counters summed
//                                   over the serving loops (docs/proxy.md shows the shape)
//   POST /upstreams/{name}/drain    no new requests to it (in flight ones finish): 200 with
//   POST /upstreams/{name}/enable   its JSON object; 404 for a name not configured
//
// Each answer gathers from every serving loop asynchronously (ServingLoops::gather): the
// admin loop never touches a proxy, and never blocks on one.
//
// Thread rule: add_upstream_routes on the main thread before the admin server starts; the
// handlers run on the admin loop and the answers are sent from the serving loops.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "serving_loops.h"
#include "tern/http/router.h"
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

// Adds GET /upstreams and POST /upstreams/{name}/drain|enable to `router` (the admin
// server's). `loops` must outlive the server the router serves on.
void add_upstream_routes(http::Router& router, const ServingLoops& loops, proxy::Mode mode,
                         proxy::Algorithm balance);

}  // namespace tern::apps
