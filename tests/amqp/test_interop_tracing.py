"""With tracing on, rpcmsg's messages carry the trace context in a field oslo.messaging
(18.3.1, in its own process) ignores: its servers and listeners handle them as before."""

from __future__ import annotations

from typing import Any

import pytest

import rpcmsg
from rpcmsg import _observe
from rpcmsg.notify import Notifier
from tests.amqp.test_interop import ALLOWED, WAIT, Echo
from tests.drivers import DriverEnv
from tests.observe.conftest import Spans
from tests.observe.conftest import spans as spans  # the fixture


def test_traced_rpcmsg_requests_and_notifications_reach_oslo(
    rabbit: DriverEnv, oslo_peer: Any, spans: Spans
) -> None:
    assert _observe.hooks is not None
    topic = rabbit.unique()
    peer = oslo_peer("server", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    transport = rpcmsg.get_rpc_transport(rabbit.conf(), rabbit.url, allowed_remote_exmods=ALLOWED)
    rabbit._transports.append(transport)
    client = rabbit.client(topic, timeout=WAIT, transport=transport)
    assert client.call({}, "echo", value={"b": [2]}) == {"b": [2]}
    ctxt = client.call({"user": "dan"}, "context")
    ctxt.pop("client_timeout", None)
    assert ctxt == {"user": "dan"}  # the trace field is not taken for context
    with pytest.raises(ValueError, match="oslo says no"):
        client.call({}, "fail")
    client.cast({}, "record", value=2)
    assert peer.next() == {"record": 2}
    client.prepare(fanout=True).cast({}, "record", value="fanout")
    assert peer.next() == {"record": "fanout"}
    assert len(spans.named(f"{topic}/echo")) == 1

    notes = rabbit.unique("notifications")
    listener = oslo_peer("listen", rabbit.url, rabbit.exchange, notes)
    assert listener.next() == {"ready": True}
    notifier = Notifier(
        rabbit.notification_transport(), driver="messagingv2", publisher_id="p", topics=[notes]
    )
    notifier.info({}, "interop.traced", {"m": 2})
    got = listener.next()
    assert (got["event_type"], got["payload"]) == ("interop.traced", {"m": 2})
    assert spans.named(f"send {notes}.info")


def test_an_oslo_client_gets_answers_from_a_traced_rpcmsg_server(
    rabbit: DriverEnv, oslo_peer: Any, spans: Spans
) -> None:
    topic = rabbit.unique()
    transport = rabbit.transport(allowed_remote_exmods=ALLOWED)
    rabbit.server(topic, [Echo()], server="rpcmsg", transport=transport)
    peer = oslo_peer("client", rabbit.url, rabbit.exchange, topic)
    result = peer.next(timeout=60)
    assert result["echo"] == {"a": [1, "x"]}
    assert result["fail"][0] == "ValueError"
    # No trace context from oslo.messaging: the server's spans start traces of their own.
    handled = spans.named(f"{topic}/echo")
    assert all(span.parent is None for span in handled)
