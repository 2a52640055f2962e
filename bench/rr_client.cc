// rr_client: a single-threaded epoll request/response load generator for line-framed
// echo servers (tern-echo --codec line, or any server that sends each '\n'-terminated
// request back as its response).
//
// Deliberately standalone (libc + libstdc++ only, nothing from tern) so that every
// server configuration is measured by exactly the same client.  All N connections are
// opened first (at most 10 s in all, retrying while the server is still starting); then
// each keeps D requests outstanding (pipelined: a new request is sent the moment a
// response completes).  The run is bounded: connect, warm-up, measured interval, then
// at most 1 s to collect the responses still outstanding so the connections close
// cleanly (requests are no longer sent after the measured interval).
//
//   rr_client --port N [--host 127.0.0.1] [--connections 100] [--seconds 5] [--warmup 1]
//             [--size 64] [--depth 1] [--cpu K] [--mark]
//
// A request is --size bytes: size-1 printable bytes, then '\n'.  The first (up to) 16
// bytes carry the request's sequence number and connection id ("%08x:%06x:"), the rest
// a fixed printable pattern, so every response can be compared byte for byte with its
// request without keeping a copy of it.  A response that differs (content, length, or
// a line for a request not yet sent) counts as an error; so does a connection the server
// closes or resets.
//
// Latency is from the write() that carries a request's first byte to the read() that
// completes its response line, recorded only for responses completing inside the
// measured interval, in a fixed log-linear histogram (64 linear sub-buckets per power
// of two of nanoseconds: percentiles are within 1.6%; nothing is allocated per request).
//
// Output (stdout), one line:
//   requests=N rps=X p50_us=Y p99_us=Z errors=E
// With --mark it also prints (and flushes) "mark start" / "mark end" the moment the
// measured interval begins and ends, so a harness can sample the server's CPU time over
// exactly that interval.  Diagnostics go to stderr.
// Exit status: 0 ok, 1 failure (unreachable server, errors, no request completed in the
// measured interval), 2 usage error.

#include "load_client.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
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
  double seconds = 5.0;
  double warmup = 1.0;
  std::size_t size = 64;
  int depth = 1;
  int cpu = -1;
  bool mark = false;
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rr_client: %s\n", msg);
  std::fprintf(stderr,
               "usage: rr_client --port N [--host 127.0.0.1] [--connections 100] [--seconds 5]\n"
               "                 [--warmup 1] [--size 64] [--depth 1] [--cpu K] [--mark]\n");
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
    else if (flag == "--seconds") o.seconds = parse_number<double>(flag, v);
    else if (flag == "--warmup") o.warmup = parse_number<double>(flag, v);
    else if (flag == "--size") o.size = parse_number<std::size_t>(flag, v);
    else if (flag == "--depth") o.depth = parse_number<int>(flag, v);
    else if (flag == "--cpu") o.cpu = parse_number<int>(flag, v);
    else usage(("unknown flag " + std::string(flag)).c_str());
  }
  if (o.port <= 0 || o.port > 65535) usage("--port is required (1..65535)");
  if (o.connections <= 0 || o.connections > 1000000) usage("--connections must be in 1..1000000");
  if (o.size < 1 || o.size > (std::size_t{1} << 20)) usage("--size must be in 1..1048576");
  if (o.depth < 1 || o.depth > 4096) usage("--depth must be in 1..4096");
  if (!(o.seconds > 0) || o.seconds > 86400) usage("--seconds must be in (0, 86400]");
  if (!(o.warmup >= 0) || o.warmup > 86400) usage("--warmup must be in [0, 86400]");
  return o;
}

Clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Log-linear latency histogram over nanoseconds: values below 128 ns have a bucket each;
// above, every power of two [2^e, 2^(e+1)) is split into 64 equal buckets.  Values are
// clamped to 2^40 ns (about 18 minutes).
class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kMaxBits = 40;
  static constexpr std::size_t kBuckets = std::size_t{kMaxBits - kSubBits + 1} << kSubBits;

  void add(std::uint64_t ns) {
    ns = std::min<std::uint64_t>(ns, (std::uint64_t{1} << kMaxBits) - 1);
    ++counts_[index(ns)];
    ++total_;
  }
  std::uint64_t total() const { return total_; }

  // The value (ns) at quantile q in [0, 1]: the middle of the bucket that holds the
  // ceil(q * total)-th smallest value.  0 when empty.
  double quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return midpoint(i);
    }
    return midpoint(kBuckets - 1);
  }

 private:
  static std::size_t index(std::uint64_t v) {
    const int e = 63 - std::countl_zero(v | 1);
    const int shift = std::max(0, e - kSubBits);
    return (static_cast<std::size_t>(shift) << kSubBits) + static_cast<std::size_t>(v >> shift);
  }
  static double midpoint(std::size_t i) {
    // Inverse of index(): bucket i covers [low, low + 2^shift).
    const std::size_t shift = i < (std::size_t{2} << kSubBits) ? 0 : (i >> kSubBits) - 1;
    const std::uint64_t mantissa = i - (shift << kSubBits);
    const std::uint64_t low = mantissa << shift;
    return static_cast<double>(low) + static_cast<double>((std::uint64_t{1} << shift) - 1) / 2.0;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
};

constexpr std::size_t kHeader = 16;  // "%08x:%06x:" = sequence number and connection id

struct Conn {
  int fd = -1;
  int id = 0;
  std::uint64_t issued = 0;     // requests that may be sent (responses completed + depth)
  std::uint64_t sent = 0;       // requests written completely
  std::size_t send_off = 0;     // bytes of request `sent` already written
  std::uint64_t done = 0;       // responses completed (correct or not)
  std::size_t recv_off = 0;     // bytes of the current response line received (before '\n')
  bool bad = false;             // the current response line already differs from its request
  bool want_out = false;        // EPOLLOUT registered (a write was short)
  std::array<char, kHeader> expect{};  // header of response `done`, computed once per response
};

class Client {
 public:
  explicit Client(const Options& o)
      : o_(o),
        body_(o.size),
        wbuf_(std::clamp<std::size_t>(o.size * static_cast<std::size_t>(o.depth), o.size, std::max<std::size_t>(o.size, 256 * 1024))),
        rbuf_(64 * 1024),
        sent_at_(static_cast<std::size_t>(o.connections) * static_cast<std::size_t>(o.depth)) {
    static constexpr std::string_view kChars =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=.,;!?#%&*()[]{}<>";
    for (std::size_t i = 0; i < o.size; ++i) body_[i] = kChars[(i * 7 + 3) % kChars.size()];
    body_[o.size - 1] = '\n';
    hlen_ = std::min(kHeader, o.size - 1);
  }

  int run();

 private:
  bool connect_all();
  bool flush(Conn& c, Clock::time_point now);
  bool on_readable(Conn& c);
  bool complete(Conn& c, Clock::time_point now);
  void header(const Conn& c, std::uint64_t seq, char* out) const;
  std::size_t render(const Conn& c, std::uint64_t seq, std::size_t from, char* dst, std::size_t room) const;
  void fail(Conn& c, const char* what, int err);
  void mismatch(const Conn& c);
  bool set_out(Conn& c, bool want);
  Clock::time_point& sent_at(const Conn& c, std::uint64_t seq) {
    return sent_at_[static_cast<std::size_t>(c.id) * static_cast<std::size_t>(o_.depth) +
                    static_cast<std::size_t>(seq % static_cast<std::uint64_t>(o_.depth))];
  }

  const Options& o_;
  std::vector<char> body_;   // the request bytes after the header: pattern, then '\n'
  std::size_t hlen_ = 0;     // header bytes per request (fewer than kHeader when size is small)
  std::vector<char> wbuf_;   // requests being written
  std::vector<char> rbuf_;
  std::vector<Clock::time_point> sent_at_;  // [connection][seq % depth]: first byte written
  std::vector<Conn> conns_;
  Histogram hist_;
  int ep_ = -1;
  bool measuring_ = false;
  bool draining_ = false;
  int alive_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t shown_ = 0;
};

void Client::fail(Conn& c, const char* what, int err) {
  ++errors_;
  if (++shown_ <= 10) {
    if (err) std::fprintf(stderr, "rr_client: connection %d: %s: %s\n", c.id, what, std::strerror(err));
    else std::fprintf(stderr, "rr_client: connection %d: %s\n", c.id, what);
  } else if (shown_ == 11) {
    std::fprintf(stderr, "rr_client: (further errors not shown)\n");
  }
  if (c.fd >= 0) {
    ::close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    --alive_;
  }
}

void Client::mismatch(const Conn& c) {
  ++errors_;
  if (++shown_ <= 10) {
    std::fprintf(stderr, "rr_client: connection %d: response %llu differs from its request (%zu bytes before '\\n', expected %zu)\n",
                 c.id, static_cast<unsigned long long>(c.done), c.recv_off, o_.size - 1);
  } else if (shown_ == 11) {
    std::fprintf(stderr, "rr_client: (further errors not shown)\n");
  }
}

bool Client::connect_all() {
  bench::Address address;
  if (!bench::resolve("rr_client", o_.host, o_.port, address)) return false;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
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
    std::fprintf(stderr, "rr_client: cannot connect to %s port %d (%d of %d connected after up to 10 s): %s\n",
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

void Client::header(const Conn& c, std::uint64_t seq, char* out) const {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto s = static_cast<std::uint32_t>(seq);
  const auto id = static_cast<std::uint32_t>(c.id);
  for (int i = 0; i < 8; ++i) out[i] = kHex[(s >> (28 - 4 * i)) & 0xf];
  out[8] = ':';
  for (int i = 0; i < 6; ++i) out[9 + i] = kHex[(id >> (20 - 4 * i)) & 0xf];
  out[15] = ':';
}

// Copies bytes [from, size) of request `seq` of connection c to dst (at most room bytes);
// returns the number copied.
std::size_t Client::render(const Conn& c, std::uint64_t seq, std::size_t from, char* dst, std::size_t room) const {
  std::size_t n = 0;
  if (from < hlen_) {
    char h[kHeader];
    header(c, seq, h);
    n = std::min(hlen_ - from, room);
    std::memcpy(dst, h + from, n);
    from += n;
  }
  const std::size_t m = std::min(o_.size - from, room - n);
  std::memcpy(dst + n, body_.data() + from, m);
  return n + m;
}

// Writes the requests that may be sent, as many per write() as fit in wbuf_.
bool Client::flush(Conn& c, Clock::time_point now) {
  while (c.sent < c.issued) {
    std::size_t len = 0;
    std::uint64_t seq = c.sent;
    std::size_t off = c.send_off;
    while (seq < c.issued && len < wbuf_.size()) {
      const std::size_t n = render(c, seq, off, wbuf_.data() + len, wbuf_.size() - len);
      len += n;
      off += n;
      if (off < o_.size) break;  // wbuf_ is full
      ++seq;
      off = 0;
    }
    ssize_t w = ::write(c.fd, wbuf_.data(), len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return set_out(c, true);
      fail(c, "write", errno);
      return false;
    }
    // Stamp every request whose first byte went out with this write().
    std::size_t left = static_cast<std::size_t>(w);
    while (left > 0) {
      if (c.send_off == 0) sent_at(c, c.sent) = now;
      const std::size_t take = std::min(left, o_.size - c.send_off);
      c.send_off += take;
      left -= take;
      if (c.send_off == o_.size) {
        ++c.sent;
        c.send_off = 0;
      }
    }
    if (static_cast<std::size_t>(w) < len) return set_out(c, true);
  }
  return set_out(c, false);
}

// A response line has ended: check it, record it, and let the next request go.
bool Client::complete(Conn& c, Clock::time_point now) {
  if (c.done >= c.sent) {
    fail(c, "received a response line for a request not yet sent", 0);
    return false;
  }
  if (c.bad || c.recv_off != o_.size - 1) {
    mismatch(c);
  } else if (measuring_) {
    hist_.add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_at(c, c.done)).count()));
  }
  ++c.done;
  c.recv_off = 0;
  c.bad = false;
  header(c, c.done, c.expect.data());
  if (!draining_) c.issued = c.done + static_cast<std::uint64_t>(o_.depth);
  return true;
}

bool Client::on_readable(Conn& c) {
  const std::size_t payload = o_.size - 1;
  for (;;) {
    ssize_t r = ::read(c.fd, rbuf_.data(), rbuf_.size());
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
    const auto now = Clock::now();
    const char* p = rbuf_.data();
    std::size_t n = static_cast<std::size_t>(r);
    bool completed = false;
    while (n > 0) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      const std::size_t len = nl ? static_cast<std::size_t>(nl - p) : n;
      if (!c.bad) {  // compare this segment with bytes [recv_off, recv_off + len) of the request
        if (c.recv_off + len > payload) {
          c.bad = true;
        } else {
          std::size_t i = 0;
          for (; i < len && c.recv_off + i < hlen_; ++i) c.bad |= p[i] != c.expect[c.recv_off + i];
          if (i < len) c.bad |= std::memcmp(p + i, body_.data() + c.recv_off + i, len - i) != 0;
        }
      }
      c.recv_off = std::min(c.recv_off + len, o_.size);  // saturates: only "too long" matters
      if (!nl) break;
      if (!complete(c, now)) return false;
      completed = true;
      p = nl + 1;
      n -= len + 1;
    }
    if (completed && !flush(c, now)) return false;
    // Level-triggered: a short read means the socket is empty; epoll reports it again.
    if (static_cast<std::size_t>(r) < rbuf_.size()) return true;
  }
}

int Client::run() {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) { std::perror("rr_client: epoll_create1"); return 1; }
  if (!connect_all()) return 1;

  const auto t_start = Clock::now();
  const auto warm_end = t_start + to_duration(o_.warmup);
  const auto meas_end = warm_end + to_duration(o_.seconds);
  const auto drain_end = meas_end + std::chrono::seconds(1);
  Clock::time_point t0 = t_start, t1 = t_start;

  for (auto& c : conns_) {
    header(c, 0, c.expect.data());
    c.issued = static_cast<std::uint64_t>(o_.depth);
  }
  measuring_ = o_.warmup <= 0;
  if (measuring_ && o_.mark) std::fputs("mark start\n", stdout), std::fflush(stdout);
  for (auto& c : conns_) flush(c, Clock::now());

  std::vector<epoll_event> evs(static_cast<std::size_t>(std::min(o_.connections, 1024)));
  std::uint64_t outstanding = 0;
  for (;;) {
    auto now = Clock::now();
    if (!measuring_ && !draining_ && now >= warm_end) {
      measuring_ = true;
      t0 = now;
      if (o_.mark) std::fputs("mark start\n", stdout), std::fflush(stdout);
    }
    if (measuring_ && now >= meas_end) {
      measuring_ = false;
      draining_ = true;
      t1 = now;
      if (o_.mark) std::fputs("mark end\n", stdout), std::fflush(stdout);
      // No new requests; a request partly written is finished so its response can come.
      for (auto& c : conns_) c.issued = std::max(c.done, c.sent + (c.send_off > 0 ? 1 : 0));
    }
    if (draining_) {
      outstanding = 0;
      for (auto& c : conns_) {
        if (c.fd >= 0) outstanding += c.issued - c.done;
      }
      if (outstanding == 0 || now >= drain_end) break;
    }
    if (alive_ == 0) break;

    const auto next = draining_ ? drain_end : measuring_ ? meas_end : warm_end;
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), static_cast<int>(std::max<long long>(wait_ms, 0)));
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("rr_client: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[evs[i].data.u32];
      if (c.fd < 0) continue;
      const std::uint32_t e = evs[i].events;
      if ((e & EPOLLOUT) && !flush(c, Clock::now())) continue;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  if (!draining_) {  // every connection failed before the end
    t1 = Clock::now();
    if (measuring_ && o_.mark) std::fputs("mark end\n", stdout), std::fflush(stdout);
    if (!measuring_) t0 = t1;
  }
  if (outstanding > 0) {
    std::fprintf(stderr, "rr_client: warning: %llu requests still had no response 1 s after the end\n",
                 static_cast<unsigned long long>(outstanding));
  }
  for (auto& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep_);

  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const std::uint64_t requests = hist_.total();
  const double rps = secs > 0 ? static_cast<double>(requests) / secs : 0.0;
  std::printf("requests=%llu rps=%.1f p50_us=%.1f p99_us=%.1f errors=%llu\n",
              static_cast<unsigned long long>(requests), rps, hist_.quantile(0.50) / 1000.0,
              hist_.quantile(0.99) / 1000.0, static_cast<unsigned long long>(errors_));
  std::fflush(stdout);
  if (errors_ > 0) return 1;
  if (requests == 0) {
    std::fprintf(stderr, "rr_client: no request completed during the measured interval\n");
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
      std::fprintf(stderr, "rr_client: cannot pin to CPU %d: %s\n", o.cpu, std::strerror(errno));
      return 1;
    }
  }
  Client client(o);
  return client.run();
}
