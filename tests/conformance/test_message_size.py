"""The payload size limit (``max_message_size``) on every driver.

A send whose encoded body is larger is refused with ``MessageDeliveryFailure`` before any
broker I/O; a larger message received is logged and rejected, and the server goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.drivers import DriverEnv

WAIT = 10.0
LIMIT = 64 * 1024
BIG = "x" * (LIMIT + 1)


class Endpoint:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.got = threading.Event()

    def record(self, ctxt: Any, value: Any) -> None:
        self.seen.append(value)
        self.got.set()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def big(self, ctxt: Any) -> str:
        return BIG

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.seen.append(payload)
        self.got.set()


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if any(text in r.getMessage() for r in caplog.records):
            return True
        time.sleep(0.01)
    return False


def limited(env: DriverEnv, limit: int = LIMIT) -> rpcmsg.Transport:
    conf = env.conf()
    conf.set_override("max_message_size", limit)
    return env.transport(conf)


def test_oversized_sends_are_refused_and_the_server_goes_on(env: DriverEnv) -> None:
    topic = env.unique()
    endpoint = Endpoint()
    transport = limited(env)
    env.server(topic, [endpoint], transport=transport)
    client = env.client(topic, transport=transport, timeout=WAIT)
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        client.cast({}, "record", value=BIG)
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        client.call({}, "echo", value=BIG)
    # A result too large to reply with: the caller is told, it does not time out. The
    # server's failure comes back as oslo.messaging rebuilds it: rpcmsg's own exceptions
    # module is not in allowed_remote_exmods, so a RemoteError naming the class.
    started = time.monotonic()
    with pytest.raises(rpcmsg.RemoteError, match="max_message_size") as raised:
        client.call({}, "big")
    assert raised.value.exc_type == "MessageDeliveryFailure"
    assert time.monotonic() - started < WAIT / 2
    assert client.call({}, "echo", value="small") == "small"
    assert endpoint.seen == []


@pytest.mark.parametrize("scheme", ["rabbit://guest:guest@127.0.0.1:1/", "redis://127.0.0.1:1/0"])
def test_an_oversized_send_fails_before_any_broker_io(env: DriverEnv, scheme: str) -> None:
    """Against a port nobody listens on: the size check answers, not a connection error."""
    if env.name != "fake":
        pytest.skip("one run is enough: no broker is involved")
    conf = env.conf()
    conf.set_override("max_message_size", LIMIT)
    transport = rpcmsg.get_rpc_transport(conf, scheme)
    try:
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="t"), retry=0)
        with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
            client.cast({}, "record", value=BIG)
    finally:
        transport.cleanup()


def test_oversized_messages_received_are_rejected_and_logged(
    env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = env.unique()
    endpoint = Endpoint()
    env.server(topic, [endpoint], transport=limited(env))
    sender = env.client(topic, transport=limited(env, 4 * LIMIT), timeout=WAIT)
    with caplog.at_level(logging.ERROR, logger="rpcmsg"):
        sender.cast({}, "record", value=BIG)
        sender.cast({}, "record", value="small")
        assert endpoint.got.wait(WAIT)
        # Another worker may have taken the big one: its rejection is logged on its own time.
        assert _logged(caplog, "max_message_size"), "the oversized cast was not logged"
    assert endpoint.seen == ["small"]
    assert sender.call({}, "echo", value=1) == 1


def test_oversized_notifications_are_refused_and_rejected(
    env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = env.unique()
    conf = env.conf()
    conf.set_override("max_message_size", LIMIT)
    small = env.notification_transport(conf)
    refusing = Notifier(small, "pub", driver="messagingv2", topics=[topic], raise_on_failure=True)
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="max_message_size"):
        refusing.info({}, "ev", {"big": BIG})
    endpoint = Endpoint()
    listener = get_notification_listener(
        small, [rpcmsg.Target(topic=topic)], [endpoint], executor="threading"
    )
    listener.start()
    try:
        conf_big = env.conf()
        conf_big.set_override("max_message_size", 4 * LIMIT)
        big = env.notification_transport(conf_big)
        sender = Notifier(big, "pub", driver="messagingv2", topics=[topic], raise_on_failure=True)
        with caplog.at_level(logging.ERROR, logger="rpcmsg"):
            sender.info({}, "ev", {"big": BIG})
            sender.info({}, "ev", {"n": 1})
            assert endpoint.got.wait(WAIT)
    finally:
        listener.stop()
        listener.wait()
    assert endpoint.seen == [{"n": 1}]
    assert any("max_message_size" in r.getMessage() for r in caplog.records)
