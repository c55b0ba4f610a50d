"""An async server's ``max_concurrency`` is the concurrency it gets, on every async driver.

Casts and notifications are acknowledged once handled, so a driver's prefetch window bounds
how many run at once. The window must be sized from the server's ``max_concurrency``, not
from ``executor_thread_pool_size`` (the async AMQP and fake drivers once sized it from the
pool, capping a server given 40 at twice a pool of 4: 8).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from tests.conformance_async.env import AsyncDriverEnv
from tests.conformance_async.test_notify import notify_conf

pytestmark = pytest.mark.asyncio

POOL = 4  # executor_thread_pool_size: a window of 8 if it were sized from the pool
CONCURRENCY = 40
WAIT = 10.0


class Held:
    """Endpoints that hold every message until released, counting those running."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

    async def _hold(self) -> None:
        async with self.changed:
            self.running += 1
            self.most = max(self.most, self.running)
            self.changed.notify_all()
        await self.release.wait()
        async with self.changed:
            self.running -= 1
            self.changed.notify_all()

    async def work(self, ctxt: Any, n: int) -> None:
        await self._hold()

    async def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any,
                   metadata: Any) -> None:  # fmt: skip
        await self._hold()

    async def reach(self, count: int) -> int:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.running >= count), WAIT)
            except TimeoutError:
                pass
            return self.running


def small_pool(aenv: AsyncDriverEnv) -> Any:
    conf = aenv.conf()
    conf.set_override("executor_thread_pool_size", POOL)
    return conf


async def test_casts_run_up_to_max_concurrency(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("conc")
    held = Held()
    transport = aenv.atransport(small_pool(aenv))
    await aenv.aserver(topic, [held], transport=transport, max_concurrency=CONCURRENCY)
    client = aenv.aclient(topic)
    for n in range(CONCURRENCY + 10):
        await client.cast({}, "work", n=n)
    try:
        assert await held.reach(CONCURRENCY) == CONCURRENCY
        await asyncio.sleep(0.2)
        assert held.most == CONCURRENCY  # and never more
    finally:
        held.release.set()


async def test_notifications_run_up_to_max_concurrency(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("conc-notif")
    held = Held()
    conf = small_pool(aenv)
    listener = aio.get_notification_listener(
        aenv.anotification_transport(conf),
        [rpcmsg.Target(topic=topic)],
        [held],
        max_concurrency=CONCURRENCY,
    )
    await listener.start()
    aenv.atrack(listener)
    notifier = aio.Notifier(
        aenv.anotification_transport(notify_conf(aenv, topic)), publisher_id="svc.host"
    )
    for n in range(CONCURRENCY + 10):
        await notifier.info({}, "held", n)
    try:
        assert await held.reach(CONCURRENCY) == CONCURRENCY
        await asyncio.sleep(0.2)
        assert held.most == CONCURRENCY
    finally:
        held.release.set()
