"""``rpcmsg serve``, ``describe`` and ``status`` end to end.

On fake:// (one process) the commands run through ``rpcmsg.cli.main`` against sync and
async servers of the test; on RabbitMQ and Redis ``rpcmsg serve`` runs as its own process
(the installed console script, with ``tests/cli/served.py`` as the object) and the other
commands as more processes, as a user runs them from two shells.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from rpcmsg.cli import main
from tests.cli.test_console_script import SCRIPT
from tests.drivers import DriverEnv, make_env

ROOT = Path(__file__).resolve().parents[2]


class Calc:
    """A calculator."""

    def add(self, ctxt: Any, a: int, b: int = 1) -> int:
        """Add a and b."""
        return a + b


def run(url: str, *argv: str) -> int:
    return main(["--url", url, *argv])


# -- fake://, in process -------------------------------------------------------------------


def test_describe_prints_a_server(
    rpcmsg_url: str, rpcmsg_conf: Any, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_conf.set_override("rpc_introspection_enabled", True)
    rpcmsg_server("calc", [Calc()], server="c1")
    assert run(rpcmsg_url, "call", "calc", "add", "a=2") == 0
    capsys.readouterr()
    assert run(rpcmsg_url, "describe", "calc", "--server", "c1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"server 'c1' of topic 'calc' \(exchange '\S+'\) on \S+, pid \d+, rpcmsg \S+", lines[0]
    )
    assert re.fullmatch(
        r"up 0m\d\ds; executor threading: 1 busy of \d+ workers \(at most 64\); "
        r"1 requests handled, 0 failed",
        lines[1],
    )
    assert lines[3:] == [
        "Calc (default namespace, version 1.0)",
        "  A calculator.",
        "  add(a: int, b: int = 1) -> int",
        "      Add a and b.",
    ]
    assert run(rpcmsg_url, "describe", "calc", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["calls"] == {"handled": 2, "failed": 0}  # the first describe counts


def test_describe_a_server_without_introspection(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("quiet", [Calc()])
    assert run(rpcmsg_url, "describe", "quiet") == 1
    assert "set rpc_introspection_enabled = true" in capsys.readouterr().err
    assert run(rpcmsg_url, "describe", "nobody", "--timeout", "0.5") == 3


@pytest.mark.asyncio
async def test_status_lists_sync_and_async_servers(
    rpcmsg_url: str, rpcmsg_conf: Any, rpcmsg_async_transport: Any, capsys: Any
) -> None:
    import rpcmsg.asyncio as aio

    rpcmsg_conf.set_override("rpc_introspection_enabled", True)
    sync_transport = rpcmsg.get_rpc_transport(rpcmsg_conf)
    sync_server = rpcmsg.get_rpc_server(
        sync_transport, rpcmsg.Target(topic="busy", server="sync-1"), [Calc()]
    )
    sync_server.start()
    target = rpcmsg.Target(topic="busy", server="async-1")
    try:
        async with aio.get_rpc_server(rpcmsg_async_transport, target, [Calc()]):
            argv = ("status", "busy", "--count", "2", "--wait", "10")
            assert await asyncio.to_thread(run, rpcmsg_url, *argv) == 0
            table = capsys.readouterr().out.splitlines()
            argv = ("status", "busy", "--count", "2", "--wait", "10", "--json")
            assert await asyncio.to_thread(run, rpcmsg_url, *argv) == 0
            answers = json.loads(capsys.readouterr().out)
    finally:
        sync_server.stop()
        sync_server.wait()
        sync_transport.cleanup()
    assert table[0].split() == [
        "SERVER", "HOST:PID", "EXECUTOR", "BUSY/MAX", "HANDLED", "FAILED", "UPTIME",
    ]  # fmt: skip
    rows = sorted(line.split() for line in table[1:])
    assert [(r[0], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("async-1", "asyncio", "1/64", "0", "0"),
        ("sync-1", "threading", "1/64", "0", "0"),
    ]
    assert [(a["server"], a["calls"]["handled"]) for a in answers] == [
        ("async-1", 1),
        ("sync-1", 1),
    ]


def test_status_without_answers_exit_code_3(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("mute", [Calc()])  # introspection off: it does not answer
    assert run(rpcmsg_url, "status", "mute", "--wait", "0.3") == 3
    err = capsys.readouterr().err
    assert "no server of topic 'mute' answered in 0.3 s" in err
    assert "rpc_introspection_enabled = true" in err
    assert run(rpcmsg_url, "status", "no-such-topic", "--wait", "0.3") == 3


def test_serve_refuses_what_it_cannot_serve(rpcmsg_url: str, capsys: Any) -> None:
    assert run(rpcmsg_url, "serve", "t", "no_such_module_here") == 2
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
    assert run(rpcmsg_url, "serve", "t", "tests.cli.served:Nope") == 2
    assert "has no attribute 'Nope'" in capsys.readouterr().err
    assert run(rpcmsg_url, "serve", "t", "json:dumps") == 2
    assert "is a function" in capsys.readouterr().err


# -- RabbitMQ and Redis: rpcmsg serve as a process of its own ---------------------------------


def _status_leftovers(env: DriverEnv) -> list[str]:
    """What ``rpcmsg status`` runs left on the broker (see rpcmsg/cli/_ops.py)."""
    prefix = f"{env.exchange}-status-"
    if env.name == "rabbit":
        from tests.amqp.admin import rabbitmqctl

        exchanges = [e["name"] for e in rabbitmqctl("list_exchanges", "name") or []]
        queues = [q["name"] for q in rabbitmqctl("list_queues", "name") or []]
        return [n for n in exchanges if n.startswith(prefix)] + [
            n for n in queues if n.startswith("rpcmsg-status-")
        ]
    import redis

    client = redis.Redis.from_url(env.url)
    try:
        return [k.decode() for k in client.scan_iter(f"rpcmsg:{prefix}*", count=1000)]
    finally:
        client.close()


@pytest.fixture(params=["rabbit", "redis"])
def real_env(request: pytest.FixtureRequest) -> Iterator[DriverEnv]:
    env = make_env(request.param)
    yield env
    env.close()
    if env.name == "redis":  # the status collector's empty streams (documented)
        import redis

        client = redis.Redis.from_url(env.url)
        try:
            keys = list(client.scan_iter(f"rpcmsg:{env.exchange}-status-*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _cli(env: DriverEnv, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, "--url", env.url, "--exchange", env.exchange, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RPCMSG_TRANSPORT_URL"},
    )


class Served:
    """One ``rpcmsg serve`` process, stopped (SIGKILL as the last resort) at the end."""

    def __init__(self, env: DriverEnv, topic: str, obj: str, server: str) -> None:
        self.proc = subprocess.Popen(
            [SCRIPT, "--url", env.url, "--exchange", env.exchange, "serve", topic, obj,
             "--server", server],
            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "RPCMSG_TRANSPORT_URL"},
        )  # fmt: skip
        assert self.proc.stderr is not None
        self.banner = self.proc.stderr.readline()  # printed once the server listens

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served(real_env: DriverEnv) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for one in started:
        if one.proc.poll() is None:
            one.stop(signal.SIGKILL)


def test_serve_then_call_describe_and_status(real_env: DriverEnv, served: list[Served]) -> None:
    topic = real_env.unique("served")
    served.append(Served(real_env, topic, "tests.cli.served:SERVICE", "one"))
    served.append(Served(real_env, topic, "tests.cli.served:SERVICE", "two"))
    for one in served:
        assert one.banner.startswith(f"rpcmsg: serving tests.cli.served:SERVICE on topic {topic!r}")
        assert "(4 methods: add, fail, slow_double, whoami); Ctrl-C stops" in one.banner
        assert "guest:guest" not in one.banner  # the password is masked

    proc = _cli(real_env, "call", topic, "add", "a=40", "b=2", "--server", "one")
    assert (proc.returncode, proc.stdout.strip()) == (0, "42"), proc.stderr
    proc = _cli(real_env, "call", topic, "slow_double", "x=1.5", "--server", "two")
    assert (proc.returncode, proc.stdout.strip()) == (0, "3.0"), proc.stderr
    proc = _cli(real_env, "call", topic, "fail", "why=nope", "--server", "two")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "rpcmsg: error: remote error: ValueError: nope"
    proc = _cli(
        real_env, "call", topic, "whoami", "prefix=user:", "--context", '{"user": "ann"}',
        "--namespace", "math", "--version", "1.2", "--server", "one",
    )  # fmt: skip
    assert (proc.returncode, proc.stdout.strip()) == (0, '"user:ann"'), proc.stderr

    proc = _cli(real_env, "describe", topic, "--server", "two")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert f"server 'two' of topic {topic!r} (exchange {real_env.exchange!r})" in text
    assert "; 2 requests handled, 1 failed" in text
    assert "Calculator (default namespace, version 1.0)" in text
    assert "  add(a: int, b: int = 1) -> int\n      Add two numbers.\n" in text
    assert "  async slow_double(x: float) -> float\n" in text
    assert "Versioned (namespace 'math', version 1.3)" in text
    assert "  whoami(prefix: str = '') -> str\n" in text
    assert "_hidden" not in text
    assert "PingEndpoint" not in text and "rpcmsg_introspect" not in text

    proc = _cli(real_env, "status", topic, "--count", "2", "--wait", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout)
    assert [a["server"] for a in answers] == ["one", "two"]
    pids = {a["server"]: a["pid"] for a in answers}
    assert pids == {"one": served[0].proc.pid, "two": served[1].proc.pid}
    # one: two calls; two: two calls (one failed) and the describe. An answer counts the
    # requests handled before it, not itself.
    assert [a["calls"] for a in answers] == [
        {"handled": 2, "failed": 0},
        {"handled": 3, "failed": 1},
    ]
    proc = _cli(real_env, "call", topic, "add", "a=1")  # to either server
    assert (proc.returncode, proc.stdout.strip()) == (0, "2"), proc.stderr

    if real_env.name == "rabbit":  # its collector's queues and exchange are auto-deleted
        deadline = time.monotonic() + 10  # by the broker, once the process's channel closed
        while _status_leftovers(real_env) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _status_leftovers(real_env) == []
    else:  # Redis: its two request streams stay
        assert len(_status_leftovers(real_env)) == 2

    proc = _cli(real_env, "ping", topic, "--server", "one")
    assert proc.returncode == 0, proc.stderr  # serve turns ping on too

    assert served[0].stop(signal.SIGINT) == 130
    assert served[1].stop(signal.SIGTERM) == 0
    proc = _cli(real_env, "status", topic, "--wait", "1")
    assert proc.returncode == 3


def test_what_serve_makes_of_modules_and_plain_callables(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    """The endpoints ``serve`` builds, served here in process and called with the CLI."""
    from rpcmsg.cli._objects import endpoints_from

    rpcmsg_server("math", endpoints_from("math"))  # positional-only: sqrt(x, /)
    rpcmsg_server("stats", endpoints_from("statistics"))  # its __all__
    rpcmsg_server("calc", endpoints_from("tests.cli.served:Calculator"))  # a class
    assert run(rpcmsg_url, "call", "math", "sqrt", "x=16") == 0
    assert json.loads(capsys.readouterr().out) == 4.0
    assert run(rpcmsg_url, "call", "stats", "median", "data=[3, 1, 2]") == 0
    assert json.loads(capsys.readouterr().out) == 2
    assert run(rpcmsg_url, "call", "stats", "Fraction") == 1  # not in __all__: not served
    assert run(rpcmsg_url, "call", "calc", "slow_double", "x=2") == 0  # a coroutine, run
    assert json.loads(capsys.readouterr().out) == 4
    assert run(rpcmsg_url, "call", "calc", "_hidden") == 1
    assert "NoSuchMethod" in capsys.readouterr().err
