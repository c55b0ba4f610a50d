"""Peer rows: FastStream's ``request()`` on the same RabbitMQ and Redis.

    benchmarks/.venv-faststream/bin/python benchmarks/peer_faststream.py --broker rabbit|redis
        [--url URL] [--quick]

Run by the python of its own virtualenv (``benchmarks/peers.py setup``). The server, a
process of its own (this script run with ``--serve NAME``), subscribes an echo coroutine to
a queue (RabbitMQ) or a list (Redis) named for the run, with the broker's default subscriber
settings; the client sends each call with ``broker.request()`` and decodes the reply, from
one event loop: the figures of ``_asyncloop`` (sequential calls, 1,000 in flight, memory per
in-flight call). On Redis each pending ``request()`` holds a connection of the pool (its
reply channel's subscription) and takes another to publish, so the client's pool is raised
from redis-py's default of 100 to 2,100, without which 1,000 in flight fail with
``MaxConnectionsError``.

Prints progress to stderr and, as its last stdout line, the JSON figures with ``"driver"``
naming the rpcmsg driver of the same broker. This file never imports rpcmsg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from _asyncloop import WINDOW, measure
from _procs import serve_forever, spawn, stop

URLS = {"rabbit": "amqp://guest:guest@127.0.0.1:5672/", "redis": "redis://127.0.0.1:6379/0"}


def make_broker(kind: str, url: str) -> Any:
    if kind == "rabbit":
        from faststream.rabbit import RabbitBroker

        return RabbitBroker(url, logger=None)
    from faststream.redis import RedisBroker

    # Each Redis request() holds a pooled connection (its reply subscription) until the reply
    # comes, and its publish takes another: with redis-py's default pool of 100 connections,
    # 1,000 in flight fail with MaxConnectionsError.
    return RedisBroker(url, logger=None, max_connections=2 * WINDOW + 100)


def address(kind: str, name: str) -> dict[str, str]:
    """Where requests go: ``request()``'s and ``subscriber()``'s keyword for it."""
    return {"queue": name} if kind == "rabbit" else {"list": name}


async def serve(kind: str, url: str, name: str) -> None:
    broker = make_broker(kind, url)

    async def echo(data: str) -> str:
        return data

    if kind == "rabbit":
        from faststream.rabbit import RabbitQueue

        broker.subscriber(RabbitQueue(name, auto_delete=True))(echo)
    else:
        broker.subscriber(**address(kind, name))(echo)
    await broker.start()
    await asyncio.to_thread(serve_forever)
    await broker.stop()


async def client(kind: str, url: str, quick: bool) -> dict[str, Any]:
    name = f"peer-bench-{uuid.uuid4().hex[:10]}"
    server = spawn([sys.executable, __file__, "--broker", kind, "--url", url, "--serve", name])
    try:
        broker = make_broker(kind, url)
        await broker.connect()
        where = address(kind, name)

        async def call(data: str) -> Any:
            reply = await broker.request(data, **where)
            return await reply.decode()

        figures = await measure(call, server, quick, f"FastStream {kind}")
        await broker.stop()
    finally:
        stop(server)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--broker", choices=sorted(URLS), required=True)
    parser.add_argument("--url", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", metavar="NAME", help="be the server on NAME")
    args = parser.parse_args(argv)
    url = args.url or URLS[args.broker]
    if args.serve:
        asyncio.run(serve(args.broker, url, args.serve))
        return 0
    figures = asyncio.run(client(args.broker, url, args.quick))
    print(json.dumps({"driver": args.broker, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
