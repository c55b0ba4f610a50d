"""The callers of a transport take turns reading a *polled* reply consumer (leader/follower).

A scripted consumer stands in for a driver: ``poll`` pops what the test pushed, so the tests
can show which thread read, and what happens when the reader leaves.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from typing import Any, ClassVar

import pytest

from rpcmsg import _wire
from rpcmsg._reply import ReplyWaiter
from rpcmsg.driver.base import ReplyConsumer, ReplyHandler
from rpcmsg.exceptions import MessagingTimeout


class ScriptedConsumer(ReplyConsumer):
    polled: ClassVar[bool] = True

    def __init__(self, on_reply: ReplyHandler) -> None:
        self.address = "scripted"
        self.on_reply = on_reply
        self.inbox: queue.Queue[bytes] = queue.Queue()
        self.closed = threading.Event()
        self.pollers: set[int] = set()
        self.active = 0
        self.overlap = False
        self.polls = 0
        self.fail_next = False
        self._lock = threading.Lock()

    def poll(self, timeout: float) -> None:
        with self._lock:
            self.polls += 1
            self.active += 1
            self.overlap = self.overlap or self.active > 1
            self.pollers.add(threading.get_ident())
        try:
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("broker gone")
            if self.closed.is_set():
                return
            try:
                body = self.inbox.get(timeout=timeout)
            except queue.Empty:
                return
            self.on_reply(body, "application/json")
        finally:
            with self._lock:
                self.active -= 1

    def close(self) -> None:
        self.closed.set()


class Driver:
    def __init__(self) -> None:
        self.consumer: ScriptedConsumer | None = None

    def open_reply_consumer(
        self, on_reply: ReplyHandler, deadline: float | None = None
    ) -> ScriptedConsumer:
        self.consumer = ScriptedConsumer(on_reply)
        return self.consumer


def reply(msg_id: str, result: Any) -> bytes:
    return _wire.encode({"result": result, "failure": None, "ending": True, "_msg_id": msg_id})


@pytest.fixture
def setup() -> tuple[ReplyWaiter, ScriptedConsumer]:
    driver = Driver()
    waiter = ReplyWaiter(driver, [])  # type: ignore[arg-type]
    assert waiter.address == "scripted"
    assert driver.consumer is not None
    return waiter, driver.consumer


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def call(waiter: ReplyWaiter, msg_id: str, timeout: float, results: dict[str, Any]) -> None:
    q = waiter.register(msg_id)
    try:
        results[msg_id] = waiter.wait(msg_id, q, timeout, None)
    except MessagingTimeout as exc:
        results[msg_id] = exc
    finally:
        waiter.unregister(msg_id)


def test_a_lone_caller_reads_its_own_reply(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    consumer.inbox.put(reply("m1", 42))
    results: dict[str, Any] = {}
    call(waiter, "m1", 5.0, results)
    assert results == {"m1": 42}
    assert consumer.pollers == {threading.get_ident()}


def test_concurrent_callers_each_get_their_reply_and_never_poll_together(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    ids = [f"m{n}" for n in range(40)]
    results: dict[str, Any] = {}
    threads = [threading.Thread(target=call, args=(waiter, i, 10.0, results)) for i in ids]
    for t in threads:
        t.start()
    shuffled = ids[:]
    random.Random(7).shuffle(shuffled)
    for msg_id in shuffled:
        consumer.inbox.put(reply(msg_id, msg_id.upper()))
        time.sleep(0.002)
    for t in threads:
        t.join(15)
    assert results == {i: i.upper() for i in ids}
    assert not consumer.overlap
    assert len(consumer.pollers) > 1  # the turn went round


def test_the_turn_passes_on_when_the_reader_times_out(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    results: dict[str, Any] = {}
    leader = threading.Thread(target=call, args=(waiter, "short", 0.2, results))
    leader.start()
    assert wait_until(lambda: consumer.polls > 0)  # "short" holds the turn
    follower = threading.Thread(target=call, args=(waiter, "long", 5.0, results))
    follower.start()
    leader.join(5)
    assert isinstance(results["short"], MessagingTimeout)
    assert wait_until(lambda: len(consumer.pollers) == 2)  # "long" reads now
    consumer.inbox.put(reply("long", "late but read"))
    follower.join(5)
    assert results["long"] == "late but read"


def test_a_reply_read_by_another_caller_is_handed_over(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    results: dict[str, Any] = {}
    first = threading.Thread(target=call, args=(waiter, "first", 5.0, results))
    first.start()
    assert wait_until(lambda: consumer.polls > 0)  # "first" holds the turn
    second = threading.Thread(target=call, args=(waiter, "second", 5.0, results))
    second.start()
    assert wait_until(lambda: len(waiter._waiters) == 2)  # "second" waits
    consumer.inbox.put(reply("second", 2))  # read by "first", which holds the turn
    second.join(5)
    assert results == {"second": 2}
    consumer.inbox.put(reply("first", 1))
    first.join(5)
    assert results == {"second": 2, "first": 1}


def test_a_failing_poll_costs_no_reply(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    consumer.fail_next = True
    consumer.inbox.put(reply("m", "ok"))
    results: dict[str, Any] = {}
    call(waiter, "m", 5.0, results)
    assert results == {"m": "ok"}


def test_closing_ends_reading_without_a_busy_loop(
    setup: tuple[ReplyWaiter, ScriptedConsumer],
) -> None:
    waiter, consumer = setup
    results: dict[str, Any] = {}
    caller = threading.Thread(target=call, args=(waiter, "m", 1.0, results))
    caller.start()
    assert wait_until(lambda: consumer.polls > 0)
    waiter.close()
    caller.join(5)
    assert isinstance(results["m"], MessagingTimeout)
    assert consumer.polls <= 3


@pytest.mark.parametrize("trial", range(5))
def test_no_turn_is_lost_when_deadlines_expire_together(
    setup: tuple[ReplyWaiter, ScriptedConsumer], trial: int
) -> None:
    """Callers with the same deadline hand the turn to each other just as it passes; the
    callers still waiting must get their replies all the same."""
    waiter, consumer = setup
    results: dict[str, Any] = {}
    short = [f"short{n}" for n in range(12)]
    long = [f"long{n}" for n in range(4)]
    threads = [threading.Thread(target=call, args=(waiter, i, 0.15, results)) for i in short]
    threads += [threading.Thread(target=call, args=(waiter, i, 5.0, results)) for i in long]
    for t in threads:
        t.start()
    # The long callers' replies come after every short caller gave up: someone must read.
    assert wait_until(lambda: all(i in results for i in short))
    for msg_id in long:
        consumer.inbox.put(reply(msg_id, msg_id.upper()))
    for t in threads:
        t.join(10)
    assert all(isinstance(results[i], MessagingTimeout) for i in short)
    assert {i: results[i] for i in long} == {i: i.upper() for i in long}
