"""Call requests: lists popped with ``BLMPOP``, the cheapest path Redis offers.

A call is at most once in the core (it is acknowledged when taken and its caller has its own
timeout), so it needs neither a consumer group nor an acknowledgement: the client pushes the
request onto ``P:c:<topic>`` (or ``P:c:<topic>.<server>``) and a server pops it. That is the
raw ``LPUSH``/``BLPOP`` floor plus rpcmsg's own work. A request popped by a server that dies
before answering is lost and its caller times out, exactly as with an acknowledged AMQP call.

A push succeeds only when the topic's stream exists (a server declared the topic), so a
request nobody will ever serve is refused at once, and it renews the list's expiry to the
longest timeout of the requests in it: a list whose servers are gone vanishes once no caller
can still be waiting (framing: :mod:`rpcmsg_drivers.redis.framing`).

The lists are read by the listener's pollers themselves, one at a time (the turn, kept by
the :class:`~rpcmsg_drivers.redis.inbox.Inbox`): the server's worker that pops a request
handles it, as in a bare ``BLPOP`` loop. Besides the call lists the reader blocks on the
listener's *doorbell*, a list that ``ring`` pushes to when the reader must look elsewhere
at once: a stream entry arrived with no other poller to take it, or the listener stopped.
Unlike ``CLIENT UNBLOCK``, a ring cannot be lost in a race with the start of a blocking pop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import cast

import redis

from rpcmsg.driver import note_reconnect
from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import POP_ERRORS, REDIS_ERRORS
from rpcmsg_drivers.redis.framing import unframe_call
from rpcmsg_drivers.redis.inbox import Entry, Inbox
from rpcmsg_drivers.redis.resp import connection_of, execute, pack

__all__ = ["BELL_TTL_MS", "CallReader"]

LOG = logging.getLogger(__name__)

#: Shortest blocking pop, in seconds (Redis reads 0 as "for ever").
_MIN_BLOCK = 0.001

#: Seconds a doorbell list outlives its last ring (the listener deletes it on cleanup).
BELL_TTL_MS = 60_000


class CallReader:
    """Pops call requests from ``keys`` (first keys first) for the poller holding the turn,
    on a connection of its own; ``doorbell`` is the list that interrupts a pop."""

    def __init__(
        self, factory: ClientFactory, keys: Sequence[str], doorbell: str, inbox: Inbox, name: str
    ) -> None:
        self._factory = factory
        self._keys = [*keys, doorbell]
        self.doorbell = doorbell
        self._bell = doorbell.encode()
        self._inbox = inbox
        self._name = name
        self._popped = 0
        # Blocking pops end well before the socket timeout would call the connection dead.
        self._block = factory.settings.socket_timeout / 2
        self._lock = threading.Lock()  # guards the connection against close()
        self._client: redis.Redis | None = None
        self._closed = False
        self._attempt = 0
        self._retry_at = 0.0

    def read(self, timeout: float | None, many: bool) -> list[Entry]:
        """The requests popped after blocking up to ``timeout`` seconds (at most half the
        socket timeout) for the first: none when the doorbell rang, the time ran out or the
        connection was lost (it is opened again, with backoff, by a later read). Only the
        poller holding the turn calls it.

        ``many`` pops as many as the listener has room for, for other pollers to handle at
        once (handlers are slow); otherwise one, which the caller handles before popping the
        next: quicker than handing requests to other threads (handlers are quick)."""
        block = self._block if timeout is None else max(_MIN_BLOCK, min(timeout, self._block))
        wait = self._retry_at - time.monotonic()
        if wait > 0:  # backing off after a lost connection
            self._inbox.halt.wait(min(wait, block))
            return []
        try:
            client = self._connect()
            if client is None:
                return []
            room = max(1, self._inbox.room()) if many else 1
            keys = self._keys
            command = pack(b"BLMPOP", f"{block:.3f}", len(keys), *keys, b"LEFT", b"COUNT", room)
            popped = execute(connection_of(client), command)
        except POP_ERRORS as exc:
            # OSError, ValueError: the connection was closed under the pop (cleanup).
            if self._inbox.stopped or self._closed:
                return []
            if not isinstance(exc, REDIS_ERRORS):
                raise
            delay = self._factory.settings.backoff(self._attempt)
            self._attempt += 1
            LOG.warning(
                "Call reader %s lost Redis (%s); reconnecting in %.1fs", self._name, exc, delay
            )
            note_reconnect("redis")
            self._drop()
            self._retry_at = time.monotonic() + delay
            return []
        self._attempt = 0
        if not popped:
            return []
        key, values = cast("tuple[bytes, list[bytes]]", popped)
        if key == self._bell:
            return []
        return self._entries(key.decode(), values)

    def ring(self, client: redis.Redis) -> None:
        """Make the current (or next) blocking pop return at once. Raises redis-py errors."""
        pipe = client.pipeline(transaction=False)
        pipe.lpush(self.doorbell, b"")
        pipe.pexpire(self.doorbell, BELL_TTL_MS)
        pipe.execute()

    def close(self) -> None:
        """Close the connection (after the pollers are gone, or to end a pop at once)."""
        with self._lock:
            self._closed = True
        self._drop()

    def _connect(self) -> redis.Redis | None:
        with self._lock:
            if self._client is None and not self._closed:
                self._client = self._factory.dedicated(self._name, single=True)
            return self._client

    def _drop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        close_client(client)

    def _entries(self, key: str, values: list[bytes]) -> list[Entry]:
        entries = []
        for value in values:
            body, content_type, expires = unframe_call(value)
            self._popped += 1
            entries.append(
                Entry(key, f"call-{self._popped}", body, content_type, expires, False, True)
            )
        return entries
