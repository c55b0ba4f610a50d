"""What the asyncio benchmark scripts (the peers and rpcmsg's async client) measure the same
way, given one coroutine ``call(data) -> data`` that makes one RPC call (stdlib only: the
peer scripts run on their own virtualenvs' pythons).

* sequential calls of 100 B, each awaited before the next: calls/s, p50, p99 (ms);
* 1,000 calls in flight from one event loop: 1,000 tasks each calling in a loop, until a
  count or a time budget ends: calls/s;
* memory per in-flight call: with the server process stopped (SIGSTOP) so that no reply
  can come, 1,000 calls are started; once they are all waiting, the Python memory
  allocated since just before them and still held (``tracemalloc``) is divided by 1,000;
  then the server is resumed (SIGCONT) and every call must complete. C-level buffers of a
  client library (not seen by tracemalloc) are not counted. A failure here is reported
  under ``errors`` (``{"memory": ...}``) and the other figures stand.

Figures: ``seq_calls_per_s``, ``p50_ms``, ``p99_ms``, ``inflight_calls_per_s``,
``inflight_kb_per_call``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Call = Callable[[str], Awaitable[Any]]


class Process(Protocol):
    """The server's process (a ``subprocess.Popen`` or anything with its ``pid``)."""

    @property
    def pid(self) -> int: ...


WINDOW = 1000
STANDARD = {"seq": 3000, "inflight": 40000, "seconds": 4.0}
QUICK = {"seq": 30, "inflight": 2000, "seconds": 1.0}


def counts(quick: bool) -> dict[str, float]:
    return QUICK if quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD


def percentile(values: list[float], fraction: float) -> float:
    rank = max(0, min(len(values) - 1, round(fraction * len(values)) - 1))
    return values[rank] if values else float("nan")


async def sequential(call: Call, count: int, seconds: float) -> dict[str, float]:
    data = "x" * 100
    latencies: list[float] = []
    start = time.perf_counter()
    while len(latencies) < count and time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        if await call(data) != data:
            raise RuntimeError("wrong reply")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "seq_calls_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def paired(
    call: Call, sync_call: Callable[[str], Any], rounds: int = 6, block: int = 300
) -> dict[str, float]:
    """p50 (ms) of sequential 100 B calls through ``call`` (awaited) and through
    ``sync_call`` (a blocking client's call, run on the loop's thread, nothing else running),
    in alternating blocks against the same server: the two clients compared under the same
    conditions, the server's state and the machine's load shared."""
    data = "x" * 100
    latencies: dict[str, list[float]] = {"async": [], "sync": []}
    for n in range(rounds):
        for side in ("async", "sync") if n % 2 == 0 else ("sync", "async"):
            for _ in range(block):
                t0 = time.perf_counter()
                got = await call(data) if side == "async" else sync_call(data)
                latencies[side].append(time.perf_counter() - t0)
                if got != data:
                    raise RuntimeError("wrong reply")
    return {
        f"paired_{side}_p50_ms": percentile(sorted(values), 0.5) * 1000
        for side, values in latencies.items()
    }


async def in_flight(call: Call, total: int, seconds: float, window: int = WINDOW) -> float:
    """Calls/s with ``window`` calls outstanding all the time."""
    data = "x" * 100
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while done < total and time.perf_counter() < deadline:
            if await call(data) != data:
                raise RuntimeError("wrong reply")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    return done / (time.perf_counter() - start)


async def memory_per_call(call: Call, server: Process, window: int = WINDOW) -> float:
    """KB of Python memory held per call while ``window`` calls wait for a stopped server."""
    data = "x" * 100
    gc.collect()
    os.kill(server.pid, signal.SIGSTOP)
    try:
        tracemalloc.start()
        tasks = [asyncio.ensure_future(call(data)) for _ in range(window)]
        # Let every call send its request and settle into waiting for the reply.
        await asyncio.sleep(1.0)
        if any(task.done() for task in tasks):
            raise RuntimeError("a call ended while the server was stopped")
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        os.kill(server.pid, signal.SIGCONT)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    if any(r != data for r in results):
        raise RuntimeError("wrong reply")
    return held / window / 1024


async def measure(call: Call, server: Process | None, quick: bool, name: str) -> dict[str, Any]:
    """Every figure above (memory only with a ``server`` process to stop)."""
    c = counts(quick)
    seconds = float(c["seconds"])
    await call("warm up")
    print(f"{name}: sequential calls", file=sys.stderr)
    figures: dict[str, Any] = await sequential(call, int(c["seq"]), seconds)
    print(f"{name}: {WINDOW:,} calls in flight", file=sys.stderr)
    figures["inflight_calls_per_s"] = await in_flight(call, int(c["inflight"]), seconds)
    if server is not None:
        print(f"{name}: memory per in-flight call", file=sys.stderr)
        try:
            figures["inflight_kb_per_call"] = await memory_per_call(call, server)
        except Exception as exc:  # the other figures stand; the failure is reported
            figures["errors"] = {"memory": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    return figures
