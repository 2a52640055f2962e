#!/usr/bin/env python3
"""bench_orchestrator_test: bench/bench.py (make bench) turns every kind of failed run into a
FAILED row with its reason, never a figure, and leaves no process behind.  The servers are
small fakes (this file run with --fake-server MODE PORT) that misbehave in one way each; the
client is the real tern-bench.  And the docs/benchmarks.md region it rewrites (on a copy):
only the sections that ran, text outside the markers byte for byte, idempotent.  The proxy
section likewise, with a fake tern-proxy (this file run with --fake-proxy) in front of fake
tern-httpd upstreams (--fake-httpd).  And the storage section, with a fake redis-server
(--fake-redis, a small RESP server), redis-benchmark (--fake-redis-benchmark), tern-kv
(--fake-kv), tern-proxy (--fake-kv-proxy) and store_bench (--fake-store-bench), and a few
thousand operations at most.  Run by CTest:
  python3 tests/bench_orchestrator_test.py --tern-bench build/apps/tern-bench"""

import argparse
import csv
import http.server
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench          # noqa: E402
import bench_procs    # noqa: E402
import bench_proxy    # noqa: E402
import bench_report   # noqa: E402
import bench_storage  # noqa: E402

TERN_BENCH = None


# ------------------------------------------------------------------------- the fake servers
def fake_server(mode, port):
    """An echo server on 127.0.0.1:port that prints tern-echo's banner and then misbehaves
    as `mode` says: ok (echoes), fallback (its banner names epoll), corrupt (flips a bit of
    every chunk), die (exits with status 3 after 0.5 s)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    backend = "epoll" if mode == "fallback" else "uring"
    print("tern-echo: listening on 127.0.0.1:%d (backend %s, model single, pattern emulated, "
          "threads 1, workers 0, codec raw)" % (port, backend), flush=True)

    def serve(conn):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if mode == "corrupt":
                data = bytes([data[0] ^ 1]) + data[1:]
            conn.sendall(data)
    started = time.monotonic()
    listener.settimeout(0.05)
    while not (mode == "die" and time.monotonic() - started > 0.5):
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    os._exit(3)


def flag_value(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def http_server(port, routes):
    """A keep-alive HTTP/1.1 server on 127.0.0.1:port answering GET path with routes[path]
    (bytes, or a function giving them) and 200, anything else 404; served by threads of its
    own."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = routes.get(self.path)
            body = body() if callable(body) else body
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"not found"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fake_httpd(mode, argv):
    """tern-httpd's command line and banner, /plaintext; mode ok, or die (exit status 3 one
    second after it is listening)."""
    port = int(flag_value(argv, "--port"))
    http_server(port, {"/plaintext": b"Hello, World!"})
    print("tern-httpd: listening on 127.0.0.1:%d (backend epoll, model single)" % port, flush=True)
    if mode == "die":
        time.sleep(1.0)
        os._exit(3)
    threading.Event().wait()


def fake_proxy(mode, argv):
    """tern-proxy's command line, banners and admin API, answering /plaintext itself (what the
    orchestrator checks is the same): mode ok; wrong-mode (its banner names the other mode);
    no-admin (the admin port never listens); bad-admin (its JSON has no connect counters)."""
    asked = flag_value(argv, "--mode")
    port = int(flag_value(argv, "--listen").rsplit(":", 1)[1])
    admin = int(flag_value(argv, "--admin").rsplit(":", 1)[1])
    upstreams = [argv[i + 1] for i, a in enumerate(argv) if a == "--upstream"]
    # Each GET /upstreams adds 1/99 and 4/46 connects/reuses to upstreams 1 and 2: between two
    # GETs 145 of 150 checkouts reused a connection (another ratio than either one's alone,
    # and than the totals since the start).
    gets = []

    def upstreams_json():
        gets.append(1)
        counts = [{"connects": 1 * len(gets), "reuses": 99 * len(gets)},
                  {"connects": 4 * len(gets) + 7, "reuses": 46 * len(gets)}]
        return json.dumps({"mode": asked, "balance": "round-robin", "loops": 1, "upstreams": [
            dict(name=u, requests=100, **({} if mode == "bad-admin" else counts[i]))
            for i, u in enumerate(upstreams)]}).encode()
    http_server(port, {"/plaintext": b"Hello, World!"})
    shown = {"http": "tcp", "tcp": "http"}[asked] if mode == "wrong-mode" else asked
    print("tern-proxy: listening on 127.0.0.1:%d (mode %s, balance round-robin, backend %s, "
          "model single, threads 1)" % (port, shown, flag_value(argv, "--backend")), flush=True)
    if mode != "no-admin":
        http_server(admin, {"/upstreams": upstreams_json})
        print("tern-proxy: admin on 127.0.0.1:%d" % admin, flush=True)
    threading.Event().wait()


# ------------------------------------------------------------------------- storage fakes
def kv_http_server(port, get_routes=None):
    """tern-kv's API over a dict on 127.0.0.1:port (PUT /kv/K: 201 new, 204 replaced; GET
    /kv/K: 200 the value, 404), plus GET get_routes[path] (a function giving the bytes)."""
    store, lock = {}, threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body=b""):
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

        def do_PUT(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                new = self.path not in store
                store[self.path] = body
            self.reply(201 if new else 204)

        def do_GET(self):
            if get_routes and self.path in get_routes:
                return self.reply(200, get_routes[self.path]())
            with lock:
                body = store.get(self.path)
            self.reply(404, b"no such key") if body is None else self.reply(200, body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fake_kv(mode, argv):
    """tern-kv's command line, banner and API (mode ok)."""
    port = int(flag_value(argv, "--port"))
    kv_http_server(port)
    print("tern-kv: listening on 127.0.0.1:%d (store %s (durability %s), backend %s, model "
          "single)" % (port, flag_value(argv, "--store"), flag_value(argv, "--durability"),
                       flag_value(argv, "--backend")), flush=True)
    threading.Event().wait()


def fake_kv_proxy(mode, argv):
    """tern-proxy's command line, banners and admin API, answering tern-kv's API itself; each
    GET /upstreams adds 3 retries (so a run between two GETs shows 3)."""
    port = int(flag_value(argv, "--listen").rsplit(":", 1)[1])
    admin = int(flag_value(argv, "--admin").rsplit(":", 1)[1])
    gets = []

    def upstreams_json():
        gets.append(1)
        return json.dumps({"mode": "http", "requests": 10, "retries": 3 * len(gets),
                           "retry_budget_refused": 0, "status_502": 0, "status_503": 0,
                           "status_504": 0, "upstreams": []}).encode()
    kv_http_server(port)
    print("tern-proxy: listening on 127.0.0.1:%d (mode http, balance round-robin, backend %s, "
          "model single, threads 1)" % (port, flag_value(argv, "--backend")), flush=True)
    kv_http_server(admin, {"/upstreams": upstreams_json})
    print("tern-proxy: admin on 127.0.0.1:%d" % admin, flush=True)
    threading.Event().wait()


def resp_commands(buf):
    """The complete RESP commands (arrays of bulk strings) at the start of buf -> (commands,
    the bytes left)."""
    out = []
    while buf.startswith(b"*"):
        end = buf.find(b"\r\n")
        if end < 0:
            break
        count, pos, args = int(buf[1:end]), end + 2, []
        for _ in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return out, buf
            size = int(buf[pos + 1:end])
            if len(buf) < end + 2 + size + 2:
                return out, buf
            args.append(buf[end + 2:end + 2 + size])
            pos = end + 2 + size + 2
        out.append(args)
        buf = buf[pos:]
    return out, buf


def fake_redis(mode, argv):
    """redis-server CONFIG: listens on the config's port, prints its ready line, answers SET
    (+OK), GET (a 3-byte value), PING and anything else (+OK)."""
    with open(argv[0]) as f:
        port = int(next(l.split()[1] for l in f if l.startswith("port ")))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print("1:M * Ready to accept connections tcp", flush=True)
    replies = {b"SET": b"+OK\r\n", b"GET": b"$3\r\nxxx\r\n", b"PING": b"+PONG\r\n"}

    def serve(conn):
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            commands, buf = resp_commands(buf + data)
            if commands:
                conn.sendall(b"".join(replies.get(c[0].upper(), b"+OK\r\n") for c in commands))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def fake_redis_benchmark(mode, argv):
    """redis-benchmark -t CMD --csv: prints its CSV (mode ok) or nothing (silent), exit 0."""
    if mode == "ok":
        print('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",'
              '"p95_latency_ms","p99_latency_ms","max_latency_ms"')
        print('"%s","12345.60","0.500","0.100","0.400","1.000","2.500","3.000"' %
              flag_value(argv, "-t").upper())
    sys.exit(0)


def fake_store_bench(mode, argv):
    """store_bench's round lines (group commit 40x one transaction per PUT); mode fail: a put
    failed, exit status 1."""
    for rnd in range(1, int(flag_value(argv, "--rounds")) + 1):
        print("round %d %-22s %10.0f puts/s  %6.1f puts/transaction" % (rnd, "group commit",
                                                                       4000 * rnd, 40.0))
        print("round %d %-22s %10.0f puts/s  %6.1f puts/transaction" % (
            rnd, "one transaction/put", 100 * rnd, 1.0))
    if mode == "fail":
        print("  3 puts failed")
        sys.exit(1)
    sys.exit(0)


STORAGE_FAKES = {"--fake-kv": fake_kv, "--fake-kv-proxy": fake_kv_proxy,
                 "--fake-redis": fake_redis, "--fake-redis-benchmark": fake_redis_benchmark,
                 "--fake-store-bench": fake_store_bench}


# ------------------------------------------------------------------------- the tests
class BenchOrchestratorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        args = bench.parse_args(["--quick", "--port-base", "23000"])
        cls.ctx = bench.Context(args, bench.Plan(args))
        cls.ctx.tern_bench = TERN_BENCH
        bench.make_www(cls.ctx)

    @classmethod
    def tearDownClass(cls):
        bench_procs.kill_all_live()
        shutil.rmtree(cls.ctx.tmp, ignore_errors=True)

    def spec(self, mode, backend="uring"):
        return bench.ServerSpec(mode, lambda port: [sys.executable, __file__, "--fake-server",
                                                    mode, str(port)],
                                "fake " + mode, banner=r"^tern-echo: listening on",
                                backend=backend)

    def echo_run(self, spec):
        """One echo run of `spec` as the echo section does it (4 connections, 1 s)."""
        row = bench.new_row("echo", "4x512", spec.name, spec.backend, "", 1)
        pids = []

        def measure(port, server, row):
            pids.append(server.pid)
            argv = bench.tern_bench_argv(self.ctx, "echo", ["-c", "4", "-s", "512", "-d", "1",
                                                            "-w", "0"],
                                         "127.0.0.1:%d" % port, server.pid)
            doc, why = bench.run_tern_bench(self.ctx, "echo", argv, 30, row)
            return why or bench.fill_from_tern_bench(row, doc)
        row = bench.run_with_server(self.ctx, spec, row, measure)
        self.assertEqual(bench_procs.LIVE, {}, "a process was left unreaped")
        for pid in pids:
            self.assertFalse(bench_procs.alive(pid), "server %d still running" % pid)
        return row

    def test_a_good_server_gives_figures(self):
        row = self.echo_run(self.spec("ok"))
        self.assertEqual(row["status"], "ok", row["note"])
        self.assertGreater(row["requests_per_s"], 0)
        self.assertNotEqual(row["p99_us"], "")
        self.assertNotEqual(row["cpu_us_per_request"], "")

    def test_a_server_that_cannot_start_is_failed(self):
        spec = bench.ServerSpec("false", lambda port: ["false"], "false")
        row = self.echo_run(spec)
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("did not start listening", row["note"])

    def test_another_backend_than_asked_is_failed(self):
        row = self.echo_run(self.spec("fallback"))
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("ran the epoll backend, not uring", row["note"])
        self.assertEqual(row["requests_per_s"], "")

    def test_wrong_bytes_are_failed(self):
        row = self.echo_run(self.spec("corrupt"))
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("mismatch", row["note"])

    def test_a_server_that_dies_is_failed(self):
        row = self.echo_run(self.spec("die"))
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("the server died during the run (exit status 3", row["note"])

    def test_a_wrong_http_answer_is_failed(self):
        # Python's own file server, on a directory without /plaintext: a 404, not a figure.
        spec = bench.ServerSpec("http.server", lambda port: [
            sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
            self.ctx.tmp, str(port)], "http.server")
        row = bench.new_row("http", "plaintext-64", spec.name, "", "", 1)
        row = bench.run_with_server(self.ctx, spec, row, lambda port, server, row: "",
                                    precheck=lambda port: bench.check_http(port, self.ctx))
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("GET /plaintext answered 404", row["note"])
        self.assertEqual(bench_procs.LIVE, {})

    def test_the_outputs_keep_failed_runs_with_their_reason(self):
        rows = [self.echo_run(self.spec("ok")), self.echo_run(self.spec("corrupt"))]
        out = tempfile.mkdtemp(prefix="bench-orchestrator-test.")
        self.addCleanup(shutil.rmtree, out, True)
        meta = {"command": "test", "date": "today", "git_commit": "", "quick": True,
                "machine": {"cpu": "", "cpus_online": 2, "kernel": "", "os": "",
                            "loadavg_at_start": [], "loadavg_at_end": []},
                "server_cpu": 0, "client_cpu": 1, "rounds": 1, "seconds": 1, "warmup": 0,
                "patterns": {"rounds": 1, "seconds": 1}, "elapsed_s": 1, "interrupted": False,
                "sections": ["echo"], "skipped": [], "commands": {}, "tern_bench": TERN_BENCH}
        bench_report.write_all(out, meta, rows)
        with open(os.path.join(out, "results.csv")) as f:
            table = list(csv.DictReader(f))
        self.assertEqual(list(table[0].keys()), bench_report.CSV_COLUMNS)
        self.assertEqual([r["status"] for r in table], ["ok", "FAILED"])
        self.assertIn("mismatch", table[1]["note"])
        with open(os.path.join(out, "results.json")) as f:
            doc = json.load(f)
        self.assertEqual(set(doc), {"meta", "runs", "latency_cdf"})
        self.assertIn("echo/4x512/ok", doc["latency_cdf"])
        self.assertNotIn("echo/4x512/corrupt", doc["latency_cdf"])
        with open(os.path.join(out, "report.md")) as f:
            text = f.read()
        self.assertIn("## FAILED runs", text)
        self.assertIn("| corrupt | – |", text)  # no median for a server with no ok run
        self.assertTrue(os.path.exists(os.path.join(out, bench_report.failed_name(rows[1]))))
        # tern-bench's per-second counts are kept per run, for the steadiness plot.
        series = doc["runs"][0].get("series")
        self.assertTrue(series, "results.json lost tern-bench's series")
        self.assertGreater(sum(p["requests"] for p in series), 0)


class BenchProxySectionTest(unittest.TestCase):
    """The proxy section: a tern-proxy not built, one that runs another mode, has no admin
    port or a wrong admin JSON, an upstream that dies: each a FAILED row with its reason, and
    no process left; a good one gives figures, the reuse ratio and the RSS."""

    def setUp(self):
        self.build = tempfile.mkdtemp(prefix="bench-proxy-test.")
        self.addCleanup(shutil.rmtree, self.build, True)
        os.makedirs(os.path.join(self.build, "apps"))
        self.started = os.path.join(self.build, "started")  # "NAME PID" per fake started
        self.addCleanup(bench_procs.kill_all_live)  # a failing test leaves no fake running

    def fake(self, name, flag, mode):
        """A fake build/apps/NAME: this file run with `flag mode` and the program's arguments."""
        path = os.path.join(self.build, "apps", name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"%s $$\" >> '%s'\nexec '%s' '%s' %s %s \"$@\"\n" % (
                name, self.started, sys.executable, os.path.abspath(__file__), flag, mode))
        os.chmod(path, 0o755)

    def started_pids(self):
        if not os.path.exists(self.started):
            return []
        with open(self.started) as f:
            return [(line.split()[0], int(line.split()[1])) for line in f if line.strip()]

    def run_section(self, proxy_mode=None, httpd_mode="ok", peers=()):
        """The section with one case (http, 4 connections) and the fakes; haproxy and nginx
        are "not installed" unless named in `peers`.  -> (ctx, rows)."""
        self.fake("tern-httpd", "--fake-httpd", httpd_mode)
        if proxy_mode:
            self.fake("tern-proxy", "--fake-proxy", proxy_mode)
        real_which = shutil.which
        with mock.patch.dict(bench_proxy.PROXY_CASES, {"http-4": ("http", 4, "test case")}), \
                mock.patch("shutil.which", side_effect=lambda name: (
                    None if name in ("haproxy", "nginx") and name not in peers
                    else real_which(name))):
            args = bench.parse_args(["--quick", "--port-base", "24000", "--build", self.build,
                                     "--proxy-backends", "epoll", "--proxy-cases", "http-4"])
            ctx = bench.Context(args, bench.Plan(args))
            self.addCleanup(shutil.rmtree, ctx.tmp, True)
            ctx.tern_bench = TERN_BENCH
            bench.make_www(ctx)
            bench.section_proxy(ctx)
        self.assertEqual(bench_procs.LIVE, {}, "a process was left unreaped")
        for name, pid in self.started_pids():
            self.assertFalse(bench_procs.alive(pid), "%s %d still running" % (name, pid))
        return ctx, [r for r in ctx.rows if r["section"] == "proxy"]

    def one_row(self, rows):
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def test_a_proxy_not_built_is_a_failed_row_and_starts_nothing(self):
        ctx, rows = self.run_section(proxy_mode=None)
        row = self.one_row(rows)
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("tern-proxy not built", row["note"])
        self.assertEqual(self.started_pids(), [], "upstreams started for a proxy not built")
        skipped = {what for section, what, _ in ctx.skipped if section == "proxy"}
        self.assertEqual(skipped, {"haproxy", "nginx"})

    def test_a_good_proxy_gives_figures_the_reuse_ratio_and_its_rss(self):
        _, rows = self.run_section("ok")
        row = self.one_row(rows)
        self.assertEqual(row["status"], "ok", row["note"])
        self.assertGreater(row["requests_per_s"], 0)
        self.assertNotEqual(row["p99_us"], "")
        self.assertNotEqual(row["cpu_us_per_request"], "")
        self.assertAlmostEqual(row["reuse_ratio"], 145 / 150)  # summed over the 2 upstreams
        self.assertGreater(row["rss_kib"], 1000)
        self.assertIn("--mode http", row["config"])
        self.assertEqual(sorted(n for n, _ in self.started_pids()),
                         ["tern-httpd", "tern-httpd", "tern-proxy"])

    def test_another_mode_than_asked_is_failed(self):
        row = self.one_row(self.run_section("wrong-mode")[1])
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("ran mode tcp, not http", row["note"])
        self.assertEqual(row["requests_per_s"], "")

    def test_an_admin_port_that_never_listens_is_failed(self):
        row = self.one_row(self.run_section("no-admin")[1])
        self.assertEqual(row["status"], "FAILED")
        self.assertRegex(row["note"], r"admin port \d+ was not listening")

    def test_an_admin_answer_without_counters_is_failed(self):
        row = self.one_row(self.run_section("bad-admin")[1])
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("lacks integer connects/reuses", row["note"])

    def test_an_upstream_that_dies_is_failed(self):
        row = self.one_row(self.run_section("ok", httpd_mode="die")[1])
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("upstream 1 (tern-httpd) died during the run (exit status 3", row["note"])

    def test_nginx_without_its_stream_module_runs_http_mode_only(self):
        args = bench.parse_args(["--quick", "--build", self.build])
        ctx = bench.Context(args, bench.Plan(args))
        self.addCleanup(shutil.rmtree, ctx.tmp, True)
        with mock.patch("shutil.which", side_effect=lambda name: "/usr/sbin/" + name), \
                mock.patch.object(bench_proxy, "NGINX_STREAM_MODULES", [self.build + "/none.so"]):
            kinds = {k.name: k for k in bench.proxy_kinds(ctx)}
        self.assertEqual(sorted(kinds), ["haproxy", "nginx", "tern-proxy epoll",
                                         "tern-proxy uring"])
        self.assertEqual(kinds["nginx"].modes, ("http",))
        self.assertEqual(kinds["haproxy"].modes, ("http", "tcp"))
        self.assertIn("not built", kinds["tern-proxy uring"].missing)
        self.assertIn(("proxy", "nginx, TCP mode"), [(s, w) for s, w, _ in ctx.skipped])


class BenchProxyReportTest(unittest.TestCase):
    def rows(self, tern_cpu, tern_p99=90.0):
        rows = []
        for server, cpu, p99, reuse in [("tern-proxy epoll", tern_cpu, tern_p99, 0.999),
                                        ("haproxy", 12.0, 100.0, ""), ("nginx", 15.0, 120.0, "")]:
            row = fake_row("proxy", "http-64", server, 1, 20000.0)
            row.update(cpu_us_per_request=cpu, p99_us=p99, reuse_ratio=reuse, rss_kib=2048)
            rows.append(row)
        rows.append(fake_row("proxy", "http-64", "tern-proxy uring", 1, 0, "FAILED",
                             "tern-proxy not built: build/apps/tern-proxy"))
        return rows

    def render(self, rows):
        return bench_report.render_section({"server_cpu": 0}, rows, "proxy")

    def test_the_table_and_the_goal_line(self):
        text = self.render(self.rows(8.0))
        self.assertIn("| tern-proxy epoll | 20,000 | – | 40.0 | 90.0 | 8.00 | – | 1.50 | 1.88 "
                      "| 99% | 2.0 | 99.90% | 1/1 ok |", text)
        self.assertIn("| tern-proxy uring | – |", text)
        self.assertIn("0/1 ok, 1 FAILED", text)
        self.assertIn("haproxy ÷ this 1.50 (goal 1.3: met), p99 90.0 against 100 µs (no worse)",
                      text)
        self.assertIn("Upstream reuse 99.90% (goal above 99%: met)", text)

    def test_a_goal_not_met_says_so(self):
        text = self.render(self.rows(10.0, tern_p99=110.0))
        self.assertIn("haproxy ÷ this 1.20 (goal 1.3: NOT met), p99 110 against 100 µs "
                      "(WORSE)", text)
        self.assertIn("nginx ÷ this 1.50 (goal 1.3: met)", text)

    def test_no_tern_proxy_figure_is_said(self):
        rows = [r for r in self.rows(8.0) if r["server"] != "tern-proxy epoll"]
        self.assertIn("no tern-proxy figure in this case", self.render(rows))

    def test_reuse_between_two_admin_answers(self):
        def doc(*counts):
            return {"upstreams": [{"connects": c, "reuses": r} for c, r in counts]}
        self.assertEqual(bench_proxy.reuse_between(doc((2, 0), (2, 0)), doc((3, 99), (5, 97))),
                         (4, 196, 0.98, ""))
        for bad in ({}, {"upstreams": []}, {"upstreams": [{"connects": 1}]}):
            self.assertNotEqual(bench_proxy.reuse_between(bad, doc((1, 1)))[3], "", bad)
            self.assertNotEqual(bench_proxy.reuse_between(doc((1, 1)), bad)[3], "", bad)
        self.assertIn("no upstream connection", bench_proxy.reuse_between(doc((1, 1)),
                                                                          doc((1, 1)))[3])
        self.assertIn("went down", bench_proxy.reuse_between(doc((5, 5)), doc((1, 1)))[3])


class BenchStorageSectionTest(unittest.TestCase):
    """The storage section against fakes: each kind of case gives its figures (the client's
    CPU per operation, the kill halfway, store_bench's rounds), a program not built is a
    FAILED row that starts nothing, a peer not installed is skipped visibly; no process is
    left behind."""

    def setUp(self):
        self.build = tempfile.mkdtemp(prefix="bench-storage-test.")
        self.addCleanup(shutil.rmtree, self.build, True)
        for d in ("apps", "bench", "bin"):
            os.makedirs(os.path.join(self.build, d))
        self.started = os.path.join(self.build, "started")
        self.which = {}   # program name -> fake path, or None: not installed
        self.addCleanup(bench_procs.kill_all_live)

    def fake(self, where, name, flag, mode="ok"):
        path = os.path.join(self.build, where, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"%s $$\" >> '%s'\nexec '%s' '%s' %s %s \"$@\"\n" % (
                name, self.started, sys.executable, os.path.abspath(__file__), flag, mode))
        os.chmod(path, 0o755)
        if where == "bin":
            self.which[name] = path

    def started_pids(self):
        if not os.path.exists(self.started):
            return []
        with open(self.started) as f:
            return [(line.split()[0], int(line.split()[1])) for line in f if line.strip()]

    def run_section(self, cases):
        real_which = shutil.which
        with mock.patch("shutil.which", side_effect=lambda name: (
                self.which[name] if name in self.which else real_which(name))), \
                mock.patch.object(bench_storage, "MIN_OPS", 500), \
                mock.patch.object(bench_storage, "MAX_OPS", 2000), \
                mock.patch.object(bench_storage, "CALIBRATION_SECONDS", 0.2), \
                mock.patch.object(bench_storage, "RESP_CONNECTIONS", 4), \
                mock.patch.object(bench_storage, "KV_CONNECTIONS", 4):
            args = bench.parse_args(["--quick", "--port-base", "25000", "--build", self.build,
                                     "--sections", "storage", "--cases", ",".join(cases)])
            ctx = bench.Context(args, bench.Plan(args))
            self.addCleanup(shutil.rmtree, ctx.tmp, True)
            ctx.tern_bench = TERN_BENCH
            ctx.plan.storage_cases = list(bench_storage.CASES)
            bench.section_storage(ctx)
        self.assertEqual(bench_procs.LIVE, {}, "a process was left unreaped")
        for name, pid in self.started_pids():
            self.assertFalse(bench_procs.alive(pid), "%s %d still running" % (name, pid))
        return ctx, {(r["case"], r["server"]): r for r in ctx.rows if r["section"] == "storage"}

    def test_resp_both_clients_give_their_cpu_per_operation(self):
        self.fake("bin", "redis-server", "--fake-redis")
        self.fake("bin", "redis-benchmark", "--fake-redis-benchmark")
        _, rows = self.run_section(["resp-set-p1"])
        self.assertEqual(set(rows), {("resp-set-p1", bench_storage.TERN_CLIENT),
                                     ("resp-set-p1", bench_storage.PEER_CLIENT)})
        for row in rows.values():
            self.assertEqual(row["status"], "ok", row["note"])
            self.assertGreater(row["client_cpu_us_per_request"], 0)
            self.assertNotEqual(row["cpu_us_per_request"], "")
            self.assertRegex(row["config"], r"SET, -c 4, depth 1, \d+ ops")
        peer = rows[("resp-set-p1", bench_storage.PEER_CLIENT)]
        self.assertEqual((peer["requests_per_s"], peer["p50_us"], peer["p99_us"]),
                         (12345.6, 400.0, 2500.0))
        tern = rows[("resp-set-p1", bench_storage.TERN_CLIENT)]
        self.assertGreater(tern["requests_per_s"], 0)
        self.assertEqual(tern["config"], peer["config"])  # the same N for both
        self.assertEqual([n for n, _ in self.started_pids()], ["redis-server"] * 3 +
                         ["redis-benchmark"])  # calibration, one per run: a fresh server each

    def test_redis_benchmark_without_its_csv_line_is_failed(self):
        self.fake("bin", "redis-server", "--fake-redis")
        self.fake("bin", "redis-benchmark", "--fake-redis-benchmark", "silent")
        _, rows = self.run_section(["resp-get-p16"])
        row = rows[("resp-get-p16", bench_storage.PEER_CLIENT)]
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("printed no CSV line for GET", row["note"])
        self.assertEqual(rows[("resp-get-p16", bench_storage.TERN_CLIENT)]["status"], "ok")

    def test_a_missing_peer_or_server_is_skipped_visibly(self):
        self.fake("bin", "redis-server", "--fake-redis")
        self.which["redis-benchmark"] = None
        ctx, rows = self.run_section(["resp-set-p1"])
        self.assertEqual(list(rows), [("resp-set-p1", bench_storage.TERN_CLIENT)])
        self.assertIn(("storage", "redis-benchmark"), [(s, w) for s, w, _ in ctx.skipped])
        self.which["redis-server"] = None
        ctx, rows = self.run_section(["resp-set-p1"])
        self.assertEqual(rows, {})
        self.assertTrue(any("redis-server not installed" in why for _, _, why in ctx.skipped))

    def test_tern_kv_not_built_is_a_failed_row_and_starts_nothing(self):
        _, rows = self.run_section(["kv-put-full", "cluster-get"])
        for case in ("kv-put-full", "cluster-get"):
            row = next(r for (c, _), r in rows.items() if c == case)
            self.assertEqual(row["status"], "FAILED")
            self.assertIn("tern-kv not built", row["note"])
        self.assertEqual(self.started_pids(), [])

    def test_tern_kv_put_gives_figures(self):
        self.fake("apps", "tern-kv", "--fake-kv")
        _, rows = self.run_section(["kv-put-normal"])
        row = rows[("kv-put-normal", "tern-kv epoll")]
        self.assertEqual(row["status"], "ok", row["note"])
        self.assertGreater(row["requests_per_s"], 0)
        self.assertNotEqual(row["p99_us"], "")
        self.assertEqual(row["config"], "durability normal")

    def test_group_commit_rows_come_from_store_bench(self):
        self.fake("bench", "store_bench", "--fake-store-bench")
        _, rows = self.run_section(["group-commit"])
        self.assertEqual(rows[("group-commit", bench_storage.GROUP)]["requests_per_s"], 4000.0)
        self.assertEqual(rows[("group-commit", bench_storage.SINGLE)]["requests_per_s"], 100.0)
        self.assertTrue(all(r["status"] == "ok" for r in rows.values()))
        text = bench_report.render_section({}, list(rows.values()), "storage")
        self.assertIn("| group commit | 4,000 | – | 40.0 | 1/1 ok |", text)
        self.assertIn("group commit ÷ one transaction per PUT = 40.0 (goal at least 10: met)",
                      text)

    def test_store_bench_failing_or_missing_is_failed(self):
        self.fake("bench", "store_bench", "--fake-store-bench", "fail")
        _, rows = self.run_section(["group-commit"])
        self.assertEqual(rows[("group-commit", "store_bench")]["status"], "FAILED")
        self.assertIn("store_bench exit status 1: ", rows[("group-commit", "store_bench")]["note"])
        self.assertIn("3 puts failed", rows[("group-commit", "store_bench")]["note"])
        os.remove(os.path.join(self.build, "bench", "store_bench"))
        _, rows = self.run_section(["group-commit"])
        self.assertEqual(sorted(s for _, s in rows), [bench_storage.GROUP, bench_storage.SINGLE])
        for row in rows.values():
            self.assertEqual(row["status"], "FAILED")
            self.assertIn("store_bench not built", row["note"])

    def test_the_cluster_without_tern_proxy_is_failed_and_starts_nothing(self):
        self.fake("apps", "tern-kv", "--fake-kv")
        self.fake("bin", "redis-server", "--fake-redis")
        _, rows = self.run_section(["cluster-put"])
        row = self.only(rows)
        self.assertEqual(row["status"], "FAILED")
        self.assertIn("tern-proxy not built", row["note"])
        self.assertEqual(self.started_pids(), [])

    def only(self, rows):
        self.assertEqual(len(rows), 1, rows)
        return next(iter(rows.values()))

    def test_the_cluster_kill_case_kills_the_second_tern_kv_halfway(self):
        self.fake("apps", "tern-kv", "--fake-kv")
        self.fake("apps", "tern-proxy", "--fake-kv-proxy")
        self.fake("bin", "redis-server", "--fake-redis")
        _, rows = self.run_section(["cluster-put-kill"])
        row = self.only(rows)
        self.assertEqual(row["status"], "ok", row["note"])
        self.assertGreater(row["requests_per_s"], 0)
        self.assertRegex(row["note"], r"tern-kv 2 SIGKILLed 0\.\d s into the measured interval")
        self.assertEqual(row["_retries"], 3)       # the proxy's, between before and after
        self.assertEqual(row["_client_errors"], 0)  # the fake proxy answers itself
        self.assertEqual([n for n, _ in self.started_pids()],
                         ["redis-server", "tern-kv", "tern-kv", "tern-proxy"])


class BenchStorageReportTest(unittest.TestCase):
    def resp_rows(self, case, tern_cpu, peer_cpu):
        rows = []
        for client, cpu in ((bench_storage.TERN_CLIENT, tern_cpu),
                            (bench_storage.PEER_CLIENT, peer_cpu)):
            row = fake_row("storage", case, client, 1, 100000.0)
            row["client_cpu_us_per_request"] = cpu
            rows.append(row)
        return rows

    def test_the_client_cpu_goal_per_case_and_at_both_depths(self):
        rows = (self.resp_rows("resp-set-p1", 2.0, 3.0) + self.resp_rows("resp-get-p1", 2.0, 2.5)
                + self.resp_rows("resp-set-p16", 0.5, 0.4))
        text = bench_report.render_section({}, rows, "storage")
        self.assertIn("| tern-bench (tern RESP) | 100,000 | – | 2.00 | – | 1.50 | 3.00 |", text)
        self.assertIn("redis-benchmark ÷ tern = 1.50 (3.00 against 2.00 µs; goal above 1: met)",
                      text)
        self.assertIn("redis-benchmark ÷ tern = 0.80 (0.40 against 0.50 µs; goal above 1: NOT "
                      "met)", text)
        self.assertIn("depth 1 (SET, GET): met; depth 16 (SET): NOT met.", text)
        group = fake_row("storage", "group-commit", bench_storage.GROUP, 1, 5000.0)
        text = bench_report.render_section({}, rows + [group], "storage")
        self.assertLess(text.index("depth 16 (SET): NOT met."), text.index("Durable PUTs/s"))

    def test_a_missing_figure_is_said_not_met(self):
        rows = self.resp_rows("resp-get-p16", 1.0, 2.0)
        rows[1].update(status="FAILED", client_cpu_us_per_request="")
        text = bench_report.render_section({}, rows, "storage")
        self.assertIn("no redis-benchmark figure in this case", text)
        self.assertIn("depth 16 (GET): not measured in every case", text)
        group = [fake_row("storage", "group-commit", bench_storage.GROUP, 1, 5000.0),
                 fake_row("storage", "group-commit", bench_storage.SINGLE, 1, 1000.0)]
        self.assertIn("= 5.0 (goal at least 10: NOT met)",
                      bench_report.render_section({}, group, "storage"))


# ------------------------------------------------------------------------- docs/benchmarks.md
PAGE = ("# Benchmarks\n\nIntro, edited by hand.\n\n## How to run: `make bench`\n\n"
        "```sh\nmake bench\n```\n\n## Echo throughput (issue 2)\n\nOld figures, by hand.\n")


def fake_meta(sections, date, quick=False):
    return {"command": "make bench --sections %s" % ",".join(sections), "date": date,
            "git_commit": "0123456789abcdef", "quick": quick, "server_cpu": 0, "client_cpu": 1,
            "sections": sections, "skipped": [], "case_labels": {"plaintext-64": "/plaintext"}}


def fake_row(section, case, server, rnd, rps, status="ok", note=""):
    row = bench.new_row(section, case, server, "", "", rnd)
    row.update(requests_per_s=rps, cpu_us_per_request=3.0, busy=0.99, p50_us=40.0,
               p99_us=90.0, status=status, note=note)
    if status != "ok":
        row["requests_per_s"] = ""
    return row


def fake_rows(rps):
    """A results set as bench.py keeps it: echo and http, two rounds, one FAILED run."""
    rows = []
    for rnd in (1, 2):
        rows.append(fake_row("echo", "100x512", "raw epoll loop", rnd, rps))
        rows.append(fake_row("echo", "100x512", "tern-echo epoll", rnd, rps * 0.9))
        rows.append(fake_row("http", "plaintext-64", "tern-httpd epoll", rnd, rps * 2))
    rows.append(fake_row("http", "plaintext-64", "nginx", 1, rps * 2))
    rows.append(fake_row("http", "plaintext-64", "nginx", 2, 0, "FAILED",
                         "the server died during the run (exit status 3)"))
    return rows


class BenchDocsRegionTest(unittest.TestCase):
    """bench_report.update_docs rewrites only the make bench region of the page (and, in it,
    only the sections that ran); a quick run leaves the page alone."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-docs-test.")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.docs = os.path.join(self.dir, "docs", "benchmarks.md")
        os.makedirs(os.path.dirname(self.docs))
        self.write(PAGE)

    def write(self, text):
        with open(self.docs, "w", encoding="utf-8") as f:
            f.write(text)

    def read(self):
        with open(self.docs, encoding="utf-8") as f:
            return f.read()

    def results(self, name, plots):
        """A results dir with fake PNGs (their bytes name them, so a copy can be checked)."""
        out = os.path.join(self.dir, "results", name)
        os.makedirs(out)
        for plot in plots:
            with open(os.path.join(out, plot), "wb") as f:
                f.write(("%s/%s" % (name, plot)).encode())
        return out

    def img(self, name):
        path = os.path.join(self.dir, "docs", "img", "bench", name)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read().decode()

    def update(self, sections, date, rows, plots=(), name=None):
        out = self.results(name or date, plots)
        bench_report.update_docs(self.docs, out, fake_meta(sections, date), rows)
        return self.read()

    def subregion(self, text, section):
        b = text.index(bench_report.section_begin(section))
        e = text.index(bench_report.section_end(section))
        return text[b:e]

    def test_markers_are_inserted_after_how_to_run_and_nothing_else_moves(self):
        text = self.update(["echo", "http"], "day 1", fake_rows(1000.0))
        cut = PAGE.index("## Echo throughput")
        self.assertTrue(text.startswith(PAGE[:cut] + bench_report.DOCS_BEGIN), text)
        self.assertTrue(text.endswith(bench_report.DOCS_END + "\n\n" + PAGE[cut:]), text)

    def test_the_region_is_replaced_and_the_text_outside_is_byte_identical(self):
        before = "# Page\n\nhand text  \n\t\n" + bench_report.DOCS_BEGIN
        after = bench_report.DOCS_END + "\nmore hand text, no final newline"
        self.write(before + "\nstale figures\n" + after)
        text = self.update(["echo", "http"], "day 1", fake_rows(1000.0),
                           plots=["echo-throughput.png", "http-series.png", "memory.png"])
        self.assertTrue(text.startswith(before), text)
        self.assertTrue(text.endswith(after), text)
        self.assertNotIn("stale figures", text)
        echo = self.subregion(text, "echo")
        for expected in ("day 1", "0123456789abcdef", "`make bench --sections echo,http`",
                         "| tern-echo epoll | 900 |", "![echo-throughput](img/bench/"
                         "echo-throughput.png)"):
            self.assertIn(expected, echo)
        self.assertNotIn("http-series", echo)
        self.assertIn("](img/bench/http-series.png)", self.subregion(text, "http"))
        self.assertNotIn("memory.png", text)  # memory did not run
        self.assertEqual(self.img("echo-throughput.png"), "day 1/echo-throughput.png")
        self.assertEqual(self.img("http-series.png"), "day 1/http-series.png")

    def test_failed_runs_are_named_in_the_region(self):
        text = self.update(["http"], "day 1", fake_rows(1000.0))
        http = self.subregion(text, "http")
        self.assertIn("1 FAILED", http)
        self.assertIn("plaintext-64 / nginx, round 2: the server died during the run", http)

    def test_a_second_run_is_idempotent(self):
        rows = fake_rows(1000.0)
        first = self.update(["echo", "http"], "day 1", rows, plots=["echo-cpu.png"])
        second = self.update(["echo", "http"], "day 1", rows, plots=["echo-cpu.png"],
                             name="again")
        self.assertEqual(first.replace("results/day 1/", "results/again/"), second)
        self.assertEqual(second.count(bench_report.DOCS_BEGIN), 1)
        self.assertEqual(second.count(bench_report.section_begin("echo")), 1)

    def test_a_partial_run_keeps_the_other_sections(self):
        first = self.update(["echo", "http"], "day 1", fake_rows(1000.0),
                            plots=["echo-throughput.png", "echo-p99.png", "http-cpu.png"])
        http_rows = [r for r in fake_rows(2000.0) if r["section"] == "http"]
        second = self.update(["http"], "day 2", http_rows, plots=["http-throughput.png"])
        self.assertEqual(self.subregion(first, "echo"), self.subregion(second, "echo"))
        self.assertIn("day 2", self.subregion(second, "http"))
        self.assertNotIn("day 1", self.subregion(second, "http"))
        self.assertLess(second.index(bench_report.section_begin("echo")),
                        second.index(bench_report.section_begin("http")))
        # http's plots are this run's (a plot it did not draw is gone); echo's are untouched.
        self.assertEqual(self.img("http-throughput.png"), "day 2/http-throughput.png")
        self.assertIsNone(self.img("http-cpu.png"))
        self.assertEqual(self.img("echo-p99.png"), "day 1/echo-p99.png")

    def test_broken_markers_are_refused_not_duplicated(self):
        self.write(PAGE + bench_report.DOCS_END + "\n" + bench_report.DOCS_BEGIN + "\n")
        with self.assertRaises(ValueError):
            self.update(["echo"], "day 1", fake_rows(1000.0))
        self.assertEqual(self.read(), PAGE + bench_report.DOCS_END + "\n" +
                         bench_report.DOCS_BEGIN + "\n")

    def test_a_quick_run_leaves_the_docs_alone_unless_asked(self):
        def update(*flags, interrupted=False):
            return bench.should_update_docs(bench.parse_args(list(flags)), interrupted)
        self.assertTrue(update())
        self.assertTrue(update("--sections", "http,memory"))
        self.assertFalse(update("--quick"))
        self.assertTrue(update("--quick", "--update-docs"))
        self.assertFalse(update("--no-update-docs"))
        self.assertFalse(update(interrupted=True))
        self.assertEqual(bench.parse_args(["--docs", self.docs]).docs, self.docs)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fake-server":
        fake_server(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) > 2 and sys.argv[1] in ("--fake-httpd", "--fake-proxy"):
        (fake_httpd if sys.argv[1] == "--fake-httpd" else fake_proxy)(sys.argv[2], sys.argv[3:])
    if len(sys.argv) > 2 and sys.argv[1] in STORAGE_FAKES:
        STORAGE_FAKES[sys.argv[1]](sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--tern-bench", required=True)
    known, rest = parser.parse_known_args()
    TERN_BENCH = os.path.abspath(known.tern_bench)
    unittest.main(argv=[sys.argv[0]] + rest)
