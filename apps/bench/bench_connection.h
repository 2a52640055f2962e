// BenchConnection: one client connection of a load thread, as a state machine:
//
//   waiting --start()--> connecting --connected--> open --close--> closing --released--> waiting
//                              \--failed--> waiting (retried after a back-off)
//
// While open it keeps up to `depth` requests in flight: each write batch is one write of
// several requests (Exchange::send), stamped with one clock read; replies pop the ring of
// send times (intended times, in open loop) and record latency. A connection the server
// closes or resets, a broken reply, a reply later than --timeout: counted, closed, reopened.
// Requests lost with a connection are handed back to the thread's budget.
// With a ClientSession (redis mode) the client library owns the socket: connecting is the
// session's open(), a write batch its issue(), replies and failures come from its callbacks,
// and closing abandons what is outstanding (the client's pool reconnects on the next open()).
// The reply timeout is the client's (its command timeout is --timeout).
//
// Thread rule: the loop thread of its ThreadDriver, which owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "exchange.h"
#include "tern/base/clock.h"
#include "tern/net/connector.h"
#include "tern/net/tcp_connection.h"

namespace tern::bench {

class ThreadDriver;

class BenchConnection final : private SessionSink {
 public:
  enum class State { waiting, connecting, open, closing, stopped };

  // Takes an Exchange from `workload`, or a ClientSession if it makes those.
  BenchConnection(ThreadDriver& driver, uint32_t id, Workload& workload);
  ~BenchConnection();
  BenchConnection(const BenchConnection&) = delete;
  BenchConnection& operator=(const BenchConnection&) = delete;

  // Starts a connect attempt (the driver calls it when a connect slot is free).
  void start();
  // Sends what the window, the budget and (open loop) the queue allow.
  void pump();
  // Open loop: a request is due at `intended`; it waits here until the window has room.
  void enqueue(TimePoint intended);
  // Closes a connection whose oldest reply is overdue; true if it did.
  bool check_timeout(TimePoint now, Duration timeout);
  // Closes for good (end of the run): no reopen.
  void stop() noexcept;

  State state() const noexcept { return state_; }
  size_t in_flight() const noexcept { return count_; }
  bool wants_retry(TimePoint now) const noexcept {
    return state_ == State::waiting && retry_at_ != TimePoint{} && now >= retry_at_;
  }
  uint32_t id() const noexcept { return id_; }
  // A --requests budget: this connection holds one request of it (taken when its connect
  // started), sent first once the phase lets it. The driver takes and counts it.
  bool reserved() const noexcept { return reserved_; }
  void reserve() noexcept { reserved_ = true; }
  // The budget had nothing left for this connection: it stays closed (no retry) until a
  // request is due on it (open loop).
  void no_budget() noexcept {
    retry_at_ = TimePoint{};
    parked_ = true;
  }
  bool has_queued() const noexcept { return queue_count_ > 0; }

 private:
  void on_connected(std::error_code error, Socket socket);
  // The end of a connect attempt, socket or session: counts it; false (after a back-off is
  // set) if it failed.
  bool connect_done(std::error_code error, const std::string& why);
  void on_read(TcpConnection& conn, std::error_code error, std::span<std::byte> data);
  bool reply(int status) override;
  void broken(Failure failure, const std::string& why) override;
  void last_reply() override;
  // SessionSink
  void wake() override;
  void opened(std::error_code error, const std::string& why) override;
  void received(size_t bytes) override;
  void settle() override;
  // Closes and counts the requests in flight as lost; `retry_delay` before reopening.
  void close(Duration retry_delay);
  void released();
  // Gives the reserved request back to the budget (it was not sent).
  void give_back_reservation() noexcept;

  ThreadDriver& driver_;
  uint32_t id_;
  std::unique_ptr<Exchange> exchange_;      // or
  std::unique_ptr<ClientSession> session_;
  Connector connector_;
  std::unique_ptr<TcpConnection> conn_;
  State state_ = State::waiting;
  // The ring of send (or intended) times of the requests in flight: a power-of-two capacity.
  std::vector<TimePoint> sent_at_;
  size_t mask_ = 0;
  size_t head_ = 0;
  size_t count_ = 0;
  // Open loop: intended times of requests due and not yet sent (a ring, bounded).
  std::vector<TimePoint> queue_;
  size_t queue_head_ = 0;
  size_t queue_count_ = 0;
  uint64_t next_seq_ = 0;        // of the next request on this connection
  uint64_t sent_here_ = 0;       // requests sent since this connection opened
  TimePoint connect_started_{};
  TimePoint retry_at_{};
  Duration backoff_{};
  bool reserved_ = false;
  bool parked_ = false;   // closed for want of budget (no_budget())
  bool settled_ = false;  // idle: connected (and answered, with --request), or given up
  bool closing_after_reply_ = false;  // the server said Connection: close
};

}  // namespace tern::bench
