"""The stream reader of a listener: one thread consuming its streams through their group.

The reader owns a connection named after its consumer. It blocks in ``XREADGROUP`` on every
stream of the listener at once (writing the acks collected since its last read in the same
round trip) and adds what it reads to the listener's :class:`~rpcmsg_drivers.redis.inbox.Inbox`.
Between reads it beats: it refreshes its routes and transient streams, resets the idle time
of the entries it holds (so that nobody claims a message a live consumer is working on),
takes over the entries of consumers whose connection is gone (they died), claims with
``XAUTOCLAIM`` entries left idle longer than ``claim_idle_time`` (a consumer connected but
stuck) and forgets consumers long idle with nothing pending.

When the connection breaks, the reader reconnects with backoff, declares its groups again
(Redis may have restarted empty) and first re-reads the entries Redis had already handed to
it, since the reply carrying them may have been lost with the connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from rpcmsg.driver import note_reconnect
from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import REDIS_ERRORS
from rpcmsg_drivers.redis.inbox import Inbox
from rpcmsg_drivers.redis.keys import GROUP
from rpcmsg_drivers.redis.resp import execute_many_pooled, pack
from rpcmsg_drivers.redis.wire import FORGET_AFTER, MAX_BEAT, Route, entries_of, read_reply
from rpcmsg_drivers.redis.wire import text as _text

__all__ = ["Route", "StreamReader"]

LOG = logging.getLogger(__name__)


class StreamReader:
    """Reads ``streams`` as consumer ``consumer`` into ``inbox``.

    ``transient`` streams expire ``route_ttl`` seconds after the last beat; ``routes`` are
    refreshed on every beat. ``ring`` interrupts the listener's call reader; it is called
    when entries arrive while a poller reads the call lists and no other poller waits.
    """

    def __init__(
        self,
        factory: ClientFactory,
        inbox: Inbox,
        consumer: str,
        streams: Sequence[str],
        transient: Sequence[str],
        routes: Sequence[Route],
        route_ttl: float,
        ring: Callable[[redis.Redis], None] | None = None,
    ) -> None:
        settings = factory.settings
        self._ring = ring
        self._factory = factory
        self._inbox = inbox
        self.consumer = consumer
        self.streams = list(dict.fromkeys(streams))
        self._transient = list(transient)
        self.routes = list(routes)
        self.owned = {r.stream for r in routes if r.owned}
        self._route_ttl_ms = int(route_ttl * 1000)
        self._claim_idle_ms = int(settings.claim_idle_time * 1000)
        self._beat_every = min(settings.claim_idle_time / 3.0, MAX_BEAT)
        self._orphans_left = False
        # Blocking reads end well before the socket timeout would call the connection dead.
        self._block_ms = max(1, int(min(self._beat_every, settings.socket_timeout / 2) * 1000))
        self._client: redis.Redis | None = None
        self._client_id: int | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"rpcmsg-redis-{consumer}", daemon=True
        )

    def open(self) -> None:
        """Declare the streams, take over what dead consumers left, start the thread.
        Raises the redis-py error when Redis cannot be reached."""
        client = self._factory.dedicated(self.consumer)
        try:
            self._setup(client)
            self._orphans_left = self._beat(client)
        except BaseException:
            close_client(client)
            raise
        self._client = client
        self.thread.start()

    def unblock(self) -> None:
        """End a blocking read at once (``stop``)."""
        client_id = self._client_id
        if client_id is not None:
            try:
                self._factory.shared.client_unblock(client_id)
            except REDIS_ERRORS:  # the reader's connection is gone anyway
                pass

    def _run(self) -> None:
        client = self._client
        attempt = 0
        next_beat = time.monotonic() + (0.0 if self._orphans_left else self._beat_every)
        while not self._inbox.stopped:
            try:
                if client is None:
                    client = self._factory.dedicated(self.consumer)
                    self._setup(client)
                    self._client = client
                    self._recover(client)
                    LOG.info("Listener %s reconnected to Redis", self.consumer)
                if time.monotonic() >= next_beat:
                    orphans_left = self._beat(client)
                    # A dead consumer's entries are taken a prefetch window at a time: take
                    # the next window as soon as there is room, before reading new entries.
                    next_beat = time.monotonic() + (0.0 if orphans_left else self._beat_every)
                room = self._inbox.wait_for_room(self._beat_every)
                if room and not self._inbox.stopped and time.monotonic() < next_beat:
                    self._read(client, room)
                attempt = 0
            except REDIS_ERRORS as exc:
                if self._inbox.stopped:
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
                self._client_id = None
                close_client(client)
                client = self._client = None
                self._inbox.halt.wait(delay)
        close_client(client)

    def _read(self, client: redis.Redis, count: int) -> None:
        """Write the acks collected so far and read up to ``count`` new entries, in one
        round trip (commands packed by hand: this is the hot path of casts)."""
        acks = self._inbox.take_acks()
        commands: list[bytes] = []
        if acks:
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
            reply = execute_many_pooled(client, commands)[-1]
        except BaseException:
            self._inbox.restore_acks(acks)
            raise
        if isinstance(reply, Exception):
            raise reply
        self._deliver(client, read_reply(reply), redelivered=False)

    def _setup(self, client: redis.Redis) -> None:
        """Create the streams and groups that are missing; register routes."""
        pipe = client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xgroup_create(stream, GROUP, id="0", mkstream=True)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        self._refresh(client)
        self._client_id = int(client.client_id())

    def _refresh(self, client: redis.Redis) -> None:
        if not self.routes and not self._transient:
            return
        expires = int(time.time() * 1000) + self._route_ttl_ms
        pipe = client.pipeline(transaction=False)
        for route in self.routes:
            pipe.zadd(route.zset, {route.stream: expires})
            pipe.pexpire(route.zset, self._route_ttl_ms)
        for stream in self._transient:
            pipe.pexpire(stream, self._route_ttl_ms)
        pipe.execute()

    def _recover(self, client: redis.Redis) -> None:
        """Deliver entries Redis handed to this consumer that never reached it."""
        reply = client.xreadgroup(
            GROUP, self.consumer, dict.fromkeys(self.streams, "0"), count=10_000
        )
        self._deliver(client, reply, redelivered=True)

    def _beat(self, client: redis.Redis) -> bool:
        """Refresh routes and held entries; take over entries of dead consumers. Returns
        whether dead consumers still hold entries that did not fit in the inbox."""
        self._refresh(client)
        held = self._inbox.held()
        if held:
            pipe = client.pipeline(transaction=False)
            for stream, ids in held.items():
                pipe.xclaim(stream, GROUP, self.consumer, 0, list(ids), justid=True)
            pipe.execute(raise_on_error=False)
        connected = _connected_names(client)
        left = False
        for stream in self.streams:
            if stream not in self.owned:
                left = self._claim(client, stream, connected) or left
        return left

    def _claim(self, client: redis.Redis, stream: str, connected: set[str] | None) -> bool:
        """Claim the entries of ``stream`` held by consumers that are not connected (they
        died: their reader connection is named after them) or that stayed idle longer than
        ``claim_idle_time``; forget consumers long idle with nothing pending. Returns whether
        a dead consumer's entries were left for want of room."""
        forget_after = self._claim_idle_ms * FORGET_AFTER
        left = False
        for info in client.xinfo_consumers(stream, GROUP):
            name = _text(info["name"])
            if name == self.consumer:
                continue
            if info["pending"] == 0:
                if info["idle"] > forget_after:
                    self._factory.scripts.forget(keys=[stream], args=[GROUP, name], client=client)
                continue
            if connected is None or name in connected:
                continue
            room = self._inbox.room()
            left = left or info["pending"] > room
            if not room:
                continue
            pending = client.xpending_range(stream, GROUP, "-", "+", room, consumername=name)
            ids: list[Any] = [p["message_id"] for p in pending]
            if ids:
                claimed = client.xclaim(stream, GROUP, self.consumer, 0, ids)
                LOG.info("Took %d messages of %s from dead consumer %s", len(claimed), stream, name)
                self._deliver(client, [[stream, claimed]], redelivered=True)
        room = self._inbox.room()
        if room:
            _next, claimed, *_ = client.xautoclaim(
                stream, GROUP, self.consumer, self._claim_idle_ms, "0-0", count=room
            )
            if claimed:
                LOG.info("Claimed %d messages of %s idle too long", len(claimed), stream)
                self._deliver(client, [[stream, claimed]], redelivered=True)
        return left

    def _deliver(self, client: redis.Redis, reply: Any, redelivered: bool) -> None:
        """Add the entries of an ``XREADGROUP``/``XCLAIM`` reply to the inbox; acknowledge
        the ones deleted while pending (by another consumer): nothing is left to deliver."""
        entries, deleted = entries_of(reply, redelivered)
        gone = [key for key in deleted if not self._inbox.knows(key)]
        self._inbox.add(entries)
        if entries and self._ring is not None and self._inbox.reading:
            self._ring(client)
        if gone:
            pipe = client.pipeline(transaction=False)
            for stream, entry_id in gone:
                pipe.xack(stream, GROUP, entry_id)
                pipe.xdel(stream, entry_id)  # one another writer left without a body
            pipe.execute(raise_on_error=False)


def _connected_names(client: redis.Redis) -> set[str] | None:
    """Names of the connected clients, or None when the server refuses ``CLIENT LIST``
    (then only ``claim_idle_time`` reveals dead consumers)."""
    try:
        return {_text(c.get("name", "")) for c in client.client_list()}
    except redis.exceptions.ResponseError:
        return None
