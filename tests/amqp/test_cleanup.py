"""Closing against a broker that does not answer: ``transport.cleanup()`` and a server's
``wait()`` end within the driver's stated ``CLOSE_TIMEOUT`` per step (the closing
handshakes' socket I/O is bounded), whether the broker never answered or went silent on
connections that were working."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rpcmsg_drivers.amqp.connection import CLOSE_TIMEOUT

import rpcmsg
from tests.drivers import DriverEnv
from tests.faults.proxy import FaultProxy
from tests.helpers.brokers import silent_broker
from tests.helpers.processes import EchoRecord

#: Thread wake-ups and a poller's turn on a loaded machine.
SLACK = 0.7


def took(step: Callable[[], Any], limit: float) -> float:
    """Seconds ``step()`` took; fails (instead of hanging) when it is still running after
    ``limit`` seconds and more."""
    done = threading.Event()
    started = time.monotonic()

    def run() -> None:
        step()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(limit + 10), f"still closing after {limit + 10:.0f} s"
    return time.monotonic() - started


def test_cleanup_of_a_transport_whose_broker_never_answered(rabbit: DriverEnv) -> None:
    with silent_broker() as port:
        url = f"rabbit://guest:guest@127.0.0.1:{port}/"
        transport = rpcmsg.get_rpc_transport(rabbit.conf(), url)
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="t"), timeout=0.5)
        try:
            client.call({}, "echo", value=1)
        except rpcmsg.MessagingTimeout:
            pass
        # The reply consumer's keeping thread is in its next attempt to connect by now.
        time.sleep(1.5)
        assert took(transport.cleanup, CLOSE_TIMEOUT) < CLOSE_TIMEOUT + SLACK


def test_cleanup_when_the_broker_went_silent(rabbit: DriverEnv) -> None:
    with FaultProxy(5672) as proxy:
        url = proxy.url(rabbit.url)
        topic = rabbit.unique()
        api = EchoRecord()
        server = rpcmsg.get_rpc_server(
            rpcmsg.get_rpc_transport(rabbit.conf(), url),
            rpcmsg.Target(topic=topic, server="s1"),
            [api],
        )
        server.start()
        transport = rpcmsg.get_rpc_transport(rabbit.conf(), url)
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=10)
        assert client.call({}, "echo", value=1) == 1
        client.cast({}, "record", value=2)
        deadline = time.monotonic() + 10
        while not api.casts and time.monotonic() < deadline:
            time.sleep(0.02)
        assert api.casts == [2]
        time.sleep(0.3)  # the cast's confirm is read: nothing left to flush
        proxy.stall()  # every connection open, the broker silent from now on
        # Two steps: the reply consumer, then the publishing connections.
        assert took(transport.cleanup, 2 * CLOSE_TIMEOUT) < 2 * CLOSE_TIMEOUT + SLACK
        server.stop()
        assert took(server.wait, CLOSE_TIMEOUT) < CLOSE_TIMEOUT + SLACK
        server.transport.cleanup()
