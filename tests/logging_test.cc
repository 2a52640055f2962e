// Logging (tern/base/logging.h): LogLimiter lets the first occurrence of a line through and
// counts the rest within its interval; a line to stderr never blocks on a full pipe nor dies
// of SIGPIPE (issue 8, fault 3). The log file has its own binary (log_file_test.cc): a process
// that has set one no longer writes to stderr.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tern/base/logging.h"

namespace {

using namespace std::chrono_literals;

// Runs `body` in a child process whose stderr is the write end of a pipe the test never
// reads, with SIGPIPE at its default (fatal) action. `reader` false: the read end is closed
// before the child starts. Returns the wait status, or -1 if the child was still running after
// `limit` (then it is killed and reaped).
template <class Body>
int run_with_stderr_on_pipe(bool reader, Body body, std::chrono::seconds limit = 20s) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -2;
  if (!reader) ::close(pipe_fds[0]);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (reader) ::close(pipe_fds[0]);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    body();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int pid_fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  pollfd exited{pid_fd, POLLIN, 0};
  bool in_time = pid_fd >= 0 && ::poll(&exited, 1, static_cast<int>(limit.count() * 1000)) == 1;
  if (!in_time) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (pid_fd >= 0) ::close(pid_fd);
  if (reader) ::close(pipe_fds[0]);
  return in_time ? status : -1;
}

TEST(LogLimiter, FirstOccurrencePassesThenOthersAreCounted) {
  tern::LogLimiter limiter(24h);  // nothing expires during the test
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.allow(suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.allow(suppressed));
}

TEST(LogLimiter, NextLineAfterTheIntervalReportsTheSuppressedCount) {
  tern::LogLimiter limiter(1ms);
  uint64_t suppressed = 0;
  ASSERT_TRUE(limiter.allow(suppressed));
  // Refusals until the interval has passed (however long the machine takes: the condition is
  // the limiter letting a line through again, bounded by a count), then the count of them.
  uint64_t refused = 0;
  while (!limiter.allow(suppressed)) {
    ++refused;
    ASSERT_LT(refused, 1'000'000'000u) << "the limiter never let a line through again";
  }
  EXPECT_EQ(suppressed, refused);
}

TEST(LogLimiter, SharedByThreadsLetsExactlyOneThrough) {
  tern::LogLimiter limiter(24h);
  constexpr int kThreads = 4;
  constexpr int kCalls = 10000;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      uint64_t suppressed = 0;
      for (int i = 0; i < kCalls; ++i) {
        if (limiter.allow(suppressed)) allowed.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1);
}

// 200 KiB of lines into a 64 KiB pipe nobody reads: lines are dropped, the writer goes on.
TEST(LogToStderr, FullPipeDropsLinesInsteadOfBlocking) {
  int status = run_with_stderr_on_pipe(true, [] {
    std::string filler(100, 'x');
    for (int i = 0; i < 2000; ++i) tern::log(tern::LogLevel::warn, "%d %s", i, filler.c_str());
  });
  ASSERT_NE(status, -1) << "logging blocked on a full stderr pipe";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

// The reader has gone: the write fails with EPIPE, and its SIGPIPE must not kill a process that
// never ignored it.
TEST(LogToStderr, ReaderGoneCostsTheLineNotTheProcess) {
  int status = run_with_stderr_on_pipe(false, [] {
    tern::log(tern::LogLevel::warn, "nobody reads this");
    tern::log(tern::LogLevel::warn, "nor this");
  });
  ASSERT_NE(status, -1);
  EXPECT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

}  // namespace
