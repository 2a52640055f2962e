// http::Client on every backend, against an upstream the test drives by hand (a plain loopback
// socket on the test thread, no tern code): the exact request bytes it sends, the response
// framings it must read (Content-Length, chunked with extensions and trailers, HEAD, 204/304,
// close-delimited), keep-alive reuse and pipelining proven by the connections the upstream
// accepted, and each way a request fails (malformed, closed early, timed out, refused).
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tern/http/client.h"
#include "tern/http/fetch.h"
#include "test_support.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using http::ClientRequest;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement

// A port with nothing listening: bind a socket, note its port, close it.
uint16_t unused_port() {
  UpstreamListener probe;
  return probe.port();
}

// What a request's callback saw, copied out of the loop thread.
struct Answer {
  std::error_code error;
  int status = 0;
  std::string reason;
  std::string body;
  std::vector<http::Field> headers;
  bool keep_alive = false;

  std::string header(std::string_view name) const {
    for (const auto& field : headers) {
      if (http::iequals(field.name, name)) return field.value;
    }
    return "<none>";
  }
};

Answer answer_of(std::error_code error, const http::ParsedResponse* response) {
  Answer answer;
  answer.error = error;
  if (response == nullptr) return answer;
  answer.status = response->status;
  answer.reason = std::string(response->reason);
  answer.body = std::string(response->body);
  for (const auto& field : response->headers) {
    answer.headers.push_back({std::string(field.name), std::string(field.value)});
  }
  answer.keep_alive = response->keep_alive;
  return answer;
}

// An http::Client on a loop thread of the backend under test.
class ClientRig {
 public:
  ClientRig(BackendKind kind, InetAddress upstream, http::ClientOptions options = {})
      : thread_(kind, [this, upstream, options](EventLoop& loop) {
          client = std::make_unique<http::Client>(loop, upstream, options);
        }) {}
  ~ClientRig() {
    thread_.call([this](EventLoop&) { client.reset(); });
  }

  // Sends the requests in one turn of the loop, in order; each future gets its answer.
  std::vector<std::future<Answer>> send(std::vector<ClientRequest> requests) {
    return thread_.call([&](EventLoop&) {
      std::vector<std::future<Answer>> futures;
      for (auto& request : requests) {
        auto done = std::make_shared<std::promise<Answer>>();
        futures.push_back(done->get_future());
        client->request(std::move(request),
                        [done](std::error_code error, const http::ParsedResponse* response) {
                          done->set_value(answer_of(error, response));
                        });
      }
      return futures;
    });
  }
  std::future<Answer> send(ClientRequest request) {
    std::vector<ClientRequest> one;
    one.push_back(std::move(request));
    return std::move(send(std::move(one)).front());
  }
  static Answer wait(std::future<Answer>& future) {
    if (future.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the request was never answered";
      return Answer{make_error_code(errc::not_connected)};
    }
    return future.get();
  }
  Answer fetch(ClientRequest request) {
    auto future = send(std::move(request));
    return wait(future);
  }
  PoolCounters counters() {
    return thread_.call([this](EventLoop&) { return client->counters(); });
  }
  template <class F>
  auto call(F fn) {
    return thread_.call(fn);
  }

  std::unique_ptr<http::Client> client;

 private:
  LoopThread thread_;  // last: its setup fills the members above
};

// The upstream's end of one connection: reads whole requests (head, and a Content-Length body)
// and writes exact response bytes. Blocking, every read bounded by the socket's timeout.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() {
    if (fd_ >= 0) ::close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool ok() const { return fd_ >= 0; }

  // The next request's bytes, or what arrived of it before the stream ended.
  std::string next_request() {
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive()) return std::exchange(pending_, {});
    }
    size_t total = head_end + 4 + content_length(pending_.substr(0, head_end));
    while (pending_.size() < total) {
      if (!receive()) return std::exchange(pending_, {});
    }
    std::string request = pending_.substr(0, total);
    pending_.erase(0, total);
    return request;
  }
  void send(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send to the client failed";
        return;
      }
      done += static_cast<size_t>(n);
    }
  }
  // The next `n` bytes, or what arrived of them before the stream ended.
  std::string next_bytes(size_t n) {
    while (pending_.size() < n) {
      if (!receive()) break;
    }
    std::string bytes = pending_.substr(0, std::min(n, pending_.size()));
    pending_.erase(0, bytes.size());
    return bytes;
  }
  // Ends the upstream's side of the stream (FIN), leaving reading open.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }
  // True once the client has closed its side (and sent nothing more).
  bool client_closed() {
    char byte;
    return pending_.empty() && ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  bool receive() {
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }
  static size_t content_length(std::string_view head) {
    size_t at = head.find("\r\nContent-Length: ");
    if (at == std::string_view::npos) return 0;
    return std::stoul(std::string(head.substr(at + 18)));
  }

  int fd_;
  std::string pending_;
};

std::string response(std::string_view status_line, std::string_view fields, std::string_view body) {
  return std::string(status_line) + "\r\n" + std::string(fields) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}
std::string ok(std::string_view body) { return response("HTTP/1.1 200 OK", "", body); }

class HttpClientTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(upstream.ok());
    host = "127.0.0.1:" + std::to_string(upstream.port());
  }
  // A GET as the client writes it, with the Host it derives from the upstream's address.
  std::string get(std::string_view target) const {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  }
  // True if the upstream has no connection waiting to be accepted.
  bool no_new_connection() { return upstream.accept_one(0) < 0; }

  UpstreamListener upstream;
  std::string host;
};

TEST_P(HttpClientTest, GetWithContentLengthBody) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/hello?x=1").header("X-Trace", "abc"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(),
            "GET /hello?x=1 HTTP/1.1\r\nHost: " + host + "\r\nX-Trace: abc\r\n\r\n");
  peer.send(response("HTTP/1.1 200 OK", "Content-Type: text/plain\r\n", "hello"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.reason, "OK");
  EXPECT_EQ(got.body, "hello");
  EXPECT_EQ(got.header("content-type"), "text/plain");
  EXPECT_TRUE(got.keep_alive);
}

// The client frames the body itself: a Content-Length of its own (the caller's is dropped),
// and the caller's Host is kept instead of the derived one.
TEST_P(HttpClientTest, PostSendsItsBodyWithTheClientsFraming) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::post("/items", "abc")
                             .header("Host", "example.test")
                             .header("Content-Length", "99"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(),
            "POST /items HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\nabc");
  peer.send(response("HTTP/1.1 201 Created", "", ""));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 201);
  EXPECT_EQ(got.body, "");
}

// A request body that follows its head (tern/protocol/body_writer.h): the source writes its
// pieces as soon as the body opens, then ends it, on the loop thread.
struct PieceSource final : BodySource {
  std::vector<std::string> pieces;
  bool refused = false;  // a write said no: the writer is gone, or full
  void on_body_open(BodyWriter& writer) override {
    for (const std::string& piece : pieces) {
      if (!writer.write(piece)) {
        refused = true;
        return;
      }
    }
    writer.end();
  }
  void on_body_closed(std::error_code) override {}
};

TEST_P(HttpClientTest, ABodySourceIsChunkedWithoutALength) {
  PieceSource source;  // outlives the rig: the request's callback may run at its end
  source.pieces = {"abc", "defg"};
  ClientRig rig(GetParam(), upstream.address());
  ClientRequest request = ClientRequest::post("/up", "ignored");
  request.body_source = &source;
  auto answer = rig.send(std::move(request));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  std::string head = "POST /up HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(peer.next_request(), head);
  std::string body = "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
  EXPECT_EQ(peer.next_bytes(body.size()), body);
  peer.send(ok("got"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "got");
  EXPECT_FALSE(source.refused);
}

TEST_P(HttpClientTest, ABodySourceWithALengthIsSentRawAndMayNotPassIt) {
  PieceSource exact;
  exact.pieces = {"abc", "defg"};
  PieceSource over;
  over.pieces = {"abc", "defgh"};
  ClientRig rig(GetParam(), upstream.address());
  ClientRequest request = ClientRequest::post("/up", "");
  request.body_source = &exact;
  request.body_length = 7;
  auto answer = rig.send(std::move(request));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(),
            "POST /up HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 7\r\n\r\nabcdefg");
  peer.send(ok("got"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_TRUE(got.keep_alive);
  // A piece past the announced length is refused and the request fails: the upstream would
  // read the excess as the next request.
  ClientRequest too_long = ClientRequest::post("/up", "");
  too_long.body_source = &over;
  too_long.body_length = 7;
  Answer failed = rig.fetch(std::move(too_long));
  EXPECT_EQ(failed.error, make_error_code(errc::invalid_argument)) << failed.error.message();
  EXPECT_TRUE(over.refused);
}

// An upstream that answers before the whole body: the answer is delivered, the source hears
// that its writer is gone, and the connection is not reused.
TEST_P(HttpClientTest, AnAnswerBeforeTheBodysEndClosesTheBodyAndTheConnection) {
  struct HalfSource final : BodySource {
    BodyWriter* writer = nullptr;
    std::error_code closed;
    void on_body_open(BodyWriter& w) override {
      writer = &w;
      w.write("part");
    }
    void on_body_closed(std::error_code error) override {
      writer = nullptr;
      closed = error;
    }
  } source;
  ClientRig rig(GetParam(), upstream.address());
  ClientRequest request = ClientRequest::post("/up", "");
  request.body_source = &source;
  request.body_length = 100;
  auto answer = rig.send(std::move(request));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  std::string head = "POST /up HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 100\r\n\r\n";
  EXPECT_EQ(peer.next_bytes(head.size() + 4), head + "part");
  peer.send(response("HTTP/1.1 413 Payload Too Large", "", "no"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 413);
  EXPECT_FALSE(got.keep_alive);
  EXPECT_EQ(rig.call([&](EventLoop&) { return source.closed; }),
            make_error_code(errc::answered_early));
  EXPECT_TRUE(peer.client_closed());
}

// Chunk extensions are skipped and trailers read to their end: the next response on the same
// connection is read from the right byte.
TEST_P(HttpClientTest, ChunkedResponseWithExtensionsAndTrailers) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/chunked"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/chunked"));
  peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhel");
  peer.send("lo\r\n6;flag\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n");
  Answer got = ClientRig::wait(first);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "hello world");
  EXPECT_TRUE(got.keep_alive);

  auto second = rig.send(ClientRequest::get("/after"));
  EXPECT_EQ(peer.next_request(), get("/after"));
  peer.send(ok("next"));
  got = ClientRig::wait(second);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "next");
  EXPECT_TRUE(no_new_connection());
}

// A response to HEAD has no body whatever its Content-Length says: the client reads none, and
// the next response on the connection is read from the byte after the head.
TEST_P(HttpClientTest, HeadReadsNoBody) {
  ClientRig rig(GetParam(), upstream.address());
  auto head = rig.send(ClientRequest::head("/big"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), "HEAD /big HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  Answer got = ClientRig::wait(head);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.header("content-length"), "100");
  EXPECT_EQ(got.body, "");

  auto after = rig.send(ClientRequest::get("/small"));
  EXPECT_EQ(peer.next_request(), get("/small"));
  peer.send(ok("ok"));
  got = ClientRig::wait(after);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "ok");
  EXPECT_TRUE(no_new_connection());
}

// 204 and 304 end at their head (a 304 may carry the Content-Length of the representation).
TEST_P(HttpClientTest, NoContentAndNotModifiedHaveNoBody) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/a"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/a"));
  peer.send("HTTP/1.1 204 No Content\r\n\r\n");
  Answer got = ClientRig::wait(first);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 204);
  EXPECT_EQ(got.body, "");

  auto second = rig.send(ClientRequest::get("/b"));
  EXPECT_EQ(peer.next_request(), get("/b"));
  peer.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 50\r\n\r\n");
  got = ClientRig::wait(second);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 304);
  EXPECT_EQ(got.body, "");

  auto third = rig.send(ClientRequest::get("/c"));
  EXPECT_EQ(peer.next_request(), get("/c"));
  peer.send(ok("third"));
  got = ClientRig::wait(third);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "third");
  EXPECT_TRUE(no_new_connection());
}

// A 1xx interim response is skipped: the request gets the final one.
TEST_P(HttpClientTest, InterimResponseIsSkipped) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/"));
  peer.send("HTTP/1.1 100 Continue\r\n\r\n" + ok("final"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "final");
}

// An HTTP/1.0 response without keep-alive ends its connection.
TEST_P(HttpClientTest, Http10ResponseIsNotKeptAlive) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/old"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/old"));
  peer.send(response("HTTP/1.0 200 OK", "", "old"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "old");
  EXPECT_FALSE(got.keep_alive);
  EXPECT_TRUE(peer.client_closed());
}

// Neither Content-Length nor chunked: the body ends with the connection; the client then
// closes its side and connects again for the next request.
TEST_P(HttpClientTest, CloseDelimitedBody) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/stream"));
  {
    Peer peer(upstream.accept_one());
    ASSERT_TRUE(peer.ok());
    EXPECT_EQ(peer.next_request(), get("/stream"));
    peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the ");
    peer.send("end");
    peer.shutdown_write();
    Answer got = ClientRig::wait(first);
    ASSERT_FALSE(got.error) << got.error.message();
    EXPECT_EQ(got.body, "until the end");
    EXPECT_FALSE(got.keep_alive);
    EXPECT_TRUE(peer.client_closed());
  }
  auto second = rig.send(ClientRequest::get("/again"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok()) << "no new connection for the next request";
  EXPECT_EQ(peer.next_request(), get("/again"));
  peer.send(ok("fresh"));
  EXPECT_EQ(ClientRig::wait(second).body, "fresh");
}

TEST_P(HttpClientTest, KeepAliveReusesOneConnection) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/1"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/1"));
  peer.send(ok("one"));
  EXPECT_EQ(ClientRig::wait(first).body, "one");

  auto second = rig.send(ClientRequest::get("/2"));
  EXPECT_EQ(peer.next_request(), get("/2")) << "the second request did not come on the first connection";
  peer.send(ok("two"));
  EXPECT_EQ(ClientRig::wait(second).body, "two");
  EXPECT_TRUE(no_new_connection());
  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.connects, 1u);
  EXPECT_EQ(counters.reuses, 1u);
  // The client kept the connection between the two: one checkout from the pool, not two.
  EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->pool().counters().reuses; }), 0u);
}

// A kept connection goes back to the pool once it has been quiet for a sweep period (half
// the idle timeout), and the pool's idle timeout then closes it.
TEST_P(HttpClientTest, KeptConnectionGoesBackToThePoolAndTimesOut) {
  http::ClientOptions options;
  options.pool.idle_timeout = 100ms;
  ClientRig rig(GetParam(), upstream.address(), options);
  auto first = rig.send(ClientRequest::get("/1"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/1"));
  peer.send(ok("one"));
  EXPECT_EQ(ClientRig::wait(first).body, "one");
  EXPECT_TRUE(peer.client_closed()) << "the idle connection was never closed";
  EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->pool().counters().idle_expired; }), 1u);
  EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->connections_in_use(); }), 0u);
}

// The server closes a connection the client kept: the next request goes on a new connection
// and succeeds (the FIN is seen, by the read or by the peek before reuse), never failing with
// closed_before_response.
TEST_P(HttpClientTest, KeptConnectionTheServerClosedIsNotUsed) {
  ClientRig rig(GetParam(), upstream.address());
  for (int round = 0; round < 20; ++round) {
    auto first = rig.send(ClientRequest::get("/1"));
    Peer peer(upstream.accept_one());
    ASSERT_TRUE(peer.ok()) << "round " << round;
    EXPECT_EQ(peer.next_request(), get("/1"));
    peer.send(ok("one"));
    ASSERT_EQ(ClientRig::wait(first).body, "one");
    peer.shutdown_write();  // the FIN reaches the client while it keeps the connection
    auto second = rig.send(ClientRequest::get("/2"));
    Peer next(upstream.accept_one());
    ASSERT_TRUE(next.ok()) << "round " << round << ": no new connection";
    EXPECT_EQ(next.next_request(), get("/2"));
    next.send(response("HTTP/1.1 200 OK", "Connection: close\r\n", "two"));
    Answer got = ClientRig::wait(second);
    ASSERT_FALSE(got.error) << "round " << round << ": " << got.error.message();
    EXPECT_EQ(got.body, "two");
  }
}

TEST_P(HttpClientTest, ConnectionCloseResponseMakesTheNextRequestConnectAgain) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/1"));
  {
    Peer peer(upstream.accept_one());
    ASSERT_TRUE(peer.ok());
    EXPECT_EQ(peer.next_request(), get("/1"));
    peer.send(response("HTTP/1.1 200 OK", "Connection: close\r\n", "one"));
    Answer got = ClientRig::wait(first);
    EXPECT_EQ(got.body, "one");
    EXPECT_FALSE(got.keep_alive);
    EXPECT_TRUE(peer.client_closed()) << "the client kept a connection the server closes";
  }
  auto second = rig.send(ClientRequest::get("/2"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok()) << "no new connection for the next request";
  EXPECT_EQ(peer.next_request(), get("/2"));
  peer.send(ok("two"));
  EXPECT_EQ(ClientRig::wait(second).body, "two");
  EXPECT_EQ(rig.counters().connects, 2u);
}

// A request that asks for the close is not followed by another on its connection either.
TEST_P(HttpClientTest, ConnectionCloseRequestIsNotReused) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/1").header("Connection", "close"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(),
            "GET /1 HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  peer.send(ok("one"));  // the server did not say close: the request's own word counts
  EXPECT_EQ(ClientRig::wait(first).body, "one");
  EXPECT_TRUE(peer.client_closed());
}

// Depth 3: the upstream reads all three requests before it answers any (so they came on one
// connection without waiting), then answers them in one write; they complete in order.
TEST_P(HttpClientTest, PipeliningSendsThreeRequestsOnOneConnection) {
  http::ClientOptions options;
  options.pipelining = 3;
  ClientRig rig(GetParam(), upstream.address(), options);
  std::vector<ClientRequest> requests;
  for (const char* target : {"/1", "/2", "/3"}) requests.push_back(ClientRequest::get(target));
  auto answers = rig.send(std::move(requests));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/1"));
  EXPECT_EQ(peer.next_request(), get("/2"));
  EXPECT_EQ(peer.next_request(), get("/3"));
  peer.send(ok("one") + ok("two") + ok("three"));
  std::vector<std::string> bodies;
  for (auto& answer : answers) bodies.push_back(ClientRig::wait(answer).body);
  EXPECT_EQ(bodies, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_TRUE(no_new_connection());
  EXPECT_EQ(rig.counters().connects, 1u);
}

// A pipelined response that closes the connection: the requests sent after it on that
// connection fail (the client never repeats a request).
TEST_P(HttpClientTest, PipelinedRequestsAfterAClosingResponseFail) {
  http::ClientOptions options;
  options.pipelining = 3;
  ClientRig rig(GetParam(), upstream.address(), options);
  std::vector<ClientRequest> requests;
  for (const char* target : {"/1", "/2", "/3"}) requests.push_back(ClientRequest::get(target));
  auto answers = rig.send(std::move(requests));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  for (const char* target : {"/1", "/2", "/3"}) EXPECT_EQ(peer.next_request(), get(target));
  peer.send(response("HTTP/1.1 200 OK", "Connection: close\r\n", "one"));
  peer.close();
  Answer first = ClientRig::wait(answers[0]);
  ASSERT_FALSE(first.error) << first.error.message();
  EXPECT_EQ(first.body, "one");
  EXPECT_EQ(ClientRig::wait(answers[1]).error, http::client_errc::closed_before_response);
  EXPECT_EQ(ClientRig::wait(answers[2]).error, http::client_errc::closed_before_response);
}

// Depth 1 (the default): two requests outstanding at once take two connections.
TEST_P(HttpClientTest, WithoutPipeliningEachOutstandingRequestHasItsConnection) {
  ClientRig rig(GetParam(), upstream.address());
  std::vector<ClientRequest> requests;
  for (const char* target : {"/1", "/2"}) requests.push_back(ClientRequest::get(target));
  auto answers = rig.send(std::move(requests));
  Peer a(upstream.accept_one());
  Peer b(upstream.accept_one());
  ASSERT_TRUE(a.ok() && b.ok()) << "two connections expected";
  std::string got_a = a.next_request();
  std::string got_b = b.next_request();
  EXPECT_TRUE((got_a == get("/1") && got_b == get("/2")) ||
              (got_a == get("/2") && got_b == get("/1")))
      << got_a << got_b;
  a.send(ok(got_a == get("/1") ? "one" : "two"));
  b.send(ok(got_b == get("/1") ? "one" : "two"));
  EXPECT_EQ(ClientRig::wait(answers[0]).body, "one");
  EXPECT_EQ(ClientRig::wait(answers[1]).body, "two");
}

// A framing error fails the request with the parser's error and closes the connection; the
// next request gets a new one.
TEST_P(HttpClientTest, MalformedResponseFailsTheRequestAndCloses) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/bad"));
  {
    Peer peer(upstream.accept_one());
    ASSERT_TRUE(peer.ok());
    EXPECT_EQ(peer.next_request(), get("/bad"));
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    Answer got = ClientRig::wait(first);
    EXPECT_EQ(got.error, http::make_error_code(http::ParseError::content_length_with_transfer_encoding))
        << got.error.message();
    EXPECT_TRUE(peer.client_closed());
  }
  auto second = rig.send(ClientRequest::get("/good"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok()) << "no new connection after the malformed response";
  EXPECT_EQ(peer.next_request(), get("/good"));
  peer.send(ok("fine"));
  EXPECT_EQ(ClientRig::wait(second).body, "fine");
}

TEST_P(HttpClientTest, MalformedStatusLineFailsTheRequest) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/"));
  peer.send("HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n");
  Answer got = ClientRig::wait(answer);
  EXPECT_EQ(got.error.category(), http::parse_category()) << got.error.message();
  EXPECT_TRUE(peer.client_closed());
}

// Bytes after the response that no request asked for: the answer is delivered, but the
// connection is not lent again (its next user would read them).
TEST_P(HttpClientTest, UnaskedBytesAfterAResponseKeepTheConnectionFromReuse) {
  ClientRig rig(GetParam(), upstream.address());
  auto first = rig.send(ClientRequest::get("/1"));
  {
    Peer peer(upstream.accept_one());
    ASSERT_TRUE(peer.ok());
    EXPECT_EQ(peer.next_request(), get("/1"));
    peer.send(ok("one") + ok("unasked"));  // one write: the client reads both at once
    EXPECT_EQ(ClientRig::wait(first).body, "one");
    EXPECT_TRUE(peer.client_closed());
  }
  auto second = rig.send(ClientRequest::get("/2"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok()) << "the connection with unasked bytes was reused";
  EXPECT_EQ(peer.next_request(), get("/2"));
  peer.send(ok("two"));
  EXPECT_EQ(ClientRig::wait(second).body, "two");
}

TEST_P(HttpClientTest, ServerClosingBeforeAnsweringFailsTheRequest) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/"));
  peer.close();
  Answer got = ClientRig::wait(answer);
  EXPECT_EQ(got.error, http::client_errc::closed_before_response) << got.error.message();
}

TEST_P(HttpClientTest, ServerClosingInsideTheBodyFailsTheRequest) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/"));
  peer.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly");
  peer.shutdown_write();
  Answer got = ClientRig::wait(answer);
  EXPECT_EQ(got.error, http::client_errc::closed_before_response) << got.error.message();
  EXPECT_TRUE(peer.client_closed());
}

// The upstream reads the request and never answers: the response deadline fails it and the
// client closes the connection.
TEST_P(HttpClientTest, ResponseTimeoutFailsTheRequestAndCloses) {
  http::ClientOptions options;
  options.response_timeout = 200ms;
  ClientRig rig(GetParam(), upstream.address(), options);
  auto answer = rig.send(ClientRequest::get("/slow"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/slow"));
  Answer got = ClientRig::wait(answer);
  EXPECT_EQ(got.error, http::client_errc::response_timeout) << got.error.message();
  EXPECT_TRUE(peer.client_closed());
}

TEST_P(HttpClientTest, ResponseLargerThanTheLimitFails) {
  http::ClientOptions options;
  options.limits.max_body = 16;
  ClientRig rig(GetParam(), upstream.address(), options);
  auto answer = rig.send(ClientRequest::get("/large"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/large"));
  peer.send(ok("seventeen bytes!!"));
  Answer got = ClientRig::wait(answer);
  EXPECT_EQ(got.error, http::make_error_code(http::ParseError::body_too_large))
      << got.error.message();
}

TEST_P(HttpClientTest, ConnectRefusedFailsTheRequest) {
  ClientRig rig(GetParam(), InetAddress::loopback_v4(unused_port()));
  Answer got = rig.fetch(ClientRequest::get("/"));
  EXPECT_EQ(got.error, std::errc::connection_refused) << got.error.message();
}

// Fields that would change the framing are refused before any connection is made.
TEST_P(HttpClientTest, InvalidRequestIsRefusedWithoutConnecting) {
  ClientRig rig(GetParam(), upstream.address());
  EXPECT_EQ(rig.fetch(ClientRequest::get("/").header("X-Evil", "a\r\nHost: b")).error,
            http::client_errc::invalid_request);
  EXPECT_EQ(rig.fetch(ClientRequest::get("/a b")).error, http::client_errc::invalid_request);
  EXPECT_EQ(rig.fetch(ClientRequest::get("/").header("Bad Name", "x")).error,
            http::client_errc::invalid_request);
  EXPECT_TRUE(no_new_connection());
}

// close(): what was sent still gets its answer; later requests are refused; on_closed runs
// once the connection is gone.
TEST_P(HttpClientTest, CloseLetsTheSentRequestFinish) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/last"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/last"));
  EventCount closed;
  rig.call([&](EventLoop&) { rig.client->close([&] { closed.add(); }); });
  peer.send(ok("done"));
  Answer got = ClientRig::wait(answer);
  ASSERT_FALSE(got.error) << got.error.message();
  EXPECT_EQ(got.body, "done");
  EXPECT_TRUE(closed.wait_until_at_least(1, kBound));
  EXPECT_TRUE(peer.client_closed());
  EXPECT_EQ(rig.fetch(ClientRequest::get("/late")).error, http::client_errc::closed);
}

// Destroying the client fails what is outstanding (closed) and closes its connections.
TEST_P(HttpClientTest, DestroyingTheClientFailsWhatIsOutstanding) {
  ClientRig rig(GetParam(), upstream.address());
  auto answer = rig.send(ClientRequest::get("/pending"));
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/pending"));
  rig.call([&](EventLoop&) { rig.client.reset(); });
  EXPECT_EQ(ClientRig::wait(answer).error, http::client_errc::closed);
  EXPECT_TRUE(peer.client_closed());
}

// Requests waiting for a connection are bounded by max_queued.
TEST_P(HttpClientTest, QueueBeyondMaxQueuedIsRefused) {
  http::ClientOptions options;
  options.max_queued = 1;
  ClientRig rig(GetParam(), upstream.address(), options);
  std::vector<ClientRequest> requests;
  for (const char* target : {"/1", "/2"}) requests.push_back(ClientRequest::get(target));
  auto answers = rig.send(std::move(requests));  // one turn: the first still waits to connect
  EXPECT_EQ(ClientRig::wait(answers[1]).error, http::client_errc::queue_full);
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/1"));
  peer.send(ok("one"));
  EXPECT_EQ(ClientRig::wait(answers[0]).body, "one");
}

// http::fetch on its own thread (it runs a loop there) against the upstream on this one.
TEST_P(HttpClientTest, FetchReturnsAnOwnedResponse) {
  http::FetchOptions options;
  options.backend = GetParam();
  auto fetched = std::async(std::launch::async, [&] {
    return http::fetch(upstream.address(), ClientRequest::get("/f"), options);
  });
  Peer peer(upstream.accept_one());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer.next_request(), get("/f"));
  peer.send(response("HTTP/1.1 200 OK", "X-From: upstream\r\n", "fetched"));
  ASSERT_EQ(fetched.wait_for(kBound), std::future_status::ready);
  auto result = fetched.get();
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "fetched");
  EXPECT_EQ(result->header("x-from"), "upstream");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, HttpClientTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
