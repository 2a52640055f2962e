// The signal policy of tern programs (docs/signals.md), checked on the real tern-echo as a child
// process under several concurrency models, and the select backend's fd limit made visible.
// Regression tests for issue 8, faults 3, 6 (select) and 7: SIGPIPE killed every configuration,
// SIGTERM with a closed stderr died on its "draining" line (-13) without answering the request
// in flight, SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 killed at once, and select reset connections on fds
// >= FD_SETSIZE without a word.
//
// Every wait is bounded; every child is reaped (SIGKILLed first if a test gave up on it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "loopback_client.h"
#include "program_under_test.h"

#ifndef TERN_ECHO_PATH
#error "TERN_ECHO_PATH must name the tern-echo binary"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartLimit = 20s;  // until "listening on" (sanitizer builds start slowly)
constexpr auto kExitLimit = 20s;   // until a draining child has exited
constexpr auto kPromptLimit = 5s;  // SIGQUIT: well below the 30 s the request in flight needs
constexpr int kClientTimeoutMs = 20000;
constexpr int kFastExitStatus = 128 + SIGQUIT;  // SignalPolicy::kFastExitStatus

// $TERN_ECHO_UNDER_TEST, when set, names another tern-echo to test (an older build, to see
// these tests fail on it).
const char* echo_path() {
  const char* other = std::getenv("TERN_ECHO_UNDER_TEST");
  return other != nullptr && *other != '\0' ? other : TERN_ECHO_PATH;
}

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

using Stderr = tern::test::StderrMode;  // captured, or reader_closed: every write gets EPIPE
using Exit = tern::test::ExitStatus;

// One tern-echo child (tests/child_process.h: its exit is awaited through a pidfd, and the
// destructor SIGKILLs and reaps a child still there).
class EchoProcess {
 public:
  // Starts tern-echo with `args` on a free port and waits for its "listening on" line.
  // `nofile`: RLIMIT_NOFILE for the child (0: inherited).
  ::testing::AssertionResult start(std::vector<std::string> args, Stderr err = Stderr::captured,
                                   rlim_t nofile = 0) {
    args.insert(args.begin(), {"--port", "0"});
    tern::test::SpawnOptions options;
    options.stderr_mode = err;
    if (nofile != 0) options.nofile = nofile;
    std::string error;
    if (!child_.spawn(echo_path(), args, error, options)) {
      return ::testing::AssertionFailure() << "cannot start " << echo_path() << ": " << error;
    }
    port_ = tern::test::read_listening_port(child_, kStartLimit);
    if (port_ == 0) {
      return ::testing::AssertionFailure()
             << "no 'listening on' line from " << echo_path() << "; stdout: "
             << child_.stdout_text() << "; stderr: " << stderr_text();
    }
    return ::testing::AssertionSuccess();
  }

  uint16_t port() const { return port_; }
  bool signal(int signo) { return child_.send_signal(signo); }

  // Waits up to `limit` for the child to exit; past it, SIGKILLs it (the Exit then says so).
  Exit wait_exit(Clock::duration limit) { return child_.wait(limit); }

  // Reads the child's stderr until it contains `text` or `limit` passes.
  bool stderr_shows(const std::string& text, Clock::duration limit) {
    return child_.wait_for_stderr(text, limit);
  }
  const std::string& stderr_text() {
    child_.read_available();
    return child_.stderr_text();
  }

 private:
  tern::test::ChildProcess child_;
  uint16_t port_ = 0;
};

// An echo client (tests/loopback_client.h): every call is bounded by its timeout.
class Client : public tern::test::LoopbackClient {
 public:
  explicit Client(uint16_t port)
      : LoopbackClient(port, std::chrono::milliseconds(kClientTimeoutMs)) {}

  bool send(const std::string& data) { return send_all(data); }
  std::string echo(const std::string& data) { return send(data) ? receive(data.size()) : ""; }

  // Bytes sent but not yet acknowledged by the server's kernel.
  int unacknowledged() const {
    int bytes = -1;
    return ::ioctl(fd(), SIOCOUTQ, &bytes) == 0 ? bytes : -1;
  }
};

// The bytes waiting in the receive queue of the server's end of the connection from
// `client_port` to `server_port`, or nullopt when there is no such socket. Asked of the kernel
// by an exact sock_diag lookup (what ss(8) uses): /proc/net/tcp would list every socket of the
// machine, tens of thousands when other suites have just run.
std::optional<long> server_receive_queue(uint16_t server_port, uint16_t client_port) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST;
  query.request.sdiag_family = AF_INET;
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = ~0u;
  query.request.id.idiag_sport = htons(server_port);  // the socket's own end
  query.request.id.idiag_dport = htons(client_port);
  query.request.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
  query.request.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
  query.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  query.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  alignas(nlmsghdr) char answer[8192];
  ssize_t n = -1;
  if (::send(fd, &query, sizeof query, 0) == static_cast<ssize_t>(sizeof query)) {
    n = ::recv(fd, answer, sizeof answer, 0);
  }
  ::close(fd);
  auto* reply = reinterpret_cast<const nlmsghdr*>(answer);
  if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(inet_diag_msg))) ||
      reply->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
    return std::nullopt;  // NLMSG_ERROR: no such socket
  }
  return static_cast<long>(static_cast<const inet_diag_msg*>(NLMSG_DATA(reply))->idiag_rqueue);
}

// Waits until the server has read all `client` sent: the server's kernel acknowledged every
// byte, and its socket's receive queue is empty. The kernel offers nothing to block on for
// that, so it is asked again, paced by a short pause (the condition, not the pause, is what
// this waits for).
bool server_has_read(const Client& client, uint16_t server_port, Clock::duration limit) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    if (client.unacknowledged() == 0) {
      auto queued = server_receive_queue(server_port, client.local_port());
      if (queued && *queued == 0) return true;
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

std::string file_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Waits until the file `name` in `dir` contains `text`: woken by inotify on the directory
// (creation, writes, renames), bounded by `limit`.
bool file_shows(const std::string& dir, const std::string& name, const std::string& text,
                Clock::duration limit) {
  int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watch < 0) return false;
  ::inotify_add_watch(watch, dir.c_str(), IN_CREATE | IN_MODIFY | IN_MOVED_TO);
  auto deadline = Clock::now() + limit;
  bool shown = false;
  for (;;) {
    shown = file_text(dir + "/" + name).find(text) != std::string::npos;  // after the watch
    if (shown || Clock::now() > deadline) break;
    pollfd p{watch, POLLIN, 0};
    if (::poll(&p, 1, ms_left(deadline)) == 1) {
      char events[4096];
      while (::read(watch, events, sizeof events) > 0) {
      }
    }
  }
  ::close(watch);
  return shown;
}

// A fresh directory for log files, removed with the files named in `files`.
struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/tern-echo-signal-XXXXXX";
    path = ::mkdtemp(pattern) ? pattern : "";
  }
  ~TempDir() {
    if (path.empty()) return;
    for (const auto& name : files) ::unlink((path + "/" + name).c_str());
    ::rmdir(path.c_str());
  }
  std::string path;
  std::vector<std::string> files;
};

// A concurrency model, as tern-echo's flags.
struct Model {
  const char* name;
  std::vector<std::string> args;
};

// gtest prints a parameter in failure messages: the name, not the bytes.
void PrintTo(const Model& model, std::ostream* out) { *out << model.name; }

const Model kModels[] = {
    {"single_emulated", {"--model", "single", "--backend", "epoll", "--pattern", "emulated"}},
    {"loops", {"--model", "loops", "--threads", "2", "--backend", "epoll"}},
    {"hsha", {"--model", "hsha", "--threads", "1", "--workers", "2", "--backend", "epoll"}},
    {"single_reactor", {"--model", "single", "--backend", "epoll", "--pattern", "reactor"}},
    {"lf", {"--model", "lf", "--threads", "2", "--backend", "epoll"}},
};

class EchoSignalTest : public ::testing::TestWithParam<Model> {
 protected:
  std::vector<std::string> args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> all = GetParam().args;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  // Sends `signo` while a request is in the handler (--work-us keeps it there), and checks
  // that the request is answered and the server exits 0 (a drain).
  void expect_drain_on(int signo, Stderr err) {
    EchoProcess server;
    ASSERT_TRUE(server.start(args({"--work-us", "300000", "--drain-ms", "15000"}), err));
    Client client(server.port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send("in flight"));
    ASSERT_TRUE(server_has_read(client, server.port(), 10s)) << "the server never read it";
    ASSERT_TRUE(server.signal(signo));
    EXPECT_EQ(client.receive(9), "in flight") << "the request in flight was not answered";
    // Gone once answered: an idle client must not be what the drain waits for (that is fault
    // 5, tested on its own).
    client.close();
    Exit exit = server.wait_exit(kExitLimit);
    EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
  }
};

TEST_P(EchoSignalTest, SigpipeDoesNotKillIt) {
  EchoProcess server;
  ASSERT_TRUE(server.start(args()));
  {
    Client before(server.port());
    ASSERT_EQ(before.echo("before"), "before");
    ASSERT_TRUE(server.signal(SIGPIPE));
    Client after(server.port());
    EXPECT_EQ(after.echo("after"), "after") << "it stopped serving after SIGPIPE";
    EXPECT_EQ(before.echo("again"), "again");
  }  // closed: the drain below has nothing to wait for
  ASSERT_TRUE(server.signal(SIGTERM));
  Exit exit = server.wait_exit(kExitLimit);
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
}

TEST_P(EchoSignalTest, SigtermWithStderrReaderGoneAnswersTheRequestInFlight) {
  expect_drain_on(SIGTERM, Stderr::reader_closed);
}

TEST_P(EchoSignalTest, SighupDrainsWithoutAConfigToReload) {
  expect_drain_on(SIGHUP, Stderr::captured);
}

TEST_P(EchoSignalTest, SigquitExitsAtOnceWithoutDraining) {
  EchoProcess server;
  // The request would keep a draining server busy for 10 s; a fast exit does not wait for it.
  ASSERT_TRUE(server.start(args({"--work-us", "10000000", "--drain-ms", "60000"})));
  Client client(server.port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send("abandoned"));
  ASSERT_TRUE(server_has_read(client, server.port(), 10s)) << "the server never read it";
  ASSERT_TRUE(server.signal(SIGQUIT));
  Exit exit = server.wait_exit(kPromptLimit);
  EXPECT_TRUE(exit.exited && exit.code == kFastExitStatus) << exit.describe();
  EXPECT_EQ(client.receive(9), "") << "a fast exit answered the request in flight";
}

TEST_P(EchoSignalTest, Sigusr2IsIgnoredWithALogLine) {
  EchoProcess server;
  ASSERT_TRUE(server.start(args()));
  ASSERT_TRUE(server.signal(SIGUSR2));
  EXPECT_TRUE(server.stderr_shows("SIGUSR2: ignored", 10s)) << server.stderr_text();
  EXPECT_EQ(Client(server.port()).echo("still here"), "still here");
  ASSERT_TRUE(server.signal(SIGTERM));
  Exit exit = server.wait_exit(kExitLimit);
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
}

INSTANTIATE_TEST_SUITE_P(echo_signal, EchoSignalTest, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<Model>& row) {
                           return std::string(row.param.name);
                         });

// Log rotation: the log is renamed, SIGUSR1 reopens the path, and the next line (SIGUSR2's)
// lands in the new file.
TEST(EchoSignalLogFile, Sigusr1ReopensTheLogFileAfterARename) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  dir.files = {"echo.log", "echo.log.1"};
  const std::string log = dir.path + "/echo.log";
  EchoProcess server;
  ASSERT_TRUE(server.start({"--log-file", log}));
  ASSERT_TRUE(server.signal(SIGUSR2));
  ASSERT_TRUE(file_shows(dir.path, "echo.log", "SIGUSR2", 10s)) << "nothing logged to the file";
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_TRUE(server.signal(SIGUSR1));
  EXPECT_TRUE(file_shows(dir.path, "echo.log", "SIGUSR1: log file reopened", 10s))
      << "no new log file; stderr: " << server.stderr_text();
  ASSERT_TRUE(server.signal(SIGUSR2));  // a line after the reopen goes to the new file
  EXPECT_TRUE(file_shows(dir.path, "echo.log", "SIGUSR2", 10s));
  ASSERT_TRUE(server.signal(SIGTERM));
  Exit exit = server.wait_exit(kExitLimit);
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
  std::string rotated = file_text(log + ".1");
  std::string fresh = file_text(log);
  EXPECT_EQ(rotated.find("reopened"), std::string::npos) << rotated;
  EXPECT_NE(fresh.find("SIGTERM: draining"), std::string::npos) << fresh;
}

// select cannot watch an fd >= FD_SETSIZE: connections that land there are closed, and the log
// must say why.
TEST(EchoSignalSelect, ConnectionsBeyondFdSetsizeAreLoggedWithTheReason) {
  constexpr int kClients = 1040;  // a dozen fds past 1023, whatever the server's own fds are
  rlimit own{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &own), 0);
  if (own.rlim_max < kClients + 64) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low here";
  if (own.rlim_cur < kClients + 64) {
    own.rlim_cur = own.rlim_max;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &own), 0);
  }
  EchoProcess server;
  ASSERT_TRUE(server.start({"--backend", "select"}, Stderr::captured, 4096));
  std::vector<Client> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(server.port());
    ASSERT_TRUE(clients.back().connected()) << "connect " << i << ": " << std::strerror(errno);
  }
  EXPECT_TRUE(server.stderr_shows("fd >= FD_SETSIZE", 20s))
      << "connections past fd 1023 dropped without a word; stderr: " << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("fds refused so far: "), std::string::npos);
  EXPECT_EQ(clients.front().echo("first"), "first") << "the first connections must still work";
  clients.clear();
  ASSERT_TRUE(server.signal(SIGTERM));
  Exit exit = server.wait_exit(kExitLimit);
  EXPECT_TRUE(exit.exited && exit.code == 0) << exit.describe();
}

}  // namespace
