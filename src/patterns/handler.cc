#include "tern/patterns/handler.h"

#include <utility>

namespace tern {

Reply& Reply::operator=(Reply&& other) noexcept {
  if (this != &other) {
    abandon();
    sink_ = std::move(other.sink_);
    sequence_ = other.sequence_;
  }
  return *this;
}

Reply::~Reply() { abandon(); }

void Reply::send(Response response) {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink->complete(sequence_, std::move(response));
}

void Reply::abandon() noexcept {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink->complete(sequence_, std::nullopt);
}

Handler Handler::sync(Sync handler) {
  return Handler([handler = std::move(handler)](Request request, Reply reply) {
    reply.send(handler(request));
  });
}

Handler Handler::async(Async handler) { return Handler(std::move(handler)); }

}  // namespace tern
