"""A listener: one reader thread consuming a set of streams through their consumer group.

The reader owns a dedicated connection. It blocks in ``XREADGROUP`` on every stream of the
listener at once and puts what it reads into a buffer of at most ``prefetch_count`` entries,
from which any number of threads ``poll``. Between reads it beats: it refreshes its routes
and transient streams, resets the idle time of the entries it holds (so that nobody claims a
message a live consumer is still working on), claims with ``XAUTOCLAIM`` the entries other
consumers left idle longer than ``claim_idle_time`` (they died holding them) and forgets
consumers long idle with nothing pending.

When the connection breaks, the reader reconnects with backoff, declares its groups again
(Redis may have restarted empty) and first re-reads the entries Redis had already handed to
it, since the reply carrying them may have been lost with the connection. ``stop`` wakes a
blocked reader at once with ``CLIENT UNBLOCK``. ``cleanup`` gives every entry read but not
settled back to its stream.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg_drivers.redis.calls import CallReader, unframe_call
from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import REDIS_ERRORS, translate
from rpcmsg_drivers.redis.keys import GROUP
from rpcmsg_drivers.redis.settle import Settlement, queue_settlements

__all__ = ["Entry", "RedisListener", "Route"]

LOG = logging.getLogger(__name__)

#: Seconds between two beats at most (a dead consumer's messages wait this long).
_MAX_BEAT = 5.0

#: Idle consumers with nothing pending are forgotten after this many claim idle times.
_FORGET_AFTER = 10


@dataclass(frozen=True)
class Route:
    """A zset entry that makes publishers copy messages into one of the listener's streams,
    refreshed while the listener lives; ``owned`` routes are removed by ``cleanup``."""

    zset: str
    stream: str
    owned: bool


@dataclass(frozen=True)
class Entry:
    """A stream entry delivered to this listener."""

    stream: str
    entry_id: str
    body: bytes
    content_type: str
    expires: str
    redelivered: bool
    #: A call request popped from a list rather than read from a stream.
    listed: bool = False

    def expired(self) -> bool:
        return bool(self.expires) and int(self.expires) < time.time() * 1000


class _Incoming(IncomingMessage):
    __slots__ = ("_entry", "_listener", "body", "content_type", "redelivered")

    def __init__(self, listener: RedisListener, entry: Entry) -> None:
        self._listener = listener
        self._entry = entry
        self.body = entry.body
        self.content_type = entry.content_type
        self.redelivered = entry.redelivered

    def ack(self) -> None:
        self._listener._settle(self._entry, requeue=False)

    def reject(self) -> None:
        self._listener._settle(self._entry, requeue=False)

    def requeue(self) -> None:
        self._listener._settle(self._entry, requeue=True)


class RedisListener(Listener):
    """Consumes ``streams`` (created with their group if missing) as one consumer.

    ``transient`` streams belong to this listener alone (fanout copies, pool streams): they
    expire ``route_ttl`` seconds after the last beat and owned ones are deleted by
    ``cleanup``; ``routes`` are refreshed on every beat.
    """

    def __init__(
        self,
        factory: ClientFactory,
        streams: Sequence[str],
        *,
        transient: Sequence[str] = (),
        routes: Sequence[Route] = (),
        route_ttl: float = 0.0,
        calls: Sequence[str] = (),
    ) -> None:
        self._factory = factory
        settings = factory.settings
        self._streams = list(dict.fromkeys(streams))
        self._transient = list(transient)
        self._owned = {r.stream for r in routes if r.owned}
        self._routes = list(routes)
        self._route_ttl_ms = int(route_ttl * 1000)
        self._prefetch = settings.prefetch_count
        self._claim_idle_ms = int(settings.claim_idle_time * 1000)
        self._beat_every = min(settings.claim_idle_time / 3.0, _MAX_BEAT)
        # Blocking reads end well before the socket timeout would call the connection dead.
        self._block_ms = max(1, int(min(self._beat_every, settings.socket_timeout / 2) * 1000))
        self.consumer = f"{factory.name}:{uuid.uuid4().hex[:12]}"
        self._cond = threading.Condition()
        self._buffer: deque[Entry] = deque()
        self._known: dict[tuple[str, str], Entry] = {}
        self._acks: list[Settlement] = []
        self._stopped = False
        self._halt = threading.Event()
        self._client: redis.Redis | None = None
        self._client_id: int | None = None
        self._thread: threading.Thread | None = None
        self._popped = 0
        self._calls = CallReader(factory, calls, self, f"{self.consumer}:calls") if calls else None

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> RedisListener:
        """Declare the streams and start reading; raises ``TransportDriverError``."""
        client = self._factory.dedicated(self.consumer)
        try:
            self._setup(client)
            self._beat(client)
        except REDIS_ERRORS as exc:
            client.close()
            raise translate(exc, "starting a listener") from exc
        self._client = client
        self._thread = threading.Thread(
            target=self._run, name=f"rpcmsg-redis-listener-{self.consumer}", daemon=True
        )
        self._thread.start()
        if self._calls is not None:
            self._calls.start()
        return self

    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
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
            if entry.expired():
                LOG.debug("Dropping an expired request from %s", entry.stream)
                self._settle(entry, requeue=False)
                continue
            return _Incoming(self, entry)

    def stop(self) -> None:
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._cond.notify_all()
        self._halt.set()
        self._unblock()

    def cleanup(self) -> None:
        self.stop()
        threads = [t for t in (self._thread, self._calls and self._calls.thread) if t]
        deadline = time.monotonic() + self._factory.settings.socket_timeout
        while time.monotonic() < deadline:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(0.05)
            self._unblock()
        reader_gone = not any(t.is_alive() for t in threads)
        with self._cond:
            leftovers = list(self._known.values())
            self._known.clear()
            self._buffer.clear()
            settlements, self._acks = self._acks, []
        settlements += [
            _settlement(entry, requeue=True)
            for entry in reversed(leftovers)  # calls go back to the head of their list
            if entry.stream not in self._owned
        ]
        try:
            self._factory.run(
                lambda c: self._forget(c, settlements, delete_consumer=reader_gone),
                2,
                "cleaning up a listener",
            )
        except Exception as exc:  # cleanup must finish; what is left expires or is claimed
            LOG.warning(
                "Could not clean up a Redis listener: %s; its unsettled messages will be "
                "claimed by another consumer after claim_idle_time",
                exc,
            )

    def _forget(
        self, client: redis.Redis, settlements: list[Settlement], delete_consumer: bool
    ) -> None:
        """Give back or acknowledge what this listener held, then remove its traces."""
        if settlements:
            pipe = client.pipeline(transaction=True)
            queue_settlements(pipe, settlements, self._factory.settings.stream_max_length)
            pipe.execute()
        pipe = client.pipeline(transaction=False)
        for route in self._routes:
            if route.owned:
                pipe.zrem(route.zset, route.stream)
        if self._owned:
            pipe.delete(*self._owned)
        if delete_consumer:
            for stream in self._streams:
                if stream not in self._owned:
                    pipe.xgroup_delconsumer(stream, GROUP, self.consumer)
        pipe.execute(raise_on_error=False)

    def _unblock(self) -> None:
        if self._calls is not None:
            self._calls.unblock()
        client_id = self._client_id
        if client_id is None:
            return
        try:
            self._factory.shared.client_unblock(client_id)
        except REDIS_ERRORS:  # the reader's connection is gone anyway
            pass

    # -- settling ----------------------------------------------------------------------

    def _settle(self, entry: Entry, requeue: bool) -> None:
        with self._cond:
            if self._known.pop((entry.stream, entry.entry_id), None) is None:
                return  # settled already, or given back by cleanup
            if not requeue:
                if not entry.listed:
                    self._acks.append(_settlement(entry, requeue=False))
                return
        settlement = [_settlement(entry, requeue=True)]
        maxlen = self._factory.settings.stream_max_length

        def write(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=True)
            queue_settlements(pipe, settlement, maxlen)
            pipe.execute()

        try:
            self._factory.run(write, 3, "requeueing a message")
        except Exception as exc:  # the entry stays pending: claimed again after idle time
            LOG.warning(
                "Could not requeue a message (%s); it comes back after %.0fs",
                exc,
                self._factory.settings.claim_idle_time,
            )

    # -- the reader --------------------------------------------------------------------

    def _run(self) -> None:
        client = self._client
        attempt = 0
        next_beat = time.monotonic() + self._beat_every
        while not self._stopped:
            try:
                if client is None:
                    client = self._factory.dedicated(self.consumer)
                    self._setup(client)
                    self._client = client
                    self._recover(client)
                    LOG.info("Listener %s reconnected to Redis", self.consumer)
                if time.monotonic() >= next_beat:
                    self._beat(client)
                    next_beat = time.monotonic() + self._beat_every
                room = self._wait_for_room(self._beat_every)
                if room and not self._stopped:
                    self._read(client, room)
                attempt = 0
            except REDIS_ERRORS as exc:
                if self._stopped:
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
                self._client_id = None
                close_client(client)
                client = self._client = None
                self._halt.wait(delay)
        close_client(client)

    def _read(self, client: redis.Redis, count: int) -> None:
        """Write the acks collected so far and read up to ``count`` new entries, in one
        round trip."""
        with self._cond:
            acks, self._acks = self._acks, []
        streams: dict[Any, Any] = dict.fromkeys(self._streams, ">")
        if not acks:
            reply = client.xreadgroup(
                GROUP, self.consumer, streams, count=count, block=self._block_ms
            )
        else:
            pipe = client.pipeline(transaction=False)
            self._factory.scripts.ack(
                keys=[a.stream for a in acks],
                args=[GROUP, *(a.entry_id for a in acks)],
                client=pipe,
            )
            pipe.xreadgroup(GROUP, self.consumer, streams, count=count, block=self._block_ms)
            try:
                reply = pipe.execute(raise_on_error=False)[-1]
            except BaseException:
                with self._cond:  # written or not, writing them again is harmless
                    self._acks[:0] = acks
                raise
            if isinstance(reply, Exception):
                raise reply
        self._deliver(client, reply, redelivered=False)

    def _setup(self, client: redis.Redis) -> None:
        """Create the streams and groups that are missing; register routes."""
        pipe = client.pipeline(transaction=False)
        for stream in self._streams:
            pipe.xgroup_create(stream, GROUP, id="0", mkstream=True)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        self._refresh(client)
        self._client_id = int(client.client_id())

    def _refresh(self, client: redis.Redis) -> None:
        if not self._routes and not self._transient:
            return
        expires = int(time.time() * 1000) + self._route_ttl_ms
        pipe = client.pipeline(transaction=False)
        for route in self._routes:
            pipe.zadd(route.zset, {route.stream: expires})
            pipe.pexpire(route.zset, self._route_ttl_ms)
        for stream in self._transient:
            pipe.pexpire(stream, self._route_ttl_ms)
        pipe.execute()

    def _recover(self, client: redis.Redis) -> None:
        """Deliver entries Redis handed to this consumer that never reached it."""
        reply = client.xreadgroup(
            GROUP, self.consumer, dict.fromkeys(self._streams, "0"), count=10_000
        )
        self._deliver(client, reply, redelivered=True)

    def _beat(self, client: redis.Redis) -> None:
        """Refresh routes and held entries; take over entries of dead consumers."""
        self._refresh(client)
        with self._cond:
            held: dict[str, list[int | bytes | str | memoryview]] = {}
            for (stream, entry_id), entry in self._known.items():
                if not entry.listed:
                    held.setdefault(stream, []).append(entry_id)
        if held:
            pipe = client.pipeline(transaction=False)
            for stream, ids in held.items():
                pipe.xclaim(stream, GROUP, self.consumer, 0, ids, justid=True)
            pipe.execute(raise_on_error=False)
        connected = _connected_names(client)
        for stream in self._streams:
            if stream not in self._owned:
                self._claim(client, stream, connected)

    def _claim(self, client: redis.Redis, stream: str, connected: set[str] | None) -> None:
        """Claim the entries of ``stream`` held by consumers that are not connected (they
        died: their reader connection is named after them) or that stayed idle longer than
        ``claim_idle_time``; forget consumers long idle with nothing pending."""
        forget_after = self._claim_idle_ms * _FORGET_AFTER
        for info in client.xinfo_consumers(stream, GROUP):
            name = _text(info["name"])
            if name == self.consumer:
                continue
            if info["pending"] == 0:
                if info["idle"] > forget_after:
                    self._factory.scripts.forget(keys=[stream], args=[GROUP, name], client=client)
                continue
            room = self._room()
            if connected is None or name in connected or not room:
                continue
            pending = client.xpending_range(stream, GROUP, "-", "+", room, consumername=name)
            ids: list[Any] = [p["message_id"] for p in pending]
            if ids:
                claimed = client.xclaim(stream, GROUP, self.consumer, 0, ids)
                LOG.info("Took %d messages of %s from dead consumer %s", len(claimed), stream, name)
                self._deliver(client, [[stream, claimed]], redelivered=True)
        room = self._room()
        if room:
            _next, claimed, *_ = client.xautoclaim(
                stream, GROUP, self.consumer, self._claim_idle_ms, "0-0", count=room
            )
            if claimed:
                LOG.info("Claimed %d messages of %s idle too long", len(claimed), stream)
                self._deliver(client, [[stream, claimed]], redelivered=True)

    # -- what the call reader sees (CallSink) -------------------------------------------

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def halt(self) -> threading.Event:
        return self._halt

    def wait_for_room(self, timeout: float) -> int:
        return self._wait_for_room(timeout)

    def deliver_calls(self, key: str, values: list[bytes]) -> None:
        with self._cond:
            for value in values:
                body, content_type, expires = unframe_call(value)
                self._popped += 1
                entry = Entry(key, f"call-{self._popped}", body, content_type, expires, False, True)
                self._known[(key, entry.entry_id)] = entry
                self._buffer.append(entry)
            self._cond.notify_all()

    def _room(self) -> int:
        with self._cond:
            return max(0, self._prefetch - len(self._buffer))

    def _wait_for_room(self, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(
                lambda: self._stopped or len(self._buffer) < self._prefetch, timeout
            )
            return max(0, self._prefetch - len(self._buffer))

    def _deliver(self, client: redis.Redis, reply: Any, redelivered: bool) -> None:
        gone: list[tuple[str, str]] = []
        with self._cond:
            for stream_name, entries in _streams_of(reply):
                stream = _text(stream_name)
                for raw_id, fields in entries:
                    entry_id = _text(raw_id)
                    if (stream, entry_id) in self._known:
                        continue
                    if not fields or b"b" not in fields:
                        gone.append((stream, entry_id))  # trimmed while pending
                        continue
                    entry = Entry(
                        stream,
                        entry_id,
                        fields[b"b"],
                        _text(fields.get(b"c", b"")),
                        _text(fields.get(b"e", b"")),
                        redelivered or b"r" in fields,
                    )
                    self._known[(stream, entry_id)] = entry
                    self._buffer.append(entry)
            self._cond.notify_all()
        if gone:
            pipe = client.pipeline(transaction=False)
            for stream, entry_id in gone:
                pipe.xack(stream, GROUP, entry_id)
            pipe.execute(raise_on_error=False)


def _settlement(entry: Entry, requeue: bool) -> Settlement:
    if not requeue:
        return Settlement(entry.stream, entry.entry_id)
    return Settlement(
        entry.stream,
        entry.entry_id,
        True,
        entry.body,
        entry.content_type,
        entry.expires,
        entry.listed,
    )


def _streams_of(reply: Any) -> list[tuple[Any, Any]]:
    """``[(stream, [(id, fields), ...]), ...]`` from an XREADGROUP reply (RESP2)."""
    return [(name, entries) for name, entries in reply or ()]


def _connected_names(client: redis.Redis) -> set[str] | None:
    """Names of the connected clients, or None when the server refuses ``CLIENT LIST``
    (then only ``claim_idle_time`` reveals dead consumers)."""
    try:
        return {_text(c.get("name", "")) for c in client.client_list()}
    except redis.exceptions.ResponseError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
