#!/usr/bin/env python3
"""bench.py: what `make bench` runs.  tern against the programs users would pick instead, every
figure measured by one client, tern-bench (apps/bench), and written to bench/results/<UTC date>/
as report.md, results.csv, results.json and (bench/plot.py) PNG plots.

Sections (--sections, default all; each skipped visibly when what it needs is missing):
  echo          tern-echo (epoll, uring, poll) vs the raw epoll and io_uring loops
                (bench/baseline) and the peers of bench/peers (libevent, libuv, Asio):
                ping-pong, 100 connections x 512 B and x 16 KiB (tern-bench echo)
  http          tern-httpd (epoll, uring) vs nginx and h2o (bench/http/*.conf), one worker
                each, logs off: /plaintext at 64 connections, pipelined depth 16, 4 KiB and
                1 MiB static files (tern-bench http)
  memory        server VmRSS per idle keep-alive connection, 10,000 connections with one GET
                each, tern-httpd vs nginx and h2o (tern-bench idle --request)
  patterns      tern-echo's concurrency models x event handling patterns, line framing,
                request/response with latency percentiles (tern-bench rr)
  instructions  instructions per request under callgrind (bench/instructions.sh --csv)
  client        tern-bench against wrk, one thread each, same connections, nginx /plaintext:
                tern-bench must not be the bottleneck
  proxy         tern-proxy (epoll, uring) vs HAProxy and nginx (bench/proxy/*.conf), one worker
                each on the server CPU, in front of two tern-httpd upstreams that share the
                client CPU with tern-bench: HTTP mode and TCP mode, 64 and 256 connections;
                req/s, p99, proxy CPU per request, proxy RSS, tern-proxy's upstream
                connection reuse ratio (its admin API); a tern-proxy not built is a FAILED row
  storage       (bench/bench_storage.py) tern's RESP client vs redis-benchmark (client CPU per
                op), tern-kv on SQLite, group commit (bench/store_bench), the cluster through
                tern-proxy with a tern-kv killed halfway; a program not built is a FAILED row

Method (each lesson of the scripts this replaces is kept):
- the server pinned to --server-cpu [0] with taskset, the client to --client-cpu [1] (the
  patterns section leaves a server with more than one thread or worker unpinned, and says so);
- a fresh server per run; ready when its port is listening (/proc/net/tcp, or a connect
  succeeds) and, for servers that print one, their "listening on" line has appeared, within
  15 s; tern's line names the
  backend (and pattern) really in use: a fallback (io_uring -> epoll) is a FAILED run;
- HTTP servers must answer /plaintext, /file-4k.bin and /file-1m.bin with 200 and the right
  bytes before each run, or the run is FAILED;
- rounds interleaved (for each case: round 1 runs every server, then round 2, ...), a warm-up
  before each measured interval, medians with min-max over the rounds;
- server CPU = utime+stime of the server's process tree (/proc) over the measured interval
  (tern-bench --pid), per request; "busy" = that over the interval (below ~95%: the server
  was not the bottleneck);
- a run that fails (the server does not start, runs another backend, answers wrongly, dies;
  the client fails, overruns its time budget, reports socket errors, mismatches or non-2xx)
  is a FAILED row with the reason: in the CSV and the report, never in a median;
- every process is bounded in time, stopped (SIGTERM, 5 s, SIGKILL, its children too) and
  reaped, on Ctrl-C as well; loopback only.

After a run (not a --quick one, unless --update-docs), the sections that ran are rewritten in
the "make bench" region of docs/benchmarks.md (--docs): date, commit, command, the tables, the
FAILED runs, and the plots, copied to docs/img/bench/ under fixed names; other sections stay.

Usage: bench/bench.py [--quick] [--build DIR] [--sections LIST] [--rounds N] [--seconds S]
                      [--warmup S] [--out DIR] [--server-cpu N] [--client-cpu N]
                      [--docs FILE] [--[no-]update-docs]
Exit status: 0 every run ok; 1 some run FAILED or a section was skipped; 2 bad usage."""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the working tree
import bench_procs as procs   # noqa: E402
import bench_proxy            # noqa: E402
import bench_storage          # noqa: E402
import bench_report as report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"  # loopback only
SECTIONS = ["echo", "http", "memory", "patterns", "instructions", "client", "proxy", "storage"]
START = time.monotonic()


def log(msg):
    print("[%5.0fs] %s" % (time.monotonic() - START, msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- plan
class Plan:
    """What one `make bench` runs: the full plan (~20 min on 2 cores) or --quick (~2 min)."""

    def __init__(self, a):
        q = a.quick
        self.quick = q
        self.rounds = a.rounds or (1 if q else 3)
        self.seconds = a.seconds or (1.0 if q else 3.0)
        self.warmup = a.warmup if a.warmup is not None else (0.5 if q else 1.0)
        self.echo_cases = a.echo_cases or ([(100, 512)] if q else [(100, 512), (100, 16384)])
        self.echo_backends = a.echo_backends or ["epoll", "uring", "poll"]
        self.http_backends = a.http_backends or ["epoll", "uring"]
        self.http_cases = a.http_cases or (["plaintext-64", "pipelined-64"] if q else
                                           ["plaintext-64", "pipelined-64", "static-4k",
                                            "static-1m"])
        self.idle_connections = a.idle_connections
        self.idle_rounds = 1 if q else min(self.rounds, 2)
        self.patterns_rounds = 1 if q else min(self.rounds, 2)
        self.patterns_seconds = a.seconds or (1.0 if q else 2.0)
        self.patterns_threads = a.patterns_threads or ([2] if q else [1, 2])
        # (work_us, connections)
        self.patterns_cells = a.patterns_cells or ([(0, 100)] if q else [(0, 100), (100, 100)])
        self.client_rounds = 1 if q else self.rounds
        self.client_seconds = 1 if q else max(1, int(round(self.seconds)))
        self.proxy_cases = a.proxy_cases or (bench_proxy.QUICK_CASES if q else
                                             list(bench_proxy.PROXY_CASES))
        self.proxy_backends = a.proxy_backends or ["epoll", "uring"]
        self.storage_cases = bench_storage.QUICK_CASES if q else list(bench_storage.CASES)


HTTP_CASES = {  # name -> (connections, pipeline depth, path, label)
    "plaintext-64": (64, 1, "/plaintext", "/plaintext, 64 connections"),
    "pipelined-64": (64, 16, "/plaintext", "/plaintext, 64 connections, pipelined depth 16"),
    "plaintext-256": (256, 1, "/plaintext", "/plaintext, 256 connections"),
    "pipelined-256": (256, 16, "/plaintext", "/plaintext, 256 connections, pipelined depth 16"),
    "static-4k": (64, 1, "/file-4k.bin", "4 KiB static file, 64 connections"),
    "static-1m": (64, 1, "/file-1m.bin", "1 MiB static file, 64 connections"),
}

# The concurrency-model matrix of tern-echo (name, flags); {T} is replaced by each thread count.
PATTERN_CONFIGS = [
    ("single-epoll-emulated", "--model single --backend epoll --pattern emulated --threads 1"),
    ("single-uring-proactor", "--model single --backend uring --pattern proactor --threads 1"),
    ("single-epoll-reactor", "--model single --backend epoll --pattern reactor --threads 1"),
    ("loops-epoll-emulated", "--model loops --backend epoll --pattern emulated --threads {T}"),
    ("hsha-epoll-emulated", "--model hsha --backend epoll --pattern emulated --threads 1 --workers {T}"),
    ("hsha-uring-proactor", "--model hsha --backend uring --pattern proactor --threads 1 --workers {T}"),
    ("hsha-epoll-reactor", "--model hsha --backend epoll --pattern reactor --threads 1 --workers {T}"),
    ("lf-epoll-reactor", "--model lf --backend epoll --pattern reactor --threads {T}"),
]

EXPECTED_PEERS = ["libevent", "libuv", "asio"]


# ------------------------------------------------------------------------- servers
class ServerSpec:
    """One server under test: `argv(port)` builds its command line; `banner` (regex) is the
    line it prints when listening (None: the port alone says it is ready); `backend` and
    `pattern`, when set, must be what that line says is in use."""

    def __init__(self, name, argv, shown, banner=None, backend="", pattern="", config="",
                 pinned=True):
        self.name, self.argv, self.shown, self.banner = name, argv, shown, banner
        self.backend, self.pattern, self.config, self.pinned = backend, pattern, config, pinned

    def banner_mismatch(self, line):
        """Why the banner shows another backend or pattern than asked for ("" if none)."""
        m = re.search(r"[(,] *backend ([a-z0-9-]+)", line)
        if self.backend and m and m.group(1) != self.backend:
            return "ran the %s backend, not %s" % (m.group(1), self.backend)
        m = re.search(r"[(,] *pattern ([a-z-]+)[,)]", line)
        if self.pattern and m and m.group(1) != self.pattern:
            return "ran the %s pattern, not %s" % (m.group(1), self.pattern)
        return ""


class Context:
    def __init__(self, args, plan):
        self.args, self.plan = args, plan
        self.build = os.path.abspath(args.build)
        self.tmp = tempfile.mkdtemp(prefix="tern-make-bench.")
        os.chmod(self.tmp, 0o755)  # nginx's worker and h2o run as nobody when started as root
        self.www = os.path.join(self.tmp, "www")
        self.ports = procs.Ports(args.port_base)
        self.rows = []
        self.skipped = []     # (section, what, why)
        self.commands = {}    # section -> [command line, ...] for the report
        self.nofile = raise_fd_limit(plan.idle_connections + 1024)
        self.tern_bench = os.path.join(self.build, "apps", "tern-bench")

    def binary(self, *parts):
        return os.path.join(self.build, *parts)

    def note_command(self, section, text):
        self.commands.setdefault(section, [])
        if text not in self.commands[section]:
            self.commands[section].append(text)

    def skip(self, section, what, why):
        log("SKIPPED: %s: %s: %s" % (section, what, why))
        self.skipped.append((section, what, why))

    def server_cpu(self, spec):
        return self.args.server_cpu if spec.pinned else None


def raise_fd_limit(want):
    """The idle section holds one fd per connection in the client and in the server (both
    inherit this limit): raise the soft limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(want, 4096)
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    if soft == resource.RLIM_INFINITY or soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_www(ctx):
    """The files every HTTP server serves (the same bytes for all)."""
    os.makedirs(ctx.www)
    rnd = random.Random(10)
    files = {"plaintext.txt": b"Hello, World!", "file-4k.bin": rnd.randbytes(4096),
             "file-1m.bin": rnd.randbytes(1 << 20)}
    for name, data in files.items():
        with open(os.path.join(ctx.www, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(ctx.www, name), 0o644)
    os.chmod(ctx.www, 0o755)
    ctx.www_files = files


def fill(template, values):
    text = open(os.path.join(ROOT, template)).read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    return text


def nginx_argv(ctx, port):
    prefix = tempfile.mkdtemp(prefix="nginx.", dir=ctx.tmp)
    os.chmod(prefix, 0o755)
    conf = fill("bench/http/nginx.conf", {"HOST": HOST, "PORT": port, "ROOT": ctx.www,
                                          "PREFIX": prefix, "MAX_CONNS": ctx.nofile - 64,
                                          "NOFILE": ctx.nofile})
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(conf)
    return ["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf"), "-e", "stderr",
            "-g", "daemon off;"]


def h2o_argv(ctx, port):
    # /plaintext is the 13-byte static file: h2o's cheapest answer (its mruby handler cost
    # about 1.7x the server CPU per request): a needlessly slow peer would flatter tern.
    prefix = tempfile.mkdtemp(prefix="h2o.", dir=ctx.tmp)
    os.chmod(prefix, 0o755)
    conf = fill("bench/http/h2o.conf", {"HOST": HOST, "PORT": port, "ROOT": ctx.www,
                                        "PREFIX": prefix, "MAX_CONNS": ctx.nofile - 64})
    plaintext = "        file.file: %s/plaintext.txt" % ctx.www
    lines = []
    for line in conf.splitlines():
        if "@USER@" in line:
            if os.getuid() == 0:
                lines.append(line.replace("@USER@", "root"))
        elif "@PLAINTEXT@" in line:
            lines.append(plaintext)
        else:
            lines.append(line)
    with open(os.path.join(prefix, "h2o.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return ["h2o", "-c", os.path.join(prefix, "h2o.conf")]


def builds(ctx):
    """(build dir, label suffix): this build, and --compare's (a change against its base,
    measured in the same interleaved rounds)."""
    out = [(ctx.build, "")]
    if ctx.args.compare:
        path, _, label = ctx.args.compare.partition(":")
        out.append((os.path.abspath(path), " (%s)" % (label or "compared")))
    return out


def http_servers(ctx, section):
    servers = []
    for build, label in builds(ctx):
        httpd = os.path.join(build, "apps", "tern-httpd")
        if not os.access(httpd, os.X_OK):
            ctx.skip(section, "tern-httpd" + label, "not built: %s" % rel(httpd))
            continue
        for b in ctx.plan.http_backends:
            servers.append(ServerSpec(
                "tern-httpd%s %s" % (label, b),
                lambda port, b=b, h=httpd: [h, "--host", HOST, "--port", str(port), "--root",
                                            ctx.www, "--backend", b],
                "%s --host %s --port PORT --root WWW --backend %s" % (rel(httpd), HOST, b),
                banner=r"^tern-httpd: listening on", backend=b))
    for peer, argv_fn, shown in [
            ("nginx", nginx_argv, "nginx -p DIR -c DIR/nginx.conf -e stderr -g 'daemon off;' "
                                  "(bench/http/nginx.conf: one worker, access log off)"),
            ("h2o", h2o_argv, "h2o -c DIR/h2o.conf (bench/http/h2o.conf: one thread, no access "
                              "log; /plaintext the 13-byte file)")]:
        if shutil.which(peer):
            servers.append(ServerSpec(peer, lambda port, f=argv_fn: f(ctx, port), shown))
        else:
            ctx.skip(section, peer, "not installed (scripts/install-bench-deps.sh installs it)")
    return servers


def help_text(binary):
    try:
        r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=3, start_new_session=True)
        return r.stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def peer_servers(ctx):
    """The echo peers of bench/peers (helper-built binaries that print "<name>: listening on
    HOST:PORT"): each executable under $BUILD/bench/peers, plus a --naive variant for those whose
    --help offers one.  An expected peer that is not there is skipped visibly."""
    root = ctx.binary("bench", "peers")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "CMakeFiles"]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if (os.access(path, os.X_OK) and os.path.isfile(path)
                    and not re.search(r"\.(so|a|o|sh|cmake|txt)$", name)):
                found.append(path)
    servers = []
    for path in sorted(found):
        name = os.path.basename(path)
        helptext = help_text(path)
        if "--port" in helptext:
            def argv(port, path=path, extra=()):
                return [path, "--host", HOST, "--port", str(port), *extra]
            shown = "%s --host %s --port PORT" % (rel(path), HOST)
        else:
            def argv(port, path=path, extra=()):
                return [path, str(port), *extra]
            shown = "%s PORT" % rel(path)
        servers.append(ServerSpec(name, argv, shown, banner=r"listening on"))
        if "--naive" in helptext:
            servers.append(ServerSpec(name + " --naive",
                                      lambda port, a=argv: a(port, extra=("--naive",)),
                                      shown + " --naive", banner=r"listening on"))
    for want in EXPECTED_PEERS:
        if not any(want in os.path.basename(p) for p in found):
            ctx.skip("echo", want, "peer not built (no binary matching '%s' under %s)" %
                     (want, rel(root)))
    return servers


def echo_servers(ctx):
    servers = []
    for kind, binary in [("epoll", "raw_epoll_echo"), ("io_uring", "raw_uring_echo")]:
        path = ctx.binary("bench", binary)
        if os.access(path, os.X_OK):
            servers.append(ServerSpec("raw %s loop" % kind, lambda port, p=path: [p, str(port)],
                                      "%s PORT" % rel(path), config="bench/baseline/%s.c" % binary))
        else:
            ctx.skip("echo", "raw %s loop" % kind, "not built: %s" % rel(path))
    for build, label in builds(ctx):
        echo = os.path.join(build, "apps", "tern-echo")
        if not os.access(echo, os.X_OK):
            ctx.skip("echo", "tern-echo" + label, "not built: %s" % rel(echo))
            continue
        for b in ctx.plan.echo_backends:
            servers.append(ServerSpec(
                "tern-echo%s %s" % (label, b),
                lambda port, b=b, e=echo: [e, "--host", HOST, "--port", str(port), "--backend", b],
                "%s --host %s --port PORT --backend %s" % (rel(echo), HOST, b),
                banner=r"^tern-echo: listening on", backend=b))
    return servers + peer_servers(ctx)


def rel(path):
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + "/") else path


# ------------------------------------------------------------------------- one run
def new_row(section, case, spec_name, backend, config, rnd):
    row = {k: "" for k in report.CSV_COLUMNS}
    row.update(section=section, case=case, server=spec_name, backend=backend, config=config,
               round=rnd, status="ok")
    return row


def failed(row, why):
    row["status"] = "FAILED"
    row["note"] = (row["note"] + "; " if row["note"] else "") + why
    return row


def add_note(row, text):
    if text:
        row["note"] = (row["note"] + "; " if row["note"] else "") + text


def check_http(port, ctx):
    """Does the server on `port` answer the three URLs with 200 and the right bytes?"""
    for name in ["plaintext.txt", "file-4k.bin", "file-1m.bin"]:
        path = "/plaintext" if name == "plaintext.txt" else "/" + name
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
        except (OSError, http.client.HTTPException) as e:
            return "GET %s failed: %s" % (path, e)
        if r.status != 200:
            return "GET %s answered %d instead of 200" % (path, r.status)
        if body != ctx.www_files[name]:
            return "GET %s answered other bytes than %s (%d bytes)" % (path, name, len(body))
    return ""


def run_with_server(ctx, spec, row, measure, precheck=None):
    """Starts `spec` on a fresh port, runs `measure(port, server, row)` (which fills the row or
    returns why it failed), stops the server.  Every failure becomes a FAILED row."""
    port = ctx.ports.take()
    log_path = os.path.join(ctx.tmp, "server.log")
    try:
        server = procs.Server(spec.argv(port), port, ctx.server_cpu(spec), log_path,
                              banner=spec.banner)
    except procs.StartFailed as e:
        return failed(row, "server %s" % e)
    try:
        why = spec.banner_mismatch(server.banner) if spec.banner else ""
        if not why and precheck:
            why = precheck(port)
        died = False
        if not why:
            why = measure(port, server, row)
            died = not server.alive()
    finally:
        server.stop()
    if died:
        why = "the server died during the run (exit status %s: %s)%s" % (
            server.stop_status, server.log_tail(), "; " + why if why else "")
    if why:
        failed(row, why)
        row["_server_output"] = "$ %s\n%s" % (" ".join(server.argv), server.log_tail(4000))
    if not died:
        add_note(row, server.stop_note())
    return row


def tern_bench_argv(ctx, mode, options, target, pid=None, json_out=True):
    cpu = str(ctx.args.client_cpu)
    argv = ["taskset", "-c", cpu, ctx.tern_bench, mode, *options, "--cpu", cpu,
            "--progress", "never"]
    if pid is not None:
        argv += ["--pid", str(pid)]
    if json_out:
        argv.append("--json")
    return argv + [target]


def shown_argv(argv):
    """A command line for the report, with the port and pid as placeholders."""
    text = " ".join(rel(a) if a.startswith("/") else a for a in argv)
    text = re.sub(r"--pid \d+", "--pid PID", text)
    return re.sub(r"(127\.0\.0\.1:)\d+", r"\1PORT", text)


def run_tern_bench(ctx, section, argv, budget, row):
    """Runs tern-bench, returns (json document, why it failed or "")."""
    ctx.note_command(section, shown_argv(argv))
    res = procs.run_client(argv, budget, ctx.tmp)
    row["_client_cpu_s"] = res.cpu_s
    row["_client_output"] = "$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
        shown_argv(argv), res.stdout, res.stderr)
    if res.overran:
        return None, "tern-bench overran its %.0f s budget (killed): %s" % (budget, res.stderr_tail())
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        doc = None
    if res.status != 0:
        # Exit status 1 with a document: the run failed (mismatch, parse errors, no reply).
        errors = error_summary(doc) if isinstance(doc, dict) else ""
        return None, "tern-bench exit status %s: %s" % (
            res.status, "errors: " + errors if errors else res.stderr_tail())
    if not isinstance(doc, dict):
        return None, "tern-bench printed no JSON document: %r" % res.stdout[:200]
    return doc, ""


def client_budget(ctx, duration, warmup, connections):
    # connect (--timeout 5) + warm-up + measured + at most --timeout to collect the replies
    # still outstanding + slack, and 1 s per 100 connections on a loaded machine.
    return 5 + warmup + duration + 5 + 10 + connections / 100


def error_summary(doc):
    """Socket errors, mismatches and non-2xx answers of a tern-bench run ("" if none)."""
    parts = ["%s %d" % (k, v) for k, v in sorted((doc.get("errors") or {}).items()) if v]
    status = doc.get("status") or {}
    parts += ["%s %d" % (k, v) for k, v in sorted(status.items()) if v and k != "2xx"]
    return ", ".join(parts)


def fill_from_tern_bench(row, doc):
    """The measured figures of a tern-bench JSON document -> row; why it failed or ""."""
    row["requests_per_s"] = doc.get("requests_per_s", "")
    if doc.get("bytes_per_s") is not None:
        row["mib_per_s"] = doc["bytes_per_s"] / 1048576.0
    lat = doc.get("latency_ns") or {}
    for col, key in [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"),
                     ("p999_us", "p99_9"), ("max_us", "max")]:
        if lat.get(key) is not None:
            row[col] = lat[key] / 1000.0
    row["_cdf"] = latency_cdf(doc)
    row["_series"] = throughput_series(doc)
    server = doc.get("server") or {}
    if server.get("cpu_us_per_request") is not None:
        row["cpu_us_per_request"] = server["cpu_us_per_request"]
        row["busy"] = server.get("busy", "")
    if not doc.get("requests"):
        return "no reply completed in the measured interval"
    errors = error_summary(doc)
    if errors:
        return "errors: %s (of %d replies)" % (errors, doc.get("requests", 0))
    return ""


def throughput_series(doc):
    """tern-bench's per-second counts over the measured interval, [{"t": s, "requests": n,
    "errors": n}, ...], kept for the steadiness plot (results.json, run["series"])."""
    out = []
    for point in doc.get("series") or []:
        if isinstance(point, dict) and point.get("t") is not None:
            out.append({"t": point["t"], "requests": point.get("requests", 0),
                        "errors": point.get("errors", 0)})
    return out


def latency_cdf(doc):
    """[[value_us, cumulative_fraction], ...]: tern-bench's own CDF when it gives one
    ("latency_cdf" or "cdf": [[ns, fraction], ...]), else its percentiles."""
    for key in ("latency_cdf", "cdf"):
        points = doc.get(key) or (doc.get("latency_ns") or {}).get(key)
        if points:
            return [[p[0] / 1000.0, p[1]] for p in points]
    lat = doc.get("latency_ns") or {}
    points = [(lat.get("min"), 0.0), (lat.get("p50"), 0.5), (lat.get("p90"), 0.9),
              (lat.get("p99"), 0.99), (lat.get("p99_9"), 0.999), (lat.get("max"), 1.0)]
    return [[v / 1000.0, f] for v, f in points if v is not None]


def progress(row, unit="req/s"):
    if row["status"] != "ok":
        return "FAILED: %s" % row["note"]
    parts = []
    if row.get("requests_per_s") != "":
        parts.append("%s %s" % (report.num(row["requests_per_s"], 0), unit))
    if row.get("mib_per_s") not in ("", None) and unit == "blocks/s":
        parts.append("%s MiB/s" % report.num(row["mib_per_s"], 1))
    if row.get("cpu_us_per_request") != "":
        parts.append("%s server CPU-us/req (busy %s)" % (report.num(row["cpu_us_per_request"], 2),
                                                         report.pct(row["busy"])))
    if row.get("p99_us") != "":
        parts.append("p50 %s us, p99 %s us" % (report.num(row["p50_us"], 1),
                                               report.num(row["p99_us"], 1)))
    if row.get("bytes_per_connection") != "":
        parts.append("%s B/conn" % report.num(row["bytes_per_connection"], 0))
    return ", ".join(parts) + ("  (%s)" % row["note"] if row["note"] else "")


# ------------------------------------------------------------------------- sections
def interleaved(ctx, section, cases, servers, rounds, one_run):
    """For each case: round 1 runs every server, then round 2, ... (drift cancels out)."""
    only = ctx.args.case_list
    for case in [c for c in cases if not only or c in only]:
        for rnd in range(1, rounds + 1):
            for spec in servers:
                row = one_run(case, spec, rnd)
                ctx.rows.append(row)
                log("%s %s round %d/%d: %s: %s" % (section, case, rnd, rounds, spec.name,
                                                    progress(row, "blocks/s" if section == "echo"
                                                             else "req/s")))


def section_echo(ctx):
    p = ctx.plan
    servers = echo_servers(ctx)
    for spec in servers:
        ctx.note_command("echo", "server: taskset -c %d %s" % (ctx.args.server_cpu, spec.shown))
    cases = ["%dx%d" % c for c in p.echo_cases]

    def one_run(case, spec, rnd):
        conns, size = (int(x) for x in case.split("x"))
        row = new_row("echo", case, spec.name, spec.backend, spec.config, rnd)

        def measure(port, server, row):
            argv = tern_bench_argv(ctx, "echo", ["-c", str(conns), "-s", str(size), "-d",
                                                 str(p.seconds), "-w", str(p.warmup)],
                                   "%s:%d" % (HOST, port), server.pid)
            doc, why = run_tern_bench(ctx, "echo", argv,
                                      client_budget(ctx, p.seconds, p.warmup, conns), row)
            return why or fill_from_tern_bench(row, doc)
        return run_with_server(ctx, spec, row, measure)
    interleaved(ctx, "echo", cases, servers, p.rounds, one_run)


def section_http(ctx):
    p = ctx.plan
    servers = http_servers(ctx, "http")
    for spec in servers:
        ctx.note_command("http", "server: taskset -c %d %s" % (ctx.args.server_cpu, spec.shown))

    def one_run(case, spec, rnd):
        conns, depth, path, _ = HTTP_CASES[case]
        row = new_row("http", case, spec.name, spec.backend, spec.config, rnd)

        def measure(port, server, row):
            argv = tern_bench_argv(ctx, "http", ["-c", str(conns), "-p", str(depth), "-d",
                                                 str(p.seconds), "-w", str(p.warmup)],
                                   "http://%s:%d%s" % (HOST, port, path), server.pid)
            doc, why = run_tern_bench(ctx, "http", argv,
                                      client_budget(ctx, p.seconds, p.warmup, conns), row)
            return why or fill_from_tern_bench(row, doc)
        return run_with_server(ctx, spec, row, measure, precheck=lambda port: check_http(port, ctx))
    interleaved(ctx, "http", p.http_cases, servers, p.rounds, one_run)


def section_memory(ctx):
    p = ctx.plan
    n = p.idle_connections
    servers = http_servers(ctx, "memory")
    case = "idle-%d" % n
    hold = 2

    def one_run(case, spec, rnd):
        row = new_row("memory", case, spec.name, spec.backend, spec.config, rnd)

        def measure(port, server, row):
            # Warm the server (allocator, caches, lazily built state) so that the delta is the
            # connections' own memory; then let it settle.
            warm = tern_bench_argv(ctx, "http", ["-c", "64", "-d", "1"],
                                   "http://%s:%d/plaintext" % (HOST, port), json_out=True)
            _, why = run_tern_bench(ctx, "memory", warm, client_budget(ctx, 1, 0, 64), row)
            if why:
                return "warm-up: " + why
            time.sleep(0.5)
            argv = tern_bench_argv(ctx, "idle", ["-c", str(n), "--request", "--hold", str(hold)],
                                   "http://%s:%d/plaintext" % (HOST, port), server.pid)
            doc, why = run_tern_bench(ctx, "memory", argv, 60 + hold + n / 500, row)
            if why:
                return why
            idle = doc.get("idle") or {}
            row["bytes_per_connection"] = idle.get("bytes_per_connection", "")
            row["_rss"] = (idle.get("rss_before_kib"), idle.get("rss_after_kib"))
            closed = idle.get("closed_by_server", 0)
            row["_closed"] = closed
            if closed:
                add_note(row, "%d closed by the server while held" % closed)
            if idle.get("open", 0) < n:
                return "only %s of %d connections open" % (idle.get("open"), n)
            if row["bytes_per_connection"] in ("", None):
                return "no RSS figure (idle.bytes_per_connection missing)"
            errors = error_summary(doc)
            return "errors: %s" % errors if errors else ""
        return run_with_server(ctx, spec, row, measure, precheck=lambda port: check_http(port, ctx))
    for spec in servers:
        ctx.note_command("memory", "server: taskset -c %d %s" % (ctx.args.server_cpu, spec.shown))
    interleaved(ctx, "memory", [case], servers, p.idle_rounds, one_run)


def pattern_servers(ctx):
    echo = ctx.binary("apps", "tern-echo")
    servers = []
    for name, flags in PATTERN_CONFIGS:
        variants = ([(name + "-T%d" % t, flags.replace("{T}", str(t))) for t in ctx.plan.patterns_threads]
                    if "{T}" in flags else [(name, flags)])
        for vname, vflags in variants:
            words = vflags.split()
            value = {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}
            threads, workers = int(value.get("--threads", 1)), int(value.get("--workers", 0))
            # A server with more than one thread or worker is not pinned: it may use both CPUs,
            # the client's included, and its figures include that contention.
            pinned = threads <= 1 and workers <= 1
            servers.append(ServerSpec(
                vname, lambda port, w=words: [echo, "--host", HOST, "--port", str(port),
                                              "--codec", "line", *w],
                "%s --host %s --port PORT --codec line --work-us U %s" % (rel(echo), HOST, vflags),
                banner=r"^tern-echo: listening on", backend=value.get("--backend", ""),
                pattern=value.get("--pattern", ""), config=vflags, pinned=pinned))
    return servers


def section_patterns(ctx):
    p = ctx.plan
    echo = ctx.binary("apps", "tern-echo")
    if not os.access(echo, os.X_OK):
        ctx.skip("patterns", "tern-echo", "not built: %s" % rel(echo))
        return
    servers = pattern_servers(ctx)
    for spec in servers:
        ctx.note_command("patterns", "server (CPUs: %s): %s" % (
            ctx.args.server_cpu if spec.pinned else "any", spec.shown))
    cases = ["work%d-c%d" % cell for cell in p.patterns_cells]

    def one_run(case, spec, rnd):
        work, conns = (int(x) for x in re.match(r"work(\d+)-c(\d+)", case).groups())
        row = new_row("patterns", case, spec.name, spec.backend, spec.config, rnd)
        row["_pinned"] = spec.pinned
        base_argv = spec.argv

        def argv(port):
            return base_argv(port) + ["--work-us", str(work)]
        run_spec = ServerSpec(spec.name, argv, spec.shown, spec.banner, spec.backend,
                              spec.pattern, spec.config, spec.pinned)

        def measure(port, server, row):
            cmd = tern_bench_argv(ctx, "rr", ["--framing", "line", "-s", "64", "-p", "1", "-c",
                                              str(conns), "-d", str(p.patterns_seconds), "-w",
                                              str(p.warmup)],
                                  "%s:%d" % (HOST, port), server.pid)
            doc, why = run_tern_bench(ctx, "patterns", cmd,
                                      client_budget(ctx, p.patterns_seconds, p.warmup, conns), row)
            return why or fill_from_tern_bench(row, doc)
        return run_with_server(ctx, run_spec, row, measure)
    interleaved(ctx, "patterns", cases, servers, p.patterns_rounds, one_run)


def section_instructions(ctx):
    """Instructions per request under callgrind, by bench/instructions.sh --csv (rows in
    results.csv's format or any CSV with an instructions column)."""
    script = os.path.join(ROOT, "bench", "instructions.sh")
    if not os.access(script, os.X_OK):
        ctx.skip("instructions", "bench/instructions.sh", "absent (or not executable)")
        return
    cmd = [script, "--csv"]
    env = dict(os.environ, BUILD=ctx.build, QUICK="1" if ctx.plan.quick else "")
    ctx.note_command("instructions", "BUILD=%s%s bench/instructions.sh --csv" %
                     (rel(ctx.build), " QUICK=1" if ctx.plan.quick else ""))
    budget = 300 if ctx.plan.quick else 900
    log("instructions: bench/instructions.sh --csv (valgrind; at most %d s)" % budget)
    out_path = os.path.join(ctx.tmp, "instructions.csv")
    with open(out_path, "w") as out, open(os.path.join(ctx.tmp, "instructions.err"), "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                             cwd=ROOT, start_new_session=True)
        procs.LIVE[p.pid] = p
        status, overran = procs._reap(p, budget)
    err_text = open(os.path.join(ctx.tmp, "instructions.err"), errors="replace").read()
    for line in err_text.splitlines():
        log("  instructions.sh: " + line)
    rows = report.parse_instructions_csv(open(out_path, errors="replace").read())
    for row in rows:
        ctx.rows.append(row)
        log("instructions %s: %s: %s" % (
            row["case"], row["server"], "%s Ir/req" % row["instructions_per_request"]
            if row["status"] == "ok" else "FAILED: %s" % row["note"]))
    if overran or status != 0 or not rows:
        why = ("overran its %d s budget (killed)" % budget if overran else
               "exit status %s" % status if status != 0 else "printed no CSV row")
        row = new_row("instructions", "all", "bench/instructions.sh", "", "", 1)
        ctx.rows.append(failed(row, "bench/instructions.sh %s: %s" % (
            why, " | ".join(err_text.strip().splitlines()[-3:])[-300:])))
        log("instructions: FAILED: %s" % row["note"])


def run_wrk(ctx, port, conns, seconds, row, path="/plaintext"):
    """One wrk run (bench/http/wrk.lua prints a WRKRESULT line) -> (fields, why)."""
    cpu = str(ctx.args.client_cpu)
    argv = ["taskset", "-c", cpu, "wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
            "--timeout", "2s", "-s", os.path.join(ROOT, "bench", "http", "wrk.lua"),
            "http://%s:%d%s" % (HOST, port, path), "--", "depth=1"]
    ctx.note_command("client", shown_argv(argv))
    res = procs.run_client(argv, seconds + 15, ctx.tmp)
    row["_client_cpu_s"] = res.cpu_s
    row["_client_output"] = "$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
        shown_argv(argv), res.stdout, res.stderr)
    if res.overran or res.status != 0:
        return None, "wrk %s: %s" % ("overran its budget" if res.overran else
                                     "exit status %s" % res.status, res.stderr_tail())
    m = re.search(r"^WRKRESULT (.*)$", res.stdout, re.M)
    if not m:
        return None, "wrk printed no WRKRESULT line: %s" % res.stdout[-200:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}, ""


# The client check's cases: (case, path, what it shows). On /plaintext nginx costs about as
# much per request as a client does, so the cheaper client measures more: tern-bench must reach
# at least wrk's figure. A 4 KiB file costs nginx more than either client, so the server is the
# bottleneck under both and their figures must agree (issue 10: within 10%).
CLIENT_CASES = [("plaintext-64", "/plaintext", "client-bound: tern-bench >= wrk"),
                ("static-4k-64", "/file-4k.bin", "server-bound: tern-bench = wrk within 10%")]


def section_client(ctx):
    """tern-bench against wrk, one thread each, the same 64 connections, nginx, rounds
    interleaved, a fresh nginx per run: one client-bound and one server-bound case."""
    p = ctx.plan
    if not shutil.which("wrk"):
        ctx.skip("client", "wrk", "not installed (scripts/install-bench-deps.sh installs it)")
        return
    if not shutil.which("nginx"):
        ctx.skip("client", "nginx", "not installed (scripts/install-bench-deps.sh installs it)")
        return
    nginx = ServerSpec("nginx", lambda port: nginx_argv(ctx, port), "nginx")
    conns, secs = 64, p.client_seconds

    def one_run(client, rnd, case, path, what):
        config = "nginx %s, %d connections, one client thread (%s)" % (path, conns, what)
        row = new_row("client", case, client, "", config, rnd)

        def measure_tern_bench(port, server, row):
            argv = tern_bench_argv(ctx, "http", ["-t", "1", "-c", str(conns), "-d", str(secs),
                                                 "-w", str(p.warmup)],
                                   "http://%s:%d%s" % (HOST, port, path), server.pid)
            doc, why = run_tern_bench(ctx, "client", argv, client_budget(ctx, secs, p.warmup, conns),
                                      row)
            if not why:
                why = fill_from_tern_bench(row, doc)
                row["_client_busy"] = row["_client_cpu_s"] / (secs + p.warmup)
            return why

        def measure_wrk(port, server, row):
            if p.warmup > 0:
                _, why = run_wrk(ctx, port, conns, max(1, int(round(p.warmup))), row, path)
                if why:
                    return "warm-up: " + why
            t0, w0 = procs.tree_cpu_seconds(server.pid), time.monotonic()
            fields, why = run_wrk(ctx, port, conns, secs, row, path)
            t1, w1 = procs.tree_cpu_seconds(server.pid), time.monotonic()
            if why:
                return why
            dur = fields["duration_us"] / 1e6
            row["requests_per_s"] = fields["requests"] / dur if dur > 0 else 0
            row["mib_per_s"] = fields["bytes"] / dur / 1048576.0 if dur > 0 else 0
            row["p50_us"], row["p99_us"] = fields["p50_us"], fields["p99_us"]
            row["_client_busy"] = row["_client_cpu_s"] / dur if dur > 0 else ""
            if t0 is not None and t1 is not None and fields["requests"]:
                row["cpu_us_per_request"] = (t1 - t0) * 1e6 / fields["requests"]
                row["busy"] = (t1 - t0) / (w1 - w0)
            if not fields["requests"]:
                return "no request completed"
            errs = ["%s %d" % (k, fields[k]) for k in ("connect", "read", "write", "status",
                                                       "timeout") if fields.get(k)]
            return "errors: %s" % ", ".join(errs) if errs else ""
        measure = measure_tern_bench if client == "tern-bench" else measure_wrk
        return run_with_server(ctx, nginx, row, measure, precheck=lambda port: check_http(port, ctx))

    for case, path, what in CLIENT_CASES:
        for rnd in range(1, p.client_rounds + 1):
            for client in ["tern-bench", "wrk"]:
                row = one_run(client, rnd, case, path, what)
                if row.get("_client_busy") not in (None, ""):
                    add_note(row, "client CPU %.0f%%" % (100 * row["_client_busy"]))
                ctx.rows.append(row)
                log("client %s round %d/%d: %s: %s" % (case, rnd, p.client_rounds, client,
                                                        progress(row)))


# ------------------------------------------------------------------------- proxy
class ProxyKind:
    """One proxy of the proxy section: `spec(mode, upstream_ports, admin_port)` is the
    ServerSpec of one run (its configuration names that run's upstreams); `modes` the modes it
    runs; `admin` whether it has tern-proxy's admin API (then a run gets an admin port);
    `missing`, when set, why it cannot run (each of its runs is a FAILED row saying so)."""

    def __init__(self, name, spec, shown, backend="", modes=("http", "tcp"), admin=False,
                 missing=""):
        self.name, self.spec, self.shown, self.backend = name, spec, shown, backend
        self.modes, self.admin, self.missing = modes, admin, missing


def upstream_addresses(ports):
    return {"UPSTREAM%d" % (i + 1): "%s:%d" % (HOST, port) for i, port in enumerate(ports)}


def haproxy_argv(ctx, mode, port, upstream_ports):
    prefix = tempfile.mkdtemp(prefix="haproxy.", dir=ctx.tmp)
    conf = fill("bench/proxy/haproxy-%s.cfg" % mode, dict(
        HOST=HOST, PORT=port, MAX_CONNS=max(1024, (ctx.nofile - 64) // 2),
        **upstream_addresses(upstream_ports)))
    path = os.path.join(prefix, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return ["haproxy", "-f", path, "-db"]


def nginx_proxy_argv(ctx, mode, port, upstream_ports):
    prefix = tempfile.mkdtemp(prefix="nginx-proxy.", dir=ctx.tmp)
    os.chmod(prefix, 0o755)
    conf = fill("bench/proxy/nginx-%s.conf" % mode, dict(
        HOST=HOST, PORT=port, PREFIX=prefix, MAX_CONNS=ctx.nofile - 64, NOFILE=ctx.nofile,
        STREAM_MODULE=bench_proxy.nginx_stream_module() or "",
        **upstream_addresses(upstream_ports)))
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(conf)
    return ["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf"), "-e", "stderr",
            "-g", "daemon off;"]


def tern_proxy_kind(binary, label, backend):
    name = "tern-proxy%s %s" % (label, backend)

    def spec(mode, upstream_ports, admin_port):
        flags = ["--mode", mode, "--balance", "round-robin", "--backend", backend, "--model",
                 "single", "--threads", "1", "--upstream-max-connections",
                 str(bench_proxy.TERN_PROXY_MAX_CONNECTIONS), "--admin",
                 "%s:%d" % (HOST, admin_port)]
        ups = [a for port in upstream_ports for a in ("--upstream", "%s:%d" % (HOST, port))]
        return ServerSpec(name, lambda port: [binary, "--listen", "%s:%d" % (HOST, port), *ups,
                                              *flags],
                          "", banner=r"^tern-proxy: listening on", backend=backend,
                          config=" ".join(flags[:-2]))
    shown = ("%s --listen %s:PORT --upstream %s:U1 --upstream %s:U2 --mode MODE --balance "
             "round-robin --backend %s --model single --threads 1 --upstream-max-connections %d "
             "--admin %s:ADMIN" % (rel(binary), HOST, HOST, HOST, backend,
                                   bench_proxy.TERN_PROXY_MAX_CONNECTIONS, HOST))
    missing = "" if os.access(binary, os.X_OK) else "tern-proxy not built: %s" % rel(binary)
    return ProxyKind(name, spec, shown, backend=backend, admin=True, missing=missing)


def peer_proxy_kind(name, argv_fn, config, shown, modes):
    def spec(mode, upstream_ports, admin_port):
        return ServerSpec(name, lambda port: argv_fn(mode, port, upstream_ports), "",
                          config=config % mode)
    return ProxyKind(name, spec, shown, modes=modes)


def proxy_kinds(ctx):
    """tern-proxy of each build and backend (a FAILED row per run while it is not built), then
    HAProxy and nginx when installed (skipped visibly otherwise; nginx's TCP mode needs its
    stream module)."""
    kinds = []
    for build, label in builds(ctx):
        binary = (os.path.abspath(ctx.args.tern_proxy) if ctx.args.tern_proxy and not label
                  else os.path.join(build, "apps", "tern-proxy"))
        kinds += [tern_proxy_kind(binary, label, b) for b in ctx.plan.proxy_backends]
    if shutil.which("haproxy"):
        kinds.append(peer_proxy_kind(
            "haproxy", lambda mode, port, ups: haproxy_argv(ctx, mode, port, ups),
            "mode %s, nbthread 1", "haproxy -f DIR/haproxy.cfg -db (bench/proxy/haproxy-MODE.cfg:"
            " one thread, no log; http: http-reuse always)", ("http", "tcp")))
    else:
        ctx.skip("proxy", "haproxy", "not installed (scripts/install-bench-deps.sh installs it)")
    if shutil.which("nginx"):
        modes = ("http", "tcp") if bench_proxy.nginx_stream_module() else ("http",)
        if "tcp" not in modes and any(bench_proxy.PROXY_CASES[c][0] == "tcp"
                                      for c in ctx.plan.proxy_cases):
            ctx.skip("proxy", "nginx, TCP mode", "nginx's stream module is not installed (%s; "
                     "scripts/install-bench-deps.sh installs libnginx-mod-stream)" %
                     " or ".join(bench_proxy.NGINX_STREAM_MODULES))
        kinds.append(peer_proxy_kind(
            "nginx", lambda mode, port, ups: nginx_proxy_argv(ctx, mode, port, ups),
            "%s mode, one worker", "nginx -p DIR -c DIR/nginx.conf -e stderr -g 'daemon off;' "
            "(bench/proxy/nginx-MODE.conf: one worker, no access log; http: proxy_pass with "
            "upstream keepalive; tcp: stream)", modes))
    else:
        ctx.skip("proxy", "nginx", "not installed (scripts/install-bench-deps.sh installs it)")
    return kinds


def start_upstreams(ctx, httpd):
    """The run's two upstreams, tern-httpd on the client CPU -> ([Server], why it failed)."""
    servers = []
    for i in range(bench_proxy.UPSTREAMS):
        port = ctx.ports.take()
        try:
            servers.append(procs.Server(
                [httpd, "--host", HOST, "--port", str(port), "--root", ctx.www, "--backend",
                 "epoll"], port, ctx.args.client_cpu,
                os.path.join(ctx.tmp, "upstream%d.log" % (i + 1)),
                banner=r"^tern-httpd: listening on"))
        except procs.StartFailed as e:
            for s in servers:
                s.stop()
            return [], "upstream %d (tern-httpd) %s" % (i + 1, e)
    return servers, ""


def wait_listening(port, timeout):
    """Polls /proc/net/tcp until `port` is listening, at most `timeout` s -> listening?"""
    deadline = time.monotonic() + timeout
    while not procs.port_listening(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def check_proxied(port, ctx, admin_port=None):
    """Does GET /plaintext through the proxy answer 200 "Hello, World!", once per upstream's
    turn (round-robin: each upstream once), on a fresh connection each?  And, for tern-proxy,
    is its admin port listening (its second line comes after the first)?"""
    if admin_port is not None and not wait_listening(admin_port, 5):
        return "tern-proxy's admin port %d was not listening within 5 s" % admin_port
    want = ctx.www_files["plaintext.txt"]
    for _ in range(bench_proxy.UPSTREAMS):
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=5)
            c.request("GET", "/plaintext")
            r = c.getresponse()
            body = r.read()
            c.close()
        except (OSError, http.client.HTTPException) as e:
            return "GET /plaintext through the proxy failed: %s" % e
        if r.status != 200 or body != want:
            return "GET /plaintext through the proxy answered %d %r instead of 200 %r" % (
                r.status, body[:60], want)
    return ""


def upstream_split_note(cpu_before, cpu_after):
    """A note when one upstream did far less of the work than the other (CPU over the run):
    the proxy did not balance round-robin as configured."""
    used = [(b1 - b0) if b0 is not None and b1 is not None else None
            for b0, b1 in zip(cpu_before, cpu_after)]
    if None in used or sum(used) <= 0:
        return ""
    shares = [u / sum(used) for u in used]
    if min(shares) < 0.5 / len(shares):
        return "upstream CPU split %s: unbalanced" % "/".join("%.0f%%" % (100 * x) for x in shares)
    return ""


def section_proxy(ctx):
    p = ctx.plan
    httpd = ctx.binary("apps", "tern-httpd")
    if not os.access(httpd, os.X_OK):
        ctx.skip("proxy", "the whole section",
                 "the upstreams' tern-httpd not built: %s" % rel(httpd))
        return
    kinds = proxy_kinds(ctx)
    ctx.note_command("proxy", "upstreams (2): taskset -c %d %s --host %s --port U --root WWW "
                     "--backend epoll" % (ctx.args.client_cpu, rel(httpd), HOST))
    for kind in kinds:
        ctx.note_command("proxy", "proxy: taskset -c %d %s" % (ctx.args.server_cpu, kind.shown))

    def one_run(case, kind, rnd):
        mode, conns, _ = bench_proxy.PROXY_CASES[case]
        row = new_row("proxy", case, kind.name, kind.backend, "", rnd)
        if kind.missing:
            return failed(row, kind.missing)
        upstreams, why = start_upstreams(ctx, httpd)
        if why:
            return failed(row, why)
        admin_port = ctx.ports.take() if kind.admin else None
        spec = kind.spec(mode, [u.port for u in upstreams], admin_port)
        row["config"] = spec.config

        def measure(port, server, row):
            m = re.search(r"[(,] *mode ([a-z]+)", server.banner)
            if kind.admin and m and m.group(1) != mode:
                return "ran mode %s, not %s" % (m.group(1), mode)
            argv = tern_bench_argv(ctx, "http", ["-c", str(conns), "-d", str(p.seconds), "-w",
                                                 str(p.warmup)],
                                   "http://%s:%d/plaintext" % (HOST, port), server.pid)
            admin0 = None
            if kind.admin and mode == "http":
                admin0, why = bench_proxy.fetch_admin(admin_port, HOST)
                if why:
                    return "tern-proxy " + why
            up0 = [procs.tree_cpu_seconds(u.pid) for u in upstreams]
            with bench_proxy.RssSampler(server.pid) as rss:
                doc, why = run_tern_bench(ctx, "proxy", argv,
                                          client_budget(ctx, p.seconds, p.warmup, conns), row)
            up1 = [procs.tree_cpu_seconds(u.pid) for u in upstreams]
            row["rss_kib"] = "" if rss.peak_kib is None else rss.peak_kib
            why = why or fill_from_tern_bench(row, doc)
            if why:
                return why
            add_note(row, upstream_split_note(up0, up1))
            if admin0 is not None:  # the upstream connection reuse over the client's run
                admin1, why = bench_proxy.fetch_admin(admin_port, HOST)
                if why:
                    return "tern-proxy " + why
                connects, reuses, reuse, why = bench_proxy.reuse_between(admin0, admin1)
                if why:
                    return "tern-proxy " + why
                row["reuse_ratio"] = reuse
                add_note(row, "upstream connections: %d connects, %d reuses" % (connects, reuses))
            return ""
        try:
            row = run_with_server(ctx, spec, row, measure,
                                  precheck=lambda port: check_proxied(port, ctx, admin_port))
        finally:
            died = [(i, u) for i, u in enumerate(upstreams) if not u.alive()]
            for u in upstreams:
                u.stop()
        for i, u in died:
            failed(row, "upstream %d (tern-httpd) died during the run (exit status %s: %s)" % (
                i + 1, u.stop_status, u.log_tail()))
        return row
    for case in p.proxy_cases:
        mode = bench_proxy.PROXY_CASES[case][0]
        interleaved(ctx, "proxy", [case], [k for k in kinds if mode in k.modes], p.rounds,
                    one_run)


def section_storage(ctx):
    bench_storage.section(ctx, sys.modules[__name__])


# ------------------------------------------------------------------------- main
def estimate_seconds(plan, sections):
    run = plan.warmup + plan.seconds + 0.8
    t = 0
    if "echo" in sections:
        t += len(plan.echo_cases) * 10 * plan.rounds * run
    if "http" in sections:
        t += len(plan.http_cases) * 4 * plan.rounds * (run + 0.3)
    if "memory" in sections:
        t += 4 * plan.idle_rounds * (4 + plan.idle_connections / 2500)
    if "patterns" in sections:
        n = 3 + 5 * len(plan.patterns_threads)
        t += len(plan.patterns_cells) * n * plan.patterns_rounds * (plan.warmup + plan.patterns_seconds + 0.8)
    if "instructions" in sections:
        t += 45 if plan.quick else 60
    if "client" in sections:
        t += len(CLIENT_CASES) * plan.client_rounds * 2 * (plan.warmup + plan.client_seconds + 1.5)
    if "proxy" in sections:
        t += len(plan.proxy_cases) * (len(plan.proxy_backends) + 2) * plan.rounds * (run + 1.0)
    if "storage" in sections:
        t += bench_storage.estimate_seconds(plan)
    return t


def machine_info():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cpus_online": os.cpu_count(), "kernel": " ".join(platform.uname()[2:5:2]),
            "os": distro(), "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


def distro():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def program_versions():
    """The peers' and tools' versions, for the report (those installed)."""
    out = []
    for argv, pattern in [(["nginx", "-v"], r"nginx/\S+"), (["h2o", "--version"], r"h2o version \S+"),
                          (["haproxy", "-v"], r"HAProxy version \S+"),
                          (["wrk", "-v"], r"wrk \S+"), (["valgrind", "--version"], r"valgrind-\S+"),
                          (["g++", "--version"], r"g\+\+ .*")]:
        if not shutil.which(argv[0]):
            continue
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(pattern, r.stdout.decode(errors="replace"))
        if m:
            out.append(m.group(0).strip())
    return out


def git_commit():
    def git(*a):
        try:
            return subprocess.run(["git", "-C", ROOT, *a], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def parse_args(argv):
    a = argparse.ArgumentParser(description=__doc__.split("\nUsage:")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--quick", action="store_true", help="the two-minute subset (make bench QUICK=1)")
    a.add_argument("--build", default=os.path.join(ROOT, "build"), help="build dir [build]")
    a.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, of: " + ",".join(SECTIONS))
    a.add_argument("--rounds", type=int, default=0, help="rounds per case [3; quick 1]")
    a.add_argument("--seconds", type=float, default=0, help="measured seconds per run [3; quick 1]")
    a.add_argument("--warmup", type=float, default=None, help="warm-up seconds per run [1; quick 0.5]")
    a.add_argument("--idle-connections", type=int, default=10000, help="memory section [10000]")
    a.add_argument("--cases", default="", help="only these cases (comma-separated, e.g. "
                   "100x512,plaintext-64,work0-c100) [all]")
    a.add_argument("--echo-cases", default="", help="echo: CONNECTIONSxBYTES,... [100x512,100x16384]")
    a.add_argument("--echo-backends", default="", help="echo: tern-echo's backends [epoll,uring,poll]")
    a.add_argument("--http-cases", default="", help="http: of %s [%s]" % (
        ",".join(HTTP_CASES), "plaintext-64,pipelined-64,static-4k,static-1m"))
    a.add_argument("--http-backends", default="", help="http, memory: tern-httpd's [epoll,uring]")
    a.add_argument("--patterns-cells", default="",
                   help="patterns: WORK_USxCONNECTIONS,... [0x100,100x100]")
    a.add_argument("--patterns-threads", default="", help="patterns: the {T} values [1,2]")
    a.add_argument("--proxy-cases", default="", help="proxy: of %s [all; quick %s]" % (
        ",".join(bench_proxy.PROXY_CASES), ",".join(bench_proxy.QUICK_CASES)))
    a.add_argument("--proxy-backends", default="", help="proxy: tern-proxy's [epoll,uring]")
    a.add_argument("--tern-proxy", default="", metavar="PATH",
                   help="proxy: this tern-proxy binary [BUILD/apps/tern-proxy]")
    a.add_argument("--compare", default="", metavar="BUILD[:LABEL]",
                   help="also tern-echo and tern-httpd of another build (say, the commit a change "
                        "started from), in the same interleaved rounds")
    a.add_argument("--server-cpu", type=int, default=0)
    a.add_argument("--client-cpu", type=int, default=1)
    a.add_argument("--port-base", type=int, default=19000)
    a.add_argument("--out", default="", help="results dir [bench/results/<UTC date>, then -<sections> when not all "
                   "run, -quick with --quick]")
    a.add_argument("--command", default="", help="the command to show in the report [this one]")
    a.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                   help="the page whose 'make bench' region gets the latest tables and plots "
                        "(plots copied to img/bench/ beside it) [docs/benchmarks.md]")
    a.add_argument("--update-docs", action=argparse.BooleanOptionalAction, default=None,
                   help="rewrite the sections run in --docs [yes, but not with --quick: a quick "
                        "run is a smoke run]")
    args = a.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        a.error("unknown section(s) %s (known: %s)" % (", ".join(bad), ", ".join(SECTIONS)))
    args.section_list = sections
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]

    def pairs(text, flag):
        try:
            out = [tuple(int(x) for x in item.strip().split("x")) for item in text.split(",")
                   if item.strip()]
        except ValueError:
            out = [()]
        if any(len(p) != 2 for p in out):
            a.error("%s: want AxB,... with integers (got '%s')" % (flag, text))
        return out

    def names(text):
        return [x.strip() for x in text.split(",") if x.strip()]
    args.echo_cases = pairs(args.echo_cases, "--echo-cases")
    if any(c < 1 or b < 1 for c, b in args.echo_cases):
        a.error("--echo-cases: connections and bytes must be at least 1")
    args.patterns_cells = pairs(args.patterns_cells, "--patterns-cells")
    if any(w < 0 or c < 1 for w, c in args.patterns_cells):
        a.error("--patterns-cells: work_us >= 0, connections >= 1")
    args.echo_backends = names(args.echo_backends)
    args.http_backends = names(args.http_backends)
    args.http_cases = names(args.http_cases)
    if any(c not in HTTP_CASES for c in args.http_cases):
        a.error("--http-cases: known cases are %s" % ", ".join(HTTP_CASES))
    args.proxy_cases = names(args.proxy_cases)
    args.proxy_backends = names(args.proxy_backends)
    if any(c not in bench_proxy.PROXY_CASES for c in args.proxy_cases):
        a.error("--proxy-cases: known cases are %s" % ", ".join(bench_proxy.PROXY_CASES))
    try:
        args.patterns_threads = [int(t) for t in names(args.patterns_threads)]
    except ValueError:
        a.error("--patterns-threads: want integers")
    if any(t < 1 for t in args.patterns_threads):
        a.error("--patterns-threads: at least 1")
    if args.compare and not os.path.isdir(args.compare.partition(":")[0]):
        a.error("--compare: no directory %s" % args.compare.partition(":")[0])
    if args.rounds < 0 or args.seconds < 0 or (args.warmup is not None and args.warmup < 0):
        a.error("--rounds, --seconds and --warmup must not be negative")
    if args.idle_connections < 1:
        a.error("--idle-connections must be at least 1")
    ncpu = os.cpu_count() or 1
    if not (0 <= args.server_cpu < ncpu and 0 <= args.client_cpu < ncpu):
        a.error("--server-cpu / --client-cpu must be below the %d online CPUs" % ncpu)
    return args


def should_update_docs(args, interrupted):
    """A full run (every section, or those asked for) rewrites its sections of --docs; a quick
    run is a smoke run and leaves the page alone unless --update-docs says so; an interrupted
    run never writes it (its figures are partial)."""
    if interrupted:
        return False
    return (not args.quick) if args.update_docs is None else args.update_docs


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def default_out(now, plan, sections):
    """bench/results/<UTC date>[-<sections>][-quick]: a run of some sections only never
    overwrites the day's full run (make bench-proxy after make bench)."""
    name = now.strftime("%Y-%m-%d")
    if sorted(sections) != sorted(SECTIONS):
        name += "-" + "-".join(sections)
    if plan.quick:
        name += "-quick"
    return os.path.join(ROOT, "bench", "results", name)


def main(argv):
    args = parse_args(argv)
    plan = Plan(args)
    now = datetime.datetime.now(datetime.timezone.utc)
    out = args.out or default_out(now, plan, args.section_list)
    if shutil.which("taskset") is None:
        print("bench.py: taskset (util-linux) is required", file=sys.stderr)
        return 2
    ctx = Context(args, plan)
    signal.signal(signal.SIGTERM, on_sigterm)
    est = estimate_seconds(plan, args.section_list)
    log("make bench%s: sections %s, %d rounds of %.1f s warm-up + %.1f s; about %d min %02d s; "
        "servers on CPU %d, clients on CPU %d; fd limit %d; results in %s" % (
            " (quick)" if plan.quick else "", ",".join(args.section_list), plan.rounds, plan.warmup,
            plan.seconds, est // 60, est % 60, args.server_cpu, args.client_cpu, ctx.nofile, rel(out)))
    meta = {"command": args.command or " ".join(["bench/bench.py"] + argv),
            "date": now.strftime("%Y-%m-%d %H:%M:%S UTC"), "git_commit": git_commit(),
            "machine": machine_info(), "quick": plan.quick, "build": rel(ctx.build),
            "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
            "rounds": plan.rounds, "seconds": plan.seconds, "warmup": plan.warmup,
            "patterns": {"rounds": plan.patterns_rounds, "seconds": plan.patterns_seconds,
                         "threads": plan.patterns_threads},
            "idle_connections": plan.idle_connections, "idle_rounds": plan.idle_rounds,
            "versions": program_versions(), "sections": args.section_list,
            "case_labels": {name: case[3] for name, case in HTTP_CASES.items()},
            "tern_bench": rel(ctx.tern_bench)}
    interrupted = False
    try:
        make_www(ctx)
        needs_client = [s for s in args.section_list if s != "instructions"]
        if needs_client and not os.access(ctx.tern_bench, os.X_OK):
            for s in needs_client:
                ctx.skip(s, "the whole section", "tern-bench not built: %s (make build)" % rel(ctx.tern_bench))
            sections = [s for s in args.section_list if s == "instructions"]
        else:
            sections = args.section_list
        for s in sections:
            log("---- section %s" % s)
            globals()["section_" + s](ctx)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping every process started, writing what was measured")
    finally:
        procs.kill_all_live()
    meta["elapsed_s"] = round(time.monotonic() - START, 1)
    meta["interrupted"] = interrupted
    meta["skipped"] = [{"section": s, "what": w, "why": y} for s, w, y in ctx.skipped]
    meta["commands"] = ctx.commands
    meta["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    os.makedirs(out, exist_ok=True)
    report.write_all(out, meta, ctx.rows)
    shutil.rmtree(ctx.tmp, ignore_errors=True)
    log("wrote %s/report.md, results.csv, results.json" % rel(out))
    plot = os.path.join(ROOT, "bench", "plot.py")
    if interrupted:
        return 130
    if os.path.exists(plot):
        log("plots: python3 bench/plot.py %s" % rel(out))
        try:
            r = subprocess.run([sys.executable, plot, out], timeout=300, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                log("bench/plot.py failed (exit status %d)" % r.returncode)
            report.append_plots(out)
        except subprocess.TimeoutExpired:
            log("bench/plot.py ran over 300 s: killed, no plots")
    else:
        log("SKIPPED: plots: bench/plot.py absent")
    docs_failed = False
    if should_update_docs(args, interrupted):
        try:
            written = report.update_docs(args.docs, out, meta, ctx.rows)
            log("updated %s (sections %s), plots in %s" % (
                rel(args.docs), ",".join(meta["sections"]), rel(written)))
        except (OSError, ValueError) as e:
            docs_failed = True
            log("FAILED: updating %s: %s" % (rel(args.docs), e))
    else:
        log("%s left alone (%s)" % (rel(args.docs), "quick run: --update-docs to write it"
                                    if plan.quick else "--no-update-docs"))
    failures = sum(1 for r in ctx.rows if r["status"] != "ok")
    log("done in %.0f s: %d runs, %d FAILED, %d skipped" % (
        time.monotonic() - START, len(ctx.rows), failures, len(ctx.skipped)))
    return 1 if failures or ctx.skipped or docs_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
