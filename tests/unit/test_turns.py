"""The turn protocol drivers use to let their pollers read the broker themselves."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rpcmsg.driver import turns as turns_module
from rpcmsg.driver.turns import READ, STANDBY_GRACE, Pace, Turns


def poll_in_thread(turns: Turns, timeout: float | None, may_read: bool = True) -> list[Any]:
    """Start a poller; its result lands in the returned list."""
    out: list[Any] = []
    threading.Thread(target=lambda: out.append(turns.next(timeout, may_read)), daemon=True).start()
    return out


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def blocked(turns: Turns, count: int) -> None:
    """Wait until ``count`` pollers wait for items (the test peeks at the counter)."""
    assert wait_until(lambda: turns._waiting == count), f"{turns._waiting} waiting"


def test_the_first_poller_gets_the_turn_and_the_next_waits() -> None:
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    assert turns.reading  # held, and nobody waits
    second = poll_in_thread(turns, 5.0)
    assert wait_until(lambda: not turns.reading)  # somebody waits: an item put now is taken
    assert second == []
    turns.put("item")
    assert wait_until(lambda: second == ["item"])


def test_eager_passing_wakes_a_waiting_poller_to_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns_module, "STANDBY_GRACE", 60.0)  # no standby to fall back on
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    follower = poll_in_thread(turns, 30.0, may_read=True)
    blocked(turns, 1)
    turns.end_turn(eager=True)
    assert wait_until(lambda: follower == [READ], timeout=5.0)


def test_lazy_passing_leaves_the_turn_to_the_standby_after_its_grace() -> None:
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    follower = poll_in_thread(turns, 5.0, may_read=True)
    blocked(turns, 1)
    started = time.monotonic()
    turns.end_turn(eager=False)
    assert wait_until(lambda: follower == [READ])
    assert time.monotonic() - started < 1.0


def test_lazy_passing_lets_the_holder_come_back() -> None:
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    follower = poll_in_thread(turns, 5.0, may_read=True)
    blocked(turns, 1)
    turns.end_turn(eager=False)
    assert turns.next(1.0, may_read=True) is READ  # back before the standby looked
    time.sleep(STANDBY_GRACE * 3)
    assert follower == []  # the standby found the turn held, and went on waiting
    turns.stop()
    assert wait_until(lambda: follower == [None])


def test_pollers_that_may_not_read_only_get_items() -> None:
    turns = Turns()
    assert turns.next(0.05, may_read=False) is None
    turns.put(1)
    assert turns.next(0.05, may_read=False) == 1


def test_a_standby_that_leaves_with_an_item_names_another() -> None:
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    first = poll_in_thread(turns, 5.0)
    blocked(turns, 1)
    second = poll_in_thread(turns, 5.0)
    blocked(turns, 2)
    turns.put("work")  # taken by one of them, the other must become the standby
    assert wait_until(lambda: (first + second) == ["work"])
    turns.end_turn(eager=False)
    assert wait_until(lambda: READ in first + second, timeout=2.0)


def test_stop_wakes_every_poller_and_drain_empties() -> None:
    turns = Turns()
    assert turns.next(1.0, may_read=True) is READ
    waiters = [poll_in_thread(turns, None) for _ in range(3)]
    blocked(turns, 3)
    turns.stop()
    assert wait_until(lambda: all(w == [None] for w in waiters))
    turns.put("late")
    assert turns.drain() == ["late"]
    assert turns.next(0.01, may_read=True) is None
    assert not turns.stop()


def test_a_wake_up_for_a_poller_that_may_not_read_is_harmless() -> None:
    turns = Turns()
    assert turns.take_nowait() is None
    assert turns.next(1.0, may_read=True) is READ
    waiter = poll_in_thread(turns, 0.2, may_read=False)
    blocked(turns, 1)
    turns.end_turn(eager=True)  # a wake-up token for a waiter that cannot read
    assert wait_until(lambda: waiter == [None])
    turns.put("x")
    assert turns.take_nowait() == "x"


class _Recording:
    """A Turns queue that records the wake-up tokens put in it."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        self.tokens: list[Any] = []

    def put(self, item: Any) -> None:
        if item is turns_module._TURN:
            self.tokens.append(item)
        self._queue.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def test_pending_counts_items_only_however_many_pollers_come_and_go() -> None:
    """Readers size their read-ahead from ``pending``: wake-up tokens must not count, and
    pollers that may not read must not be sent any (a burst taken by many waiting pollers
    once left one token per poller, which a reader took for a full window)."""
    turns = Turns()
    turns._queue = _Recording(turns._queue)
    tokens = turns._queue.tokens
    waiters = [poll_in_thread(turns, 5.0, may_read=False) for _ in range(8)]
    blocked(turns, 8)
    for n in range(5):
        turns.put(n)
    assert wait_until(lambda: sum(len(w) for w in waiters) == 5)
    assert turns.pending() == 0
    assert not tokens, "pollers that may not read were sent wake-up tokens"
    turns.put("a")
    turns.put("b")
    assert turns.pending() == 2
    assert turns.take_nowait() == "a"
    assert turns.pending() == 1
    assert turns.drain() == ["b"]
    assert turns.pending() == 0


def test_pace_turns_eager_with_slow_handlers_and_back() -> None:
    pace = Pace(quick=0.01, weight=0.5)
    assert not pace.eager
    for _ in range(4):
        pace.away()
        time.sleep(0.03)
        pace.back()
    assert pace.eager
    for _ in range(8):
        pace.away()
        pace.back()
    assert not pace.eager
    pace.back()  # a poll without a message before it changes nothing
    assert not pace.eager
