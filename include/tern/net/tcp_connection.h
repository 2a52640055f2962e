// TcpConnection: one connected TCP stream, with libuv's completion-style API on every backend.
//
// Reading: read_start(alloc, on_read) asks for a buffer (alloc) only when bytes are there,
// fills it and hands it back (on_read) with the filled part; end of stream arrives as
// errc::eof, failures as their system error. Reading stops by itself after either.
// Writing: write(...) requests are queued per connection and written in order, gathered into
// one sendmsg; each request's callback runs once its last byte is sent (or with the error that
// stopped it). A write error closes the connection. write_file() queues a range of a file in
// the same order: sent with sendfile(2) where tern performs the I/O (readiness backends), read
// block by block into a buffer the connection owns and sent from there where the backend does
// (io_uring, aio).
// Closing is asynchronous: close() stops everything, and on_close runs once no operation can
// touch the connection any more; queued writes' callbacks get std::errc::operation_canceled.
//
// Thread rule: loop thread only, like everything registered with a loop. Owned by the
// TcpServer or TcpClient that made it, which destroys it after its close callback; a reference
// is valid until then (use ConnId to refer to a connection that may be gone).
#pragma once

#include <any>
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/backend/op.h"
#include "tern/base/clock.h"
#include "tern/base/file.h"
#include "tern/base/result.h"
#include "tern/loop/timer_id.h"
#include "tern/net/conn_id.h"
#include "tern/net/inet_address.h"
#include "tern/net/socket.h"

namespace tern {

class EventLoop;
class TcpConnection;
namespace detail {
struct WriteRequest;
struct WriteRing;
// Gives a ring back to its thread's spares (src/net/write_ring.h).
struct WriteRingRecycler {
  void operator()(WriteRing* ring) const noexcept;
};
using WriteRingPtr = std::unique_ptr<WriteRing, WriteRingRecycler>;
}  // namespace detail


using ConstBuffer = std::span<const std::byte>;
using AllocCallback = std::function<std::span<std::byte>(TcpConnection&, size_t suggested)>;
using ReadCallback =
    std::function<void(TcpConnection&, std::error_code, std::span<std::byte> data)>;
using WriteCallback = std::function<void(TcpConnection&, std::error_code)>;
using ConnectionCallback = std::function<void(TcpConnection&)>;
using WaterMarkCallback = std::function<void(TcpConnection&, size_t queued_bytes)>;

class TcpConnection final : private OpHandler, private BufferProvider {
 public:
  // Takes a connected, non-blocking socket.
  TcpConnection(EventLoop& loop, Socket socket);
  // Destroying an open connection withdraws its operations and closes the fd without running
  // any callback (teardown); close() is the orderly way.
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // --- reading
  // Reads into a buffer the backend lends (a scratch buffer, or on io_uring one the kernel
  // picks from the loop's buffer ring): `data` is valid only inside on_read.
  std::error_code read_start(ReadCallback on_read);
  // Reads into buffers from `alloc` (libuv's alloc_cb); an empty span from alloc stops reading
  // with ENOBUFS.
  std::error_code read_start(AllocCallback alloc, ReadCallback on_read);
  // No read callback runs after this returns; bytes already received are kept for the next
  // read_start.
  void read_stop() noexcept;
  bool reading() const noexcept { return want_read_; }
  // How far ahead of its reader the connection may receive, for an owner that stops reading
  // once its write queue reaches `high_water` (an echo, a Session; not a relay, whose queue
  // fills from the other side): a receive the kernel performs on its own (io_uring's multishot
  // receive) is then armed for at most `high_water` minus the bytes queued for writing and the
  // bytes kept after a read_stop, and none is armed while that is 0 (sends that complete make
  // room). So what a peer that never reads makes the connection hold stays within the mark,
  // plus less than one receive buffer. Without it each arming takes at most
  // kDefaultReceiveAhead. Loop thread only.
  void set_receive_window(size_t high_water) noexcept;
  static constexpr size_t kDefaultReceiveAhead = 64 * 1024;

  // --- writing
  // Copies the bytes (only what cannot be sent at once: an empty queue is written through).
  std::error_code write(std::span<const ConstBuffer> buffers, WriteCallback on_done = {});
  std::error_code write(ConstBuffer data, WriteCallback on_done = {});
  std::error_code write(std::string_view text, WriteCallback on_done = {});
  // Takes the string: written through where the backend can, and what is left (everything, on
  // io_uring) is sent from the string itself, never copied.
  std::error_code write(std::string&& bytes, WriteCallback on_done = {});
  // Zero-copy: the caller keeps `data` alive and unchanged until on_done runs.
  std::error_code write_ref(ConstBuffer data, WriteCallback on_done);
  // For bytes of the read callback that is running (echo, proxying): on io_uring the received
  // buffer is kept, not copied, until the bytes are sent; elsewhere the same as write().
  std::error_code write_received(ConstBuffer data, WriteCallback on_done = {});
  // Queues `range` after what is queued (a zero-length range only orders its callback). The
  // request holds the range's File until it is sent or dropped. The file is read at the
  // range's offset, never through the file's own offset, so one File may serve many
  // connections at once. A read error, or a file that ends before the range does (truncated
  // while sending), closes the connection: the peer sees a short body, then the close.
  std::error_code write_file(FileRange range, WriteCallback on_done = {});
  // Bytes queued and not yet sent, file bytes included.
  size_t write_queue_bytes() const noexcept { return queued_bytes_; }
  // `callback` runs once, when the queued bytes have all been sent (not at all if the
  // connection closes first). Unlike a write's own callback it costs nothing on writes that go
  // through at once: arm it only when write_queue_bytes() > 0. Replaces one armed before.
  void when_drained(ConnectionCallback callback) { on_drained_ = std::move(callback); }
  // on_high runs when the queue grows to `high` bytes or more; on_low when it then falls to
  // `low` or less. The usual use: stop reading on high, resume on low (backpressure).
  void set_water_marks(size_t high, size_t low, WaterMarkCallback on_high,
                       WaterMarkCallback on_low);

  // Half-closes (FIN) once every queued write is sent; reading goes on. Later writes fail
  // with errc::not_connected.
  std::error_code shutdown(WriteCallback on_done = {});
  // Stops reading, cancels queued writes and closes; on_close runs later on the loop.
  void close() noexcept;
  // The orderly close of a server: stops reading, sends what is queued, then FIN; then reads
  // and discards until the peer closes too, for at most `linger`, and closes. (Closing with
  // unread input makes the kernel send a reset, which can destroy the responses the peer has
  // not read yet: nginx's lingering close.)
  void close_gracefully(Duration linger) noexcept;
  void on_close(ConnectionCallback callback) { on_close_ = std::move(callback); }
  bool closing() const noexcept { return closing_; }
  // Why the connection closed itself: the write error (a reset, a broken pipe) or the file
  // read error that ended it. None when its owner closed it. The reader is not told (a read
  // callback runs only for what it asked): whoever holds state on the connection, a client
  // pipeline with requests waiting, learns of the close from on_close and asks here.
  std::error_code close_reason() const noexcept { return close_reason_; }
  // Whether the kernel holds anything unread for this socket: bytes, the peer's FIN or an
  // error (one recv(MSG_PEEK) system call). A read callback learns of them only once the loop
  // gets to them; a pool asks before it lends an idle connection.
  bool input_pending() const noexcept;

  // --- about
  EventLoop& loop() const noexcept { return loop_; }
  int fd() const noexcept { return socket_.fd(); }
  const InetAddress& local_address() const;  // asked of the kernel once, then cached
  const InetAddress& peer_address() const;
  std::error_code set_no_delay(bool on) noexcept { return socket_.set_no_delay(on); }
  // Bytes received by the kernel and not yet read (FIONREAD), plus any kept after read_stop.
  size_t unread_bytes() const noexcept;
  // Bytes received while reading was stopped, kept for the next read_start. Loop thread only.
  size_t kept_bytes() const noexcept { return stash_.size() - stash_offset_; }
  ConnId id() const noexcept { return id_; }
  // A per-connection slot for the user's state.
  std::any& context() noexcept { return context_; }

  // For the owner (TcpServer, TcpClient): runs after on_close; usually destroys the connection.
  void set_release(ConnectionCallback release) { release_ = std::move(release); }
  void set_id(ConnId id) noexcept { id_ = id; }

 private:
  static constexpr size_t kBounceSize = 64 * 1024;  // a block of a file read for sending

  void on_complete(Op& op, const Completion& completion) override;
  std::span<std::byte> provide(size_t suggested) override;
  void on_recv(const Completion& completion);
  void on_send(const Completion& completion);
  void deliver(std::error_code error, std::span<std::byte> data, uint32_t buffer_id = kNoBuffer);
  void deliver_stash();
  void submit_recv();
  void close_on_error(std::error_code error);
  size_t receive_room() const noexcept;

  std::error_code enqueue(std::span<const ConstBuffer> buffers, size_t skip, WriteCallback cb);
  // Nothing queued: sends what the socket takes now (0 on EAGAIN); a failure closes.
  Result<size_t> write_through(std::span<const ConstBuffer> buffers);
  using WriteRequest = detail::WriteRequest;

  void queue_request(WriteRequest& request, const std::byte* data, size_t size,
                     WriteCallback on_done, bool try_first);
  WriteRequest& push_request();
  void pop_request();
  WriteRequest& front() noexcept;
  WriteRequest& queued(size_t i) noexcept;  // the i-th request from the front
  // Gives the ring back once nothing needs it: nothing queued, no send using its iovecs.
  void maybe_give_back_ring() noexcept;
  void advance(size_t bytes);
  void kick(bool try_first);
  // Readiness backends: sends the file requests at the front with sendfile(2) while the
  // socket takes them; true when the socket is full.
  bool send_front_files();
  // Backends that perform the I/O: the unsent bytes of file request `request` that are in
  // the bounce buffer, read from the file first if none are.
  Result<ConstBuffer> bounced(WriteRequest& request);
  void fail_file(std::error_code error, bool log_it);
  void fail_writes(std::error_code error);
  void check_high_water();
  void check_low_water();
  void maybe_finish_close();
  void finish_close();

  EventLoop& loop_;
  Socket socket_;
  Op recv_op_;
  Op send_op_;
  size_t send_asked_ = 0;             // bytes the send in flight asked for
  bool reads_files_ = false;          // files go through bounce_, not sendfile (performs_io)
  bool edge_triggered_ = false;       // sendfile goes on until EAGAIN (see send_file_part)
  // The bounce buffer: bytes [bounce_from_, bounce_from_ + bounce_size_) of the first file
  // request in the queue (request.sent counts from the same origin). Given back when the
  // queue empties, so idle connections hold none.
  std::unique_ptr<std::byte[]> bounce_;
  size_t bounce_capacity_ = 0;
  uint64_t bounce_from_ = 0;
  size_t bounce_size_ = 0;

  AllocCallback alloc_;
  ReadCallback on_read_;
  bool want_read_ = false;
  bool provided_buffers_ = false;     // the backend lends receive buffers it picks (io_uring)
  bool bounded_recv_ = false;         // and ends a multishot receive at a byte limit
  size_t receive_window_ = 0;         // set_receive_window's mark; 0: none given
  std::span<std::byte> reading_;      // the bytes of the read callback that is running
  uint32_t reading_buffer_ = kNoBuffer;  // and the backend buffer that holds them
  std::vector<std::byte> stash_;      // received while stopped: delivered on read_start
  size_t stash_offset_ = 0;           // how much of stash_ was delivered
  std::optional<std::error_code> stashed_end_;

  detail::WriteRingPtr ring_;         // the queued requests; only while there are some
  size_t head_ = 0;
  size_t count_ = 0;
  size_t queued_bytes_ = 0;
  size_t high_water_ = SIZE_MAX;
  size_t low_water_ = 0;
  bool above_high_water_ = false;
  WaterMarkCallback on_high_;
  WaterMarkCallback on_low_;
  ConnectionCallback on_drained_;
  bool write_closed_ = false;          // shutdown() queued, or a write failed

  bool closing_ = false;
  bool finish_queued_ = false;
  std::error_code close_reason_;
  TimerId linger_timer_;
  std::shared_ptr<char> lifeline_ = std::make_shared<char>();
  ConnectionCallback on_close_;
  ConnectionCallback release_;
  std::any context_;
  ConnId id_;
  mutable std::optional<InetAddress> local_;
  mutable std::optional<InetAddress> peer_;
};

}  // namespace tern
