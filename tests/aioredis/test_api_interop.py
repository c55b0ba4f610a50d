"""Through the public APIs over the live Redis: an async client calls a sync server and a
sync client calls an async server; remote errors, casts and notifications cross too."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg.notify import Notifier
from tests.redis.conftest import RedisEnv

pytestmark = pytest.mark.redis


class Calc:
    def __init__(self) -> None:
        self.casts: list[int] = []
        self.cast_seen = threading.Event()

    def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b

    def fail(self, ctxt: Any) -> None:
        raise ValueError("bad input")

    def record(self, ctxt: Any, n: int) -> None:
        self.casts.append(n)
        self.cast_seen.set()


class AsyncCalc:
    def __init__(self) -> None:
        self.casts: list[int] = []

    async def add(self, ctxt: Any, a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    async def fail(self, ctxt: Any) -> None:
        raise ValueError("bad input")

    async def record(self, ctxt: Any, n: int) -> None:
        self.casts.append(n)


def test_async_client_calls_a_sync_server(renv: RedisEnv) -> None:
    topic = renv.unique()
    calc = Calc()
    renv.server(topic, [calc])

    async def main() -> None:
        transport = aio.get_rpc_transport(renv.conf(), renv.url)
        client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=10)
        results = await asyncio.gather(*(client.call({}, "add", a=i, b=1) for i in range(50)))
        assert results == [i + 1 for i in range(50)]
        with pytest.raises(ValueError, match="bad input"):
            await client.call({}, "fail")
        await client.cast({}, "record", n=7)
        assert await asyncio.to_thread(calc.cast_seen.wait, 10)
        await transport.cleanup()

    asyncio.run(main())
    assert calc.casts == [7]


def test_sync_client_calls_an_async_server(renv: RedisEnv) -> None:
    topic = renv.unique()
    calc = AsyncCalc()
    client = renv.client(topic, timeout=10)

    async def main() -> None:
        transport = aio.get_rpc_transport(renv.conf(), renv.url)
        server = aio.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s1"), [calc])
        await server.start()
        try:
            assert await asyncio.to_thread(client.call, {}, "add", a=2, b=3) == 5
            with pytest.raises(ValueError, match="bad input"):
                await asyncio.to_thread(client.call, {}, "fail")
            await asyncio.to_thread(client.cast, {}, "record", n=9)
            for _ in range(100):
                if calc.casts:
                    break
                await asyncio.sleep(0.05)
        finally:
            await server.stop()
            await server.wait()
            await transport.cleanup()

    asyncio.run(main())
    assert calc.casts == [9]


def test_sync_notifier_to_an_async_listener(renv: RedisEnv) -> None:
    topic = renv.unique("notif")
    seen: list[Any] = []

    class Endpoint:
        async def info(self, ctxt: Any, publisher: Any, event: Any, payload: Any, md: Any) -> None:
            seen.append((event, payload))

    notifier = Notifier(renv.notification_transport(), "pub", driver="messagingv2", topics=[topic])

    async def main() -> None:
        transport = aio.get_notification_transport(renv.conf(), renv.url)
        listener = aio.get_notification_listener(
            transport, [rpcmsg.Target(topic=topic)], [Endpoint()]
        )
        await listener.start()
        try:
            await asyncio.to_thread(notifier.info, {}, "thing.happened", {"n": 1})
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            await listener.stop()
            await listener.wait()
            await transport.cleanup()

    asyncio.run(main())
    assert seen == [("thing.happened", {"n": 1})]
