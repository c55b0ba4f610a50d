"""The benchmark workloads, run over any rpcmsg transport URL.

Used by ``rpcmsg bench`` and by ``benchmarks/run.py`` (which also runs oslo.messaging and
the raw broker loops with the same figure names, so that rows compare side by side).

Workloads, each bounded by a message count *and* a time budget (whichever ends first), with
the threading executor, server and client on separate transports; the servers run in the
client's process by default, or in a process of their own with ``separate=True``, as services
are deployed (:mod:`rpcmsg.cli._benchserve`; not for ``fake://``, whose broker lives in one
process):

* ``seq``: sequential calls of ``echo(data)`` with 100 B payloads: calls/s, p50 and p99
  latency (ms);
* ``payload``: the same for 10 KB and 1 MB payloads (sent and returned);
* ``threaded``: calls of 100 B from 8 threads sharing one client: calls/s;
* ``casts``: casts of 100 B, end to end (from the first sent to the last handled): casts/s;
* ``notifications``: ``info`` notifications (``messagingv2``) to a listener, end to end.

Figures (keys of the returned dict): ``seq_calls_per_s``, ``p50_ms``, ``p99_ms``,
``threaded_calls_per_s``, ``casts_per_s``, ``notifications_per_s``, and ``payloads``:
``{"100B": {"calls_per_s", "p50_ms", "p99_ms"}, "10KB": ..., "1MB": ...}``, and
``server_pid``, the id of the process that served the calls. A workload that fails records
its error under ``errors`` instead of stopping the run.

Footprint on a real broker: the exchange :data:`EXCHANGE` and the topics :data:`TOPICS`, the
same names on every run, so that repeated runs reuse a handful of (empty) queues or streams
instead of leaving new ones each time; ``benchmarks/run.py`` deletes them after each run.
Casts and notifications carry the run's token and only the run's own are counted, so a
message left over by an interrupted run cannot inflate a figure. Two runs at the same time on
one broker share the topics and spoil each other's figures: do not.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oslo_config import cfg

from rpcmsg.cli._benchserve import (
    EXCHANGE,
    TOPICS,
    ServerProcess,
    Service,
    bench_conf,
    start_servers,
    stop_servers,
)
from rpcmsg.rpc.client import RPCClient, get_rpc_client
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import Transport, get_rpc_transport

__all__ = [
    "EXCHANGE",
    "FIGURES",
    "TOPICS",
    "QUICK",
    "STANDARD",
    "Counts",
    "Progress",
    "percentile",
    "run",
    "sequential_calls",
]

#: The figures every benchmark script reports (missing ones allowed), in table order.
FIGURES = (
    "seq_calls_per_s",
    "p50_ms",
    "p99_ms",
    "threaded_calls_per_s",
    "casts_per_s",
    "notifications_per_s",
)

#: ``progress(workload, done, total)``, called now and then while a workload runs.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Counts:
    """How much each workload does at most: a count and a time budget in seconds."""

    seq_calls: int = 3000
    threaded_calls: int = 6000
    threads: int = 8
    casts: int = 6000
    notifications: int = 6000
    payload_calls: dict[str, int] = field(
        default_factory=lambda: {"10KB": 1000, "1MB": 40},
    )
    seconds: float = 4.0
    drain_seconds: float = 20.0


STANDARD = Counts()
QUICK = Counts(
    seq_calls=30,
    threaded_calls=40,
    casts=40,
    notifications=40,
    payload_calls={"10KB": 10, "1MB": 2},
    seconds=1.0,
    drain_seconds=10.0,
)

_SIZES = {"100B": 100, "10KB": 10_000, "1MB": 1_000_000}


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``sorted_values`` lie (nearest rank)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


class _Bench:
    def __init__(
        self, url: str, counts: Counts, progress: Progress | None, separate: bool = False
    ) -> None:
        self.url = url
        self.counts = counts
        self.progress = progress or (lambda name, done, total: None)
        self.separate = separate
        self.conf = bench_conf()
        self.token = uuid.uuid4().hex
        self.service = Service(self.token)
        self.transports: list[Transport] = []
        self.servers: list[MessageHandlingServer] = []
        self.process: ServerProcess | None = None
        self._started: BaseException | bool = False

    def transport(self, notifications: bool = False) -> Transport:
        if notifications:
            from rpcmsg.notify import get_notification_transport

            transport: Transport = get_notification_transport(self.conf, self.url)
        else:
            transport = get_rpc_transport(self.conf, self.url)
        self.transports.append(transport)
        return transport

    def start(self) -> None:
        """Start the servers (here or in a process of their own) once; raise what failed."""
        if self._started is False:
            try:
                if self.separate:
                    self.process = ServerProcess(self.url, self.token)
                else:
                    self.servers, transports = start_servers(self.conf, self.url, self.service)
                    self.transports += transports
                self._started = True
            except BaseException as exc:
                self._started = exc
        if isinstance(self._started, BaseException):
            raise self._started

    def close(self) -> None:
        if self.process is not None:
            self.process.close()
        stop_servers(self.servers, self.transports)

    def client(self, topic: str) -> RPCClient:
        self.start()
        return get_rpc_client(self.transport(), Target(topic=topic), timeout=60)

    def stats(self, kind: str) -> tuple[int, float]:
        """What the ``kind`` sink received so far and when the last came (monotonic)."""
        if self.separate:
            if self._stats_client is None:
                self._stats_client = self.client(TOPICS["calls"])
            received, last = self._stats_client.call({}, "stats", kind=kind)
        else:
            received, last = self.service.stats(None, kind)
        return int(received), float(last)

    _stats_client: RPCClient | None = None

    def sequential(self, client: RPCClient, label: str, count: int) -> dict[str, float]:
        data = "x" * _SIZES[label]
        client.call({}, "echo", data=data)  # warm up: connections, queues, reply consumer
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + self.counts.seconds
        while len(latencies) < count and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            client.call({}, "echo", data=data)
            latencies.append(time.perf_counter() - t0)
            if len(latencies) % 50 == 0:
                self.progress(f"calls {label}", len(latencies), count)
        elapsed = time.perf_counter() - start
        latencies.sort()
        self.progress(f"calls {label}", count, count)
        return {
            "calls_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1000.0,
            "p99_ms": percentile(latencies, 0.99) * 1000.0,
        }

    def threaded(self, client: RPCClient) -> float:
        total, threads = self.counts.threaded_calls, self.counts.threads
        data = "x" * 100
        done = [0] * threads
        deadline = time.perf_counter() + self.counts.seconds

        def worker(index: int) -> None:
            for _ in range(total // threads):
                if time.perf_counter() > deadline:
                    return
                client.call({}, "echo", data=data)
                done[index] += 1

        pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        start = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            while thread.is_alive():
                thread.join(0.2)
                self.progress(f"calls x{threads} threads", sum(done), total)
        elapsed = time.perf_counter() - start
        return sum(done) / elapsed

    def _drain(self, kind: str, label: str, sent: int, start: float) -> float:
        """Wait until the ``kind`` sink has all ``sent`` (or the drain budget ends)."""
        deadline = time.monotonic() + self.counts.drain_seconds
        received, last = self.stats(kind)
        while received < sent and time.monotonic() < deadline:
            time.sleep(0.01)  # the sink stamps the last arrival itself: polling costs no accuracy
            received, last = self.stats(kind)
        self.progress(label, received, sent)
        return received / (last - start) if received else 0.0

    def casts(self) -> float:
        client = self.client(TOPICS["casts"])
        count, data = self.counts.casts, self.token + "x" * (100 - len(self.token))
        start = time.monotonic()
        deadline = start + self.counts.seconds
        sent = 0
        while sent < count and time.monotonic() < deadline:
            client.cast({}, "sink", data=data)
            sent += 1
            if sent % 100 == 0:
                self.progress("casts", sent, count)
        return self._drain("casts", "casts", sent, start)

    def notifications(self) -> float:
        from rpcmsg.notify import Notifier

        self.start()
        notifier = Notifier(
            self.transport(notifications=True),
            publisher_id="bench",
            driver="messagingv2",
            topics=[TOPICS["notes"]],
            raise_on_failure=True,
        )
        count = self.counts.notifications
        payload = {"data": self.token + "x" * (100 - len(self.token))}
        start = time.monotonic()
        deadline = start + self.counts.seconds
        sent = 0
        while sent < count and time.monotonic() < deadline:
            notifier.info({}, "bench.event", payload)
            sent += 1
            if sent % 100 == 0:
                self.progress("notifications", sent, count)
        return self._drain("notes", "notifications", sent, start)

    def run(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"url": self.url, "payloads": {}, "errors": {}}

        def attempt(name: str, fn: Callable[[], None]) -> None:
            try:
                fn()
            except Exception as exc:
                figures["errors"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0]

        client: list[RPCClient] = []

        def seq() -> None:
            client.append(self.client(TOPICS["calls"]))
            small = self.sequential(client[0], "100B", self.counts.seq_calls)
            figures["payloads"]["100B"] = small
            figures["seq_calls_per_s"] = small["calls_per_s"]
            figures["p50_ms"] = small["p50_ms"]
            figures["p99_ms"] = small["p99_ms"]
            figures["server_pid"] = client[0].call({}, "pid")

        def payloads() -> None:
            for label, count in self.counts.payload_calls.items():
                figures["payloads"][label] = self.sequential(client[0], label, count)

        def threaded() -> None:
            figures["threaded_calls_per_s"] = self.threaded(client[0])

        def casts() -> None:
            figures["casts_per_s"] = self.casts()

        def notes() -> None:
            figures["notifications_per_s"] = self.notifications()

        attempt("seq", seq)
        if client:
            attempt("payload", payloads)
            attempt("threaded", threaded)
        attempt("casts", casts)
        attempt("notifications", notes)
        if not figures["errors"]:
            del figures["errors"]
        return figures


def run(
    url: str,
    counts: Counts = STANDARD,
    progress: Progress | None = None,
    separate: bool = False,
) -> dict[str, Any]:
    """Run every workload against ``url`` and return the figures (see the module docstring).

    ``separate`` runs the servers in a process of their own. Raises only for a URL that
    builds no transport (``InvalidTransportURL``, ``DriverLoadFailure``) and for
    ``separate`` on ``fake://`` (``ValueError``); a workload that fails is reported under
    ``errors``.
    """
    get_rpc_transport(cfg.ConfigOpts(), url).cleanup()  # fail fast on a bad URL
    if separate and urlsplit(url).scheme == "fake":
        raise ValueError("fake:// lives in one process: its servers cannot run in another")
    bench = _Bench(url, counts, progress, separate)
    try:
        return bench.run()
    finally:
        bench.close()


def sequential_calls(
    url: str, counts: Counts = STANDARD, progress: Progress | None = None
) -> dict[str, float]:
    """Only the sequential 100 B calls (servers in this process): ``seq_calls_per_s``,
    ``p50_ms``, ``p99_ms``."""
    bench = _Bench(url, counts, progress)
    try:
        client = bench.client(TOPICS["calls"])
        small = bench.sequential(client, "100B", counts.seq_calls)
    finally:
        bench.close()
    return {
        "seq_calls_per_s": small["calls_per_s"],
        "p50_ms": small["p50_ms"],
        "p99_ms": small["p99_ms"],
    }
