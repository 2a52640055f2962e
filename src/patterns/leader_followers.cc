// The leader/followers engine (lf): `threads` threads share one readiness set and take turns
// waiting on it.
//
//   follower ──(the leader left)──► leader: waits on the set for one event
//   leader ──(an event)──► promotes a follower, then handles the event itself: accepts, or
//                          reads, drives the connection's session (the handler runs here),
//                          writes, re-arms
//   handler ──(done)──► follower again
//
// A hand-over (tern_lf_handovers_total) is a thread taking the lead that another thread held
// last; a leader that comes back to lead again at once (nobody else was free) is not one. It
// is counted under the turn's mutex, which taking the lead holds anyway: no clock, no atomic.
// With a metrics registry each thread also keeps its turns as loop figures (ThreadMeter:
// tern_loop_*{loop="i"}), and the program's per-thread hooks (ServerOptions::on_lf_thread_start
// and _stop: http::record_metrics sets the thread's HTTP shard there) run around its life.
//
// This model deliberately breaks the rule the others keep, that a connection belongs to one
// loop thread for life: here any thread may serve it. What keeps that safe is one-shot
// readiness (ReadinessSet, EPOLLONESHOT on epoll): the event disarms the fd in the kernel, so
// between its event and its re-arm a connection belongs to exactly one thread.
// ReadinessConnection makes that hand-over explicit and locks the session for replies that
// come from other threads. The session is the same Session<P> as every other model's.
// There is no EventLoop here: the shared set is the point, and a loop is one thread's. The
// connections' deadlines live in one TimerQueue under a mutex: the leader waits no longer than
// the earliest, runs what is due after its wait, and a deadline set earlier than the one the
// leader waits for wakes it (an eventfd in the set). Signals stay with the program (every tern
// thread blocks them).
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/thread.h"
#include "backend/readiness_set.h"
#include "loop/timer_queue.h"
#include "patterns/connection_task.h"
#include "patterns/engine.h"
#include "patterns/readiness_connection.h"
#include "patterns/thread_meter.h"
#include "tern/backend/op.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/base/slab.h"
#include "tern/net/acceptor.h"
#include "tern/net/connection_limit.h"

namespace tern {
namespace {

constexpr uint64_t kListenerTag = ReadinessSet::kReservedTag - 1;
constexpr uint64_t kTimerTag = ReadinessSet::kReservedTag - 2;  // an earlier deadline was set
constexpr int kMaxAcceptsPerEvent = 64;
constexpr auto kShedPause = std::chrono::milliseconds(100);

// lf's connections live on no loop, so their ConnIds carry a loop handle that names none
// (valid() is false: replies are delivered from the replying thread). Its generation is this
// server's own number, so post_to tells this server's ids from another lf server's.
LoopHandle next_server_tag() {
  static std::atomic<uint32_t> servers{0};
  return LoopHandle{UINT32_MAX, servers.fetch_add(1, std::memory_order_relaxed) + 1};
}

// The program's per-thread hooks around one lf thread's life, on that thread.
class ThreadHooks {
 public:
  ThreadHooks(const ServerOptions& options, int index) : options_(options), index_(index) {
    if (options_.on_lf_thread_start) options_.on_lf_thread_start(index_);
  }
  ~ThreadHooks() {
    if (options_.on_lf_thread_stop) options_.on_lf_thread_stop(index_);
  }
  ThreadHooks(const ThreadHooks&) = delete;
  ThreadHooks& operator=(const ThreadHooks&) = delete;

 private:
  const ServerOptions& options_;
  size_t index_;
};

class LeaderFollowers final : public Engine, public ReadinessOwner, public SessionFinder {
 public:
  LeaderFollowers(const ServerOptions& options, Service service)
      : options_(options), service_(std::move(service)),
        config_{options.max_pipeline, options.high_water}, limit_(options.max_connections) {}
  ~LeaderFollowers() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return address_; }
  BackendKind backend_in_use() const override { return options_.backend; }
  ServerStats stats() const override;
  ModelFigures model_figures() const override;
  bool post_to(ConnId id, ConnectionTask task) override;
  void shutdown(Duration deadline) override;

  // ReadinessOwner: any thread.
  void arm(ReadinessConnection& conn, uint32_t interest) override;
  void closed(ReadinessConnection& conn, Socket socket) override;
  void set_deadline(ReadinessConnection& conn, TimePoint when) override;
  // SessionFinder: any thread (replies come straight from the replying thread).
  void visit(ConnId id, FunctionRef<void(SessionBase&)> visit) override;

 private:
  struct Entry {
    std::shared_ptr<ReadinessConnection> conn;
  };
  void follow(int index);
  std::optional<Duration> wait_limit();
  size_t run_due_deadlines();
  void handle(const ReadinessEvent& event);
  void accept_all();
  bool claim_slot();
  std::shared_ptr<ReadinessConnection> adopt(Socket socket);
  void shed();
  std::vector<std::shared_ptr<ReadinessConnection>> connections();

  ServerOptions options_;
  Service service_;
  SessionConfig config_;
  const LoopHandle ids_ = next_server_tag();  // the loop part of this server's ConnIds
  InetAddress address_;
  std::unique_ptr<ReadinessSet> set_;
  std::unique_ptr<SessionMaker> maker_;
  Socket listener_;
  Socket spare_;  // for running out of fds; the accepting thread owns the listener
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<ThreadMeter>> meters_;  // with metrics: element i is thread i's
  std::atomic<bool> draining_{false};
  // Connections open across the threads. At max_connections the accepting thread leaves the
  // listener disarmed (one-shot) and parks; the thread that frees a slot re-arms it.
  ConnectionLimit limit_;
  ConnectionLimit::Waiter limit_waiter_;

  mutable std::mutex turn_mutex_;  // also taken by model_figures() (a scrape)
  std::condition_variable turn_;
  bool leader_present_ = false;
  bool stopping_ = false;
  int last_leader_ = -1;    // index of the thread that took the lead last; -1: none yet
  uint64_t handovers_ = 0;  // takes of the lead by another thread than last_leader_

  std::mutex registry_mutex_;  // taken after a connection's mutex, never before
  std::condition_variable none_left_;
  Slab<Entry> registry_;
  std::atomic<uint64_t> fd_exhaustions_{0};
  LogLimiter arm_failures_;

  std::mutex timer_mutex_;  // taken after a connection's mutex, never before
  TimerQueue timers_;
  std::unordered_map<uint64_t, TimerId> deadlines_;  // by connection tag
  std::vector<uint64_t> due_;                         // filled by run_due's callbacks
  bool leader_waiting_ = false;
  TimePoint waiting_until_{};  // the deadline the waiting leader wakes up for, if any
  Socket timer_wake_;          // an eventfd in the set
  bool started_ = false;
};

std::error_code LeaderFollowers::start() {
  auto set = make_readiness_set(options_.backend);
  if (!set) return set.error();
  set_ = std::move(set.value());
  auto listener = Acceptor::listen(options_.address, ListenOptions{});
  if (!listener) return listener.error();
  listener_ = std::move(listener.value());
  auto bound = listener_.local_address();
  if (!bound) return bound.error();
  address_ = bound.value();
  spare_ = open_spare_fd();
  maker_ = service_.maker(config_, *this);
  // Any thread: the listener goes back into the set, and the next leader accepts. The
  // accepting thread let go of it when it parked, so nobody else is accepting meanwhile.
  limit_waiter_.wake = [this] {
    if (draining_) return;
    if (auto error = set_->arm(listener_.fd(), kListenerTag, ready::readable)) {
      log_limited(arm_failures_, LogLevel::warn, "lf: re-arm listener: %s", error.message().c_str());
    }
  };
  timer_wake_ = Socket(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!timer_wake_.valid()) return last_system_error();
  if (auto error = set_->add(timer_wake_.fd(), kTimerTag, ready::readable)) return error;
  if (auto error = set_->add(listener_.fd(), kListenerTag, ready::readable)) return error;
  if (options_.metrics != nullptr) {
    meters_.clear();
    for (int i = 0; i < options_.threads; ++i) {
      meters_.push_back(std::make_unique<ThreadMeter>(Clock::now()));
    }
  }
  for (int i = 0; i < options_.threads; ++i) {
    threads_.push_back(start_thread("tern-lf-" + std::to_string(i), [this, i] { follow(i); }));
  }
  started_ = true;
  return {};
}

void LeaderFollowers::follow(int index) {
  ThreadHooks hooks(options_, index);
  ThreadMeter* meter = meters_.empty() ? nullptr : meters_[size_t(index)].get();
  for (;;) {
    {
      std::unique_lock lock(turn_mutex_);
      turn_.wait(lock, [&] { return !leader_present_ || stopping_; });
      if (stopping_) return;
      leader_present_ = true;
      if (last_leader_ != index) {
        if (last_leader_ >= 0) ++handovers_;
        last_leader_ = index;
      }
    }
    ReadinessEvent event;
    auto got = set_->wait(std::span(&event, 1), wait_limit());
    const TimePoint woke = meter != nullptr ? Clock::now() : TimePoint{};
    {
      // Before a follower can become the leader (below): cleared later, it could clear the
      // flag the new leader has just set, and an earlier deadline would not wake it
      // (regression: a write deadline that never fired under lf).
      std::lock_guard lock(timer_mutex_);
      leader_waiting_ = false;
    }
    bool stop;
    {
      std::lock_guard lock(turn_mutex_);
      leader_present_ = false;
      if (set_->woken()) stopping_ = true;
      stop = stopping_;
    }
    // Promote a follower before handling the event, so the set is always being waited on.
    if (stop) {
      turn_.notify_all();
      return;
    }
    turn_.notify_one();
    const size_t timers = run_due_deadlines();
    const size_t events = got ? got.value() : 0;
    if (events == 1) handle(event);
    if (meter != nullptr) meter->record(woke, Clock::now(), events, timers);
  }
}

// How long the leader may wait: until the earliest deadline (none: for ever).
std::optional<Duration> LeaderFollowers::wait_limit() {
  std::lock_guard lock(timer_mutex_);
  auto next = timers_.next_deadline();
  leader_waiting_ = true;
  waiting_until_ = next.value_or(TimePoint::max());
  if (!next) return std::nullopt;
  return std::max(Duration::zero(), *next - Clock::now());
}

// The deadlines that are due, run outside the timer lock (a connection takes its own lock,
// and calls set_deadline under it). Returns how many were due.
size_t LeaderFollowers::run_due_deadlines() {
  std::vector<uint64_t> due;
  {
    std::lock_guard lock(timer_mutex_);
    timers_.run_due(Clock::now());
    due.swap(due_);
  }
  for (uint64_t tag : due) {
    std::shared_ptr<ReadinessConnection> conn;
    {
      std::lock_guard lock(registry_mutex_);
      Entry* entry = registry_.find(Slab<Entry>::Key::from_tag(tag));
      if (entry == nullptr) continue;
      conn = entry->conn;
    }
    conn->deadline_reached();
  }
  return due.size();
}

void LeaderFollowers::set_deadline(ReadinessConnection& conn, TimePoint when) {
  bool wake = false;
  {
    std::lock_guard lock(timer_mutex_);
    auto it = deadlines_.find(conn.tag());
    if (it != deadlines_.end()) {
      timers_.cancel(it->second);
      deadlines_.erase(it);
    }
    if (when == TimePoint{}) return;
    uint64_t tag = conn.tag();
    deadlines_[tag] = timers_.add(when, Duration::zero(), [this, tag] {
      deadlines_.erase(tag);
      due_.push_back(tag);
    });
    wake = leader_waiting_ && when < waiting_until_;
    if (wake) waiting_until_ = when;
  }
  uint64_t one = 1;
  if (wake && ::write(timer_wake_.fd(), &one, sizeof one) != sizeof one) {
    log_limited(arm_failures_, LogLevel::warn, "lf: cannot wake the leader for a deadline");
  }
}

void LeaderFollowers::handle(const ReadinessEvent& event) {
  if (event.tag == kListenerTag) {
    accept_all();
    return;
  }
  if (event.tag == kTimerTag) {  // the next leader waits with the new earliest deadline
    uint64_t count;
    ssize_t ignored = ::read(timer_wake_.fd(), &count, sizeof count);
    (void)ignored;
    set_->arm(timer_wake_.fd(), kTimerTag, ready::readable);
    return;
  }
  std::shared_ptr<ReadinessConnection> conn;
  {
    // By tag (slot and generation), not by pointer: the connection may have been closed by
    // another thread (a reply, the drain deadline) after the kernel reported this event.
    std::lock_guard lock(registry_mutex_);
    Entry* entry = registry_.find(Slab<Entry>::Key::from_tag(event.tag));
    if (entry == nullptr) return;
    conn = entry->conn;
  }
  conn->handle(event.ready);
}

// The slot comes before accept(2): at the limit the listener stays disarmed (clients wait in
// the backlog) until a close re-arms it (limit_waiter_).
void LeaderFollowers::accept_all() {
  for (int i = 0; i < kMaxAcceptsPerEvent && !draining_; ++i) {
    if (!claim_slot()) return;  // parked: the listener is re-armed when a slot frees
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      limit_.release_unused();
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error == EMFILE || error == ENFILE) shed();
      break;
    }
    Socket socket(fd);
    socket.set_no_delay(true);
    if (auto conn = adopt(std::move(socket))) conn->start();
  }
  if (draining_) return;
  if (auto error = set_->arm(listener_.fd(), kListenerTag, ready::readable)) {
    log_limited(arm_failures_, LogLevel::warn, "lf: re-arm listener: %s", error.message().c_str());
  }
}

bool LeaderFollowers::claim_slot() {
  return limit_.try_claim() || limit_.claim_or_park(limit_waiter_);
}

ServerStats LeaderFollowers::stats() const {
  ServerStats stats;
  stats.open_connections = limit_.open();
  stats.accepted = limit_.accepted();
  stats.accept_pauses = limit_.pauses();
  return stats;
}

ModelFigures LeaderFollowers::model_figures() const {
  ModelFigures figures;
  for (const auto& meter : meters_) figures.lf_threads.push_back(meter->read());
  figures.lf_backend = options_.backend;
  std::lock_guard lock(turn_mutex_);
  figures.handovers = handovers_;
  return figures;
}

// Registers the connection, disarmed; start() arms it (one-shot) like every later re-arm.
std::shared_ptr<ReadinessConnection> LeaderFollowers::adopt(Socket socket) {
  std::lock_guard lock(registry_mutex_);
  auto key = registry_.insert(std::make_unique<Entry>());
  uint64_t tag = key.tag();
  int fd = socket.fd();
  auto conn = std::make_shared<ReadinessConnection>(*this, std::move(socket), tag);
  conn->attach(maker_->make(*conn, *conn, ConnId{ids_, key.slot, key.generation}));
  if (auto error = set_->add(fd, tag)) {
    log_limited(arm_failures_, LogLevel::warn, "lf: register fd %d: %s", fd,
                error.message().c_str());
    registry_.erase(key.slot, key.generation);
    limit_.release();
    return nullptr;  // the connection (and its socket) goes
  }
  registry_.find(key.slot, key.generation)->conn = conn;
  return conn;
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

void LeaderFollowers::arm(ReadinessConnection& conn, uint32_t interest) {
  if (auto error = set_->arm(conn.fd(), conn.tag(), interest)) {
    // A client can make this happen at will (resets in a storm): one line a second at most.
    log_limited(arm_failures_, LogLevel::warn, "lf: re-arm fd %d: %s", conn.fd(),
                error.message().c_str());
  }
}

void LeaderFollowers::closed(ReadinessConnection& conn, Socket socket) {
  set_->remove(socket.fd());
  limit_.release();
  std::unique_ptr<Entry> last;  // released after the registry's lock
  std::lock_guard lock(registry_mutex_);
  last = registry_.erase(static_cast<uint32_t>(conn.tag()), static_cast<uint32_t>(conn.tag() >> 32));
  if (registry_.size() == 0) none_left_.notify_all();
}

void LeaderFollowers::visit(ConnId id, FunctionRef<void(SessionBase&)> visit) {
  std::shared_ptr<ReadinessConnection> conn;
  {
    std::lock_guard lock(registry_mutex_);
    Entry* entry = registry_.find(id.slot, id.generation);
    if (entry == nullptr) return;
    conn = entry->conn;
  }
  conn->visit(visit);
}

// No loop to post to: the task runs here, on the posting thread, with the connection locked,
// where replies from other threads run too. An id of another server (a loop model's, or
// another lf server's: its tag differs) is refused.
bool LeaderFollowers::post_to(ConnId id, ConnectionTask task) {
  if (id.loop != ids_) return false;
  run_connection_task(*this, id, task);
  return true;
}

std::vector<std::shared_ptr<ReadinessConnection>> LeaderFollowers::connections() {
  std::lock_guard lock(registry_mutex_);
  std::vector<std::shared_ptr<ReadinessConnection>> all;
  registry_.for_each([&](const Entry& e) { all.push_back(e.conn); });
  return all;
}

void LeaderFollowers::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  draining_ = true;
  limit_.unpark(limit_waiter_);  // a close during the drain must not re-arm the listener
  set_->remove(listener_.fd());
  for (auto& conn : connections()) conn->drain();
  {
    std::unique_lock lock(registry_mutex_);
    none_left_.wait_until(lock, until, [&] { return registry_.size() == 0; });
  }
  for (auto& conn : connections()) conn->close();
  set_->wake();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  std::lock_guard lock(registry_mutex_);
  registry_ = Slab<Entry>();  // what a late close left: nothing is touched any more
}

}  // namespace

std::unique_ptr<Engine> make_leader_followers(const ServerOptions& options, Service service) {
  return std::make_unique<LeaderFollowers>(options, std::move(service));
}

}  // namespace tern
