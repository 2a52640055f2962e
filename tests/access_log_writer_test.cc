// AccessLogWriter (apps/httpd): the Combined Log Format line, and a full queue that drops and
// counts lines instead of blocking the thread that records them.
#include "access_log_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace {

using tern::apps::AccessLogWriter;

tern::http::AccessEntry entry(const tern::InetAddress& remote, std::string_view request_line,
                              uint64_t bytes, std::string_view agent) {
  return tern::http::AccessEntry{remote, request_line, 200, bytes, "", agent};
}

TEST(AccessLogWriterTest, FormatsTheCombinedLogFormat) {
  auto remote = tern::InetAddress::parse("192.0.2.7", 40000).value();
  tern::http::AccessEntry e{remote, "GET /a HTTP/1.1", 404, 12, "http://r/", "curl/8"};
  std::string line = AccessLogWriter::format(e, 0);
  EXPECT_EQ(line.rfind("192.0.2.7 - - [", 0), 0u) << line;
  EXPECT_TRUE(line.ends_with("] \"GET /a HTTP/1.1\" 404 12 \"http://r/\" \"curl/8\"\n")) << line;
}

TEST(AccessLogWriterTest, EscapesWhatCouldForgeALineAndDashesWhatIsMissing) {
  auto remote = tern::InetAddress::loopback_v4(1);
  std::string line = AccessLogWriter::format(entry(remote, "GET /\"x\\ HTTP/1.1", 0,
                                                   "a\nb\x7f"), 0);
  EXPECT_TRUE(line.ends_with("\"GET /\\x22x\\x5C HTTP/1.1\" 200 - \"-\" \"a\\x0Ab\\x7F\"\n"))
      << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
}

// The file is a pipe that nobody reads, already full: the writer thread blocks in its first
// write, and the queue (2 lines) fills. record() must neither block nor lose count.
TEST(AccessLogWriterTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  std::string filler(65536, 'x');
  while (::write(pipe_fds[1], filler.data(), filler.size()) > 0) {
  }
  // The writer's own descriptor (opened through /proc) is blocking: it waits for room.
  std::string path = "/proc/self/fd/" + std::to_string(pipe_fds[1]);
  std::thread drain;
  {
    AccessLogWriter writer(/*capacity=*/2);
    ASSERT_FALSE(writer.open(path));
    ::close(pipe_fds[1]);  // the writer has its own descriptor of the pipe
    auto remote = tern::InetAddress::loopback_v4(1);
    for (int i = 0; i < 10; ++i) writer.record(entry(remote, "GET / HTTP/1.1", 1, "t"));
    // The writer holds at most one batch (a queue's worth: 2 lines), and the queue 2 more.
    EXPECT_GE(writer.dropped(), 6u);
    EXPECT_LE(writer.dropped(), 8u);
    uint64_t dropped = writer.dropped();
    writer.disable();
    writer.record(entry(remote, "GET / HTTP/1.1", 1, "t"));
    EXPECT_EQ(writer.dropped(), dropped) << "a disabled log neither queues nor counts";
    // Read the pipe so the writer can finish: its destructor flushes what it kept, then
    // closes the last write end, and the reader sees EOF.
    ::fcntl(pipe_fds[0], F_SETFL, 0);
    drain = std::thread([fd = pipe_fds[0]] {
      char buffer[65536];
      while (::read(fd, buffer, sizeof buffer) > 0) {
      }
    });
  }
  drain.join();
  ::close(pipe_fds[0]);
}

}  // namespace
