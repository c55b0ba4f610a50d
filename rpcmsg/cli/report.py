"""Benchmark figures as Markdown, the machine they ran on, and the optional plot.

Shared by ``rpcmsg bench`` and ``benchmarks/run.py``. A *row* is a dict with a ``name`` and
any of the figures of :data:`rpcmsg.cli.workloads.FIGURES` (plus ``payloads``); a missing
figure shows as ``-``.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

from rpcmsg.cli.workloads import FIGURES

__all__ = ["HEADINGS", "machine", "markdown", "plot"]

HEADINGS = {
    "seq_calls_per_s": "calls/s (seq)",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "threaded_calls_per_s": "calls/s (8 threads)",
    "casts_per_s": "casts/s",
    "notifications_per_s": "notifications/s",
    # Shown only when a row has it (the asyncio clients; benchmarks/run.py).
    "inflight_calls_per_s": "calls/s (1,000 in flight)",
}


def machine() -> dict[str, Any]:
    """CPU model, core count, load average (1 min), OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_1min": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }


def _fmt(value: Any) -> str:
    if not isinstance(value, (int, float)) or value != value:  # missing or NaN
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _table(
    headers: Sequence[str], lines: Sequence[Sequence[str]], text_columns: int = 1
) -> list[str]:
    """A Markdown table: the first ``text_columns`` left-aligned, the figures right-aligned."""
    rule = ["---"] * text_columns + ["---:"] * (len(headers) - text_columns)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return out


def markdown(rows: Sequence[dict[str, Any]], ratios: Sequence[dict[str, Any]] = ()) -> str:
    """The figures table, the payload-size table and the ratios table, in Markdown.

    The columns are :data:`~rpcmsg.cli.workloads.FIGURES`, then any other figure of
    :data:`HEADINGS` that a row has.
    """
    keys = [*FIGURES]
    keys += [k for k in HEADINGS if k not in keys and any(k in row for row in rows)]
    out = _table(
        ["", *(HEADINGS[key] for key in keys)],
        [[row["name"], *(_fmt(row.get(key)) for key in keys)] for row in rows],
    )
    labels: list[str] = []
    for row in rows:
        for label in row.get("payloads") or {}:
            if label not in labels:
                labels.append(label)
    if labels:
        out += ["", "Sequential calls by payload size (sent and echoed back): calls/s, p50 ms", ""]
        lines = []
        for row in rows:
            sizes = row.get("payloads") or {}
            if not sizes:
                continue
            cells = []
            for label in labels:
                one = sizes.get(label) or {}
                cells.append(f"{_fmt(one.get('calls_per_s'))} / {_fmt(one.get('p50_ms'))}")
            lines.append([row["name"], *cells])
        out += _table(["", *labels], lines)
    if ratios:
        out += ["", "Ratios measured in the same run (higher is better for rpcmsg):", ""]
        out += _table(
            ["rpcmsg", "compared with", "figure", "ratio"],
            [
                [
                    r["name"],
                    r["versus"],
                    HEADINGS.get(r["figure"], r["figure"]),
                    f"{r['ratio']:.2f}x",
                ]
                for r in ratios
            ],
            text_columns=3,
        )
    return "\n".join(out) + "\n"


def plot(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Draw latency percentiles and throughput per row into ``path`` (PNG).

    Raises ``ImportError`` when matplotlib is missing (the ``plot`` extra).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Where the servers ran is part of what a figure means: it goes under each name.
    names = [
        f"{row['name']}\n(servers: {row['servers']})" if row.get("servers") else row["name"]
        for row in rows
    ]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.38
    xs = range(len(rows))
    for i, key in enumerate(("p50_ms", "p99_ms")):
        values = [float(row.get(key) or 0.0) for row in rows]
        lat.bar([x + (i - 0.5) * width for x in xs], values, width, label=HEADINGS[key])
    lat.set_xticks(list(xs), names, rotation=20, ha="right")
    lat.set_ylabel("ms")
    lat.set_title("Sequential call latency (100 B)")
    lat.legend()
    keys = ("seq_calls_per_s", "threaded_calls_per_s", "casts_per_s", "notifications_per_s")
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        values = [float(row.get(key) or 0.0) for row in rows]
        thr.bar([x + (i - 1.5) * width for x in xs], values, width, label=HEADINGS[key])
    thr.set_xticks(list(xs), names, rotation=20, ha="right")
    thr.set_ylabel("messages/s")
    thr.set_title("Throughput")
    thr.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
