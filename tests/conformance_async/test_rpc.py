"""RPC behaviour of the async API every async driver must show."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg.driver import DEADLINE_SLACK
from tests.conformance_async.env import AsyncDriverEnv

pytestmark = pytest.mark.asyncio

WAIT = 10.0


class CustomError(Exception):
    pass


class Echo:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.seen: list[Any] = []
        self.got = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.threads: set[str] = set()

    async def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def sync_echo(self, ctxt: Any, value: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        return value

    async def context(self, ctxt: Any) -> Any:
        return ctxt

    async def whoami(self, ctxt: Any) -> str:
        return self.name

    async def record(self, ctxt: Any, value: Any) -> None:
        self.seen.append(value)
        self.got.set()

    async def fail(self, ctxt: Any, kind: str) -> None:
        if kind == "value":
            raise ValueError("bad value")
        raise CustomError("custom failure", 42)

    def sync_fail(self, ctxt: Any) -> None:
        raise KeyError("missing")

    async def sleep(self, ctxt: Any, seconds: float) -> str:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.running -= 1
        return "slept"

    def block(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "blocked"


async def wait_for(predicate: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_call_async_and_sync_endpoints(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    echo = Echo()
    await aenv.aserver(topic, [echo])
    client = aenv.aclient(topic, timeout=WAIT)
    assert await client.call({"user": "u1"}, "echo", value={"a": [1, 2]}) == {"a": [1, 2]}
    assert await client.call({}, "sync_echo", value="x") == "x"
    assert echo.threads and all(n.startswith("rpcmsg-endpoint") for n in echo.threads)
    assert await client.call({"user": "u1", "n": 3}, "context") == {"user": "u1", "n": 3}


async def test_cast_server_cast_and_fanout(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    one, two = Echo("one"), Echo("two")
    await aenv.aserver(topic, [one], server="one")
    await aenv.aserver(topic, [two], server="two")
    client = aenv.aclient(topic)
    await client.prepare(server="two").cast({}, "record", value="direct")
    await wait_for(lambda: two.seen == ["direct"])
    assert one.seen == []
    await client.prepare(fanout=True).cast({}, "record", value="all")
    await wait_for(lambda: "all" in one.seen and "all" in two.seen)
    for i in range(10):
        await client.cast({}, "record", value=i)
    await wait_for(lambda: len(one.seen) + len(two.seen) == 13)


async def test_prepare_overrides_target_and_timeout(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    await aenv.aserver(topic, [Echo("a")], server="a")
    await aenv.aserver(topic, [Echo("b")], server="b")
    client = aenv.aclient(topic, timeout=WAIT)
    assert await client.prepare(server="b").call({}, "whoami") == "b"
    assert await client.prepare(server="a").call({}, "whoami") == "a"
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout):
        await client.prepare(topic=aenv.unique("nobody"), timeout=0.3).call({}, "echo", value=1)
    assert time.monotonic() - started < 0.3 + DEADLINE_SLACK + 1.0
    with pytest.raises(rpcmsg.InvalidTarget):
        await client.prepare(fanout=True).call({}, "echo", value=1)


async def test_version_caps(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()

    class V2(Echo):
        target = rpcmsg.Target(version="2.3")

    await aenv.aserver(topic, [V2()])
    client = aenv.aclient(topic, timeout=WAIT, version_cap="2.2")
    assert await client.prepare(version="2.1").call({}, "echo", value=1) == 1
    with pytest.raises(rpcmsg.RPCVersionCapError):
        await client.prepare(version="2.4").call({}, "echo", value=1)
    with pytest.raises(rpcmsg.RPCVersionCapError):
        await client.prepare(version="2.4").cast({}, "echo", value=1)
    assert client.can_send_version("2.2") and not client.can_send_version("3.0")
    uncapped = aenv.aclient(topic, timeout=WAIT)
    with pytest.raises(rpcmsg.RemoteError) as info:
        await uncapped.prepare(version="2.5").call({}, "echo", value=1)
    assert info.value.exc_type == "UnsupportedVersion"


async def test_remote_errors_as_sync(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    await aenv.aserver(topic, [Echo()])
    client = aenv.aclient(topic, timeout=WAIT)
    with pytest.raises(ValueError, match="bad value"):
        await client.call({}, "fail", kind="value")
    with pytest.raises(KeyError):
        await client.call({}, "sync_fail")
    with pytest.raises(rpcmsg.RemoteError) as info:
        await client.call({}, "fail", kind="custom")
    assert info.value.exc_type == "CustomError"
    allowed = aenv.aclient(topic, timeout=WAIT, transport=aenv.atransport(
        allowed_remote_exmods=[__name__]))  # fmt: skip
    with pytest.raises(CustomError) as custom:
        await allowed.call({}, "fail", kind="custom")
    assert type(custom.value).__name__ == "CustomError_Remote"
    assert custom.value.args == ("custom failure", 42)
    for method in ("missing", "_private"):
        with pytest.raises(rpcmsg.RemoteError) as info:
            await client.call({}, method)
        assert info.value.exc_type == "NoSuchMethod"
    oslo = aenv.aclient(topic, timeout=WAIT, transport=aenv.atransport(
        allowed_remote_exmods=["oslo_messaging.rpc.dispatcher"]))  # fmt: skip
    with pytest.raises(rpcmsg.NoSuchMethod) as rebuilt:
        await oslo.call({}, "missing")
    assert type(rebuilt.value).__name__ == "NoSuchMethod_Remote"
    # The server is still there after all this.
    assert await client.call({}, "echo", value="alive") == "alive"


async def test_timeout_without_server(aenv: AsyncDriverEnv) -> None:
    client = aenv.aclient(aenv.unique("nobody"), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout, match="timed out"):
        await client.call({}, "echo", value=1)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 0.5 + DEADLINE_SLACK


async def test_call_monitor(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    await aenv.aserver(topic, [Echo()])
    client = aenv.aclient(topic, timeout=WAIT, call_monitor_timeout=1.0)
    # Keep-alives every 0.5 s carry a 2.5 s call past its 1 s monitor, async or in a thread
    # (a loaded machine may delay one by a few tenths: the margin is 0.5 s).
    assert await client.call({}, "sleep", seconds=2.5) == "slept"
    assert await client.call({}, "block", seconds=2.5) == "blocked"
    # Nobody sends keep-alives to a call nobody takes: the monitor ends it, not the timeout.
    silent = aenv.aclient(aenv.unique("nobody"), timeout=WAIT, call_monitor_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout, match="call monitor"):
        await silent.call({}, "echo", value=1)
    assert time.monotonic() - started < 0.5 + DEADLINE_SLACK + 1.0


async def test_cancellation_releases_the_waiter(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    transport = aenv.atransport()
    await aenv.aserver(topic, [Echo()])
    client = aenv.aclient(topic, timeout=WAIT, transport=transport)
    task = asyncio.create_task(client.call({}, "sleep", seconds=2))
    await wait_for(lambda: transport._replies.in_flight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport._replies.in_flight == 0
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await client.call({}, "sleep", seconds=2)
    assert time.monotonic() - started < 1.5
    assert transport._replies.in_flight == 0
    assert await client.call({}, "echo", value="still usable") == "still usable"


async def test_a_thousand_concurrent_calls(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    await aenv.aserver(topic, [Echo()])
    transport = aenv.atransport()
    client = aenv.aclient(topic, timeout=60, transport=transport)
    results = await asyncio.gather(*(client.call({}, "echo", value=i) for i in range(1000)))
    assert results == list(range(1000))
    assert transport._replies.in_flight == 0


async def test_concurrency_is_bounded(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    echo = Echo()
    await aenv.aserver(topic, [echo], max_concurrency=3)
    client = aenv.aclient(topic, timeout=WAIT)
    results = await asyncio.gather(*(client.call({}, "sleep", seconds=0.1) for _ in range(12)))
    assert results == ["slept"] * 12
    assert echo.peak == 3


async def test_a_blocking_endpoint_never_stalls_the_loop(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    await aenv.aserver(topic, [Echo()])
    client = aenv.aclient(topic, timeout=WAIT)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        assert await client.call({}, "block", seconds=1.0) == "blocked"
    finally:
        ticker.cancel()
    assert ticks > 20  # a stalled loop would have ticked about once


async def test_graceful_stop_finishes_work_in_hand(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    echo = Echo()
    server = await aenv.aserver(topic, [echo])
    client = aenv.aclient(topic, timeout=WAIT)
    calls = [asyncio.create_task(client.call({}, "sleep", seconds=0.5)) for _ in range(5)]
    await wait_for(lambda: echo.running == 5)
    await server.stop()
    await server.wait()
    assert echo.running == 0
    assert await asyncio.gather(*calls) == ["slept"] * 5
    # Stopped: a new call is not taken.
    with pytest.raises(rpcmsg.MessagingTimeout):
        await client.prepare(timeout=0.3).call({}, "echo", value=1)


async def test_server_as_async_context_manager(aenv: AsyncDriverEnv) -> None:
    import rpcmsg.asyncio as aio

    topic = aenv.unique()
    transport = aenv.atransport()
    server = aio.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="cm"), [Echo()])
    async with server:
        assert await aenv.aclient(topic, timeout=WAIT).call({}, "echo", value=7) == 7
    assert server.in_flight == 0
