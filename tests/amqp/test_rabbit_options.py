"""The ``[oslo_messaging_rabbit]`` options: the same set as oslo.messaging's, and each one's
effect on the real RabbitMQ (queue and consumer arguments, queue names, reconnect delays,
the publishing pool, replies to missing reply queues)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import amqp
import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg import _wire
from tests.amqp import admin
from tests.amqp.conftest import oslo_python
from tests.amqp.test_driver import Echo
from tests.drivers import IN_CI, DriverEnv

WAIT = 10.0
OPTS_SCRIPT = Path(__file__).resolve().parent.parent / "interop" / "rabbit_opts.py"

#: rpcmsg's own options in the group, each with the reason it exists.
RPCMSG_ONLY = {
    "rabbit_confirm_window": "casts are confirmed in a window (oslo waits for each confirm)",
}


def transport(env: DriverEnv, **query: Any) -> rpcmsg.Transport:
    text = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in query.items())
    t = rpcmsg.get_rpc_transport(env.conf(), f"{env.url}?{text}" if text else env.url)
    env._transports.append(t)
    return t


def arguments(queue: str) -> dict[str, Any]:
    info = admin.queue_info(queue)
    assert info is not None, f"queue {queue} not found"
    return {name: value for name, _kind, value in info["arguments"]}


def consumer_arguments(queue: str) -> list[dict[str, Any]]:
    return [
        {name: value for name, _kind, value in c["arguments"]}
        for c in admin.rabbitmqctl("list_consumers", "queue_name", "arguments") or []
        if c["queue_name"] == queue
    ]


def queues_named(prefix: str) -> list[dict[str, Any]]:
    found = admin.rabbitmqctl("list_queues", "name", "durable", "arguments", "type") or []
    return [q for q in found if q["name"].startswith(prefix)]


# -- the option set ------------------------------------------------------------------------


def dump(python: str, library: str) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(OPTS_SCRIPT), library],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def test_rabbit_group_is_oslo_messagings() -> None:
    """Every option of oslo.messaging's group exists with its type, default, bounds,
    choices and deprecations; rpcmsg adds only the options listed in RPCMSG_ONLY."""
    python = oslo_python()
    if python is None:
        if IN_CI:
            pytest.fail("CI needs oslo.messaging: set RPCMSG_OSLO_PYTHON")
        pytest.skip("oslo.messaging's python not found (set RPCMSG_OSLO_PYTHON)")
    oslo = dump(python, "oslo_messaging")
    ours = dump(sys.executable, "rpcmsg")
    assert len(oslo) >= 37
    assert sorted(set(oslo) - set(ours)) == []
    assert sorted(set(ours) - set(oslo)) == sorted(RPCMSG_ONLY)
    differences = {
        name: {
            k: (oslo[name][k], ours[name][k]) for k in oslo[name] if oslo[name][k] != ours[name][k]
        }
        for name in oslo
    }
    assert {name: diff for name, diff in differences.items() if diff} == {}


def test_rpc_conn_pool_size_is_read_from_the_rabbit_group(rabbit: DriverEnv) -> None:
    conf = rabbit.conf()
    t = rpcmsg.get_rpc_transport(conf, rabbit.url)
    rabbit._transports.append(t)
    conf.set_override("rpc_conn_pool_size", 3, group="oslo_messaging_rabbit")
    t2 = rpcmsg.get_rpc_transport(conf, rabbit.url)
    rabbit._transports.append(t2)
    assert t.driver.publisher._size == 30 and t2.driver.publisher._size == 3
    with pytest.raises(rpcmsg.DriverLoadFailure, match="conn_pool_min_size"):
        transport(rabbit, rpc_conn_pool_size=1, conn_pool_min_size=2)


@pytest.mark.parametrize(
    "query, words",
    [
        ({"rabbit_ha_queues": True, "rabbit_quorum_queue": True}, "rabbit_ha_queues"),
        ({"rabbit_ha_queues": True, "rabbit_transient_quorum_queue": True}, "rabbit_ha_queues"),
        ({"rabbit_stream_fanout": True, "rabbit_transient_quorum_queue": True}, "prefetch"),
        ({"rabbit_stream_fanout": True, "rabbit_qos_prefetch_count": 5}, "transient_quorum"),
        ({"ssl": True, "ssl_version": "TLSv9"}, "Invalid ssl_version"),
        # Values AMQP or RabbitMQ cannot carry: refused by name, not a struct.error from
        # inside py-amqp (heartbeat, basic.qos are 16-bit) or a queue RabbitMQ never declares.
        ({"heartbeat_timeout_threshold": 65536}, "heartbeat_timeout_threshold"),
        ({"rabbit_qos_prefetch_count": 65536}, "rabbit_qos_prefetch_count"),
        ({"rabbit_transient_queues_ttl": 3650 * 86400 + 1}, "rabbit_transient_queues_ttl"),
    ],
)
def test_settings_that_cannot_work_together_are_refused(
    rabbit: DriverEnv, query: dict[str, Any], words: str
) -> None:
    with pytest.raises(rpcmsg.DriverLoadFailure, match=words):
        transport(rabbit, **query)


def test_the_largest_values_amqp_carries_work(rabbit: DriverEnv) -> None:
    """The bounds refused above are the real ones: just inside them, and with heartbeats
    off by a negative threshold (as in oslo.messaging), calls are served."""
    topic = rabbit.unique()
    t = transport(
        rabbit,
        heartbeat_timeout_threshold=-1,
        rabbit_qos_prefetch_count=65535,
        rabbit_transient_queues_ttl=3650 * 86400,
    )
    rabbit.server(topic, [Echo()], transport=t)
    assert rabbit.client(topic, transport=t, timeout=WAIT).call({}, "echo", value=1) == 1
    assert arguments(t._replies.address)["x-expires"] == 3650 * 86400 * 1000


# -- queue and consumer arguments -----------------------------------------------------------


def test_ha_queues_declare_x_ha_policy_everywhere(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, rabbit_ha_queues=True)
    rabbit.server(topic, [Echo()], transport=t)
    assert rabbit.client(topic, transport=t, timeout=WAIT).call({}, "echo", value=1) == 1
    reply = t._replies.address
    for queue in (topic, f"{topic}.s1", reply):
        assert arguments(queue).get("x-ha-policy") == "all", queue
    (fanout,) = queues_named(f"{topic}_fanout_")
    assert arguments(fanout["name"])["x-ha-policy"] == "all"


def test_quorum_limits_are_declared_and_enforced(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(
        rabbit,
        rabbit_quorum_queue=True,
        rabbit_quorum_delivery_limit=2,
        rabbit_quorum_max_memory_length=10,
        rabbit_quorum_max_memory_bytes=100000,
    )
    server = rabbit.server(topic, [Echo()], transport=t)
    assert arguments(topic) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 2,
        "x-max-in-memory-length": 10,
        "x-max-in-memory-bytes": 100000,
    }
    server.stop()
    server.wait()
    # The broker applies the delivery limit: a message requeued more often is dropped.
    rabbit.client(topic, transport=t).cast({}, "record", value="poison")
    with admin.channel() as ch:
        returned = 0
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = ch.basic_get(topic)
            if message is None:
                if returned:
                    break
                time.sleep(0.05)
                continue
            returned += 1
            ch.basic_reject(message.delivery_tag, requeue=True)
        assert returned == 3  # the first delivery and two redeliveries


def test_quorum_limits_apply_only_to_quorum_queues(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, rabbit_quorum_delivery_limit=2)
    rabbit.server(topic, [Echo()], transport=t)
    assert arguments(topic) == {}


def test_transient_quorum_queues_for_replies_and_fanout(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, rabbit_transient_quorum_queue=True)
    endpoint = Echo()
    rabbit.server(topic, [endpoint], transport=t)
    client = rabbit.client(topic, transport=t, timeout=WAIT)
    assert client.call({}, "echo", value="q") == "q"
    client.prepare(fanout=True).cast({}, "record", value="fan")
    assert endpoint.wait_for(lambda seen: seen == ["fan"])
    reply = t._replies.address
    (fanout,) = queues_named(f"{topic}_fanout_")
    for name in (reply, fanout["name"]):
        (info,) = queues_named(name)
        assert info["type"] == "quorum" and info["durable"] is True, info
        assert arguments(name)["x-expires"] == 1800 * 1000
    # Work queues stay as configured (classic, not durable).
    (work,) = queues_named(f"{topic}.s1")
    assert work["type"] == "classic" and work["durable"] is False


def test_cancel_on_failover_is_asked_for_by_every_consumer(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, enable_cancel_on_failover=True)
    rabbit.server(topic, [Echo()], transport=t)
    assert rabbit.client(topic, transport=t, timeout=WAIT).call({}, "echo", value=2) == 2
    (fanout,) = queues_named(f"{topic}_fanout_")
    for queue in (topic, f"{topic}.s1", fanout["name"], t._replies.address):
        assert consumer_arguments(queue) == [{"x-cancel-on-ha-failover": True}], queue
    plain = rabbit.unique()
    rabbit.server(plain, [Echo()])
    assert consumer_arguments(plain) == [{}]


STREAM = {
    "rabbit_stream_fanout": True,
    "rabbit_transient_quorum_queue": True,
    "rabbit_qos_prefetch_count": 10,
}


def test_stream_fanout_one_stream_read_by_every_listener(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    first, second = Echo(), Echo()
    rabbit.server(topic, [first], server="a", transport=transport(rabbit, **STREAM))
    late = rabbit.server(topic, [second], server="b", transport=transport(rabbit, **STREAM))
    (stream,) = queues_named(f"{topic}_fanout")
    assert stream["name"] == f"{topic}_fanout" and stream["type"] == "stream"
    assert stream["durable"] is True
    assert arguments(stream["name"]) == {"x-queue-type": "stream", "x-max-age": "1800s"}
    client = rabbit.client(topic, transport=transport(rabbit, **STREAM))
    client.prepare(fanout=True).cast({}, "record", value="both")
    assert first.wait_for(lambda seen: seen == ["both"])
    assert second.wait_for(lambda seen: seen == ["both"])
    # A listener going away leaves the shared stream to the others.
    late.stop()
    late.wait()
    rabbit._transports[-2].cleanup()
    client.prepare(fanout=True).cast({}, "record", value="still")
    assert first.wait_for(lambda seen: seen == ["both", "still"])
    assert queues_named(f"{topic}_fanout") != []


def test_stream_consumer_resumes_after_the_last_offset_it_read(rabbit: DriverEnv) -> None:
    """After a reconnection a listener reads on from where it was, so the messages sent
    while it was away all arrive (from offset ``last`` only the newest chunk would)."""
    topic = rabbit.unique()
    endpoint = Echo()
    t = transport(rabbit, kombu_reconnect_delay=2.0, **STREAM)
    rabbit.server(topic, [endpoint], transport=t)
    client = rabbit.client(topic, transport=transport(rabbit, **STREAM)).prepare(fanout=True)
    for value in range(3):
        client.cast({}, "record", value=value)
    # (A server's workers run casts in parallel: the order they finish in is not fixed.)
    assert endpoint.wait_for(lambda seen: sorted(seen) == [0, 1, 2])
    admin.close_connections(admin.connections_of())  # every connection of this process
    for value in range(3, 6):
        client.cast({}, "record", value=value)  # while the listener waits to reconnect
        time.sleep(0.1)
    assert endpoint.wait_for(lambda seen: len(seen) >= 6, timeout=15.0)
    assert sorted(endpoint.seen) == [0, 1, 2, 3, 4, 5]


# -- queue manager --------------------------------------------------------------------------


def test_queue_manager_names_reply_and_fanout_queues_stably(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    host, proc = f"host-{uuid.uuid4().hex[:8]}", "rpcmsg-tests"
    counter = Path(f"/dev/shm/{host}_{proc}_qmanager")
    names = {"use_queue_manager": True, "hostname": host, "processname": proc}
    try:
        t = transport(rabbit, **names)
        server = rabbit.server(topic, [Echo()], transport=t)
        assert rabbit.client(topic, transport=t, timeout=WAIT).call({}, "echo", value=3) == 3
        assert queues_named(f"{topic}_fanout_")[0]["name"] == f"{topic}_fanout_{host}:{proc}:1"
        assert t._replies.address == f"reply_{host}:{proc}:2"
        group = os.getpgrp()
        assert counter.read_text().split(":")[:2] == [str(group), "2"]
        # Another transport of the same generation takes the next number.
        t2 = transport(rabbit, **names)
        assert rabbit.client(topic, transport=t2, timeout=WAIT).call({}, "echo", value=4) == 4
        assert t2._replies.address == f"reply_{host}:{proc}:3"
        # Stable names outlive their transport (the next generation takes them again).
        server.stop()
        server.wait()
        t.cleanup()
        t2.cleanup()
        assert queues_named(f"{topic}_fanout_{host}:") != []
        assert queues_named(f"reply_{host}:{proc}:") != []
        # A new generation (another process group) starts over at 1.
        code = (
            "import rpcmsg_drivers.amqp.qmanager as q;"
            f"print(q.QueueManager({host!r}, {proc!r}).next_name())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            start_new_session=True,
        ).stdout.strip()
        assert out == f"{host}:{proc}:1"
    finally:
        counter.unlink(missing_ok=True)
        with admin.channel() as ch:
            for queue in queues_named(f"reply_{host}:"):
                ch.queue_delete(queue["name"])


# -- reconnecting ----------------------------------------------------------------------------


def queue_exists(conn: Any, name: str) -> bool:
    channel = conn.channel()
    try:
        channel.queue_declare(name, passive=True)
    except amqp.exceptions.NotFound:
        return False
    channel.close()
    return True


def test_consumer_cancelled_waits_kombu_reconnect_delay(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, kombu_reconnect_delay=2.0)
    rabbit.server(topic, [Echo()], transport=t)
    conn = amqp.Connection("127.0.0.1:5672")
    conn.connect()
    try:
        conn.channel().queue_delete(f"{topic}.s1")  # RabbitMQ cancels the server's consumer
        gone = time.monotonic()
        while not queue_exists(conn, f"{topic}.s1"):
            assert time.monotonic() - gone < WAIT, "the listener never declared its queue again"
            time.sleep(0.05)
        waited = time.monotonic() - gone
    finally:
        conn.close()
    assert waited >= 1.9
    assert rabbit.client(topic, transport=t, timeout=WAIT).call({}, "echo", value=5) == 5


def test_reconnect_splay_adds_a_random_part_to_the_delay() -> None:
    from rpcmsg_drivers.amqp.connection import Connector
    from rpcmsg_drivers.amqp.options import Settings

    url = rpcmsg.TransportURL.parse(cfg.ConfigOpts(), "rabbit://")
    plain = Connector(url, Settings(kombu_reconnect_delay=0.5))
    assert {plain.reconnect_delay() for _ in range(20)} == {0.5}
    splayed = Connector(url, Settings(kombu_reconnect_delay=0.5, kombu_reconnect_splay=2.0))
    delays = [splayed.reconnect_delay() for _ in range(200)]
    assert all(0.5 <= d <= 2.5 for d in delays)
    assert max(delays) - min(delays) > 1.0  # spread, not one fixed value


# -- the publishing pool ---------------------------------------------------------------------


def open_links(t: rpcmsg.Transport, count: int) -> None:
    """Make the transport's publisher open ``count`` connections (as many parallel senders
    would) and leave them idle."""
    from rpcmsg_drivers.amqp.link import Link

    publisher = t.driver.publisher
    links = [publisher._acquire() for _ in range(count)]
    for link in links:
        link.channel(Link.PLAIN)
        link.last_used = time.monotonic()
        link.lock.release()


def wait_connections(count: int, timeout: float = WAIT) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = len(admin.connections_of())
        except subprocess.CalledProcessError:  # rabbitmqctl busy: ask again
            found = -1
        if found == count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_idle_publishing_connections_beyond_the_minimum_expire(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint])  # its connection is a listener's: it never expires
    t = transport(rabbit, rpc_conn_pool_size=4, conn_pool_min_size=1, conn_pool_ttl=4)
    open_links(t, 3)
    assert wait_connections(4, timeout=2.0) == 4
    assert wait_connections(2) == 2  # the listener's and the one kept by conn_pool_min_size
    client = rabbit.client(topic, transport=t)
    for value in range(3):
        client.cast({}, "record", value=value)
    assert endpoint.wait_for(lambda seen: len(seen) == 3)


def test_idle_publishing_connections_up_to_the_minimum_stay(rabbit: DriverEnv) -> None:
    t = transport(rabbit, rpc_conn_pool_size=4, conn_pool_min_size=3, conn_pool_ttl=1)
    open_links(t, 3)
    time.sleep(2.5)  # past the TTL: nothing to expire, all three are the minimum
    assert wait_connections(3, timeout=0) == 3


# -- replies to a missing reply queue ---------------------------------------------------------


def call_with_reply_queue(env: DriverEnv, t: rpcmsg.Transport, topic: str, reply_q: str) -> str:
    """Send an ``echo`` call request whose reply goes to ``reply_q``; returns its msg_id."""
    msg_id = _wire.new_id()
    body = _wire.encode(
        {
            "method": "echo",
            "args": {"value": "late"},
            "_msg_id": msg_id,
            "_reply_q": reply_q,
            "_unique_id": _wire.new_id(),
        }
    )
    t.driver.send(rpcmsg.Target(topic=topic, exchange=env.exchange), body, expiration=30.0)
    return msg_id


def reply_in(queue: str, *, after: float, wait: float) -> Any:
    """Declare ``queue`` ``after`` seconds from now, then read a reply from it for up to
    ``wait`` seconds; returns the decoded reply or None. Deletes the queue."""
    time.sleep(after)
    with admin.channel() as ch:
        ch.queue_declare(queue, auto_delete=False)
        try:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                message = ch.basic_get(queue, no_ack=True)
                if message is not None:
                    return _wire.decode(message.body)
                time.sleep(0.05)
            return None
        finally:
            ch.queue_delete(queue)


def test_reply_to_a_missing_queue_is_sent_again_until_the_queue_is_back(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()
    server_side = transport(rabbit, kombu_missing_consumer_retry_timeout=10)
    rabbit.server(topic, [Echo()], transport=server_side)
    queue = f"reply_{uuid.uuid4().hex}"
    msg_id = call_with_reply_queue(rabbit, transport(rabbit), topic, queue)
    reply = reply_in(queue, after=1.5, wait=WAIT)
    assert reply is not None and reply["_msg_id"] == msg_id and reply["result"] == "late"


def test_reply_to_a_missing_queue_is_dropped_after_the_retry_timeout(
    rabbit: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    topic = rabbit.unique()
    server_side = transport(rabbit, kombu_missing_consumer_retry_timeout=1)
    rabbit.server(topic, [Echo()], transport=server_side)
    queue = f"reply_{uuid.uuid4().hex}"
    with caplog.at_level("ERROR", logger="rpcmsg_drivers.amqp.replies"):
        call_with_reply_queue(rabbit, transport(rabbit), topic, queue)
        assert reply_in(queue, after=3.0, wait=1.5) is None
    assert any(queue in record.getMessage() for record in caplog.records)


def test_without_direct_mandatory_flag_a_reply_to_a_missing_queue_is_lost(
    rabbit: DriverEnv,
) -> None:
    topic = rabbit.unique()
    server_side = transport(rabbit, direct_mandatory_flag=False)
    rabbit.server(topic, [Echo()], transport=server_side)
    queue = f"reply_{uuid.uuid4().hex}"
    call_with_reply_queue(rabbit, transport(rabbit), topic, queue)
    assert reply_in(queue, after=1.0, wait=1.0) is None
