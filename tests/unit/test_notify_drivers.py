"""The in-process notification drivers: test, log, noop, routing; and driver loading."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg.notify import _impl_test as test_driver
from rpcmsg.notify._impl_log import mask_secrets


class Ctx:
    """A request context as oslo.context's: ``redacted_copy()`` drops the credentials."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def redacted_copy(self) -> Ctx:
        return Ctx(**{k: v for k, v in self.values.items() if k != "auth_token"})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)


def test_test_driver_records_every_field(transport: rpcmsg.Transport) -> None:
    notifier = rpcmsg.Notifier(transport, "unit.pub", driver="test", retry=3)
    payload = {"id": 7, "tags": ["a"]}
    notifier.info(Ctx(user="u1", auth_token="secret"), "thing.created", payload)
    notifier.prepare(publisher_id="other").sample(None, "thing.measured", 0.5)
    (first, second) = test_driver.NOTIFICATIONS
    ctxt, message, priority, retry = first
    assert isinstance(ctxt, Ctx)  # as the serializer returned it, as in oslo.messaging
    assert ctxt.to_dict() == {"user": "u1"}
    assert (priority, retry) == ("INFO", 3)
    assert message["payload"] is payload
    assert message["event_type"] == "thing.created"
    assert message["publisher_id"] == "unit.pub"
    assert message["priority"] == "INFO"
    assert str(uuid.UUID(message["message_id"])) == message["message_id"]
    assert isinstance(message["timestamp"], str)
    assert second[0] == {}
    assert second[1]["publisher_id"] == "other"
    assert second[2] == "SAMPLE"
    test_driver.reset()
    assert test_driver.NOTIFICATIONS == []


def test_every_priority_method(transport: rpcmsg.Transport) -> None:
    notifier = rpcmsg.Notifier(transport, "p", driver="test")
    for method in ("audit", "debug", "info", "warn", "warning", "error", "critical", "sample"):
        getattr(notifier, method)({}, f"e.{method}", None)
    priorities = [entry[2] for entry in test_driver.NOTIFICATIONS]
    assert priorities == ["AUDIT", "DEBUG", "INFO", "WARN", "WARN", "ERROR", "CRITICAL", "SAMPLE"]


def test_log_driver_logs_json_at_the_priority_level(
    transport: rpcmsg.Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oslo.messaging.notification")
    notifier = rpcmsg.Notifier(transport, "log.pub", driver="log")
    notifier.warn({}, "volume.attach", {"volume": "v1", "password": "hunter2"})
    notifier.debug({}, "volume.detach", {"volume": "v2"})
    records = [r for r in caplog.records if r.name.startswith("oslo.messaging.notification")]
    assert [(r.name, r.levelno) for r in records] == [
        ("oslo.messaging.notification.volume.attach", logging.WARNING),
        ("oslo.messaging.notification.volume.detach", logging.DEBUG),
    ]
    logged = json.loads(records[0].getMessage())
    assert logged["payload"] == {"volume": "v1", "password": "***"}
    assert logged["publisher_id"] == "log.pub"
    assert logged["priority"] == "WARN"
    assert "hunter2" not in caplog.text


def test_log_driver_cannot_log_audit_and_says_so(
    transport: rpcmsg.Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oslo.messaging.notification")
    notifier = rpcmsg.Notifier(transport, "p", driver="log")
    with pytest.warns(UserWarning, match="audit"):
        notifier.audit({}, "x", {})
    assert not [r for r in caplog.records if r.name.startswith("oslo.messaging.notification")]


def test_mask_secrets_goes_deep() -> None:
    value = {"a": [{"admin_password": "x", "keep": 1}], "auth_token": "t", "n": None}
    assert mask_secrets(value) == {"a": [{"admin_password": "***", "keep": 1}],
                                   "auth_token": "***", "n": None}  # fmt: skip


def test_noop_alone_disables_and_sends_nothing(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    try:
        listener_seen: list[Any] = []

        class Endpoint:
            def info(self, *args: Any) -> None:
                listener_seen.append(args)

        assert not rpcmsg.Notifier(transport, driver="noop").is_enabled()
        assert rpcmsg.Notifier(transport).is_enabled()  # no driver: True, as oslo.messaging
        conf.set_override("driver", ["noop", "test"], group="oslo_messaging_notifications")
        both = rpcmsg.Notifier(transport)
        assert both.is_enabled()
        rpcmsg.Notifier(transport, driver="noop").info({}, "dropped", 1)
        both.info({}, "kept", 2)
        assert [entry[1]["payload"] for entry in test_driver.NOTIFICATIONS] == [2]
    finally:
        transport.cleanup()


def test_several_drivers_each_get_the_notification(
    conf: cfg.ConfigOpts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oslo.messaging.notification")
    conf.set_override("driver", ["test", "log"], group="oslo_messaging_notifications")
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    try:
        rpcmsg.Notifier(transport, "p").info({}, "twice", {"k": 1})
    finally:
        transport.cleanup()
    assert len(test_driver.NOTIFICATIONS) == 1
    assert any(r.name == "oslo.messaging.notification.twice" for r in caplog.records)


def test_unknown_driver_name_is_a_clear_error(transport: rpcmsg.Transport) -> None:
    with pytest.raises(rpcmsg.DriverLoadFailure) as info:
        rpcmsg.Notifier(transport, driver="no-such-driver")
    assert "no-such-driver" in str(info.value)


ROUTING = """
group_1:
  test:
    accepted_events: ["compute.instance.*"]
  log:
    accepted_priorities: ["error", "crit*"]
group_2:
  test:
    accepted_priorities: ["warn"]
    accepted_events: ["image.*"]
"""


def _routing_notifier(conf: cfg.ConfigOpts, tmp_path: Path, text: str) -> rpcmsg.Notifier:
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    conf.set_override("routing_config", str(path), group="oslo_messaging_notifications")
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    return rpcmsg.Notifier(transport, "router", driver="routing")


def test_routing_driver_routes_by_event_type_and_priority(
    conf: cfg.ConfigOpts, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oslo.messaging.notification")
    notifier = _routing_notifier(conf, tmp_path, ROUTING)
    notifier.info({}, "compute.instance.create", 1)  # test (group_1)
    notifier.info({}, "image.upload", 2)  # nothing: group_2 wants warn
    notifier.warn({}, "image.upload", 3)  # test (group_2)
    notifier.error({}, "network.down", 4)  # log only
    notifier.critical({}, "compute.instance.crash", 5)  # test and log
    notifier.warn({}, "volume.x", 6)  # nothing
    assert [entry[1]["payload"] for entry in test_driver.NOTIFICATIONS] == [1, 3, 5]
    logged = [
        json.loads(r.getMessage())["payload"]
        for r in caplog.records
        if r.name.startswith("oslo.messaging.notification")
    ]
    assert logged == [4, 5]
    notifier.transport.cleanup()


def test_routing_without_a_file_routes_nothing(conf: cfg.ConfigOpts) -> None:
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    rpcmsg.Notifier(transport, "router", driver="routing").info({}, "anything", 1)
    assert test_driver.NOTIFICATIONS == []
    transport.cleanup()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "mapping of groups"),
        ("g: {test: {accepted_colours: [red]}}", "unknown rule"),
        ("g: {test: {accepted_events: compute}}", "must list strings"),
        ("g: {routing: {}}", "itself"),
        ("g: {nosuchdriver: {}}", "nosuchdriver"),
        ("g: [unclosed", "not YAML"),
    ],
)
def test_routing_file_problems_are_clear_errors(
    conf: cfg.ConfigOpts, tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(rpcmsg.DriverLoadFailure, match=problem):
        _routing_notifier(conf, tmp_path, text)


def test_routing_file_missing_is_a_clear_error(conf: cfg.ConfigOpts, tmp_path: Path) -> None:
    conf.set_override(
        "routing_config", str(tmp_path / "absent.yaml"), group="oslo_messaging_notifications"
    )
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    with pytest.raises(rpcmsg.DriverLoadFailure, match=r"absent\.yaml"):
        rpcmsg.Notifier(transport, driver="routing")
    transport.cleanup()
