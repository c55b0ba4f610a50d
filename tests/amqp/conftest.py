"""Fixtures of the RabbitMQ driver's own tests: a rabbit environment and oslo.messaging peers."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.drivers import IN_CI, DriverEnv, make_env
from tests.helpers.processes import need

PEER = Path(__file__).resolve().parent.parent / "interop" / "oslo_peer.py"


def oslo_python() -> str | None:
    """The python of the virtualenv holding oslo.messaging, or None."""
    path = os.environ.get("RPCMSG_OSLO_PYTHON")
    if path:
        return path
    default = "/tmp/osloenv/bin/python"
    return default if os.path.exists(default) else None


@pytest.fixture
def rabbitmqctl() -> str:
    """The path of rabbitmqctl, for tests that inspect or close the broker's connections
    (skipped locally, failed in CI, without it)."""
    return need("rabbitmqctl")


@pytest.fixture
def rabbit() -> Iterator[DriverEnv]:
    """The rabbit driver environment (skipped locally, failed in CI, when unavailable)."""
    env = make_env("rabbit")
    yield env
    env.close()


class OsloPeer:
    """A running ``tests/interop/oslo_peer.py``; its JSON lines are read in a thread."""

    def __init__(self, python: str, mode: str, url: str, exchange: str, topic: str) -> None:
        self.lines: queue.Queue[Any] = queue.Queue()
        self.proc = subprocess.Popen(
            [python, str(PEER), mode, url, exchange, topic],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, timeout: float = 20.0) -> Any:
        """The next JSON line; fails with the peer's stderr when it ended or stayed silent."""
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            item = None
        if item is None:
            self.close()
            pytest.fail(f"oslo peer gave no output; stderr:\n{self.stderr}")
        return item

    stderr = ""

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stderr is not None
        if not self.proc.stderr.closed:
            self.stderr = self.proc.stderr.read()[-4000:]
            self.proc.stderr.close()


@pytest.fixture
def oslo_peer() -> Iterator[Any]:
    """Starts oslo.messaging peers: ``oslo_peer(mode, url, exchange, topic)``."""
    python = oslo_python()
    if python is None:
        if IN_CI:
            pytest.fail("CI needs oslo.messaging: set RPCMSG_OSLO_PYTHON")
        pytest.skip("oslo.messaging's python not found (set RPCMSG_OSLO_PYTHON)")
    peers: list[OsloPeer] = []

    def start(mode: str, url: str, exchange: str, topic: str) -> OsloPeer:
        peer = OsloPeer(python, mode, url, exchange, topic)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.close()
