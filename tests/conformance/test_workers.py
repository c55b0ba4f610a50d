"""How a server's workers share the work, on every driver.

Drivers may have their workers read the broker themselves, taking turns (Redis, AMQP), or
hand messages over from a thread of their own (the fake). Either way a slow handler must not
hold up other requests, and a stopped server must not wait for a blocked read to time out.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.drivers import DriverEnv

WAIT = 10.0


class Endpoint:
    def __init__(self) -> None:
        self.slow_started = threading.Event()

    def quick(self, ctxt: Any, value: Any) -> Any:
        return value

    def slow(self, ctxt: Any, seconds: float) -> str:
        self.slow_started.set()
        time.sleep(seconds)
        return "slow"


def test_a_slow_handler_does_not_hold_up_other_calls(env: DriverEnv) -> None:
    topic = env.unique()
    endpoint = Endpoint()
    env.server(topic, [endpoint])
    client = env.client(topic, timeout=WAIT)
    for n in range(20):  # quick handlers first: drivers with turns pass them lazily
        assert client.call({}, "quick", value=n) == n
    slow_result: list[str] = []
    slow = threading.Thread(target=lambda: slow_result.append(client.call({}, "slow", seconds=2)))
    slow.start()
    assert endpoint.slow_started.wait(WAIT)  # the slow call is being handled
    started = time.monotonic()
    assert client.call({}, "quick", value="next") == "next"
    assert time.monotonic() - started < 1.0
    slow.join(WAIT)
    assert slow_result == ["slow"]


def test_slow_calls_are_handled_in_parallel_among_quick_ones(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Endpoint()])
    client = env.client(topic, timeout=WAIT)
    results: list[Any] = []
    lock = threading.Lock()

    def caller(n: int) -> None:
        if n % 2:
            value = client.call({}, "slow", seconds=0.1)
        else:
            value = client.call({}, "quick", value=n)
        with lock:
            results.append(value)

    started = time.monotonic()
    threads = [threading.Thread(target=caller, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    # 20 slow calls of 100 ms: in parallel, not one after another (2 s).
    assert time.monotonic() - started < 1.5
    assert sorted(r for r in results if r != "slow") == list(range(0, 40, 2))
    assert results.count("slow") == 20
    for n in range(20):
        assert client.call({}, "quick", value=n) == n


def test_stop_returns_promptly_while_workers_wait(env: DriverEnv) -> None:
    topic = env.unique()
    server = env.server(topic, [Endpoint()])
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "quick", value=1) == 1
    time.sleep(0.3)  # every worker is back waiting for the broker
    started = time.monotonic()
    server.stop()
    server.wait()
    assert time.monotonic() - started < 0.5
