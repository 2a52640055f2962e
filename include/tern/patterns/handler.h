// The logic unit's API: handlers see whole messages (framed by the server's Codec), never
// byte streams, and the same handler runs under every concurrency model.
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
//   the Reply handle it was given.
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
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tern {

// A view valid only during the handler call: copy what must outlive it.
using Request = std::string_view;
using Response = std::string;

// What a connection does with its responses. Implemented by each model's connection.
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // Any thread. `response` is nullopt for a request whose Reply was dropped unanswered.
  virtual void complete(uint64_t sequence, std::optional<Response> response) = 0;
};

// The handle to answer one request. Move-only; send() once, from any thread.
class Reply {
 public:
  Reply() = default;
  Reply(std::shared_ptr<ReplySink> sink, uint64_t sequence) noexcept
      : sink_(std::move(sink)), sequence_(sequence) {}
  Reply(Reply&&) noexcept = default;
  Reply& operator=(Reply&& other) noexcept;
  ~Reply();

  // Queues `response` to be written after the responses to earlier requests of the same
  // connection. Does nothing if the connection has closed meanwhile, or if already sent.
  void send(Response response);
  // True until send() (or a move from it).
  bool pending() const noexcept { return sink_ != nullptr; }

 private:
  void abandon() noexcept;
  std::shared_ptr<ReplySink> sink_;
  uint64_t sequence_ = 0;
};

class Handler {
 public:
  using Sync = std::function<Response(Request)>;
  using Async = std::function<void(Request, Reply)>;

  static Handler sync(Sync handler);
  static Handler async(Async handler);

  void operator()(Request request, Reply reply) const { run_(request, std::move(reply)); }
  explicit operator bool() const noexcept { return static_cast<bool>(run_); }

 private:
  explicit Handler(Async run) : run_(std::move(run)) {}
  Async run_;
};

}  // namespace tern
