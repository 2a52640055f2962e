// Request and response rewriting for the HTTP proxy (see forwarding.h for the rules).
#include "forwarding.h"

#include <string>
#include <utility>

namespace tern::proxy {
namespace {

// Fields that describe one connection, never the message (RFC 9110 7.6.1), and the framing
// the next hop writes from the body it is given. By length first: this runs for every field
// of every proxied message, and most names have a length none of these has.
bool is_fixed_hop_by_hop(std::string_view name) noexcept {
  switch (name.size()) {
    case 2: return http::iequals(name, "te");
    case 7: return http::iequals(name, "trailer") || http::iequals(name, "upgrade");
    case 10: return http::iequals(name, "connection") || http::iequals(name, "keep-alive");
    case 14: return http::iequals(name, "content-length");
    case 16: return http::iequals(name, "proxy-connection");
    case 17: return http::iequals(name, "transfer-encoding");
    default: return false;
  }
}

// The hop-by-hop rule for the fields of one message: whether it has a Connection field at all
// is found once, so a message without one (the usual case) costs one look per field.
class HopByHop {
 public:
  explicit HopByHop(const http::Headers& headers) noexcept : headers_(headers) {
    for (const http::Header& field : headers) {
      if (http::iequals(field.name, "connection")) named_ = true;
    }
  }
  bool operator()(std::string_view name) const noexcept {
    if (is_fixed_hop_by_hop(name)) return true;
    if (!named_) return false;
    for (const http::Header& field : headers_) {
      if (http::iequals(field.name, "connection") && http::has_token(field.value, name)) {
        return true;
      }
    }
    return false;
  }

 private:
  const http::Headers& headers_;
  bool named_ = false;  // some Connection field may name other fields
};

std::string_view protocol_version(http::Version version) noexcept {
  return version == http::Version::http10 ? "1.0" : "1.1";
}

// Every value of the fields named `name`, joined with ", " (a list field may come split over
// several lines; RFC 9110 5.3 lets them be combined in order).
std::string joined_values(const http::Headers& headers, std::string_view name) {
  std::string joined;
  for (const http::Header& field : headers) {
    if (!http::iequals(field.name, name) || field.value.empty()) continue;
    if (!joined.empty()) joined += ", ";
    joined += field.value;
  }
  return joined;
}

std::string appended(std::string list, std::string_view item) {
  if (!list.empty()) list += ", ";
  list += item;
  return list;
}

std::string via_value(const http::Headers& headers, http::Version version,
                      std::string_view pseudonym) {
  std::string ours(protocol_version(version));
  ours += ' ';
  ours += pseudonym;
  return appended(joined_values(headers, "via"), ours);
}

// Fields this proxy writes itself on a request (from the client's values where they matter).
bool rewritten_on_request(std::string_view name, const ForwardingOptions& options) noexcept {
  if (http::iequals(name, "expect")) return true;
  if (!options.via.empty() && http::iequals(name, "via")) return true;
  return options.forwarded_headers &&
         (http::iequals(name, "x-forwarded-for") || http::iequals(name, "x-forwarded-proto"));
}

}  // namespace

bool is_hop_by_hop(std::string_view name, const http::Headers& headers) noexcept {
  return HopByHop(headers)(name);
}

bool is_idempotent(http::Method method) noexcept {
  switch (method) {
    case http::Method::get:
    case http::Method::head:
    case http::Method::options:
    case http::Method::trace:
    case http::Method::put:
    case http::Method::delete_:
      return true;
    default:
      return false;
  }
}

http::ClientRequest forward_request(const http::Request& request,
                                    const ForwardingOptions& options) {
  http::ClientRequest out;
  out.method = request.method;
  if (request.method == http::Method::other) out.method_token = std::string(request.method_token);
  out.target = std::string(request.target);
  out.headers.reserve(request.headers.size() + 3);
  HopByHop hop_by_hop(request.headers);
  for (const http::Header& field : request.headers) {
    if (hop_by_hop(field.name)) continue;
    if (rewritten_on_request(field.name, options)) continue;
    out.header(std::string(field.name), std::string(field.value));
  }
  if (options.forwarded_headers) {
    out.header("X-Forwarded-For", appended(joined_values(request.headers, "x-forwarded-for"),
                                           request.remote.host()));
    out.header("X-Forwarded-Proto", "http");
  }
  if (!options.via.empty()) {
    out.header("Via", via_value(request.headers, request.version, options.via));
  }
  out.body = std::string(request.body);
  return out;
}

http::Response forward_response(const http::ParsedResponse& response,
                                const ForwardingOptions& options) {
  http::Response out(response.status);
  HopByHop hop_by_hop(response.headers);
  for (const http::Header& field : response.headers) {
    if (hop_by_hop(field.name)) continue;
    if (!options.via.empty() && http::iequals(field.name, "via")) continue;
    out.header(field.name, field.value);  // it drops the fields the server protocol writes
  }
  if (!options.via.empty()) {
    out.header("Via", via_value(response.headers, response.version, options.via));
  }
  if (!response.body.empty()) out.body(std::string(response.body));
  return out;
}

}  // namespace tern::proxy
