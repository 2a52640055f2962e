"""The cluster cases of make bench's storage section (bench_storage.py runs them): redis-server
(appendonly) and tern-proxy (--health-path /healthz) on the server CPU, two tern-kv on redis://
and tern-bench on the client CPU; GET or PUT through the proxy, and the same with the second
tern-kv SIGKILLed halfway through the measured interval (the errors the client saw, the retries
the proxy made).  Standard library only."""

import os
import signal
import threading
import time

import bench_procs as procs
import bench_proxy
from bench_storage_procs import (KV_BANNER, KV_KEY, REDIS_BANNER, Named, built, check_kv,
                                 kv_argv, kv_load_options, program, redis_config)


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


def run_cluster(ctx, b, case, load, rnd, programs, missing):
    """One run of `case`: `load` is (method, kill, connections)."""
    p = ctx.plan
    method, kill, connections = load
    name = "tern-proxy → 2 tern-kv → redis"
    row = b.new_row("storage", case, name, "epoll", "%s, %d connections%s" % (
        method, connections, ", tern-kv 2 killed halfway" if kill else ""), rnd)
    if missing:
        return b.failed(row, missing)
    cluster = Cluster(ctx, b, programs)
    killer = None
    try:
        why = cluster.start()
        if why:
            return b.failed(row, why)
        admin0 = admin_counts(cluster.admin_port)
        argv = b.tern_bench_argv(ctx, "http", ["-c", str(connections), "-d", str(p.seconds),
                                               "-w", str(p.warmup), *kv_load_options(method),
                                               *(["--mark"] if kill else [])],
                                 "http://%s:%d/kv/%s" % (b.HOST, cluster.proxy.port, KV_KEY),
                                 cluster.proxy.pid)
        budget = b.client_budget(ctx, p.seconds, p.warmup, connections)
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


def section(ctx, b, cases, connections):
    """Runs `cases` ({case: (method, kill)}, in that order), `connections` client connections
    each; `b` is bench.py's module (its run loop, rows and tern-bench helpers)."""
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
    b.interleaved(ctx, "storage", list(cases), [Named("tern-proxy → 2 tern-kv → redis")],
                  ctx.plan.rounds,
                  lambda case, spec, rnd: run_cluster(ctx, b, case, (*cases[case], connections),
                                                      rnd, programs, missing))
