"""Notifications between processes sharing a broker (drivers with ``cross_process``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.test_notify import Recorder, listen, notifier
from tests.drivers import DriverEnv

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


def _require_cross_process(env: DriverEnv) -> None:
    if not env.capabilities.cross_process:
        pytest.skip(f"{env.name} does not reach other processes")


def _python(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _expect_line(child: subprocess.Popen[str], expected: str) -> None:
    """Read the child's next line; on anything else, fail showing what the child said."""
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != expected:
        child.kill()
        out, err = child.communicate(timeout=WAIT)
        pytest.fail(f"expected {expected!r} from the child, got {line!r}\n{out}\n{err}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT)


def test_notifications_from_another_process(
    env: DriverEnv, processes: list[subprocess.Popen[str]]
) -> None:
    _require_cross_process(env)
    topic = env.unique()
    rec = Recorder()
    listen(env, [topic], [rec])
    emitter = _python("tests.helpers.notify_emitter", env.url, env.exchange, topic, "5")
    processes.append(emitter)
    out, err = emitter.communicate(timeout=WAIT)
    assert emitter.returncode == 0, err
    assert out.strip() == "SENT 5"
    seen = rec.wait_for(5, WAIT)
    assert sorted(m["payload"]["n"] for m in seen) == [0, 1, 2, 3, 4]
    assert {m["ctxt"]["sender_pid"] for m in seen} == {emitter.pid}
    assert {m["publisher_id"] for m in seen} == {"emitter"}


def test_a_killed_listener_process_loses_nothing(
    env: DriverEnv, processes: list[subprocess.Popen[str]]
) -> None:
    _require_cross_process(env)
    if not env.capabilities.at_least_once:
        pytest.skip(f"{env.name} does not declare the at_least_once capability")
    topic = env.unique()
    child = _python("tests.helpers.notify_listener", env.url, env.exchange, topic)
    processes.append(child)
    _expect_line(child, "READY")

    notifier(env, [topic]).info({}, "xproc.crash", {"n": "survivor"})
    _expect_line(child, 'TAKEN {"n": "survivor"}')
    child.kill()  # dies mid-handling: the message was never acknowledged
    child.wait(WAIT)
    rec = Recorder()
    listen(env, [topic], [rec])
    (m,) = rec.wait_for(1, WAIT)
    assert m["payload"] == {"n": "survivor"}
