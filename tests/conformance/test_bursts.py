"""Bursts of messages onto listeners whose workers mostly wait, on every driver.

When many workers wait and a burst arrives, they all take a message at once. A driver that
bounds what it reads ahead must then see the room they made and read on at once, not at its
next periodic beat (on Redis the stream reader once counted the workers' wake-up tokens as
waiting messages and slept up to five seconds per burst, which under a backlog never
drained).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.conformance.test_notify import listen, notifier
from tests.drivers import DriverEnv

#: Seconds a burst may take to be handled. A burst is handled in a few tens of
#: milliseconds; a reader waiting for its beat takes seconds per burst.
PROMPT = 3.0
BURST = 200
ROUNDS = 5
WORKERS = 24


class Gate:
    """An info endpoint that holds every worker until the gate opens, then counts."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.lock = threading.Condition()
        self.seen: list[Any] = []
        self.held = 0  # handlers waiting at the closed gate

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        if not self.open.is_set():
            with self.lock:
                self.held += 1
                self.lock.notify_all()
            self.open.wait(30)
            with self.lock:
                self.held -= 1
        with self.lock:
            self.seen.append(payload)
            self.lock.notify_all()

    def wait_held(self, count: int, timeout: float) -> int:
        with self.lock:
            self.lock.wait_for(lambda: self.held >= count, timeout)
            return self.held

    def wait_for(self, count: int, timeout: float) -> int:
        with self.lock:
            self.lock.wait_for(lambda: len(self.seen) >= count, timeout)
            return len(self.seen)


def test_bursts_onto_many_waiting_workers_are_read_on_at_once(env: DriverEnv) -> None:
    topic = env.unique()
    conf = env.conf()
    conf.set_override("executor_thread_pool_size", WORKERS)
    send = notifier(env, [topic])
    gate = Gate()
    gate.open.set()
    listen(env, [topic], [gate], transport=env.notification_transport(conf))
    send.info({}, "warm-up", -1)
    assert gate.wait_for(1, 10) == 1
    expected = 1
    for round_ in range(ROUNDS):
        # Workers are held while a backlog builds up; opening the gate releases them all
        # at once onto a full read-ahead window.
        gate.open.clear()
        for n in range(BURST):
            send.info({}, "burst", round_ * BURST + n)
        expected += BURST
        # Every worker held at the gate: the rest of the burst waits in the read-ahead.
        assert gate.wait_held(WORKERS, 10) == WORKERS
        gate.open.set()
        started = time.monotonic()
        got = gate.wait_for(expected, 10 * PROMPT)
        took = time.monotonic() - started
        assert got == expected, f"round {round_}: {got} of {expected} handled"
        assert took < PROMPT, f"round {round_}: the burst took {took:.1f}s to be handled"
    assert sorted(gate.seen) == list(range(-1, ROUNDS * BURST))
