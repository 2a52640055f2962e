// pingpong_client: a single-threaded epoll ping-pong load generator for echo servers.
//
// Deliberately standalone (libc + libstdc++ only, nothing from tern) so that every
// server is measured by exactly the same client.  Each of N connections sends one
// block, waits until the whole block has been echoed back, then sends the next.  The
// run is bounded: connect (at most 5 s), warm-up, measured interval, then at most
// 1 s of draining outstanding echoes so the connections close cleanly.
//
//   pingpong_client --port N [--host 127.0.0.1] [--connections 100] [--block 16384]
//                   [--seconds 10] [--warmup 1] [--cpu K] [--mark]
//
// Output (stdout): one human line and one machine-readable line
//   RESULT connections=100 block=16384 seconds=10.00 bytes=... mib_per_s=... msgs_per_s=... errors=0
// With --mark it also prints (and flushes) "MARK measure-start" / "MARK measure-end"
// the moment the measured interval begins and ends, so a harness can sample the
// server's CPU time over exactly that interval.  Diagnostics go to stderr.
// Exit status: 0 ok, 1 failure (unreachable server, failed connection, bad echo
// content, nothing received), 2 usage error.
//
// Content check (cheap, O(1) per read): byte i of a block is pattern(i) except the
// first and last bytes, which carry a stamp derived from the connection id and the
// message sequence number.  Each read checks the stamp bytes it contains and the
// pattern bytes at both ends of the chunk, which catches lost, duplicated, shifted or
// cross-connection data without touching every byte.

#include "load_client.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 100;
  std::size_t block = 16384;
  double seconds = 10.0;
  double warmup = 1.0;
  int cpu = -1;
  bool mark = false;
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "pingpong_client: %s\n", msg);
  std::fprintf(stderr,
               "usage: pingpong_client --port N [--host 127.0.0.1] [--connections 100]\n"
               "                       [--block 16384] [--seconds 10] [--warmup 1] [--cpu K] [--mark]\n");
  std::exit(2);
}

template <typename T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    std::string msg = "bad value for " + std::string(flag) + ": '" + std::string(text) + "'";
    usage(msg.c_str());
  }
  return value;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--mark") { o.mark = true; continue; }
    if (flag == "-h" || flag == "--help") usage(nullptr);
    if (i + 1 >= argc) usage(("missing value for " + std::string(flag)).c_str());
    std::string_view v = argv[++i];
    if (flag == "--host") o.host = std::string(v);
    else if (flag == "--port") o.port = parse_number<int>(flag, v);
    else if (flag == "--connections") o.connections = parse_number<int>(flag, v);
    else if (flag == "--block") o.block = parse_number<std::size_t>(flag, v);
    else if (flag == "--seconds") o.seconds = parse_number<double>(flag, v);
    else if (flag == "--warmup") o.warmup = parse_number<double>(flag, v);
    else if (flag == "--cpu") o.cpu = parse_number<int>(flag, v);
    else usage(("unknown flag " + std::string(flag)).c_str());
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required (1..65535)");
  if (o.connections <= 0) usage("--connections must be > 0");
  if (o.block == 0 || o.block > (std::size_t{1} << 30)) usage("--block must be in 1..2^30");
  if (!(o.seconds > 0) || o.seconds > 86400) usage("--seconds must be in (0, 86400]");
  if (!(o.warmup >= 0) || o.warmup > 86400) usage("--warmup must be in [0, 86400]");
  return o;
}

inline std::uint8_t pattern(std::size_t i) { return static_cast<std::uint8_t>(i * 251 + 17); }
inline std::uint8_t head_stamp(int id, std::uint64_t seq) {
  return static_cast<std::uint8_t>(seq * 31 + static_cast<std::uint64_t>(id) * 7 + 1);
}
inline std::uint8_t tail_stamp(int id, std::uint64_t seq) {
  return static_cast<std::uint8_t>(~(seq * 13 + static_cast<std::uint64_t>(id) * 101));
}

struct Conn {
  int fd = -1;
  int id = 0;
  std::uint64_t seq = 0;    // sequence number of the block in flight
  std::size_t sent = 0;     // bytes of the current block written
  std::size_t rcvd = 0;     // bytes of the current block echoed back
  bool want_out = false;    // EPOLLOUT registered (a write was short)
  bool idle = false;        // finished its last block during the drain phase
  std::uint8_t head = 0, tail = 0;
  std::uint64_t measured_msgs = 0;
};

class Client {
 public:
  explicit Client(const Options& o) : o_(o), pattern_(o.block), rbuf_(std::min<std::size_t>(o.block, 1 << 20)) {
    for (std::size_t i = 0; i < o.block; ++i) pattern_[i] = pattern(i);
  }

  int run();

 private:
  bool connect_all();
  bool start_block(Conn& c);
  bool flush(Conn& c);
  bool on_readable(Conn& c);
  bool check_chunk(Conn& c, const std::uint8_t* p, std::size_t n);
  void fail(Conn& c, const char* what, int err);
  bool set_out(Conn& c, bool want);

  const Options& o_;
  std::vector<std::uint8_t> pattern_;
  std::vector<std::uint8_t> rbuf_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  bool measuring_ = false;
  bool draining_ = false;
  int alive_ = 0;
  int errors_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t msgs_ = 0;
};

void Client::fail(Conn& c, const char* what, int err) {
  ++errors_;
  if (errors_ <= 10) {
    if (err) std::fprintf(stderr, "pingpong_client: connection %d: %s: %s\n", c.id, what, std::strerror(err));
    else std::fprintf(stderr, "pingpong_client: connection %d: %s\n", c.id, what);
  } else if (errors_ == 11) {
    std::fprintf(stderr, "pingpong_client: (further errors not shown)\n");
  }
  if (c.fd >= 0) {
    ::close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    --alive_;
  }
}

bool Client::connect_all() {
  bench::Address address;
  if (!bench::resolve("pingpong_client", o_.host, o_.port, address)) return false;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  int last_err = 0;
  bool ok = true;
  conns_.resize(static_cast<std::size_t>(o_.connections));
  for (int i = 0; i < o_.connections && ok; ++i) {
    Conn& c = conns_[static_cast<std::size_t>(i)];
    c.id = i;
    c.fd = bench::connect_until(address, deadline, last_err);
    if (c.fd < 0) {
      ok = false;
      break;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) < 0) { last_err = errno; ok = false; break; }
    ++alive_;
  }
  if (!ok) {
    std::fprintf(stderr, "pingpong_client: cannot connect to %s port %d (%d of %d connected after up to 5 s): %s\n",
                 o_.host.c_str(), o_.port, alive_, o_.connections, std::strerror(last_err));
  }
  return ok;
}

bool Client::set_out(Conn& c, bool want) {
  if (c.want_out == want) return true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
  ev.data.u32 = static_cast<std::uint32_t>(c.id);
  if (::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
    fail(c, "epoll_ctl", errno);
    return false;
  }
  c.want_out = want;
  return true;
}

bool Client::start_block(Conn& c) {
  c.sent = c.rcvd = 0;
  c.head = head_stamp(c.id, c.seq);
  c.tail = tail_stamp(c.id, c.seq);
  return flush(c);
}

// Writes as much of the current block as the socket takes: [head][pattern 1..n-2][tail].
bool Client::flush(Conn& c) {
  const std::size_t n = o_.block;
  while (c.sent < n) {
    iovec iov[3];
    int cnt = 0;
    std::size_t off = c.sent;
    if (off == 0) {
      iov[cnt++] = {&c.head, 1};
      off = 1;
    }
    if (off < n - 1) {  // only when n > 2
      iov[cnt++] = {pattern_.data() + off, n - 1 - off};
      off = n - 1;
    }
    if (n > 1 && off == n - 1) iov[cnt++] = {&c.tail, 1};
    ssize_t w = ::writev(c.fd, iov, cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return set_out(c, true);
      fail(c, "write", errno);
      return false;
    }
    c.sent += static_cast<std::size_t>(w);
  }
  return set_out(c, false);
}

bool Client::check_chunk(Conn& c, const std::uint8_t* p, std::size_t n) {
  const std::size_t first = c.rcvd, last = c.rcvd + n - 1, end = o_.block - 1;
  auto expected = [&](std::size_t i) { return i == 0 ? c.head : i == end ? c.tail : pattern_[i]; };
  if (p[0] == expected(first) && p[n - 1] == expected(last)) return true;
  char msg[160];
  std::snprintf(msg, sizeof msg, "echo content mismatch in block %llu at offsets %zu..%zu",
                static_cast<unsigned long long>(c.seq), first, last);
  fail(c, msg, 0);
  return false;
}

bool Client::on_readable(Conn& c) {
  for (;;) {
    if (c.idle) {  // nothing is outstanding: any data here is unexpected
      std::uint8_t extra;
      ssize_t r = ::read(c.fd, &extra, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) return true;
      fail(c, r > 0 ? "server sent data that was not requested" : r == 0 ? "server closed the connection" : "read",
           r < 0 ? errno : 0);
      return false;
    }
    const std::size_t want = std::min(o_.block - c.rcvd, rbuf_.size());
    ssize_t r = ::read(c.fd, rbuf_.data(), want);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      fail(c, "read", errno);
      return false;
    }
    if (r == 0) {
      fail(c, "server closed the connection", 0);
      return false;
    }
    const auto n = static_cast<std::size_t>(r);
    if (c.rcvd + n > c.sent) {
      fail(c, "received more bytes than were sent", 0);
      return false;
    }
    if (!check_chunk(c, rbuf_.data(), n)) return false;
    c.rcvd += n;
    if (measuring_) bytes_ += n;
    if (c.rcvd < o_.block) {
      // Level-triggered: a short read means the rest has not arrived yet, so do not
      // spend a read() on EAGAIN; epoll reports the socket again when more comes.
      if (n < want) return true;
      continue;
    }
    if (measuring_) ++msgs_, ++c.measured_msgs;
    ++c.seq;
    if (draining_) {
      c.idle = true;
      return true;
    }
    return start_block(c);
  }
}

int Client::run() {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) { std::perror("pingpong_client: epoll_create1"); return 1; }
  if (!connect_all()) return 1;

  const auto t_start = Clock::now();
  const auto warm_end = t_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.warmup));
  const auto meas_end = warm_end + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.seconds));
  const auto drain_end = meas_end + std::chrono::seconds(1);
  Clock::time_point t0 = t_start, t1 = t_start;

  for (auto& c : conns_) start_block(c);

  std::vector<epoll_event> evs(static_cast<std::size_t>(o_.connections));
  measuring_ = o_.warmup <= 0;
  if (measuring_ && o_.mark) std::fputs("MARK measure-start\n", stdout), std::fflush(stdout);
  int outstanding = 0;
  for (;;) {
    auto now = Clock::now();
    if (!measuring_ && !draining_ && now >= warm_end) {
      measuring_ = true;
      t0 = now;
      if (o_.mark) std::fputs("MARK measure-start\n", stdout), std::fflush(stdout);
    }
    if (measuring_ && now >= meas_end) {
      measuring_ = false;
      draining_ = true;
      t1 = now;
      if (o_.mark) std::fputs("MARK measure-end\n", stdout), std::fflush(stdout);
    }
    if (draining_) {
      outstanding = 0;
      for (auto& c : conns_) outstanding += (c.fd >= 0 && !c.idle);
      if (outstanding == 0 || now >= drain_end) break;
    }
    if (alive_ == 0) break;

    const auto next = draining_ ? drain_end : measuring_ ? meas_end : warm_end;
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), static_cast<int>(std::max<long long>(wait_ms, 0)));
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("pingpong_client: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[evs[i].data.u32];
      if (c.fd < 0) continue;
      const std::uint32_t e = evs[i].events;
      if ((e & EPOLLOUT) && !flush(c)) continue;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  if (!draining_) t1 = Clock::now();  // every connection failed before the end
  if (outstanding > 0) {
    std::fprintf(stderr, "pingpong_client: warning: %d connections still had a block in flight 1 s after the end\n",
                 outstanding);
  }
  for (auto& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep_);

  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double mib_s = secs > 0 ? static_cast<double>(bytes_) / (1024.0 * 1024.0) / secs : 0.0;
  const double msgs_s = secs > 0 ? static_cast<double>(msgs_) / secs : 0.0;
  std::uint64_t min_msgs = UINT64_MAX, max_msgs = 0;
  for (auto& c : conns_) {
    min_msgs = std::min(min_msgs, c.measured_msgs);
    max_msgs = std::max(max_msgs, c.measured_msgs);
  }
  std::printf("pingpong %s:%d: %d connections x %zu B, %.2f s measured: %.1f MiB/s, %.0f msgs/s "
              "(per connection %llu..%llu blocks), errors=%d\n",
              o_.host.c_str(), o_.port, o_.connections, o_.block, secs, mib_s, msgs_s,
              static_cast<unsigned long long>(min_msgs), static_cast<unsigned long long>(max_msgs), errors_);
  std::printf("RESULT connections=%d block=%zu seconds=%.2f bytes=%llu mib_per_s=%.2f msgs_per_s=%.1f errors=%d\n",
              o_.connections, o_.block, secs, static_cast<unsigned long long>(bytes_), mib_s, msgs_s, errors_);
  std::fflush(stdout);
  if (errors_ > 0) return 1;
  if (bytes_ == 0) {
    std::fprintf(stderr, "pingpong_client: no data was echoed during the measured interval\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) < 0) {
      std::fprintf(stderr, "pingpong_client: cannot pin to CPU %d: %s\n", o.cpu, std::strerror(errno));
      return 1;
    }
  }
  Client client(o);
  return client.run();
}
