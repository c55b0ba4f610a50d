"""``rpcmsg bench``: the benchmark workloads on one or more URLs, with a progress bar.

The servers run in a process of their own (as deployed) on every driver but ``fake://``,
whose broker lives in one process; ``--in-process`` runs them in the client's process. Each
row says which (``servers``), in the JSON and on the plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from rpcmsg.cli import report, workloads
from rpcmsg.cli._common import EXIT_BROKER, EXIT_OK, EXIT_USAGE, CLIError

__all__ = ["ProgressBar", "bench"]


class ProgressBar:
    """Draws ``label [#####.....] done/total`` on a terminal; one line per workload otherwise."""

    def __init__(self, prefix: str, out: TextIO, width: int = 30) -> None:
        self.prefix = prefix
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._label: str | None = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.tty:
            filled = self.width * min(done, total) // max(total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.prefix} {label:<18} [{bar}] {done}/{total}"
            self.out.write("\r" + text.ljust(78))
            self.out.flush()
        elif label != self._label:
            self.out.write(f"{self.prefix} {label}\n")
            self.out.flush()
        self._label = label

    def finish(self) -> None:
        if self.tty:
            self.out.write("\r" + " " * 78 + "\r")
            self.out.flush()


#: The ``servers`` field of a row: where the workloads' servers ran.
SEPARATE = "own process"
IN_PROCESS = "client's process"


def _label(url: str) -> str:
    return "rpcmsg " + url.split("://", 1)[0]


def bench(args: argparse.Namespace) -> int:
    urls = args.bench_urls or [args.url or "fake://"]
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError(
                "--plot needs matplotlib: pip install 'rpcmsg[plot]'", EXIT_USAGE
            ) from None
    counts = workloads.QUICK if args.quick else workloads.STANDARD
    rows: list[dict[str, Any]] = []
    failed = False
    for url in urls:
        # As services are deployed, the servers run in a process of their own, except on
        # fake:// (one process only) or when asked otherwise.
        separate = not args.in_process and not url.startswith("fake:")
        progress = ProgressBar(_label(url), sys.stderr)
        try:
            figures = workloads.run(url, counts, progress, separate=separate)
        finally:
            progress.finish()
        servers = SEPARATE if separate else IN_PROCESS
        rows.append({"name": _label(url), "servers": servers, **figures})
        for name, error in (figures.get("errors") or {}).items():
            print(f"rpcmsg: error: {_label(url)}: {name} failed: {error}", file=sys.stderr)
            failed = True
    print(report.markdown(rows), end="")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump({"machine": report.machine(), "rows": rows}, out, indent=2)
    if args.plot:
        report.plot(rows, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    # Figures with holes must not pass for a clean run in a script.
    return EXIT_BROKER if failed else EXIT_OK
