#!/usr/bin/env python3
"""Draws docs/img/cluster.png: the two forms of the tern architecture (docs/cluster.md), each
unit mapped to the process that runs it and the code that implements it.

    python3 docs/img/cluster_diagram.py docs/img/cluster.png

Boxes are processes (solid) holding units (filled); arrows are the bounded queues between the
units: in-process request queues in the single server, persistent TCP pools in the cluster.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

UNIT_COLOURS = {"io": "#cfe2f3", "logic": "#d9ead3", "storage": "#fce5cd", "client": "#eeeeee"}


def box(ax, x, y, w, h, title, lines, colour, bold_edge=False):
    """A rounded box with a bold title and smaller lines of code paths under it."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour, edgecolor="#333333",
                                linewidth=1.8 if bold_edge else 0.8))
    ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontsize=10.5,
            fontweight="bold")
    for i, line in enumerate(lines):
        ax.text(x + w / 2, y + h - 0.62 - i * 0.3, line, ha="center", va="top", fontsize=8,
                family="monospace")


def process(ax, x, y, w, h, label):
    """A process: a dashed frame with its command line above it."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor="none", edgecolor="#555555", linewidth=1.2,
                                linestyle="--"))
    ax.text(x + 0.08, y + h + 0.12, label, ha="left", va="bottom", fontsize=9.5,
            family="monospace", color="#222222")


def arrow(ax, x0, y0, x1, y1, label, double=False):
    style = "<|-|>" if double else "-|>"
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=14,
                                 linewidth=3.0 if double else 1.4, color="#444444"))
    ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, ha="center", va="bottom", fontsize=8,
            style="italic", color="#333333",
            bbox=dict(facecolor="white", edgecolor="none", pad=1.0))


def single_server(ax, top):
    ax.text(0.1, top, "single server: tern-kv --store sqlite:PATH  (one process)",
            fontsize=12, fontweight="bold", va="top")
    box(ax, 0.2, top - 3.0, 2.1, 1.5, "clients", ["curl", "tern-bench"], UNIT_COLOURS["client"])
    process(ax, 2.9, top - 3.6, 13.8, 2.7, "tern-kv --port 9100 --store sqlite:tern-kv.db")
    box(ax, 3.2, top - 3.4, 3.8, 2.1, "I/O unit", ["tern::Server (loops)",
        "src/patterns/ src/loop/", "Session<http::Protocol>"], UNIT_COLOURS["io"])
    box(ax, 7.9, top - 3.4, 3.6, 2.1, "logic unit", ["kv handlers (router)", "apps/kv/",
        "one Store per loop"], UNIT_COLOURS["logic"])
    box(ax, 12.4, top - 3.4, 4.1, 2.1, "storage unit", ["src/store/sqlite_storage.cc",
        "storage thread, group commit", "src/store/cached_storage.cc (LRU)"],
        UNIT_COLOURS["storage"])
    arrow(ax, 2.3, top - 2.3, 3.2, top - 2.3, "HTTP")
    arrow(ax, 7.0, top - 2.3, 7.9, top - 2.3, "queue")
    arrow(ax, 11.5, top - 2.3, 12.4, top - 2.3, "queue")


def cluster(ax, top):
    ax.text(0.1, top, "cluster: make cluster  (scripts/cluster.sh, four processes on 127.0.0.1)",
            fontsize=12, fontweight="bold", va="top")
    box(ax, 0.2, top - 3.9, 2.1, 1.5, "clients", ["curl", "tern-bench"], UNIT_COLOURS["client"])
    process(ax, 2.9, top - 4.6, 3.9, 3.1, "tern-proxy :8080")
    box(ax, 3.1, top - 4.4, 3.5, 2.5, "I/O unit", ["access server", "apps/proxy/",
        "include/tern/proxy/", "health: GET /healthz"], UNIT_COLOURS["io"])
    for i, (port, y) in enumerate([(9101, top - 2.65), (9102, top - 5.65)]):
        process(ax, 7.9, y - 0.15, 4.0, 2.25, f"tern-kv :{port}")
        box(ax, 8.1, y, 3.6, 1.9, "logic unit", ["apps/kv/", "Store: redis://",
            "src/store/redis_storage.cc"], UNIT_COLOURS["logic"])
        arrow(ax, 6.6, top - 3.15, 8.1, y + 0.95, "HTTP pools", double=True)
        arrow(ax, 11.7, y + 0.95, 12.9, top - 3.9, "RESP pools", double=True)
    process(ax, 12.7, top - 5.2, 4.0, 2.7, "redis-server :6390")
    box(ax, 12.9, top - 5.0, 3.6, 2.2, "storage unit", ["database server", "appendonly (AOF)",
        "data: build/cluster/redis/", "scripts/cluster/redis.conf"], UNIT_COLOURS["storage"])
    arrow(ax, 2.3, top - 3.15, 3.1, top - 3.15, "HTTP")
    ax.text(9.9, top - 6.3, "the RESP client: include/tern/redis/client.h, src/redis/ "
            "(one redis::Client per loop)", ha="center", fontsize=8, family="monospace")


def main(path):
    fig, ax = plt.subplots(figsize=(14, 9.5))
    ax.set_xlim(0, 17)
    ax.set_ylim(1.1, 12.6)
    ax.axis("off")
    single_server(ax, 12.4)
    ax.plot([0.1, 16.9], [8.2, 8.2], color="#999999", linewidth=0.6)
    cluster(ax, 7.9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img/cluster.png")
