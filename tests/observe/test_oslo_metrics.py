"""``metrics_enabled`` feeds an oslo.metrics collector as oslo.messaging does: oslo.metrics'
own collector (``python -m oslo_metrics``, in oslo.messaging's virtualenv) receives the
datagrams of an rpcmsg process and serves them to Prometheus with the same names, labels and
counts as it serves those of an oslo.messaging process running the same workload.

Each workload runs in a process of its own (``oslo_metrics_workload.py``): metrics are
configured once per process.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.amqp.conftest import oslo_python
from tests.drivers import IN_CI, DriverEnv
from tests.helpers.processes import free_port

WORKLOAD = Path(__file__).with_name("oslo_metrics_workload.py")
ROOT = Path(__file__).resolve().parents[2]
PREFIX = "oslo_messaging_rpc_"


def _python() -> str:
    python = oslo_python()
    if python is None:
        if IN_CI:
            pytest.fail("CI needs oslo.messaging and oslo.metrics: set RPCMSG_OSLO_PYTHON")
        pytest.skip("oslo.messaging's python not found (set RPCMSG_OSLO_PYTHON)")
    return python


class Collector:
    """An oslo.metrics collector on a socket and a Prometheus port of its own."""

    def __init__(self, python: str, directory: Path) -> None:
        self.socket = str(directory / "metrics.sock")
        self.port = free_port()
        config = directory / "oslo-metrics.conf"
        config.write_text(
            f"[oslo_metrics]\nmetrics_socket_file = {self.socket}\nprometheus_port = {self.port}\n"
        )
        self.proc = subprocess.Popen(
            [python, "-m", "oslo_metrics", "--config-file", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not self._up():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"oslo.metrics did not start: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.1)

    def _up(self) -> bool:
        if not Path(self.socket).exists():
            return False
        try:
            self.scrape()
        except OSError:
            return False
        return True

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def samples(self, topic: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """``(sample name, labels but topic) -> value`` of the RPC metrics of ``topic``."""
        found = {}
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                labels = dict(sample.labels)
                if not sample.name.startswith(PREFIX) or labels.pop("topic", None) != topic:
                    continue
                if sample.name.endswith("_created"):
                    continue  # when the series appeared: differs by nature
                found[(sample.name, tuple(sorted(labels.items())))] = sample.value
        return found

    def wait_for(self, topic: str, name: str, count: float) -> dict[Any, float]:
        deadline = time.monotonic() + 15
        while True:
            found = self.samples(topic)
            total = sum(v for (n, _), v in found.items() if n == name)
            if total >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(_python(), tmp_path)
    yield c
    c.stop()


def _run(python: str, library: str, url: str, topic: str, socket: str, linger: float = 1.5) -> str:
    out = subprocess.run(
        [python, str(WORKLOAD), library, url, topic, socket, str(linger)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert out.returncode == 0 and "done" in out.stdout, out.stdout + out.stderr
    return out.stderr


def _series(samples: dict[Any, float], name: str) -> dict[Any, float]:
    return {labels: value for (n, labels), value in samples.items() if n == PREFIX + name}


def test_rpcmsg_feeds_oslo_metrics_as_oslo_messaging_does(collector: Collector) -> None:
    """Over fake:// in both libraries: every series oslo.messaging's process produced, with
    its labels and count, rpcmsg's produced too (durations aside). oslo.messaging 18.3.1
    sends only the client's metrics; rpcmsg sends oslo.metrics' server metrics as well (as
    earlier oslo.messaging releases did)."""
    python = _python()
    ours, theirs = f"ours-{uuid.uuid4().hex[:8]}", f"theirs-{uuid.uuid4().hex[:8]}"
    _run(python, "oslo_messaging", "fake://", theirs, collector.socket)
    _run(sys.executable, "rpcmsg", "fake://", ours, collector.socket)
    expected = collector.wait_for(theirs, PREFIX + "client_invocation_end_total", 3)
    got = collector.wait_for(ours, PREFIX + "server_invocation_end_total", 3)

    def counts(samples: dict[Any, float], side: str) -> dict[Any, float]:
        # Durations differ by nature; their histograms' counts and labels must not.
        return {
            key: value
            for key, value in samples.items()
            if key[0].startswith(PREFIX + side)
            and not key[0].endswith("_sum")
            and "_bucket" not in key[0]
        }

    assert sum(_series(expected, "client_invocation_start_total").values()) == 4, expected
    assert counts(got, "client_") == counts(expected, "client_")
    assert counts(expected, "server_") == {}  # 18.3.1 sends none
    assert sum(_series(got, "server_invocation_end_total").values()) == 3


def test_every_driver_feeds_oslo_metrics(collector: Collector, env: DriverEnv) -> None:
    topic = env.unique()
    _run(sys.executable, "rpcmsg", env.url, topic, collector.socket)
    found = collector.wait_for(topic, PREFIX + "server_invocation_end_total", 3)
    start = _series(found, "client_invocation_start_total")
    assert sum(start.values()) == 4  # three echo calls and the failing one
    assert dict(next(iter(start))).get("process") == "svc"
    assert sum(_series(found, "client_invocation_end_total").values()) == 3
    (failed,) = _series(found, "client_exception_total")
    assert dict(failed)["method"] == "fail"
    server_end = _series(found, "server_invocation_end_total")
    assert sum(server_end.values()) == 3
    assert dict(next(iter(server_end)))["endpoint"] == "Endpoint"
    (server_failed,) = _series(found, "server_exception_total")
    assert dict(server_failed)["exception"] == "ValueError"


def test_measurements_wait_for_a_collector_started_later(tmp_path: Path) -> None:
    """With no collector listening, calls are not held up; the measurements wait (up to
    metrics_buffer_size) and reach a collector started later."""
    python = _python()
    socket = str(tmp_path / "metrics.sock")
    topic = f"late-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, str(WORKLOAD), "rpcmsg", "fake://", topic, socket, "20", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        started = time.monotonic()
        for line in proc.stdout:
            if line.startswith("done"):
                break
        assert time.monotonic() - started < 15, "calls were held up by the absent collector"
        # The socket is configured through a file name; the collector binds it now.
        collector = Collector(python, tmp_path)
        try:
            found = collector.wait_for(topic, PREFIX + "server_invocation_end_total", 3)
            assert sum(_series(found, "client_invocation_start_total").values()) == 4
            assert sum(_series(found, "server_invocation_end_total").values()) == 3
        finally:
            collector.stop()
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert err.count("Cannot send metrics to oslo.metrics") >= 1, err
