"""Notifications through the async API: notifier, listeners, filters, pools, batches,
requeue, with async and plain endpoints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from oslo_config import cfg

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg.notify import NotificationFilter, NotificationResult
from tests.conformance_async.env import AsyncDriverEnv

pytestmark = pytest.mark.asyncio

WAIT = 10.0


class Collect:
    """An endpoint of ``info`` and ``error``: ``info`` async, ``error`` plain."""

    def __init__(self, requeue_first: int = 0, filter_rule: Any = None) -> None:
        self.got: list[tuple[str, Any]] = []
        self._requeue = requeue_first
        if filter_rule is not None:
            self.filter_rule = filter_rule

    async def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
                   metadata: Any) -> Any:  # fmt: skip
        self.got.append((event_type, payload))
        if self._requeue:
            self._requeue -= 1
            return NotificationResult.REQUEUE
        return NotificationResult.HANDLED

    def error(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any,
              metadata: Any) -> None:  # fmt: skip
        self.got.append((event_type, payload))


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def info(self, messages: list[dict[str, Any]]) -> None:
        self.batches.append([m["payload"] for m in messages])


async def wait_for(predicate: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def notify_conf(aenv: AsyncDriverEnv, topic: str) -> cfg.ConfigOpts:
    conf = aenv.conf()
    conf.set_override("driver", ["messagingv2"], group="oslo_messaging_notifications")
    conf.set_override("topics", [topic], group="oslo_messaging_notifications")
    return conf


async def listener(aenv: AsyncDriverEnv, topic: str, endpoints: list[Any], **kw: Any) -> Any:
    transport = aenv.anotification_transport()
    make = aio.get_batch_notification_listener if kw.pop("batch", False) else (
        aio.get_notification_listener)  # fmt: skip
    server = make(transport, [rpcmsg.Target(topic=topic)], endpoints, **kw)
    await server.start()
    return aenv.atrack(server)


async def test_notifier_to_listener(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    endpoint = Collect()
    await listener(aenv, topic, [endpoint])
    notifier = aio.Notifier(
        aenv.anotification_transport(notify_conf(aenv, topic)), publisher_id="svc.host"
    )
    assert notifier.is_enabled()
    await notifier.info({}, "thing.created", {"id": 1})
    await notifier.error({}, "thing.failed", {"id": 2})
    await notifier.debug({}, "thing.debug", {"id": 3})  # no endpoint handles debug
    await wait_for(lambda: len(endpoint.got) == 2)
    assert sorted(endpoint.got) == [("thing.created", {"id": 1}), ("thing.failed", {"id": 2})]
    await notifier.prepare(publisher_id="other").sample({}, "s", {})  # nobody listens: fine


async def test_notifier_raise_on_failure(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    notifier = aio.Notifier(aenv.anotification_transport(notify_conf(aenv, topic)),
                            raise_on_failure=True)  # fmt: skip
    with pytest.raises(rpcmsg.MessageDeliveryFailure):
        await notifier.info({}, "bad", {"not json": object()})
    with pytest.raises(TypeError):
        await notifier.info({}, 42, {})  # type: ignore[arg-type]


async def test_filters(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    wanted = Collect(filter_rule=NotificationFilter(event_type=r"^keep\."))
    everything = Collect()
    await listener(aenv, topic, [wanted, everything])
    notifier = aio.Notifier(aenv.anotification_transport(notify_conf(aenv, topic)))
    await notifier.info({}, "drop.me", 1)
    await notifier.info({}, "keep.me", 2)
    await wait_for(lambda: len(everything.got) == 2)
    assert wanted.got == [("keep.me", 2)]


async def test_pools_each_get_a_copy(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    a1, a2, b = Collect(), Collect(), Collect()
    await listener(aenv, topic, [a1], pool="pool-a")
    await listener(aenv, topic, [a2], pool="pool-a")
    await listener(aenv, topic, [b], pool="pool-b")
    notifier = aio.Notifier(aenv.anotification_transport(notify_conf(aenv, topic)))
    for i in range(6):
        await notifier.info({}, "e", i)
    await wait_for(lambda: len(b.got) == 6 and len(a1.got) + len(a2.got) == 6)
    assert sorted(p for _, p in a1.got + a2.got) == list(range(6))


async def test_requeue(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    endpoint = Collect(requeue_first=2)
    await listener(aenv, topic, [endpoint], allow_requeue=True)
    notifier = aio.Notifier(aenv.anotification_transport(notify_conf(aenv, topic)))
    await notifier.info({}, "again", "x")
    await wait_for(lambda: len(endpoint.got) == 3)
    await asyncio.sleep(0.2)
    assert endpoint.got == [("again", "x")] * 3


async def test_batches(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("notif")
    endpoint = Batches()
    notifier = aio.Notifier(aenv.anotification_transport(notify_conf(aenv, topic)))
    await listener(aenv, topic, [endpoint], batch=True, batch_size=3, batch_timeout=0.5)
    for i in range(4):
        await notifier.info({}, "e", i)
    # Three make a full batch; the fourth goes alone when its batch_timeout passes.
    await wait_for(lambda: sum(len(b) for b in endpoint.batches) == 4)
    assert endpoint.batches[0] == [0, 1, 2]
    assert endpoint.batches[1:] == [[3]]
