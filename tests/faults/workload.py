"""Streams of calls, casts and notifications that count what happened to each message.

``Traffic`` runs caller threads (``echo`` of a unique id, so a crossed reply shows), a caster
and a notifier until stopped. Every call's outcome and elapsed time is kept; every cast and
notification that ``cast``/``info`` accepted (returned without raising) must reach the
``Sink``, the endpoint of the servers under test. ``Tally`` turns the two into the figures
the fault tests assert on and write down (:mod:`tests.faults.figures`).
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

import rpcmsg

__all__ = ["SLACK", "CallRecord", "Sink", "Tally", "Traffic", "wait_until"]

#: What a call may take beyond its timeout: thread wake-ups and a reply already on its way.
SLACK = 1.0


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Sink:
    """The servers' endpoint: ``echo`` returns its value, ``record`` counts cast ids, and as a
    notification endpoint ``info`` counts notification ids (both keep duplicates)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.casts: collections.Counter[str] = collections.Counter()
        self.notes: collections.Counter[str] = collections.Counter()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def record(self, ctxt: Any, uid: str) -> None:
        with self.lock:
            self.casts[uid] += 1

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        with self.lock:
            self.notes[payload["uid"]] += 1


@dataclass
class CallRecord:
    started: float
    elapsed: float
    outcome: str  # "ok", "timeout", "crossed" or an exception's class name


@dataclass
class Traffic:
    """Calls from ``callers`` threads, casts and notifications, each at most every ``pause``
    seconds, until ``stop()``."""

    client: rpcmsg.RPCClient
    notifier: rpcmsg.Notifier | None
    timeout: float
    callers: int = 4
    pause: float = 0.02
    calls: list[CallRecord] = field(default_factory=list)
    casts: dict[str, float] = field(default_factory=dict)  # accepted id -> when
    notes: dict[str, float] = field(default_factory=dict)
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        loops = [self._call] * self.callers + [self._cast]
        if self.notifier is not None:
            loops.append(self._notify)
        for loop in loops:
            name = f"traffic-{loop.__name__.strip('_')}-{len(self._threads)}"
            thread = threading.Thread(target=self._forever, args=(loop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float) -> list[str]:
        """Stop sending; returns the loops still stuck in a send after ``timeout``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t for t in self._threads if t.is_alive()]
        frames = sys._current_frames()
        return [
            f"{t.name} in "
            + " < ".join(
                f"{f.name}:{f.lineno}" for f in traceback.extract_stack(frames[t.ident])[-14:][::-1]
            )
            if t.ident in frames
            else t.name
            for t in stuck
        ]

    def _forever(self, loop: Any) -> None:
        while not self._stop.is_set():
            loop()
            self._stop.wait(self.pause)

    def _call(self) -> None:
        uid = uuid.uuid4().hex
        started = time.monotonic()
        try:
            got = self.client.call({}, "echo", value=uid)
            outcome = "ok" if got == uid else "crossed"
        except rpcmsg.MessagingTimeout:
            outcome = "timeout"
        except Exception as exc:
            outcome = type(exc).__name__
        self.calls.append(CallRecord(started, time.monotonic() - started, outcome))

    def _cast(self) -> None:
        uid = uuid.uuid4().hex
        try:
            self.client.cast({}, "record", uid=uid)
        except Exception as exc:
            self.refused[f"cast {type(exc).__name__}"] += 1
            return
        self.casts[uid] = time.monotonic()

    def _notify(self) -> None:
        assert self.notifier is not None
        uid = uuid.uuid4().hex
        try:
            self.notifier.info({}, "fault.test", {"uid": uid})
        except Exception as exc:
            self.refused[f"notification {type(exc).__name__}"] += 1
            return
        self.notes[uid] = time.monotonic()

    def flowing_since(self, sink: Sink, since: float) -> bool:
        """A call started after ``since`` succeeded, and a cast and a notification sent
        after it were handled."""
        calls = any(c.outcome == "ok" and c.started >= since for c in list(self.calls))
        with sink.lock:
            casts = any(t >= since and uid in sink.casts for uid, t in list(self.casts.items()))
            notes = self.notifier is None or any(
                t >= since and uid in sink.notes for uid, t in list(self.notes.items())
            )
        return calls and casts and notes


@dataclass
class Tally:
    """What a run of ``Traffic`` against a ``Sink`` came to."""

    calls: int
    outcomes: dict[str, int]
    overruns: int
    max_overrun: float
    casts_sent: int
    casts_lost: int
    casts_duplicated: int
    notes_sent: int
    notes_lost: int
    notes_duplicated: int
    refused: dict[str, int]

    @classmethod
    def of(cls, traffic: Traffic, sink: Sink) -> Tally:
        over = [c.elapsed - traffic.timeout for c in traffic.calls]
        with sink.lock:
            casts, notes = dict(sink.casts), dict(sink.notes)
        return cls(
            calls=len(traffic.calls),
            outcomes=dict(collections.Counter(c.outcome for c in traffic.calls)),
            overruns=sum(1 for o in over if o > SLACK),
            max_overrun=round(max([0.0, *over]), 3),
            casts_sent=len(traffic.casts),
            casts_lost=sum(1 for uid in traffic.casts if uid not in casts),
            casts_duplicated=sum(n - 1 for uid, n in casts.items() if uid in traffic.casts),
            notes_sent=len(traffic.notes),
            notes_lost=sum(1 for uid in traffic.notes if uid not in notes),
            notes_duplicated=sum(n - 1 for uid, n in notes.items() if uid in traffic.notes),
            refused=dict(traffic.refused),
        )

    def all_handled(self) -> bool:
        return self.casts_lost == 0 and self.notes_lost == 0
