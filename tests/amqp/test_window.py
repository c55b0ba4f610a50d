"""One prefetch window per listener, across its queues, sized from the server's own pool.

An RPC server consumes three queues (``<topic>``, ``<topic>.<server>`` and its fanout copy);
with a backlog on all three and its one worker stuck, RabbitMQ must not deliver more than
the window (twice the server's pool) in all: not a window per queue, and not one sized from
``executor_thread_pool_size`` when the server was started with a pool of its own.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from tests.amqp import admin
from tests.drivers import DriverEnv

BACKLOG = 20  # per queue


class Stuck:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()

    def work(self, ctxt: Any, n: int) -> None:
        self.started.set()
        self.gate.wait(30)


def unacknowledged(topic: str) -> int:
    """Messages RabbitMQ delivered and awaits the settlement of, over the topic's queues."""
    rows = admin.rabbitmqctl("list_queues", "name", "messages_unacknowledged") or []
    return sum(int(row["messages_unacknowledged"]) for row in rows if row["name"].startswith(topic))


@pytest.mark.parametrize(("conf_pool", "server_pool"), [(1, None), (8, 1)])
def test_a_server_holds_one_window_over_all_its_queues(
    rabbit: DriverEnv, rabbitmqctl: str, conf_pool: int, server_pool: int | None
) -> None:
    conf = rabbit.conf()
    conf.set_override("executor_thread_pool_size", conf_pool)
    transport = rabbit.transport(conf)
    topic = rabbit.unique()
    stuck = Stuck()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s1"), [stuck])
    server.start(override_pool_size=server_pool)
    rabbit.track(server)
    try:
        client = rabbit.client(topic)
        for n in range(BACKLOG):
            client.cast({}, "work", n=n)
            client.prepare(server="s1").cast({}, "work", n=n)
            client.prepare(fanout=True).cast({}, "work", n=n)
        assert stuck.started.wait(10)
        time.sleep(1.0)  # time for RabbitMQ to deliver all it would
        window = 2 * (server_pool or conf_pool)
        held = unacknowledged(topic)
        assert 1 <= held <= window, f"{held} messages held, window {window}"
    finally:
        stuck.gate.set()
