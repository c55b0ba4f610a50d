"""Notifier: wire format, retry, failures, contexts, serializers, transport selection."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import pytest
from oslo_config import cfg
from rpcmsg_drivers.fake.driver import FakeDriver

import rpcmsg
from rpcmsg.exceptions import TransportDriverError
from rpcmsg.notify import _impl_test as test_driver
from rpcmsg.transport import NotificationTransport


class RecordingDriver(FakeDriver):
    """The fake driver, remembering the ``retry`` of each notification and able to fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retries: list[int | None] = []
        self.fail = False

    def send_notification(self, target: Any, body: bytes, **kwargs: Any) -> None:
        self.retries.append(kwargs.get("retry"))
        if self.fail:
            raise TransportDriverError("broker unreachable after the allowed retries")
        super().send_notification(target, body, **kwargs)


def recording_transport(conf: cfg.ConfigOpts) -> tuple[NotificationTransport, RecordingDriver]:
    url = rpcmsg.TransportURL.parse(conf, f"fake:///{uuid.uuid4().hex}")
    driver = RecordingDriver(conf, url, "openstack")
    return NotificationTransport(driver), driver


def raw_bodies(transport: rpcmsg.Transport, topic: str, count: int) -> list[bytes]:
    """What the broker holds at ``<topic>.info``, read below the notification layer."""
    target = rpcmsg.Target(exchange="openstack", topic=f"{topic}.info")
    listener = transport.driver.listen_for_notifications([target], None)
    bodies = []
    for _ in range(count):
        incoming = listener.poll(5.0)
        assert incoming is not None
        bodies.append(incoming.body)
        incoming.ack()
    listener.cleanup()
    return bodies


class RequestContext:
    def __init__(self, user: str, token: str) -> None:
        self.user, self.token = user, token

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "auth_token": self.token}

    def redacted_copy(self) -> RequestContext:
        return RequestContext(self.user, "***")


@pytest.mark.parametrize("driver", ["messagingv2", "messaging"])
def test_wire_format_matches_oslo_messaging(conf: cfg.ConfigOpts, driver: str) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    notifier = rpcmsg.Notifier(transport, "compute.host1", driver=driver, topics=["n1"])
    notifier.info(RequestContext("alice", "token"), "compute.instance.create.end", {"id": 1})
    (body,) = raw_bodies(transport, "n1", 1)
    outer = json.loads(body)
    if driver == "messagingv2":
        assert set(outer) == {"oslo.version", "oslo.message"}
        assert outer["oslo.version"] == "2.0"
        message = json.loads(outer["oslo.message"])
    else:
        assert "oslo.message" not in outer
        message = outer
    assert message.pop("_context_user") == "alice"
    assert message.pop("_context_auth_token") == "***"  # the redacted copy went out
    assert len(message.pop("_unique_id")) == 32
    uuid.UUID(message.pop("message_id"))
    assert isinstance(message.pop("timestamp"), str)
    assert message == {
        "publisher_id": "compute.host1",
        "event_type": "compute.instance.create.end",
        "priority": "INFO",
        "payload": {"id": 1},
    }
    transport.cleanup()


def test_retry_reaches_the_transport_driver(conf: cfg.ConfigOpts) -> None:
    transport, driver = recording_transport(conf)
    notifier = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["r"])
    notifier.info({}, "e", 1)  # the option's default: -1, for ever
    rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["r"], retry=0).info({}, "e", 2)
    notifier.prepare(retry=5).info({}, "e", 3)
    notifier.prepare(retry=0).info({}, "e", 4)  # 0 is "never", not "use the default"
    conf.set_override("retry", 2, group="oslo_messaging_notifications")
    rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["r"]).info({}, "e", 5)
    assert driver.retries == [-1, 0, 5, 0, 2]
    transport.cleanup()


def test_failed_send_is_logged_not_raised(
    conf: cfg.ConfigOpts, caplog: pytest.LogCaptureFixture
) -> None:
    transport, driver = recording_transport(conf)
    driver.fail = True
    conf.set_override("driver", ["messagingv2", "test"], group="oslo_messaging_notifications")
    notifier = rpcmsg.Notifier(transport, "p", topics=["a", "b"], retry=0)
    notifier.error({}, "disk.full", {"disk": "sda", "password": "hunter2"})  # must not raise
    assert driver.retries == [0, 0]  # both topics were tried
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in failures] == ["rpcmsg.notify.messaging"] * 2  # one per topic
    for record, topic in zip(failures, "ab", strict=True):
        text = record.getMessage()
        assert text.startswith(f"Could not send notification to {topic}. Payload=")
        assert "disk.full" in text and "sda" in text  # the message is kept in the log,
        assert "hunter2" not in text  # its secrets are not
    assert len(test_driver.NOTIFICATIONS) == 1  # the other driver still got it
    transport.cleanup()


def test_failed_send_raises_when_asked(conf: cfg.ConfigOpts) -> None:
    transport, driver = recording_transport(conf)
    driver.fail = True
    notifier = rpcmsg.Notifier(
        transport, "p", driver="messagingv2", topics=["a"], raise_on_failure=True
    )
    with pytest.raises(rpcmsg.MessageDeliveryFailure, match="messagingv2"):
        notifier.info({}, "e", 1)
    with pytest.raises(rpcmsg.MessageDeliveryFailure):
        notifier.prepare(publisher_id="q").info({}, "e", 1)  # prepare keeps the choice
    transport.cleanup()


def test_payload_json_cannot_carry_is_logged_not_raised(
    conf: cfg.ConfigOpts, caplog: pytest.LogCaptureFixture
) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    notifier = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["j"])
    notifier.info({}, "bad.payload", {"lock": threading.Lock()})
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    notifier.info({}, "good.payload", {"n": 1})
    (body,) = raw_bodies(transport, "j", 1)  # only the good one reached the broker
    assert json.loads(json.loads(body)["oslo.message"])["event_type"] == "good.payload"
    transport.cleanup()


def test_prepare_changes_only_the_copy(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    base = rpcmsg.Notifier(transport, "base", driver="test", retry=1)
    other = base.prepare(publisher_id="other")
    same_publisher = base.prepare(retry=7)
    other.info({}, "e", 1)
    same_publisher.info({}, "e", 2)
    base.info({}, "e", 3)
    got = [(entry[1]["publisher_id"], entry[3]) for entry in test_driver.NOTIFICATIONS]
    assert got == [("other", 1), ("base", 7), ("base", 1)]
    assert isinstance(other, rpcmsg.Notifier)
    transport.cleanup()


class PlainContext:
    def to_dict(self) -> dict[str, Any]:
        return {"user": "plain"}


def test_contexts_are_redacted_and_flattened(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    notifier = rpcmsg.Notifier(transport, "p", driver="test")
    notifier.info(RequestContext("bob", "secret-token"), "e", 1)
    notifier.info(PlainContext(), "e", 2)
    notifier.info({"user": "dict", "auth_token": "secret-token"}, "e", 3)
    notifier.info(None, "e", 4)
    contexts = [entry[0] for entry in test_driver.NOTIFICATIONS]
    # As oslo.messaging: the redacted copy; {} for an object that cannot be redacted, for a
    # plain dict (never sent, as it may hold credentials) and for None.
    assert isinstance(contexts[0], RequestContext)
    assert contexts[0].to_dict() == {"user": "bob", "auth_token": "***"}
    assert contexts[1:] == [{}, {}, {}]
    transport.cleanup()


class Doubler(rpcmsg.NoOpSerializer):
    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return {"wrapped": entity}

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return ("unwrapped", entity["wrapped"])

    def deserialize_context(self, ctxt: Any) -> Any:
        return {"from_serializer": ctxt}


def test_serializers_apply_on_both_sides(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    got: list[Any] = []
    done = threading.Event()

    class Endpoint:
        def info(self, ctxt: Any, pub: Any, event: Any, payload: Any, md: Any) -> None:
            got.append((ctxt, payload))
            done.set()

    listener = rpcmsg.get_notification_listener(
        transport, [rpcmsg.Target(topic="s")], [Endpoint()], serializer=Doubler()
    )
    listener.start()
    try:
        notifier = rpcmsg.Notifier(
            transport, "p", driver="messagingv2", topics=["s"], serializer=Doubler()
        )
        notifier.info(RequestContext("u", "t"), "e", 42)
        assert done.wait(5)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    assert got == [({"from_serializer": {"user": "u", "auth_token": "***"}}, ("unwrapped", 42))]


def test_notification_transport_url_precedence(conf: cfg.ConfigOpts) -> None:
    conf.set_override("transport_url", "fake:///rpc-side")
    transport = rpcmsg.get_notification_transport(conf)
    assert isinstance(transport, NotificationTransport)
    assert str(transport.url) == "fake:///rpc-side"
    conf.set_override("transport_url", "fake:///notify-side", group="oslo_messaging_notifications")
    assert str(rpcmsg.get_notification_transport(conf).url) == "fake:///notify-side"
    assert str(rpcmsg.get_notification_transport(conf, "fake:///given").url) == "fake:///given"
    with pytest.raises(rpcmsg.InvalidTransportURL):
        rpcmsg.get_notification_transport(conf, "no-scheme")


def test_rpc_transport_works_with_a_warning(
    conf: cfg.ConfigOpts, caplog: pytest.LogCaptureFixture
) -> None:
    transport = rpcmsg.get_rpc_transport(conf, f"fake:///{uuid.uuid4().hex}")
    rpcmsg.Notifier(transport, "p", driver="test").info({}, "e", 1)
    assert len(test_driver.NOTIFICATIONS) == 1
    assert any("get_notification_transport" in r.getMessage() for r in caplog.records)
    transport.cleanup()


def test_listener_target_without_topic_is_invalid(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")

    class Endpoint:
        def info(self, *args: Any) -> None:
            pass

    listener = rpcmsg.get_notification_listener(transport, [rpcmsg.Target()], [Endpoint()])
    with pytest.raises(rpcmsg.InvalidTarget):
        listener.start()
    transport.cleanup()


def test_batch_listener_rejects_nonsense_sizes(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    target = [rpcmsg.Target(topic="t")]
    with pytest.raises(ValueError, match="batch_size"):
        rpcmsg.get_batch_notification_listener(transport, target, [], batch_size=0)
    with pytest.raises(ValueError, match="batch_timeout"):
        rpcmsg.get_batch_notification_listener(transport, target, [], batch_timeout=-1)
    transport.cleanup()


def test_misuse_is_a_clear_error_at_once(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    with pytest.raises(TypeError, match="list of topic names"):
        rpcmsg.Notifier(transport, "p", driver="test", topics="notifications")  # type: ignore[arg-type]
    notifier = rpcmsg.Notifier(transport, "p", driver="test")
    with pytest.raises(TypeError, match="event_type"):
        notifier.info({}, None, {})  # type: ignore[arg-type]
    assert test_driver.NOTIFICATIONS == []
    with pytest.raises(TypeError, match="Target"):
        rpcmsg.get_notification_listener(transport, rpcmsg.Target(topic="t"), [])  # type: ignore[arg-type]
    transport.cleanup()
