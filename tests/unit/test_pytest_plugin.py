"""The shipped pytest plugin's fixtures, used as a user's test suite would."""

from __future__ import annotations

from typing import Any

import pytest

import rpcmsg


class Greeter:
    def greet(self, ctxt: Any, name: str) -> str:
        return f"hello {name}"


def test_fixtures_give_a_working_isolated_fake(
    rpcmsg_url: str, rpcmsg_transport: rpcmsg.Transport, rpcmsg_server: Any
) -> None:
    assert rpcmsg_url.startswith("fake:///")
    rpcmsg_server("greeter", [Greeter()])
    client = rpcmsg.get_rpc_client(rpcmsg_transport, rpcmsg.Target(topic="greeter"), timeout=5)
    assert client.call({}, "greet", name="pytest") == "hello pytest"


def test_brokers_are_isolated_per_url(rpcmsg_conf: Any, rpcmsg_transport: rpcmsg.Transport) -> None:
    from rpcmsg.testing import RunningServer, fresh_fake_url

    other = rpcmsg.get_rpc_transport(rpcmsg_conf, fresh_fake_url())
    try:
        with RunningServer(other, "greeter", [Greeter()]):
            elsewhere = rpcmsg.get_rpc_client(other, rpcmsg.Target(topic="greeter"), timeout=5)
            assert elsewhere.call({}, "greet", name="there") == "hello there"
            here = rpcmsg.get_rpc_client(
                rpcmsg_transport, rpcmsg.Target(topic="greeter"), timeout=0.2
            )
            try:
                here.call({}, "greet", name="nobody")
            except rpcmsg.MessagingTimeout:
                pass
            else:  # pragma: no cover
                raise AssertionError("a server on another fake broker answered")
    finally:
        other.cleanup()


class AsyncGreeter:
    async def greet(self, ctxt: Any, name: str) -> str:
        return f"hello {name}, asynchronously"


@pytest.mark.asyncio
async def test_async_fixtures_share_the_test_broker(
    rpcmsg_async_transport: Any, rpcmsg_async_server: Any, rpcmsg_server: Any,
    rpcmsg_transport: rpcmsg.Transport,
) -> None:  # fmt: skip
    import asyncio

    import rpcmsg.asyncio as aio

    await rpcmsg_async_server("async-greeter", [AsyncGreeter()])
    client = aio.get_rpc_client(
        rpcmsg_async_transport, rpcmsg.Target(topic="async-greeter"), timeout=5
    )
    assert await client.call({}, "greet", name="pytest") == "hello pytest, asynchronously"
    # The sync fixtures' server is on the same broker.
    rpcmsg_server("greeter", [Greeter()])
    to_sync = aio.get_rpc_client(rpcmsg_async_transport, rpcmsg.Target(topic="greeter"))
    assert await to_sync.call({}, "greet", name="sync") == "hello sync"
    sync_client = rpcmsg.get_rpc_client(
        rpcmsg_transport, rpcmsg.Target(topic="async-greeter"), timeout=5
    )
    reply = await asyncio.to_thread(sync_client.call, {}, "greet", name="both")
    assert reply == "hello both, asynchronously"
