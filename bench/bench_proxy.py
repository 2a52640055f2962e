"""The proxy section of make bench (bench/bench.py runs it with the run loop every section
shares): its cases, what it reads of tern-proxy's admin API (the upstream connection reuse
ratio), the proxy's peak RSS while the client runs, and its tables in report.md and
docs/benchmarks.md.  Standard library only.

Setup of one run: two upstreams (tern-httpd, /plaintext) and the client (tern-bench) on the
client CPU; the proxy under test (tern-proxy, HAProxy or nginx, one worker / thread) on the
server CPU, round-robin over the two upstreams; HTTP mode (requests re-framed, upstream
connections kept alive and shared) or TCP mode (one upstream connection per client connection,
bytes relayed)."""

import http.client
import json
import os
import threading

import bench_cells as cells
import bench_procs as procs

# name -> (mode, client connections, label)
PROXY_CASES = {
    "http-64": ("http", 64, "HTTP mode, GET /plaintext through the proxy, 64 client connections"),
    "http-256": ("http", 256,
                 "HTTP mode, GET /plaintext through the proxy, 256 client connections"),
    "tcp-64": ("tcp", 64, "TCP mode (tern-bench's keep-alive HTTP/1.1 relayed as bytes), 64 "
                          "client connections"),
    "tcp-256": ("tcp", 256, "TCP mode (tern-bench's keep-alive HTTP/1.1 relayed as bytes), 256 "
                            "client connections"),
}
QUICK_CASES = ["http-64", "tcp-64"]
UPSTREAMS = 2
# tern-proxy's upstream connection limit per upstream per loop (--upstream-max-connections):
# above the client connections, so that no request waits in its queue for a connection. The
# peers have no such limit (nginx keeps up to `keepalive 1024` idle ones, HAProxy opens what
# it needs): the same room for all three.
TERN_PROXY_MAX_CONNECTIONS = 512
# The goal: tern-proxy's best backend spends at least this much less CPU per proxied
# request than HAProxy and nginx, with p99 no worse, and reuses upstream connections for more
# than REUSE_GOAL of its requests under steady keep-alive load.
CPU_GOAL = 1.3
REUSE_GOAL = 0.99
PEERS = ["haproxy", "nginx"]

NGINX_STREAM_MODULES = ["/usr/lib/nginx/modules/ngx_stream_module.so",
                        "/usr/share/nginx/modules/ngx_stream_module.so"]


def nginx_stream_module():
    """The path of nginx's dynamic stream module (Debian: libnginx-mod-stream), or None."""
    return next((p for p in NGINX_STREAM_MODULES if os.path.exists(p)), None)


# ------------------------------------------------------------------------- tern-proxy's admin API
def fetch_admin(port, host="127.0.0.1", timeout=5.0):
    """GET /upstreams of tern-proxy's admin listener -> (JSON document, why it failed or "")."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("GET", "/upstreams")
        r = c.getresponse()
        body = r.read()
        c.close()
    except (OSError, http.client.HTTPException) as e:
        return None, "admin GET /upstreams failed: %s" % e
    if r.status != 200:
        return None, "admin GET /upstreams answered %d: %r" % (r.status, body[:120])
    try:
        doc = json.loads(body)
    except ValueError:
        return None, "admin GET /upstreams: not JSON: %r" % body[:120]
    if not isinstance(doc, dict):
        return None, "admin GET /upstreams: not a JSON object: %r" % body[:120]
    return doc, ""


def pool_counts(doc):
    """(connects, reuses, why it failed or "") from the admin JSON: the counters summed over
    the upstreams (each already summed over loops)."""
    upstreams = doc.get("upstreams")
    if not isinstance(upstreams, list) or not upstreams:
        return None, None, "admin JSON has no \"upstreams\" list"
    connects = reuses = 0
    for u in upstreams:
        c, r = (u.get("connects"), u.get("reuses")) if isinstance(u, dict) else (None, None)
        if not isinstance(c, int) or not isinstance(r, int):
            return None, None, "admin JSON: upstream %r lacks integer connects/reuses" % (
                u.get("name") if isinstance(u, dict) else u)
        connects, reuses = connects + c, reuses + r
    return connects, reuses, ""


def reuse_between(before, after):
    """(connects, reuses, reuse ratio, why it failed or "") over an interval, from the admin
    JSON at its start and at its end: ratio = reuses / (reuses + connects), as
    PoolCounters::reuse_ratio() defines it."""
    c0, r0, why = pool_counts(before)
    if not why:
        c1, r1, why = pool_counts(after)
    if why:
        return None, None, None, why
    connects, reuses = c1 - c0, r1 - r0
    if connects < 0 or reuses < 0:
        return None, None, None, "admin JSON: the pool counters went down (%d/%d -> %d/%d)" % (
            c0, r0, c1, r1)
    if connects + reuses == 0:
        return connects, reuses, None, "admin JSON: no upstream connection was checked out"
    return connects, reuses, reuses / (connects + reuses), ""


def upstream_shares(doc):
    """{name: requests} per upstream from the admin JSON (the balancing, for a note)."""
    return {u.get("name", "?"): u.get("requests", 0) for u in doc.get("upstreams", [])
            if isinstance(u, dict)}


# ------------------------------------------------------------------------- RSS under load
class RssSampler:
    """The peak VmRSS (KiB) of process `pid` and its descendants while a with-block runs: a
    thread reads /proc every `interval` s until the block ends (bounded by it).  peak_kib is
    None when no sample was taken (the process was gone)."""

    def __init__(self, pid, interval=0.1, read=procs.tree_rss_kib):
        self.pid, self.interval, self.read = pid, interval, read
        self.peak_kib = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        rss = self.read(self.pid)
        if rss is not None and (self.peak_kib is None or rss > self.peak_kib):
            self.peak_kib = rss

    def _run(self):
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._sample()  # the last figure too, in case the run was shorter than one interval
        return False


# ------------------------------------------------------------------------- report
INTRO = ("Two upstreams (tern-httpd, epoll, /plaintext) and the client (tern-bench) pinned to "
         "the client CPU; the proxy, one worker / thread, pinned to the server CPU, round-robin "
         "over the two. HTTP mode: tern-proxy, HAProxy `mode http` with `http-reuse always`, "
         "nginx `proxy_pass` with upstream keep-alive (`bench/proxy/*.conf`). TCP mode: tern-proxy "
         "`--mode tcp`, HAProxy `mode tcp`, nginx `stream {}`. Proxy CPU-µs/req: utime+stime of "
         "the proxy's process tree over the measured interval ÷ requests (tern-bench --pid); "
         "ratios peer ÷ this (above 1: this one is cheaper). RSS: the proxy's peak VmRSS during "
         "the run. Upstream reuse: tern-proxy's `GET /upstreams` (reuses ÷ (reuses + connects), "
         "summed over upstreams, over the client's run, warm-up included; TCP mode never reuses a "
         "relay's connection).")


def goal_text(case, servers):
    """One line: is issue 11's goal met in this case (tern-proxy's cheapest backend against
    HAProxy and nginx: CPU per request at least CPU_GOAL x lower, p99 no worse, reuse above
    REUSE_GOAL in HTTP mode)?"""
    tern = {n: g for n, g in servers.items()  # this build's rows, not --compare's
            if n.startswith("tern-proxy ") and "(" not in n
            and g.median("cpu_us_per_request") is not None}
    if not tern:
        return "Goal (issue 11): no tern-proxy figure in this case (see the FAILED runs)."
    best_name = min(tern, key=lambda n: tern[n].median("cpu_us_per_request"))
    best = tern[best_name]
    cpu, p99 = best.median("cpu_us_per_request"), best.median("p99_us")
    parts = []
    for peer in PEERS:
        g = servers.get(peer)
        pc = g.median("cpu_us_per_request") if g else None
        pp = g.median("p99_us") if g else None
        if pc is None:
            parts.append("%s: no figure" % peer)
            continue
        r = pc / cpu if cpu else 0
        parts.append("%s ÷ this %.2f (goal %.1f: %s), p99 %s against %s µs (%s)" % (
            peer, r, CPU_GOAL, "met" if r >= CPU_GOAL else "NOT met", cells.us(p99), cells.us(pp),
            "no worse" if p99 is not None and pp is not None and p99 <= pp else "WORSE"))
    text = "Goal (issue 11), %s: %s." % (best_name, "; ".join(parts))
    if PROXY_CASES.get(case, ("http",))[0] == "http":
        reuse = best.median("reuse_ratio")
        text += " Upstream reuse %s (goal above %s: %s)." % (
            cells.pct(reuse, 2), cells.pct(REUSE_GOAL),
            "met" if reuse is not None and reuse > REUSE_GOAL else "NOT met")
    return text


def section_proxy(rows, groups, table, H):
    """The proxy section's markdown: a table per case, then the goal line.  `groups`, `table`
    and `H` are bench_report's (passed in: that module imports this one)."""
    text = []
    for case, servers in groups(rows, "proxy").items():
        peer_cpu = {p: (servers[p].median("cpu_us_per_request") if p in servers else None)
                    for p in PEERS}
        body = []
        for name, g in servers.items():
            c = g.median("cpu_us_per_request")
            rss = g.median("rss_kib")
            body.append([name, cells.num(g.median("requests_per_s"), 0),
                         g.span("requests_per_s", lambda v: cells.num(v, 0)),
                         cells.us(g.median("p50_us")), cells.us(g.median("p99_us")),
                         cells.num(c, 2),
                         g.span("cpu_us_per_request", lambda v: cells.num(v, 2)),
                         cells.ratio(peer_cpu["haproxy"], c), cells.ratio(peer_cpu["nginx"], c),
                         cells.pct(g.median("busy")),
                         cells.num(rss / 1024 if rss is not None else None, 1),
                         cells.pct(g.median("reuse_ratio"), 2), g.runs()])
        label = PROXY_CASES[case][2] if case in PROXY_CASES else case
        text.append("### %s\n\n" % label + table(
            H("proxy", "req/s", "min–max", "p50 µs", "p99 µs", "proxy CPU-µs/req", "min–max",
              "haproxy ÷ this", "nginx ÷ this", "busy", "RSS MiB", "upstream reuse", "runs"),
            body) + "\n" + goal_text(case, servers) + "\n")
    return "\n".join(text)
