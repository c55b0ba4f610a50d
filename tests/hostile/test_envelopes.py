"""Hostile input on the queues: the server never dies, logs each bad message once, and keeps
serving good traffic.

Bodies made by hypothesis (``tests/hostile/strategies.py``: bytes that are not JSON, JSON of
the wrong shape, requests whose every field has the wrong type, unknown envelope versions,
forged reply queues, documents nested 100,000 deep, 3 MB values) are put on a running
server's queue and a notification listener's through the driver seam, as calls (with an
expiration) and as casts, on every driver. After each, a good call must be answered and a
good cast and notification handled. At the end, every body the core cannot decode was logged
as malformed exactly once; nothing else failed: no worker or reader thread raised, no poll
failed, no message was logged again and again.

The tests below them write straight to the brokers what the driver seam would never produce
(AMQP bodies with a bogus compression header or content type; Redis entries without a body,
with a non-numeric expiry or a non-UTF-8 content type, call list values without framing),
with the same checks, message by message: each bad one logged once (a call request that
expired long ago is dropped quietly, as every expired request is).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rpcmsg
from rpcmsg import _wire
from rpcmsg.notify import _format
from tests.drivers import DriverEnv, make_env
from tests.faults.workload import Sink, wait_until
from tests.hostile.strategies import bodies

EXAMPLES = 60
#: Log records that mean a thread or a poll failed: never, whatever the input.
FAILURES = ("Listener failed to poll", "Unexpected error handling", "Traceback")


class LogChecks:
    """What a rig expects to be logged: each body the core cannot decode once, and no
    failure of a thread or poll. ``put`` counts what was sent and what is malformed."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.expected_malformed = {"request": 0, "notification": 0}
        self.sent = 0

    def count(self, body: bytes, notification: bool) -> None:
        """Count ``body`` as sent, and as malformed if the core cannot decode it."""
        self.sent += 1
        try:
            (_format.parse if notification else _wire.decode)(body)
        except Exception:
            self.expected_malformed["notification" if notification else "request"] += 1

    def logged(self, text: str) -> int:
        return sum(1 for r in self.caplog.records if text in r.getMessage())

    def loud(self) -> int:
        """How many warnings and errors were logged so far."""
        return sum(1 for r in self.caplog.records if r.levelno >= logging.WARNING)

    def logged_once_each(self, before: int, messages: int) -> None:
        """Each of the last ``messages`` bad messages was logged once since ``before``
        records: not silently dropped, not logged again and again."""
        wait_until(lambda: self.loud() - before >= messages, 10)
        time.sleep(0.2)  # a second record for the same message would come now
        new = [r.getMessage()[:160] for r in self.caplog.records[before:] if r.levelno >= 30]
        assert len(new) == messages, f"{messages} bad messages, logged as: {new}"

    def check_logs(self) -> None:
        records = self.caplog.records
        failures = [r.getMessage() for r in records if any(f in r.getMessage() for f in FAILURES)]
        failures += [r.getMessage() for r in records if r.exc_info and r.name.startswith("rpcmsg_")]
        assert not failures, f"hostile input broke a thread or a poll: {failures[:3]}"
        wait_until(
            lambda: (
                self.logged("Dropping a malformed request") >= self.expected_malformed["request"]
                and self.logged("Dropping a malformed notification")
                >= self.expected_malformed["notification"]
            ),
            10,
        )
        assert self.logged("Dropping a malformed request") == self.expected_malformed["request"]
        assert (
            self.logged("Dropping a malformed notification")
            == self.expected_malformed["notification"]
        )
        loud = [r for r in records if r.levelno >= logging.WARNING]
        assert len(loud) <= 3 * max(1, self.sent), f"{len(loud)} warnings for {self.sent} messages"


class Rig(LogChecks):
    """A server and a notification listener on ``env``, a client, a notifier, and what they
    logged and raised."""

    def __init__(self, env: DriverEnv, caplog: pytest.LogCaptureFixture) -> None:
        super().__init__(caplog)
        self.env = env
        self.sink = Sink()
        self.topic, self.notify_topic = env.unique(), env.unique("notify")
        self.transport = env.transport()
        env.server(self.topic, [self.sink], transport=self.transport)
        env.track(
            rpcmsg.get_notification_listener(
                env.notification_transport(), [rpcmsg.Target(topic=self.notify_topic)], [self.sink]
            )
        ).start()
        self.client = env.client(self.topic, timeout=10)
        self.notifier = rpcmsg.Notifier(
            env.notification_transport(),
            publisher_id="hostile",
            driver="messagingv2",
            topics=[self.notify_topic],
            raise_on_failure=True,
        )
        assert self.client.call({}, "echo", value="ready") == "ready"

    def target(self, topic: str) -> rpcmsg.Target:
        return rpcmsg.Target(topic=topic, exchange=self.env.exchange, server="s1")

    def put(self, body: bytes, as_call: bool, notification: bool) -> None:
        """``body`` onto the server's queue (or the listener's), through the driver."""
        driver = self.transport.driver
        try:
            if notification:
                driver.send_notification(self.target(f"{self.notify_topic}.info"), body, retry=0)
            else:
                driver.send(self.target(self.topic), body, expiration=5.0 if as_call else None)
        except rpcmsg.MessagingException:
            return  # refused with a clear error (a size limit): nothing reached the queue
        self.count(body, notification)

    def still_serving(self) -> None:
        """A good call is answered, a good cast and notification are handled."""
        uid = uuid.uuid4().hex
        assert self.client.call({}, "echo", value=uid) == uid
        self.client.cast({}, "record", uid=uid)
        self.notifier.info({}, "hostile.check", {"uid": uid})
        assert wait_until(lambda: uid in self.sink.casts and uid in self.sink.notes, 10), (
            "a good cast or notification after hostile input was not handled"
        )


@pytest.fixture
def thread_errors() -> Iterator[list[str]]:
    """Exceptions that ended any thread during the test."""
    errors: list[str] = []
    previous = threading.excepthook

    def hook(args: Any) -> None:
        errors.append(f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}")
        previous(args)

    threading.excepthook = hook
    yield errors
    threading.excepthook = previous


def test_hostile_bodies_through_the_seam(
    env: DriverEnv, caplog: pytest.LogCaptureFixture, thread_errors: list[str]
) -> None:
    rig = Rig(env, caplog)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies, as_call=st.booleans(), notification=st.booleans())
    def one(body: bytes, as_call: bool, notification: bool) -> None:
        rig.put(body, as_call, notification)
        rig.still_serving()

    one()
    rig.check_logs()
    assert not thread_errors


# -- straight onto the brokers, below the seam -----------------------------------------------


@pytest.fixture
def rabbit_env() -> Iterator[DriverEnv]:
    env = make_env("rabbit")
    yield env
    env.close()


@pytest.fixture
def redis_env() -> Iterator[DriverEnv]:
    env = make_env("redis")
    yield env
    env.close()


def test_raw_amqp_messages(
    rabbit_env: DriverEnv, caplog: pytest.LogCaptureFixture, thread_errors: list[str]
) -> None:
    import amqp

    rig = Rig(rabbit_env, caplog)
    raw = [
        amqp.Message(b"not compressed", application_headers={"compression": "application/x-gzip"}),
        amqp.Message(b"{}", application_headers={"compression": "application/x-bogus"}),
        amqp.Message(b"{}", application_headers={"compression": 42}),
        amqp.Message(b'{"method": "echo"}', content_type="application/x-unknown"),
        amqp.Message(b"", content_type=None),
        amqp.Message(b"\x00" * 2_000_000),  # many frames
    ]
    conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest")
    conn.connect()
    try:
        channel = conn.channel()
        for message in raw:
            before = len(caplog.records)
            channel.basic_publish(message, exchange=rabbit_env.exchange, routing_key=rig.topic)
            rig.still_serving()
            rig.logged_once_each(before, 1)
    finally:
        conn.close()
    records = caplog.records
    assert not [r for r in records if any(f in r.getMessage() for f in FAILURES)]
    assert not thread_errors
    rig.still_serving()


def test_raw_redis_entries(
    redis_env: DriverEnv, caplog: pytest.LogCaptureFixture, thread_errors: list[str]
) -> None:
    import redis

    rig = Rig(redis_env, caplog)
    prefix = f"rpcmsg:{redis_env.exchange}"
    stream, calls = f"{prefix}:q:{rig.topic}", f"{prefix}:c:{rig.topic}"
    notes = f"{prefix}:n:{rig.notify_topic}.info"
    client = redis.Redis.from_url(redis_env.url)
    try:
        entries: list[dict[bytes, bytes]] = [
            {b"x": b"no body"},
            {b"b": b"{}", b"e": b"not-a-number"},
            {b"b": b"{}", b"e": b"9" * 400},
            {b"b": b"{}", b"c": b"\xff\xfe"},
            {b"b": b"\xff" * 10, b"c": b"application/json"},
        ]
        for entry in entries:
            before = len(caplog.records)
            for key in (stream, notes):
                client.xadd(key, entry)  # type: ignore[arg-type]
            rig.still_serving()
            rig.logged_once_each(before, 2)
        future = str(int(time.time() * 1000) + 60_000).encode()
        values = [
            (b"", 1),
            (b"no newline", 1),
            (b"x\n\xff\xfe\n{}", 1),
            (b"\n\n\n", 1),
            (future + b"\n\n", 1),  # no body
            (future + b"\napplication/json\n\x00", 1),
            (future + b"\n\xff\n" + b"\xfe" * 10, 1),
            # Expired long ago (1970): dropped as any expired call request is, quietly.
            (b"12\n", 0),
            (b"1\n\x00", 0),
        ]
        for value, logs in values:
            before = len(caplog.records)
            client.rpush(calls, value)
            rig.still_serving()
            rig.logged_once_each(before, logs)
        # The entry without a body was acknowledged and deleted, not left in the stream.
        for key in (stream, notes):
            fields = [f for _, f in client.xrange(key)]
            assert {b"x": b"no body"} not in fields
    finally:
        client.close()
    records = caplog.records
    assert not [r.getMessage() for r in records if any(f in r.getMessage() for f in FAILURES)]
    assert not thread_errors
    rig.still_serving()
