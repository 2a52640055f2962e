// libevent-echo: the libevent peer of `make bench`'s echo section. One thread,
// one event_base, written the way libevent's book ("Fast portable non-blocking
// network programming with Libevent": evconnlistener, bufferevents) recommends:
// an evconnlistener accepts, each connection is a socket bufferevent, and the
// read callback moves the whole input evbuffer to the output
// (evbuffer_add_buffer: chains are handed over, no bytes copied).
//
// Backpressure as libevent's own sample/le-proxy.c does it: when the output
// holds more than kHighWater bytes, reading stops, and a write callback armed
// with a low watermark restarts it once the output has drained to half.
//
//   libevent-echo --host 127.0.0.1 --port 9000      SIGTERM or SIGINT: exit 0
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <memory>
#include <unordered_map>

#include "peer_options.h"

namespace {

constexpr const char *kName = "libevent-echo";
// Output bytes queued before the connection stops reading: a few socket
// buffers' worth.
constexpr size_t kHighWater = 1 << 20;

struct BaseDeleter {
  void operator()(event_base *base) const { event_base_free(base); }
};
struct ListenerDeleter {
  void operator()(evconnlistener *listener) const { evconnlistener_free(listener); }
};
struct EventDeleter {
  void operator()(event *ev) const { event_free(ev); }
};
struct BufferEventDeleter {
  void operator()(bufferevent *bev) const { bufferevent_free(bev); }
};
using BufferEventPtr = std::unique_ptr<bufferevent, BufferEventDeleter>;

// The open connections, owned here so that the ones still open at exit are
// freed too. Thread rule: the loop thread.
class Server {
 public:
  explicit Server(event_base *base) : base_(base) {}
  event_base *base() const { return base_; }
  void adopt(bufferevent *bev) { connections_.emplace(bev, BufferEventPtr(bev)); }
  void close(bufferevent *bev) { connections_.erase(bev); }

 private:
  event_base *base_;
  std::unordered_map<bufferevent *, BufferEventPtr> connections_;
};

void on_read(bufferevent *bev, void *context);
void on_drained(bufferevent *bev, void *context);
void on_flushed_then_close(bufferevent *bev, void *context);
void on_event(bufferevent *bev, short events, void *context);

void on_read(bufferevent *bev, void *context) {
  evbuffer *output = bufferevent_get_output(bev);
  evbuffer_add_buffer(output, bufferevent_get_input(bev));
  if (evbuffer_get_length(output) >= kHighWater) {
    bufferevent_disable(bev, EV_READ);
    bufferevent_setwatermark(bev, EV_WRITE, kHighWater / 2, 0);
    bufferevent_setcb(bev, on_read, on_drained, on_event, context);
  }
}

// The output has drained to the low watermark: read again, and stop watching
// writes.
void on_drained(bufferevent *bev, void *context) {
  bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
  bufferevent_setcb(bev, on_read, nullptr, on_event, context);
  bufferevent_enable(bev, EV_READ);
}

void on_flushed_then_close(bufferevent *bev, void *context) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
    static_cast<Server *>(context)->close(bev);
  }
}

void on_event(bufferevent *bev, short events, void *context) {
  auto *server = static_cast<Server *>(context);
  if ((events & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
    // The client finished sending: echo what is still queued, then close.
    bufferevent_disable(bev, EV_READ);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_setcb(bev, nullptr, on_flushed_then_close, on_event, context);
    return;
  }
  if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) server->close(bev);
}

void on_accept(evconnlistener *, evutil_socket_t fd, sockaddr *, int, void *context) {
  auto *server = static_cast<Server *>(context);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
             sizeof one);  // as tern's TcpServer does
  bufferevent *bev = bufferevent_socket_new(server->base(), fd, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    evutil_closesocket(fd);
    return;
  }
  server->adopt(bev);
  bufferevent_setcb(bev, on_read, nullptr, on_event, server);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void on_signal(evutil_socket_t, short, void *context) {
  event_base_loopbreak(static_cast<event_base *>(context));
}

int bound_port(evconnlistener *listener) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(evconnlistener_get_fd(listener), reinterpret_cast<sockaddr *>(&address),
                  &length) != 0) {
    return -1;
  }
  return ntohs(reinterpret_cast<sockaddr_in *>(&address)->sin_port);
}

}  // namespace

int main(int argc, char **argv) {
  auto options = tern::bench::parse_peer_options(argc, argv, kName, false);
  if (!options) return 2;
  if (options->help) return 0;
  tern::bench::keep_heap();
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<event_base, BaseDeleter> base(event_base_new());
  if (!base) {
    std::fprintf(stderr, "%s: event_base_new failed\n", kName);
    return 1;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options->port));
  if (evutil_inet_pton(AF_INET, options->host.c_str(), &address.sin_addr) != 1) {
    std::fprintf(stderr, "%s: bad --host '%s' (an IPv4 address)\n", kName, options->host.c_str());
    return 2;
  }
  // Declared before the listener and the signal events, so it outlives their
  // callbacks; the connections it still holds are freed before the base.
  Server server(base.get());
  std::unique_ptr<evconnlistener, ListenerDeleter> listener(evconnlistener_new_bind(
      base.get(), on_accept, &server, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
      reinterpret_cast<sockaddr *>(&address), sizeof address));
  if (!listener) {
    std::fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", kName, options->host.c_str(),
                 options->port, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    return 1;
  }
  std::unique_ptr<event, EventDeleter> term(
      evsignal_new(base.get(), SIGTERM, on_signal, base.get()));
  std::unique_ptr<event, EventDeleter> interrupt(
      evsignal_new(base.get(), SIGINT, on_signal, base.get()));
  if (!term || !interrupt || event_add(term.get(), nullptr) != 0 ||
      event_add(interrupt.get(), nullptr) != 0) {
    std::fprintf(stderr, "%s: cannot watch SIGTERM and SIGINT\n", kName);
    return 1;
  }
  tern::bench::announce_listening(kName, options->host, bound_port(listener.get()));
  if (event_base_dispatch(base.get()) < 0) {
    std::fprintf(stderr, "%s: event_base_dispatch failed\n", kName);
    return 1;
  }
  return 0;
}
