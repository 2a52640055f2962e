"""The storage section of make bench (issue 12; bench/bench.py runs it with the run loop every
section shares): its cases, the runs of each, and its tables in report.md and
docs/benchmarks.md.  Standard library only.

Four kinds of case, each a table:
- resp-*: the RESP client against redis-benchmark.  A fresh redis-server (its own config and
  dir, save "", appendonly no) pinned to the server CPU; `tern-bench redis` (tern's RESP
  encoder and parser) or `redis-benchmark -q --csv` pinned to the client CPU, 50 connections,
  SET or GET, pipeline depth 1 or 16, both doing exactly N operations (N measured once per
  case so that a run lasts about --seconds).  The figure the issue asks for is the CLIENT's
  CPU per operation: its utime+stime over its whole run (getrusage of the reaped child) / N.
- kv-*: tern-kv on SQLite (durability full and normal), 64 connections of `tern-bench http`,
  PUT of one key or GET of a key that exists; tern-kv (its loop and its storage thread)
  pinned to the server CPU, its database on the disk of the run's temp dir.
- group-commit: bench/store_bench (durable PUTs/s with group commit against one transaction
  per PUT, 64 writers, full mode), its own rounds interleaved and its own pinning.
- cluster-*: redis-server and tern-proxy (--health-path /healthz) on the server CPU, two tern-kv
  on redis:// and tern-bench on the client CPU; GET and PUT through the proxy, and the same with
  the second tern-kv SIGKILLed halfway through the measured interval (the errors the client
  saw, the retries the proxy made)."""

import http.client
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time

import bench_procs as procs
import bench_proxy

RESP_CONNECTIONS = 50
KV_CONNECTIONS = 64
KV_VALUE = "v" * 100           # the PUT body of the kv and cluster cases
KV_KEY = "bench-key"
RESP_VALUE_SIZE = 3            # redis-benchmark's -d default, tern-bench's --value-size default
RESP_KEYS = ["key:tern-bench", "key:__rand_int__"]  # the key each client uses (no -r: one key)
CALIBRATION_SECONDS = 0.5
MIN_OPS, MAX_OPS = 10000, 50000000
GROUP_COMMIT_GOAL = 10.0       # group commit at least this many times one transaction per PUT
STORE_BENCH_WRITERS = 64

TERN_CLIENT = "tern-bench (tern RESP)"
PEER_CLIENT = "redis-benchmark"
GROUP = "group commit"
SINGLE = "one transaction per PUT"

# name -> (kind, parameters, label)
CASES = {
    "resp-set-p1": ("resp", ("set", 1), "RESP client: SET, 50 connections, pipeline depth 1"),
    "resp-get-p1": ("resp", ("get", 1), "RESP client: GET, 50 connections, pipeline depth 1"),
    "resp-set-p16": ("resp", ("set", 16), "RESP client: SET, 50 connections, pipeline depth 16"),
    "resp-get-p16": ("resp", ("get", 16), "RESP client: GET, 50 connections, pipeline depth 16"),
    "kv-put-full": ("kv", ("PUT", "full"), "tern-kv on SQLite, durability full: PUT, 64 "
                                           "connections"),
    "kv-get-full": ("kv", ("GET", "full"), "tern-kv on SQLite, durability full: GET, 64 "
                                           "connections"),
    "kv-put-normal": ("kv", ("PUT", "normal"), "tern-kv on SQLite, durability normal: PUT, 64 "
                                               "connections"),
    "kv-get-normal": ("kv", ("GET", "normal"), "tern-kv on SQLite, durability normal: GET, 64 "
                                               "connections"),
    "group-commit": ("group", (), "Durable PUTs/s (SQLite, durability full, 64 writers): group "
                                  "commit against one transaction per PUT (bench/store_bench)"),
    "cluster-get": ("cluster", ("GET", False), "Cluster: GET through tern-proxy, 2 tern-kv, "
                                               "redis-server; 64 connections"),
    "cluster-put": ("cluster", ("PUT", False), "Cluster: PUT through tern-proxy, 2 tern-kv, "
                                               "redis-server; 64 connections"),
    "cluster-get-kill": ("cluster", ("GET", True), "Cluster: GET, the second tern-kv killed "
                                                   "(SIGKILL) halfway"),
    "cluster-put-kill": ("cluster", ("PUT", True), "Cluster: PUT, the second tern-kv killed "
                                                   "(SIGKILL) halfway"),
}
QUICK_CASES = ["resp-set-p1", "resp-get-p16", "kv-put-full", "kv-get-full", "group-commit",
               "cluster-put", "cluster-put-kill"]


def kind_of(case):
    return CASES[case][0]


# ------------------------------------------------------------------------- programs
def program(name):
    """A program found on PATH (redis-server, redis-benchmark), or None."""
    return shutil.which(name)


def built(ctx, b, *parts):
    """(path, why it cannot run or "") of a program of the build."""
    path = ctx.binary(*parts)
    return path, "" if os.access(path, os.X_OK) else "%s not built: %s" % (parts[-1], b.rel(path))


def fresh_dir(ctx, prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir=ctx.tmp)
    os.chmod(d, 0o755)
    return d


def redis_config(ctx, port, cluster_like):
    """A redis-server config in a fresh dir of the run's temp dir -> its path.  resp cases:
    no persistence (the clients are measured, not the disk); cluster cases: make cluster's
    settings (appendonly, fsync every second)."""
    d = fresh_dir(ctx, "redis.")
    lines = ["port %d" % port, "bind 127.0.0.1", "protected-mode no", "daemonize no",
             "logfile \"\"", "save \"\"", "dir %s" % d,
             "appendonly %s" % ("yes" if cluster_like else "no")]
    if cluster_like:
        lines += ["appendfsync everysec", "maxmemory 256mb", "maxmemory-policy noeviction"]
    path = os.path.join(d, "redis.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


REDIS_BANNER = r"Ready to accept connections"


def redis_spec(ctx, b, redis_server):
    return b.ServerSpec("redis-server", lambda port: [redis_server, redis_config(ctx, port, False)],
                        "redis-server DIR/redis.conf (port, dir, save \"\", appendonly no)",
                        banner=REDIS_BANNER)


# ------------------------------------------------------------------------- wire helpers
def resp_command(port, *args, host="127.0.0.1", timeout=5.0):
    """Sends one RESP command, returns the first line of the reply ("" on failure)."""
    wire = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(wire.encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return "-(%s)" % e
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def seed_resp_keys(port):
    """SET the keys both clients GET (a GET of a missing key would be a cheaper null reply)."""
    for key in RESP_KEYS:
        reply = resp_command(port, "SET", key, "x" * RESP_VALUE_SIZE)
        if reply != "+OK":
            return "SET %s before the run answered %r" % (key, reply)
    return ""


def http_exchange(port, method, path, body=None, host="127.0.0.1", timeout=5.0):
    """(status, body bytes, why it failed or "")."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        c.close()
    except (OSError, http.client.HTTPException) as e:
        return None, b"", "%s %s failed: %s" % (method, path, e)
    return r.status, data, ""


def check_kv(port, tries=1):
    """PUT the benchmark's key and GET it back, `tries` times (once per upstream behind a
    round-robin proxy): the chain stores and answers before it is measured."""
    for _ in range(tries):
        status, _, why = http_exchange(port, "PUT", "/kv/" + KV_KEY, KV_VALUE.encode())
        if why:
            return why
        if status not in (201, 204):
            return "PUT /kv/%s answered %d, not 201 or 204" % (KV_KEY, status)
        status, data, why = http_exchange(port, "GET", "/kv/" + KV_KEY)
        if why:
            return why
        if status != 200 or data != KV_VALUE.encode():
            return "GET /kv/%s answered %d %r, not 200 and the value put" % (KV_KEY, status,
                                                                              data[:40])
    return ""


# ------------------------------------------------------------------------- resp cases
def parse_redis_benchmark_csv(text, command):
    """redis-benchmark --csv -> {rps, p50_us, p99_us} of `command`'s line, or None."""
    header = None
    for line in text.splitlines():
        cells = [c.strip().strip('"') for c in line.split(",")]
        if cells and cells[0] == "test":
            header = cells
            continue
        if header and cells and cells[0].upper() == command.upper() and len(cells) == len(header):
            rec = dict(zip(header, cells))
            try:
                out = {"rps": float(rec["rps"])}
                for key, col in (("p50_latency_ms", "p50_us"), ("p99_latency_ms", "p99_us")):
                    if rec.get(key):
                        out[col] = float(rec[key]) * 1000.0
                return out
            except (KeyError, ValueError):
                return None
    return None


def calibrate_ops(ctx, b, case, redis_server):
    """Operations per resp run: what tern-bench does in --seconds, measured once per case on a
    fresh server (CALIBRATION_SECONDS of load) -> (ops, why it failed or "")."""
    command, depth = CASES[case][1]
    row = b.new_row("storage", case, "calibration", "", "", 0)
    found = {}

    def measure(port, server, row):
        argv = b.tern_bench_argv(ctx, "redis", ["-c", str(RESP_CONNECTIONS), "-p", str(depth),
                                                "--command", command, "-d",
                                                str(CALIBRATION_SECONDS)], "%s:%d" % (b.HOST, port))
        doc, why = b.run_tern_bench(ctx, "storage", argv,
                                    b.client_budget(ctx, CALIBRATION_SECONDS, 0,
                                                    RESP_CONNECTIONS), row)
        if why:
            return why
        found["rate"] = doc.get("requests_per_s") or 0
        return "" if found["rate"] > 0 else "no reply in the calibration run"
    b.run_with_server(ctx, redis_spec(ctx, b, redis_server), row, measure,
                      precheck=seed_resp_keys)
    if row["status"] != "ok":
        return 0, "calibration: " + row["note"]
    ops = int(found["rate"] * ctx.plan.seconds)
    return max(MIN_OPS, min(MAX_OPS, ops)), ""


def resp_budget(ctx, ops, rate_guess):
    return 30 + 4 * ops / max(rate_guess, 1000.0) + ctx.plan.seconds


def fill_cpu(row, client_cpu_s, server_cpu, wall_s, ops):
    row["client_cpu_us_per_request"] = client_cpu_s * 1e6 / ops
    s0, s1 = server_cpu
    if s0 is not None and s1 is not None:
        row["cpu_us_per_request"] = (s1 - s0) * 1e6 / ops
        row["busy"] = (s1 - s0) / wall_s if wall_s > 0 else ""


def run_resp(ctx, b, case, client, rnd, ops, redis_server, redis_benchmark):
    """One resp run of `client` (TERN_CLIENT or PEER_CLIENT): exactly `ops` operations."""
    command, depth = CASES[case][1]
    config = "%s, -c %d, depth %d, %d ops" % (command.upper(), RESP_CONNECTIONS, depth, ops)
    row = b.new_row("storage", case, client, "", config, rnd)
    cpu = str(ctx.args.client_cpu)

    def measure(port, server, row):
        target = "%s:%d" % (b.HOST, port)
        budget = resp_budget(ctx, ops, ops / max(ctx.plan.seconds, 0.1))
        s0, t0 = procs.tree_cpu_seconds(server.pid), time.monotonic()
        if client == TERN_CLIENT:
            argv = b.tern_bench_argv(ctx, "redis", ["-c", str(RESP_CONNECTIONS), "-p", str(depth),
                                                    "--command", command, "-d", "0", "-n",
                                                    str(ops)], target)
            doc, why = b.run_tern_bench(ctx, "storage", argv, budget, row)
            s1, t1 = procs.tree_cpu_seconds(server.pid), time.monotonic()
            if why:
                return why
            why = b.fill_from_tern_bench(row, doc)
            done = doc.get("requests") or 0
        else:
            argv = ["taskset", "-c", cpu, redis_benchmark, "-h", b.HOST, "-p", str(port),
                    "-c", str(RESP_CONNECTIONS), "-P", str(depth), "-t", command, "-n", str(ops),
                    "-d", str(RESP_VALUE_SIZE), "-q", "--csv"]
            ctx.note_command("storage", b.shown_argv(argv).replace("-p %d" % port, "-p PORT"))
            res = procs.run_client(argv, budget, ctx.tmp)
            s1, t1 = procs.tree_cpu_seconds(server.pid), time.monotonic()
            row["_client_cpu_s"] = res.cpu_s
            row["_client_output"] = "$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
                " ".join(argv), res.stdout, res.stderr)
            if res.overran:
                return "redis-benchmark overran its %.0f s budget (killed)" % budget
            if res.status != 0:
                return "redis-benchmark exit status %s: %s" % (res.status, res.stderr_tail())
            fields = parse_redis_benchmark_csv(res.stdout, command)
            if fields is None:
                return "redis-benchmark printed no CSV line for %s: %r" % (
                    command.upper(), res.stdout[-200:])
            if re.search(r"^(ERR|Error)", res.stdout + res.stderr, re.M):
                return "redis-benchmark reported errors: %s" % res.stderr_tail()
            row["requests_per_s"] = fields["rps"]
            row["p50_us"], row["p99_us"] = fields.get("p50_us", ""), fields.get("p99_us", "")
            why, done = "", ops
        if why:
            return why
        if done != ops:
            return "%d operations done, not the %d asked for" % (done, ops)
        fill_cpu(row, row["_client_cpu_s"], (s0, s1), t1 - t0, ops)
        b.add_note(row, "client %.2f CPU-µs/op" % row["client_cpu_us_per_request"])
        return ""
    return b.run_with_server(ctx, redis_spec(ctx, b, redis_server), row, measure,
                             precheck=seed_resp_keys)


def section_resp(ctx, b, cases):
    redis_server, redis_benchmark = program("redis-server"), program("redis-benchmark")
    if not redis_server:
        ctx.skip("storage", "the RESP cases (%s)" % ",".join(cases),
                 "redis-server not installed (scripts/install-deps.sh installs it)")
        return
    clients = [Named(TERN_CLIENT)]
    if redis_benchmark:
        clients.append(Named(PEER_CLIENT))
    else:
        ctx.skip("storage", PEER_CLIENT, "not installed (redis-tools; scripts/install-deps.sh "
                                         "installs it)")
    ctx.note_command("storage", "resp server: taskset -c %d redis-server DIR/redis.conf (port "
                     "PORT, save \"\", appendonly no)" % ctx.args.server_cpu)
    for case in cases:
        ops, why = calibrate_ops(ctx, b, case, redis_server)

        def one_run(case, client, rnd, ops=ops, why=why):
            if why:
                return b.failed(b.new_row("storage", case, client.name, "", "", rnd), why)
            return run_resp(ctx, b, case, client.name, rnd, ops, redis_server, redis_benchmark)
        b.interleaved(ctx, "storage", [case], clients, ctx.plan.rounds, one_run)


class Named:
    def __init__(self, name):
        self.name = name


# ------------------------------------------------------------------------- kv cases
def kv_argv(kv, port, store, durability="full"):
    return [kv, "--host", "127.0.0.1", "--port", str(port), "--store", store, "--durability",
            durability, "--backend", "epoll", "--model", "single", "--threads", "1"]


KV_BANNER = r"^tern-kv: listening on"


def kv_load_options(method):
    """tern-bench http's options for PUT (the value as the body) or GET."""
    return ["-m", "PUT", "--body", KV_VALUE] if method == "PUT" else []


def section_kv(ctx, b, cases):
    kv, missing = built(ctx, b, "apps", "tern-kv")
    p = ctx.plan
    name = "tern-kv epoll"
    ctx.note_command("storage", "kv server: taskset -c %d %s" % (
        ctx.args.server_cpu, " ".join(kv_argv(b.rel(kv), "PORT", "sqlite:DIR/kv.db", "MODE"))))

    def one_run(case, spec, rnd):
        method, durability = CASES[case][1]
        row = b.new_row("storage", case, name, "epoll", "durability %s" % durability, rnd)
        if missing:
            return b.failed(row, missing)
        spec = b.ServerSpec(name, lambda port: kv_argv(kv, port, "sqlite:%s/kv.db" % fresh_dir(
            ctx, "kv."), durability), "", banner=KV_BANNER, backend="epoll")

        def measure(port, server, row):
            argv = b.tern_bench_argv(ctx, "http", ["-c", str(KV_CONNECTIONS), "-d", str(p.seconds),
                                                   "-w", str(p.warmup), *kv_load_options(method)],
                                     "http://%s:%d/kv/%s" % (b.HOST, port, KV_KEY), server.pid)
            doc, why = b.run_tern_bench(ctx, "storage", argv, b.client_budget(
                ctx, p.seconds, p.warmup, KV_CONNECTIONS), row)
            return why or b.fill_from_tern_bench(row, doc)
        return b.run_with_server(ctx, spec, row, measure, precheck=check_kv)
    b.interleaved(ctx, "storage", cases, [Named(name)], p.rounds, one_run)


# ------------------------------------------------------------------------- group commit
STORE_BENCH_LINE = re.compile(r"^round (\d+) +(group commit|one transaction/put) +([\d.]+) "
                              r"puts/s +([\d.]+) puts/transaction", re.M)


def parse_store_bench(text):
    """[(round, mode, puts/s, puts/transaction)] from store_bench's per-round lines."""
    return [(int(m.group(1)), GROUP if m.group(2) == "group commit" else SINGLE,
             float(m.group(3)), float(m.group(4))) for m in STORE_BENCH_LINE.finditer(text)]


def section_group(ctx, b):
    p = ctx.plan
    case = "group-commit"
    path, missing = built(ctx, b, "bench", "store_bench")
    if missing:
        for mode in (GROUP, SINGLE):
            ctx.rows.append(b.failed(b.new_row("storage", case, mode, "", "", 1), missing))
        b.log("storage %s: FAILED: %s" % (case, missing))
        return
    argv = [path, "--dir", fresh_dir(ctx, "store-bench."), "--writers", str(STORE_BENCH_WRITERS),
            "--seconds", str(min(p.seconds, 60)), "--rounds", str(min(p.rounds, 20)),
            "--value-size", str(len(KV_VALUE))]
    ctx.note_command("storage", b.shown_argv(argv).replace(argv[2], "DIR") +
                     "  (pins its loop to CPU 0 and its storage thread to CPU 1)")
    budget = 30 + 2 * p.rounds * (p.seconds + 10)
    b.log("storage %s: %s (at most %.0f s)" % (case, b.rel(path), budget))
    res = procs.run_client(argv, budget, ctx.tmp)
    found = parse_store_bench(res.stdout)
    config = "%d writers, durability full, %d-byte values" % (STORE_BENCH_WRITERS, len(KV_VALUE))
    for rnd, mode, rate, per_txn in found:
        row = b.new_row("storage", case, mode, "", config, rnd)
        row["requests_per_s"] = rate
        row["_puts_per_transaction"] = per_txn
        b.add_note(row, "%.1f puts/transaction" % per_txn)
        ctx.rows.append(row)
        b.log("storage %s round %d: %s: %s" % (case, rnd, mode, b.progress(row, "puts/s")))
    why = ("overran its %.0f s budget (killed)" % budget if res.overran else
           "exit status %s" % res.status if res.status != 0 else
           "printed no round line" if not found else "")
    if why:
        row = b.new_row("storage", case, "store_bench", "", config, 1)
        row["_client_output"] = "$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(argv), res.stdout, res.stderr)
        tail = " | ".join((res.stdout + res.stderr).strip().splitlines()[-2:])[-200:]
        ctx.rows.append(b.failed(row, "store_bench %s: %s" % (why, tail)))
        b.log("storage %s: FAILED: %s" % (case, row["note"]))


# ------------------------------------------------------------------------- cluster cases
def cluster_programs(ctx, b):
    """{name: path} and why the cluster cannot run ("" when it can)."""
    kv, kv_missing = built(ctx, b, "apps", "tern-kv")
    proxy, proxy_missing = built(ctx, b, "apps", "tern-proxy")
    redis_server = program("redis-server")
    why = [w for w in (kv_missing, proxy_missing) if w]
    if not redis_server:
        why.append("redis-server not installed (scripts/install-deps.sh installs it)")
    return {"tern-kv": kv, "tern-proxy": proxy, "redis-server": redis_server}, "; ".join(why)


class Cluster:
    """redis-server and tern-proxy on the server CPU, two tern-kv on redis:// on the client CPU,
    each a procs.Server (bounded start, always stopped and reaped)."""

    def __init__(self, ctx, b, programs):
        self.ctx, self.b, self.programs = ctx, b, programs
        self.servers = []   # start order
        self.kvs = []
        self.proxy = None
        self.admin_port = None

    def _start(self, name, argv, port, cpu, banner):
        log = os.path.join(self.ctx.tmp, "cluster-%s.log" % name)
        s = procs.Server(argv, port, cpu, log, banner=banner)
        s.name = name
        self.servers.append(s)
        return s

    def start(self):
        """-> why it failed ("" when all four answer)."""
        ctx, b = self.ctx, self.b
        try:
            rport = ctx.ports.take()
            self._start("redis-server", [self.programs["redis-server"],
                                         redis_config(ctx, rport, True)],
                        rport, ctx.args.server_cpu, REDIS_BANNER)
            store = "redis://%s:%d" % (b.HOST, rport)
            for i in (1, 2):
                port = ctx.ports.take()
                self.kvs.append(self._start("tern-kv-%d" % i, kv_argv(
                    self.programs["tern-kv"], port, store), port, ctx.args.client_cpu, KV_BANNER))
            port, self.admin_port = ctx.ports.take(), ctx.ports.take()
            ups = [a for kv in self.kvs for a in ("--upstream", "%s:%d" % (b.HOST, kv.port))]
            self.proxy = self._start("tern-proxy", [
                self.programs["tern-proxy"], "--listen", "%s:%d" % (b.HOST, port), *ups,
                "--health-path", "/healthz", "--health-interval-ms", "1000", "--backend", "epoll",
                "--model", "single", "--admin", "%s:%d" % (b.HOST, self.admin_port)],
                port, ctx.args.server_cpu, r"^tern-proxy: listening on")
        except procs.StartFailed as e:
            name = ["redis-server", "tern-kv 1", "tern-kv 2", "tern-proxy"][len(self.servers)]
            return "%s %s" % (name, e)
        if not b.wait_listening(self.admin_port, 5):
            return "tern-proxy's admin port %d was not listening within 5 s" % self.admin_port
        return check_kv(self.proxy.port, tries=2)

    def died(self, killed=()):
        return [s for s in self.servers if s not in killed and not s.alive()]

    def stop(self):
        for s in reversed(self.servers):
            s.stop()


def admin_counts(port):
    """The proxy's retries and 5xx answers so far, from GET /upstreams (None when unreadable)."""
    doc, why = bench_proxy.fetch_admin(port)
    if why:
        return None
    return {k: doc.get(k, 0) for k in ("retries", "retry_budget_refused", "status_502",
                                       "status_503", "status_504")}


class KillHalfway:
    """Kills `victim` (SIGKILL) `after` seconds past the client's "MARK measure-start" line in
    `err_path` (tern-bench --mark), in a thread; bounded by `budget` seconds."""

    def __init__(self, victim, err_path, after, budget):
        self.victim, self.err_path, self.after, self.budget = victim, err_path, after, budget
        self.killed_at = None   # seconds into the measured interval
        self.why = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _marked(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return "MARK measure-start" in f.read()
        except OSError:
            return False

    def _run(self):
        deadline = time.monotonic() + self.budget
        while not self._marked():
            if self._stop.wait(0.02) or time.monotonic() > deadline:
                self.why = "the client never started its measured interval"
                return
        start = time.monotonic()
        if self._stop.wait(self.after):
            self.why = "the client ended before the kill"
            return
        try:
            os.kill(self.victim.pid, signal.SIGKILL)
            self.killed_at = time.monotonic() - start
        except ProcessLookupError:
            self.why = "the tern-kv to kill was already gone"

    def __enter__(self):
        if os.path.exists(self.err_path):
            os.remove(self.err_path)  # the previous client's MARK line must not count
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        return False


def client_errors(doc):
    """Socket errors and non-2xx answers the client saw."""
    errors = sum(v for v in (doc.get("errors") or {}).values() if isinstance(v, int))
    status = doc.get("status") or {}
    return errors + sum(v for k, v in status.items() if k != "2xx" and isinstance(v, int))


def run_cluster(ctx, b, case, rnd, programs, missing):
    p = ctx.plan
    method, kill = CASES[case][1]
    name = "tern-proxy → 2 tern-kv → redis"
    row = b.new_row("storage", case, name, "epoll", "%s, %d connections%s" % (
        method, KV_CONNECTIONS, ", tern-kv 2 killed halfway" if kill else ""), rnd)
    if missing:
        return b.failed(row, missing)
    cluster = Cluster(ctx, b, programs)
    killer = None
    try:
        why = cluster.start()
        if why:
            return b.failed(row, why)
        admin0 = admin_counts(cluster.admin_port)
        argv = b.tern_bench_argv(ctx, "http", ["-c", str(KV_CONNECTIONS), "-d", str(p.seconds),
                                               "-w", str(p.warmup), *kv_load_options(method),
                                               *(["--mark"] if kill else [])],
                                 "http://%s:%d/kv/%s" % (b.HOST, cluster.proxy.port, KV_KEY),
                                 cluster.proxy.pid)
        budget = b.client_budget(ctx, p.seconds, p.warmup, KV_CONNECTIONS)
        if kill:
            killer = KillHalfway(cluster.kvs[1], os.path.join(ctx.tmp, "client.err"),
                                 p.seconds / 2, budget)
            with killer:
                doc, why = b.run_tern_bench(ctx, "storage", argv, budget, row)
        else:
            doc, why = b.run_tern_bench(ctx, "storage", argv, budget, row)
        admin1 = admin_counts(cluster.admin_port)
        if why:
            return b.failed(row, why)
        if kill:
            why = kill_outcome(row, doc, killer, admin0, admin1)
        else:
            why = b.fill_from_tern_bench(row, doc)
        if why:
            return b.failed(row, why)
        return row
    finally:
        victims = [killer.victim] if killer and killer.killed_at is not None else []
        died = cluster.died(killed=victims)
        cluster.stop()
        for s in died:
            b.failed(row, "%s died during the run (exit status %s: %s)" % (
                s.name, s.stop_status, s.log_tail()))


def kill_outcome(row, doc, killer, admin0, admin1):
    """Fills a kill run's row: figures, the errors the client saw, the proxy's retries."""
    if killer.killed_at is None:
        return "tern-kv 2 was not killed: %s" % (killer.why or "unknown")
    if killer.victim.alive():
        return "tern-kv 2 still running after its SIGKILL"
    b_fill_why = fill_figures(row, doc)
    if b_fill_why:
        return b_fill_why
    errors = client_errors(doc)
    row["_client_errors"] = errors
    notes = ["tern-kv 2 SIGKILLed %.1f s into the measured interval" % killer.killed_at,
             "client errors %d of %d replies" % (errors, doc.get("requests", 0))]
    if admin0 is not None and admin1 is not None:
        delta = {k: admin1[k] - admin0[k] for k in admin1}
        row["_retries"] = delta["retries"]
        notes.append("proxy retries %d, refused by the retry budget %d, 502/503/504 %d/%d/%d" % (
            delta["retries"], delta["retry_budget_refused"], delta["status_502"],
            delta["status_503"], delta["status_504"]))
    else:
        notes.append("proxy admin API unreadable: no retry count")
    row["note"] = "; ".join([row["note"]] + notes if row["note"] else notes)
    return ""


def fill_figures(row, doc):
    """fill_from_tern_bench's figures without failing on errors (a kill run counts them)."""
    row["requests_per_s"] = doc.get("requests_per_s", "")
    lat = doc.get("latency_ns") or {}
    for col, key in [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"),
                     ("p999_us", "p99_9"), ("max_us", "max")]:
        if lat.get(key) is not None:
            row[col] = lat[key] / 1000.0
    server = doc.get("server") or {}
    if server.get("cpu_us_per_request") is not None:
        row["cpu_us_per_request"] = server["cpu_us_per_request"]
        row["busy"] = server.get("busy", "")
    return "" if doc.get("requests") else "no reply completed in the measured interval"


def section_cluster(ctx, b, cases):
    programs, missing = cluster_programs(ctx, b)
    if not missing:
        ctx.note_command("storage", "cluster: taskset -c %d redis-server DIR/redis.conf "
                         "(appendonly yes); taskset -c %d %s (x2, --store redis://127.0.0.1:RP); "
                         "taskset -c %d %s --listen 127.0.0.1:PORT --upstream ... --health-path "
                         "/healthz --health-interval-ms 1000 --backend epoll --model single "
                         "--admin 127.0.0.1:ADMIN" % (
                             ctx.args.server_cpu, ctx.args.client_cpu,
                             " ".join(kv_argv(b.rel(programs["tern-kv"]), "PORT", "STORE")),
                             ctx.args.server_cpu, b.rel(programs["tern-proxy"])))
    b.interleaved(ctx, "storage", cases, [Named("tern-proxy → 2 tern-kv → redis")],
                  ctx.plan.rounds,
                  lambda case, spec, rnd: run_cluster(ctx, b, case, rnd, programs, missing))


# ------------------------------------------------------------------------- the section
def section(ctx, b):
    """Runs the plan's storage cases (ctx.plan.storage_cases, and --cases) in CASES order; `b`
    is bench.py's module (its run loop, rows and tern-bench helpers)."""
    only = ctx.args.case_list
    cases = [c for c in CASES if c in ctx.plan.storage_cases and (not only or c in only)]
    resp = [c for c in cases if kind_of(c) == "resp"]
    if resp:
        section_resp(ctx, b, resp)
    kv = [c for c in cases if kind_of(c) == "kv"]
    if kv:
        section_kv(ctx, b, kv)
    if "group-commit" in cases:
        section_group(ctx, b)
    cluster = [c for c in cases if kind_of(c) == "cluster"]
    if cluster:
        section_cluster(ctx, b, cluster)


def estimate_seconds(plan):
    run = plan.warmup + plan.seconds + 1.0
    t = 0.0
    for case in plan.storage_cases:
        kind = kind_of(case)
        if kind == "resp":
            t += 2 + plan.rounds * 2 * (plan.seconds + 1.0)
        elif kind == "kv":
            t += plan.rounds * run
        elif kind == "group":
            t += plan.rounds * 2 * (plan.seconds + 0.5)
        else:
            t += plan.rounds * (run + 2.0)
    return t


# ------------------------------------------------------------------------- report
def filesystem_of(path):
    """"ext4 on /dev/vda" (the filesystem a path is on), from /proc/mounts."""
    best = ("", "", "")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype = line.split()[:3]
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best[1]):
                    best = (dev, mnt, fstype)
    except OSError:
        pass
    return "%s on %s" % (best[2], best[0]) if best[2] else "unknown"


INTRO = ("RESP client: a fresh redis-server (save \"\", appendonly no) pinned to the server CPU; "
         "`tern-bench redis` or `redis-benchmark --csv` pinned to the client CPU, 50 connections, "
         "3-byte values, one key (seeded before GETs), exactly N operations each (N: what "
         "tern-bench does in the run's seconds, measured once per case). Client CPU-µs/op: the "
         "client's utime+stime over its whole run (getrusage of the reaped child) ÷ N, the "
         "issue's figure (goal: tern's below redis-benchmark's at depth 1 and 16); server "
         "CPU-µs/op: redis-server's over the same run; p50/p99 as each client measures them. "
         "tern-kv: one loop (epoll, model single) with its SQLite storage thread, both pinned to "
         "the server CPU, the database on the run's temp dir (%s); 64 connections of "
         "`tern-bench http` PUT one 100-byte value to one key, or GET a key that exists. Group "
         "commit: `bench/store_bench` (its loop on CPU 0, its storage thread on CPU 1). Cluster: "
         "redis-server (appendonly, fsync every second) and tern-proxy (--health-path /healthz) "
         "on the server CPU, two tern-kv on redis:// and tern-bench on the client CPU; \"kill\": "
         "the second tern-kv SIGKILLed halfway through the measured interval; client errors are "
         "socket errors and non-2xx answers, retries the proxy's (admin API)."
         % filesystem_of(tempfile.gettempdir()))


def _num(v, decimals):
    if v in ("", None):
        return "–"
    return "{:,.{d}f}".format(float(v), d=decimals)


def _us(v):
    if v in ("", None):
        return "–"
    v = float(v)
    return "%.1f" % v if v < 100 else "{:,.0f}".format(v)


def _ratio(a, b):
    return "–" if a in (None, 0) or b in (None, 0) else "%.2f" % (a / b)


def private_median(group, key):
    values = sorted(float(r[key]) for r in group.ok if r.get(key) not in ("", None))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def resp_goal(case, clients):
    """Issue 12's goal in one resp case: tern's client CPU per op below redis-benchmark's."""
    tern, peer = clients.get(TERN_CLIENT), clients.get(PEER_CLIENT)
    t = tern.median("client_cpu_us_per_request") if tern else None
    r = peer.median("client_cpu_us_per_request") if peer else None
    if t is None or r is None:
        return None, "Goal (issue 12): no %s figure in this case (see the FAILED runs)." % (
            TERN_CLIENT if t is None else PEER_CLIENT)
    met = r / t > 1
    return met, ("Goal (issue 12): client CPU per op, redis-benchmark ÷ tern = %.2f (%.2f against "
                 "%.2f µs; goal above 1: %s)." % (r / t, r, t, "met" if met else "NOT met"))


def heads(H, *names):
    """bench_report's H, with this section's text columns left-aligned too."""
    return [(n, right and n not in ("mode", "through")) for n, right in H(*names)]


def table_resp(case, clients, table, H):
    peer = clients.get(PEER_CLIENT)
    peer_cpu = peer.median("client_cpu_us_per_request") if peer else None
    body = []
    for name, g in clients.items():
        c = g.median("client_cpu_us_per_request")
        body.append([name, _num(g.median("requests_per_s"), 0),
                     g.span("requests_per_s", lambda v: _num(v, 0)), _num(c, 2),
                     g.span("client_cpu_us_per_request", lambda v: _num(v, 2)),
                     _ratio(peer_cpu, c), _num(g.median("cpu_us_per_request"), 2),
                     _us(g.median("p50_us")), _us(g.median("p99_us")), g.runs()])
    return table(H("client", "ops/s", "min–max", "client CPU-µs/op", "min–max",
                   "redis-benchmark ÷ this", "server CPU-µs/op", "p50 µs", "p99 µs", "runs"),
                 body)


def table_kv(servers, table, H):
    body = [[name, _num(g.median("requests_per_s"), 0),
             g.span("requests_per_s", lambda v: _num(v, 0)), _us(g.median("p50_us")),
             _us(g.median("p99_us")), g.span("p99_us", _us),
             _num(g.median("cpu_us_per_request"), 2),
             "–" if g.median("busy") is None else "%.0f%%" % (100 * g.median("busy")), g.runs()]
            for name, g in servers.items()]
    return table(H("server", "req/s", "min–max", "p50 µs", "p99 µs", "min–max",
                   "server CPU-µs/req", "busy", "runs"), body)


def table_group(modes, table, H):
    body = [[name, _num(g.median("requests_per_s"), 0),
             g.span("requests_per_s", lambda v: _num(v, 0)),
             _num(private_median(g, "_puts_per_transaction"), 1), g.runs()]
            for name, g in modes.items()]
    group, single = modes.get(GROUP), modes.get(SINGLE)
    g = group.median("requests_per_s") if group else None
    s = single.median("requests_per_s") if single else None
    if g is None or s is None:
        goal = "Goal (issue 12): no figure for %s (see the FAILED runs)." % (
            GROUP if g is None else SINGLE)
    else:
        goal = ("Goal (issue 12): group commit ÷ one transaction per PUT = %.1f (goal at least "
                "%.0f: %s)." % (g / s, GROUP_COMMIT_GOAL, "met" if g / s >= GROUP_COMMIT_GOAL
                                else "NOT met"))
    head = heads(H, "mode", "durable PUTs/s", "min–max", "puts/transaction", "runs")
    return table(head, body) + "\n" + goal + "\n"


def table_cluster(case, servers, table, H):
    kill = CASES.get(case, ("", ("", False)))[1][1]
    body = []
    for name, g in servers.items():
        cells = [name, _num(g.median("requests_per_s"), 0),
                 g.span("requests_per_s", lambda v: _num(v, 0)), _us(g.median("p50_us")),
                 _us(g.median("p99_us")), _num(g.median("cpu_us_per_request"), 2)]
        if kill:
            cells += [_num(private_median(g, "_client_errors"), 0),
                      _num(private_median(g, "_retries"), 0)]
        body.append(cells + [g.runs()])
    head = ["through", "req/s", "min–max", "p50 µs", "p99 µs", "proxy CPU-µs/req"]
    if kill:
        head += ["client errors", "proxy retries"]
    return table(heads(H, *(head + ["runs"])), body)


def depth_summary(resp_goals):
    """The goal at both depths, from {case: met}."""
    parts = []
    for depth in (1, 16):
        cases = {c: m for c, m in resp_goals.items() if CASES[c][1][1] == depth}
        if not cases:
            continue
        if any(m is None for m in cases.values()):
            verdict = "not measured in every case"
        else:
            verdict = "met" if all(cases.values()) else "NOT met"
        parts.append("depth %d (%s): %s" % (depth, ", ".join(
            CASES[c][1][0].upper() for c in cases), verdict))
    return "Client CPU goal (issue 12), tern below redis-benchmark at both depths: %s." % (
        "; ".join(parts)) if parts else ""


def section_storage(rows, groups, table, H):
    """The storage section's markdown: a table per case, goal lines.  `groups`, `table` and `H`
    are bench_report's (passed in: that module imports this one)."""
    text, resp_goals, after_resp = [], {}, 0
    for case, servers in groups(rows, "storage").items():
        label = CASES[case][2] if case in CASES else case
        kind = kind_of(case) if case in CASES else "kv"
        if kind == "resp":
            met, goal = resp_goal(case, servers)
            resp_goals[case] = met
            after_resp = len(text) + 1
            body = table_resp(case, servers, table, H) + "\n" + goal + "\n"
        elif kind == "group":
            body = table_group(servers, table, H)
        elif kind == "cluster":
            body = table_cluster(case, servers, table, H)
        else:
            body = table_kv(servers, table, H)
        text.append("### %s\n\n" % label + body)
    summary = depth_summary(resp_goals)
    if summary:  # under the last RESP table, before the other kinds of case
        text.insert(after_resp, summary + "\n")
    return "\n".join(text)
