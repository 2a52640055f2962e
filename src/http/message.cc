// Methods, versions, and the case-insensitive comparisons of field names and tokens.
#include "tern/http/message.h"

#include "http/field_rules.h"

namespace tern::http {

// Methods are case-sensitive (RFC 9110 9.1): "get" is an extension method, not GET.
Method parse_method(std::string_view token) noexcept {
  switch (token.size()) {
    case 3:
      if (token == "GET") return Method::get;
      if (token == "PUT") return Method::put;
      break;
    case 4:
      if (token == "HEAD") return Method::head;
      if (token == "POST") return Method::post;
      break;
    case 5:
      if (token == "PATCH") return Method::patch;
      if (token == "TRACE") return Method::trace;
      break;
    case 6:
      if (token == "DELETE") return Method::delete_;
      break;
    case 7:
      if (token == "OPTIONS") return Method::options;
      if (token == "CONNECT") return Method::connect;
      break;
    default:
      break;
  }
  return Method::other;
}

std::string_view method_name(Method method) noexcept {
  switch (method) {
    case Method::get: return "GET";
    case Method::head: return "HEAD";
    case Method::post: return "POST";
    case Method::put: return "PUT";
    case Method::delete_: return "DELETE";
    case Method::options: return "OPTIONS";
    case Method::connect: return "CONNECT";
    case Method::trace: return "TRACE";
    case Method::patch: return "PATCH";
    case Method::other: return "";
  }
  return "";
}

std::string_view version_name(Version version) noexcept {
  return version == Version::http10 ? "HTTP/1.0" : "HTTP/1.1";
}

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    element = element.substr(0, element.find(';'));
    if (iequals(rules::trim_ows(element), token)) return true;
  }
  return false;
}

std::optional<std::string_view> Headers::find(std::string_view name) const noexcept {
  for (const Header& field : fields_) {
    if (iequals(field.name, name)) return field.value;
  }
  return std::nullopt;
}

}  // namespace tern::http
