// Exchange: the protocol half of one benchmark connection (its per-connection state), behind
// the connection state machine (BenchConnection), which owns the socket, the window of
// requests in flight and the counting. A Workload (one per thread, immutable once built)
// makes one Exchange per connection. Thread rule: the loop thread of its connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace tern {
class TcpConnection;
}

namespace tern::bench {

// What an Exchange reports to its connection while it consumes received bytes.
class ReplySink {
 public:
  enum class Failure { mismatch, parse };
  // One reply is complete; `status` is its HTTP status (0 for echo and rr). False: the
  // connection is closing (a reply for no request, a reply limit reached); stop consuming.
  virtual bool reply(int status) = 0;
  // The byte stream is broken: the connection closes and reopens; stop consuming.
  virtual void broken(Failure failure, const std::string& why) = 0;
  // The reply just reported was the server's last on this connection (Connection: close).
  virtual void last_reply() = 0;

 protected:
  ~ReplySink() = default;
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  // Queues requests [first_seq, first_seq + count) on `conn` in one write; `bytes` is set to
  // the bytes queued. The error of the write, if it failed.
  virtual std::error_code send(TcpConnection& conn, uint64_t first_seq, size_t count,
                               size_t& bytes) = 0;
  // True when received bytes must land in memory of the exchange's own (see read_space).
  virtual bool reads_into_own_buffer() const noexcept { return false; }
  // Where the next read may write (at least one byte), for reads_into_own_buffer().
  virtual std::span<std::byte> read_space(size_t /*suggested*/) { return {}; }
  // Consumes received bytes (for reads_into_own_buffer(), the bytes read into read_space).
  virtual void receive(std::span<const std::byte> data, ReplySink& sink) = 0;
  // The server closed the stream: completes a reply delimited by the close, if one is open.
  virtual void end_of_input(ReplySink& /*sink*/) {}
  // True while a reply is partly received.
  virtual bool mid_reply() const noexcept = 0;
  // The connection is reopened: forget partial replies; the next request is number 0.
  virtual void reset() noexcept = 0;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::unique_ptr<Exchange> make_exchange(uint32_t connection_id) = 0;
};

}  // namespace tern::bench
