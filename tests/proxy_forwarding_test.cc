// The proxy's message rewriting alone (src/proxy/forwarding.h), no sockets: which fields a
// forwarded request and a forwarded response keep, drop and gain, and which methods may be
// sent twice.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/forwarding.h"

namespace tern::proxy {
namespace {

using http::Header;

// The fields of a ClientRequest as "Name: value" lines, in order.
std::vector<std::string> lines_of(const http::ClientRequest& request) {
  std::vector<std::string> lines;
  request.for_each_field([&](std::string_view name, std::string_view value) {
    lines.push_back(std::string(name) + ": " + std::string(value));
  });
  return lines;
}

std::string field(const http::ClientRequest& request, std::string_view name) {
  std::optional<std::string_view> found = request.field_value(name);
  return found ? std::string(*found) : "<none>";
}

http::Request request_with(const std::vector<Header>& fields,
                           http::Version version = http::Version::http11) {
  http::Request request;
  request.method = http::Method::get;
  request.method_token = "GET";
  request.target = "/a/b?c=d";
  request.version = version;
  request.headers = http::Headers(fields);
  request.remote = InetAddress::parse("10.1.2.3", 40000).value();
  return request;
}

TEST(ProxyForwarding, RequestDropsHopByHopFieldsAndThoseConnectionNames) {
  std::vector<Header> fields = {
      {"Host", "example.test"},
      {"Connection", "keep-alive, X-Hop-One"},
      {"Connection", "x-hop-two"},
      {"X-Hop-One", "1"},
      {"X-Hop-Two", "2"},
      {"Keep-Alive", "timeout=5"},
      {"Proxy-Connection", "keep-alive"},
      {"TE", "trailers"},
      {"Trailer", "X-Checksum"},
      {"Transfer-Encoding", "chunked"},
      {"Upgrade", "websocket"},
      {"Content-Length", "3"},
      {"Expect", "100-continue"},
      {"Accept", "text/plain"},
  };
  http::Request request = request_with(fields);
  request.body = "abc";
  http::ClientRequest out = forward_request(request, {});
  EXPECT_EQ(lines_of(out),
            (std::vector<std::string>{"Host: example.test", "Accept: text/plain",
                                      "X-Forwarded-For: 10.1.2.3", "X-Forwarded-Proto: http",
                                      "Via: 1.1 tern-proxy"}));
  EXPECT_EQ(out.method, http::Method::get);
  EXPECT_EQ(out.target, "/a/b?c=d");
  EXPECT_EQ(out.body, "abc");
}

TEST(ProxyForwarding, ForwardedForIsAppendedToEveryValueAlreadyThere) {
  std::vector<Header> fields = {{"Host", "h"},
                                {"X-Forwarded-For", "1.1.1.1"},
                                {"X-Forwarded-For", "2.2.2.2, 3.3.3.3"},
                                {"X-Forwarded-Proto", "https"}};
  http::ClientRequest out = forward_request(request_with(fields), {});
  EXPECT_EQ(field(out, "x-forwarded-for"), "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.1.2.3");
  // The client's claim is not believed: its connection to this proxy is plain http.
  EXPECT_EQ(field(out, "x-forwarded-proto"), "http");
  EXPECT_EQ(lines_of(out).size(), 4u);  // Host, one X-Forwarded-For, -Proto, Via
}

TEST(ProxyForwarding, ViaNamesTheReceivedVersionAfterTheHopsBefore) {
  std::vector<Header> fields = {{"Via", "1.0 fred"}, {"Via", "1.1 p.example (Apache/1.1)"}};
  http::ClientRequest out = forward_request(request_with(fields, http::Version::http10), {});
  EXPECT_EQ(field(out, "via"), "1.0 fred, 1.1 p.example (Apache/1.1), 1.0 tern-proxy");
  ForwardingOptions named{.via = "edge-7"};
  EXPECT_EQ(field(forward_request(request_with({}), named), "via"), "1.1 edge-7");
}

TEST(ProxyForwarding, OptionsTurnTheAddedFieldsOff) {
  std::vector<Header> fields = {{"Host", "h"}, {"X-Forwarded-For", "1.1.1.1"}, {"Via", "1.0 fred"}};
  ForwardingOptions off{.via = "", .forwarded_headers = false};
  http::ClientRequest out = forward_request(request_with(fields), off);
  EXPECT_EQ(lines_of(out), (std::vector<std::string>{"Host: h", "X-Forwarded-For: 1.1.1.1",
                                                     "Via: 1.0 fred"}));
}

TEST(ProxyForwarding, AnExtensionMethodKeepsItsToken) {
  http::Request request = request_with({});
  request.method = http::Method::other;
  request.method_token = "PURGE";
  http::ClientRequest out = forward_request(request, {});
  EXPECT_EQ(out.method_text(), "PURGE");
}

TEST(ProxyForwarding, ResponseDropsHopByHopFieldsAndAppendsVia) {
  std::vector<Header> fields = {
      {"Content-Type", "application/json"},
      {"Content-Length", "2"},
      {"Connection", "keep-alive, X-Internal"},
      {"X-Internal", "secret"},
      {"Keep-Alive", "timeout=5"},
      {"Transfer-Encoding", "chunked"},
      {"Trailer", "X-Sum"},
      {"Upgrade", "h2c"},
      {"Via", "1.1 origin-cache"},
      {"Cache-Control", "no-store"},
  };
  http::ParsedResponse response;
  response.status = 201;
  response.headers = http::Headers(fields);
  response.body = "{}";
  http::Response out = forward_response(response, {});
  EXPECT_EQ(out.status_code(), 201);
  EXPECT_EQ(out.content_type_line(), "Content-Type: application/json\r\n");
  EXPECT_EQ(out.fields(), "Cache-Control: no-store\r\nVia: 1.1 origin-cache, 1.1 tern-proxy\r\n");
  EXPECT_EQ(out.owned_body(), "{}");
}

// The fields the serving side writes itself (Date, Server, the framing) are its own: the
// upstream's are not passed on beside them, whatever their case.
TEST(ProxyForwarding, ResponseLeavesDateServerAndFramingToTheServer) {
  std::vector<Header> fields = {
      {"server", "origin/1.0"}, {"Date", "Mon, 30 Nov 2026 23:00:00 GMT"}, {"TE", "trailers"},
      {"X-Kept", "1"},          {"Content-Type", "text/plain"},           {"Via", ""},
  };
  http::ParsedResponse response;
  response.status = 200;
  response.headers = http::Headers(fields);
  http::Response out = forward_response(response, {});
  EXPECT_EQ(out.fields(), "X-Kept: 1\r\nVia: 1.1 tern-proxy\r\n");
  EXPECT_EQ(out.content_type_line(), "Content-Type: text/plain\r\n");
}

TEST(ProxyForwarding, OnlyIdempotentMethodsMayBeSentTwice) {
  using http::Method;
  for (Method method : {Method::get, Method::head, Method::options, Method::trace, Method::put,
                        Method::delete_}) {
    EXPECT_TRUE(is_idempotent(method)) << http::method_name(method);
  }
  for (Method method : {Method::post, Method::patch, Method::connect, Method::other}) {
    EXPECT_FALSE(is_idempotent(method)) << http::method_name(method);
  }
}

}  // namespace
}  // namespace tern::proxy
