// The reactor engine: single, loops and hsha under the reactor pattern.
//
// The loops only wait for readiness. Each connection is a ReadinessConnection (the transport)
// carrying a Session<P> (the same state machine as the stream engine's), with a one-shot
// Watcher on its loop; when it fires, the event goes to a worker through the bounded queue
// (hsha), or is handled right there on the loop (single, loops). The thread handling the event
// reads, drives the session (which runs the handlers inline on that thread), writes, and
// re-arms. A worker cannot touch a Watcher (loop thread only), so its re-arm is posted to the
// loop: one cross-thread wake-up per event, the price of this pattern with a loop abstraction.
// A full queue leaves the event with the loop, which hands it on when the workers have made
// room; the connection is not re-armed meanwhile, so it is not read.
// Replies and deadlines reach a connection on its loop, by ConnId, through the slab.
#include <condition_variable>
#include <mutex>
#include <vector>

#include "patterns/balancer.h"
#include "patterns/connection_task.h"
#include "patterns/engine.h"
#include "patterns/readiness_connection.h"
#include "patterns/worker_pool.h"
#include "tern/base/logging.h"
#include "tern/base/slab.h"
#include "tern/loop/loop_group.h"
#include "tern/loop/watcher.h"
#include "tern/net/connection_limit.h"

namespace tern {
namespace {

struct Event {
  std::shared_ptr<ReadinessConnection> conn;
  uint32_t ready = 0;
};

class ReactorEngine;

// One loop and the connections it watches. Loop thread only, except the ReadinessOwner
// methods (any thread; they post to the loop).
class ReactorLoop final : public ReadinessOwner, public SessionFinder {
 public:
  ReactorLoop(ReactorEngine& engine, size_t index) : engine_(engine), index_(index) {}

  void set_up(EventLoop& loop, const Service& service, const SessionConfig& config) {
    loop_ = &loop;
    maker_ = service.maker(config, *this);
  }
  // After the loop stopped: connections first (their sessions use the maker).
  void tear_down() {
    entries_ = Slab<Entry>();
    maker_.reset();
  }

  void add(Socket socket);
  void begin_drain();
  void close_all();
  size_t index() const noexcept { return index_; }
  size_t connections() const noexcept { return entries_.size(); }  // loop thread

  // ReadinessOwner.
  void arm(ReadinessConnection& conn, uint32_t interest) override;
  void closed(ReadinessConnection& conn, Socket socket) override;
  void set_deadline(ReadinessConnection& conn, TimePoint when) override;
  // SessionFinder: on this loop's thread (replies are posted here).
  void visit(ConnId id, FunctionRef<void(SessionBase&)> visit) override {
    Entry* entry = entries_.find(id.slot, id.generation);
    if (entry == nullptr) return;
    auto conn = entry->conn;  // visiting may close it, which erases the entry
    conn->visit(visit);
  }

 private:
  struct Entry {
    std::shared_ptr<ReadinessConnection> conn;
    std::unique_ptr<Watcher> watcher;
    TimerId deadline;
  };
  // A connection's tag is its key in the loop's slab (Slab::Key::tag).
  Entry* find(uint64_t tag) { return entries_.find(Slab<Entry>::Key::from_tag(tag)); }
  void watch(uint64_t tag, uint32_t interest);
  void sync(uint64_t tag);
  void forget(uint64_t tag);
  void schedule(uint64_t tag, TimePoint when);
  void on_ready(const std::shared_ptr<ReadinessConnection>& conn, uint32_t ready);
  void hand_on_deferred();
  bool in_loop() const { return loop_->in_loop_thread(); }

  ReactorEngine& engine_;
  size_t index_;
  EventLoop* loop_ = nullptr;
  std::unique_ptr<SessionMaker> maker_;
  Slab<Entry> entries_;
  std::vector<Event> deferred_;  // events waiting for queue room
  bool waiting_for_space_ = false;
  bool draining_ = false;
};

class ReactorEngine final : public Engine {
 public:
  ReactorEngine(const ServerOptions& options, Service service)
      : options_(options), service_(std::move(service)),
        config_{options.max_pipeline, options.high_water}, limit_(options.max_connections) {}
  ~ReactorEngine() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return balancer_->local_address(); }
  BackendKind backend_in_use() const override { return backend_in_use_; }
  ServerStats stats() const override {
    ServerStats stats;
    stats.pushbacks = workers_.rejected();
    stats.queue_depth = workers_.queued();
    stats.open_connections = limit_.open();
    stats.accepted = limit_.accepted();
    stats.accept_pauses = limit_.pauses();
    return stats;
  }
  ModelFigures model_figures() const override {
    ModelFigures figures;
    workers_.read_figures(figures);
    return figures;
  }
  size_t loop_connections(size_t index) const override { return loops_[index]->connections(); }
  bool post_to(ConnId id, ConnectionTask task) override {
    return post_connection_task(group_, loops_, id, std::move(task));
  }
  void shutdown(Duration deadline) override;

  BoundedQueue<Event>* queue() noexcept { return workers_.queue(); }
  LoopHandle handle(size_t index) const { return group_.handle(index); }
  void opened() {
    std::lock_guard lock(mutex_);
    ++live_;
  }
  // A connection's slot is free again (it closed, or was dropped before it was served).
  void release_slot() { limit_.release(); }
  void closed() {
    limit_.release();
    std::lock_guard lock(mutex_);
    if (--live_ == 0) none_left_.notify_all();
  }

 private:
  ServerOptions options_;
  Service service_;
  SessionConfig config_;
  BackendKind backend_in_use_ = BackendKind::epoll;
  ConnectionLimit limit_;  // before loops_ and group_: their acceptors and closes use it
  std::vector<std::unique_ptr<ReactorLoop>> loops_;
  LoopGroup group_;  // after loops_: stopped before the state of its loops goes
  std::unique_ptr<Balancer> balancer_;
  WorkerPool<Event> workers_;
  std::mutex mutex_;
  std::condition_variable none_left_;
  size_t live_ = 0;
  bool started_ = false;
};

void ReactorLoop::add(Socket socket) {
  if (draining_) {
    engine_.release_slot();
    return;  // closes the socket
  }
  auto key = entries_.insert(std::make_unique<Entry>());
  uint64_t tag = key.tag();
  auto conn = std::make_shared<ReadinessConnection>(*this, std::move(socket), tag);
  conn->attach(maker_->make(*conn, *conn,
                            ConnId{engine_.handle(index_), key.slot, key.generation}));
  entries_.find(key.slot, key.generation)->conn = conn;
  engine_.opened();
  conn->start();
}

// From the loop's thread the values given are the newest and applied at once; from a worker
// the task applies whatever the connection wants when it runs (sync), so a task that a direct
// call overtook cannot undo it.
void ReactorLoop::arm(ReadinessConnection& conn, uint32_t interest) {
  if (in_loop()) {
    watch(conn.tag(), interest);
    return;
  }
  post_to(engine_.handle(index_), [this, tag = conn.tag()] { sync(tag); });
}

void ReactorLoop::sync(uint64_t tag) {
  Entry* entry = find(tag);
  if (entry == nullptr) return;
  auto wanted = entry->conn->wanted();
  if (wanted.interest != 0) watch(tag, wanted.interest);  // 0: owned by a thread, or idle
  schedule(tag, wanted.deadline);
}

void ReactorLoop::watch(uint64_t tag, uint32_t interest) {
  Entry* entry = find(tag);
  if (entry == nullptr) return;  // closed meanwhile
  if (!entry->watcher) entry->watcher = std::make_unique<Watcher>(*loop_, entry->conn->fd());
  auto error = entry->watcher->start(interest, /*one_shot=*/true,
                                     [this, c = entry->conn](uint32_t ready) { on_ready(c, ready); });
  if (error) {
    // Closed from a task: arm() is called under the connection's lock (select refusing an fd
    // >= FD_SETSIZE would otherwise deadlock the loop on it).
    log(LogLevel::warn, "closing fd %d: %s", entry->conn->fd(), error.message().c_str());
    post_to(engine_.handle(index_), [conn = entry->conn] { conn->close(); });
  }
}

void ReactorLoop::on_ready(const std::shared_ptr<ReadinessConnection>& conn, uint32_t ready) {
  BoundedQueue<Event>* queue = engine_.queue();
  if (queue == nullptr) {
    auto keep = conn;  // handle() may close it, which drops the entry holding `conn`
    keep->handle(ready);
    return;
  }
  Event event{conn, ready};
  if (!deferred_.empty() || !queue->try_push(event)) {
    deferred_.push_back(std::move(event));
    if (!waiting_for_space_) {
      waiting_for_space_ = true;
      queue->when_space([this, h = engine_.handle(index_)] {
        post_to(h, [this] { hand_on_deferred(); });
      });
    }
  }
}

void ReactorLoop::hand_on_deferred() {
  waiting_for_space_ = false;
  size_t handed = 0;
  while (handed < deferred_.size() && engine_.queue()->try_push(deferred_[handed])) ++handed;
  deferred_.erase(deferred_.begin(), deferred_.begin() + static_cast<ptrdiff_t>(handed));
  if (!deferred_.empty()) {
    waiting_for_space_ = true;
    engine_.queue()->when_space([this, h = engine_.handle(index_)] {
      post_to(h, [this] { hand_on_deferred(); });
    });
  }
}

// The Watcher must stop, and the backend forget the fd, before the fd closes (the loop's
// poller knows fds by number): the socket stays open until forget() has run.
void ReactorLoop::closed(ReadinessConnection& conn, Socket socket) {
  if (in_loop()) {
    forget(conn.tag());
    return;
  }
  post_to(engine_.handle(index_),
          [this, tag = conn.tag(), socket = std::move(socket)]() mutable { forget(tag); });
}

void ReactorLoop::forget(uint64_t tag) {
  Entry* entry = find(tag);
  if (entry == nullptr) return;
  // The next connection given this fd number must not inherit the backend's state for it
  // (epoll: its registration would be skipped and it would never be read).
  if (entry->watcher) entry->watcher->forget_fd();
  if (entry->deadline.valid()) loop_->cancel(entry->deadline);
  // Released after the erase: the connection may be up the stack in its own handle().
  auto keep = std::move(entry->conn);
  entries_.erase(Slab<Entry>::Key::from_tag(tag));
  engine_.closed();
}

void ReactorLoop::set_deadline(ReadinessConnection& conn, TimePoint when) {
  if (in_loop()) {
    schedule(conn.tag(), when);
    return;
  }
  post_to(engine_.handle(index_), [this, tag = conn.tag()] { sync(tag); });
}

void ReactorLoop::schedule(uint64_t tag, TimePoint when) {
  Entry* entry = find(tag);
  if (entry == nullptr) return;
  if (entry->deadline.valid()) loop_->cancel(entry->deadline);
  entry->deadline = TimerId{};
  if (when == TimePoint{}) return;
  entry->deadline = loop_->run_after(std::max(Duration::zero(), when - Clock::now()), [this, tag] {
    Entry* e = find(tag);
    if (e == nullptr) return;
    e->deadline = TimerId{};
    auto keep = e->conn;  // deadline_reached() may close it
    keep->deadline_reached();
  });
}

void ReactorLoop::begin_drain() {
  draining_ = true;
  std::vector<std::shared_ptr<ReadinessConnection>> conns;
  entries_.for_each([&](const Entry& e) { conns.push_back(e.conn); });
  for (auto& conn : conns) conn->drain();
}

void ReactorLoop::close_all() {
  std::vector<std::shared_ptr<ReadinessConnection>> conns;
  entries_.for_each([&](const Entry& e) { conns.push_back(e.conn); });
  for (auto& conn : conns) conn->close();
}

std::error_code ReactorEngine::start() {
  workers_.start(options_.workers, options_.queue_capacity,
                 [](Event& event) { event.conn->handle(event.ready); },
                 /*metered=*/options_.metrics != nullptr);
  size_t n = static_cast<size_t>(options_.threads);
  for (size_t i = 0; i < n; ++i) loops_.push_back(std::make_unique<ReactorLoop>(*this, i));
  auto error = group_.start(
      LoopGroupOptions{options_.backend, options_.backend_options, options_.threads, "tern-io"},
      [this](size_t i, EventLoop& loop) {
        if (options_.on_loop_start) {
          if (auto failed = options_.on_loop_start(i, loop)) return failed;
        }
        loops_[i]->set_up(loop, service_, config_);
        return std::error_code{};
      },
      [this](size_t i, EventLoop& loop) {
        // The program's per-loop state first: replies it drops still find their sessions.
        if (options_.on_loop_stop) options_.on_loop_stop(i, loop);
        if (balancer_) balancer_->stop_on(i);
        loops_[i]->close_all();
        loops_[i]->tear_down();
      });
  if (error) {
    loops_.clear();
    workers_.stop();
    return error;
  }
  std::vector<EventLoop*> loops;
  for (size_t i = 0; i < n; ++i) loops.push_back(&group_.loop(i));
  backend_in_use_ = loops.front()->backend_kind();
  balancer_ = std::make_unique<Balancer>(
      options_.address, options_.balancing, loops,
      [this](size_t index, Socket socket) { loops_[index]->add(std::move(socket)); }, &limit_);
  started_ = true;
  error = balancer_->listen_all(
      [this](size_t i, std::function<void()> task) { group_.run_and_wait(i, std::move(task)); });
  if (error) shutdown(Duration::zero());
  return error;
}

void ReactorEngine::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  for (auto& io : loops_) {
    group_.run_and_wait(io->index(), [&] {
      balancer_->stop_on(io->index());
      io->begin_drain();
    });
  }
  {
    std::unique_lock lock(mutex_);
    none_left_.wait_until(lock, until, [&] { return live_ == 0; });
  }
  for (auto& io : loops_) group_.run_and_wait(io->index(), [&] { io->close_all(); });
  workers_.stop();
  group_.stop();
}

}  // namespace

std::unique_ptr<Engine> make_reactor_engine(const ServerOptions& options, Service service) {
  return std::make_unique<ReactorEngine>(options, std::move(service));
}

}  // namespace tern
