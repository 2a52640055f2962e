// TcpConnection::write_file on every backend: file ranges queued in order with byte writes,
// sent with sendfile (readiness backends) or through the connection's bounce buffer (io_uring,
// aio), counted by the write queue and the water marks, released on close, and a file
// truncated while it is being sent closing the connection.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "test_support.h"

namespace tern::test {
namespace {

// A file of `size` bytes of a fixed pattern, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(size_t size) {
    char name[] = "/tmp/tern-file-write-XXXXXX";
    int fd = ::mkstemp(name);
    path_ = name;
    std::string content = expected(0, size);
    size_t at = 0;
    while (fd >= 0 && at < content.size()) {
      ssize_t n = ::write(fd, content.data() + at, content.size() - at);
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    if (fd >= 0) ::close(fd);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

  // The file's bytes [offset, offset + length).
  static std::string expected(uint64_t offset, uint64_t length) {
    std::string bytes(length, '\0');
    for (uint64_t i = 0; i < length; ++i) {
      uint64_t at = offset + i;
      bytes[i] = static_cast<char>(((at * 2654435761u) >> 13) ^ (at >> 12));
    }
    return bytes;
  }

  FileRange range(uint64_t offset, uint64_t length) const {
    auto file = File::open_read(path_);
    EXPECT_TRUE(file.ok()) << file.error().message();
    return FileRange{std::make_shared<const File>(std::move(file).value()), offset, length};
  }

 private:
  std::string path_;
};

// A blocking client socket with a small receive buffer, so a large write cannot fit in the
// kernel's buffers and the sender must wait for the reader.
int connect_with_small_buffer(const InetAddress& address) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  int size = 32 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (::connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void shrink_send_buffer(TcpConnection& conn) {
  int size = 32 * 1024;
  ::setsockopt(conn.fd(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

struct Received {
  std::string bytes;
  bool closed = false;  // EOF or a reset, as opposed to the liveness bound running out
};

// Reads in small steps, waiting for each with poll(2), until the peer closes (or 20 s pass
// with nothing to read: a liveness bound, the failure of a test, not a measurement).
Received read_in_steps(int fd, size_t step = 16 * 1024) {
  Received got;
  std::string buffer(step, '\0');
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return got;
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      got.closed = true;
      return got;
    }
    got.bytes.append(buffer.data(), static_cast<size_t>(n));
  }
}

// A server whose connections `serve` writes to; the test reads as the peer.
struct FileServer {
  FileServer(BackendKind kind, std::function<void(TcpConnection&)> serve)
      : thread(kind, [this, serve = std::move(serve)](EventLoop& loop) {
          server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
          server->on_connection(serve);
          start_error = server->start();
          address = server->local_address();
        }) {}
  ~FileServer() {
    thread.call([this](EventLoop&) { server.reset(); });
  }
  template <class F>
  auto call(F fn) {
    return thread.call([&](EventLoop&) { return fn(); });
  }

  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;
  LoopThread thread;
};

class FileWriteTest : public BackendTest {};

// Bytes, a whole file, bytes, a range from the middle of a file, an empty range, bytes: the
// peer reads exactly these, in this order, then the FIN of a shutdown queued after them.
TEST_P(FileWriteTest, BytesAndFileRangesArriveInOrder) {
  TempFile small(100'000);
  TempFile large(3'000'000);
  auto callbacks = std::make_shared<std::vector<std::string>>();
  FileServer server(GetParam(), [&](TcpConnection& conn) {
    auto note = [callbacks](std::string what) {
      return [callbacks, what](TcpConnection&, std::error_code error) {
        callbacks->push_back(what + (error ? ":" + error.message() : ""));
      };
    };
    conn.write(std::string_view("head|"));
    conn.write_file(small.range(0, 100'000), note("small"));
    conn.write(std::string_view("|middle|"));
    conn.write_file(large.range(1'234'567, 1'500'000), note("large"));
    conn.write_file(large.range(10, 0), note("empty"));
    conn.write(std::string_view("|tail"), note("tail"));
    conn.shutdown([](TcpConnection& c, std::error_code) { c.close(); });
  });
  ASSERT_FALSE(server.start_error);
  int fd = connect_blocking(server.address);
  ASSERT_GE(fd, 0);
  Received got = read_in_steps(fd, 64 * 1024);
  ::close(fd);
  std::string expected = "head|" + TempFile::expected(0, 100'000) + "|middle|" +
                         TempFile::expected(1'234'567, 1'500'000) + "|tail";
  EXPECT_TRUE(got.closed);
  ASSERT_EQ(got.bytes.size(), expected.size());
  EXPECT_TRUE(got.bytes == expected) << "the bytes differ from the expected stream";
  server.call([&] {
    EXPECT_EQ(*callbacks, (std::vector<std::string>{"small", "large", "empty", "tail"}));
  });
}

// A 4 MiB range to a reader that takes 16 KiB at a time through small socket buffers: the
// connection waits for room again and again and the range arrives whole. The write queue and
// the water marks count the file's bytes; when_drained runs once they are all out.
TEST_P(FileWriteTest, FourMiBRangeReachesASlowReaderWhole) {
  constexpr uint64_t kLength = 4 << 20;
  TempFile file(kLength + 4096);
  struct Seen {
    size_t queued_after_file = 0;
    int highs = 0;
    int lows = 0;
    bool drained = false;
    size_t queued_when_drained = 1;
  };
  auto seen = std::make_shared<Seen>();
  auto head = std::make_shared<std::string>("head");
  FileServer server(GetParam(), [&, seen, head](TcpConnection& conn) {
    shrink_send_buffer(conn);
    conn.set_water_marks(
        1 << 20, 256 << 10, [seen](TcpConnection&, size_t) { ++seen->highs; },
        [seen](TcpConnection&, size_t) { ++seen->lows; });
    // write_ref always queues (no write-through), so what follows is counted exactly.
    conn.write_ref(std::as_bytes(std::span(head->data(), head->size())), {});
    conn.write_file(file.range(4096, kLength));
    seen->queued_after_file = conn.write_queue_bytes();
    conn.when_drained([seen](TcpConnection& c) {
      seen->drained = true;
      seen->queued_when_drained = c.write_queue_bytes();
      c.shutdown([](TcpConnection& done, std::error_code) { done.close(); });
    });
  });
  ASSERT_FALSE(server.start_error);
  int fd = connect_with_small_buffer(server.address);
  ASSERT_GE(fd, 0);
  Received got = read_in_steps(fd);
  ::close(fd);
  EXPECT_TRUE(got.closed);
  ASSERT_EQ(got.bytes.size(), 4 + kLength);
  EXPECT_TRUE(got.bytes == "head" + TempFile::expected(4096, kLength));
  server.call([&] {
    EXPECT_EQ(seen->queued_after_file, 4 + kLength);
    EXPECT_EQ(seen->highs, 1);
    EXPECT_EQ(seen->lows, 1);
    EXPECT_TRUE(seen->drained);
    EXPECT_EQ(seen->queued_when_drained, 0u);
  });
}

// close() with a file write queued: its callback sees operation_canceled and the connection
// lets the File go (the request held the only reference).
TEST_P(FileWriteTest, CloseReleasesAQueuedFile) {
  TempFile file(4 << 20);
  struct Seen {
    std::weak_ptr<const File> file;
    std::error_code error;
    bool released_at_close = false;
  };
  auto seen = std::make_shared<Seen>();
  auto closed = std::make_shared<EventCount>();
  FileServer server(GetParam(), [&, seen, closed](TcpConnection& conn) {
    shrink_send_buffer(conn);
    FileRange range = file.range(0, 4 << 20);
    seen->file = range.file;
    conn.write_file(std::move(range),
                    [seen](TcpConnection&, std::error_code error) { seen->error = error; });
    conn.on_close([seen, closed](TcpConnection&) {
      seen->released_at_close = seen->file.expired();
      closed->add();
    });
    conn.close();
  });
  ASSERT_FALSE(server.start_error);
  int fd = connect_with_small_buffer(server.address);
  ASSERT_GE(fd, 0);
  Received got = read_in_steps(fd);
  ::close(fd);
  EXPECT_TRUE(got.closed);
  EXPECT_LT(got.bytes.size(), size_t{4} << 20);
  ASSERT_TRUE(closed->wait_until_at_least(1));
  server.call([&] {
    EXPECT_EQ(seen->error, std::errc::operation_canceled);
    EXPECT_TRUE(seen->released_at_close) << "the closed connection still holds the File";
    EXPECT_TRUE(seen->file.expired());
  });
}

// The file shrinks while it is being sent: the response cannot be completed, so the
// connection closes once the file's remaining bytes are out; the peer reads exactly the bytes
// the file still has, then the close (never a hang waiting for bytes that will not come).
TEST_P(FileWriteTest, FileTruncatedWhileSendingClosesTheConnection) {
  constexpr uint64_t kLength = 4 << 20;
  constexpr uint64_t kTruncatedTo = 1 << 20;
  TempFile file(kLength);
  auto error = std::make_shared<std::error_code>();
  FileServer server(GetParam(), [&, error](TcpConnection& conn) {
    shrink_send_buffer(conn);
    conn.write_file(file.range(0, kLength),
                    [error](TcpConnection&, std::error_code e) { *error = e; });
  });
  ASSERT_FALSE(server.start_error);
  int fd = connect_with_small_buffer(server.address);
  ASSERT_GE(fd, 0);
  // The first bytes prove the send has begun; the small buffers keep the server far from the
  // truncation point (at most a few hundred KiB are in flight).
  char first[1024];
  ASSERT_EQ(::recv(fd, first, sizeof first, MSG_WAITALL), ssize_t(sizeof first));
  ASSERT_EQ(::truncate(file.path().c_str(), kTruncatedTo), 0);
  Received rest = read_in_steps(fd);
  ::close(fd);
  EXPECT_TRUE(rest.closed) << "the server kept the connection open";
  std::string got = std::string(first, sizeof first) + rest.bytes;
  ASSERT_EQ(got.size(), kTruncatedTo);
  EXPECT_TRUE(got == TempFile::expected(0, kTruncatedTo));
  server.call([&] { EXPECT_EQ(*error, std::errc::no_message_available); });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, FileWriteTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
