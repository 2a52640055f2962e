// The reactor engine: single, loops and hsha under the reactor pattern.
//
// The loops only wait for readiness. Each connection has a one-shot Watcher on its loop; when
// it fires, the event goes to a worker through the bounded queue (hsha), or is handled right
// there on the loop (single, loops). The thread handling the event does the reads and the
// writes itself and re-arms the connection (ReactorConnection). A worker cannot touch a
// Watcher (loop thread only), so its re-arm is posted to the loop: one cross-thread wake-up
// per event, the price of this pattern with a loop abstraction (the lf engine re-arms with
// epoll_ctl from any thread instead).
// A full queue leaves the event with the loop, which hands it on when the workers have made
// room; the connection is not re-armed meanwhile, so it is not read.
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "patterns/balancer.h"
#include "patterns/engine.h"
#include "patterns/loop_gate.h"
#include "patterns/loop_thread.h"
#include "patterns/reactor_connection.h"
#include "patterns/worker_pool.h"
#include "tern/base/logging.h"
#include "tern/loop/watcher.h"

namespace tern {
namespace {

struct Event {
  std::shared_ptr<ReactorConnection> conn;
  uint32_t ready = 0;
};

class ReactorEngine;

// One loop and the connections it watches: the ReactorOwner of those connections.
class ReactorLoop final : public ReactorOwner {
 public:
  ReactorLoop(ReactorEngine& engine, size_t index, const ServerOptions& options,
              Handler handler)
      : ReactorOwner(options, std::move(handler)), engine_(engine), index_(index) {}

  void arm(ReactorConnection& conn, uint32_t interest) override;
  void closed(ReactorConnection& conn, Socket socket) override;

  // Loop thread.
  void add(Socket socket);
  void begin_drain();
  void close_all();
  void clear() { entries_.clear(); }

  size_t index_value() const noexcept { return index_; }
  LoopThread thread;
  std::shared_ptr<LoopGate> gate;

 private:
  struct Entry {
    std::shared_ptr<ReactorConnection> conn;
    std::unique_ptr<Watcher> watcher;
  };
  void watch(ReactorConnection* conn, uint32_t interest);
  void forget(ReactorConnection* conn);
  void on_ready(const std::shared_ptr<ReactorConnection>& conn, uint32_t ready);
  void hand_on_deferred();

  ReactorEngine& engine_;
  size_t index_;
  std::unordered_map<ReactorConnection*, Entry> entries_;  // loop thread only
  std::vector<Event> deferred_;                             // events waiting for queue room
  bool waiting_for_space_ = false;
};

class ReactorEngine final : public Engine {
 public:
  ReactorEngine(const ServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {}
  ~ReactorEngine() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return balancer_->local_address(); }
  BackendKind backend_in_use() const override { return backend_in_use_; }
  ServerStats stats() const override {
    return ServerStats{workers_.rejected()};
  }
  void shutdown(Duration deadline) override;

  BoundedQueue<Event>* queue() noexcept { return workers_.queue(); }
  void opened() {
    std::lock_guard lock(mutex_);
    ++live_;
  }
  void closed() {
    std::lock_guard lock(mutex_);
    if (--live_ == 0) none_left_.notify_all();
  }

 private:

  ServerOptions options_;
  Handler handler_;
  BackendKind backend_in_use_ = BackendKind::epoll;
  std::vector<std::unique_ptr<ReactorLoop>> loops_;
  std::unique_ptr<Balancer> balancer_;
  WorkerPool<Event> workers_;
  std::mutex mutex_;
  std::condition_variable none_left_;
  size_t live_ = 0;
  bool started_ = false;
};

void ReactorLoop::add(Socket socket) {
  if (draining()) return;  // closes the socket
  auto conn = std::make_shared<ReactorConnection>(*this, std::move(socket), 0);
  engine_.opened();
  entries_[conn.get()].conn = conn;
  conn->start();
}

void ReactorLoop::arm(ReactorConnection& conn, uint32_t interest) {
  if (gate->in_loop_thread()) {
    watch(&conn, interest);
    return;
  }
  gate->post([this, weak = conn.weak_from_this(), interest] {
    if (auto alive = weak.lock()) watch(alive.get(), interest);
  });
}

void ReactorLoop::watch(ReactorConnection* conn, uint32_t interest) {
  auto it = entries_.find(conn);
  if (it == entries_.end()) return;  // closed meanwhile
  Entry& entry = it->second;
  if (!entry.watcher) entry.watcher = std::make_unique<Watcher>(thread.loop(), conn->fd());
  auto error = entry.watcher->start(interest, /*one_shot=*/true,
                                    [this, c = entry.conn](uint32_t ready) { on_ready(c, ready); });
  if (error) {
    log(LogLevel::warn, "closing fd %d: %s", conn->fd(), error.message().c_str());
    conn->close();
  }
}

void ReactorLoop::on_ready(const std::shared_ptr<ReactorConnection>& conn, uint32_t ready) {
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
      queue->when_space([this, g = gate] { g->post([this] { hand_on_deferred(); }); });
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
    engine_.queue()->when_space([this, g = gate] { g->post([this] { hand_on_deferred(); }); });
  }
}

void ReactorLoop::closed(ReactorConnection& conn, Socket socket) {
  // The Watcher must stop before the fd closes (the loop's poller knows fds by number).
  if (gate->in_loop_thread()) {
    forget(&conn);
    return;
  }
  auto holder = std::make_shared<Socket>(std::move(socket));
  gate->post([this, c = &conn, holder = std::move(holder)] { forget(c); });
}

void ReactorLoop::forget(ReactorConnection* conn) {
  auto it = entries_.find(conn);
  if (it == entries_.end()) return;
  auto keep = std::move(it->second.conn);  // may be in its own handle() up the stack
  entries_.erase(it);
  engine_.closed();
}

void ReactorLoop::begin_drain() {
  start_draining();
  for (auto& [ptr, entry] : entries_) entry.conn->drain();
}

void ReactorLoop::close_all() {
  std::vector<std::shared_ptr<ReactorConnection>> conns;
  for (auto& [ptr, entry] : entries_) conns.push_back(entry.conn);
  for (auto& conn : conns) conn->close();
}

std::error_code ReactorEngine::start() {
  size_t n = static_cast<size_t>(options_.threads);
  std::vector<EventLoop*> loops;
  for (size_t i = 0; i < n; ++i) {
    auto io = std::make_unique<ReactorLoop>(*this, i, options_, handler_);
    ReactorLoop& ref = *io;
    auto error = io->thread.start(
        "tern-io-" + std::to_string(i), options_.backend, options_.backend_options,
        [&ref](EventLoop& loop) {
          ref.gate = std::make_shared<LoopGate>(loop);
          return std::error_code{};
        },
        [this, &ref] {
          if (balancer_) balancer_->stop_on(ref.index_value());
          ref.close_all();
          ref.clear();
        });
    if (error) {
      loops_.clear();
      return error;
    }
    loops.push_back(&io->thread.loop());
    loops_.push_back(std::move(io));
  }
  backend_in_use_ = loops.front()->backend_kind();
  balancer_ = std::make_unique<Balancer>(
      options_.address, options_.balancing, loops,
      [this](size_t index, Socket socket) { loops_[index]->add(std::move(socket)); });
  workers_.start(options_.workers, options_.queue_capacity,
                 [](Event& event) { event.conn->handle(event.ready); });
  started_ = true;
  auto error = balancer_->listen_all(
      [this](size_t i, std::function<void()> task) { loops_[i]->thread.run_and_wait(task); });
  if (error) shutdown(Duration::zero());
  return error;
}

void ReactorEngine::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  for (auto& io : loops_) {
    io->thread.run_and_wait([&] {
      balancer_->stop_on(io->index_value());
      io->begin_drain();
    });
  }
  {
    std::unique_lock lock(mutex_);
    none_left_.wait_until(lock, until, [&] { return live_ == 0; });
  }
  for (auto& io : loops_) io->thread.run_and_wait([&] { io->close_all(); });
  workers_.stop();
  for (auto& io : loops_) {
    io->gate->close();
    io->thread.stop();
  }
}

}  // namespace

std::unique_ptr<Engine> make_reactor_engine(const ServerOptions& options, Handler handler) {
  return std::make_unique<ReactorEngine>(options, std::move(handler));
}

}  // namespace tern
