"""oslo.messaging 18.3.1's notification API, as oslo-written code and tests use it: names,
signatures and defaults, the hooks its tests patch, and what reaches drivers and endpoints."""

from __future__ import annotations

import datetime
import importlib
import inspect
import sys
import threading
import types
from typing import Any
from unittest import mock

import pytest
from oslo_config import cfg

import rpcmsg
import rpcmsg.notify
from rpcmsg.dispatcher import DispatcherBase
from rpcmsg.notify import _impl_test, listener, messaging, notifier
from rpcmsg.notify.dispatcher import BatchNotificationDispatcher, NotificationDispatcher
from tests.helpers.context import RequestContext


def defaults(func: Any) -> dict[str, Any]:
    """Parameter name -> default (``inspect.Parameter.empty`` when required), self left out."""
    params = inspect.signature(func).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


EMPTY = inspect.Parameter.empty


def test_notify_package_names_oslo_code_imports() -> None:
    from rpcmsg.notify import (
        BatchNotificationServer,
        Driver,
        NotificationServer,
        NotificationServerBase,
    )

    assert rpcmsg.notify.Driver is notifier.Driver
    assert issubclass(BatchNotificationServer, NotificationServerBase)
    assert issubclass(NotificationServer, NotificationServerBase)
    assert issubclass(NotificationServerBase, rpcmsg.MessageHandlingServer)
    # Reachable as an attribute, as services' tests read it.
    assert rpcmsg.notify._impl_test.NOTIFICATIONS == []
    drivers = {"_impl_log": "LogDriver", "_impl_noop": "NoOpDriver",
               "_impl_routing": "RoutingDriver", "_impl_test": "TestDriver",
               "messaging": "MessagingDriver"}  # fmt: skip
    for module, name in drivers.items():
        cls = getattr(importlib.import_module(f"rpcmsg.notify.{module}"), name)
        assert issubclass(cls, Driver)


def test_signatures_and_defaults() -> None:
    base = {"transport": EMPTY, "targets": EMPTY, "dispatcher": EMPTY, "executor": None,
            "allow_requeue": True, "pool": None}  # fmt: skip
    assert defaults(listener.NotificationServerBase) == {
        **base,
        "batch_size": 1,
        "batch_timeout": None,
    }
    assert defaults(listener.NotificationServer) == base
    assert defaults(listener.BatchNotificationServer) == {
        **base,
        "batch_size": 1,
        "batch_timeout": None,
    }
    getters = {"transport": EMPTY, "targets": EMPTY, "endpoints": EMPTY, "executor": None,
               "serializer": None, "allow_requeue": False, "pool": None}  # fmt: skip
    assert defaults(rpcmsg.get_notification_listener) == getters
    assert defaults(rpcmsg.get_batch_notification_listener) == {
        **getters,
        "batch_size": None,
        "batch_timeout": None,
    }
    # oslo's parameters first, in oslo's order; rpcmsg's one addition is keyword-only.
    assert list(defaults(rpcmsg.Notifier))[:6] == [
        "transport", "publisher_id", "driver", "serializer", "retry", "topics"
    ]  # fmt: skip
    assert inspect.signature(rpcmsg.Notifier).parameters["raise_on_failure"].kind is (
        inspect.Parameter.KEYWORD_ONLY
    )
    assert list(defaults(rpcmsg.Notifier.prepare)) == ["publisher_id", "retry"]
    assert list(defaults(rpcmsg.Notifier._notify)) == [
        "ctxt", "event_type", "payload", "priority", "publisher_id", "retry"
    ]  # fmt: skip
    assert defaults(notifier.Driver) == {"conf": EMPTY, "topics": EMPTY, "transport": EMPTY}
    assert list(defaults(messaging.MessagingDriver)) == ["conf", "topics", "transport", "version"]
    assert list(defaults(messaging.MessagingV2Driver)) == ["conf", "kwargs"]
    assert list(defaults(NotificationDispatcher)) == ["endpoints", "serializer"]
    assert issubclass(BatchNotificationDispatcher, DispatcherBase)


def test_a_batch_listener_without_batch_size_delivers_one_message_batches(
    transport: rpcmsg.Transport,
) -> None:
    batches: list[list[Any]] = []
    got = threading.Event()

    class Endpoint:
        def info(self, messages: list[dict[str, Any]]) -> None:
            batches.append([m["payload"] for m in messages])
            if len(batches) == 2:
                got.set()

    server = rpcmsg.notify.BatchNotificationServer(
        transport,
        [rpcmsg.Target(topic="b1")],
        BatchNotificationDispatcher([Endpoint()], None),
    )
    assert server.batch_size == 1
    unsized = rpcmsg.get_batch_notification_listener(transport, [rpcmsg.Target(topic="x")], [])
    assert unsized.batch_size == 1  # batch_size=None: batches of one
    server.start()
    try:
        n = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["b1"])
        n.info({}, "e", 1)
        n.info({}, "e", 2)
        assert got.wait(5)
    finally:
        server.stop()
        server.wait()
    assert batches == [[1], [2]]


def test_test_driver_records_what_the_notifier_built(transport: rpcmsg.Transport) -> None:
    n = rpcmsg.Notifier(transport, "pub", driver="test", topics=["t"])
    assert isinstance(n._driver_mgr["test"].obj, _impl_test.TestDriver)
    ctxt = RequestContext(user="u", auth_token="secret")
    n.warn(ctxt, "thing.happened", {"a": 1})
    ((sent_ctxt, message, priority, retry),) = _impl_test.NOTIFICATIONS
    assert sent_ctxt.to_dict() == {"user": "u"}  # the redacted copy, not the context itself
    assert (priority, retry) == ("WARN", -1)
    assert message["priority"] == "WARN"
    _impl_test.reset()
    assert _impl_test.NOTIFICATIONS == []
    # A test may swap the list out: the driver records into whatever is there.
    with mock.patch.object(_impl_test, "NOTIFICATIONS", []) as swapped:
        n.info({}, "e", 2)
    assert len(swapped) == 1 and _impl_test.NOTIFICATIONS == []


def test_timestamps_follow_oslo_utils_timeutils_when_imported(
    transport: rpcmsg.Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901)
    fake = types.ModuleType("oslo_utils.timeutils")
    fake.utcnow = lambda: frozen  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "oslo_utils.timeutils", fake)
    rpcmsg.Notifier(transport, "p", driver="test").info({}, "e", 1)
    assert _impl_test.NOTIFICATIONS[0][1]["timestamp"] == "2026-01-02 03:04:05.678901"


def test_messaging_drivers_send_through_the_transport_hook(transport: rpcmsg.Transport) -> None:
    n = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["a", "b"])
    ctxt = RequestContext(user="u")
    with mock.patch.object(transport, "_send_notification") as send:
        n.prepare(retry=3).error(ctxt, "e", {"x": 1})
    calls = send.call_args_list
    assert [c.args[0] for c in calls] == [
        rpcmsg.Target(topic="a.error"), rpcmsg.Target(topic="b.error")
    ]  # fmt: skip
    for c in calls:
        assert c.args[1].to_dict() == {"user": "u"}
        assert c.args[2]["payload"] == {"x": 1}
        assert c.kwargs == {"version": 2.0, "retry": 3}


def test_loggers_oslo_tests_patch_are_the_ones_used(transport: rpcmsg.Transport) -> None:
    n = rpcmsg.Notifier(transport, "p", driver="messaging", topics=["a"])
    with (
        mock.patch.object(messaging, "LOG") as driver_log,
        mock.patch.object(transport, "_send_notification", side_effect=OSError("down")),
    ):
        n.info({}, "e", 1)  # never raises
    driver_log.exception.assert_called_once()
    with mock.patch.object(notifier, "_LOG") as notifier_log:
        rpcmsg.Notifier(rpcmsg.get_rpc_transport(transport.conf, "fake:///rpc"), "p")
    notifier_log.warning.assert_called_once_with(
        "Using RPC transport for notifications. Please use get_notification_transport to "
        "obtain a notification transport instance."
    )


def test_is_enabled_as_oslo(conf: cfg.ConfigOpts, transport: rpcmsg.Transport) -> None:
    assert rpcmsg.Notifier(transport).is_enabled()  # no driver at all: True
    assert not rpcmsg.Notifier(transport, driver="noop").is_enabled()
    conf.set_override("driver", ["noop", "log"], group="oslo_messaging_notifications")
    assert rpcmsg.Notifier(transport).is_enabled()


def test_listener_hands_process_incoming_oslo_incoming_messages(
    transport: rpcmsg.Transport,
) -> None:
    seen: list[Any] = []
    done = threading.Event()

    class Server(listener.NotificationServer):
        def _process_incoming(self, incoming: list[Any]) -> None:
            seen.extend((m.ctxt, m.message) for m in incoming)
            for m in incoming:
                m.acknowledge()
            done.set()

    class Endpoint:
        def info(self, *args: Any) -> None:
            raise AssertionError("the override handles it")

    endpoints = [Endpoint()]
    server = Server(transport, [rpcmsg.Target(topic="inc")], NotificationDispatcher(endpoints))
    assert server.dispatcher.endpoints is endpoints
    server.start()
    try:
        n = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["inc"])
        n.info(RequestContext(user="u"), "ev", {"k": 1})
        assert done.wait(5)
    finally:
        server.stop()
        server.wait()
    ((ctxt, message),) = seen
    assert ctxt == {"user": "u"}
    assert set(message) == {
        "message_id", "publisher_id", "event_type", "priority", "payload", "timestamp"
    }  # fmt: skip
    assert (message["priority"], message["payload"]) == ("INFO", {"k": 1})


def test_routing_hooks(conf: cfg.ConfigOpts, transport: rpcmsg.Transport, tmp_path: Any) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("g:\n  test:\n    accepted_events: ['wanted.*']\n")
    conf.set_override("routing_config", str(path), group="oslo_messaging_notifications")
    n = rpcmsg.Notifier(transport, "p", driver="routing")
    router = n._driver_mgr["routing"].obj
    assert router.plugin_manager.names() == ["test"]
    assert router._get_drivers_for_message(router.routing_groups["g"], "wanted.x", "info") == [
        "test"
    ]
    assert router._get_drivers_for_message(router.routing_groups["g"], "other", "info") == []
    n.info({}, "wanted.x", 1)
    n.info({}, "other", 2)
    assert [entry[1]["payload"] for entry in _impl_test.NOTIFICATIONS] == [1]
