#include "httpd_routes.h"

namespace tern::apps {
namespace {

constexpr std::string_view kPlaintext = "Hello, World!";
constexpr std::string_view kJson = R"({"message":"Hello, World!"})";

}  // namespace

http::Router httpd_router(const LiveSite& live) {
  http::Router router;
  // The bodies are constants: the response refers to them, nothing is copied per request.
  router.get("/plaintext", [&live](const http::Request& request) {
    const Site& site = live.current();
    if (!site.endpoints) return site.files.serve(request);
    return http::Response(200).content_type("text/plain").body_constant(kPlaintext);
  });
  router.get("/json", [&live](const http::Request& request) {
    const Site& site = live.current();
    if (!site.endpoints) return site.files.serve(request);
    return http::Response(200).content_type("application/json").body_constant(kJson);
  });
  router.get("/{*path}", [&live](const http::Request& request) {
    return live.current().files.serve(request);
  });
  return router;
}

}  // namespace tern::apps
