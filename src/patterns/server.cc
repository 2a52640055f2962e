#include "tern/patterns/server.h"

#include "patterns/engine.h"
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
  if (options_.model == Model::lf) {
    engine_ = make_leader_followers(options_, service_);
  } else if (effective_pattern(options_) == Pattern::reactor) {
    engine_ = make_reactor_engine(options_, service_);
  } else {
    engine_ = make_stream_engine(options_, service_);
  }
  if (auto error = engine_->start()) {
    engine_.reset();
    return error;
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

void Server::shutdown(Duration deadline) {
  if (!running_) return;
  running_ = false;
  engine_->shutdown(deadline);
}

}  // namespace tern
