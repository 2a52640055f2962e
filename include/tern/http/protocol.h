// http::Protocol: HTTP/1.1 on tern's protocol seam (tern/protocol/protocol.h). One object per
// connection: the request parser, the facts each response needs from its request (HEAD, the
// version, keep-alive), and the encoder. Session<http::Protocol> does the rest (pipelining
// with responses in order and gathered into one write, backpressure, deadlines, drain,
// lingering close), the same under every model and backend.
//
// What the protocol decides:
//   - keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive"; never
//     after max_requests, a framing error, a response marked close(), or while draining;
//   - the framing fields of every response: Content-Length (or chunked for a stream on 1.1,
//     close-delimited on 1.0), Connection, Date (cached, one formatting a second per thread)
//     and Server;
//   - HEAD: the fields of a GET, no body; 1xx, 204 and 304 have none either;
//   - Expect: 100-continue: "100 Continue" once the head is accepted, before the body is read
//     (when no earlier response is still owed, since it must not overtake one), or 503 and
//     close when options.accepts_body says the body cannot be taken now;
//   - request bodies in pieces: a request options.stream_body chooses goes to its handler with
//     its head alone (body_follows), and its body (de-chunked) to the sink the handler gives
//     reply.read_body (tern/protocol/body_sink.h); limits.max_body bounds it as any body;
//   - failures: a malformed request gets its status (400, 413, 414, 431, 501, 505), a header
//     or body that does not arrive in time 408, then the connection closes (lingering).
//
// Thread rule: the connection's (Session's) thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/base/clock.h"
#include "tern/http/access_log.h"
#include "tern/http/body_decoder.h"
#include "tern/http/parser.h"
#include "tern/http/request.h"
#include "tern/http/response.h"
#include "tern/protocol/protocol.h"

namespace tern::http {

class LoopMetrics;

struct ProtocolOptions {
  Limits limits;
  Duration header_timeout = std::chrono::seconds(10);  // the whole header block; 408
  Duration body_timeout = std::chrono::seconds(30);    // the whole body; 408
  Duration idle_timeout = std::chrono::seconds(60);    // keep-alive between requests
  Duration write_timeout = std::chrono::seconds(30);   // a client that stops reading
  size_t max_requests = 0;                             // per connection; 0: no limit
  std::string server_name = "tern";                    // the Server field; empty: none
  AccessLog* access_log = nullptr;                     // outlives the server; null: off
  // Asked on the connection's thread when a request with "Expect: 100-continue" has its head
  // in and its body not yet sent: false answers 503 before any 100 Continue, without reading
  // the body, and closes the connection. Empty: every body is wanted. (tern-proxy: false when
  // no upstream could take a request now.)
  std::function<bool()> accepts_body;
  // Asked on the connection's thread when a request's head is in and its body is not (a
  // request whose head and body come in one read is never asked: its body is whole): true
  // hands the head to the handler now, with body_follows, and its body to the BodySink the
  // handler gives (reply.read_body), in pieces, with backpressure; the handler must ask for
  // the body or the connection closes after its answer. Empty: every body is gathered whole.
  // The request has its head's views, no body and no remote address yet. (tern-proxy: true
  // for a body larger than it gathers, relayed to the upstream as it arrives.)
  std::function<bool(const Request& head)> stream_body;
};

class Protocol {
 public:
  using Request = http::Request;
  using Owned = OwnedRequest;
  using Response = http::Response;
  using Chunk = std::string;
  using Options = ProtocolOptions;

  explicit Protocol(const Options& options);

  Decoded<Request> decode(std::string_view input);
  BodyStep decode_body(std::string_view input);
  After encode(Response&& response, Output& out);
  static Owned own(const Request& request) { return OwnedRequest(request); }
  static Request view(const Owned& owned) { return owned.view(); }

  Deadlines deadlines() const noexcept;
  std::optional<Response> on_failure(const Failure& failure);

  void encode_head(Response&& head, Output& out);
  void encode_chunk(Chunk&& chunk, Output& out);
  After encode_end(Output& out);

  // Seam hooks (see tern/protocol/protocol.h).
  void on_open(const InetAddress& peer) { peer_ = peer; }
  void on_drain() noexcept { draining_ = true; }
  bool in_body() const noexcept { return parser_.in_body(); }
  // The "100 Continue" of the message being read, once.
  void interim(Output& out);
  // The message being read expects 100-continue and options.accepts_body says no.
  bool refuses_body() const;

 private:
  // What a response needs to know about its request, queued in request order.
  struct Pending {
    bool head = false;
    bool http10 = false;
    bool keep_alive = true;
    Clock::time_point parsed{};  // when the request was parsed, if the loop counts (metrics)
  };
  // What the access log needs from a request (copied only when the log is on).
  struct LogLine {
    std::string request_line;
    std::string referer;
    std::string user_agent;
  };

  // The request just read (whole, or its head): counted, its response's place queued. Inline
  // in decode(): every request's path.
  inline void accept(Request& request);
  // At need_more with the head in: whether this body goes in pieces (options.stream_body).
  bool streams_body(std::string_view input);
  void write_head(const Response& response, const Pending& request, bool keep_alive, Output& out);
  void write_body(Response& response, Output& out);
  bool fits_stream_length(Chunk& chunk) noexcept;
  // The HTTP metrics of the calling thread's shard, or elsewhere_ on a thread without one
  // (loop_metrics.h). Inline in encode(): with metrics off a response costs a thread-local
  // load and a member load here, not a call.
  inline LoopMetrics* counters() const noexcept;
  inline void count_response(const Response& response, const Pending& request) noexcept;
  void count_failure(const Failure& failure) noexcept;
  void push_pending(Pending pending);
  Pending pop_pending();
  const Pending& front_pending();
  void note_for_log(const Request& request);
  void note_failure_for_log();
  void log_response(int status, uint64_t body_bytes);

  const Options& options_;
  RequestParser parser_;
  InetAddress peer_;
  std::vector<Pending> pending_;  // a ring: responses owed, oldest at pending_head_
  size_t pending_head_ = 0;
  size_t pending_count_ = 0;
  size_t requests_ = 0;
  bool message_done_ = false;     // the parser holds a whole message: reset before the next
  bool body_asked_ = false;       // options.stream_body was asked about this message
  BodyDecoder body_;              // a body in pieces (decode_body)
  uint64_t body_bytes_ = 0;       // of it so far, against limits.max_body
  bool continue_sent_ = false;
  bool draining_ = false;
  // Null: this connection is not counted (made where metrics are off). Otherwise its requests
  // are timed, and this is its server's shard for what threads without a shard of their own
  // count for it (loop_metrics.h).
  LoopMetrics* const elsewhere_;
  // The streamed response being written.
  bool stream_chunked_ = false;
  bool stream_head_only_ = false;
  bool stream_keep_alive_ = false;
  int stream_status_ = 0;
  uint64_t stream_bytes_ = 0;
  uint64_t stream_length_ = Response::kUnknownLength;  // a sized stream's Content-Length
  std::vector<LogLine> log_lines_;  // with an access log: one per response owed
  LogLine current_log_;
};

}  // namespace tern::http
