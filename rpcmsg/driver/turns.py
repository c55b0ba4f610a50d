"""Listeners whose pollers read the broker themselves, taking turns (leader/follower).

A listener's ``poll`` runs in the server's workers. A driver that reads the broker right
there, instead of in a thread of its own that hands each message over, saves a thread switch
per message and lets the message be handled by the thread that read it. Two helpers make
that safe:

:class:`Turns` holds the messages read but not yet polled, and the *turn* to read. ``next``
gives the turn to a poller when nobody holds it (it returns :data:`READ`); the others wait
for messages. The holder reads, returns what it read (the rest goes to :meth:`Turns.put`
for the others) and passes the turn on with :meth:`Turns.end_turn`, either way:

* eagerly: a waiting poller is woken to read next (handlers are slow);
* lazily: nobody is woken, since the holder will be back before a wake-up would pay off
  (handlers are quick). One waiting poller, the *standby*, wakes every
  :data:`STANDBY_GRACE` seconds and takes the turn if it is still free, so a handler that
  turns out slow delays other messages by that much at most.

:class:`Pace` tells which: it measures how long pollers stay away handling what ``poll``
returned.

A driver whose reader may block for long must let other threads interrupt it (the Redis
driver's doorbell, a socket pair for AMQP) when something arrives that the holder should
return (``reading`` says when nobody else waits), and when the listener stops.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rpcmsg import _sync

__all__ = ["READ", "STANDBY_GRACE", "Pace", "Turns"]

#: Returned by :meth:`Turns.next` to the poller that now holds the turn to read.
READ: Any = object()

#: Seconds between two looks of the standby poller at a turn left free (lazy passing).
STANDBY_GRACE = 0.05

#: Put in the queue to wake pollers: the turn to read is free (or a standby is wanted).
_TURN: Any = object()

#: Put in the queue once stopped; each poller woken by it passes it on.
_STOP: Any = object()


class Turns:
    """Messages waiting to be polled, and the turn to read more (see the module docstring).

    Waiting messages sit in a FIFO queue (C-implemented, and green under eventlet) that
    wakes one poller per message; the turn's state is guarded by a lock.
    """

    def __init__(self) -> None:
        self._queue: Any = _sync.new_queue()
        self._lock = threading.Lock()
        self._stopped = False
        # Under _lock: whether a poller holds the turn, how many wait for messages, and
        # whether one of those is the standby.
        self._reading = False
        self._waiting = 0
        self._standby = False
        # Under _lock: how many of the waiting pollers may read (only they are woken to
        # take the turn or the standby role), and how many items (not wake-up tokens) the
        # queue holds.
        self._readers = 0
        self._items = 0

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> bool:
        """Make every blocked and later ``next`` return None; False if already stopped."""
        with self._lock:
            if self._stopped:
                return False
            self._stopped = True
        self._queue.put(_STOP)
        return True

    def put(self, item: Any) -> None:
        """Make ``item`` available to one poller."""
        with self._lock:
            self._items += 1
        self._queue.put(item)

    def pending(self) -> int:
        """How many items wait to be polled (wake-up tokens not counted)."""
        with self._lock:
            return self._items

    def next(self, timeout: float | None, may_read: bool) -> Any:
        """The next item; or :data:`READ` when ``may_read`` and the turn was free (the
        caller holds it now and must call ``end_turn``); or None after ``timeout`` seconds
        or once stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._stopped:
                item = self._get_nowait()
                if item is None:
                    with self._lock:
                        if may_read and not self._reading and not self._stopped:
                            self._reading = True
                            return READ
                        self._waiting += 1
                        self._readers += may_read
                        standby = may_read and not self._standby
                        if standby:
                            self._standby = True
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    wait = left
                    if standby:
                        wait = STANDBY_GRACE if left is None else min(left, STANDBY_GRACE)
                    try:
                        item = self._queue.get(timeout=wait)
                    except _sync.Empty:
                        item = None
                    finally:
                        with self._lock:
                            self._waiting -= 1
                            self._readers -= may_read
                            if standby:
                                self._standby = False
                    if item is None:
                        if left is not None and wait == left:
                            return None
                        continue  # the standby looks at the turn
                if item is _STOP:
                    self._queue.put(_STOP)
                    return None
                if item is _TURN:
                    continue
                self._took()
                return item
            return None
        finally:
            # A poller leaving (with an item, the turn or nothing) may leave the standby role
            # empty: another waiting poller takes it, so a turn passed lazily is always read.
            with self._lock:
                self._nominate()

    def take_nowait(self) -> Any:
        """An item waiting to be polled, or None (the turn holder looks between reads)."""
        while True:
            item = self._get_nowait()
            if item is _TURN:  # stale: the caller holds the turn
                continue
            if item is _STOP:
                self._queue.put(_STOP)
                return None
            if item is not None:
                self._took()
            return item

    def end_turn(self, eager: bool) -> None:
        """Give the turn back; ``eager``: wake a waiting poller to take it."""
        with self._lock:
            self._reading = False
            wake = eager and self._readers > 0
            if not wake:
                # Passed lazily: the standby reads it. Should the standby's wake-up have
                # been taken by ``take_nowait`` meanwhile, name another.
                self._nominate()
        if wake:
            self._queue.put(_TURN)

    @property
    def reading(self) -> bool:
        """Whether a poller holds the turn and none waits for items: an item put now waits
        for the holder's read to end, unless the reader is interrupted."""
        with self._lock:
            return self._reading and self._waiting == 0

    def drain(self) -> list[Any]:
        """Every item waiting, leaving none (stopped pollers stay stopped)."""
        items = []
        while True:
            item = self._get_nowait()
            if item is None:
                break
            if item is not _TURN and item is not _STOP:
                items.append(item)
        with self._lock:
            self._items = max(0, self._items - len(items))
        if self._stopped:
            self._queue.put(_STOP)
        return items

    def _get_nowait(self) -> Any:
        if self._queue.empty():
            return None
        try:
            return self._queue.get_nowait()
        except _sync.Empty:
            return None

    def _took(self) -> None:
        with self._lock:
            self._items -= 1

    def _nominate(self) -> None:
        """Wake a waiting poller that may read to become the standby if there is none
        (pollers that may not read never take the turn: waking them would only make them
        spin). Holds ``_lock``."""
        if self._readers > 0 and not self._standby:
            self._queue.put(_TURN)


class Pace:
    """How long a listener's pollers stay away handling what they polled: a moving average
    that says whether to pass the turn on eagerly (handlers slower than ``quick`` seconds).

    Call :meth:`back` when ``poll`` starts and :meth:`away` when it returns a message.
    """

    def __init__(self, quick: float = 0.001, weight: float = 0.1) -> None:
        self._quick = quick
        self._weight = weight
        self._average = 0.0
        self._local = threading.local()

    def back(self) -> None:
        returned = getattr(self._local, "returned", None)
        if returned is not None:
            self._local.returned = None
            self._average += (time.monotonic() - returned - self._average) * self._weight

    def away(self) -> None:
        self._local.returned = time.monotonic()

    @property
    def eager(self) -> bool:
        return self._average > self._quick
