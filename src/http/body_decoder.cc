// http::BodyDecoder: Content-Length, chunked and close-delimited bodies decoded in pieces.
#include "tern/http/body_decoder.h"

#include <algorithm>
#include <cstring>

#include "http/field_rules.h"

namespace tern::http {
namespace {

using Status = BodyDecoder::Step::Status;

// The line ending at `lf` without its CRLF; false for a bare LF.
bool crlf_line(std::string_view input, size_t lf, std::string_view& line) noexcept {
  if (lf == 0 || input[lf - 1] != '\r') return false;
  line = input.substr(0, lf - 1);
  return true;
}

// After the size: nothing, or extensions (";name[=value]"...) made of field-value bytes.
bool acceptable_extensions(std::string_view text) noexcept {
  size_t pos = text.find_first_not_of(" \t");
  if (pos == std::string_view::npos) return true;
  return text[pos] == ';' && rules::all_field_value(text);
}

}  // namespace

void BodyDecoder::start(Framing framing, uint64_t length, const Limits& limits) noexcept {
  framing_ = framing;
  max_chunk_line_ = limits.max_chunk_line;
  max_trailer_bytes_ = limits.max_trailer_bytes;
  trailer_bytes_ = 0;
  left_ = framing == Framing::length ? length : 0;
  switch (framing) {
    case Framing::length: state_ = left_ > 0 ? State::data : State::done; break;
    case Framing::chunked: state_ = State::size_line; break;
    case Framing::until_close: state_ = State::data; break;
  }
}

BodyDecoder::Step BodyDecoder::next(std::string_view input) {
  switch (state_) {
    case State::data: {
      if (input.empty()) return {};
      size_t n = input.size();
      if (framing_ != Framing::until_close) n = static_cast<size_t>(std::min<uint64_t>(n, left_));
      left_ -= framing_ != Framing::until_close ? n : 0;
      if (left_ == 0 && framing_ == Framing::length) state_ = State::done;
      if (left_ == 0 && framing_ == Framing::chunked) state_ = State::data_end;
      Status status = state_ == State::done ? Status::complete : Status::progress;
      return {status, n, input.substr(0, n), {}};
    }
    case State::size_line: return on_size_line(input);
    case State::data_end: return on_data_end(input);
    case State::trailers: return on_trailers(input);
    case State::done: return {Status::complete, 0, {}, {}};
    case State::failed: return fail(ParseError::bad_chunk);
  }
  return {};
}

BodyDecoder::Step BodyDecoder::finish_at_close(std::string_view input) noexcept {
  if (framing_ == Framing::until_close && state_ == State::data) {
    state_ = State::done;
    return {Status::complete, input.size(), input, {}};
  }
  return fail(ParseError::truncated_message);
}

// chunk-size [ chunk-ext ] CRLF; the line bounded by max_chunk_line whether its end has
// arrived or not.
BodyDecoder::Step BodyDecoder::on_size_line(std::string_view input) {
  size_t lf = input.find('\n');
  size_t end = lf == std::string_view::npos ? input.size() : lf;
  if (end > max_chunk_line_ + 1) return fail(ParseError::chunk_line_too_long);
  if (lf == std::string_view::npos) return {};
  std::string_view line;
  if (!crlf_line(input, lf, line)) return fail(ParseError::bare_lf);
  uint64_t size = 0;
  size_t digits = 0;
  for (; digits < line.size(); ++digits) {
    int v = rules::hex_value(line[digits]);
    if (v < 0) break;
    if (size > (UINT64_MAX >> 4)) return fail(ParseError::bad_chunk);
    size = size << 4 | static_cast<uint64_t>(v);
  }
  if (digits == 0 || !acceptable_extensions(line.substr(digits))) {
    return fail(ParseError::bad_chunk);
  }
  left_ = size;
  state_ = size == 0 ? State::trailers : State::data;
  return {Status::progress, lf + 1, {}, {}};
}

// The CRLF after chunk-data.
BodyDecoder::Step BodyDecoder::on_data_end(std::string_view input) {
  if (!input.empty() && input[0] != '\r') {
    return fail(input[0] == '\n' ? ParseError::bare_lf : ParseError::bad_chunk);
  }
  if (input.size() < 2) return {};
  if (input[1] != '\n') return fail(ParseError::bad_chunk);
  state_ = State::size_line;
  return {Status::progress, 2, {}, {}};
}

// trailer lines, then the empty line that ends the message; bounded together.
BodyDecoder::Step BodyDecoder::on_trailers(std::string_view input) {
  size_t lf = input.find('\n');
  size_t end = lf == std::string_view::npos ? input.size() : lf + 1;
  if (trailer_bytes_ + end > max_trailer_bytes_ + 2) return fail(ParseError::trailers_too_large);
  if (lf == std::string_view::npos) return {};
  std::string_view line;
  if (!crlf_line(input, lf, line)) return fail(ParseError::bare_lf);
  if (line.empty()) {
    state_ = State::done;
    return {Status::complete, lf + 1, {}, {}};
  }
  if (line.find(':') == std::string_view::npos || !rules::all_field_value(line)) {
    return fail(ParseError::bad_field_value);
  }
  trailer_bytes_ += lf + 1;
  return {Status::progress, lf + 1, {}, {}};
}

BodyDecoder::Step BodyDecoder::fail(ParseError error) noexcept {
  state_ = State::failed;
  return {Status::invalid, 0, {}, make_error_code(error)};
}

}  // namespace tern::http
