"""Hostile input on the queues of an ``rpcmsg.asyncio`` server and listener, on every async
driver: as tests/hostile/test_envelopes.py for the sync side.

The same hypothesis bodies are put on a running async server's queue (as calls with an
expiration, and as casts) and on an async notification listener's, through the async driver
seam. After each, a good async call must be answered and a good cast and notification
handled; at the end every body the core cannot decode was logged as malformed exactly once,
and no task, worker thread or poll failed.

Hypothesis drives a plain function: the server, listener and clients live on an event loop
in a thread of their own, and each step runs there.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rpcmsg
import rpcmsg.asyncio as aio
from tests.conformance_async.env import AsyncDriverEnv, async_drivers, make_async_env
from tests.faults.workload import Sink
from tests.hostile.strategies import bodies
from tests.hostile.test_envelopes import EXAMPLES, LogChecks, thread_errors  # noqa: F401

T = TypeVar("T")
STEP = 30.0


class Loop:
    """An event loop in a thread of its own; :meth:`run` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[str] = []
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(ctx["message"]))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STEP)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class AsyncRig(LogChecks):
    """An async server and notification listener on ``aenv``, an async client and notifier."""

    def __init__(self, aenv: AsyncDriverEnv, caplog: pytest.LogCaptureFixture) -> None:
        super().__init__(caplog)
        self.aenv = aenv
        self.sink = Sink()
        self.topic, self.notify_topic = aenv.unique(), aenv.unique("notify")

    async def start(self) -> None:
        aenv = self.aenv
        self.transport = aenv.atransport()
        await aenv.aserver(self.topic, [self.sink], transport=self.transport)
        listener = aio.get_notification_listener(
            aenv.anotification_transport(), [rpcmsg.Target(topic=self.notify_topic)], [self.sink]
        )
        await listener.start()
        aenv.atrack(listener)
        self.client = aenv.aclient(self.topic, timeout=10)
        self.notifier = aio.Notifier(
            aenv.anotification_transport(),
            publisher_id="hostile",
            driver="messagingv2",
            topics=[self.notify_topic],
            raise_on_failure=True,
        )
        assert await self.client.call({}, "echo", value="ready") == "ready"

    def target(self, topic: str) -> rpcmsg.Target:
        return rpcmsg.Target(topic=topic, exchange=self.aenv.exchange, server="s1")

    async def put(self, body: bytes, as_call: bool, notification: bool) -> None:
        """``body`` onto the server's queue (or the listener's), through the async driver."""
        driver = self.transport.driver
        try:
            if notification:
                target = self.target(f"{self.notify_topic}.info")
                await driver.send_notification(target, body, retry=0)
            else:
                expiration = 5.0 if as_call else None
                await driver.send(self.target(self.topic), body, expiration=expiration)
        except rpcmsg.MessagingException:
            return  # refused with a clear error (a size limit): nothing reached the queue
        self.count(body, notification)

    async def still_serving(self) -> None:
        uid = uuid.uuid4().hex
        assert await self.client.call({}, "echo", value=uid) == uid
        await self.client.cast({}, "record", uid=uid)
        await self.notifier.info({}, "hostile.check", {"uid": uid})
        for _ in range(1000):
            if uid in self.sink.casts and uid in self.sink.notes:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("a good cast or notification after hostile input was not handled")


@pytest.fixture(params=async_drivers())
def arig(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    loop = Loop()
    aenv = make_async_env(request.param)
    rig = AsyncRig(aenv, caplog)
    try:
        loop.run(rig.start())
        yield loop, rig
    finally:
        try:
            loop.run(aenv.aclose())
        finally:
            loop.close()


def test_hostile_bodies_through_the_async_seam(
    arig: tuple[Loop, AsyncRig],
    thread_errors: list[str],  # noqa: F811
) -> None:
    loop, rig = arig

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies, as_call=st.booleans(), notification=st.booleans())
    def one(body: bytes, as_call: bool, notification: bool) -> None:
        loop.run(rig.put(body, as_call, notification))
        loop.run(rig.still_serving())

    one()
    rig.check_logs()
    assert not thread_errors
    assert not loop.errors, f"tasks failed on the loop: {loop.errors[:3]}"
