"""A listener: the readers of a server or notification listener, and the messages they took.

A :class:`~rpcmsg_drivers.redis.streams.StreamReader` thread consumes the listener's streams
into an :class:`~rpcmsg_drivers.redis.inbox.Inbox`, from which any number of threads
``poll``. For an RPC server, the pollers also pop the call lists themselves, one at a time,
through a :class:`~rpcmsg_drivers.redis.calls.CallReader`. ``stop`` wakes pollers and
blocked readers at once (``CLIENT UNBLOCK``, the doorbell); ``cleanup`` gives every message
taken but not settled back to its stream or list, writes the pending acks, and removes the
listener's own routes, streams, doorbell and consumer.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence

import redis

from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.driver.turns import Pace
from rpcmsg_drivers.redis.calls import CallReader
from rpcmsg_drivers.redis.connection import ClientFactory
from rpcmsg_drivers.redis.errors import REDIS_ERRORS, translate
from rpcmsg_drivers.redis.inbox import READ, Entry, Inbox
from rpcmsg_drivers.redis.keys import GROUP
from rpcmsg_drivers.redis.settle import Settlement, queue_settlements
from rpcmsg_drivers.redis.streams import Route, StreamReader

__all__ = ["RedisListener", "Route"]

LOG = logging.getLogger(__name__)


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
    """Consumes ``streams`` (created with their group if missing) as one consumer, and the
    call lists ``calls`` if any (interrupted through the list ``doorbell``).

    ``transient`` streams belong to this listener or its pool (fanout copies, pool streams):
    they expire ``route_ttl`` seconds after the last beat; ``routes`` are refreshed on every
    beat, and owned ones are removed with their stream by ``cleanup``.
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
        doorbell: str = "",
    ) -> None:
        self._factory = factory
        self.consumer = f"{factory.name}:{uuid.uuid4().hex[:12]}"
        self._inbox = Inbox(factory.settings.prefetch_count)
        self._calls = (
            CallReader(factory, calls, doorbell, self._inbox, f"{self.consumer}:calls")
            if calls
            else None
        )
        self._streams = StreamReader(
            factory,
            self._inbox,
            self.consumer,
            streams,
            transient,
            routes,
            route_ttl,
            ring=self._calls.ring if self._calls is not None else None,
        )
        self._cleanup_lock = threading.Lock()
        self._cleaned = False
        # How long pollers stay away handling what they took: it decides how the turn to
        # read the call lists is passed on.
        self._pace = Pace()

    def open(self) -> RedisListener:
        """Declare the streams and start reading; raises ``TransportDriverError``."""
        try:
            self._streams.open()
        except REDIS_ERRORS as exc:
            raise translate(exc, "starting a listener") from exc
        return self

    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        may_read = self._calls is not None
        if may_read:
            self._pace.back()
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            item = self._inbox.next(left, may_read)
            entry = self._read_calls(deadline) if item is READ else item
            if entry is None:
                return None
            if not entry.expired():
                if may_read:
                    self._pace.away()
                return _Incoming(self, entry)
            LOG.debug("Dropping an expired request from %s", entry.stream)
            self._settle(entry, requeue=False)

    def _read_calls(self, deadline: float | None) -> Entry | None:
        """Holding the turn: pop call requests until one comes (or a stream entry, which
        rings the doorbell when nobody else polls), the ``deadline`` passes or the listener
        stops; then pass the turn on."""
        assert self._calls is not None
        inbox = self._inbox
        entry = None
        try:
            while not inbox.stopped:
                entry = inbox.take_nowait()
                if entry is not None:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                popped = self._calls.read(left, many=self._pace.eager)
                if popped:
                    entry = inbox.keep(popped)
                    break
        finally:
            inbox.end_turn(eager=self._pace.eager)
        # Taken after stop, an entry stays known: cleanup gives it back.
        return None if inbox.stopped else entry

    def stop(self) -> None:
        if self._inbox.stop():
            self._unblock()
            if self._calls is not None:
                try:
                    self._calls.ring(self._factory.shared)
                except REDIS_ERRORS as exc:  # the pop ends within half the socket timeout
                    LOG.debug("Could not ring the doorbell of %s: %s", self.consumer, exc)

    def cleanup(self) -> None:
        with self._cleanup_lock:
            if self._cleaned:
                return
            self._cleaned = True
        self.stop()
        threads = [self._streams.thread]
        deadline = time.monotonic() + self._factory.settings.socket_timeout
        while time.monotonic() < deadline:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(0.05)
            self._unblock()
        readers_gone = not any(t.is_alive() for t in threads)
        if self._calls is not None:
            self._calls.close()
        leftovers, settlements = self._inbox.drain()
        settlements += [
            entry.settlement(requeue=True)
            for entry in reversed(leftovers)  # calls go back to the head of their list
            if entry.stream not in self._streams.owned
        ]
        try:
            self._factory.run(
                lambda c: self._forget(c, settlements, delete_consumer=readers_gone),
                2,
                "cleaning up a listener",
            )
        except Exception as exc:  # cleanup must finish; what is left expires or is claimed
            LOG.warning(
                "Could not clean up a Redis listener: %s; its unsettled messages will be "
                "claimed by another consumer",
                exc,
            )

    def _forget(
        self, client: redis.Redis, settlements: list[Settlement], delete_consumer: bool
    ) -> None:
        """Give back or acknowledge what this listener held, then remove its traces."""
        if settlements:
            pipe = client.pipeline(transaction=True)
            queue_settlements(pipe, settlements)
            pipe.execute()
        reader = self._streams
        pipe = client.pipeline(transaction=False)
        for route in reader.routes:
            if route.owned:
                pipe.zrem(route.zset, route.stream)
        if reader.owned:
            pipe.delete(*reader.owned)
        if self._calls is not None:
            pipe.delete(self._calls.doorbell)
        if delete_consumer:
            for stream in reader.streams:
                if stream not in reader.owned:
                    pipe.xgroup_delconsumer(stream, GROUP, self.consumer)
        pipe.execute(raise_on_error=False)

    def _unblock(self) -> None:
        self._streams.unblock()

    def _settle(self, entry: Entry, requeue: bool) -> None:
        if not self._inbox.settle(entry, requeue):
            return  # an ack (written by the reader), or settled already
        settlement = [entry.settlement(requeue=True)]

        def write(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=True)
            queue_settlements(pipe, settlement)
            pipe.execute()

        try:
            self._factory.run(write, 3, "requeueing a message")
        except Exception as exc:  # the entry stays pending: claimed again later
            LOG.warning("Could not requeue a message (%s); it will be claimed again", exc)
