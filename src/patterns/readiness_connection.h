// ReadinessConnection: the one-shot readiness transport. A connection served by whichever
// thread takes its readiness event (the loop itself, a worker of the reactor pattern, or a
// leader/followers thread): that thread does the reads and writes (the Reactor pattern) and
// drives the connection's Session<P>, which does everything else (decoding, handlers,
// response order, limits, deadlines, drain) exactly as over a TcpConnection.
//
// Ownership is handed over explicitly. Registration is one-shot (EPOLLONESHOT, a one-shot
// Watcher, io_uring's one-shot POLL_ADD): after an event the connection is not armed, and the
// thread that took the event owns it (busy_) until handle() ends by re-arming it (settle() ->
// ReadinessOwner::arm). Between the two no other event can be delivered for it. Everything
// else (replies from other threads, deadlines, drain) reaches the session under the mutex; the
// owner releases the mutex only while a handler runs (Dispatcher::before_handler), so a
// blocking handler holds up no reply. A reply that finds the connection idle writes and
// re-arms it itself; one that finds it busy leaves that to the owner. A re-arm that races with
// an event already taken (lf: another thread's epoll_ctl) finds busy_ set and leaves its bits
// in pending_, which the owner handles before it lets go.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/function_ref.h"
#include "tern/net/socket.h"
#include "tern/protocol/session.h"

namespace tern {

class ReadinessConnection;

// The engine a ReadinessConnection belongs to. Each method is called with the connection's
// mutex held, from any thread.
class ReadinessOwner {
 public:
  // Registers one-shot interest (ready:: bits).
  virtual void arm(ReadinessConnection& conn, uint32_t interest) = 0;
  // The connection has closed: withdraw its registration, then close `socket`.
  virtual void closed(ReadinessConnection& conn, Socket socket) = 0;
  // on_deadline() is to run at `when` (TimePoint{}: cancel).
  virtual void set_deadline(ReadinessConnection& conn, TimePoint when) = 0;

 protected:
  ~ReadinessOwner() = default;
};

class ReadinessConnection final : public Transport,
                                  public Dispatcher,
                                  public std::enable_shared_from_this<ReadinessConnection> {
 public:
  ReadinessConnection(ReadinessOwner& owner, Socket socket, uint64_t tag);
  ~ReadinessConnection();
  int fd() const noexcept { return fd_; }
  uint64_t tag() const noexcept { return tag_; }  // the owner's name for it (lf: epoll data)

  // Before start(): the session this connection carries (made with this as its transport and
  // dispatcher).
  void attach(std::unique_ptr<SessionBase> session) { session_ = std::move(session); }
  // Any thread: arms the first read interest.
  void start();
  // The thread that took an event for this connection: reads, runs the session (and so the
  // handlers), writes, re-arms. `ready` holds ready:: bits.
  void handle(uint32_t ready);
  // Any thread: runs `visit` on the session under the connection's mutex (a reply), then
  // writes and re-arms if no thread owns the connection. Nothing once closed.
  void visit(FunctionRef<void(SessionBase&)> visit);
  // Any thread: the deadline set through ReadinessOwner::set_deadline has come.
  void deadline_reached();
  // Any thread: the server is draining (no new requests; close once answered).
  void drain();
  // Any thread: closes now (the drain deadline).
  void close();
  // Any thread: the interest and the deadline this connection wants now. For an owner that
  // applies them later on another thread: a task posted with older values could be overtaken
  // by a newer direct call, so the task reads the current ones instead.
  struct Wanted {
    uint32_t interest;
    TimePoint deadline;
  };
  Wanted wanted();

  // Transport, called by the session with the mutex held.
  void set_reading(bool on) override { want_read_ = on; }
  void write(Output& out) override;
  // File bytes count too: a large file response holds back reading like a large body would.
  size_t unsent_bytes() const override { return out_.size() - out_sent_ + file_bytes_; }
  void finish() override { finishing_ = true; }
  void close_gracefully() override { linger_requested_ = true; }
  void close_now() override { close_locked(); }
  void set_deadline(TimePoint when) override {
    deadline_ = when;
    owner_.set_deadline(*this, when);
  }
  InetAddress peer_address() const override;
  // Queued, and run by whichever entry point holds the lock once it has released it.
  void call_later(WritableCallback&& callback, bool open) override {
    deferred_.push_back(Deferred{std::move(callback), open});
  }

  // Dispatcher: handlers run on the thread that took the event, without the mutex.
  bool runs_inline() const noexcept override { return true; }
  bool try_queue(Job&, ConnId) override { return false; }
  void before_handler() noexcept override { mutex_.unlock(); }
  void after_handler() noexcept override { mutex_.lock(); }

 private:
  void read_some();
  void discard_input();
  void write_some();
  // Sends what the socket takes of the file at the front of files_: false when it is full
  // or the connection closed.
  bool send_front_file();
  void drop_sent_output();
  void settle();
  void close_locked();
  using Lock = std::unique_lock<std::mutex>;
  // Releases `lock` and runs the producers' callbacks queued under it (they may lock again).
  void run_deferred(Lock& lock);

  ReadinessOwner& owner_;
  const int fd_;
  const uint64_t tag_;
  std::mutex mutex_;
  Socket socket_;
  std::unique_ptr<SessionBase> session_;
  struct Deferred {
    WritableCallback callback;
    bool open;
  };
  // Under the mutex.
  std::vector<Deferred> deferred_;
  // Output: the bytes of the encoded responses in out_ (out_sent_ of them on the wire), and
  // the file pieces between them in files_, each sent once the bytes before it are out.
  // Positions count the bytes of out_ from the first ever written (out_base_ is out_[0]'s),
  // so compacting out_ moves no file. Files are held as ranges: never copied into out_.
  struct PendingFile {
    uint64_t at;  // the position in the byte stream where the file comes
    FileRange range;
  };
  std::string out_;
  size_t out_sent_ = 0;
  uint64_t out_base_ = 0;
  std::vector<PendingFile> files_;
  size_t files_head_ = 0;          // files_[files_head_] is the next one
  uint64_t file_bytes_ = 0;        // unsent bytes of the files
  bool output_pending_ = false;    // written since the output last drained
  uint32_t armed_ = 0;     // interest registered and not yet reported
  TimePoint deadline_{};   // the deadline asked of the owner
  uint32_t pending_ = 0;   // events that arrived while busy
  bool busy_ = false;
  bool want_read_ = false;
  bool finishing_ = false;         // the session finished: close once the output is out
  bool linger_requested_ = false;  // the session closes: FIN once the output is out, then linger
  bool lingering_ = false;         // FIN sent; discarding input until the peer closes
  bool deadline_pending_ = false;  // the deadline came while busy
  bool drain_pending_ = false;     // drain() came while busy
  bool closed_ = false;
};

}  // namespace tern
