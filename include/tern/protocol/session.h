// Session<P>: one connection's request/response state machine, written once for every
// protocol and every concurrency model. It does no I/O itself (it is driven by a Transport, so
// the same code runs over a TcpConnection on any backend and over one-shot readiness), and it
// never knows the model (handlers run through a Dispatcher: inline on the loop, or on a
// worker through the bounded queue).
//
// What it owns, per connection:
//   - decoding: the unconsumed input, decoded straight from the read buffer when nothing is
//     buffered (only a partial message's tail is copied);
//   - pipelining: up to max_pipeline requests with the handler at once; responses leave in
//     request order (ResponseOrder), the ones finished in one pass gathered into one write;
//   - backpressure: reading stops at the pipeline limit, at the high-water mark of unsent
//     output, and while the worker queue is full;
//   - deadlines (the protocol's Deadlines): idle, a whole message's read, write progress;
//   - failures: a malformed message or an expired deadline gives the protocol a chance to
//     write a last response (on_failure), after the responses to the requests before it;
//   - closing: after the peer's FIN once everything read is answered; after a response the
//     protocol marked After::close; at drain once answered; always a lingering close;
//   - request bodies in pieces (a protocol whose decode answers `head`): the request goes to
//     its handler at once, and its body to the BodySink the handler gives (read_body), paced
//     by it; until then nothing of the body is read past one read (body_sink.h).
//
// Thread rule: every method runs on the thread that owns the connection (its loop), except
// the handler on a worker, whose reply comes back through the ReplyRoute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/net/conn_id.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/basic_handler.h"
#include "tern/protocol/body_sink.h"
#include "tern/protocol/output.h"
#include "tern/protocol/protocol.h"
#include "tern/protocol/response_order.h"
#include "tern/protocol/session_base.h"

namespace tern {

template <Protocol P>
class Session final : public SessionBase {
 public:
  using Request = typename P::Request;
  using Response = typename P::Response;
  using Chunk = chunk_of_t<P>;
  using Handler = BasicHandler<Request, Response, Chunk>;
  using Reply = BasicReply<Response, Chunk>;
  using Route = ReplyRoute<Response, Chunk>;

  Session(const typename P::Options& protocol_options, const Handler& handler,
          const SessionConfig& config, Transport& io, Dispatcher& dispatcher, Route& route,
          ConnId id)
      : protocol_(protocol_options), handler_(handler), config_(config), io_(io),
        dispatcher_(dispatcher), route_(route), id_(id), order_(config.max_pipeline) {
    if constexpr (requires { protocol_.deadlines(); }) deadlines_ = protocol_.deadlines();
  }

  // Producers still waiting to write learn that they never will; so does a body's sink.
  ~Session() override {
    for (Waiter& waiter : writable_waiters_) waiter.callback(false);
    closing_ = true;  // what the sink does from here (a reply) finds the session closing
    if (BodySink* sink = std::exchange(body_.sink, nullptr)) {
      sink->on_body_end(std::make_error_code(std::errc::connection_aborted));
    }
  }

  void start() override {
    if constexpr (requires(const InetAddress& peer) { protocol_.on_open(peer); }) {
      protocol_.on_open(io_.peer_address());
    }
    after_event();
  }

  void on_read(std::string_view data) override {
    if (closing_) return;
    if (consumed_ == input_.size()) {
      // Nothing buffered: decode straight from the read buffer, keep only the tail.
      input_.clear();
      consumed_ = 0;
      size_t used = consume(data);
      if (!closing_) input_.append(data.substr(used));
    } else {
      input_.append(data);
      consumed_ += consume(std::string_view(input_).substr(consumed_));
      compact();
    }
    after_event();
  }

  void on_peer_closed() override {
    peer_closed_ = true;  // the whole requests read are answered; a partial one never will be
    pump();               // a body's sink learns that its body is cut short
  }

  void on_output_drained() override {
    write_deadline_ = TimePoint{};  // progress: the next stretch gets its own deadline
    pump();
    wake_writers();
  }

  void on_deadline() override {
    if (closing_) return;
    armed_ = TimePoint{};
    TimePoint now = Clock::now();
    if (write_deadline_ != TimePoint{} && now >= write_deadline_) {
      closing_ = true;
      io_.close_now();  // the peer stopped reading: nothing more can reach it
      return;
    }
    if (read_deadline_ != TimePoint{} && now >= read_deadline_) {
      if (body_.active) {
        fail_body(std::make_error_code(std::errc::timed_out), "the request body stalled");
      } else {
        fail(Failure{Failure::Kind::read_timeout, {}});
      }
    } else if (idle_deadline_ != TimePoint{} && now >= idle_deadline_) {
      fail(Failure{Failure::Kind::idle_timeout, {}});
    }
    after_event();
  }

  void resume() override {
    if (!blocked_ || closing_) return;
    if (!dispatcher_.try_queue(waiting_job_, id_)) return;  // still full: resumed again later
    waiting_job_ = nullptr;
    blocked_ = false;
    pump();
  }

  // Requests already read are still answered (the whole ones buffered too); nothing more is
  // read; a half-read request is not served.
  void drain() override {
    draining_ = true;
    if constexpr (requires { protocol_.on_drain(); }) protocol_.on_drain();
    pump();
  }

  size_t in_flight() const noexcept override { return order_.in_flight(); }

  // As if the protocol had said After::close on the last request dispatched. Inside a pass
  // (one-shot readiness: a task that came while a handler runs unlocked) the pass's own end
  // decides; a close from here would cut it short.
  void close_when_answered() override {
    close_after_ = true;
    if (!processing_) after_event();
  }

  // The response to request `sequence` (nullopt: its reply was dropped). Connection's thread.
  void complete(uint64_t sequence, std::optional<Response>&& response) {
    if (closing_) return;
    Emitter emit{*this};
    if (!order_.put(sequence, std::move(response), emit)) unanswered_ = true;
    answered();
  }

  // A streamed response: its head, its chunks, its end (or its abandonment). Connection's
  // thread; pieces for a sequence that is not streaming are ignored.
  void stream_head(uint64_t sequence, Response&& head) {
    if (closing_) return;
    Emitter emit{*this};
    if (!order_.begin_stream(sequence, std::move(head), emit)) unanswered_ = true;
    answered();
  }
  void stream_chunk(uint64_t sequence, Chunk&& chunk) {
    if (closing_) return;
    Emitter emit{*this};
    order_.chunk(sequence, std::move(chunk), emit);
    answered();
  }
  void stream_end(uint64_t sequence, bool complete) {
    if (closing_) return;
    Emitter emit{*this};
    bool in_order = complete ? order_.end_stream(sequence, emit)
                             : order_.abort_stream(sequence, emit);
    if (!in_order) unanswered_ = true;
    answered();
  }
  // The body of request `sequence` goes to `sink`, if that request's body is the one still to
  // be read and no sink has it yet; otherwise the sink is ended at once. Connection's thread.
  void read_body(uint64_t sequence, BodySink* sink) {
    if (!body_.active || body_.sequence != sequence || body_.sink != nullptr ||
        body_.abandoned || closing_) {
      as_handler([&] { sink->on_body_end(std::make_error_code(std::errc::operation_not_permitted)); });
      return;
    }
    body_.sink = sink;
    sink->on_body_start(body_control_);
    invite_body();
    pump();  // inside a pass (an inline handler), the pass feeds it
  }

  void when_writable(uint64_t sequence, WritableCallback&& callback) {
    if (closing_ || !order_.in_flight(sequence)) {
      io_.call_later(std::move(callback), false);
      return;
    }
    writable_waiters_.push_back(Waiter{sequence, std::move(callback)});
    wake_writers();
  }

 private:
  // Dispatches the whole messages at the start of `input` while the limits allow; returns the
  // bytes used.
  size_t consume(std::string_view input) {
    processing_ = true;
    size_t used = 0;
    partial_ = false;
    while (true) {
      if (body_.active) {
        if (!feed_body(input, used)) break;
        continue;  // the body ended: the next message
      }
      if (!may_dispatch()) break;
      auto decoded = protocol_.decode(input.substr(used));
      if (decoded.status == Decoded<Request>::Status::invalid) {
        fail(Failure{Failure::Kind::malformed, decoded.error});
        break;
      }
      if (decoded.status == Decoded<Request>::Status::need_more) {
        partial_ = used < input.size();
        // Bytes the peer waits for before it sends the rest (100 Continue), only when no
        // earlier response is owed: they must not overtake one.
        if constexpr (requires { protocol_.interim(out_); }) {
          if (partial_ && order_.in_flight() == 0) protocol_.interim(out_);
        }
        break;
      }
      used += decoded.consumed;
      read_deadline_ = TimePoint{};
      uint64_t sequence = order_.begin_request();
      // Before the handler runs: an inline handler may ask for the body at once.
      if (decoded.status == Decoded<Request>::Status::head) body_ = BodyInPieces{true, sequence};
      dispatch(decoded.request, sequence);
    }
    processing_ = false;
    flush();
    return used;
  }

  bool may_dispatch() const noexcept {
    return !closing_ && !failed_ && !unanswered_ && !close_after_ && !blocked_ && !order_.full();
  }

  // No whole request waits in the input (it is empty, or holds the start of one).
  bool input_exhausted() const noexcept { return consumed_ == input_.size() || partial_; }

  void dispatch(const Request& request, uint64_t sequence) {
    Reply reply(&route_, id_, sequence);
    if (dispatcher_.runs_inline()) {
      dispatcher_.before_handler();
      handler_(request, std::move(reply));
      dispatcher_.after_handler();
      return;
    }
    Dispatcher::Job job = [handler = &handler_, owned = P::own(request),
                           reply = std::move(reply)]() mutable {
      (*handler)(P::view(owned), std::move(reply));
    };
    if (dispatcher_.try_queue(job, id_)) return;
    // The queue is full: this request waits here (its bytes already copied), and nothing more
    // is read or dispatched until the dispatcher resumes us.
    waiting_job_ = std::move(job);
    blocked_ = true;
  }

  // Hands the body's bytes in `input` from `used` on to its sink while the sink takes them.
  // True once the body is complete; false while it waits (for input, for a sink, for the sink
  // to resume) or has failed.
  bool feed_body(std::string_view input, size_t& used) {
    partial_ = true;  // a message is still being read
    if (body_.sink == nullptr || body_.paused || failed_) return false;
    if constexpr (StreamingBodyProtocol<P>) {
      invite_body();
      while (true) {
        BodyStep step = protocol_.decode_body(input.substr(used));
        if (step.status == BodyStep::Status::invalid) {
          used = input.size();  // nothing after a broken body is read as a request
          fail_body(step.error, step.error.message().c_str());
          return false;
        }
        used += step.consumed;
        if (!step.piece.empty()) read_deadline_ = TimePoint{};  // progress: a new stall bound
        body_.resumed = false;
        bool more = true;
        if (!step.piece.empty()) {
          BodySink* sink = body_.sink;
          as_handler([&] { more = sink->on_body(step.piece); });
        }
        if (step.status == BodyStep::Status::end) {
          end_body({});
          partial_ = false;
          return true;
        }
        if (body_.sink == nullptr) return false;  // the sink aborted from on_body
        if (step.status == BodyStep::Status::more_input) {
          if (peer_closed_) {
            fail_body(std::make_error_code(std::errc::connection_reset),
                      "the peer closed inside a request body");
          }
          return false;
        }
        // A resume that came while the sink ran (another thread, the connection let go) wins.
        if (!more && !body_.resumed) {
          body_.paused = true;
          return false;
        }
      }
    }
    return false;
  }

  // The peer may wait for leave to send the body (100 Continue): a sink wants it now. Only
  // when no earlier response is owed (it must not overtake one); the protocol sends it once.
  void invite_body() {
    if constexpr (requires { protocol_.interim(out_); }) {
      if (!order_.first(body_.sequence)) return;
      protocol_.interim(out_);
      if (!processing_) flush();
    }
  }

  // The body's sink learns how its body ended; the session is done with it.
  void end_body(std::error_code error) {
    BodySink* sink = body_.sink;
    body_ = BodyInPieces{};
    if (sink != nullptr) as_handler([&] { sink->on_body_end(error); });
  }

  // Runs a sink's callback the way an inline handler runs: a transport whose connection is
  // shared between threads (one-shot readiness) lets go of it meanwhile, so a sink that
  // answers from its callback (the reply visits the connection) does not wait on itself.
  template <class F>
  void as_handler(F&& callback) {
    dispatcher_.before_handler();
    callback();
    dispatcher_.after_handler();
  }

  // A body that cannot be read to its end: its request was dispatched, so its handler answers
  // it (no failure response of the protocol's: that would be a second answer), then the
  // connection closes.
  void fail_body(std::error_code error, const char* why) {
    if (!failed_) log_closing(why);
    failed_ = true;
    end_body(error);
  }

  // ReadControl of the body being read, for its sink.
  class BodyControl final : public ReadControl {
   public:
    explicit BodyControl(Session& session) : session_(session) {}
    void resume_reading() override {
      session_.body_.resumed = true;  // also while the sink still runs (feed_body)
      if (!session_.body_.paused) return;
      session_.body_.paused = false;
      session_.pump();
    }
    // The body is abandoned: nothing more of it is read, and the connection closes once its
    // request is answered (maybe_close). The sink is not called again.
    void abort(std::error_code) override {
      if (!session_.body_.active) return;
      session_.body_.sink = nullptr;
      session_.body_.abandoned = true;
      if (!session_.processing_) session_.after_event();  // else the pass's end does
    }

   private:
    Session& session_;
  };

  // Reading while a body is read in pieces: only for a sink that takes it.
  bool body_reading() const noexcept {
    return body_.sink != nullptr && !body_.paused && !peer_closed_ && !failed_;
  }

  void emit(Response&& response) {
    if (protocol_.encode(std::move(response), out_) == After::close) close_after_ = true;
  }

  // How ResponseOrder's output becomes bytes. A protocol that cannot stream gets no stream
  // pieces: its handlers' streams are refused (the connection closes, with a log line).
  struct Emitter {
    Session& session;
    void response(Response& r) { session.emit(std::move(r)); }
    void head(Response& r) {
      if constexpr (StreamingProtocol<P>) {
        session.protocol_.encode_head(std::move(r), session.out_);
      } else {
        session.refuse_stream();
      }
    }
    void chunk(Chunk& c) {
      if constexpr (StreamingProtocol<P>) session.protocol_.encode_chunk(std::move(c), session.out_);
    }
    void end() {
      if constexpr (StreamingProtocol<P>) {
        if (session.protocol_.encode_end(session.out_) == After::close) session.close_after_ = true;
      }
    }
  };

  void refuse_stream() {
    if (!failed_) log_closing("a handler streamed a response, and this protocol cannot stream");
    failed_ = unanswered_ = true;
  }

  // After output was made: write it (unless a pass is running, which writes at its end) and
  // go on reading what is buffered.
  void answered() {
    if (processing_) return;
    flush();
    pump();
    wake_writers();
  }

  // Runs the writable callbacks of the stream first in line while the output is below the
  // high-water mark, and tells the producers of streams that ended that they are done. A
  // callback may write, end its stream (making another first in line, whose waiter may sit
  // anywhere in the list) and register again: so after each one the search starts over
  // (regression: a waiter before the one called was never looked at again, and its stream
  // stalled). Bounded per pass; what is left runs at the next drain or reply.
  void wake_writers() {
    if (closing_ || writable_waiters_.empty() || waking_) return;
    waking_ = true;
    constexpr int kMaxCallbacksPerPass = 1024;
    for (int called = 0; called < kMaxCallbacksPerPass && !closing_; ++called) {
      size_t i = 0;
      bool open = false;
      for (; i < writable_waiters_.size(); ++i) {
        const Waiter& waiter = writable_waiters_[i];
        if (!order_.in_flight(waiter.sequence)) break;  // its stream is over
        if (order_.first(waiter.sequence) && unsent_bytes() < config_.high_water) {
          open = true;
          break;
        }
      }
      if (i == writable_waiters_.size()) break;
      WritableCallback callback = std::move(writable_waiters_[i].callback);
      writable_waiters_.erase(writable_waiters_.begin() + static_cast<ptrdiff_t>(i));
      io_.call_later(std::move(callback), open);
    }
    waking_ = false;
  }

  void flush() {
    if (!out_.empty() && !closing_) io_.write(out_);
  }

  // Output not yet on the wire: the transport's, and what waits in out_ for the end of a pass.
  // On one-shot readiness a reply or a stream's chunk can arrive during a pass (from another
  // thread, while a handler runs unlocked); until the pass ends its bytes are only in out_
  // (regression: a producer woken against the transport's count alone ran 12 MiB ahead).
  uint64_t unsent_bytes() const noexcept { return io_.unsent_bytes() + out_.size(); }

  // After a reply or drained output: decode what is buffered if the limits now allow.
  void pump() {
    if (processing_ || closing_) return;
    bool more = body_.active ? body_.sink != nullptr && !body_.paused &&
                                   (consumed_ < input_.size() || peer_closed_)
                             : consumed_ < input_.size() && may_dispatch();
    if (more) {
      consumed_ += consume(std::string_view(input_).substr(consumed_));
      compact();
    }
    after_event();
  }

  void fail(Failure failure) {
    if (failed_) return;
    failed_ = true;
    partial_ = false;
    if (failure.kind == Failure::Kind::malformed) {
      log_closing(failure.error.message().c_str());
    }
    if constexpr (requires { protocol_.on_failure(failure); }) {
      last_response_ = protocol_.on_failure(failure);
    }
  }

  // Reading, closing and deadlines, decided again after every event.
  void after_event() {
    if (closing_) return;
    if (maybe_close()) return;
    io_.set_reading(body_.active ? body_reading()
                                 : !peer_closed_ && !draining_ && may_dispatch() &&
                                       io_.unsent_bytes() < config_.high_water);
    update_deadlines();
  }

  // True once the connection is closing.
  bool maybe_close() {
    if (unanswered_) {
      log_closing("a handler dropped its reply");
      return close_gracefully();
    }
    if (order_.in_flight() != 0) return false;
    // Answered, its body not taken: what is left of it cannot be told from a next request.
    if (body_.active && body_.sink == nullptr) return close_gracefully();
    if (failed_) {
      if (last_response_) {
        emit(std::move(*last_response_));
        last_response_.reset();
      }
      return close_gracefully();
    }
    if (close_after_ || (draining_ && input_exhausted())) return close_gracefully();
    if (peer_closed_ && input_exhausted()) {
      flush();
      closing_ = true;
      io_.finish();
      return true;
    }
    return false;
  }

  bool close_gracefully() {
    flush();
    closing_ = true;
    io_.set_deadline(TimePoint{});
    io_.close_gracefully();
    return true;
  }

  void update_deadlines() {
    TimePoint now{};
    auto start = [&](Duration limit, TimePoint& deadline, bool running) {
      if (limit == Duration::zero() || !running) {
        deadline = TimePoint{};
      } else if (deadline == TimePoint{}) {
        if (now == TimePoint{}) now = Clock::now();
        deadline = now + limit;
      }
    };
    size_t unsent = io_.unsent_bytes();
    // A protocol that says where a message's head ends gets a deadline for its head and
    // another for its body.
    bool in_body = false;
    if constexpr (requires { protocol_.in_body(); }) in_body = partial_ && protocol_.in_body();
    if (in_body != in_body_) {
      in_body_ = in_body;
      read_deadline_ = TimePoint{};
    }
    if (body_.active) {
      // A body in pieces: a stall bound, from its last piece, while its sink takes it (its
      // handler's and its sink's pace are theirs).
      in_body_ = true;
      start(deadlines_.body, read_deadline_, body_reading());
    } else {
      start(in_body ? deadlines_.body : deadlines_.read, read_deadline_, partial_);
    }
    start(deadlines_.idle, idle_deadline_,
          order_.in_flight() == 0 && consumed_ == input_.size() && unsent == 0);
    start(deadlines_.write, write_deadline_, unsent > 0);
    TimePoint next{};
    for (TimePoint t : {read_deadline_, idle_deadline_, write_deadline_}) {
      if (t != TimePoint{} && (next == TimePoint{} || t < next)) next = t;
    }
    if (next != armed_) {
      armed_ = next;
      io_.set_deadline(next);
    }
  }

  void compact() {
    if (consumed_ == input_.size()) {
      input_.clear();
      consumed_ = 0;
    } else if (consumed_ > 0) {
      input_.erase(0, consumed_);
      consumed_ = 0;
    }
  }

  void log_closing(const char* why);

  P protocol_;
  const Handler& handler_;
  const SessionConfig& config_;
  Transport& io_;
  Dispatcher& dispatcher_;
  Route& route_;
  const ConnId id_;
  Deadlines deadlines_;

  std::string input_;     // bytes read and not yet dispatched, from consumed_ on
  size_t consumed_ = 0;
  ResponseOrder<Response, Chunk> order_;
  Output out_;            // encoded responses of the current pass
  Dispatcher::Job waiting_job_;  // a request the full queue did not take
  struct Waiter {
    uint64_t sequence;
    WritableCallback callback;
  };
  std::vector<Waiter> writable_waiters_;  // streams' producers waiting for room
  std::optional<Response> last_response_;  // the protocol's answer to a failure
  // The request body being read in pieces (the protocol's decode said head).
  struct BodyInPieces {
    bool active = false;     // its head is dispatched; the next decode waits for its end
    uint64_t sequence = 0;   // its request's
    BodySink* sink = nullptr;  // the handler's (read_body); null until then
    bool paused = false;     // the sink declined more: resume_reading() feeds it again
    bool resumed = false;    // resume_reading() came since the last piece was handed on
    bool abandoned = false;  // the sink aborted: the connection closes once answered
  };
  BodyInPieces body_;
  BodyControl body_control_{*this};

  TimePoint read_deadline_{};
  TimePoint idle_deadline_{};
  TimePoint write_deadline_{};
  TimePoint armed_{};

  bool processing_ = false;  // inside consume(): replies only queue their output
  bool partial_ = false;     // a message has begun and is not complete
  bool blocked_ = false;     // the worker queue was full
  bool peer_closed_ = false;
  bool failed_ = false;      // malformed input or a deadline: answer what came before, close
  bool unanswered_ = false;  // a reply was dropped: the answers behind it can never go out
  bool close_after_ = false; // After::close, or close_when_answered()
  bool draining_ = false;
  bool closing_ = false;
  bool waking_ = false;      // inside wake_writers()
  bool in_body_ = false;     // the read deadline running is the body's
};

// Out of line so the header needs no logging include.
void log_session_closing(const std::string& peer, const char* why);

template <Protocol P>
void Session<P>::log_closing(const char* why) {
  log_session_closing(io_.peer_address().to_string(), why);
}

}  // namespace tern
