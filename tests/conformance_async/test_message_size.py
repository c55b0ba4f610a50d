"""The payload size limit (``max_message_size``) on the async API of every async driver, as
on the sync one (tests/conformance/test_message_size.py).

A send whose encoded body is larger is refused with ``MessageDeliveryFailure`` before any
broker I/O; a result too large to reply with comes back as a remote error (not a timeout);
a larger message received is logged and rejected, and the server or listener goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg import _wire
from tests.conformance_async.env import AsyncDriverEnv

pytestmark = pytest.mark.asyncio

WAIT = 10.0
LIMIT = 64 * 1024
BIG = "x" * (LIMIT + 1)


class Endpoint:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.got = asyncio.Event()

    async def record(self, ctxt: Any, value: Any) -> None:
        self.seen.append(value)
        self.got.set()

    async def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    async def big(self, ctxt: Any) -> str:
        return BIG

    async def info(
        self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any
    ) -> None:
        self.seen.append(payload)
        self.got.set()


def limited(aenv: AsyncDriverEnv, limit: int = LIMIT) -> aio.AsyncTransport:
    conf = aenv.conf()
    conf.set_override("max_message_size", limit)
    return aenv.atransport(conf)


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(text in r.getMessage() for r in caplog.records):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_the_limit_is_the_sync_sides(aenv: AsyncDriverEnv) -> None:
    conf = aenv.conf()
    assert aenv.atransport(conf).max_message_size == _wire.max_size(conf)
    assert limited(aenv).max_message_size == LIMIT
    assert aenv.transport(conf).max_message_size == aenv.atransport(conf).max_message_size


async def test_oversized_sends_are_refused_and_the_server_goes_on(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique()
    endpoint = Endpoint()
    transport = limited(aenv)
    await aenv.aserver(topic, [endpoint], transport=transport)
    client = aenv.aclient(topic, transport=transport, timeout=WAIT)
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        await client.cast({}, "record", value=BIG)
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        await client.call({}, "echo", value=BIG)
    started = time.monotonic()
    with pytest.raises(rpcmsg.RemoteError, match="max_message_size") as raised:
        await client.call({}, "big")
    assert raised.value.exc_type == "MessageDeliveryFailure"
    assert time.monotonic() - started < WAIT / 2
    assert await client.call({}, "echo", value="small") == "small"
    assert endpoint.seen == []


async def test_oversized_messages_received_are_rejected_and_logged(
    aenv: AsyncDriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = aenv.unique()
    endpoint = Endpoint()
    await aenv.aserver(topic, [endpoint], transport=limited(aenv))
    sender = aenv.aclient(topic, transport=limited(aenv, 4 * LIMIT), timeout=WAIT)
    with caplog.at_level(logging.ERROR, logger="rpcmsg"):
        await sender.cast({}, "record", value=BIG)
        await sender.cast({}, "record", value="small")
        await asyncio.wait_for(endpoint.got.wait(), WAIT)
        assert await _logged(caplog, "max_message_size"), "the oversized cast was not logged"
    assert endpoint.seen == ["small"]
    assert await sender.call({}, "echo", value=1) == 1


async def test_oversized_notifications_are_refused_and_rejected(
    aenv: AsyncDriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = aenv.unique()
    conf = aenv.conf()
    conf.set_override("max_message_size", LIMIT)
    small = aenv.anotification_transport(conf)
    refusing = aio.Notifier(
        small, "pub", driver="messagingv2", topics=[topic], raise_on_failure=True
    )
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        await refusing.info({}, "ev", {"big": BIG})
    endpoint = Endpoint()
    listener = aio.get_notification_listener(small, [rpcmsg.Target(topic=topic)], [endpoint])
    await listener.start()
    aenv.atrack(listener)
    conf_big = aenv.conf()
    conf_big.set_override("max_message_size", 4 * LIMIT)
    sender = aio.Notifier(
        aenv.anotification_transport(conf_big),
        "pub",
        driver="messagingv2",
        topics=[topic],
        raise_on_failure=True,
    )
    with caplog.at_level(logging.ERROR, logger="rpcmsg"):
        await sender.info({}, "ev", {"big": BIG})
        await sender.info({}, "ev", {"n": 1})
        await asyncio.wait_for(endpoint.got.wait(), WAIT)
        assert await _logged(caplog, "max_message_size")
    assert endpoint.seen == [{"n": 1}]
