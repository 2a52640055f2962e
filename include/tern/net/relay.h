// Relay: ties two TcpConnections of one loop together (a client and its upstream, for TCP
// proxying): the bytes read on each side are written to the other.
//
// - Bounded memory: when one side's write queue reaches the high-water mark, reading from the
//   OTHER side stops, and resumes when the queue falls to the low-water mark. A slow reader
//   on one side holds at most the high-water mark plus one read per direction.
// - Half-close: end of stream on one side shuts the other side's sending half down (FIN) once
//   what was queued is sent; the other direction goes on.
// - End: when both directions have ended and both FINs are sent, or on the first error (a read
//   error, a failed write, a connection closed under the relay), both connections are closed;
//   once both have closed, the done callback runs with the bytes relayed each way and the
//   error (none for the orderly end).
//
// The relay takes over both connections' read callback, water marks and on_close. Whoever
// owns them (a TcpServer, a ConnectionPool lease) keeps owning them until done has run (keep
// the lease: returning it mid-relay would hand the pool a connection the relay still uses);
// they are closed by the relay, so an upstream connection that was relayed is never reused.
//
// Thread rule: loop thread only. The relay must outlive its run or be destroyed: destroying a
// running relay closes both connections without calling done. It may be destroyed inside
// done.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <system_error>

#include "tern/net/tcp_connection.h"

namespace tern {

struct RelayOptions {
  size_t high_water = 256 * 1024;  // per direction: stop reading the sender at this queue
  size_t low_water = 64 * 1024;    // and read it again once the queue is down to this
};

struct RelayResult {
  uint64_t client_to_upstream = 0;  // bytes read from the client and handed to the upstream
  uint64_t upstream_to_client = 0;
  std::error_code error;  // the first failure; empty for the orderly end
  bool upstream_error = false;  // that failure came from the upstream (its read, write, close)
};

class Relay {
 public:
  enum Direction { kToUpstream = 0, kToClient = 1 };
  using DoneCallback = std::function<void(const RelayResult&)>;

  // Both connections open and on `client`'s loop; nothing happens before start().
  Relay(TcpConnection& client, TcpConnection& upstream, RelayOptions options = {});
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts reading both sides (bytes they already hold are relayed first). Loop thread only.
  void start(DoneCallback on_done);
  // Closes both connections now; done runs (with operation_canceled) once they have closed.
  void abort() noexcept;
  bool finished() const noexcept { return finished_; }

  // --- about (loop thread only)
  uint64_t bytes(Direction d) const noexcept { return flows_[d].bytes; }
  // The largest write queue the receiving side of `d` had right after a relayed read: at most
  // the high-water mark plus one read.
  size_t peak_queued(Direction d) const noexcept { return flows_[d].peak_queued; }
  size_t largest_read(Direction d) const noexcept { return flows_[d].largest_read; }
  // Times reading stopped because the receiving side was at its high-water mark.
  uint64_t pauses(Direction d) const noexcept { return flows_[d].pauses; }

 private:
  struct Side {
    TcpConnection* connection;  // borrowed; untouched once closed (its owner frees it)
    bool closed = false;
  };
  struct Flow {  // from side[d] to side[1 - d]
    uint64_t bytes = 0;
    size_t peak_queued = 0;
    size_t largest_read = 0;
    uint64_t pauses = 0;
    bool paused = false;
    bool read_ended = false;  // end of stream read from the sender
    bool shut_down = false;   // the receiver's FIN is sent
  };

  TcpConnection& from(int d) noexcept { return *sides_[d].connection; }
  TcpConnection& to(int d) noexcept { return *sides_[1 - d].connection; }
  void start_reading(int d);
  void on_read(int d, std::error_code error, std::span<std::byte> data);
  void on_end_of_stream(int d);
  void pause(int d) noexcept;
  void resume(int d);
  void on_shut_down(int d, std::error_code error);
  // `side`: the connection the failure came from (0 client, 1 upstream), -1 neither.
  void fail(std::error_code error, int side = -1) noexcept;
  void close_both() noexcept;
  void on_closed(int side);
  void detach() noexcept;

  RelayOptions options_;
  std::array<Side, 2> sides_;
  std::array<Flow, 2> flows_{};
  DoneCallback on_done_;
  std::error_code error_;
  int error_side_ = -1;
  bool started_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace tern
