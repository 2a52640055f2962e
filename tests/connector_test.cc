// Outgoing connections: refused, timed out, retried with backoff, and a round trip.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

class ConnectorTest : public BackendTest {};

// A port with nothing listening: bind a socket, note its port, close it.
uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto any = InetAddress::loopback_v4(0);
  ::bind(fd, any.sockaddr_ptr(), any.length());
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  ::close(fd);
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length).port();
}

// Waits until `listener`'s accept queue is full, so the kernel drops the SYNs that come next.
// With a backlog of 0 the first established connection fills it, and a listener is readable
// exactly when its queue holds a connection; TCP_INFO then confirms it: for a listener,
// tcpi_unacked is the queue's length and tcpi_sacked its limit, full when length > limit (the
// kernel's sk_acceptq_is_full).
bool wait_until_accept_queue_full(int listener) {
  pollfd readable{listener, POLLIN, 0};
  if (::poll(&readable, 1, 10000) != 1) return false;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return false;
  return info.tcpi_unacked > info.tcpi_sacked;
}

std::error_code connect_and_wait(EventLoop& loop, InetAddress peer, ConnectOptions options,
                                 int* attempts = nullptr) {
  std::error_code result = make_error_code(errc::not_connected);
  Connector connector(loop, peer, options);
  bool done = false;
  connector.start([&](std::error_code error, Socket) {
    result = error;
    done = true;
    loop.stop();
  });
  TimerId bound = loop.run_after(30s, [&] { loop.stop(); });
  loop.run();
  loop.cancel(bound);
  EXPECT_TRUE(done) << "the connector never reported";
  if (attempts) *attempts = connector.attempts();
  return result;
}

TEST_P(ConnectorTest, RefusedIsReportedClearly) {
  EventLoop loop(GetParam(), backend_options());
  int attempts = 0;
  auto error = connect_and_wait(loop, InetAddress::loopback_v4(unused_port()), {}, &attempts);
  EXPECT_EQ(error, std::errc::connection_refused) << error.message();
  EXPECT_EQ(attempts, 1);
}

TEST_P(ConnectorTest, RetriesWithBackoffThenGivesUp) {
  EventLoop loop(GetParam(), backend_options());
  ConnectOptions options;
  options.max_attempts = 4;
  options.initial_backoff = 2ms;
  options.max_backoff = 10ms;
  int attempts = 0;
  auto error = connect_and_wait(loop, InetAddress::loopback_v4(unused_port()), options, &attempts);
  EXPECT_EQ(error, std::errc::connection_refused);
  EXPECT_EQ(attempts, 4);
}

// A listener whose accept queue is full drops SYNs: the connect hangs until the timeout.
TEST_P(ConnectorTest, TimeoutIsReportedClearly) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = InetAddress::loopback_v4(0);
  ASSERT_EQ(::bind(listener, address.sockaddr_ptr(), address.length()), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&storage), &length);
  auto bound = InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length);
  // Fill the accept queue (never accepted) with non-blocking connects.
  std::vector<int> fillers;
  for (int i = 0; i < 8; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, bound.sockaddr_ptr(), bound.length());
    fillers.push_back(fd);
  }
  EXPECT_TRUE(wait_until_accept_queue_full(listener)) << "the connect below would not hang";

  EventLoop loop(GetParam(), backend_options());
  ConnectOptions options;
  options.timeout = 300ms;
  auto error = connect_and_wait(loop, bound, options);
  EXPECT_EQ(error, std::errc::timed_out) << error.message();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

TEST_P(ConnectorTest, TcpClientRoundTripWithATernServer) {
  EventLoop loop(GetParam(), backend_options());
  TcpServer server(loop, InetAddress::loopback_v4(0));
  server.on_connection([](TcpConnection& conn) {
    conn.read_start([](TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) {
        c.close();
        return;
      }
      c.write(ConstBuffer(data));
    });
  });
  ASSERT_FALSE(server.start());
  TcpClient client(loop, server.local_address());
  std::string reply;
  bool closed = false;
  client.on_connection([&](TcpConnection& conn) {
    EXPECT_EQ(conn.peer_address(), server.local_address());
    conn.write(std::string_view("ping"));
    conn.read_start([&](TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) return;
      reply.append(reinterpret_cast<const char*>(data.data()), data.size());
      if (reply.size() >= 4) client.disconnect();
      (void)c;
    });
  });
  client.on_close([&](TcpConnection&) {
    closed = true;
    loop.stop();
  });
  client.on_connect_error([&](std::error_code error) {
    ADD_FAILURE() << error.message();
    loop.stop();
  });
  client.connect();
  TimerId bound = loop.run_after(10s, [&] { loop.stop(); });
  loop.run();
  loop.cancel(bound);
  EXPECT_EQ(reply, "ping");
  EXPECT_TRUE(closed);
  EXPECT_EQ(client.connection(), nullptr) << "the client releases a closed connection";
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ConnectorTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
