// Request and response rewriting for the HTTP proxy (see forwarding.h for the rules).
#include "forwarding.h"

#include <cstddef>
#include <cstdint>
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

// The request fields this proxy writes itself (from the client's values where they matter).
enum class Rewritten : uint8_t { no, expect, via, forwarded_for, forwarded_proto };

// By length first, as is_fixed_hop_by_hop: this runs for every field of every request.
Rewritten rewritten_on_request(std::string_view name, const ForwardingOptions& options) noexcept {
  switch (name.size()) {
    case 3:
      return !options.via.empty() && http::iequals(name, "via") ? Rewritten::via : Rewritten::no;
    case 6:
      return http::iequals(name, "expect") ? Rewritten::expect : Rewritten::no;
    case 15:
      return options.forwarded_headers && http::iequals(name, "x-forwarded-for")
                 ? Rewritten::forwarded_for
                 : Rewritten::no;
    case 17:
      return options.forwarded_headers && http::iequals(name, "x-forwarded-proto")
                 ? Rewritten::forwarded_proto
                 : Rewritten::no;
    default:
      return Rewritten::no;
  }
}

// Bytes of field lines the request forwarded for `request` needs (one reservation): the
// client's lines, at most, and the three this proxy adds.
size_t forwarded_field_bytes(const http::Request& request, const ForwardingOptions& options) {
  constexpr size_t kAdded = sizeof("X-Forwarded-For: \r\nX-Forwarded-Proto: http\r\nVia: 1.1 \r\n");
  constexpr size_t kLongestAddress = 46;  // an IPv6 address as text
  size_t bytes = kAdded + kLongestAddress + options.via.size();
  for (const http::Header& field : request.headers) {
    bytes += field.name.size() + field.value.size() + 4;
  }
  return bytes;
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

// The fields go into the request's field block, one buffer for all of them. The client's own
// were checked by the parser that produced `request` (parsed_field: not checked again); Via
// holds the configured pseudonym, which is checked (field): a bad one makes the request
// invalid, answered 502 by the proxy.
http::ClientRequest forward_request(const http::Request& request,
                                    const ForwardingOptions& options) {
  http::ClientRequest out;
  forward_request(request, options, out);
  return out;
}

void forward_request(const http::Request& request, const ForwardingOptions& options,
                     http::ClientRequest& out) {
  out.clear();
  out.method = request.method;
  if (request.method == http::Method::other) out.method_token.assign(request.method_token);
  out.target.assign(request.target);
  out.reserve_fields(forwarded_field_bytes(request, options));
  HopByHop hop_by_hop(request.headers);
  bool had_forwarded_for = false;
  bool had_via = false;
  for (const http::Header& field : request.headers) {
    if (hop_by_hop(field.name)) continue;
    switch (rewritten_on_request(field.name, options)) {
      case Rewritten::no:
        out.parsed_field(field.name, field.value);
        break;
      case Rewritten::forwarded_for:
        had_forwarded_for = true;
        break;
      case Rewritten::via:
        had_via = true;
        break;
      case Rewritten::expect:
      case Rewritten::forwarded_proto:
        break;
    }
  }
  if (options.forwarded_headers) {
    std::string address = request.remote.host();
    if (had_forwarded_for) {
      out.parsed_field("X-Forwarded-For",
                       appended(joined_values(request.headers, "x-forwarded-for"), address));
    } else {
      out.parsed_field("X-Forwarded-For", address);
    }
    out.parsed_field("X-Forwarded-Proto", "http");
  }
  if (!options.via.empty()) {
    if (had_via) {
      out.field("Via", {via_value(request.headers, request.version, options.via)});
    } else {
      out.field("Via", {protocol_version(request.version), " ", options.via});
    }
  }
  out.body.assign(request.body);
}

std::optional<uint64_t> content_length(const http::ParsedResponse& response) noexcept {
  return content_length(response.headers);
}

std::optional<uint64_t> content_length(const http::Headers& headers) noexcept {
  for (const http::Header& field : headers) {
    if (field.name.size() != 14 || !http::iequals(field.name, "content-length")) continue;
    uint64_t value = 0;
    for (char c : field.value) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    return value;
  }
  return std::nullopt;
}

http::Response forward_response(const http::ParsedResponse& response,
                                const ForwardingOptions& options) {
  http::Response out(response.status);
  HopByHop hop_by_hop(response.headers);
  bool had_via = false;
  for (const http::Header& field : response.headers) {
    if (hop_by_hop(field.name)) continue;
    if (!options.via.empty() && field.name.size() == 3 && http::iequals(field.name, "via")) {
      had_via = true;
      continue;
    }
    out.header(field.name, field.value);  // it drops the fields the server protocol writes
  }
  if (!options.via.empty()) {
    if (had_via) {
      out.header("Via", via_value(response.headers, response.version, options.via));
    } else {
      std::string ours(protocol_version(response.version));  // no allocation while short
      ours += ' ';
      ours += options.via;
      out.header("Via", ours);
    }
  }
  if (!response.body.empty()) out.body(std::string(response.body));
  return out;
}

}  // namespace tern::proxy
