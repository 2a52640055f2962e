// CountingHttpServer: an in-process tern HTTP server (tern::Server + http::service) that counts
// the requests it answers, so a load generator's figures can be checked against the server's
// own. Its one route, /count, can also misbehave on purpose, deterministically by request
// number: delay every k-th answer, stall one answer, or close the connection after each answer.
// Delays are timers on a loop of the test's own (EventLoop::run_after); the server's loop never
// sleeps, so the requests behind a delayed one on the same connection queue up in the server
// exactly as they would behind a slow backend.
//
//   CountingHttpServer server({.delay_every = 10, .delay = 200ms});
//   ... load against server.url() ...
//   EXPECT_EQ(server.requests(), 100u);
//
// Thread rule: construct, query and destroy on one test thread; the counters are atomics the
// server's threads raise.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tern/http/router.h"
#include "tern/tern.h"

namespace tern::test {

struct CountingHttpBehaviour {
  int delay_every = 0;             // every k-th request (k, 2k, ...) is answered after `delay`
  Duration delay{};
  uint64_t stall_at = 0;           // request number `stall_at` (1-based) is answered after `stall`
  Duration stall{};
  bool close_each = false;         // every response carries Connection: close
  int threads = 1;                 // server loops (Model::loops when more than one)
};

class CountingHttpServer {
 public:
  static constexpr std::string_view kBody = "counted\n";

  explicit CountingHttpServer(CountingHttpBehaviour behaviour = {})
      : behaviour_(behaviour) {
    ServerOptions options;
    options.address = InetAddress::loopback_v4(0);
    if (behaviour.threads > 1) {
      options.model = Model::loops;
      options.threads = behaviour.threads;
    }
    server_ = std::make_unique<Server>(options, http::service(router()));
    if (auto error = server_->start()) {
      start_error_ = error.message() + " " + server_->error_detail();
    }
  }
  ~CountingHttpServer() {
    // Replies still waiting on a timer go first (they post to the server's loops), then the
    // server.
    timers_.stop();
    if (server_) server_->shutdown(std::chrono::seconds(5));
  }
  CountingHttpServer(const CountingHttpServer&) = delete;
  CountingHttpServer& operator=(const CountingHttpServer&) = delete;

  const std::string& start_error() const { return start_error_; }
  uint16_t port() const { return server_->local_address().port(); }
  std::string url(std::string_view path = "/count") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  // Requests /count has answered (or begun to answer, for a delayed one).
  uint64_t requests() const { return counters_->requests.load(); }
  // Connections the server has accepted since it started.
  uint64_t accepted() const { return server_->stats().accepted; }

  // The exact size in bytes of one whole response of /count (head and body), measured on a
  // request to /probe, which answers the same response without counting it. HTTP/1.1's Date
  // field has a fixed length, so every response of /count has this size.
  size_t response_size() const {
    int fd = connect_blocking(server_->local_address());
    if (fd < 0) return 0;
    std::string request = "GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string got;
    size_t total = 0;
    char chunk[4096];
    while (total == 0 || got.size() < total) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) break;
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      got.append(chunk, static_cast<size_t>(n));
      size_t head_end = got.find("\r\n\r\n");
      if (total == 0 && head_end != std::string::npos) {
        size_t field = got.find("Content-Length: ");
        if (field == std::string::npos || field > head_end) break;
        total = head_end + 4 + std::stoul(got.substr(field + 16));
      }
    }
    ::close(fd);
    return total != 0 && got.size() == total ? total : 0;
  }

 private:
  struct Counters {
    std::atomic<uint64_t> requests{0};
  };

  // How long answer number `n` waits.
  static Duration wait_for(const CountingHttpBehaviour& b, uint64_t n) {
    if (b.stall_at != 0 && n == b.stall_at) return b.stall;
    if (b.delay_every > 0 && n % static_cast<uint64_t>(b.delay_every) == 0) return b.delay;
    return Duration::zero();
  }

  http::Response response() const {
    http::Response r = http::Response::text(200, std::string(kBody));
    if (behaviour_.close_each) r.close();
    return r;
  }

  http::Router router() {
    http::Router router;
    router.get_async("/count", [this](const http::Request&, http::Reply reply) {
      uint64_t n = ++counters_->requests;
      Duration wait = wait_for(behaviour_, n);
      if (wait == Duration::zero()) {
        reply.send(response());
        return;
      }
      // TimerCallback is a std::function (copyable): the move-only Reply rides in a shared_ptr.
      auto pending = std::make_shared<http::Reply>(std::move(reply));
      timers_.post([pending, wait, r = response()](EventLoop& loop) mutable {
        loop.run_after(wait, [pending, r]() mutable { pending->send(std::move(r)); });
      });
    });
    router.get("/probe", [this](const http::Request&) { return response(); });
    return router;
  }

  // A loop thread whose only work is the timers of delayed answers. Posting to it never
  // waits (the server's loop must not block on it), and is a no-op once it is stopped: the
  // task, and the Reply it carries, are then destroyed unrun.
  class TimerThread {
   public:
    TimerThread()
        : thread_(BackendKind::epoll, [this](EventLoop& loop) {
            loop_ = &loop;
            handle_ = loop.handle();
          }) {}
    // Any thread: runs task(loop) on the timer loop.
    template <class F>
    void post(F task) {
      EventLoop* loop = loop_;
      post_to(handle_, [loop, task = std::move(task)]() mutable { task(*loop); });
    }
    void stop() { thread_.stop(); }

   private:
    EventLoop* loop_ = nullptr;  // set on the loop thread before the constructor returns
    LoopHandle handle_;
    LoopThread thread_;
  };

  CountingHttpBehaviour behaviour_;
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  TimerThread timers_;
  std::unique_ptr<Server> server_;
  std::string start_error_;
};

}  // namespace tern::test
