"""What the raw broker loops (``amqp_raw.py``, ``redis_raw.py``) measure the same way: the
counts, sequential calls with latency percentiles, and calls from several threads."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

SIZES = {"100B": 100, "10KB": 10_000, "1MB": 1_000_000}
STANDARD = {"seq": 3000, "threaded": 6000, "casts": 6000, "10KB": 1000, "1MB": 40, "seconds": 4.0}
QUICK = {"seq": 30, "threaded": 40, "casts": 40, "10KB": 10, "1MB": 2, "seconds": 1.0}
THREADS = 8


class Caller(Protocol):
    def call(self, data: str) -> object: ...

    def close(self) -> None: ...


def percentile(values: list[float], fraction: float) -> float:
    rank = max(0, min(len(values) - 1, round(fraction * len(values)) - 1))
    return values[rank] if values else float("nan")


def sequential(client: Caller, size: int, count: int, seconds: float) -> dict[str, float]:
    """Calls one after another (after one warm-up call), at most ``count`` or ``seconds``."""
    data = "x" * size
    client.call(data)
    latencies: list[float] = []
    start = time.perf_counter()
    while len(latencies) < count and time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        client.call(data)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def by_size(client: Caller, counts: dict[str, float], seconds: float, name: str) -> dict[str, Any]:
    """Sequential calls for every payload size; the 100 B figures are the headline ones."""
    figures: dict[str, Any] = {"payloads": {}}
    for label, size in SIZES.items():
        print(f"{name}: sequential calls {label}", file=sys.stderr)
        count = int(counts["seq" if label == "100B" else label])
        figures["payloads"][label] = sequential(client, size, count, seconds)
    small = figures["payloads"]["100B"]
    figures.update(
        seq_calls_per_s=small["calls_per_s"], p50_ms=small["p50_ms"], p99_ms=small["p99_ms"]
    )
    return figures


def threaded(new_client: Callable[[], Caller], total: int, seconds: float) -> float:
    """Calls per second from ``THREADS`` threads, each with a client of its own."""
    clients = [new_client() for _ in range(THREADS)]
    done = [0] * THREADS
    deadline = time.perf_counter() + seconds

    def work(i: int) -> None:
        for _ in range(total // THREADS):
            if time.perf_counter() > deadline:
                return
            clients[i].call("x" * 100)
            done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for c in clients:
        c.close()
    return sum(done) / elapsed
