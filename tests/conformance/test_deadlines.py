"""The deadline contract (``rpcmsg.driver.base``), through the public API, on every driver.

A call returns its result, raises the remote error or raises ``MessagingTimeout`` within its
``timeout`` plus ``DEADLINE_SLACK``, whatever the broker does: refuses connections, takes
them and never answers, or answers slowly. A cast with ``retry=N`` ends within its budget.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rpcmsg
from rpcmsg.driver.base import DEADLINE_SLACK
from tests.drivers import DriverEnv
from tests.helpers.brokers import silent_broker, slow_broker
from tests.helpers.processes import free_port

#: A broker's URL with another port, per driver with a broker.
URL_AT: dict[str, Callable[[int], str]] = {
    "rabbit": lambda port: f"rabbit://guest:guest@127.0.0.1:{port}/",
    "redis": lambda port: f"redis://127.0.0.1:{port}/0",
}


class Echo:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value


def _broker_port(env: DriverEnv) -> int:
    if env.spec.host is None:
        pytest.skip(f"{env.name} has no broker that could misbehave")
    return env.spec.host[1]


@contextlib.contextmanager
def _transport(env: DriverEnv, port: int) -> Iterator[rpcmsg.Transport]:
    transport = rpcmsg.get_rpc_transport(env.conf(), URL_AT[env.name](port))
    try:
        yield transport
    finally:
        transport.cleanup()


def _timed_call(transport: rpcmsg.Transport, topic: str, timeout: float) -> tuple[Any, float]:
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=timeout)
    started = time.monotonic()
    try:
        outcome: Any = client.call({}, "echo", value="hello")
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - started


def test_a_call_without_a_server_ends_within_its_timeout(env: DriverEnv) -> None:
    transport = env.transport()
    outcome, took = _timed_call(transport, env.unique(), 1.0)
    assert isinstance(outcome, rpcmsg.MessagingTimeout), outcome
    assert took < 1.0 + DEADLINE_SLACK


@pytest.mark.parametrize("broker", ["silent", "refused"])
def test_a_call_ends_within_its_timeout_when_the_broker_does_not_answer(
    env: DriverEnv, broker: str
) -> None:
    _broker_port(env)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(silent_broker()) if broker == "silent" else free_port()
        transport = stack.enter_context(_transport(env, port))
        for _ in range(2):  # the second call finds what the first left behind
            outcome, took = _timed_call(transport, env.unique(), 1.0)
            assert isinstance(outcome, rpcmsg.MessagingTimeout), outcome
            assert took < 1.0 + DEADLINE_SLACK


def test_a_call_ends_within_its_timeout_when_the_broker_is_slow(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    with slow_broker(_broker_port(env), 0.3) as port, _transport(env, port) as transport:
        for _ in range(3):
            outcome, took = _timed_call(transport, topic, 1.0)
            assert outcome == "hello" or isinstance(outcome, rpcmsg.MessagingTimeout), outcome
            assert took < 1.0 + DEADLINE_SLACK


#: What one attempt to reach an unanswering broker may take at most (seconds): the AMQP
#: driver's connect timeout per host, Redis's socket timeouts, with room to spare.
ATTEMPT = 6.0
#: The backoff between two attempts, at most, at the drivers' defaults.
BACKOFF = 2.0


@pytest.mark.parametrize(("broker", "retry"), [("refused", 0), ("refused", 2), ("silent", 0)])
def test_a_cast_ends_within_its_retry_budget(env: DriverEnv, broker: str, retry: int) -> None:
    _broker_port(env)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(silent_broker()) if broker == "silent" else free_port()
        transport = stack.enter_context(_transport(env, port))
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=env.unique()), retry=retry)
        started = time.monotonic()
        with pytest.raises((rpcmsg.ClientSendError, rpcmsg.MessagingTimeout)):
            client.cast({}, "echo", value="hello")
        assert time.monotonic() - started < (retry + 1) * ATTEMPT + retry * BACKOFF
