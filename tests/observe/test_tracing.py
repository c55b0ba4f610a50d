"""Spans for calls, casts, fanout casts and notifications, and their handling, on every
driver: kinds, names, semantic-convention attributes, and the sender's span as the handler's
parent (the trace context crossing the broker in the message)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.drivers import DriverEnv
from tests.observe.conftest import WAIT, Spans

SYSTEMS = {"fake": "fake", "rabbit": "rabbitmq", "redis": "redis"}


class Endpoint:
    def __init__(self, spans: Spans) -> None:
        self.done = threading.Event()
        self.tracer = spans.provider.get_tracer("endpoint")

    def echo(self, ctxt: Any, value: Any) -> Any:
        # An endpoint's own spans nest under the handling span.
        with self.tracer.start_as_current_span("inner work"):
            return value

    def fail(self, ctxt: Any) -> None:
        raise ValueError("no")

    def record(self, ctxt: Any, value: Any) -> None:
        self.done.set()


def _child_of(child: Any, parent: Any) -> bool:
    return (
        child.context.trace_id == parent.context.trace_id
        and child.parent is not None
        and child.parent.span_id == parent.context.span_id
    )


def test_a_call_span_is_the_parent_of_its_server_span(env: DriverEnv, spans: Spans) -> None:
    topic = env.unique()
    endpoint = Endpoint(spans)
    env.server(topic, [endpoint])
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value=3) == 3
    client_span = next(s for s in spans.named(f"{topic}/echo", 2) if s.kind == SpanKind.CLIENT)
    server_span = next(s for s in spans.named(f"{topic}/echo", 2) if s.kind == SpanKind.SERVER)
    assert _child_of(server_span, client_span)
    for span, operation in ((client_span, "send"), (server_span, "process")):
        attributes = dict(span.attributes)
        assert attributes["messaging.system"] == SYSTEMS[env.name]
        assert attributes["messaging.operation.name"] == operation
        assert attributes["messaging.destination.name"] == topic
        assert attributes["rpc.method"] == "echo"
        assert attributes["rpc.system"] == "oslo.messaging"
        assert "error.type" not in attributes
        assert not any("reply" in str(v) for v in attributes.values())
    inner = spans.named("inner work")[0]
    assert _child_of(inner, server_span)


def test_a_remote_error_marks_both_spans(env: DriverEnv, spans: Spans) -> None:
    topic = env.unique()
    env.server(topic, [Endpoint(spans)])
    client = env.client(topic, timeout=WAIT)
    with pytest.raises(ValueError):
        client.call({}, "fail")
    found = spans.named(f"{topic}/fail", 2)
    assert {s.kind for s in found} == {SpanKind.CLIENT, SpanKind.SERVER}
    for span in found:
        assert span.attributes["error.type"] == "ValueError"
        assert span.status.status_code == StatusCode.ERROR


def test_a_timed_out_call_span_says_so(env: DriverEnv, spans: Spans) -> None:
    topic = env.unique()
    client = env.client(topic, timeout=0.3)
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.call({}, "echo", value=1)
    (span,) = spans.named(f"{topic}/echo")
    assert span.kind == SpanKind.CLIENT
    assert span.attributes["error.type"] == "MessagingTimeout"


@pytest.mark.parametrize("fanout", [False, True])
def test_a_cast_span_is_the_parent_of_its_processing(
    env: DriverEnv, spans: Spans, fanout: bool
) -> None:
    topic = env.unique()
    endpoint = Endpoint(spans)
    env.server(topic, [endpoint])
    client = env.client(topic).prepare(fanout=fanout)
    client.cast({}, "record", value=1)
    assert endpoint.done.wait(WAIT)
    (producer,) = spans.named(f"send {topic}")
    (consumer,) = spans.named(f"process {topic}")
    assert producer.kind == SpanKind.PRODUCER
    assert consumer.kind == SpanKind.CONSUMER
    assert producer.attributes["rpcmsg.call_type"] == ("fanout" if fanout else "cast")
    assert _child_of(consumer, producer)


class Notifications:
    def __init__(self) -> None:
        self.done = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.done.set()


def test_a_notification_span_is_the_parent_of_its_processing(env: DriverEnv, spans: Spans) -> None:
    topic = env.unique("notifications")
    endpoint = Notifications()
    transport = env.notification_transport()
    listener = get_notification_listener(transport, [rpcmsg.Target(topic=topic)], [endpoint])
    listener.start()
    env.track(listener)
    notifier = Notifier(transport, driver="messagingv2", publisher_id="p", topics=[topic])
    notifier.info({}, "thing.happened", {"n": 1})
    assert endpoint.done.wait(WAIT)
    (producer,) = spans.named(f"send {topic}.info")
    (consumer,) = spans.named(f"process {topic}.info")
    assert producer.kind == SpanKind.PRODUCER
    assert consumer.kind == SpanKind.CONSUMER
    message_id = producer.attributes["messaging.message.id"]
    assert consumer.attributes["messaging.message.id"] == message_id
    assert _child_of(consumer, producer)


def test_a_request_traced_by_oslo_messaging_is_the_parent_of_its_handling(
    env: DriverEnv, spans: Spans
) -> None:
    # oslo.messaging 18.3.1's own tracing carries W3C fields in the request context
    # (_context_traceparent); a request that has no rpcmsg trace field is parented by them.
    from rpcmsg import _wire

    topic = env.unique()
    endpoint = Endpoint(spans)
    env.server(topic, [endpoint])
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    body = _wire.encode(
        {
            "method": "record",
            "args": {"value": 1},
            "_context_traceparent": f"00-{trace_id}-{span_id}-01",
            "_unique_id": _wire.new_id(),
        }
    )
    transport = env.transport()
    target = rpcmsg.Target(topic=topic, exchange=env.exchange)
    transport.driver.send(target, body, expiration=None, retry=None, mandatory=False)
    assert endpoint.done.wait(WAIT)
    (consumer,) = spans.named(f"process {topic}")
    assert f"{consumer.context.trace_id:032x}" == trace_id
    assert f"{consumer.parent.span_id:016x}" == span_id


class Batches:
    def __init__(self, count: int) -> None:
        self.count = count
        self.seen: list[Any] = []
        self.done = threading.Event()

    def info(self, messages: list[Any]) -> None:
        self.seen += messages
        if len(self.seen) >= self.count:
            self.done.set()


def test_a_batch_span_links_to_every_sender(env: DriverEnv, spans: Spans) -> None:
    from rpcmsg.notify import get_batch_notification_listener

    topic = env.unique("notifications")
    transport = env.notification_transport()
    notifier = Notifier(transport, driver="messagingv2", publisher_id="p", topics=[topic])
    endpoint = Batches(3)
    listener = get_batch_notification_listener(
        transport, [rpcmsg.Target(topic=topic)], [endpoint], batch_size=3, batch_timeout=5
    )
    listener.start()
    env.track(listener)
    for n in range(3):
        notifier.info({}, "thing.happened", {"n": n})
    assert endpoint.done.wait(WAIT)
    senders = spans.named(f"send {topic}.info", 3)
    batches = spans.named(f"process {topic}.info")
    linked = {link.context.span_id for span in batches for link in span.links}
    assert linked == {span.context.span_id for span in senders}
    assert sum(span.attributes["messaging.batch.message_count"] for span in batches) == 3
