// Request bodies taken in pieces (http::ProtocolOptions::stream_body, reply.read_body, a
// BodySink), on every row of the model x pattern x backend matrix: the handler gets the head
// at once and the body piece by piece, in order, Content-Length and chunked alike; a sink
// that declines more gets nothing until it resumes (through Server::post_to, on the
// connection's own thread); the connection serves the next request after the body; a handler
// that answers without asking for the body gets its answer out and the connection closed; a
// client that vanishes mid-body ends the sink with an error and still gets the handler's
// answer. Real loopback sockets, a plain POSIX client; every wait is on a condition, bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "chunked_body_check.h"
#include "read_until.h"
#include "tern/http/router.h"
#include "tern/patterns/server.h"
#include "test_support.h"

namespace tern::http {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 30s;  // liveness bound of every wait: a failure, not a measurement
constexpr size_t kPauseEvery = 256 << 10;  // the sink declines more after each such stretch

uint64_t fnv1a(uint64_t hash, std::string_view bytes) {
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}
constexpr uint64_t kFnvStart = 14695981039346656037ull;

// Resumes paused sinks from its own thread, through Server::post_to: on the connection's
// thread, as the sink's control requires (under leader/followers, with the connection locked).
class Resumer {
 public:
  explicit Resumer(Server*& server) : server_(server), thread_([this] { run(); }) {}
  ~Resumer() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  void resume_later(ConnId id, ReadControl* control) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({id, control});
    }
    wake_.notify_one();
  }

 private:
  struct Job {
    ConnId id;
    ReadControl* control;
  };
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      Job job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      // A connection that closed meanwhile runs nothing: its control is gone with it.
      server_->post_to(job.id, [control = job.control](ConnectionRef) { control->resume_reading(); });
      lock.lock();
    }
  }

  Server*& server_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Takes a body, declining more after every kPauseEvery bytes, and answers with what it got:
// "<bytes> <fnv1a>" (200), or "cut: <error>" (400) when the body ended with an error. Owns
// itself and the reply; gone after its answer.
class SummingSink final : public BodySink {
 public:
  static void start(const Request& request, Reply reply, Resumer& resumer,
                    std::atomic<int>& violations) {
    if (!request.body_follows) {
      reply.send(Response::text(200, "whole " + std::to_string(request.body.size()) + " " +
                                         std::to_string(fnv1a(kFnvStart, request.body))));
      return;
    }
    auto* sink = new SummingSink(std::move(reply), resumer, violations);
    sink->reply_.read_body(*sink);
  }

  void on_body_start(ReadControl& control) override { control_ = &control; }
  bool on_body(std::string_view piece) override {
    if (paused_) ++violations_;  // a piece while paused: the pause did not hold
    bytes_ += piece.size();
    hash_ = fnv1a(hash_, piece);
    since_pause_ += piece.size();
    if (since_pause_ < kPauseEvery) return true;
    since_pause_ = 0;
    paused_ = true;
    resumer_.resume_later(reply_.connection(), this->control_proxy());
    return false;
  }
  void on_body_end(std::error_code error) override {
    if (error) {
      reply_.send(Response::text(400, "cut: " + error.message()));
    } else {
      reply_.send(Response::text(200, std::to_string(bytes_) + " " + std::to_string(hash_)));
    }
    delete this;
  }

 private:
  // The resume goes through this sink (not straight to the session's control), so it can note
  // that the pause is over before the session feeds it again.
  class Resume final : public ReadControl {
   public:
    explicit Resume(SummingSink& sink) : sink_(sink) {}
    void resume_reading() override {
      sink_.paused_ = false;
      sink_.control_->resume_reading();
    }
    void abort(std::error_code error) override { sink_.control_->abort(error); }

   private:
    SummingSink& sink_;
  };
  ReadControl* control_proxy() { return &resume_; }

  SummingSink(Reply reply, Resumer& resumer, std::atomic<int>& violations)
      : reply_(std::move(reply)), resumer_(resumer), violations_(violations) {}

  Reply reply_;
  Resumer& resumer_;
  std::atomic<int>& violations_;
  ReadControl* control_ = nullptr;
  Resume resume_{*this};
  std::atomic<bool> paused_{false};
  uint64_t bytes_ = 0;
  uint64_t hash_ = kFnvStart;
  size_t since_pause_ = 0;
};

// `size` bytes of the tests' pattern ('a' to 'z', repeated).
std::string pattern_bytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = test::pattern_at(i);
  return bytes;
}

class HttpRequestBodyTest : public testing::TestWithParam<test::ServerConfig> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
    Router router;
    for (const char* path : {"/upload", "/small"}) {
      router.route_async(Method::post, path, [this](const Request& request, Reply reply) {
        SummingSink::start(request, std::move(reply), resumer_, violations_);
      });
    }
    // Answers at once, never asking for the body.
    router.route_async(Method::post, "/refuse", [](const Request&, Reply reply) {
      reply.send(Response::text(413, "not taking it\n"));
    });
    router.get("/next", [](const Request&) { return Response::text(200, "next"); });
    ProtocolOptions protocol;
    protocol.limits.max_body = 64 << 20;
    protocol.stream_body = [](const Request& head) { return head.path != "/small"; };
    server_ = std::make_unique<Server>(test::server_options(GetParam()),
                                       service(router, std::move(protocol)));
    server_ptr_ = server_.get();
    ASSERT_FALSE(server_->start()) << server_->error_detail();
    fd_ = test::connect_blocking(server_->local_address());
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    if (server_) server_->shutdown(2s);
    EXPECT_EQ(violations_.load(), 0) << "pieces reached a paused sink";
  }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until a whole response with a Content-Length body is in; returns it and keeps what
  // follows.
  std::string read_response() {
    std::string response;
    bool whole = test::read_until(fd_, received_, eof_, kBound, [&] {
      size_t end = received_.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      size_t field = received_.find("Content-Length: ");
      if (field == std::string::npos || field > end) return false;
      size_t length = std::stoul(received_.substr(field + 16));
      if (received_.size() < end + 4 + length) return false;
      response = received_.substr(0, end + 4 + length);
      received_.erase(0, end + 4 + length);
      return true;
    });
    EXPECT_TRUE(whole) << "no whole response; got: " << received_.substr(0, 300);
    return response;
  }
  // Waits for "HTTP/1.1 100 Continue\r\n\r\n" and takes it off the input.
  bool read_continue() {
    constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    bool got = test::read_until(fd_, received_, eof_, kBound,
                                [&] { return received_.size() >= kContinue.size(); });
    if (!got || received_.compare(0, kContinue.size(), kContinue) != 0) return false;
    received_.erase(0, kContinue.size());
    return true;
  }
  bool closed_by_server() {
    test::read_until(fd_, received_, eof_, kBound, [] { return false; });
    return eof_;
  }
  static std::string body_of(const std::string& response) {
    return response.substr(response.find("\r\n\r\n") + 4);
  }
  static std::string expected(std::string_view body) {
    return std::to_string(body.size()) + " " + std::to_string(fnv1a(kFnvStart, body));
  }

  std::unique_ptr<Server> server_;
  Server* server_ptr_ = nullptr;
  std::atomic<int> violations_{0};
  Resumer resumer_{server_ptr_};
  int fd_ = -1;
  std::string received_;
  bool eof_ = false;
};

// The head goes alone (the client waits for 100 Continue, which the server sends once the
// handler has asked for the body), so the body is certainly taken in pieces.
TEST_P(HttpRequestBodyTest, ContentLengthBodyReachesTheSinkInOrderWithPauses) {
  std::string body = pattern_bytes(4 << 20);
  send_all("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n");
  ASSERT_TRUE(read_continue()) << received_.substr(0, 200);
  send_all(body);
  std::string response = read_response();
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  EXPECT_EQ(body_of(response), expected(body));
  // The same connection reads the next request after the body.
  send_all("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(body_of(read_response()), "next");
}

TEST_P(HttpRequestBodyTest, ChunkedBodyReachesTheSinkDechunked) {
  std::string body = pattern_bytes(3 << 20);
  send_all("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
           "Transfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(read_continue()) << received_.substr(0, 200);
  std::string framed;
  size_t at = 0;
  for (size_t size = 1; at < body.size(); size = size * 3 + 7) {  // uneven chunk sizes
    size_t n = std::min(size, body.size() - at);
    char line[32];
    std::snprintf(line, sizeof line, "%zx;ext=1\r\n", n);
    framed += line;
    framed.append(body, at, n);
    framed += "\r\n";
    at += n;
  }
  framed += "0\r\nTrailer-Field: t\r\n\r\n";
  send_all(framed);
  std::string response = read_response();
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  EXPECT_EQ(body_of(response), expected(body));
  send_all("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(body_of(read_response()), "next");
}

// A body that came whole with its head is never asked about: the handler gets it whole.
TEST_P(HttpRequestBodyTest, ASmallBodyInOneReadComesWhole) {
  send_all("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(body_of(read_response()), "whole 5 " + std::to_string(fnv1a(kFnvStart, "hello")));
}

TEST_P(HttpRequestBodyTest, AnAnswerWithoutTheBodyClosesTheConnectionAfterIt) {
  send_all("POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  send_all(pattern_bytes(1000));
  std::string response = read_response();
  EXPECT_NE(response.find("HTTP/1.1 413"), std::string::npos) << response;
  EXPECT_TRUE(closed_by_server()) << "the unread body would be read as the next request";
}

TEST_P(HttpRequestBodyTest, AClientThatStopsMidBodyEndsTheSinkWithAnError) {
  std::string body = pattern_bytes(1 << 20);
  send_all("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(body.size() * 2) + "\r\n\r\n");
  ASSERT_TRUE(read_continue()) << received_.substr(0, 200);
  send_all(body);
  ASSERT_EQ(::shutdown(fd_, SHUT_WR), 0);  // half the body, then FIN
  std::string response = read_response();
  EXPECT_NE(response.find("HTTP/1.1 400"), std::string::npos) << response;
  EXPECT_NE(body_of(response).find("cut: "), std::string::npos) << response;
  EXPECT_TRUE(closed_by_server());
}

TEST_P(HttpRequestBodyTest, BrokenChunkingEndsTheSinkAndNothingAfterItIsServed) {
  send_all("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
           "Transfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(read_continue()) << received_.substr(0, 200);
  send_all("5\r\nhello\r\nzz\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string response = read_response();
  EXPECT_NE(response.find("HTTP/1.1 400"), std::string::npos) << response;
  EXPECT_TRUE(closed_by_server());
  EXPECT_EQ(received_.find("next"), std::string::npos) << "served a request after a broken body";
}

INSTANTIATE_TEST_SUITE_P(Models, HttpRequestBodyTest, testing::ValuesIn(test::server_matrix()),
                         test::server_config_name);

}  // namespace
}  // namespace tern::http
