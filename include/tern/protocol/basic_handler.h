// BasicHandler<Request, Response>: the logic unit's API for any protocol. Handlers see whole
// requests (decoded by the protocol), never byte streams, and the same handler runs under
// every concurrency model.
//
//   Synchronous: Response(const Request&). May block; under hsha it runs on a worker thread,
//   so a slow handler holds up only that worker.
//   Asynchronous: void(const Request&, BasicReply<Response>). Must not block: it runs where
//   the model runs handlers (the connection's loop, or a worker) and answers later, from any
//   thread, through the reply it was given.
//
// The Request is valid only during the call (on the loop it views the read buffer): copy what
// must outlive it. Responses go out in request order per connection, whatever order the
// handlers finish in.
#pragma once

#include <functional>
#include <utility>

#include "tern/protocol/reply.h"

namespace tern {

template <class Request, class Response, class Chunk = Response>
class BasicHandler {
 public:
  using Reply = BasicReply<Response, Chunk>;
  using Sync = std::function<Response(const Request&)>;
  using Async = std::function<void(const Request&, Reply)>;

  BasicHandler() = default;
  static BasicHandler sync(Sync handler) {
    return BasicHandler([handler = std::move(handler)](const Request& request, Reply reply) {
      reply.send(handler(request));
    });
  }
  static BasicHandler async(Async handler) { return BasicHandler(std::move(handler)); }

  // Thread rule: const and re-entrant; called concurrently from every thread that runs handlers.
  void operator()(const Request& request, Reply reply) const { run_(request, std::move(reply)); }
  explicit operator bool() const noexcept { return static_cast<bool>(run_); }

 private:
  explicit BasicHandler(Async run) : run_(std::move(run)) {}
  Async run_;
};

}  // namespace tern
