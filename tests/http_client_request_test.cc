// http::ClientRequest alone, no sockets: the bytes encode() writes (the head, the field block
// after `headers`, the framing the client owns), what validate() refuses, and the field block's
// lookups (Host, Connection: close) that the client's framing and reuse decisions read.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tern/http/client_error.h"
#include "tern/http/client_request.h"

namespace tern::http {
namespace {

// The bytes `request` is sent as, every piece of the Output joined.
std::string wire(ClientRequest request, std::string_view default_host = "up:80") {
  Output out;
  encode(std::move(request), default_host, out);
  std::string bytes;
  for (size_t i = 0; i < out.piece_count(); ++i) bytes += out.piece(i);
  return bytes;
}

TEST(HttpClientRequest, HeadersThenTheBlockThenTheClientsFraming) {
  ClientRequest request = ClientRequest::post("/items?x=1", "abc").header("Accept", "*/*");
  request.parsed_field("X-Trace", "t1");
  request.field("Via", {"1.1 ", "edge"});
  EXPECT_EQ(wire(std::move(request)),
            "POST /items?x=1 HTTP/1.1\r\nHost: up:80\r\nAccept: */*\r\nX-Trace: t1\r\n"
            "Via: 1.1 edge\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(HttpClientRequest, AHostInTheBlockReplacesTheDefault) {
  ClientRequest request = ClientRequest::get("/");
  request.parsed_field("Host", "example.test");
  EXPECT_TRUE(request.has_host());
  EXPECT_EQ(wire(std::move(request)), "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n");
}

TEST(HttpClientRequest, FramingFieldsInTheBlockAreDropped) {
  ClientRequest request = ClientRequest::get("/");
  request.parsed_field("Content-Length", "99");
  request.field("transfer-encoding", {"chunked"});
  request.parsed_field("Accept", "text/plain");
  EXPECT_EQ(request.field_block(), "Accept: text/plain\r\n");
  EXPECT_EQ(wire(std::move(request)),
            "GET / HTTP/1.1\r\nHost: up:80\r\nAccept: text/plain\r\n\r\n");
}

TEST(HttpClientRequest, ConnectionCloseInTheBlockAsksClose) {
  ClientRequest keep = ClientRequest::get("/");
  keep.parsed_field("Connection", "keep-alive");
  EXPECT_FALSE(keep.asks_close());
  ClientRequest close = ClientRequest::get("/");
  close.parsed_field("Connection", {"keep-alive, ", "Close"});
  EXPECT_TRUE(close.asks_close());
  EXPECT_TRUE(ClientRequest::get("/").header("Connection", "close").asks_close());
}

TEST(HttpClientRequest, FieldRefusesWhatValidateRefuses) {
  ClientRequest split = ClientRequest::get("/");
  split.field("X-Evil", {"a\r\nHost: b"});
  EXPECT_TRUE(split.has_invalid_field());
  EXPECT_EQ(split.field_block(), "") << "a refused field must not reach the wire";
  EXPECT_EQ(validate(split), client_errc::invalid_request);

  ClientRequest bad_name = ClientRequest::get("/");
  bad_name.field("Bad Name", {"x"});
  EXPECT_EQ(validate(bad_name), client_errc::invalid_request);

  ClientRequest fine = ClientRequest::get("/");
  fine.field("X-Ok", {"tab\there", ""});
  fine.field("X-Empty", {});
  EXPECT_FALSE(validate(fine));
  EXPECT_EQ(validate(ClientRequest::get("/").header("X-Evil", "a\nb")),
            client_errc::invalid_request);
  EXPECT_EQ(validate(ClientRequest::get("/a b")), client_errc::invalid_request);
}

TEST(HttpClientRequest, EveryFieldIsVisitedInOrderAndFound) {
  ClientRequest request = ClientRequest::get("/").header("A", "1");
  request.parsed_field("B", "two: with colon");
  request.parsed_field("C", "");
  std::vector<std::string> seen;
  request.for_each_field([&](std::string_view name, std::string_view value) {
    seen.push_back(std::string(name) + "=" + std::string(value));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"A=1", "B=two: with colon", "C="}));
  EXPECT_EQ(request.field_value("b"), "two: with colon");
  EXPECT_EQ(request.field_value("a"), "1");
  EXPECT_FALSE(request.field_value("d").has_value());
}

TEST(HttpClientRequest, ClearStartsANewRequestAndDropsLargeBuffers) {
  ClientRequest request = ClientRequest::post("/x", std::string(100, 'b'));
  request.parsed_field("Host", "h");
  request.parsed_field("Connection", "close");
  request.field("Bad Name", {"x"});
  request.clear();
  EXPECT_EQ(request.target, "/");
  EXPECT_TRUE(request.body.empty());
  EXPECT_FALSE(request.has_host());
  EXPECT_FALSE(request.asks_close());
  EXPECT_FALSE(validate(request));
  EXPECT_EQ(wire(request), "GET / HTTP/1.1\r\nHost: up:80\r\n\r\n");

  request.body.assign(ClientRequest::kKeptCapacity + 1, 'b');
  request.clear();
  EXPECT_LE(request.body.capacity(), ClientRequest::kKeptCapacity)
      << "a large body's buffer stays pinned in a reused request";
}

}  // namespace
}  // namespace tern::http
