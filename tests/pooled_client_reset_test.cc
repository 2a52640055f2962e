// A pooled client's connection reset while a command is still being written to it, on epoll
// and io_uring. The failed send ends the connection at once; on io_uring its completion can
// come before the receive's, and then the reader never hears of the reset. The client must
// still fail what waits on that connection then, with connection_lost, before the pool frees
// the connection: not later, by the command's deadline, from a timer that reads a connection
// already freed (a use-after-free ASan found in redis_client_test, one run in 5 to 18). Many
// rounds, because which completion comes first is the kernel's choice.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tern/redis/client.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

class PooledClientResetTest : public BackendTest {};

// Resets `fd` (RST, not FIN): what the client still writes fails.
void reset(int fd) {
  linger abort_on_close{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  ::close(fd);
}

// Waits until `fd` has bytes to read (the client has started writing), for at most 20 s.
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 20000) == 1;
}

TEST_P(PooledClientResetTest, ResetWhileACommandIsBeingWrittenFailsItAtOnce) {
  constexpr int kRounds = 40;
  // A 4 KiB receive buffer that the peer never reads: the 4 MiB value cannot all be sent, so a
  // send is still on its way (io_uring) or waiting for room (epoll) when the reset comes.
  UpstreamListener peer(0, 4096);
  ASSERT_TRUE(peer.ok());
  const std::string value(4 << 20, 'v');
  for (int round = 0; round < kRounds && !HasFailure(); ++round) {
    redis::ClientOptions options;
    options.pool.max_connections = 1;
    options.command_timeout = 60s;  // far beyond the test's bound: only the reset may end it
    options.read_retries = 0;
    std::promise<std::error_code> first, second;
    auto first_done = first.get_future();
    auto second_done = second.get_future();
    LoopThread loop(GetParam(), [](EventLoop&) {}, backend_options());
    std::unique_ptr<redis::Client> client;
    loop.call([&](EventLoop& l) {
      client = std::make_unique<redis::Client>(l, peer.address(), options);
      client->command(redis::Command::of("SET", "k", value),
                      [&](std::error_code e, const redis::Value*) { first.set_value(e); });
      client->command(redis::Command::of("SET", "j", "w"),
                      [&](std::error_code e, const redis::Value*) { second.set_value(e); });
    });
    int fd = peer.accept_one();
    EXPECT_GE(fd, 0) << "round " << round << ": the client never connected";
    if (fd >= 0) {
      EXPECT_TRUE(readable(fd)) << "round " << round << ": nothing written";
      reset(fd);
      if (first_done.wait_for(20s) == std::future_status::ready &&
          second_done.wait_for(20s) == std::future_status::ready) {
        EXPECT_EQ(first_done.get(), redis::errc::connection_lost) << "round " << round;
        EXPECT_EQ(second_done.get(), redis::errc::connection_lost) << "round " << round;
      } else {
        ADD_FAILURE() << "round " << round << ": a command still waits after the reset";
      }
    }
    loop.call([&](EventLoop&) { client.reset(); });  // fails what still waits
  }
}

INSTANTIATE_TEST_SUITE_P(EpollAndUring, PooledClientResetTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
