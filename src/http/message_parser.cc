// The HTTP/1.1 state machine (RFC 9112). Each state handles one piece of the message and either
// moves on or asks for more bytes; every check is made once, when the piece's last byte has
// arrived. docs/http.md lists the rules and the status each violation answers with.
#include "tern/http/message_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "http/field_rules.h"
#include "tern/base/logging.h"
#include "tern/http/parser.h"

namespace tern::http {
namespace {

constexpr size_t npos = std::string_view::npos;
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

std::error_code err(ParseError e) noexcept { return make_error_code(e); }

// "HTTP/1.1" and "HTTP/1.0"; another HTTP/x.y is 505, anything else 400 (`malformed`).
std::error_code parse_version(std::string_view text, Version& version, ParseError malformed) {
  if (text.size() != 8 || text.substr(0, 5) != "HTTP/" || !rules::is_digit(text[5]) ||
      text[6] != '.' || !rules::is_digit(text[7])) {
    return err(malformed);
  }
  if (text[5] == '1' && text[7] == '1') {
    version = Version::http11;
  } else if (text[5] == '1' && text[7] == '0') {
    version = Version::http10;
  } else {
    return err(ParseError::unsupported_version);
  }
  return {};
}

// A decimal number of digits only (no sign, no space); false on anything else or overflow.
bool parse_decimal(std::string_view text, uint64_t& value) noexcept {
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (!rules::is_digit(c)) return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (kMaxU64 - digit) / 10) return false;
    v = v * 10 + digit;
  }
  value = v;
  return true;
}

// Content-Length = 1*DIGIT, also as a list ("5, 5") when every element is the same (RFC 9110
// 8.6); `seen`/`value` carry what earlier Content-Length lines said.
bool merge_content_length(std::string_view list, bool& seen, uint64_t& value) noexcept {
  while (true) {
    size_t comma = list.find(',');
    uint64_t element = 0;
    if (!parse_decimal(rules::trim_ows(list.substr(0, comma)), element)) return false;
    if (seen && element != value) return false;
    seen = true;
    value = element;
    if (comma == npos) return true;
    list.remove_prefix(comma + 1);
  }
}

// Transfer-Encoding: a list of codings; tern decodes only chunked, applied once, last. The
// list may continue on a later Transfer-Encoding line, so `chunked` (is the final coding
// chunked so far) is carried across lines.
std::error_code merge_transfer_coding(std::string_view list, bool& chunked) noexcept {
  while (true) {
    size_t comma = list.find(',');
    std::string_view coding = rules::trim_ows(list.substr(0, comma));
    std::string_view name = rules::trim_ows(coding.substr(0, coding.find(';')));
    if (!rules::all_of(rules::kToken, name)) return err(ParseError::bad_field_value);
    if (!iequals(name, "chunked")) return err(ParseError::unsupported_transfer_coding);
    if (chunked) return err(ParseError::unsupported_transfer_coding);  // chunked twice
    if (coding.size() != name.size()) return err(ParseError::bad_field_value);  // parameters
    chunked = true;
    if (comma == npos) return {};
    list.remove_prefix(comma + 1);
  }
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, starting at text[pos] == '"'.
// Returns the offset after the closing quote, or npos.
size_t skip_quoted_string(std::string_view text, size_t pos) noexcept {
  for (++pos; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '"') return pos + 1;
    if (c == '\\') {
      if (++pos == text.size()) return npos;
      char escaped = text[pos];
      if (!rules::is(rules::kFieldValue, escaped)) return npos;
    } else if (!rules::is(rules::kQdText, c)) {
      return npos;
    }
  }
  return npos;
}

size_t skip_ows(std::string_view text, size_t pos) noexcept {
  while (pos < text.size() && rules::is_ows(text[pos])) ++pos;
  return pos;
}

size_t skip_token(std::string_view text, size_t pos) noexcept {
  while (pos < text.size() && rules::is(rules::kToken, text[pos])) ++pos;
  return pos;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), the value a token
// or a quoted-string (RFC 9112 7.1.1). Parsed to be rejected when malformed; their meaning is
// ignored, as the RFC lets a recipient do.
bool valid_chunk_extensions(std::string_view text) noexcept {
  size_t pos = 0;
  while (true) {
    pos = skip_ows(text, pos);
    if (pos == text.size()) return true;
    if (text[pos] != ';') return false;
    pos = skip_ows(text, pos + 1);
    size_t name_end = skip_token(text, pos);
    if (name_end == pos) return false;
    pos = skip_ows(text, name_end);
    if (pos < text.size() && text[pos] == '=') {
      pos = skip_ows(text, pos + 1);
      if (pos < text.size() && text[pos] == '"') {
        pos = skip_quoted_string(text, pos);
        if (pos == npos) return false;
      } else {
        size_t value_end = skip_token(text, pos);
        if (value_end == pos) return false;
        pos = value_end;
      }
    }
  }
}

// authority-form = uri-host ":" port (RFC 9112 3.2.3), for CONNECT.
bool valid_authority_form(std::string_view target) noexcept {
  size_t colon = target.rfind(':');
  if (colon == npos || colon == 0 || colon + 1 == target.size()) return false;
  for (char c : target.substr(colon + 1)) {
    if (!rules::is_digit(c)) return false;
  }
  return rules::all_of(rules::kHost, target.substr(0, colon));
}

}  // namespace

// The head limits are clamped to 1 GiB, so that every offset into a head fits a Span.
constexpr size_t kMaxHeadLimit = size_t(1) << 30;

MessageParser::MessageParser(const Limits& limits, Kind kind)
    : max_start_line_(std::min(limits.max_request_line, kMaxHeadLimit)),
      max_header_bytes_(std::min(limits.max_header_bytes, kMaxHeadLimit)),
      max_headers_(limits.max_headers),
      max_body_(limits.max_body),
      max_chunk_line_(limits.max_chunk_line),
      max_trailer_bytes_(limits.max_trailer_bytes),
      kind_(kind) {}

// A de-chunked body buffer larger than this is released after its message, so that one large
// upload does not pin megabytes to an idle keep-alive connection; smaller ones are kept.
constexpr size_t kKeptBodyCapacity = 64 * 1024;

void MessageParser::reset() noexcept {
  if (chunked_body_.capacity() > kKeptBodyCapacity) std::string().swap(chunked_body_);
  state_ = State::start_line;
  consumed_ = 0;
  seen_ = 0;
  examined_ = 0;
  error_ = {};
  start_message(0);
}

// Forgets what the message said (fields_ and chunked_body_ keep their capacity).
void MessageParser::start_message(size_t at) noexcept {
  head_start_ = line_start_ = scan_ = block_start_ = at;
  body_start_ = body_size_ = data_pos_ = 0;
  chunk_left_ = 0;
  trailer_count_ = 0;
  version_ = Version::http11;
  method_ = Method::get;
  method_token_ = target_ = path_ = query_ = reason_ = {};
  path_is_root_ = false;
  status_ = 0;
  content_length_ = 0;
  has_content_length_ = chunked_ = has_transfer_encoding_ = until_close_ = false;
  host_count_ = 0;
  connection_close_ = connection_keep_alive_ = expects_continue_ = false;
  fields_.clear();
  chunked_body_.clear();
}

ParseStatus MessageParser::parse(std::string_view input) {
  // The offsets are only true for the same bytes with more appended.
  TERN_CHECK(input.size() >= seen_,
             "http parser: the input shrank from %zu to %zu bytes; pass the message from its "
             "first byte, with more appended",
             seen_, input.size());
  seen_ = input.size();
  while (true) {
    Step step = Step::next;
    switch (state_) {
      case State::start_line: step = on_start_line(input); break;
      case State::fields: step = on_field_line(input, false); break;
      case State::fixed_body: step = on_fixed_body(input); break;
      case State::chunk_size: step = on_chunk_size(input); break;
      case State::chunk_data: step = on_chunk_data(input); break;
      case State::chunk_data_end: step = on_chunk_data_end(input); break;
      case State::trailers: step = on_field_line(input, true); break;
      case State::until_close: return ParseStatus::need_more;
      case State::done: return ParseStatus::complete;
      case State::failed: return ParseStatus::error;
    }
    if (step == Step::need_more) return ParseStatus::need_more;
  }
}

ParseStatus MessageParser::finish_at_close(std::string_view input) {
  ParseStatus status = parse(input);
  if (status != ParseStatus::need_more) return status;
  if (state_ == State::until_close) {
    complete(input.size());
    return ParseStatus::complete;
  }
  fail(err(ParseError::truncated_message));
  return ParseStatus::error;
}

bool MessageParser::head_done() const noexcept {
  return state_ != State::start_line && state_ != State::fields && state_ != State::failed;
}

bool MessageParser::in_body() const noexcept {
  return head_done() && state_ != State::done;
}

bool MessageParser::keep_alive() const noexcept {
  if (until_close_ || connection_close_) return false;
  return version_ == Version::http11 || connection_keep_alive_;
}

std::string_view MessageParser::body(std::string_view input) const noexcept {
  if (chunked_) return chunked_body_;
  if (until_close_) return input.substr(body_start_);
  return input.substr(body_start_, body_size_);
}

std::string_view MessageParser::path(std::string_view input) const noexcept {
  return path_is_root_ ? std::string_view("/") : path_.in(input);
}

size_t MessageParser::find_line_end(std::string_view input) {
  size_t from = scan_;
  const void* lf = from < input.size() ? std::memchr(input.data() + from, '\n', input.size() - from)
                                       : nullptr;
  if (lf == nullptr) {
    examined_ += input.size() - from;
    scan_ = input.size();
    return npos;
  }
  size_t at = static_cast<size_t>(static_cast<const char*>(lf) - input.data());
  examined_ += at + 1 - from;
  scan_ = at + 1;
  return at;
}

bool MessageParser::take_line(std::string_view input, size_t lf, std::string_view& line) {
  if (lf == line_start_ || input[lf - 1] != '\r') {
    fail(err(ParseError::bare_lf));
    return false;
  }
  line = input.substr(line_start_, lf - 1 - line_start_);
  examined_ += line.size();
  return true;
}

MessageParser::Step MessageParser::fail(std::error_code error) noexcept {
  error_ = error;
  state_ = State::failed;
  return Step::next;  // the loop then reports the error
}

MessageParser::Step MessageParser::complete(size_t end) noexcept {
  consumed_ = end;
  state_ = State::done;
  return Step::next;
}

MessageParser::Step MessageParser::on_start_line(std::string_view input) {
  size_t lf = find_line_end(input);
  // The length is checked first, the same way whether the line end has arrived or not, so
  // that the error does not depend on how the bytes were split (the last byte may be the CR
  // of the line end: only what is before it counts).
  size_t end = lf == npos ? input.size() : lf;
  if (end - line_start_ > max_start_line_ + 1) {
    return fail(err(kind_ == Kind::request ? ParseError::target_too_long
                                           : ParseError::bad_status_line));
  }
  if (lf == npos) return Step::need_more;
  std::string_view line;
  if (!take_line(input, lf, line)) return Step::next;
  if (line.empty()) {
    // RFC 9112 2.2: empty lines before a request line are skipped; bounded like the line.
    if (scan_ - head_start_ > max_start_line_) return fail(err(ParseError::bad_request_line));
    line_start_ = scan_;
    return Step::next;
  }
  std::error_code e = kind_ == Kind::request ? parse_request_line(input, line)
                                             : parse_status_line(line);
  if (e) return fail(e);
  line_start_ = block_start_ = scan_;
  state_ = State::fields;
  return Step::next;
}

// request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 3).
std::error_code MessageParser::parse_request_line(std::string_view input,
                                                  std::string_view line) {
  size_t first = line.find(' ');
  size_t last = line.rfind(' ');
  if (first == npos || first == last) return err(ParseError::bad_request_line);
  std::string_view method = line.substr(0, first);
  if (!rules::all_of(rules::kToken, method)) return err(ParseError::bad_method);
  size_t offset = static_cast<size_t>(line.data() - input.data());
  method_token_ = Span::of(offset, first);
  method_ = parse_method(method);
  std::error_code e = parse_version(line.substr(last + 1), version_, ParseError::bad_version);
  if (e) return e;
  target_ = Span::of(offset + first + 1, last - first - 1);
  return parse_target(input, target_.in(input));
}

// origin-form for every method, "*" for OPTIONS, authority-form for CONNECT (only), and
// absolute-form ("http://host/path") because RFC 9112 3.2.2 says a server must accept it: the
// path is taken from it ("/" when it has none); the Host field is still required on 1.1.
std::error_code MessageParser::parse_target(std::string_view input, std::string_view target) {
  if (!rules::all_of(rules::kTarget, target)) return err(ParseError::bad_target);
  size_t offset = static_cast<size_t>(target.data() - input.data());
  if (method_ == Method::connect) {
    if (!valid_authority_form(target)) return err(ParseError::bad_target);
    return {};  // no path, no query
  }
  if (target == "*") {
    return method_ == Method::options ? std::error_code() : err(ParseError::bad_target);
  }
  size_t path_start = 0;
  if (target.front() != '/') {
    size_t scheme_end = target.find("://");
    std::string_view scheme = target.substr(0, scheme_end);
    if (scheme_end == npos || !(iequals(scheme, "http") || iequals(scheme, "https"))) {
      return err(ParseError::bad_target);
    }
    size_t authority = scheme_end + 3;
    path_start = std::min(target.find('/', authority), target.find('?', authority));
    if (path_start == npos) path_start = target.size();
    std::string_view host = target.substr(authority, path_start - authority);
    if (host.empty() || !rules::all_of(rules::kHost, host)) return err(ParseError::bad_target);
  }
  size_t question = target.find('?', path_start);
  size_t path_end = question == npos ? target.size() : question;
  path_ = Span::of(offset + path_start, path_end - path_start);
  path_is_root_ = path_.size == 0;
  if (question != npos) query_ = Span::of(offset + question + 1, target.size() - question - 1);
  return {};
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4); a missing SP
// before an empty reason is accepted, as RFC 9112 4 asks of a client.
std::error_code MessageParser::parse_status_line(std::string_view line) {
  if (line.size() < 12 || line[8] != ' ') return err(ParseError::bad_status_line);
  std::error_code e = parse_version(line.substr(0, 8), version_, ParseError::bad_status_line);
  if (e) return e;
  uint64_t code = 0;
  if (!parse_decimal(line.substr(9, 3), code) || code < 100 || code > 599) {
    return err(ParseError::bad_status_line);
  }
  status_ = static_cast<int>(code);
  if (line.size() > 12) {
    if (line[12] != ' ') return err(ParseError::bad_status_line);
    std::string_view reason = line.substr(13);
    for (char c : reason) {
      if (!rules::is(rules::kFieldValue, c)) return err(ParseError::bad_status_line);
    }
    reason_ = Span::of(line_start_ + 13, reason.size());
  }
  return {};
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 5), in the header block or, for
// `trailer`, the trailer block of a chunked body.
MessageParser::Step MessageParser::on_field_line(std::string_view input, bool trailer) {
  size_t limit = trailer ? max_trailer_bytes_ : max_header_bytes_;
  ParseError too_large = trailer ? ParseError::trailers_too_large : ParseError::headers_too_large;
  size_t lf = find_line_end(input);
  if (lf == npos) {
    if (input.size() - block_start_ > limit) return fail(err(too_large));
    return Step::need_more;
  }
  if (scan_ - block_start_ > limit) return fail(err(too_large));
  std::string_view line;
  if (!take_line(input, lf, line)) return Step::next;
  line_start_ = scan_;
  if (line.empty()) {
    if (trailer) return complete(scan_);
    std::error_code e = kind_ == Kind::request ? on_head_end() : on_response_head_end();
    return e ? fail(e) : Step::next;
  }
  if (rules::is_ows(line.front())) return fail(err(ParseError::obsolete_line_folding));
  size_t colon = line.find(':');
  if (colon == npos) return fail(err(ParseError::bad_field_name));
  std::string_view name = line.substr(0, colon);
  if (!rules::all_of(rules::kToken, name)) return fail(err(ParseError::bad_field_name));
  std::string_view raw_value = line.substr(colon + 1);
  if (!rules::all_field_value(raw_value)) return fail(err(ParseError::bad_field_value));
  std::string_view value = rules::trim_ows(raw_value);
  if (trailer) {
    // Trailer fields are checked and bounded, never merged into the head (RFC 9110 6.5.1).
    if (++trailer_count_ > max_headers_) return fail(err(too_large));
    return Step::next;
  }
  if (fields_.size() == max_headers_) return fail(err(too_large));
  size_t name_at = static_cast<size_t>(name.data() - input.data());
  size_t value_at = static_cast<size_t>(value.data() - input.data());
  // The first message sizes the list for a typical request at once (one allocation, kept).
  if (fields_.capacity() == 0) fields_.reserve(std::min<size_t>(max_headers_, 16));
  fields_.push_back({Span::of(name_at, name.size()), Span::of(value_at, value.size())});
  std::error_code e = on_field(name, value);
  return e ? fail(e) : Step::next;
}

// The fields that decide framing and the connection, as they arrive.
std::error_code MessageParser::on_field(std::string_view name, std::string_view value) {
  switch (name.size()) {
    case 4:
      if (kind_ == Kind::request && iequals(name, "host")) {
        if (++host_count_ > 1) return err(ParseError::duplicate_host);
        if (!value.empty() && !rules::all_of(rules::kHost, value)) {
          return err(ParseError::bad_host);
        }
      }
      break;
    case 6:
      if (kind_ == Kind::request && iequals(name, "expect")) {
        expects_continue_ = iequals(value, "100-continue");
      }
      break;
    case 10:
      if (iequals(name, "connection")) {
        connection_close_ = connection_close_ || has_token(value, "close");
        connection_keep_alive_ = connection_keep_alive_ || has_token(value, "keep-alive");
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        if (!merge_content_length(value, has_content_length_, content_length_)) {
          return err(ParseError::bad_content_length);
        }
        // Decided here, before the body arrives: a 413 never waits for (or reads) the body.
        if (content_length_ > max_body_) return err(ParseError::body_too_large);
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (version_ == Version::http10) return err(ParseError::transfer_encoding_on_http10);
        has_transfer_encoding_ = true;
        return merge_transfer_coding(value, chunked_);
      }
      break;
    default:
      break;
  }
  return {};
}

std::error_code MessageParser::on_head_end() {
  if (version_ == Version::http11 && host_count_ == 0) return err(ParseError::missing_host);
  // RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
  if (version_ == Version::http10) expects_continue_ = false;
  if (has_transfer_encoding_ && has_content_length_) {
    return err(ParseError::content_length_with_transfer_encoding);
  }
  begin_body(scan_);
  return {};
}

// RFC 9112 6.3: no body after HEAD, for 1xx, 204 and 304, nor for a 2xx to CONNECT; then
// chunked, Content-Length, or everything until the connection closes. A 1xx other than 101 is
// interim: skipped, and the final response is parsed after it.
std::error_code MessageParser::on_response_head_end() {
  if (status_ < 200 && status_ != 101) {
    // Interim responses are bounded together, like one head: a peer cannot grow the input
    // without end with them.
    if (scan_ > max_start_line_ + max_header_bytes_) return err(ParseError::headers_too_large);
    start_message(scan_);
    state_ = State::start_line;
    return {};
  }
  if (has_transfer_encoding_ && has_content_length_) {
    return err(ParseError::content_length_with_transfer_encoding);
  }
  bool no_body = request_method_ == Method::head || status_ < 200 || status_ == 204 ||
                 status_ == 304 || (request_method_ == Method::connect && status_ < 300);
  if (no_body) {
    content_length_ = 0;  // body() is empty: a HEAD or 304 Content-Length frames nothing here
    chunked_ = false;
    complete(scan_);
    return {};
  }
  if (!has_transfer_encoding_ && !has_content_length_) {
    until_close_ = true;
    body_start_ = scan_;
    state_ = State::until_close;
    return {};
  }
  begin_body(scan_);
  return {};
}

void MessageParser::begin_body(size_t at) {
  body_start_ = at;
  if (chunked_) {
    line_start_ = scan_ = at;
    state_ = State::chunk_size;
  } else if (content_length_ > 0) {
    body_size_ = content_length_;
    state_ = State::fixed_body;
  } else {
    complete(at);
  }
}

MessageParser::Step MessageParser::on_fixed_body(std::string_view input) {
  if (input.size() - body_start_ < body_size_) return Step::need_more;
  return complete(body_start_ + body_size_);
}

// chunk-size [ chunk-ext ] CRLF, the line bounded by max_chunk_line.
MessageParser::Step MessageParser::on_chunk_size(std::string_view input) {
  size_t lf = find_line_end(input);
  size_t end = lf == npos ? input.size() : lf;  // checked first, as for the start line
  if (end - line_start_ > max_chunk_line_ + 1) return fail(err(ParseError::chunk_line_too_long));
  if (lf == npos) return Step::need_more;
  std::string_view line;
  if (!take_line(input, lf, line)) return Step::next;
  uint64_t size = 0;
  size_t digits = 0;
  for (; digits < line.size(); ++digits) {
    int v = rules::hex_value(line[digits]);
    if (v < 0) break;
    if (size > (kMaxU64 >> 4)) return fail(err(ParseError::bad_chunk));
    size = size << 4 | static_cast<uint64_t>(v);
  }
  if (digits == 0 || !valid_chunk_extensions(line.substr(digits))) {
    return fail(err(ParseError::bad_chunk));
  }
  if (size > max_body_ - chunked_body_.size()) return fail(err(ParseError::body_too_large));
  line_start_ = scan_;
  if (size == 0) {
    block_start_ = scan_;
    state_ = State::trailers;
    return Step::next;
  }
  chunk_left_ = size;
  data_pos_ = scan_;
  state_ = State::chunk_data;
  return Step::next;
}

MessageParser::Step MessageParser::on_chunk_data(std::string_view input) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(input.size() - data_pos_, chunk_left_));
  chunked_body_.append(input.substr(data_pos_, n));
  data_pos_ += n;
  chunk_left_ -= n;
  if (chunk_left_ > 0) return Step::need_more;
  state_ = State::chunk_data_end;
  return Step::next;
}

// The CRLF after chunk-data: a lone LF is the bare-LF error, anything else a bad chunk.
MessageParser::Step MessageParser::on_chunk_data_end(std::string_view input) {
  size_t available = input.size() - data_pos_;
  if (available >= 1 && input[data_pos_] != '\r') {
    return fail(err(input[data_pos_] == '\n' ? ParseError::bare_lf : ParseError::bad_chunk));
  }
  if (available < 2) return Step::need_more;
  if (input[data_pos_ + 1] != '\n') return fail(err(ParseError::bad_chunk));
  line_start_ = scan_ = data_pos_ + 2;
  state_ = State::chunk_size;
  return Step::next;
}

}  // namespace tern::http
