"""The Sentinel URL form against a real Sentinel: a ``redis-server --sentinel`` process
started by the test, on a free local port, monitoring the local Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from tests.drivers import IN_CI, REDIS_URL
from tests.redis.conftest import RedisEnv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def sentinel(tmp_path: Path, renv: RedisEnv) -> Iterator[tuple[int, str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is needed to start a Sentinel")
        pytest.skip("redis-server not installed")
    port = _free_port()
    service = f"rpcmsg-{port}"
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {service} 127.0.0.1 6379 1\n"
    )
    proc = subprocess.Popen(
        [binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"the Sentinel did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield port, service
    finally:
        renv.url = REDIS_URL  # the purge after the test reaches Redis directly
        proc.terminate()
        proc.wait(10)


def test_rpc_and_notifications_through_a_live_sentinel(
    renv: RedisEnv, sentinel: tuple[int, str]
) -> None:
    port, service = sentinel
    renv.url = f"redis+sentinel://127.0.0.1:{port}/0?sentinel_service_name={service}"

    class Api:
        def __init__(self) -> None:
            self.casts: list[Any] = []

        def echo(self, ctxt: Any, value: Any) -> Any:
            return value

        def record(self, ctxt: Any, value: Any) -> None:
            self.casts.append(value)

    api = Api()
    topic = renv.unique()
    renv.server(topic, [api])
    client = renv.client(topic, timeout=10)
    assert client.call({}, "echo", value="via sentinel") == "via sentinel"
    client.cast({}, "record", value=1)
    deadline = time.monotonic() + 10
    while not api.casts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.casts == [1]
    # The messages really went to the master the Sentinel named: the local Redis.
    assert renv.keys(), "no keys under the test's prefix on the monitored Redis"


def test_unknown_service_name_fails_clearly(renv: RedisEnv, sentinel: tuple[int, str]) -> None:
    port, _ = sentinel
    renv.url = f"redis+sentinel://127.0.0.1:{port}/0?sentinel_service_name=nosuchmaster"
    client = renv.client(renv.unique(), timeout=2, retry=0)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingException):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 15
