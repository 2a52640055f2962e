// Service: a protocol and a handler, as one value an engine can serve without knowing either.
// Engines (the concurrency models) take a Service; per loop they ask it for a SessionMaker,
// which makes one Session<P> per connection and routes replies to them.
//
//   auto service = tern::Service::of<MyProtocol>(MyProtocol::Options{...},
//       tern::BasicHandler<MyProtocol::Request, MyProtocol::Response>::sync(...));
//   tern::Server server(options, service);
#pragma once

#include <memory>
#include <utility>

#include "tern/base/function_ref.h"
#include "tern/protocol/session.h"

namespace tern {

// Finds a live session by id and runs `visit` on it (nothing for a stale id), with whatever
// its transport needs around it: a stream connection is its loop's alone; a connection shared
// between threads (one-shot readiness) is locked for the visit, and written and re-armed
// after it. Called where ReplyRoute says: the connection's loop, or any thread without one.
class SessionFinder {
 public:
  virtual void visit(ConnId id, FunctionRef<void(SessionBase&)> visit) = 0;

 protected:
  ~SessionFinder() = default;
};

// One loop's sessions of one service (or, for leader/followers, all of them). Outlives every
// session it made. make(): on the thread that sets the connection up.
class SessionMaker {
 public:
  virtual ~SessionMaker() = default;
  virtual std::unique_ptr<SessionBase> make(Transport& io, Dispatcher& dispatcher, ConnId id) = 0;
};

class Service {
 public:
  class Impl {
   public:
    virtual ~Impl() = default;
    virtual std::unique_ptr<SessionMaker> maker(const SessionConfig& config,
                                                SessionFinder& finder) const = 0;
  };

  Service() = default;
  template <Protocol P>
  static Service of(typename P::Options options,
                    BasicHandler<typename P::Request, typename P::Response, chunk_of_t<P>> handler);

  // Any thread (the service is immutable).
  std::unique_ptr<SessionMaker> maker(const SessionConfig& config, SessionFinder& finder) const {
    return impl_->maker(config, finder);
  }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  explicit Service(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

template <Protocol P>
class ProtocolService final : public Service::Impl {
 public:
  using Response = typename P::Response;
  using Chunk = chunk_of_t<P>;
  using Handler = BasicHandler<typename P::Request, Response, Chunk>;

  ProtocolService(typename P::Options options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  std::unique_ptr<SessionMaker> maker(const SessionConfig& config,
                                      SessionFinder& finder) const override {
    return std::make_unique<Maker>(*this, config, finder);
  }

 private:
  class Maker final : public SessionMaker, public ReplyRoute<Response, Chunk> {
   public:
    Maker(const ProtocolService& service, const SessionConfig& config, SessionFinder& finder)
        : service_(service), config_(config), finder_(finder) {}

    std::unique_ptr<SessionBase> make(Transport& io, Dispatcher& dispatcher, ConnId id) override {
      return std::make_unique<Session<P>>(service_.options_, service_.handler_, config_, io,
                                          dispatcher, *this, id);
    }
    void deliver(ConnId id, uint64_t sequence, std::optional<Response>&& response) override {
      visit(id, [&](Session<P>& s) { s.complete(sequence, std::move(response)); });
    }
    void stream_head(ConnId id, uint64_t sequence, Response&& head) override {
      visit(id, [&](Session<P>& s) { s.stream_head(sequence, std::move(head)); });
    }
    void stream_chunk(ConnId id, uint64_t sequence, Chunk&& chunk) override {
      visit(id, [&](Session<P>& s) { s.stream_chunk(sequence, std::move(chunk)); });
    }
    void stream_end(ConnId id, uint64_t sequence, bool complete) override {
      visit(id, [&](Session<P>& s) { s.stream_end(sequence, complete); });
    }
    void stream_when_writable(ConnId id, uint64_t sequence, WritableCallback&& callback) override {
      visit(id, [&](Session<P>& s) { s.when_writable(sequence, std::move(callback)); });
      if (callback) callback(false);  // not taken: the connection is gone
    }
    void read_body(ConnId id, uint64_t sequence, BodySink* sink) override {
      visit(id, [&](Session<P>& s) { s.read_body(sequence, std::exchange(sink, nullptr)); });
      // Not taken: the connection is gone.
      if (sink != nullptr) sink->on_body_end(std::make_error_code(std::errc::not_connected));
    }

   private:
    // The id names a session this maker made (its generation makes it unique), so the cast is
    // to its real type.
    template <class F>
    void visit(ConnId id, F&& f) {
      finder_.visit(id, [&f](SessionBase& session) { f(static_cast<Session<P>&>(session)); });
    }

    const ProtocolService& service_;
    const SessionConfig& config_;
    SessionFinder& finder_;
  };

  typename P::Options options_;
  Handler handler_;
};

template <Protocol P>
Service Service::of(typename P::Options options,
                    BasicHandler<typename P::Request, typename P::Response, chunk_of_t<P>> handler) {
  return Service(std::make_shared<ProtocolService<P>>(std::move(options), std::move(handler)));
}

}  // namespace tern
