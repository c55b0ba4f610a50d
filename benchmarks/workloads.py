"""The common workloads over an rpcmsg transport URL, as a script printing JSON figures.

    python benchmarks/workloads.py --url rabbit://guest:guest@127.0.0.1:5672/ [--quick]
        [--in-process]

The workloads themselves live in :mod:`rpcmsg.cli.workloads` (so that the installed
``rpcmsg bench`` command runs them too); this script runs them in a process of their own,
which is how ``benchmarks/run.py`` measures each driver without the others' threads around.
The servers run in a process of their own (:mod:`rpcmsg.cli._benchserve`), as services are
deployed, unless ``--in-process`` (always for ``fake://``, whose broker lives in one
process).
Progress goes to stderr, the JSON dict of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from rpcmsg.cli._bench import ProgressBar
from rpcmsg.cli.workloads import FIGURES, QUICK, STANDARD, Counts, percentile, run

__all__ = ["FIGURES", "QUICK", "STANDARD", "Counts", "percentile", "run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://")
    parser.add_argument("--quick", action="store_true", help="minimal counts (smoke run)")
    parser.add_argument("--label", default=None, help="progress label")
    parser.add_argument("--in-process", action="store_true", help="servers in this process")
    args = parser.parse_args(argv)
    separate = not args.in_process and not args.url.startswith("fake:")
    quick = args.quick or bool(os.environ.get("RPCMSG_BENCH_QUICK"))
    progress = ProgressBar(args.label or args.url.split("://")[0], sys.stderr)
    try:
        figures = run(args.url, QUICK if quick else STANDARD, progress, separate)
    finally:
        progress.finish()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
