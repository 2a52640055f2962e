// The stream engine: single, loops and hsha under the emulated and proactor patterns.
//
// Each I/O loop owns a TcpServer that adopts the sockets the Balancer gives it, and each
// connection a StreamSession: the session frames the bytes TcpConnection reads (the loop on
// readiness, or the kernel on io_uring), hands each message to the handler and writes the
// responses back in request order.
//   workers == 0 (single, loops): the handler runs on the loop, on the bytes as read.
//   workers  > 0 (hsha): the message is copied into a Job on the bounded queue; a worker runs
//   the handler; the Reply posts the response back to the connection's loop (LoopGate).
//   A full queue stops reading that connection until the workers bring the queue down to half
//   (BoundedQueue::when_space); what it read stays framed-but-unsent in its input buffer.
// Memory per connection is bounded by the codec's max_message (input), max_pipeline (requests
// in flight) and high_water (unsent responses): at any limit the connection stops reading.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/balancer.h"
#include "patterns/engine.h"
#include "patterns/loop_gate.h"
#include "patterns/loop_thread.h"
#include "patterns/response_order.h"
#include "patterns/worker_pool.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/net/tcp_server.h"

namespace tern {
namespace {

class StreamEngine;
class StreamSession;

constexpr auto kFailedLinger = std::chrono::seconds(5);

struct Job {
  std::string message;
  std::shared_ptr<ReplySink> sink;
  uint64_t sequence = 0;
};

struct IoLoop {
  size_t index = 0;
  LoopThread thread;
  std::shared_ptr<LoopGate> gate;
  // The rest is touched on the loop thread only.
  std::unique_ptr<TcpServer> server;
  std::vector<std::weak_ptr<StreamSession>> blocked;  // waiting for room in the queue
  bool waiting_for_space = false;
  size_t in_flight = 0;  // requests handed to the handler and not yet answered
  bool draining = false;
  bool closing = false;  // TcpServer::drain called
  TimePoint deadline{};
};

class StreamEngine final : public Engine {
 public:
  StreamEngine(const ServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {}
  ~StreamEngine() override { shutdown(Duration::zero()); }

  std::error_code start() override;
  InetAddress local_address() const override { return balancer_->local_address(); }
  BackendKind backend_in_use() const override { return backend_in_use_; }
  ServerStats stats() const override {
    return ServerStats{workers_.rejected()};
  }
  void shutdown(Duration deadline) override;

  const ServerOptions& options() const noexcept { return options_; }
  const Handler& handler() const noexcept { return handler_; }
  bool has_workers() const noexcept { return workers_.queue() != nullptr; }
  BoundedQueue<Job>& queue() noexcept { return *workers_.queue(); }
  void wait_for_space(IoLoop& io, std::weak_ptr<StreamSession> session);
  void request_done(IoLoop& io);

 private:
  void serve(IoLoop& io, Socket socket);
  void resume_blocked(IoLoop& io);
  void begin_drain(IoLoop& io);
  void drained(IoLoop& io);

  ServerOptions options_;
  Handler handler_;
  BackendKind backend_in_use_ = BackendKind::epoll;
  std::vector<std::unique_ptr<IoLoop>> loops_;
  std::unique_ptr<Balancer> balancer_;
  WorkerPool<Job> workers_;
  std::mutex mutex_;
  std::condition_variable all_drained_;
  size_t drained_ = 0;
  bool started_ = false;
};

// One connection's framing, dispatch and in-order responses. Lives in the connection's
// context; a Reply may keep it beyond the connection (then conn_ is null and replies drop).
class StreamSession final : public ReplySink,
                            public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(StreamEngine& engine, IoLoop& io, TcpConnection& conn)
      : engine_(engine), io_(io), gate_(io.gate), conn_(&conn),
        order_(engine.options().max_pipeline) {}

  void start() {
    size_t high = engine_.options().high_water;
    conn_->set_water_marks(high, high / 2, [this](TcpConnection&, size_t) { update_reading(); },
                           [this](TcpConnection&, size_t) { update_reading(); });
    update_reading();
  }
  void detach() noexcept { conn_ = nullptr; }

  // Any thread: on the loop, the response is delivered at once (an inline handler); from a
  // worker it travels to the loop through the gate.
  void complete(uint64_t sequence, std::optional<Response> response) override {
    if (gate_->in_loop_thread()) {
      deliver(sequence, std::move(response));
      return;
    }
    gate_->post([self = shared_from_this(), sequence, response = std::move(response)]() mutable {
      self->deliver(sequence, std::move(response));
    });
  }

  // The queue has room again (or the loop is draining).
  void resume() {
    blocked_ = false;
    pump();
  }

  // Draining: no new requests.
  void stop_reading() { update_reading(); }

 private:
  bool open() const noexcept { return conn_ != nullptr && !conn_->closing() && !lingering_; }

  void on_read(std::error_code error, std::span<std::byte> bytes) {
    if (error) {
      if (error != make_error_code(errc::eof)) {
        conn_->close();
        return;
      }
      peer_closed_ = true;  // answer what was read, then close
      close_if_finished();
      return;
    }
    std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (consumed_ == input_.size()) {
      // Nothing buffered: frame straight from the read buffer, keep only the tail.
      input_.clear();
      consumed_ = 0;
      size_t used = consume(data);
      input_.append(data.substr(used));
    } else {
      input_.append(data);
      consumed_ += consume(std::string_view(input_).substr(consumed_));
      compact();
    }
    update_reading();
  }

  // Dispatches the whole messages at the start of `input` while the limits allow; returns the
  // bytes used.
  size_t consume(std::string_view input) {
    processing_ = true;
    size_t used = 0;
    while (open() && !failed_ && !blocked_ && !order_.full() && !io_.draining) {
      auto frame = engine_.options().codec.decode(input.substr(used));
      if (!frame) {
        log(LogLevel::warn, "closing %s: %s", conn_->peer_address().to_string().c_str(),
            frame.error().message().c_str());
        fail();
        break;
      }
      if (!frame.value()) break;
      if (!dispatch(frame.value()->message)) break;
      used += frame.value()->consumed;
    }
    processing_ = false;
    flush();
    if (failed_) finish_failed();
    return used;
  }

  bool dispatch(std::string_view message) {
    uint64_t sequence = order_.next_sequence();
    if (engine_.has_workers()) {
      Job job{std::string(message), shared_from_this(), sequence};
      if (!engine_.queue().try_push(job)) {
        blocked_ = true;
        engine_.wait_for_space(io_, weak_from_this());
        return false;
      }
      order_.begin_request();
      ++io_.in_flight;
      return true;
    }
    order_.begin_request();
    ++io_.in_flight;
    engine_.handler()(message, Reply(shared_from_this(), sequence));
    return true;
  }

  // Loop thread.
  void deliver(uint64_t sequence, std::optional<Response> response) {
    if (conn_ != nullptr) {
      bool in_order = order_.put(sequence, std::move(response),
                                 [this](Response& r) { emit(r); });
      if (!in_order && !unanswered_) {
        log(LogLevel::error, "closing %s: %s", conn_->peer_address().to_string().c_str(),
            make_error_code(errc::unanswered).message().c_str());
        unanswered_ = true;
        fail();
      }
      if (!processing_) {
        flush();
        pump();
      }
      if (failed_) finish_failed();
    }
    engine_.request_done(io_);
  }

  void pump() {
    if (processing_ || !open()) return;
    if (consumed_ < input_.size()) {
      consumed_ += consume(std::string_view(input_).substr(consumed_));
      compact();
    }
    update_reading();
    close_if_finished();
  }

  // Responses made while dispatching (pipelined requests answered inline) are kept, moved not
  // copied, and go out in one gathered write at the end of the pass; a response delivered
  // alone is written at once. Either way TcpConnection copies only what the socket refuses.
  void emit(Response& response) {
    gathered_.push_back(std::move(response));
    if (!processing_) flush();
  }

  void flush() {
    if (gathered_.empty() || !open()) return;
    const Codec& codec = engine_.options().codec;
    if (gathered_.size() == 1 && codec.framing() == Framing::raw) {
      // One unframed response: hand the string over (on io_uring it is sent from there).
      conn_->write(std::move(gathered_.front()));
      gathered_.clear();
      return;
    }
    std::string_view tail = codec.trailer();
    heads_.resize(gathered_.size());
    parts_.clear();
    for (size_t i = 0; i < gathered_.size(); ++i) {
      const Response& r = gathered_[i];
      size_t head_size = codec.header(r, heads_[i].bytes);
      if (head_size) parts_.push_back(std::as_bytes(std::span(heads_[i].bytes, head_size)));
      if (!r.empty()) parts_.push_back(std::as_bytes(std::span(r.data(), r.size())));
      if (!tail.empty()) parts_.push_back(std::as_bytes(std::span(tail.data(), tail.size())));
    }
    conn_->write(std::span<const ConstBuffer>(parts_));
    gathered_.clear();
  }

  // The connection cannot go on (a bad message, an unanswered request): nothing more is read
  // or dispatched; the answers to the requests before it go out, then it closes.
  void fail() {
    failed_ = true;
    update_reading();
    if (!processing_) finish_failed();
  }

  void finish_failed() {
    if (!open() || (order_.in_flight() != 0 && !unanswered_)) return;
    flush();
    lingering_ = true;
    conn_->close_gracefully(kFailedLinger);
  }

  void compact() {
    if (consumed_ == input_.size()) {
      input_.clear();
      consumed_ = 0;
    } else if (consumed_ > 0) {
      input_.erase(0, consumed_);
      consumed_ = 0;
    }
  }

  void update_reading() {
    if (!open() || peer_closed_) return;
    bool want = !failed_ && !blocked_ && !order_.full() && !io_.draining &&
                conn_->write_queue_bytes() < engine_.options().high_water;
    if (want && !conn_->reading()) {
      conn_->read_start([this](TcpConnection&, std::error_code error, std::span<std::byte> data) {
        on_read(error, data);
      });
    } else if (!want && conn_->reading()) {
      conn_->read_stop();
    }
  }

  // After the peer's FIN: once every request read is answered, send ours and close.
  void close_if_finished() {
    if (!peer_closed_ || !open() || order_.in_flight() != 0) return;
    if (conn_->shutdown([](TcpConnection& c, std::error_code) { c.close(); })) conn_->close();
  }

  StreamEngine& engine_;
  IoLoop& io_;
  std::shared_ptr<LoopGate> gate_;
  TcpConnection* conn_;
  std::string input_;       // bytes read and not yet dispatched, from consumed_ on
  size_t consumed_ = 0;
  std::vector<Response> gathered_;  // responses of one dispatch pass, written together
  struct Head {
    char bytes[4];
  };
  std::vector<Head> heads_;          // their framing headers (length-prefixed)
  std::vector<ConstBuffer> parts_;   // the gather list
  ResponseOrder order_;
  bool processing_ = false;
  bool blocked_ = false;    // the request queue was full
  bool peer_closed_ = false;
  bool failed_ = false;      // a bad message or an unanswered request: no more requests
  bool unanswered_ = false;  // ... and the answers behind the unanswered one can never go out
  bool lingering_ = false;   // close_gracefully() called
};

std::error_code StreamEngine::start() {
  size_t n = static_cast<size_t>(options_.threads);
  std::vector<EventLoop*> loops;
  for (size_t i = 0; i < n; ++i) {
    auto io = std::make_unique<IoLoop>();
    io->index = i;
    IoLoop& ref = *io;
    auto error = io->thread.start(
        "tern-io-" + std::to_string(i), options_.backend, options_.backend_options,
        [this, &ref](EventLoop& loop) {
          ref.gate = std::make_shared<LoopGate>(loop);
          ref.server = std::make_unique<TcpServer>(loop, options_.address);
          ref.server->on_connection([this, &ref](TcpConnection& conn) {
            auto session = std::make_shared<StreamSession>(*this, ref, conn);
            conn.context() = session;
            conn.on_close([](TcpConnection& c) {
              std::any_cast<std::shared_ptr<StreamSession>&>(c.context())->detach();
            });
            if (ref.draining) {
              conn.close();
            } else {
              session->start();
            }
          });
          return std::error_code{};
        },
        [this, &ref] {
          if (ref.server) {
            ref.server->for_each_connection([](TcpConnection& c) {
              std::any_cast<std::shared_ptr<StreamSession>&>(c.context())->detach();
            });
          }
          if (balancer_) balancer_->stop_on(ref.index);
          ref.server.reset();
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
      [this](size_t index, Socket socket) { serve(*loops_[index], std::move(socket)); });
  workers_.start(options_.workers, options_.queue_capacity,
                 [this](Job& job) { handler_(job.message, Reply(std::move(job.sink), job.sequence)); });
  started_ = true;
  auto error = balancer_->listen_all(
      [this](size_t i, std::function<void()> task) { loops_[i]->thread.run_and_wait(task); });
  if (error) shutdown(Duration::zero());
  return error;
}

void StreamEngine::serve(IoLoop& io, Socket socket) {
  if (io.draining) return;  // closes the socket
  io.server->adopt(std::move(socket));
}


void StreamEngine::wait_for_space(IoLoop& io, std::weak_ptr<StreamSession> session) {
  io.blocked.push_back(std::move(session));
  if (io.waiting_for_space) return;
  io.waiting_for_space = true;
  queue().when_space([this, &io, gate = io.gate] { gate->post([this, &io] { resume_blocked(io); }); });
}

void StreamEngine::resume_blocked(IoLoop& io) {
  io.waiting_for_space = false;
  auto blocked = std::move(io.blocked);
  io.blocked.clear();
  for (auto& weak : blocked) {
    if (auto session = weak.lock()) session->resume();
  }
}

void StreamEngine::request_done(IoLoop& io) {
  --io.in_flight;
  if (io.draining && !io.closing && io.in_flight == 0) {
    io.closing = true;
    io.server->drain(io.deadline - Clock::now(), [this, &io] { drained(io); });
  }
}

void StreamEngine::begin_drain(IoLoop& io) {
  io.draining = true;
  balancer_->stop_on(io.index);
  io.server->for_each_connection([](TcpConnection& c) {
    std::any_cast<std::shared_ptr<StreamSession>&>(c.context())->stop_reading();
  });
  // Requests still with the handler at the deadline lose their connections.
  io.thread.loop().run_after(io.deadline - Clock::now(), [this, &io] {
    if (io.closing) return;
    io.closing = true;
    io.server->drain(Duration::zero(), [this, &io] { drained(io); });
  });
  if (io.in_flight == 0) {
    io.closing = true;
    io.server->drain(io.deadline - Clock::now(), [this, &io] { drained(io); });
  }
}

void StreamEngine::drained(IoLoop&) {
  std::lock_guard lock(mutex_);
  ++drained_;
  all_drained_.notify_all();
}

void StreamEngine::shutdown(Duration deadline) {
  if (!started_) return;
  started_ = false;
  TimePoint until = Clock::now() + deadline;
  for (auto& io : loops_) {
    io->thread.loop().post([this, &io = *io, until] {
      io.deadline = until;
      begin_drain(io);
    });
  }
  {
    // The drain's own deadline closes what is left; the margin covers the closes themselves.
    std::unique_lock lock(mutex_);
    all_drained_.wait_until(lock, until + std::chrono::seconds(5),
                            [&] { return drained_ == loops_.size(); });
  }
  workers_.stop();
  for (auto& io : loops_) {
    io->gate->close();
    io->thread.stop();
  }
}

}  // namespace

std::unique_ptr<Engine> make_stream_engine(const ServerOptions& options, Handler handler) {
  return std::make_unique<StreamEngine>(options, std::move(handler));
}

}  // namespace tern
