// The rewriting a reverse proxy does to the messages it carries, as pure functions (no I/O, so
// they are tested alone): the client's request becomes the http::ClientRequest sent upstream,
// the upstream's response becomes the http::Response sent to the client.
//
// Both ways the hop-by-hop fields go (RFC 9110 7.6.1): Connection and every field it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade; and the framing the
// next hop writes itself (Content-Length). Via gets this proxy appended ("1.1 tern-proxy",
// after any Via already there, in one field). On requests Host is kept, X-Forwarded-For gets
// the client's IP appended (after the values already there), X-Forwarded-Proto is set to
// "http" (this proxy is where the client's connection ends: what the client claimed is
// dropped), and Expect is dropped (the proxy answers it itself: the body is read whole, or,
// relayed in pieces, asked for once an upstream connection carries the request).
//
// Thread rule: pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tern/http/client_request.h"
#include "tern/http/message.h"
#include "tern/http/parser.h"
#include "tern/http/request.h"
#include "tern/http/response.h"

namespace tern::proxy {

struct ForwardingOptions {
  std::string_view via = "tern-proxy";  // this proxy's pseudonym in Via; empty: no Via
  bool forwarded_headers = true;        // X-Forwarded-For and X-Forwarded-Proto
};

// True for a field a proxy must not pass on in a message whose fields are `headers`: the
// fixed hop-by-hop names, and the names listed in its Connection fields.
bool is_hop_by_hop(std::string_view name, const http::Headers& headers) noexcept;

// Whether the method may be sent again after its bytes may have reached an upstream
// (RFC 9110 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
bool is_idempotent(http::Method method) noexcept;

// The request to send upstream for the client's `request` (its views are copied). Its fields
// are in the request's field block (http::ClientRequest::for_each_field, field_value), copied
// without a second check: `request` must come from tern's HTTP parser (a server's Request, or
// an OwnedRequest copied from one), which has checked every name and value.
http::ClientRequest forward_request(const http::Request& request,
                                    const ForwardingOptions& options);
// The same, written into `out` (cleared first; its buffers' capacity is reused).
void forward_request(const http::Request& request, const ForwardingOptions& options,
                     http::ClientRequest& out);

// The response to send the client for the upstream's `response` (its views are copied).
http::Response forward_response(const http::ParsedResponse& response,
                                const ForwardingOptions& options);

// The value of the response's Content-Length field (the parser has checked that copies agree
// and hold digits only), or nullopt without one. A HEAD's answer passes it on.
std::optional<uint64_t> content_length(const http::ParsedResponse& response) noexcept;
// The same for any message's fields (a request's: nullopt for a chunked body).
std::optional<uint64_t> content_length(const http::Headers& headers) noexcept;

}  // namespace tern::proxy
