"""The benchmark workloads through oslo.messaging, for the side-by-side comparison.

    $RPCMSG_OSLO_PYTHON benchmarks/oslo_bench.py [--url rabbit://HOST:5672/] [--quick]

Run it with the python of oslo.messaging's own virtualenv (rpcmsg and oslo.messaging define
the same configuration options, so they never share a process). The workloads mirror
``rpcmsg.cli.workloads`` (same counts, time budgets and payloads, threading executor, client
and server on separate transports in one process): sequential calls of 100 B (calls/s, p50,
p99), 10 KB and 1 MB payloads, calls from 8 threads, casts end to end, ``messagingv2``
notifications end to end.

Prints progress to stderr and, as its last stdout line, the JSON figures ``seq_calls_per_s``,
``p50_ms``, ``p99_ms``, ``threaded_calls_per_s``, ``casts_per_s``, ``notifications_per_s``,
``payloads`` and ``"driver": "rabbit"``. ``RPCMSG_BENCH_QUICK=1`` (or ``--quick``) uses
minimal counts. This file never imports rpcmsg.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import uuid
from typing import Any

import oslo_messaging
from oslo_config import cfg

SIZES = {"100B": 100, "10KB": 10_000, "1MB": 1_000_000}
STANDARD = {"seq": 3000, "threaded": 6000, "casts": 6000, "notifications": 6000,
            "10KB": 1000, "1MB": 40, "seconds": 4.0, "drain": 20.0}  # fmt: skip
QUICK = {"seq": 30, "threaded": 40, "casts": 40, "notifications": 40,
         "10KB": 10, "1MB": 2, "seconds": 1.0, "drain": 10.0}  # fmt: skip
THREADS = 8


def percentile(values: list[float], fraction: float) -> float:
    rank = max(0, min(len(values) - 1, round(fraction * len(values)) - 1))
    return values[rank] if values else float("nan")


class Endpoint:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.expected = 0
        self.last = 0.0
        self.all_in = threading.Event()

    def echo(self, ctxt: Any, data: str) -> str:
        return data

    def sink(self, ctxt: Any, data: str) -> None:
        with self.lock:
            self.received += 1
            self.last = time.perf_counter()
            if self.received >= self.expected:
                self.all_in.set()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.sink(ctxt, "")


class Bench:
    def __init__(self, url: str, counts: dict[str, float]) -> None:
        self.url = url
        self.counts = counts
        self.conf = cfg.CONF  # oslo.messaging registers some options on the global only
        self.conf([], project="oslo-bench", default_config_files=[])
        self.exchange = f"oslo-bench-{uuid.uuid4().hex[:8]}"
        oslo_messaging.set_transport_defaults(self.exchange)
        self.transports: list[Any] = []
        self.servers: list[Any] = []
        self.queues: list[str] = []

    def transport(self, notifications: bool = False) -> Any:
        get = (
            oslo_messaging.get_notification_transport
            if notifications
            else oslo_messaging.get_rpc_transport
        )
        transport = get(self.conf, self.url)
        self.transports.append(transport)
        return transport

    def rpc_pair(self, endpoint: Endpoint) -> Any:
        topic = f"bench-{uuid.uuid4().hex[:10]}"
        self.queues += [topic, f"{topic}.s1"]
        server = oslo_messaging.get_rpc_server(
            self.transport(), oslo_messaging.Target(topic=topic, server="s1"), [endpoint],
            executor="threading",
        )  # fmt: skip
        server.start()
        self.servers.append(server)
        return oslo_messaging.get_rpc_client(
            self.transport(), oslo_messaging.Target(topic=topic), timeout=60
        )

    def sequential(self, client: Any, label: str, count: int) -> dict[str, float]:
        data = "x" * SIZES[label]
        client.call({}, "echo", data=data)
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + self.counts["seconds"]
        while len(latencies) < count and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            client.call({}, "echo", data=data)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        latencies.sort()
        return {
            "calls_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
        }

    def threaded(self, client: Any) -> float:
        total = int(self.counts["threaded"])
        done = [0] * THREADS
        deadline = time.perf_counter() + self.counts["seconds"]

        def work(i: int) -> None:
            for _ in range(total // THREADS):
                if time.perf_counter() > deadline:
                    return
                client.call({}, "echo", data="x" * 100)
                done[i] += 1

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(THREADS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / (time.perf_counter() - start)

    def stream(self, endpoint: Endpoint, send: Any, count: int) -> float:
        endpoint.expected = count
        start = time.perf_counter()
        deadline = start + self.counts["seconds"]
        sent = 0
        while sent < count and time.perf_counter() < deadline:
            send()
            sent += 1
        endpoint.expected = sent
        if endpoint.received >= sent:
            endpoint.all_in.set()
        endpoint.all_in.wait(self.counts["drain"])
        return endpoint.received / (endpoint.last - start) if endpoint.received else 0.0

    def casts(self) -> float:
        endpoint = Endpoint()
        client = self.rpc_pair(endpoint)
        return self.stream(
            endpoint, lambda: client.cast({}, "sink", data="x" * 100), int(self.counts["casts"])
        )

    def notifications(self) -> float:
        endpoint = Endpoint()
        topic = f"bench-notes-{uuid.uuid4().hex[:10]}"
        self.queues.append(f"{topic}.info")
        listener = oslo_messaging.get_notification_listener(
            self.transport(True), [oslo_messaging.Target(topic=topic)], [endpoint],
            executor="threading",
        )  # fmt: skip
        listener.start()
        self.servers.append(listener)
        notifier = oslo_messaging.Notifier(
            self.transport(True), publisher_id="bench", driver="messagingv2", topics=[topic]
        )
        payload = {"data": "x" * 100}
        return self.stream(
            endpoint,
            lambda: notifier.info({}, "bench.event", payload),
            int(self.counts["notifications"]),
        )

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            server.wait()
        for transport in self.transports:
            transport.cleanup()
        self._delete_leftovers()

    def _delete_leftovers(self) -> None:
        """oslo.messaging keeps topic queues and exchanges: delete this run's (py-amqp,
        installed with kombu, talks to the broker directly)."""
        from urllib.parse import unquote, urlsplit

        import amqp

        parts = urlsplit(self.url.split(",")[0])
        try:
            conn = amqp.Connection(
                f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
                userid=unquote(parts.username or "guest"),
                password=unquote(parts.password or "guest"),
            )
            conn.connect()
            channel = conn.channel()
            for queue in self.queues:
                channel.queue_delete(queue)
            channel.exchange_delete(self.exchange)
            conn.close()
        except Exception as exc:  # tidying must not fail the benchmark
            print(f"oslo.messaging: could not delete leftovers: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="rabbit://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    counts = QUICK if args.quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD
    bench = Bench(args.url, counts)
    figures: dict[str, Any] = {"driver": "rabbit", "payloads": {}}
    try:
        client = bench.rpc_pair(Endpoint())
        for label in SIZES:
            print(f"oslo.messaging: sequential calls {label}", file=sys.stderr)
            count = int(counts["seq" if label == "100B" else label])
            figures["payloads"][label] = bench.sequential(client, label, count)
        small = figures["payloads"]["100B"]
        figures.update(
            seq_calls_per_s=small["calls_per_s"], p50_ms=small["p50_ms"], p99_ms=small["p99_ms"]
        )
        print("oslo.messaging: calls from 8 threads", file=sys.stderr)
        figures["threaded_calls_per_s"] = bench.threaded(client)
        print("oslo.messaging: casts", file=sys.stderr)
        figures["casts_per_s"] = bench.casts()
        print("oslo.messaging: notifications", file=sys.stderr)
        figures["notifications_per_s"] = bench.notifications()
    finally:
        bench.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
