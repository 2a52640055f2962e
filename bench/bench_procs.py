"""Process and /proc hygiene for bench/bench.py: free ports, readiness, CPU time and memory of a
process tree, starting a pinned server and stopping it (SIGTERM, then SIGKILL, always reaped),
running a client within a time budget.  Standard library only.

Every process started here is started in a session of its own (so a Ctrl-C on the terminal
reaches bench.py alone, which then stops them itself) and is tracked in LIVE until reaped, so
that bench.py can stop whatever is left on any exit (kill_all_live)."""

import os
import re
import resource
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
LIVE = {}  # pid -> Popen of every process started here and not reaped yet


# ------------------------------------------------------------------------- /proc
def _tcp_rows():
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    yield fields[1], fields[3]  # local address, state
        except OSError:
            continue


def port_in_use(port):
    """Is any TCP socket (any state, TIME_WAIT included) using local port `port`?"""
    suffix = ":%04X" % port
    return any(local.endswith(suffix) for local, _ in _tcp_rows())


def port_listening(port):
    """Is something listening on local TCP port `port`: listed as listening (state 0A), IPv4 or
    IPv6, or else accepting a connection on 127.0.0.1, as a client would see it?"""
    suffix = ":%04X" % port
    if any(local.endswith(suffix) and state == "0A" for local, state in _tcp_rows()):
        return True
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Ports:
    """Hands out ports from `base` on, skipping any in use (a previous run's TIME_WAIT too)."""

    def __init__(self, base):
        self.base = base
        self.next = base

    def take(self):
        while port_in_use(self.next):
            self.next += 1
            if self.next >= 65536:
                raise RuntimeError("no free port above %d" % self.base)
        port = self.next
        self.next += 1
        return port


def alive(pid):
    """Is `pid` running (a zombie not reaped yet counts as gone)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def tree_pids(pid):
    """`pid` and all its descendants (children of every thread, recursively)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop(0)
        if not os.path.isdir("/proc/%d" % p):
            continue
        seen.append(p)
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo.extend(int(k) for k in f.read().split())
            except OSError:
                pass
    return seen


def tree_cpu_seconds(pid):
    """utime+stime (all threads) of `pid` and its descendants, in seconds; None if it is gone."""
    total, found = 0, False
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces
        total += int(rest[11]) + int(rest[12])      # fields 14 (utime) and 15 (stime)
        found = True
    return total / CLK_TCK if found else None


def tree_rss_kib(pid):
    """VmRSS of `pid` and its descendants in KiB; None if it is gone."""
    total, found = 0, False
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        found = True
                        break
        except OSError:
            continue
    return total if found else None


def children_cpu_seconds():
    """utime+stime of all reaped children so far: the difference around one client's wait is
    that client's CPU time (servers are reaped at other moments)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------- processes
def _start(argv, stdout, stderr, stdin=subprocess.DEVNULL):
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=stdin, start_new_session=True)
    LIVE[p.pid] = p
    return p


def _reap(p, timeout):
    """Waits up to `timeout` s for `p`, then SIGKILLs it; always reaps. -> (status, killed)."""
    killed = False
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        killed = True
        try:
            p.kill()
        except ProcessLookupError:
            pass
        p.wait()
    LIVE.pop(p.pid, None)
    return p.returncode, killed


def stop_tree(p, timeout):
    """SIGTERM to `p`, up to `timeout` s to exit, then SIGKILL; every descendant still running
    afterwards (nginx's worker, say) is SIGKILLed by pid too.  -> (status, killed)."""
    tree = tree_pids(p.pid)
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    status, killed = _reap(p, timeout)
    for child in tree[1:]:
        if alive(child):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return status, killed


def kill_all_live():
    """Stops every process started here that is not reaped yet (on exit, Ctrl-C, SIGTERM)."""
    for p in list(LIVE.values()):
        stop_tree(p, 2)


class StartFailed(Exception):
    pass


class Server:
    """A server under test, pinned to `cpu` (None: not pinned) with taskset, which execs it:
    the pid is the server's.  Ready when its port is listening and, if `banner` (a regex) is
    given, a line of its output matches it, within `start_timeout` s.  Output goes to
    `log_path` (kept for failure reasons)."""

    # The start bound is spent only by a server that neither listens nor exits; a Python stand-in
    # on a loaded 2-core machine once needed more than 5 s.
    def __init__(self, argv, port, cpu, log_path, banner=None, start_timeout=15.0):
        self.argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + list(argv)
        self.port = port
        self.log_path = log_path
        self.banner_re = re.compile(banner) if banner else None
        self.banner = ""
        self.stop_status = None
        self.stop_killed = False
        self.proc = None
        self._start(start_timeout)

    @property
    def pid(self):
        return self.proc.pid

    def _log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _banner_line(self):
        for line in self._log_text().splitlines():
            if self.banner_re.search(line):
                return line
        return None

    def _start(self, timeout):
        log = open(self.log_path, "w")
        try:
            self.proc = _start(self.argv, log, subprocess.STDOUT)
        except OSError as e:
            raise StartFailed("cannot run %s: %s" % (" ".join(self.argv), e))
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listening = port_listening(self.port)
            line = self._banner_line() if self.banner_re else ""
            if listening and line is not None:
                self.banner = line
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop(1)
        why = "did not start listening on port %d (waited up to %.0f s; exit status %s)" % (
            self.port, timeout, self.stop_status)
        raise StartFailed("%s: %s" % (why, self.log_tail(400)))

    def log_tail(self, limit=300):
        """The server's output, valgrind's banner lines left out, squeezed onto one line."""
        lines = [l for l in self._log_text().splitlines()
                 if l.strip() and not re.match(r"^==\d+==", l)]
        return " | ".join(lines)[-limit:] or "(no output)"

    def alive(self):
        return self.proc.poll() is None and alive(self.proc.pid)

    def stop(self, timeout=5.0):
        if self.proc is None or self.stop_status is not None:
            return
        self.stop_status, self.stop_killed = stop_tree(self.proc, timeout)

    def stop_note(self):
        if self.stop_killed:
            return "server ignored SIGTERM, killed"
        if self.stop_status not in (0, None, -signal.SIGTERM):
            return "server exited with status %s after SIGTERM" % self.stop_status
        return ""


class ClientResult:
    def __init__(self, status, stdout, stderr, overran, cpu_s, wall_s):
        self.status = status      # exit status (negative: killed by that signal)
        self.stdout = stdout
        self.stderr = stderr
        self.overran = overran    # killed for running past its budget
        self.cpu_s = cpu_s        # the client's own utime+stime
        self.wall_s = wall_s

    def stderr_tail(self, limit=300):
        lines = [l for l in self.stderr.splitlines() if l.strip()]
        return " | ".join(lines)[-limit:] or "(no output)"


def run_client(argv, budget, tmp_dir):
    """Runs `argv` to completion within `budget` seconds (then SIGKILL); always reaped."""
    out_path, err_path = os.path.join(tmp_dir, "client.out"), os.path.join(tmp_dir, "client.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        cpu0, t0 = children_cpu_seconds(), time.monotonic()
        p = _start(argv, out, err)
        status, overran = _reap(p, budget)
        cpu1, t1 = children_cpu_seconds(), time.monotonic()
    with open(out_path, errors="replace") as f:
        stdout = f.read()
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    return ClientResult(status, stdout, stderr, overran, cpu1 - cpu0, t1 - t0)
