// BasicReply<Response, Chunk>: the handle to answer one request. A small value: where the
// answer goes (the route of the connection's server), which connection (ConnId) and which
// request of it (its sequence number). No reference count and, on the loop models, no
// allocation: the response is moved into a task posted to the connection's loop (or, on that
// loop, delivered at once). A reply whose connection has closed, or whose server has stopped,
// is dropped.
//
// Move-only: a request is answered once. Destroying a pending reply answers "unanswered": the
// connection closes after the responses before it are sent (the answers behind an unanswered
// request could never go out in order; a bug in the handler, made visible).
//
// A response can also be streamed: std::move(reply).stream(head) gives a BasicStream, whose
// write(chunk) and end() work from any thread. The stream first in line goes out as its pieces
// come; later pipelined responses wait behind it, in order. when_writable(callback) is the
// backpressure: the callback runs on the connection's loop once this stream is first in line
// and the connection's unsent output is below its high-water mark (at once if it is), with
// false if the connection closed instead. A producer that writes a chunk per callback keeps
// the connection's memory bounded.
//
// A request whose body follows its head (the protocol said so: http::Request::body_follows)
// is answered the same way; before answering, reply.read_body(sink) asks for the body, which
// reaches `sink` in pieces on the connection's loop (tern/protocol/body_sink.h).
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>
#include <utility>

#include "tern/base/unique_function.h"
#include "tern/loop/loop_handle.h"
#include "tern/net/conn_id.h"
#include "tern/protocol/body_sink.h"

namespace tern {

using WritableCallback = UniqueFunction<void(bool open)>;

// Where a server's replies go: finds the connection's session and hands it the response.
// On the connection's loop thread only (replies travel there first, so a route is never
// touched after its loop is gone); a route for a connection with no loop (ConnId::loop not
// valid: leader/followers) is called from the replying thread and must be thread-safe.
template <class Response, class Chunk = Response>
class ReplyRoute {
 public:
  // `response` is nullopt for a reply dropped unanswered.
  virtual void deliver(ConnId id, uint64_t sequence, std::optional<Response>&& response) = 0;
  virtual void stream_head(ConnId id, uint64_t sequence, Response&& head) = 0;
  virtual void stream_chunk(ConnId id, uint64_t sequence, Chunk&& chunk) = 0;
  // `complete` is false for a stream dropped before end(): the response is cut short, so the
  // connection closes after it.
  virtual void stream_end(ConnId id, uint64_t sequence, bool complete) = 0;
  virtual void stream_when_writable(ConnId id, uint64_t sequence, WritableCallback&& callback) = 0;
  // The body of request `sequence` goes to `sink` (body_sink.h). A route that cannot take
  // bodies in pieces ends the sink at once.
  virtual void read_body(ConnId, uint64_t, BodySink* sink) {
    sink->on_body_end(std::make_error_code(std::errc::operation_not_supported));
  }

 protected:
  ~ReplyRoute() = default;
};

// Runs `call(route)` where a route may be touched: at once on the connection's loop (or for a
// loop-less connection), else in a task posted to that loop (a no-op once the loop is gone).
template <class Route, class Call>
void on_connection_loop(Route* route, ConnId id, Call&& call) {
  if (!id.loop.valid() || runs_here(id.loop)) {
    call(*route);
    return;
  }
  post_to(id.loop, [route, call = std::forward<Call>(call)]() mutable { call(*route); });
}

template <class Response, class Chunk = Response>
class BasicStream {
 public:
  using Route = ReplyRoute<Response, Chunk>;
  BasicStream() = default;
  BasicStream(Route* route, ConnId id, uint64_t sequence) noexcept
      : route_(route), id_(id), sequence_(sequence) {}
  BasicStream(BasicStream&& other) noexcept
      : route_(std::exchange(other.route_, nullptr)), id_(other.id_), sequence_(other.sequence_) {}
  BasicStream& operator=(BasicStream&& other) noexcept {
    if (this != &other) {
      finish(false);
      route_ = std::exchange(other.route_, nullptr);
      id_ = other.id_;
      sequence_ = other.sequence_;
    }
    return *this;
  }
  // Dropped before end(): the response is cut short and the connection closes after it.
  ~BasicStream() { finish(false); }

  // Any thread. The chunks of one stream go out in the order written.
  void write(Chunk chunk) {
    if (route_ == nullptr) return;
    on_connection_loop(route_, id_, [id = id_, sequence = sequence_,
                                     chunk = std::move(chunk)](Route& route) mutable {
      route.stream_chunk(id, sequence, std::move(chunk));
    });
  }
  // Any thread: `callback(open)` runs on the connection's loop when more may be written.
  void when_writable(WritableCallback callback) {
    if (route_ == nullptr) return;
    on_connection_loop(route_, id_, [id = id_, sequence = sequence_,
                                     callback = std::move(callback)](Route& route) mutable {
      route.stream_when_writable(id, sequence, std::move(callback));
    });
  }
  // Any thread, once: the response is complete.
  void end() { finish(true); }
  bool open() const noexcept { return route_ != nullptr; }

 private:
  void finish(bool complete) {
    if (route_ == nullptr) return;
    on_connection_loop(std::exchange(route_, nullptr), id_,
                       [id = id_, sequence = sequence_, complete](Route& route) {
                         route.stream_end(id, sequence, complete);
                       });
  }

  Route* route_ = nullptr;
  ConnId id_;
  uint64_t sequence_ = 0;
};

template <class Response, class Chunk = Response>
class BasicReply {
 public:
  using Route = ReplyRoute<Response, Chunk>;
  using Stream = BasicStream<Response, Chunk>;

  BasicReply() = default;
  BasicReply(Route* route, ConnId id, uint64_t sequence) noexcept
      : route_(route), id_(id), sequence_(sequence) {}
  BasicReply(BasicReply&& other) noexcept
      : route_(std::exchange(other.route_, nullptr)), id_(other.id_), sequence_(other.sequence_) {}
  BasicReply& operator=(BasicReply&& other) noexcept {
    if (this != &other) {
      abandon();
      route_ = std::exchange(other.route_, nullptr);
      id_ = other.id_;
      sequence_ = other.sequence_;
    }
    return *this;
  }
  ~BasicReply() { abandon(); }

  // Any thread, once: queues `response` to go out after the responses to the requests before
  // it on the same connection. Does nothing if already sent or the connection is gone.
  void send(Response response) {
    if (route_ == nullptr) return;
    forward(std::exchange(route_, nullptr), std::optional<Response>(std::move(response)));
  }
  // Any thread, once, instead of send(): starts a streamed response with `head` (the
  // protocol's stream head: for the built-in framings, the first bytes).
  Stream stream(Response head) && {
    Route* route = std::exchange(route_, nullptr);
    if (route == nullptr) return Stream();
    on_connection_loop(route, id_, [id = id_, sequence = sequence_,
                                    head = std::move(head)](Route& r) mutable {
      r.stream_head(id, sequence, std::move(head));
    });
    return Stream(route, id_, sequence_);
  }
  // Any thread, once, before send() or stream(): the body of this request, whose head alone
  // reached the handler (body_follows), goes to `sink` in pieces on the connection's loop; the
  // sink must stay alive until its on_body_end. For a request whose body came whole, or a
  // reply already answered, the sink is ended at once with an error.
  void read_body(BodySink& sink) {
    if (route_ == nullptr) {
      sink.on_body_end(std::make_error_code(std::errc::operation_not_permitted));
      return;
    }
    on_connection_loop(route_, id_, [id = id_, sequence = sequence_, sink = &sink](Route& r) {
      r.read_body(id, sequence, sink);
    });
  }
  // True until send() or stream() (or a move from it).
  bool pending() const noexcept { return route_ != nullptr; }
  ConnId connection() const noexcept { return id_; }

 private:
  void abandon() noexcept {
    if (route_ == nullptr) return;
    forward(std::exchange(route_, nullptr), std::nullopt);
  }
  // Its captures fit a Task's inline storage: nothing is allocated to post a reply.
  void forward(Route* route, std::optional<Response>&& response) {
    on_connection_loop(route, id_, [id = id_, sequence = sequence_,
                                    response = std::move(response)](Route& r) mutable {
      r.deliver(id, sequence, std::move(response));
    });
  }

  Route* route_ = nullptr;
  ConnId id_;
  uint64_t sequence_ = 0;
};

}  // namespace tern
