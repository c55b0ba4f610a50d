"""Tracing and metrics on :mod:`rpcmsg.asyncio` (drivers with an async twin: fake, RabbitMQ):
the same spans as the sync paths, nesting across awaits (OpenTelemetry's context follows
each task), and reaching plain endpoints run in the pool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg import _plugins
from tests.drivers import DriverEnv
from tests.observe.conftest import WAIT, Metrics, Spans


def _need_async(env: DriverEnv) -> None:
    try:
        _plugins.load_async_driver_class(env.spec.scheme)
    except rpcmsg.DriverLoadFailure:
        pytest.skip(f"{env.name} has no async driver")


def _child_of(child: Any, parent: Any) -> bool:
    return (
        child.context.trace_id == parent.context.trace_id
        and child.parent is not None
        and child.parent.span_id == parent.context.span_id
    )


class Endpoint:
    def __init__(self, spans: Spans) -> None:
        self.tracer = spans.provider.get_tracer("endpoint")
        self.casts: asyncio.Queue[Any] = asyncio.Queue()

    async def slow(self, ctxt: Any, value: Any, seconds: float) -> Any:
        await asyncio.sleep(seconds)  # other calls run meanwhile
        with self.tracer.start_as_current_span(f"async inner {value}"):
            await asyncio.sleep(0)
        return value

    def plain(self, ctxt: Any, value: Any) -> Any:  # run in the server's pool
        with self.tracer.start_as_current_span(f"plain inner {value}"):
            return value

    async def fail(self, ctxt: Any) -> None:
        raise ValueError("no")

    async def record(self, ctxt: Any, value: Any) -> None:
        await self.casts.put(value)


async def _serve(env: DriverEnv, topic: str, endpoint: Any) -> tuple[Any, Any]:
    transport = aio.get_rpc_transport(env.conf(), env.url)
    server = aio.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s1"), [endpoint])
    await server.start()
    return server, transport


async def _close(server: Any, *transports: Any) -> None:
    await server.stop()
    await server.wait()
    for transport in transports:
        await transport.cleanup()


def test_concurrent_async_calls_nest_under_their_own_spans(env: DriverEnv, spans: Spans) -> None:
    _need_async(env)
    topic = env.unique()
    outer = spans.provider.get_tracer("test")

    async def scenario() -> None:
        endpoint = Endpoint(spans)
        server, transport = await _serve(env, topic, endpoint)
        client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=WAIT)

        async def one(value: int, seconds: float) -> Any:
            with outer.start_as_current_span(f"outer {value}"):
                return await client.call({}, "slow", value=value, seconds=seconds)

        try:
            # The first call finishes last: the awaits interleave.
            assert await asyncio.gather(one(1, 0.3), one(2, 0.0)) == [1, 2]
            assert await client.call({}, "plain", value=3) == 3
            with pytest.raises(ValueError):
                await client.call({}, "fail")
        finally:
            await _close(server, transport)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    calls = spans.named(f"{topic}/slow", 4)
    for value in (1, 2):
        (top,) = spans.named(f"outer {value}")
        (client,) = [s for s in calls if s.kind == SpanKind.CLIENT and _child_of(s, top)]
        (server,) = [s for s in calls if s.kind == SpanKind.SERVER and _child_of(s, client)]
        (inner,) = spans.named(f"async inner {value}")
        assert _child_of(inner, server)
    (handled,) = [s for s in spans.named(f"{topic}/plain", 2) if s.kind == SpanKind.SERVER]
    assert _child_of(spans.named("plain inner 3")[0], handled)
    failed = spans.named(f"{topic}/fail", 2)
    assert {s.attributes["error.type"] for s in failed} == {"ValueError"}


class Notifications:
    def __init__(self) -> None:
        self.seen: asyncio.Queue[Any] = asyncio.Queue()

    async def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any):
        await self.seen.put(payload)


def test_async_casts_and_notifications_are_parents_of_their_processing(
    env: DriverEnv, spans: Spans, metrics: Metrics
) -> None:
    _need_async(env)
    topic, notes = env.unique(), env.unique("notifications")

    async def scenario() -> None:
        endpoint, listening = Endpoint(spans), Notifications()
        server, transport = await _serve(env, topic, endpoint)
        note_transport = aio.get_notification_transport(env.conf(), env.url)
        listener = aio.get_notification_listener(
            note_transport, [rpcmsg.Target(topic=notes)], [listening]
        )
        await listener.start()
        try:
            client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic))
            await client.cast({}, "record", value=1)
            assert await asyncio.wait_for(endpoint.casts.get(), WAIT) == 1
            notifier = aio.Notifier(
                note_transport, driver="messagingv2", publisher_id="p", topics=[notes]
            )
            await notifier.info({}, "thing.happened", {"n": 2})
            assert await asyncio.wait_for(listening.seen.get(), WAIT) == {"n": 2}
        finally:
            await listener.stop()
            await listener.wait()
            await _close(server, transport, note_transport)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    (cast,) = spans.named(f"send {topic}")
    (processed,) = spans.named(f"process {topic}")
    assert _child_of(processed, cast)
    (sent,) = spans.named(f"send {notes}.info")
    (handled,) = spans.named(f"process {notes}.info")
    assert _child_of(handled, sent)
    assert metrics.value("rpcmsg.client.requests", topic=topic, call_type="cast") == 1
    assert metrics.value("rpcmsg.server.requests", topic=topic, outcome="ok") == 1
    assert metrics.value("rpcmsg.notifications.sent", topic=f"{notes}.info") == 1
    assert metrics.value("rpcmsg.notifications.handled", topic=f"{notes}.info") == 1


class Batches:
    def __init__(self, count: int) -> None:
        self.count = count
        self.seen: list[Any] = []
        self.done = asyncio.Event()

    async def info(self, messages: list[Any]) -> None:
        self.seen += messages
        if len(self.seen) >= self.count:
            self.done.set()


def test_an_async_batch_span_links_to_every_sender(env: DriverEnv, spans: Spans) -> None:
    _need_async(env)
    notes = env.unique("notifications")

    async def scenario() -> None:
        transport = aio.get_notification_transport(env.conf(), env.url)
        endpoint = Batches(3)
        listener = aio.get_batch_notification_listener(
            transport, [rpcmsg.Target(topic=notes)], [endpoint], batch_size=3, batch_timeout=5
        )
        await listener.start()
        try:
            notifier = aio.Notifier(
                transport, driver="messagingv2", publisher_id="p", topics=[notes]
            )
            for n in range(3):
                await notifier.info({}, "thing.happened", {"n": n})
            await asyncio.wait_for(endpoint.done.wait(), WAIT)
        finally:
            await listener.stop()
            await listener.wait()
            await transport.cleanup()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    senders = spans.named(f"send {notes}.info", 3)
    batches = spans.named(f"process {notes}.info")
    linked = {link.context.span_id for span in batches for link in span.links}
    assert linked == {span.context.span_id for span in senders}
