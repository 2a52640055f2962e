// The leader/followers engine (lf): `threads` threads share one epoll set, and take turns
// waiting on it.
//
//   follower ──(the leader left)──► leader: epoll_wait for one event
//   leader ──(an event)──► promotes a follower, then handles the event itself: accepts, or
//                          reads, runs the handler and writes (ReactorConnection), re-arms
//   handler ──(done)──► follower again
//
// This model deliberately breaks the rule the others keep, that a connection belongs to one
// loop thread for life: here any thread may serve it. What keeps that safe is EPOLLONESHOT:
// the event disarms the fd in the kernel, so between its event and its re-arm (epoll_ctl MOD,
// from whichever thread) a connection belongs to exactly one thread. ReactorConnection makes
// that hand-over explicit (busy_, armed_, pending_) and takes its mutex for the replies that
// come from other threads.
// There is no EventLoop here: the shared set is the point, and a loop is one thread's. Timers
// and signals stay with the program (Server blocks signals in these threads).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "patterns/engine.h"
#include "patterns/reactor_connection.h"
#include "patterns/thread.h"
#include "tern/backend/op.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/net/acceptor.h"

namespace tern {
namespace {

constexpr uint64_t kStopTag = 0;
constexpr uint64_t kListenerTag = 1;
constexpr int kMaxAcceptsPerEvent = 64;
constexpr auto kShedPause = std::chrono::milliseconds(100);

uint32_t to_epoll(uint32_t interest) {
  uint32_t events = EPOLLONESHOT | EPOLLRDHUP;
  if (interest & ready::readable) events |= EPOLLIN;
  if (interest & ready::writable) events |= EPOLLOUT;
  return events;
}

uint32_t from_epoll(uint32_t events) {
  uint32_t ready = 0;
  if (events & (EPOLLIN | EPOLLRDHUP)) ready |= ready::readable;
  if (events & EPOLLOUT) ready |= ready::writable;
  if (events & EPOLLERR) ready |= ready::error;
  if (events & EPOLLHUP) ready |= ready::hangup;
  return ready;
}

class LeaderFollowers final : public Engine, public ReactorOwner {
 public:
  LeaderFollowers(const ServerOptions& options, Handler handler)
      : ReactorOwner(options, std::move(handler)) {}
  ~LeaderFollowers() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return address_; }
  BackendKind backend_in_use() const override { return BackendKind::epoll; }
  void shutdown(Duration deadline) override;

  void arm(ReactorConnection& conn, uint32_t interest) override;
  void closed(ReactorConnection& conn, Socket socket) override;

 private:
  void follow();
  void handle(const epoll_event& event);
  void accept_all();
  void shed();
  std::error_code add(int fd, uint64_t tag, uint32_t events);
  std::vector<std::shared_ptr<ReactorConnection>> connections();

  InetAddress address_;
  Socket epoll_;
  Socket listener_;
  Socket spare_;          // for running out of fds; the accepting thread owns the listener
  Socket stop_;           // an eventfd: level-triggered, so every thread sees it in turn
  std::vector<std::thread> threads_;

  std::mutex turn_mutex_;
  std::condition_variable turn_;
  bool leader_present_ = false;
  bool stopping_ = false;

  std::mutex registry_mutex_;  // taken after a connection's mutex, never before
  std::condition_variable none_left_;
  std::unordered_map<uint64_t, std::shared_ptr<ReactorConnection>> registry_;
  uint64_t next_tag_ = kListenerTag + 1;
  std::atomic<uint64_t> fd_exhaustions_{0};
  bool started_ = false;
};

std::error_code LeaderFollowers::add(int fd, uint64_t tag, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = tag;
  if (::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &event) != 0) return last_system_error();
  return {};
}

std::error_code LeaderFollowers::start() {
  epoll_ = Socket(::epoll_create1(EPOLL_CLOEXEC));
  stop_ = Socket(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_.valid() || !stop_.valid()) return last_system_error();
  auto listener = Acceptor::listen(options().address, ListenOptions{});
  if (!listener) return listener.error();
  listener_ = std::move(listener.value());
  auto bound = listener_.local_address();
  if (!bound) return bound.error();
  address_ = bound.value();
  spare_ = open_spare_fd();
  if (auto error = add(stop_.fd(), kStopTag, EPOLLIN)) return error;
  if (auto error = add(listener_.fd(), kListenerTag, EPOLLIN | EPOLLONESHOT)) return error;
  for (int i = 0; i < options().threads; ++i) {
    threads_.push_back(start_thread("tern-lf-" + std::to_string(i), [this] { follow(); }));
  }
  started_ = true;
  return {};
}

void LeaderFollowers::follow() {
  for (;;) {
    {
      std::unique_lock lock(turn_mutex_);
      turn_.wait(lock, [&] { return !leader_present_ || stopping_; });
      if (stopping_) return;
      leader_present_ = true;
    }
    epoll_event event{};
    int n = ::epoll_wait(epoll_.fd(), &event, 1, -1);
    bool stop;
    {
      std::lock_guard lock(turn_mutex_);
      leader_present_ = false;
      if (n == 1 && event.data.u64 == kStopTag) stopping_ = true;
      stop = stopping_;
    }
    // Promote a follower before handling the event, so the set is always being waited on.
    if (stop) {
      turn_.notify_all();
      return;
    }
    turn_.notify_one();
    if (n == 1) handle(event);
  }
}

void LeaderFollowers::handle(const epoll_event& event) {
  if (event.data.u64 == kListenerTag) {
    accept_all();
    return;
  }
  std::shared_ptr<ReactorConnection> conn;
  {
    // By tag, not by pointer: the connection may have been closed by another thread (a reply,
    // the drain deadline) after the kernel reported this event.
    std::lock_guard lock(registry_mutex_);
    auto it = registry_.find(event.data.u64);
    if (it == registry_.end()) return;
    conn = it->second;
  }
  conn->handle(from_epoll(event.events));
}

void LeaderFollowers::accept_all() {
  for (int i = 0; i < kMaxAcceptsPerEvent && !draining(); ++i) {
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) shed();
      break;
    }
    Socket socket(fd);
    socket.set_no_delay(true);
    std::shared_ptr<ReactorConnection> conn;
    {
      std::lock_guard lock(registry_mutex_);
      uint64_t tag = next_tag_++;
      conn = std::make_shared<ReactorConnection>(*this, std::move(socket), tag);
      registry_.emplace(tag, conn);
      // Registered disarmed; start() arms it (one-shot) like every later re-arm.
      if (auto error = add(fd, tag, EPOLLONESHOT)) {
        log(LogLevel::warn, "lf: epoll_ctl add: %s", error.message().c_str());
      }
    }
    conn->start();
  }
  if (draining()) return;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLONESHOT;
  event.data.u64 = kListenerTag;
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, listener_.fd(), &event);
}

// Out of fds: the waiting connections are accepted and closed (a clean close instead of a
// wait in the backlog). If some are left (no spare fd), this thread waits before re-arming
// the listener, so the set does not report it again at once; the other threads keep serving.
void LeaderFollowers::shed() {
  uint64_t count = ++fd_exhaustions_;
  if (count % 1000 == 1) {  // the first time, then once in a thousand
    log(LogLevel::warn, "out of file descriptors (%llu times): shedding connections on %s",
        static_cast<unsigned long long>(count), address_.to_string().c_str());
  }
  if (!shed_backlog(listener_.fd(), spare_)) std::this_thread::sleep_for(kShedPause);
}

void LeaderFollowers::arm(ReactorConnection& conn, uint32_t interest) {
  epoll_event event{};
  event.events = to_epoll(interest);
  event.data.u64 = conn.tag();
  if (::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, conn.fd(), &event) != 0) {
    log(LogLevel::warn, "lf: re-arm fd %d: %s", conn.fd(), last_system_error().message().c_str());
  }
}

void LeaderFollowers::closed(ReactorConnection& conn, Socket socket) {
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_DEL, socket.fd(), nullptr);
  std::shared_ptr<ReactorConnection> last;  // released after the registry's lock
  std::lock_guard lock(registry_mutex_);
  auto it = registry_.find(conn.tag());
  if (it == registry_.end()) return;
  last = std::move(it->second);
  registry_.erase(it);
  if (registry_.empty()) none_left_.notify_all();
}

std::vector<std::shared_ptr<ReactorConnection>> LeaderFollowers::connections() {
  std::lock_guard lock(registry_mutex_);
  std::vector<std::shared_ptr<ReactorConnection>> all;
  for (auto& [tag, conn] : registry_) all.push_back(conn);
  return all;
}

void LeaderFollowers::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  start_draining();
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_DEL, listener_.fd(), nullptr);
  for (auto& conn : connections()) conn->drain();
  {
    std::unique_lock lock(registry_mutex_);
    none_left_.wait_until(lock, until, [&] { return registry_.empty(); });
  }
  for (auto& conn : connections()) conn->close();
  uint64_t one = 1;
  if (::write(stop_.fd(), &one, sizeof one) != sizeof one) {
    log(LogLevel::error, "lf: cannot wake the threads to stop");
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace

std::unique_ptr<Engine> make_leader_followers(const ServerOptions& options, Handler handler) {
  return std::make_unique<LeaderFollowers>(options, std::move(handler));
}

}  // namespace tern
