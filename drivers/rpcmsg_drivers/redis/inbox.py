"""What a listener's readers have taken from Redis and its pollers have not settled yet.

Readers (:mod:`~rpcmsg_drivers.redis.streams`, :mod:`~rpcmsg_drivers.redis.calls`) ``add``
entries; ``take`` hands each to one polling thread. An entry stays *known* from the moment
it is read until it is settled or given back, so a reader never delivers it twice and
``cleanup`` knows what to give back. Acks of stream entries wait here until the stream
reader writes them with its next read. At most ``prefetch`` entries wait to be polled.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from rpcmsg_drivers.redis.settle import Settlement

__all__ = ["Entry", "Inbox"]


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
        return bool(self.expires) and int(self.expires) <= time.time() * 1000

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
    """The state a listener's threads share, under one condition variable."""

    def __init__(self, prefetch: int) -> None:
        self._prefetch = prefetch
        self._cond = threading.Condition()
        self._buffer: deque[Entry] = deque()
        self._known: dict[tuple[str, str], Entry] = {}
        self._acks: list[Settlement] = []
        self._stopped = False
        #: Set by ``stop``: readers waiting to reconnect wake up and leave.
        self.halt = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> bool:
        """Wake every poller and reader; False if already stopped."""
        with self._cond:
            if self._stopped:
                return False
            self._stopped = True
            self._cond.notify_all()
        self.halt.set()
        return True

    # -- readers -----------------------------------------------------------------------

    def __len__(self) -> int:
        """How many entries are known: taken from Redis and not settled."""
        with self._cond:
            return len(self._known)

    def knows(self, key: tuple[str, str]) -> bool:
        with self._cond:
            return key in self._known

    def add(self, entries: Iterable[Entry]) -> None:
        """Make ``entries`` (those not known yet) available to pollers."""
        with self._cond:
            for entry in entries:
                if entry.key not in self._known:
                    self._known[entry.key] = entry
                    self._buffer.append(entry)
            self._cond.notify_all()

    def room(self) -> int:
        with self._cond:
            return max(0, self._prefetch - len(self._buffer))

    def wait_for_room(self, timeout: float) -> int:
        """How many entries may be read now, after waiting up to ``timeout`` for room."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._stopped or len(self._buffer) < self._prefetch, timeout
            )
            return max(0, self._prefetch - len(self._buffer))

    def held(self) -> dict[str, list[str]]:
        """Ids of the known stream entries, per stream (to keep them from going idle)."""
        with self._cond:
            held: dict[str, list[str]] = {}
            for entry in self._known.values():
                if not entry.listed:
                    held.setdefault(entry.stream, []).append(entry.entry_id)
            return held

    def take_acks(self) -> list[Settlement]:
        with self._cond:
            acks, self._acks = self._acks, []
            return acks

    def restore_acks(self, acks: list[Settlement]) -> None:
        """Put back acks whose write failed (writing them again is harmless)."""
        with self._cond:
            self._acks[:0] = acks

    # -- pollers -----------------------------------------------------------------------

    def take(self, timeout: float | None) -> Entry | None:
        """The next entry, or None after ``timeout`` or once stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buffer:
                if self._stopped:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            if self._stopped:
                return None
            entry = self._buffer.popleft()
            self._cond.notify_all()
            return entry

    def settle(self, entry: Entry, requeue: bool) -> bool:
        """Forget ``entry``; an ack of a stream entry waits for the reader. Returns False
        when it was settled (or given back) already, True when a requeue is to be written."""
        with self._cond:
            if self._known.pop(entry.key, None) is None:
                return False
            if not requeue:
                if not entry.listed:
                    self._acks.append(entry.settlement(requeue=False))
                return False
            return True

    def drain(self) -> tuple[list[Entry], list[Settlement]]:
        """Everything unsettled and every pending ack, leaving the inbox empty (cleanup)."""
        with self._cond:
            leftovers = list(self._known.values())
            self._known.clear()
            self._buffer.clear()
            acks, self._acks = self._acks, []
            return leftovers, acks
