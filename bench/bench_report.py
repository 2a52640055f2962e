"""The outputs of bench/bench.py: results.csv, results.json (the format of issue 10's spec,
section 3; each run may also carry "series", tern-bench's per-second counts), report.md
(medians with min-max over the rounds, ratios, every FAILED run with its reason, what was
skipped, the exact commands), and the "make bench" region of docs/benchmarks.md (the same
tables and the plots, one sub-region per section, so a narrower run rewrites only its own).
Standard library only."""

import csv
import io
import json
import os
import re
import shutil
import statistics

import bench_proxy
import bench_storage

CSV_COLUMNS = ["section", "case", "server", "backend", "config", "round", "requests_per_s",
               "mib_per_s", "cpu_us_per_request", "busy", "p50_us", "p90_us", "p99_us",
               "p999_us", "max_us", "bytes_per_connection", "instructions_per_request", "rss_kib",
               "reuse_ratio", "client_cpu_us_per_request", "status", "note"]


# ------------------------------------------------------------------------- formatting
def num(v, decimals):
    if v in ("", None):
        return "–"
    v = float(v)
    return "{:,.{d}f}".format(v, d=decimals) if decimals == 0 else "%.*f" % (decimals, v)


def pct(v):
    return "–" if v in ("", None) else "%.0f%%" % (100 * float(v))


def us(v):
    if v in ("", None):
        return "–"
    v = float(v)
    return "%.1f" % v if v < 100 else "{:,.0f}".format(v)


def _round_for_csv(v):
    return round(v, 4) if isinstance(v, float) else v


# ------------------------------------------------------------------------- statistics
class Group:
    """The runs of one (section, case, server): medians, min and max of the ok ones."""

    def __init__(self, rows):
        self.rows = rows
        self.ok = [r for r in rows if r["status"] == "ok"]
        self.failed = [r for r in rows if r["status"] != "ok"]

    def values(self, col):
        return [float(r[col]) for r in self.ok if r.get(col) not in ("", None)]

    def median(self, col):
        v = self.values(col)
        return statistics.median(v) if v else None

    def span(self, col, fmt):
        v = self.values(col)
        if len(v) < 2:
            return "–"
        return "%s–%s" % (fmt(min(v)), fmt(max(v)))

    def runs(self):
        text = "%d/%d ok" % (len(self.ok), len(self.rows))
        if self.failed:
            text += ", %d FAILED" % len(self.failed)
        return text

    def median_row(self, col="requests_per_s"):
        """The ok run whose `col` is the median (the lower middle one for an even count)."""
        ranked = sorted((r for r in self.ok if r.get(col) not in ("", None)),
                        key=lambda r: float(r[col]))
        return ranked[(len(ranked) - 1) // 2] if ranked else None


def groups(rows, section):
    """{case: {server: Group}} in first-seen order."""
    out = {}
    for r in rows:
        if r["section"] == section:
            out.setdefault(r["case"], {}).setdefault(r["server"], []).append(r)
    return {c: {s: Group(rs) for s, rs in servers.items()} for c, servers in out.items()}


def ratio(a, b):
    return "–" if a in (None, 0) or b in (None, 0) else "%.2f" % (a / b)


# ------------------------------------------------------------------------- instructions
def parse_instructions_csv(text):
    """Rows of bench/instructions.sh --csv: the columns of results.csv, or any CSV with a case /
    server and an instructions column (instructions_per_request, ir_per_request, Ir, ...)."""
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    if not lines:
        return []
    rows = []
    for rec in csv.DictReader(io.StringIO("\n".join(lines))):
        rec = {(k or "").strip().lower(): (v or "").strip() for k, v in rec.items()}
        ir_key = next((k for k in ("instructions_per_request", "ir_per_request", "instructions",
                                   "ir_per_req", "ir") if k in rec), None)
        if ir_key is None:
            continue
        row = {k: "" for k in CSV_COLUMNS}
        row.update({k: rec[k] for k in CSV_COLUMNS if k in rec})
        row["section"] = "instructions"
        row["case"] = rec.get("case") or rec.get("workload") or rec.get("name") or "?"
        row["server"] = rec.get("server") or rec.get("program") or "?"
        row["round"] = row["round"] or 1
        row["instructions_per_request"] = rec[ir_key]
        status = rec.get("status", "").lower()
        row["status"] = ("FAILED" if status in ("failed", "fail") or not rec[ir_key]
                         else "ok")
        if row["status"] == "FAILED" and not row["note"]:
            row["note"] = "bench/instructions.sh: no figure"
        rows.append(row)
    return rows


# ------------------------------------------------------------------------- files
def write_all(out, meta, rows):
    write_failed_outputs(out, rows)
    write_csv(os.path.join(out, "results.csv"), rows)
    write_json(os.path.join(out, "results.json"), meta, rows)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(render(meta, rows))


def failed_name(row):
    name = "%s-%s-%s-r%s.txt" % (row["section"], row["case"], row["server"], row["round"])
    return "failed/" + "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def write_failed_outputs(out, rows):
    """What the client and the server printed in each FAILED run, for the diagnosis."""
    for r in rows:
        if r["status"] == "ok" or not (r.get("_client_output") or r.get("_server_output")):
            continue
        os.makedirs(os.path.join(out, "failed"), exist_ok=True)
        with open(os.path.join(out, failed_name(r)), "w") as f:
            f.write("%s\n\n--- client\n%s\n\n--- server\n%s\n" % (
                r["note"], r.get("_client_output", "(none)"), r.get("_server_output", "(none)")))


def public(row):
    return {k: _round_for_csv(row.get(k, "")) for k in CSV_COLUMNS}


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(public(r))


def latency_cdfs(rows):
    """"<section>/<case>/<server>": the CDF of the run with the median requests/s."""
    out = {}
    for section in ("echo", "http", "patterns", "client", "proxy", "storage"):
        for case, servers in groups(rows, section).items():
            for server, g in servers.items():
                r = g.median_row()
                if r is not None and r.get("_cdf"):
                    out["%s/%s/%s" % (section, case, server)] = r["_cdf"]
    return out


def write_json(path, meta, rows):
    runs = []
    for r in rows:
        d = public(r)
        for k in d:
            if k not in ("section", "case", "server", "backend", "config", "status", "note"):
                d[k] = None if d[k] == "" else d[k]
        if r.get("_series"):
            d["series"] = r["_series"]  # tern-bench's per-second counts, for plot.py
        runs.append(d)
    with open(path, "w") as f:
        json.dump({"meta": meta, "runs": runs, "latency_cdf": latency_cdfs(rows)}, f, indent=1)
        f.write("\n")


# ------------------------------------------------------------------------- report.md
def table(header, rows):
    out = ["| " + " | ".join(h for h, _ in header) + " |",
           "|" + "|".join("---:" if right else "---" for _, right in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


LEFT = {"server", "client", "proxy", "config", "case", "backend", "runs", "server CPUs",
        "RSS before → after (KiB)"}


def H(*names):
    """Table header cells: text columns left-aligned, figures right-aligned."""
    return [(n, n not in LEFT) for n in names]


def section_echo(rows):
    text = []
    for case, servers in groups(rows, "echo").items():
        conns, size = case.split("x")
        raw_e = servers.get("raw epoll loop")
        raw_u = servers.get("raw io_uring loop")
        re_ = raw_e.median("requests_per_s") if raw_e else None
        ru = raw_u.median("requests_per_s") if raw_u else None
        body = []
        for name, g in servers.items():
            m = g.median("requests_per_s")
            body.append([name, num(m, 0), g.span("requests_per_s", lambda v: num(v, 0)),
                         num(g.median("mib_per_s"), 1), ratio(m, re_), ratio(m, ru),
                         num(g.median("cpu_us_per_request"), 2),
                         g.span("cpu_us_per_request", lambda v: num(v, 2)),
                         pct(g.median("busy")), us(g.median("p50_us")), us(g.median("p99_us")),
                         g.runs()])
        text.append("### %s connections × %s B, ping-pong\n\n" % (conns, size) + table(
            H("server", "blocks/s", "min–max", "MiB/s", "÷ raw epoll", "÷ raw io_uring",
              "server CPU-µs/block", "min–max", "busy", "p50 µs", "p99 µs", "runs"), body))
    return "\n".join(text)


def section_http(rows, case_labels):
    text = []
    for case, servers in groups(rows, "http").items():
        ng, h2 = servers.get("nginx"), servers.get("h2o")
        ng_r, h2_r = (ng.median("requests_per_s") if ng else None), (h2.median("requests_per_s") if h2 else None)
        ng_c, h2_c = (ng.median("cpu_us_per_request") if ng else None), (h2.median("cpu_us_per_request") if h2 else None)
        body = []
        for name, g in servers.items():
            m, c = g.median("requests_per_s"), g.median("cpu_us_per_request")
            body.append([name, num(m, 0), g.span("requests_per_s", lambda v: num(v, 0)),
                         ratio(m, ng_r), ratio(m, h2_r), num(c, 2),
                         g.span("cpu_us_per_request", lambda v: num(v, 2)), ratio(ng_c, c),
                         ratio(h2_c, c), pct(g.median("busy")), us(g.median("p50_us")),
                         us(g.median("p99_us")), g.runs()])
        text.append("### %s\n\n" % case_labels.get(case, case) + table(
            H("server", "req/s", "min–max", "÷ nginx", "÷ h2o", "server CPU-µs/req", "min–max",
              "nginx ÷ this", "h2o ÷ this", "busy", "p50 µs", "p99 µs", "runs"), body))
    return "\n".join(text)


def section_memory(rows):
    text = []
    for case, servers in groups(rows, "memory").items():
        ng, h2 = servers.get("nginx"), servers.get("h2o")
        ng_b = ng.median("bytes_per_connection") if ng else None
        h2_b = h2.median("bytes_per_connection") if h2 else None
        body = []
        for name, g in servers.items():
            b = g.median("bytes_per_connection")
            r = g.median_row("bytes_per_connection")
            rss = "%s → %s" % (num(r["_rss"][0], 0), num(r["_rss"][1], 0)) if r and r.get("_rss") else "–"
            closed = "/".join(str(x.get("_closed", "?")) for x in g.ok) or "–"
            body.append([name, num(b, 0), g.span("bytes_per_connection", lambda v: num(v, 0)),
                         ratio(ng_b, b), ratio(h2_b, b), rss, closed, g.runs()])
        text.append("### %s idle keep-alive connections, one GET /plaintext each\n\n" %
                    num(case.split("-")[1], 0) + table(
                        H("server", "B/conn", "min–max", "nginx ÷ this", "h2o ÷ this",
                          "RSS before → after (KiB)", "closed by server", "runs"), body))
    return "\n".join(text)


def section_patterns(rows, server_cpu):
    text = []
    for case, servers in groups(rows, "patterns").items():
        work, conns = case.replace("work", "").split("-c")
        body = []
        for name, g in servers.items():
            pinned = g.rows[0].get("_pinned", True)
            body.append([name, str(server_cpu) if pinned else "any",
                         num(g.median("requests_per_s"), 0),
                         g.span("requests_per_s", lambda v: num(v, 0)), us(g.median("p50_us")),
                         us(g.median("p90_us")), us(g.median("p99_us")), us(g.median("p999_us")),
                         num(g.median("cpu_us_per_request"), 2), pct(g.median("busy")), g.runs()])
        text.append("### work_us=%s × %s connections\n\n" % (work, conns) + table(
            H("config", "server CPUs", "req/s", "min–max", "p50 µs", "p90 µs", "p99 µs",
              "p99.9 µs", "server CPU-µs/req", "busy", "runs"), body))
    return "\n".join(text)


def section_instructions(rows):
    body = [[r["case"], r["server"], r["backend"] or "–",
             num(r["instructions_per_request"] or None, 0),
             r["status"] + (": " + r["note"] if r["note"] else "")]
            for r in rows if r["section"] == "instructions"]
    if not body:
        return ""
    return table(H("case", "server", "backend", "instructions/request", "runs"), body)


def section_client(rows):
    text = []
    for case, clients in groups(rows, "client").items():
        wrk = clients.get("wrk")
        w = wrk.median("requests_per_s") if wrk else None
        body = []
        for name, g in clients.items():
            m = g.median("requests_per_s")
            cb = [x["_client_busy"] for x in g.ok if x.get("_client_busy") not in (None, "")]
            body.append([name, num(m, 0), g.span("requests_per_s", lambda v: num(v, 0)),
                         ratio(m, w), pct(g.median("busy")),
                         pct(statistics.median(cb)) if cb else "–", us(g.median("p50_us")),
                         us(g.median("p99_us")), g.runs()])
        first = next(iter(clients.values())).rows[0]
        text.append("### %s\n\n%s\n" % (case, first.get("config") or ""))
        text.append(table(H("client", "req/s", "min–max", "÷ wrk", "server busy",
                            "client CPU", "p50 µs", "p99 µs", "runs"), body))
    return "\n".join(text)


INTRO = {
    "echo": "Ping-pong: each connection sends a block, waits for all of it to come back (every "
            "byte checked), sends the next. Ratios: blocks/s ÷ the raw loop's. Server CPU per "
            "block = utime+stime of the server over the measured interval ÷ blocks.",
    "http": "One worker / thread per server, access logs off, the same files. Ratios: req/s ÷ "
            "peer (above 1: more than the peer); CPU: peer ÷ this (above 1: this one is cheaper). "
            "busy below ~95%: the server was not the bottleneck.",
    "memory": "Server VmRSS (process tree) after a 1 s warm-up, then with the connections open "
              "and idle; bytes per connection = delta ÷ connections (kernel socket memory is not "
              "in RSS). Ratios: peer ÷ this (above 1: this one uses less).",
    "patterns": "tern-echo --codec line, 64-byte requests, one outstanding per connection, every "
                "reply checked byte for byte; latency from the request's send to its reply. A "
                "server with more than one thread or worker is not pinned (\"any\": it shares "
                "the client's CPU).",
    "instructions": "User-space instructions per request under `valgrind --tool=callgrind` "
                    "(bench/instructions.sh), a figure machine noise does not move.",
    "client": "The same nginx, the same 64 connections, one client thread on the same CPU, "
              "rounds interleaved: tern-bench must measure at least what wrk measures (÷ wrk ≥ "
              "1, and within 10% while the server is the bottleneck: busy ≈ 100%). Client CPU: "
              "the client's own utime+stime over its run (tern-bench's includes its warm-up).",
    "proxy": bench_proxy.INTRO,
    "storage": bench_storage.INTRO,
}
TITLES = {"echo": "Echo", "http": "HTTP/1.1", "memory": "Memory per idle connection",
          "patterns": "Concurrency models and event handling patterns",
          "instructions": "Instructions per request", "client": "Client check: tern-bench vs wrk",
          "proxy": "Proxies: tern-proxy vs HAProxy and nginx",
          "storage": "Storage: RESP client, tern-kv, group commit, cluster"}

def render(meta, rows):
    m = meta["machine"]
    out = ["# make bench: %s\n" % meta["date"],
           "- command: `%s`" % meta["command"],
           "- git commit: %s" % (meta["git_commit"] or "unknown"),
           "- machine: %s, %s CPUs online; %s; %s; load average %s at the start, %s at the end" % (
               m["cpu"], m["cpus_online"], m["kernel"], m["os"], " ".join(m["loadavg_at_start"]),
               " ".join(m.get("loadavg_at_end", []))),
           "- method: server pinned to CPU %d, client (tern-bench, `%s`) pinned to CPU %d; a fresh "
           "server per run; rounds interleaved (every server once per round); a %.1f s warm-up, "
           "then %.1f s measured; medians of %d round(s) with min–max (patterns: %d round(s) of %.1f s; "
           "memory: %d round(s)); a FAILED run is listed with its reason and left out of the medians"
           % (meta["server_cpu"], meta["tern_bench"], meta["client_cpu"], meta["warmup"],
              meta["seconds"], meta["rounds"], meta["patterns"]["rounds"],
              meta["patterns"]["seconds"], meta.get("idle_rounds", meta["rounds"])),
           "- programs: %s" % "; ".join(meta.get("versions", [])),
           "- took %.0f s%s%s" % (meta["elapsed_s"], " (quick subset)" if meta["quick"] else "",
                                 "; INTERRUPTED: partial results" if meta["interrupted"] else ""),
           ""]
    renderers = {"echo": lambda: section_echo(rows),
                 "http": lambda: section_http(rows, meta.get("case_labels", {})),
                 "memory": lambda: section_memory(rows),
                 "patterns": lambda: section_patterns(rows, meta["server_cpu"]),
                 "instructions": lambda: section_instructions(rows),
                 "client": lambda: section_client(rows),
                 "proxy": lambda: bench_proxy.section_proxy(rows, groups, table, H),
                 "storage": lambda: bench_storage.section_storage(rows, groups, table, H)}
    for s in meta["sections"]:
        out.append("## %s\n" % TITLES[s])
        skipped = [k for k in meta["skipped"] if k["section"] == s]
        body = renderers[s]()
        out.append(INTRO[s] + "\n")
        out.append(body if body else "No run.\n")
        for k in skipped:
            out.append("- SKIPPED: %s: %s" % (k["what"], k["why"]))
        cmds = meta["commands"].get(s, [])
        if cmds:
            out.append("\nCommands:\n")
            out += ["- `%s`" % c for c in cmds]
        out.append("")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        out.append("## FAILED runs (not in the medians)\n")
        out += ["- %s / %s / %s, round %s: %s%s" % (
            r["section"], r["case"], r["server"], r["round"], r["note"],
            " ([output](%s))" % failed_name(r) if r.get("_client_output") or r.get("_server_output")
            else "") for r in failed]
        out.append("")
    out.append("Every run: `results.csv`; with the latency CDFs: `results.json`.\n")
    return "\n".join(out)


def append_plots(out):
    """Lists the PNGs bench/plot.py drew at the end of report.md."""
    pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    if not pngs:
        return
    with open(os.path.join(out, "report.md"), "a") as f:
        f.write("\n## Plots\n\n")
        for name in pngs:
            f.write("![%s](%s)\n\n" % (name[:-4], name))


# ------------------------------------------------------------------------- docs/benchmarks.md
DOCS_BEGIN = ("<!-- make bench: latest results (written by bench/bench.py; edit above or below, "
              "not inside) -->")
DOCS_END = "<!-- end make bench -->"
DOCS_HEADING = "## Latest results of `make bench`"
DOCS_INTRO = ("Written by `bench/bench.py` at the end of each run: `make bench` rewrites every "
              "section below, a narrower run (`make bench-http`, `--sections ...`) only its "
              "own, and a quick run (`QUICK=1`) none. Each section says when, at which commit "
              "and by which command it was measured; its full report and raw figures are in "
              "the results directory it names.")
# Where the region goes in a page that has none yet: before the heading that follows this one.
DOCS_AFTER_HEADING = re.compile(r"^## How to run", re.M)
DOCS_IMG = os.path.join("img", "bench")  # beside the page; fixed names, overwritten per run


def section_begin(section):
    return "<!-- make bench section: %s -->" % section


def section_end(section):
    return "<!-- end make bench section: %s -->" % section


SUBREGION = re.compile(r"<!-- make bench section: ([a-z]+) -->\n.*?"
                       r"<!-- end make bench section: \1 -->\n", re.S)


PLOT_ORDER = ["", "-throughput", "-cpu", "-p99", "-latency", "-series"]  # others after


def section_plots(out, section):
    """The PNGs bench/plot.py drew for `section` (<section>.png and <section>-<what>.png), the
    headline figure first."""
    if not os.path.isdir(out):
        return []
    names = [f for f in os.listdir(out)
             if f.endswith(".png") and (f == section + ".png" or f.startswith(section + "-"))]

    def rank(name):
        what = name[len(section):-len(".png")]
        return (PLOT_ORDER.index(what) if what in PLOT_ORDER else len(PLOT_ORDER), name)
    return sorted(names, key=rank)


def copy_section_plots(out, section, img_dir):
    """Replaces the section's plots in img_dir by this run's (same names each run, so the
    repository does not grow per run; a plot this run did not draw is removed, not left
    stale).  Returns the names copied."""
    os.makedirs(img_dir, exist_ok=True)
    for old in section_plots(img_dir, section):
        os.remove(os.path.join(img_dir, old))
    names = section_plots(out, section)
    for name in names:
        shutil.copyfile(os.path.join(out, name), os.path.join(img_dir, name))
    return names


def demote(text):
    """report.md's case headings (###) sit one level lower under the section's own (###)."""
    return re.sub(r"^### ", "#### ", text, flags=re.M)


def section_markdown(meta, rows, section, plots, results_link):
    """One section's sub-region body: when, what, the tables, FAILED runs, the plots."""
    failed = [r for r in rows if r["section"] == section and r["status"] != "ok"]
    total = sum(1 for r in rows if r["section"] == section)
    out = ["### %s\n" % TITLES[section],
           "- measured %s, git commit %s%s" % (meta["date"], meta["git_commit"] or "unknown",
                                               " (quick subset)" if meta.get("quick") else ""),
           "- command: `%s`" % meta["command"],
           "- full report: [%s](%s)" % (results_link, results_link),
           "- runs: %d, %s" % (total, "%d FAILED (not in the medians): see below" % len(failed)
                              if failed else "all ok"),
           ""]
    out.append(INTRO[section] + "\n")
    body = render_section(meta, rows, section)
    out.append(demote(body) if body else "No run.\n")
    for k in meta.get("skipped", []):
        if k["section"] == section:
            out.append("- SKIPPED: %s: %s" % (k["what"], k["why"]))
    if failed:
        out.append("\nFAILED runs:\n")
        out += ["- %s / %s, round %s: %s" % (r["case"], r["server"], r["round"], r["note"])
                for r in failed]
    out.append("")
    for name in plots:
        out.append("![%s](%s)\n" % (name[:-4], "/".join([DOCS_IMG.replace(os.sep, "/"), name])))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip("\n") + "\n"


def render_section(meta, rows, section):
    renderers = {"echo": lambda: section_echo(rows),
                 "http": lambda: section_http(rows, meta.get("case_labels", {})),
                 "memory": lambda: section_memory(rows),
                 "patterns": lambda: section_patterns(rows, meta["server_cpu"]),
                 "instructions": lambda: section_instructions(rows),
                 "client": lambda: section_client(rows),
                 "proxy": lambda: bench_proxy.section_proxy(rows, groups, table, H),
                 "storage": lambda: bench_storage.section_storage(rows, groups, table, H)}
    return renderers[section]()


def split_region(text):
    """(before, region body, after) of the page, or None when it has no region (both markers,
    the begin one first, each once)."""
    b, e = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if b < 0 or e < 0 or e < b or text.count(DOCS_BEGIN) != 1 or text.count(DOCS_END) != 1:
        return None
    start = b + len(DOCS_BEGIN)
    return text[:start], text[start:e], text[e:]


def with_empty_region(text):
    """The page with an empty region inserted after its "How to run" section (before the next
    "## " heading), or at its end when it has no such section."""
    region = DOCS_BEGIN + "\n" + DOCS_END + "\n"
    m = DOCS_AFTER_HEADING.search(text)
    nxt = re.compile(r"^## ", re.M).search(text, m.end()) if m else None
    if nxt is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + "\n" + region
    return text[:nxt.start()] + region + "\n" + text[nxt.start():]


def render_region(subregions):
    """The region's body from {section: sub-region text}: known sections in make bench's order,
    then any others the page had (a section since renamed is kept, not lost)."""
    from_order = [s for s in SECTION_ORDER if s in subregions]
    others = [s for s in subregions if s not in SECTION_ORDER]
    parts = ["\n" + DOCS_HEADING + "\n\n" + DOCS_INTRO + "\n"]
    for s in from_order + others:
        parts.append("\n" + subregions[s])
    return "".join(parts) + "\n"


SECTION_ORDER = ["echo", "http", "memory", "patterns", "instructions", "client", "proxy",
                 "storage"]


def update_docs(docs_path, out, meta, rows):
    """Rewrites, in docs_path, the sub-regions of the sections this run measured (other
    sections keep theirs; text outside the region is left byte for byte) and copies their
    plots to img/bench/ beside the page.  A section asked for but with no run at all (its
    programs missing) keeps its previous figures when it had some.  Returns the image dir."""
    with open(docs_path, encoding="utf-8") as f:
        original = f.read()
    parts = split_region(original)
    if parts is None:
        if DOCS_BEGIN in original or DOCS_END in original:
            raise ValueError("%s: the make bench markers are not one begin marker followed by "
                             "one end marker: mend them by hand" % docs_path)
        parts = split_region(with_empty_region(original))
    before, body, after = parts
    subregions = {m.group(1): m.group(0) for m in SUBREGION.finditer(body)}
    img_dir = os.path.join(os.path.dirname(os.path.abspath(docs_path)), DOCS_IMG)
    results_link = os.path.relpath(os.path.join(out, "report.md"),
                                   os.path.dirname(os.path.abspath(docs_path)))
    for section in meta["sections"]:
        ran = any(r["section"] == section for r in rows)
        if not ran and section in subregions:
            continue
        plots = copy_section_plots(out, section, img_dir)
        subregions[section] = (section_begin(section) + "\n" +
                               section_markdown(meta, rows, section, plots, results_link) +
                               section_end(section) + "\n")
    new_text = before + render_region(subregions) + after
    if new_text != original:
        tmp = docs_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(new_text)
        os.replace(tmp, docs_path)
    return img_dir
