// The in-process proxy rig of the HTTP proxy tests: rows (a model on a backend), a raw HTTP
// peer on a plain socket (a client of the proxy, or the accepted side of a raw upstream),
// in-process named upstreams, a tern::Server with one HttpProxy per loop (as tern-proxy sets it
// up), and the tools that push a large body through a socket and check one as it arrives.
//
// Thread rule: the test's thread, except where a class says otherwise.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chunked_body_check.h"
#include "read_until.h"
#include "tern/http/router.h"
#include "tern/patterns/server.h"
#include "tern/proxy/http_proxy.h"
#include "test_support.h"
#include "upstream_listener.h"

namespace tern::proxy::test_rig {

using namespace std::chrono_literals;
using test::ChunkedBodyCheck;
using test::connect_blocking;
using test::pattern_at;
using test::UpstreamListener;

inline constexpr auto kBound = std::chrono::seconds(20);  // liveness bound of every wait: a
                                                          // failure, not a measurement

// One row: a model with its thread counts, on a backend (its default pattern).
struct Row {
  Model model;
  BackendKind backend;
  int threads;
  int workers;
};

inline std::vector<Row> rows() {
  std::vector<Row> all;
  for (BackendKind backend : {BackendKind::epoll, BackendKind::uring}) {
    all.push_back({Model::single, backend, 1, 0});
    all.push_back({Model::loops, backend, 2, 0});
    all.push_back({Model::hsha, backend, 1, 2});
  }
  return all;
}

inline std::string row_name(const testing::TestParamInfo<Row>& info) {
  std::string name = std::string(model_name(info.param.model)) + "_" +
                     std::string(to_string(info.param.backend));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

inline ServerOptions server_options(const Row& row) {
  ServerOptions options;
  options.backend = row.backend;
  options.backend_options.strict = true;
  options.model = row.model;
  options.threads = row.threads;
  options.workers = row.workers;
  return options;
}

// One HTTP message read off a socket: its head (up to the blank line) and its body.
struct Message {
  std::string head;
  std::string body;
  bool complete = false;

  int status() const { return head.size() >= 12 ? std::stoi(head.substr(9, 3)) : 0; }
  // The value of field `name` (exact case), or nullopt.
  std::optional<std::string> field(std::string_view name) const {
    std::string key = std::string("\r\n").append(name).append(": ");
    std::string lines = head + "\r\n";
    size_t at = lines.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t from = at + key.size();
    return lines.substr(from, lines.find("\r\n", from) - from);
  }
  bool has_field(std::string_view name) const { return field(name).has_value(); }
};

// A plain blocking socket speaking HTTP by hand: a client of the proxy, or the accepted side of
// a raw upstream. Reads are bounded (kBound) and keep what they read past a message.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  explicit Peer(const InetAddress& address) : fd_(connect_blocking(address)) {}
  ~Peer() {
    if (fd_ >= 0) ::close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // One message framed by Content-Length (or none: a request without a body, a response to
  // HEAD when `no_body`).
  Message read(bool no_body = false) {
    Message m;
    size_t end = 0;
    if (!fill_until([&] { return (end = buffer_.find("\r\n\r\n")) != std::string::npos; })) {
      return m;
    }
    m.head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t length = 0;
    if (auto field = m.field("Content-Length"); field && !no_body) length = std::stoul(*field);
    if (!fill_until([&] { return buffer_.size() >= length; })) return m;
    m.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    m.complete = true;
    return m;
  }

  // Reads until the other side closes the connection (true) or kBound passes; what came is
  // kept (buffered()).
  bool read_until_closed() {
    fill_until([] { return false; });
    return eof_;
  }
  size_t buffered() const { return buffer_.size(); }

  // True once the other side has closed the connection with nothing more sent.
  bool closed_by_other_side() {
    fill_until([] { return false; });
    return eof_ && buffer_.empty();
  }

  // Closes with a reset (SO_LINGER 0): the connection dies under whatever the other side sent.
  void reset() {
    linger option{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  template <class Done>
  bool fill_until(Done done) {
    return test::read_until(fd_, buffer_, eof_, kBound, done);
  }

  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

// An in-process upstream (tern HTTP, single loop on epoll): every path answers 200
// "NAME PATH" with X-Upstream: NAME and X-Body: the request body's size and whether it is the
// test pattern (pattern_at) throughout, and counts the requests it saw per method.
class NamedUpstream {
 public:
  explicit NamedUpstream(std::string name) : name_(std::move(name)) {
    http::Router router;
    auto answer = [this](const http::Request& request) {
      count(request.method);
      bool pattern = true;
      for (size_t i = 0; i < request.body.size() && pattern; ++i) {
        pattern = request.body[i] == pattern_at(i);
      }
      return http::Response::text(200, name_ + " " + std::string(request.path))
          .header("X-Upstream", name_)
          .header("X-Body", std::to_string(request.body.size()) + (pattern ? " pattern" : " other"));
    };
    for (auto pattern : {"/", "/{*path}"}) {
      router.get(pattern, answer);
      router.post(pattern, answer);
      router.put(pattern, answer);
      router.del(pattern, answer);
    }
    server_ = std::make_unique<Server>(ServerOptions{}, http::service(router));
    auto error = server_->start();
    EXPECT_FALSE(error) << server_->error_detail();
  }
  ~NamedUpstream() { server_->shutdown(1s); }

  UpstreamConfig config() const {
    InetAddress address = server_->local_address();
    return UpstreamConfig{address.to_string(), address, 1};
  }
  int gets() const { return gets_.load(); }
  int posts() const { return posts_.load(); }
  int heads() const { return heads_.load(); }

 private:
  void count(http::Method method) {
    if (method == http::Method::post) ++posts_;
    if (method == http::Method::get) ++gets_;
    if (method == http::Method::head) ++heads_;
  }

  std::string name_;
  std::atomic<int> gets_{0};
  std::atomic<int> posts_{0};
  std::atomic<int> heads_{0};
  std::unique_ptr<Server> server_;
};

inline UpstreamConfig config_of(const UpstreamListener& listener) {
  return UpstreamConfig{listener.address().to_string(), listener.address(), 1};
}

// An address with nothing listening: connects to it are refused.
inline UpstreamConfig refusing_upstream() {
  UpstreamListener probe;
  return config_of(probe);
}

// A tern::Server whose every loop has its own HttpProxy over `upstreams`.
class ProxyRig {
 public:
  // `max_request_body`: the server's limits.max_body (413 beyond).
  ProxyRig(const Row& row, HttpProxyOptions options, std::vector<UpstreamConfig> upstreams,
           uint64_t max_request_body = http::Limits{}.max_body)
      : options_(std::move(options)), upstreams_(std::move(upstreams)) {
    size_t loops = static_cast<size_t>(row.threads);
    loops_.resize(loops);
    proxies_.resize(loops);
    ServerOptions server = server_options(row);
    server.on_loop_start = [this](size_t index, EventLoop& loop) {
      std::lock_guard lock(mutex_);
      loops_[index] = &loop;
      proxies_[index] = std::make_unique<HttpProxy>(loop, options_, upstreams_);
      set_loop_proxy(proxies_[index].get());
      return std::error_code();
    };
    server.on_loop_stop = [this](size_t index, EventLoop&) {
      set_loop_proxy(nullptr);
      std::unique_ptr<HttpProxy> proxy;
      {
        std::lock_guard lock(mutex_);
        proxy = std::move(proxies_[index]);
        loops_[index] = nullptr;
      }
    };
    http::ProtocolOptions protocol;
    protocol.accepts_body = loop_accepts_body;  // as tern-proxy has it
    protocol.stream_body = relays_request_body;
    protocol.limits.max_body = max_request_body;
    server_ = std::make_unique<Server>(std::move(server),
                                       http::service(proxy_handler(), std::move(protocol)));
    auto error = server_->start();
    EXPECT_FALSE(error) << server_->error_detail();
  }
  ~ProxyRig() { shutdown(2s); }

  // Stops the server (requests still in flight at `deadline` are cut off); the proxies are
  // destroyed on their loops' threads on the way (on_loop_stop). Once only.
  void shutdown(Duration deadline) {
    if (server_) server_->shutdown(deadline);
    server_.reset();
  }

  InetAddress address() const { return server_->local_address(); }

  // Every loop's stats, summed.
  HttpProxyStats stats() {
    HttpProxyStats sum;
    for (const HttpProxyStats& s : on_each_loop([](HttpProxy& p) { return p.stats(); })) {
      sum.requests += s.requests;
      sum.retries += s.retries;
      sum.retry_budget_refused += s.retry_budget_refused;
      sum.status_502 += s.status_502;
      sum.status_503 += s.status_503;
      sum.status_504 += s.status_504;
    }
    return sum;
  }

  // The table of every loop, as each loop sees it.
  std::vector<std::vector<UpstreamSnapshot>> snapshots() {
    return on_each_loop([](HttpProxy& p) { return p.upstreams().snapshot(); });
  }

  // One upstream's snapshot (by name) summed over loops: pool counters and stats added,
  // ejected if any loop has it ejected.
  UpstreamSnapshot upstream(const std::string& name) {
    UpstreamSnapshot sum;
    sum.name = name;
    for (const auto& table : snapshots()) {
      for (const UpstreamSnapshot& s : table) {
        if (s.name != name) continue;
        sum.ejected = sum.ejected || s.ejected;
        sum.stats.requests += s.stats.requests;
        sum.stats.retries += s.stats.retries;
        sum.stats.successes += s.stats.successes;
        sum.stats.failures += s.stats.failures;
        sum.stats.ejections += s.stats.ejections;
        sum.pool.connects += s.pool.connects;
        sum.pool.reuses += s.pool.reuses;
        sum.open_connections += s.open_connections;
      }
    }
    return sum;
  }

 private:
  // Runs `fn(proxy)` on each loop's thread in turn and collects the results.
  template <class F>
  auto on_each_loop(F fn) -> std::vector<decltype(fn(std::declval<HttpProxy&>()))> {
    using R = decltype(fn(std::declval<HttpProxy&>()));
    std::vector<R> results;
    for (size_t i = 0; i < loops_.size(); ++i) {
      EventLoop* loop = nullptr;
      {
        std::lock_guard lock(mutex_);
        loop = loops_[i];
      }
      if (loop == nullptr) continue;
      std::promise<R> done;
      loop->post([&, i] {
        std::lock_guard lock(mutex_);
        done.set_value(fn(*proxies_[i]));
      });
      results.push_back(done.get_future().get());
    }
    return results;
  }

  HttpProxyOptions options_;
  std::vector<UpstreamConfig> upstreams_;
  std::mutex mutex_;
  std::vector<EventLoop*> loops_;
  std::vector<std::unique_ptr<HttpProxy>> proxies_;
  std::unique_ptr<Server> server_;
};

inline std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: proxied.test\r\n\r\n";
}
inline std::string post(std::string_view path, std::string_view body) {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: proxied.test\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A raw upstream that fails after the request: accepts the proxy's connection to `listener`,
// reads one request and resets the connection. The request read (incomplete if none came; the
// connection is then closed without a reset).
inline Message read_request_then_reset(UpstreamListener& listener) {
  Peer upstream(listener.accept_one());
  if (!upstream.ok()) return {};
  Message request = upstream.read();
  if (request.complete) upstream.reset();
  return request;
}


// The upstream's side of a large body: a head, then `size` bytes of the pattern written with
// non-blocking sends, counting what the kernel accepted.
class BodySender {
 public:
  BodySender(int fd, std::string head, uint64_t size)
      : fd_(fd), pending_(std::move(head)), head_size_(pending_.size()), size_(size) {}

  // Sends until the socket takes no more (EAGAIN) or everything is sent.
  void send_what_fits() {
    while (!done()) {
      if (pending_.empty()) refill();
      ssize_t n = ::send(fd_, pending_.data(), pending_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) {
        failed_ = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
        return;
      }
      pending_.erase(0, static_cast<size_t>(n));
      sent_ += static_cast<uint64_t>(n);
      if (pending_.empty() && next_ == size_) finished_ = true;
    }
  }
  // Sends until the socket has stayed full for `quiet` (the path behind it holds no more):
  // how a stalled sender is recognised; an upper bound on the wait, never a result.
  void send_until_stalled(std::chrono::milliseconds quiet) {
    while (!done() && !failed_) {
      send_what_fits();
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(quiet.count())) != 1) return;
    }
  }
  bool done() const { return finished_ || failed_; }
  bool failed() const { return failed_; }
  uint64_t body_sent() const { return sent_ > head_size_ ? sent_ - head_size_ : 0; }
  int fd() const { return fd_; }

 private:
  void refill() {
    size_t n = static_cast<size_t>(std::min<uint64_t>(size_ - next_, 64 * 1024));
    pending_.resize(n);
    for (size_t i = 0; i < n; ++i) pending_[i] = pattern_at(next_ + i);
    next_ += n;
  }

  int fd_;
  std::string pending_;  // the head first, then the pattern's next stretch
  uint64_t head_size_;
  uint64_t size_;
  uint64_t sent_ = 0;    // head and body bytes the kernel took
  uint64_t next_ = 0;    // pattern bytes put into pending_ so far
  bool finished_ = false;
  bool failed_ = false;
};

// Reads what `fd` has now, without waiting, into `check`; false at the end of the stream.
inline bool drain_into(int fd, ChunkedBodyCheck& check) {
  char buffer[65536];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      check.feed(std::string_view(buffer, static_cast<size_t>(n)));
      continue;
    }
    return !(n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
  }
}

// Moves the body from `sender` to the client until the client has it all (or kBound passes).
inline void pump_to_the_end(BodySender& sender, int client_fd, ChunkedBodyCheck& check) {
  auto give_up = std::chrono::steady_clock::now() + kBound;
  while (!check.done() && !check.failed() && std::chrono::steady_clock::now() < give_up) {
    pollfd fds[2] = {{client_fd, POLLIN, 0}, {sender.fd(), sender.done() ? short(0) : short(POLLOUT), 0}};
    if (::poll(fds, 2, 1000) < 0) return;
    if (fds[1].revents & POLLOUT) sender.send_what_fits();
    if (!drain_into(client_fd, check)) return;
  }
}


}  // namespace tern::proxy::test_rig
