"""Bursts onto async listeners whose handlers were all held, on every async driver: the
twin of ``tests/conformance/test_bursts.py``. Once the handlers are released onto a full
read-ahead window, the listener must read on at once, not at its next periodic beat."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import rpcmsg.asyncio as aio
from tests.conformance_async.env import AsyncDriverEnv
from tests.conformance_async.test_notify import listener, notify_conf

pytestmark = pytest.mark.asyncio

PROMPT = 3.0  # a burst takes tens of milliseconds; a reader waiting for its beat, seconds
BURST = 200
ROUNDS = 5
CONCURRENCY = 24  # the listener's max_concurrency


class Gate:
    """An async info endpoint holding every handler until the gate opens."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.seen: list[Any] = []
        self.held = 0  # handlers waiting at the closed gate

    async def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any,
                   md: Any) -> None:  # fmt: skip
        if not self.open.is_set():
            self.held += 1
            await self.open.wait()
            self.held -= 1
        self.seen.append(payload)


async def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    return bool(predicate())


async def wait_count(gate: Gate, count: int, timeout: float) -> int:
    await wait_until(lambda: len(gate.seen) >= count, timeout)
    return len(gate.seen)


async def test_bursts_onto_held_handlers_are_read_on_at_once(aenv: AsyncDriverEnv) -> None:
    topic = aenv.unique("burst")
    gate = Gate()
    gate.open.set()
    await listener(aenv, topic, [gate], max_concurrency=CONCURRENCY)
    notifier = aio.Notifier(
        aenv.anotification_transport(notify_conf(aenv, topic)), publisher_id="svc.host"
    )
    await notifier.info({}, "warm-up", -1)
    assert await wait_count(gate, 1, 10) == 1
    expected = 1
    for round_ in range(ROUNDS):
        gate.open.clear()
        for n in range(BURST):
            await notifier.info({}, "burst", round_ * BURST + n)
        expected += BURST
        # Every handler the listener may run held at the gate: the rest waits read ahead.
        assert await wait_until(lambda: gate.held == CONCURRENCY, 10)
        gate.open.set()
        started = time.monotonic()
        got = await wait_count(gate, expected, 10 * PROMPT)
        took = time.monotonic() - started
        assert got == expected, f"round {round_}: {got} of {expected} handled"
        assert took < PROMPT, f"round {round_}: the burst took {took:.1f}s to be handled"
    assert sorted(gate.seen) == list(range(-1, ROUNDS * BURST))
