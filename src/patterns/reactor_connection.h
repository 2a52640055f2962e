// ReactorConnection: a connection served by whichever thread takes its readiness event: the
// loop itself, a worker (reactor with workers) or a leader/followers thread. That thread does
// the reads and writes (the Reactor pattern) and runs the handler.
//
// Ownership is handed over explicitly. Registration is one-shot (EPOLLONESHOT, or a one-shot
// Watcher, which on io_uring is a one-shot POLL_ADD): after an event fires the connection is
// not armed, and the thread that took the event owns it (busy_) until handle() ends by
// re-arming it (settle() -> Owner::arm). Between the two no other event can be delivered for
// it. Replies from other threads (async handlers, workers) only append to the output under
// the mutex and, when the connection is idle, write and re-arm it themselves. A re-arm that
// races with an event already taken (lf: epoll_ctl from another thread) finds busy_ set and
// leaves its bits in pending_, which the owner handles before it lets go.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "patterns/response_order.h"
#include "tern/net/socket.h"
#include "tern/patterns/handler.h"
#include "tern/patterns/server_options.h"

namespace tern {

class ReactorConnection;

// The engine a ReactorConnection belongs to: where its interest is registered.
class ReactorOwner {
 public:
  ReactorOwner(const ServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {}
  virtual ~ReactorOwner() = default;
  // Registers one-shot interest (ready:: bits). Called with the connection's mutex held,
  // from any thread.
  virtual void arm(ReactorConnection& conn, uint32_t interest) = 0;
  // The connection has closed: withdraw its registration, then close `socket`. Called with
  // the connection's mutex held, from any thread.
  virtual void closed(ReactorConnection& conn, Socket socket) = 0;

  const ServerOptions& options() const noexcept { return options_; }
  const Handler& handler() const noexcept { return handler_; }
  // Draining: no new connections or requests; each connection closes once answered.
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }
  void start_draining() noexcept { draining_.store(true, std::memory_order_release); }

 private:
  const ServerOptions options_;
  const Handler handler_;
  std::atomic<bool> draining_{false};
};

class ReactorConnection final : public ReplySink,
                                public std::enable_shared_from_this<ReactorConnection> {
 public:
  ReactorConnection(ReactorOwner& owner, Socket socket, uint64_t tag);
  int fd() const noexcept { return fd_; }
  uint64_t tag() const noexcept { return tag_; }  // the owner's name for it (lf: epoll data)

  // Arms the first read interest.
  void start();
  // The thread that took an event for this connection: reads, runs the handlers, writes,
  // re-arms. `ready` holds ready:: bits.
  void handle(uint32_t ready);
  // Any thread: the response to request `sequence`.
  void complete(uint64_t sequence, std::optional<Response> response) override;
  // Any thread: the owner started draining; an idle connection begins its lingering close.
  void drain();
  // Any thread: closes now (drain deadline).
  void close();

 private:
  using Lock = std::unique_lock<std::mutex>;
  void read_some();
  void discard_input();
  void dispatch_all(Lock& lock);
  void write_some();
  void settle();
  void close_locked();
  bool wants_read() const noexcept;
  bool unsent() const noexcept { return out_sent_ < out_.size(); }

  ReactorOwner& owner_;
  const int fd_;
  const uint64_t tag_;
  std::mutex mutex_;
  Socket socket_;
  // Touched only by the thread that owns the connection (busy_), so handlers may read a
  // view of in_ without the mutex.
  std::string in_;
  size_t consumed_ = 0;
  // Under the mutex.
  std::string out_;
  size_t out_sent_ = 0;
  ResponseOrder order_;
  uint32_t armed_ = 0;    // interest registered and not yet reported
  uint32_t pending_ = 0;  // events that arrived while busy
  bool busy_ = false;
  bool peer_closed_ = false;
  bool lingering_ = false;
  bool failed_ = false;  // a bad message or an unanswered request: answer what came before, close
  bool closed_ = false;
};

}  // namespace tern
