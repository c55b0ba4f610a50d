"""Deadlines against a link that dribbles RabbitMQ's frames to the client a few bytes at a time.

py-amqp bounds each ``recv`` by the socket's timeout, not a whole frame; a frame that keeps
coming slowly must still not take a caller past ``timeout + DEADLINE_SLACK``, neither while it
waits for its reply (the reply consumer reads it) nor while it sends (connecting, opening a
channel, declaring, waiting for a mandatory publish's confirm).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import rpcmsg
from rpcmsg.driver.base import DEADLINE_SLACK
from tests.drivers import DriverEnv
from tests.faults.proxy import FaultProxy
from tests.helpers.processes import EchoRecord

TIMEOUT = 1.5
#: Bytes per second from the broker to the client: a reply's frames take seconds each.
DRIBBLE = 40.0
#: Large enough that its body frame alone takes many times the timeout to arrive.
VALUE = "x" * 400


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(5672) as proxy:
        yield proxy


def proxied(env: DriverEnv, proxy: FaultProxy) -> rpcmsg.Transport:
    transport = rpcmsg.get_rpc_transport(env.conf(), proxy.url(env.url))
    env._transports.append(transport)  # cleaned up with the environment
    return transport


def timed(send: Any) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        outcome = send()
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - started


def assert_in_time(outcome: Any, took: float) -> None:
    assert outcome == VALUE or isinstance(outcome, rpcmsg.MessagingTimeout), repr(outcome)
    assert took < TIMEOUT + DEADLINE_SLACK, f"took {took:.2f} s ({outcome!r})"


def test_a_reply_dribbled_in_does_not_keep_its_caller_past_the_deadline(
    rabbit: DriverEnv, proxy: FaultProxy
) -> None:
    topic = rabbit.unique()
    rabbit.server(topic, [EchoRecord()])  # straight to the broker
    transport = proxied(rabbit, proxy)
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=TIMEOUT)
    assert client.call({}, "echo", value=VALUE) == VALUE  # connections open at full speed
    proxy.slow(bandwidth=DRIBBLE, direction="down")
    try:
        outcomes = [timed(lambda: client.call({}, "echo", value=VALUE)) for _ in range(3)]
        for outcome, took in outcomes:
            assert_in_time(outcome, took)
    finally:
        proxy.heal()
    # The connection was left mid-frame, not broken: once the link is fast again, calls work.
    deadline = time.monotonic() + 20
    while True:
        try:
            assert client.call({}, "echo", value=VALUE) == VALUE
            break
        except rpcmsg.MessagingTimeout:
            assert time.monotonic() < deadline, "calls never worked again"


@pytest.mark.parametrize("at_least_once", [False, True])
def test_sending_over_a_dribbling_link_ends_by_the_deadline(
    rabbit: DriverEnv, proxy: FaultProxy, at_least_once: bool
) -> None:
    topic = rabbit.unique()
    rabbit.server(topic, [EchoRecord()])
    proxy.slow(bandwidth=DRIBBLE, direction="down")
    # A fresh transport: its connections open, channels open and exchanges are declared
    # over the dribble, all within the first call's deadline.
    transport = proxied(rabbit, proxy)
    options = rpcmsg.TransportOptions(at_least_once=at_least_once)
    client = rpcmsg.get_rpc_client(
        transport, rpcmsg.Target(topic=topic), timeout=TIMEOUT, transport_options=options
    )
    try:
        for _ in range(2):
            assert_in_time(*timed(lambda: client.call({}, "echo", value=VALUE)))
    finally:
        proxy.heal()
