"""The async API over Redis through a fault proxy (tests/faults/proxy.py): a blackholed link
ends calls by their deadlines and the transport comes back after it heals; connections
reset while calls and casts flow lose no cast (``-m faults``: some seconds each)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg.driver.base import DEADLINE_SLACK
from tests.faults.proxy import FaultProxy
from tests.redis.conftest import RedisEnv

pytestmark = [pytest.mark.redis, pytest.mark.faults]


class Calc:
    def __init__(self) -> None:
        self.casts: set[int] = set()

    async def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b

    async def record(self, ctxt: Any, n: int) -> None:
        self.casts.add(n)


def test_calls_end_by_their_deadline_on_a_blackholed_link_and_recover(renv: RedisEnv) -> None:
    topic = renv.unique()
    with FaultProxy(6379) as proxy:

        async def main() -> None:
            server_transport = aio.get_rpc_transport(renv.conf(), renv.url)
            server = aio.get_rpc_server(
                server_transport, rpcmsg.Target(topic=topic, server="s"), [Calc()]
            )
            await server.start()
            url = proxy.url(renv.url) + "?retry_interval=0.1&socket_timeout=1"
            transport = aio.get_rpc_transport(renv.conf(), url)
            client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=1)
            assert await client.call({}, "add", a=1, b=1) == 2
            await asyncio.to_thread(proxy.stall, "both")
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(rpcmsg.MessagingTimeout):
                    await client.call({}, "add", a=1, b=2)
                assert time.monotonic() - started < 1 + DEADLINE_SLACK
            await asyncio.to_thread(proxy.heal)
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert await client.call({}, "add", a=2, b=2) == 4
                    break
                except rpcmsg.MessagingTimeout:
                    assert time.monotonic() < deadline, "no call got through after healing"
            await server.stop()
            await server.wait()
            await transport.cleanup()
            await server_transport.cleanup()

        asyncio.run(main())


def test_casts_survive_resets_of_the_servers_links(renv: RedisEnv) -> None:
    topic = renv.unique()
    calc = Calc()
    with FaultProxy(6379) as proxy:

        async def main() -> None:
            url = proxy.url(renv.url) + "?retry_interval=0.1&claim_idle_time=3"
            server_transport = aio.get_rpc_transport(renv.conf(), url)
            server = aio.get_rpc_server(
                server_transport, rpcmsg.Target(topic=topic, server="s"), [calc]
            )
            await server.start()
            transport = aio.get_rpc_transport(renv.conf(), renv.url)
            client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=5)
            for i in range(200):
                await client.cast({}, "record", n=i)
                if i % 50 == 25:
                    await asyncio.to_thread(proxy.reset, "both")
            deadline = time.monotonic() + 30
            while len(calc.casts) < 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await server.stop()
            await server.wait()
            await transport.cleanup()
            await server_transport.cleanup()

        asyncio.run(main())
    assert calc.casts == set(range(200))
