"""The prefetch window of a listener whose queues are quorum queues or a stream, measured on
the broker, for the sync and the asyncio server.

RabbitMQ refuses a channel-wide (``global``) ``basic.qos`` on quorum queues and streams, so
there each of a server's consumers gets an equal share of the window (at least one message):
with a backlog on every queue and the server's one worker stuck, RabbitMQ holds at most the
window in all, and at least one message per queue (each consumer is served). With classic
queues only the window is channel-wide: at most the window in all, whatever the number of
queues (tests/amqp/test_window.py measures the sync side's pool sizes). A stream is the
exception: RabbitMQ delivers its chunks whole, so its consumer may hold a chunk past its
share.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg.opts import driver_opts, register_group
from tests.amqp import admin
from tests.conformance_async.env import AsyncDriverEnv, make_async_env
from tests.drivers import DriverEnv

BACKLOG = 20  # per queue
POOL = 3  # the server's workers: a window of 2 x 3 = 6 when rabbit_qos_prefetch_count is 0

#: Queue layouts: options, the window they give, the queue types of an RPC server's queues.
KINDS: dict[str, tuple[dict[str, Any], int, list[str]]] = {
    "classic": ({}, 2 * POOL, ["classic"] * 3),
    "quorum": ({"rabbit_quorum_queue": True}, 2 * POOL, ["quorum", "quorum", "classic"]),
    "all-quorum": (
        {"rabbit_quorum_queue": True, "rabbit_transient_quorum_queue": True},
        2 * POOL,
        ["quorum"] * 3,
    ),
    "stream-fanout": (
        {
            "rabbit_quorum_queue": True,
            "rabbit_transient_quorum_queue": True,
            "rabbit_stream_fanout": True,
            "rabbit_qos_prefetch_count": 10,
        },
        10,
        ["quorum", "quorum", "stream"],
    ),
}


def configured(env: DriverEnv, kind: str) -> Any:
    conf = env.conf()
    conf.set_override("executor_thread_pool_size", POOL)
    for group, opts in driver_opts():
        register_group(conf, group, opts)
    for name, value in KINDS[kind][0].items():
        conf.set_override(name, value, group="oslo_messaging_rabbit")
    return conf


def held(topic: str) -> dict[str, Any]:
    """What RabbitMQ says of the topic's queues: their types, each consumer's prefetch, and
    the messages delivered unsettled on the channels consuming them (channels count at once;
    a quorum queue's own count lags by the stats interval)."""
    queues = admin.rabbitmqctl("list_queues", "name", "type") or []
    consumers = admin.rabbitmqctl("list_consumers", "queue_name", "channel_pid", "prefetch_count")
    ours = [c for c in consumers or [] if c["queue_name"].startswith(topic)]
    pids = {c["channel_pid"] for c in ours}
    channels = admin.rabbitmqctl("list_channels", "pid", "messages_unacknowledged") or []
    return {
        "types": sorted(q["type"] for q in queues if q["name"].startswith(topic)),
        "prefetch": sorted(int(c["prefetch_count"]) for c in ours),
        "unsettled": sum(int(c["messages_unacknowledged"]) for c in channels if c["pid"] in pids),
        "channels": len(pids),
    }


def check(kind: str, seen: dict[str, Any], window: int) -> None:
    types = KINDS[kind][2]
    assert seen["types"] == sorted(types), seen
    assert seen["channels"] == 1, seen  # one listener, one channel
    total = seen["unsettled"]
    if kind == "classic":  # one channel-wide window (and each consumer the whole of it)
        assert seen["prefetch"] == [window] * len(types), seen
        assert 1 <= total <= window, f"{kind}: {total} messages held, window {window}: {seen}"
        return
    # Each consumer gets its share, at least one: every queue is served.
    share = max(1, window // len(types))
    listed = len([t for t in types if t != "stream"])  # list_consumers leaves streams out
    assert seen["prefetch"] == [share] * listed, (share, seen)
    bound = max(window, len(types))
    if "stream" in types:
        # RabbitMQ delivers a stream's chunks whole: its consumer may get a whole chunk past
        # its share (measured: 26 held for a window of 10, the fanout backlog being 20).
        bound += BACKLOG
    assert 1 <= total <= bound, f"{kind}: {total} held, window {window}: {seen}"


class Stuck:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()

    def work(self, ctxt: Any, n: int) -> None:
        self.started.set()
        self.gate.wait(30)


def backlog(client: Any) -> None:
    for n in range(BACKLOG):
        client.cast({}, "work", n=n)
        client.prepare(server="s1").cast({}, "work", n=n)
        client.prepare(fanout=True).cast({}, "work", n=n)


@pytest.mark.parametrize("kind", list(KINDS))
def test_sync_server_window_by_queue_kind(rabbit: DriverEnv, rabbitmqctl: str, kind: str) -> None:
    transport = rabbit.transport(configured(rabbit, kind))
    topic = rabbit.unique()
    stuck = Stuck()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s1"), [stuck])
    server.start(override_pool_size=1)  # one worker, stuck: the rest waits in the window
    rabbit.track(server)
    try:
        backlog(rabbit.client(topic, transport=transport))
        assert stuck.started.wait(10)
        time.sleep(1.0)  # time for RabbitMQ to deliver all it would
        seen = held(topic)
    finally:
        stuck.gate.set()
    # The sync window comes from the server's own pool (1 worker: 2), unless the option sets
    # it; smaller than the number of queues, each still gets one.
    options, window, _ = KINDS[kind]
    check(kind, seen, window if options.get("rabbit_qos_prefetch_count") else 2)


class AsyncStuck:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def work(self, ctxt: Any, n: int) -> None:
        self.started.set()
        await asyncio.wait_for(self.gate.wait(), 30)


@pytest_asyncio.fixture
async def arabbit() -> AsyncIterator[AsyncDriverEnv]:
    env = make_async_env("rabbit")
    yield env
    await env.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", list(KINDS))
async def test_async_server_window_by_queue_kind(
    arabbit: AsyncDriverEnv, rabbitmqctl: str, kind: str
) -> None:
    transport = arabbit.atransport(configured(arabbit, kind))
    topic = arabbit.unique()
    stuck = AsyncStuck()
    # max_concurrency POOL: the async window is twice the server's concurrency.
    await arabbit.aserver(topic, [stuck], transport=transport, max_concurrency=POOL)
    client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic))
    for n in range(BACKLOG):
        await client.cast({}, "work", n=n)
        await client.prepare(server="s1").cast({}, "work", n=n)
        await client.prepare(fanout=True).cast({}, "work", n=n)
    try:
        await asyncio.wait_for(stuck.started.wait(), 10)
        await asyncio.sleep(1.0)
        seen = await asyncio.to_thread(held, topic)
    finally:
        stuck.gate.set()
    # The async window: the option, else twice the server's max_concurrency.
    check(kind, seen, KINDS[kind][1])
