"""Across processes: a server process's spans are children of this process's, and its
Prometheus endpoint (one configuration option) serves its metrics during the run."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from rpcmsg.notify import Notifier
from tests.conformance.test_crossprocess_notify import ROOT, _require_cross_process
from tests.drivers import DriverEnv
from tests.observe.conftest import WAIT, Spans


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """``tests/helpers/observed_server.py`` running; its span lines are read in a thread."""

    def __init__(self, env: DriverEnv, topic: str, port: int) -> None:
        args = [env.url, env.exchange, topic, str(port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.observed_server", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.spans: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _next(self, deadline: float) -> str:
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            self.proc.kill()
            self.proc.wait(WAIT)
            assert self.proc.stderr is not None
            err = self.proc.stderr.read()
            pytest.fail(f"the server process ended or stayed silent:\n{err}")
        return line

    def ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while self._next(deadline) != "READY":
            pass

    def span(self, name: str, kind: str) -> dict[str, Any]:
        """The child's next span of that name and kind (earlier ones kept)."""
        deadline = time.monotonic() + WAIT
        while True:
            for span in self.spans:
                if span["name"] == name and span["kind"] == kind:
                    self.spans.remove(span)
                    return span
            line = self._next(deadline)
            if line.startswith("SPAN "):
                self.spans.append(json.loads(line[5:]))

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()  # the server stops when its stdin closes
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.proc.stderr.close()


@pytest.fixture
def child(env: DriverEnv) -> Iterator[tuple[Child, str, int]]:
    _require_cross_process(env)
    topic, port = env.unique(), _free_port()
    proc = Child(env, topic, port)
    try:
        proc.ready()
        yield proc, topic, port
    finally:
        proc.close()


def _ids(span: Any) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def test_server_spans_in_another_process_are_children_of_the_senders(
    env: DriverEnv, spans: Spans, child: tuple[Child, str, int]
) -> None:
    proc, topic, _ = child
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value=1) == 1
    (call,) = [s for s in spans.named(f"{topic}/echo") if s.kind == SpanKind.CLIENT]
    handled = proc.span(f"{topic}/echo", "SERVER")
    assert (handled["trace_id"], handled["parent_id"]) == _ids(call)
    client.cast({}, "record", value=1)
    (cast,) = spans.named(f"send {topic}")
    handled = proc.span(f"process {topic}", "CONSUMER")
    assert (handled["trace_id"], handled["parent_id"]) == _ids(cast)
    notifier = Notifier(
        env.notification_transport(), driver="messagingv2", publisher_id="p", topics=[topic]
    )
    notifier.info({}, "thing.happened", {})
    (sent,) = spans.named(f"send {topic}.info")
    handled = proc.span(f"process {topic}.info", "CONSUMER")
    assert (handled["trace_id"], handled["parent_id"]) == _ids(sent)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as reply:
        return str(reply.read().decode())


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def test_a_server_serves_its_metrics_for_prometheus(
    env: DriverEnv, child: tuple[Child, str, int]
) -> None:
    _, topic, port = child
    client = env.client(topic, timeout=WAIT)
    for value in range(4):
        client.call({}, "echo", value=value)
    with pytest.raises(ValueError):
        client.call({}, "fail")
    text = _scrape(port)
    assert _sample(text, "rpcmsg_server_requests_total", topic=topic, outcome="ok") == 4
    assert _sample(text, "rpcmsg_server_requests_total", method="fail", outcome="error") == 1
    oslo = "oslo_messaging_rpc_server_"
    labels = {"topic": topic, "server": "child", "endpoint": "Endpoint", "method": "echo"}
    assert _sample(text, oslo + "invocation_start_total", **labels) == 4
    assert _sample(text, oslo + "processing_seconds_count", **labels) == 4
    assert _sample(text, oslo + "exception_total", exception="ValueError") == 1
    assert f"{oslo}processing_seconds_bucket{{" in text
    client.call({}, "echo", value=5)  # scraped during the run: the next scrape sees more
    assert _sample(_scrape(port), oslo + "invocation_end_total", **labels) == 5
