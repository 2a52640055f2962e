// Pipeline<C>: the client side of the protocol seam, the mirror of the server's response
// order. Requests are encoded and written in the order sent; responses are decoded from the
// connection as they arrive and matched, first in first out, to the callbacks of the requests
// still waiting. A client protocol (HTTP, RESP) gets pipelining and in-order completion from
// it without writing either.
//
//   struct MyClientProtocol {
//     using Request = ...;    // what the caller sends
//     using Response = ...;   // what decode_response yields: may view the input, valid during
//                             // the callback only
//     struct Options { ... };
//     explicit MyClientProtocol(const Options&);
//     void encode_request(Request&& request, Output& out);
//     Decoded<Response> decode_response(std::string_view input);   // incremental, as decode
//
//     // Optional: the peer ended the stream (errc::eof) with requests waiting. `input` holds
//     // the bytes not yet decoded; a message completes the first waiting request (an HTTP body
//     // delimited by the connection's close), need_more or invalid end the connection as usual.
//     Decoded<Response> decode_end(std::string_view input);
//
//     // Optional, for answers taken in pieces (tern/protocol/read_control.h): need_more may
//     // report bytes consumed (a body piece handed on); attach() gives the protocol the
//     // pipeline's ReadControl; after a decode, reading_paused() true stops reading until
//     // ReadControl::resume_reading (which calls resume() first).
//     void attach(ReadControl& control);
//     bool reading_paused() const;
//     void resume();
//
//     // Optional, for request bodies written in pieces (tern/protocol/body_writer.h): the
//     // source of the request just encoded, once (null: none); the framing of a piece (a view,
//     // written before the pipeline returns; false: refused) and of the end (false: short);
//     // the body given up. The pipeline is the source's BodyWriter.
//     BodySource* take_opened_body();
//     bool encode_body_piece(std::string_view piece, Output& out);
//     bool encode_body_end(Output& out);
//     void close_body();
//   };
//
// Writes are gathered like the server session gathers its responses: requests sent from the
// response callbacks of one read are encoded as they are sent and leave in one write after the
// last of those callbacks (a client that answers each reply with a new request makes one
// system call per read, not one per request). A send from anywhere else writes at once.
//
// Failure is per connection, because responses are matched by position: a malformed response,
// the peer closing, a reset or a missed deadline fails every request still waiting (the
// callback gets the error and no response) and closes the connection. A request sent after
// that fails at once with errc::not_connected.
//
// Deadlines: the first waiting request's answer must come within response_timeout of its send
// (or of the answer before it), and by the request's own deadline when send() was given one
// (a caller that already spent part of a budget, such as a Redis store operation held for
// room, gives only what is left). Answers come in order, so a request's own deadline is also
// that of every request before it on the connection: send() pulls theirs in to it.
//
// Thread rule: loop thread only, like the TcpConnection it reads. The pipeline reads the
// connection from construction on (read_start) and must be destroyed, or fail()ed, before the
// connection is; destroying it stops reading and fails what is waiting with
// operation_canceled. A connection can close without its reader hearing (a write error ends it
// at once, and a reset read after that is not delivered): the owner's on_close calls
// connection_closed(), which fails what waits with the reason. After a failure the pipeline
// touches the connection no more, so it may outlive it. A callback may destroy the pipeline
// that called it.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/base/error.h"
#include "tern/base/ring_queue.h"
#include "tern/base/unique_function.h"
#include "tern/loop/event_loop.h"
#include "tern/net/tcp_connection.h"
#include "tern/protocol/body_writer.h"
#include "tern/protocol/protocol.h"
#include "tern/protocol/read_control.h"

namespace tern {

template <class C>
concept ClientProtocol = requires(C& client, std::string_view input,
                                  typename C::Request&& request, Output& out) {
  typename C::Options;
  typename C::Response;
  client.encode_request(std::move(request), out);
  { client.decode_response(input) } -> std::same_as<Decoded<typename C::Response>>;
};

struct PipelineOptions {
  size_t max_waiting = 1024;   // requests sent and not yet answered; send() refuses beyond
  Duration response_timeout{};  // the first waiting request's answer must come within; 0: none
                                // (a request's own deadline, send()'s, applies either way)
};

template <ClientProtocol C>
class Pipeline final : public ReadControl {
 public:
  using Request = typename C::Request;
  using Response = typename C::Response;
  // `response` is null when `error` is set.
  using Callback = UniqueFunction<void(std::error_code error, const Response* response)>;

  Pipeline(TcpConnection& conn, typename C::Options protocol_options,
           PipelineOptions options = {})
      : conn_(conn), protocol_options_(std::move(protocol_options)), client_(protocol_options_),
        options_(options) {
    if constexpr (requires(ReadControl& control) { client_.attach(control); }) {
      client_.attach(*this);
    }
    start_reading();
  }
  ~Pipeline() {
    if (destroyed_ != nullptr) *destroyed_ = true;
    if (!failed_) conn_.read_stop();
    disarm_writable();
    cancel_timer();
    close_body(std::make_error_code(std::errc::operation_canceled));
    run_failed(std::move(waiting_), std::make_error_code(std::errc::operation_canceled));
  }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Encodes and writes `request` (from a response callback: in one write with the others sent
  // from the callbacks of the same read, once they have run); once accepted, `on_response` runs
  // exactly once, with its response or with the error that ended the connection (a failed
  // write included; std::errc::timed_out for a missed deadline). `deadline`: the answer must
  // have come by then too, else the connection fails (TimePoint::max(): response_timeout
  // only). An error returned means not accepted (the callback will not run):
  // errc::not_connected after a failure, resource_unavailable_try_again with max_waiting
  // requests already waiting. Loop thread only.
  //
  // A request whose body follows (body_writer.h) is written like any other; its source is
  // opened once its head is written, and the connection takes no other request until the
  // body's end (send() refuses with operation_in_progress meanwhile).
  std::error_code send(Request request, Callback on_response,
                       TimePoint deadline = TimePoint::max()) {
    if (failed_) return make_error_code(errc::not_connected);
    if (waiting_.size() >= options_.max_waiting) {
      return std::make_error_code(std::errc::resource_unavailable_try_again);
    }
    if (body_ != nullptr || body_to_open_ != nullptr) {
      return std::make_error_code(std::errc::operation_in_progress);
    }
    // Before the write: its failure fails this too.
    waiting_.push_back(Waiting{std::move(on_response), deadline});
    if (waiting_.size() == 1) {
      restart_timer();
    } else if (deadline != TimePoint::max()) {
      pull_in(deadline);
    }
    client_.encode_request(std::move(request), out_);
    if constexpr (requires { client_.take_opened_body(); }) {
      body_to_open_ = client_.take_opened_body();
    }
    if (delivering_) return {};  // on_read writes it with the others, after the callbacks
    Guard guard(this);
    write_output();  // a failure runs callbacks, which may destroy this pipeline
    if (!guard.destroyed) open_body();  // last, for the same reason
    return {};
  }

  // ReadControl: a response's consumer gives up on it.
  void abort(std::error_code error) override { fail(error); }

  size_t waiting() const noexcept { return waiting_.size(); }
  // A body's source stops being told to write more above this many unsent bytes.
  static constexpr size_t kBodyHighWater = 256 << 10;
  bool failed() const noexcept { return failed_; }
  // Bytes received and not decoded yet (inside a response callback: those after its response).
  // A connection given back to a pool with such bytes would hand them to its next user.
  size_t buffered() const noexcept { return input_.size() - used_; }

  // ReadControl. The response deadline does not run while reading is paused (the pace is the
  // consumer's then); it starts again from here.
  void resume_reading() override {
    if (failed_) return;
    if constexpr (requires { client_.resume(); }) client_.resume();
    restart_timer();
    start_reading();
    on_read({});  // the bytes kept from before the pause
  }

  // The connection closed under the pipeline (from its owner's on_close): what waits fails with
  // the connection's close_reason(), or errc::not_connected when something else closed it.
  void connection_closed() {
    std::error_code reason = conn_.close_reason();
    fail(reason ? reason : make_error_code(errc::not_connected));
  }

  // Fails every waiting request with `error` and closes the connection.
  void fail(std::error_code error) {
    if (failed_) return;
    failed_ = true;
    cancel_timer();
    out_.clear();  // requests encoded during a delivery and not written: they fail below
    conn_.close();
    Guard guard(this);
    close_body(error);  // its source may answer its client: that does not touch this pipeline
    if (guard.destroyed) return;
    run_failed(std::move(waiting_), error);  // last: a callback may destroy this pipeline
  }

 private:
  // The open body's BodyWriter (body_writer_ hands these on). A piece goes out at once, not
  // gathered: it is a view of the source's input, valid during the call only.
  bool write_body(std::string_view piece) {
    if (failed_ || body_ == nullptr) return false;
    if constexpr (requires(Output& out) { client_.encode_body_piece(piece, out); }) {
      if (!client_.encode_body_piece(piece, out_)) {
        abort_body(make_error_code(errc::invalid_argument));  // past its announced length
        return false;
      }
    }
    restart_timer();  // progress: the response deadline counts from the body's last piece
    Guard guard(this);
    write_output();
    if (guard.destroyed || failed_) return false;
    return conn_.write_queue_bytes() < kBodyHighWater;
  }
  void when_body_writable(UniqueFunction<void(bool open)> callback) {
    if (failed_ || body_ == nullptr) return;  // the writer is gone: on_body_closed said so
    body_writable_ = std::move(callback);
    conn_.when_drained([this](TcpConnection&) {
      UniqueFunction<void(bool)> writable = std::move(body_writable_);
      body_writable_ = nullptr;
      if (writable) writable(true);
    });
  }
  void end_body() {
    if (failed_ || body_ == nullptr) return;
    body_ = nullptr;
    disarm_writable();
    bool whole = true;
    if constexpr (requires(Output& out) { client_.encode_body_end(out); }) {
      whole = client_.encode_body_end(out_);
    }
    if (!whole) {
      fail(make_error_code(errc::invalid_argument));  // short of its announced length
      return;
    }
    restart_timer();
    write_output();  // last: a failure runs callbacks, which may destroy this pipeline
  }
  void abort_body(std::error_code error) {
    if (failed_ || body_ == nullptr) return;
    body_ = nullptr;  // the source asked: it is not told again
    disarm_writable();
    fail(error);
  }

  // Callbacks may destroy the pipeline: the destructor tells the frame that runs them through
  // this guard. Guards nest (resume_reading() from a callback reads inside a read): the inner
  // one passes the news on to the outer one.
  struct Guard {
    Pipeline* pipeline;
    bool* outer;
    bool destroyed = false;
    explicit Guard(Pipeline* p) : pipeline(p), outer(p->destroyed_) {
      // GCC cannot see that the destructor clears the pointer on every way out of the frame.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
      pipeline->destroyed_ = &destroyed;
#pragma GCC diagnostic pop
    }
    ~Guard() {
      if (!destroyed) {
        pipeline->destroyed_ = outer;
      } else if (outer != nullptr) {
        *outer = true;
      }
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
  };

  void start_reading() {
    conn_.read_start([this](TcpConnection&, std::error_code error, std::span<std::byte> data) {
      if (error) {
        on_end(error);
      } else {
        on_read(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
      }
    });
  }

  void on_read(std::string_view data) {
    input_.append(data);
    Guard guard(this);
    // resume_reading() from a callback runs on_read inside on_read: the outer one writes.
    const bool outer = !delivering_;
    delivering_ = true;
    while (!failed_ && used_ < input_.size()) {
      auto decoded = client_.decode_response(std::string_view(input_).substr(used_));
      if (decoded.status == Decoded<Response>::Status::need_more) {
        used_ += decoded.consumed;  // a piece of an answer handed on (the optional hooks)
        break;
      }
      if (decoded.status == Decoded<Response>::Status::invalid) {
        fail(decoded.error);
        return;  // failed: nothing is written, and the callbacks may have destroyed this
      }
      used_ += decoded.consumed;
      if (waiting_.empty()) {  // an answer nobody asked for: the stream is out of step
        fail(make_error_code(errc::invalid_argument));
        return;
      }
      if (!deliver(guard, decoded.request)) return;
    }
    if (outer) delivering_ = false;
    if (!failed_) {
      input_.erase(0, used_);
      used_ = 0;
      pause_if_asked();
      // Last: a failed write runs the callbacks, which may destroy this pipeline.
      if (outer && out_.piece_count() > 0) write_output();
      if (outer && !guard.destroyed) open_body();
    }
  }

  // The request just written has a body to follow: its source writes it from here on.
  void open_body() {
    BodySource* source = std::exchange(body_to_open_, nullptr);
    if (source == nullptr) return;
    if (failed_) {
      source->on_body_closed(make_error_code(errc::not_connected));
      return;
    }
    body_ = source;
    source->on_body_open(body_writer_);  // last: it may write, and a failed write runs callbacks
  }

  // The open body's writer is gone (the connection failed, or the response came first): its
  // source hears it; a body not yet opened is closed too.
  void close_body(std::error_code error) {
    disarm_writable();
    BodySource* open = std::exchange(body_, nullptr);
    BodySource* unopened = std::exchange(body_to_open_, nullptr);
    if constexpr (requires { client_.close_body(); }) {
      if (open != nullptr || unopened != nullptr) client_.close_body();
    }
    if (open != nullptr) open->on_body_closed(error);
    if (unopened != nullptr) unopened->on_body_closed(error);
  }

  void disarm_writable() {
    if (!body_writable_) return;
    body_writable_ = nullptr;
    if (!failed_) conn_.when_drained(nullptr);
  }

  // The consumer of a piece declined more: the rest waits in the socket (and in input_, at
  // most one read) until resume_reading().
  void pause_if_asked() {
    if constexpr (requires { client_.reading_paused(); }) {
      if (client_.reading_paused()) {
        conn_.read_stop();
        cancel_timer();
      }
    }
  }

  // The stream ended (errc::eof) or broke. A protocol with decode_end may complete the first
  // waiting response from what is left (a body that ends with the connection); whatever still
  // waits then fails with `error`.
  void on_end(std::error_code error) {
    if constexpr (requires(std::string_view input) { client_.decode_end(input); }) {
      if (error == make_error_code(errc::eof) && !waiting_.empty() && !failed_) {
        Guard guard(this);
        auto decoded = client_.decode_end(std::string_view(input_).substr(used_));
        if (decoded.status == Decoded<Response>::Status::invalid) {
          fail(decoded.error);
          return;
        }
        if (decoded.status == Decoded<Response>::Status::message) {
          used_ += decoded.consumed;
          if (!deliver(guard, decoded.request)) return;
        }
      }
    }
    fail(error);  // last: the callbacks it runs may destroy this pipeline
  }

  // Runs the first waiting callback with `response`; false if it destroyed the pipeline.
  bool deliver(const Guard& guard, const Response& response) {
    // The answer to the request whose body is still being written: the rest of the body can
    // never go on this connection (the protocol has said it closes after this response).
    if (body_ != nullptr && waiting_.size() == 1) {
      close_body(make_error_code(errc::answered_early));
      if (guard.destroyed) return false;
    }
    Callback callback = std::move(waiting_.front().callback);
    waiting_.pop_front();
    restart_timer();
    callback(std::error_code{}, &response);
    return !guard.destroyed;
  }

  void write_output() {
    parts_.clear();
    for (size_t i = 0; i < out_.piece_count(); ++i) {
      std::string_view piece = out_.piece(i);
      parts_.push_back(std::as_bytes(std::span(piece.data(), piece.size())));
    }
    auto error = conn_.write(std::span<const ConstBuffer>(parts_));  // copies what waits
    out_.clear();
    if (error) fail(error);  // last: the callbacks it runs may destroy this pipeline
  }

  // The deadline covers the first waiting request: response_timeout from now (each answer
  // starts the next one's), or the request's own deadline when that is earlier. An answer only
  // moves deadline_ (a clock read): the armed timer, when it fires early, arms itself again for
  // what is left, and with nothing waiting it just ends. Cancelling and adding a timer per
  // answer cost more than the rest of the answer's handling.
  void restart_timer() {
    if (waiting_.empty()) return;
    const TimePoint own = waiting_.front().deadline;
    if (own != TimePoint::max() || options_.response_timeout == Duration::zero()) {
      return restart_timer_own(own);
    }
    // The common case: response_timeout alone. An armed timer is due no later than this.
    const TimePoint now = conn_.loop().now();
    deadline_ = now + options_.response_timeout;
    if (!timer_.valid()) arm_timer(deadline_, now);
  }
  // The first waiting request has a deadline of its own, or there is no response_timeout.
  void restart_timer_own(TimePoint own) {
    if (options_.response_timeout == Duration::zero()) {
      deadline_ = own;
      if (own != TimePoint::max()) watch(own, conn_.loop().now());
      return;
    }
    const TimePoint now = conn_.loop().now();
    watch(std::min(own, now + options_.response_timeout), now);
  }
  // The requests before the one just sent must be answered by its deadline too. Deadlines
  // mostly come in the order sent: the first comparison ends the walk.
  void pull_in(TimePoint deadline) {
    for (size_t i = waiting_.size() - 1; i > 0 && waiting_[i - 1].deadline > deadline; --i) {
      waiting_[i - 1].deadline = deadline;
    }
    if (deadline < deadline_) watch(deadline, conn_.loop().now());  // the first one's
  }
  // Watches `deadline`, the first waiting request's (TimePoint::max(): none). One earlier than
  // the armed timer arms it again.
  void watch(TimePoint deadline, TimePoint now) {
    deadline_ = deadline;
    if (deadline == TimePoint::max()) return;
    if (timer_.valid()) {
      if (timer_due_ <= deadline) return;
      cancel_timer();
    }
    arm_timer(deadline, now);
  }
  void arm_timer(TimePoint due, TimePoint now) {
    timer_due_ = due;
    Duration delay = due > now ? std::chrono::duration_cast<Duration>(due - now) : Duration::zero();
    timer_ = conn_.loop().run_after(delay, [this] {
      timer_ = TimerId{};
      if (waiting_.empty() || deadline_ == TimePoint::max()) return;
      const TimePoint fired = conn_.loop().now();
      if (fired < deadline_) {
        arm_timer(deadline_, fired);
        return;
      }
      fail(std::make_error_code(std::errc::timed_out));
    });
  }
  void cancel_timer() {
    if (timer_.valid()) conn_.loop().cancel(timer_);
    timer_ = TimerId{};
  }

  // A request sent and not answered yet.
  struct Waiting {
    Callback callback;
    TimePoint deadline;  // its own, pulled in by those sent after it; TimePoint::max(): none
  };

  // Touches no member: the callbacks may destroy the pipeline.
  static void run_failed(RingQueue<Waiting> waiting, std::error_code error) {
    for (Waiting& request : waiting) request.callback(error, nullptr);
  }

  TcpConnection& conn_;
  const typename C::Options protocol_options_;  // the protocol may keep a reference to them
  C client_;
  PipelineOptions options_;
  std::string input_;
  size_t used_ = 0;  // bytes of input_ decoded (erased once the decoding loop is done)
  Output out_;
  std::vector<ConstBuffer> parts_;
  RingQueue<Waiting> waiting_;  // no allocation per request once grown
  TimerId timer_;
  TimePoint timer_due_{};  // when timer_ fires, while it is armed
  TimePoint deadline_ = TimePoint::max();  // of the first waiting request's answer; max: none
  bool failed_ = false;
  bool delivering_ = false;  // on_read runs response callbacks: sends wait for its write
  bool* destroyed_ = nullptr;  // on_read's flag while it runs callbacks
  // A request body in pieces: its source once its head is written (body_), or while its head
  // waits for the end of a delivery (body_to_open_); the source's when_writable callback.
  BodySource* body_ = nullptr;
  BodySource* body_to_open_ = nullptr;
  UniqueFunction<void(bool)> body_writable_;
  struct Writer final : BodyWriter {
    explicit Writer(Pipeline& p) : pipeline(p) {}
    bool write(std::string_view piece) override { return pipeline.write_body(piece); }
    void when_writable(UniqueFunction<void(bool open)> callback) override {
      pipeline.when_body_writable(std::move(callback));
    }
    void end() override { pipeline.end_body(); }
    void abort(std::error_code error) override { pipeline.abort_body(error); }
    Pipeline& pipeline;
  };
  Writer body_writer_{*this};
};

}  // namespace tern
