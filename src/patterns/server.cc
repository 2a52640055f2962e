#include "tern/patterns/server.h"

#include "patterns/engine.h"
#include "tern/base/error.h"

namespace tern {

Server::Server(ServerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Server::~Server() { shutdown(Duration::zero()); }

std::error_code Server::start() {
  if (running_) return {};
  detail_ = check_options(options_);
  if (!handler_) detail_ = "a Server needs a handler";
  if (!detail_.empty()) return make_error_code(errc::invalid_argument);
  if (options_.model == Model::lf) {
    engine_ = make_leader_followers(options_, handler_);
  } else if (effective_pattern(options_) == Pattern::reactor) {
    engine_ = make_reactor_engine(options_, handler_);
  } else {
    engine_ = make_stream_engine(options_, handler_);
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
