"""What a listener's readers have taken from Redis and its pollers have not settled yet.

The stream reader (:mod:`~rpcmsg_drivers.redis.streams`) adds entries; ``next`` hands
each to one polling thread. An entry stays *known* from the moment it is read until it is
settled or given back, so a reader never delivers it twice and ``cleanup`` knows what to give
back. Acks of stream entries wait here until the stream reader writes them with its next
read. At most ``prefetch`` entries wait to be polled.

The inbox also keeps the *turn* to read the call lists (:mod:`~rpcmsg_drivers.redis.calls`):
the pollers take turns (:class:`rpcmsg.driver.turns.Turns`), so a request is handled by the
thread that popped it, with no hand-off between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from rpcmsg.driver.turns import READ, Turns
from rpcmsg_drivers.redis.settle import Settlement

__all__ = ["READ", "Entry", "Inbox"]


@dataclass(frozen=True)
class Entry:
    """A message delivered to a listener: a stream entry, or a call request popped from a
    list (``listed``)."""

    stream: str
    entry_id: str
    body: bytes
    content_type: str
    expires: str
    redelivered: bool
    listed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.stream, self.entry_id)

    def expired(self) -> bool:
        """Whether the expiry passed; an expiry that is not a number is ignored (the message
        was not written by this driver: the core judges its body)."""
        if not self.expires:
            return False
        try:
            return int(self.expires) <= time.time() * 1000
        except ValueError:
            return False

    def settlement(self, requeue: bool) -> Settlement:
        if not requeue:
            return Settlement(self.stream, self.entry_id, listed=self.listed)
        return Settlement(
            self.stream,
            self.entry_id,
            True,
            self.body,
            self.content_type,
            self.expires,
            self.listed,
        )


class Inbox:
    """The state a listener's threads share.

    Waiting entries and the turn to read are kept by a :class:`~rpcmsg.driver.turns.Turns`;
    the known entries and pending acks are guarded by a lock; readers wait for room on a
    condition that every entry taken signals.
    """

    def __init__(self, prefetch: int) -> None:
        self._prefetch = prefetch
        self._turns = Turns()
        self._lock = threading.Lock()
        self._room = threading.Condition(threading.Lock())
        self._known: dict[tuple[str, str], Entry] = {}
        self._acks: list[Settlement] = []
        #: Set by ``stop``: readers waiting to reconnect wake up and leave.
        self.halt = threading.Event()

    def __len__(self) -> int:
        """How many entries are known: taken from Redis and not settled."""
        with self._lock:
            return len(self._known)

    @property
    def stopped(self) -> bool:
        return self._turns.stopped

    def stop(self) -> bool:
        """Wake every poller and reader; False if already stopped."""
        if not self._turns.stop():
            return False
        with self._room:
            self._room.notify_all()
        self.halt.set()
        return True

    # -- readers -----------------------------------------------------------------------

    def knows(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._known

    def add(self, entries: Iterable[Entry]) -> None:
        """Make ``entries`` (those not known yet) available to pollers."""
        fresh = []
        with self._lock:
            for entry in entries:
                if entry.key not in self._known:
                    self._known[entry.key] = entry
                    fresh.append(entry)
        for entry in fresh:
            self._turns.put(entry)

    def room(self) -> int:
        return max(0, self._prefetch - self._turns.pending())

    def wait_for_room(self, timeout: float) -> int:
        """How many entries may be read now, after waiting up to ``timeout`` for room."""
        with self._room:
            self._room.wait_for(lambda: self.stopped or self.room() > 0, timeout)
        return self.room()

    def held(self) -> dict[str, list[str]]:
        """Ids of the known stream entries, per stream (to keep them from going idle)."""
        with self._lock:
            held: dict[str, list[str]] = {}
            for entry in self._known.values():
                if not entry.listed:
                    held.setdefault(entry.stream, []).append(entry.entry_id)
            return held

    def take_acks(self) -> list[Settlement]:
        with self._lock:
            acks, self._acks = self._acks, []
            return acks

    def restore_acks(self, acks: list[Settlement]) -> None:
        """Put back acks whose write failed (writing them again is harmless)."""
        with self._lock:
            self._acks[:0] = acks

    # -- pollers -----------------------------------------------------------------------

    def next(self, timeout: float | None, may_read: bool = False) -> Any:
        """The next entry; or ``READ`` when ``may_read`` and the turn to read the call lists
        was free (the caller holds it now and must call ``end_turn``); or None after
        ``timeout`` or once stopped. An entry taken after ``stop`` stays known, so that
        ``cleanup`` gives it back."""
        item = self._turns.next(timeout, may_read)
        if item is None or item is READ:
            return item
        self._taken()
        return None if self.stopped else cast(Entry, item)

    def take_nowait(self) -> Entry | None:
        """An entry waiting to be polled, if any (the turn holder looks between reads)."""
        item = self._turns.take_nowait()
        if item is None:
            return None
        self._taken()
        return cast(Entry, item)

    def keep(self, entries: list[Entry]) -> Entry:
        """Make the entries the turn holder popped known; the first is its own to handle,
        the others wait for pollers."""
        first, rest = entries[0], entries[1:]
        with self._lock:
            self._known[first.key] = first
        if rest:
            self.add(rest)
        return first

    def end_turn(self, eager: bool) -> None:
        """Give the turn to read back; ``eager``: wake a waiting poller to take it."""
        self._turns.end_turn(eager)

    @property
    def reading(self) -> bool:
        """Whether a poller holds the turn to read and none waits for entries (a new entry
        would then wait for the holder's read to end)."""
        return self._turns.reading

    def _taken(self) -> None:
        with self._room:
            self._room.notify()

    def settle(self, entry: Entry, requeue: bool) -> bool:
        """Forget ``entry``; an ack of a stream entry waits for the reader. Returns False
        when it was settled (or given back) already, True when a requeue is to be written."""
        with self._lock:
            if self._known.pop(entry.key, None) is None:
                return False
            if not requeue:
                if not entry.listed:
                    self._acks.append(entry.settlement(requeue=False))
                return False
            return True

    def drain(self) -> tuple[list[Entry], list[Settlement]]:
        """Everything unsettled and every pending ack, leaving the inbox empty (cleanup)."""
        with self._lock:
            leftovers = list(self._known.values())
            self._known.clear()
            acks, self._acks = self._acks, []
        self._turns.drain()
        return leftovers, acks
