"""An async listener: the reader tasks of a server or notification listener, and what they took.

An :class:`~rpcmsg_drivers.aioredis.streams.AsyncStreamReader` task consumes the listener's
streams; for an RPC server a second task pops its call lists (the sync driver's lists and
framing, :mod:`rpcmsg_drivers.redis.calls`), as many requests as the prefetch window has
room for, blocking on the lists and the listener's doorbell. Both add to one
:class:`~rpcmsg_drivers.aioredis.inbox.AsyncInbox`, from which any number of tasks ``poll``.

``stop`` wakes pollers at once and ends the readers' blocking reads without losing what
they read: ``CLIENT UNBLOCK`` for the stream read, a ring of the doorbell for the pop (a
ring cannot be lost in a race with the pop's start). ``cleanup`` waits for the readers
(cancelling them after ``socket_timeout``), gives every message taken but not settled back
to its stream or list, writes the pending acks, and removes the listener's own routes,
streams, doorbell and consumer (the consumer only when its reader ended cleanly: deleting
it would drop what a cancelled read took).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, cast

from rpcmsg.driver import note_reconnect
from rpcmsg.driver.aio import AsyncIncomingMessage, AsyncListener
from rpcmsg_drivers.aioredis.connection import READ_ERRORS, AsyncFactory, discard, roundtrip
from rpcmsg_drivers.aioredis.inbox import AsyncInbox
from rpcmsg_drivers.aioredis.streams import AsyncStreamReader
from rpcmsg_drivers.redis.calls import BELL_TTL_MS
from rpcmsg_drivers.redis.errors import translate
from rpcmsg_drivers.redis.framing import unframe_call
from rpcmsg_drivers.redis.inbox import Entry
from rpcmsg_drivers.redis.keys import GROUP
from rpcmsg_drivers.redis.resp import pack
from rpcmsg_drivers.redis.settle import Settlement, settlement_commands
from rpcmsg_drivers.redis.wire import ListenPlan

__all__ = ["AsyncRedisListener"]

LOG = logging.getLogger(__name__)


class _Incoming(AsyncIncomingMessage):
    __slots__ = ("_entry", "_listener", "body", "content_type", "redelivered")

    def __init__(self, listener: AsyncRedisListener, entry: Entry) -> None:
        self._listener = listener
        self._entry = entry
        self.body = entry.body
        self.content_type = entry.content_type
        self.redelivered = entry.redelivered

    async def ack(self) -> None:
        self._listener._inbox.settle(self._entry, requeue=False)

    async def reject(self) -> None:
        self._listener._inbox.settle(self._entry, requeue=False)

    async def requeue(self) -> None:
        await self._listener._requeue(self._entry)


class AsyncRedisListener(AsyncListener):
    """Consumes what ``plan`` names; made by the driver, started by ``open``."""

    def __init__(self, factory: AsyncFactory, plan: ListenPlan, route_ttl: float) -> None:
        self._factory = factory
        self._plan = plan
        self.consumer = f"{factory.name}:{uuid.uuid4().hex[:12]}"
        self._inbox = AsyncInbox(factory.settings.prefetch_count)
        self._streams = AsyncStreamReader(factory, self._inbox, self.consumer, plan, route_ttl)
        self._calls: asyncio.Task[None] | None = None
        self._cleaned = False

    async def open(self) -> AsyncRedisListener:
        """Declare the streams and start reading; raises ``TransportDriverError``."""
        try:
            await self._streams.open()
        except READ_ERRORS as exc:
            raise translate(exc, "starting a listener") from exc
        if self._plan.calls:
            self._calls = asyncio.get_running_loop().create_task(
                self._read_calls(), name=f"rpcmsg-redis-calls-{self.consumer}"
            )
        return self

    async def poll(self, timeout: float | None = None) -> AsyncIncomingMessage | None:
        while True:
            entry = await self._inbox.next(timeout)
            if entry is None:
                return None
            if not entry.expired():
                return _Incoming(self, entry)
            LOG.debug("Dropping an expired request from %s", entry.stream)
            self._inbox.settle(entry, requeue=False)

    async def _read_calls(self) -> None:
        """Pop call requests while the window has room, until stopped."""
        inbox, factory = self._inbox, self._factory
        keys = [*self._plan.calls, self._plan.doorbell]
        bell = self._plan.doorbell.encode()
        block = f"{factory.settings.socket_timeout / 2:.3f}"
        limit = factory.settings.socket_timeout * 1.5  # the pop's block and an answer
        conn: Any = None
        attempt = popped_count = 0
        while not inbox.stopped:
            room = await inbox.wait_for_room(factory.settings.socket_timeout)
            if not room or inbox.stopped:
                continue
            try:
                conn = conn or factory.dedicated(f"{self.consumer}:calls")
                command = pack(b"BLMPOP", block, len(keys), *keys, b"LEFT", b"COUNT", room)
                (popped,) = await roundtrip(conn, [command], limit)
                if isinstance(popped, Exception):
                    raise popped
                attempt = 0
            except Exception as exc:  # READ_ERRORS, or a reply of an unexpected shape
                if inbox.stopped:
                    break
                delay = factory.settings.backoff(attempt)
                attempt += 1
                LOG.warning(
                    "Call reader %s lost Redis (%s); reconnecting in %.1fs",
                    self.consumer,
                    exc,
                    delay,
                )
                note_reconnect("redis")
                await discard(conn)
                conn = None
                await asyncio.sleep(delay)
                continue
            if not popped or popped[0] == bell:
                continue
            key = popped[0].decode()
            entries = []
            for value in cast("list[bytes]", popped[1]):
                body, content_type, expires = unframe_call(value)
                popped_count += 1
                call_id = f"call-{popped_count}"
                entries.append(Entry(key, call_id, body, content_type, expires, False, True))
            inbox.add(entries)  # taken after stop, they stay known: cleanup gives them back
        await discard(conn)

    async def stop(self) -> None:
        if not self._inbox.stop():
            return
        commands = []
        if self._streams.client_id is not None:
            commands.append(pack(b"CLIENT", b"UNBLOCK", self._streams.client_id))
        if self._calls is not None:
            commands.append(pack(b"LPUSH", self._plan.doorbell, b""))
            commands.append(pack(b"PEXPIRE", self._plan.doorbell, BELL_TTL_MS))
        if commands:
            try:  # else the reads end within half the socket timeout
                await self._factory.run(commands, 0, "waking a listener's readers")
            except Exception as exc:
                LOG.debug("Could not wake the readers of %s: %s", self.consumer, exc)

    async def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        await self.stop()
        tasks = [t for t in (self._streams.task, self._calls) if t is not None]
        readers_gone = True
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._factory.settings.socket_timeout)
            for task in late:
                task.cancel()
            readers_gone = not late
            if late:
                await asyncio.wait(late)
        leftovers, settlements = self._inbox.drain()
        settlements += [
            entry.settlement(requeue=True)
            for entry in reversed(leftovers)  # calls go back to the head of their list
            if entry.stream not in self._streams.owned
        ]
        try:
            await self._forget(settlements, delete_consumer=readers_gone)
        except Exception as exc:  # cleanup must finish; what is left expires or is claimed
            LOG.warning(
                "Could not clean up a Redis listener: %s; its unsettled messages will be "
                "claimed by another consumer",
                exc,
            )

    async def _forget(self, settlements: list[Settlement], delete_consumer: bool) -> None:
        """Give back or acknowledge what this listener held, then remove its traces."""
        if settlements:
            await self._write(settlements, 2, "cleaning up a listener")
        reader = self._streams
        commands = [pack(b"ZREM", r.zset, r.stream) for r in reader.routes if r.owned]
        if reader.owned:
            commands.append(pack(b"DEL", *reader.owned))
        if self._calls is not None:
            commands.append(pack(b"DEL", self._plan.doorbell))
        if delete_consumer:
            commands += [
                pack(b"XGROUP", b"DELCONSUMER", s, GROUP, self.consumer)
                for s in reader.streams
                if s not in reader.owned
            ]
        if commands:
            await self._factory.run(commands, 2, "cleaning up a listener")

    async def _write(self, settlements: list[Settlement], retry: int, doing: str) -> None:
        """Write ``settlements`` in one transaction."""
        commands = [pack(*c) for c in settlement_commands(settlements)]
        replies = await self._factory.run([pack(b"MULTI"), *commands, pack(b"EXEC")], retry, doing)
        for reply in replies:
            if isinstance(reply, Exception):
                raise translate(reply, doing) from reply

    async def _requeue(self, entry: Entry) -> None:
        if not self._inbox.settle(entry, requeue=True):
            return  # settled already
        try:
            await self._write([entry.settlement(requeue=True)], 3, "requeueing a message")
        except Exception as exc:  # the entry stays pending: claimed again later
            LOG.warning("Could not requeue a message (%s); it will be claimed again", exc)
