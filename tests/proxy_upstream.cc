// proxy-upstream: the logic server the tern-proxy process tests (and the proxy benchmark) run
// behind the proxy. A small tern HTTP server whose answers say who answered and whose
// misbehaviour is asked for by path, so a test can see where each request went and make one
// upstream slow, unhealthy or hostile on demand.
//
//   proxy-upstream --port 0 --name a [--backend epoll]
//   -> "proxy-upstream: listening on 127.0.0.1:PORT" once serving; SIGTERM: exit 0
//
// Routes (any method):
//   /health              200, or 503 after POST /admin/unhealthy (200 again after
//                        POST /admin/healthy)
//   /admin/delay?ms=N    (POST) every ordinary answer waits N ms from now on (0: none), so one
//                        upstream of several is slow
//   /slow?ms=N           answers after N ms, from a loop timer (the loop stays free)
//   /status/NNN          that status
//   /count               JSON: requests seen per method ("GET": n, ...), "total", and the
//                        server's "connections" (accepted in all) and "open_connections"
//   /big?bytes=N         a body of N bytes
//   /attack/cl-te, /attack/two-cl, /attack/bad-chunk
//                        a malformed response written raw on the socket; the connection then
//                        stays open and silent (a proxy that reuses it waits forever behind it)
//   anything else        200 "NAME\n"
// Every answer carries X-Upstream: NAME. /count, /health and /admin/* are not counted.
//
// Thread rule: the server runs one loop (model single); handlers run on it.
#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "signal_policy.h"
#include "tern/http.h"
#include "tern/tern.h"

namespace {

using tern::http::Method;
using tern::http::Reply;
using tern::http::Request;
using tern::http::Response;

constexpr size_t kMethods = static_cast<size_t>(Method::other) + 1;
constexpr uint64_t kMaxBig = 64u << 20;
constexpr size_t kMaxHeldAttacks = 64;  // attacked connections kept open, oldest closed first

// What every handler shares. Atomics: read by /count while other requests count.
struct State {
  std::string name;
  std::atomic<bool> healthy{true};
  std::atomic<int> delay_ms{0};
  std::array<std::atomic<uint64_t>, kMethods> per_method{};
  std::atomic<tern::Server*> server{nullptr};
  // The replies of attacked requests, never answered while held: their connections stay open
  // (and unusable) until the proxy closes them, or until they are dropped here.
  std::mutex held_mutex;
  std::deque<Reply> held;
};

State& state() {
  static State instance;
  return instance;
}

// The loop the handlers run on (set by on_loop_start on that loop's thread), for timers.
thread_local tern::EventLoop* t_loop = nullptr;

uint64_t query_number(std::string_view query, std::string_view key, uint64_t fallback) {
  std::string wanted = std::string(key) + "=";
  size_t at = query.find(wanted);
  if (at == std::string_view::npos || (at > 0 && query[at - 1] != '&')) return fallback;
  std::string_view digits = query.substr(at + wanted.size());
  uint64_t value = fallback;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

Response tagged(Response response) {
  response.header("X-Upstream", state().name);
  return response;
}

Response named_answer() { return tagged(Response::text(200, state().name + "\n")); }

// Answers `response` after `ms` milliseconds from the loop's timer (on the loop thread).
void answer_later(Reply reply, Response response, uint64_t ms) {
  if (t_loop == nullptr || ms == 0) {
    reply.send(std::move(response));
    return;
  }
  // TimerCallback is a std::function: the move-only reply travels in a shared holder.
  auto pending = std::make_shared<std::pair<Reply, Response>>(std::move(reply), std::move(response));
  t_loop->run_after(std::chrono::milliseconds(ms), [pending] {
    pending->first.send(std::move(pending->second));
  });
}

const char* method_label(size_t index) {
  static constexpr const char* kLabels[kMethods] = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH", "OTHER"};
  return kLabels[index];
}

Response count_answer() {
  State& s = state();
  std::string json = "{\"name\":\"" + s.name + "\"";
  uint64_t total = 0;
  for (size_t i = 0; i < kMethods; ++i) {
    uint64_t n = s.per_method[i].load();
    total += n;
    json += ",\"" + std::string(method_label(i)) + "\":" + std::to_string(n);
  }
  tern::ServerStats stats;
  if (tern::Server* server = s.server.load()) stats = server->stats();
  json += ",\"total\":" + std::to_string(total) +
          ",\"connections\":" + std::to_string(stats.accepted) +
          ",\"open_connections\":" + std::to_string(stats.open_connections) + "}\n";
  return tagged(Response(200).content_type("application/json").body(std::move(json)));
}

std::string_view attack_bytes(std::string_view kind) {
  if (kind == "cl-te") {  // both framings: request smuggling's favourite ambiguity
    return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n"
           "X-Upstream: attack\r\n\r\n0\r\n\r\n";
  }
  if (kind == "two-cl") {  // two differing lengths
    return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n"
           "X-Upstream: attack\r\n\r\nattack!";
  }
  if (kind == "bad-chunk") {  // a chunk size that is not hexadecimal
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Upstream: attack\r\n\r\n"
           "zz\r\nattack\r\n0\r\n\r\n";
  }
  return {};
}

std::string peer_text(const sockaddr_storage& address) {
  if (address.ss_family != AF_INET) return {};
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(v4.sin_port));
}

// The descriptor of this process's socket connected to `peer`, or -1. The HTTP protocol never
// writes a malformed response (that is its job), so the attacks go around it: this test
// program finds its own end of the connection and writes on it.
int socket_to(const tern::InetAddress& peer) {
  std::string wanted = peer.to_string();
  DIR* fds = ::opendir("/proc/self/fd");
  if (fds == nullptr) return -1;
  int found = -1;
  while (dirent* entry = ::readdir(fds)) {
    int fd = std::atoi(entry->d_name);
    struct stat info {};
    if (fd <= 2 || ::fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) continue;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) continue;
    if (peer_text(address) == wanted) {
      found = fd;
      break;
    }
  }
  ::closedir(fds);
  return found;
}

void attack(std::string_view kind, const Request& request, Reply reply) {
  std::string_view bytes = attack_bytes(kind);
  int fd = bytes.empty() ? -1 : socket_to(request.remote);
  if (fd < 0) {
    reply.send(tagged(Response::text(404, "no such attack, or no socket\n")));
    return;
  }
  // A few hundred bytes on a connection with nothing else unsent: one send takes them all.
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  State& s = state();
  std::lock_guard lock(s.held_mutex);
  s.held.push_back(std::move(reply));
  if (s.held.size() > kMaxHeldAttacks) s.held.pop_front();  // unanswered: that connection closes
}

void handle(const Request& request, Reply reply) {
  State& s = state();
  std::string_view path = request.path;
  if (path == "/health") {
    bool healthy = s.healthy.load();
    reply.send(tagged(Response::text(healthy ? 200 : 503, healthy ? "ok\n" : "unhealthy\n")));
    return;
  }
  if (path == "/count") {
    reply.send(count_answer());
    return;
  }
  if (path.starts_with("/admin/")) {
    if (request.method != Method::post) {
      reply.send(tagged(Response::text(405, "POST only\n")));
      return;
    }
    if (path == "/admin/unhealthy") s.healthy = false;
    else if (path == "/admin/healthy") s.healthy = true;
    else if (path == "/admin/delay") s.delay_ms = static_cast<int>(query_number(request.query, "ms", 0));
    else {
      reply.send(tagged(Response::text(404, "no such admin action\n")));
      return;
    }
    reply.send(tagged(Response::text(200, "ok\n")));
    return;
  }
  s.per_method[static_cast<size_t>(request.method)].fetch_add(1);
  if (path.starts_with("/attack/")) {
    attack(path.substr(8), request, std::move(reply));
    return;
  }
  if (path == "/slow") {
    answer_later(std::move(reply), named_answer(), query_number(request.query, "ms", 100));
    return;
  }
  if (path.starts_with("/status/")) {
    int status = std::atoi(std::string(path.substr(8)).c_str());
    if (status < 100 || status > 599) status = 400;
    Response response(status);
    if (status >= 200 && status != 204 && status != 304) {
      response.content_type("text/plain").body(s.name + " " + std::to_string(status) + "\n");
    }
    reply.send(tagged(std::move(response)));
    return;
  }
  if (path == "/big") {
    uint64_t size = std::min(query_number(request.query, "bytes", 0), kMaxBig);
    std::string body(size, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    reply.send(tagged(Response(200).content_type("application/octet-stream").body(std::move(body))));
    return;
  }
  answer_later(std::move(reply), named_answer(), static_cast<uint64_t>(s.delay_ms.load()));
}

}  // namespace

int main(int argc, char** argv) {
  tern::apps::SignalPolicy signals;  // before any thread starts
  uint16_t port = 0;
  std::string name;
  std::string backend = "epoll";
  CLI::App app{"proxy-upstream: the test logic server behind tern-proxy"};
  app.add_option("--port", port, "port on 127.0.0.1 (0: any)");
  app.add_option("--name", name, "what every answer says")->required();
  app.add_option("--backend", backend, "the event backend");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  auto kind = tern::parse_backend_kind(backend);
  if (!kind) {
    std::fprintf(stderr, "proxy-upstream: unknown backend %s\n", backend.c_str());
    return 2;
  }
  state().name = name;

  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(port);
  options.backend = *kind;
  options.backend_options.strict = true;
  options.model = tern::Model::single;
  options.on_loop_start = [](size_t, tern::EventLoop& loop) -> std::error_code {
    t_loop = &loop;
    return {};
  };
  options.on_loop_stop = [](size_t, tern::EventLoop&) { t_loop = nullptr; };
  tern::Server server(options, tern::http::service(tern::http::Handler::async(handle)));
  if (auto error = server.start()) {
    std::fprintf(stderr, "proxy-upstream: cannot listen on port %u: %s %s\n", port,
                 error.message().c_str(), server.error_detail().c_str());
    return 1;
  }
  state().server = &server;
  std::printf("proxy-upstream: listening on %s\n", server.local_address().to_string().c_str());
  std::fflush(stdout);

  tern::apps::StopRequest stop = signals.wait();
  if (stop.kind == tern::apps::StopKind::fast_exit) tern::apps::SignalPolicy::fast_exit(stop.signo);
  {
    std::lock_guard lock(state().held_mutex);
    state().held.clear();  // the attacked connections close (their replies go unanswered)
  }
  server.shutdown(std::chrono::seconds(2));
  state().server = nullptr;
  return 0;
}
