"""Calls between processes sharing a broker (drivers with ``cross_process``), including a
server process killed in the middle of a call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import rpcmsg
from tests.conformance.test_crossprocess_notify import ROOT, _expect_line, _require_cross_process
from tests.drivers import DriverEnv

WAIT = 20.0


@pytest.fixture
def server_process(env: DriverEnv) -> Iterator[tuple[subprocess.Popen[str], str]]:
    _require_cross_process(env)
    topic = env.unique()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.rpc_server", env.url, env.exchange, topic],
        cwd=ROOT,
        stdin=subprocess.PIPE,  # the server runs until its stdin closes
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _expect_line(child, "READY")
        yield child, topic
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=WAIT)


def test_calls_reach_a_server_in_another_process(
    env: DriverEnv, server_process: tuple[subprocess.Popen[str], str]
) -> None:
    child, topic = server_process
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "pid") == child.pid
    assert client.prepare(server="child").call({}, "pid") == child.pid


def test_a_monitored_call_ends_soon_after_its_server_process_dies(
    env: DriverEnv, server_process: tuple[subprocess.Popen[str], str]
) -> None:
    child, topic = server_process
    client = env.client(topic, timeout=60, call_monitor_timeout=1.0)
    outcome: list[Any] = []

    def call() -> None:
        started = time.monotonic()
        try:
            outcome.append(client.call({}, "sleep", seconds=30))
        except rpcmsg.MessagingTimeout as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - started)

    caller = threading.Thread(target=call)
    caller.start()
    _expect_line(child, "SLEEPING")
    time.sleep(1.5)  # keep-alives are flowing: the call is still running
    assert outcome == []
    child.send_signal(signal.SIGKILL)
    caller.join(WAIT)
    assert isinstance(outcome[0], rpcmsg.MessagingTimeout)
    assert outcome[1] < 10  # the call monitor's second, not the call's minute
