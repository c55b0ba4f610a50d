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
from _rawloop import QUICK, STANDARD, by_size, threaded

PREFIX = f"raw-bench-{uuid.uuid4().hex[:10]}"


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
    figures: dict[str, Any] = {"driver": "redis"}
    try:
        figures.update(by_size(client, counts, seconds, "raw redis-py"))
        print("raw redis-py: calls from 8 threads", file=sys.stderr)
        figures["threaded_calls_per_s"] = threaded(
            lambda: Client(args.url, queue), int(counts["threaded"]), seconds
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
