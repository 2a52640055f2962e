// The loop: timers, cross-thread posts, signals, the Reactor API (Watcher), on every backend.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <functional>

#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

class EventLoopTest : public BackendTest {};

TEST_P(EventLoopTest, TimersFireInDeadlineOrder) {
  EventLoop loop(GetParam(), backend_options());
  std::vector<int> fired;
  loop.run_after(30ms, [&] { fired.push_back(30); loop.stop(); });
  loop.run_after(10ms, [&] { fired.push_back(10); });
  loop.run_after(20ms, [&] { fired.push_back(20); });
  loop.run_after(10ms, [&] { fired.push_back(11); });  // same delay, added later: runs later
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{10, 11, 20, 30}));
}

TEST_P(EventLoopTest, CancelWorksIncludingFromInsideACallback) {
  EventLoop loop(GetParam(), backend_options());
  std::vector<std::string> fired;
  TimerId doomed = loop.run_after(20ms, [&] { fired.push_back("doomed"); });
  TimerId never = loop.run_after(5ms, [&] { fired.push_back("never"); });
  EXPECT_TRUE(loop.cancel(never));
  EXPECT_FALSE(loop.cancel(never)) << "a stale id must not cancel anything";
  loop.run_after(10ms, [&] {
    fired.push_back("canceller");
    EXPECT_TRUE(loop.cancel(doomed));
  });
  int ticks = 0;
  TimerId repeating;
  repeating = loop.run_every(3ms, [&] {
    fired.push_back("tick");
    if (++ticks == 3) {
      EXPECT_TRUE(loop.cancel(repeating));  // cancels itself
    }
  });
  // Stops once the third tick has run and then one more check later (10 ms: more than a
  // period, in which a fourth tick would have come had the self-cancel failed). Under load the
  // ticks run late, so the stop waits for them instead of trusting a deadline (bounded: 5 s).
  // Timers run in deadline order, so "doomed" (20 ms) has had its turn before any check.
  bool settled = false;
  int checks = 0;
  std::function<void()> stop_when_done = [&] {
    if ((ticks >= 3 && settled) || ++checks > 500) {
      loop.stop();
      return;
    }
    settled = ticks >= 3;
    loop.run_after(10ms, stop_when_done);
  };
  loop.run_after(40ms, stop_when_done);
  loop.run();
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(std::count(fired.begin(), fired.end(), "doomed"), 0);
  EXPECT_EQ(std::count(fired.begin(), fired.end(), "never"), 0);
  EXPECT_EQ(std::count(fired.begin(), fired.end(), "canceller"), 1);
}

// "activity" is added before "idle", so it is due first however slowly the two are added
// (regression: under TSan on a loaded machine, adding them took over 5 ms, "idle" came due
// first, and the test failed with nothing reset). "middle" is added by "activity", 10 ms after
// it, so it is due before the moved idle (20 ms after it) and after the unmoved one would have
// fired.
TEST_P(EventLoopTest, ResetMovesAnIdleTimerLater) {
  EventLoop loop(GetParam(), backend_options());
  std::vector<std::string> fired;
  TimerId idle;
  loop.run_after(5ms, [&] {
    fired.push_back("activity");
    EXPECT_TRUE(loop.reset(idle, 20ms));
    loop.run_after(10ms, [&] { fired.push_back("middle"); });
  });
  idle = loop.run_after(10ms, [&] { fired.push_back("idle"); loop.stop(); });
  loop.run();
  EXPECT_EQ(fired, (std::vector<std::string>{"activity", "middle", "idle"}));
}

TEST_P(EventLoopTest, PostsFromEightThreadsRunExactlyOnceInOrder) {
  EventLoop loop(GetParam(), backend_options());
  constexpr int kThreads = 8;
  constexpr int kPosts = 20000;
  std::vector<std::vector<int>> seen(kThreads);
  std::atomic<int> done_threads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        loop.post([&, t, i] { seen[t].push_back(i); });
      }
      if (++done_threads == kThreads) loop.post([&] { loop.stop(); });
    });
  }
  loop.run();
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPosts)) << "thread " << t;
    for (int i = 0; i < kPosts; ++i) ASSERT_EQ(seen[t][i], i) << "thread " << t;
  }
}

// stop() is called only once the loop thread is asleep in the loop's wait (seen in /proc), so
// the stop has to wake it: a stop() that ran before the wait would prove nothing.
TEST_P(EventLoopTest, StopFromAnotherThreadWakesABlockedLoop) {
  EventLoop loop(GetParam(), backend_options());
  const pid_t loop_thread = ::gettid();
  std::promise<void> running;  // set just before run(): from then on the wait is all it does
  std::atomic<bool> saw_it_blocked{false};
  std::thread stopper([&] {
    running.get_future().wait();
    saw_it_blocked = wait_until_sleeping(loop_thread);
    loop.stop();
  });
  running.set_value();
  loop.run();  // blocks in the wait with nothing to do until stop() wakes it
  stopper.join();
  EXPECT_TRUE(saw_it_blocked) << "the loop thread never blocked in its wait";
}

TEST_P(EventLoopTest, SignalRunsItsCallbackOnTheLoop) {
  EventLoop loop(GetParam(), backend_options());
  std::vector<int> received;
  std::thread::id ran_on;
  ASSERT_FALSE(loop.on_signal(SIGUSR1, [&](int signo) {
    received.push_back(signo);
    ran_on = std::this_thread::get_id();
    loop.stop();
  }));
  loop.run_after(1ms, [] { ::kill(::getpid(), SIGUSR1); });
  loop.run_after(10s, [&] { loop.stop(); });  // bound: a lost signal fails, never hangs
  loop.run();
  EXPECT_EQ(received, std::vector<int>{SIGUSR1});
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  loop.remove_signal(SIGUSR1);
}

TEST_P(EventLoopTest, OnSignalRejectsSigkill) {
  EventLoop loop(GetParam(), backend_options());
  EXPECT_EQ(loop.on_signal(SIGKILL, [](int) {}), make_error_code(errc::invalid_argument));
}

// The Reactor contract every backend keeps (edge-triggered ones included): a watcher reports
// readiness; the callback does the I/O until EAGAIN; one-shot waits for start() again.
TEST_P(EventLoopTest, WatcherReportsReadinessAndOneShotWaitsForRestart) {
  EventLoop loop(GetParam(), backend_options());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  auto drain = [&] {
    char buffer[64];
    while (::read(fds[0], buffer, sizeof buffer) > 0) {
    }
  };
  Watcher watcher(loop, fds[0]);
  int reports = 0;
  ASSERT_FALSE(watcher.start(ready::readable, /*one_shot=*/true, [&](uint32_t bits) {
    EXPECT_TRUE(bits & ready::readable);
    ++reports;
  }));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  for (int i = 0; i < 5; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 1) << "one-shot: reported once although the pipe stays readable";
  EXPECT_FALSE(watcher.active());
  drain();
  ASSERT_FALSE(watcher.start(ready::readable, /*one_shot=*/false, [&](uint32_t) {
    ++reports;
    drain();
  }));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 1) << "nothing to read: nothing to report";
  ASSERT_EQ(::write(fds[1], "y", 1), 1);
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 2);
  ASSERT_EQ(::write(fds[1], "z", 1), 1);
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 3) << "multishot: reported again on new data";
  watcher.stop();
  ASSERT_EQ(::write(fds[1], "w", 1), 1);
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 3) << "no report after stop()";
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_P(EventLoopTest, WatcherDestroyedInsideItsCallbackIsSafe) {
  EventLoop loop(GetParam(), backend_options());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  auto watcher = std::make_unique<Watcher>(loop, fds[1]);
  int reports = 0;
  ASSERT_FALSE(watcher->start(ready::writable, false, [&](uint32_t) {
    ++reports;
    watcher.reset();
  }));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(reports, 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

// Regression: a one-shot watch for readable|writable sits in both of the fd's slots in the
// readiness backends, and the writer slot was skipped when it held the same op as the reader,
// so writability alone never completed it (the reactor pattern then stalled with output queued
// while it also wanted to read).
TEST_P(EventLoopTest, ReadWriteWatchFiresOnWritabilityAlone) {
  EventLoop loop(GetParam(), backend_options());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  Watcher watcher(loop, pair[0]);
  uint32_t got = 0;
  // Armed for read first, then for both, as the reactor re-arms a connection with output.
  ASSERT_FALSE(watcher.start(ready::readable, true, [](uint32_t) {}));
  ASSERT_FALSE(watcher.start(ready::readable | ready::writable, true, [&](uint32_t r) {
    got = r;
    loop.stop();
  }));
  TimerId limit = loop.run_after(30s, [&] { loop.stop(); });
  loop.run();
  loop.cancel(limit);
  EXPECT_TRUE(got & ready::writable) << "writability was never reported";
  EXPECT_FALSE(got & ready::readable);
  watcher.forget_fd();
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_P(EventLoopTest, CallingALoopMethodOffItsThreadAborts) {
  EXPECT_DEATH(
      {
        EventLoop loop(GetParam(), backend_options());
        std::thread other([&] { loop.run_after(1ms, [] {}); });
        other.join();
      },
      "called off the loop's thread");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, EventLoopTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

// select's fd_set holds FD_SETSIZE bits: a larger fd must be refused, not written past the end.
TEST(SelectBackend, RefusesFdsAtOrAboveFdSetSize) {
  EventLoop loop(BackendKind::select);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  int high = ::fcntl(fds[0], F_DUPFD_CLOEXEC, FD_SETSIZE + 10);
  ASSERT_GE(high, FD_SETSIZE) << "needs an fd limit above FD_SETSIZE: " << strerror(errno);
  Watcher watcher(loop, high);
  EXPECT_EQ(watcher.start(ready::readable, false, [](uint32_t) {}),
            make_error_code(errc::fd_too_large));
  EXPECT_FALSE(watcher.active());
  // The same fd on poll works.
  EventLoop poll_loop(BackendKind::poll);
  Watcher poll_watcher(poll_loop, high);
  EXPECT_FALSE(poll_watcher.start(ready::readable, false, [](uint32_t) {}));
  poll_watcher.stop();
  ::close(high);
  ::close(fds[0]);
  ::close(fds[1]);
}

// Regression: a poller error while flushing interest runs handlers, which may start new
// watches; that used to modify the list being flushed (and lose the new fd's interest).
TEST(EpollBackend, WatchRefusedWhileFlushingIsReportedAndLaterWatchesStillWork) {
  EventLoop loop(BackendKind::epoll);
  char path[] = "/tmp/tern-watch-XXXXXX";
  int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  ::unlink(path);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  Watcher refused(loop, file);
  Watcher pipe_watcher(loop, fds[0]);
  uint32_t refused_bits = 0;
  int pipe_reports = 0;
  ASSERT_FALSE(refused.start(ready::readable, false, [&](uint32_t bits) {
    refused_bits = bits;
    // Started from inside the failing flush.
    EXPECT_FALSE(pipe_watcher.start(ready::readable, false, [&](uint32_t) { ++pipe_reports; }));
  }));
  loop.run_once(false);
  EXPECT_EQ(refused_bits, ready::error) << "epoll refuses regular files: the watch must say so";
  EXPECT_FALSE(refused.active());
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  for (int i = 0; i < 3 && pipe_reports == 0; ++i) loop.run_once(false);
  EXPECT_GE(pipe_reports, 1) << "the watch started during the flush was lost";
  ::close(file);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(BackendKind, NamesRoundTrip) {
  for (BackendKind kind : all_backend_kinds()) {
    EXPECT_EQ(parse_backend_kind(to_string(kind)), kind);
  }
  EXPECT_FALSE(parse_backend_kind("kqueue"));
}

}  // namespace
}  // namespace tern::test
