"""LoggingNotificationHandler and LoggingErrorNotificationHandler send log records."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any
from unittest import mock

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg.notify import _impl_test as test_driver


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"tests.notify.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_logging_notification_handler_sends_records(global_conf: cfg.ConfigOpts) -> None:
    handler = rpcmsg.LoggingNotificationHandler(
        f"fake:///{uuid.uuid4().hex}", publisher_id="logger.pub", driver="test", topic="logs"
    )
    handler.setLevel(logging.INFO)
    logger = _logger(handler)
    logger.debug("below the handler's level")
    logger.warning("disk %s is %d%% full", "sda", 91)
    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("it failed")
    entries = test_driver.NOTIFICATIONS
    assert [entry[2] for entry in entries] == ["WARN", "ERROR"]
    first = entries[0][1]
    assert (first["event_type"], first["publisher_id"]) == ("logrecord", "logger.pub")
    assert first["payload"]["msg"] == "disk sda is 91% full"
    assert first["payload"]["levelname"] == "WARNING"
    assert first["payload"]["name"] == logger.name
    assert first["payload"]["exc_info"] is None
    assert "ValueError: broken" in entries[1][1]["payload"]["exc_info"]
    handler.notifier.transport.cleanup()


def test_custom_levels_named_after_priorities_are_sent(global_conf: cfg.ConfigOpts) -> None:
    audit = logging.INFO + 1  # oslo.log's AUDIT level
    logging.addLevelName(audit, "AUDIT")
    handler = rpcmsg.LoggingNotificationHandler(f"fake:///{uuid.uuid4().hex}", driver="test")
    logger = _logger(handler)
    logger.log(audit, "audited")
    logger.log(logging.INFO + 2, "a level with no priority of that name")
    assert [(e[2], e[1]["payload"]["msg"]) for e in test_driver.NOTIFICATIONS] == [
        ("AUDIT", "audited")
    ]
    handler.notifier.transport.cleanup()


def test_handler_builds_its_transport_through_the_transport_module(
    global_conf: cfg.ConfigOpts,
) -> None:
    """oslo.messaging's tests hand the handler a transport by patching ``_get_transport``."""
    made = rpcmsg.get_notification_transport(global_conf, f"fake:///{uuid.uuid4().hex}")
    with mock.patch("rpcmsg.transport._get_transport", return_value=made) as get:
        handler = rpcmsg.LoggingNotificationHandler("no-such-driver://")
    get.assert_called_once()
    assert handler.notifier.transport is made
    made.cleanup()


def test_logging_notification_handler_reaches_a_listener(global_conf: cfg.ConfigOpts) -> None:
    url = f"fake:///{uuid.uuid4().hex}"
    handler = rpcmsg.LoggingNotificationHandler(url, driver="messagingv2", topic=["logs"])
    got: list[str] = []
    arrived = threading.Event()

    class Endpoint:
        def error(self, ctxt: Any, pub: Any, event: str, payload: Any, md: Any) -> None:
            got.append(payload["msg"])
            arrived.set()

    transport = rpcmsg.get_notification_transport(cfg.CONF, url)
    listener = rpcmsg.get_notification_listener(
        transport, [rpcmsg.Target(topic="logs")], [Endpoint()]
    )
    _logger(handler).error("over the wire")
    listener.start()
    try:
        assert arrived.wait(5)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
        handler.notifier.transport.cleanup()
    assert got == ["over the wire"]


def test_error_handler_publishes_errors(global_conf: cfg.ConfigOpts) -> None:
    handler = rpcmsg.PublishErrorsHandler(logging.ERROR)
    assert rpcmsg.PublishErrorsHandler is rpcmsg.LoggingErrorNotificationHandler
    logger = _logger(handler)
    logger.warning("not an error")
    logger.error("quota %s exceeded", "cores")
    (entry,) = test_driver.NOTIFICATIONS
    ctxt, message, priority, _ = entry
    assert ctxt == {}
    assert priority == "ERROR"
    assert message["event_type"] == "error_notification"
    assert message["publisher_id"] == "error.publisher"
    assert message["payload"] == {"error": "quota cores exceeded"}


def test_error_handler_stays_quiet_with_the_log_driver(global_conf: cfg.ConfigOpts) -> None:
    global_conf.set_override("driver", ["log", "test"], group="oslo_messaging_notifications")
    handler = rpcmsg.LoggingErrorNotificationHandler()
    _logger(handler).error("would loop for ever through the log driver")
    assert test_driver.NOTIFICATIONS == []


def test_handler_does_not_feed_on_its_own_records(
    global_conf: cfg.ConfigOpts, caplog: pytest.LogCaptureFixture
) -> None:
    # The log driver writes each notification on "oslo.messaging.notification.logrecord",
    # which propagates to the logger the handler sits on: without a guard, each record would
    # become a notification, logged again, sent again, for ever.
    handler = rpcmsg.LoggingNotificationHandler(
        f"fake:///{uuid.uuid4().hex}", driver="log", topic="logs"
    )
    parent = logging.getLogger("oslo.messaging.notification")
    parent.addHandler(handler)
    caplog.set_level(logging.DEBUG, logger="oslo.messaging.notification")
    try:
        parent.warning("first and only")
    finally:
        parent.removeHandler(handler)
        handler.notifier.transport.cleanup()
    logged = [r for r in caplog.records if r.name == "oslo.messaging.notification.logrecord"]
    assert len(logged) == 1
    assert "first and only" in logged[0].getMessage()
