"""The benchmark workloads through oslo.messaging, for the side-by-side comparison.

    $RPCMSG_OSLO_PYTHON benchmarks/oslo_bench.py [--url rabbit://HOST:5672/] [--quick]

Run it with the python of oslo.messaging's own virtualenv (rpcmsg and oslo.messaging define
the same configuration options, so they never share a process). The workloads mirror
``rpcmsg.cli.workloads`` (same counts, time budgets and payloads, threading executor, client
and servers on separate transports; the servers in a process of their own, this script run
with ``--serve BASE EXCHANGE``, or in the client's with ``--in-process``): sequential calls
of 100 B (calls/s, p50, p99), 10 KB and 1 MB payloads, calls from 8 threads, casts end to
end, ``messagingv2`` notifications end to end.

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
from _procs import serve_forever, spawn, stop
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
    """An echo for calls; counting sinks for casts and notifications, read by ``stats``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"casts": [0, 0.0], "notes": [0, 0.0]}

    def echo(self, ctxt: Any, data: str) -> str:
        return data

    def sink(self, ctxt: Any, data: str) -> None:
        self.count("casts")

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.count("notes")

    def stats(self, ctxt: Any, kind: str) -> list[float]:
        with self.lock:
            return list(self.counts[kind])

    def count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind][0] += 1
            self.counts[kind][1] = time.monotonic()


class Bench:
    def __init__(self, url: str, counts: dict[str, float], base: str, exchange: str) -> None:
        self.url = url
        self.counts = counts
        self.conf = cfg.CONF  # oslo.messaging registers some options on the global only
        self.conf([], project="oslo-bench", default_config_files=[])
        self.exchange = exchange
        oslo_messaging.set_transport_defaults(self.exchange)
        self.topics = {kind: f"{base}-{kind}" for kind in ("calls", "casts", "notes")}
        self.queues = [self.topics["calls"], self.topics["casts"], f"{self.topics['notes']}.info"]
        self.queues += [f"{self.topics['calls']}.s1", f"{self.topics['casts']}.s1"]
        self.transports: list[Any] = []
        self.servers: list[Any] = []
        self.endpoint = Endpoint()
        self.stats_client: Any = None

    def transport(self, notifications: bool = False) -> Any:
        get = (
            oslo_messaging.get_notification_transport
            if notifications
            else oslo_messaging.get_rpc_transport
        )
        transport = get(self.conf, self.url)
        self.transports.append(transport)
        return transport

    def serve(self) -> None:
        """Start the servers in this process, each on a transport of its own."""
        for kind in ("calls", "casts"):
            target = oslo_messaging.Target(topic=self.topics[kind], server="s1")
            self.servers.append(
                oslo_messaging.get_rpc_server(
                    self.transport(), target, [self.endpoint], executor="threading"
                )
            )
        self.servers.append(
            oslo_messaging.get_notification_listener(
                self.transport(True), [oslo_messaging.Target(topic=self.topics["notes"])],
                [self.endpoint], executor="threading",
            )
        )  # fmt: skip
        for server in self.servers:
            server.start()

    def client(self, kind: str) -> Any:
        target = oslo_messaging.Target(topic=self.topics[kind])
        return oslo_messaging.get_rpc_client(self.transport(), target, timeout=60)

    def stats(self, kind: str, remote: bool) -> tuple[int, float]:
        if not remote:
            received, last = self.endpoint.stats(None, kind)
        else:
            if self.stats_client is None:
                self.stats_client = self.client("calls")
            received, last = self.stats_client.call({}, "stats", kind=kind)
        return int(received), float(last)

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

    def stream(self, kind: str, send: Any, count: int, remote: bool) -> float:
        start = time.monotonic()
        deadline = start + self.counts["seconds"]
        sent = 0
        while sent < count and time.monotonic() < deadline:
            send()
            sent += 1
        deadline = time.monotonic() + self.counts["drain"]
        received, last = self.stats(kind, remote)
        while received < sent and time.monotonic() < deadline:
            time.sleep(0.01)
            received, last = self.stats(kind, remote)
        return received / (last - start) if received else 0.0

    def casts(self, remote: bool) -> float:
        client = self.client("casts")
        send = lambda: client.cast({}, "sink", data="x" * 100)  # noqa: E731
        return self.stream("casts", send, int(self.counts["casts"]), remote)

    def notifications(self, remote: bool) -> float:
        notifier = oslo_messaging.Notifier(
            self.transport(True),
            publisher_id="bench",
            driver="messagingv2",
            topics=[self.topics["notes"]],
        )
        payload = {"data": "x" * 100}
        send = lambda: notifier.info({}, "bench.event", payload)  # noqa: E731
        return self.stream("notes", send, int(self.counts["notifications"]), remote)

    def close(self, tidy: bool = True) -> None:
        for server in self.servers:
            server.stop()
            server.wait()
        for transport in self.transports:
            transport.cleanup()
        if tidy:
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
    parser.add_argument("--in-process", action="store_true", help="servers in this process")
    parser.add_argument("--serve", nargs=2, metavar=("BASE", "EXCHANGE"), help="be the server")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    counts = QUICK if args.quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD
    if args.serve:
        bench = Bench(args.url, counts, *args.serve)
        bench.serve()
        serve_forever()
        bench.close(tidy=False)
        return 0
    base, exchange = f"bench-{uuid.uuid4().hex[:10]}", f"oslo-bench-{uuid.uuid4().hex[:8]}"
    bench = Bench(args.url, counts, base, exchange)
    remote = not args.in_process
    proc = None
    figures: dict[str, Any] = {"driver": "rabbit", "payloads": {}}
    try:
        if remote:
            serve = [sys.executable, __file__, "--url", args.url, "--serve", base, exchange]
            proc = spawn(serve)
        else:
            bench.serve()
        client = bench.client("calls")
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
        figures["casts_per_s"] = bench.casts(remote)
        print("oslo.messaging: notifications", file=sys.stderr)
        figures["notifications_per_s"] = bench.notifications(remote)
    finally:
        if proc is not None:
            stop(proc)
        bench.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
