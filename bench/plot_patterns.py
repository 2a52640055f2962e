#!/usr/bin/env python3
"""plot_patterns.py: draws the CSV of bench/run_patterns.sh as one SVG (standard library only).

For each work_us in the CSV, one row of two panels: throughput (requests/s, linear) and p99
latency (µs, log scale), with one group of bars per connection count and one bar (colour)
per configuration; configurations that differ only in their "-T<n>" suffix share a hue.  A
run reported FAILED is drawn as a red cross where its bar would be.  The SVG is checked to
parse with xml.etree before the script exits.

usage: plot_patterns.py [OUT_SVG] [--csv CSV] [--title TEXT]
  OUT_SVG  default docs/img/patterns.svg     CSV  default bench/results/patterns.csv
  (relative defaults are taken from the repository root; explicit paths from the cwd)
"""

import argparse
import csv
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Hue pairs (dark, light), after matplotlib's tab20.
PAIRS = [
    ("#1f77b4", "#aec7e8"), ("#ff7f0e", "#ffbb78"), ("#2ca02c", "#98df8a"), ("#d62728", "#ff9896"),
    ("#9467bd", "#c5b0d5"), ("#8c564b", "#c49c94"), ("#e377c2", "#f7b6d2"), ("#7f7f7f", "#c7c7c7"),
    ("#bcbd22", "#dbdb8d"), ("#17becf", "#9edae5"),
]

# Layout (px).
WIDTH = 1500
MARGIN = 20
PANEL_GAP = 60
PANEL_W = (WIDTH - 2 * MARGIN - PANEL_GAP) // 2
PLOT_LEFT = 70          # inside a panel: room for the y tick labels and axis label
PLOT_RIGHT = 10
PLOT_TOP = 34           # room for the panel title
PLOT_BOTTOM = 46        # room for the x tick labels and axis label
PANEL_H = 300
ROW_GAP = 24
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default=os.path.join(ROOT, "docs", "img", "patterns.svg"))
    p.add_argument("--csv", default=os.path.join(ROOT, "bench", "results", "patterns.csv"))
    p.add_argument("--title", default="tern-echo request/response: concurrency models and event handling patterns")
    return p.parse_args()


def number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def read_rows(path):
    need = {"config", "work_us", "connections", "rps", "p99_us"}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = need - set(reader.fieldnames or [])
        if missing:
            sys.exit(f"plot_patterns.py: {path}: missing columns {', '.join(sorted(missing))}")
        rows = []
        for r in reader:
            work, conns = number(r["work_us"]), number(r["connections"])
            if work is None or conns is None:
                sys.exit(f"plot_patterns.py: {path}: bad work_us/connections in row {r}")
            rows.append({"config": r["config"], "work": int(work), "conns": int(conns),
                         "rps": number(r["rps"]), "p99": number(r["p99_us"]),
                         "failed": "FAILED" in (r["rps"] or "") or number(r["rps"]) is None})
    if not rows:
        sys.exit(f"plot_patterns.py: {path}: no data rows")
    return rows


def colours(configs):
    base_of = {c: re.sub(r"-T\d+$", "", c) for c in configs}
    bases = list(dict.fromkeys(base_of.values()))
    result = {}
    for i, b in enumerate(bases):
        dark, light = PAIRS[i % len(PAIRS)]
        members = [c for c in configs if base_of[c] == b]
        for j, c in enumerate(members):
            # one member: the dark shade; two: light then dark (T1 light, T2 dark); more: blend
            t = 1.0 if len(members) == 1 else j / (len(members) - 1)
            result[c] = blend(light, dark, t)
    return result


def blend(a, b, t):
    ca = [int(a[k:k + 2], 16) for k in (1, 3, 5)]
    cb = [int(b[k:k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def nice_step(span, target=5):
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def si(v):
    if v == 0:
        return "0"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            s = f"{v / div:.2f}".rstrip("0").rstrip(".")
            return s + suffix
    return f"{v:g}"


def text(x, y, s, size=12, anchor="middle", weight="normal", fill="#222", rotate=None, extra=""):
    tr = f" transform='rotate({rotate} {x:.1f} {y:.1f})'" if rotate is not None else ""
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' font-weight='{weight}' "
            f"fill='{fill}' {FONT}{tr}{extra}>{escape(s)}</text>")


def panel(out, x0, y0, title, ylabel, groups, configs, colour, values, failed, log_scale):
    """values[(config, conns)] -> float; failed: set of (config, conns)."""
    left, top = x0 + PLOT_LEFT, y0 + PLOT_TOP
    w, h = PANEL_W - PLOT_LEFT - PLOT_RIGHT, PANEL_H - PLOT_TOP - PLOT_BOTTOM
    out.append(text(x0 + PANEL_W / 2, y0 + 18, title, size=14, weight="bold"))
    vals = [v for v in values.values() if v is not None and (v > 0 or not log_scale)]

    # y scale and ticks
    if log_scale:
        # the decade below half the smallest value, so that the shortest bar stays visible
        lo = 10 ** math.floor(math.log10(min(vals) / 2)) if vals else 1
        hi = 10 ** math.ceil(math.log10(max(vals))) if vals else 10
        if hi <= lo:
            hi = lo * 10
        llo, lhi = math.log10(lo), math.log10(hi)

        def ypos(v):
            return top + h - (math.log10(max(v, lo)) - llo) / (lhi - llo) * h

        ticks = []
        for e in range(int(round(llo)), int(round(lhi)) + 1):
            for m in (1, 2, 5):
                v = m * 10 ** e
                if lo <= v <= hi:
                    ticks.append((v, m == 1))
    else:
        hi = max(vals) if vals else 1
        step = nice_step(hi)
        hi = math.ceil(hi * 1.05 / step) * step

        def ypos(v):
            return top + h - v / hi * h

        ticks = [(k * step, True) for k in range(int(round(hi / step)) + 1)]
    for v, major in ticks:
        y = ypos(v)
        out.append(f"<line x1='{left}' y1='{y:.1f}' x2='{left + w}' y2='{y:.1f}' stroke='{'#ddd' if major else '#eee'}' "
                   f"stroke-width='1'/>")
        out.append(f"<line x1='{left - 5}' y1='{y:.1f}' x2='{left}' y2='{y:.1f}' stroke='#444'/>")
        label = si(v)
        out.append(text(left - 8, y + 4, label, size=11 if major else 10, anchor="end",
                        fill="#222" if major else "#666"))
    out.append(text(x0 + 16, top + h / 2, ylabel, size=12, rotate=-90))

    # bars
    n = len(configs)
    group_w = w / len(groups)
    bar_w = group_w * 0.84 / max(n, 1)
    for gi, g in enumerate(groups):
        gx = left + gi * group_w + group_w * 0.08
        for ci, c in enumerate(configs):
            bx = gx + ci * bar_w
            key = (c, g)
            v = values.get(key)
            if key in failed:
                cx, cy = bx + bar_w / 2, top + h - 8
                d = min(bar_w / 2, 5)
                out.append(f"<g stroke='#d00' stroke-width='2'><title>{escape(c)}, {g} connections: FAILED</title>"
                           f"<line x1='{cx - d:.1f}' y1='{cy - d:.1f}' x2='{cx + d:.1f}' y2='{cy + d:.1f}'/>"
                           f"<line x1='{cx - d:.1f}' y1='{cy + d:.1f}' x2='{cx + d:.1f}' y2='{cy - d:.1f}'/></g>")
            elif v is not None and (v > 0 or not log_scale):
                y = ypos(v)
                out.append(f"<rect x='{bx + 0.5:.1f}' y='{y:.1f}' width='{max(bar_w - 1, 1):.1f}' "
                           f"height='{max(top + h - y, 0):.1f}' fill='{colour[c]}'>"
                           f"<title>{escape(c)}, {g} connections: {v:,.1f}</title></rect>")
        out.append(text(left + (gi + 0.5) * group_w, top + h + 18, f"{g}", size=12))
        if gi > 0:
            sx = left + gi * group_w
            out.append(f"<line x1='{sx:.1f}' y1='{top + h}' x2='{sx:.1f}' y2='{top + h + 6}' stroke='#444'/>")
    out.append(text(left + w / 2, top + h + 38, "connections", size=12))
    # axes
    out.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + h}' stroke='#444'/>")
    out.append(f"<line x1='{left}' y1='{top + h}' x2='{left + w}' y2='{top + h}' stroke='#444'/>")


def main():
    args = parse_args()
    rows = read_rows(args.csv)
    configs = list(dict.fromkeys(r["config"] for r in rows))
    works = sorted({r["work"] for r in rows})
    groups = sorted({r["conns"] for r in rows})
    colour = colours(configs)

    # legend: as many columns as fit, in CSV order
    col_w = 240
    cols = max(1, (WIDTH - 2 * MARGIN) // col_w)
    legend_rows = math.ceil(len(configs) / cols)
    title_h = 40
    legend_h = legend_rows * 20 + 26
    height = MARGIN + title_h + legend_h + len(works) * (PANEL_H + ROW_GAP) + MARGIN

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
           f"viewBox='0 0 {WIDTH} {height}'>",
           f"<rect x='0' y='0' width='{WIDTH}' height='{height}' fill='white'/>",
           text(WIDTH / 2, MARGIN + 20, args.title, size=18, weight="bold")]
    ly = MARGIN + title_h
    for i, c in enumerate(configs):
        x = MARGIN + (i % cols) * col_w
        y = ly + (i // cols) * 20
        out.append(f"<rect x='{x}' y='{y}' width='14' height='14' fill='{colour[c]}'/>")
        out.append(text(x + 20, y + 12, c, size=12, anchor="start"))
    out.append(f"<g stroke='#d00' stroke-width='2'><line x1='{MARGIN + 2}' y1='{ly + legend_rows * 20 + 2}' "
               f"x2='{MARGIN + 12}' y2='{ly + legend_rows * 20 + 12}'/><line x1='{MARGIN + 2}' "
               f"y1='{ly + legend_rows * 20 + 12}' x2='{MARGIN + 12}' y2='{ly + legend_rows * 20 + 2}'/></g>")
    out.append(text(MARGIN + 20, ly + legend_rows * 20 + 12,
                    "FAILED run (server did not start, died, or the client saw errors)", size=12, anchor="start"))

    y0 = MARGIN + title_h + legend_h
    for work in works:
        sel = [r for r in rows if r["work"] == work]
        rps = {(r["config"], r["conns"]): r["rps"] for r in sel if not r["failed"]}
        p99 = {(r["config"], r["conns"]): r["p99"] for r in sel if not r["failed"]}
        failed = {(r["config"], r["conns"]) for r in sel if r["failed"]}
        panel(out, MARGIN, y0, f"work_us={work}: throughput", "requests/s", groups, configs, colour, rps, failed,
              log_scale=False)
        panel(out, MARGIN + PANEL_W + PANEL_GAP, y0, f"work_us={work}: p99 latency", "p99 latency (µs, log scale)",
              groups, configs, colour, p99, failed, log_scale=True)
        y0 += PANEL_H + ROW_GAP
    out.append("</svg>")

    svg = "\n".join(out) + "\n"
    try:
        ET.fromstring(svg)
    except ET.ParseError as e:
        sys.exit(f"plot_patterns.py: internal error: the SVG does not parse: {e}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(svg)
    ET.parse(args.out)  # and the file as written
    print(f"plot_patterns.py: wrote {args.out} ({WIDTH}x{height} px, {len(configs)} configs, "
          f"work_us {', '.join(map(str, works))}, connections {', '.join(map(str, groups))})")


if __name__ == "__main__":
    main()
