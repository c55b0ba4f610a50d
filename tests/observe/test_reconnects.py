"""Drivers report the connections they lose and open again (``rpcmsg.reconnects``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import rpcmsg
from tests.drivers import DriverEnv
from tests.faults.proxy import FaultProxy
from tests.observe.conftest import Metrics

DRIVERS = {"rabbit": "rabbit", "redis": "redis"}


class Echo:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value


def test_a_lost_connection_is_counted_as_a_reconnect(env: DriverEnv, metrics: Metrics) -> None:
    if env.name not in DRIVERS or env.spec.host is None:
        pytest.skip(f"{env.name} has no connection to lose")
    with FaultProxy(env.spec.host[1]) as proxy:
        transport = rpcmsg.get_rpc_transport(env.conf(), proxy.url(env.url))
        env._transports.append(transport)
        topic = env.unique()
        env.server(topic, [Echo()], transport=transport)
        client = env.client(topic, transport=transport, timeout=5)
        assert client.call({}, "echo", value=1) == 1
        assert metrics.value("rpcmsg.reconnects") == 0
        proxy.reset("both")
        deadline = time.monotonic() + 30
        while True:  # calls fail until the driver is back, then succeed
            try:
                assert client.call({}, "echo", value=2) == 2
                break
            except rpcmsg.MessagingException:
                assert time.monotonic() < deadline
        assert metrics.value("rpcmsg.reconnects", driver=DRIVERS[env.name]) >= 1


def test_an_async_driver_counts_its_reconnects_too(env: DriverEnv, metrics: Metrics) -> None:
    import asyncio

    import rpcmsg.asyncio as aio

    if env.name not in DRIVERS or env.spec.host is None:
        pytest.skip(f"{env.name} has no connection to lose")

    async def scenario(proxy: FaultProxy) -> None:
        transport = aio.get_rpc_transport(env.conf(), proxy.url(env.url))
        topic = env.unique()
        server = aio.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s"), [Echo()])
        await server.start()
        try:
            client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=5)
            assert await client.call({}, "echo", value=1) == 1
            proxy.reset("both")
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert await client.call({}, "echo", value=2) == 2
                    break
                except rpcmsg.MessagingException:
                    assert time.monotonic() < deadline
        finally:
            await server.stop()
            await server.wait()
            await transport.cleanup()

    with FaultProxy(env.spec.host[1]) as proxy:
        asyncio.run(asyncio.wait_for(scenario(proxy), 60))
    assert metrics.value("rpcmsg.reconnects", driver=DRIVERS[env.name]) >= 1
