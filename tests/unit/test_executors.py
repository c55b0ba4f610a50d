from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rpcmsg
from tests.drivers import DriverEnv

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "eventlet_service.py"


def test_eventlet_executor_serves_concurrently_in_a_patched_process() -> None:
    proc = subprocess.run(
        [sys.executable, str(HELPER)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdict["results"] == ["rested"] * 5
    assert verdict["elapsed"] < 1.2, "five 0.3 s calls must overlap on green threads"
    assert verdict["monitored"] == "rested"


def test_unknown_executor(fake_env: DriverEnv) -> None:
    with pytest.raises(rpcmsg.ExecutorLoadFailure, match="nosuch"):
        rpcmsg.get_rpc_server(
            fake_env.transport(), rpcmsg.Target(topic="t", server="s"), [], executor="nosuch"
        )


def test_server_target_needs_topic_and_server(fake_env: DriverEnv) -> None:
    server = rpcmsg.get_rpc_server(fake_env.transport(), rpcmsg.Target(topic="t"), [])
    with pytest.raises(rpcmsg.InvalidTarget):
        server.start()


def test_pool_grows_on_demand_up_to_its_size(fake_env: DriverEnv) -> None:
    import threading

    gate = threading.Event()
    inside = threading.Semaphore(0)

    class Blocking:
        def block(self, ctxt: object) -> None:
            inside.release()
            gate.wait(10)

    conf = fake_env.conf()
    conf.set_override("executor_thread_pool_size", 3)
    transport = fake_env.transport(conf)
    fake_env.server("pool", [Blocking()], transport=transport)
    client = fake_env.client("pool", transport=transport)
    for _ in range(5):
        client.cast({}, "block")
    for _ in range(3):
        assert inside.acquire(timeout=5)
    assert not inside.acquire(timeout=0.3), "no more than executor_thread_pool_size at once"
    gate.set()
    for _ in range(2):
        assert inside.acquire(timeout=5)
