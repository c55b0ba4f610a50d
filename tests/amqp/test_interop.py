"""Wire compatibility with oslo.messaging, both ways, through a real RabbitMQ.

oslo.messaging runs in its own processes (``tests/interop/oslo_peer.py`` under
``RPCMSG_OSLO_PYTHON``): both libraries define the same configuration options.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.drivers import DriverEnv
from tests.helpers.context import RequestContext

WAIT = 15.0


class Echo:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.cond = threading.Condition()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def context(self, ctxt: Any) -> Any:
        return ctxt

    def fail(self, ctxt: Any) -> None:
        raise ValueError("rpcmsg says no")

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def record(self, ctxt: Any, value: Any) -> None:
        with self.cond:
            self.seen.append(value)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[Any]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.seen) >= count, WAIT)
            return list(self.seen)


class Notifications:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.event = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.seen.append((ctxt, publisher_id, event_type, payload))
        self.event.set()


def test_oslo_client_calls_casts_and_fanouts_to_rpcmsg_server(
    rabbit: DriverEnv, oslo_peer: Any
) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint], server="rpcmsg")
    peer = oslo_peer("client", rabbit.url, rabbit.exchange, topic)
    result = peer.next()
    assert result["echo"] == {"a": [1, "x"]}
    assert result["context"] == {"user": "bob"}
    assert result["fail"] == ["ValueError", "rpcmsg says no"]
    assert result["monitored"] == "slept"  # our keep-alive replies satisfy oslo's monitor
    assert sorted(endpoint.wait_for(2), key=str) == [1, "fanout"]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_rpcmsg_client_calls_casts_and_fanouts_to_oslo_server(
    rabbit: DriverEnv, oslo_peer: Any, compression: str | None
) -> None:
    topic = rabbit.unique()
    peer = oslo_peer("server", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    url = f"{rabbit.url}?kombu_compression={compression}" if compression else rabbit.url
    transport = rpcmsg.get_rpc_transport(rabbit.conf(), url)
    rabbit._transports.append(transport)
    client = rabbit.client(topic, timeout=WAIT, transport=transport)
    assert client.call({}, "echo", value={"b": [2, "y"]}) == {"b": [2, "y"]}
    ctxt = client.call({"user": "dan", "roles": ["x"]}, "context")
    ctxt.pop("client_timeout", None)  # oslo.messaging's server adds it
    assert ctxt == {"user": "dan", "roles": ["x"]}
    with pytest.raises(ValueError, match="oslo says no"):
        client.call({}, "fail")
    if compression is None:
        # oslo.messaging's keep-alive replies satisfy our call monitor. (Its servers send
        # them every half monitor timeout, and only when that half is a second or more.)
        monitored = client.prepare(call_monitor_timeout=2)
        assert monitored.call({}, "sleep", seconds=2.6) == "slept"
    client.cast({}, "record", value=2)
    assert peer.next() == {"record": 2}
    client.prepare(fanout=True).cast({}, "record", value="fanout")
    assert peer.next() == {"record": "fanout"}
    client.prepare(server="oslo").cast({}, "record", value="direct")
    assert peer.next() == {"record": "direct"}


def test_oslo_notifications_reach_rpcmsg_listener(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique("notifications")
    endpoint = Notifications()
    listener = get_notification_listener(
        rabbit.notification_transport(), [rpcmsg.Target(topic=topic)], [endpoint]
    )
    listener.start()
    rabbit.track(listener)
    peer = oslo_peer("notify", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"sent": True}
    assert endpoint.event.wait(WAIT)
    # (oslo.messaging's Notifier puts no dict context on the wire, so none is compared.)
    assert [seen[1:] for seen in endpoint.seen] == [("oslo.peer", "interop.event", {"n": 1})]


def test_rpcmsg_notifications_reach_oslo_listener(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique("notifications")
    peer = oslo_peer("listen", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    notifier = Notifier(
        rabbit.notification_transport(),
        driver="messagingv2",
        publisher_id="rpcmsg.peer",
        topics=[topic],
    )
    notifier.info(RequestContext(user="erin", auth_token="t0k3n"), "interop.back", {"m": 2})
    got = peer.next()
    got["ctxt"].pop("client_timeout", None)  # oslo.messaging adds it on receipt
    assert got == {
        "priority": "info",
        "event_type": "interop.back",
        "payload": {"m": 2},
        "publisher_id": "rpcmsg.peer",
        "ctxt": {"user": "erin"},  # the redacted copy: no token
    }
