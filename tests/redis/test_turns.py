"""The workers of a Redis RPC server pop call requests themselves, taking turns.

What the turn must never cost: a cast waiting behind a worker blocked in a pop (the doorbell),
a stop waiting for a pop to time out. ``socket_timeout=20`` makes every blocking pop last
10 s, so that each would show as a wait of seconds. What holds on every driver (slow
handlers, stop) is in ``tests/conformance/test_workers.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import rpcmsg
from tests.redis.conftest import RedisEnv

LONG_POP = {"socket_timeout": 20}


class Endpoint:
    def __init__(self) -> None:
        self.casts: list[Any] = []
        self.cast_seen = threading.Event()

    def quick(self, ctxt: Any, value: Any) -> Any:
        return value

    def slow(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slow"

    def note(self, ctxt: Any, value: Any) -> None:
        self.casts.append(value)
        self.cast_seen.set()


def test_a_cast_wakes_the_only_worker_out_of_its_pop(renv: RedisEnv) -> None:
    renv.with_options(**LONG_POP)
    topic = renv.unique()
    endpoint = Endpoint()
    server = rpcmsg.get_rpc_server(
        renv.transport(), rpcmsg.Target(topic=topic, server="s1"), [endpoint]
    )
    server.start(override_pool_size=1)
    renv.track(server)
    client = renv.client(topic, timeout=10)
    assert client.call({}, "quick", value=1) == 1  # the worker is back in its pop
    time.sleep(0.2)
    started = time.monotonic()
    client.cast({}, "note", value="rang")
    assert endpoint.cast_seen.wait(10)
    assert time.monotonic() - started < 2.0
    assert endpoint.casts == ["rang"]


def test_stop_ends_a_pop_at_once(renv: RedisEnv) -> None:
    renv.with_options(**LONG_POP)
    topic = renv.unique()
    server = renv.server(topic, [Endpoint()])
    client = renv.client(topic, timeout=10)
    assert client.call({}, "quick", value=1) == 1
    time.sleep(0.2)  # back in a 10 s pop
    started = time.monotonic()
    server.stop()
    server.wait()
    assert time.monotonic() - started < 2.0


def test_calls_go_on_when_the_readers_connections_are_killed(renv: RedisEnv) -> None:
    """The call reader and the reply consumer are read by pollers and callers: a killed
    connection is opened again by their next read."""
    topic = renv.unique()
    server = renv.server(topic, [Endpoint()])
    client = renv.client(topic, timeout=10)
    for n in range(12):
        assert client.call({}, "quick", value=n) == n
        if n % 3 == 2:
            time.sleep(0.05)  # both readers are back in their blocking pops
            # Of these two transports only: other tests' may still be open in this process.
            killed = renv.kill_connections(":calls", server.transport)
            assert killed + renv.kill_connections(":reply", client.transport) == 2
