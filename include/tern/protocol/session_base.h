// The interfaces around a session, whatever its protocol: what it asks of the connection it
// runs on (Transport), where its handlers run (Dispatcher), its limits (SessionConfig), and the
// session as its transport and engine see it (SessionBase). Session<P> (session.h) implements
// the last; the engines (src/patterns/) implement the first two.
#pragma once

#include <cstddef>
#include <string_view>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/net/conn_id.h"
#include "tern/net/inet_address.h"
#include "tern/protocol/output.h"
#include "tern/protocol/reply.h"

namespace tern {

// What a session asks of the connection it runs on.
class Transport {
 public:
  // Idempotent: starts or stops reading (stopped, the peer's bytes wait in the kernel).
  virtual void set_reading(bool on) = 0;
  // Sends every piece of `out`, in order after what was written before, and clears it.
  virtual void write(Output& out) = 0;
  // Bytes written and not yet sent.
  virtual size_t unsent_bytes() const = 0;
  // The peer closed its side and everything is answered: FIN after the queued bytes, close.
  virtual void finish() = 0;
  // A lingering close: the queued bytes, FIN, then input discarded until the peer closes or
  // a short linger passes (closing with unread input would reset and destroy responses).
  virtual void close_gracefully() = 0;
  // Closes at once, dropping what is unsent (a peer that stopped reading).
  virtual void close_now() = 0;
  // One deadline per connection: on_deadline() runs at `when`; TimePoint{} cancels.
  virtual void set_deadline(TimePoint when) = 0;
  // The peer's address (0.0.0.0:0 if the socket no longer knows it).
  virtual InetAddress peer_address() const = 0;
  // Runs a stream producer's callback outside whatever the transport holds while it drives
  // the session (the callback writes the next chunk, which comes back to the session): at
  // once, or once the connection's lock is released.
  virtual void call_later(WritableCallback&& callback, bool open) = 0;

 protected:
  ~Transport() = default;
};

// Where handlers run. The model's part of a session.
class Dispatcher {
 public:
  using Job = UniqueFunction<void()>;
  // True: handlers run inline, on the connection's thread, while the request views the input.
  virtual bool runs_inline() const noexcept = 0;
  // Around an inline handler: a transport whose connection is shared between threads (one-shot
  // readiness) releases the connection's lock, so a blocking handler holds up no reply.
  virtual void before_handler() noexcept {}
  virtual void after_handler() noexcept {}
  // Queues `job` for a worker; false (and `job` untouched) when the queue is full: the session
  // stops reading and the dispatcher calls SessionBase::resume() on the connection's thread
  // once there is room.
  virtual bool try_queue(Job& job, ConnId id) = 0;

 protected:
  ~Dispatcher() = default;
};

struct SessionConfig {
  size_t max_pipeline = 64;   // requests of one connection with the handler at once
  size_t high_water = 1 << 20;  // unsent response bytes that stop reading
};

// The session as its transport and engine see it, whatever the protocol.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void start() = 0;
  // Bytes read; valid only during the call.
  virtual void on_read(std::string_view bytes) = 0;
  // The peer sent FIN.
  virtual void on_peer_closed() = 0;
  // Unsent output drained (to the low-water mark, or empty): reading may resume.
  virtual void on_output_drained() = 0;
  virtual void on_deadline() = 0;
  // The worker queue has room again.
  virtual void resume() = 0;
  // The server is stopping: no new requests; close once the ones read are answered.
  virtual void drain() = 0;
  // Requests read and not yet answered.
  virtual size_t in_flight() const noexcept = 0;
  // Closes once the requests already with the handler are answered and written (a lingering
  // close); nothing more is read or dispatched, whole requests still buffered included. A
  // program's kick (ConnectionRef::close), where drain() is the server's.
  virtual void close_when_answered() = 0;
};

}  // namespace tern
