"""Reply and fanout queues of a process that was killed disappear by themselves.

RabbitMQ: they are declared with ``x-expires`` (``rabbit_transient_queues_ttl``). Redis: a
reply list lives ``reply_ttl`` after its last reply, a fanout stream
``transient_queues_ttl`` after its listener last refreshed it. Here both are 1 s, and the
owner is SIGKILLed in the middle of a call whose reply comes after its death.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.drivers import RABBIT_URL, REDIS_URL, DriverEnv, make_env

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
#: The bound: the 1 s expiry plus the brokers' own expiry checks, generously.
GONE_WITHIN = 20.0


class Slow:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def slow(self, ctxt: Any) -> str:
        self.started.set()
        self.release.wait(30)
        return "late"


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return bool(predicate())


def rabbit_queue_exists(name: str) -> bool:
    # Not a passive declare: that counts as a use and restarts the queue's expiry.
    from tests.amqp.admin import queue_info

    return queue_info(name) is not None


def rabbit_fanout_queues(topic: str) -> list[str]:
    from tests.amqp.admin import rabbitmqctl

    return [
        q["name"]
        for q in rabbitmqctl("list_queues", "name") or []
        if q["name"].startswith(f"{topic}_fanout")
    ]


@pytest.mark.parametrize("name", ["rabbit", "redis"])
def test_a_killed_clients_reply_and_fanout_queues_disappear(name: str) -> None:
    env: DriverEnv = make_env(name)
    try:
        _run(env)
    finally:
        env.close()


def _run(env: DriverEnv) -> None:
    import redis

    if env.name == "rabbit":
        url = RABBIT_URL + "?rabbit_transient_queues_ttl=1"
    else:
        url = REDIS_URL + "?reply_ttl=1&transient_queues_ttl=1"
    env.url = url  # the replier's reply_ttl sets the expiry of a Redis reply list
    called, own = env.unique(), env.unique()
    endpoint = Slow()
    env.server(called, [endpoint])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.orphan_client", url, env.exchange, own, called],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    raw = redis.Redis.from_url(REDIS_URL) if env.name == "redis" else None
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["REPLY"], line
        reply = line[1]
        assert endpoint.started.wait(20), "the child's call never came"
        if raw is None:
            assert rabbit_queue_exists(reply)
            fanouts = rabbit_fanout_queues(own)
        else:
            prefix = f"rpcmsg:{env.exchange}"
            fanouts = [k.decode() for k in raw.scan_iter(f"{prefix}:f:{own}:*")]
        assert fanouts, "the child's server has no fanout queue"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        endpoint.release.set()  # the reply goes to the dead caller's queue

        def gone(key: str) -> bool:
            if raw is None:
                return not rabbit_queue_exists(key)
            return not raw.exists(key)

        for key in [reply, *fanouts]:
            assert wait_for(lambda k=key: gone(k), GONE_WITHIN), f"{key} still there"
    finally:
        endpoint.release.set()
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if raw is not None:
            raw.close()
