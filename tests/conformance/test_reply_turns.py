"""Concurrent callers of one transport never lose a reply, on every driver.

With a polled reply consumer (AMQP, Redis) the waiting callers take turns reading replies.
These tests time callers so that the turn is handed over just as deadlines pass: the callers
still waiting must get their replies all the same.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from tests.drivers import DriverEnv


class Sleeper:
    def sleep(self, ctxt: Any, seconds: float, value: Any) -> Any:
        time.sleep(seconds)
        return value


def _call(client: rpcmsg.RPCClient, seconds: float, value: Any, results: dict[Any, Any]) -> None:
    try:
        results[value] = client.call({}, "sleep", seconds=seconds, value=value)
    except Exception as exc:
        results[value] = exc


@pytest.mark.parametrize("trial", range(4))
def test_callers_whose_deadlines_pass_together_lose_no_other_reply(
    env: DriverEnv, trial: int
) -> None:
    topic = env.unique()
    env.server(topic, [Sleeper()])
    transport = env.transport()
    client = env.client(topic, transport=transport, timeout=10)
    assert client.call({}, "sleep", seconds=0, value="warm") == "warm"  # reply address made
    results: dict[Any, Any] = {}
    # Twenty callers give up at the same moment (they call a topic no server serves, so
    # that the server's scheduling plays no part); four more wait long enough for replies
    # that come after the others gave up.
    short = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=env.unique()), timeout=0.5)
    threads = [
        threading.Thread(target=_call, args=(short, 0.0, f"short{n}", results)) for n in range(20)
    ]
    long = client.prepare(timeout=4.0)
    threads += [
        threading.Thread(target=_call, args=(long, 0.9, f"long{n}", results)) for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    for n in range(20):
        assert isinstance(results[f"short{n}"], rpcmsg.MessagingTimeout), results[f"short{n}"]
    assert {f"long{n}": results[f"long{n}"] for n in range(4)} == {
        f"long{n}": f"long{n}" for n in range(4)
    }
