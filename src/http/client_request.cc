// http::ClientRequest: the checks that keep a caller's fields from changing the framing, the
// field block, and the encoding of the head.
#include "tern/http/client_request.h"

#include <charconv>
#include <cstring>

#include "http/field_rules.h"
#include "tern/http/client_error.h"

namespace tern::http {
namespace {

// The body's framing is the client's: these fields are never taken from the caller. By length
// first: most names have neither length.
bool is_framing_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 14: return iequals(name, "content-length");
    case 17: return iequals(name, "transfer-encoding");
    default: return false;
  }
}

bool is_host(std::string_view name) noexcept { return iequals(name, "host"); }

bool asks_close_field(std::string_view name, std::string_view value) noexcept {
  return iequals(name, "connection") && has_token(value, "close");
}

// Methods whose request carries content by definition: an empty body still says so (RFC 9110
// 8.6: a user agent should send Content-Length for them).
bool defines_content(Method method) noexcept {
  return method == Method::post || method == Method::put || method == Method::patch;
}

bool valid_field(std::string_view name, std::string_view value) noexcept {
  return rules::all_of(rules::kToken, name) && rules::all_field_value(value);
}

// Empties `text`, keeping its buffer unless it is larger than `kept`.
void clear_keeping(std::string& text, size_t kept) noexcept {
  if (text.capacity() > kept) {
    std::string().swap(text);
  } else {
    text.clear();
  }
}

}  // namespace

ClientRequest& ClientRequest::field(std::string_view name,
                                    std::initializer_list<std::string_view> value_parts) & {
  bool ok = rules::all_of(rules::kToken, name);
  for (std::string_view part : value_parts) ok = ok && rules::all_field_value(part);
  if (!ok) {
    invalid_field_ = true;
    return *this;
  }
  append_line(name, value_parts);
  return *this;
}

ClientRequest& ClientRequest::parsed_field(std::string_view name,
                                           std::initializer_list<std::string_view> value_parts) & {
  append_line(name, value_parts);
  return *this;
}

// The line is sized first and written in place: one capacity check for the whole line instead
// of one per piece (a proxy writes every field of every request through here).
void ClientRequest::append_line(std::string_view name,
                                std::initializer_list<std::string_view> value_parts) {
  if (is_framing_field(name)) return;
  size_t value_size = 0;
  for (std::string_view part : value_parts) value_size += part.size();
  size_t at = block_.size();
  block_.resize(at + name.size() + value_size + 4);
  char* out = block_.data() + at;
  std::memcpy(out, name.data(), name.size());
  out += name.size();
  *out++ = ':';
  *out++ = ' ';
  char* value = out;
  for (std::string_view part : value_parts) {
    if (!part.empty()) std::memcpy(out, part.data(), part.size());
    out += part.size();
  }
  *out++ = '\r';
  *out = '\n';
  if (name.size() == 4 && is_host(name)) block_has_host_ = true;
  if (name.size() == 10 && asks_close_field(name, std::string_view(value, value_size))) {
    block_asks_close_ = true;
  }
}

void ClientRequest::clear() noexcept {
  method = Method::get;
  clear_keeping(method_token, kKeptCapacity);
  clear_keeping(target, kKeptCapacity);
  target.push_back('/');  // within the capacity kept (at least a short string's): no throw
  std::vector<Field>().swap(headers);  // a string per field: nothing worth keeping
  clear_keeping(body, kKeptCapacity);
  clear_keeping(block_, kKeptCapacity);
  sink = nullptr;
  body_source = nullptr;
  body_length.reset();
  invalid_field_ = false;
  block_has_host_ = false;
  block_asks_close_ = false;
}

const Field* ClientRequest::find(std::string_view name) const noexcept {
  for (const Field& entry : headers) {
    if (iequals(entry.name, name)) return &entry;
  }
  return nullptr;
}

std::optional<std::string_view> ClientRequest::field_value(std::string_view name) const noexcept {
  std::optional<std::string_view> found;
  for_each_field([&](std::string_view field_name, std::string_view value) {
    if (!found && iequals(field_name, name)) found = value;
  });
  return found;
}

bool ClientRequest::has_host() const noexcept {
  return block_has_host_ || find("host") != nullptr;
}

bool ClientRequest::asks_close() const noexcept {
  if (block_asks_close_) return true;
  for (const Field& entry : headers) {
    if (asks_close_field(entry.name, entry.value)) return true;
  }
  return false;
}

std::error_code validate(const ClientRequest& request) noexcept {
  // A field value may be empty; a target here is origin-form (or "*"), never empty.
  bool ok = !request.has_invalid_field() && rules::all_of(rules::kToken, request.method_text()) &&
            rules::all_of(rules::kTarget, request.target);
  for (const Field& field : request.headers) ok = ok && valid_field(field.name, field.value);
  return ok ? std::error_code{} : make_error_code(client_errc::invalid_request);
}

void encode(ClientRequest&& request, std::string_view default_host, Output& out) {
  // Pieces copied into the arena join into one: the head is one iovec, and the arena keeps its
  // capacity from request to request.
  out.append_copy(request.method_text());
  out.append_copy(" ");
  out.append_copy(request.target);
  out.append_copy(" HTTP/1.1\r\n");
  if (!request.has_host()) {
    out.append_copy("Host: ");
    out.append_copy(default_host);
    out.append_copy("\r\n");
  }
  for (const Field& field : request.headers) {
    if (is_framing_field(field.name)) continue;
    out.append_copy(field.name);
    out.append_copy(": ");
    out.append_copy(field.value);
    out.append_copy("\r\n");
  }
  out.append_copy(request.field_block());
  if (request.body_source != nullptr) {
    // The body follows (the pipeline opens it): its length if known, else chunked.
    if (request.body_length) {
      char digits[24];
      auto end = std::to_chars(digits, digits + sizeof digits, *request.body_length).ptr;
      out.append_copy("Content-Length: ");
      out.append_copy(std::string_view(digits, static_cast<size_t>(end - digits)));
      out.append_copy("\r\n\r\n");
    } else {
      out.append_copy("Transfer-Encoding: chunked\r\n\r\n");
    }
    return;
  }
  if (!request.body.empty() || defines_content(request.method)) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, request.body.size()).ptr;
    out.append_copy("Content-Length: ");
    out.append_copy(std::string_view(digits, static_cast<size_t>(end - digits)));
    out.append_copy("\r\n");
  }
  out.append_copy("\r\n");
  out.append(std::move(request.body));
}

}  // namespace tern::http
