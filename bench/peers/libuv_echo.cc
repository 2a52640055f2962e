// libuv-echo: the libuv peer of `make bench`'s echo section. One thread, one uv_loop_t, in two
// variants, because the first one measures glibc as much as libuv:
//
//   --naive   the echo server of libuv's user guide (docs/code/tcp-echo-server) as written: the
//             alloc callback mallocs the suggested 64 KiB for every read, uv_write sends it and
//             its callback frees it; glibc's default heap settings (it trims the heap top after
//             each burst and page-faults it back on the next).
//   default   tuned as libuv's documentation allows: one 64 KiB buffer per connection handed to
//             every read, uv_try_write first (nothing queued, nothing allocated when the socket
//             takes it all), uv_write for a remainder with reading stopped until it completes;
//             the heap settings tern-echo uses.
//
// Backpressure: the naive variant stops reading while more than kHighWater bytes wait in the
// write queue (uv_stream_get_write_queue_size) and starts again at half; the tuned one never has
// more than one read's worth queued. A client that half-closes gets the rest of its echo
// (uv_shutdown waits for queued writes), then the connection closes.
//
//   libuv-echo --host 127.0.0.1 --port 9000 [--naive]      SIGTERM or SIGINT: exit 0
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "peer_options.h"

namespace {

constexpr const char *kName = "libuv-echo";
constexpr size_t kBufferSize = 64 * 1024;  // what libuv suggests to the alloc callback
constexpr size_t kHighWater = 1 << 20;     // naive: queued write bytes that stop reading

void on_alloc_naive(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
void on_read_naive(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
void on_alloc_tuned(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
void on_read_tuned(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

// One accepted connection; handle.data points back to it. Deleted in the close
// callback, the one place libuv guarantees that nothing in flight still refers
// to the handle.
struct Connection {
  uv_tcp_t handle;
  uv_write_t write;        // tuned: the one write in flight
  uv_shutdown_t shutdown;  // after the client's EOF
  bool naive = false;
  bool reading = true;
  std::unique_ptr<char[]> buffer;  // tuned: every read lands here

  uv_stream_t *stream() { return reinterpret_cast<uv_stream_t *>(&handle); }
  int start_reading() {
    reading = true;
    return naive ? uv_read_start(stream(), on_alloc_naive, on_read_naive)
                 : uv_read_start(stream(), on_alloc_tuned, on_read_tuned);
  }
  void stop_reading() {
    reading = false;
    uv_read_stop(stream());
  }
};

Connection *connection_of(uv_handle_t *handle) { return static_cast<Connection *>(handle->data); }
Connection *connection_of(uv_stream_t *stream) { return static_cast<Connection *>(stream->data); }

void on_closed(uv_handle_t *handle) {
  delete connection_of(handle);  // the owner is libuv's handle list until this callback
}

void close_connection(Connection *connection) {
  auto *handle = reinterpret_cast<uv_handle_t *>(&connection->handle);
  if (!uv_is_closing(handle)) uv_close(handle, on_closed);
}

void on_shutdown(uv_shutdown_t *request, int) { close_connection(connection_of(request->handle)); }

// The read ended (EOF or an error): echo what is queued, then close.
void finish(Connection *connection, ssize_t nread) {
  if (nread == UV_EOF &&
      uv_shutdown(&connection->shutdown, connection->stream(), on_shutdown) == 0) {
    return;
  }
  close_connection(connection);
}

// --- naive: the user guide's example
// ---------------------------------------------------------

// A write of one malloc'd read buffer, freed when the write completes (as the
// guide does).
struct NaiveWrite {
  uv_write_t request;
  uv_buf_t buf;
};

void on_alloc_naive(uv_handle_t *, size_t suggested, uv_buf_t *buf) {
  *buf = uv_buf_init(static_cast<char *>(std::malloc(suggested)), static_cast<unsigned>(suggested));
}

void on_written_naive(uv_write_t *request, int status) {
  auto *write = reinterpret_cast<NaiveWrite *>(request);
  std::free(write->buf.base);
  Connection *connection = connection_of(request->handle);
  delete write;
  if (status < 0) {  // UV_ECANCELED while closing, or a socket error
    close_connection(connection);
    return;
  }
  if (!connection->reading &&
      uv_stream_get_write_queue_size(connection->stream()) <= kHighWater / 2 &&
      !uv_is_closing(reinterpret_cast<uv_handle_t *>(&connection->handle))) {
    if (connection->start_reading() != 0) close_connection(connection);
  }
}

void on_read_naive(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  Connection *connection = connection_of(stream);
  if (nread > 0) {
    auto *write = new NaiveWrite{{}, uv_buf_init(buf->base, static_cast<unsigned>(nread))};
    if (uv_write(&write->request, stream, &write->buf, 1, on_written_naive) != 0) {
      std::free(buf->base);
      delete write;
      close_connection(connection);
      return;
    }
    if (uv_stream_get_write_queue_size(stream) > kHighWater) connection->stop_reading();
    return;
  }
  std::free(buf->base);  // nread == 0 (EAGAIN) hands back an unused buffer
  if (nread < 0) finish(connection, nread);
}

// --- tuned
// -----------------------------------------------------------------------------------

void on_alloc_tuned(uv_handle_t *handle, size_t, uv_buf_t *buf) {
  Connection *connection = connection_of(handle);
  *buf = uv_buf_init(connection->buffer.get(), kBufferSize);
}

void on_written_tuned(uv_write_t *request, int status) {
  Connection *connection = connection_of(request->handle);
  if (status < 0) {
    close_connection(connection);
    return;
  }
  if (connection->start_reading() != 0) close_connection(connection);
}

void on_read_tuned(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  Connection *connection = connection_of(stream);
  if (nread < 0) {
    finish(connection, nread);
    return;
  }
  if (nread == 0) return;
  uv_buf_t data = uv_buf_init(buf->base, static_cast<unsigned>(nread));
  int sent = uv_try_write(stream, &data, 1);
  if (sent == nread) return;
  if (sent < 0 && sent != UV_EAGAIN) {
    close_connection(connection);
    return;
  }
  // The socket is full: queue the rest, and keep the buffer out of reads until
  // it is written.
  size_t done = sent > 0 ? static_cast<size_t>(sent) : 0;
  uv_buf_t rest = uv_buf_init(buf->base + done, static_cast<unsigned>(nread - done));
  connection->stop_reading();
  if (uv_write(&connection->write, stream, &rest, 1, on_written_tuned) != 0) {
    close_connection(connection);
  }
}

// --- server
// ----------------------------------------------------------------------------------

void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  bool naive = *static_cast<bool *>(server->data);
  auto connection = std::make_unique<Connection>();
  connection->naive = naive;
  if (!naive) connection->buffer = std::make_unique<char[]>(kBufferSize);
  uv_tcp_init(server->loop, &connection->handle);
  // From here the handle is in the loop's list and may only be freed by
  // on_closed.
  Connection *owned = connection.release();
  owned->handle.data = owned;
  if (uv_accept(server, owned->stream()) != 0) {
    close_connection(owned);
    return;
  }
  uv_tcp_nodelay(&owned->handle, 1);  // as tern's TcpServer does
  if (owned->start_reading() != 0) close_connection(owned);
}

// loop->data names the listening handle: every other TCP handle is a
// Connection.
void close_any(uv_handle_t *handle, void *) {
  if (uv_is_closing(handle)) return;
  bool is_connection = handle->type == UV_TCP && handle != uv_handle_get_loop(handle)->data;
  uv_close(handle, is_connection ? on_closed : nullptr);
}

// SIGTERM or SIGINT: close every handle; uv_run returns once their callbacks
// have run.
void on_signal(uv_signal_t *signal_handle, int) {
  uv_walk(signal_handle->loop, close_any, nullptr);
}

int bound_port(uv_tcp_t *server) {
  sockaddr_storage address{};
  int length = sizeof address;
  if (uv_tcp_getsockname(server, reinterpret_cast<sockaddr *>(&address), &length) != 0) return -1;
  return ntohs(reinterpret_cast<sockaddr_in *>(&address)->sin_port);
}

}  // namespace

int main(int argc, char **argv) {
  auto options = tern::bench::parse_peer_options(argc, argv, kName, true);
  if (!options) return 2;
  if (options->help) return 0;
  if (!options->naive) tern::bench::keep_heap();
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t loop;
  if (int error = uv_loop_init(&loop); error != 0) {
    std::fprintf(stderr, "%s: uv_loop_init: %s\n", kName, uv_strerror(error));
    return 1;
  }
  sockaddr_in address{};
  if (uv_ip4_addr(options->host.c_str(), options->port, &address) != 0) {
    std::fprintf(stderr, "%s: bad --host '%s' (an IPv4 address)\n", kName, options->host.c_str());
    return 2;
  }
  uv_tcp_t server;
  uv_tcp_init(&loop, &server);
  server.data = &options->naive;
  loop.data = &server;  // close_any: the one TCP handle that is not a Connection
  int error = uv_tcp_bind(&server, reinterpret_cast<const sockaddr *>(&address), 0);
  if (error == 0)
    error = uv_listen(reinterpret_cast<uv_stream_t *>(&server), SOMAXCONN, on_connection);
  if (error != 0) {
    std::fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", kName, options->host.c_str(),
                 options->port, uv_strerror(error));
    return 1;
  }
  uv_signal_t term;
  uv_signal_t interrupt;
  uv_signal_init(&loop, &term);
  uv_signal_init(&loop, &interrupt);
  term.data = interrupt.data = nullptr;
  uv_signal_start(&term, on_signal, SIGTERM);
  uv_signal_start(&interrupt, on_signal, SIGINT);

  tern::bench::announce_listening(kName, options->host, bound_port(&server));
  uv_run(&loop, UV_RUN_DEFAULT);
  if (int closed = uv_loop_close(&loop); closed != 0) {
    std::fprintf(stderr, "%s: uv_loop_close: %s\n", kName, uv_strerror(closed));
    return 1;
  }
  return 0;
}
