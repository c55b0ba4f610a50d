"""The Redis driver's guarantees under faults, against the live Redis.

Each test runs on its own exchange (so its own key prefix) and deletes its keys at the end.
A Redis restart and a Sentinel failover need Redis processes of their own: the fault
suite has them (``tests/faults/test_redis_restart.py``, ``test_redis_sentinel.py``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from rpcmsg_drivers.redis.listener import RedisListener

import rpcmsg
from tests.drivers import REDIS_URL
from tests.redis.conftest import RedisEnv

WAIT = 10.0


def wait_for(predicate: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.lock = threading.Lock()

    def record(self, ctxt: Any, value: Any) -> None:
        with self.lock:
            self.seen.append(value)

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value


def test_client_kill_mid_stream_loses_nothing(renv: RedisEnv) -> None:
    topic = renv.unique()
    rec = Recorder()
    renv.server(topic, [rec])
    client = renv.client(topic, timeout=WAIT, retry=-1)
    total = 300
    done = threading.Event()

    def send() -> None:
        for i in range(total):
            client.cast({}, "record", value=i)
        done.set()

    sender = threading.Thread(target=send)
    sender.start()
    kills = 0
    while not done.is_set() or kills < 3:
        # Kill the listener's, the publisher's and the reply consumer's connections.
        kills += renv.kill_connections() > 0
        time.sleep(0.02)
    sender.join(WAIT)
    assert wait_for(lambda: len(set(rec.seen)) == total, 20.0), (
        f"lost {sorted(set(range(total)) - set(rec.seen))[:10]}"
    )
    assert sorted(set(rec.seen)) == list(range(total))
    # The transports recovered: a call goes through after the kills.
    assert client.call({}, "echo", value="alive") == "alive"


def test_dead_listener_messages_go_to_a_live_one_at_once(renv: RedisEnv) -> None:
    """A listener whose connection is gone (its process died) holding a cast: a new
    listener takes the cast over without waiting for the claim idle time."""
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    first = driver.listen(target)
    driver.send(target(server=None), b'{"n": 1}')
    held = first.poll(WAIT)
    assert held is not None and not held.redelivered
    first.stop()  # its reader leaves and closes its connection; nothing is settled
    assert isinstance(first, RedisListener)
    first._streams.thread.join(WAIT)
    second = renv.driver().listen(target(server="b"))
    try:
        started = time.monotonic()
        again = second.poll(WAIT)
        assert again is not None and again.body == b'{"n": 1}' and again.redelivered
        assert time.monotonic() - started < 5.0  # well below claim_idle_time (60 s)
        again.ack()
    finally:
        second.cleanup()
        first.cleanup()


def test_silent_consumer_messages_are_claimed_after_idle_time(renv: RedisEnv) -> None:
    """A consumer still connected but stuck (it stopped beating) loses what it holds to a
    live consumer once ``claim_idle_time`` has passed, and only then."""
    renv.with_options(claim_idle_time=0.6)
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    stream = driver.keys().topic(topic)
    # A stuck consumer of the topic's group, connected and holding the message.
    zombie = redis.Redis.from_url(REDIS_URL)
    zombie.client_setname("zombie")
    zombie.xgroup_create(stream, "rpc", id="0", mkstream=True)
    driver.send(target(server=None), b'{"n": 2}')
    assert zombie.xreadgroup("rpc", "zombie", {stream: ">"}, count=1)
    started = time.monotonic()
    live = driver.listen(target)
    try:
        incoming = live.poll(WAIT)
        waited = time.monotonic() - started
        assert incoming is not None and incoming.body == b'{"n": 2}' and incoming.redelivered
        assert waited >= 0.5
        incoming.ack()
    finally:
        live.cleanup()
        zombie.close()


def test_live_consumer_keeps_a_long_task(renv: RedisEnv) -> None:
    renv.with_options(claim_idle_time=0.5)
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    worker = driver.listen(target)
    try:
        driver.send(target(server=None), b'{"n": 3}')
        held = worker.poll(WAIT)
        assert held is not None
        other = renv.driver().listen(target(server="b"))
        try:
            # Three claim idle times pass while the worker holds the message.
            assert other.poll(1.5) is None
        finally:
            other.cleanup()
        held.ack()
    finally:
        worker.cleanup()


@pytest.mark.parametrize("expiration", [None, 30.0], ids=["cast-stream", "call-list"])
def test_unsettled_messages_return_to_the_queue_on_cleanup(
    renv: RedisEnv, expiration: float | None
) -> None:
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    first = driver.listen(target)
    for n in range(3):
        driver.send(target(server=None), f'{{"n": {n}}}'.encode(), expiration=expiration)
    assert isinstance(first, RedisListener)
    if expiration is None:
        # All three are read ahead into the listener's buffer before two are polled.
        assert wait_for(lambda: len(first._inbox) == 3)
    taken = [first.poll(WAIT) for _ in range(2)]
    assert all(taken)
    # Stream entries are read ahead; call requests are popped one per poll while handlers
    # are quick (the third is still in Redis).
    assert len(first._inbox) == (3 if expiration is None else 2)
    taken[0].ack()  # type: ignore[union-attr]
    first.stop()
    first.cleanup()
    second = driver.listen(target(server="b"))
    try:
        bodies = set()
        while (incoming := second.poll(1.0)) is not None:
            bodies.add(incoming.body)
            incoming.ack()
        assert bodies == {b'{"n": 1}', b'{"n": 2}'}
    finally:
        second.cleanup()


def test_requeue_redelivers(renv: RedisEnv) -> None:
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    listener = driver.listen(target)
    try:
        driver.send(target, b'{"n": 4}')
        first = listener.poll(WAIT)
        assert first is not None and not first.redelivered
        first.requeue()
        again = listener.poll(WAIT)
        assert again is not None and again.body == b'{"n": 4}' and again.redelivered
        again.ack()
        assert listener.poll(0.3) is None
    finally:
        listener.cleanup()


def test_orphaned_reply_lists_expire(renv: RedisEnv) -> None:
    renv.with_options(reply_ttl=1)
    driver = renv.driver()
    orphan = driver.keys().reply("caller-that-died")
    driver.send_reply(orphan, b'{"result": 1}')
    assert renv.raw.exists(orphan)
    assert 0 < renv.raw.ttl(orphan) <= 1
    assert wait_for(lambda: not renv.raw.exists(orphan), 5.0)
    # A live consumer's list is deleted when it closes.
    got: list[bytes] = []
    consumer = driver.open_reply_consumer(lambda body, ct: got.append(body))
    driver.send_reply(consumer.address, b'{"result": 2}')
    consumer.poll(WAIT)  # a polled consumer: the caller's thread reads
    assert got == [b'{"result": 2}']
    consumer.close()
    assert not renv.raw.exists(consumer.address)
    # Addresses that are not reply lists of this driver are refused, not written.
    driver.send_reply(driver.keys().topic("victim"), b"{}")
    assert not renv.raw.exists(driver.keys().topic("victim"))


def test_fanout_listener_leaves_no_trace(renv: RedisEnv) -> None:
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    listener = driver.listen(target)
    keys = driver.keys()
    routes: list[Any] = list(renv.raw.zrange(keys.fanout_routes(topic), 0, -1))
    assert len(routes) == 1 and renv.raw.ttl(routes[0]) > 0
    driver.send(target(server=None, fanout=True), b'{"n": 5}')
    incoming = listener.poll(WAIT)
    assert incoming is not None and incoming.body == b'{"n": 5}'
    incoming.ack()
    listener.cleanup()
    assert not renv.raw.exists(routes[0])
    assert renv.raw.zcard(keys.fanout_routes(topic)) == 0


def test_expired_requests_are_dropped_by_the_consumer(renv: RedisEnv) -> None:
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    listener = driver.listen(target)
    try:
        # Connect first: the 0.2 s below is the request's whole budget, connecting included.
        driver.send(rpcmsg.Target(topic=topic, server="warm", exchange=renv.exchange), b"{}")
        # Call lists are popped only by polls: this request expires in Redis, unread.
        driver.send(target, b'{"late": true}', expiration=0.2)
        time.sleep(0.3)
        driver.send(target, b'{"late": false}', expiration=30.0)
        incoming = listener.poll(WAIT)
        assert incoming is not None and incoming.body == b'{"late": false}'
        incoming.ack()
        assert listener.poll(0.2) is None
    finally:
        listener.cleanup()


def test_keys_stay_under_the_exchange_prefix(renv: RedisEnv) -> None:
    topic = renv.unique()
    renv.server(topic, [Recorder()])
    client = renv.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value=1) == 1
    client.cast({}, "record", value=1)
    client.prepare(fanout=True).cast({}, "record", value=2)
    notifier = rpcmsg.Notifier(
        renv.notification_transport(), publisher_id="p", driver="messaging", topics=[topic]
    )
    notifier.info({}, "e", {})
    ours = [k.decode() for k in renv.raw.scan_iter(f"*{renv.exchange}*")]
    assert ours and all(k.startswith(renv.prefix + ":") for k in ours), ours


def test_exchanges_databases_and_vhosts_isolate(renv: RedisEnv) -> None:
    topic = renv.unique()
    renv.server(topic, [Recorder()])
    mandatory = rpcmsg.TransportOptions(at_least_once=True)
    base = renv.url.split("?")[0].rsplit("/", 1)[0]
    assert renv.client(topic, timeout=WAIT).call({}, "echo", value="in") == "in"
    for url in (f"{base}/1", f"{base}/tenant-b"):
        transport = rpcmsg.get_rpc_transport(renv.conf(), url)
        renv._transports.append(transport)
        client = rpcmsg.get_rpc_client(
            transport, rpcmsg.Target(topic=topic), timeout=WAIT, transport_options=mandatory
        )
        with pytest.raises(rpcmsg.MessageUndeliverable):
            client.call({}, "echo", value="out")
    renv.extra_prefixes.append(f"rpcmsg:tenant-b:{renv.exchange}")
    other = renv.client(topic, timeout=WAIT, transport_options=mandatory)
    with pytest.raises(rpcmsg.MessageUndeliverable):
        other.prepare(exchange=renv.unique("exchange")).call({}, "echo", value="out")


def test_cleanup_wakes_the_blocked_reader_at_once(renv: RedisEnv) -> None:
    """``stop`` ends the reader's blocking read with ``CLIENT UNBLOCK`` rather than waiting
    for it to time out (half the socket timeout), also when acks ride on that read."""
    renv.with_options(socket_timeout=10)  # the read would block for 5 s
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    listener = driver.listen(target)
    for n in range(2):
        # The first ack is written with the read that follows the second message.
        driver.send(target, f'{{"n": {n}}}'.encode())
        incoming = listener.poll(WAIT)
        assert incoming is not None
        incoming.ack()
    assert listener.poll(0.2) is None
    started = time.monotonic()
    listener.cleanup()
    assert time.monotonic() - started < 2.0
    stream = driver.keys().topic(topic)
    assert renv.raw.xpending(stream, "rpc")["pending"] == 0  # the ack was written


def test_call_lists_of_a_topic_whose_servers_are_gone_expire(renv: RedisEnv) -> None:
    topic = renv.unique()
    server = renv.server(topic, [Recorder()])
    server.stop()
    server.wait()
    driver = renv.driver()
    driver.send(rpcmsg.Target(topic=topic, exchange=renv.exchange), b"{}", expiration=1.0)
    calls = driver.keys().calls(topic)
    assert renv.raw.llen(calls) == 1  # the request waits, for as long as its caller could
    assert 0 < renv.raw.pttl(calls) <= 1000
    assert wait_for(lambda: not renv.raw.exists(calls), 5.0)


def test_consumers_long_idle_with_nothing_pending_are_forgotten(renv: RedisEnv) -> None:
    renv.with_options(claim_idle_time=0.1)  # forgotten after ten claim idle times: 1 s
    topic = renv.unique()
    target = rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange)
    driver = renv.driver()
    stream = driver.keys().topic(topic)
    listener = driver.listen(target)
    try:
        renv.raw.xgroup_createconsumer(stream, "rpc", "gone-consumer")
        driver.send(target, b"{}")  # the live listener becomes a consumer by reading
        incoming = listener.poll(WAIT)
        assert incoming is not None
        incoming.ack()

        def consumers() -> set[str]:
            return {c["name"].decode() for c in renv.raw.xinfo_consumers(stream, "rpc")}

        assert "gone-consumer" in consumers()
        assert wait_for(lambda: "gone-consumer" not in consumers(), 5.0)
        # A live consumer forgotten while quiet (Redis counts a read that finds nothing as
        # idle time) comes back with its next read: nothing is lost.
        driver.send(target, b'{"after": 1}')
        incoming = listener.poll(WAIT)
        assert incoming is not None and incoming.body == b'{"after": 1}'
        incoming.ack()
    finally:
        listener.cleanup()


@pytest.mark.parametrize("cut", [True, False], ids=["restart", "keys-deleted"])
def test_listener_recovers_when_redis_forgets_everything(renv: RedisEnv, cut: bool) -> None:
    """What a Redis restart without persistence looks like to a server: connections cut and
    every key gone (or only the keys). The listener declares its streams and group again."""
    topic = renv.unique()
    rec = Recorder()
    renv.server(topic, [rec])
    client = renv.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value="before") == "before"
    stream = renv.driver().keys().topic(topic)
    renv.raw.delete(*renv.keys())
    if cut:
        assert renv.kill_connections() > 0
    assert wait_for(lambda: renv.raw.exists(stream))
    client.cast({}, "record", value="after")
    assert wait_for(lambda: rec.seen == ["after"])
    assert client.call({}, "echo", value="again") == "again"


def test_unreachable_redis_gives_callers_a_timeout_not_a_hang(renv: RedisEnv) -> None:
    conf = renv.conf()
    transport = rpcmsg.get_rpc_transport(conf, "redis://127.0.0.1:1/0?retry_interval=0.05")
    renv._transports.append(transport)
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="t"), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.call({}, "echo", value=1)  # retries for ever by default, but not past 0.5 s
    assert time.monotonic() - started < 3.0
    with pytest.raises(rpcmsg.ClientSendError):
        client.prepare(retry=1).cast({}, "echo", value=1)


def test_transport_cleanup_stops_what_its_owner_left_open(renv: RedisEnv) -> None:
    transport = renv.transport()
    driver = renv.driver(transport)
    topic = renv.unique()
    listener = driver.listen(rpcmsg.Target(topic=topic, server="a", exchange=renv.exchange))
    assert isinstance(listener, RedisListener)
    consumer = driver.open_reply_consumer(lambda body, ct: None)
    transport.cleanup()
    assert listener.poll(0) is None
    assert not listener._streams.thread.is_alive()
    assert not renv.raw.exists(consumer.address)
    assert renv.raw.zcard(driver.keys().fanout_routes(topic)) == 0
