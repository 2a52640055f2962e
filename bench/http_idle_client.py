#!/usr/bin/env python3
"""HTTP/1.1 load helpers for bench/run_http.sh, one thread, one epoll loop, loopback only.

hold  (RSS per idle keep-alive connection): opens N connections (at most --inflight connects
      pending at once, so the listen backlog never overflows), sends one keep-alive GET on
      each, reads its whole response (Content-Length framing), then prints
          READY open=N
      and holds every connection, idle, until a line arrives on stdin (or --hold seconds
      pass).  On "CHECK" it prints "CHECK open=A closed=B" (connections the server closed
      meanwhile) and goes on holding; on "CLOSE" or end of input it closes them all and
      exits 0.  Any failure (refused, reset, bad status, timeout) prints "FAIL ..." and exits 1.

count (a fixed number of requests, for callgrind's instructions per request): sends
      --requests GETs over --connections keep-alive connections, --depth pipelined per
      write, checks every response is 200, prints "DONE requests=N seconds=S", exits 0.

Every phase is bounded by --timeout seconds.
"""
import argparse
import errno
import os
import select
import socket
import sys
import time


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


class Conn:
    __slots__ = ("sock", "buf", "want", "pending", "out", "done")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.pending = 0      # responses still expected
        self.out = b""        # bytes still to write
        self.done = 0         # responses completed


def parse_responses(c):
    """Consumes complete responses from c.buf; returns the count, raises ValueError on a bad one."""
    n = 0
    while True:
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            return n
        head = c.buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError("bad status line %r" % lines[0])
        if parts[1] != "200":
            raise ValueError("status %s" % parts[1])
        length = None
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
            elif k.strip().lower() == "transfer-encoding":
                raise ValueError("chunked responses are not supported by this client")
        if length is None:
            raise ValueError("response without Content-Length")
        total = end + 4 + length
        if len(c.buf) < total:
            return n
        c.buf = c.buf[total:]
        n += 1


def make_request(host, port, path):
    return ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode()


def open_conn(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    err = s.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        fail("connect: %s" % os.strerror(err))
    return s


def run_hold(a):
    req = make_request(a.host, a.port, a.path)
    ep = select.epoll()
    conns = {}
    deadline = time.monotonic() + a.timeout
    started = 0
    finished = 0
    connecting = 0  # connects issued whose response has not arrived yet
    while finished < a.connections:
        while started < a.connections and connecting < a.inflight:
            s = open_conn(a.host, a.port)
            c = Conn(s)
            c.out = req
            c.pending = 1
            conns[s.fileno()] = c
            ep.register(s.fileno(), select.EPOLLOUT)
            started += 1
            connecting += 1
        left = deadline - time.monotonic()
        if left <= 0:
            fail("timeout: %d of %d connections answered after %.0f s" % (finished, a.connections, a.timeout))
        for fd, ev in ep.poll(min(left, 1.0)):
            c = conns[fd]
            if ev & select.EPOLLOUT:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail("connect: %s (after %d connections)" % (os.strerror(err), finished))
                try:
                    n = c.sock.send(c.out)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail("write: %s" % e)
                c.out = c.out[n:]
                if not c.out:
                    ep.modify(fd, select.EPOLLIN)
                continue
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail("read: %s (after %d connections)" % (e, finished))
                if not data:
                    fail("server closed a connection before answering (after %d connections)" % finished)
                c.buf += data
                try:
                    got = parse_responses(c)
                except ValueError as e:
                    fail(str(e))
                if got:
                    c.pending -= got
                    if c.pending < 0:
                        fail("more responses than requests")
                    if c.pending == 0:
                        ep.unregister(fd)   # idle from now on: nothing more to read or write
                        finished += 1
                        connecting -= 1
    print("READY open=%d" % len(conns), flush=True)

    hold_until = time.monotonic() + a.hold
    while True:
        left = hold_until - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([sys.stdin], [], [], left)
        if not r:
            break
        line = sys.stdin.readline()
        if not line or line.strip() == "CLOSE":
            break
        if line.strip() == "CHECK":
            closed = 0
            for c in conns.values():
                try:
                    data = c.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    if not data:
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            print("CHECK open=%d closed=%d" % (len(conns) - closed, closed), flush=True)
    for c in conns.values():
        c.sock.close()
    ep.close()


def run_count(a):
    one = make_request(a.host, a.port, a.path)
    ep = select.epoll()
    conns = {}
    deadline = time.monotonic() + a.timeout
    issued = 0
    completed = 0
    t0 = time.monotonic()

    def refill(c):
        nonlocal issued
        k = min(a.depth, a.requests - issued)
        if k <= 0:
            return False
        c.out = one * k
        c.pending = k
        issued += k
        return True

    for _ in range(min(a.connections, a.requests)):
        s = open_conn(a.host, a.port)
        c = Conn(s)
        conns[s.fileno()] = c
        refill(c)
        ep.register(s.fileno(), select.EPOLLOUT)
    while completed < a.requests:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("timeout: %d of %d requests answered after %.0f s" % (completed, a.requests, a.timeout))
        for fd, ev in ep.poll(min(left, 1.0)):
            c = conns[fd]
            if ev & select.EPOLLOUT:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail("connect: %s" % os.strerror(err))
                try:
                    n = c.sock.send(c.out)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail("write: %s" % e)
                c.out = c.out[n:]
                if not c.out:
                    ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = c.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError as e:
                fail("read: %s" % e)
            if not data:
                fail("server closed a connection (%d requests answered)" % completed)
            c.buf += data
            try:
                got = parse_responses(c)
            except ValueError as e:
                fail(str(e))
            c.pending -= got
            completed += got
            if c.pending == 0:
                if refill(c):
                    ep.modify(fd, select.EPOLLOUT)
                else:
                    ep.unregister(fd)
    print("DONE requests=%d seconds=%.3f" % (completed, time.monotonic() - t0), flush=True)
    for c in conns.values():
        c.sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["hold", "count"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/plaintext")
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--inflight", type=int, default=256, help="hold: connects pending at once")
    p.add_argument("--hold", type=float, default=60.0, help="hold: seconds to hold at most")
    p.add_argument("--requests", type=int, default=10000, help="count: requests in all")
    p.add_argument("--depth", type=int, default=1, help="count: requests per write")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for each phase")
    a = p.parse_args()
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        fail("loopback only")
    if a.connections < 1 or a.depth < 1 or a.requests < 1 or a.inflight < 1:
        fail("counts must be positive")
    if a.mode == "hold":
        run_hold(a)
    else:
        run_count(a)


if __name__ == "__main__":
    main()
