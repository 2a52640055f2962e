#include "tern/patterns/server.h"

#include <algorithm>

#include "patterns/engine.h"
#include "patterns/server_metrics.h"
#include "tern/base/error.h"
#include "tern/protocol/framing.h"

namespace tern {
namespace {

// The built-in framing the options' codec names, as a protocol on the seam.
Service framing_service(const ServerOptions& options, const Handler& handler) {
  FramingOptions framing{options.codec.max_message(), options.deadlines};
  switch (options.codec.framing()) {
    case Framing::raw: return Service::of<RawProtocol>(framing, handler);
    case Framing::line: return Service::of<LineProtocol>(framing, handler);
    case Framing::length_prefixed: return Service::of<LengthPrefixedProtocol>(framing, handler);
  }
  return {};
}

}  // namespace

Server::Server(ServerOptions options, Handler handler) : options_(std::move(options)) {
  if (handler) service_ = framing_service(options_, handler);
}

Server::Server(ServerOptions options, Service service)
    : options_(std::move(options)), service_(std::move(service)) {}

Server::~Server() { shutdown(Duration::zero()); }

std::error_code Server::start() {
  if (running_) return {};
  detail_ = check_options(options_);
  if (!service_) detail_ = "a Server needs a handler";
  if (!detail_.empty()) return make_error_code(errc::invalid_argument);
  // The engine gets the options with the metrics' loop hooks wrapped around the program's.
  ServerOptions engine_options = options_;
  if (options_.metrics != nullptr) {
    metrics_ = std::make_unique<ServerMetrics>(*options_.metrics,
                                               size_t(std::max(options_.threads, 1)));
    metrics_->install(engine_options, [this](size_t i) { return engine_->loop_connections(i); });
  }
  if (options_.model == Model::lf) {
    engine_ = make_leader_followers(engine_options, service_);
  } else if (effective_pattern(options_) == Pattern::reactor) {
    engine_ = make_reactor_engine(engine_options, service_);
  } else {
    engine_ = make_stream_engine(engine_options, service_);
  }
  if (auto error = engine_->start()) {
    engine_.reset();
    metrics_.reset();
    return error;
  }
  if (metrics_) {
    metrics_->add_server_source(
        options_.model, [this] { return engine_->stats(); },
        [this] { return engine_->model_figures(); });
  }
  running_ = true;
  return {};
}

InetAddress Server::local_address() const {
  return engine_ ? engine_->local_address() : options_.address;
}

BackendKind Server::backend_in_use() const {
  return engine_ ? engine_->backend_in_use() : options_.backend;
}

ServerStats Server::stats() const {
  return engine_ ? engine_->stats() : ServerStats{};
}

bool Server::post_to(ConnId id, ConnectionTask task) {
  if (!running_) return false;
  return engine_->post_to(id, std::move(task));
}

void Server::shutdown(Duration deadline) {
  if (!running_) return;
  running_ = false;
  engine_->shutdown(deadline);
  if (metrics_) metrics_->remove_server_source();
}

}  // namespace tern
