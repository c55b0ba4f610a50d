"""Metrics on every driver: oslo.metrics' RPC metrics by their names and labels, and
rpcmsg's per topic, method, server and outcome (through an in-memory metric reader)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.drivers import DriverEnv
from tests.observe.conftest import WAIT, Metrics


class Endpoint:
    def __init__(self) -> None:
        self.casts = threading.Semaphore(0)

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def fail(self, ctxt: Any) -> None:
        raise ValueError("no")

    def record(self, ctxt: Any) -> None:
        self.casts.release()


def _eventually(check: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check()


def test_calls_casts_and_their_outcomes_are_counted(env: DriverEnv, metrics: Metrics) -> None:
    topic = env.unique()
    endpoint = Endpoint()
    env.server(topic, [endpoint])
    client = env.client(topic, timeout=WAIT)
    for value in range(3):
        assert client.call({}, "echo", value=value) == value
    with pytest.raises(ValueError):
        client.call({}, "fail")
    client.cast({}, "record")
    assert endpoint.casts.acquire(timeout=WAIT)
    with pytest.raises(rpcmsg.MessagingTimeout):
        env.client(env.unique(), timeout=0.2).call({}, "echo", value=0)

    sent = "rpcmsg.client.requests"
    assert metrics.value(sent, topic=topic, method="echo", outcome="ok", call_type="call") == 3
    assert metrics.value(sent, topic=topic, method="fail", outcome="remote_error") == 1
    assert metrics.value(sent, topic=topic, method="record", call_type="cast", outcome="ok") == 1
    assert metrics.value(sent, method="echo", outcome="timeout") == 1
    assert metrics.value("rpcmsg.client.duration", topic=topic, method="echo") == 3
    _eventually(lambda: metrics.value("rpcmsg.server.requests", topic=topic) == 5)
    handled = "rpcmsg.server.requests"
    assert metrics.value(handled, topic=topic, server="s1", method="echo", outcome="ok") == 3
    assert metrics.value(handled, topic=topic, method="fail", outcome="error") == 1
    assert metrics.value("rpcmsg.server.in_flight", topic=topic) == 0
    assert metrics.value("rpcmsg.client.in_flight", topic=topic) == 0

    # oslo.metrics' names and labels.
    oslo = "oslo_messaging_rpc_client_"
    labels = {"topic": topic, "method": "echo", "call_type": "call", "process": "tests"}
    assert metrics.value(oslo + "invocation_start_total", **labels) == 3
    assert metrics.value(oslo + "invocation_end_total", **labels) == 3
    assert metrics.value(oslo + "processing_seconds", **labels) == 3
    (attrs, _), *_ = metrics.points(oslo + "invocation_start_total")
    assert set(attrs) == {
        "call_type", "exchange", "topic", "namespace", "version", "server", "fanout",
        "process", "method", "timeout",
    }  # fmt: skip
    assert metrics.value(oslo + "exception_total", topic=topic, exception="ValueError") == 1
    assert metrics.value(oslo + "exception_total", exception="MessagingTimeout") == 1
    server = "oslo_messaging_rpc_server_"
    labels = {"topic": topic, "server": "s1", "endpoint": "Endpoint", "method": "echo"}
    assert metrics.value(server + "invocation_end_total", **labels) == 3
    assert metrics.value(server + "processing_seconds", **labels) == 3
    assert metrics.value(server + "exception_total", method="fail", exception="ValueError") == 1


class Notifications:
    def __init__(self) -> None:
        self.done = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.done.set()


def test_notifications_are_counted(env: DriverEnv, metrics: Metrics) -> None:
    topic = env.unique("notifications")
    endpoint = Notifications()
    transport = env.notification_transport()
    listener = get_notification_listener(transport, [rpcmsg.Target(topic=topic)], [endpoint])
    listener.start()
    env.track(listener)
    Notifier(transport, driver="messagingv2", publisher_id="p", topics=[topic]).info(
        {}, "thing.happened", {}
    )
    assert endpoint.done.wait(WAIT)
    assert metrics.value("rpcmsg.notifications.sent", topic=f"{topic}.info", outcome="ok") == 1
    _eventually(lambda: metrics.value("rpcmsg.notifications.handled", topic=f"{topic}.info") == 1)


class Requeueing:
    def __init__(self) -> None:
        self.seen = 0
        self.done = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> Any:
        from rpcmsg.notify import NotificationResult

        self.seen += 1
        if self.seen == 1:
            return NotificationResult.REQUEUE
        self.done.set()
        return NotificationResult.HANDLED


def test_requeued_notifications_count_as_redeliveries(env: DriverEnv, metrics: Metrics) -> None:
    if not env.capabilities.at_least_once:
        pytest.skip(f"{env.name} does not redeliver")
    topic = env.unique("notifications")
    endpoint = Requeueing()
    transport = env.notification_transport()
    listener = get_notification_listener(
        transport, [rpcmsg.Target(topic=topic)], [endpoint], allow_requeue=True
    )
    listener.start()
    env.track(listener)
    Notifier(transport, driver="messagingv2", publisher_id="p", topics=[topic]).info(
        {}, "again", {}
    )
    assert endpoint.done.wait(WAIT)
    handled = "rpcmsg.notifications.handled"
    _eventually(lambda: metrics.value(handled, outcome="ok") == 1)
    assert metrics.value(handled, topic=f"{topic}.info", outcome="requeue") == 1
    assert metrics.value("rpcmsg.redeliveries", kind="notification") == 1


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait(self, ctxt: Any) -> str:
        self.entered.set()
        assert self.release.wait(WAIT)
        return "done"


def test_work_in_flight_is_counted_while_it_runs(env: DriverEnv, metrics: Metrics) -> None:
    topic = env.unique()
    gate = Gate()
    env.server(topic, [gate])
    client = env.client(topic, timeout=WAIT)
    caller = threading.Thread(target=lambda: client.call({}, "wait"))
    caller.start()
    try:
        assert gate.entered.wait(WAIT)
        assert metrics.value("rpcmsg.server.in_flight", topic=topic, server="s1") == 1
        assert metrics.value("rpcmsg.client.in_flight", topic=topic, call_type="call") == 1
    finally:
        gate.release.set()
        caller.join(WAIT)
    _eventually(lambda: metrics.value("rpcmsg.server.in_flight", topic=topic) == 0)
    assert metrics.value("rpcmsg.client.in_flight", topic=topic) == 0
