// http::Response: the fields a handler may set, checked so that no handler can split a
// response or contradict the protocol's framing.
#include "tern/http/response.h"

#include <algorithm>

#include <string_view>

#include "field_rules.h"
#include "tern/http/message.h"

namespace tern::http {
namespace {

bool is_token(std::string_view s) noexcept { return rules::all_of(rules::kToken, s); }

// A value a handler may set: no CR, LF, NUL or other control (a response cannot be split).
bool is_safe_value(std::string_view s) noexcept { return rules::all_field_value(s); }

// The protocol writes these itself, from the body and the connection's state. By length first:
// a proxy asks this for every field of every response it forwards.
bool is_framing_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 2: return iequals(name, "te");
    case 4: return iequals(name, "date");
    case 6: return iequals(name, "server");
    case 7: return iequals(name, "upgrade") || iequals(name, "trailer");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14: return iequals(name, "content-length");
    case 17: return iequals(name, "transfer-encoding");
    default: return false;
  }
}

}  // namespace

Response Response::text(int status, std::string body) {
  Response response(status);
  response.content_type("text/plain; charset=utf-8");
  response.body(std::move(body));
  return response;
}

Response& Response::content_type(std::string_view type) {
  static constexpr std::string_view kCommon[] = {
      "Content-Type: text/plain; charset=utf-8\r\n", "Content-Type: text/plain\r\n",
      "Content-Type: text/html; charset=utf-8\r\n", "Content-Type: text/html\r\n",
      "Content-Type: application/json\r\n", "Content-Type: application/octet-stream\r\n"};
  constexpr size_t kPrefix = std::string_view("Content-Type: ").size();
  for (std::string_view line : kCommon) {
    if (line.substr(kPrefix, line.size() - kPrefix - 2) == type) {
      content_type_line_ = line;
      return *this;
    }
  }
  content_type_line_ = {};
  if (is_safe_value(type)) append_field("Content-Type", type);
  return *this;
}

Response& Response::header(std::string_view name, std::string_view value) {
  if (is_framing_field(name) || !is_token(name) || !is_safe_value(value)) return *this;
  if (iequals(name, "content-type")) return content_type(value);
  append_field(name, value);
  return *this;
}

void Response::append_field(std::string_view name, std::string_view value) {
  // Geometric growth: a response with several fields reallocates once or twice, not per field.
  size_t needed = fields_.size() + name.size() + value.size() + 4;
  if (needed > fields_.capacity()) fields_.reserve(std::max<size_t>(needed, 2 * fields_.capacity() + 128));
  fields_.append(name);
  fields_.append(": ");
  fields_.append(value);
  fields_.append("\r\n");
}

uint64_t Response::body_size() const noexcept {
  switch (kind_) {
    case BodyKind::none: return 0;
    case BodyKind::owned: return body_.size();
    case BodyKind::constant:
    case BodyKind::shared: return constant_.size();
    case BodyKind::file: return file_.length;
  }
  return 0;
}

}  // namespace tern::http
