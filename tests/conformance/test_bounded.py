"""Bounded memory on every driver: a listener holds at most its prefetch window of a backlog.

A queue of 3,000 casts and one slow worker: what the process holds (delivered, not yet
handled) stays within the driver's bound instead of growing with the backlog.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import rpcmsg
from tests.drivers import DriverEnv

TOTAL = 3000
POOL = 1


class Slow:
    def __init__(self) -> None:
        self.handled = 0
        self.lock = threading.Lock()

    def work(self, ctxt: Any, n: int) -> None:
        time.sleep(0.2)
        with self.lock:
            self.handled += 1


def waiting_on_broker(env: DriverEnv, transport: rpcmsg.Transport, topic: str) -> int:
    """How many of the topic's messages the broker still keeps (not delivered)."""
    driver: Any = transport.driver
    if env.name == "rabbit":
        from tests.amqp.admin import channel

        with channel() as ch:
            return int(ch.queue_declare(topic, passive=True).message_count)
    if env.name == "redis":
        import redis

        stream = driver.keys().topic(topic)
        raw = redis.Redis.from_url(env.url.split("?", 1)[0])
        try:
            return int(raw.xlen(stream)) - int(raw.xpending(stream, "rpc")["pending"])
        finally:
            raw.close()
    queue = driver.broker.queues[(env.exchange, topic)]
    return len(queue.backlog)


def bound(env: DriverEnv) -> int:
    """The most a listener of a pool of ``POOL`` workers may hold, per the spec sheets."""
    if env.name == "redis":
        return 16 + POOL  # prefetch_count read ahead, plus what the workers handle
    return 2 * POOL  # the prefetch window: twice executor_thread_pool_size


def test_a_listener_holds_a_bounded_share_of_a_backlog(env: DriverEnv) -> None:
    conf = env.conf()
    conf.set_override("executor_thread_pool_size", POOL)
    transport = env.transport(conf)
    topic = env.unique()
    slow = Slow()
    server = env.server(topic, [slow], transport=transport)
    server.stop()
    server.wait()  # the topic's queue stays, with no consumer
    client = env.client(topic)
    for n in range(TOTAL):
        client.cast({}, "work", n=n)
    server.start()
    time.sleep(1.5)  # a measuring window, not a deadline
    handled = slow.handled
    waiting = waiting_on_broker(env, transport, topic)
    held = TOTAL - handled - waiting
    # One more than the bound: a cast may finish between reading ``handled`` and the broker.
    assert held <= bound(env) + 1, f"{held} of {TOTAL} held in the process"
    assert handled + held > 0  # the server did consume
