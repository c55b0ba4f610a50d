"""The ceiling for in-process RPC: a bare request/reply hand-off with no library around it.

A client thread puts ``(reply_queue, payload)`` on a ``queue.SimpleQueue``; a server thread
takes it and submits the handling to a ``ThreadPoolExecutor``, whose worker puts the payload
back on the reply queue; the client waits for it. That is the shape of an rpcmsg call on the
fake driver (client, server poll, executor worker, reply) minus everything rpcmsg adds:
the JSON envelope, targets, dispatch, reply correlation and timeouts.

    python benchmarks/ceiling.py [--quick]      # prints fake driver vs ceiling, and the ratio

Target (from the core issue): rpcmsg's fake driver does at least 3,000 sequential calls/s
in one process with the threading executor.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rpcmsg.cli.workloads import QUICK, STANDARD, Counts, percentile, sequential_calls

__all__ = ["TARGET_CALLS_PER_S", "ceiling", "compare"]

TARGET_CALLS_PER_S = 3000.0


def ceiling(counts: Counts = STANDARD) -> dict[str, float]:
    """Sequential request/reply hand-offs of 100 B: calls/s, p50 and p99 in ms."""
    requests: queue.SimpleQueue[tuple[queue.SimpleQueue[str], str] | None] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(max_workers=64)

    def serve() -> None:
        while (item := requests.get()) is not None:
            reply, payload = item
            pool.submit(reply.put, payload)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    reply: queue.SimpleQueue[str] = queue.SimpleQueue()
    data = "x" * 100
    requests.put((reply, data))  # warm up the pool's first worker
    reply.get()
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + counts.seconds
    while len(latencies) < counts.seq_calls and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        requests.put((reply, data))
        reply.get()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    requests.put(None)
    server.join()
    pool.shutdown()
    latencies.sort()
    return {
        "seq_calls_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000.0,
        "p99_ms": percentile(latencies, 0.99) * 1000.0,
    }


def compare(counts: Counts = STANDARD) -> dict[str, Any]:
    """The fake driver and the ceiling measured back to back, with their ratio."""
    fake = sequential_calls("fake:///ceiling-compare", counts)
    bare = ceiling(counts)
    return {
        "fake": fake,
        "ceiling": bare,
        "ratio": fake["seq_calls_per_s"] / bare["seq_calls_per_s"],
        "target_calls_per_s": TARGET_CALLS_PER_S,
        "target_met": fake["seq_calls_per_s"] >= TARGET_CALLS_PER_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="minimal counts (smoke run)")
    args = parser.parse_args(argv)
    quick = args.quick or bool(os.environ.get("RPCMSG_BENCH_QUICK"))
    result = compare(QUICK if quick else STANDARD)
    fake, bare = result["fake"], result["ceiling"]
    print(
        f"rpcmsg fake driver: {fake['seq_calls_per_s']:,.0f} calls/s "
        f"(p50 {fake['p50_ms']:.3f} ms, p99 {fake['p99_ms']:.3f} ms)"
    )
    print(
        f"bare SimpleQueue + thread pool: {bare['seq_calls_per_s']:,.0f} calls/s "
        f"(p50 {bare['p50_ms']:.3f} ms, p99 {bare['p99_ms']:.3f} ms)"
    )
    verdict = "met" if result["target_met"] else "NOT met"
    print(
        f"ratio fake/ceiling: {result['ratio']:.2f}; target {TARGET_CALLS_PER_S:,.0f} calls/s "
        f"{verdict}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
