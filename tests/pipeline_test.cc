// Pipeline<C>, the client side of the protocol seam, on every backend: pipelined requests
// answered in order, the connection's failures given to every waiting request, the response
// deadline, the waiting limit, requests sent from the answers of one read leaving in one
// write. The server is a tern::Server (line echo) on epoll, or a peer of plain sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tern/protocol/framing.h"
#include "tern/protocol/pipeline.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;

class PipelineTest : public test::BackendTest {
 protected:
  // A line server: echoes, except "hang" (held, never answered, until `release`) and "bye"
  // (closes the connection after answering the lines before it).
  void start_server() {
    ServerOptions o;
    o.codec = Codec(Framing::line);
    server_ = std::make_unique<Server>(o, Handler::async([this](Request request, Reply reply) {
      if (request == "hang") {
        std::lock_guard lock(mutex_);
        held_.push_back(std::move(reply));
        return;
      }
      if (request == "bye") {
        (void)std::move(reply).stream("");  // dropped unended: the server closes
        return;
      }
      reply.send("echo:" + std::string(request));
    }));
    ASSERT_FALSE(server_->start()) << server_->error_detail();
  }
  void TearDown() override {
    if (server_) server_->shutdown(0ms);
    std::lock_guard lock(mutex_);
    held_.clear();
  }

  // Runs `body(connection)` on a loop of the backend under test once connected, and waits
  // for `done` to be set by it.
  template <class Body>
  void with_connection(Body body) {
    std::promise<void> done;
    std::unique_ptr<TcpClient> client;
    test::LoopThread loop(GetParam(), [&](EventLoop& l) {
      client = std::make_unique<TcpClient>(l, server_->local_address());
      client->on_connection([&](TcpConnection& c) { body(c, done); });
      client->on_connect_error([&](std::error_code e) {
        ADD_FAILURE() << e.message();
        done.set_value();
      });
      client->connect();
    }, backend_options());
    EXPECT_EQ(done.get_future().wait_for(60s), std::future_status::ready);
    // Loop objects go on their loop's thread, whatever happened above.
    loop.call([&](EventLoop&) {
      pipeline.reset();
      client.reset();
    });
  }

  // The pipeline under test; the tests reset it from their last callback.
  std::unique_ptr<Pipeline<LineClient>> pipeline;
  std::unique_ptr<Server> server_;
  std::mutex mutex_;
  std::vector<Reply> held_;
};

TEST_P(PipelineTest, PipelinedRequestsCompleteInOrder) {
  start_server();
  constexpr int kRequests = 2000;
  std::vector<std::string> got;
  with_connection([&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{},
                                                      PipelineOptions{kRequests, {}});
    for (int i = 0; i < kRequests; ++i) {
      auto error = pipeline->send(std::to_string(i), [&, i](std::error_code e, const std::string_view* r) {
        got.push_back(e ? "error:" + e.message() : std::string(*r));
        if (i == kRequests - 1) {
          pipeline.reset();
          done.set_value();
        }
      });
      ASSERT_FALSE(error);
    }
  });
  ASSERT_EQ(got.size(), size_t(kRequests));
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(got[i], "echo:" + std::to_string(i));
}

// The server closes after "bye": every request's callback runs exactly once, the answers that
// arrive come first and in order, everything from "bye" on fails, and a later send is refused.
// (The answers to "a" and "b" may be lost too: the server's close can reach the client while it
// is still writing "c", and that failed write ends the connection before they are read.)
TEST_P(PipelineTest, ConnectionEndFailsEveryWaitingRequest) {
  start_server();
  std::vector<std::string> got;
  std::error_code later;
  with_connection([&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{});
    for (std::string line : {"a", "b", "bye", "c", "d"}) {
      pipeline->send(line, [&](std::error_code e, const std::string_view* r) {
        got.push_back(e ? "failed" : std::string(*r));
        if (got.size() == 5) {
          later = pipeline->send("x", [](std::error_code, const std::string_view*) {});
          pipeline.reset();
          done.set_value();
        }
      });
    }
  });
  ASSERT_EQ(got.size(), 5u);
  size_t answered = 0;
  while (answered < got.size() && got[answered] != "failed") ++answered;
  EXPECT_LE(answered, 2u);
  std::vector<std::string> expected = {"echo:a", "echo:b"};
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], i < answered ? expected[i] : std::string("failed")) << "callback " << i;
  }
  EXPECT_EQ(later, make_error_code(errc::not_connected));
}

TEST_P(PipelineTest, ResponseDeadlineFailsTheWaitingRequests) {
  start_server();
  std::vector<std::string> got;
  with_connection([&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{},
                                                      PipelineOptions{16, 200ms});
    for (std::string line : {"a", "hang", "b"}) {
      pipeline->send(line, [&](std::error_code e, const std::string_view* r) {
        got.push_back(e ? e.message() : std::string(*r));
        if (got.size() == 3) {
          pipeline.reset();
          done.set_value();
        }
      });
    }
  });
  std::string timed_out = std::make_error_code(std::errc::timed_out).message();
  EXPECT_EQ(got, (std::vector<std::string>{"echo:a", timed_out, timed_out}));
}

// A request's own deadline (send()'s) ends the wait, whatever response_timeout allows, and is
// the deadline of the requests before it too: their answers come first. "hang" has none of its
// own and "b", sent behind it, 200 ms: nothing answers, and both fail with timed_out before a
// check timer at 30 s (response_timeout is 60 s) finds them still waiting.
TEST_P(PipelineTest, ARequestsOwnDeadlineIsAlsoThatOfTheRequestsBeforeIt) {
  start_server();
  std::vector<std::string> got;
  bool finished = false;
  TimerId check;
  with_connection([&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{},
                                                      PipelineOptions{16, 60s});
    auto finish = [&finished, &check, &c, &done, this] {
      if (std::exchange(finished, true)) return;
      c.loop().cancel(check);
      pipeline.reset();
      done.set_value();
    };
    // By value: this frame is gone when they run.
    auto record = [&got, finish](std::error_code e, const std::string_view* r) {
      got.push_back(e ? e.message() : std::string(*r));
      if (got.size() == 2) finish();
    };
    ASSERT_FALSE(pipeline->send("hang", record));
    ASSERT_FALSE(pipeline->send("b", record, c.loop().now() + 200ms));
    check = c.loop().run_after(30s, [finish] {
      ADD_FAILURE() << "the requests were still waiting at the check";
      finish();
    });
  });
  std::string timed_out = std::make_error_code(std::errc::timed_out).message();
  EXPECT_EQ(got, (std::vector<std::string>{timed_out, timed_out}));
}

TEST_P(PipelineTest, WaitingLimitRefusesWithoutSending) {
  start_server();
  std::error_code refused;
  size_t waiting = 0;
  with_connection([&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{}, PipelineOptions{2, {}});
    pipeline->send("hang", [](std::error_code, const std::string_view*) {});
    pipeline->send("hang", [](std::error_code, const std::string_view*) {});
    refused = pipeline->send("a", [](std::error_code, const std::string_view*) {});
    waiting = pipeline->waiting();
    pipeline.reset();
    done.set_value();
  });
  EXPECT_EQ(refused, std::make_error_code(std::errc::resource_unavailable_try_again));
  EXPECT_EQ(waiting, 2u);
}

// The connection closes under the pipeline without its reader hearing (here its owner closes
// it; a failed write does the same): the owner's on_close tells the pipeline, the waiting
// request fails at once with not_connected (not by its deadline, much later, on a connection
// already freed), a later send is refused, and the pipeline outlives the connection without
// touching it (ASan checks that).
TEST_P(PipelineTest, ConnectionClosedUnderItFailsTheWaitingRequestsAtOnce) {
  start_server();
  std::vector<std::string> got;
  std::error_code later;
  std::promise<void> done;
  std::unique_ptr<TcpClient> client;
  test::LoopThread loop(GetParam(), [&](EventLoop& l) {
    client = std::make_unique<TcpClient>(l, server_->local_address());
    client->on_close([&](TcpConnection&) { pipeline->connection_closed(); });
    client->on_connection([&](TcpConnection& c) {
      pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{},
                                                        PipelineOptions{16, 60s});
      for (std::string line : {"a", "hang"}) {
        pipeline->send(line, [&, conn = &c](std::error_code e, const std::string_view* r) {
          got.push_back(e ? e.message() : std::string(*r));
          if (got.size() == 1) {
            conn->close();  // "hang" waits: nobody else will end it before its deadline
          } else {
            later = pipeline->send("x", [](std::error_code, const std::string_view*) {});
            done.set_value();
          }
        });
      }
    });
    client->on_connect_error([&](std::error_code e) {
      ADD_FAILURE() << e.message();
      done.set_value();
    });
    client->connect();
  }, backend_options());
  EXPECT_EQ(done.get_future().wait_for(20s), std::future_status::ready);
  // The connection is gone (TcpClient freed it after on_close); the failed pipeline is not.
  EXPECT_TRUE(loop.call([&](EventLoop&) { return client->connection() == nullptr; }));
  loop.call([&](EventLoop&) {
    pipeline.reset();
    client.reset();
  });
  EXPECT_EQ(got, (std::vector<std::string>{"echo:a", make_error_code(errc::not_connected).message()}));
  EXPECT_EQ(later, make_error_code(errc::not_connected));
}

// The test thread's end of a connection, plain blocking sockets with bounded waits.
class PlainPeer {
 public:
  PlainPeer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "listen: " << std::strerror(errno);
    }
    port_ = ntohs(address.sin_port);
  }
  ~PlainPeer() {
    if (fd_ >= 0) ::close(fd_);
    ::close(listener_);
  }
  PlainPeer(const PlainPeer&) = delete;
  PlainPeer& operator=(const PlainPeer&) = delete;

  uint16_t port() const { return port_; }
  // The accepted connection's fd (-1 before): any thread, for a look at what it has received.
  int fd() const { return fd_.load(); }
  bool accept() {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return false;
    fd_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    return fd_ >= 0;
  }
  // Reads until `count` lines have come (or 10 s without a byte, or the end).
  std::string read_lines(size_t count) {
    std::string got;
    while (size_t(std::count(got.begin(), got.end(), '\n')) < count) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) break;
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      got.append(buffer, size_t(n));
    }
    return got;
  }
  bool send_all(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }

 private:
  int listener_ = -1;
  std::atomic<int> fd_{-1};
  uint16_t port_ = 0;
};

// A client that answers each reply with a new request, as a load generator at depth N does:
// the N requests sent from the callbacks of one read must leave in one write after them, not
// one write each. The peer answers the first N requests with one send (so the client reads
// them in one read); each callback sends a follow-up and then looks at how many bytes the peer
// has received: none may have arrived while the callbacks run. (Readiness backends write at
// once when the socket takes the bytes, so a write per request shows up there; io_uring sends
// at its next submission either way.)
TEST_P(PipelineTest, RequestsSentFromTheAnswersOfOneReadLeaveInOneWrite) {
  constexpr int kRequests = 16;
  PlainPeer peer;
  std::vector<int> received_during_callbacks;  // loop thread, read after `delivered`
  std::promise<void> delivered;
  std::unique_ptr<TcpClient> client;
  test::LoopThread loop(GetParam(), [&](EventLoop& l) {
    client = std::make_unique<TcpClient>(l, InetAddress::loopback_v4(peer.port()));
    client->on_connection([&](TcpConnection& c) {
      pipeline = std::make_unique<Pipeline<LineClient>>(c, FramingOptions{});
      for (int i = 0; i < kRequests; ++i) {
        pipeline->send("q" + std::to_string(i), [&, i](std::error_code e, const std::string_view*) {
          if (e) {
            ADD_FAILURE() << "request " << i << ": " << e.message();
          } else {
            auto ignore = [](std::error_code, const std::string_view*) {};
            EXPECT_FALSE(pipeline->send("f" + std::to_string(i), ignore));
            int pending = -1;
            ::ioctl(peer.fd(), FIONREAD, &pending);
            received_during_callbacks.push_back(pending);
          }
          if (i == kRequests - 1) delivered.set_value();
        });
      }
    });
    client->on_connect_error([&](std::error_code e) {
      ADD_FAILURE() << e.message();
      delivered.set_value();
    });
    client->connect();
  }, backend_options());

  std::string first, answers, expected_follow_ups;
  for (int i = 0; i < kRequests; ++i) {
    first += "q" + std::to_string(i) + "\n";
    answers += "a" + std::to_string(i) + "\n";
    expected_follow_ups += "f" + std::to_string(i) + "\n";
  }
  ASSERT_TRUE(peer.accept());
  EXPECT_EQ(peer.read_lines(kRequests), first);
  ASSERT_TRUE(peer.send_all(answers));  // one send: the client reads every answer at once
  EXPECT_EQ(delivered.get_future().wait_for(60s), std::future_status::ready);
  EXPECT_EQ(peer.read_lines(kRequests), expected_follow_ups);
  loop.call([&](EventLoop&) {
    pipeline.reset();
    client.reset();
  });
  EXPECT_EQ(received_during_callbacks, std::vector<int>(kRequests, 0));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, PipelineTest, testing::ValuesIn(all_backend_kinds()),
                         test::backend_test_name);

}  // namespace
}  // namespace tern
