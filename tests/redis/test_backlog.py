"""The Redis driver's bounded backlog: a full stream or call list refuses sends with
``MessageDeliveryFailure`` and nothing unacknowledged is ever trimmed, against the live Redis.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.redis import test_faults as faults
from tests.redis.conftest import RedisEnv
from tests.redis.test_faults import WAIT, wait_for


class Recorder(faults.Recorder):
    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        with self.lock:
            self.seen.append(payload["n"])


def test_a_full_stream_refuses_casts_and_loses_none(renv: RedisEnv) -> None:
    renv.with_options(stream_max_length=100)
    topic = renv.unique()
    rec = Recorder()
    server = renv.server(topic, [rec])
    server.stop()
    server.wait()  # the topic's stream stays, with no consumer
    client = renv.client(topic)
    accepted: list[int] = []
    refused = 0
    for i in range(1000):
        try:
            client.cast({}, "record", value=i)
            accepted.append(i)
        except rpcmsg.MessageDeliveryFailure as exc:
            assert "stream_max_length" in str(exc)
            refused += 1
    assert accepted == list(range(100)) and refused == 900
    stream = renv.driver().keys().topic(topic)
    assert renv.raw.xlen(stream) == 100
    server.start()
    assert wait_for(lambda: len(rec.seen) >= 100)
    server.stop()
    server.wait()  # writes the last acknowledgements
    assert sorted(rec.seen) == accepted  # every accepted cast, none trimmed
    assert renv.raw.xlen(stream) == 0  # acknowledged entries are deleted
    assert renv.raw.xpending(stream, "rpc")["pending"] == 0
    client.cast({}, "record", value="room again")


def test_pending_entries_count_against_the_cap(renv: RedisEnv) -> None:
    """Entries a listener holds unacknowledged are neither trimmed nor free room."""
    renv.with_options(stream_max_length=3, prefetch_count=3)
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    listener = driver.listen(target)
    try:
        for n in range(3):
            driver.send(target(server=None), f'{{"n": {n}}}'.encode())
        held = [listener.poll(WAIT) for _ in range(3)]
        assert all(held)
        with pytest.raises(rpcmsg.MessageDeliveryFailure):
            driver.send(target(server=None), b'{"n": 3}')
        for incoming in held:
            incoming.ack()  # type: ignore[union-attr]
        # The acknowledgements ride in the reader's next round trip.
        assert wait_for(lambda: renv.raw.xlen(driver.keys().topic(topic)) == 0)
        driver.send(target(server=None), b'{"n": 4}')
        incoming = listener.poll(WAIT)
        assert incoming is not None and incoming.body == b'{"n": 4}'
        incoming.ack()
    finally:
        listener.cleanup()


def test_a_full_call_list_refuses_calls_at_once(renv: RedisEnv) -> None:
    renv.with_options(stream_max_length=3)
    topic = renv.unique()
    server = renv.server(topic, [Recorder()])
    server.stop()
    server.wait()
    driver = renv.driver()
    for _ in range(3):
        driver.send(rpcmsg.Target(topic=topic, exchange=renv.exchange), b"{}", expiration=30.0)
    client = renv.client(topic, timeout=20)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessageDeliveryFailure):
        client.call({}, "record", value=1)
    # Refused, not left to time out.
    assert time.monotonic() - started < 10
    assert renv.raw.llen(driver.keys().calls(topic)) == 3


def test_fanout_to_a_full_listener_adds_nothing_anywhere(renv: RedisEnv) -> None:
    renv.with_options(stream_max_length=2)
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    slow, quick = driver.listen(target), driver.listen(target(server="b"))
    try:
        fanout = target(server=None, fanout=True)
        driver.send(fanout, b'{"n": 0}')
        got = quick.poll(WAIT)
        assert got is not None
        got.ack()
        driver.send(fanout, b'{"n": 1}')
        # slow holds two (read or not); quick has room but gets nothing of a refused send.
        with pytest.raises(rpcmsg.MessageDeliveryFailure):
            driver.send(fanout, b'{"n": 2}')
        bodies = []
        while (incoming := quick.poll(0.5)) is not None:
            bodies.append(incoming.body)
            incoming.ack()
        assert bodies == [b'{"n": 1}']
        slow_bodies = []
        while (incoming := slow.poll(0.5)) is not None:
            slow_bodies.append(incoming.body)
            incoming.ack()
        assert slow_bodies == [b'{"n": 0}', b'{"n": 1}']
    finally:
        slow.cleanup()
        quick.cleanup()


def test_notifications_nobody_reads_are_capped_not_trimmed(renv: RedisEnv) -> None:
    renv.with_options(stream_max_length=5)
    transport = renv.notification_transport()
    topic = renv.unique()
    notifier = Notifier(
        transport, "pub", driver="messagingv2", topics=[topic], raise_on_failure=True
    )
    for n in range(5):
        notifier.info({}, "ev", {"n": n})
    with pytest.raises(rpcmsg.MessageDeliveryFailure):
        notifier.info({}, "ev", {"n": 5})
    rec = Recorder()
    listener = get_notification_listener(
        transport, [rpcmsg.Target(topic=topic)], [rec], executor="threading"
    )
    listener.start()
    try:
        assert wait_for(lambda: len(rec.seen) >= 5)
    finally:
        listener.stop()
        listener.wait()
    assert sorted(rec.seen) == [0, 1, 2, 3, 4]
