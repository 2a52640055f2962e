// The handler of the built-in framings (--codec raw|line|length): requests are byte strings,
// responses strings. The same handler runs under every concurrency model.
//
//   Synchronous: Response(Request). May block; under hsha, lf and the patterns with workers
//   it runs on a worker thread, so a slow handler holds up only that worker.
//
//     auto echo = tern::Handler::sync([](tern::Request request) {
//       return tern::Response(request);
//     });
//
//   Asynchronous: void(Request, Reply). Must not block: it runs where the model runs
//   handlers (the connection's loop, or a worker) and answers later, from any thread, through
//   the Reply it was given (a small move-only value: tern/protocol/reply.h).
//
//     auto later = tern::Handler::async([&pool](tern::Request request, tern::Reply reply) {
//       pool.submit([r = std::string(request), reply = std::move(reply)]() mutable {
//         reply.send(compute(r));
//       });
//     });
//
// Responses go out in request order per connection, whatever order the handlers finish in.
// A Reply dropped without send() closes its connection (the responses behind it could never
// go out in order): an unanswered request is a bug in the handler, made visible.
// Other protocols use BasicHandler<Request, Response> the same way (tern/protocol/).
#pragma once

#include <string>
#include <string_view>

#include "tern/protocol/basic_handler.h"

namespace tern {

// A view valid only during the handler call: copy what must outlive it.
using Request = std::string_view;
using Response = std::string;
using Reply = BasicReply<Response>;
using Handler = BasicHandler<Request, Response>;

}  // namespace tern
