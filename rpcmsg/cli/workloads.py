"""The benchmark workloads, run over any rpcmsg transport URL.

Used by ``rpcmsg bench`` and by ``benchmarks/run.py`` (which also runs oslo.messaging and
the raw broker loops with the same figure names, so that rows compare side by side).

Workloads, each bounded by a message count *and* a time budget (whichever ends first), all
in one process with the threading executor, server and client on separate transports:

* ``seq``: sequential calls of ``echo(data)`` with 100 B payloads: calls/s, p50 and p99
  latency (ms);
* ``payload``: the same for 10 KB and 1 MB payloads (sent and returned);
* ``threaded``: calls of 100 B from 8 threads sharing one client: calls/s;
* ``casts``: casts of 100 B, end to end (from the first sent to the last handled): casts/s;
* ``notifications``: ``info`` notifications (``messagingv2``) to a listener, end to end.

Figures (keys of the returned dict): ``seq_calls_per_s``, ``p50_ms``, ``p99_ms``,
``threaded_calls_per_s``, ``casts_per_s``, ``notifications_per_s``, and ``payloads``:
``{"100B": {"calls_per_s", "p50_ms", "p99_ms"}, "10KB": ..., "1MB": ...}``. A workload that
fails records its error under ``errors`` instead of stopping the run.

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

from oslo_config import cfg

from rpcmsg.opts import register_opts
from rpcmsg.rpc.client import RPCClient, get_rpc_client
from rpcmsg.rpc.server import get_rpc_server
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

#: The control exchange and topics the workloads use (see the module docstring).
EXCHANGE = "rpcmsg-bench"
TOPICS = {
    "calls": "rpcmsg-bench-calls",
    "casts": "rpcmsg-bench-casts",
    "notes": "rpcmsg-bench-notes",
}

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


class _Endpoint:
    """The benchmarked service: an echo for calls and a counting sink for casts."""

    def __init__(self, token: str = "") -> None:
        self.token = token
        self._lock = threading.Lock()
        self.received = 0
        self.target_count = 0
        self.last = 0.0
        self.all_in = threading.Event()

    def echo(self, ctxt: Any, data: str) -> str:
        return data

    def sink(self, ctxt: Any, data: str) -> None:
        if not data.startswith(self.token):
            return  # left over by another run
        with self._lock:
            self.received += 1
            self.last = time.perf_counter()
            if self.received >= self.target_count:
                self.all_in.set()

    # The notification listener's handler: same counting, another signature.
    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, md: Any) -> None:
        self.sink(ctxt, payload.get("data", "") if isinstance(payload, dict) else "")


class _Bench:
    def __init__(self, url: str, counts: Counts, progress: Progress | None) -> None:
        self.url = url
        self.counts = counts
        self.progress = progress or (lambda name, done, total: None)
        self.conf = cfg.ConfigOpts()
        self.conf([], project="rpcmsg-bench", default_config_files=[])
        register_opts(self.conf)
        self.conf.set_override("control_exchange", EXCHANGE)
        self.token = uuid.uuid4().hex
        self.transports: list[Transport] = []
        self.servers: list[MessageHandlingServer] = []

    def transport(self, notifications: bool = False) -> Transport:
        if notifications:
            from rpcmsg.notify import get_notification_transport

            transport: Transport = get_notification_transport(self.conf, self.url)
        else:
            transport = get_rpc_transport(self.conf, self.url)
        self.transports.append(transport)
        return transport

    def start(self, server: MessageHandlingServer) -> None:
        server.start()
        self.servers.append(server)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            server.wait()
        for transport in self.transports:
            transport.cleanup()

    def rpc_pair(self, endpoint: _Endpoint, topic: str) -> RPCClient:
        self.start(get_rpc_server(self.transport(), Target(topic=topic, server="s1"), [endpoint]))
        return get_rpc_client(self.transport(), Target(topic=topic), timeout=60)

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

    def _drain(self, endpoint: _Endpoint, label: str, sent: int, start: float) -> float:
        endpoint.all_in.wait(self.counts.drain_seconds)
        self.progress(label, endpoint.received, sent)
        if not endpoint.received:
            return 0.0
        return endpoint.received / (endpoint.last - start)

    def casts(self) -> float:
        endpoint = _Endpoint(self.token)
        client = self.rpc_pair(endpoint, TOPICS["casts"])
        count, data = self.counts.casts, self.token + "x" * (100 - len(self.token))
        endpoint.target_count = count
        start = time.perf_counter()
        deadline = start + self.counts.seconds
        sent = 0
        while sent < count and time.perf_counter() < deadline:
            client.cast({}, "sink", data=data)
            sent += 1
            if sent % 100 == 0:
                self.progress("casts", sent, count)
        endpoint.target_count = sent
        if endpoint.received >= sent:
            endpoint.all_in.set()
        return self._drain(endpoint, "casts", sent, start)

    def notifications(self) -> float:
        from rpcmsg.notify import Notifier, get_notification_listener

        endpoint = _Endpoint(self.token)
        topic = TOPICS["notes"]
        listener = get_notification_listener(
            self.transport(notifications=True), [Target(topic=topic)], [endpoint]
        )
        self.start(listener)
        notifier = Notifier(
            self.transport(notifications=True),
            publisher_id="bench",
            driver="messagingv2",
            topics=[topic],
            raise_on_failure=True,
        )
        count = self.counts.notifications
        payload = {"data": self.token + "x" * (100 - len(self.token))}
        endpoint.target_count = count
        start = time.perf_counter()
        deadline = start + self.counts.seconds
        sent = 0
        while sent < count and time.perf_counter() < deadline:
            notifier.info({}, "bench.event", payload)
            sent += 1
            if sent % 100 == 0:
                self.progress("notifications", sent, count)
        endpoint.target_count = sent
        if endpoint.received >= sent:
            endpoint.all_in.set()
        return self._drain(endpoint, "notifications", sent, start)

    def run(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"url": self.url, "payloads": {}, "errors": {}}

        def attempt(name: str, fn: Callable[[], None]) -> None:
            try:
                fn()
            except Exception as exc:
                figures["errors"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0]

        client: list[RPCClient] = []

        def seq() -> None:
            client.append(self.rpc_pair(_Endpoint(), TOPICS["calls"]))
            small = self.sequential(client[0], "100B", self.counts.seq_calls)
            figures["payloads"]["100B"] = small
            figures["seq_calls_per_s"] = small["calls_per_s"]
            figures["p50_ms"] = small["p50_ms"]
            figures["p99_ms"] = small["p99_ms"]

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


def run(url: str, counts: Counts = STANDARD, progress: Progress | None = None) -> dict[str, Any]:
    """Run every workload against ``url`` and return the figures (see the module docstring).

    Raises only for a URL that builds no transport (``InvalidTransportURL``,
    ``DriverLoadFailure``); a workload that fails is reported under ``errors``.
    """
    get_rpc_transport(cfg.ConfigOpts(), url).cleanup()  # fail fast on a bad URL
    bench = _Bench(url, counts, progress)
    try:
        return bench.run()
    finally:
        bench.close()


def sequential_calls(
    url: str, counts: Counts = STANDARD, progress: Progress | None = None
) -> dict[str, float]:
    """Only the sequential 100 B calls: ``seq_calls_per_s``, ``p50_ms``, ``p99_ms``."""
    bench = _Bench(url, counts, progress)
    try:
        client = bench.rpc_pair(_Endpoint(), TOPICS["calls"])
        small = bench.sequential(client, "100B", counts.seq_calls)
    finally:
        bench.close()
    return {
        "seq_calls_per_s": small["calls_per_s"],
        "p50_ms": small["p50_ms"],
        "p99_ms": small["p99_ms"],
    }
