// BackendTraits: each backend states what it can do, traits_of(kind) and the running backend
// agree, the traits match what the backend really does (fd limit, lent buffers), the one
// readiness-bits mapping agrees with the kernel, and the patterns' valid matrix is derived
// from the traits.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "backend/backend.h"
#include "backend/ready_bits.h"
#include "tern/backend/backend_traits.h"
#include "tern/base/error.h"
#include "tern/loop/event_loop.h"
#include "tern/patterns/server_options.h"

namespace tern {
namespace {

std::string backend_test_name(const testing::TestParamInfo<BackendKind>& info) {
  std::string name(to_string(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

bool same(const BackendTraits& a, const BackendTraits& b) {
  return a.edge_triggered == b.edge_triggered && a.performs_io == b.performs_io &&
         a.native_readiness == b.native_readiness && a.provided_buffers == b.provided_buffers &&
         a.zero_copy_send == b.zero_copy_send && a.shared_readiness == b.shared_readiness &&
         a.fd_limit == b.fd_limit;
}

// A backend of `kind` as itself (strict: io_uring does not fall back), or nullptr with the
// reason in `why`.
std::unique_ptr<Backend> make_strict(BackendKind kind, std::string& why) {
  BackendOptions options;
  options.strict = true;
  std::error_code error;
  auto backend = make_backend(kind, options, error);
  if (!backend) why = error.message();
  return backend;
}

// Both ends closed when the test ends.
struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  }
  ~SocketPair() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
};

// Keeps the first completion (io_uring follows a one-shot recv's data with a second, empty
// completion; only the data matters here).
struct Recorder final : OpHandler {
  void on_complete(Op&, const Completion& completion) override {
    if (done) return;
    done = true;
    result = completion.result;
    buffer_id = completion.buffer_id;
  }
  bool done = false;
  int32_t result = 0;
  uint32_t buffer_id = kNoBuffer;
};

TEST(BackendTraitsTest, EachKindStatesWhatItCanDo) {
  const BackendTraits select = traits_of(BackendKind::select);
  EXPECT_EQ(select.fd_limit, FD_SETSIZE);
  EXPECT_FALSE(select.performs_io);
  EXPECT_FALSE(select.shared_readiness);

  EXPECT_EQ(traits_of(BackendKind::poll).fd_limit, std::nullopt);
  EXPECT_FALSE(traits_of(BackendKind::poll).edge_triggered);

  const BackendTraits epoll = traits_of(BackendKind::epoll);
  EXPECT_FALSE(epoll.edge_triggered);
  EXPECT_TRUE(epoll.shared_readiness);
  EXPECT_EQ(epoll.fd_limit, std::nullopt);

  EXPECT_TRUE(traits_of(BackendKind::epoll_et).edge_triggered);
  EXPECT_TRUE(traits_of(BackendKind::sigio).edge_triggered);
  EXPECT_FALSE(traits_of(BackendKind::sigio).shared_readiness);

  const BackendTraits uring = traits_of(BackendKind::uring);
  EXPECT_TRUE(uring.performs_io);
  EXPECT_TRUE(uring.provided_buffers);
  EXPECT_TRUE(uring.zero_copy_send);
  EXPECT_TRUE(uring.native_readiness);
  EXPECT_FALSE(uring.shared_readiness);

  const BackendTraits aio = traits_of(BackendKind::aio);
  EXPECT_TRUE(aio.performs_io);
  EXPECT_FALSE(aio.native_readiness);
  EXPECT_FALSE(aio.provided_buffers);

  for (BackendKind kind : all_backend_kinds()) {
    if (kind == BackendKind::uring) continue;
    EXPECT_FALSE(traits_of(kind).provided_buffers) << to_string(kind);
    EXPECT_FALSE(traits_of(kind).zero_copy_send) << to_string(kind);
  }
}

class BackendTraitsByKindTest : public testing::TestWithParam<BackendKind> {};

// The running backend reports the same traits as its kind, and so does its loop.
TEST_P(BackendTraitsByKindTest, TheRunningBackendReportsItsKindsTraits) {
  std::string why;
  auto backend = make_strict(GetParam(), why);
  if (!backend) GTEST_SKIP() << to_string(GetParam()) << " unavailable: " << why;
  EXPECT_TRUE(same(backend->traits(), traits_of(GetParam())));
  backend.reset();

  BackendOptions options;
  options.strict = true;
  auto loop = EventLoop::create(GetParam(), options);
  ASSERT_TRUE(loop) << loop.error().message();
  EXPECT_TRUE(same((*loop)->traits(), traits_of(GetParam())));
}

// fd_limit is what the backend enforces: an fd above FD_SETSIZE is refused exactly where the
// traits say there is a limit.
TEST_P(BackendTraitsByKindTest, FdLimitIsWhatTheBackendEnforces) {
  std::string why;
  auto backend = make_strict(GetParam(), why);
  if (!backend) GTEST_SKIP() << to_string(GetParam()) << " unavailable: " << why;
  const int high = FD_SETSIZE + 100;
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur <= static_cast<rlim_t>(high)) {
    rlimit raised = limit;
    raised.rlim_cur = std::min<rlim_t>(limit.rlim_max, high + 100);
    ::setrlimit(RLIMIT_NOFILE, &raised);
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  if (limit.rlim_cur <= static_cast<rlim_t>(high)) {
    GTEST_SKIP() << "RLIMIT_NOFILE " << limit.rlim_cur << " leaves no fd above FD_SETSIZE";
  }
  SocketPair pair;
  int fd = ::fcntl(pair.fds[0], F_DUPFD_CLOEXEC, high);
  ASSERT_GE(fd, high);
  Recorder recorder;
  Op op;
  op.code = OpCode::poll;
  op.fd = fd;
  op.interest = ready::readable;
  op.handler = &recorder;
  std::error_code error = backend->submit(op);
  const auto fd_limit = backend->traits().fd_limit;
  if (fd_limit && fd >= *fd_limit) {
    EXPECT_EQ(error, make_error_code(errc::fd_too_large));
  } else {
    EXPECT_FALSE(error) << error.message();
    backend->abandon(op);
  }
  backend->forget(fd);
  ::close(fd);
}

// provided_buffers is what the backend does: a recv without a BufferProvider completes with a
// lent buffer that can be held exactly where the traits say so.
TEST_P(BackendTraitsByKindTest, ProvidedBuffersAreWhatTheBackendLends) {
  std::string why;
  auto backend = make_strict(GetParam(), why);
  if (!backend) GTEST_SKIP() << to_string(GetParam()) << " unavailable: " << why;
  SocketPair pair;
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  Recorder recorder;
  Op op;
  op.code = OpCode::recv;
  op.fd = pair.fds[0];
  op.handler = &recorder;
  ASSERT_FALSE(backend->submit(op));
  for (int round = 0; round < 1000 && !recorder.done; ++round) backend->wait(/*block=*/true);
  ASSERT_TRUE(recorder.done);
  EXPECT_EQ(recorder.result, 1);
  EXPECT_EQ(recorder.buffer_id != kNoBuffer, backend->traits().provided_buffers);
  if (op.in_flight) backend->abandon(op);
  backend->forget(pair.fds[0]);
}

INSTANTIATE_TEST_SUITE_P(Kinds, BackendTraitsByKindTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

// io_uring that falls back to epoll is epoll, and says so: patterns asking the running loop
// must not believe the kernel performs the I/O.
TEST(BackendTraitsTest, AFallenBackUringReportsEpollsTraits) {
  ::setenv("TERN_URING_UNAVAILABLE", "1", 1);
  auto loop = EventLoop::create(BackendKind::uring, BackendOptions{});
  ::unsetenv("TERN_URING_UNAVAILABLE");
  ASSERT_TRUE(loop) << loop.error().message();
  EXPECT_EQ((*loop)->backend_kind(), BackendKind::epoll);
  EXPECT_TRUE(same((*loop)->traits(), traits_of(BackendKind::epoll)));
  EXPECT_FALSE((*loop)->traits().performs_io);
}

// The one mapping, checked against what the kernel reports for a socket whose peer shut down
// writing with data still queued: epoll and poll(2) give the same bits, including the FIN
// (read_closed), which the poll backend's old copy of the mapping dropped.
TEST(ReadyBitsTest, EpollAndPollReportTheSameBitsForTheSameState) {
  SocketPair pair;
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  ASSERT_EQ(::shutdown(pair.fds[1], SHUT_WR), 0);
  const uint32_t interest = ready::readable | ready::writable;

  pollfd p{pair.fds[0], static_cast<short>(ready_bits::to_poll(interest)), 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  const uint32_t from_poll = ready_bits::from_poll(static_cast<uint16_t>(p.revents));

  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll_fd, 0);
  epoll_event event{};
  event.events = ready_bits::to_epoll(interest);
  ASSERT_EQ(::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, pair.fds[0], &event), 0);
  epoll_event got{};
  ASSERT_EQ(::epoll_wait(epoll_fd, &got, 1, 0), 1);
  ::close(epoll_fd);
  const uint32_t from_epoll = ready_bits::from_epoll(got.events);

  EXPECT_EQ(from_poll, from_epoll);
  EXPECT_EQ(from_poll, ready::readable | ready::writable | ready::read_closed);
}

TEST(ReadyBitsTest, TheMasksMapBitForBit) {
  const std::pair<uint32_t, uint32_t> pairs[] = {
      {EPOLLIN, POLLIN},     {EPOLLPRI, POLLPRI},   {EPOLLOUT, POLLOUT},
      {EPOLLERR, POLLERR},   {EPOLLHUP, POLLHUP},   {EPOLLRDHUP, POLLRDHUP},
      {EPOLLRDNORM, POLLRDNORM}, {EPOLLWRNORM, POLLWRNORM},
  };
  for (auto [epoll_bit, poll_bit] : pairs) {
    EXPECT_EQ(ready_bits::from_epoll(epoll_bit), ready_bits::from_poll(poll_bit)) << epoll_bit;
  }
  EXPECT_EQ(ready_bits::from_poll(POLLNVAL), ready::error);  // the fd was closed under poll
  for (uint32_t interest = 0; interest <= (ready::readable | ready::writable); ++interest) {
    EXPECT_EQ(ready_bits::to_epoll(interest), ready_bits::to_poll(interest)) << interest;
    // Asking for readable includes the FIN: a reader hears of it without data.
    EXPECT_EQ((ready_bits::to_poll(interest) & POLLRDHUP) != 0,
              (interest & ready::readable) != 0);
  }
}

// The valid matrix follows the traits: every (pattern, backend) is served exactly when the
// traits say so, and --help lists the same backends.
TEST(ServerOptionsFromTraitsTest, ThePatternMatrixFollowsTheTraits) {
  for (BackendKind kind : all_backend_kinds()) {
    const BackendTraits t = traits_of(kind);
    const std::pair<Pattern, bool> expected[] = {
        {Pattern::emulated, !t.performs_io},
        {Pattern::proactor, t.performs_io},
        {Pattern::reactor, t.native_readiness && !t.edge_triggered},
    };
    for (auto [pattern, served] : expected) {
      ServerOptions options;
      options.backend = kind;
      options.pattern = pattern;
      EXPECT_EQ(check_options(options).empty(), served)
          << pattern_name(pattern) << " on " << to_string(kind) << ": " << check_options(options);
    }
    ServerOptions lf;
    lf.model = Model::lf;
    lf.backend = kind;
    EXPECT_EQ(check_options(lf).empty(), t.shared_readiness && !t.edge_triggered &&
                                             t.native_readiness)
        << to_string(kind) << ": " << check_options(lf);
    // The default pattern is the backend's own.
    ServerOptions defaults;
    defaults.backend = kind;
    EXPECT_EQ(effective_pattern(defaults), t.performs_io ? Pattern::proactor : Pattern::emulated);
  }
}

TEST(ServerOptionsFromTraitsTest, HelpListsTheDerivedMatrix) {
  const std::string table = valid_combinations();
  EXPECT_NE(table.find("  single  emulated   select poll epoll epoll-et sigio  1        0\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("  single  proactor   uring aio                         1        0\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("  single  reactor    select poll epoll uring           1        0\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("  lf      reactor    epoll                             N >= 1   0\n"),
            std::string::npos)
      << table;
}

TEST(ServerOptionsFromTraitsTest, RefusalsSayWhichTraitIsMissing) {
  ServerOptions options;
  options.backend = BackendKind::epoll_et;
  options.pattern = Pattern::reactor;
  EXPECT_NE(check_options(options).find("edge-triggered"), std::string::npos)
      << check_options(options);
  options.backend = BackendKind::aio;
  EXPECT_NE(check_options(options).find("borrowed"), std::string::npos) << check_options(options);
  options.backend = BackendKind::epoll;
  options.pattern = Pattern::proactor;
  EXPECT_NE(check_options(options).find("performs no I/O"), std::string::npos)
      << check_options(options);
  ServerOptions lf;
  lf.model = Model::lf;
  lf.backend = BackendKind::poll;
  EXPECT_NE(check_options(lf).find("leader/followers"), std::string::npos) << check_options(lf);
  EXPECT_NE(check_options(lf).find("--backend epoll)"), std::string::npos) << check_options(lf);
}

}  // namespace
}  // namespace tern
