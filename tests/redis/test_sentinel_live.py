"""The Sentinel URL form against a real Sentinel: a ``redis-server --sentinel`` process
started by the test, on a free local port, monitoring the local Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rpcmsg
from tests.drivers import REDIS_URL
from tests.helpers.processes import EchoRecord, free_port, need, server_process
from tests.redis.conftest import RedisEnv


@pytest.fixture
def sentinel(tmp_path: Path, renv: RedisEnv) -> Iterator[tuple[int, str]]:
    binary = need("redis-server")
    port = free_port()
    service = f"rpcmsg-{port}"
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {service} 127.0.0.1 6379 1\n"
    )
    try:
        with server_process([binary, str(conf), "--sentinel"], port, "the Sentinel"):
            yield port, service
    finally:
        renv.url = REDIS_URL  # the purge after the test reaches Redis directly


def test_rpc_and_notifications_through_a_live_sentinel(
    renv: RedisEnv, sentinel: tuple[int, str]
) -> None:
    port, service = sentinel
    renv.url = f"redis+sentinel://127.0.0.1:{port}/0?sentinel_service_name={service}"

    api = EchoRecord()
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
