"""Peer row: aio-pika's RPC pattern (``aio_pika.patterns.RPC``) on the same RabbitMQ.

    benchmarks/.venv-aiopika/bin/python benchmarks/peer_aiopika.py [--url URL] [--quick]

Run by the python of its own virtualenv (``benchmarks/peers.py setup``). The server, a
process of its own (this script run with ``--serve NAME``), registers an echo coroutine
under a method name unique to the run; the client calls it through ``RPC.call`` on one
connection and channel, from one event loop: the figures of ``_asyncloop`` (sequential
calls, 1,000 in flight, memory per in-flight call). Both sides use the pattern as it comes
(its default serializer, pickle; default queue arguments, auto-deleted queue).

Prints progress to stderr and, as its last stdout line, the JSON figures with
``"driver": "rabbit"``. This file never imports rpcmsg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

import aio_pika
from _asyncloop import measure
from _procs import serve_forever, spawn, stop
from aio_pika.patterns import RPC


async def echo(*, data: str) -> str:
    return data


async def serve(url: str, name: str) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    rpc = await RPC.create(channel)
    await rpc.register(name, echo, auto_delete=True)
    await asyncio.to_thread(serve_forever)
    await rpc.close()
    await connection.close()


async def client(url: str, quick: bool) -> dict[str, Any]:
    name = f"peer-bench-{uuid.uuid4().hex[:10]}"
    server = spawn([sys.executable, __file__, "--url", url, "--serve", name])
    try:
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        rpc = await RPC.create(channel)

        async def call(data: str) -> Any:
            return await rpc.call(name, kwargs={"data": data})

        figures = await measure(call, server, quick, "aio-pika RPC")
        await rpc.close()
        await connection.close()
    finally:
        stop(server)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", metavar="NAME", help="be the server of method NAME")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.url, args.serve))
        return 0
    figures = asyncio.run(client(args.url, args.quick))
    print(json.dumps({"driver": "rabbit", **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
