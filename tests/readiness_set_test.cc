// ReadinessSet: several threads wait on one set of real socketpairs; every event goes to
// exactly one of them and disarms its fd until it is re-armed (from any thread); remove() and
// wake() do what they say.
//
// Synchronisation is on conditions: bytes on the sockets, counters under a mutex, and, to know
// a thread is blocked inside wait(), its state in /proc/self/task/<tid>/stat.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/readiness_set.h"
#include "tern/backend/backend_traits.h"
#include "tern/backend/op.h"
#include "tern/base/error.h"

namespace tern {
namespace {

using namespace std::chrono_literals;

// An upper bound for conditions that should hold almost at once: reaching it is a failure,
// never a measurement.
constexpr auto kPatience = 20s;

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  }
  SocketPair(SocketPair&& other) noexcept {
    std::swap(fds, other.fds);
  }
  ~SocketPair() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  int local() const { return fds[0]; }
  int peer() const { return fds[1]; }
};

std::unique_ptr<ReadinessSet> make_set() {
  auto set = make_readiness_set(BackendKind::epoll);
  EXPECT_TRUE(set) << set.error().message();
  return set ? std::move(set.value()) : nullptr;
}

Result<size_t> wait_once(ReadinessSet& set, std::vector<ReadinessEvent>& events,
                         std::optional<Duration> timeout) {
  events.assign(8, ReadinessEvent{});
  auto n = set.wait(events, timeout);
  if (n) events.resize(*n);
  return n;
}

// True once thread `tid` of this process sleeps in the kernel (state S), read from /proc;
// gives up (false) after kPatience.
bool blocked_in_kernel(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat(path);
    if (!stat) return false;  // the thread has ended
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ...: the state follows the last ')'.
    auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S') {
      return true;
    }
    std::this_thread::yield();
  }
  return false;
}

TEST(ReadinessSetTest, OnlyBackendsThatShareReadinessMakeASet) {
  for (BackendKind kind : all_backend_kinds()) {
    auto set = make_readiness_set(kind);
    EXPECT_EQ(set.ok(), traits_of(kind).shared_readiness) << to_string(kind);
    if (!set) {
      EXPECT_EQ(set.error(), std::make_error_code(std::errc::operation_not_supported))
          << to_string(kind);
    }
  }
}

// An event disarms its fd: a still-readable socket is not reported again until re-armed, and
// the re-arm reports the readiness it already has.
TEST(ReadinessSetTest, AnEventIsOneShotUntilReArmed) {
  auto set = make_set();
  ASSERT_TRUE(set);
  SocketPair pair;
  ASSERT_FALSE(set->add(pair.local(), 7, ready::readable));
  std::vector<ReadinessEvent> events;
  auto n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // nothing to read yet

  ASSERT_EQ(::write(pair.peer(), "ab", 2), 2);
  n = wait_once(*set, events, kPatience);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(events[0].tag, 7u);
  EXPECT_TRUE(events[0].ready & ready::readable);

  // Two bytes still unread (level: readable), but disarmed.
  n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);

  ASSERT_FALSE(set->arm(pair.local(), 8, ready::readable));
  n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(events[0].tag, 8u);  // the tag given at the re-arm
  n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

// add() without interest reports no readiness; a hang-up already there is reported once (epoll
// always watches for it), and disarms like any event.
TEST(ReadinessSetTest, ADisarmedRegistrationReportsOnlyAPendingHangupOnce) {
  auto set = make_set();
  ASSERT_TRUE(set);
  SocketPair ready_pair;
  ASSERT_EQ(::write(ready_pair.peer(), "x", 1), 1);
  ASSERT_FALSE(set->add(ready_pair.local(), 1));
  std::vector<ReadinessEvent> events;
  auto n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // readable, but not armed

  SocketPair hung_up;
  ::close(hung_up.fds[1]);
  hung_up.fds[1] = -1;
  ASSERT_FALSE(set->add(hung_up.local(), 2));
  n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(events[0].tag, 2u);
  EXPECT_TRUE(events[0].ready & ready::hangup);
  n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

TEST(ReadinessSetTest, TheReservedTagAndEmptySpansAreRefused) {
  auto set = make_set();
  ASSERT_TRUE(set);
  SocketPair pair;
  EXPECT_EQ(set->add(pair.local(), ReadinessSet::kReservedTag, ready::readable),
            make_error_code(errc::invalid_argument));
  std::vector<ReadinessEvent> none;
  EXPECT_FALSE(set->wait(none, 0ms));
}

// Many fds, several waiters: each event reaches exactly one waiter, and nothing more comes
// while the fds stay readable but disarmed.
TEST(ReadinessSetTest, EveryEventIsDeliveredToExactlyOneWaiter) {
  auto set = make_set();
  ASSERT_TRUE(set);
  constexpr int kFds = 64;
  constexpr int kWaiters = 4;
  std::vector<SocketPair> pairs(kFds);
  for (int i = 0; i < kFds; ++i) ASSERT_FALSE(set->add(pairs[i].local(), i, ready::readable));

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> deliveries(kFds, 0);
  int total = 0;
  std::atomic<bool> stop{false};  // ends the waiters even if wake() failed to
  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&] {
      std::vector<ReadinessEvent> events;
      while (!set->woken() && !stop) {
        auto n = wait_once(*set, events, kPatience);
        if (!n) return;
        std::lock_guard lock(mutex);
        for (const ReadinessEvent& e : events) {
          ++deliveries[e.tag];
          ++total;
        }
        changed.notify_all();
      }
    });
  }
  for (const SocketPair& pair : pairs) EXPECT_EQ(::write(pair.peer(), "x", 1), 1);
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, kPatience, [&] { return total >= kFds; }));
  }
  // Every fd is still readable: a second report would show up here, or in a waiter.
  std::vector<ReadinessEvent> events;
  auto n = wait_once(*set, events, 0ms);
  EXPECT_TRUE(n && *n == 0u) << (n ? *n : 0) << " more events";
  stop = true;
  set->wake();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(total, kFds);
  for (int i = 0; i < kFds; ++i) EXPECT_EQ(deliveries[i], 1) << "fd #" << i;
}

// An fd re-armed by a thread other than the one that took its event, and other than the one
// blocked in wait(), wakes that waiter.
TEST(ReadinessSetTest, AReArmFromAnotherThreadWakesABlockedWaiter) {
  auto set = make_set();
  ASSERT_TRUE(set);
  SocketPair pair;
  ASSERT_FALSE(set->add(pair.local(), 42, ready::readable));
  ASSERT_EQ(::write(pair.peer(), "x", 1), 1);
  std::vector<ReadinessEvent> events;
  auto n = wait_once(*set, events, kPatience);  // this thread takes the first event
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);

  std::atomic<pid_t> waiter_tid{0};
  std::vector<ReadinessEvent> got;
  std::thread waiter([&] {
    waiter_tid = ::gettid();
    auto m = wait_once(*set, got, kPatience);
    if (!m) got.clear();
  });
  while (waiter_tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(blocked_in_kernel(waiter_tid.load()));
  std::thread armer([&] { EXPECT_FALSE(set->arm(pair.local(), 43, ready::readable)); });
  armer.join();
  waiter.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].tag, 43u);
  EXPECT_TRUE(got[0].ready & ready::readable);
}

// A removed fd reports nothing, and cannot be re-armed.
TEST(ReadinessSetTest, ARemovedFdReportsNothing) {
  auto set = make_set();
  ASSERT_TRUE(set);
  SocketPair pair;
  ASSERT_FALSE(set->add(pair.local(), 5, ready::readable));
  ASSERT_FALSE(set->remove(pair.local()));
  ASSERT_EQ(::write(pair.peer(), "x", 1), 1);
  std::vector<ReadinessEvent> events;
  auto n = wait_once(*set, events, 0ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(set->arm(pair.local(), 5, ready::readable), std::errc::no_such_file_or_directory);
  EXPECT_EQ(set->remove(pair.local()), std::errc::no_such_file_or_directory);
}

// wake() returns every blocked waiter, and every later wait returns at once.
TEST(ReadinessSetTest, WakeReturnsEveryWaiter) {
  auto set = make_set();
  ASSERT_TRUE(set);
  constexpr int kWaiters = 4;
  std::mutex mutex;
  std::condition_variable changed;
  int returned = 0;
  std::vector<std::atomic<pid_t>> tids(kWaiters);
  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&, w] {
      tids[w] = ::gettid();
      std::vector<ReadinessEvent> events;
      auto n = wait_once(*set, events, kPatience);
      EXPECT_TRUE(n);
      if (n) {
        EXPECT_EQ(*n, 0u);
      }
      std::lock_guard lock(mutex);
      ++returned;
      changed.notify_all();
    });
  }
  for (auto& tid : tids) {
    while (tid.load() == 0) std::this_thread::yield();
    EXPECT_TRUE(blocked_in_kernel(tid.load()));
  }
  EXPECT_FALSE(set->woken());
  set->wake();
  set->wake();  // idempotent
  EXPECT_TRUE(set->woken());
  {
    std::unique_lock lock(mutex);
    // Well before the waiters' own timeout (kPatience after they started): woken, not timed out.
    EXPECT_TRUE(changed.wait_for(lock, kPatience / 2, [&] { return returned == kWaiters; }))
        << returned << " of " << kWaiters << " waiters returned";
  }
  for (auto& t : waiters) t.join();

  // A wait that starts after the wake returns too.
  bool late_returned = false;
  std::thread late([&] {
    std::vector<ReadinessEvent> events;
    auto n = wait_once(*set, events, kPatience);
    EXPECT_TRUE(n && *n == 0u);
    std::lock_guard lock(mutex);
    late_returned = true;
    changed.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, kPatience / 2, [&] { return late_returned; }));
  }
  late.join();
}

// The hand-over under load: waiters take events, read, and re-arm, while bytes keep coming.
// One-shot means no two threads ever serve one fd at once, and every byte is read once.
TEST(ReadinessSetTest, NoTwoThreadsServeOneFdAtOnce) {
  auto set = make_set();
  ASSERT_TRUE(set);
  constexpr int kFds = 16;
  constexpr int kWaiters = 4;
  constexpr int kBytesPerFd = 200;
  std::vector<SocketPair> pairs(kFds);
  std::vector<std::atomic<bool>> busy(kFds);
  std::atomic<int> overlaps{0};
  std::atomic<int> bytes_read{0};
  std::atomic<bool> stop{false};  // ends the waiters even if wake() failed to
  for (int i = 0; i < kFds; ++i) ASSERT_FALSE(set->add(pairs[i].local(), i, ready::readable));

  std::vector<std::thread> waiters;
  for (int w = 0; w < kWaiters; ++w) {
    waiters.emplace_back([&] {
      std::vector<ReadinessEvent> events;
      while (!set->woken() && !stop) {
        auto n = wait_once(*set, events, kPatience);
        if (!n) return;
        for (const ReadinessEvent& e : events) {
          if (busy[e.tag].exchange(true)) ++overlaps;
          char buffer[64];
          ssize_t got;
          while ((got = ::read(pairs[e.tag].local(), buffer, sizeof buffer)) > 0) bytes_read += got;
          busy[e.tag] = false;
          EXPECT_FALSE(set->arm(pairs[e.tag].local(), e.tag, ready::readable));
        }
      }
    });
  }
  for (int round = 0; round < kBytesPerFd; ++round) {
    for (const SocketPair& pair : pairs) EXPECT_EQ(::write(pair.peer(), "x", 1), 1);
  }
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (bytes_read.load() < kFds * kBytesPerFd && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  stop = true;
  set->wake();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(bytes_read.load(), kFds * kBytesPerFd);
  EXPECT_EQ(overlaps.load(), 0);
}

}  // namespace
}  // namespace tern
