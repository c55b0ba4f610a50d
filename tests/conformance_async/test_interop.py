"""The sync and async sides talk on the wire: same driver name, URL and configuration."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from tests.conformance_async.env import AsyncDriverEnv

pytestmark = pytest.mark.asyncio

WAIT = 10.0


class Calc:
    def __init__(self) -> None:
        self.notes: list[Any] = []
        self.noted = threading.Event()

    def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b

    def fail(self, ctxt: Any) -> None:
        raise ValueError("sync side failed")

    def slow(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
             metadata: Any) -> None:  # fmt: skip
        self.notes.append((event_type, payload))
        self.noted.set()


class AsyncCalc:
    def __init__(self) -> None:
        self.notes: list[Any] = []

    async def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b

    async def fail(self, ctxt: Any) -> None:
        raise ValueError("async side failed")

    async def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
                   metadata: Any) -> None:  # fmt: skip
        self.notes.append((event_type, payload))


async def test_async_client_sync_server(aenv: AsyncDriverEnv) -> None:
    # Debug mode makes the loop raise when another thread touches it directly: replies
    # from the sync server's threads must cross through call_soon_threadsafe.
    asyncio.get_running_loop().set_debug(True)
    topic = aenv.unique()
    await asyncio.to_thread(aenv.server, topic, [Calc()])
    client = aenv.aclient(topic, timeout=WAIT)
    assert await client.call({"user": "u"}, "add", a=2, b=3) == 5
    with pytest.raises(ValueError, match="sync side failed"):
        await client.call({}, "fail")
    # The sync server's keep-alives (every 0.5 s) reach the async caller's call monitor.
    monitored = client.prepare(call_monitor_timeout=1.0)
    assert await monitored.call({}, "slow", seconds=2.5) == "done"
    results = await asyncio.gather(*(client.call({}, "add", a=i, b=0) for i in range(200)))
    assert results == list(range(200))


async def test_sync_client_async_server(aenv: AsyncDriverEnv) -> None:
    asyncio.get_running_loop().set_debug(True)
    topic = aenv.unique()
    await aenv.aserver(topic, [AsyncCalc()])
    client = aenv.client(topic, timeout=WAIT)
    assert await asyncio.to_thread(client.call, {}, "add", a=4, b=5) == 9
    with pytest.raises(ValueError, match="async side failed"):
        await asyncio.to_thread(client.call, {}, "fail")


def _notify_conf(aenv: AsyncDriverEnv, topic: str) -> Any:
    conf = aenv.conf()
    conf.set_override("driver", ["messagingv2"], group="oslo_messaging_notifications")
    conf.set_override("topics", [topic], group="oslo_messaging_notifications")
    return conf


async def test_async_notifier_sync_listener(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    calc = Calc()
    transport = aenv.notification_transport()
    sync_listener = rpcmsg.get_notification_listener(
        transport, [rpcmsg.Target(topic=topic)], [calc]
    )
    await asyncio.to_thread(sync_listener.start)
    aenv.track(sync_listener)
    notifier = aio.Notifier(aenv.anotification_transport(_notify_conf(aenv, topic)))
    await notifier.info({}, "from.async", {"n": 1})
    assert await asyncio.to_thread(calc.noted.wait, WAIT)
    assert calc.notes == [("from.async", {"n": 1})]


async def test_sync_notifier_async_listener(aenv: AsyncDriverEnv) -> None:
    asyncio.get_running_loop().set_debug(True)
    topic = aenv.unique("notif")
    calc = AsyncCalc()
    listener = aio.get_notification_listener(
        aenv.anotification_transport(), [rpcmsg.Target(topic=topic)], [calc]
    )
    await listener.start()
    aenv.atrack(listener)
    conf = _notify_conf(aenv, topic)
    notifier = rpcmsg.Notifier(aenv.notification_transport(conf))
    await asyncio.to_thread(notifier.info, {}, "from.sync", {"n": 2})
    deadline = time.monotonic() + WAIT
    while not calc.notes:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert calc.notes == [("from.sync", {"n": 2})]
