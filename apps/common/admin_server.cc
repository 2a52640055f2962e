#include "admin_server.h"

#include <chrono>
#include <utility>

#include "server_flags.h"
#include "status_page.h"
#include "tern/metrics/exposition.h"

namespace tern::apps {
namespace {

double unix_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// A collect's answer goes out from whichever thread finishes it; the Reply (move-only) rides
// in a shared_ptr because the registry's callback is a copyable std::function.
void answer_with_snapshot(const metrics::Registry& registry, http::Reply reply,
                          std::function<http::Response(const metrics::Snapshot&)> render) {
  auto shared_reply = std::make_shared<http::Reply>(std::move(reply));
  registry.collect([shared_reply, render = std::move(render)](metrics::Snapshot snapshot) {
    http::Response response = render(snapshot);
    // Every scrape must see the current values, never a cache's.
    response.header("Cache-Control", "no-store");
    shared_reply->send(std::move(response));
  });
}

}  // namespace

AdminServer::AdminServer(InetAddress address, std::string program,
                         const metrics::Registry& registry)
    : address_(address), program_(std::move(program)), registry_(registry) {
  add_routes();
}

AdminServer::~AdminServer() { shutdown(); }

void AdminServer::add_routes() {
  router_.get_async("/metrics", [this](const http::Request&, http::Reply reply) {
    answer_with_snapshot(registry_, std::move(reply), [](const metrics::Snapshot& snapshot) {
      http::Response response(200);
      response.content_type(metrics::kPrometheusContentType).body(metrics::to_prometheus(snapshot));
      return response;
    });
  });
  router_.get_async("/metrics.json", [this](const http::Request&, http::Reply reply) {
    answer_with_snapshot(registry_, std::move(reply),
                         [program = program_](const metrics::Snapshot& snapshot) {
                           http::Response response(200);
                           response.content_type("application/json")
                               .body(metrics::to_json(snapshot, program, unix_seconds()));
                           return response;
                         });
  });
  router_.get("/status", [](const http::Request&) {
    http::Response response(200);
    response.content_type("text/html; charset=utf-8").body_constant(kStatusPage);
    return response;
  });
  router_.get("/", [](const http::Request&) {
    http::Response response = http::Response::text(302, "see /status\n");
    response.header("Location", "/status");
    return response;
  });
}

std::error_code AdminServer::start(std::string& why) {
  ServerOptions options;
  options.address = address_;
  options.backend = BackendKind::epoll;  // a few requests from an operator: any backend will do
  options.model = Model::single;
  server_ = std::make_unique<Server>(options, http::service(router_));
  if (auto error = server_->start()) {
    why = "cannot listen on " + address_.to_string() + " (admin): " + error.message();
    server_.reset();
    return error;
  }
  return {};
}

Result<std::unique_ptr<AdminServer>> AdminServer::start_from(std::string_view address,
                                                             std::string program,
                                                             const metrics::Registry& registry,
                                                             std::string& why) {
  auto bound = parse_admin_address(address, why);
  if (!bound) return make_error_code(std::errc::invalid_argument);
  auto admin = std::make_unique<AdminServer>(*bound, std::move(program), registry);
  if (auto error = admin->start(why)) return error;
  return admin;
}

InetAddress AdminServer::local_address() const {
  return server_ ? server_->local_address() : address_;
}

void AdminServer::shutdown() {
  if (server_) {
    server_->shutdown(std::chrono::seconds(1));
    server_.reset();
  }
}

}  // namespace tern::apps
