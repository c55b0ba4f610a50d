"""The floor: the benchmark workloads as bare redis-py LPUSH/BLPOP loops, without rpcmsg.

    python benchmarks/redis_raw.py [--url redis://127.0.0.1:6379/0] [--quick]

What a Python client can reach on this Redis: a server thread pops requests from a list with
``BLPOP`` on its own connection and pushes each reply to the caller's reply list; the caller
pushes a request with ``LPUSH`` and blocks in ``BLPOP`` on its reply list. Casts and
notifications are pushed one at a time and timed from the first sent to the last popped.
JSON bodies are encoded and decoded on both sides, as any RPC library must. Everything runs
in one process (server and client threads), as the rpcmsg workloads do.

Prints progress to stderr and, as its last stdout line, the figures ``seq_calls_per_s``,
``p50_ms``, ``p99_ms``, ``threaded_calls_per_s``, ``casts_per_s``, ``notifications_per_s``
and ``payloads`` (``{"100B"|"10KB"|"1MB": {"calls_per_s", "p50_ms", "p99_ms"}}``), with
``"driver": "redis"``. ``RPCMSG_BENCH_QUICK=1`` (or ``--quick``) uses minimal counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from typing import Any

import redis

SIZES = {"100B": 100, "10KB": 10_000, "1MB": 1_000_000}
STANDARD = {"seq": 3000, "threaded": 6000, "casts": 6000, "10KB": 1000, "1MB": 40, "seconds": 4.0}
QUICK = {"seq": 30, "threaded": 40, "casts": 40, "10KB": 10, "1MB": 2, "seconds": 1.0}
THREADS = 8
PREFIX = f"raw-bench-{uuid.uuid4().hex[:10]}"


def percentile(values: list[float], fraction: float) -> float:
    rank = max(0, min(len(values) - 1, round(fraction * len(values)) - 1))
    return values[rank] if values else float("nan")


class Server:
    """Echoes requests to their reply list; counts casts."""

    def __init__(self, url: str, queue: str) -> None:
        self.queue = queue
        self.conn = redis.Redis.from_url(url)
        self.out = redis.Redis.from_url(url)
        self.casts = 0
        self.last = 0.0
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped:
            item = self.conn.blpop([self.queue], timeout=1)
            if item is None:
                continue
            request = json.loads(item[1])
            reply_to = request.get("_reply_q")
            if reply_to:
                body = json.dumps(
                    {"result": request["args"]["data"], "_msg_id": request["_msg_id"]}
                )
                self.out.lpush(reply_to, body)
            else:
                self.casts += 1
                self.last = time.perf_counter()

    def close(self) -> None:
        self.stopped = True
        self.thread.join()
        self.conn.close()
        self.out.close()


class Client:
    """One caller: a connection and a reply list of its own."""

    def __init__(self, url: str, queue: str) -> None:
        self.queue = queue
        self.conn = redis.Redis.from_url(url)
        self.reply_q = f"{PREFIX}:reply:{uuid.uuid4().hex}"

    def call(self, data: str) -> Any:
        msg_id = uuid.uuid4().hex
        body = json.dumps(
            {"method": "echo", "args": {"data": data}, "_msg_id": msg_id, "_reply_q": self.reply_q}
        )
        self.conn.lpush(self.queue, body)
        while True:
            item = self.conn.blpop([self.reply_q], timeout=30)
            if item is None:
                raise TimeoutError("no reply")
            reply = json.loads(item[1])
            if reply["_msg_id"] == msg_id:
                return reply["result"]

    def close(self) -> None:
        self.conn.delete(self.reply_q)
        self.conn.close()


def sequential(client: Client, size: int, count: int, seconds: float) -> dict[str, float]:
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


def threaded(url: str, queue: str, total: int, seconds: float) -> float:
    clients = [Client(url, queue) for _ in range(THREADS)]
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


def stream(url: str, server: Server, count: int, seconds: float) -> float:
    conn = redis.Redis.from_url(url)
    server.casts = 0
    body = json.dumps({"method": "sink", "args": {"data": "x" * 100}})
    start = time.perf_counter()
    sent = 0
    while sent < count and time.perf_counter() - start < seconds:
        conn.lpush(server.queue, body)
        sent += 1
    deadline = time.perf_counter() + 20
    while server.casts < sent and time.perf_counter() < deadline:
        time.sleep(0.001)
    conn.close()
    return server.casts / (server.last - start) if server.casts else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD
    seconds = float(counts["seconds"])
    queue = f"{PREFIX}:requests"
    server = Server(args.url, queue)
    client = Client(args.url, queue)
    figures: dict[str, Any] = {"driver": "redis", "payloads": {}}
    try:
        for label, size in SIZES.items():
            print(f"raw redis-py: sequential calls {label}", file=sys.stderr)
            count = int(counts["seq" if label == "100B" else label])
            figures["payloads"][label] = sequential(client, size, count, seconds)
        small = figures["payloads"]["100B"]
        figures.update(
            seq_calls_per_s=small["calls_per_s"], p50_ms=small["p50_ms"], p99_ms=small["p99_ms"]
        )
        print("raw redis-py: calls from 8 threads", file=sys.stderr)
        figures["threaded_calls_per_s"] = threaded(
            args.url, queue, int(counts["threaded"]), seconds
        )
        print("raw redis-py: casts", file=sys.stderr)
        figures["casts_per_s"] = stream(args.url, server, int(counts["casts"]), seconds)
        print("raw redis-py: notifications", file=sys.stderr)
        figures["notifications_per_s"] = stream(args.url, server, int(counts["casts"]), seconds)
    finally:
        client.close()
        server.close()
        cleanup = redis.Redis.from_url(args.url)
        keys = list(cleanup.scan_iter(f"{PREFIX}:*"))
        if keys:
            cleanup.delete(*keys)
        cleanup.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
