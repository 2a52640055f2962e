// Exchange: the protocol half of one benchmark connection (its per-connection state), behind
// the connection state machine (BenchConnection), which owns the socket, the window of
// requests in flight and the counting. A Workload (one per thread, immutable once built)
// makes one Exchange per connection.
// ClientSession: the same half when a client library owns the connection instead (redis
// mode drives redis::Client, the client users get): the session connects, writes, reads and
// reconnects through the client; BenchConnection keeps the window, the budget and the counting.
// A Workload makes one or the other. Thread rule: the loop thread of its connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace tern {
class EventLoop;
class TcpConnection;
}

namespace tern::bench {

// What an Exchange reports to its connection while it consumes received bytes.
class ReplySink {
 public:
  // mismatch, parse: the reply; closed, timeout, connect, write: the connection (a client
  // session reports these for the client's errors; an Exchange's connection sees them itself).
  enum class Failure { mismatch, parse, closed, timeout, connect, write };
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

// What a ClientSession reports to its connection, besides replies and failures (ReplySink).
class SessionSink : public ReplySink {
 public:
  // A callback of the client starts: the connection reads the clock and the phase for it.
  virtual void wake() = 0;
  // The session's first command was answered (the client is connected), or `error` (`why`
  // says it for the report) ended the attempt.
  virtual void opened(std::error_code error, const std::string& why) = 0;
  // `bytes` of replies arrived (their wire size), before the reply() or broken() they belong to.
  virtual void received(size_t bytes) = 0;
  // A reply or failure callback of the client is done: send more now.
  virtual void settle() = 0;

 protected:
  ~SessionSink() = default;
};

class ClientSession {
 public:
  virtual ~ClientSession() = default;
  // Starts a connection through the client: `sink.opened()` runs once, later or before
  // open() returns. The sink outlives the session.
  virtual void open(SessionSink& sink) = 0;
  // Issues `count` commands; `bytes` is set to their encoded size. Each completes, in order,
  // with sink.reply() or sink.broken().
  virtual void issue(size_t count, size_t& bytes) = 0;
  // Forgets what is outstanding: its completions no longer reach the sink (the connection
  // counted it lost). The client stays, to be opened again.
  virtual void abandon() noexcept = 0;
  // Abandons and destroys the client (the end of the run). Never from a client callback.
  virtual void stop() noexcept = 0;
};

class Workload {
 public:
  virtual ~Workload() = default;
  // One of the two per connection: an Exchange behind tern-bench's own socket (null: the
  // workload makes sessions), or a ClientSession on `loop` (null: it makes exchanges).
  virtual std::unique_ptr<Exchange> make_exchange(uint32_t /*connection_id*/) { return nullptr; }
  virtual std::unique_ptr<ClientSession> make_session(uint32_t /*connection_id*/,
                                                      EventLoop& /*loop*/) {
    return nullptr;
  }
};

}  // namespace tern::bench
