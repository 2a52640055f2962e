// tern-httpd as a black box: the real binary runs as a child process, parameterised over the
// concurrency models and backends, and is driven by real clients (curl, wrk) and raw loopback
// sockets. Every wait is bounded and synchronised on a condition (a line the server prints, a
// byte or EOF on a socket, a socket's state in /proc/net/tcp); every child is reaped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"
#include "loopback_client.h"
#include "program_under_test.h"
#include "temp_dir.h"
#include "test_support.h"

#ifndef TERN_HTTPD_PATH
#error "TERN_HTTPD_PATH must name the tern-httpd binary"
#endif

namespace {

using namespace std::chrono_literals;
using tern::test::ChildProcess;
using tern::test::CommandResult;
using tern::test::read_file;
using tern::test::run_command;
using tern::test::TempDir;
using tern::test::write_file;

constexpr auto kStartTimeout = 15s;  // until the "listening on" line
constexpr auto kExitTimeout = 30s;   // until a signalled child has exited
constexpr auto kClientTimeout = 30s;  // a curl or wrk run
constexpr size_t kBigFileSize = 8 << 20;  // more than the socket buffers of both ends hold

const char* httpd_path() {
  const char* override_path = std::getenv("TERN_HTTPD_UNDER_TEST");
  return override_path && *override_path ? override_path : TERN_HTTPD_PATH;
}

// ---------------------------------------------------------------------------------------------
// Files


constexpr std::string_view kHello = "hello, tern\n";

std::string css_text() {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "p.rule" + std::to_string(i) + " { margin: 0; }\n";
  return text;
}

std::string big_bytes() {
  std::string bytes(kBigFileSize, '\0');
  uint32_t x = 2463534242u;
  for (char& c : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return bytes;
}

// The site every row serves: a few files and a gzip sibling made by the real gzip. Made once
// for the whole program (ctest runs each test in a process of its own).
const TempDir& site() {
  static const TempDir* dir = [] {
    auto* made = new TempDir;  // lives to the end of the program; removed by atexit
    write_file(*made / "hello.txt", kHello);
    write_file(*made / "index.html", "<!doctype html><title>t</title><p>index\n");
    write_file(*made / "style.css", css_text());
    write_file(*made / "which.txt", "A\n");
    CommandResult gzip = run_command("gzip", {"-kn9", *made / "style.css"}, kClientTimeout);
    if (!gzip.status.exited_with(0)) std::fprintf(stderr, "gzip failed: %s\n", gzip.err.c_str());
    std::atexit([] { delete dir; });
    return made;
  }();
  return *dir;
}

// Adds big.bin to the site (only the tests that need it pay for writing it) and returns its
// bytes.
const std::string& big_file() {
  static const std::string bytes = [] {
    std::string made = big_bytes();
    write_file(site() / "big.bin", made);
    return made;
  }();
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP over a blocking socket (SO_RCVTIMEO bounds every read)

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and fields, up to the blank line
  std::string body;
  bool complete = false;

  std::optional<std::string> field(std::string_view name) const {
    std::string lower_head = lower(head);
    std::string key = "\r\n" + lower(std::string(name)) + ":";
    size_t at = lower_head.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t start = at + key.size();
    size_t end = head.find("\r\n", start);
    std::string value = head.substr(start, end - start);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    return value;
  }
  static std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
};

// An HTTP client over a LoopbackClient, every read bounded by its 20 s timeout.
class RawClient {
 public:
  explicit RawClient(uint16_t port, int receive_buffer = 0)
      : socket_(port, 20s, receive_buffer) {}

  bool connected() const { return socket_.connected(); }
  int fd() const { return socket_.fd(); }
  uint16_t local_port() const { return socket_.local_port(); }
  bool send_all(std::string_view data) { return socket_.send_all(data); }

  // Reads one response (the body by Content-Length; none for HEAD, 1xx, 204, 304).
  HttpResponse read_response(bool head_request = false) {
    HttpResponse response;
    size_t end;
    while ((end = input_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return response;
    }
    response.head = input_.substr(0, end + 2);
    input_.erase(0, end + 4);
    response.status = std::atoi(response.head.c_str() + 9);
    size_t length = 0;
    if (auto field = response.field("content-length")) length = std::stoull(*field);
    bool bodiless = head_request || response.status == 304 || response.status == 204 ||
                    response.status < 200;
    if (bodiless) length = 0;
    while (input_.size() < length) {
      if (!read_more()) return response;
    }
    response.body = input_.substr(0, length);
    input_.erase(0, length);
    response.complete = true;
    return response;
  }

  // Everything up to EOF (or an error: reset, timeout); true if it ended with EOF.
  bool read_to_eof(std::string& got) {
    got = std::move(input_);
    input_.clear();
    return socket_.receive_to_eof(got);
  }

  // Reads up to `n` bytes of the stream into the internal buffer.
  bool read_more() {
    char buffer[65536];
    for (;;) {
      ssize_t n = ::recv(socket_.fd(), buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      input_.append(buffer, static_cast<size_t>(n));
      return true;
    }
  }
  std::string& input() { return input_; }

 private:
  tern::test::LoopbackClient socket_;
  std::string input_;
};

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

// The TCP state (/proc/net/tcp "st", 0x01 established) of the IPv4 socket bound to
// 127.0.0.1:`local` and connected to 127.0.0.1:`remote`; -1 when there is none.
int tcp_state(uint16_t local, uint16_t remote) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  char wanted_local[32];
  char wanted_remote[32];
  std::snprintf(wanted_local, sizeof wanted_local, "0100007F:%04X", local);
  std::snprintf(wanted_remote, sizeof wanted_remote, "0100007F:%04X", remote);
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state;
    fields >> slot >> local_address >> remote_address >> state;
    if (local_address == wanted_local && remote_address == wanted_remote) {
      return static_cast<int>(std::strtol(state.c_str(), nullptr, 16));
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The matrix

struct Row {
  const char* name;
  const char* model;
  const char* pattern;  // "" for the backend's own
  const char* backend;
  int threads;
  int workers;
};

const Row kRows[] = {
    {"single_epoll", "single", "", "epoll", 1, 0},
    {"single_epoll_et", "single", "", "epoll-et", 1, 0},
    {"single_poll", "single", "", "poll", 1, 0},
    {"single_uring", "single", "", "uring", 1, 0},
    {"single_reactor_epoll", "single", "reactor", "epoll", 1, 0},
    {"loops_epoll", "loops", "", "epoll", 2, 0},
    {"loops_uring", "loops", "", "uring", 2, 0},
    {"hsha_epoll", "hsha", "", "epoll", 1, 2},
    {"lf_epoll", "lf", "", "epoll", 2, 0},
};

void PrintTo(const Row& row, std::ostream* out) { *out << row.name; }

std::vector<std::string> row_args(const Row& row) {
  std::vector<std::string> args = {"--host", "127.0.0.1", "--port", "0", "--backend",
                                   row.backend, "--model", row.model, "--strict",
                                   "--threads", std::to_string(row.threads), "--workers",
                                   std::to_string(row.workers)};
  if (*row.pattern != '\0') {
    args.push_back("--pattern");
    args.push_back(row.pattern);
  }
  return args;
}

// A running tern-httpd (ProgramUnderTest: ends with SIGTERM, exit 0, no sanitizer report).
class Httpd {
 public:
  // Starts it with `args`; check started() (and failure()) before use.
  explicit Httpd(const std::vector<std::string>& args)
      : program_(httpd_path(), args, kStartTimeout, kExitTimeout) {}
  Httpd(const Httpd&) = delete;
  Httpd& operator=(const Httpd&) = delete;

  bool started() const { return program_.started(); }
  const std::string& failure() const { return program_.failure(); }
  const std::string& listening_line() const { return program_.listening_line(); }
  uint16_t port() const { return program_.port(); }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  ChildProcess& child() { return program_.child(); }

 private:
  tern::test::ProgramUnderTest program_;
};

CommandResult curl(std::vector<std::string> args) {
  args.insert(args.begin(), {"--silent", "--show-error", "--max-time", "20"});
  return run_command("curl", args, kClientTimeout);
}

class HttpdTest : public testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    if (auto why = tern::test::backend_unavailable(
            *tern::parse_backend_kind(GetParam().backend))) {
      GTEST_SKIP() << *why;
    }
  }

  // Starts tern-httpd on this row, serving the test site, with `extra` flags.
  std::unique_ptr<Httpd> start(std::vector<std::string> extra = {},
                               bool with_root = true) {
    std::vector<std::string> args = row_args(GetParam());
    if (with_root) {
      args.push_back("--root");
      args.push_back(site().path().string());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = std::make_unique<Httpd>(args);
    EXPECT_TRUE(server->started()) << server->failure();
    return server;
  }
};

std::string row_name(const testing::TestParamInfo<Row>& info) { return info.param.name; }

TEST_P(HttpdTest, PrintsWhatItServesWith) {
  auto server = start();
  ASSERT_TRUE(server->started());
  const Row& row = GetParam();
  EXPECT_NE(server->listening_line().find("backend " + std::string(row.backend) + ","),
            std::string::npos)
      << server->listening_line();
  EXPECT_NE(server->listening_line().find("model " + std::string(row.model)), std::string::npos);
}

TEST_P(HttpdTest, ServesTheTechEmpowerEndpoints) {
  auto server = start();
  ASSERT_TRUE(server->started());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/plaintext") + get("/json")));
  HttpResponse plaintext = client.read_response();
  ASSERT_TRUE(plaintext.complete) << plaintext.head;
  EXPECT_EQ(plaintext.status, 200);
  EXPECT_EQ(plaintext.body, "Hello, World!");
  EXPECT_EQ(plaintext.field("content-type"), "text/plain");
  EXPECT_EQ(plaintext.field("server"), "tern");
  EXPECT_TRUE(plaintext.field("date").has_value());
  HttpResponse json = client.read_response();
  ASSERT_TRUE(json.complete) << json.head;
  EXPECT_EQ(json.body, R"({"message":"Hello, World!"})");
  EXPECT_EQ(json.field("content-type"), "application/json");
}

TEST_P(HttpdTest, CurlReusesTheConnectionForTwoUrls) {
  auto server = start();
  ASSERT_TRUE(server->started());
  CommandResult result = curl({"-v", server->url("/hello.txt"), server->url("/")});
  ASSERT_TRUE(result.status.exited_with(0)) << result.status.describe() << result.err;
  EXPECT_NE(result.err.find("Re-using existing connection"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, std::string(kHello) + read_file(site() / "index.html"));
}

TEST_P(HttpdTest, CurlGetsARange) {
  auto server = start();
  ASSERT_TRUE(server->started());
  CommandResult result = curl({"-i", "-r", "7-10", server->url("/hello.txt")});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  EXPECT_EQ(result.out.rfind("HTTP/1.1 206", 0), 0u) << result.out;
  EXPECT_NE(result.out.find("Content-Range: bytes 7-10/12\r\n"), std::string::npos) << result.out;
  EXPECT_TRUE(result.out.ends_with("\r\n\r\ntern")) << result.out;
}

TEST_P(HttpdTest, CurlGets304ForAMatchingETag) {
  auto server = start();
  ASSERT_TRUE(server->started());
  CommandResult first = curl({"-I", server->url("/hello.txt")});
  ASSERT_TRUE(first.status.exited_with(0)) << first.err;
  size_t at = first.out.find("ETag: ");
  ASSERT_NE(at, std::string::npos) << first.out;
  std::string etag = first.out.substr(at + 6, first.out.find("\r\n", at) - at - 6);
  CommandResult second = curl({"-i", "-H", "If-None-Match: " + etag, server->url("/hello.txt")});
  ASSERT_TRUE(second.status.exited_with(0)) << second.err;
  EXPECT_EQ(second.out.rfind("HTTP/1.1 304", 0), 0u) << second.out;
  EXPECT_TRUE(second.out.ends_with("\r\n\r\n")) << "a 304 has no body: " << second.out;
}

TEST_P(HttpdTest, CurlGetsTheGzipSiblingWhenItAcceptsGzip) {
  auto server = start();
  ASSERT_TRUE(server->started());
  ASSERT_TRUE(std::filesystem::exists(site() / "style.css.gz"));
  CommandResult result = curl({"--compressed", "-D", "-", server->url("/style.css")});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  EXPECT_NE(result.out.find("Content-Encoding: gzip\r\n"), std::string::npos) << result.out;
  size_t body = result.out.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(result.out.substr(body + 4), css_text()) << "curl decompressed what it got";
  // Without Accept-Encoding: the file itself.
  CommandResult plain = curl({"-D", "-", server->url("/style.css")});
  EXPECT_EQ(plain.out.find("Content-Encoding"), std::string::npos) << plain.out;
  EXPECT_TRUE(plain.out.ends_with(css_text()));
}

TEST_P(HttpdTest, CurlHeadGetsTheFieldsOfAGet) {
  auto server = start();
  ASSERT_TRUE(server->started());
  CommandResult result = curl({"-I", server->url("/hello.txt")});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  EXPECT_EQ(result.out.rfind("HTTP/1.1 200", 0), 0u) << result.out;
  EXPECT_NE(result.out.find("Content-Length: 12\r\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Content-Type: text/plain"), std::string::npos) << result.out;
}

TEST_P(HttpdTest, AnswersThreePipelinedRequestsInOrder) {
  auto server = start();
  ASSERT_TRUE(server->started());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  std::string three = get("/hello.txt") + "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n" +
                      get("/plaintext");
  ASSERT_TRUE(client.send_all(three));  // one write
  HttpResponse first = client.read_response();
  HttpResponse second = client.read_response(/*head_request=*/true);
  HttpResponse third = client.read_response();
  ASSERT_TRUE(first.complete && second.complete && third.complete);
  EXPECT_EQ(first.body, kHello);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.field("content-length"), "12");
  EXPECT_EQ(third.body, "Hello, World!") << "the HEAD response carried no body";
  EXPECT_TRUE(client.input().empty());
}

TEST_P(HttpdTest, AnswersAMalformedRequestWith400AndCloses) {
  auto server = start();
  ASSERT_TRUE(server->started());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  // A space before the colon, then a good request that must never be answered.
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost : t\r\n\r\n" + get("/plaintext")));
  std::string got;
  EXPECT_TRUE(client.read_to_eof(got)) << "the connection ends with EOF, not a reset";
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << "one response only: " << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
}

TEST_P(HttpdTest, ClosesAConnectionAfterMaxRequests) {
  auto server = start({"--max-requests", "2"});
  ASSERT_TRUE(server->started());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/plaintext") + get("/plaintext") + get("/plaintext")));
  HttpResponse first = client.read_response();
  HttpResponse second = client.read_response();
  ASSERT_TRUE(first.complete && second.complete);
  EXPECT_NE(first.field("connection"), "close");
  EXPECT_EQ(second.field("connection"), "close");
  std::string rest;
  EXPECT_TRUE(client.read_to_eof(rest));
  EXPECT_EQ(rest, "") << "the third request is not answered";
}

// Slowloris: a header that keeps trickling in, one byte each time 100 ms pass without an
// answer. The header deadline is a total (300 ms), not reset per byte, so the server answers
// 408 and closes long before the 200 bytes run out; a per-byte timeout never would.
TEST_P(HttpdTest, SlowHeaderGets408AndClose) {
  auto server = start({"--header-timeout-ms", "300"});
  ASSERT_TRUE(server->started());
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: "));
  bool answered = false;
  for (int byte = 0; byte < 200 && !answered; ++byte) {
    pollfd p{client.fd(), POLLIN, 0};
    answered = ::poll(&p, 1, 100) == 1;
    if (!answered) {
      ASSERT_TRUE(client.send_all("a")) << "closed without an answer";
    }
  }
  ASSERT_TRUE(answered) << "no answer while 200 bytes trickled in";
  std::string got;
  EXPECT_TRUE(client.read_to_eof(got));
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
}

// A client that stops reading a big response: once the server's output makes no progress for
// the write timeout it closes the connection, and the client, reading at last, gets less than
// the whole file and then the end of the stream.
TEST_P(HttpdTest, ClosesAConnectionWhoseReaderStopped) {
  big_file();
  auto server = start({"--write-timeout-ms", "300"});
  ASSERT_TRUE(server->started());
  RawClient client(server->port(), /*receive_buffer=*/16 * 1024);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/big.bin")));
  // The server's end of this connection leaves ESTABLISHED when it closes it.
  uint16_t local = client.local_port();
  EXPECT_TRUE(tern::test::wait_until(
      [&] { return tcp_state(server->port(), local) != 0x01; }, 30s))
      << "the server kept the connection of a client that does not read";
  std::string got;
  client.read_to_eof(got);  // EOF, or a reset once the server's orphaned socket gives up
  EXPECT_LT(got.size(), kBigFileSize);
}

// SIGTERM while a big response is half sent: the response completes, byte for byte; an idle
// keep-alive connection is closed; the server exits 0.
TEST_P(HttpdTest, GracefulShutdownFinishesTheResponseInFlight) {
  const std::string& expected = big_file();
  auto server = start({"--drain-ms", "30000"});
  ASSERT_TRUE(server->started());
  RawClient idle(server->port());
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.send_all(get("/plaintext")));
  ASSERT_TRUE(idle.read_response().complete);

  RawClient reader(server->port(), /*receive_buffer=*/16 * 1024);
  ASSERT_TRUE(reader.connected());
  ASSERT_TRUE(reader.send_all(get("/big.bin")));
  while (reader.input().find("\r\n\r\n") == std::string::npos) ASSERT_TRUE(reader.read_more());
  ASSERT_TRUE(server->child().send_signal(SIGTERM));

  std::string rest;
  EXPECT_TRUE(idle.read_to_eof(rest)) << "the idle keep-alive connection is closed";
  EXPECT_EQ(rest, "");
  HttpResponse big = reader.read_response();
  ASSERT_TRUE(big.complete) << "the response in flight was cut at " << big.body.size();
  EXPECT_TRUE(big.body == expected) << "the body differs";
  tern::test::ExitStatus status = server->child().wait(kExitTimeout);
  EXPECT_TRUE(status.exited_with(0)) << status.describe() << server->child().stderr_text();
}

// SIGHUP: a good file changes the root (and says which of its changes need a restart); a bad
// one leaves the running config alone and says where it is wrong.
TEST_P(HttpdTest, SighupReloadsAGoodFileAndKeepsTheConfigOnABadOne) {
  TempDir other;
  write_file(other / "which.txt", "B\n");
  TempDir config_dir;
  std::string config = config_dir / "httpd.toml";
  write_file(config, "[site]\nroot = \"" + site().path().string() + "\"\n");
  auto server = start({"--config", config}, /*with_root=*/false);
  ASSERT_TRUE(server->started());
  auto which = [&] { return curl({server->url("/which.txt")}).out; };
  EXPECT_EQ(which(), "A\n");

  write_file(config, "[site]\nroot = \"" + other.path().string() +
                         "\"\n[http]\nmax_headers = 7\n");
  ASSERT_TRUE(server->child().send_signal(SIGHUP));
  ASSERT_TRUE(server->child().wait_for_stderr("SIGHUP: configuration reloaded", 20s))
      << server->child().stderr_text();
  EXPECT_NE(server->child().stderr_text().find("http.max_headers changed: it needs a restart"),
            std::string::npos)
      << server->child().stderr_text();
  EXPECT_EQ(which(), "B\n");

  write_file(config, "[site]\nroot = \"" + site().path().string() + "\"\nrooot = \"/\"\n");
  ASSERT_TRUE(server->child().send_signal(SIGHUP));
  ASSERT_TRUE(server->child().wait_for_stderr("SIGHUP: reload failed", 20s))
      << server->child().stderr_text();
  EXPECT_NE(server->child().stderr_text().find(config + ":3:1: site.rooot: unknown key"),
            std::string::npos)
      << server->child().stderr_text();
  EXPECT_EQ(which(), "B\n") << "a bad file changes nothing";
}

// The access log, in the Combined Log Format, written by its own thread; SIGUSR1 reopens it
// after a rotation renamed it.
TEST_P(HttpdTest, WritesTheAccessLogAndReopensItOnSigusr1) {
  TempDir logs;
  std::string path = logs / "access.log";
  auto server = start({"--access-log", path});
  ASSERT_TRUE(server->started());
  CommandResult result =
      curl({"-A", "test \"agent\"", "-e", "http://ref/", server->url("/hello.txt")});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  const std::string line_end =
      "] \"GET /hello.txt HTTP/1.1\" 200 12 \"http://ref/\" \"test \\x22agent\\x22\"\n";
  EXPECT_TRUE(tern::test::wait_until(
      [&] { return read_file(path).find(line_end) != std::string::npos; }, 20s))
      << read_file(path);
  EXPECT_EQ(read_file(path).rfind("127.0.0.1 - - [", 0), 0u) << read_file(path);

  std::filesystem::rename(path, logs / "access.log.1");
  ASSERT_TRUE(server->child().send_signal(SIGUSR1));
  ASSERT_TRUE(server->child().wait_for_stderr("SIGUSR1: log file reopened", 20s))
      << server->child().stderr_text();
  ASSERT_TRUE(curl({server->url("/plaintext")}).status.exited_with(0));
  EXPECT_TRUE(tern::test::wait_until(
      [&] { return read_file(path).find("\"GET /plaintext HTTP/1.1\" 200 13") !=
                   std::string::npos; }, 20s))
      << "new lines go to a new file at the old path";
  EXPECT_EQ(read_file(logs / "access.log.1").find("/plaintext"), std::string::npos);
}

// wrk for two seconds: no socket errors, every response 2xx.
TEST_P(HttpdTest, WrkSmokeRunHasNoErrors) {
  if (!tern::test::find_program("wrk")) GTEST_SKIP() << "wrk is not installed (install-deps)";
  auto server = start();
  ASSERT_TRUE(server->started());
  CommandResult result = run_command(
      "wrk", {"-t1", "-c16", "-d2s", "--timeout", "5s", server->url("/plaintext")}, 60s);
  ASSERT_TRUE(result.status.exited_with(0)) << result.status.describe() << result.err;
  EXPECT_NE(result.out.find("Requests/sec:"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("Socket errors"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("Non-2xx"), std::string::npos) << result.out;
  ASSERT_TRUE(server->child().send_signal(SIGTERM));
  EXPECT_TRUE(server->child().wait(kExitTimeout).exited_with(0));
}

INSTANTIATE_TEST_SUITE_P(Matrix, HttpdTest, testing::ValuesIn(kRows), row_name);

// ---------------------------------------------------------------------------------------------
// The command line and the config file (no server needed: they fail before it starts)

CommandResult run_httpd(const std::vector<std::string>& args) {
  return run_command(httpd_path(), args, kExitTimeout);
}

TEST(HttpdConfigTest, HelpListsEveryOption) {
  CommandResult result = run_httpd({"--help"});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  for (const char* flag :
       {"--config", "--host", "--port", "--root", "--index", "--gzip-siblings", "--file-cache",
        "--endpoints", "--server-name", "--header-timeout-ms", "--body-timeout-ms",
        "--idle-timeout-ms", "--write-timeout-ms", "--max-request-line", "--max-header-bytes",
        "--max-headers", "--max-body", "--max-requests", "--access-log", "--log-file",
        "--log-level", "--backend", "--model", "--pattern", "--threads", "--workers"}) {
    EXPECT_NE(result.out.find(flag), std::string::npos) << flag;
  }
}

TEST(HttpdConfigTest, UnknownKeyExits2WithFileLineAndKey) {
  TempDir dir;
  std::string config = dir / "bad.toml";
  write_file(config, "[server]\nport = 8081\n\n[site]\nindex = \"i.html\"\ngzip = true\n");
  CommandResult result = run_httpd({"--config", config});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find(config + ":6:1: site.gzip: unknown key"), std::string::npos)
      << result.err;
}

TEST(HttpdConfigTest, BadValueExits2WithFileLineAndKey) {
  TempDir dir;
  std::string config = dir / "bad.toml";
  write_file(config, "[server]\nmodel = \"threads\"\n");
  CommandResult result = run_httpd({"--config", config});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find(config + ":2:9: server.model: 'threads' is not one of"),
            std::string::npos)
      << result.err;

  write_file(config, "[http]\nheader_timeout_ms = \"10s\"\n");
  result = run_httpd({"--config", config});
  EXPECT_TRUE(result.status.exited_with(2));
  EXPECT_NE(result.err.find(config + ":2:21: http.header_timeout_ms: expected an integer"),
            std::string::npos)
      << result.err;
}

TEST(HttpdConfigTest, SyntaxErrorExits2WithItsLine) {
  TempDir dir;
  std::string config = dir / "bad.toml";
  write_file(config, "[site]\nroot = \"www\n");
  CommandResult result = run_httpd({"--config", config});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find(config + ":2:"), std::string::npos) << result.err;
}

TEST(HttpdConfigTest, FlagsOverrideTheFile) {
  TempDir dir;
  std::string config = dir / "httpd.toml";
  write_file(config, "[server]\nport = 1\n[site]\nroot = \"/nonexistent\"\n");
  // The file's port and root would fail; the flags win.
  Httpd server({"--config", config, "--port", "0", "--root", site().path().string()});
  ASSERT_TRUE(server.started()) << server.failure();
  EXPECT_EQ(curl({server.url("/which.txt")}).out, "A\n");
}

// The example in the docs is a working file.
TEST(HttpdConfigTest, ExampleConfigFileStarts) {
  Httpd server({"--config", TERN_HTTPD_EXAMPLE_CONFIG, "--port", "0", "--root",
                site().path().string()});
  ASSERT_TRUE(server.started()) << server.failure();
  EXPECT_EQ(curl({server.url("/plaintext")}).out, "Hello, World!");
}

TEST(HttpdConfigTest, MissingRootExits2) {
  CommandResult result = run_httpd({"--port", "0", "--root", "/nonexistent/www"});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find("site.root '/nonexistent/www'"), std::string::npos) << result.err;
}

TEST(HttpdConfigTest, RefusesTheBuiltInFramingFlags) {
  CommandResult result = run_httpd({"--codec", "line"});
  EXPECT_TRUE(result.status.exited_with(2));
  EXPECT_NE(result.err.find("--codec"), std::string::npos) << result.err;
}

}  // namespace
