"""The installed ``rpcmsg`` console script, run as a user runs it (a subprocess).

fake:// brokers live inside one process, so commands that need a peer run against the real
brokers (a server in this test process, the client in the subprocess), and are skipped while
a driver's entry point does not load, like the conformance suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.drivers import DriverEnv

SCRIPT = shutil.which("rpcmsg", path=str(Path(sys.executable).parent)) or "rpcmsg"
REAL = ["rabbit", "redis"]


def rpcmsg_cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RPCMSG_TRANSPORT_URL"}
    return subprocess.run([SCRIPT, *argv], capture_output=True, text=True, timeout=timeout, env=env)


def test_console_script_lists_drivers() -> None:
    proc = rpcmsg_cli("drivers", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {row["name"] for row in json.loads(proc.stdout)["rpcmsg.drivers"]}
    assert {"fake", "rabbit", "redis"} <= names


def test_console_script_bad_url_is_one_line() -> None:
    proc = rpcmsg_cli("--url", "//localhost:5672", "call", "t", "m")
    assert proc.returncode == 2
    assert proc.stderr.startswith("rpcmsg: error: No scheme specified in transport URL")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_console_script_usage_error() -> None:
    proc = rpcmsg_cli("call")
    assert proc.returncode == 2
    assert "usage: rpcmsg call" in proc.stderr


class Calc:
    def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b


@pytest.fixture(params=REAL)
def real_env(request: pytest.FixtureRequest) -> Any:
    from tests.drivers import make_env

    env = make_env(request.param)
    yield env
    env.close()


def test_console_script_against_a_real_broker(real_env: DriverEnv) -> None:
    conf = real_env.conf()
    conf.set_override("rpc_ping_enabled", True)
    topic = real_env.unique("cli")
    real_env.server(topic, [Calc()], transport=real_env.transport(conf))
    common = ("--url", real_env.url, "--exchange", real_env.exchange)
    call = rpcmsg_cli(*common, "call", topic, "add", "a=20", "b=22", "--timeout", "20")
    assert (call.returncode, call.stdout.strip()) == (0, "42"), call.stderr
    ping = rpcmsg_cli(*common, "ping", topic, "--server", "s1", "--timeout", "20")
    assert ping.returncode == 0 and ping.stdout.startswith(f"pong from topic '{topic}'")
    nobody = rpcmsg_cli(*common, "call", real_env.unique("nobody"), "add", "--timeout", "2")
    assert nobody.returncode == 3, nobody.stderr


@pytest.mark.parametrize("scheme", REAL)
def test_unreachable_broker_exit_code_4(scheme: str) -> None:
    from tests.drivers import SPECS

    why = SPECS[scheme].unavailable()
    if why and "not installed" in why:
        pytest.skip(why)
    url = {"rabbit": "rabbit://guest:guest@127.0.0.1:1/", "redis": "redis://127.0.0.1:1/0"}
    proc = rpcmsg_cli("--url", url[scheme], "call", "t", "m", "--retry", "0", timeout=60)
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


class Collector:
    """A notification endpoint that records what it gets."""

    def __init__(self) -> None:
        import threading

        self.seen: list[tuple[str, Any]] = []
        self.got = threading.Event()

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, md: Any) -> None:
        self.seen.append((event_type, payload))
        self.got.set()


def test_console_script_notify_reaches_a_listener(real_env: DriverEnv) -> None:
    import rpcmsg

    topic = real_env.unique("cli-notes")
    collector = Collector()
    listener = rpcmsg.get_notification_listener(
        real_env.notification_transport(), [rpcmsg.Target(topic=topic)], [collector]
    )
    listener.start()
    real_env.track(listener)
    proc = rpcmsg_cli(
        "--url", real_env.url, "--exchange", real_env.exchange,
        "notify", topic, "info", "disk.full", '{"free": 0}',
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert collector.got.wait(15)
    assert collector.seen == [("disk.full", {"free": 0})]


def test_console_script_listen_until_interrupted(real_env: DriverEnv) -> None:
    import signal

    import rpcmsg

    topic = real_env.unique("cli-tail")
    notifier = rpcmsg.Notifier(
        real_env.notification_transport(), publisher_id="test", driver="messagingv2",
        topics=[topic], raise_on_failure=True,
    )  # fmt: skip
    # Published before the listener exists: a pool-less listener still gets it.
    notifier.info({}, "first.event", {"n": 1})
    env = {k: v for k, v in os.environ.items() if k != "RPCMSG_TRANSPORT_URL"}
    proc = subprocess.Popen(
        [SCRIPT, "--url", real_env.url, "--exchange", real_env.exchange, "listen", topic, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert (first["event_type"], first["payload"]) == ("first.event", {"n": 1})
        notifier.info({}, "second.event", {"n": 2})
        second = json.loads(proc.stdout.readline())
        assert (second["event_type"], second["priority"]) == ("second.event", "INFO")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "Traceback" not in err


def test_console_script_listen_in_a_pool_gets_its_own_copy(real_env: DriverEnv) -> None:
    import rpcmsg

    topic = real_env.unique("cli-pool")
    default = Collector()
    listener = rpcmsg.get_notification_listener(
        real_env.notification_transport(), [rpcmsg.Target(topic=topic)], [default]
    )
    listener.start()
    real_env.track(listener)
    env = {k: v for k, v in os.environ.items() if k != "RPCMSG_TRANSPORT_URL"}
    proc = subprocess.Popen(
        [
            SCRIPT, "--url", real_env.url, "--exchange", real_env.exchange, "listen", topic,
            "--pool", f"{topic}-auditors", "--json", "--count", "1",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        # A pool gets what is published once it subscribed: listen says when that is.
        assert proc.stderr.readline().startswith(f"listening on {topic}.audit")
        notifier = rpcmsg.Notifier(
            real_env.notification_transport(), publisher_id="test", driver="messagingv2",
            topics=[topic], raise_on_failure=True,
        )  # fmt: skip
        notifier.info({}, "pooled.event", {"n": 1})
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out)["event_type"] == "pooled.event"
    assert default.got.wait(15) and default.seen == [("pooled.event", {"n": 1})]


@pytest.mark.parametrize("scheme", REAL)
def test_listen_on_an_unreachable_broker_names_the_topic(scheme: str) -> None:
    from tests.drivers import SPECS

    why = SPECS[scheme].unavailable()
    if why and "not installed" in why:
        pytest.skip(why)
    url = {"rabbit": "rabbit://guest:guest@127.0.0.1:1/", "redis": "redis://127.0.0.1:1/0"}
    proc = rpcmsg_cli("--url", url[scheme], "listen", "audit-trail", timeout=60)
    assert proc.returncode == 4, proc.stderr
    assert 'Failed to listen on target "[<Target topic=audit-trail>]"' in proc.stderr
