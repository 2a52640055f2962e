#!/usr/bin/env python3
"""plot.py: draws the results of `make bench` (bench/results/<date>/) as PNG files.

usage: bench/plot.py RESULTS_DIR     reads RESULTS_DIR/results.csv (and results.json for the
                                     latency CDFs), writes RESULTS_DIR/*.png, prints their paths
       bench/plot.py --demo OUT_DIR  writes a synthetic results.csv and results.json (every
                                     section, some FAILED runs) to OUT_DIR, then plots them

results.csv: one row per measured run (section, case, server, backend, config, round,
requests_per_s, ..., status, note), as bench/bench.py writes it. Per section:
  <section>-throughput.png  requests (echo: blocks) per second, one panel per case, one bar per
                            server: the median over the rounds, whiskers from min to max
  <section>-latency.png     latency CDFs from results.json's latency_cdf (log latency axis; the
                            fraction axis is stretched towards 1 so that p99 and p99.9 show)
  <section>-p99.png         p99 latency bars (patterns: the figure the matrix is read by)
  <section>-cpu.png         server CPU time per request, bars with min-max
  <section>-series.png      throughput second by second over the measured interval, one line
                            per server, round 1 (results.json's runs[].series): steadiness
  proxy-rss.png             the proxy's peak RSS during the run (proxy: -p99 too)
  memory.png                RSS per idle connection;  instructions.png  instructions per request
tern's servers are drawn in blues, every other server (peers, raw loops, wrk) in oranges and
browns (the patterns matrix, all tern: a hue per model, light -T1, dark -T2); a FAILED run is a
red cross where its bar would start. Matplotlib (Debian's python3-matplotlib,
scripts/install-deps.sh) draws; nothing is shown on screen.
Exit status: 0 plots written; 1 no usable results; 2 bad usage.
"""

import argparse
import csv
import json
import math
import os
import random
import re
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator
except ImportError:
    # Debian's python3-matplotlib is installed for Debian's python3; another python3 first on
    # PATH (pyenv, a virtualenv) does not see it: run again under Debian's, once.
    DEBIAN_PYTHON = "/usr/bin/python3"
    if (os.path.exists(DEBIAN_PYTHON) and not os.environ.get("TERN_PLOT_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.environ["TERN_PLOT_REEXEC"] = "1"
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("plot.py: matplotlib is missing: scripts/install-deps.sh installs it "
             "(Debian package python3-matplotlib, for /usr/bin/python3)")

TERN_COLOURS = ["#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef"]
PEER_COLOURS = ["#7f2704", "#d94801", "#f16913", "#fd8d3c", "#8c6d31", "#bd9e39",
                "#e7ba52", "#a63603"]
FAILED_COLOUR = "#e41a1c"
DPI = 110


# ------------------------------------------------------------------------------ reading
def number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def read_runs(results_dir):
    path = os.path.join(results_dir, "results.csv")
    if not os.path.exists(path):
        sys.exit("plot.py: %s: no results.csv (run `make bench`, or try --demo)" % results_dir)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"section", "case", "server", "round", "status"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            sys.exit("plot.py: %s: missing columns %s" % (path, ", ".join(sorted(missing))))
        return list(reader)


def read_json(results_dir):
    path = os.path.join(results_dir, "results.json")
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("plot.py: %s: %s (no latency CDFs)" % (path, e), file=sys.stderr)
        return {}


def in_order(values):
    """Distinct values in order of first appearance (the orchestrator's order)."""
    return list(dict.fromkeys(values))


class Cell:
    """One (case, server): the rounds' values of one metric, and how many rounds FAILED."""

    def __init__(self):
        self.values, self.failed = [], 0

    def median(self):
        v = sorted(self.values)
        n = len(v)
        if n == 0:
            return None
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def cells_of(runs, column, scale):
    """{case: {server: Cell}} for one section's runs and one column."""
    cells = {}
    for r in runs:
        cell = cells.setdefault(r["case"], {}).setdefault(r["server"], Cell())
        if r["status"] != "ok":
            cell.failed += 1
            continue
        v = number(r.get(column))
        if v is not None:
            cell.values.append(v * scale)
    return cells


# ------------------------------------------------------------------------------ look
# Sections whose every server is tern (the concurrency-model matrix names its configurations).
ALL_TERN_SECTIONS = {"patterns"}


def is_tern(server, section=""):
    return section in ALL_TERN_SECTIONS or server.lower().startswith("tern")


# Hue pairs (light, dark) after matplotlib's tab20, for the matrix of tern's own models.
PAIRS = [("#aec7e8", "#1f77b4"), ("#ffbb78", "#ff7f0e"), ("#98df8a", "#2ca02c"),
         ("#ff9896", "#d62728"), ("#c5b0d5", "#9467bd"), ("#c49c94", "#8c564b"),
         ("#f7b6d2", "#e377c2"), ("#c7c7c7", "#7f7f7f"), ("#dbdb8d", "#bcbd22"),
         ("#9edae5", "#17becf")]


def pattern_colours(configs):
    """The concurrency-model matrix is all tern: one hue per model, light for -T1, dark for
    -T2 (configurations that differ only in their "-T<n>" suffix share a hue)."""
    base_of = {c: re.sub(r"-T\d+$", "", c) for c in configs}
    bases = in_order(base_of.values())
    colours = {}
    for c in configs:
        light, dark = PAIRS[bases.index(base_of[c]) % len(PAIRS)]
        members = [m for m in configs if base_of[m] == base_of[c]]
        colours[c] = dark if len(members) == 1 or c == members[-1] else light
    return colours


def colours_for(servers, section):
    if section in ALL_TERN_SECTIONS:
        return pattern_colours(servers)
    colours, t, p = {}, 0, 0
    for s in servers:
        if is_tern(s, section):
            colours[s] = TERN_COLOURS[t % len(TERN_COLOURS)]
            t += 1
        else:
            colours[s] = PEER_COLOURS[p % len(PEER_COLOURS)]
            p += 1
    return colours


# How the orchestrator (bench/bench.py) names its cases -> a panel title; others as they are.
CASE_LABELS = [
    (r"(\d+)x(\d+)", lambda m: "%s connections, %s blocks" % (m[1], size_text(int(m[2])))),
    (r"work(\d+)-c(\d+)", lambda m: "handler work %s µs, %s connections" % (m[1], m[2])),
    (r"plaintext-(\d+)", lambda m: "GET /plaintext, %s connections" % m[1]),
    (r"pipelined-(\d+)", lambda m: "GET /plaintext pipelined, %s connections" % m[1]),
    (r"static-(\d+)([km])", lambda m: "GET a %s %siB static file" % (m[1], m[2].upper())),
    (r"idle-(\d+)", lambda m: "%s idle connections" % format(int(m[1]), ",")),
]


def case_label(case):
    for pattern, label in CASE_LABELS:
        m = re.fullmatch(pattern, case)
        if m:
            return label(m)
    return case


def size_text(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return "%d %s" % (n // div, unit)
    return "%d B" % n


def short(v):
    """A bar's value as a label: 3 significant digits, k/M suffixes."""
    if v is None:
        return ""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suffix)
    return "%.3g" % v


# ------------------------------------------------------------------------------ bars
def bar_figure(path, title, xlabel, cells_by_case, section, note="", label=None):
    """Horizontal bars, one panel per case, one bar per server (names on the y axis). When no
    server appears in two cases (instructions: one program per case), one panel of all."""
    cases = list(cells_by_case)
    if len(cases) > 1 and all(sum(s in cells_by_case[c] for c in cases) == 1
                              for c in cases for s in cells_by_case[c]):
        cells_by_case = {"": {"%s · %s" % (s, c): cell for c in cases
                              for s, cell in cells_by_case[c].items()}}
        cases = [""]
    servers = in_order(s for c in cases for s in cells_by_case[c])
    if not servers:
        return False
    colours = colours_for(servers, section)
    ncols = min(2, len(cases))
    nrows = math.ceil(len(cases) / ncols)
    width = max(9.5, 5.6 * ncols + 2.8)
    panel_height = 1.0 + 0.34 * len(servers)
    height = 1.2 + 0.25 * note.count("\n") + panel_height * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharey=True, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(cases):]:
        ax.set_visible(False)
    any_failed = False
    for ax, case in zip(flat, cases):
        cells = cells_by_case[case]
        top = max([max(c.values) for c in cells.values() if c.values] or [1.0])
        for i, server in enumerate(servers):
            y = len(servers) - 1 - i
            cell = cells.get(server)
            if cell is None:
                continue
            med = cell.median()
            if med is not None:
                lo, hi = min(cell.values), max(cell.values)
                ax.barh(y, med, height=0.72, color=colours[server], edgecolor="none")
                if len(cell.values) > 1:
                    ax.errorbar(med, y, xerr=[[med - lo], [hi - med]], fmt="none", ecolor="#222",
                                elinewidth=1, capsize=3)
                ax.text(hi + top * 0.015, y, (label or short)(med), va="center", ha="left",
                        fontsize=8.5, color="#222")
            if cell.failed:
                any_failed = True
                ax.plot([0], [y], marker="x", markersize=10, markeredgewidth=2.5,
                        color=FAILED_COLOUR, clip_on=False, zorder=5)
                if med is None:
                    ax.text(top * 0.03, y, "FAILED", va="center", ha="left", fontsize=8.5,
                            color=FAILED_COLOUR)
        ax.set_title(case_label(case), fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, top * 1.18)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: short(v) if v else "0"))
        ax.grid(axis="x", color="#ddd", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for row in axes:
        row[0].set_yticks(range(len(servers)))
        row[0].set_yticklabels(list(reversed(servers)), fontsize=9.5)
        row[0].set_ylim(-0.6, len(servers) - 0.4)
        row[0].tick_params(axis="y", labelleft=True)
    handles = []
    if section in ALL_TERN_SECTIONS:
        handles.append(Patch(color=PAIRS[0][0], label="-T1: one thread (or worker)"))
        handles.append(Patch(color=PAIRS[0][1], label="-T2: two"))
    elif any(is_tern(s, section) for s in servers):
        handles.append(Patch(color=TERN_COLOURS[1], label="tern"))
    if not all(is_tern(s, section) for s in servers):
        handles.append(Patch(color=PEER_COLOURS[1], label="peers and baselines"))
    if any(len(c.values) > 1 for cells in cells_by_case.values() for c in cells.values()):
        handles.append(Line2D([], [], color="#222", marker="|", linestyle="-",
                              label="min–max over rounds"))
    if any_failed:
        handles.append(Line2D([], [], color=FAILED_COLOUR, marker="x", linestyle="none",
                              markeredgewidth=2.5, label="FAILED run(s)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9,
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title + (("\n" + note) if note else ""), fontsize=12.5)
    fig.tight_layout(rect=(0, 0.06 + 0.25 / height, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------ CDFs
FRACTION_TICKS = [0.5, 0.9, 0.99, 0.999, 0.9999]



def panel_grid(count, panel_height):
    """A figure of `count` panels, two to a row, each `panel_height` inches tall: the figure and
    the panels in reading order (the spare ones hidden)."""
    ncols = min(2, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(8.5, 5.6 * ncols + 1.0),
                                                    1.4 + panel_height * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat

def cdf_figure(path, title, section, cdfs, order):
    """One panel per case, one line per server: latency (log) against the fraction of requests
    at or below it, on a logit axis (50%, 90%, 99%, 99.9% evenly spaced)."""
    cases = in_order(case for case, _ in cdfs)
    servers = [s for s in order if any((c, s) in cdfs for c in cases)]
    servers += [s for s in in_order(s for _, s in cdfs) if s not in servers]
    if not servers:
        return False
    colours = colours_for(servers, section)
    styles = ["-", "--", "-.", ":"]
    fig, flat = panel_grid(len(cases), 4.0)
    lo_clip, hi_clip = 0.01, 0.99995
    for index, (ax, case) in enumerate(zip(flat, cases)):
        xs_all = []
        for i, server in enumerate(servers):
            points = cdfs.get((case, server))
            if not points:
                continue
            xs = [p[0] for p in points if p[0] > 0]
            ys = [min(max(p[1], lo_clip), hi_clip) for p in points if p[0] > 0]
            if not xs:
                continue
            xs_all += xs
            # A histogram's CDF (many points) is a staircase; a few percentiles are joined by
            # lines, with a marker on each, so that nothing suggests steps that were not seen.
            sparse = len(xs) < 20
            ax.plot(xs, ys, drawstyle="default" if sparse else "steps-post",
                    marker="o" if sparse else None, markersize=3.5, color=colours[server],
                    linestyle=styles[i % len(styles)], linewidth=1.8, label=server)
        ax.set_xscale("log")
        if xs_all:
            ax.set_xlim(min(xs_all) / 1.25, max(xs_all) * 1.25)
        ax.set_yscale("logit")
        ax.set_ylim(0.3, hi_clip)
        ax.set_yticks(FRACTION_TICKS)
        ax.set_yticklabels(["%g%%" % (f * 100) for f in FRACTION_TICKS])
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        ax.set_xlabel("latency (µs, log scale)")
        if index % 2 == 0:  # the first panel of a row
            ax.set_ylabel("requests at or below (cumulative)")
        ax.set_title(case_label(case), fontsize=11)
        ax.grid(True, which="major", color="#ddd", linewidth=0.8)
    return finish_with_shared_legend(fig, flat, title, path)



def finish_with_shared_legend(fig, axes, title, path):
    """One legend under every panel (each label once, in first-seen order), the title, and
    the PNG written to `path`."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    ncol = max(1, min(len(labels), 4))
    rows = math.ceil(len(labels) / ncol)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=12.5)
    fig.tight_layout(rect=(0, (0.3 * rows + 0.15) / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True

def cdfs_of(doc, section):
    """{(case, server): [[us, fraction], ...]} of one section, from results.json."""
    out = {}
    for key, points in (doc.get("latency_cdf") or {}).items():
        parts = key.split("/", 2)
        if len(parts) == 3 and parts[0] == section and points:
            try:
                out[(parts[1], parts[2])] = sorted((float(p[0]), float(p[1])) for p in points)
            except (TypeError, ValueError, IndexError):
                print("plot.py: latency_cdf[%s]: not [[us, fraction], ...]: skipped" % key,
                      file=sys.stderr)
    return out


# ------------------------------------------------------------------------------ series
def series_of(doc, section):
    """{case: {server: [(t_s, requests/s), ...]}} of round 1 of one section, from the runs'
    "series" in results.json (tern-bench's per-second counts; FAILED runs left out)."""
    out = {}
    for run in doc.get("runs") or []:
        if (not isinstance(run, dict) or run.get("section") != section
                or run.get("status") != "ok" or number(run.get("round")) != 1):
            continue
        points, prev = [], 0.0
        for p in run.get("series") or []:
            t, n = number((p or {}).get("t")), number((p or {}).get("requests"))
            if t is None or n is None or t <= prev:
                continue
            if t - prev >= 0.5:  # not the run's last few ms, a count too short to be a rate
                points.append((t, n / (t - prev)))  # a count over (prev, t]: per second
            prev = t
        if points:
            out.setdefault(run.get("case", ""), {})[run.get("server", "")] = points
    return out


def series_figure(path, title, section, series, ylabel):
    """Throughput second by second over the measured interval, one panel per case, one line
    per server (round 1): a steady server draws a flat line, a stall or a slow start shows."""
    cases = list(series)
    servers = in_order(s for c in cases for s in series[c])
    if not servers:
        return False
    colours = colours_for(servers, section)
    styles = ["-", "--", "-.", ":"]
    fig, flat = panel_grid(len(cases), 3.6)
    for index, (ax, case) in enumerate(zip(flat, cases)):
        top = 0.0
        for i, server in enumerate(servers):
            points = series[case].get(server)
            if not points:
                continue
            top = max(top, max(v for _, v in points))
            ax.plot([t for t, _ in points], [v for _, v in points], color=colours[server],
                    linestyle=styles[i % len(styles)], linewidth=1.8,
                    marker="o" if len(points) < 20 else None, markersize=3.5, label=server)
        ax.set_ylim(0, top * 1.1 if top else 1)
        ax.set_xlabel("second of the measured interval")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if index % 2 == 0:  # the first panel of a row
            ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: short(v) if v else "0"))
        ax.set_title(case_label(case), fontsize=11)
        ax.grid(True, color="#ddd", linewidth=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return finish_with_shared_legend(fig, flat, title, path)


# ------------------------------------------------------------------------------ sections
SECTION_TITLES = {
    "echo": ("Echo", "echoed blocks/s"),
    "http": ("HTTP", "requests/s"),
    "patterns": ("tern-echo concurrency models (line protocol, 64 B)", "requests/s"),
    "client": ("Load generators against nginx /plaintext (client-side count)", "requests/s"),
    "proxy": ("Proxies in front of two tern-httpd upstreams", "requests/s"),
}


def has(cells_by_case):
    return any(c.values or c.failed for cells in cells_by_case.values() for c in cells.values())


def run_stamp(meta):
    """"<date> · <commit, 10 digits>[+ changes]" from results.json's meta, for the titles."""
    parts = []
    if isinstance(meta.get("date"), str):
        parts.append(meta["date"])
    commit = meta.get("git_commit") or meta.get("commit")
    if isinstance(commit, str) and commit:
        m = re.match(r"([0-9a-f]{7,40})(.*)", commit)
        parts.append(m.group(1)[:10] + (" + uncommitted changes" if m.group(2).strip() else "")
                     if m else commit[:40])
    return " · ".join(parts)


def plot_all(results_dir):
    runs = read_runs(results_dir)
    doc = read_json(results_dir)
    if not runs:
        print("plot.py: %s: results.csv has no runs" % results_dir, file=sys.stderr)
        return 1
    stamp = run_stamp(doc.get("meta") or {})
    written = []

    def out(name):
        return os.path.join(results_dir, name)

    by_section = {}
    for r in runs:
        by_section.setdefault(r["section"], []).append(r)
    for section, rows in by_section.items():
        rounds = max([int(number(r["round"]) or 1) for r in rows] or [1])
        medians = "median of %d round%s, whiskers min–max" % (rounds, "s" if rounds > 1 else "")
        note = "\n".join(x for x in (medians, stamp) if x)
        name, unit = SECTION_TITLES.get(section, (section, "requests/s"))
        who = "proxy" if section == "proxy" else "server"
        order = in_order(r["server"] for r in rows)
        if section == "memory":
            cells = cells_of(rows, "bytes_per_connection", 1 / 1024)
            if has(cells) and bar_figure(out("memory.png"),
                                         "Memory per idle connection (RSS growth)",
                                         "KiB per connection (lower is better)", cells, section,
                                         note):
                written.append(out("memory.png"))
            continue
        if section == "instructions":
            cells = cells_of(rows, "instructions_per_request", 1.0)
            if has(cells) and bar_figure(out("instructions.png"),
                                         "Instructions per request (valgrind --tool=callgrind)",
                                         "instructions per request (lower is better)", cells,
                                         section, stamp, label=lambda v: format(round(v), ",")):
                written.append(out("instructions.png"))
            continue
        figures = [
            ("throughput", "requests_per_s", 1.0, "%s: throughput" % name,
             "%s (higher is better)" % unit),
            ("cpu", "cpu_us_per_request", 1.0, "%s: %s CPU time per request" % (name, who),
             "%s CPU µs per %s (lower is better)" % (who, "echoed block" if section == "echo"
                                                     else "request")),
        ]
        if section in ("patterns", "proxy"):
            figures.append(("p99", "p99_us", 1.0, "%s: p99 latency" % name,
                            "p99 latency, µs (lower is better)"))
        if section == "proxy":
            figures.append(("rss", "rss_kib", 1 / 1024, "%s: proxy RSS under load" % name,
                            "peak VmRSS during the run, MiB (lower is better)"))
        for suffix, column, scale, title, xlabel in figures:
            cells = cells_of(rows, column, scale)
            measured = any(c.values for cs in cells.values() for c in cs.values())
            if not measured and not (suffix == "throughput" and has(cells)):
                continue  # not measured here; but every section shows its FAILED runs once
            path = out("%s-%s.png" % (section, suffix))
            if bar_figure(path, title, xlabel, cells, section, note):
                written.append(path)
        series = series_of(doc, section)
        if series:
            path = out("%s-series.png" % section)
            title = "%s: throughput over the measured interval (round 1)%s" % (
                name, ("\n" + stamp) if stamp else "")
            if series_figure(path, title, section, series, "%s per second" % (
                    "echoed blocks" if section == "echo" else "requests")):
                written.append(path)
        cdfs = cdfs_of(doc, section)
        if cdfs:
            path = out("%s-latency.png" % section)
            title = "%s: latency distribution%s" % (name, ("\n" + stamp) if stamp else "")
            if cdf_figure(path, title, section, cdfs, order):
                written.append(path)
    for path in written:
        print(path)
    if not written:
        print("plot.py: %s: nothing to plot" % results_dir, file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------ demo data
COLUMNS = ["section", "case", "server", "backend", "config", "round", "requests_per_s",
           "mib_per_s", "cpu_us_per_request", "busy", "p50_us", "p90_us", "p99_us", "p999_us",
           "max_us", "bytes_per_connection", "instructions_per_request", "status", "note"]


def demo_results(out_dir):
    """A synthetic results dir with every section, three rounds, a FAILED round and a server
    whose every round FAILED: for looking at the plots without running `make bench`."""
    rnd = random.Random(10)
    rows, cdf = [], {}

    def add(section, case, server, rps, cpu, p50, rounds=3, backend="", config="", fail=(),
            **extra):
        for r in range(1, rounds + 1):
            row = {k: "" for k in COLUMNS}
            row.update(section=section, case=case, server=server, backend=backend, config=config,
                       round=r, status="ok")
            if r in fail:
                row.update(status="FAILED", note="server exited with status 1 (demo)")
                rows.append(row)
                continue
            jitter = rnd.uniform(0.93, 1.05)
            if rps:
                row.update(requests_per_s="%.1f" % (rps * jitter),
                           cpu_us_per_request="%.3f" % (cpu / jitter), busy="%.3f" % (0.97),
                           p50_us="%.1f" % p50, p90_us="%.1f" % (p50 * 1.4),
                           p99_us="%.1f" % (p50 * 2.5), p999_us="%.1f" % (p50 * 5),
                           max_us="%.1f" % (p50 * 20))
                # A steady server, and now and then a dip (a stall the medians would hide).
                row["series"] = [{"t": t, "requests": round(rps * jitter * rnd.uniform(0.97, 1.03)
                                                            * (0.6 if rnd.random() < 0.05 else 1)),
                                  "errors": 0} for t in range(1, 6)]
            row.update({k: str(v * jitter if isinstance(v, float) else v)
                        for k, v in extra.items()})
            rows.append(row)
        if rps and len(fail) < rounds:
            cdf["%s/%s/%s" % (section, case, server)] = demo_cdf(rnd, p50)

    echo = [("raw epoll loop", 1.00, 4.2), ("raw io_uring loop", 1.04, 4.0),
            ("tern-echo epoll", 0.93, 4.5), ("tern-echo uring", 0.97, 4.3),
            ("tern-echo poll", 0.85, 4.9), ("libevent-echo", 0.80, 5.2),
            ("libuv-echo", 0.88, 4.8), ("libuv-echo --naive", 0.71, 6.1), ("asio-echo", 0.83, 5.0)]
    for case, base, p50 in (("100x512", 210e3, 450.0), ("100x16384", 52e3, 1900.0)):
        for server, factor, cpu in echo:
            fail = (2,) if server == "libevent-echo" and case == "100x16384" else ()
            backend = server.split()[-1] if server.startswith("tern") else ""
            add("echo", case, server, base * factor, cpu * (base / 210e3) ** -0.3,
                p50 / factor, backend=backend, fail=fail,
                mib_per_s=base * factor * int(case.split("x")[1]) / (1 << 20))
    http = [("tern-httpd --backend epoll", 1.0, 4.9), ("tern-httpd --backend uring", 1.03, 4.8),
            ("nginx", 0.97, 5.1), ("h2o", 0.95, 5.3)]
    for case, base in (("plaintext-64", 190e3), ("pipelined-64", 520e3), ("static-4k", 120e3),
                       ("static-1m", 2.1e3)):
        for server, factor, cpu in http:
            fail = (1, 2, 3) if server == "h2o" and case == "static-1m" else ()
            add("http", case, server, base * factor, cpu * 190e3 / base, 64e6 / base / factor,
                fail=fail)
    for server, kib in (("tern-httpd --backend epoll", 2.9), ("nginx", 3.4), ("h2o", 5.2)):
        add("memory", "idle-10000", server, 0, 0, 0, rounds=2, bytes_per_connection=kib * 1024.0)
    configs = ["single-epoll-emulated", "single-uring-proactor", "single-epoll-reactor",
               "loops-epoll-emulated-T1", "loops-epoll-emulated-T2", "hsha-epoll-emulated-T1",
               "hsha-epoll-emulated-T2", "lf-epoll-reactor-T2"]
    for case, base in (("work0-c100", 230e3), ("work100-c100", 9.5e3)):
        for i, config in enumerate(configs):
            factor = 1.0 - 0.04 * i + (0.6 if case.startswith("work100") and "T2" in config else 0)
            add("patterns", case, config, base * factor, 4.2 + 0.3 * i, 100e6 / base / factor,
                rounds=2, backend=config.split("-")[1], fail=(2,) if i == 7 else ())
    for case, ir in (("http-plaintext", 4210.0), ("echo-512", 2350.0)):
        add("instructions", case, "tern-httpd" if case.startswith("http") else "tern-echo",
            0, 0, 0, rounds=1, instructions_per_request=ir)
    for server, rps in (("tern-bench", 188e3), ("wrk", 181e3)):
        add("client", "nginx-plaintext-64", server, rps, 5.0, 330.0)

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")  # not "series"
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": {"command": "bench/plot.py --demo", "date": "demo data",
                            "git_commit": "synthetic", "machine": "none"},
                   "runs": rows, "latency_cdf": cdf}, f, indent=1)


def demo_cdf(rnd, p50):
    """A log-normal-ish latency distribution with a tail, as [[us, fraction], ...]."""
    values = sorted(p50 * math.exp(rnd.gauss(0, 0.35)) * (4 if rnd.random() < 0.01 else 1)
                    for _ in range(4000))
    n = len(values)
    step = max(1, n // 200)
    points = [[values[i], (i + 1) / n] for i in range(0, n, step)]
    points.append([values[-1], 1.0])
    return points


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("results_dir", nargs="?", help="a bench/results/<date>/ directory")
    p.add_argument("--demo", metavar="OUT_DIR", help="write synthetic results there, plot them")
    a = p.parse_args()
    if bool(a.demo) == bool(a.results_dir):
        p.error("give RESULTS_DIR or --demo OUT_DIR (one of them)")
    if a.demo:
        demo_results(a.demo)
        return plot_all(a.demo)
    if not os.path.isdir(a.results_dir):
        p.error("%s: not a directory" % a.results_dir)
    return plot_all(a.results_dir)


if __name__ == "__main__":
    sys.exit(main())
