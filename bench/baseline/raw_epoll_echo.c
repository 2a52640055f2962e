/* raw_epoll_echo PORT: the reference "raw loop" of make bench (bench/bench.py).
 * A single-threaded, edge-triggered epoll echo server on 127.0.0.1:PORT with no
 * framework, no allocation per message and one static 64 KiB buffer.  SIGTERM or
 * SIGINT makes it exit 0.  Build: gcc -O2 -Wall -Wextra raw_epoll_echo.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }
static char buf[64 * 1024];

/* Echo until EAGAIN (edge-triggered).  Returns 0 to keep the connection, -1 to close. */
static int echo(int fd) {
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return -1;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    /* Short writes: the ping-pong client never has more than one block in flight, so
     * the socket send buffer never fills and write() never returns EAGAIN in
     * practice.  Keeping it simple, we retry until everything is written or a real
     * error occurs (this would spin, not block, if the buffer ever did fill). */
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w > 0) off += w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
    }
  }
}

int main(int argc, char **argv) {
  int port = argc == 2 ? atoi(argv[1]) : 0;
  if (port <= 0 || port > 65535) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
  /* Block the signals except inside epoll_pwait, so a signal cannot slip in between
   * the check of `stop` and going to sleep.  No SA_RESTART: epoll_pwait gets EINTR. */
  struct sigaction sa = {.sa_handler = on_signal};
  sigset_t block, during_wait;
  sigemptyset(&block), sigaddset(&block, SIGTERM), sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &during_wait);
  sigaction(SIGTERM, &sa, NULL), sigaction(SIGINT, &sa, NULL), signal(SIGPIPE, SIG_IGN);

  int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, SOMAXCONN) < 0) {
    perror("raw_epoll_echo: bind/listen");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

  while (!stop) {
    int n = epoll_pwait(ep, evs, 256, -1, &during_wait);
    if (n < 0 && errno != EINTR) { perror("raw_epoll_echo: epoll_pwait"); return 1; }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, c;
      if (fd != lfd) {
        if (echo(fd) < 0) close(fd); /* close() also removes it from the epoll set */
        continue;
      }
      for (;;) { /* accept until EAGAIN (or a hard error such as EMFILE) */
        if ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          break;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) close(c);
      }
    }
  }
  return 0;
}
