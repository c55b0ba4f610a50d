"""An asyncio service: async and blocking endpoints, many calls in flight, a notification.

One event loop runs an ``rpcmsg.asyncio`` server whose endpoint has an ``async def`` method
(run on the loop) and a plain blocking one (run in the server's thread pool, so it never
stalls the loop); an async client keeps 200 calls in flight at once, gives up on a slow call
with ``asyncio.timeout()`` and goes on using the same client; an async ``Notifier`` tells an
async listener that the work is done.

    python samples/async_service.py [--url URL]     # fake:// by default

The same code runs on every driver (``rabbit://`` needs Python 3.11 or later).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

from oslo_config import cfg

import rpcmsg
import rpcmsg.asyncio as aio

IN_FLIGHT = 200


class Inventory:
    """The service: ``async def`` methods run on the loop, plain ones in a thread pool."""

    def __init__(self) -> None:
        self.stock: dict[str, int] = {}

    async def add(self, ctxt: dict[str, Any], item: str, count: int) -> int:
        await asyncio.sleep(0.01)  # I/O of its own: other requests are served meanwhile
        self.stock[item] = self.stock.get(item, 0) + count
        return self.stock[item]

    def audit(self, ctxt: dict[str, Any], seconds: float) -> str:
        time.sleep(seconds)  # a blocking library call: it runs in the thread pool
        return f"audited {sum(self.stock.values())} items"


class Watcher:
    """A notification endpoint: coroutine methods named after the priorities it wants."""

    def __init__(self) -> None:
        self.seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def info(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        await self.seen.put((event_type, payload))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except rpcmsg.MessagingException as exc:  # no broker, bad URL, no driver: one clear line
        print(f"async_service.py: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1


async def run(args: argparse.Namespace) -> int:
    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="async-sample")
    topic = args.topic or f"inventory-{uuid.uuid4().hex[:8]}"
    transport = aio.get_rpc_transport(conf, url=args.url)
    notifications = aio.get_notification_transport(conf, url=args.url)
    watcher = Watcher()
    listener = aio.get_notification_listener(
        notifications, [rpcmsg.Target(topic=f"{topic}-events")], [watcher]
    )
    server = aio.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="inventory-1"), [Inventory()]
    )
    try:
        async with server, listener:
            client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=30)
            started = time.monotonic()
            counts = await asyncio.gather(
                *(client.call({}, "add", item="bolt", count=1) for _ in range(IN_FLIGHT))
            )
            elapsed = time.monotonic() - started
            print(f"{IN_FLIGHT} calls in flight at once answered in {elapsed:.2f} s")
            if sorted(counts) != list(range(1, IN_FLIGHT + 1)):
                print(f"unexpected counts: {sorted(counts)[:5]}...")
                return 1

            try:  # a caller's own deadline: the call is cancelled, the client stays usable
                async with asyncio.timeout(0.2):
                    await client.call({}, "audit", seconds=2)
                print("the slow audit was not cut short")
                return 1
            except TimeoutError:
                print("gave up on a slow audit after 0.2 s (asyncio.timeout)")
            report = await client.call({}, "audit", seconds=0)
            print(f"the same client goes on: {report}")

            notifier = aio.Notifier(
                notifications,
                publisher_id="inventory.host1",
                driver="messagingv2",
                topics=[f"{topic}-events"],
            )
            await notifier.info({}, "inventory.audited", {"report": report})
            event_type, payload = await asyncio.wait_for(watcher.seen.get(), 10)
            print(f"listener got {event_type}: {payload}")
            if payload != {"report": report}:
                return 1
        print("the async service answered everything.")
        return 0
    finally:
        await transport.cleanup()
        await notifications.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
