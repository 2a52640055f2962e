"""The storage section of make bench (issue 12; bench/bench.py runs it with the run loop every
section shares): its cases, the runs of each, and its tables in report.md and
docs/benchmarks.md.  Standard library only.

Four kinds of case, each a table:
- resp-*: the RESP client against redis-benchmark.  A fresh redis-server (its own config and
  dir, save "", appendonly no) pinned to the server CPU; `tern-bench redis` (tern's
  redis::Client) or `redis-benchmark -q --csv` pinned to the client CPU, 50 connections,
  SET or GET, pipeline depth 1 or 16, both doing exactly N operations (N measured once per
  case so that a run lasts about --seconds).  The figure the issue asks for is the CLIENT's
  CPU per operation: its utime+stime over its whole run (getrusage of the reaped child) / N.
- kv-*: tern-kv on SQLite (durability full and normal), 64 connections of `tern-bench http`,
  PUT of one key or GET of a key that exists; tern-kv (its loop and its storage thread)
  pinned to the server CPU, its database on the disk of the run's temp dir.
- group-commit: bench/store_bench (durable PUTs/s with group commit against one transaction
  per PUT, 64 writers, full mode), its own rounds interleaved and its own pinning.
- cluster-* (run by bench_cluster.py): redis-server and tern-proxy (--health-path /healthz) on
  the server CPU, two tern-kv on redis:// and tern-bench on the client CPU; GET and PUT through
  the proxy, and the same with the second tern-kv SIGKILLed halfway through the measured
  interval (the errors the client saw, the retries the proxy made)."""

import re
import socket
import tempfile
import time

import bench_cells as cells
import bench_cluster
import bench_procs as procs
from bench_storage_procs import (KV_BANNER, KV_KEY, KV_VALUE, REDIS_BANNER, Named, built,
                                 check_kv, fresh_dir, kv_argv, kv_load_options, program,
                                 redis_config)

RESP_CONNECTIONS = 50
KV_CONNECTIONS = 64
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


# ------------------------------------------------------------------------- resp cases
def parse_redis_benchmark_csv(text, command):
    """redis-benchmark --csv -> {rps, p50_us, p99_us} of `command`'s line, or None."""
    header = None
    for line in text.splitlines():
        parts = [c.strip().strip('"') for c in line.split(",")]
        if parts and parts[0] == "test":
            header = parts
            continue
        if header and parts and parts[0].upper() == command.upper() and len(parts) == len(header):
            rec = dict(zip(header, parts))
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


# ------------------------------------------------------------------------- kv cases
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
    cluster = {c: CASES[c][1] for c in cases if kind_of(c) == "cluster"}
    if cluster:
        bench_cluster.section(ctx, b, cluster, KV_CONNECTIONS)


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
        body.append([name, cells.num(g.median("requests_per_s"), 0),
                     g.span("requests_per_s", lambda v: cells.num(v, 0)), cells.num(c, 2),
                     g.span("client_cpu_us_per_request", lambda v: cells.num(v, 2)),
                     cells.ratio(peer_cpu, c), cells.num(g.median("cpu_us_per_request"), 2),
                     cells.us(g.median("p50_us")), cells.us(g.median("p99_us")), g.runs()])
    return table(H("client", "ops/s", "min–max", "client CPU-µs/op", "min–max",
                   "redis-benchmark ÷ this", "server CPU-µs/op", "p50 µs", "p99 µs", "runs"),
                 body)


def table_kv(servers, table, H):
    body = [[name, cells.num(g.median("requests_per_s"), 0),
             g.span("requests_per_s", lambda v: cells.num(v, 0)), cells.us(g.median("p50_us")),
             cells.us(g.median("p99_us")), g.span("p99_us", cells.us),
             cells.num(g.median("cpu_us_per_request"), 2),
             "–" if g.median("busy") is None else "%.0f%%" % (100 * g.median("busy")), g.runs()]
            for name, g in servers.items()]
    return table(H("server", "req/s", "min–max", "p50 µs", "p99 µs", "min–max",
                   "server CPU-µs/req", "busy", "runs"), body)


def table_group(modes, table, H):
    body = [[name, cells.num(g.median("requests_per_s"), 0),
             g.span("requests_per_s", lambda v: cells.num(v, 0)),
             cells.num(private_median(g, "_puts_per_transaction"), 1), g.runs()]
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
        row = [name, cells.num(g.median("requests_per_s"), 0),
               g.span("requests_per_s", lambda v: cells.num(v, 0)), cells.us(g.median("p50_us")),
               cells.us(g.median("p99_us")), cells.num(g.median("cpu_us_per_request"), 2)]
        if kill:
            row += [cells.num(private_median(g, "_client_errors"), 0),
                    cells.num(private_median(g, "_retries"), 0)]
        body.append(row + [g.runs()])
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
