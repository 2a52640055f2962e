// HTTP/1.1 served through the one Session under every model and backend: the protocol's
// framing (keep-alive, HTTP/1.0, HEAD, pipelining, 100-continue, chunked streams), its answers
// to bad input and slow clients, and the router (params, 404, 405, OPTIONS, middleware, async
// handlers). Bytes on loopback sockets, read back and checked.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "read_until.h"
#include "test_support.h"
#include "tern/http/router.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using test::connect_blocking;

// One response as read off the socket: its head and body, exactly as sent.
struct RawResponse {
  std::string head;  // status line and fields, up to and without the blank line
  std::string body;
  bool complete = false;

  int status() const { return head.size() >= 12 ? std::stoi(head.substr(9, 3)) : 0; }
  bool has(std::string_view line) const {
    return (head + "\r\n").find(std::string("\r\n").append(line).append("\r\n")) !=
           std::string::npos;
  }
};

// A client that reads responses from one connection, keeping what it read past each.
class Client {
 public:
  explicit Client(const InetAddress& server) : fd_(connect_blocking(server)) {}
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads one response: Content-Length, chunked (de-chunked into body), or no body for
  // `head_request` and 1xx/204/304. Incomplete if the connection ends first or 10 s pass.
  RawResponse read(bool head_request = false) {
    RawResponse r;
    size_t end = 0;
    if (!fill_until([&] { return (end = buffer_.find("\r\n\r\n")) != std::string::npos; })) return r;
    r.head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    int status = r.status();
    if (head_request || status < 200 || status == 204 || status == 304) {
      r.complete = true;
      return r;
    }
    if (auto length = field(r.head, "Content-Length")) {
      size_t n = std::stoul(*length);
      if (!fill_until([&] { return buffer_.size() >= n; })) return r;
      r.body = buffer_.substr(0, n);
      buffer_.erase(0, n);
      r.complete = true;
      return r;
    }
    if (field(r.head, "Transfer-Encoding") == "chunked") {
      for (;;) {
        size_t line = 0;
        if (!fill_until([&] { return (line = buffer_.find("\r\n")) != std::string::npos; })) return r;
        size_t size = std::stoul(buffer_.substr(0, line), nullptr, 16);
        if (!fill_until([&] { return buffer_.size() >= line + 2 + size + 2; })) return r;
        r.body += buffer_.substr(line + 2, size);
        buffer_.erase(0, line + 2 + size + 2);
        if (size == 0) break;
      }
      r.complete = true;
      return r;
    }
    // Delimited by the connection's end.
    fill_until([] { return false; });
    r.body = std::move(buffer_);
    buffer_.clear();
    r.complete = eof_;
    return r;
  }

  // True once the server has closed the connection (EOF), with nothing more sent.
  bool closed_by_server() {
    fill_until([] { return false; });
    return eof_ && buffer_.empty();
  }

  static std::optional<std::string> field(const std::string& head, std::string_view name) {
    std::string key = std::string("\r\n").append(name).append(": ");
    std::string lines = head + "\r\n";
    size_t at = lines.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t from = at + key.size();
    return lines.substr(from, lines.find("\r\n", from) - from);
  }

 private:
  template <class Done>
  bool fill_until(Done done) {
    return test::read_until(fd_, buffer_, eof_, 10s, done);
  }

  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

http::Router test_router() {
  http::Router router;
  router.get("/plaintext", [](const http::Request&) {
    return http::Response::text(200, "Hello, World!");
  });
  router.post("/echo", [](const http::Request& r) {
    return http::Response::text(200, std::string(r.body));
  });
  router.get("/users/{id}", [](const http::Request& r) {
    return http::Response::text(200, "user " + std::string(r.param("id").value_or("?")));
  });
  router.get("/users/me", [](const http::Request&) { return http::Response::text(200, "me"); });
  router.get("/files/{*path}", [](const http::Request& r) {
    return http::Response::text(200, "file " + std::string(r.param("path").value_or("?")));
  });
  // A literal route added after a tail route on the same prefix: it still serves "/files".
  router.get("/files", [](const http::Request&) { return http::Response::text(200, "list"); });
  router.get("/docs/{*page}", [](const http::Request& r) {
    return http::Response::text(200, "page " + std::string(r.param("page").value_or("?")));
  });
  router.put("/users/{id}", [](const http::Request&) { return http::Response(204); });
  router.get_async("/later", [](const http::Request&, http::Reply reply) {
    std::thread([reply = std::move(reply)]() mutable {
      reply.send(http::Response::text(200, "later"));
    }).detach();
  });
  router.get_async("/stream", [](const http::Request&, http::Reply reply) {
    http::Stream stream = std::move(reply).stream(http::Response(200).content_type("text/plain"));
    stream.write("one,");
    stream.write("two,");
    stream.write(std::string(3000, 'x'));
    stream.end();
  });
  router.get("/secret", [](const http::Request&) { return http::Response::text(200, "s"); });
  router.use([](const http::Request& r) -> std::optional<http::Response> {
    if (r.path == "/secret" && !r.header("authorization")) return http::Response(401);
    return std::nullopt;
  });
  return router;
}

class HttpServerTest : public testing::TestWithParam<test::ServerConfig> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
  }

  // Starts the test router with `options`; the address to connect to.
  InetAddress start(http::ProtocolOptions options = {}) {
    protocol_ = std::move(options);
    server_ = std::make_unique<Server>(test::server_options(GetParam()),
                                       http::service(test_router(), protocol_));
    auto error = server_->start();
    EXPECT_FALSE(error) << server_->error_detail();
    return server_->local_address();
  }

  http::ProtocolOptions protocol_;
  std::unique_ptr<Server> server_;
};

TEST_P(HttpServerTest, PlaintextHasTheFramingFields) {
  Client c(start());
  ASSERT_TRUE(c.ok());
  c.send("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
  RawResponse r = c.read();
  ASSERT_TRUE(r.complete) << r.head;
  EXPECT_EQ(r.head.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(r.has("Server: tern"));
  EXPECT_TRUE(r.has("Content-Type: text/plain; charset=utf-8"));
  EXPECT_TRUE(r.has("Content-Length: 13"));
  auto date = Client::field(r.head, "Date");
  ASSERT_TRUE(date);
  EXPECT_EQ(date->size(), 29u);
  EXPECT_EQ(date->substr(26), "GMT");
  EXPECT_FALSE(Client::field(r.head, "Connection"));  // keep-alive is HTTP/1.1's default
  EXPECT_EQ(r.body, "Hello, World!");
}

TEST_P(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Client c(start());
  for (int i = 0; i < 5; ++i) {
    c.send("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    RawResponse r = c.read();
    ASSERT_TRUE(r.complete) << i;
    EXPECT_EQ(r.body, "Hello, World!");
  }
}

TEST_P(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Client c(start());
  c.send("GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
         "GET /users/2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body, "user 1");
  EXPECT_EQ(c.read().body, "later");
  EXPECT_EQ(c.read().body, "abc");
  EXPECT_EQ(c.read().body, "user 2");
}

TEST_P(HttpServerTest, Http10ClosesUnlessAskedToKeepAlive) {
  InetAddress address = start();
  {
    Client c(address);
    c.send("GET /plaintext HTTP/1.0\r\n\r\n");
    RawResponse r = c.read();
    ASSERT_TRUE(r.complete);
    EXPECT_FALSE(Client::field(r.head, "Connection"));
    EXPECT_TRUE(c.closed_by_server());
  }
  Client c(address);
  c.send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  RawResponse r = c.read();
  EXPECT_TRUE(r.has("Connection: keep-alive"));
  c.send("GET /users/7 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(c.read().body, "user 7");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(HttpServerTest, ConnectionCloseIsHonoured) {
  Client c(start());
  c.send("GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  RawResponse r = c.read();
  EXPECT_TRUE(r.has("Connection: close"));
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(HttpServerTest, HeadHasTheLengthOfGetButNoBody) {
  Client c(start());
  c.send("HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /users/3 HTTP/1.1\r\nHost: x\r\n\r\n");
  RawResponse head = c.read(/*head_request=*/true);
  EXPECT_EQ(head.status(), 200);
  EXPECT_TRUE(head.has("Content-Length: 13"));
  EXPECT_EQ(c.read().body, "user 3");  // nothing of the HEAD's body came in between
}

TEST_P(HttpServerTest, RouterMatchesLiteralsBeforeParamsAndPrefixes) {
  Client c(start());
  c.send("GET /users/me HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /users/a%20b HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /files/a/b/c.txt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body, "me");
  EXPECT_EQ(c.read().body, "user a b");
  EXPECT_EQ(c.read().body, "file a/b/c.txt");
}

// Regression: "GET /files" went to "/files/{*path}" (an empty rest, scored above the literal
// "/files" route). A tail needs its slash; the literal route serves the bare path.
TEST_P(HttpServerTest, RouterTailNeedsItsSlashAndLosesToALiteral) {
  Client c(start());
  c.send("GET /files HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /files/ HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /files/a/b HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /docs HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /docs/intro HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body, "list");
  EXPECT_EQ(c.read().body, "file ");  // an empty rest
  EXPECT_EQ(c.read().body, "file a/b");
  EXPECT_EQ(c.read().status(), 404);  // no literal "/docs" route, and the tail needs its slash
  EXPECT_EQ(c.read().body, "page ");
  EXPECT_EQ(c.read().body, "page intro");
}

TEST_P(HttpServerTest, UnknownPathsAndMethodsGet404And405WithAllow) {
  Client c(start());
  c.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
         "DELETE /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
         "OPTIONS /users/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().status(), 404);
  RawResponse not_allowed = c.read();
  EXPECT_EQ(not_allowed.status(), 405);
  EXPECT_TRUE(not_allowed.has("Allow: GET, HEAD, PUT")) << not_allowed.head;
  RawResponse options = c.read();
  EXPECT_EQ(options.status(), 204);
  EXPECT_TRUE(options.has("Allow: GET, HEAD, PUT"));
}

TEST_P(HttpServerTest, MiddlewareCanAnswerInsteadOfTheRoute) {
  Client c(start());
  c.send("GET /secret HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /secret HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\n\r\n");
  EXPECT_EQ(c.read().status(), 401);
  EXPECT_EQ(c.read().body, "s");
}

TEST_P(HttpServerTest, StreamedResponseIsChunkedOn11AndCloseDelimitedOn10) {
  InetAddress address = start();
  std::string expected = "one,two," + std::string(3000, 'x');
  {
    Client c(address);
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /users/9 HTTP/1.1\r\nHost: x\r\n\r\n");
    RawResponse r = c.read();
    EXPECT_TRUE(r.has("Transfer-Encoding: chunked"));
    EXPECT_EQ(r.body, expected);
    EXPECT_EQ(c.read().body, "user 9");
  }
  Client c(address);
  c.send("GET /stream HTTP/1.0\r\n\r\n");
  RawResponse r = c.read();
  EXPECT_FALSE(Client::field(r.head, "Transfer-Encoding"));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.body, expected);
}

TEST_P(HttpServerTest, ExpectContinueGetsAnInterimResponseBeforeTheBody) {
  Client c(start());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  RawResponse interim = c.read();
  EXPECT_EQ(interim.head, "HTTP/1.1 100 Continue");
  c.send("hello");
  EXPECT_EQ(c.read().body, "hello");
}

TEST_P(HttpServerTest, ChunkedRequestBodyIsDechunked) {
  Client c(start());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-Field: t\r\n\r\n");
  EXPECT_EQ(c.read().body, "abcde");
}

// After a framing error nothing else on the connection is processed: the request behind the
// bad one gets no answer, and the connection closes after the 400.
TEST_P(HttpServerTest, MalformedRequestGets400ThenCloseAndNothingAfterIt) {
  Client c(start());
  c.send("GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /users/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
         "GET /users/3 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body, "user 1");
  RawResponse bad = c.read();
  EXPECT_EQ(bad.status(), 400);
  EXPECT_TRUE(bad.has("Connection: close"));
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(HttpServerTest, LimitsGiveTheirStatusCodes) {
  http::ProtocolOptions options;
  options.limits.max_request_line = 64;
  options.limits.max_header_bytes = 256;
  options.limits.max_body = 16;
  InetAddress address = start(options);
  struct Case {
    std::string request;
    int status;
  };
  for (const Case& k : {Case{"GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
                        Case{"GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(300, 'b') + "\r\n\r\n", 431},
                        Case{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n", 413},
                        Case{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
                        Case{"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
                        Case{"GET / HTTP/1.1\r\n\r\n", 400}}) {
    Client c(address);
    c.send(k.request);
    RawResponse r = c.read();
    EXPECT_EQ(r.status(), k.status) << k.request;
    EXPECT_TRUE(c.closed_by_server()) << k.request;
  }
}

// Slowloris: the header block has a total deadline; one byte at a time does not extend it.
// (The pauses between bytes are the behaviour under test, not synchronisation.)
TEST_P(HttpServerTest, TricklingHeaderGets408AtItsTotalDeadline) {
  http::ProtocolOptions options;
  options.header_timeout = 300ms;
  Client c(start(options));
  std::string request = "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200, 'z');
  size_t sent = 0;
  for (; sent < request.size(); ++sent) {
    c.send(request.substr(sent, 1));
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 25) == 1) break;  // the server answered (or closed)
  }
  EXPECT_LT(sent, request.size());
  RawResponse r = c.read();
  EXPECT_EQ(r.status(), 408);
  EXPECT_TRUE(c.closed_by_server());
}

// The body has a deadline of its own, from the end of the head: a client that sends its head
// and then stalls in the body gets 408.
TEST_P(HttpServerTest, StalledBodyGets408AtTheBodyDeadline) {
  http::ProtocolOptions options;
  options.header_timeout = 60s;
  options.body_timeout = 200ms;
  Client c(start(options));
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
  RawResponse r = c.read();
  EXPECT_EQ(r.status(), 408);
  EXPECT_TRUE(c.closed_by_server());
}

// An idle keep-alive connection is closed without a response (a 408 there could race the
// client's next request).
TEST_P(HttpServerTest, IdleKeepAliveConnectionIsClosedQuietly) {
  http::ProtocolOptions options;
  options.idle_timeout = 200ms;
  Client c(start(options));
  c.send("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read().body, "Hello, World!");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(HttpServerTest, MaxRequestsClosesAfterTheLast) {
  http::ProtocolOptions options;
  options.max_requests = 2;
  Client c(start(options));
  c.send("GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /users/2 HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /users/3 HTTP/1.1\r\nHost: x\r\n\r\n");
  RawResponse first = c.read();
  EXPECT_FALSE(Client::field(first.head, "Connection"));
  RawResponse second = c.read();
  EXPECT_EQ(second.body, "user 2");
  EXPECT_TRUE(second.has("Connection: close"));
  EXPECT_TRUE(c.closed_by_server());
}

INSTANTIATE_TEST_SUITE_P(Models, HttpServerTest, testing::ValuesIn(test::server_matrix()),
                         test::server_config_name);

}  // namespace
}  // namespace tern
