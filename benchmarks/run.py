"""Every benchmark figure in one command, side by side, with ratios measured in the same run.

    python benchmarks/run.py [--quick] [--repeat N] [--in-process]
        [--drivers fake,rabbit,redis] [--no-oslo] [--no-raw] [--no-peers] [--no-async]

Rows (each script a process of its own, whose server half runs in yet another process, as
services are deployed, unless ``--in-process``; ``fake://`` and the ceiling are in-process
only, and labelled so):

* ``ceiling``: a bare ``SimpleQueue`` + thread pool request/reply hand-off (``ceiling.py``);
* ``rpcmsg <driver>``: :mod:`rpcmsg.cli.workloads` on each driver whose entry point loads and
  whose broker answers (``workloads.py``);
* ``rpcmsg async <driver>``: the asyncio client (``async_workloads.py``) on each driver with
  an async twin, once :mod:`rpcmsg.asyncio` exists;
* the raw broker loops ``amqp_raw.py`` and ``redis_raw.py``, and ``oslo_bench.py`` run with
  oslo.messaging's python (``$RPCMSG_OSLO_PYTHON``, else ``.venv-oslo/bin/python``, else
  ``/tmp/osloenv/bin/python``) when present;
* the peers, each on its own virtualenv's python (``peers.py setup``): aio-pika's RPC
  pattern (``peer_aiopika.py``) and FastStream's ``request()`` on RabbitMQ and Redis
  (``peer_faststream.py``).

Each script is a subprocess printing one JSON object of figures on its last stdout line (see
benchmarks/README.md). With ``--repeat N`` every script runs N times, in rounds (every row
once, then again), and each figure is the median of its N values. ``RPCMSG_BENCH_QUICK=1``
is set in their environment for ``--quick`` runs.

Writes ``benchmarks/results/latest.json`` and ``benchmarks/results/latest.md`` (the table
pasted into the README by ``--update-readme``), with the machine the run was made on. A
script that fails or is missing is listed under ``skipped`` with the reason, never stops the
run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import peers
from tables import markdown, ratios

from rpcmsg import _plugins
from rpcmsg.cli import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
URLS = {
    "fake": "fake:///bench",
    "rabbit": os.environ.get("RPCMSG_BENCH_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/"),
    "redis": os.environ.get("RPCMSG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
}
DEFAULT_PORTS = {"rabbit": 5672, "redis": 6379}
#: The raw broker loops: (script, its arguments, row label, the rpcmsg driver it compares with).
RAW_SCRIPTS = [
    ("amqp_raw.py", [], "raw py-amqp loop", "rabbit"),
    ("redis_raw.py", [], "raw redis-py loop", "redis"),
    ("redis_raw.py", ["--packed"], "raw redis loop, packed by hand", "redis"),
]
#: The peers: (peer of peers.PEERS, script, its arguments, row label, rpcmsg driver).
PEER_SCRIPTS = [
    ("aio-pika", "peer_aiopika.py", [], "aio-pika RPC", "rabbit"),
    ("faststream", "peer_faststream.py", ["--broker", "rabbit"], "FastStream rabbit", "rabbit"),
    ("faststream", "peer_faststream.py", ["--broker", "redis"], "FastStream redis", "redis"),
]
OSLO_SCRIPT = "oslo_bench.py"
SCRIPT_TIMEOUT = 600
README_START = "<!-- bench-table: benchmarks/results/latest.md -->"
README_END = "<!-- /bench-table -->"


def _why_not(driver: str, asynchronous: bool = False) -> str | None:
    """Why the rpcmsg ``driver`` (or its async twin) cannot be measured here, or None."""
    try:
        _plugins.load_driver_class(driver)
    except Exception as exc:
        return f"driver {driver} does not load: {exc}".splitlines()[0]
    if asynchronous:
        if importlib.util.find_spec("rpcmsg.asyncio") is None:
            return "not available yet: rpcmsg.asyncio is not on main"
        try:
            _plugins.load_async_driver_class(driver)
        except Exception:
            return f"not available yet: no async {driver} driver (rpcmsg.async_drivers) on main"
    if driver == "fake":
        return None
    parts = urlsplit(URLS[driver])
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[driver]
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as exc:
        return f"{driver} broker not reachable at {host}:{port}: {exc}"


def oslo_python() -> str | None:
    """The python of the venv where oslo.messaging is installed, if any."""
    candidates = [
        os.environ.get("RPCMSG_OSLO_PYTHON"),
        str(ROOT / ".venv-oslo" / "bin" / "python"),
        "/tmp/osloenv/bin/python",
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no JSON object on stdout")


def run_script(python: str, script: Path, args: list[str], quick: bool) -> dict[str, Any]:
    """Run a benchmark script and return its JSON figures; raise RuntimeError on failure."""
    env = dict(os.environ)
    if quick:
        env["RPCMSG_BENCH_QUICK"] = "1"
    try:
        proc = subprocess.run(
            [python, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=None,  # progress and errors go straight to the terminal
            text=True,
            timeout=SCRIPT_TIMEOUT,
            env=env,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{script.name} took more than {SCRIPT_TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} exited with {proc.returncode}")
    try:
        return _last_json(proc.stdout)
    except ValueError as exc:
        raise RuntimeError(f"{script.name}: {exc}") from exc


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median of its values over ``runs`` (recursively); the rest from the
    first run that has it."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if key in run]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = statistics.median(values)
        elif all(isinstance(v, dict) for v in values):
            out[key] = median_figures(values)
        else:
            out[key] = values[0]
    return out


@dataclass
class Job:
    """One row: a script run ``repeat`` times."""

    name: str
    kind: str
    driver: str
    python: str
    script: str
    args: list[str]
    tidy: str | None = None  # the driver whose workloads' leftovers to delete after a run
    runs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def jobs(
    drivers: list[str], oslo: bool, raw: bool, peer: bool, aio: bool, in_process: bool,
    skipped: dict[str, str],
) -> list[Job]:  # fmt: skip
    """The rows asked for; what cannot run here goes into ``skipped`` with the reason."""
    out: list[Job] = []
    here = ["--in-process"] if in_process else []
    for driver in drivers:
        name = f"rpcmsg {driver}" + (" (in-process)" if driver == "fake" else "")
        why = _why_not(driver)
        if why:
            skipped[name] = why
            continue
        args = ["--url", URLS[driver], "--label", name]
        args += here if driver != "fake" else ["--in-process"]
        out.append(Job(name, "rpcmsg", driver, sys.executable, "workloads.py", args, driver))
    if aio:
        for driver in drivers:
            name = f"rpcmsg async {driver}" + (" (in-process)" if driver == "fake" else "")
            why = _why_not(driver, asynchronous=True)
            if why:
                skipped[name] = why
                continue
            args = ["--url", URLS[driver]] + (here if driver != "fake" else ["--in-process"])
            out.append(
                Job(name, "rpcmsg-async", driver, sys.executable, "async_workloads.py", args)
            )
            if driver != "fake" and not in_process:
                # The async client against the sync row's server: the client's own cost.
                out.append(
                    Job(f"{name}, sync server", "rpcmsg-async-sync-server", driver,
                        sys.executable, "async_workloads.py", [*args, "--server", "sync"])
                )  # fmt: skip
    if raw:
        for script, script_args, label, driver in RAW_SCRIPTS:
            if driver not in drivers:
                continue
            if not (HERE / script).exists():
                skipped[label] = f"{script} not present"
                continue
            out.append(Job(label, "raw", driver, sys.executable, script, script_args + here))
    if oslo and "rabbit" in drivers:
        python = oslo_python()
        if python is None:
            skipped["oslo.messaging"] = "no python with oslo.messaging ($RPCMSG_OSLO_PYTHON)"
        else:
            out.append(Job("oslo.messaging", "oslo", "rabbit", python, OSLO_SCRIPT, here))
    if peer:
        for name, script, script_args, label, driver in PEER_SCRIPTS:
            if driver not in drivers:
                continue
            python_path = peers.python(name)
            if python_path is None:
                skipped[label] = f"no virtualenv for {name}: python benchmarks/peers.py setup"
                continue
            out.append(Job(label, "peer", driver, str(python_path), script, script_args))
    return out


def collect(
    drivers: list[str], quick: bool, oslo: bool, raw: bool, peer: bool = True,
    aio: bool = True, in_process: bool = False, repeat: int = 1,
) -> dict[str, Any]:  # fmt: skip
    """Run everything asked for and return the report data (rows, ratios, skipped, machine)."""
    from ceiling import ceiling
    from tidy import tidy

    from rpcmsg.cli.workloads import QUICK, STANDARD

    skipped: dict[str, str] = {}
    machine = report.machine()
    todo = jobs(drivers, oslo, raw, peer, aio, in_process, skipped)
    ceilings: list[dict[str, Any]] = []
    for round_ in range(1, repeat + 1):
        print(f"round {round_} of {repeat}: ceiling (SimpleQueue + pool)", file=sys.stderr)
        ceilings.append(ceiling(QUICK if quick else STANDARD))
        for job in todo:
            print(f"round {round_} of {repeat}: {job.name}", file=sys.stderr)
            try:
                job.runs.append(run_script(job.python, HERE / job.script, job.args, quick))
            except RuntimeError as exc:
                job.errors.append(str(exc))
            if job.tidy and job.tidy != "fake":
                try:
                    tidy(job.tidy, URLS[job.tidy])
                except Exception as exc:  # tidying never spoils the figures
                    print(f"could not delete the workloads' leftovers: {exc}", file=sys.stderr)
    rows: list[dict[str, Any]] = [
        {"name": "ceiling (SimpleQueue + pool, in-process)", "kind": "ceiling",
         "driver": "fake", **median_figures(ceilings)}
    ]  # fmt: skip
    for job in todo:
        if not job.runs:
            skipped[job.name] = job.errors[0]
            continue
        figures = median_figures(job.runs)
        figures.pop("driver", None)
        figures.pop("server_pid", None)
        rows.append({"name": job.name, "kind": job.kind, **figures, "driver": job.driver})
        rows[-1]["runs"] = len(job.runs)
        if job.errors:
            skipped[f"{job.name}, {len(job.errors)} of {repeat} runs"] = job.errors[0]
        for workload, error in (figures.get("errors") or {}).items():
            skipped[f"{job.name} {workload}"] = error
    end = report.machine()
    machine["load_1min_end"] = end.get("load_1min")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "quick": quick,
        "in_process": in_process,
        "repeat": repeat,
        "rows": rows,
        "ratios": ratios(rows),
        "skipped": skipped,
    }


def paste_into_readme(table: str, readme: Path = ROOT / "README.md") -> None:
    """Replace what lies between the README's bench-table markers with ``table``."""
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(text[:start] + "\n" + table + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="minimal counts (smoke run)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; medians reported")
    parser.add_argument(
        "--in-process", action="store_true", help="servers in the client's process (old mode)"
    )
    parser.add_argument("--drivers", default="fake,rabbit,redis", help="rpcmsg drivers to run")
    parser.add_argument("--no-oslo", action="store_true", help="skip oslo.messaging")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw broker loops")
    parser.add_argument("--no-peers", action="store_true", help="skip aio-pika and FastStream")
    parser.add_argument("--no-async", action="store_true", help="skip rpcmsg's async client")
    parser.add_argument(
        "--out",
        help="directory for latest.* (default: benchmarks/results for a full run, "
        "benchmarks/results/partial for a quick or partial one)",
    )
    parser.add_argument("--update-readme", action="store_true", help="paste the table in README")
    args = parser.parse_args(argv)
    drivers = [d.strip() for d in args.drivers.split(",") if d.strip()]
    unknown = [d for d in drivers if d not in URLS]
    if unknown:
        parser.error(f"unknown driver(s) {', '.join(unknown)}: choose among {', '.join(URLS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    partial = (
        args.quick or args.in_process or args.no_oslo or args.no_raw or args.no_peers
        or args.no_async
    )  # fmt: skip
    full = set(drivers) == set(URLS) and not partial
    if args.update_readme and not full:
        parser.error(
            "--update-readme needs a full run: every driver and row, servers in processes "
            "of their own, no --quick"
        )
    data = collect(
        drivers, args.quick, not args.no_oslo, not args.no_raw, not args.no_peers,
        not args.no_async, args.in_process, args.repeat,
    )  # fmt: skip
    # Only a full run replaces the figures the README shows.
    out = Path(args.out) if args.out else HERE / "results" / ("" if full else "partial")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    (out / "latest.md").write_text(text)
    print(text, end="")
    if args.update_readme:
        paste_into_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
