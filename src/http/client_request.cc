// http::ClientRequest: the checks that keep a caller's fields from changing the framing, and
// the encoding of the head.
#include "tern/http/client_request.h"

#include "http/field_rules.h"
#include "tern/http/client_error.h"

namespace tern::http {
namespace {

// The body's framing is the client's: these fields are never taken from the caller.
bool is_framing_field(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

// Methods whose request carries content by definition: an empty body still says so (RFC 9110
// 8.6: a user agent should send Content-Length for them).
bool defines_content(Method method) noexcept {
  return method == Method::post || method == Method::put || method == Method::patch;
}

}  // namespace

const Field* ClientRequest::find(std::string_view name) const noexcept {
  for (const Field& field : headers) {
    if (iequals(field.name, name)) return &field;
  }
  return nullptr;
}

bool ClientRequest::asks_close() const noexcept {
  for (const Field& field : headers) {
    if (iequals(field.name, "connection") && has_token(field.value, "close")) return true;
  }
  return false;
}

std::error_code validate(const ClientRequest& request) noexcept {
  // A field value may be empty; a target here is origin-form (or "*"), never empty.
  bool ok = rules::all_of(rules::kToken, request.method_text()) &&
            rules::all_of(rules::kTarget, request.target);
  for (const Field& field : request.headers) {
    ok = ok && rules::all_of(rules::kToken, field.name) &&
         (field.value.empty() || rules::all_of(rules::kFieldValue, field.value));
  }
  return ok ? std::error_code{} : make_error_code(client_errc::invalid_request);
}

void encode(ClientRequest&& request, std::string_view default_host, Output& out) {
  std::string head;
  head.reserve(64 + request.target.size() + request.headers.size() * 32);
  head.append(request.method_text()).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  if (request.find("host") == nullptr) head.append("Host: ").append(default_host).append("\r\n");
  for (const Field& field : request.headers) {
    if (is_framing_field(field.name)) continue;
    head.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  if (!request.body.empty() || defines_content(request.method)) {
    head.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  }
  head.append("\r\n");
  out.append(std::move(head));
  out.append(std::move(request.body));
}

}  // namespace tern::http
