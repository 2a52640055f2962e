/* raw_uring_echo PORT: the io_uring counterpart of raw_epoll_echo.c for
 * make bench (bench/bench.py), to show what io_uring itself does on this machine.
 * Single-threaded echo server on 127.0.0.1:PORT: one ring (SINGLE_ISSUER|DEFER_TASKRUN
 * when the kernel has them), multishot accept, one multishot recv per connection into
 * a provided buffer ring (NBUFS x BUFSZ), and each received buffer is sent straight
 * back and returned to the ring when its send completes.  Sends are serialized per
 * connection (a FIFO of buffer ids): a short send is finished before the next buffer
 * goes out, and two sends in flight on one socket cannot complete out of order.
 * SIGTERM or SIGINT (seen by a poll op on a signalfd) makes it exit 0.
 * Build: gcc -O2 -Wall -Wextra raw_uring_echo.c -luring */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel takes buffers from the ring in FIFO order, so all NBUFS x BUFSZ bytes are
 * cycled through: that is the loop's cache footprint (1024 x 16 KiB cost ~10% more
 * server CPU per MiB than 256 at 100 x 16 KiB here).  Running out is harmless: the
 * recv ends with ENOBUFS and is re-armed. */
enum { NBUFS = 256, BUFSZ = 16 * 1024, BGID = 0, RING_ENTRIES = 4096 };
enum { ACCEPT = 1, RECV, SEND, SIGNAL }; /* user_data = type << 32 | fd */

struct conn { int head, tail; char recv_done, failed; }; /* FIFO of bids to send */
struct buf { int len, off, next; };

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct buf bstate[NBUFS];
static struct conn *conns; /* indexed by fd */

static struct io_uring_sqe *get_sqe(int type, int fd) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (!sqe) { io_uring_submit(&ring); sqe = io_uring_get_sqe(&ring); } /* SQ was full */
  io_uring_sqe_set_data64(sqe, (__u64)type << 32 | (__u32)fd);
  return sqe;
}
static void give_back(int bid) {
  io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
                        io_uring_buf_ring_mask(NBUFS), 0);
  io_uring_buf_ring_advance(br, 1);
}
static void arm_recv(int fd) {
  struct io_uring_sqe *sqe = get_sqe(RECV, fd);
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
}
static void send_head(int fd) { /* (re)send the unsent rest of the FIFO's first buffer */
  struct buf *b = &bstate[conns[fd].head];
  io_uring_prep_send(get_sqe(SEND, fd), fd, bufs + (size_t)conns[fd].head * BUFSZ + b->off,
                     (size_t)(b->len - b->off), MSG_NOSIGNAL);
}
static void maybe_close(int fd) { /* only once nothing of ours is in flight on fd */
  if (conns[fd].recv_done && conns[fd].head < 0) close(fd);
}

static void on_recv(int fd, int res, unsigned flags) {
  struct conn *c = &conns[fd];
  if (res > 0) {
    int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
    if (c->failed) {
      give_back(bid);
    } else {
      bstate[bid] = (struct buf){.len = res, .off = 0, .next = -1};
      if (c->head < 0) { c->head = c->tail = bid; send_head(fd); }
      else { bstate[c->tail].next = bid; c->tail = bid; }
    }
  }
  if (flags & IORING_CQE_F_MORE) return;
  if (res > 0 || res == -ENOBUFS) { arm_recv(fd); return; } /* multishot ended, fd open */
  c->recv_done = 1; /* EOF or error */
  maybe_close(fd);
}

static void on_send(int fd, int res) {
  struct conn *c = &conns[fd];
  int bid = c->head;
  if (res > 0 && (bstate[bid].off += res) < bstate[bid].len) { send_head(fd); return; }
  c->head = bstate[bid].next; /* done (or failed): pop and return to the ring */
  give_back(bid);
  if (res <= 0 && !c->failed) { /* drop the rest and make the recv end with EOF */
    c->failed = 1;
    for (; c->head >= 0; c->head = bstate[c->head].next) give_back(c->head);
    shutdown(fd, SHUT_RDWR);
  }
  if (c->head >= 0) send_head(fd);
  else maybe_close(fd);
}

int main(int argc, char **argv) {
  int port = argc == 2 ? atoi(argv[1]) : 0;
  if (port <= 0 || port > 65535) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
  sigset_t sigs;
  sigemptyset(&sigs), sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, NULL), signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  conns = calloc(rl.rlim_cur, sizeof *conns);
  int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, SOMAXCONN) < 0) {
    perror("raw_uring_echo: bind/listen");
    return 1;
  }

  struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
  int ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
  if (ret == -EINVAL) /* kernel older than 6.1: no DEFER_TASKRUN */
    ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &(struct io_uring_params){0});
  if (ret < 0) {
    fprintf(stderr, "raw_uring_echo: io_uring_queue_init: %s\n", strerror(-ret));
    return 1;
  }

  /* The provided-buffer ring (NBUFS descriptors) and the buffers themselves, mmap'd. */
  br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bufs = mmap(NULL, (size_t)NBUFS * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
              -1, 0);
  if (br == MAP_FAILED || bufs == MAP_FAILED || !conns || sfd < 0) {
    perror("raw_uring_echo: setup");
    return 1;
  }
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS,
                                 .bgid = BGID};
  if ((ret = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
    fprintf(stderr, "raw_uring_echo: io_uring_register_buf_ring: %s\n", strerror(-ret));
    return 1;
  }
  io_uring_buf_ring_init(br);
  for (int i = 0; i < NBUFS; i++) give_back(i);

  io_uring_prep_multishot_accept(get_sqe(ACCEPT, lfd), lfd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_prep_poll_add(get_sqe(SIGNAL, sfd), sfd, POLLIN);
  for (;;) {
    ret = io_uring_submit_and_wait(&ring, 1);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
      fprintf(stderr, "raw_uring_echo: io_uring_submit_and_wait: %s\n", strerror(-ret));
      return 1;
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      int fd = (int)(__u32)cqe->user_data, res = cqe->res;
      seen++;
      switch (cqe->user_data >> 32) {
      case SIGNAL: /* the ring (and its accept's hold on lfd) is torn down */
        shutdown(lfd, SHUT_RDWR); /* asynchronously: unlisten now so PORT is free */
        return 0;
      case RECV: on_recv(fd, res, cqe->flags); break;
      case SEND: on_send(fd, res); break;
      case ACCEPT:
        if (res >= 0) {
          setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[res] = (struct conn){.head = -1, .tail = -1};
          arm_recv(res);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) /* multishot accept ended: re-arm */
          io_uring_prep_multishot_accept(get_sqe(ACCEPT, lfd), lfd, NULL, NULL, SOCK_CLOEXEC);
        break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
