"""rpcmsg's asyncio client (:mod:`rpcmsg.asyncio`) on one URL, measured as the peers are.

    python benchmarks/async_workloads.py --url rabbit://guest:guest@127.0.0.1:5672/
        [--quick] [--in-process] [--server async|sync]

The server is rpcmsg's async RPC server with an ``async def echo`` endpoint, on the topic
``rpcmsg-bench-async-calls`` (deleted after each run by ``tidy.py``), with its default
concurrency limit; it runs in a process of its own (this script run with ``--serve``), as
services are deployed, or on the client's event loop with ``--in-process`` (always for
``fake://``, whose broker lives in one process). With ``--server sync`` the server is the
sync workloads' (:mod:`rpcmsg.cli._benchserve`, threading executor, a process of its own):
the async client against the very server the sync client's row uses. The client, one
transport and one ``RPCClient`` on one event loop, makes the calls of ``_asyncloop``:
sequential calls, 1,000 in flight, memory per in-flight call (not in-process: it stops the
server's process). With ``--server sync`` it then makes sequential calls in blocks that
alternate with a sync ``RPCClient``'s against the same server (``paired_async_p50_ms``,
``paired_sync_p50_ms``): the two clients compared under the same conditions.

Prints progress to stderr and, as its last stdout line, the JSON figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from _asyncloop import measure, paired
from _procs import serve_forever, spawn, stop

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg.cli._benchserve import TOPICS, ServerProcess, bench_conf
from rpcmsg.target import Target

TOPIC = TOPICS["async"]


class Echo:
    async def echo(self, ctxt: Any, data: str) -> str:
        return data


async def start_server(url: str) -> tuple[Any, Any]:
    transport = aio.get_rpc_transport(bench_conf(), url)
    server = aio.get_rpc_server(transport, Target(topic=TOPIC, server="s1"), [Echo()])
    await server.start()
    return server, transport


async def stop_server(server: Any, transport: Any) -> None:
    await server.stop()
    await server.wait()
    await transport.cleanup()


async def serve(url: str) -> None:
    server, transport = await start_server(url)
    await asyncio.to_thread(serve_forever)
    await stop_server(server, transport)


async def client(url: str, quick: bool, in_process: bool, sync: bool) -> dict[str, Any]:
    process: Any = None
    topic = TOPICS["calls"] if sync else TOPIC
    if sync:
        process = ServerProcess(url, "-")
    elif in_process:
        local = await start_server(url)
    else:
        process = spawn([sys.executable, __file__, "--url", url, "--serve"])
    try:
        transport = aio.get_rpc_transport(bench_conf(), url)
        rpc = aio.get_rpc_client(transport, Target(topic=topic), timeout=60)

        async def call(data: str) -> Any:
            return await rpc.call({}, "echo", data=data)

        name = f"rpcmsg async {url.split(':')[0]}"
        figures = await measure(call, process, quick, name)
        if sync:
            # The sync client against the same server, in blocks alternating with the
            # async client's: the figures issue 13's latency target is judged by.
            print(f"{name}: sequential calls, paired with the sync client", file=sys.stderr)
            sync_transport = rpcmsg.get_rpc_transport(bench_conf(), url)
            sync_rpc = rpcmsg.get_rpc_client(sync_transport, Target(topic=topic), timeout=60)
            try:
                rounds = 2 if quick else 6
                figures.update(
                    await paired(call, lambda d: sync_rpc.call({}, "echo", data=d), rounds)
                )
            except Exception as exc:  # the figures measured so far stand
                figures.setdefault("errors", {})["paired"] = f"{type(exc).__name__}: {exc}"
            finally:
                sync_transport.cleanup()
        await transport.cleanup()
    finally:
        if isinstance(process, ServerProcess):
            process.close()
        elif process is not None:
            stop(process)
        else:
            await stop_server(*local)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="fake:///bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="server on this loop")
    parser.add_argument("--serve", action="store_true", help="be the server")
    parser.add_argument("--server", choices=("async", "sync"), default="async")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.url))
        return 0
    in_process = args.in_process or args.url.startswith("fake:")
    if args.server == "sync" and in_process:
        parser.error("--server sync runs the server in a process of its own")
    figures = asyncio.run(client(args.url, args.quick, in_process, args.server == "sync"))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
