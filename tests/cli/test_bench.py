"""``rpcmsg bench``: a smoke run of the workloads on fake:// with minimal counts.

The figures themselves are not asserted (speed targets live in benchmarks/); these tests keep
the harness working: every workload produces its figure, the table and the plot are written.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rpcmsg.cli import main, report, workloads


def test_workloads_produce_every_figure() -> None:
    figures = workloads.run("fake:///bench-smoke", workloads.QUICK)
    assert "errors" not in figures
    for key in workloads.FIGURES:
        assert figures[key] > 0, key
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert set(figures["payloads"]) == {"100B", "10KB", "1MB"}


def test_fake_servers_cannot_run_in_another_process() -> None:
    with pytest.raises(ValueError, match="one process"):
        workloads.run("fake:///bench-separate", workloads.QUICK, separate=True)


def test_workloads_with_the_servers_in_a_process_of_their_own() -> None:
    """The default of benchmarks/run.py: every figure, served by another process."""
    import os

    from tests.drivers import SPECS

    why = SPECS["redis"].unavailable()
    if why:
        pytest.skip(why)
    url = SPECS["redis"].base_url("")
    try:
        figures = workloads.run(url, workloads.QUICK, separate=True)
    finally:
        _tidy("redis", url)
    assert "errors" not in figures, figures["errors"]
    for key in workloads.FIGURES:
        assert figures[key] > 0, key
    assert figures["server_pid"] != os.getpid()


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert workloads.percentile(values, 0.5) == 50.0
    assert workloads.percentile(values, 0.99) == 99.0
    assert workloads.percentile([3.0], 0.99) == 3.0


def test_bench_command_prints_the_table_and_writes_json(capsys: Any, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    assert main(["bench", "--quick", "--url", "fake:///bench-cli", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("|  | calls/s (seq) |")
    assert "| rpcmsg fake |" in table
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] and data["rows"][0]["seq_calls_per_s"] > 0


def test_markdown_marks_missing_figures_and_ratios() -> None:
    text = report.markdown(
        [{"name": "a", "seq_calls_per_s": 1234.5}, {"name": "b", "p50_ms": 0.5}],
        [{"name": "a", "versus": "b", "figure": "seq_calls_per_s", "ratio": 2.0}],
    )
    assert "| a | 1,234 | - | - | - | - | - |" in text
    assert "| b | - | 0.50 | - | - | - | - |" in text
    assert "| a | b | calls/s (seq) | 2.00x |" in text


def test_plot_writes_a_png(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert main(["bench", "--quick", "--url", "fake:///bench-plot", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    assert main(["bench", "--quick", "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "rpcmsg: error: --plot needs matplotlib: pip install 'rpcmsg[plot]'"


def test_benchmark_harness_smoke_run(tmp_path: Path) -> None:
    """benchmarks/run.py end to end on fake:// with minimal counts: files and ratios written."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable, str(root / "benchmarks" / "run.py"), "--quick",
            "--drivers", "fake", "--no-oslo", "--no-raw", "--repeat", "2",
            "--out", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=120, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "latest.json").read_text())
    names = [row["name"] for row in data["rows"]]
    assert names == [
        "ceiling (SimpleQueue + pool, in-process)",
        "rpcmsg fake (in-process)",
        "rpcmsg async fake (in-process)",
    ]
    assert all(row["seq_calls_per_s"] > 0 for row in data["rows"])
    assert [row.get("runs") for row in data["rows"][1:]] == [2, 2]
    assert data["rows"][2]["inflight_calls_per_s"] > 0
    assert {r["figure"] for r in data["ratios"]} == {"seq_calls_per_s", "p50_ms", "p99_ms"}
    text = (tmp_path / "latest.md").read_text()
    assert text == proc.stdout
    assert "| rpcmsg fake (in-process) | ceiling (SimpleQueue + pool, in-process) |" in text
    assert "| rpcmsg async fake (in-process) | rpcmsg fake (in-process) | p50 ms |" in text
    assert "calls/s (1,000 in flight) |" in text
    assert "median of 2 runs" in text
    assert f"{data['machine']['cores']} cores" in text


def test_median_of_runs() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from run import median_figures
    finally:
        sys.path.pop(0)
    runs = [
        {"a": 1.0, "payloads": {"1MB": {"p50_ms": 9.0}}, "url": "x"},
        {"a": 5.0, "payloads": {"1MB": {"p50_ms": 3.0}}},
        {"a": 2.0, "payloads": {"1MB": {"p50_ms": 4.0}}, "url": "y"},
    ]
    assert median_figures(runs) == {"a": 2.0, "payloads": {"1MB": {"p50_ms": 4.0}}, "url": "x"}


def test_the_async_latency_target_is_judged_on_the_paired_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The target line compares the two clients against one server (paired blocks); the
    comparison of rows is listed beside it, never as the verdict."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from tables import targets

    sync = {"kind": "rpcmsg", "driver": "redis", "name": "rpcmsg redis", "p50_ms": 0.5}
    mine = {
        "kind": "rpcmsg-async-sync-server",
        "driver": "redis",
        "name": "rpcmsg async redis, sync server",
        "p50_ms": 0.7,
        "paired_async_p50_ms": 0.55,
        "paired_sync_p50_ms": 0.5,
    }
    lines = targets({"rows": [sync, mine], "skipped": {}})
    paired = [line for line in lines if "alternating blocks" in line]
    assert len(paired) == 1 and ": met (0.55 ms against 0.50 ms: 1.10x)" in paired[0]
    rows = [line for line in lines if "against the row rpcmsg redis" in line]
    assert len(rows) == 1 and "NOT within 1.2x (0.70 ms against 0.50 ms: 1.40x)" in rows[0]
    mine["paired_async_p50_ms"] = 0.65
    (paired,) = [line for line in targets({"rows": [sync, mine], "skipped": {}})
                 if "alternating blocks" in line]  # fmt: skip
    assert ": NOT met (0.65 ms against 0.50 ms: 1.30x)" in paired
    del mine["paired_async_p50_ms"]
    mine["errors"] = {"paired": "RuntimeError: wrong reply"}
    (missing,) = [line for line in targets({"rows": [sync, mine], "skipped": {}})
                  if "against the same server" in line]  # fmt: skip
    assert missing.endswith("not measured (RuntimeError: wrong reply)")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_in_a_log() -> None:
    from rpcmsg.cli._bench import ProgressBar

    tty = _Terminal()
    bar = ProgressBar("rpcmsg fake", tty, width=10)
    bar("casts", 5, 10)
    assert tty.getvalue().startswith("\rrpcmsg fake casts              [#####.....] 5/10")
    bar.finish()
    assert tty.getvalue().endswith("\r")

    log = io.StringIO()
    bar = ProgressBar("rpcmsg fake", log)
    for done in (1, 2, 3):
        bar("casts", done, 3)
    bar("notifications", 1, 3)
    assert log.getvalue() == "rpcmsg fake casts\nrpcmsg fake notifications\n"


def test_bench_on_an_unreachable_broker_fails_with_4(capsys: Any) -> None:
    from tests.drivers import SPECS

    why = SPECS["rabbit"].unavailable()
    if why and "not installed" in why:
        pytest.skip(why)
    assert main(["bench", "--quick", "--url", "rabbit://guest:guest@127.0.0.1:1/"]) == 4
    captured = capsys.readouterr()
    assert "| rpcmsg rabbit | - | - | - | - | - | - |" in captured.out
    assert "rpcmsg: error: rpcmsg rabbit: seq failed" in captured.err


def _tidy(driver: str, url: str) -> None:
    """Delete what the workloads left on the broker (benchmarks/tidy.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from tidy import tidy
    finally:
        sys.path.pop(0)
    tidy(driver, url)


def test_bench_on_a_broker_serves_from_another_process_and_plots_it(
    capsys: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On a real broker ``rpcmsg bench`` runs the servers in a process of their own (as
    deployed) and plots that run; ``--in-process`` keeps them in the client's process."""
    import os

    pytest.importorskip("matplotlib")
    from tests.drivers import SPECS

    why = SPECS["redis"].unavailable()
    if why:
        pytest.skip(why)
    url = SPECS["redis"].base_url("")
    request.addfinalizer(lambda: _tidy("redis", url))
    out, png = tmp_path / "figures.json", tmp_path / "bench.png"
    argv = ["bench", "--quick", "--url", url, "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["servers"] == "own process" and row["server_pid"] != os.getpid()
    assert "errors" not in row and row["seq_calls_per_s"] > 0 and row["p99_ms"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["bench", "--quick", "--in-process", "--url", url, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["servers"] == "client's process" and row["server_pid"] == os.getpid()
