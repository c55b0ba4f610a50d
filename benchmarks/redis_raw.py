"""The floor: the benchmark workloads as bare redis-py LPUSH/BLPOP loops, without rpcmsg.

    python benchmarks/redis_raw.py [--url redis://127.0.0.1:6379/0] [--quick] [--packed]

With ``--packed`` every command is packed by hand and sent on a redis-py connection
(``send_packed_command``/``read_response``), skipping redis-py's command layer as rpcmsg's
Redis driver does on its hot paths: the floor of Redis itself from Python, rather than of
redis-py's API.

What a Python client can reach on this Redis: a server thread pops requests from a list with
``BLPOP`` on its own connection and pushes each reply to the caller's reply list; the caller
pushes a request with ``LPUSH`` and blocks in ``BLPOP`` on its reply list. Casts and
notifications are pushed one at a time and timed from the first sent to the last popped.
JSON bodies are encoded and decoded on both sides, as any RPC library must. The server runs in
a process of its own (this script run with ``--serve PREFIX``), as services are deployed, or
in a thread of the client's process with ``--in-process``; the client asks it what it counted
with a ``stats`` request.

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
from _procs import serve_forever, spawn, stop
from _rawloop import QUICK, STANDARD, by_size, threaded


def pack(*args: bytes | str) -> bytes:
    """A command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Conn:
    """One connection; ``lpush``/``blpop`` through redis-py's API or packed by hand."""

    def __init__(self, url: str, packed: bool) -> None:
        # The API loop uses redis-py's default client (a connection pool), as applications
        # do; the packed loop writes on one connection of its own.
        self.client = redis.Redis.from_url(url, single_connection_client=packed)
        self.packed = packed
        self.conn: Any = self.client.connection

    def lpush(self, key: str, value: str) -> None:
        if not self.packed:
            self.client.lpush(key, value)
            return
        self.conn.send_packed_command([pack(b"LPUSH", key, value)])
        self.conn.read_response()

    def blpop(self, key: str, timeout: int) -> Any:
        if not self.packed:
            return self.client.blpop([key], timeout=timeout)
        self.conn.send_packed_command([pack(b"BLPOP", key, str(timeout))])
        return self.conn.read_response()

    def close(self) -> None:
        self.client.close()


class Server:
    """Echoes requests to their reply list; counts casts."""

    def __init__(self, url: str, queue: str, packed: bool) -> None:
        self.queue = queue
        self.conn = Conn(url, packed)
        self.out = Conn(url, packed)
        self.casts = 0
        self.last = 0.0
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped:
            item = self.conn.blpop(self.queue, timeout=1)
            if item is None:
                continue
            request = json.loads(item[1])
            reply_to = request.get("_reply_q")
            if reply_to:
                stats = request["method"] == "stats"
                result = [self.casts, self.last] if stats else request["args"]["data"]
                body = json.dumps({"result": result, "_msg_id": request["_msg_id"]})
                self.out.lpush(reply_to, body)
            else:
                self.casts += 1
                self.last = time.monotonic()

    def close(self) -> None:
        self.stopped = True
        self.thread.join()
        self.conn.close()
        self.out.close()


class Client:
    """One caller: a connection and a reply list of its own."""

    def __init__(self, url: str, prefix: str, packed: bool) -> None:
        self.queue = f"{prefix}:requests"
        self.conn = Conn(url, packed)
        self.reply_q = f"{prefix}:reply:{uuid.uuid4().hex}"

    def call(self, data: str, method: str = "echo") -> Any:
        msg_id = uuid.uuid4().hex
        body = json.dumps(
            {"method": method, "args": {"data": data}, "_msg_id": msg_id, "_reply_q": self.reply_q}
        )
        self.conn.lpush(self.queue, body)
        while True:
            item = self.conn.blpop(self.reply_q, timeout=30)
            if item is None:
                raise TimeoutError("no reply")
            reply = json.loads(item[1])
            if reply["_msg_id"] == msg_id:
                return reply["result"]

    def close(self) -> None:
        self.conn.client.delete(self.reply_q)
        self.conn.close()


def stream(url: str, queue: str, stats: Any, count: int, seconds: float, packed: bool) -> float:
    """Casts pushed one at a time; ``stats()`` is the server's ``(casts counted so far,
    monotonic time of the last)``."""
    conn = Conn(url, packed)
    before = stats()[0]
    body = json.dumps({"method": "sink", "args": {"data": "x" * 100}})
    start = time.monotonic()
    sent = 0
    while sent < count and time.monotonic() - start < seconds:
        conn.lpush(queue, body)
        sent += 1
    deadline = time.monotonic() + 20
    casts, last = stats()
    while casts - before < sent and time.monotonic() < deadline:
        time.sleep(0.01)
        casts, last = stats()
    conn.close()
    return (casts - before) / (last - start) if casts > before else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--packed", action="store_true", help="pack commands by hand")
    parser.add_argument("--in-process", action="store_true", help="server thread in this process")
    parser.add_argument("--serve", metavar="PREFIX", help="be the server, on PREFIX:requests")
    args = parser.parse_args(argv)
    packed = bool(args.packed)
    if args.serve:
        server = Server(args.url, f"{args.serve}:requests", packed)
        serve_forever()
        server.close()
        return 0
    name = "raw redis, packed" if packed else "raw redis-py"
    counts = QUICK if args.quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD
    seconds = float(counts["seconds"])
    prefix = f"raw-bench-{uuid.uuid4().hex[:10]}"
    queue = f"{prefix}:requests"
    if args.in_process:
        server = Server(args.url, queue, packed)
        stats: Any = lambda: (server.casts, server.last)  # noqa: E731
        close_server = server.close
    else:
        serve = [sys.executable, __file__, "--url", args.url, "--serve", prefix]
        proc = spawn(serve + (["--packed"] if packed else []))
        stats = lambda: tuple(client.call("", "stats"))  # noqa: E731
        close_server = lambda: stop(proc)  # noqa: E731
    client = Client(args.url, prefix, packed)
    figures: dict[str, Any] = {"driver": "redis"}
    try:
        figures.update(by_size(client, counts, seconds, name))
        print(f"{name}: calls from 8 threads", file=sys.stderr)
        figures["threaded_calls_per_s"] = threaded(
            lambda: Client(args.url, prefix, packed), int(counts["threaded"]), seconds
        )
        casts = int(counts["casts"])
        print(f"{name}: casts", file=sys.stderr)
        figures["casts_per_s"] = stream(args.url, queue, stats, casts, seconds, packed)
        print(f"{name}: notifications", file=sys.stderr)
        figures["notifications_per_s"] = stream(args.url, queue, stats, casts, seconds, packed)
    finally:
        client.close()
        close_server()
        cleanup = redis.Redis.from_url(args.url)
        keys = list(cleanup.scan_iter(f"{prefix}:*"))
        if keys:
            cleanup.delete(*keys)
        cleanup.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
