"""Every benchmark figure in one command, side by side, with ratios measured in the same run.

    python benchmarks/run.py [--quick] [--drivers fake,rabbit,redis] [--no-oslo] [--no-raw]

Rows:

* ``ceiling``: a bare ``SimpleQueue`` + thread pool request/reply hand-off (``ceiling.py``);
* ``rpcmsg <driver>``: :mod:`rpcmsg.cli.workloads` on each driver whose entry point loads and
  whose broker answers, each in a process of its own (``workloads.py``);
* the raw broker loops ``amqp_raw.py`` and ``redis_raw.py`` when present, and ``oslo_bench.py``
  run with oslo.messaging's python (``$RPCMSG_OSLO_PYTHON``, else ``.venv-oslo/bin/python``,
  else ``/tmp/osloenv/bin/python``) when present.

Each script is a subprocess printing one JSON object of figures on its last stdout line, with
the keys ``seq_calls_per_s, p50_ms, p99_ms, threaded_calls_per_s, casts_per_s,
notifications_per_s`` (any may be missing). A script may instead print an object of such
objects keyed by driver name (``{"rabbit": {...}, "redis": {...}}``), or add ``"driver"`` to
say which rpcmsg driver it compares with (default: from its file name, else ``rabbit``).
``RPCMSG_BENCH_QUICK=1`` is set in their environment for ``--quick`` runs.

Writes ``benchmarks/results/latest.json`` and ``benchmarks/results/latest.md`` (the table
pasted into the README by ``--update-readme``), with the machine the run was made on. A
script that fails or is missing is listed under ``skipped`` with the reason, never stops the
run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
OSLO_SCRIPT = "oslo_bench.py"
SCRIPT_TIMEOUT = 600
README_START = "<!-- bench-table: benchmarks/results/latest.md -->"
README_END = "<!-- /bench-table -->"


def _why_not(driver: str) -> str | None:
    """Why the rpcmsg ``driver`` cannot be measured here, or None."""
    try:
        _plugins.load_driver_class(driver)
    except Exception as exc:
        return f"driver {driver} does not load: {exc}".splitlines()[0]
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


def _rows_from(figures: dict[str, Any], kind: str, label: str, driver: str) -> list[dict[str, Any]]:
    if figures and all(isinstance(v, dict) for v in figures.values()):
        return [
            {"name": f"{label} {name}", "kind": kind, **v, "driver": v.get("driver", name)}
            for name, v in figures.items()
        ]
    return [{"name": label, "kind": kind, **figures, "driver": figures.get("driver", driver)}]


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rpcmsg against each other row of its driver (and fake against the ceiling).

    Throughput ratios are rpcmsg / other, latency ratios other / rpcmsg: above 1, rpcmsg wins.
    """
    out = []
    for mine in (r for r in rows if r["kind"] == "rpcmsg"):
        for other in rows:
            if other["kind"] == "rpcmsg":
                continue
            if not (
                other["driver"] == mine["driver"]
                or (other["kind"] == "ceiling" and mine["driver"] == "fake")
            ):
                continue
            for figure in report.HEADINGS:
                a, b = mine.get(figure), other.get(figure)
                if (
                    not isinstance(a, (int, float))
                    or not isinstance(b, (int, float))
                    or not a
                    or not b
                ):
                    continue
                value = a / b if figure.endswith("per_s") else b / a
                out.append(
                    {
                        "name": mine["name"],
                        "versus": other["name"],
                        "figure": figure,
                        "ratio": value,
                    }
                )
    return out


def collect(drivers: list[str], quick: bool, oslo: bool, raw: bool) -> dict[str, Any]:
    """Run everything asked for and return the report data (rows, ratios, skipped, machine)."""
    from ceiling import ceiling
    from tidy import tidy

    from rpcmsg.cli.workloads import QUICK, STANDARD

    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    print("ceiling: SimpleQueue + thread pool", file=sys.stderr)
    rows.append(
        {"name": "ceiling (SimpleQueue + pool)", "kind": "ceiling", "driver": "fake",
         **ceiling(QUICK if quick else STANDARD)}
    )  # fmt: skip
    for driver in drivers:
        why = _why_not(driver)
        if why:
            skipped[f"rpcmsg {driver}"] = why
            continue
        args = ["--url", URLS[driver], "--label", f"rpcmsg {driver}"] + (
            ["--quick"] if quick else []
        )
        try:
            figures = run_script(sys.executable, HERE / "workloads.py", args, quick)
        except RuntimeError as exc:
            skipped[f"rpcmsg {driver}"] = str(exc)
            continue
        rows.append({"name": f"rpcmsg {driver}", "kind": "rpcmsg", **figures, "driver": driver})
        for workload, error in (figures.get("errors") or {}).items():
            skipped[f"rpcmsg {driver} {workload}"] = error
        try:
            tidy(driver, URLS[driver])
        except Exception as exc:  # tidying never spoils the figures
            print(f"could not delete the workloads' queues on {driver}: {exc}", file=sys.stderr)
    if raw:
        for script, script_args, label, driver in RAW_SCRIPTS:
            if driver not in drivers:
                continue
            if not (HERE / script).exists():
                skipped[label] = f"{script} not present"
                continue
            try:
                rows += _rows_from(
                    run_script(sys.executable, HERE / script, script_args, quick),
                    "raw",
                    label,
                    driver,
                )
            except RuntimeError as exc:
                skipped[label] = str(exc)
    if oslo:
        python = oslo_python()
        if not (HERE / OSLO_SCRIPT).exists():
            skipped["oslo.messaging"] = f"{OSLO_SCRIPT} not present"
        elif python is None:
            skipped["oslo.messaging"] = "no python with oslo.messaging ($RPCMSG_OSLO_PYTHON)"
        else:
            try:
                figures = run_script(python, HERE / OSLO_SCRIPT, [], quick)
                rows += _rows_from(figures, "oslo", "oslo.messaging", "rabbit")
            except RuntimeError as exc:
                skipped["oslo.messaging"] = str(exc)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "quick": quick,
        "rows": rows,
        "ratios": ratios(rows),
        "skipped": skipped,
    }


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    head = [
        f"Measured {data['date']} on {m['cpu']}, {m['cores']} cores, {m['os']}, {m['python']}, "
        f"load average {m.get('load_1min')} at the start"
        + (" (quick smoke run: counts too small to mean much)" if data["quick"] else "")
        + ". One process per row; client and server in that process; brokers on localhost.",
        "",
    ]
    tail = [""]
    fake = next((r for r in data["rows"] if r["name"] == "rpcmsg fake"), None)
    if fake and isinstance(fake.get("seq_calls_per_s"), (int, float)):
        from ceiling import TARGET_CALLS_PER_S

        verdict = "met" if fake["seq_calls_per_s"] >= TARGET_CALLS_PER_S else "NOT met"
        tail += [
            f"Target: the fake driver does at least {TARGET_CALLS_PER_S:,.0f} sequential calls/s "
            f"in one process with the threading executor: {verdict} "
            f"({fake['seq_calls_per_s']:,.0f}/s).",
            "",
        ]
    if data["skipped"]:
        tail += ["Not measured in this run:", ""]
        tail += [f"- {name}: {why}" for name, why in data["skipped"].items()]
    return (
        "\n".join(head)
        + "\n"
        + report.markdown(data["rows"], data["ratios"])
        + "\n".join(tail).rstrip()
        + "\n"
    )


def paste_into_readme(table: str, readme: Path = ROOT / "README.md") -> None:
    """Replace what lies between the README's bench-table markers with ``table``."""
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(text[:start] + "\n" + table + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="minimal counts (smoke run)")
    parser.add_argument("--drivers", default="fake,rabbit,redis", help="rpcmsg drivers to run")
    parser.add_argument("--no-oslo", action="store_true", help="skip oslo.messaging")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw broker loops")
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
    full = set(drivers) == set(URLS) and not (args.quick or args.no_oslo or args.no_raw)
    if args.update_readme and not full:
        parser.error("--update-readme needs a full run: every driver, oslo and raw, no --quick")
    data = collect(drivers, args.quick, not args.no_oslo, not args.no_raw)
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
