"""Notification behaviour every driver must show, driven through the public API."""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from typing import Any

import pytest

import rpcmsg
from rpcmsg.driver.base import Listener
from rpcmsg.notify.dispatcher import NotificationDispatcher
from rpcmsg.notify.listener import NotificationServer
from tests.drivers import DriverEnv
from tests.helpers.context import RequestContext

WAIT = 10.0
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


class Recorder:
    """An endpoint recording every notification it gets, for every priority."""

    def __init__(self, result: Any = None) -> None:
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.result = result

    def _record(self, priority: str, ctxt: Any, publisher_id: Any, event_type: Any,
                payload: Any, metadata: Any) -> Any:  # fmt: skip
        with self.changed:
            self.seen.append(
                {
                    "priority": priority,
                    "ctxt": ctxt,
                    "publisher_id": publisher_id,
                    "event_type": event_type,
                    "payload": payload,
                    "metadata": metadata,
                }
            )
            self.changed.notify_all()
        return self.result

    def wait_for(self, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Wait until ``count`` notifications arrived; returns what arrived (maybe fewer)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.seen) >= count, timeout)
            return list(self.seen)

    def payloads(self) -> list[Any]:
        with self.lock:
            return [m["payload"] for m in self.seen]


def _method(priority: str) -> Any:
    def handler(self: Recorder, ctxt: Any, pub: Any, event: Any, payload: Any, md: Any) -> Any:
        return self._record(priority, ctxt, pub, event, payload, md)

    handler.__name__ = priority
    return handler


for _priority in PRIORITIES:
    setattr(Recorder, _priority, _method(_priority))


class InfoOnly:
    """An endpoint for info notifications only, with an optional filter."""

    def __init__(self, filter_rule: Any = None) -> None:
        self.filter_rule = filter_rule
        self.seen: list[Any] = []
        self.event = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.seen.append(payload)
        self.event.set()


def notifier(env: DriverEnv, topics: list[str], **kwargs: Any) -> rpcmsg.Notifier:
    kwargs.setdefault("driver", "messagingv2")
    return rpcmsg.Notifier(
        env.notification_transport(), "pub.host1", topics=topics, raise_on_failure=True, **kwargs
    )


def listen(env: DriverEnv, topics: list[str], endpoints: list[Any], **kwargs: Any) -> Any:
    transport = kwargs.pop("transport", None) or env.notification_transport()
    targets = [rpcmsg.Target(topic=t) for t in topics]
    factory = kwargs.pop("factory", rpcmsg.get_notification_listener)
    server = factory(transport, targets, endpoints, **kwargs)
    server.start()
    return env.track(server)


def test_every_priority_reaches_its_method_with_all_fields(env: DriverEnv) -> None:
    topic = env.unique()
    rec = Recorder()
    listen(env, [topic], [rec])
    n = notifier(env, [topic])
    ctxt = RequestContext(user="alice", roles=["admin"])
    for priority in PRIORITIES:
        getattr(n, priority)(ctxt, f"thing.{priority}", {"p": priority})
    n.warning(ctxt, "thing.warning", {"p": "warning"})
    seen = rec.wait_for(len(PRIORITIES) + 1)
    assert sorted(m["priority"] for m in seen) == sorted([*PRIORITIES, "warn"])
    for m in seen:
        expected = "warn" if m["event_type"] == "thing.warning" else m["event_type"][6:]
        assert m["priority"] == expected
        assert m["payload"] == {"p": m["event_type"][6:]}
        assert m["ctxt"] == {"user": "alice", "roles": ["admin"]}
        assert m["publisher_id"] == "pub.host1"
        uuid.UUID(m["metadata"]["message_id"])
        stamp = datetime.datetime.fromisoformat(m["metadata"]["timestamp"])
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        assert abs((now - stamp).total_seconds()) < 60  # naive UTC, as oslo.messaging writes
    assert len({m["metadata"]["message_id"] for m in seen}) == len(seen)


@pytest.mark.parametrize("driver", ["messagingv2", "messaging"])
def test_notifications_never_carry_credentials(env: DriverEnv, driver: str) -> None:
    """A dict context is not sent at all, an object is sent as its redacted copy (as
    oslo.messaging does): the token never reaches the broker."""
    topic = env.unique()
    rec = Recorder()
    listen(env, [topic], [rec])
    n = notifier(env, [topic], driver=driver)
    token = f"tok-{uuid.uuid4().hex}"
    n.info({"user": "alice", "auth_token": token}, "with.dict", 1)
    n.info(RequestContext(user="bob", auth_token=token, service_token=token), "with.object", 2)
    seen = sorted(rec.wait_for(2), key=lambda m: m["payload"])
    assert [m["ctxt"] for m in seen] == [{}, {"user": "bob"}]
    assert token not in repr(seen)


def test_format_one_notifications_are_consumed_too(env: DriverEnv) -> None:
    topic = env.unique()
    rec = Recorder()
    listen(env, [topic], [rec])
    notifier(env, [topic], driver="messaging").error(RequestContext(k="v"), "legacy.event", [1, 2])
    (m,) = rec.wait_for(1)
    assert (m["priority"], m["event_type"], m["payload"], m["ctxt"]) == (
        "error",
        "legacy.event",
        [1, 2],
        {"k": "v"},
    )


def test_every_configured_topic_gets_a_copy(env: DriverEnv) -> None:
    first, second = env.unique(), env.unique()
    on_first, on_second, on_both = Recorder(), Recorder(), Recorder()
    listen(env, [first], [on_first])
    listen(env, [second], [on_second])
    listen(env, [first, second], [on_both], pool=env.unique("both"))
    notifier(env, [first, second]).info({}, "multi", {"n": 1})
    assert on_first.wait_for(1)[0]["payload"] == {"n": 1}
    assert on_second.wait_for(1)[0]["payload"] == {"n": 1}
    assert [m["payload"] for m in on_both.wait_for(2)] == [{"n": 1}, {"n": 1}]


def test_configured_topics_and_driver_are_used(env: DriverEnv) -> None:
    topic = env.unique()
    conf = env.conf()
    conf.set_override("driver", ["messagingv2"], group="oslo_messaging_notifications")
    conf.set_override("topics", [topic], group="oslo_messaging_notifications")
    rec = Recorder()
    listen(env, [topic], [rec])
    n = rpcmsg.Notifier(env.notification_transport(conf), "conf.pub")
    assert n.is_enabled()
    n.critical({}, "from.conf", "payload")
    (m,) = rec.wait_for(1)
    assert (m["publisher_id"], m["priority"], m["payload"]) == ("conf.pub", "critical", "payload")


def test_listener_gets_only_the_priorities_it_handles(env: DriverEnv) -> None:
    topic = env.unique()
    info = InfoOnly()
    listen(env, [topic], [info])
    n = notifier(env, [topic])
    n.error({}, "ignored", "error-payload")
    n.info({}, "taken", "info-payload")
    assert info.event.wait(WAIT)
    assert info.seen == ["info-payload"]


def test_filters_screen_what_each_endpoint_gets(env: DriverEnv) -> None:
    topic = env.unique()
    by_publisher = InfoOnly(rpcmsg.NotificationFilter(publisher_id=r"^compute\."))
    by_event = InfoOnly(rpcmsg.NotificationFilter(event_type=r"^instance\..*\.end$"))
    by_context = InfoOnly(rpcmsg.NotificationFilter(context={"tenant": "^t1$"}))
    by_payload = InfoOnly(rpcmsg.NotificationFilter(payload={"state": "^active$"}))
    everything = Recorder()
    listen(env, [topic], [by_publisher, by_event, by_context, by_payload, everything])
    n = notifier(env, [topic])
    n.prepare(publisher_id="compute.host").info({}, "other", {"id": 1})
    n.info({}, "instance.create.end", {"id": 2})
    n.info(RequestContext(tenant="t1"), "other", {"id": 3})
    n.info(RequestContext(tenant="t10"), "other", {"id": 4, "state": "active"})
    n.info({}, "instance.create.start", {"id": 5, "state": "building"})
    assert len(everything.wait_for(5)) == 5
    assert by_publisher.seen == [{"id": 1}]
    assert by_event.seen == [{"id": 2}]
    assert by_context.seen == [{"id": 3}]
    assert by_payload.seen == [{"id": 4, "state": "active"}]


def test_pools_share_within_and_copy_between(env: DriverEnv) -> None:
    topic = env.unique()
    default, pool_a1, pool_a2, pool_b = Recorder(), Recorder(), Recorder(), Recorder()
    listen(env, [topic], [default])
    pool_a = env.unique("pool-a")  # pool queues may be named by the pool alone: keep unique
    listen(env, [topic], [pool_a1], pool=pool_a)
    listen(env, [topic], [pool_a2], pool=pool_a)
    listen(env, [topic], [pool_b], pool=env.unique("pool-b"))
    n = notifier(env, [topic])
    count = 12
    for i in range(count):
        n.info({}, "pooled", i)
    assert sorted(m["payload"] for m in default.wait_for(count)) == list(range(count))
    assert sorted(m["payload"] for m in pool_b.wait_for(count)) == list(range(count))
    deadline = time.monotonic() + WAIT
    while len(pool_a1.seen) + len(pool_a2.seen) < count and time.monotonic() < deadline:
        pool_a1.wait_for(count, 0.05)
    shared = sorted(pool_a1.payloads() + pool_a2.payloads())
    assert shared == list(range(count))  # each message to exactly one member of pool a


def test_notifications_sent_before_the_listener_wait_for_the_default_pool(env: DriverEnv) -> None:
    topic = env.unique()
    n = notifier(env, [topic])
    for i in range(3):
        n.info({}, "early", i)
    rec = Recorder()
    listen(env, [topic], [rec])
    assert sorted(m["payload"] for m in rec.wait_for(3)) == [0, 1, 2]


class RequeueOnce(Recorder):
    """Asks for a requeue (or raises) the first time it sees a message."""

    def __init__(self, raise_instead: bool = False) -> None:
        super().__init__()
        self.raise_instead = raise_instead

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> Any:
        with self.lock:
            first = all(m["metadata"]["message_id"] != md["message_id"] for m in self.seen)
        self._record("info", ctxt, publisher_id, event_type, payload, md)
        if not first:
            return rpcmsg.NotificationResult.HANDLED
        if self.raise_instead:
            raise RuntimeError("handler failed")
        return rpcmsg.NotificationResult.REQUEUE


@pytest.mark.parametrize("raise_instead", [False, True], ids=["requeue", "raise"])
def test_requeue_allowed_delivers_again(env: DriverEnv, raise_instead: bool) -> None:
    topic = env.unique()
    rec = RequeueOnce(raise_instead)
    listen(env, [topic], [rec], allow_requeue=True)
    notifier(env, [topic]).info({}, "again", "x")
    seen = rec.wait_for(2)
    assert [m["payload"] for m in seen] == ["x", "x"]
    assert seen[0]["metadata"] == seen[1]["metadata"]


@pytest.mark.parametrize("raise_instead", [False, True], ids=["requeue", "raise"])
def test_requeue_not_allowed_acknowledges(env: DriverEnv, raise_instead: bool) -> None:
    topic = env.unique()
    rec = RequeueOnce(raise_instead)
    listen(env, [topic], [rec])
    n = notifier(env, [topic])
    n.info({}, "once", "first")
    assert rec.wait_for(1)
    n.info({}, "once", "second")
    # "second" follows "first" in the queue: had "first" been requeued it would come back
    # before "second" is handled (or right after; the wait below would see it).
    seen = rec.wait_for(2)
    assert [m["payload"] for m in seen] == ["first", "second"]
    n.info({}, "once", "third")
    assert [m["payload"] for m in rec.wait_for(3)] == ["first", "second", "third"]


class BatchRecorder:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.changed = threading.Condition()

    def info(self, messages: list[dict[str, Any]]) -> None:
        with self.changed:
            self.batches.append(messages)
            self.changed.notify_all()

    def wait_total(self, count: int) -> list[list[dict[str, Any]]]:
        with self.changed:
            self.changed.wait_for(lambda: sum(map(len, self.batches)) >= count, WAIT)
            return list(self.batches)


def test_batch_listener_delivers_full_batches(env: DriverEnv) -> None:
    topic = env.unique()
    n = notifier(env, [topic])
    for i in range(6):
        n.info(RequestContext(i=i), "batched", i)
    rec = BatchRecorder()
    listen(
        env, [topic], [rec], factory=rpcmsg.get_batch_notification_listener,
        batch_size=3, batch_timeout=WAIT * 3,
    )  # fmt: skip
    batches = rec.wait_total(6)
    assert [len(b) for b in batches] == [3, 3]
    flat = [m for b in batches for m in b]
    assert sorted(m["payload"] for m in flat) == list(range(6))
    assert all(m["ctxt"] == {"i": m["payload"]} for m in flat)
    assert all(
        set(m) == {"ctxt", "publisher_id", "event_type", "payload", "metadata"} for m in flat
    )


def test_batch_listener_delivers_a_partial_batch_after_the_timeout(env: DriverEnv) -> None:
    topic = env.unique()
    rec = BatchRecorder()
    listen(
        env, [topic], [rec], factory=rpcmsg.get_batch_notification_listener,
        batch_size=50, batch_timeout=0.2,
    )  # fmt: skip
    n = notifier(env, [topic])
    n.info({}, "partial", 1)
    n.info({}, "partial", 2)
    batches = rec.wait_total(2)
    assert sorted(m["payload"] for b in batches for m in b) == [1, 2]


def test_batch_requeue_delivers_the_batch_again(env: DriverEnv) -> None:
    topic = env.unique()
    calls: list[list[Any]] = []
    done = threading.Event()

    class Endpoint:
        def info(self, messages: list[dict[str, Any]]) -> Any:
            calls.append([m["payload"] for m in messages])
            if len(calls) == 1:
                return rpcmsg.NotificationResult.REQUEUE
            if sum(map(len, calls[1:])) >= 2:
                done.set()
            return None

    n = notifier(env, [topic])
    n.info({}, "b", "a")
    n.info({}, "b", "b")
    listen(
        env, [topic], [Endpoint()], factory=rpcmsg.get_batch_notification_listener,
        batch_size=2, batch_timeout=0.5, allow_requeue=True,
    )  # fmt: skip
    assert done.wait(WAIT)
    assert sorted(calls[0]) == ["a", "b"]
    assert sorted(p for c in calls[1:] for p in c) == ["a", "b"]


def test_malformed_notifications_are_dropped_and_the_listener_goes_on(
    env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = env.unique()
    transport = env.notification_transport()
    rec = Recorder()
    listen(env, [topic], [rec], transport=transport)
    target = rpcmsg.Target(exchange=env.exchange, topic=f"{topic}.info")
    driver = transport.driver
    driver.send_notification(target, b"this is not json")
    driver.send_notification(target, b'["a list"]')
    driver.send_notification(target, b'{"priority": "INFO", "payload": "no event type"}')
    driver.send_notification(target, b'{"oslo.version": "2.0", "oslo.message": "{broken"}')
    notifier(env, [topic]).info({}, "good", "after the bad ones")
    seen = rec.wait_for(1)
    assert [m["payload"] for m in seen] == ["after the bad ones"]
    notifier(env, [topic]).info({}, "good", "still alive")
    assert [m["payload"] for m in rec.wait_for(2)] == ["after the bad ones", "still alive"]

    def dropped() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "malformed notification" in r.getMessage()]

    deadline = time.monotonic() + WAIT  # workers run concurrently: a drop may log late
    while len(dropped()) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(dropped()) == 4
    assert all(r.levelno == logging.ERROR for r in dropped())


def test_stop_and_wait_let_in_flight_notifications_finish(env: DriverEnv) -> None:
    topic = env.unique()
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    class Slow:
        def info(self, ctxt: Any, pub: Any, event: Any, payload: Any, md: Any) -> None:
            started.set()
            release.wait(WAIT)
            finished.set()

    server = listen(env, [topic], [Slow()])
    n = notifier(env, [topic])
    n.info({}, "slow", "in flight")
    assert started.wait(WAIT)
    server.stop()
    threading.Timer(0.1, release.set).start()
    server.wait()
    assert finished.is_set()
    # The finished message was acknowledged: a new listener gets only what follows it.
    rec = Recorder()
    listen(env, [topic], [rec])
    n.info({}, "slow", "marker")
    assert [m["payload"] for m in rec.wait_for(1)] == ["marker"]
    assert [m["payload"] for m in rec.wait_for(2, 0.3)] == ["marker"]


def test_listener_restarts_after_stop(env: DriverEnv) -> None:
    topic = env.unique()
    rec = Recorder()
    server = listen(env, [topic], [rec])
    n = notifier(env, [topic])
    n.info({}, "restart", 1)
    assert rec.wait_for(1)
    server.stop()
    server.wait()
    n.info({}, "restart", 2)
    server.start()
    assert [m["payload"] for m in rec.wait_for(2)] == [1, 2]


class _KeepsDriverListener(NotificationServer):
    """A listener whose driver-level consumer the test can tear down, as a crash would."""

    driver_listener: Listener

    def _create_listener(self) -> Listener:
        self.driver_listener = super()._create_listener()
        return self.driver_listener


def test_a_listener_dying_mid_handling_loses_nothing(env: DriverEnv) -> None:
    if not env.capabilities.at_least_once:
        pytest.skip(f"{env.name} does not declare the at_least_once capability")
    topic = env.unique()
    taken, never = threading.Event(), threading.Event()

    class Stuck:
        def info(self, ctxt: Any, pub: Any, event: Any, payload: Any, md: Any) -> None:
            taken.set()
            never.wait(WAIT)  # the "crashed" handler: it never returns in time

    transport = env.notification_transport()
    dispatcher = NotificationDispatcher([Stuck()])
    doomed = _KeepsDriverListener(transport, [rpcmsg.Target(topic=topic)], dispatcher)
    doomed.start()
    notifier(env, [topic]).info({}, "crash", "survivor")
    assert taken.wait(WAIT)
    # The listener dies: it stops consuming and its broker resources go, the message unsettled.
    doomed.stop()
    doomed.driver_listener.cleanup()
    rec = Recorder()
    listen(env, [topic], [rec])
    (m,) = rec.wait_for(1)
    assert m["payload"] == "survivor"
    never.set()
    doomed.wait()  # the late settle of a dead listener must be harmless
    assert [m["payload"] for m in rec.wait_for(2, 0.3)] == ["survivor"]


def test_unreachable_broker_within_retries_is_logged_or_raised_on_request(
    env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    if env.spec.host is None:
        pytest.skip(f"{env.name} has no broker to be unreachable")
    port = str(env.spec.host[1])
    assert f":{port}" in env.url
    dead_url = env.url.replace(f":{port}", ":1", 1)  # nothing listens on port 1
    conf = env.conf()
    transport = rpcmsg.get_notification_transport(conf, dead_url)
    try:
        quiet = rpcmsg.Notifier(transport, "p", driver="messagingv2", topics=["t"], retry=0)
        quiet.info({}, "lost.event", {"kept": "in the log"})  # returns, does not raise
        logged = [r for r in caplog.records if "lost.event" in r.getMessage()]
        assert logged and logged[0].levelno == logging.ERROR
        assert "in the log" in logged[0].getMessage()
        loud = rpcmsg.Notifier(
            transport, "p", driver="messagingv2", topics=["t"], retry=1, raise_on_failure=True
        )
        with pytest.raises(rpcmsg.MessageDeliveryFailure, match="messagingv2"):
            loud.info({}, "lost.again", {})
    finally:
        transport.cleanup()
