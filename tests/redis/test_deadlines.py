"""The deadline contract against a Redis that hangs inside redis-py's own commands.

The conformance deadline tests hang the broker at connection time or slow every byte; these
hang one connection at the first command holding a marker (``tests.helpers.brokers.
blackhole_at``), so that each command redis-py sends by itself on a call's path is the one
that never gets an answer: the handshake (``CLIENT SETNAME``), the reply consumer's ``CLIENT
ID``, the pool's health check (``PING``) and ``SCRIPT LOAD`` after ``NOSCRIPT`` (on a Redis
of the test's own, whose script cache is empty as after a restart). Each must end by the
call's deadline, not after the socket timeout; a cast with ``retry=N`` ends within ``N + 1``
attempts of connect plus socket timeout, with the backoff between them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from rpcmsg.driver.base import DEADLINE_SLACK
from tests.helpers.brokers import blackhole_at
from tests.helpers.processes import free_port, need, server_process
from tests.redis.conftest import RedisEnv

#: Long enough that a command left to the socket timeout overruns any deadline here.
SOCKET_TIMEOUT = 5.0
TIMEOUT = 1.0

#: marker -> (what hangs, whether it needs a Redis with an empty script cache, URL options)
HANGS: dict[str, tuple[bytes, bool, str]] = {
    "handshake": (b"SETNAME", False, ""),
    "client-id": (b"$2\r\nID\r\n", False, ""),
    "health-check": (b"PING", False, "&health_check_interval=1"),
    "script-load": (b"SCRIPT", True, ""),
}


@pytest.fixture(scope="module")
def fresh_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Redis of this module's own (never the shared one): its port."""
    binary = need("redis-server")
    port = free_port()
    where: Path = tmp_path_factory.mktemp("redis")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(where)]
    args += ["--save", "", "--appendonly", "no"]
    with server_process(args, port, f"Redis on {port}"):
        yield port


@contextlib.contextmanager
def _hung_transport(
    renv: RedisEnv,
    fresh_redis: int,
    case: str,
    extra: str = "",
    socket_timeout: float = SOCKET_TIMEOUT,
    armed: threading.Event | None = None,
) -> Iterator[rpcmsg.Transport]:
    marker, fresh, options = HANGS[case]
    upstream = fresh_redis if fresh else 6379
    with blackhole_at(upstream, marker, armed) as port:
        url = f"redis://127.0.0.1:{port}/0?socket_timeout={socket_timeout}{options}{extra}"
        transport = rpcmsg.get_rpc_transport(renv.conf(), url)
        try:
            yield transport
        finally:
            transport.cleanup()


def _outcome(fn: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        outcome = fn()
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - started


@pytest.mark.parametrize("case", list(HANGS))
def test_a_call_ends_by_its_deadline_whatever_command_hangs(
    renv: RedisEnv, fresh_redis: int, case: str
) -> None:
    armed = threading.Event()
    if case != "health-check":
        armed.set()
    with _hung_transport(renv, fresh_redis, case, armed=armed) as transport:
        target = rpcmsg.Target(topic=renv.unique())
        client = rpcmsg.get_rpc_client(transport, target, timeout=TIMEOUT)
        if case == "health-check":
            # A connection idle longer than the check interval is PINGed before use.
            client.cast({}, "warm")
            armed.set()
            time.sleep(1.2)
        for _ in range(2):  # the second call finds what the first left behind
            outcome, took = _outcome(lambda: client.call({}, "echo", value="x"))
            assert isinstance(outcome, rpcmsg.MessagingTimeout), outcome
            assert took < TIMEOUT + DEADLINE_SLACK, f"{case}: the call took {took:.2f}s"


@pytest.mark.parametrize("case", ["handshake", "script-load"])
@pytest.mark.parametrize("retry", [0, 1])
def test_a_cast_ends_within_its_retry_budget_whatever_command_hangs(
    renv: RedisEnv, fresh_redis: int, case: str, retry: int
) -> None:
    fast = "&socket_connect_timeout=1&retry_interval=0.2"
    with _hung_transport(renv, fresh_redis, case, fast, socket_timeout=1.0) as transport:
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=renv.unique()), retry=retry)
        outcome, took = _outcome(lambda: client.cast({}, "record", value=1))
        assert isinstance(outcome, rpcmsg.ClientSendError), outcome
        budget = (retry + 1) * (1.0 + 1.0) + retry * 0.2
        assert took < budget + DEADLINE_SLACK, f"{case}: the cast took {took:.2f}s"
