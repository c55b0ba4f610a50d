"""A Redis restart in the middle of streams of calls, casts and notifications.

The test starts a Redis of its own on a free port (never the shared one), with the
append-only file synced on every write (``appendfsync always``), stops it with SIGTERM (it
writes what it holds and exits) and starts it again on the same port and directory. Asserted
as everywhere in the fault suite (``tests.faults.failover.check``): traffic flows again by
itself, no call overruns its deadline or gets another's reply, no sender hangs, and no cast
or notification Redis acknowledged is lost (it persisted them before answering). The figures
go to ``tests.faults.figures``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rpcmsg
from tests.drivers import SPECS, DriverEnv
from tests.faults import figures
from tests.faults.failover import check, through_fault
from tests.faults.workload import Sink
from tests.helpers.processes import free_port, need, server_process

pytestmark = pytest.mark.faults

TIMEOUT = 2.0  # each call's timeout
RECOVERY = 30.0
DRAIN = 30.0
DOWN = 1.0  # seconds Redis stays down
FAST_RECOVERY = (
    "socket_timeout=1.5&socket_connect_timeout=1&retry_interval=0.1&retry_interval_max=1"
)


class OwnRedis:
    """A Redis process on ``port`` persisting to ``where``, restartable."""

    def __init__(self, binary: str, port: int, where: Path) -> None:
        self.port = port
        self.args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(where)]
        self.args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        self._stack.enter_context(server_process(self.args, self.port, f"Redis on {self.port}"))

    def stop(self) -> None:
        """SIGTERM, and wait for the exit (Redis flushes its append-only file first)."""
        self._stack.close()

    def restart(self) -> None:
        self.stop()
        time.sleep(DOWN)
        self.start()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(need("redis-server"), free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_redis_restart_mid_stream_loses_nothing(own_redis: OwnRedis) -> None:
    # No purge: the keys die with the test's Redis.
    env = DriverEnv(dataclasses.replace(SPECS["redis"], purge=None))
    env.url = f"redis://127.0.0.1:{own_redis.port}/0?{FAST_RECOVERY}"
    sink = Sink()
    topic, notify_topic = env.unique(), env.unique("notify")
    try:
        env.server(topic, [sink])
        listener = rpcmsg.get_notification_listener(
            env.notification_transport(), [rpcmsg.Target(topic=notify_topic)], [sink]
        )
        listener.start()
        env.track(listener)
        client = env.client(topic, timeout=TIMEOUT)
        notifier = rpcmsg.Notifier(
            env.notification_transport(),
            publisher_id="faults",
            driver="messagingv2",
            topics=[notify_topic],
            raise_on_failure=True,
        )
        outcome = through_fault(client, notifier, sink, TIMEOUT, own_redis.restart, RECOVERY, DRAIN)
        figures.record("restart", "redis", "sigterm-start", outcome.figures())
        check(outcome, RECOVERY, lossless=True)
    finally:
        env.close()
