"""What an async listener's readers took from Redis and its pollers have not settled yet.

The asyncio twin of :class:`rpcmsg_drivers.redis.inbox.Inbox`, with the same entries
(:class:`~rpcmsg_drivers.redis.inbox.Entry`) and settlements: readers ``add`` entries, each
``next`` hands one to a polling task. An entry stays *known* from the moment it is read until
it is settled or given back, so a reader never delivers it twice and ``cleanup`` knows what
to give back. Acks of stream entries wait here until the stream reader writes them with its
next read. At most ``prefetch`` entries wait to be polled.

Taking an entry and returning it to the poller happen with no ``await`` in between, so a
cancelled poll never takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable

from rpcmsg_drivers.redis.inbox import Entry
from rpcmsg_drivers.redis.settle import Settlement

__all__ = ["AsyncInbox"]


class AsyncInbox:
    """The state a listener's tasks share (all in one loop: no locks)."""

    def __init__(self, prefetch: int) -> None:
        self._prefetch = prefetch
        self._waiting: deque[Entry] = deque()
        self._known: dict[tuple[str, str], Entry] = {}
        self._acks: list[Settlement] = []
        self._ready = asyncio.Event()  # an entry waits, or stopped
        self._room = asyncio.Event()  # fewer than prefetch wait, or stopped
        self._room.set()
        self.stopped = False

    def __len__(self) -> int:
        """How many entries are known: taken from Redis and not settled."""
        return len(self._known)

    def stop(self) -> bool:
        """Wake every poller and reader; False if already stopped."""
        if self.stopped:
            return False
        self.stopped = True
        self._ready.set()
        self._room.set()
        return True

    def _changed(self) -> None:
        if self._waiting or self.stopped:
            self._ready.set()
        else:
            self._ready.clear()
        if self.room() or self.stopped:
            self._room.set()
        else:
            self._room.clear()

    # -- readers -----------------------------------------------------------------------

    def knows(self, key: tuple[str, str]) -> bool:
        return key in self._known

    def add(self, entries: Iterable[Entry]) -> None:
        """Make ``entries`` (those not known yet) available to pollers."""
        for entry in entries:
            if entry.key not in self._known:
                self._known[entry.key] = entry
                self._waiting.append(entry)
        self._changed()

    def room(self) -> int:
        return max(0, self._prefetch - len(self._waiting))

    async def wait_for_room(self, timeout: float) -> int:
        """How many entries may be read now, after waiting up to ``timeout`` for room."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._room.wait()
        return self.room()

    def held(self) -> dict[str, list[str]]:
        """Ids of the known stream entries, per stream (to keep them from going idle)."""
        held: dict[str, list[str]] = {}
        for entry in self._known.values():
            if not entry.listed:
                held.setdefault(entry.stream, []).append(entry.entry_id)
        return held

    def take_acks(self) -> list[Settlement]:
        acks, self._acks = self._acks, []
        return acks

    def restore_acks(self, acks: list[Settlement]) -> None:
        """Put back acks whose write failed (writing them again is harmless)."""
        self._acks[:0] = acks

    # -- pollers -----------------------------------------------------------------------

    async def next(self, timeout: float | None) -> Entry | None:
        """The next entry, or None after ``timeout`` or once stopped."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self.stopped:
            if self._waiting:
                entry = self._waiting.popleft()
                self._changed()
                return entry
            try:
                async with asyncio.timeout_at(deadline):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return None

    def settle(self, entry: Entry, requeue: bool) -> bool:
        """Forget ``entry``; an ack of a stream entry waits for the reader. Returns False
        when it was settled (or given back) already, True when a requeue is to be written."""
        if self._known.pop(entry.key, None) is None:
            return False
        if not requeue:
            if not entry.listed:
                self._acks.append(entry.settlement(requeue=False))
            return False
        return True

    def drain(self) -> tuple[list[Entry], list[Settlement]]:
        """Everything unsettled and every pending ack, leaving the inbox empty (cleanup)."""
        leftovers = list(self._known.values())
        self._known.clear()
        self._waiting.clear()
        acks, self._acks = self._acks, []
        self._changed()
        return leftovers, acks
