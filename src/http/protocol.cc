// http::Protocol: HTTP/1.1 on the protocol seam. decode() runs the parser and notes what each
// response will need from its request; encode() writes the framing fields and gathers the head
// (copied into the output's arena) and the body (moved, constant, or a file range) without
// copying the body.
#include "tern/http/protocol.h"

#include <charconv>

#include "tern/http/date.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/status.h"

namespace tern::http {
namespace {

// Bodies up to this size are copied next to the head (one iovec, no piece of their own);
// larger ones are handed over as they are.
constexpr size_t kCopyBodyUpTo = 1024;

void append_number(Output& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append_copy(std::string_view(digits, static_cast<size_t>(end - digits)));
}

void append_status_line(Output& out, int status) {
  std::string_view line = status_line(status);
  if (!line.empty()) {
    out.append_static(line);
    return;
  }
  out.append_copy("HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(status));
  out.append_copy(" ");
  out.append_copy(reason_phrase(status));
  out.append_copy("\r\n");
}

}  // namespace

// Whether requests are counted is decided here, on the loop (lf thread) that made the
// connection: under hsha's reactor pattern decode() runs on a worker thread, and under lf a
// reply may be written on the replying thread; neither has a shard of its own, so they count
// into the shard the server keeps for them.
Protocol::Protocol(const Options& options)
    : options_(options), parser_(options.limits),
      elsewhere_(loop_metrics() != nullptr ? loop_metrics()->elsewhere() : nullptr) {}

Deadlines Protocol::deadlines() const noexcept {
  return Deadlines{options_.idle_timeout, options_.header_timeout, options_.body_timeout,
                   options_.write_timeout};
}

inline void Protocol::accept(Request& request) {
  message_done_ = true;
  ++requests_;
  request.remote = peer_;
  bool last = options_.max_requests != 0 && requests_ == options_.max_requests;
  // The clock is read only when the loop counts (loop_metrics.h): its duration starts here.
  push_pending(Pending{request.method == Method::head, request.version == Version::http10,
                       request.keep_alive && !last,
                       elsewhere_ != nullptr ? Clock::now() : Clock::time_point{}});
  if (options_.access_log != nullptr) note_for_log(request);
}

Decoded<Request> Protocol::decode(std::string_view input) {
  if (message_done_) {
    // The last message's views stayed valid while its handler ran; now it is forgotten.
    parser_.reset();
    message_done_ = false;
    continue_sent_ = false;
    body_asked_ = false;
  }
  // After the last request a connection may serve, nothing more is read as a request.
  if (options_.max_requests != 0 && requests_ == options_.max_requests) return Decoded<Request>::more();
  switch (parser_.parse(input)) {
    case ParseStatus::need_more:
      // Between messages, or inside a head (every request's path ends here once): nothing to ask.
      if (!parser_.in_body()) return Decoded<Request>::more();
      if (refuses_body()) {
        return Decoded<Request>::invalid(make_error_code(ParseError::body_refused));
      }
      if (streams_body(input)) {
        // streams_body filled the head's views.
        Decoded<Request> head = Decoded<Request>::head(parser_.request(), parser_.body_start());
        accept(head.request);
        head.request.body_follows = true;
        return head;
      }
      return Decoded<Request>::more();
    case ParseStatus::error:
      return Decoded<Request>::invalid(parser_.error());
    case ParseStatus::complete:
      break;
  }
  // Built in place: a Request is a dozen words, and each copy of it showed per request.
  Decoded<Request> message = Decoded<Request>::message(parser_.request(), parser_.consumed());
  accept(message.request);
  return message;
}

// Once per message, when its head is in and its body is not. The parser stops here for that
// message: the body is decoded from body_start() on by body_, and the next decode() starts
// the next message.
bool Protocol::streams_body(std::string_view input) {
  if (!options_.stream_body || body_asked_ || !parser_.in_body()) return false;
  body_asked_ = true;
  if (!options_.stream_body(parser_.head(input))) return false;
  body_.start(parser_.chunked() ? BodyDecoder::Framing::chunked : BodyDecoder::Framing::length,
              parser_.body_length(), options_.limits);
  body_bytes_ = 0;
  return true;
}

BodyStep Protocol::decode_body(std::string_view input) {
  BodyDecoder::Step step = body_.next(input);
  using In = BodyDecoder::Step::Status;
  using Out = BodyStep::Status;
  body_bytes_ += step.piece.size();
  // A Content-Length was checked against the limit with the head; a chunked body is counted.
  if (body_bytes_ > options_.limits.max_body) {
    return BodyStep{Out::invalid, 0, {}, make_error_code(ParseError::body_too_large)};
  }
  switch (step.status) {
    case In::more_input: return BodyStep{Out::more_input, step.consumed, {}, {}};
    case In::progress: return BodyStep{Out::piece, step.consumed, step.piece, {}};
    case In::complete: return BodyStep{Out::end, step.consumed, step.piece, {}};
    case In::invalid: break;
  }
  return BodyStep{Out::invalid, 0, {}, step.error};
}


// Before any 100 Continue: a server that cannot take the body now (options_.accepts_body: a
// proxy with no upstream that could) answers 503 through the failure path, so the body is
// never asked for nor read, and the connection closes after the 503.
bool Protocol::refuses_body() const {
  return options_.accepts_body && !continue_sent_ && parser_.in_body() &&
         parser_.expects_continue() && !options_.accepts_body();
}

void Protocol::interim(Output& out) {
  if (continue_sent_ || !parser_.in_body() || !parser_.expects_continue()) return;
  continue_sent_ = true;
  out.append_static("HTTP/1.1 100 Continue\r\n\r\n");
}

std::optional<Response> Protocol::on_failure(const Failure& failure) {
  count_failure(failure);
  int status = 0;
  switch (failure.kind) {
    case Failure::Kind::malformed: status = status_of(failure.error); break;
    case Failure::Kind::read_timeout: status = 408; break;
    // An idle keep-alive connection just closes (a 408 there would race the client's next
    // request, which it may then retry or not); a peer that stops reading is closed at once.
    case Failure::Kind::idle_timeout:
    case Failure::Kind::write_timeout: return std::nullopt;
  }
  // The failed message was never a request: it gets a place in the response order here, last.
  push_pending(Pending{false, false, false});
  if (options_.access_log != nullptr) note_failure_for_log();
  Response response = Response::text(status, std::string(reason_phrase(status)) + "\n");
  response.close();
  return response;
}

After Protocol::encode(Response&& response, Output& out) {
  Pending request = pop_pending();
  count_response(response, request);
  bool keep_alive = request.keep_alive && !response.closes() && !draining_;
  bool has_body = status_has_body(response.status_code());
  uint64_t length = has_body ? response.body_size() : 0;
  write_head(response, request, keep_alive, out);
  if (has_body) {
    out.append_copy("Content-Length: ");
    append_number(out, length);
    out.append_copy("\r\n\r\n");
  } else {
    out.append_copy("\r\n");
  }
  uint64_t sent = 0;
  if (has_body && !request.head) {
    sent = length;
    write_body(response, out);
  }
  if (options_.access_log != nullptr) log_response(response.status_code(), sent);
  return keep_alive ? After::keep_open : After::close;
}

void Protocol::encode_head(Response&& head, Output& out) {
  const Pending& request = front_pending();
  count_response(head, request);
  // HTTP/1.0 has no chunked coding: the body ends when the connection does, unless its
  // length is known (stream_length).
  stream_length_ = head.stream_length();
  bool sized = stream_length_ != Response::kUnknownLength;
  stream_chunked_ = !request.http10 && !sized;
  stream_head_only_ = request.head || !status_has_body(head.status_code());
  stream_keep_alive_ =
      request.keep_alive && (stream_chunked_ || sized) && !head.closes() && !draining_;
  stream_status_ = head.status_code();
  stream_bytes_ = 0;
  write_head(head, request, stream_keep_alive_, out);
  if (sized && status_has_body(head.status_code())) {
    out.append_copy("Content-Length: ");
    append_number(out, stream_length_);
    out.append_copy("\r\n");
  } else if (!stream_head_only_ && stream_chunked_) {
    out.append_copy("Transfer-Encoding: chunked\r\n");
  }
  out.append_copy("\r\n");
}

void Protocol::encode_chunk(Chunk&& chunk, Output& out) {
  if (stream_head_only_ || chunk.empty()) return;
  if (stream_length_ != Response::kUnknownLength && !fits_stream_length(chunk)) return;
  stream_bytes_ += chunk.size();
  if (!stream_chunked_) {
    out.append(std::move(chunk));
    return;
  }
  char size[20];
  auto [end, ec] = std::to_chars(size, size + sizeof size, chunk.size(), 16);
  out.append_copy(std::string_view(size, static_cast<size_t>(end - size)));
  out.append_copy("\r\n");
  if (chunk.size() <= kCopyBodyUpTo) {
    out.append_copy(chunk);
  } else {
    out.append(std::move(chunk));
  }
  out.append_copy("\r\n");
}

// A sized stream never writes past its Content-Length: what would go past is dropped and the
// connection closes after the response (the bytes after it would be read as the next one).
bool Protocol::fits_stream_length(Chunk& chunk) noexcept {
  uint64_t room = stream_length_ - stream_bytes_;
  if (chunk.size() <= room) return true;
  chunk.resize(static_cast<size_t>(room));
  stream_keep_alive_ = false;
  return !chunk.empty();
}

After Protocol::encode_end(Output& out) {
  // A sized stream that ended short of its length: the client must see the connection close
  // (a short body), never a complete-looking response followed by the next one.
  if (!stream_head_only_ && stream_length_ != Response::kUnknownLength &&
      stream_bytes_ != stream_length_) {
    stream_keep_alive_ = false;
  }
  if (!stream_head_only_ && stream_chunked_) out.append_copy("0\r\n\r\n");
  pop_pending();
  if (options_.access_log != nullptr) log_response(stream_status_, stream_bytes_);
  return stream_keep_alive_ ? After::keep_open : After::close;
}

// Status line, Server, Date, Connection where the default is not what happens, the handler's
// fields. The caller adds the length (or chunked) and the blank line.
void Protocol::write_head(const Response& response, const Pending& request, bool keep_alive,
                          Output& out) {
  append_status_line(out, response.status_code());
  if (!options_.server_name.empty()) {
    out.append_copy("Server: ");
    out.append_copy(options_.server_name);
    out.append_copy("\r\n");
  }
  out.append_copy("Date: ");
  out.append_copy(current_date());
  out.append_copy("\r\n");
  if (!keep_alive && !request.http10) out.append_copy("Connection: close\r\n");
  if (keep_alive && request.http10) out.append_copy("Connection: keep-alive\r\n");
  out.append_copy(response.content_type_line());
  out.append_copy(response.fields());
}

void Protocol::write_body(Response& response, Output& out) {
  switch (response.body_kind()) {
    case Response::BodyKind::none:
      return;
    case Response::BodyKind::owned:
      if (response.owned_body().size() <= kCopyBodyUpTo) {
        out.append_copy(response.owned_body());
      } else {
        out.append(std::move(response.owned_body()));
      }
      return;
    case Response::BodyKind::constant:
      out.append_static(response.constant_body());
      return;
    case Response::BodyKind::shared:
      out.append_copy(response.constant_body());  // the response, and its owner, go now
      return;
    case Response::BodyKind::file:
      out.append_file(std::move(response.file_body()));
      return;
  }
}

LoopMetrics* Protocol::counters() const noexcept {
  LoopMetrics* own = loop_metrics();
  return own != nullptr ? own : elsewhere_;
}

void Protocol::count_response(const Response& response, const Pending& request) noexcept {
  LoopMetrics* counters = this->counters();
  if (counters == nullptr) return;
  // Not timed: the answer to a malformed message, or parsed before the loop counted.
  Duration elapsed = request.parsed == Clock::time_point{} ? Duration(-1)
                                                           : Clock::now() - request.parsed;
  counters->count_response(response.status_code(), response.route(), elapsed);
}

void Protocol::count_failure(const Failure& failure) noexcept {
  LoopMetrics* counters = this->counters();
  if (counters == nullptr) return;
  if (failure.kind == Failure::Kind::malformed) {
    // A body refused before 100 Continue came with a well-formed head: only its 503 counts.
    if (failure.error == ParseError::body_refused) return;
    counters->count_parse_error(failure.error);
  } else {
    counters->count_deadline_close();
  }
}

void Protocol::push_pending(Pending pending) {
  if (pending_count_ == pending_.size()) {
    // Grow the ring, oldest first (rare: it keeps its size once a connection has pipelined).
    std::vector<Pending> grown;
    grown.reserve(pending_.empty() ? 4 : pending_.size() * 2);
    for (size_t i = 0; i < pending_count_; ++i) {
      grown.push_back(pending_[(pending_head_ + i) % pending_.size()]);
    }
    grown.resize(grown.capacity());
    pending_ = std::move(grown);
    pending_head_ = 0;
  }
  pending_[(pending_head_ + pending_count_) % pending_.size()] = pending;
  ++pending_count_;
}

Protocol::Pending Protocol::pop_pending() {
  if (pending_count_ == 0) return Pending{false, false, false};  // not ours: close after it
  Pending pending = pending_[pending_head_];
  pending_head_ = (pending_head_ + 1) % pending_.size();
  --pending_count_;
  if (options_.access_log != nullptr && !log_lines_.empty()) {
    current_log_ = std::move(log_lines_.front());
    log_lines_.erase(log_lines_.begin());
  }
  return pending;
}

const Protocol::Pending& Protocol::front_pending() {
  static const Pending kNone{false, false, false};
  return pending_count_ == 0 ? kNone : pending_[pending_head_];
}

// Only with an access log: what the Combined Log Format needs from the request, copied (the
// request's views do not outlive its handler).
void Protocol::note_for_log(const Request& request) {
  LogLine line;
  line.request_line.append(request.method_token);
  line.request_line.push_back(' ');
  line.request_line.append(request.target);
  line.request_line.push_back(' ');
  line.request_line.append(version_name(request.version));
  line.referer = request.header("referer").value_or("");
  line.user_agent = request.header("user-agent").value_or("");
  log_lines_.push_back(std::move(line));
}

void Protocol::note_failure_for_log() { log_lines_.push_back(LogLine{"-", "", ""}); }

void Protocol::log_response(int status, uint64_t body_bytes) {
  options_.access_log->record(AccessEntry{peer_, current_log_.request_line, status, body_bytes,
                                          current_log_.referer, current_log_.user_agent});
}

}  // namespace tern::http
