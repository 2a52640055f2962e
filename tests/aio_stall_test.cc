// The aio backend's stall under load (issue 8): glibc's aio_cancel of a request still waiting
// for a helper thread orphans the request queued behind it on the same fd (it is marked
// runnable but never put on glibc's run list), so a send queued behind a recv that read_stop()
// cancelled never ran and the connection's output stopped for good.
//  - CancelledRecvDoesNotStrandTheSendBehindIt: that interleaving made deterministic, on the
//    backend itself, with glibc's AIO pool held to one busy helper thread;
//  - LongStreamToSlowReaderNeverStalls: the scenario that stalled (session_test's
//    StreamProducerIsHeldBackBySlowReader) on the aio rows, bounded, for --gtest_repeat.
#include <aio.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "stream_producer.h"
#include "test_support.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using test::connect_blocking;
using test::StreamProducer;

struct Config {
  Model model;
  int threads;
  int workers;
};

std::string config_name(const testing::TestParamInfo<Config>& info) {
  return std::string(model_name(info.param.model)) + "_proactor_aio";
}

class AioStallTest : public testing::TestWithParam<Config> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(BackendKind::aio)) GTEST_SKIP() << *why;
  }

  ServerOptions options() const {
    const Config& c = GetParam();
    ServerOptions o;
    o.backend = BackendKind::aio;
    o.backend_options.strict = true;
    o.model = c.model;
    o.pattern = Pattern::proactor;
    o.threads = c.threads;
    o.workers = c.workers;
    o.codec = Codec(Framing::raw, 1 << 20);
    return o;
  }
};

// A slow reader (small receive buffer, 16 KiB reads) of a 64 MiB stream whose producer waits
// for when_writable: every byte arrives. A stall shows as a recv that times out (the test
// socket has a 10 s receive timeout), so each run is bounded.
TEST_P(AioStallTest, LongStreamToSlowReaderNeverStalls) {
  constexpr int kChunks = 1024;
  constexpr size_t kChunk = 64 * 1024;  // 64 MiB in all
  ServerOptions o = options();
  o.high_water = 256 * 1024;
  std::mutex mutex;
  std::unique_ptr<StreamProducer> producer;
  Server server(o, Handler::async([&](Request, Reply reply) {
    std::lock_guard lock(mutex);
    producer = std::make_unique<StreamProducer>(std::move(reply), "", kChunks, kChunk, 'p');
  }));
  ASSERT_FALSE(server.start()) << server.error_detail();
  int fd = connect_blocking(server.local_address());
  ASSERT_GE(fd, 0);
  int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_EQ(::send(fd, "go", 2, MSG_NOSIGNAL), 2);
  uint64_t read_total = 0;
  char buffer[16 * 1024];
  while (read_total < uint64_t(kChunks) * kChunk) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      int error = errno;
      ::close(fd);
      FAIL() << "stalled after " << read_total << " bytes (recv: " << n << ", errno " << error
             << ")";
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != 'p') {
        ::close(fd);
        FAIL() << "wrong byte at offset " << read_total + static_cast<uint64_t>(i);
      }
    }
    read_total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  server.shutdown(10s);
  std::lock_guard lock(mutex);
  producer.reset();
}

// Records the final completion of each op.
struct Recorder final : OpHandler {
  void on_complete(Op& op, const Completion& completion) override {
    if (completion.more) return;
    if (&op == recv) recv_result = completion.result;
    else if (&op == send) send_result = completion.result;
    else timer_fired = true;
  }
  Op* recv = nullptr;
  Op* send = nullptr;
  int recv_result = 1;  // 1: not completed
  int send_result = 1;
  bool timer_fired = false;
};

// Runs in a fresh process (a threadsafe death test re-executes this binary), so it is the first
// user of glibc's AIO there and may set its pool. Exit codes: 0 both ops ended as they should;
// 1 the send never completed (the stall); 2 a wrong result; 10+ setup failures.
int run_cancel_scenario() {
  // One helper thread, kept busy by a read of an empty pipe: every later request waits on
  // glibc's run list, as one does when its helper has been signalled but has not woken yet.
  aioinit init{};
  init.aio_threads = 1;
  init.aio_num = 16;
  init.aio_idle_time = 1;
  ::aio_init(&init);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return 10;
  char blocker_byte = 0;
  aiocb blocker{};
  blocker.aio_fildes = pipe_fds[0];
  blocker.aio_buf = &blocker_byte;
  blocker.aio_nbytes = 1;
  blocker.aio_sigevent.sigev_notify = SIGEV_NONE;
  if (::aio_read(&blocker) < 0) return 11;  // glibc's pool now exists: the backend's
                                            // aio_init(16 threads) no longer changes it

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return 12;
  std::error_code error;
  auto backend = make_backend(BackendKind::aio, test::backend_options_for(BackendKind::aio),
                              error);
  if (!backend) return 13;
  Recorder recorder;
  Op recv;
  recv.code = OpCode::recv;
  recv.fd = sv[0];
  recv.multishot = true;
  recv.handler = &recorder;
  static const char kText[] = "hello";
  iovec iov{const_cast<char*>(kText), 5};
  Op send;
  send.code = OpCode::send;
  send.fd = sv[0];
  send.iov = &iov;
  send.iov_count = 1;
  send.handler = &recorder;
  recorder.recv = &recv;
  recorder.send = &send;
  // The bound of a stall: the test fails when this fires first.
  int timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) return 14;
  itimerspec bound{};
  bound.it_value.tv_sec = 10;
  if (::timerfd_settime(timer_fd, 0, &bound, nullptr) < 0) return 15;
  Op timer;
  timer.code = OpCode::poll;
  timer.fd = timer_fd;
  timer.interest = ready::readable;
  timer.handler = &recorder;
  if (backend->submit(recv) || backend->submit(send) || backend->submit(timer)) return 16;
  // Posts both: the recv onto glibc's run list (no free helper), the send chained behind it.
  backend->wait(false);
  // What read_stop() does. The old backend aio_cancel()ed the waiting recv, which orphaned the
  // send behind it.
  backend->cancel(recv);
  if (::write(pipe_fds[1], "x", 1) != 1) return 17;  // frees the helper
  for (int i = 0; i < 100000 && (recv.in_flight || send.in_flight) && !recorder.timer_fired;
       ++i) {
    backend->wait(true);
  }
  const aiocb* blockers[1] = {&blocker};
  while (::aio_error(&blocker) == EINPROGRESS) ::aio_suspend(blockers, 1, nullptr);
  if (send.in_flight) return 1;
  if (recv.in_flight) return 3;
  if (recorder.send_result != 5 || recorder.recv_result != -ECANCELED) return 2;
  char got[8] = {};
  if (::recv(sv[1], got, sizeof got, 0) != 5 || std::string(got, 5) != "hello") return 4;
  if (timer.in_flight) backend->abandon(timer);
  return 0;
}

TEST(AioCancelTest, CancelledRecvDoesNotStrandTheSendBehindIt) {
  if (auto why = test::backend_unavailable(BackendKind::aio)) GTEST_SKIP() << *why;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(run_cancel_scenario()), testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Aio, AioStallTest,
                         testing::Values(Config{Model::single, 1, 0}, Config{Model::loops, 2, 0},
                                         Config{Model::hsha, 1, 2}),
                         config_name);

}  // namespace
}  // namespace tern
