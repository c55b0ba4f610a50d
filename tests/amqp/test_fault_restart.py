"""Stopping and restarting RabbitMQ in the middle of a stream of casts loses none of them.

Disruptive: every connection to the broker drops while it is stopped, so this module stands
alone and is marked slow (``-m "not slow"`` leaves it out).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from tests.amqp import admin
from tests.drivers import DriverEnv

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(admin.RABBITMQCTL is None, reason="rabbitmqctl not found"),
]

#: Casts sent before the stop, and after the restart.
AHEAD = 300


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.cond = threading.Condition()

    def record(self, ctxt: Any, value: int) -> None:
        with self.cond:
            self.seen.append(value)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(set(self.seen)) >= count, timeout)


def test_durable_casts_survive_a_broker_restart(rabbit: DriverEnv) -> None:
    url = f"{rabbit.url}?amqp_durable_queues=true&rabbit_retry_interval=1&rabbit_retry_backoff=0"
    topic = rabbit.unique()
    endpoint = Recorder()

    def transport() -> rpcmsg.Transport:
        t = rpcmsg.get_rpc_transport(rabbit.conf(), url)
        rabbit._transports.append(t)
        return t

    rabbit.server(topic, [endpoint], transport=transport())
    client = rabbit.client(topic, transport=transport())
    errors: list[BaseException] = []
    sent = [0]
    enough = threading.Event()

    def send() -> None:
        try:
            while not enough.is_set():
                client.cast({}, "record", value=sent[0])
                sent[0] += 1
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert endpoint.wait_for(AHEAD, 30), "casts did not flow before the restart"
        at_stop = sent[0]
        admin.rabbitmqctl("stop_app", timeout=60)
        time.sleep(0.5)  # let both sides notice the broker is gone
    finally:
        admin.rabbitmqctl("start_app", timeout=60)
    at_start = sent[0]
    deadline = time.monotonic() + 30
    while sent[0] < at_start + AHEAD and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    enough.set()
    sender.join(60)
    total = sent[0]
    assert not sender.is_alive() and not errors, errors
    assert total >= at_start + AHEAD > at_stop + AHEAD, "the stream did not span the restart"
    assert endpoint.wait_for(total, 30), f"{total - len(set(endpoint.seen))} of {total} lost"
    assert sorted(set(endpoint.seen)) == list(range(total))
    rabbit.close()
    admin.purge([topic], [rabbit.exchange])
