"""Introspection answers (``rpc_introspection_enabled``) of sync and async RPC servers, on
every driver, through the public API: a client calls ``rpcmsg_introspect``, or casts it to
the topic's fanout with ``reply_to`` and collects the servers' casts as ``rpcmsg status``
does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import rpcmsg
import rpcmsg.asyncio as aio
from tests.conformance_async.env import AsyncDriverEnv, async_drivers, make_async_env
from tests.drivers import DriverEnv

INTROSPECT = "rpcmsg_introspect"


class Calc:
    """A calculator."""

    target = rpcmsg.Target(namespace="math", version="2.1")

    def add(self, ctxt: Any, a: int, b: int = 1) -> int:
        """Add a and b."""
        return a + b

    def fail(self, ctxt: Any) -> None:
        raise ValueError("no")

    def _private(self, ctxt: Any) -> None:
        """Not callable remotely: not listed."""


class AsyncCalc(Calc):
    """A calculator on the loop."""

    async def add(self, ctxt: Any, a: int, b: int = 1) -> int:  # type: ignore[override]
        """Add a and b, awaited."""
        return a + b


class Collector:
    """What ``rpcmsg status`` serves to gather answers."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.got = threading.Condition()

    def report(self, ctxt: Any, server: dict[str, Any]) -> None:
        with self.got:
            self.answers.append(server)
            self.got.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.got:
            while len(self.answers) < count and time.monotonic() < deadline:
                self.got.wait(deadline - time.monotonic())
        return self.answers


@pytest_asyncio.fixture(params=async_drivers())
async def aenv(request: pytest.FixtureRequest) -> AsyncIterator[AsyncDriverEnv]:
    env = make_async_env(request.param)
    yield env
    await env.aclose()


def _enabled_conf(env: DriverEnv) -> Any:
    conf = env.conf()
    conf.set_override("rpc_introspection_enabled", True)
    return conf


def _check(answer: dict[str, Any], topic: str, server: str, executor: str) -> None:
    assert answer["topic"] == topic and answer["server"] == server
    assert answer["executor"]["type"] == executor
    assert answer["executor"]["max_workers"] >= 1
    assert answer["uptime"] >= 0 and answer["pid"] > 0 and answer["host"]
    (calc,) = answer["endpoints"]  # the introspection endpoint does not list itself
    assert calc["namespace"] == "math" and calc["version"] == "2.1"
    assert calc["doc"].startswith("A calculator")
    methods = {m["name"]: m for m in calc["methods"]}
    assert sorted(methods) == ["add", "fail"]
    add = methods["add"]
    assert add["signature"] == "(a: int, b: int = 1) -> int"
    assert add["doc"].startswith("Add a and b")
    assert [(p["name"], p["required"], p["annotation"]) for p in add["params"]] == [
        ("a", True, "int"),
        ("b", False, "int"),
    ]


def _use(client: Any) -> None:
    math = client.prepare(namespace="math", version="2.0")
    assert math.call({}, "add", a=1, b=2) == 3
    with pytest.raises(ValueError):
        math.call({}, "fail")


def test_sync_server_answers_introspection(env: DriverEnv) -> None:
    topic = env.unique("intro")
    conf = _enabled_conf(env)
    conf.set_override("rpc_ping_enabled", True)  # its endpoint is not listed either
    env.server(topic, [Calc()], server="s1", transport=env.transport(conf))
    client = env.client(topic, timeout=15)
    _use(client)
    answer = client.call({}, INTROSPECT)
    _check(answer, topic, "s1", "threading")
    assert answer["exchange"] == env.exchange
    assert answer["calls"] == {"handled": 2, "failed": 1}
    assert answer["executor"]["busy"] == 1  # the introspection request itself
    again = client.call({}, INTROSPECT)
    assert again["calls"]["handled"] == 3 and again["uptime"] >= answer["uptime"]


def test_introspection_is_off_by_default(env: DriverEnv) -> None:
    class Plain:
        def hello(self, ctxt: Any) -> str:
            return "hi"

    topic = env.unique("intro")
    env.server(topic, [Plain()])
    with pytest.raises(rpcmsg.RemoteError) as raised:
        env.client(topic, timeout=15).call({}, INTROSPECT)
    assert raised.value.exc_type == "NoSuchMethod"


@pytest.mark.asyncio
async def test_async_server_answers_introspection(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("aintro")
    transport = aenv.atransport(_enabled_conf(aenv))
    await aenv.aserver(topic, [AsyncCalc()], server="a1", transport=transport)
    client = aenv.aclient(topic, timeout=15)
    math = client.prepare(namespace="math", version="2.0")
    assert await math.call({}, "add", a=1, b=2) == 3
    with pytest.raises(ValueError):
        await math.call({}, "fail")
    answer = await client.call({}, INTROSPECT)
    assert answer["calls"] == {"handled": 2, "failed": 1}
    assert answer["executor"]["busy"] == 1
    (calc,) = answer["endpoints"]
    assert calc["doc"] == "A calculator on the loop."
    add = next(m for m in calc["methods"] if m["name"] == "add")
    assert add["async"] is True and add["doc"] == "Add a and b, awaited."
    calc["doc"] = "A calculator."
    _check(answer, topic, "a1", "asyncio")


@pytest.mark.asyncio
async def test_sync_and_async_servers_answer_a_fanout_with_reply_to(
    aenv: AsyncDriverEnv,
) -> None:
    """The ``status`` protocol: one fanout cast, every server casts its answer back."""
    topic, reply_topic = aenv.unique("fan"), aenv.unique("collect")
    conf = _enabled_conf(aenv)
    aenv.server(topic, [Calc()], server="sync-1", transport=aenv.transport(conf))
    await aenv.aserver(topic, [AsyncCalc()], server="async-1", transport=aenv.atransport(conf))
    collector = Collector()
    aenv.server(reply_topic, [collector], server="cli")
    client = rpcmsg.get_rpc_client(aenv.transport(), rpcmsg.Target(topic=topic, fanout=True))
    client.cast({}, INTROSPECT, reply_to={"topic": reply_topic, "fanout": True})
    answers = await asyncio.to_thread(collector.wait_for, 2)
    assert sorted((a["server"], a["executor"]["type"]) for a in answers) == [
        ("async-1", "asyncio"),
        ("sync-1", "threading"),
    ]


def test_an_endpoint_of_its_own_wins(env: DriverEnv) -> None:
    class Own:
        def rpcmsg_introspect(self, ctxt: Any) -> str:
            return "mine"

    topic = env.unique("own")
    env.server(topic, [Own()], transport=env.transport(_enabled_conf(env)))
    assert env.client(topic, timeout=15).call({}, INTROSPECT) == "mine"


def test_async_get_rpc_server_reads_the_option_too() -> None:
    # Built without a loop: the option is read when the server is made.
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([])
    transport = aio.get_rpc_transport(conf, url="fake:///intro-opt")
    conf.set_override("rpc_introspection_enabled", True)
    server = aio.get_rpc_server(transport, rpcmsg.Target(topic="t", server="s"), [Calc()])
    assert [type(e).__name__ for e in server.dispatcher.endpoints] == [
        "Calc",
        "AsyncIntrospectionEndpoint",
    ]
