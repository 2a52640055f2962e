// The stream engine: single, loops and hsha under the emulated and proactor patterns.
//
// Each I/O loop owns a TcpServer that adopts the sockets the Balancer gives it, a slab of
// connections, and the service's SessionMaker for that loop. A connection is a TcpConnection
// (the loop does the I/O on readiness, or the kernel on io_uring) driving a Session<P>
// through StreamTransport; the session decodes, dispatches, orders and encodes.
//   workers == 0 (single, loops): handlers run inline on the loop, on the bytes as read.
//   workers  > 0 (hsha): the session copies the request into a job on the bounded queue; a
//   worker runs the handler; the reply is posted back to the connection's loop by its ConnId
//   (a no-op if the connection or the loop is gone). A full queue stops reading that
//   connection until the workers bring the queue down to half (BoundedQueue::when_space).
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "patterns/balancer.h"
#include "patterns/connection_task.h"
#include "patterns/engine.h"
#include "tern/loop/loop_group.h"
#include "patterns/worker_pool.h"
#include "tern/base/error.h"
#include "tern/base/slab.h"
#include "tern/net/connection_limit.h"
#include "tern/net/tcp_server.h"
#include "tern/protocol/service.h"

namespace tern {
namespace {

// How long a lingering close may wait for the peer's FIN (the drain deadline cuts it shorter).
constexpr auto kLinger = std::chrono::seconds(5);

using Job = Dispatcher::Job;
class StreamEngine;
struct IoLoop;

// A session's view of its TcpConnection.
class StreamTransport final : public Transport {
 public:
  StreamTransport(TcpConnection& conn) : conn_(conn) {}
  ~StreamTransport() { set_deadline(TimePoint{}); }
  void attach(std::unique_ptr<SessionBase> session) { session_ = std::move(session); }
  SessionBase& session() noexcept { return *session_; }

  void set_reading(bool on) override {
    if (on == conn_.reading() || conn_.closing()) return;
    if (!on) {
      conn_.read_stop();
      return;
    }
    conn_.read_start([this](TcpConnection&, std::error_code error, std::span<std::byte> data) {
      if (!error) {
        session_->on_read(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
      } else if (error == make_error_code(errc::eof)) {
        session_->on_peer_closed();
      } else {
        conn_.close();  // a reset: nothing more can be said to this peer
      }
    });
  }

  void write(Output& out) override {
    if (out.piece_count() == 1 && out.owned(0)) {
      // One response: hand the string over (on io_uring it is sent from there, not copied).
      conn_.write(out.take(0));
    } else {
      // In order: each run of memory pieces as one gathered write, each file piece as a file
      // write. A failed write has closed the connection; the rest would fail the same way.
      parts_.clear();
      for (size_t i = 0; i < out.piece_count(); ++i) {
        if (out.kind(i) == Output::Kind::memory) {
          std::string_view piece = out.piece(i);
          parts_.push_back(std::as_bytes(std::span(piece.data(), piece.size())));
          continue;
        }
        if (flush_parts() || conn_.write_file(out.take_file(i))) break;
      }
      flush_parts();
    }
    out.clear();
    // Only bytes that stayed queued need news of their draining (reading resumes, deadlines
    // move on, stream producers wake); a write that went through costs nothing more.
    if (conn_.write_queue_bytes() > 0) {
      conn_.when_drained([this](TcpConnection&) { session_->on_output_drained(); });
    }
  }

  size_t unsent_bytes() const override { return conn_.write_queue_bytes(); }

  void finish() override {
    if (conn_.shutdown([](TcpConnection& c, std::error_code) { c.close(); })) conn_.close();
  }
  void close_gracefully() override { conn_.close_gracefully(kLinger); }
  void close_now() override { conn_.close(); }

  void set_deadline(TimePoint when) override {
    EventLoop& loop = conn_.loop();
    if (when == TimePoint{}) {
      if (timer_.valid()) loop.cancel(timer_);
      timer_ = TimerId{};
      return;
    }
    Duration delay = std::max(Duration::zero(), when - Clock::now());
    if (timer_.valid() && loop.reset(timer_, delay)) return;
    timer_ = loop.run_after(delay, [this] {
      timer_ = TimerId{};
      session_->on_deadline();
    });
  }

  InetAddress peer_address() const override { return conn_.peer_address(); }
  // The loop's thread holds nothing while it drives the session.
  void call_later(WritableCallback&& callback, bool open) override { callback(open); }

 private:
  // Writes the gathered memory pieces, if any (copied only where the socket refuses them).
  std::error_code flush_parts() {
    if (parts_.empty()) return {};
    std::error_code error = conn_.write(std::span<const ConstBuffer>(parts_));
    parts_.clear();
    return error;
  }

  TcpConnection& conn_;
  TimerId timer_;
  std::unique_ptr<SessionBase> session_;
  std::vector<ConstBuffer> parts_;
};

// Where one loop's sessions run their handlers: inline, or through the engine's worker queue.
class LoopDispatcher final : public Dispatcher {
 public:
  LoopDispatcher(StreamEngine& engine, IoLoop& io, BoundedQueue<Job>* queue)
      : engine_(engine), io_(io), queue_(queue) {}
  bool runs_inline() const noexcept override { return queue_ == nullptr; }
  bool try_queue(Job& job, ConnId id) override;

 private:
  StreamEngine& engine_;
  IoLoop& io_;
  BoundedQueue<Job>* queue_;
};

struct IoLoop final : SessionFinder {
  size_t index = 0;
  LoopHandle handle;
  // Touched on the loop thread only.
  std::unique_ptr<TcpServer> server;
  Slab<StreamTransport> connections;
  std::unique_ptr<LoopDispatcher> dispatcher;
  std::unique_ptr<SessionMaker> maker;
  std::vector<ConnId> blocked;  // sessions waiting for room in the queue
  bool waiting_for_space = false;
  bool draining = false;
  bool drained = false;

  SessionBase* find(ConnId id) noexcept {
    StreamTransport* t = connections.find(id.slot, id.generation);
    return t != nullptr ? &t->session() : nullptr;
  }
  void visit(ConnId id, FunctionRef<void(SessionBase&)> visit) override {
    if (SessionBase* session = find(id)) visit(*session);
  }
};

class StreamEngine final : public Engine {
 public:
  StreamEngine(const ServerOptions& options, Service service)
      : options_(options), service_(std::move(service)),
        config_{options.max_pipeline, options.high_water}, limit_(options.max_connections) {}
  ~StreamEngine() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return balancer_->local_address(); }
  BackendKind backend_in_use() const override { return backend_in_use_; }
  ServerStats stats() const override;
  ModelFigures model_figures() const override {
    ModelFigures figures;
    workers_.read_figures(figures);
    return figures;
  }
  size_t loop_connections(size_t index) const override {
    return loops_[index]->connections.size();
  }
  bool post_to(ConnId id, ConnectionTask task) override {
    return post_connection_task(group_, loops_, id, std::move(task));
  }
  void shutdown(Duration deadline) override;

  void wait_for_space(IoLoop& io, ConnId id);

 private:
  std::error_code set_up(IoLoop& io, EventLoop& loop);
  void tear_down(IoLoop& io);
  void serve(IoLoop& io, TcpConnection& conn);
  void closed(IoLoop& io, Slab<StreamTransport>::Key key);
  void resume_blocked(IoLoop& io);
  void begin_drain(IoLoop& io, TimePoint deadline);
  void check_drained(IoLoop& io);

  ServerOptions options_;
  Service service_;
  SessionConfig config_;
  BackendKind backend_in_use_ = BackendKind::epoll;
  // Every accepted socket holds a slot until its TcpConnection is released (TcpServer's
  // on_close, on its loop). Before loops_ and group_: acceptors and loops still use it.
  ConnectionLimit limit_;
  std::vector<std::unique_ptr<IoLoop>> loops_;
  LoopGroup group_;  // after loops_: stopped (and destroyed) before the state of its loops
  std::unique_ptr<Balancer> balancer_;
  WorkerPool<Job> workers_;
  std::mutex mutex_;
  std::condition_variable all_drained_;
  size_t drained_ = 0;
  bool started_ = false;
};

ServerStats StreamEngine::stats() const {
  ServerStats stats;
  stats.pushbacks = workers_.rejected();
  stats.queue_depth = workers_.queued();
  stats.open_connections = limit_.open();
  stats.accepted = limit_.accepted();
  stats.accept_pauses = limit_.pauses();
  return stats;
}

bool LoopDispatcher::try_queue(Job& job, ConnId id) {
  if (queue_->try_push(job)) return true;
  io_.blocked.push_back(id);
  engine_.wait_for_space(io_, id);
  return false;
}

std::error_code StreamEngine::start() {
  // Workers first: the dispatchers made on the loops need the queue.
  workers_.start(options_.workers, options_.queue_capacity, [](Job& job) { job(); },
                 /*metered=*/options_.metrics != nullptr);
  size_t n = static_cast<size_t>(options_.threads);
  for (size_t i = 0; i < n; ++i) {
    loops_.push_back(std::make_unique<IoLoop>());
    loops_.back()->index = i;
  }
  auto error = group_.start(
      LoopGroupOptions{options_.backend, options_.backend_options, options_.threads, "tern-io"},
      [this](size_t i, EventLoop& loop) {
        if (options_.on_loop_start) {
          if (auto failed = options_.on_loop_start(i, loop)) return failed;
        }
        return set_up(*loops_[i], loop);
      },
      [this](size_t i, EventLoop& loop) {
        // The program's per-loop state first: replies it drops still find their sessions.
        if (options_.on_loop_stop) options_.on_loop_stop(i, loop);
        tear_down(*loops_[i]);
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
      options_.address, options_.balancing, loops, [this](size_t index, Socket socket) {
        IoLoop& io = *loops_[index];
        if (io.draining) {
          limit_.release();  // the socket closes here
          return;
        }
        io.server->adopt(std::move(socket));
      },
      &limit_);
  started_ = true;
  error = balancer_->listen_all(
      [this](size_t i, std::function<void()> task) { group_.run_and_wait(i, std::move(task)); });
  if (error) shutdown(Duration::zero());
  return error;
}

std::error_code StreamEngine::set_up(IoLoop& io, EventLoop& loop) {
  io.handle = loop.handle();
  io.dispatcher = std::make_unique<LoopDispatcher>(*this, io, workers_.queue());
  io.maker = service_.maker(config_, io);
  io.server = std::make_unique<TcpServer>(loop, options_.address);
  io.server->on_connection([this, &io](TcpConnection& conn) { serve(io, conn); });
  // Every adopted connection, served or closed at once while draining.
  io.server->on_close([this](TcpConnection&) { limit_.release(); });
  return {};
}

// On the loop thread, after it stopped: sessions (and their timers) go while their
// TcpConnections still exist, then the connections (closed without callbacks), then the maker.
void StreamEngine::tear_down(IoLoop& io) {
  if (balancer_) balancer_->stop_on(io.index);
  io.connections = Slab<StreamTransport>();
  io.server.reset();
  io.maker.reset();
}

void StreamEngine::serve(IoLoop& io, TcpConnection& conn) {
  if (io.draining) {
    conn.close();
    return;
  }
  auto key = io.connections.insert(std::make_unique<StreamTransport>(conn));
  StreamTransport& transport = *io.connections.find(key.slot, key.generation);
  auto session =
      io.maker->make(transport, *io.dispatcher, ConnId{io.handle, key.slot, key.generation});
  transport.attach(std::move(session));
  conn.on_close([this, &io, key](TcpConnection&) { closed(io, key); });
  // The session stops reading at this mark of unsent bytes: the connection receives no further
  // ahead (io_uring's multishot receive is limited to the room left).
  conn.set_receive_window(config_.high_water);
  transport.session().start();
}

void StreamEngine::closed(IoLoop& io, Slab<StreamTransport>::Key key) {
  io.connections.erase(key.slot, key.generation);  // destroys the session
  check_drained(io);
}

void StreamEngine::wait_for_space(IoLoop& io, ConnId) {
  if (io.waiting_for_space) return;
  io.waiting_for_space = true;
  workers_.queue()->when_space([this, &io, handle = io.handle] {
    tern::post_to(handle, [this, &io] { resume_blocked(io); });
  });
}

void StreamEngine::resume_blocked(IoLoop& io) {
  io.waiting_for_space = false;
  std::vector<ConnId> blocked;
  blocked.swap(io.blocked);
  for (ConnId id : blocked) {
    if (SessionBase* session = io.find(id)) session->resume();  // may block (and wait) again
  }
}

void StreamEngine::begin_drain(IoLoop& io, TimePoint deadline) {
  io.draining = true;
  balancer_->stop_on(io.index);
  std::vector<SessionBase*> sessions;
  io.connections.for_each([&](StreamTransport& t) { sessions.push_back(&t.session()); });
  for (SessionBase* session : sessions) session->drain();  // closes are deferred: all stay valid
  // What is still open at the deadline (a handler still busy, a peer that does not close) is
  // closed then.
  group_.loop(io.index).run_after(std::max(Duration::zero(), deadline - Clock::now()), [&io] {
    io.connections.for_each([](StreamTransport& t) { t.close_now(); });
  });
  check_drained(io);
}

void StreamEngine::check_drained(IoLoop& io) {
  if (!io.draining || io.drained || io.connections.size() != 0) return;
  io.drained = true;
  std::lock_guard lock(mutex_);
  ++drained_;
  all_drained_.notify_all();
}

void StreamEngine::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  for (auto& io : loops_) {
    group_.post(io->index, [this, &io = *io, until] { begin_drain(io, until); });
  }
  {
    // The drain's own deadline closes what is left; the margin covers the closes themselves.
    std::unique_lock lock(mutex_);
    all_drained_.wait_until(lock, until + std::chrono::seconds(5),
                            [&] { return drained_ == loops_.size(); });
  }
  workers_.stop();
  group_.stop();
}

}  // namespace

std::unique_ptr<Engine> make_stream_engine(const ServerOptions& options, Service service) {
  return std::make_unique<StreamEngine>(options, std::move(service));
}

}  // namespace tern
