// http::Router: requests to handlers by method and path, under any model.
//
//   http::Router router;
//   router.get("/plaintext", [](const http::Request&) {
//     return http::Response::text(200, "Hello, World!");
//   });
//   router.get("/users/{id}", [](const http::Request& r) { ... r.param("id") ... });
//   router.get("/static/{*path}", serve_file);          // a prefix: the rest of the path
//   router.get_async("/slow", [](const http::Request&, http::Reply reply) {
//     start_work([reply = std::move(reply)]() mutable { reply.send(http::Response(200)); });
//   });
//   router.use([](const http::Request& r) -> std::optional<http::Response> {   // middleware
//     if (!r.header("authorization")) return http::Response(401);
//     return std::nullopt;                              // go on to the route
//   });
//   tern::Server server(options, http::service(std::move(router), protocol_options));
//
// Matching: segments are literals or {name} (one segment, percent-decoded into the request's
// params); a last {*name} takes the rest of the path after its slash ("/kv/{*key}" matches
// "/kv/" with an empty rest and "/kv/a/b" with "a/b", never "/kv"). A literal beats a {param}
// at the same place, a literal route beats a {*name} route on the same path, and among routes
// that match equally the first added wins. No route for the path: 404; a route for the path
// but not the method: 405 with Allow. HEAD is served by a GET route (the protocol drops the
// body) unless a HEAD route is added; OPTIONS without a route: 204 with Allow.
//
// Handlers are synchronous (return the Response: may block, so under hsha they run on the
// workers) or asynchronous (answer through the Reply later, from any thread; must not block).
// Middleware runs in the order added, before the route's handler, on the same thread.
//
// Thread rule: build on one thread, then handler() is immutable and called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/http/protocol.h"
#include "tern/http/request.h"
#include "tern/http/response.h"
#include "tern/protocol/basic_handler.h"
#include "tern/protocol/service.h"

namespace tern::http {

using Handler = BasicHandler<Request, Response, std::string>;
using Reply = Handler::Reply;
using Stream = Reply::Stream;

class Router {
 public:
  using Sync = std::function<Response(const Request&)>;
  using Async = std::function<void(const Request&, Reply)>;
  // Answers instead of the route (a Response), or lets the request through (nullopt).
  using Middleware = std::function<std::optional<Response>(const Request&)>;

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  Router& route(Method method, std::string_view pattern, Sync handler);
  Router& route_async(Method method, std::string_view pattern, Async handler);
  Router& get(std::string_view pattern, Sync handler) {
    return route(Method::get, pattern, std::move(handler));
  }
  Router& post(std::string_view pattern, Sync handler) {
    return route(Method::post, pattern, std::move(handler));
  }
  Router& put(std::string_view pattern, Sync handler) {
    return route(Method::put, pattern, std::move(handler));
  }
  Router& del(std::string_view pattern, Sync handler) {
    return route(Method::delete_, pattern, std::move(handler));
  }
  Router& get_async(std::string_view pattern, Async handler) {
    return route_async(Method::get, pattern, std::move(handler));
  }
  Router& use(Middleware middleware);

  // The handler to serve: the router's table, shared and immutable from here on.
  Handler handler() const;

 private:
  struct Table;
  std::shared_ptr<Table> table_;
};

// A Service (tern/protocol/service.h) for tern::Server: HTTP with `handler`.
Service service(Handler handler, ProtocolOptions options = {});
inline Service service(const Router& router, ProtocolOptions options = {}) {
  return service(router.handler(), std::move(options));
}

}  // namespace tern::http
