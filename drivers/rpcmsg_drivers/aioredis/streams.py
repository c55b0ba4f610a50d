"""The stream reader of an async listener: one task consuming its streams through their group.

The asyncio twin of :class:`rpcmsg_drivers.redis.streams.StreamReader`, with its semantics:
it blocks in ``XREADGROUP`` on every stream of the listener at once, on a connection named
after its consumer (writing the acks collected since its last read in the same round trip),
and adds what it reads to the :class:`~rpcmsg_drivers.aioredis.inbox.AsyncInbox`. Between
reads it beats: it refreshes its routes and transient streams, resets the idle time of the
entries it holds, takes over the entries of consumers whose connection is gone (``CLIENT
LIST``), claims with ``XAUTOCLAIM`` entries idle longer than ``claim_idle_time`` and
forgets consumers long idle with nothing pending. After a lost connection it reconnects
with backoff, declares its groups again and first re-reads what Redis had handed to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rpcmsg.driver import note_reconnect
from rpcmsg_drivers.aioredis.connection import AsyncFactory, discard, roundtrip
from rpcmsg_drivers.aioredis.inbox import AsyncInbox
from rpcmsg_drivers.redis.keys import GROUP
from rpcmsg_drivers.redis.resp import pack
from rpcmsg_drivers.redis.scripts import FORGET
from rpcmsg_drivers.redis.wire import (
    FORGET_AFTER,
    MAX_BEAT,
    ListenPlan,
    entries_of,
    read_reply,
    text,
)

__all__ = ["AsyncStreamReader"]

LOG = logging.getLogger(__name__)


class AsyncStreamReader:
    """Reads the streams of ``plan`` as consumer ``consumer`` into ``inbox``."""

    def __init__(
        self,
        factory: AsyncFactory,
        inbox: AsyncInbox,
        consumer: str,
        plan: ListenPlan,
        route_ttl: float,
    ) -> None:
        settings = factory.settings
        self._factory = factory
        self._inbox = inbox
        self.consumer = consumer
        self.streams = list(dict.fromkeys(plan.streams))
        self._transient = list(plan.transient)
        self.routes = list(plan.routes)
        self.owned = {r.stream for r in plan.routes if r.owned}
        self._route_ttl_ms = int(route_ttl * 1000)
        self._claim_idle_ms = int(settings.claim_idle_time * 1000)
        self._beat_every = min(settings.claim_idle_time / 3.0, MAX_BEAT)
        # Blocking reads end well before the socket timeout would call the connection dead.
        self._block_ms = max(1, int(min(self._beat_every, settings.socket_timeout / 2) * 1000))
        # An exchange (a blocking read included) ends within this, or its connection is
        # taken as broken.
        self._limit = self._block_ms / 1000 + settings.socket_timeout
        self._conn: Any = None
        self.client_id: int | None = None
        self._orphans_left = False
        self.task: asyncio.Task[None] | None = None

    async def _run(self, conn: Any, *commands: bytes) -> list[Any]:
        """:func:`roundtrip`, raising the first error reply."""
        replies = await roundtrip(conn, commands, self._limit)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def open(self) -> None:
        """Declare the streams, take over what dead consumers left, start the task.
        Raises the redis-py error when Redis cannot be reached."""
        conn = self._factory.dedicated(self.consumer)
        try:
            await self._setup(conn)
            self._orphans_left = await self._beat(conn)
        except BaseException:
            await discard(conn)
            raise
        self._conn = conn
        self.task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"rpcmsg-redis-{self.consumer}"
        )

    async def _loop(self) -> None:
        attempt = 0
        next_beat = time.monotonic() + (0.0 if self._orphans_left else self._beat_every)
        inbox = self._inbox
        while not inbox.stopped:
            try:
                if self._conn is None:
                    self._conn = self._factory.dedicated(self.consumer)
                    await self._setup(self._conn)
                    await self._recover(self._conn)
                    LOG.info("Listener %s reconnected to Redis", self.consumer)
                if time.monotonic() >= next_beat:
                    orphans_left = await self._beat(self._conn)
                    # A dead consumer's entries are taken a prefetch window at a time.
                    next_beat = time.monotonic() + (0.0 if orphans_left else self._beat_every)
                room = await inbox.wait_for_room(self._beat_every)
                if room and not inbox.stopped and time.monotonic() < next_beat:
                    await self._read(self._conn, room)
                attempt = 0
            except Exception as exc:  # READ_ERRORS, or a reply of an unexpected shape
                if inbox.stopped:
                    break
                delay = self._factory.settings.backoff(attempt)
                attempt += 1
                LOG.warning(
                    "Listener %s lost Redis (%s: %s); reconnecting in %.1fs",
                    self.consumer,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                note_reconnect("redis")
                self.client_id = None
                await discard(self._conn)
                self._conn = None
                await asyncio.sleep(delay)
        await discard(self._conn)
        self._conn = None

    async def _read(self, conn: Any, count: int) -> None:
        """Write the acks collected so far and read up to ``count`` new entries, in one
        round trip."""
        acks = self._inbox.take_acks()
        commands: list[bytes] = []
        by_stream: dict[str, list[str]] = {}
        for ack in acks:
            by_stream.setdefault(ack.stream, []).append(ack.entry_id)
        for stream, ids in by_stream.items():
            commands.append(pack(b"XACK", stream, GROUP, *ids))
            commands.append(pack(b"XDEL", stream, *ids))
        commands.append(
            pack(
                b"XREADGROUP",
                b"GROUP",
                GROUP,
                self.consumer,
                b"COUNT",
                count,
                b"BLOCK",
                self._block_ms,
                b"STREAMS",
                *self.streams,
                *([b">"] * len(self.streams)),
            )
        )
        try:
            reply = (await roundtrip(conn, commands, self._limit))[-1]
        except BaseException:
            self._inbox.restore_acks(acks)
            raise
        if isinstance(reply, Exception):
            raise reply
        await self._deliver(conn, read_reply(reply), redelivered=False)

    async def _setup(self, conn: Any) -> None:
        """Create the streams and groups that are missing; register routes."""
        create = [pack(b"XGROUP", b"CREATE", s, GROUP, b"0", b"MKSTREAM") for s in self.streams]
        for result in await roundtrip(conn, create, self._limit):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        await self._refresh(conn)
        (client_id,) = await self._run(conn, pack(b"CLIENT", b"ID"))
        self.client_id = int(client_id)

    async def _refresh(self, conn: Any) -> None:
        if not self.routes and not self._transient:
            return
        expires = int(time.time() * 1000) + self._route_ttl_ms
        commands = []
        for route in self.routes:
            commands.append(pack(b"ZADD", route.zset, expires, route.stream))
            commands.append(pack(b"PEXPIRE", route.zset, self._route_ttl_ms))
        for stream in self._transient:
            commands.append(pack(b"PEXPIRE", stream, self._route_ttl_ms))
        await self._run(conn, *commands)

    async def _recover(self, conn: Any) -> None:
        """Deliver entries Redis handed to this consumer that never reached it."""
        streams = self.streams
        (reply,) = await self._run(
            conn,
            pack(b"XREADGROUP", b"GROUP", GROUP, self.consumer, b"COUNT", 10_000, b"STREAMS",
                 *streams, *([b"0"] * len(streams))),
        )  # fmt: skip
        await self._deliver(conn, read_reply(reply), redelivered=True)

    async def _beat(self, conn: Any) -> bool:
        """Refresh routes and held entries; take over entries of dead consumers. Returns
        whether dead consumers still hold entries that did not fit in the inbox."""
        await self._refresh(conn)
        held = self._inbox.held()
        if held:
            claims = [
                pack(b"XCLAIM", stream, GROUP, self.consumer, 0, *ids, b"JUSTID")
                for stream, ids in held.items()
            ]
            await roundtrip(conn, claims, self._limit)
        (listing,) = await roundtrip(conn, [pack(b"CLIENT", b"LIST")], self._limit)
        connected = None if isinstance(listing, Exception) else _names(listing)
        left = False
        for stream in self.streams:
            if stream not in self.owned:
                left = await self._claim(conn, stream, connected) or left
        return left

    async def _claim(self, conn: Any, stream: str, connected: set[str] | None) -> bool:
        """As the sync reader's ``_claim``: take the entries of dead (not connected) or
        stuck (idle past ``claim_idle_time``) consumers; forget idle empty ones."""
        forget_after = self._claim_idle_ms * FORGET_AFTER
        left = False
        (infos,) = await self._run(conn, pack(b"XINFO", b"CONSUMERS", stream, GROUP))
        for raw in infos:
            info = {text(k): v for k, v in zip(raw[::2], raw[1::2], strict=True)}
            name = text(info["name"])
            if name == self.consumer:
                continue
            if info["pending"] == 0:
                if info["idle"] > forget_after:
                    await self._run(conn, pack(b"EVAL", FORGET, 1, stream, GROUP, name))
                continue
            if connected is None or name in connected:
                continue
            room = self._inbox.room()
            left = left or info["pending"] > room
            if not room:
                continue
            (pending,) = await self._run(
                conn, pack(b"XPENDING", stream, GROUP, "-", "+", room, name)
            )
            ids = [p[0] for p in pending]
            if ids:
                (claimed,) = await self._run(
                    conn, pack(b"XCLAIM", stream, GROUP, self.consumer, 0, *ids)
                )
                LOG.info("Took %d messages of %s from dead consumer %s", len(claimed), stream, name)
                await self._deliver(conn, read_reply([[stream, claimed]]), redelivered=True)
        room = self._inbox.room()
        if room:
            (auto,) = await self._run(
                conn,
                pack(b"XAUTOCLAIM", stream, GROUP, self.consumer, self._claim_idle_ms, "0-0",
                     b"COUNT", room),
            )  # fmt: skip
            claimed = auto[1]
            if claimed:
                LOG.info("Claimed %d messages of %s idle too long", len(claimed), stream)
                await self._deliver(conn, read_reply([[stream, claimed]]), redelivered=True)
        return left

    async def _deliver(self, conn: Any, reply: Any, redelivered: bool) -> None:
        """Add the entries of a reply to the inbox; acknowledge the ones deleted while
        pending (by another consumer): nothing is left to deliver."""
        entries, deleted = entries_of(reply, redelivered)
        self._inbox.add(entries)
        gone = [key for key in deleted if not self._inbox.knows(key)]
        if gone:  # an entry another writer left without a body is deleted too
            commands = [pack(b"XACK", stream, GROUP, i) for stream, i in gone]
            commands += [pack(b"XDEL", stream, i) for stream, i in gone]
            await roundtrip(conn, commands, self._limit)


def _names(listing: Any) -> set[str]:
    """The client names in a ``CLIENT LIST`` reply."""
    names = set()
    for line in text(listing).splitlines():
        for field in line.split(" "):
            if field.startswith("name="):
                names.add(field[5:])
    return names
