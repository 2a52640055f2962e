// A streamed response whose length is known before its body (http::Response::stream_length:
// what tern-proxy sets when it relays an upstream's Content-Length): the server writes that
// Content-Length, not chunked framing, and holds the stream to it. Exactly the length: the
// connection stays open for the next request. Fewer bytes before end(): the connection closes
// after them (the client sees a short body, never a whole-looking one followed by the next
// response). More bytes: those past the length are never written, and the connection closes.
// One in-process server per test (single loop, epoll and io_uring), a raw socket as client.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "read_until.h"
#include "tern/http/router.h"
#include "tern/patterns/server.h"
#include "test_support.h"

namespace tern::http {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 20s;  // liveness bound of every read: a failure, not a measurement

// Streams `pieces` under a head announcing `length` bytes, then ends.
Router::Async sized_stream(uint64_t length, std::vector<std::string> pieces) {
  return [length, pieces = std::move(pieces)](const Request&, Reply reply) {
    Stream stream = std::move(reply).stream(Response(200).stream_length(length));
    for (const std::string& piece : pieces) stream.write(std::string(piece));
    stream.end();
  };
}

Router sized_router() {
  Router router;
  router.route_async(Method::get, "/exact", sized_stream(10, {"01234", "56789"}));
  router.route_async(Method::get, "/short", sized_stream(10, {"01234"}));
  router.route_async(Method::get, "/long", sized_stream(4, {"01", "23456789", "tail"}));
  router.route_async(Method::get, "/empty", sized_stream(0, {}));
  router.get("/next", [](const Request&) { return Response::text(200, "next"); });
  return router;
}

class HttpSizedStreamTest : public testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam())) GTEST_SKIP() << *why;
    ServerOptions options;
    options.backend = GetParam();
    options.backend_options.strict = true;  // the uring row runs on io_uring or is skipped
    server_ = std::make_unique<Server>(options, service(sized_router()));
    ASSERT_FALSE(server_->start()) << server_->error_detail();
    fd_ = test::connect_blocking(server_->local_address());
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    if (server_) server_->shutdown(1s);
  }

  void get(std::string_view path) {
    std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
  }
  // Reads until the head and `body` bytes after it are in (true), or the stream ends first.
  bool read_head_and(size_t body) {
    return test::read_until(fd_, received_, eof_, kBound, [&] {
      size_t end = received_.find("\r\n\r\n");
      return end != std::string::npos && received_.size() - end - 4 >= body;
    });
  }
  std::string head() const { return received_.substr(0, received_.find("\r\n\r\n")); }
  std::string body() const { return received_.substr(received_.find("\r\n\r\n") + 4); }
  // Reads until the server closes the connection (true) or the bound passes.
  bool closed_by_server() {
    test::read_until(fd_, received_, eof_, kBound, [] { return false; });
    return eof_;
  }

  std::unique_ptr<Server> server_;
  int fd_ = -1;
  std::string received_;
  bool eof_ = false;
};

TEST_P(HttpSizedStreamTest, AnnouncesTheLengthAndKeepsTheConnectionWhenItIsMet) {
  get("/exact");
  ASSERT_TRUE(read_head_and(10)) << received_;
  EXPECT_NE(head().find("\r\nContent-Length: 10"), std::string::npos) << head();
  EXPECT_EQ(head().find("Transfer-Encoding"), std::string::npos) << head();
  EXPECT_EQ(body(), "0123456789");
  received_.clear();
  get("/next");  // the same connection serves the next request
  ASSERT_TRUE(read_head_and(4)) << received_;
  EXPECT_EQ(body(), "next");
}

TEST_P(HttpSizedStreamTest, AnEmptySizedStreamIsAWholeResponse) {
  get("/empty");
  ASSERT_TRUE(read_head_and(0)) << received_;
  EXPECT_NE(head().find("\r\nContent-Length: 0"), std::string::npos) << head();
  received_.clear();
  get("/next");
  ASSERT_TRUE(read_head_and(4)) << received_;
  EXPECT_EQ(body(), "next");
}

TEST_P(HttpSizedStreamTest, AStreamThatEndsShortClosesTheConnection) {
  get("/short");
  ASSERT_TRUE(read_head_and(5)) << received_;
  EXPECT_NE(head().find("\r\nContent-Length: 10"), std::string::npos) << head();
  EXPECT_TRUE(closed_by_server()) << "a short body on a connection left open";
  EXPECT_EQ(body(), "01234");
}

TEST_P(HttpSizedStreamTest, BytesPastTheLengthAreNeverWrittenAndTheConnectionCloses) {
  get("/long");
  ASSERT_TRUE(read_head_and(4)) << received_;
  EXPECT_NE(head().find("\r\nContent-Length: 4"), std::string::npos) << head();
  EXPECT_TRUE(closed_by_server());
  EXPECT_EQ(body(), "0123");
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpSizedStreamTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

}  // namespace
}  // namespace tern::http
