"""The floor: the benchmark workloads as bare py-amqp loops, without rpcmsg.

    python benchmarks/amqp_raw.py [--url amqp://guest:guest@127.0.0.1:5672/] [--quick]

What a Python client can reach on this broker: a server consumes requests on its own
connection (acknowledging each, as rpcmsg does) and publishes each reply to the caller's
exclusive reply queue through the default exchange; the caller publishes a request and reads
until its reply arrives. The server runs in a process of its own (this script run with
``--serve QUEUE``), as services are deployed, or in a thread of the client's process with
``--in-process``; the client asks it what it counted with a ``stats`` request. Casts and
notifications are published with publisher confirms, one at a time (as rpcmsg publishes
them), and timed from the first sent to the last consumed. JSON bodies are encoded and
decoded on both sides, as any RPC library must.

Prints progress to stderr and, as its last stdout line, the figures ``seq_calls_per_s``,
``p50_ms``, ``p99_ms``, ``threaded_calls_per_s``, ``casts_per_s``, ``notifications_per_s`` and
``payloads`` (``{"100B"|"10KB"|"1MB": {"calls_per_s", "p50_ms", "p99_ms"}}``), with
``"driver": "rabbit"``. ``RPCMSG_BENCH_QUICK=1`` (or ``--quick``) uses minimal counts.
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
from urllib.parse import unquote, urlsplit

import amqp
from _procs import serve_forever, spawn, stop
from _rawloop import QUICK, STANDARD, by_size, threaded


def connect(url: str) -> amqp.Connection:
    parts = urlsplit(url)
    conn = amqp.Connection(
        host=f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
    )
    conn.connect()
    return conn


class Server:
    """Echoes requests to their ``reply_to`` queue; counts casts."""

    def __init__(self, url: str, queue: str) -> None:
        self.conn = connect(url)
        self.channel = self.conn.channel()
        self.channel.queue_declare(queue, auto_delete=True)
        self.channel.basic_consume(queue, callback=self.on_request)
        self.casts = 0
        self.last = 0.0
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_request(self, message: amqp.Message) -> None:
        request = json.loads(message.body)
        self.channel.basic_ack(message.delivery_tag)
        reply_to = message.properties.get("reply_to")
        if reply_to:
            result = [self.casts, self.last] if request["method"] == "stats" else request["data"]
            body = json.dumps({"result": result, "_msg_id": request["_msg_id"]})
            self.channel.basic_publish(amqp.Message(body), "", reply_to)
        else:
            self.casts += 1
            self.last = time.monotonic()

    def run(self) -> None:
        while not self.stopped:
            try:
                self.conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass

    def close(self) -> None:
        self.stopped = True
        self.thread.join()
        self.conn.close()


class Client:
    """One caller: a connection and an exclusive reply queue."""

    def __init__(self, url: str, queue: str) -> None:
        self.queue = queue
        self.conn = connect(url)
        self.channel = self.conn.channel()
        self.reply_q = f"raw-reply-{uuid.uuid4().hex}"
        self.channel.queue_declare(self.reply_q, exclusive=True)
        self.channel.basic_consume(self.reply_q, no_ack=True, callback=self.on_reply)
        self.reply: Any = None

    def on_reply(self, message: amqp.Message) -> None:
        self.reply = json.loads(message.body)

    def call(self, data: str, method: str = "echo") -> Any:
        msg_id = uuid.uuid4().hex
        body = json.dumps(
            {"method": method, "args": {"data": data}, "data": data, "_msg_id": msg_id}
        )
        self.reply = None
        self.channel.basic_publish(amqp.Message(body, reply_to=self.reply_q), "", self.queue)
        while self.reply is None or self.reply["_msg_id"] != msg_id:
            self.conn.drain_events(timeout=30)
        return self.reply["result"]

    def close(self) -> None:
        self.conn.close()


def confirmed_stream(
    url: str, stats: Any, exchange: str, key: str, count: int, seconds: float
) -> float:
    """Casts published one at a time with confirms; ``stats()`` is the server's
    ``(casts counted so far, monotonic time of the last)``."""
    conn = connect(url)
    channel = conn.channel()
    channel.confirm_select()
    before = stats()[0]
    body = json.dumps({"method": "sink", "args": {"data": "x" * 100}})
    start = time.monotonic()
    sent = 0
    while sent < count and time.monotonic() - start < seconds:
        channel.basic_publish_confirm(amqp.Message(body, delivery_mode=2), exchange, key)
        sent += 1
    deadline = time.monotonic() + 20
    casts, last = stats()
    while casts - before < sent and time.monotonic() < deadline:
        time.sleep(0.01)
        casts, last = stats()
    conn.close()
    return (casts - before) / (last - start) if casts > before else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="server thread in this process")
    parser.add_argument("--serve", metavar="QUEUE", help="be the server, on QUEUE")
    args = parser.parse_args(argv)
    if args.serve:
        server = Server(args.url, args.serve)
        serve_forever()
        server.close()
        return 0
    counts = QUICK if args.quick or os.environ.get("RPCMSG_BENCH_QUICK") else STANDARD
    seconds = float(counts["seconds"])
    queue = f"raw-bench-{uuid.uuid4().hex[:10]}"
    if args.in_process:
        server = Server(args.url, queue)
        stats: Any = lambda: (server.casts, server.last)  # noqa: E731
        close_server = server.close
    else:
        proc = spawn([sys.executable, __file__, "--url", args.url, "--serve", queue])
        stats = lambda: tuple(client.call("", "stats"))  # noqa: E731
        close_server = lambda: stop(proc)  # noqa: E731
    client = Client(args.url, queue)
    figures: dict[str, Any] = {"driver": "rabbit"}
    figures.update(by_size(client, counts, seconds, "raw py-amqp"))
    print("raw py-amqp: calls from 8 threads", file=sys.stderr)
    figures["threaded_calls_per_s"] = threaded(
        lambda: Client(args.url, queue), int(counts["threaded"]), seconds
    )
    print("raw py-amqp: confirmed casts", file=sys.stderr)
    figures["casts_per_s"] = confirmed_stream(
        args.url, stats, "", queue, int(counts["casts"]), seconds
    )
    print("raw py-amqp: confirmed notifications (topic exchange)", file=sys.stderr)
    exchange = f"raw-bench-{uuid.uuid4().hex[:10]}"
    admin = connect(args.url)  # the server's connection belongs to its thread
    admin.channel().exchange_declare(exchange, "topic", auto_delete=True)
    admin.channel().queue_bind(queue, exchange, "notifications.info")
    figures["notifications_per_s"] = confirmed_stream(
        args.url, stats, exchange, "notifications.info", int(counts["casts"]), seconds
    )
    admin.close()
    client.close()
    close_server()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
